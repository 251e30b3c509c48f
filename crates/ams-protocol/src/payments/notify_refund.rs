//! `notifyRefund`: Alipay tells the merchant the final result of a refund.

use serde::{Deserialize, Serialize};

use crate::common::amount::Amount;
use crate::common::datetime::AmsDateTime;
use crate::common::ids::{RefundId, RefundRequestId};
use crate::common::quote::Quote;
use crate::common::result::AmsResult;
use crate::macros::{optional_setters, wire_enum};

wire_enum! {
    /// `notifyType` of notifyRefund.
    pub enum RefundNotifyType {
        /// The refund reached a final result.
        RefundResult = "REFUND_RESULT",
    }
}

wire_enum! {
    /// `refundStatus` of notifyRefund.
    pub enum RefundStatus {
        /// Refunded.
        Success = "SUCCESS",
        /// The refund failed.
        Fail = "FAIL",
    }
}

/// notifyRefund body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct NotifyRefund {
    /// `notifyType`: `REFUND_RESULT`.
    pub notify_type: RefundNotifyType,
    /// `result`.
    pub result: AmsResult,
    /// `refundStatus`.
    pub refund_status: RefundStatus,
    /// `refundRequestId` (max 64).
    pub refund_request_id: RefundRequestId,
    /// `refundId` (max 64).
    pub refund_id: RefundId,
    /// `refundAmount`.
    pub refund_amount: Amount,
    /// `refundTime`: when `refundStatus` is SUCCESS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_time: Option<AmsDateTime>,
    /// `grossSettlementAmount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gross_settlement_amount: Option<Amount>,
    /// `settlementQuote`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settlement_quote: Option<Quote>,
    /// `arn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// `metadata`, kept as raw JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
}

impl NotifyRefund {
    /// A notification with the required fields (simulator side).
    #[must_use]
    pub fn new(
        result: AmsResult,
        refund_status: RefundStatus,
        refund_request_id: impl Into<RefundRequestId>,
        refund_id: impl Into<RefundId>,
        refund_amount: Amount,
    ) -> Self {
        NotifyRefund {
            notify_type: RefundNotifyType::RefundResult,
            result,
            refund_status,
            refund_request_id: refund_request_id.into(),
            refund_id: refund_id.into(),
            refund_amount,
            refund_time: None,
            gross_settlement_amount: None,
            settlement_quote: None,
            arn: None,
            metadata: None,
        }
    }
}

optional_setters!(NotifyRefund {
    with_refund_time => refund_time: AmsDateTime,
    with_arn => arn: String,
});
