//! `refund` — `POST /ams/api/v1/payments/refund`: full or partial refund of a payment.

use serde::{Deserialize, Serialize};

use crate::api::{Api, ams_api};
use crate::common::amount::Amount;
use crate::common::datetime::AmsDateTime;
use crate::common::ids::{PaymentId, ReferenceRefundId, RefundId, RefundRequestId};
use crate::common::quote::Quote;
use crate::common::result::AmsResult;
use crate::macros::optional_setters;

/// refund request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RefundRequest {
    /// `refundRequestId` (max 64): the idempotency key.
    pub refund_request_id: RefundRequestId,
    /// `paymentId` (max 64) of the payment to refund.
    pub payment_id: PaymentId,
    /// `referenceRefundId` (max 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_refund_id: Option<ReferenceRefundId>,
    /// `refundAmount`.
    pub refund_amount: Amount,
    /// `refundReason` (max 256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_reason: Option<String>,
    /// `refundNotifyUrl` (max 1024): overrides the Dashboard setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_notify_url: Option<String>,
    /// `isAsyncRefund` (SDK extra).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_async_refund: Option<bool>,
    /// `merchantAccountId` (SDK extra).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_account_id: Option<String>,
    /// `extendInfo` (SDK extra).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extend_info: Option<String>,
    /// `refundDetails` (SDK extra), kept as raw JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_details: Option<serde_json::Value>,
}

impl RefundRequest {
    /// A refund request with the required fields.
    #[must_use]
    pub fn new(
        refund_request_id: impl Into<RefundRequestId>,
        payment_id: impl Into<PaymentId>,
        refund_amount: Amount,
    ) -> Self {
        RefundRequest {
            refund_request_id: refund_request_id.into(),
            payment_id: payment_id.into(),
            reference_refund_id: None,
            refund_amount,
            refund_reason: None,
            refund_notify_url: None,
            is_async_refund: None,
            merchant_account_id: None,
            extend_info: None,
            refund_details: None,
        }
    }
}

optional_setters!(RefundRequest {
    with_reference_refund_id => reference_refund_id: ReferenceRefundId,
    with_refund_reason => refund_reason: String,
    with_refund_notify_url => refund_notify_url: String,
    with_is_async_refund => is_async_refund: bool,
    with_merchant_account_id => merchant_account_id: String,
    with_extend_info => extend_info: String,
});

/// refund response body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RefundResponse {
    /// `result`.
    pub result: AmsResult,
    /// `refundRequestId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_request_id: Option<RefundRequestId>,
    /// `refundId` (max 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_id: Option<RefundId>,
    /// `paymentId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<PaymentId>,
    /// `refundAmount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_amount: Option<Amount>,
    /// `refundTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_time: Option<AmsDateTime>,
    /// `grossSettlementAmount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gross_settlement_amount: Option<Amount>,
    /// `settlementQuote`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settlement_quote: Option<Quote>,
    /// `acquirerReferenceNo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acquirer_reference_no: Option<String>,
}

impl RefundResponse {
    /// A response with only `result`.
    #[must_use]
    pub fn new(result: AmsResult) -> Self {
        RefundResponse {
            result,
            refund_request_id: None,
            refund_id: None,
            payment_id: None,
            refund_amount: None,
            refund_time: None,
            gross_settlement_amount: None,
            settlement_quote: None,
            acquirer_reference_no: None,
        }
    }
}

optional_setters!(RefundResponse {
    with_refund_request_id => refund_request_id: RefundRequestId,
    with_refund_id => refund_id: RefundId,
    with_payment_id => payment_id: PaymentId,
    with_refund_amount => refund_amount: Amount,
    with_refund_time => refund_time: AmsDateTime,
});

ams_api!(RefundRequest => RefundResponse, Api::Refund);
