//! `[schedule]`: the domain's [`Schedule`], every setting optional (the seeds' defaults apply),
//! validated by the domain's own bounds.

use autodebit_domain::services::{Schedule, ScheduleError};
use serde::{Deserialize, Serialize};

macro_rules! schedule_config {
    ($($(#[$doc:meta])* $name:ident: $ty:ty,)*) => {
        /// The domain's schedule, each setting optional; see `autodebit config example` for what
        /// each one means and its default.
        #[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
        #[serde(default, deny_unknown_fields)]
        pub struct ScheduleConfig {
            $($(#[$doc])* #[serde(skip_serializing_if = "Option::is_none")] pub $name: Option<$ty>,)*
        }

        impl ScheduleConfig {
            /// The defaults with every setting given here, `max_call_ms` the client's longest
            /// call timeout (not set here: leases are sized from what the client really does);
            /// then validated.
            ///
            /// # Errors
            /// A setting out of its bounds, named.
            pub fn resolve(&self, max_call_ms: u64) -> Result<Schedule, ScheduleError> {
                let mut schedule = Schedule {
                    max_call_ms: i64::try_from(max_call_ms).unwrap_or(i64::MAX),
                    ..Schedule::default()
                };
                $(if let Some(value) = self.$name { schedule.$name = value; })*
                schedule.validate()?;
                Ok(schedule)
            }
        }
    };
}

schedule_config! {
    /// The first inquiry after an unknown `pay`.
    first_inquiry_after_ms: i64,
    /// Between inquiries.
    inquiry_every_ms: i64,
    /// Inquiries before cancelling (10 to 20).
    max_inquiries: u32,
    /// The shortest wait before a cancel is tried again.
    cancel_retry_min_ms: i64,
    /// The longest wait before a cancel is tried again.
    cancel_retry_max_ms: i64,
    /// How long a cancel is retried every 5–10 s.
    cancel_retry_for_ms: i64,
    /// The longest wait between cancels after that.
    cancel_backoff_max_ms: i64,
    /// The shortest wait between inquiries confirming a payment a cancel could not settle.
    confirm_every_min_ms: i64,
    /// The longest such wait.
    confirm_every_max_ms: i64,
    /// How long after `paymentExpiryTime` "no such payment" is believed.
    expiry_margin_ms: i64,
    /// The shortest wait before an unknown refund is sent again.
    refund_retry_min_ms: i64,
    /// The longest such wait.
    refund_retry_max_ms: i64,
    /// How long a refund is sent again before it is inquired.
    refund_retry_for_ms: i64,
    /// The shortest wait between refund inquiries.
    refund_inquiry_every_ms: i64,
    /// The longest wait between refund inquiries.
    refund_inquiry_max_ms: i64,
    /// Sends that surely did not leave before a refund fails as not sent.
    refund_max_not_sent: u32,
    /// How long a call may take before its job takes over.
    reply_timeout_ms: i64,
    /// The wait before a request that did not leave is sent again.
    resend_after_ms: i64,
    /// `paymentExpiryTime` after the attempt is created (under 60 s).
    payment_expiry_ms: i64,
    /// An attempt is not sent this close to its expiry.
    send_margin_ms: i64,
    /// A token is refreshed this long before it expires.
    refresh_margin_ms: i64,
    /// The wait before an unknown refresh, exchange or revoke is tried again.
    auth_retry_ms: i64,
    /// Tries of an exchange or a revoke.
    auth_max_tries: u32,
    /// How long an authorization waits for the user.
    consent_timeout_ms: i64,
    /// Unsettled this long, a payment or refund is shown to a person.
    attention_after_ms: i64,
    /// How long a worker holds a job.
    lease_ms: i64,
    /// Jobs a worker takes at once.
    batch: u32,
    /// Takes of a job in a row before it is set aside.
    job_max_attempts: u32,
}
