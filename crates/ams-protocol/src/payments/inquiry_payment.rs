//! `inquiryPayment` — `POST /ams/api/v1/payments/inquiryPayment`: ask for a payment's status.

use serde::{Deserialize, Serialize};

use super::status::{PaymentStatus, TransactionStatus, TransactionType};
use crate::api::{Api, ams_api};
use crate::common::amount::Amount;
use crate::common::datetime::AmsDateTime;
use crate::common::ids::{PaymentId, PaymentRequestId};
use crate::common::psp::PspCustomerInfo;
use crate::common::quote::Quote;
use crate::common::result::{AmsResult, ResultCode};
use crate::macros::optional_setters;

/// inquiryPayment request body: `paymentRequestId` and/or `paymentId` (not both absent; `paymentId`
/// wins when both are given).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct InquiryPaymentRequest {
    /// `paymentRequestId` (max 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_request_id: Option<PaymentRequestId>,
    /// `paymentId` (max 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<PaymentId>,
    /// `merchantAccountId` (max 32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_account_id: Option<String>,
}

impl InquiryPaymentRequest {
    /// Inquire by the merchant's `paymentRequestId`.
    #[must_use]
    pub fn by_payment_request_id(id: impl Into<PaymentRequestId>) -> Self {
        InquiryPaymentRequest {
            payment_request_id: Some(id.into()),
            payment_id: None,
            merchant_account_id: None,
        }
    }

    /// Inquire by Alipay's `paymentId`.
    #[must_use]
    pub fn by_payment_id(id: impl Into<PaymentId>) -> Self {
        InquiryPaymentRequest {
            payment_request_id: None,
            payment_id: Some(id.into()),
            merchant_account_id: None,
        }
    }
}

optional_setters!(InquiryPaymentRequest {
    with_payment_request_id => payment_request_id: PaymentRequestId,
    with_payment_id => payment_id: PaymentId,
    with_merchant_account_id => merchant_account_id: String,
});

/// One entry of `transactions` (refund/capture/... records of a payment).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Transaction {
    /// `transactionResult`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_result: Option<AmsResult>,
    /// `transactionId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    /// `transactionType`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_type: Option<TransactionType>,
    /// `transactionStatus`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_status: Option<TransactionStatus>,
    /// `transactionAmount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_amount: Option<Amount>,
    /// `transactionRequestId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_request_id: Option<String>,
    /// `transactionTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_time: Option<AmsDateTime>,
}

/// inquiryPayment response body. `result` only says whether the *inquiry* worked; the payment's
/// outcome is `paymentStatus` (+ `paymentResultCode`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct InquiryPaymentResponse {
    /// `result` of the inquiry call.
    pub result: AmsResult,
    /// `paymentStatus`: returned when `result` is S.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_status: Option<PaymentStatus>,
    /// `paymentResultCode` (max 64): result code of the payment itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_result_code: Option<ResultCode>,
    /// `paymentResultMessage` (max 256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_result_message: Option<String>,
    /// `paymentRequestId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_request_id: Option<PaymentRequestId>,
    /// `paymentId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<PaymentId>,
    /// `paymentAmount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_amount: Option<Amount>,
    /// `actualPaymentAmount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual_payment_amount: Option<Amount>,
    /// `paymentQuote`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_quote: Option<Quote>,
    /// `paymentCreateTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_create_time: Option<AmsDateTime>,
    /// `paymentTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_time: Option<AmsDateTime>,
    /// `pspCustomerInfo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psp_customer_info: Option<PspCustomerInfo>,
    /// `grossSettlementAmount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gross_settlement_amount: Option<Amount>,
    /// `settlementQuote`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settlement_quote: Option<Quote>,
    /// `transactions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transactions: Option<Vec<Transaction>>,
    /// `authExpiryTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_expiry_time: Option<AmsDateTime>,
    /// `paymentResultInfo` (method-specific), kept as raw JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_result_info: Option<serde_json::Value>,
    /// `acquirerReferenceNo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acquirer_reference_no: Option<String>,
    /// `redirectActionForm` (SDK union), kept as raw JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_action_form: Option<serde_json::Value>,
    /// `extendInfo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extend_info: Option<String>,
}

impl InquiryPaymentResponse {
    /// A response with only `result`.
    #[must_use]
    pub fn new(result: AmsResult) -> Self {
        InquiryPaymentResponse {
            result,
            payment_status: None,
            payment_result_code: None,
            payment_result_message: None,
            payment_request_id: None,
            payment_id: None,
            payment_amount: None,
            actual_payment_amount: None,
            payment_quote: None,
            payment_create_time: None,
            payment_time: None,
            psp_customer_info: None,
            gross_settlement_amount: None,
            settlement_quote: None,
            transactions: None,
            auth_expiry_time: None,
            payment_result_info: None,
            acquirer_reference_no: None,
            redirect_action_form: None,
            extend_info: None,
        }
    }
}

optional_setters!(InquiryPaymentResponse {
    with_payment_status => payment_status: PaymentStatus,
    with_payment_result_code => payment_result_code: ResultCode,
    with_payment_result_message => payment_result_message: String,
    with_payment_request_id => payment_request_id: PaymentRequestId,
    with_payment_id => payment_id: PaymentId,
    with_payment_amount => payment_amount: Amount,
    with_payment_create_time => payment_create_time: AmsDateTime,
    with_payment_time => payment_time: AmsDateTime,
    with_transactions => transactions: Vec<Transaction>,
});

ams_api!(InquiryPaymentRequest => InquiryPaymentResponse, Api::InquiryPayment);
