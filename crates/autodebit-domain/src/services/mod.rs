//! The flows: plain code over the ports, one service per concern.
//!
//! - [`authorizations::Authorizations`]: bind a wallet (consult, the auth code from the redirect or
//!   `AUTHCODE_CREATED`, `applyToken`), keep the token alive (refresh), revoke.
//! - [`payments::Payments`]: charge with a merchant idempotency key, resolve every unknown outcome
//!   (inquiry on a schedule, then cancel, retried, then an operator), merchant cancels, and the job
//!   runner ([`payments::Payments::run_due_jobs`]).
//! - [`refunds::Refunds`]: partial and full refunds, never above what was paid.
//! - [`notifications::Notifications`]: Alipay's notifications, stored in the inbox once and applied
//!   through the same transitions as everything else.
//!
//! Every service holds a [`Context`] (the ports, the [`Schedule`] and the merchant [`Settings`]);
//! clones are cheap and share the ports.
//!
//! Every state change is a compare-and-set in one unit of work with the jobs, events and inbox
//! entries it needs; when a compare-and-set or the commit loses a race, the flow reads again and
//! re-applies its event, so a notification and an inquiry racing to the same result apply it once.

pub mod authorizations;
pub mod notifications;
pub mod payments;
pub mod refunds;

use std::fmt;
use std::sync::Arc;

use ams_protocol::{Amount, Currency, Scope};

use crate::lifecycle::InvalidTransition;
use crate::model::{Event, EventKind, Millis};
use crate::ports::{Clock, Gateway, RequestIds, Store, StoreError, Tx};
use crate::request_ids::SeedRequestIds;

/// How often and for how long the flows retry, inquire and wait. Every time is in milliseconds.
///
/// The defaults are the seeds' numbers: after an unknown `pay`, `inquiryPayment` every 3 s, up to
/// 20 times, then `cancel`, retried every 5–10 s for 60 s; an unknown `refund` is sent again every
/// 5–10 s for 60 s, then inquired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// The first inquiry after an unknown `pay`.
    pub first_inquiry_after_ms: Millis,
    /// Between inquiries.
    pub inquiry_every_ms: Millis,
    /// How many inquiries before cancelling (the seeds: 10 to 20).
    pub max_inquiries: u32,
    /// The shortest wait before a cancel is tried again.
    pub cancel_retry_min_ms: Millis,
    /// The longest wait before a cancel is tried again.
    pub cancel_retry_max_ms: Millis,
    /// How long after its first try a cancel is retried; then an operator is asked.
    pub cancel_retry_for_ms: Millis,
    /// The shortest wait before an unknown refund is sent again.
    pub refund_retry_min_ms: Millis,
    /// The longest wait before an unknown refund is sent again.
    pub refund_retry_max_ms: Millis,
    /// How long after its first send a refund is sent again; then it is inquired.
    pub refund_retry_for_ms: Millis,
    /// Between `inquiryRefund` calls.
    pub refund_inquiry_every_ms: Millis,
    /// How many `inquiryRefund` calls before an operator is asked.
    pub refund_max_inquiries: u32,
    /// How long a call may take before the durable job that guards it takes over (the seeds: no
    /// answer within 15 s means inquire). Also the delay of the job that sends a stored attempt
    /// whose first send did not happen (a crash between storing and sending).
    pub reply_timeout_ms: Millis,
    /// The wait before a request that surely did not leave is sent again.
    pub resend_after_ms: Millis,
    /// `paymentExpiryTime` is set this far after the attempt is created (Auto Debit: under 1 min).
    pub payment_expiry_ms: Millis,
    /// An attempt is not sent when it would reach Alipay less than this before its expiry.
    pub send_margin_ms: Millis,
    /// A token is refreshed this long before its access token expires (at most a fifth of its
    /// remaining life).
    pub refresh_margin_ms: Millis,
    /// The wait before an unknown refresh, exchange or revoke is tried again.
    pub auth_retry_ms: Millis,
    /// How many tries an exchange or a revoke gets before it is given up.
    pub auth_max_tries: u32,
    /// How long a worker holds a job it took.
    pub lease_ms: Millis,
    /// How many jobs a worker takes at once.
    pub batch: u32,
}

impl Default for Schedule {
    fn default() -> Self {
        Self {
            first_inquiry_after_ms: 3_000,
            inquiry_every_ms: 3_000,
            max_inquiries: 20,
            cancel_retry_min_ms: 5_000,
            cancel_retry_max_ms: 10_000,
            cancel_retry_for_ms: 60_000,
            refund_retry_min_ms: 5_000,
            refund_retry_max_ms: 10_000,
            refund_retry_for_ms: 60_000,
            refund_inquiry_every_ms: 10_000,
            refund_max_inquiries: 10,
            reply_timeout_ms: 15_000,
            resend_after_ms: 2_000,
            payment_expiry_ms: 55_000,
            send_margin_ms: 2_000,
            refresh_margin_ms: 24 * 3_600_000,
            auth_retry_ms: 5_000,
            auth_max_tries: 6,
            lease_ms: 30_000,
            batch: 100,
        }
    }
}

/// The merchant's fixed settings for the requests the flows build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// `authRedirectUrl` of `consult`: where the wallet sends the user back (the server's return
    /// page). `None`: the merchant's return URL of each authorization.
    pub auth_redirect_url: Option<String>,
    /// `authNotifyUrl` of `consult` (otherwise the Dashboard setting).
    pub auth_notify_url: Option<String>,
    /// `paymentNotifyUrl` of `pay` (otherwise the Dashboard setting).
    pub payment_notify_url: Option<String>,
    /// `refundNotifyUrl` of `refund` (otherwise the Dashboard setting).
    pub refund_notify_url: Option<String>,
    /// `settlementStrategy.settlementCurrency` of `pay`; `None`: the payment's currency.
    pub settlement_currency: Option<Currency>,
    /// `scopes` of `consult`.
    pub scopes: Vec<Scope>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            auth_redirect_url: None,
            auth_notify_url: None,
            payment_notify_url: None,
            refund_notify_url: None,
            settlement_currency: None,
            scopes: vec![Scope::AgreementPay],
        }
    }
}

/// What every service runs over: the ports, the schedule and the settings. Cheap to clone.
#[derive(Clone)]
pub struct Context {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Alipay.
    pub gateway: Arc<dyn Gateway>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Request ids, auth states and local ids.
    pub ids: Arc<dyn RequestIds>,
    /// Retry and inquiry schedule.
    pub schedule: Schedule,
    /// Merchant settings.
    pub settings: Settings,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("schedule", &self.schedule)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// A context with the default schedule and settings and seed 004's request ids.
    pub fn new(store: Arc<dyn Store>, gateway: Arc<dyn Gateway>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            gateway,
            clock,
            ids: Arc::new(SeedRequestIds::new()),
            schedule: Schedule::default(),
            settings: Settings::default(),
        }
    }

    /// Another source of ids.
    #[must_use]
    pub fn with_ids(mut self, ids: Arc<dyn RequestIds>) -> Self {
        self.ids = ids;
        self
    }

    /// Another schedule.
    #[must_use]
    pub fn with_schedule(mut self, schedule: Schedule) -> Self {
        self.schedule = schedule;
        self
    }

    /// Other settings.
    #[must_use]
    pub fn with_settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    pub(crate) fn now(&self) -> Millis {
        self.clock.now_ms()
    }
}

/// Why a flow did not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store failed; nothing of the failed unit of work was written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No such record.
    #[error("{what} {id} not found")]
    NotFound {
        /// What was looked for.
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// The idempotency key was used before with other parameters.
    #[error("idempotency key {key:?} was already used with other parameters")]
    IdempotencyConflict {
        /// The key.
        key: String,
    },
    /// The authorization may not be charged (only `active` may); nothing was sent.
    #[error("authorization {id} cannot be charged: {reason}")]
    NotChargeable {
        /// The authorization.
        id: String,
        /// Its state, or why its token cannot be used.
        reason: String,
    },
    /// The order cannot be refunded (not paid, or nothing left to refund); nothing was sent.
    #[error("order {id} cannot be refunded: {reason}")]
    NotRefundable {
        /// The order.
        id: String,
        /// Why.
        reason: String,
    },
    /// The refund asks for more than was paid minus what is refunded or being refunded.
    #[error("a refund of {requested} exceeds what is left to refund ({available})")]
    RefundTooLarge {
        /// What was asked.
        requested: Amount,
        /// What is left.
        available: Amount,
    },
    /// The command is malformed.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The event contradicts the record's state; nothing was changed.
    #[error(transparent)]
    Transition(#[from] InvalidTransition),
    /// A notification was refused (amount or currency mismatch, unknown subject, contradiction);
    /// it was recorded and flagged for an operator, and changed no state.
    #[error("notification refused: {0}")]
    NotificationRefused(String),
    /// Alipay answered F.
    #[error("{api} refused: {code}")]
    Refused {
        /// The API.
        api: &'static str,
        /// The result code.
        code: String,
    },
    /// The call did not get an answer that settles it.
    #[error("{api} did not answer: {detail}")]
    Unavailable {
        /// The API.
        api: &'static str,
        /// What happened.
        detail: String,
    },
    /// Other units of work kept changing the same records.
    #[error("too many concurrent changes to {0}; try again")]
    Contention(String),
}

/// How many times a flow re-reads and re-applies after losing a compare-and-set.
pub(crate) const MAX_TRIES: usize = 32;

/// Commits; `Ok(false)` when the commit lost a race (read again and re-apply).
pub(crate) async fn commit(tx: Box<dyn Tx>) -> Result<bool, Error> {
    match tx.commit().await {
        Ok(()) => Ok(true),
        Err(StoreError::Conflict(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Flags something for an operator (an `OperatorAttention` event) and commits; `Ok(false)` when the
/// commit lost a race.
pub(crate) async fn flag_and_commit(
    mut tx: Box<dyn Tx>,
    subject: impl fmt::Display,
    why: &str,
    now: Millis,
) -> Result<bool, Error> {
    tx.push_event(&event(
        EventKind::OperatorAttention,
        subject,
        Some(why.to_owned()),
        now,
    ))
    .await?;
    commit(tx).await
}

/// An outbox event.
pub(crate) fn event(
    kind: EventKind,
    subject: impl fmt::Display,
    detail: Option<String>,
    at: Millis,
) -> Event {
    Event {
        kind,
        subject: subject.to_string(),
        detail,
        at,
    }
}

/// A wait drawn uniformly from `min..=max` (the seeds' "every 5 to 10 seconds").
pub(crate) fn jitter(min: Millis, max: Millis) -> Millis {
    if max <= min {
        return min;
    }
    let mut bytes = [0u8; 8];
    // If the OS generator failed, the midpoint is as good a wait as any.
    if getrandom::fill(&mut bytes).is_err() {
        return min + (max - min) / 2;
    }
    let span = u64::try_from(max - min).unwrap_or(0) + 1;
    min + Millis::try_from(u64::from_le_bytes(bytes) % span).unwrap_or(0)
}

const MINUTE_MS: Millis = 60_000;
const HOUR_MS: Millis = 60 * MINUTE_MS;
const DAY_MS: Millis = 24 * HOUR_MS;
const UTC8_MS: Millis = 8 * HOUR_MS;

/// The last moment a payment created at `created_at` can be cancelled: 00:15 (UTC+8) on the day
/// after its creation day in UTC+8.
pub fn cancel_deadline(created_at: Millis) -> Millis {
    let local = created_at + UTC8_MS;
    let day_start_local = local.div_euclid(DAY_MS) * DAY_MS;
    day_start_local + DAY_MS + 15 * MINUTE_MS - UTC8_MS
}

/// A fingerprint of a command's parameters: every field, length-prefixed, so two different
/// commands never share one.
pub(crate) fn fingerprint(kind: &str, fields: &[&str]) -> String {
    let mut out = format!("{kind}/v1");
    for field in fields {
        out.push_str(&format!("|{}:{field}", field.len()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cancel_window_closes_at_0015_utc8_the_next_day() {
        // 2024-01-01T23:59:00+08:00 → 2024-01-02T00:15:00+08:00.
        let created = 1_704_124_740_000;
        assert_eq!(cancel_deadline(created), 1_704_125_700_000);
        // 2024-01-01T00:00:00+08:00 → 2024-01-02T00:15:00+08:00.
        assert_eq!(cancel_deadline(1_704_038_400_000), 1_704_125_700_000);
    }

    #[test]
    fn jitter_stays_in_range() {
        for _ in 0..1_000 {
            let j = jitter(5_000, 10_000);
            assert!((5_000..=10_000).contains(&j), "{j}");
        }
        assert_eq!(jitter(7, 7), 7);
    }

    #[test]
    fn fingerprints_do_not_collide_on_separators() {
        assert_ne!(
            fingerprint("x", &["a|1:b", ""]),
            fingerprint("x", &["a", "b|0:"])
        );
        assert_eq!(fingerprint("x", &["a"]), fingerprint("x", &["a"]));
    }
}
