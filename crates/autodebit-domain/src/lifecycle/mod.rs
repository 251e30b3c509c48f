//! The lifecycles: closed enums, one transition function each.
//!
//! Every transition function matches the event, then the state, exhaustively and with no catch-all
//! arm: adding a state or an event does not compile until every pair has been decided. A pair is one
//! of three things:
//!
//! - a move ([`Step::Moved`]);
//! - a no-op that is expected, such as a duplicated notification or the slower of an inquiry and a
//!   notification racing to the same result ([`Step::Unchanged`]), sometimes with a note the caller
//!   must record ([`Step::Noted`], e.g. a success that arrives after a cancel);
//! - an error ([`InvalidTransition`]): a fact that contradicts what is known, never applied silently.

pub mod attempt;
pub mod authorization;
pub mod declaration;
pub mod order;
pub mod refund;
pub mod registration;

use std::fmt;

/// Something to record about an event that changes no state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Note {
    /// A success arrived for a payment a `cancel` S already settled: the cancel returned that
    /// money (a cancel after payment refunds in full). Record it, never a second success.
    LateSuccessAfterCancel,
    /// A success arrived while a cancel is under way; the cancel's result decides (seed 004), and
    /// if the cancel cannot be done the payment is confirmed by inquiry and refunded.
    SuccessWhileCancelling,
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::LateSuccessAfterCancel => "a success arrived after the payment was cancelled",
            Self::SuccessWhileCancelling => {
                "a success arrived while the payment was being cancelled"
            }
        })
    }
}

/// The result of a legal transition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Step<S> {
    /// The state changed to this.
    Moved(S),
    /// The event was expected and changes nothing (a duplicate, or too late to matter).
    Unchanged(S),
    /// The event changes nothing but must be recorded.
    Noted(S, Note),
}

impl<S: Copy> Step<S> {
    /// The state after the step.
    pub fn state(&self) -> S {
        match self {
            Step::Moved(s) | Step::Unchanged(s) | Step::Noted(s, _) => *s,
        }
    }

    /// Whether the state changed.
    pub fn moved(&self) -> bool {
        matches!(self, Step::Moved(_))
    }
}

/// An event that contradicts the state: the caller must not apply it, and should flag it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{machine}: {event} is not allowed in state {state}")]
pub struct InvalidTransition {
    /// Which lifecycle.
    pub machine: &'static str,
    /// The state, by name.
    pub state: &'static str,
    /// The event, by name.
    pub event: &'static str,
}
