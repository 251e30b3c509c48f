//! The sandbox's clock: real time plus an offset, which tests read, move forward, set or freeze.
//!
//! Everything time-dependent in the sandbox (token and auth-code expiry, payment expiry, the cancel
//! window, notification retries, `response-time` headers) reads this clock, so a test moves time
//! instead of sleeping.
//!
//! The reading always stays between [`SandboxClock::EARLIEST_MS`] (1970) and
//! [`SandboxClock::LATEST_MS`] (the start of 9999): a move past either end stops there, so the
//! arithmetic that adds lifetimes and retry intervals to it cannot overflow, and every reading can
//! be written as an AMS datetime. The control API refuses such a move instead (HTTP 400).

use std::sync::Mutex;

use tokio::sync::watch;

/// A controllable clock in Unix milliseconds.
#[derive(Debug)]
pub struct SandboxClock {
    state: Mutex<ClockState>,
    /// Bumped on every change, so a waiter never misses one.
    changed: watch::Sender<u64>,
}

impl Default for SandboxClock {
    fn default() -> Self {
        Self {
            state: Mutex::default(),
            changed: watch::Sender::new(0),
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct ClockState {
    /// Added to real time; kept so that the sum stays within the clock's range.
    offset_ms: i64,
    frozen_at: Option<i64>,
}

#[allow(
    clippy::disallowed_methods,
    reason = "the sandbox clock's one reading of real time"
)]
fn real_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Keeps an instant within the clock's range.
fn clamp(unix_ms: i64) -> i64 {
    unix_ms.clamp(SandboxClock::EARLIEST_MS, SandboxClock::LATEST_MS)
}

impl SandboxClock {
    /// The earliest reading: 1970-01-01T00:00:00Z.
    pub const EARLIEST_MS: i64 = 0;
    /// The latest reading: 9999-01-01T00:00:00Z (a year of headroom for lifetimes added to it,
    /// still writable as an AMS datetime).
    pub const LATEST_MS: i64 = 253_370_764_800_000;

    /// A clock that reads real time.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `unix_ms` is a reading the clock can take.
    pub fn in_range(unix_ms: i64) -> bool {
        (Self::EARLIEST_MS..=Self::LATEST_MS).contains(&unix_ms)
    }

    fn state(&self) -> ClockState {
        *self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn update(&self, f: impl FnOnce(&mut ClockState)) {
        {
            let mut state = self
                .state
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            f(&mut state);
        }
        self.changed
            .send_modify(|version| *version = version.wrapping_add(1));
    }

    /// Now, in Unix milliseconds, within [`Self::EARLIEST_MS`]..=[`Self::LATEST_MS`].
    pub fn now_ms(&self) -> i64 {
        let state = self.state();
        clamp(
            state
                .frozen_at
                .unwrap_or_else(|| real_now_ms().saturating_add(state.offset_ms)),
        )
    }

    /// Whether the clock is frozen.
    pub fn is_frozen(&self) -> bool {
        self.state().frozen_at.is_some()
    }

    /// Moves the clock forward (or back, with a negative value) by `ms`; a move past
    /// [`Self::LATEST_MS`] or before [`Self::EARLIEST_MS`] stops there.
    pub fn advance_ms(&self, ms: i64) {
        self.update(|s| {
            let real = real_now_ms();
            let now = clamp(
                s.frozen_at
                    .unwrap_or_else(|| real.saturating_add(s.offset_ms)),
            );
            let target = clamp(now.saturating_add(ms));
            s.offset_ms = target.saturating_sub(real);
            if s.frozen_at.is_some() {
                s.frozen_at = Some(target);
            }
        });
    }

    /// Sets the clock to `unix_ms` (kept within [`Self::EARLIEST_MS`]..=[`Self::LATEST_MS`]); a
    /// frozen clock stays frozen there.
    pub fn set_ms(&self, unix_ms: i64) {
        let target = clamp(unix_ms);
        self.update(|s| {
            s.offset_ms = target.saturating_sub(real_now_ms());
            if s.frozen_at.is_some() {
                s.frozen_at = Some(target);
            }
        });
    }

    /// Freezes the clock at its current reading, or lets it run again from where it stands.
    pub fn freeze(&self, frozen: bool) {
        self.update(|s| {
            let now = clamp(
                s.frozen_at
                    .unwrap_or_else(|| real_now_ms().saturating_add(s.offset_ms)),
            );
            if frozen {
                s.frozen_at = Some(now);
            } else {
                s.frozen_at = None;
                s.offset_ms = now.saturating_sub(real_now_ms());
            }
        });
    }

    /// A receiver that sees every move of the clock (advanced, set, frozen or thawed).
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frozen_clock_moves_only_when_told() {
        let clock = SandboxClock::new();
        clock.set_ms(1_700_000_000_000);
        clock.freeze(true);
        assert_eq!(clock.now_ms(), 1_700_000_000_000);
        clock.advance_ms(90_000);
        assert_eq!(clock.now_ms(), 1_700_000_090_000);
        clock.set_ms(1_600_000_000_000);
        assert_eq!(clock.now_ms(), 1_600_000_000_000);
        clock.freeze(false);
        assert!(clock.now_ms() >= 1_600_000_000_000);
        assert!(clock.now_ms() < 1_600_000_060_000);
    }

    #[test]
    fn absurd_moves_stop_at_the_ends_of_the_range() {
        let clock = SandboxClock::new();
        clock.freeze(true);
        clock.advance_ms(i64::MAX);
        assert_eq!(clock.now_ms(), SandboxClock::LATEST_MS);
        clock.advance_ms(i64::MAX);
        assert_eq!(clock.now_ms(), SandboxClock::LATEST_MS);
        clock.advance_ms(i64::MIN);
        assert_eq!(clock.now_ms(), SandboxClock::EARLIEST_MS);
        clock.set_ms(i64::MAX);
        assert_eq!(clock.now_ms(), SandboxClock::LATEST_MS);
        clock.freeze(false);
        assert_eq!(clock.now_ms(), SandboxClock::LATEST_MS);
        clock.set_ms(i64::MIN);
        assert!(clock.now_ms() < 60_000, "{}", clock.now_ms());
        clock.advance_ms(-1_000_000);
        assert!(clock.now_ms() < 60_000, "{}", clock.now_ms());
        // Whatever was asked, a reading can be written as an AMS datetime.
        assert!(
            ams_protocol::AmsDateTime::from_unix_millis(SandboxClock::LATEST_MS, 8 * 60).is_ok()
        );
        assert_eq!(
            ams_protocol::AmsDateTime::from_unix_millis(SandboxClock::LATEST_MS, 0)
                .map(ams_protocol::AmsDateTime::into_inner)
                .as_deref(),
            Ok("9999-01-01T00:00:00+00:00")
        );
    }
}
