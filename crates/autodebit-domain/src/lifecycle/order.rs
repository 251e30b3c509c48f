//! The order lifecycle: the merchant's business order, paid by one or more attempts.
//!
//! ```text
//! Pending ──attempt succeeded──▶ Succeeded ──refund──▶ PartlyRefunded ──refund──▶ FullyRefunded
//!    │ attempt failed     ▲ new attempt      │ cancelled
//!    ▼                    │                  ▼
//!  Failed ────────────────┘              Cancelled ◀── attempt cancelled (from Pending)
//! ```
//!
//! The order is pending until one attempt is final. A failed or cancelled order may be paid again
//! with a new attempt (a new `paymentRequestId`); a paid order never is.

use super::{InvalidTransition, Note, Step};

/// Where an order stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrderState {
    /// An attempt is under way.
    Pending,
    /// Paid.
    Succeeded,
    /// The last attempt failed; nothing charged.
    Failed,
    /// Cancelled; nothing charged, or the charge returned.
    Cancelled,
    /// Paid, and part of it refunded.
    PartlyRefunded,
    /// Paid, and all of it refunded.
    FullyRefunded,
}

impl OrderState {
    /// The state's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::PartlyRefunded => "partly_refunded",
            Self::FullyRefunded => "fully_refunded",
        }
    }

    /// Every state.
    pub const ALL: [OrderState; 6] = [
        Self::Pending,
        Self::Succeeded,
        Self::Failed,
        Self::Cancelled,
        Self::PartlyRefunded,
        Self::FullyRefunded,
    ];

    /// The state with this name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether the order was paid (refunds included).
    pub fn is_paid(self) -> bool {
        match self {
            Self::Succeeded | Self::PartlyRefunded | Self::FullyRefunded => true,
            Self::Pending | Self::Failed | Self::Cancelled => false,
        }
    }
}

/// What can happen to an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrderEvent {
    /// A new attempt starts.
    AttemptStarted,
    /// An attempt succeeded.
    AttemptSucceeded,
    /// An attempt failed.
    AttemptFailed,
    /// An attempt was cancelled.
    AttemptCancelled,
    /// A refund succeeded; `full` when the refunds now equal what was paid.
    Refunded {
        /// Whether everything paid is now refunded.
        full: bool,
    },
}

impl OrderEvent {
    /// The event's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::AttemptStarted => "attempt_started",
            Self::AttemptSucceeded => "attempt_succeeded",
            Self::AttemptFailed => "attempt_failed",
            Self::AttemptCancelled => "attempt_cancelled",
            Self::Refunded { full: false } => "partly_refunded",
            Self::Refunded { full: true } => "fully_refunded",
        }
    }
}

/// The one transition function of the order lifecycle.
///
/// # Errors
/// [`InvalidTransition`] when the event contradicts the state.
pub fn transition(
    state: OrderState,
    event: OrderEvent,
) -> Result<Step<OrderState>, InvalidTransition> {
    use OrderEvent as E;
    use OrderState as S;
    let invalid = || {
        Err(InvalidTransition {
            machine: "order",
            state: state.name(),
            event: event.name(),
        })
    };
    let moved = |s| Ok(Step::Moved(s));
    let unchanged = || Ok(Step::Unchanged(state));
    match event {
        E::AttemptStarted => match state {
            S::Failed | S::Cancelled => moved(S::Pending),
            S::Pending => unchanged(),
            S::Succeeded | S::PartlyRefunded | S::FullyRefunded => invalid(),
        },
        E::AttemptSucceeded => match state {
            S::Pending => moved(S::Succeeded),
            S::Succeeded | S::PartlyRefunded | S::FullyRefunded => unchanged(),
            S::Cancelled => Ok(Step::Noted(state, Note::LateSuccessAfterCancel)),
            S::Failed => invalid(),
        },
        E::AttemptFailed => match state {
            S::Pending => moved(S::Failed),
            S::Failed | S::Cancelled => unchanged(),
            S::Succeeded | S::PartlyRefunded | S::FullyRefunded => invalid(),
        },
        E::AttemptCancelled => match state {
            S::Pending | S::Succeeded => moved(S::Cancelled),
            S::Cancelled | S::Failed => unchanged(),
            S::PartlyRefunded | S::FullyRefunded => invalid(),
        },
        E::Refunded { full } => match state {
            S::Succeeded | S::PartlyRefunded => moved(if full {
                S::FullyRefunded
            } else {
                S::PartlyRefunded
            }),
            S::FullyRefunded if full => unchanged(),
            S::FullyRefunded | S::Pending | S::Failed | S::Cancelled => invalid(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderEvent as E;
    use OrderState as S;

    #[test]
    fn a_failed_order_can_be_paid_again_a_paid_one_cannot() {
        assert_eq!(
            transition(S::Failed, E::AttemptStarted),
            Ok(Step::Moved(S::Pending))
        );
        assert!(transition(S::Succeeded, E::AttemptStarted).is_err());
    }

    #[test]
    fn refunds_accumulate() {
        let s = transition(S::Succeeded, E::Refunded { full: false })
            .expect("legal")
            .state();
        assert_eq!(s, S::PartlyRefunded);
        let s = transition(s, E::Refunded { full: true })
            .expect("legal")
            .state();
        assert_eq!(s, S::FullyRefunded);
        assert!(transition(s, E::Refunded { full: false }).is_err());
        assert!(transition(S::Pending, E::Refunded { full: true }).is_err());
    }
}
