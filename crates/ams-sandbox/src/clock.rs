//! The sandbox's clock: real time plus an offset, which tests read, move forward, set or freeze.
//!
//! Everything time-dependent in the sandbox (token and auth-code expiry, payment expiry, the cancel
//! window, notification retries, `response-time` headers) reads this clock, so a test moves time
//! instead of sleeping.

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

impl SandboxClock {
    /// A clock that reads real time.
    pub fn new() -> Self {
        Self::default()
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

    /// Now, in Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        let state = self.state();
        state
            .frozen_at
            .unwrap_or_else(|| real_now_ms().saturating_add(state.offset_ms))
    }

    /// Whether the clock is frozen.
    pub fn is_frozen(&self) -> bool {
        self.state().frozen_at.is_some()
    }

    /// Moves the clock forward (or back, with a negative value) by `ms`.
    pub fn advance_ms(&self, ms: i64) {
        self.update(|s| {
            s.offset_ms = s.offset_ms.saturating_add(ms);
            if let Some(frozen) = s.frozen_at.as_mut() {
                *frozen = frozen.saturating_add(ms);
            }
        });
    }

    /// Sets the clock to `unix_ms`; a frozen clock stays frozen there.
    pub fn set_ms(&self, unix_ms: i64) {
        self.update(|s| {
            s.offset_ms = unix_ms.saturating_sub(real_now_ms());
            if s.frozen_at.is_some() {
                s.frozen_at = Some(unix_ms);
            }
        });
    }

    /// Freezes the clock at its current reading, or lets it run again from where it stands.
    pub fn freeze(&self, frozen: bool) {
        self.update(|s| {
            let now = s
                .frozen_at
                .unwrap_or_else(|| real_now_ms().saturating_add(s.offset_ms));
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
}
