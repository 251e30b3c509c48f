//! The `result` object every AMS response and notification carries:
//! `{"resultCode": ..., "resultStatus": "S"|"F"|"U", "resultMessage": ...}`.
//!
//! Decide on `resultStatus` and `resultCode`; never compare `resultMessage` (samples vary between
//! `"success"`, `"success."` and `"Success"`).

use serde::{Deserialize, Serialize};

use crate::macros::wire_enum;

wire_enum! {
    /// `resultStatus`: the outcome class of a call.
    pub enum ResultStatus {
        /// Success.
        S = "S",
        /// Failure (final; `resultCode` says why).
        F = "F",
        /// Unknown outcome: call again or inquire.
        U = "U",
    }
}

wire_enum! {
    /// `resultCode`: every code named in the protocol digest (§3, §4). Unlisted codes parse into
    /// `Unknown`.
    pub enum ResultCode {
        /// The call succeeded.
        Success = "SUCCESS",
        /// Access denied.
        AccessDenied = "ACCESS_DENIED",
        /// The client may not use this API.
        ClientForbiddenAccessApi = "CLIENT_FORBIDDEN_ACCESS_API",
        /// The access token is expired, revoked or does not exist.
        InvalidAccessToken = "INVALID_ACCESS_TOKEN",
        /// The API is invalid or not activated.
        InvalidApi = "INVALID_API",
        /// The client status is invalid.
        InvalidClientStatus = "INVALID_CLIENT_STATUS",
        /// Signature verification failed.
        InvalidSignature = "INVALID_SIGNATURE",
        /// Alipay's or the merchant's key was not found.
        KeyNotFound = "KEY_NOT_FOUND",
        /// The merchant is not registered.
        MerchantNotRegistered = "MERCHANT_NOT_REGISTERED",
        /// The API is not defined (check the URL).
        NoInterfaceDef = "NO_INTERFACE_DEF",
        /// The payment method is not supported by this API.
        NoPayOptions = "NO_PAY_OPTIONS",
        /// The OAuth process failed.
        OauthFailed = "OAUTH_FAILED",
        /// A parameter is missing or illegal.
        ParamIllegal = "PARAM_ILLEGAL",
        /// The merchant is not qualified (no contract, barred, ...).
        PaymentNotQualified = "PAYMENT_NOT_QUALIFIED",
        /// General business failure; do not retry.
        ProcessFail = "PROCESS_FAIL",
        /// Rejected by risk control.
        RiskReject = "RISK_REJECT",
        /// System error; do not retry.
        SystemError = "SYSTEM_ERROR",
        /// The client is unknown.
        UnknownClient = "UNKNOWN_CLIENT",
        /// Traffic limit exceeded; call again.
        RequestTrafficExceedLimit = "REQUEST_TRAFFIC_EXCEED_LIMIT",
        /// Failed for an unknown reason; call again.
        UnknownException = "UNKNOWN_EXCEPTION",
        /// The user account does not exist on the payment-method side.
        UserNotExist = "USER_NOT_EXIST",
        /// The user's account is abnormal on the payment-method side.
        UserStatusAbnormal = "USER_STATUS_ABNORMAL",
        /// The auth code is invalid (third-party source only; Alipay's `applyToken` table has
        /// `INVALID_AUTHCODE` instead; kept so that an answer carrying it still parses).
        InvalidCode = "INVALID_CODE",
        /// The auth code is expired (third-party source only; Alipay's `applyToken` table has
        /// `INVALID_AUTHCODE` instead; kept so that an answer carrying it still parses).
        ExpiredCode = "EXPIRED_CODE",
        /// `applyToken`: the auth code is invalid, used or expired: restart the authorization
        /// with `consult` (digest §9.10).
        InvalidAuthcode = "INVALID_AUTHCODE",
        /// `applyToken`: the refresh token is invalid or expired: the user must authorize again.
        InvalidRefreshToken = "INVALID_REFRESH_TOKEN",
        /// `applyToken`: the authorization is still being processed: call again until final.
        AuthInProcess = "AUTH_IN_PROCESS",
        /// The request used a method other than `POST`.
        MethodNotSupported = "METHOD_NOT_SUPPORTED",
        /// The request's content type is not accepted.
        MediaTypeNotAcceptable = "MEDIA_TYPE_NOT_ACCEPTABLE",
        /// `declare`: the declaration repeats one already made (digest §9.3.6).
        DuplicatedDeclarations = "DUPLICATED_DECLARATIONS",
        /// `declare`: the declared amounts together would exceed the payment (digest §9.3.6).
        TotalDeclarationAmountExceed = "TOTAL_DECLARATION_AMOUNT_EXCEED",
        /// The client id is invalid (the registration APIs' spelling; digest §9.5.4).
        InvalidClient = "INVALID_CLIENT",
        /// No such record (registration inquiries; digest §9.6).
        RecordNotFound = "RECORD_NOT_FOUND",
        /// `registration`: another registration id for the same merchant (digest §9.5.4).
        RepeatRegistration = "REPEAT_REGISTRATION",
        /// The request contradicts an earlier one with the same id (digest §9.5.4).
        ContextInconsistent = "CONTEXT_INCONSISTENT",
        /// The payment is in progress (pay): wait for notifyPayment or inquire.
        PaymentInProcess = "PAYMENT_IN_PROCESS",
        /// Same idempotency key with different key parameters.
        RepeatReqInconsistent = "REPEAT_REQ_INCONSISTENT",
        /// The merchant status is invalid.
        InvalidMerchantStatus = "INVALID_MERCHANT_STATUS",
        /// The merchant's KYB does not qualify.
        MerchantKybNotQualified = "MERCHANT_KYB_NOT_QUALIFIED",
        /// The user's payment verification failed.
        UserPaymentVerificationFailed = "USER_PAYMENT_VERIFICATION_FAILED",
        /// The order does not exist.
        OrderNotExist = "ORDER_NOT_EXIST",
        /// The user's balance is insufficient.
        UserBalanceNotEnough = "USER_BALANCE_NOT_ENOUGH",
        /// The amount exceeds the user's limit.
        UserAmountExceedLimit = "USER_AMOUNT_EXCEED_LIMIT",
        /// The currency is not supported.
        CurrencyNotSupport = "CURRENCY_NOT_SUPPORT",
        /// The payment method's count limit was exceeded.
        PaymentCountExceedLimit = "PAYMENT_COUNT_EXCEED_LIMIT",
        /// The user's KYC does not qualify (removed from inquiryPayment in 2022).
        UserKycNotQualified = "USER_KYC_NOT_QUALIFIED",
        /// The amount is invalid (inquiryPayment, added Dec 2023).
        InvalidAmount = "INVALID_AMOUNT",
        /// Cancel requested outside the contractual window; refund instead.
        CancelWindowExceed = "CANCEL_WINDOW_EXCEED",
        /// The client id is invalid.
        ClientInvalid = "CLIENT_INVALID",
        /// The order status does not allow the operation.
        OrderStatusInvalid = "ORDER_STATUS_INVALID",
        /// Multiple refunds are not supported.
        MultipleRefundsNotSupported = "MULTIPLE_REFUNDS_NOT_SUPPORTED",
        /// The order is closed.
        OrderIsClosed = "ORDER_IS_CLOSED",
        /// The refund is in progress.
        RefundInProcess = "REFUND_IN_PROCESS",
        /// Refunds are not supported.
        RefundNotSupported = "REFUND_NOT_SUPPORTED",
        /// Partial refunds are not supported.
        PartialRefundNotSupported = "PARTIAL_REFUND_NOT_SUPPORTED",
        /// The order is canceled.
        OrderIsCanceled = "ORDER_IS_CANCELED",
        /// The refund is outside the allowed refund period.
        RefundWindowExceed = "REFUND_WINDOW_EXCEED",
        /// The refund total exceeds the payment amount.
        RefundAmountExceed = "REFUND_AMOUNT_EXCEED",
        /// The contract is invalid (removed from inquiryRefund in 2022).
        InvalidContract = "INVALID_CONTRACT",
    }
}

impl ResultCode {
    /// The `resultStatus` the digest's tables give for this code, if they give one.
    ///
    /// Documentation-level helper (e.g. for a simulator answering with a code); a client must decide on
    /// the `resultStatus` actually received, not on this.
    #[must_use]
    pub fn default_status(&self) -> Option<ResultStatus> {
        use ResultCode as C;
        match self {
            C::Success => Some(ResultStatus::S),
            C::RequestTrafficExceedLimit
            | C::UnknownException
            | C::PaymentInProcess
            | C::AuthInProcess => Some(ResultStatus::U),
            C::AccessDenied
            | C::ClientForbiddenAccessApi
            | C::InvalidAccessToken
            | C::InvalidApi
            | C::InvalidClientStatus
            | C::InvalidSignature
            | C::KeyNotFound
            | C::MerchantNotRegistered
            | C::NoInterfaceDef
            | C::NoPayOptions
            | C::OauthFailed
            | C::ParamIllegal
            | C::PaymentNotQualified
            | C::ProcessFail
            | C::RiskReject
            | C::SystemError
            | C::UnknownClient
            | C::UserNotExist
            | C::UserStatusAbnormal
            | C::RepeatReqInconsistent
            | C::InvalidMerchantStatus
            | C::MerchantKybNotQualified
            | C::UserPaymentVerificationFailed
            | C::OrderNotExist
            | C::UserBalanceNotEnough
            | C::UserAmountExceedLimit
            | C::CurrencyNotSupport
            | C::PaymentCountExceedLimit
            | C::CancelWindowExceed
            | C::ClientInvalid
            | C::RefundWindowExceed
            | C::RefundAmountExceed
            | C::InvalidAuthcode
            | C::InvalidRefreshToken
            | C::MethodNotSupported
            | C::MediaTypeNotAcceptable
            | C::DuplicatedDeclarations
            | C::TotalDeclarationAmountExceed
            | C::InvalidClient
            | C::RecordNotFound => Some(ResultStatus::F),
            // Status not given by an official table read for the digest.
            C::InvalidCode
            | C::ExpiredCode
            | C::UserKycNotQualified
            | C::InvalidAmount
            | C::OrderStatusInvalid
            | C::MultipleRefundsNotSupported
            | C::OrderIsClosed
            | C::RefundInProcess
            | C::RefundNotSupported
            | C::PartialRefundNotSupported
            | C::OrderIsCanceled
            | C::InvalidContract
            | C::RepeatRegistration
            | C::ContextInconsistent
            | C::Unknown(_) => None,
        }
    }
}

/// The `result` object: `{"resultCode","resultStatus","resultMessage"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AmsResult {
    /// `resultCode` (max 64).
    pub result_code: ResultCode,
    /// `resultStatus`: S, F or U.
    pub result_status: ResultStatus,
    /// `resultMessage` (max 256), for troubleshooting only; never compare it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_message: Option<String>,
}

impl AmsResult {
    /// A result with the given code, status and message.
    #[must_use]
    pub fn new(code: ResultCode, status: ResultStatus, message: impl Into<String>) -> Self {
        AmsResult {
            result_code: code,
            result_status: status,
            result_message: Some(message.into()),
        }
    }

    /// `{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"}`.
    #[must_use]
    pub fn success() -> Self {
        AmsResult::new(ResultCode::Success, ResultStatus::S, "success")
    }

    /// A result whose status is the code's [`default_status`](ResultCode::default_status) (U when
    /// the digest gives none) and whose message is the code itself.
    #[must_use]
    pub fn from_code(code: ResultCode) -> Self {
        let status = code.default_status().unwrap_or(ResultStatus::U);
        let message = code.as_str().to_owned();
        AmsResult::new(code, status, message)
    }

    /// `true` when `resultStatus` is `S`.
    #[must_use]
    pub fn is_success(&self) -> bool {
        self.result_status == ResultStatus::S
    }

    /// `true` when `resultStatus` is `F` (final failure).
    #[must_use]
    pub fn is_failure(&self) -> bool {
        self.result_status == ResultStatus::F
    }

    /// `true` when the outcome is not known: status `U`, or a status value this crate does not know.
    #[must_use]
    pub fn is_unknown(&self) -> bool {
        matches!(
            self.result_status,
            ResultStatus::U | ResultStatus::Unknown(_)
        )
    }

    /// `resultStatus`.
    #[must_use]
    pub fn status(&self) -> &ResultStatus {
        &self.result_status
    }

    /// `resultCode`.
    #[must_use]
    pub fn code(&self) -> &ResultCode {
        &self.result_code
    }

    /// `resultMessage`, if present (for logs only).
    #[must_use]
    pub fn message(&self) -> Option<&str> {
        self.result_message.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_serialises_in_wire_order() {
        assert_eq!(
            serde_json::to_string(&AmsResult::success()).unwrap(),
            r#"{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"}"#
        );
    }

    #[test]
    fn every_known_value_round_trips() {
        for code in ResultCode::KNOWN {
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            let back: ResultCode = serde_json::from_str(&json).unwrap();
            assert_eq!(&back, code);
            assert!(back.is_known());
        }
        for status in ResultStatus::KNOWN {
            let back: ResultStatus = status.as_str().parse().unwrap();
            assert_eq!(&back, status);
        }
    }

    #[test]
    fn unknown_values_round_trip() {
        let r: AmsResult = serde_json::from_str(
            r#"{"resultCode":"BRAND_NEW_CODE","resultStatus":"X","resultMessage":"?"}"#,
        )
        .unwrap();
        assert_eq!(r.result_code, ResultCode::Unknown("BRAND_NEW_CODE".into()));
        assert!(!r.result_code.is_known());
        assert!(!r.result_status.is_known());
        assert!(r.is_unknown());
        assert!(!r.is_success());
        assert_eq!(r.result_code.default_status(), None);
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"resultCode":"BRAND_NEW_CODE","resultStatus":"X","resultMessage":"?"}"#
        );
    }

    #[test]
    fn default_statuses_from_the_digest() {
        assert_eq!(ResultCode::Success.default_status(), Some(ResultStatus::S));
        assert_eq!(
            ResultCode::PaymentInProcess.default_status(),
            Some(ResultStatus::U)
        );
        assert_eq!(
            ResultCode::UnknownException.default_status(),
            Some(ResultStatus::U)
        );
        assert_eq!(
            ResultCode::CancelWindowExceed.default_status(),
            Some(ResultStatus::F)
        );
        assert_eq!(ResultCode::RefundInProcess.default_status(), None);
        let r = AmsResult::from_code(ResultCode::ParamIllegal);
        assert!(r.is_failure());
        assert_eq!(r.message(), Some("PARAM_ILLEGAL"));
    }

    #[test]
    fn message_is_optional_and_not_compared_by_helpers() {
        let r: AmsResult =
            serde_json::from_str(r#"{"resultCode":"SUCCESS","resultStatus":"S"}"#).unwrap();
        assert!(r.is_success());
        assert_eq!(r.message(), None);
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"resultCode":"SUCCESS","resultStatus":"S"}"#
        );
    }
}
