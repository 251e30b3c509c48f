//! The customs declaration lifecycle: one `declarationRequestId`, sent until Alipay answers, then
//! followed until customs answers; re-sent (same id) when the merchant changes what may change.
//!
//! ```text
//! Requested ──send──▶ Sent ──S──▶ Accepted ──inquiryDeclarationRequests──▶ (customs answered)
//!     ▲ surely not     │ F ──▶ Refused          │ re-send with changed fields
//!     │ sent           │ U, timeout, no answer  ▼
//!     └─────────── Unknown ──the same body again (declare is idempotent)──▶ Sent
//!                                                ◀── Requested
//! ```
//!
//! `declare` is idempotent on `declarationRequestId` (digest §9.3.5): an identical body sent again
//! gets the first answer, so an unknown outcome is resolved by sending the same bytes again, with
//! growing waits, never by a new id (a second id for the same payment and customs office would be
//! `DUPLICATED_DECLARATIONS`). Only `Refused` is final; `Accepted` waits for customs' answer (read
//! with inquiries) and can be re-sent. A re-send Alipay refuses does not undo the transmission it
//! accepted before: the declaration goes back to `Accepted` (`ResendRefused`), the refusal kept.

use super::{InvalidTransition, Step};

/// Where a customs declaration stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeclarationState {
    /// Stored (or changed for a re-send); the current body surely never reached Alipay.
    Requested,
    /// `declare` is (or may be) on its way.
    Sent,
    /// Alipay accepted the current body; customs' answer is read with inquiries.
    Accepted,
    /// Alipay refused it (or it could never be sent). Final: a new declaration is needed.
    Refused,
    /// The outcome is not known; the same body is sent again.
    Unknown,
}

impl DeclarationState {
    /// Every state.
    pub const ALL: [DeclarationState; 5] = [
        Self::Requested,
        Self::Sent,
        Self::Accepted,
        Self::Refused,
        Self::Unknown,
    ];

    /// The state's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Sent => "sent",
            Self::Accepted => "accepted",
            Self::Refused => "refused",
            Self::Unknown => "unknown",
        }
    }

    /// The state with this name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether nothing more will happen to it.
    pub fn is_final(self) -> bool {
        match self {
            Self::Refused => true,
            Self::Requested | Self::Sent | Self::Accepted | Self::Unknown => false,
        }
    }

    /// Whether its amount counts toward the payment's declared total (everything but a refusal:
    /// an unknown declaration may have been accepted).
    pub fn counts(self) -> bool {
        !self.is_final()
    }
}

/// What can happen to a customs declaration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeclarationEvent {
    /// `declare` is about to be sent (first time, a retry of the same body, or a re-send).
    Send,
    /// The send surely did not leave, and no earlier send of this body may have left.
    NotSent,
    /// `declare` S.
    Accepted,
    /// `declare` F, or never sent at all.
    Refused,
    /// `U`, a timeout, no answer.
    Unknown,
    /// The merchant changed what may change: the new body is to be sent (same id).
    Changed,
    /// Alipay refused a re-send (`F`): the transmission it accepted before still stands.
    ResendRefused,
}

impl DeclarationEvent {
    /// Every event.
    pub const ALL: [DeclarationEvent; 7] = [
        Self::Send,
        Self::NotSent,
        Self::Accepted,
        Self::Refused,
        Self::Unknown,
        Self::Changed,
        Self::ResendRefused,
    ];

    /// The event's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Send => "send",
            Self::NotSent => "not_sent",
            Self::Accepted => "accepted",
            Self::Refused => "refused",
            Self::Unknown => "unknown",
            Self::Changed => "changed",
            Self::ResendRefused => "resend_refused",
        }
    }
}

/// The one transition function of the declaration lifecycle.
///
/// # Errors
/// [`InvalidTransition`] when the event contradicts the state.
pub fn transition(
    state: DeclarationState,
    event: DeclarationEvent,
) -> Result<Step<DeclarationState>, InvalidTransition> {
    use DeclarationEvent as E;
    use DeclarationState as S;
    let invalid = || {
        Err(InvalidTransition {
            machine: "declaration",
            state: state.name(),
            event: event.name(),
        })
    };
    let moved = |s| Ok(Step::Moved(s));
    let unchanged = || Ok(Step::Unchanged(state));
    match event {
        E::Send => match state {
            S::Requested | S::Unknown => moved(S::Sent),
            S::Sent => unchanged(),
            S::Accepted | S::Refused => invalid(),
        },
        E::NotSent => match state {
            S::Sent => moved(S::Requested),
            S::Requested => unchanged(),
            S::Accepted | S::Refused | S::Unknown => invalid(),
        },
        E::Accepted => match state {
            S::Requested | S::Sent | S::Unknown => moved(S::Accepted),
            S::Accepted => unchanged(),
            S::Refused => invalid(),
        },
        E::Refused => match state {
            S::Requested | S::Sent | S::Unknown => moved(S::Refused),
            S::Refused => unchanged(),
            // Alipay accepted this body; a later refusal is of another body (a re-send), which
            // arrives through `Changed` first.
            S::Accepted => invalid(),
        },
        E::Unknown => match state {
            S::Sent => moved(S::Unknown),
            S::Unknown | S::Accepted | S::Refused => unchanged(),
            S::Requested => invalid(),
        },
        E::ResendRefused => match state {
            S::Requested | S::Sent | S::Unknown => moved(S::Accepted),
            S::Accepted => unchanged(),
            S::Refused => invalid(),
        },
        E::Changed => match state {
            // Only a body Alipay has answered is changed: changing one that may be in flight
            // would leave two bodies under one id with no way to tell which was taken.
            S::Accepted => moved(S::Requested),
            S::Requested | S::Sent | S::Unknown | S::Refused => invalid(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DeclarationEvent as E;
    use DeclarationState as S;

    #[test]
    fn unknown_sends_the_same_body_again_until_answered_then_a_resend_goes_round_again() {
        let mut s = S::Requested;
        for e in [
            E::Send,
            E::Unknown,
            E::Send,
            E::Accepted,
            E::Changed,
            E::Send,
            E::Accepted,
        ] {
            s = transition(s, e).expect("legal").state();
        }
        assert_eq!(s, S::Accepted);
    }

    #[test]
    fn a_refusal_is_final_and_a_body_in_flight_is_never_changed() {
        assert!(transition(S::Refused, E::Accepted).is_err());
        assert!(transition(S::Refused, E::Changed).is_err());
        assert!(transition(S::Sent, E::Changed).is_err());
        assert!(transition(S::Unknown, E::Changed).is_err());
        assert!(transition(S::Accepted, E::Refused).is_err());
        assert_eq!(
            transition(S::Sent, E::ResendRefused),
            Ok(Step::Moved(S::Accepted))
        );
        assert!(S::Refused.is_final());
        assert!(!S::Refused.counts());
        assert!(S::Unknown.counts());
    }

    #[test]
    fn no_state_but_the_final_one_is_a_dead_end() {
        for s in S::ALL.into_iter().filter(|s| !s.is_final()) {
            assert!(
                E::ALL
                    .into_iter()
                    .any(|e| transition(s, e).is_ok_and(|step| step.state() != s)),
                "{s:?}"
            );
        }
        assert_eq!(S::ALL.map(|s| S::from_name(s.name())), S::ALL.map(Some));
    }
}
