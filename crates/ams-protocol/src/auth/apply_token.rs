//! `applyToken` — `POST /ams/api/v1/authorizations/applyToken`: exchange an auth code for an access
//! token (`AUTHORIZATION_CODE`) or refresh one (`REFRESH_TOKEN`).

use serde::{Deserialize, Serialize};

use crate::api::{Api, ams_api};
use crate::common::datetime::AmsDateTime;
use crate::common::ids::{AccessToken, AuthCode, RefreshToken};
use crate::common::psp::PspCustomerInfo;
use crate::common::result::AmsResult;
use crate::common::wallet::CustomerBelongsTo;
use crate::macros::{optional_setters, wire_enum};

wire_enum! {
    /// `grantType`.
    pub enum GrantType {
        /// Exchange `authCode` for a token.
        AuthorizationCode = "AUTHORIZATION_CODE",
        /// Exchange `refreshToken` for a new token.
        RefreshToken = "REFRESH_TOKEN",
    }
}

/// applyToken request body. Its `Debug` is safe: the code and token fields are redacted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ApplyTokenRequest {
    /// `grantType`.
    pub grant_type: GrantType,
    /// `customerBelongsTo` (max 64).
    pub customer_belongs_to: CustomerBelongsTo,
    /// `authCode`: required with `AUTHORIZATION_CODE` (max 128).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_code: Option<AuthCode>,
    /// `refreshToken`: required with `REFRESH_TOKEN` (max 128).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<RefreshToken>,
    /// `merchantRegion` (2 letters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_region: Option<String>,
    /// `merchantAccountId` (max 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_account_id: Option<String>,
    /// `extendInfo` (SDK extra).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extend_info: Option<String>,
}

impl ApplyTokenRequest {
    /// A request with only the always-required fields; prefer [`authorization_code`](Self::authorization_code)
    /// or [`refresh_token`](Self::refresh_token).
    #[must_use]
    pub fn new(grant_type: GrantType, customer_belongs_to: CustomerBelongsTo) -> Self {
        ApplyTokenRequest {
            grant_type,
            customer_belongs_to,
            auth_code: None,
            refresh_token: None,
            merchant_region: None,
            merchant_account_id: None,
            extend_info: None,
        }
    }

    /// `grantType=AUTHORIZATION_CODE` with the code from the redirect or from notifyAuthorization.
    #[must_use]
    pub fn authorization_code(wallet: CustomerBelongsTo, auth_code: impl Into<AuthCode>) -> Self {
        let mut req = ApplyTokenRequest::new(GrantType::AuthorizationCode, wallet);
        req.auth_code = Some(auth_code.into());
        req
    }

    /// `grantType=REFRESH_TOKEN` with a refresh token from an earlier applyToken.
    #[must_use]
    pub fn refresh_token(
        wallet: CustomerBelongsTo,
        refresh_token: impl Into<RefreshToken>,
    ) -> Self {
        let mut req = ApplyTokenRequest::new(GrantType::RefreshToken, wallet);
        req.refresh_token = Some(refresh_token.into());
        req
    }
}

optional_setters!(ApplyTokenRequest {
    with_merchant_region => merchant_region: String,
    with_merchant_account_id => merchant_account_id: String,
    with_extend_info => extend_info: String,
});

/// applyToken response body. Its `Debug` is safe: tokens are redacted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ApplyTokenResponse {
    /// `result`.
    pub result: AmsResult,
    /// `accessToken` (max 128): later sent as `paymentMethod.paymentMethodId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<AccessToken>,
    /// `accessTokenExpiryTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_expiry_time: Option<AmsDateTime>,
    /// `refreshToken` (max 128): when the wallet supports refreshing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<RefreshToken>,
    /// `refreshTokenExpiryTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token_expiry_time: Option<AmsDateTime>,
    /// `extendInfo` (max 2048).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extend_info: Option<String>,
    /// `userLoginId` (max 64): masked wallet login id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_login_id: Option<String>,
    /// `pspCustomerInfo` (SDK extra).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psp_customer_info: Option<PspCustomerInfo>,
}

impl ApplyTokenResponse {
    /// A response with only `result` (what F/U answers carry).
    #[must_use]
    pub fn new(result: AmsResult) -> Self {
        ApplyTokenResponse {
            result,
            access_token: None,
            access_token_expiry_time: None,
            refresh_token: None,
            refresh_token_expiry_time: None,
            extend_info: None,
            user_login_id: None,
            psp_customer_info: None,
        }
    }
}

optional_setters!(ApplyTokenResponse {
    with_access_token => access_token: AccessToken,
    with_access_token_expiry_time => access_token_expiry_time: AmsDateTime,
    with_refresh_token => refresh_token: RefreshToken,
    with_refresh_token_expiry_time => refresh_token_expiry_time: AmsDateTime,
    with_extend_info => extend_info: String,
    with_user_login_id => user_login_id: String,
    with_psp_customer_info => psp_customer_info: PspCustomerInfo,
});

ams_api!(ApplyTokenRequest => ApplyTokenResponse, Api::ApplyToken);
