//! Ids as seed 004 asks: a `paymentRequestId` is timestamp (to the second), terminal, amount, a
//! sequence and a random part; unique, never sequential, never reused; a business order never
//! doubles as one. Also `authState`, our own ids and lease tokens, all from the [`Random`] port.
//!
//! When the random source fails, every id is an error: never a zeroed `authState` or an id that is
//! only a sequence number.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ams_protocol::{AuthState, PaymentRequestId, RefundRequestId};

use crate::model::{LeaseToken, Millis};
use crate::ports::{Random, RandomError};

/// The operating system's generator.
#[derive(Clone, Copy, Debug, Default)]
pub struct OsRandom;

impl Random for OsRandom {
    #[allow(
        clippy::disallowed_methods,
        reason = "the one adapter of the Random port"
    )]
    fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError> {
        getrandom::fill(buf).map_err(|e| RandomError(e.to_string()))
    }
}

/// Makes every id the flows need.
pub struct Ids {
    random: Arc<dyn Random>,
    sequence: AtomicU64,
}

impl std::fmt::Debug for Ids {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ids").finish_non_exhaustive()
    }
}

/// `yyyyMMddHHmmss` in UTC of a Unix-millisecond instant.
fn timestamp(now: Millis) -> String {
    match ams_protocol::AmsDateTime::from_unix_millis(now, 0) {
        Ok(t) => t
            .as_str()
            .chars()
            .filter(char::is_ascii_digit)
            .take(14)
            .collect(),
        Err(_) => "00000000000000".to_owned(),
    }
}

impl Ids {
    /// Ids from `random`.
    pub fn new(random: Arc<dyn Random>) -> Self {
        Self {
            random,
            sequence: AtomicU64::new(0),
        }
    }

    fn hex(&self, bytes: usize) -> Result<String, RandomError> {
        let mut buf = vec![0u8; bytes];
        self.random.fill(&mut buf)?;
        Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
    }

    fn next(&self) -> u64 {
        self.sequence.fetch_add(1, Ordering::Relaxed) % 1_000_000
    }

    /// A new `paymentRequestId` for a payment of `amount_minor` on `terminal`.
    ///
    /// # Errors
    /// When the random source fails.
    pub fn payment_request_id(
        &self,
        now: Millis,
        terminal: &str,
        amount_minor: u64,
    ) -> Result<PaymentRequestId, RandomError> {
        let terminal: String = terminal
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(8)
            .collect();
        let random = self.hex(6)?;
        Ok(PaymentRequestId::new(format!(
            "{}{terminal}{amount_minor}{:06}{random}",
            timestamp(now),
            self.next(),
        )))
    }

    /// A new `refundRequestId`.
    ///
    /// # Errors
    /// When the random source fails.
    pub fn refund_request_id(&self, now: Millis) -> Result<RefundRequestId, RandomError> {
        let random = self.hex(6)?;
        Ok(RefundRequestId::new(format!(
            "R{}{:06}{random}",
            timestamp(now),
            self.next()
        )))
    }

    /// A new `declarationRequestId`: at most 32 characters, as `declare` requires (`D`, the time,
    /// a sequence number and 48 random bits).
    ///
    /// # Errors
    /// When the random source fails.
    pub fn declaration_request_id(
        &self,
        now: Millis,
    ) -> Result<ams_protocol::DeclarationRequestId, RandomError> {
        let random = self.hex(6)?;
        Ok(ams_protocol::DeclarationRequestId::new(format!(
            "D{}{:04}{random}",
            timestamp(now),
            self.next() % 10_000
        )))
    }

    /// A new `registrationRequestId` (at most 64 characters: `G`, the time, a sequence number and
    /// 48 random bits).
    ///
    /// # Errors
    /// When the random source fails.
    pub fn registration_request_id(
        &self,
        now: Millis,
    ) -> Result<ams_protocol::RegistrationRequestId, RandomError> {
        let random = self.hex(6)?;
        Ok(ams_protocol::RegistrationRequestId::new(format!(
            "G{}{:06}{random}",
            timestamp(now),
            self.next()
        )))
    }

    /// A new unguessable `authState` (128 random bits).
    ///
    /// # Errors
    /// When the random source fails.
    pub fn auth_state(&self) -> Result<AuthState, RandomError> {
        Ok(AuthState::new(self.hex(16)?))
    }

    /// A new local id: `prefix_` and 96 random bits.
    ///
    /// # Errors
    /// When the random source fails.
    pub fn local_id(&self, prefix: &str) -> Result<String, RandomError> {
        Ok(format!("{prefix}_{}", self.hex(12)?))
    }

    /// A new lease token.
    ///
    /// # Errors
    /// When the random source fails.
    pub fn lease_token(&self) -> Result<LeaseToken, RandomError> {
        Ok(LeaseToken::new(format!("lease_{}", self.hex(16)?)))
    }

    /// A wait drawn uniformly from `min..=max` (the seeds' "every 5 to 10 seconds"). Timing is not
    /// a secret: if the source fails, the midpoint is as good a wait as any.
    pub fn jitter(&self, min: Millis, max: Millis) -> Millis {
        if max <= min {
            return min;
        }
        let mut bytes = [0u8; 8];
        if self.random.fill(&mut bytes).is_err() {
            return min + (max - min) / 2;
        }
        let span = u64::try_from(max - min).unwrap_or(0) + 1;
        min + Millis::try_from(u64::from_le_bytes(bytes) % span).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Broken;

    impl Random for Broken {
        fn fill(&self, _: &mut [u8]) -> Result<(), RandomError> {
            Err(RandomError("no entropy".into()))
        }
    }

    #[test]
    fn payment_request_ids_follow_the_seed_and_never_repeat() {
        let ids = Ids::new(Arc::new(OsRandom));
        let now = 1_704_067_200_000; // 2024-01-01T00:00:00Z
        let a = ids.payment_request_id(now, "WEB", 2500).unwrap();
        let b = ids.payment_request_id(now, "WEB", 2500).unwrap();
        let (a, b) = (a.as_str(), b.as_str());
        assert!(a.starts_with("20240101000000WEB2500000000"), "{a}");
        assert!(b.starts_with("20240101000000WEB2500000001"), "{b}");
        assert_ne!(a[a.len() - 12..], b[b.len() - 12..], "random parts differ");
        assert!(a.len() <= 64);
        let many: std::collections::HashSet<String> = (0..10_000)
            .map(|_| ids.payment_request_id(now, "APP", 1).unwrap().into_inner())
            .collect();
        assert_eq!(many.len(), 10_000);
    }

    #[test]
    fn declaration_request_ids_fit_in_32_characters() {
        let ids = Ids::new(Arc::new(OsRandom));
        let id = ids.declaration_request_id(1_735_689_599_000).unwrap();
        assert_eq!(id.as_str().len(), 31);
        assert!(id.as_str().starts_with("D20241231235959"));
        assert_ne!(id, ids.declaration_request_id(1_735_689_599_000).unwrap());
    }

    #[test]
    fn timestamps_are_civil_utc() {
        assert_eq!(timestamp(0), "19700101000000");
        assert_eq!(timestamp(951_782_400_000), "20000229000000");
        assert_eq!(timestamp(1_735_689_599_000), "20241231235959");
    }

    #[test]
    fn auth_states_are_unguessable() {
        let ids = Ids::new(Arc::new(OsRandom));
        assert_eq!(ids.auth_state().unwrap().as_str().len(), 32);
        assert_ne!(ids.auth_state().unwrap(), ids.auth_state().unwrap());
    }

    #[test]
    fn a_failed_random_source_is_an_error_never_a_weak_id() {
        let ids = Ids::new(Arc::new(Broken));
        assert!(ids.auth_state().is_err());
        assert!(ids.payment_request_id(0, "WEB", 1).is_err());
        assert!(ids.refund_request_id(0).is_err());
        assert!(ids.local_id("pay").is_err());
        assert!(ids.lease_token().is_err());
        assert_eq!(ids.jitter(5_000, 10_000), 7_500);
    }

    #[test]
    fn jitter_stays_in_range() {
        let ids = Ids::new(Arc::new(OsRandom));
        for _ in 0..1_000 {
            let j = ids.jitter(5_000, 10_000);
            assert!((5_000..=10_000).contains(&j), "{j}");
        }
        assert_eq!(ids.jitter(7, 7), 7);
    }
}
