//! Time, through one small port: wall-clock time for `request-time` and notification skew checks,
//! a monotonic reading for retry windows and durations, and sleeping between retries.
//!
//! [`SystemClock`] is the production adapter (and the only place in this crate that reads the system
//! clocks); [`ManualClock`](crate::testing::ManualClock) is the test double whose sleeps return at
//! once and move its time forward.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The future returned by [`Clock::sleep`].
pub type Sleep<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Where the client takes time from, and how it waits.
///
/// Implementations must be cheap to call and safe to share between tasks.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Wall-clock time in milliseconds since the Unix epoch. Used for the `request-time` header and
    /// for the notification skew window.
    fn unix_millis(&self) -> i64;

    /// A monotonic reading (time since an arbitrary fixed origin). Used to measure retry windows and
    /// call durations; never goes backwards.
    fn monotonic(&self) -> Duration;

    /// Waits for `duration` (between retry attempts).
    fn sleep(&self, duration: Duration) -> Sleep<'_>;
}

/// The real clock: the system wall clock, `Instant` for monotonic time, and `tokio::time::sleep`.
///
/// Sleeping needs a Tokio runtime with the time driver enabled (the default of `#[tokio::main]`).
#[derive(Clone, Copy)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    /// A system clock whose monotonic origin is now.
    #[must_use]
    #[allow(
        clippy::disallowed_methods,
        reason = "SystemClock is the crate's one clock adapter"
    )]
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for SystemClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SystemClock")
    }
}

impl Clock for SystemClock {
    #[allow(
        clippy::disallowed_methods,
        reason = "SystemClock is the crate's one clock adapter"
    )]
    fn unix_millis(&self) -> i64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(since) => i64::try_from(since.as_millis()).unwrap_or(i64::MAX),
            Err(before) => i64::try_from(before.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
        }
    }

    #[allow(
        clippy::disallowed_methods,
        reason = "SystemClock is the crate's one clock adapter"
    )]
    fn monotonic(&self) -> Duration {
        Instant::now().saturating_duration_since(self.origin)
    }

    fn sleep(&self, duration: Duration) -> Sleep<'_> {
        Box::pin(tokio::time::sleep(duration))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_clock_reads_plausible_values() {
        let clock = SystemClock::new();
        // After 2020-01-01 and before 2200-01-01.
        let now = clock.unix_millis();
        assert!(now > 1_577_836_800_000 && now < 7_258_118_400_000, "{now}");
        let a = clock.monotonic();
        let b = clock.monotonic();
        assert!(b >= a);
        assert_eq!(format!("{clock:?}"), "SystemClock");
    }
}
