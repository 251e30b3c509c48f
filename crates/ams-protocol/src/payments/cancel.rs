//! `cancel` — `POST /ams/api/v1/payments/cancel`: cancel a payment whose result has not come back
//! (full cancellation only, within the contract's window).

use serde::{Deserialize, Serialize};

use crate::api::{Api, ams_api};
use crate::common::datetime::AmsDateTime;
use crate::common::ids::{PaymentId, PaymentRequestId};
use crate::common::result::AmsResult;
use crate::macros::optional_setters;

/// cancel request body: `paymentId` or `paymentRequestId` (not both absent; `paymentId` wins).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CancelRequest {
    /// `paymentId` (max 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<PaymentId>,
    /// `paymentRequestId` (max 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_request_id: Option<PaymentRequestId>,
    /// `merchantAccountId` (max 32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_account_id: Option<String>,
}

impl CancelRequest {
    /// Cancel by the merchant's `paymentRequestId`.
    #[must_use]
    pub fn by_payment_request_id(id: impl Into<PaymentRequestId>) -> Self {
        CancelRequest {
            payment_id: None,
            payment_request_id: Some(id.into()),
            merchant_account_id: None,
        }
    }

    /// Cancel by Alipay's `paymentId`.
    #[must_use]
    pub fn by_payment_id(id: impl Into<PaymentId>) -> Self {
        CancelRequest {
            payment_id: Some(id.into()),
            payment_request_id: None,
            merchant_account_id: None,
        }
    }
}

optional_setters!(CancelRequest {
    with_payment_id => payment_id: PaymentId,
    with_payment_request_id => payment_request_id: PaymentRequestId,
    with_merchant_account_id => merchant_account_id: String,
});

/// cancel response body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CancelResponse {
    /// `result`.
    pub result: AmsResult,
    /// `paymentId` (on S).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<PaymentId>,
    /// `paymentRequestId` (on S).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_request_id: Option<PaymentRequestId>,
    /// `cancelTime`: when the cancellation completed (on S).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_time: Option<AmsDateTime>,
}

impl CancelResponse {
    /// A response with only `result`.
    #[must_use]
    pub fn new(result: AmsResult) -> Self {
        CancelResponse {
            result,
            payment_id: None,
            payment_request_id: None,
            cancel_time: None,
        }
    }
}

optional_setters!(CancelResponse {
    with_payment_id => payment_id: PaymentId,
    with_payment_request_id => payment_request_id: PaymentRequestId,
    with_cancel_time => cancel_time: AmsDateTime,
});

ams_api!(CancelRequest => CancelResponse, Api::Cancel);
