//! Test doubles for the client's ports: a [`ManualClock`] whose time only moves when told to (or when
//! the client sleeps on it), so retry schedules and skew windows are tested without real waiting.
//!
//! Always compiled (it has no dependencies of its own) so that other crates' tests — the domain's,
//! the sandbox's — can drive the client with it.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::clock::{Clock, Sleep};

#[derive(Debug)]
struct State {
    unix_millis: i64,
    monotonic: Duration,
    sleeps: Vec<Duration>,
}

/// A clock that stands still until advanced. [`Clock::sleep`] returns at once after moving both the
/// wall-clock and the monotonic time forward by the requested duration, and records the duration.
///
/// Clones share the same time, so a test keeps one handle and gives another to the client.
///
/// ```
/// use std::time::Duration;
/// use ams_client::{Clock, testing::ManualClock};
///
/// let clock = ManualClock::at_unix_millis(1_704_067_200_000); // 2024-01-01T00:00:00Z
/// let handle = clock.clone();
/// clock.advance(Duration::from_secs(7));
/// assert_eq!(handle.unix_millis(), 1_704_067_207_000);
/// assert_eq!(handle.monotonic(), Duration::from_secs(7));
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    state: Arc<Mutex<State>>,
}

impl ManualClock {
    /// A clock showing `unix_millis` (milliseconds since the Unix epoch), monotonic time zero.
    #[must_use]
    pub fn at_unix_millis(unix_millis: i64) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                unix_millis,
                monotonic: Duration::ZERO,
                sleeps: Vec::new(),
            })),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves wall-clock and monotonic time forward.
    pub fn advance(&self, by: Duration) {
        let mut state = self.state();
        state.unix_millis = state
            .unix_millis
            .saturating_add(i64::try_from(by.as_millis()).unwrap_or(i64::MAX));
        state.monotonic = state.monotonic.saturating_add(by);
    }

    /// Sets the wall-clock time (monotonic time is unaffected, as with a real clock being adjusted).
    pub fn set_unix_millis(&self, unix_millis: i64) {
        self.state().unix_millis = unix_millis;
    }

    /// Every duration slept on this clock so far, in order.
    #[must_use]
    pub fn sleeps(&self) -> Vec<Duration> {
        self.state().sleeps.clone()
    }
}

impl Clock for ManualClock {
    fn unix_millis(&self) -> i64 {
        self.state().unix_millis
    }

    fn monotonic(&self) -> Duration {
        self.state().monotonic
    }

    fn sleep(&self, duration: Duration) -> Sleep<'_> {
        self.advance(duration);
        self.state().sleeps.push(duration);
        Box::pin(std::future::ready(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sleeping_moves_time_and_is_recorded() {
        let clock = ManualClock::at_unix_millis(1_000);
        clock.sleep(Duration::from_millis(1_500)).await;
        clock.sleep(Duration::from_secs(2)).await;
        assert_eq!(clock.unix_millis(), 4_500);
        assert_eq!(clock.monotonic(), Duration::from_millis(3_500));
        assert_eq!(
            clock.sleeps(),
            [Duration::from_millis(1_500), Duration::from_secs(2)]
        );
        clock.set_unix_millis(0);
        assert_eq!(clock.unix_millis(), 0);
        assert_eq!(clock.monotonic(), Duration::from_millis(3_500));
    }
}
