//! `notifyAuthorization`: Alipay tells the merchant an auth code was created, a token was created, or a
//! token was canceled (possibly from the wallet side).

use serde::{Deserialize, Serialize};

use crate::common::ids::{AccessToken, AuthCode, AuthState};
use crate::common::result::AmsResult;
use crate::macros::{optional_setters, wire_enum};

wire_enum! {
    /// `authorizationNotifyType`.
    pub enum AuthorizationNotifyType {
        /// The user agreed; carries `authCode` for applyToken (Auto Debit only).
        AuthcodeCreated = "AUTHCODE_CREATED",
        /// Authorization initiated on the merchant client succeeded; carries `accessToken`.
        TokenCreated = "TOKEN_CREATED",
        /// The token was canceled (merchant or wallet side); carries `accessToken` and `reason`.
        TokenCanceled = "TOKEN_CANCELED",
    }
}

/// notifyAuthorization body. Its `Debug` is safe: code and token are redacted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct NotifyAuthorization {
    /// `authorizationNotifyType` (max 32).
    pub authorization_notify_type: AuthorizationNotifyType,
    /// `authClientId` (max 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_client_id: Option<String>,
    /// `accessToken` (max 128): for `TOKEN_CREATED` and `TOKEN_CANCELED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<AccessToken>,
    /// `authState` (max 256): for `AUTHCODE_CREATED` and `TOKEN_CREATED`; compare with consult's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_state: Option<AuthState>,
    /// `authCode` (max 128): for `AUTHCODE_CREATED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_code: Option<AuthCode>,
    /// `reason` (max 256): for `TOKEN_CANCELED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `result`: only successes are notified.
    pub result: AmsResult,
    /// `userLoginId` (max 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_login_id: Option<String>,
    /// `userId` (max 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

impl NotifyAuthorization {
    /// A notification with the required fields (simulator side).
    #[must_use]
    pub fn new(authorization_notify_type: AuthorizationNotifyType, result: AmsResult) -> Self {
        NotifyAuthorization {
            authorization_notify_type,
            auth_client_id: None,
            access_token: None,
            auth_state: None,
            auth_code: None,
            reason: None,
            result,
            user_login_id: None,
            user_id: None,
        }
    }
}

optional_setters!(NotifyAuthorization {
    with_auth_client_id => auth_client_id: String,
    with_access_token => access_token: AccessToken,
    with_auth_state => auth_state: AuthState,
    with_auth_code => auth_code: AuthCode,
    with_reason => reason: String,
    with_user_login_id => user_login_id: String,
    with_user_id => user_id: String,
});
