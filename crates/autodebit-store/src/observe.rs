//! What committed units of work changed that an operator counts, told to a [`CommitObserver`]
//! after the commit (never for a unit of work that rolled back or is tried again), so a metric
//! counts each change once, in the process that made it.
//!
//! The store sees every write of a payment attempt and the state it read it in, so it tells a
//! change of state exactly; the server turns these into metrics (the store names no metrics
//! library).

use std::collections::HashMap;
use std::sync::Arc;

use autodebit_domain::lifecycle::attempt::AttemptState;
use autodebit_domain::model::PaymentAttempt;

use crate::SqlStore;

/// One change a commit made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observed {
    /// A payment attempt was created (about to be sent).
    AttemptCreated,
    /// An attempt's outcome became unknown (`U`, a timeout, no answer).
    AttemptUnknown,
    /// An attempt reached a final state.
    AttemptResolved {
        /// The final state.
        state: AttemptState,
        /// From the attempt's creation to this change, in milliseconds.
        after_ms: i64,
        /// The `inquiryPayment` calls it took.
        inquiries: u32,
        /// Whether its outcome was unknown on the way (it was inquired or cancelled).
        was_unknown: bool,
    },
}

/// Told what each commit changed, after it committed.
pub trait CommitObserver: Send + Sync {
    /// `merchant`'s unit of work committed with these changes (never empty).
    fn committed(&self, merchant: &str, changes: &[Observed]);
}

/// What a unit of work has seen and changed so far.
#[derive(Default)]
pub(crate) struct Tracking {
    /// Attempts' states as read in this unit of work.
    read: HashMap<String, AttemptState>,
    /// The changes, in order.
    pub(crate) changes: Vec<Observed>,
}

fn unknown_on_the_way(state: AttemptState) -> bool {
    matches!(
        state,
        AttemptState::Unknown
            | AttemptState::Inquiring
            | AttemptState::CancelRequested
            | AttemptState::Confirming
    )
}

impl Tracking {
    /// `attempt` was read as it is stored.
    pub(crate) fn read(&mut self, attempt: &PaymentAttempt) {
        self.read
            .insert(attempt.id.as_str().to_owned(), attempt.state);
    }

    /// `attempt` was inserted.
    pub(crate) fn inserted(&mut self, attempt: &PaymentAttempt) {
        self.read
            .insert(attempt.id.as_str().to_owned(), attempt.state);
        self.changes.push(Observed::AttemptCreated);
    }

    /// `attempt` was written over the version read.
    pub(crate) fn updated(&mut self, attempt: &PaymentAttempt) {
        let Some(before) = self
            .read
            .insert(attempt.id.as_str().to_owned(), attempt.state)
        else {
            return;
        };
        let after = attempt.state;
        if before == after {
            return;
        }
        if after == AttemptState::Unknown && !unknown_on_the_way(before) {
            self.changes.push(Observed::AttemptUnknown);
        }
        if after.is_final() && !before.is_final() {
            self.changes.push(Observed::AttemptResolved {
                state: after,
                after_ms: attempt.updated_at.saturating_sub(attempt.created_at).max(0),
                inquiries: attempt.inquiries,
                was_unknown: unknown_on_the_way(before) || attempt.inquiries > 0,
            });
        }
    }
}

impl SqlStore {
    /// Tells `observer` what every later commit changes, through any handle of this database
    /// (every merchant's); false when an observer was set already (the first one stays).
    pub fn observe(&self, observer: Arc<dyn CommitObserver>) -> bool {
        self.inner().observer.set(observer).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_states_count_as_unknown_on_the_way_and_final_ones_do_not() {
        assert!(unknown_on_the_way(AttemptState::Unknown));
        assert!(unknown_on_the_way(AttemptState::Confirming));
        assert!(!unknown_on_the_way(AttemptState::Sent));
        assert!(!unknown_on_the_way(AttemptState::Succeeded));
    }
}
