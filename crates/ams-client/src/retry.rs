//! Retry as a policy value: a closed enum and one pure decision function.
//!
//! A retry resends the **identical body** (same request id, same parameters, as Alipay's idempotency
//! rules require), re-signed with a fresh `request-time`. The defaults follow Alipay's advice (seed
//! 004): `cancel` and `refund` are retried with the same parameters for 60 s, every 5–10 s, while the
//! outcome is unknown or the request did not get through; everything else — `pay` above all — is not
//! retried by the client unless the caller asks for it. An attempt of `cancel`, `refund` or
//! `inquiryPayment` gives up after 3 s by default ([`default_timeout_for`](crate::default_timeout_for)),
//! so an answer that does not come counts as *maybe sent* and the policy decides what follows.

use std::time::Duration;

use ams_protocol::Api;

/// What one attempt came to, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttemptClass {
    /// `resultStatus` S.
    Success,
    /// `resultStatus` F.
    Failed,
    /// `resultStatus` U, or a status this crate does not know.
    Unknown,
    /// The request certainly did not reach Alipay (DNS, connection refused, ...).
    NotSent,
    /// The request may have reached Alipay (timeout, reset, unreadable answer, HTTP status ≠ 200).
    MaybeSent,
    /// The answer was rejected (unverifiable, not JSON, no `result`): outcome unknown.
    BadResponse,
    /// The request could not be serialised, signed or built: a retry cannot help.
    LocalError,
}

impl AttemptClass {
    /// `true` when the outcome at Alipay is final and known (S or F).
    #[must_use]
    pub fn is_final(self) -> bool {
        matches!(self, AttemptClass::Success | AttemptClass::Failed)
    }

    /// The name used in logs (`success`, `failed`, `unknown`, `not_sent`, `maybe_sent`,
    /// `bad_response`, `local_error`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptClass::Success => "success",
            AttemptClass::Failed => "failed",
            AttemptClass::Unknown => "unknown",
            AttemptClass::NotSent => "not_sent",
            AttemptClass::MaybeSent => "maybe_sent",
            AttemptClass::BadResponse => "bad_response",
            AttemptClass::LocalError => "local_error",
        }
    }
}

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Return this attempt's result.
    Stop,
    /// Wait this long, then send the same request again.
    RetryAfter(Duration),
}

/// When to send the same request again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryPolicy {
    /// One attempt only.
    Never,
    /// Resend the identical request while the outcome is not final (U, unknown status, not sent,
    /// maybe sent, rejected answer), waiting a random time within `interval` between attempts, as
    /// long as the next attempt starts no later than `for_at_most` after the first one. Stops at
    /// once on S or F, and on local errors (serialising, signing) that a retry cannot fix.
    SameRequest {
        /// The window, measured from the start of the first attempt.
        for_at_most: Duration,
        /// The wait between attempts: at least `.0`, at most `.1`.
        interval: (Duration, Duration),
    },
}

impl RetryPolicy {
    /// Alipay's advice for `cancel` and `refund`: same parameters, for 60 s, every 5–10 s.
    pub const SAME_REQUEST_60S: RetryPolicy = RetryPolicy::SameRequest {
        for_at_most: Duration::from_secs(60),
        interval: (Duration::from_secs(5), Duration::from_secs(10)),
    };

    /// The client's default for an API: [`SAME_REQUEST_60S`](Self::SAME_REQUEST_60S) for `cancel`
    /// and `refund`, [`Never`](Self::Never) for everything else (including `pay`, whose unknown
    /// outcomes the caller resolves by inquiry).
    #[must_use]
    pub fn default_for(api: Api) -> RetryPolicy {
        match api {
            Api::Cancel | Api::Refund => RetryPolicy::SAME_REQUEST_60S,
            _ => RetryPolicy::Never,
        }
    }

    /// The decision after an attempt. Pure: `elapsed` is the time since the first attempt started,
    /// `jitter` a number in `[0, 1]` choosing the wait within the interval (values outside are
    /// clamped; the client draws it at random).
    ///
    /// ```
    /// use std::time::Duration;
    /// use ams_client::{AttemptClass, RetryDecision, RetryPolicy};
    ///
    /// let policy = RetryPolicy::SAME_REQUEST_60S;
    /// assert_eq!(
    ///     policy.decide(AttemptClass::Unknown, Duration::ZERO, 0.0),
    ///     RetryDecision::RetryAfter(Duration::from_secs(5))
    /// );
    /// assert_eq!(policy.decide(AttemptClass::Failed, Duration::ZERO, 0.0), RetryDecision::Stop);
    /// // 55 s in, a 10 s wait would start the next attempt after the window.
    /// assert_eq!(policy.decide(AttemptClass::MaybeSent, Duration::from_secs(55), 1.0), RetryDecision::Stop);
    /// ```
    #[must_use]
    pub fn decide(&self, attempt: AttemptClass, elapsed: Duration, jitter: f64) -> RetryDecision {
        match *self {
            RetryPolicy::Never => RetryDecision::Stop,
            RetryPolicy::SameRequest {
                for_at_most,
                interval,
            } => {
                let retryable = match attempt {
                    AttemptClass::Unknown
                    | AttemptClass::NotSent
                    | AttemptClass::MaybeSent
                    | AttemptClass::BadResponse => true,
                    AttemptClass::Success | AttemptClass::Failed | AttemptClass::LocalError => {
                        false
                    }
                };
                if !retryable {
                    return RetryDecision::Stop;
                }
                let (low, high) = if interval.0 <= interval.1 {
                    interval
                } else {
                    (interval.1, interval.0)
                };
                let jitter = if jitter.is_nan() {
                    0.0
                } else {
                    jitter.clamp(0.0, 1.0)
                };
                // A floor of 1 ms keeps a zero interval from spinning.
                let wait = (low + (high - low).mul_f64(jitter)).max(Duration::from_millis(1));
                if elapsed.saturating_add(wait) > for_at_most {
                    RetryDecision::Stop
                } else {
                    RetryDecision::RetryAfter(wait)
                }
            }
        }
    }
}

/// A uniformly random number in `[0, 1]` for [`RetryPolicy::decide`] (the midpoint if the system's
/// random source fails, which only costs the spread).
pub(crate) fn random_jitter() -> f64 {
    getrandom::u32().map_or(0.5, |r| f64::from(r) / f64::from(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn defaults_per_api() {
        assert_eq!(
            RetryPolicy::default_for(Api::Cancel),
            RetryPolicy::SAME_REQUEST_60S
        );
        assert_eq!(
            RetryPolicy::default_for(Api::Refund),
            RetryPolicy::SAME_REQUEST_60S
        );
        for api in [
            Api::Pay,
            Api::Consult,
            Api::ApplyToken,
            Api::Revoke,
            Api::InquiryPayment,
            Api::InquiryRefund,
        ] {
            assert_eq!(RetryPolicy::default_for(api), RetryPolicy::Never, "{api}");
        }
    }

    #[test]
    fn never_stops_on_everything() {
        for class in [
            AttemptClass::Success,
            AttemptClass::Failed,
            AttemptClass::Unknown,
            AttemptClass::NotSent,
            AttemptClass::MaybeSent,
            AttemptClass::BadResponse,
            AttemptClass::LocalError,
        ] {
            assert_eq!(
                RetryPolicy::Never.decide(class, Duration::ZERO, 0.5),
                RetryDecision::Stop
            );
        }
    }

    #[test]
    fn same_request_retries_only_unfinished_outcomes() {
        let p = RetryPolicy::SAME_REQUEST_60S;
        for class in [
            AttemptClass::Unknown,
            AttemptClass::NotSent,
            AttemptClass::MaybeSent,
            AttemptClass::BadResponse,
        ] {
            assert!(!class.is_final());
            assert_eq!(
                p.decide(class, 10 * S, 0.5),
                RetryDecision::RetryAfter(Duration::from_millis(7_500)),
                "{class:?}"
            );
        }
        for class in [
            AttemptClass::Success,
            AttemptClass::Failed,
            AttemptClass::LocalError,
        ] {
            assert_eq!(p.decide(class, Duration::ZERO, 0.5), RetryDecision::Stop);
        }
        assert!(AttemptClass::Success.is_final() && AttemptClass::Failed.is_final());
    }

    #[test]
    fn waits_stay_in_the_interval_and_the_window_holds() {
        let p = RetryPolicy::SAME_REQUEST_60S;
        assert_eq!(
            p.decide(AttemptClass::Unknown, Duration::ZERO, 0.0),
            RetryDecision::RetryAfter(5 * S)
        );
        assert_eq!(
            p.decide(AttemptClass::Unknown, Duration::ZERO, 1.0),
            RetryDecision::RetryAfter(10 * S)
        );
        assert_eq!(
            p.decide(AttemptClass::Unknown, Duration::ZERO, 7.0),
            RetryDecision::RetryAfter(10 * S)
        );
        assert_eq!(
            p.decide(AttemptClass::Unknown, Duration::ZERO, -1.0),
            RetryDecision::RetryAfter(5 * S)
        );
        assert_eq!(
            p.decide(AttemptClass::Unknown, Duration::ZERO, f64::NAN),
            RetryDecision::RetryAfter(5 * S)
        );
        // The next attempt may start exactly at the end of the window, not after it.
        assert_eq!(
            p.decide(AttemptClass::Unknown, 50 * S, 1.0),
            RetryDecision::RetryAfter(10 * S)
        );
        assert_eq!(
            p.decide(
                AttemptClass::Unknown,
                50 * S + Duration::from_millis(1),
                1.0
            ),
            RetryDecision::Stop
        );
        assert_eq!(
            p.decide(AttemptClass::Unknown, 56 * S, 0.0),
            RetryDecision::Stop
        );
        assert_eq!(
            p.decide(AttemptClass::Unknown, 55 * S, 0.0),
            RetryDecision::RetryAfter(5 * S)
        );
    }

    #[test]
    fn odd_intervals_are_normalised() {
        let swapped = RetryPolicy::SameRequest {
            for_at_most: 60 * S,
            interval: (10 * S, 5 * S),
        };
        assert_eq!(
            swapped.decide(AttemptClass::Unknown, Duration::ZERO, 0.0),
            RetryDecision::RetryAfter(5 * S)
        );
        let zero = RetryPolicy::SameRequest {
            for_at_most: S,
            interval: (Duration::ZERO, Duration::ZERO),
        };
        assert_eq!(
            zero.decide(AttemptClass::Unknown, Duration::ZERO, 0.0),
            RetryDecision::RetryAfter(Duration::from_millis(1))
        );
    }

    #[test]
    fn random_jitter_is_a_unit_fraction() {
        for _ in 0..100 {
            let j = random_jitter();
            assert!((0.0..=1.0).contains(&j), "{j}");
        }
    }
}
