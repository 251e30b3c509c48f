//! ISV agent token (digest §9.9): the legacy ISV-authorization notification that hands an ISV the token
//! it sends as the `agent-token` header when calling on behalf of a merchant.
//!
//! No current Antom page lists this notification; the only concrete body is the legacy Java SDK's
//! (`ams-java-sdk`, `AuthNotifyModel`, mock `notify_auth.json`). That SDK's dispatch rule: a body
//! **without** `result` that contains `accessToken` is this notification. It is verified like every
//! other notification and answered with [`ACK_SUCCESS_BODY`](crate::ACK_SUCCESS_BODY). Whether Antom
//! still sends it, to which URL, with which retries, and whether the token expires: UNKNOWN.
//!
//! This is **not** Auto Debit's notifyAuthorization (a user's token, with `authorizationNotifyType`
//! and `result`); do not mix the two.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::lenient;
use crate::macros::{optional_setters, secret_newtype};

secret_newtype!(
    /// An ISV agent token: sent as the `agent-token` request header to call on behalf of a merchant
    /// (Dashboard-generated tokens are 48 characters, max 128). A bearer credential.
    AgentToken
);

/// The legacy ISV-authorization notification: a merchant authorised an ISV. Its `Debug` is safe: the
/// token is redacted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct IsvAuthorizationNotification {
    /// `accessToken`: the agent token, for calls on behalf of `authClientId`.
    pub access_token: AgentToken,
    /// `clientId`: the ISV's client id (the receiver).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// `authClientId`: the authorising merchant's client id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_client_id: Option<String>,
    /// `authTime`: when the merchant authorised, epoch **milliseconds** as a decimal string (a JSON
    /// integer is accepted too, written back as a string). See [`auth_time_millis`](Self::auth_time_millis).
    #[serde(
        default,
        deserialize_with = "lenient::opt_string_or_integer",
        skip_serializing_if = "Option::is_none"
    )]
    pub auth_time: Option<String>,
    /// `accessTokenExpiryTime`: format UNKNOWN (empty in the only sample — no expiry?); kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_expiry_time: Option<String>,
    /// `customerId`: the merchant's Alipay customer (partner) id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
}

impl IsvAuthorizationNotification {
    /// A notification carrying `access_token` (simulator side).
    #[must_use]
    pub fn new(access_token: impl Into<AgentToken>) -> Self {
        IsvAuthorizationNotification {
            access_token: access_token.into(),
            client_id: None,
            auth_client_id: None,
            auth_time: None,
            access_token_expiry_time: None,
            customer_id: None,
        }
    }

    /// `authTime` as epoch milliseconds, when it is a decimal integer.
    #[must_use]
    pub fn auth_time_millis(&self) -> Option<i64> {
        self.auth_time.as_deref()?.parse().ok()
    }

    /// `true` when a notification body (a JSON object) is this kind by the legacy SDK's rule: no
    /// `result`, and an `accessToken`.
    #[must_use]
    pub fn matches(body: &Map<String, Value>) -> bool {
        !body.contains_key("result") && body.contains_key("accessToken")
    }
}

optional_setters!(IsvAuthorizationNotification {
    with_client_id => client_id: String,
    with_auth_client_id => auth_client_id: String,
    with_auth_time => auth_time: String,
    with_access_token_expiry_time => access_token_expiry_time: String,
    with_customer_id => customer_id: String,
});
