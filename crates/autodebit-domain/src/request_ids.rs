//! Request ids as seed 004 asks: timestamp (to the second), terminal, amount, a sequence and a
//! random part. Unique, never sequential, never reused; a business order never doubles as one.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::model::Millis;
use crate::ports::RequestIds;

/// The default source of request ids.
#[derive(Debug, Default)]
pub struct SeedRequestIds {
    sequence: AtomicU64,
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // The OS generator does not fail on supported platforms; if it did, the sequence part still
    // keeps ids unique within the process.
    let _ = getrandom::fill(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// `yyyyMMddHHmmss` in UTC of a Unix-millisecond instant.
fn timestamp(now: Millis) -> String {
    let secs = now.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}{:02}{:02}{:02}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

impl SeedRequestIds {
    /// A new source.
    pub fn new() -> Self {
        Self::default()
    }

    fn next(&self) -> u64 {
        self.sequence.fetch_add(1, Ordering::Relaxed) % 1_000_000
    }
}

impl RequestIds for SeedRequestIds {
    fn payment_request_id(&self, now: Millis, terminal: &str, amount_minor: u64) -> String {
        let terminal: String = terminal
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(8)
            .collect();
        format!(
            "{}{terminal}{amount_minor}{:06}{}",
            timestamp(now),
            self.next(),
            random_hex(6)
        )
    }

    fn refund_request_id(&self, now: Millis) -> String {
        format!("R{}{:06}{}", timestamp(now), self.next(), random_hex(6))
    }

    fn auth_state(&self, _now: Millis) -> String {
        random_hex(16)
    }

    fn local_id(&self, prefix: &str) -> String {
        format!("{prefix}_{}", random_hex(12))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payment_request_ids_follow_the_seed_and_never_repeat() {
        let ids = SeedRequestIds::new();
        let now = 1_704_067_200_000; // 2024-01-01T00:00:00Z
        let a = ids.payment_request_id(now, "WEB", 2500);
        let b = ids.payment_request_id(now, "WEB", 2500);
        assert!(a.starts_with("20240101000000WEB2500000000"), "{a}");
        assert!(b.starts_with("20240101000000WEB2500000001"), "{b}");
        assert_ne!(a[a.len() - 12..], b[b.len() - 12..], "random parts differ");
        assert!(a.len() <= 64);
        let many: std::collections::HashSet<String> = (0..10_000)
            .map(|_| ids.payment_request_id(now, "APP", 1))
            .collect();
        assert_eq!(many.len(), 10_000);
    }

    #[test]
    fn timestamps_are_civil_utc() {
        assert_eq!(timestamp(0), "19700101000000");
        assert_eq!(timestamp(951_782_400_000), "20000229000000");
        assert_eq!(timestamp(1_735_689_599_000), "20241231235959");
    }

    #[test]
    fn auth_states_are_unguessable() {
        let ids = SeedRequestIds::new();
        assert_eq!(ids.auth_state(0).len(), 32);
        assert_ne!(ids.auth_state(0), ids.auth_state(0));
    }
}
