//! `revoke` — `POST /ams/api/v1/authorizations/revoke`: invalidate an access token (and its refresh
//! token).

use serde::{Deserialize, Serialize};

use crate::api::{Api, ams_api};
use crate::common::ids::AccessToken;
use crate::common::result::AmsResult;
use crate::macros::optional_setters;

/// revoke request body. Its `Debug` is safe: the token is redacted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RevokeRequest {
    /// `accessToken` (max 128).
    pub access_token: AccessToken,
    /// `merchantAccountId` (max 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_account_id: Option<String>,
    /// `extendInfo` (SDK extra).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extend_info: Option<String>,
}

impl RevokeRequest {
    /// Revoke `access_token`.
    #[must_use]
    pub fn new(access_token: impl Into<AccessToken>) -> Self {
        RevokeRequest {
            access_token: access_token.into(),
            merchant_account_id: None,
            extend_info: None,
        }
    }
}

optional_setters!(RevokeRequest {
    with_merchant_account_id => merchant_account_id: String,
    with_extend_info => extend_info: String,
});

/// revoke response body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RevokeResponse {
    /// `result`.
    pub result: AmsResult,
    /// `extendInfo` (SDK extra).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extend_info: Option<String>,
}

impl RevokeResponse {
    /// A response with only `result`.
    #[must_use]
    pub fn new(result: AmsResult) -> Self {
        RevokeResponse {
            result,
            extend_info: None,
        }
    }
}

ams_api!(RevokeRequest => RevokeResponse, Api::Revoke);
