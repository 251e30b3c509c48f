//! The flows: plain code over the ports, one service per concern.
//!
//! - [`authorizations::Authorizations`]: bind a wallet (consult, the auth code from the redirect or
//!   `AUTHCODE_CREATED`, `applyToken`), keep the token alive (refresh), revoke.
//! - [`payments::Payments`]: charge with a merchant idempotency key, pay an order again, cancel,
//!   and resolve every unknown outcome (inquiry, cancel, confirmation, refund instead).
//! - [`refunds::Refunds`]: partial and full refunds, never above what was paid.
//! - [`notifications::Notifications`]: Alipay's notifications, verified over their raw bytes,
//!   stored in the inbox once and applied through the same transitions as everything else.
//! - [`jobs::Jobs`]: the job runner: claims due work under a lease and moves each subject on.
//! - [`operator::Operator`]: what needs a person, and what a person can do about it.
//!
//! Every service holds a [`Context`] (the ports, the [`Schedule`] and the merchant [`Settings`]);
//! clones are cheap and share the ports.
//!
//! Every state change is a compare-and-set in one unit of work with the jobs, events and inbox
//! entries it needs (`unit_of_work!`); when a compare-and-set or the commit loses a race, the flow
//! reads again and re-applies its event, so a notification and an inquiry racing to the same
//! result apply it once.

/// Runs a unit of work until it commits, re-reading and re-applying when a compare-and-set or the
/// commit loses a race: `unit_of_work!(ctx, what, |tx, now| { … })`. The body gets the unit of work
/// (`&mut dyn Tx`) and the time of this try, and returns `Result<Unit<T>, Error>`: commit and
/// return ([`Unit::Commit`]), drop and return ([`Unit::Done`]), or try again ([`Unit::Retry`]);
/// `return` in it returns from the body. The whole is a `Result<T, Error>`
/// ([`Error::Contention`] when the races never stop).
///
/// A macro rather than a function over an async closure: the body is a plain `async` block, so the
/// futures of the flows stay provably `Send` (a server spawns them).
macro_rules! unit_of_work {
    ($ctx:expr, $what:expr, |$tx:ident, $now:ident| $body:block) => {{
        let ctx: &$crate::services::Context = $ctx;
        let mut settled = None;
        for _ in 0..$crate::services::MAX_TRIES {
            #[allow(unused_variables, reason = "some bodies need no time")]
            let $now = ctx.now();
            let mut unit_tx = match ctx.store.begin().await {
                Ok(tx) => tx,
                Err(e) => {
                    settled = Some(Err($crate::services::Error::from(e)));
                    break;
                }
            };
            let unit: Result<$crate::services::Unit<_>, $crate::services::Error> = {
                let $tx: &mut dyn $crate::ports::Tx = &mut *unit_tx;
                async { $body }.await
            };
            match unit {
                Err(e) => {
                    settled = Some(Err(e));
                    break;
                }
                Ok($crate::services::Unit::Commit(value)) => match unit_tx.commit().await {
                    Ok(()) => {
                        settled = Some(Ok(value));
                        break;
                    }
                    Err($crate::ports::StoreError::Conflict(_)) => {}
                    Err(e) => {
                        settled = Some(Err($crate::services::Error::from(e)));
                        break;
                    }
                },
                Ok($crate::services::Unit::Done(value)) => {
                    drop(unit_tx);
                    settled = Some(Ok(value));
                    break;
                }
                Ok($crate::services::Unit::Retry) => {}
            }
        }
        settled.unwrap_or_else(|| Err($crate::services::Error::Contention($what.to_string())))
    }};
}

pub mod authorizations;
pub mod customs;
pub mod jobs;
mod lease;
pub mod notifications;
pub mod operator;
pub mod payments;
pub mod refunds;
pub mod registrations;

use std::fmt;
use std::sync::Arc;

use ams_protocol::{Amount, Api, Currency, Scope};

use crate::lifecycle::InvalidTransition;
use crate::model::{AttentionItem, Event, EventKind, Millis, OperatorAction, Resolution, Subject};
use crate::ports::{
    Clock, Gateway, NotificationVerifier, PageRequest, RandomError, RawNotification, RefusalCause,
    Reply, Store, StoreError, Tx, Verification,
};
use crate::request_ids::{Ids, OsRandom};

/// How often and for how long the flows retry, inquire and wait. Every time is in milliseconds.
///
/// The defaults are the seeds' numbers: after an unknown `pay`, `inquiryPayment` every 3 s, up to
/// 20 times, then `cancel`, retried every 5–10 s for 60 s, then with backoff until the cancel
/// window closes, then the payment is inquired until final (and refunded if it was paid); an
/// unknown `refund` is sent again every 5–10 s for 60 s, then inquired. [`Schedule::validate`]
/// checks a configured schedule against the seeds' bounds.
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
    /// How long after its first try a cancel is retried every 5–10 s; after that, with a growing
    /// wait, until the cancel window closes.
    pub cancel_retry_for_ms: Millis,
    /// The longest wait between cancels once the first burst is over.
    pub cancel_backoff_max_ms: Millis,
    /// The shortest wait between inquiries that confirm a payment the cancel could not settle.
    pub confirm_every_min_ms: Millis,
    /// The longest wait between those inquiries.
    pub confirm_every_max_ms: Millis,
    /// How long after a payment's `paymentExpiryTime` "no such payment" is believed (clock skew
    /// between us and Alipay, and requests still in transit).
    pub expiry_margin_ms: Millis,
    /// The shortest wait before an unknown refund is sent again.
    pub refund_retry_min_ms: Millis,
    /// The longest wait before an unknown refund is sent again.
    pub refund_retry_max_ms: Millis,
    /// How long after its first send a refund is sent again; then it is inquired.
    pub refund_retry_for_ms: Millis,
    /// The shortest wait between `inquiryRefund` calls (it grows up to the next setting).
    pub refund_inquiry_every_ms: Millis,
    /// The longest wait between `inquiryRefund` calls.
    pub refund_inquiry_max_ms: Millis,
    /// A refund whose sends surely never left this many times in a row fails as not sent.
    pub refund_max_not_sent: u32,
    /// How long a call may take before the durable job that guards it takes over (the seeds: no
    /// answer within 15 s means inquire). At least a second longer than [`Schedule::max_call_ms`]:
    /// it is also how long a worker's lease holds while its call is under way.
    pub reply_timeout_ms: Millis,
    /// The wait before a request that surely did not leave is sent again.
    pub resend_after_ms: Millis,
    /// `paymentExpiryTime` is set this far after the attempt is created (Auto Debit: under 1 min).
    pub payment_expiry_ms: Millis,
    /// An attempt is not sent when it would reach Alipay less than this before its expiry.
    pub send_margin_ms: Millis,
    /// A token is refreshed this long before its access or refresh token expires, whichever is
    /// first (at most a fifth of its remaining life).
    pub refresh_margin_ms: Millis,
    /// The wait before an unknown refresh, exchange or revoke is tried again.
    pub auth_retry_ms: Millis,
    /// How many tries an exchange or a revoke gets before it is given up.
    pub auth_max_tries: u32,
    /// How long an authorization waits for the user's consent before it expires.
    pub consent_timeout_ms: Millis,
    /// A payment or refund still unsettled this long after it started is shown to a person (its
    /// job goes on).
    pub attention_after_ms: Millis,
    /// The longest one call to Alipay can take (the client's timeout): leases and guards are
    /// sized from it.
    pub max_call_ms: Millis,
    /// How long a worker holds a job it took (renewed right before each call to Alipay).
    pub lease_ms: Millis,
    /// How many jobs a worker takes at once.
    pub batch: u32,
    /// A job taken this many times in a row without finishing is set aside as a dead letter.
    pub job_max_attempts: u32,
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
            cancel_backoff_max_ms: 30 * 60_000,
            confirm_every_min_ms: 10_000,
            confirm_every_max_ms: 3_600_000,
            expiry_margin_ms: 5 * 60_000,
            refund_retry_min_ms: 5_000,
            refund_retry_max_ms: 10_000,
            refund_retry_for_ms: 60_000,
            refund_inquiry_every_ms: 10_000,
            refund_inquiry_max_ms: 3_600_000,
            refund_max_not_sent: 10,
            reply_timeout_ms: 15_000,
            resend_after_ms: 2_000,
            payment_expiry_ms: 55_000,
            send_margin_ms: 2_000,
            refresh_margin_ms: 24 * 3_600_000,
            auth_retry_ms: 5_000,
            auth_max_tries: 6,
            consent_timeout_ms: 30 * 60_000,
            attention_after_ms: 10 * 60_000,
            max_call_ms: 10_000,
            lease_ms: 60_000,
            batch: 10,
            job_max_attempts: 10,
        }
    }
}

/// A schedule setting out of its bounds.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("schedule.{setting}: {problem}")]
pub struct ScheduleError {
    /// The setting, by its field name.
    pub setting: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

impl Schedule {
    /// Checks every setting against the seeds' bounds and against the others.
    ///
    /// # Errors
    /// The first setting out of bounds, named.
    pub fn validate(&self) -> Result<(), ScheduleError> {
        let fail = |setting, problem: String| Err(ScheduleError { setting, problem });
        let positive: [(&'static str, Millis); 17] = [
            ("first_inquiry_after_ms", self.first_inquiry_after_ms),
            ("inquiry_every_ms", self.inquiry_every_ms),
            ("cancel_retry_min_ms", self.cancel_retry_min_ms),
            ("cancel_retry_for_ms", self.cancel_retry_for_ms),
            ("cancel_backoff_max_ms", self.cancel_backoff_max_ms),
            ("confirm_every_min_ms", self.confirm_every_min_ms),
            ("refund_retry_min_ms", self.refund_retry_min_ms),
            ("refund_retry_for_ms", self.refund_retry_for_ms),
            ("refund_inquiry_every_ms", self.refund_inquiry_every_ms),
            ("reply_timeout_ms", self.reply_timeout_ms),
            ("resend_after_ms", self.resend_after_ms),
            ("payment_expiry_ms", self.payment_expiry_ms),
            ("auth_retry_ms", self.auth_retry_ms),
            ("consent_timeout_ms", self.consent_timeout_ms),
            ("attention_after_ms", self.attention_after_ms),
            ("max_call_ms", self.max_call_ms),
            ("lease_ms", self.lease_ms),
        ];
        for (setting, value) in positive {
            if value <= 0 {
                return fail(setting, format!("must be more than 0, found {value}"));
            }
        }
        if !(10..=20).contains(&self.max_inquiries) {
            return fail(
                "max_inquiries",
                format!(
                    "must be between 10 and 20 (Alipay's best practice), found {}",
                    self.max_inquiries
                ),
            );
        }
        if self.inquiry_every_ms > 10_000 || self.first_inquiry_after_ms > 25_000 {
            return fail(
                "inquiry_every_ms",
                "inquiries must come every 10 s at most, the first within 25 s (Alipay: every 3 s)"
                    .into(),
            );
        }
        if self.payment_expiry_ms >= 60_000 {
            return fail(
                "payment_expiry_ms",
                format!(
                    "must be under 60000 (Auto Debit's paymentExpiryTime is under 1 minute), found {}",
                    self.payment_expiry_ms
                ),
            );
        }
        if self.send_margin_ms < 0 || self.send_margin_ms >= self.payment_expiry_ms {
            return fail(
                "send_margin_ms",
                "must be at least 0 and under payment_expiry_ms".into(),
            );
        }
        for (setting, min, max) in [
            (
                "cancel_retry_max_ms",
                self.cancel_retry_min_ms,
                self.cancel_retry_max_ms,
            ),
            (
                "confirm_every_max_ms",
                self.confirm_every_min_ms,
                self.confirm_every_max_ms,
            ),
            (
                "refund_retry_max_ms",
                self.refund_retry_min_ms,
                self.refund_retry_max_ms,
            ),
            (
                "refund_inquiry_max_ms",
                self.refund_inquiry_every_ms,
                self.refund_inquiry_max_ms,
            ),
        ] {
            if max < min {
                return fail(
                    setting,
                    format!("must not be below its minimum ({min}), found {max}"),
                );
            }
        }
        if self.expiry_margin_ms < 0 || self.expiry_margin_ms > 3_600_000 {
            return fail(
                "expiry_margin_ms",
                format!(
                    "must be between 0 and 3600000, found {}",
                    self.expiry_margin_ms
                ),
            );
        }
        if self.reply_timeout_ms < self.max_call_ms + 1_000 {
            return fail(
                "reply_timeout_ms",
                format!(
                    "must exceed max_call_ms ({}) by at least 1000: another worker must not take a job while its call, or the recording of its answer, may still be under way",
                    self.max_call_ms
                ),
            );
        }
        if self.lease_ms < 2 * self.max_call_ms {
            return fail(
                "lease_ms",
                format!(
                    "must be at least twice max_call_ms ({}), so no lease ends while its call runs",
                    self.max_call_ms
                ),
            );
        }
        for (setting, value) in [
            ("max_inquiries", self.max_inquiries),
            ("refund_max_not_sent", self.refund_max_not_sent),
            ("auth_max_tries", self.auth_max_tries),
            ("batch", self.batch),
            ("job_max_attempts", self.job_max_attempts),
        ] {
            if value == 0 {
                return fail(setting, "must be at least 1".into());
            }
        }
        Ok(())
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
    /// Whether the merchant declares payments to Chinese customs (`declare`): an optional module,
    /// off unless the merchant's contract has it.
    pub customs_declarations: bool,
    /// Whether the merchant (an acquirer or ISV) registers secondary merchants (`registration`,
    /// deprecated by Alipay for online payments since August 2022): off unless turned on.
    pub secondary_merchant_registration: bool,
    /// `registrationNotifyURL` of `registration`: where `notifyRegistrationStatus` goes.
    pub registration_notify_url: Option<String>,
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
            customs_declarations: false,
            secondary_merchant_registration: false,
            registration_notify_url: None,
        }
    }
}

/// Refuses every notification: the verifier of a [`Context`] until one is configured (fail
/// closed).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoVerifier;

impl NotificationVerifier for NoVerifier {
    fn verify(&self, _raw: &RawNotification) -> Verification {
        Verification::Refused {
            cause: RefusalCause::WrongClient,
            detail: "no notification verifier is configured".into(),
        }
    }
}

/// What every service runs over: the ports, the schedule and the settings. Cheap to clone.
#[derive(Clone)]
pub struct Context {
    /// Where everything is kept.
    pub store: Arc<dyn Store>,
    /// Alipay.
    pub gateway: Arc<dyn Gateway>,
    /// Checks Alipay's notifications before anything in them is believed.
    pub verifier: Arc<dyn NotificationVerifier>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Request ids, auth states, local ids and lease tokens.
    pub ids: Arc<Ids>,
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
    /// A context with the default schedule and settings, the operating system's random source,
    /// and no notification verifier (every notification is refused until one is set).
    pub fn new(store: Arc<dyn Store>, gateway: Arc<dyn Gateway>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            gateway,
            verifier: Arc::new(NoVerifier),
            clock,
            ids: Arc::new(Ids::new(Arc::new(OsRandom))),
            schedule: Schedule::default(),
            settings: Settings::default(),
        }
    }

    /// Another random source.
    #[must_use]
    pub fn with_random(mut self, random: Arc<dyn crate::ports::Random>) -> Self {
        self.ids = Arc::new(Ids::new(random));
        self
    }

    /// The notification verifier.
    #[must_use]
    pub fn with_verifier(mut self, verifier: Arc<dyn NotificationVerifier>) -> Self {
        self.verifier = verifier;
        self
    }

    /// Another schedule (not validated here: a deployment calls [`Schedule::validate`] on what it
    /// reads from its configuration; tests may shorten anything).
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

    /// Now, by the context's clock.
    pub fn now(&self) -> Millis {
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
    /// The random source failed; nothing was stored or sent.
    #[error(transparent)]
    Random(#[from] RandomError),
    /// No such record.
    #[error("{what} {id} not found")]
    NotFound {
        /// What was looked for.
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// A field of the command is wrong.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The idempotency key was used before with other parameters.
    #[error("idempotency key {key:?} was already used with other parameters")]
    IdempotencyConflict {
        /// The key.
        key: String,
    },
    /// An order with this reference exists: pay it again with a retry, or use another reference.
    #[error("the reference {reference:?} belongs to payment {order_id}")]
    ReferenceInUse {
        /// The reference.
        reference: String,
        /// The order that has it.
        order_id: String,
    },
    /// An attempt of the order is not final: no new attempt until Alipay has settled it.
    #[error("payment {order_id} has an attempt ({payment_request_id}) that is still {state}")]
    AttemptInProgress {
        /// The order.
        order_id: String,
        /// The attempt's `paymentRequestId`.
        payment_request_id: String,
        /// Its state.
        state: &'static str,
    },
    /// The order is paid: it is never paid again.
    #[error("payment {order_id} is already paid")]
    AlreadyPaid {
        /// The order.
        order_id: String,
    },
    /// The authorization may not be charged (only `active` may); nothing was sent.
    #[error("authorization {id} cannot be charged: {reason}")]
    NotChargeable {
        /// The authorization.
        id: String,
        /// Its state, or why its token cannot be used.
        reason: String,
    },
    /// The payment cannot be cancelled; `refund_instead` says whether a refund is the way.
    #[error("payment {order_id} cannot be cancelled: {reason}")]
    NotCancellable {
        /// The order.
        order_id: String,
        /// Why.
        reason: String,
        /// Whether a refund would return the money instead.
        refund_instead: bool,
    },
    /// The order cannot be refunded (not paid, a cancel under way, or nothing left to refund);
    /// nothing was sent.
    #[error("payment {id} cannot be refunded: {reason}")]
    NotRefundable {
        /// The order.
        id: String,
        /// Why.
        reason: String,
    },
    /// The payment cannot be declared to customs (not paid, more than was paid declared), or the
    /// declaration cannot be sent again now; nothing was stored or sent.
    #[error("{id} cannot be declared: {reason}")]
    NotDeclarable {
        /// The payment or the declaration.
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
    /// The event contradicts the record's state; nothing was changed.
    #[error(transparent)]
    Transition(#[from] InvalidTransition),
    /// A verified notification was refused (amount or currency mismatch, unknown subject,
    /// contradiction): it was recorded and flagged for a person, and changed no state.
    #[error("notification refused: {0}")]
    NotificationRefused(String),
    /// A notification failed verification: nothing in it was used or stored.
    #[error("notification not verified ({}): {detail}", cause.name())]
    NotificationUnverified {
        /// Why, by cause.
        cause: RefusalCause,
        /// The verifier's diagnosis.
        detail: String,
    },
    /// Alipay answered F.
    #[error("{} refused: {code}", api.name())]
    Refused {
        /// The API.
        api: Api,
        /// The result code.
        code: String,
    },
    /// The call did not get an answer that settles it.
    #[error("{} did not answer: {detail}", api.name())]
    Unavailable {
        /// The API.
        api: Api,
        /// What happened.
        detail: String,
    },
    /// Other units of work kept changing the same records.
    #[error("too many concurrent changes to {0}; try again")]
    Contention(String),
}

pub(crate) fn not_found(what: &'static str, id: impl fmt::Display) -> Error {
    Error::NotFound {
        what,
        id: id.to_string(),
    }
}

pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Error {
    Error::Invalid {
        field,
        reason: reason.into(),
    }
}

/// One page of a list, and whether more follow it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    /// The items, newest first.
    pub items: Vec<T>,
    /// Whether items follow the last one (its id is the next page's cursor).
    pub has_more: bool,
}

/// The most items one page may hold.
pub const MAX_PAGE: u32 = 100;

/// Checks a page request (a limit of 1 to [`MAX_PAGE`]) and returns the one to read: a limit one
/// larger, so the extra item tells whether more follow.
pub(crate) fn page_request(page: &PageRequest) -> Result<PageRequest, Error> {
    if !(1..=MAX_PAGE).contains(&page.limit) {
        return Err(invalid("limit", format!("must be 1 to {MAX_PAGE}")));
    }
    Ok(PageRequest {
        after: page.after.clone(),
        limit: page.limit + 1,
    })
}

/// A page from the `limit + 1` items read for `page`.
pub(crate) fn page_of<T>(mut items: Vec<T>, page: &PageRequest) -> Page<T> {
    let limit = usize::try_from(page.limit).unwrap_or(usize::MAX);
    let has_more = items.len() > limit;
    items.truncate(limit);
    Page { items, has_more }
}

/// How many times a flow re-reads and re-applies after losing a compare-and-set.
pub(crate) const MAX_TRIES: usize = 32;

/// What one try of a unit of work decided.
pub(crate) enum Unit<T> {
    /// Commit what was written, then return this.
    Commit(T),
    /// Write nothing (drop the unit of work) and return this.
    Done(T),
    /// A compare-and-set lost: read again and re-apply.
    Retry,
}

/// An attention item about to be raised: what is wrong, what was tried, what a person can do.
pub(crate) struct Flag {
    pub(crate) subject: Subject,
    pub(crate) code: &'static str,
    pub(crate) reason: String,
    pub(crate) tried: String,
    pub(crate) actions: Vec<OperatorAction>,
}

impl Flag {
    pub(crate) fn new(
        subject: Subject,
        code: &'static str,
        reason: impl Into<String>,
        tried: impl Into<String>,
        actions: &[OperatorAction],
    ) -> Self {
        Self {
            subject,
            code,
            reason: reason.into(),
            tried: tried.into(),
            actions: actions.to_vec(),
        }
    }
}

/// Raises `flag` in `tx`; a newly opened item is also an `OperatorAttention` event.
pub(crate) async fn raise(
    ctx: &Context,
    tx: &mut dyn Tx,
    flag: Flag,
    now: Millis,
) -> Result<(), Error> {
    let item = AttentionItem {
        id: crate::model::AttentionId::new(ctx.ids.local_id("atn")?),
        subject: flag.subject,
        code: flag.code.to_owned(),
        reason: flag.reason,
        tried: flag.tried,
        actions: flag.actions,
        opened_at: now,
        updated_at: now,
        resolution: None,
    };
    if tx.raise_attention(&item).await? {
        tx.push_event(&Event::new(
            EventKind::OperatorAttention,
            item.subject.id(),
            Some(format!("{}: {}", item.code, item.reason)),
            now,
        ))
        .await?;
    }
    Ok(())
}

/// Closes every open item of `subject`: what needed a person settled on its own.
pub(crate) async fn settle_attention(
    tx: &mut dyn Tx,
    subject: &Subject,
    reason: impl Into<String>,
    now: Millis,
) -> Result<(), Error> {
    tx.resolve_attention(
        subject,
        None,
        &Resolution {
            at: now,
            reason: reason.into(),
        },
    )
    .await?;
    Ok(())
}

/// Whether a verified answer is about what was asked: the request id and amount it carries, when
/// it carries them, are the asked ones. The mismatch, described, otherwise (`what` names the id,
/// e.g. `paymentRequestId`).
pub(crate) fn unbound<I: PartialEq + fmt::Display>(
    api: Api,
    what: &str,
    asked: (&I, &Amount),
    answered: (Option<&I>, Option<&Amount>),
) -> Option<String> {
    let (asked_id, asked_amount) = asked;
    if let Some(id) = answered.0
        && id != asked_id
    {
        return Some(format!(
            "{} answered for {what} {id}, but asked about {asked_id}",
            api.name()
        ));
    }
    if let Some(amount) = answered.1
        && amount != asked_amount
    {
        return Some(format!(
            "{} answered {amount} for {what} {asked_id}, which is for {asked_amount}",
            api.name()
        ));
    }
    None
}

/// The id of the resource an idempotency key already made, if it did; an error if it made it with
/// other parameters (another fingerprint).
pub(crate) async fn replayed(
    tx: &mut dyn Tx,
    key: &str,
    fp: &Fingerprint,
) -> Result<Option<String>, Error> {
    let Some(record) = tx.idempotency(key).await? else {
        return Ok(None);
    };
    if !fp.matches(&record.fingerprint) {
        return Err(Error::IdempotencyConflict {
            key: key.to_owned(),
        });
    }
    Ok(Some(record.resource))
}

/// Remembers in `tx` that `key` (with the fingerprint `fp`) made `resource`. False when another
/// unit of work took the key first: retry, and the next try replays it.
pub(crate) async fn remember(
    tx: &mut dyn Tx,
    key: &str,
    fp: &Fingerprint,
    resource: &str,
    now: Millis,
) -> Result<bool, Error> {
    Ok(tx
        .insert_idempotency(&crate::model::IdempotencyRecord {
            key: key.to_owned(),
            fingerprint: fp.digest.clone(),
            resource: resource.to_owned(),
            created_at: now,
        })
        .await?)
}

/// The end of a command's unit of work that stores a request to send at once (a declaration, a
/// re-send, a registration): its job, due after the reply timeout (what remains if the send never
/// happens), and the idempotency key that made it, naming the job's subject. `Retry` when another
/// unit of work took the key first; else `made` is committed, not replayed.
pub(crate) async fn schedule_and_remember<T>(
    ctx: &Context,
    tx: &mut dyn Tx,
    job: crate::model::JobKind,
    key: &str,
    fp: &Fingerprint,
    now: Millis,
    made: T,
) -> Result<Unit<(T, bool)>, Error> {
    let resource = job.subject().to_owned();
    tx.schedule_job(job, now + ctx.schedule.reply_timeout_ms)
        .await?;
    if !remember(tx, key, fp, &resource, now).await? {
        return Ok(Unit::Retry);
    }
    Ok(Unit::Commit((made, false)))
}

/// A fingerprint of a command's parameters, as kept beside its idempotency key: a SHA-256 digest
/// of every field, length-prefixed (so two different commands never share one). Only the digest
/// is stored: the parameters may hold personal data (a buyer's certificate number, a merchant's
/// contacts) that the idempotency table must not keep in clear.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Fingerprint {
    digest: String,
    /// The parameters as written before digests were kept: a key stored then is still replayed.
    legacy: String,
}

impl Fingerprint {
    /// Whether a stored fingerprint is this one (as a digest, or in the earlier plain form).
    fn matches(&self, stored: &str) -> bool {
        stored == self.digest || stored == self.legacy
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.digest)
    }
}

/// The fingerprint of a `kind` of command with these parameters.
pub(crate) fn fingerprint(kind: &str, fields: &[&str]) -> Fingerprint {
    use sha2::Digest as _;
    let mut legacy = format!("{kind}/v1");
    for field in fields {
        legacy.push_str(&format!("|{}:{field}", field.len()));
    }
    let digest = sha2::Sha256::digest(legacy.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    Fingerprint {
        digest: format!("{kind}/v2:{hex}"),
        legacy,
    }
}

/// What the answer to a request sent with the same bytes until Alipay answers it (`declare`,
/// `registration`) means for that request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    /// S.
    Accepted,
    /// F: final.
    Refused,
    /// U, a timeout, no answer, a documented "call again" F, or a send that surely did not leave
    /// after an earlier one that may have: the same bytes again.
    Unknown,
    /// Surely not sent, and no earlier send may have left.
    NotSent,
}

/// Reads `reply` to a request of `api` sent again with the same bytes until answered
/// (`maybe_sent_before`: an earlier send may have left): what it means, and the result code and
/// message worth keeping (none for a success).
pub(crate) fn answer<T: ams_protocol::AmsResponse>(
    api: Api,
    reply: &Reply<T>,
    maybe_sent_before: bool,
) -> (Answer, Option<String>, Option<String>) {
    let code_of = |r: &T| Some(r.result().code().as_str().to_owned());
    let message_of = |r: &T| r.result().message().map(str::to_owned);
    match reply {
        Reply::Success(_) => (Answer::Accepted, None, None),
        Reply::Failed(r) => {
            let (decision, _) =
                crate::decision::decide(api, r.result().status(), r.result().code());
            let answer = match decision {
                crate::decision::Decision::RetrySame | crate::decision::Decision::Inquire => {
                    Answer::Unknown
                }
                _ => Answer::Refused,
            };
            (answer, code_of(r), message_of(r))
        }
        Reply::Unknown { response, detail } => (
            Answer::Unknown,
            response.as_ref().and_then(code_of),
            response
                .as_ref()
                .and_then(message_of)
                .or_else(|| Some(detail.clone())),
        ),
        Reply::NotSent { detail } => (
            if maybe_sent_before {
                Answer::Unknown
            } else {
                Answer::NotSent
            },
            Some("NOT_SENT".into()),
            Some(detail.clone()),
        ),
    }
}

/// A wait that grows with the time already spent: half of it, kept within `min..=max` (so the
/// tries come geometrically further apart without counting them).
pub(crate) fn backoff(since: Millis, now: Millis, min: Millis, max: Millis) -> Millis {
    ((now - since) / 2).clamp(min, max.max(min))
}

/// The last moment a payment created at `created_at` can be cancelled: 00:15 (UTC+8) on the day
/// after its creation day in UTC+8.
pub fn cancel_deadline(created_at: Millis) -> Millis {
    ams_protocol::cancel_deadline_millis(created_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fingerprint_keeps_no_parameter_and_still_replays_a_key_stored_in_clear() {
        let fp = fingerprint("declare", &["pay_1", "ID_CARD|110101199003070000|Li Lei"]);
        assert!(fp.digest.starts_with("declare/v2:") && fp.digest.len() == 11 + 64);
        assert!(!fp.digest.contains("110101199003070000"));
        assert!(fp.matches(&fp.digest));
        assert!(fp.matches("declare/v1|5:pay_1|33:ID_CARD|110101199003070000|Li Lei"));
        assert!(!fp.matches(&fingerprint("declare", &["pay_2", ""]).digest));
    }

    #[test]
    fn fingerprints_do_not_collide_on_separators() {
        assert_ne!(
            fingerprint("x", &["a|1:b", ""]),
            fingerprint("x", &["a", "b|0:"])
        );
        assert_eq!(fingerprint("x", &["a"]), fingerprint("x", &["a"]));
    }

    #[test]
    fn the_default_schedule_is_valid_and_bad_settings_are_named() {
        assert_eq!(Schedule::default().validate(), Ok(()));
        let bad = |f: fn(&mut Schedule)| {
            let mut s = Schedule::default();
            f(&mut s);
            s.validate().expect_err("refused").setting
        };
        assert_eq!(bad(|s| s.max_inquiries = 25), "max_inquiries");
        assert_eq!(bad(|s| s.max_inquiries = 3), "max_inquiries");
        assert_eq!(bad(|s| s.payment_expiry_ms = 60_000), "payment_expiry_ms");
        assert_eq!(bad(|s| s.reply_timeout_ms = 5_000), "reply_timeout_ms");
        assert_eq!(bad(|s| s.lease_ms = 15_000), "lease_ms");
        assert_eq!(
            bad(|s| s.cancel_retry_max_ms = 1_000),
            "cancel_retry_max_ms"
        );
        assert_eq!(bad(|s| s.batch = 0), "batch");
        assert_eq!(bad(|s| s.inquiry_every_ms = 0), "inquiry_every_ms");
        let message = Schedule {
            max_inquiries: 25,
            ..Schedule::default()
        }
        .validate()
        .expect_err("refused")
        .to_string();
        assert!(message.starts_with("schedule.max_inquiries:"), "{message}");
    }

    #[test]
    fn backoff_grows_with_the_time_spent_within_its_bounds() {
        assert_eq!(backoff(0, 10_000, 60_000, 1_800_000), 60_000);
        assert_eq!(backoff(0, 600_000, 60_000, 1_800_000), 300_000);
        assert_eq!(backoff(0, 86_400_000, 60_000, 1_800_000), 1_800_000);
    }
}
