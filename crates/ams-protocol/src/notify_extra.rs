//! The notification kinds of digest §9 that [`Notification`](crate::Notification) does not classify yet
//! (it reports them as `Unrecognised`): notifyRegistrationStatus and the legacy ISV authorization.
//!
//! Neither body carries `result`. [`ExtraNotification::from_json`] (or
//! [`from_map`](ExtraNotification::from_map) on the map of a `Notification::Unrecognised`) decides by
//! the fields present: `accessToken` → ISV authorization; `registrationRequestId`,
//! `registrationResult` or `pspRegistrationResultList` → notifyRegistrationStatus; anything else is
//! not one of these. Verify the signature over the raw body **before** parsing; answer with
//! [`ACK_SUCCESS_BODY`](crate::ACK_SUCCESS_BODY).

use serde_json::{Map, Value};

use crate::isv::IsvAuthorizationNotification;
use crate::merchants::notify_registration_status::NotifyRegistrationStatus;

/// A notification body of a digest §9 kind.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ExtraNotification {
    /// notifyRegistrationStatus.
    RegistrationStatus(Box<NotifyRegistrationStatus>),
    /// The legacy ISV authorization (carries the agent token; `Debug` redacts it).
    IsvAuthorization(Box<IsvAuthorizationNotification>),
}

impl ExtraNotification {
    /// Classifies and parses a JSON object; `Ok(None)` when it is neither kind.
    ///
    /// # Errors
    ///
    /// When the object is one of the kinds but a field is invalid (the message names the kind).
    pub fn from_map(body: Map<String, Value>) -> Result<Option<Self>, serde_json::Error> {
        fn parse<T: serde::de::DeserializeOwned>(
            kind: &str,
            body: Map<String, Value>,
        ) -> Result<T, serde_json::Error> {
            use serde::de::Error as _;
            serde_json::from_value(Value::Object(body))
                .map_err(|e| serde_json::Error::custom(format!("{kind} body: {e}")))
        }
        if IsvAuthorizationNotification::matches(&body) {
            return parse("ISV authorization", body)
                .map(|n| Some(ExtraNotification::IsvAuthorization(Box::new(n))));
        }
        if NotifyRegistrationStatus::matches(&body) {
            return parse("notifyRegistrationStatus", body)
                .map(|n| Some(ExtraNotification::RegistrationStatus(Box::new(n))));
        }
        Ok(None)
    }

    /// Parses a raw body; `Ok(None)` when it is a JSON object of neither kind.
    ///
    /// # Errors
    ///
    /// When the body is not a JSON object, or is one of the kinds with an invalid field.
    pub fn from_json(body: &[u8]) -> Result<Option<Self>, serde_json::Error> {
        use serde::de::Error as _;
        match serde_json::from_slice(body)? {
            Value::Object(map) => ExtraNotification::from_map(map),
            _ => Err(serde_json::Error::custom(
                "notification body is not a JSON object",
            )),
        }
    }

    /// The kind's name: `notifyRegistrationStatus` or `isvAuthorization`.
    #[must_use]
    pub fn kind_name(&self) -> &'static str {
        match self {
            ExtraNotification::RegistrationStatus(_) => "notifyRegistrationStatus",
            ExtraNotification::IsvAuthorization(_) => "isvAuthorization",
        }
    }
}
