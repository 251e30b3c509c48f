//! Verifying Alipay's notifications (`notifyPayment`, `notifyRefund`, `notifyAuthorization`) before
//! anything in them is believed.
//!
//! Fail closed, in this order: the `signature`, `request-time` and `client-id` headers must be
//! present; the client id must be ours; the signature must verify with Alipay's key for the header's
//! key version over `POST <path>\n<client-id>.<request-time>.<body>` with the exact bytes received;
//! then `request-time` must lie within the skew window of our clock (default 5 minutes; a
//! notification outside it is authentic but stale or replayed — re-inquire rather than trust it);
//! only then is the body parsed.
//!
//! Answer an accepted notification with HTTP 200 and [`ACK_SUCCESS_BODY`]
//! (`Content-Type: application/json; charset=UTF-8`); anything else makes Alipay resend it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ams_protocol::{AmsDateTime, Notification};
use ams_signing::KeyVersion;
use http::HeaderMap;

use crate::clock::{Clock, SystemClock};
use crate::error::VerificationError;
use crate::keys::AlipayPublicKeys;
use crate::verify::{Signed, verify_signed};

pub use ams_protocol::ACK_SUCCESS_BODY;

/// The `Content-Type` to send with [`ACK_SUCCESS_BODY`].
pub const ACK_CONTENT_TYPE: &str = "application/json; charset=UTF-8";

/// Verifies notifications for one client id against Alipay's public keys.
///
/// Cheap to clone; get one from [`AmsClient::notification_verifier`](crate::AmsClient::notification_verifier)
/// or build one with [`NotificationVerifier::new`].
#[derive(Clone)]
pub struct NotificationVerifier {
    client_id: Arc<str>,
    keys: Arc<AlipayPublicKeys>,
    clock: Arc<dyn Clock>,
    skew_window: Option<Duration>,
}

impl NotificationVerifier {
    /// The default skew window on `request-time`: 5 minutes either way.
    pub const DEFAULT_SKEW_WINDOW: Duration = Duration::from_secs(5 * 60);

    /// A verifier for `client_id`, with the system clock and the default skew window.
    #[must_use]
    pub fn new(client_id: impl Into<String>, keys: AlipayPublicKeys) -> Self {
        Self::from_parts(
            Arc::from(client_id.into()),
            Arc::new(keys),
            Arc::new(SystemClock::new()),
            Some(Self::DEFAULT_SKEW_WINDOW),
        )
    }

    pub(crate) fn from_parts(
        client_id: Arc<str>,
        keys: Arc<AlipayPublicKeys>,
        clock: Arc<dyn Clock>,
        skew_window: Option<Duration>,
    ) -> Self {
        Self {
            client_id,
            keys,
            clock,
            skew_window,
        }
    }

    /// The clock the skew window is measured against.
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The skew window (`None`: no time check).
    #[must_use]
    pub fn with_skew_window(mut self, window: Option<Duration>) -> Self {
        self.skew_window = window;
        self
    }

    /// The skew window in force.
    #[must_use]
    pub fn skew_window(&self) -> Option<Duration> {
        self.skew_window
    }

    /// Verifies a notification and parses it.
    ///
    /// `path` is the path the notification was POSTed to, exactly as received (domain excluded,
    /// e.g. `/payNotify`; behind a reverse proxy, the path Alipay called, which is what it signed).
    /// `headers` are matched case-insensitively; `body` must be the raw bytes, never re-serialised.
    ///
    /// # Errors
    ///
    /// A [`NotificationError`]: refuse the notification (answer anything but the ack; Alipay will
    /// resend). For [`NotificationError::OutsideSkewWindow`] the signature *was* valid, and the
    /// parsed body is available to drive an inquiry.
    pub fn verify(
        &self,
        path: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<VerifiedNotification, NotificationError> {
        let verified = verify_signed(
            Signed::Notification,
            headers,
            path,
            body,
            &self.client_id,
            &self.keys,
        )
        .map_err(NotificationError::Verification)?;
        let request_time = verified.time.to_owned();
        let sent_at = parse_request_time(&request_time)?;
        if let Some(window) = self.skew_window {
            let now = self.clock.unix_millis();
            let skew_ms = now.saturating_sub(sent_at);
            let skew = Duration::from_millis(skew_ms.unsigned_abs());
            if skew > window {
                return Err(NotificationError::OutsideSkewWindow(Box::new(
                    StaleNotification {
                        request_time,
                        request_time_millis: sent_at,
                        now_millis: now,
                        window,
                        notification: Notification::from_json(body).ok(),
                    },
                )));
            }
        }
        let notification = Notification::from_json(body).map_err(NotificationError::Body)?;
        Ok(VerifiedNotification {
            notification,
            request_time,
            request_time_millis: sent_at,
            key_version: verified.key_version,
        })
    }
}

impl fmt::Debug for NotificationVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotificationVerifier")
            .field("client_id", &self.client_id)
            .field("alipay_public_keys", &self.keys)
            .field("clock", &self.clock)
            .field("skew_window", &self.skew_window)
            .finish()
    }
}

/// `request-time` as epoch milliseconds (Java/Go SDKs) or ISO 8601 (Python, PHP, .NET, docs).
fn parse_request_time(value: &str) -> Result<i64, NotificationError> {
    let invalid = |reason: String| NotificationError::InvalidRequestTime {
        value: value.to_owned(),
        reason,
    };
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value
            .parse::<i64>()
            .map_err(|_| invalid("epoch milliseconds out of range".to_owned()));
    }
    AmsDateTime::new(value)
        .unix_millis()
        .map_err(|e| invalid(e.reason().to_owned()))
}

/// An accepted notification.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedNotification {
    notification: Notification,
    request_time: String,
    request_time_millis: i64,
    key_version: KeyVersion,
}

impl VerifiedNotification {
    /// The parsed body.
    #[must_use]
    pub fn notification(&self) -> &Notification {
        &self.notification
    }

    /// The parsed body.
    #[must_use]
    pub fn into_notification(self) -> Notification {
        self.notification
    }

    /// The `request-time` header, verbatim.
    #[must_use]
    pub fn request_time(&self) -> &str {
        &self.request_time
    }

    /// `request-time` in milliseconds since the Unix epoch.
    #[must_use]
    pub fn request_time_millis(&self) -> i64 {
        self.request_time_millis
    }

    /// The Alipay key version that verified it.
    #[must_use]
    pub fn key_version(&self) -> KeyVersion {
        self.key_version
    }

    /// The body to answer with: [`ACK_SUCCESS_BODY`].
    #[must_use]
    pub fn ack_body(&self) -> &'static str {
        ACK_SUCCESS_BODY
    }
}

/// An authentic notification whose `request-time` lies outside the skew window.
#[derive(Debug, Clone, PartialEq)]
pub struct StaleNotification {
    /// The `request-time` header, verbatim.
    pub request_time: String,
    /// `request-time` in milliseconds since the Unix epoch.
    pub request_time_millis: i64,
    /// Our clock when checked, in milliseconds since the Unix epoch.
    pub now_millis: i64,
    /// The window in force.
    pub window: Duration,
    /// The body, if it parses: enough to know what to re-inquire about. Do not apply it as is.
    pub notification: Option<Notification>,
}

/// Why a notification was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotificationError {
    /// The signature check failed closed (unsigned, headers missing, wrong client id, unknown key
    /// version, or a signature that does not verify — e.g. a changed body or a different path).
    #[error(
        "the notification failed verification: {}",
        crate::error::Diagnosis(.0)
    )]
    Verification(#[source] VerificationError),
    /// `request-time` is neither epoch milliseconds nor ISO 8601.
    #[error("the notification's request-time {value:?} cannot be read: {reason}")]
    InvalidRequestTime {
        /// The header value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Authentic, but `request-time` is outside the skew window: stale or replayed. Treat it as a
    /// prompt to re-inquire, not as a result.
    #[error(
        "the notification's request-time {} is {} ms away from now, outside the {} ms window",
        .0.request_time,
        .0.now_millis.saturating_sub(.0.request_time_millis),
        .0.window.as_millis()
    )]
    OutsideSkewWindow(Box<StaleNotification>),
    /// Authentic, but the body is not a notification this crate can parse.
    #[error("the notification body cannot be parsed")]
    Body(#[source] serde_json::Error),
}

impl NotificationError {
    /// The verification failure, if that is why.
    #[must_use]
    pub fn verification(&self) -> Option<&VerificationError> {
        match self {
            NotificationError::Verification(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_time_formats() {
        assert_eq!(
            parse_request_time("1685599933871").unwrap(),
            1_685_599_933_871
        );
        assert_eq!(
            parse_request_time("2024-01-01T00:00:07+00:00").unwrap(),
            1_704_067_207_000
        );
        assert_eq!(
            parse_request_time("2024-01-01T08:00:07+0800").unwrap(),
            1_704_067_207_000
        );
        assert_eq!(
            parse_request_time("2024-01-01T00:00:07.0000000Z").unwrap(),
            1_704_067_207_000
        );
        for bad in ["", "yesterday", "99999999999999999999999", "-5"] {
            assert!(
                matches!(
                    parse_request_time(bad),
                    Err(NotificationError::InvalidRequestTime { .. })
                ),
                "{bad}"
            );
        }
    }
}
