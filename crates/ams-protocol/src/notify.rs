//! Notifications Alipay POSTs to the merchant, and the merchant's acknowledgement.
//!
//! [`Notification`] parses any of the three Auto Debit notification bodies, deciding by the fields
//! present: `authorizationNotifyType` → notifyAuthorization; `notifyType` `PAYMENT_RESULT` /
//! `PAYMENT_PENDING` → notifyPayment; `notifyType` `REFUND_RESULT` → notifyRefund; any other JSON
//! object → [`Notification::Unrecognised`] (kept verbatim, so a handler can log and still decide how to
//! answer). Verify the signature over the raw body **before** parsing.
//!
//! The merchant answers every notification with HTTP 200 and [`ACK_SUCCESS_BODY`]; answering anything
//! else (e.g. [`ACK_FAILURE_BODY`]) makes Alipay resend (up to 8 times within 24 h).

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::auth::notify_authorization::NotifyAuthorization;
use crate::common::result::{AmsResult, ResultCode, ResultStatus};
use crate::payments::notify_payment::NotifyPayment;
use crate::payments::notify_refund::NotifyRefund;

/// The exact acknowledgement body: "received, do not resend".
pub const ACK_SUCCESS_BODY: &str =
    r#"{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"}}"#;

/// The failure acknowledgement (legacy SDK): Alipay will resend the notification.
pub const ACK_FAILURE_BODY: &str = r#"{"result":{"resultCode":"UNKNOWN_EXCEPTION","resultStatus":"U","resultMessage":"UNKNOWN_EXCEPTION"}}"#;

/// A notification body of any Auto Debit kind.
///
/// The bodies are boxed to keep the enum small (they differ a lot in size).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Notification {
    /// notifyAuthorization (`authorizationNotifyType` present).
    Authorization(Box<NotifyAuthorization>),
    /// notifyPayment (`notifyType` `PAYMENT_RESULT` or `PAYMENT_PENDING`).
    Payment(Box<NotifyPayment>),
    /// notifyRefund (`notifyType` `REFUND_RESULT`).
    Refund(Box<NotifyRefund>),
    /// A JSON object of no kind this crate knows, kept verbatim.
    Unrecognised(Map<String, Value>),
}

impl Notification {
    /// Parses a raw notification body.
    ///
    /// # Errors
    ///
    /// When the body is not JSON, not an object, or is a recognised kind with missing/invalid fields
    /// (the message names the kind, e.g. `notifyPayment body: missing field ...`).
    pub fn from_json(body: &[u8]) -> Result<Notification, serde_json::Error> {
        serde_json::from_slice(body)
    }

    /// The notification's `result`, if it is a recognised kind.
    #[must_use]
    pub fn result(&self) -> Option<&AmsResult> {
        match self {
            Notification::Authorization(n) => Some(&n.result),
            Notification::Payment(n) => Some(&n.result),
            Notification::Refund(n) => Some(&n.result),
            Notification::Unrecognised(_) => None,
        }
    }

    /// The API name of the kind: `notifyAuthorization`, `notifyPayment`, `notifyRefund`, or
    /// `unrecognised`.
    #[must_use]
    pub fn kind_name(&self) -> &'static str {
        match self {
            Notification::Authorization(_) => "notifyAuthorization",
            Notification::Payment(_) => "notifyPayment",
            Notification::Refund(_) => "notifyRefund",
            Notification::Unrecognised(_) => "unrecognised",
        }
    }
}

impl Serialize for Notification {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Notification::Authorization(n) => n.serialize(serializer),
            Notification::Payment(n) => n.serialize(serializer),
            Notification::Refund(n) => n.serialize(serializer),
            Notification::Unrecognised(map) => map.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Notification {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let Value::Object(map) = Value::deserialize(deserializer)? else {
            return Err(D::Error::custom("notification body is not a JSON object"));
        };
        fn parse<T: serde::de::DeserializeOwned, E: serde::de::Error>(
            kind: &str,
            map: Map<String, Value>,
        ) -> Result<T, E> {
            serde_json::from_value(Value::Object(map))
                .map_err(|e| E::custom(format!("{kind} body: {e}")))
        }
        if map.contains_key("authorizationNotifyType") {
            return parse("notifyAuthorization", map)
                .map(|n| Notification::Authorization(Box::new(n)));
        }
        match map.get("notifyType").and_then(Value::as_str) {
            Some("PAYMENT_RESULT" | "PAYMENT_PENDING") => {
                parse("notifyPayment", map).map(|n| Notification::Payment(Box::new(n)))
            }
            Some("REFUND_RESULT") => {
                parse("notifyRefund", map).map(|n| Notification::Refund(Box::new(n)))
            }
            _ => Ok(Notification::Unrecognised(map)),
        }
    }
}

/// The merchant's answer to a notification: `{"result":{...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NotificationAck {
    /// `result`.
    pub result: AmsResult,
}

impl NotificationAck {
    /// "Received": serialises to exactly [`ACK_SUCCESS_BODY`].
    #[must_use]
    pub fn success() -> Self {
        NotificationAck {
            result: AmsResult::success(),
        }
    }

    /// "Not processed, resend": serialises to exactly [`ACK_FAILURE_BODY`].
    #[must_use]
    pub fn failure() -> Self {
        NotificationAck {
            result: AmsResult::new(
                ResultCode::UnknownException,
                ResultStatus::U,
                "UNKNOWN_EXCEPTION",
            ),
        }
    }

    /// The exact body bytes for this acknowledgement when it is one of the two standard ones.
    #[must_use]
    pub fn standard_body(&self) -> Option<&'static str> {
        if *self == NotificationAck::success() {
            Some(ACK_SUCCESS_BODY)
        } else if *self == NotificationAck::failure() {
            Some(ACK_FAILURE_BODY)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_structs_serialise_to_the_exact_bodies() {
        assert_eq!(
            serde_json::to_string(&NotificationAck::success()).unwrap(),
            ACK_SUCCESS_BODY
        );
        assert_eq!(
            serde_json::to_string(&NotificationAck::failure()).unwrap(),
            ACK_FAILURE_BODY
        );
        let parsed: NotificationAck = serde_json::from_str(ACK_SUCCESS_BODY).unwrap();
        assert!(parsed.result.is_success());
        assert_eq!(parsed.standard_body(), Some(ACK_SUCCESS_BODY));
        assert_eq!(
            NotificationAck::failure().standard_body(),
            Some(ACK_FAILURE_BODY)
        );
    }

    #[test]
    fn classification_by_fields() {
        let auth = br#"{"authorizationNotifyType":"TOKEN_CREATED","accessToken":"t","result":{"resultCode":"SUCCESS","resultStatus":"S"}}"#;
        assert!(matches!(
            Notification::from_json(auth).unwrap(),
            Notification::Authorization(_)
        ));
        let refund = br#"{"notifyType":"REFUND_RESULT","result":{"resultCode":"SUCCESS","resultStatus":"S"},"refundStatus":"FAIL","refundRequestId":"R1","refundId":"R2","refundAmount":{"currency":"USD","value":"1"}}"#;
        let n = Notification::from_json(refund).unwrap();
        assert_eq!(n.kind_name(), "notifyRefund");
        let Notification::Refund(r) = n else {
            panic!("not a refund")
        };
        assert_eq!(r.refund_status, crate::RefundStatus::Fail);
        let other = br#"{"notifyType":"CAPTURE_RESULT","result":{"resultCode":"SUCCESS","resultStatus":"S"}}"#;
        let n = Notification::from_json(other).unwrap();
        assert!(matches!(&n, Notification::Unrecognised(m) if m.contains_key("notifyType")));
        assert_eq!(n.result(), None);
        assert_eq!(
            serde_json::to_value(&n).unwrap(),
            serde_json::from_slice::<Value>(other).unwrap()
        );
    }

    #[test]
    fn errors_name_the_kind() {
        let err = Notification::from_json(br#"{"notifyType":"PAYMENT_RESULT"}"#).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("notifyPayment body: missing field `result`"),
            "{err}"
        );
        let err = Notification::from_json(b"[1]").unwrap_err();
        assert!(err.to_string().contains("not a JSON object"), "{err}");
        assert!(Notification::from_json(b"{").is_err());
    }
}
