//! `inquiryRefund` — `POST /ams/api/v1/payments/inquiryRefund`: ask for a refund's status.

use serde::{Deserialize, Serialize};

use super::status::TransactionStatus;
use crate::api::{Api, ams_api};
use crate::common::amount::Amount;
use crate::common::datetime::AmsDateTime;
use crate::common::ids::{RefundId, RefundRequestId};
use crate::common::quote::Quote;
use crate::common::result::AmsResult;
use crate::macros::optional_setters;

/// inquiryRefund request body: `refundRequestId` or `refundId` (not both absent; `refundId` wins).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct InquiryRefundRequest {
    /// `refundRequestId` (max 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_request_id: Option<RefundRequestId>,
    /// `refundId` (max 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_id: Option<RefundId>,
    /// `merchantAccountId` (max 32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_account_id: Option<String>,
}

impl InquiryRefundRequest {
    /// Inquire by the merchant's `refundRequestId`.
    #[must_use]
    pub fn by_refund_request_id(id: impl Into<RefundRequestId>) -> Self {
        InquiryRefundRequest {
            refund_request_id: Some(id.into()),
            refund_id: None,
            merchant_account_id: None,
        }
    }

    /// Inquire by Alipay's `refundId`.
    #[must_use]
    pub fn by_refund_id(id: impl Into<RefundId>) -> Self {
        InquiryRefundRequest {
            refund_request_id: None,
            refund_id: Some(id.into()),
            merchant_account_id: None,
        }
    }
}

optional_setters!(InquiryRefundRequest {
    with_refund_request_id => refund_request_id: RefundRequestId,
    with_refund_id => refund_id: RefundId,
    with_merchant_account_id => merchant_account_id: String,
});

/// inquiryRefund response body. `result` is the inquiry call's status; the refund's is `refundStatus`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct InquiryRefundResponse {
    /// `result` of the inquiry call.
    pub result: AmsResult,
    /// `refundId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_id: Option<RefundId>,
    /// `refundRequestId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_request_id: Option<RefundRequestId>,
    /// `refundAmount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_amount: Option<Amount>,
    /// `refundStatus` (SDK type `TransactionStatusType`; SUCCESS / PROCESSING / FAIL in practice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_status: Option<TransactionStatus>,
    /// `refundTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_time: Option<AmsDateTime>,
    /// `grossSettlementAmount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gross_settlement_amount: Option<Amount>,
    /// `settlementQuote`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settlement_quote: Option<Quote>,
    /// `arn`: acquirer reference number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// `actualRefundAmount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual_refund_amount: Option<Amount>,
}

impl InquiryRefundResponse {
    /// A response with only `result`.
    #[must_use]
    pub fn new(result: AmsResult) -> Self {
        InquiryRefundResponse {
            result,
            refund_id: None,
            refund_request_id: None,
            refund_amount: None,
            refund_status: None,
            refund_time: None,
            gross_settlement_amount: None,
            settlement_quote: None,
            arn: None,
            actual_refund_amount: None,
        }
    }
}

optional_setters!(InquiryRefundResponse {
    with_refund_id => refund_id: RefundId,
    with_refund_request_id => refund_request_id: RefundRequestId,
    with_refund_amount => refund_amount: Amount,
    with_refund_status => refund_status: TransactionStatus,
    with_refund_time => refund_time: AmsDateTime,
});

ams_api!(InquiryRefundRequest => InquiryRefundResponse, Api::InquiryRefund);
