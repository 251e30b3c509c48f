//! `notifyPayment`: Alipay tells the merchant the (final or pending) result of a payment.

use serde::{Deserialize, Serialize};

use crate::common::amount::Amount;
use crate::common::datetime::AmsDateTime;
use crate::common::ids::{PaymentId, PaymentRequestId};
use crate::common::psp::PspCustomerInfo;
use crate::common::quote::Quote;
use crate::common::result::AmsResult;
use crate::macros::{optional_setters, wire_enum};

wire_enum! {
    /// `notifyType` of notifyPayment.
    pub enum PaymentNotifyType {
        /// The payment reached a final result (`result` S or F).
        PaymentResult = "PAYMENT_RESULT",
        /// The user completed the payment; wait for the final result.
        PaymentPending = "PAYMENT_PENDING",
    }
}

/// notifyPayment body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct NotifyPayment {
    /// `notifyType`.
    pub notify_type: PaymentNotifyType,
    /// `result`: the payment's outcome (S or F; carries the pay error codes).
    pub result: AmsResult,
    /// `paymentRequestId` (max 64).
    pub payment_request_id: PaymentRequestId,
    /// `paymentId` (max 64).
    pub payment_id: PaymentId,
    /// `paymentAmount`.
    pub payment_amount: Amount,
    /// `paymentCreateTime`: documented as required since Jan 2022; optional here so an older-format
    /// notification is still accepted (and acknowledged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_create_time: Option<AmsDateTime>,
    /// `paymentTime`: when final.
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
    /// `actualPaymentAmount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual_payment_amount: Option<Amount>,
    /// `paymentQuote`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_quote: Option<Quote>,
    /// `paymentResultInfo` (method-specific), kept as raw JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_result_info: Option<serde_json::Value>,
    /// `acquirerReferenceNo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acquirer_reference_no: Option<String>,
}

impl NotifyPayment {
    /// A notification with the required fields (simulator side).
    #[must_use]
    pub fn new(
        notify_type: PaymentNotifyType,
        result: AmsResult,
        payment_request_id: impl Into<PaymentRequestId>,
        payment_id: impl Into<PaymentId>,
        payment_amount: Amount,
    ) -> Self {
        NotifyPayment {
            notify_type,
            result,
            payment_request_id: payment_request_id.into(),
            payment_id: payment_id.into(),
            payment_amount,
            payment_create_time: None,
            payment_time: None,
            psp_customer_info: None,
            gross_settlement_amount: None,
            settlement_quote: None,
            actual_payment_amount: None,
            payment_quote: None,
            payment_result_info: None,
            acquirer_reference_no: None,
        }
    }
}

optional_setters!(NotifyPayment {
    with_payment_create_time => payment_create_time: AmsDateTime,
    with_payment_time => payment_time: AmsDateTime,
    with_psp_customer_info => psp_customer_info: PspCustomerInfo,
    with_acquirer_reference_no => acquirer_reference_no: String,
});
