//! `consult` — `POST /ams/api/v1/authorizations/consult`: get the URL where the user authorizes.

use serde::{Deserialize, Serialize};

use crate::api::{Api, ams_api};
use crate::common::env::{Env, OsType, TerminalType};
use crate::common::ids::AuthState;
use crate::common::result::AmsResult;
use crate::common::wallet::CustomerBelongsTo;
use crate::macros::{optional_setters, wire_enum};

wire_enum! {
    /// `scopes[]`: what the merchant asks the user to authorize.
    pub enum Scope {
        /// Basic user info.
        BaseUserInfo = "BASE_USER_INFO",
        /// User info.
        UserInfo = "USER_INFO",
        /// Agreement (Auto Debit) payments.
        AgreementPay = "AGREEMENT_PAY",
        /// The user's login id (SDK enum).
        UserLoginId = "USER_LOGIN_ID",
        /// A hash of the login id (SDK enum).
        HashLoginId = "HASH_LOGIN_ID",
        /// Send an OTP (SDK enum).
        SendOtp = "SEND_OTP",
        /// Taobao rebind (SDK enum).
        TaobaoRebind = "TAOBAO_REBIND",
    }
}

wire_enum! {
    /// `authCodeForm.codeDetails[].displayType`.
    pub enum DisplayType {
        /// Plain text.
        Text = "TEXT",
        /// Small image.
        SmallImage = "SMALLIMAGE",
        /// Middle-sized image.
        MiddleImage = "MIDDLEIMAGE",
        /// Big image.
        BigImage = "BIGIMAGE",
    }
}

wire_enum! {
    /// `authCodeForm.codeDetails[].codeValueType` (SDK `CodeValueType`).
    pub enum CodeValueType {
        /// A barcode.
        Barcode = "BARCODE",
        /// A QR code.
        Qrcode = "QRCODE",
    }
}

/// `authMetaData` (SDK extra).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AuthMetaData {
    /// `accountHolderName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_holder_name: Option<String>,
    /// `accountHolderCertNo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_holder_cert_no: Option<String>,
}

/// consult request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ConsultRequest {
    /// `customerBelongsTo`: the wallet (max 64).
    pub customer_belongs_to: CustomerBelongsTo,
    /// `authClientId`: secondary merchant id (max 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_client_id: Option<String>,
    /// `authRedirectUrl` (max 1024): the wallet redirects here with `authCode` and `authState`.
    pub auth_redirect_url: String,
    /// `scopes` (max 4).
    pub scopes: Vec<Scope>,
    /// `authState` (max 256): merchant-generated, echoed back.
    pub auth_state: AuthState,
    /// `terminalType`.
    pub terminal_type: TerminalType,
    /// `osType`: required for `APP`, `WAP`, `MINI_APP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_type: Option<OsType>,
    /// `osVersion` (max 16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    /// `merchantRegion` (2 letters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_region: Option<String>,
    /// `merchantAccountId` (SDK extra).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_account_id: Option<String>,
    /// `authNotifyUrl` (SDK extra): where notifyAuthorization goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_notify_url: Option<String>,
    /// `extendInfo` (SDK extra).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extend_info: Option<String>,
    /// `recurringPayment` (SDK extra; PAYPAY).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurring_payment: Option<bool>,
    /// `authMetaData` (SDK extra).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_meta_data: Option<AuthMetaData>,
    /// `env` (SDK extra).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Env>,
}

impl ConsultRequest {
    /// A consult request with the required fields.
    #[must_use]
    pub fn new(
        customer_belongs_to: CustomerBelongsTo,
        auth_redirect_url: impl Into<String>,
        scopes: Vec<Scope>,
        auth_state: impl Into<AuthState>,
        terminal_type: TerminalType,
    ) -> Self {
        ConsultRequest {
            customer_belongs_to,
            auth_client_id: None,
            auth_redirect_url: auth_redirect_url.into(),
            scopes,
            auth_state: auth_state.into(),
            terminal_type,
            os_type: None,
            os_version: None,
            merchant_region: None,
            merchant_account_id: None,
            auth_notify_url: None,
            extend_info: None,
            recurring_payment: None,
            auth_meta_data: None,
            env: None,
        }
    }
}

optional_setters!(ConsultRequest {
    with_auth_client_id => auth_client_id: String,
    with_os_type => os_type: OsType,
    with_os_version => os_version: String,
    with_merchant_region => merchant_region: String,
    with_merchant_account_id => merchant_account_id: String,
    with_auth_notify_url => auth_notify_url: String,
    with_extend_info => extend_info: String,
    with_recurring_payment => recurring_payment: bool,
    with_auth_meta_data => auth_meta_data: AuthMetaData,
    with_env => env: Env,
});

/// One entry of `authCodeForm.codeDetails`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CodeDetail {
    /// `codeValueType`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_value_type: Option<CodeValueType>,
    /// `codeValue` (max 2048): e.g. the Scan-to-Bind QR content.
    pub code_value: String,
    /// `displayType`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_type: Option<DisplayType>,
}

impl CodeDetail {
    /// A code value with its type and how to display it (Scan to Bind: a QR code of the
    /// authorization URL).
    #[must_use]
    pub fn new(
        code_value: impl Into<String>,
        code_value_type: CodeValueType,
        display_type: DisplayType,
    ) -> Self {
        CodeDetail {
            code_value_type: Some(code_value_type),
            code_value: code_value.into(),
            display_type: Some(display_type),
        }
    }
}

impl AuthCodeForm {
    /// A form with these code details.
    #[must_use]
    pub fn new(code_details: Vec<CodeDetail>) -> Self {
        AuthCodeForm { code_details }
    }
}

/// `authCodeForm`: returned when the method supports QR authorization.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AuthCodeForm {
    /// `codeDetails`.
    #[serde(default)]
    pub code_details: Vec<CodeDetail>,
}

/// consult response body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ConsultResponse {
    /// `result`.
    pub result: AmsResult,
    /// `schemeUrl` (max 2048).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme_url: Option<String>,
    /// `applinkUrl` (max 2048).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applink_url: Option<String>,
    /// `normalUrl` (max 2048): what WEB integrations open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normal_url: Option<String>,
    /// `appIdentifier` (max 128): Android package name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_identifier: Option<String>,
    /// `authUrl` (SDK extra).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_url: Option<String>,
    /// `authCodeForm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_code_form: Option<AuthCodeForm>,
    /// `extendInfo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extend_info: Option<String>,
}

impl ConsultResponse {
    /// A response with only `result` (what F/U answers carry).
    #[must_use]
    pub fn new(result: AmsResult) -> Self {
        ConsultResponse {
            result,
            scheme_url: None,
            applink_url: None,
            normal_url: None,
            app_identifier: None,
            auth_url: None,
            auth_code_form: None,
            extend_info: None,
        }
    }
}

optional_setters!(ConsultResponse {
    with_scheme_url => scheme_url: String,
    with_applink_url => applink_url: String,
    with_normal_url => normal_url: String,
    with_app_identifier => app_identifier: String,
    with_auth_url => auth_url: String,
    with_auth_code_form => auth_code_form: AuthCodeForm,
    with_extend_info => extend_info: String,
});

ams_api!(ConsultRequest => ConsultResponse, Api::Consult);
