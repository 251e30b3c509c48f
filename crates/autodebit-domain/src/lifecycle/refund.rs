//! The refund lifecycle: one `refundRequestId` with its amount.
//!
//! ```text
//! Requested ──send──▶ Sent ──S──▶ Succeeded
//!     ▲ not sent       │ F ──▶ Failed
//!     └────────────────┤ U, timeout, no answer: retry the same request, then inquire
//!                      ▼
//!                   Unknown ──inquiryRefund──▶ Succeeded / Failed (or still Unknown)
//!                      │ nothing settles it
//!                      ▼
//!                NeedsOperator
//! ```

use super::{InvalidTransition, Step};

/// Where a refund stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RefundState {
    /// Stored; not sent.
    Requested,
    /// `refund` is (or may be) on its way.
    Sent,
    /// Refunded. Final.
    Succeeded,
    /// Refused. Final.
    Failed,
    /// The outcome is not known; retried with the same request, then inquired.
    Unknown,
    /// Nothing settled it: an operator must look.
    NeedsOperator,
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
            Self::NeedsOperator => "needs_operator",
        }
    }

    /// Every state.
    pub const ALL: [RefundState; 6] = [
        Self::Requested,
        Self::Sent,
        Self::Succeeded,
        Self::Failed,
        Self::Unknown,
        Self::NeedsOperator,
    ];

    /// The state with this name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether the outcome is settled.
    pub fn is_final(self) -> bool {
        match self {
            Self::Succeeded | Self::Failed => true,
            Self::Requested | Self::Sent | Self::Unknown | Self::NeedsOperator => false,
        }
    }
}

/// What can happen to a refund.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RefundEvent {
    /// `refund` is about to be sent (first time or a retry of the same request).
    Send,
    /// The request surely did not leave.
    NotSent,
    /// `refund` S, inquiry `SUCCESS`, or `notifyRefund` SUCCESS.
    Succeeded,
    /// `refund` F, inquiry `FAIL`, or `notifyRefund` FAIL.
    Failed,
    /// `U`, a timeout, or no answer.
    Unknown,
    /// Retries and inquiries did not settle it.
    GiveUp,
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
            Self::GiveUp => "give_up",
        }
    }
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
            S::Requested | S::Unknown => moved(S::Sent),
            S::Sent => unchanged(),
            S::Succeeded | S::Failed | S::NeedsOperator => invalid(),
        },
        E::NotSent => match state {
            S::Sent => moved(S::Requested),
            S::Requested => unchanged(),
            S::Succeeded | S::Failed | S::Unknown | S::NeedsOperator => invalid(),
        },
        E::Succeeded => match state {
            S::Sent | S::Unknown | S::NeedsOperator => moved(S::Succeeded),
            S::Succeeded => unchanged(),
            S::Requested | S::Failed => invalid(),
        },
        E::Failed => match state {
            S::Sent | S::Unknown | S::NeedsOperator => moved(S::Failed),
            S::Failed => unchanged(),
            S::Requested | S::Succeeded => invalid(),
        },
        E::Unknown => match state {
            S::Sent => moved(S::Unknown),
            S::Unknown | S::NeedsOperator | S::Succeeded | S::Failed => unchanged(),
            S::Requested => invalid(),
        },
        E::GiveUp => match state {
            S::Unknown | S::Sent => moved(S::NeedsOperator),
            S::NeedsOperator => unchanged(),
            S::Requested | S::Succeeded | S::Failed => invalid(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RefundEvent as E;
    use RefundState as S;

    #[test]
    fn unknown_retries_the_same_request_then_settles() {
        let mut s = S::Requested;
        for e in [
            E::Send,
            E::Unknown,
            E::Send,
            E::Unknown,
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
}
