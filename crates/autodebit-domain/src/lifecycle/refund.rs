//! The refund lifecycle: one `refundRequestId` with its amount.
//!
//! ```text
//! Requested ──send──▶ Sent ──S──▶ Succeeded
//!     ▲ surely not     │ F ──▶ Failed
//!     │ sent (never    │ U, timeout, no answer
//!     │ maybe sent)    ▼
//!     └──────────── Unknown ──the same request again, every 5–10 s for 60 s──▶ Sent
//!                      │ the burst is over, or an answer says "inquire"
//!                      ▼
//!                  Inquiring ──inquiryRefund──▶ Succeeded / Failed; "no such refund" → sent again
//! ```
//!
//! Nothing is a dead end: `Inquiring` goes on with backoff (and a person is told after a while);
//! a refund that can never be sent (it surely never left, many times in a row) fails as not sent.

use super::{InvalidTransition, Step};

/// Where a refund stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RefundState {
    /// Stored; surely never reached Alipay.
    Requested,
    /// `refund` is (or may be) on its way.
    Sent,
    /// Refunded. Final.
    Succeeded,
    /// Refused, or never sent. Final.
    Failed,
    /// The outcome is not known; the same request is sent again for a while.
    Unknown,
    /// The outcome is not known; `inquiryRefund` until it settles.
    Inquiring,
}

impl RefundState {
    /// The state's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Sent => "sent",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Unknown => "unknown",
            Self::Inquiring => "inquiring",
        }
    }

    /// Every state.
    pub const ALL: [RefundState; 6] = [
        Self::Requested,
        Self::Sent,
        Self::Succeeded,
        Self::Failed,
        Self::Unknown,
        Self::Inquiring,
    ];

    /// The state with this name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether the outcome is settled.
    pub fn is_final(self) -> bool {
        match self {
            Self::Succeeded | Self::Failed => true,
            Self::Requested | Self::Sent | Self::Unknown | Self::Inquiring => false,
        }
    }
}

/// What can happen to a refund.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RefundEvent {
    /// `refund` is about to be sent (first time or a retry of the same request).
    Send,
    /// The request surely did not leave, and no earlier send may have left either.
    NotSent,
    /// `refund` S, inquiry `SUCCESS`, or `notifyRefund` SUCCESS.
    Succeeded,
    /// `refund` F, inquiry `FAIL`, `notifyRefund` FAIL, or never sent at all.
    Failed,
    /// `U`, a timeout, no answer, or a send that did not leave after one that may have.
    Unknown,
    /// Sending again is over: inquire.
    InquiryStarted,
}

impl RefundEvent {
    /// The event's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Send => "send",
            Self::NotSent => "not_sent",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Unknown => "unknown",
            Self::InquiryStarted => "inquiry_started",
        }
    }

    /// Every event.
    pub const ALL: [RefundEvent; 6] = [
        Self::Send,
        Self::NotSent,
        Self::Succeeded,
        Self::Failed,
        Self::Unknown,
        Self::InquiryStarted,
    ];
}

/// The one transition function of the refund lifecycle.
///
/// # Errors
/// [`InvalidTransition`] when the event contradicts the state.
pub fn transition(
    state: RefundState,
    event: RefundEvent,
) -> Result<Step<RefundState>, InvalidTransition> {
    use RefundEvent as E;
    use RefundState as S;
    let invalid = || {
        Err(InvalidTransition {
            machine: "refund",
            state: state.name(),
            event: event.name(),
        })
    };
    let moved = |s| Ok(Step::Moved(s));
    let unchanged = || Ok(Step::Unchanged(state));
    match event {
        E::Send => match state {
            // Inquiring: Alipay has no such refund, so the same request goes again.
            S::Requested | S::Unknown | S::Inquiring => moved(S::Sent),
            S::Sent => unchanged(),
            S::Succeeded | S::Failed => invalid(),
        },
        E::NotSent => match state {
            S::Sent => moved(S::Requested),
            S::Requested => unchanged(),
            S::Succeeded | S::Failed | S::Unknown | S::Inquiring => invalid(),
        },
        E::Succeeded => match state {
            // Alipay's signed word that the money went back is believed, whatever we thought.
            S::Requested | S::Sent | S::Unknown | S::Inquiring => moved(S::Succeeded),
            S::Succeeded => unchanged(),
            S::Failed => invalid(),
        },
        E::Failed => match state {
            S::Requested | S::Sent | S::Unknown | S::Inquiring => moved(S::Failed),
            S::Failed => unchanged(),
            S::Succeeded => invalid(),
        },
        E::Unknown => match state {
            S::Sent => moved(S::Unknown),
            S::Unknown | S::Inquiring | S::Succeeded | S::Failed => unchanged(),
            S::Requested => invalid(),
        },
        E::InquiryStarted => match state {
            S::Sent | S::Unknown => moved(S::Inquiring),
            S::Inquiring | S::Succeeded | S::Failed => unchanged(),
            S::Requested => invalid(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RefundEvent as E;
    use RefundState as S;

    #[test]
    fn unknown_retries_the_same_request_then_inquires_then_settles() {
        let mut s = S::Requested;
        for e in [
            E::Send,
            E::Unknown,
            E::Send,
            E::Unknown,
            E::InquiryStarted,
            E::Send,
            E::Succeeded,
        ] {
            s = transition(s, e).expect("legal").state();
        }
        assert_eq!(s, S::Succeeded);
    }

    #[test]
    fn a_settled_refund_does_not_flip() {
        assert!(transition(S::Succeeded, E::Failed).is_err());
        assert!(transition(S::Failed, E::Succeeded).is_err());
        assert_eq!(
            transition(S::Succeeded, E::Succeeded),
            Ok(Step::Unchanged(S::Succeeded))
        );
    }

    #[test]
    fn no_state_but_the_final_ones_is_a_dead_end() {
        for s in S::ALL.into_iter().filter(|s| !s.is_final()) {
            assert!(
                E::ALL
                    .into_iter()
                    .any(|e| transition(s, e).is_ok_and(|step| step.state().is_final())),
                "{s:?}"
            );
        }
    }
}
