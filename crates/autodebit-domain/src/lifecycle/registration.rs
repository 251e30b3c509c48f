//! The secondary-merchant registration lifecycle: one `registrationRequestId`, sent until Alipay
//! answers; once accepted, the wallets' review is followed (inquiries, `notifyRegistrationStatus`)
//! until it ends.
//!
//! ```text
//! Requested ──send──▶ Sent ──S──▶ Accepted ──review ends (inquiry or notification)──▶ (reviewed)
//!     ▲ surely not     │ F ──▶ Refused
//!     │ sent           │ U, timeout, no answer
//!     └─────────── Unknown ──the same body again (registration is idempotent)──▶ Sent
//! ```
//!
//! `registration` is idempotent on `registrationRequestId` (digest §9.5.1): the same id that reached
//! S or F gets the same result, so an unknown outcome is resolved by sending the same bytes again,
//! never by a new id (a second id for the same secondary merchant would be `REPEAT_REGISTRATION`).
//! `Refused` is final; `Accepted` stays until the review ends (the review is data on the record,
//! not a state: the wallets decide one by one, and Alipay's status values are not all known).

use super::{InvalidTransition, Step};

/// Where a registration stands with Alipay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegistrationState {
    /// Stored; its body surely never reached Alipay.
    Requested,
    /// `registration` is (or may be) on its way.
    Sent,
    /// Alipay accepted it; the wallets' review is followed.
    Accepted,
    /// Alipay refused it (or it could never be sent). Final: register again with a new request.
    Refused,
    /// The outcome is not known; the same body is sent again.
    Unknown,
}

impl RegistrationState {
    /// Every state.
    pub const ALL: [RegistrationState; 5] = [
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

    /// Whether Alipay's answer to the request is still awaited.
    pub fn in_flight(self) -> bool {
        matches!(self, Self::Requested | Self::Sent | Self::Unknown)
    }
}

/// What can happen to a registration request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegistrationEvent {
    /// `registration` is about to be sent (first time, or the same body again).
    Send,
    /// The send surely did not leave, and no earlier send of this body may have left.
    NotSent,
    /// `registration` S.
    Accepted,
    /// `registration` F, or never sent at all.
    Refused,
    /// `U`, a timeout, no answer.
    Unknown,
}

impl RegistrationEvent {
    /// Every event.
    pub const ALL: [RegistrationEvent; 5] = [
        Self::Send,
        Self::NotSent,
        Self::Accepted,
        Self::Refused,
        Self::Unknown,
    ];

    /// The event's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Send => "send",
            Self::NotSent => "not_sent",
            Self::Accepted => "accepted",
            Self::Refused => "refused",
            Self::Unknown => "unknown",
        }
    }
}

/// The one transition function of the registration lifecycle.
///
/// # Errors
/// [`InvalidTransition`] when the event contradicts the state.
pub fn transition(
    state: RegistrationState,
    event: RegistrationEvent,
) -> Result<Step<RegistrationState>, InvalidTransition> {
    use RegistrationEvent as E;
    use RegistrationState as S;
    let invalid = || {
        Err(InvalidTransition {
            machine: "registration",
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
            // The same id that reached F gets F again (digest §9.5.1): an S after it contradicts.
            S::Refused => invalid(),
        },
        E::Refused => match state {
            S::Requested | S::Sent | S::Unknown => moved(S::Refused),
            S::Refused => unchanged(),
            S::Accepted => invalid(),
        },
        E::Unknown => match state {
            S::Sent => moved(S::Unknown),
            S::Unknown | S::Accepted | S::Refused => unchanged(),
            S::Requested => invalid(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RegistrationEvent as E;
    use RegistrationState as S;

    #[test]
    fn unknown_sends_the_same_body_again_until_answered() {
        let mut s = S::Requested;
        for e in [
            E::Send,
            E::Unknown,
            E::Send,
            E::NotSent,
            E::Send,
            E::Accepted,
        ] {
            s = transition(s, e).expect("legal").state();
        }
        assert_eq!(s, S::Accepted);
        assert!(
            transition(S::Unknown, E::NotSent).is_err(),
            "it may have left before"
        );
    }

    #[test]
    fn an_answer_is_never_overturned() {
        assert!(transition(S::Refused, E::Accepted).is_err());
        assert!(transition(S::Accepted, E::Refused).is_err());
        assert!(transition(S::Accepted, E::Send).is_err());
        assert_eq!(
            transition(S::Accepted, E::Unknown),
            Ok(Step::Unchanged(S::Accepted))
        );
    }

    #[test]
    fn every_state_in_flight_can_move_and_names_round_trip() {
        for s in S::ALL.into_iter().filter(|s| s.in_flight()) {
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
