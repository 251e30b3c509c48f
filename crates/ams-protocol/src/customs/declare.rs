//! `declare` — `POST /ams/api/v1/customs/declare`: transmit a paid order's payment information to
//! Chinese customs (digest §9.3).
//!
//! `result` says only whether the call succeeded; customs' answer is read later with
//! `inquiryDeclarationRequests` ([`super::inquiry_declaration`]).
//!
//! # What is read and what is written
//!
//! The SDKs disagree on two fields (digest §9.3.7), so reading is tolerant and writing is strict:
//!
//! * the sub-order id is read from `suborderId` (the documented spelling, Python) **or** `subOrderId`
//!   (Java, Go, PHP, .NET) — both only when equal — and always written `suborderId`;
//! * `splitOrder` is read as a JSON boolean, as the string `"true"`/`"false"`, or missing (Python and Go
//!   drop `false`; a missing value is taken as `false` — digest §9.3.7, inferred), and always written as a
//!   JSON boolean.

use serde::{Deserialize, Serialize};

use super::model::{
    Certificate, ClearingChannel, CustomsInfo, DeclarationRequestId, IdentityCheckResult,
    MerchantCustomsInfo,
};
use crate::check::{self, FieldError, Rule, Validate};
use crate::common::amount::Amount;
use crate::common::ids::PaymentId;
use crate::common::result::AmsResult;
use crate::lenient;
use crate::macros::optional_setters;

/// declare request body.
///
/// Deserialisation is tolerant (see the [module docs](self)); serialisation writes the documented
/// camelCase names only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "DeclareRequestWire")]
#[non_exhaustive]
pub struct DeclareRequest {
    /// `declarationRequestId` (1–32 characters, checked): the idempotency key; re-transmission reuses
    /// it.
    pub declaration_request_id: DeclarationRequestId,
    /// `paymentId` (max 64, checked): Alipay's id of the paid payment.
    pub payment_id: PaymentId,
    /// `declarationAmount`: cumulative amount declared (default currency CNY); must not exceed the
    /// payment's total (a server-side rule). notifyPayment / inquiryPayment give it as
    /// `customsDeclarationAmount`.
    pub declaration_amount: Amount,
    /// `customs`: the customs office.
    pub customs: CustomsInfo,
    /// `merchantCustomsInfo`: the merchant's record with customs.
    pub merchant_customs_info: MerchantCustomsInfo,
    /// `splitOrder`: `true` when the order is split into several declarations. Always written as a JSON
    /// boolean; read leniently (a missing value is `false`).
    pub split_order: bool,
    /// `suborderId` (max 64, checked; required when `splitOrder` is `true`): sent to customs as the
    /// order number of this part. Read from `suborderId` or `subOrderId`; written `suborderId`.
    #[serde(rename = "suborderId", skip_serializing_if = "Option::is_none")]
    pub suborder_id: Option<String>,
    /// `buyerCertificate`: optional but recommended (customs spot-checks the buyer = payer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buyer_certificate: Option<Certificate>,
}

/// What is accepted on the wire for [`DeclareRequest`].
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeclareRequestWire {
    declaration_request_id: DeclarationRequestId,
    payment_id: PaymentId,
    declaration_amount: Amount,
    customs: CustomsInfo,
    merchant_customs_info: MerchantCustomsInfo,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    split_order: Option<bool>,
    #[serde(default, rename = "suborderId")]
    suborder_id: Option<String>,
    #[serde(default, rename = "subOrderId")]
    sub_order_id: Option<String>,
    #[serde(default)]
    buyer_certificate: Option<Certificate>,
}

impl TryFrom<DeclareRequestWire> for DeclareRequest {
    type Error = String;

    fn try_from(wire: DeclareRequestWire) -> Result<Self, Self::Error> {
        Ok(DeclareRequest {
            declaration_request_id: wire.declaration_request_id,
            payment_id: wire.payment_id,
            declaration_amount: wire.declaration_amount,
            customs: wire.customs,
            merchant_customs_info: wire.merchant_customs_info,
            split_order: wire.split_order.unwrap_or(false),
            suborder_id: lenient::one_spelling(
                wire.suborder_id,
                "suborderId",
                wire.sub_order_id,
                "subOrderId",
            )?,
            buyer_certificate: wire.buyer_certificate,
        })
    }
}

impl DeclareRequest {
    /// A declaration of a whole (unsplit) order: `splitOrder=false`, no sub-order id.
    #[must_use]
    pub fn new(
        declaration_request_id: impl Into<DeclarationRequestId>,
        payment_id: impl Into<PaymentId>,
        declaration_amount: Amount,
        customs: CustomsInfo,
        merchant_customs_info: MerchantCustomsInfo,
    ) -> Self {
        DeclareRequest {
            declaration_request_id: declaration_request_id.into(),
            payment_id: payment_id.into(),
            declaration_amount,
            customs,
            merchant_customs_info,
            split_order: false,
            suborder_id: None,
            buyer_certificate: None,
        }
    }

    /// Declares this request as one part of a split order: `splitOrder=true` with `suborderId`.
    #[must_use]
    pub fn with_split_order(mut self, suborder_id: impl Into<String>) -> Self {
        self.split_order = true;
        self.suborder_id = Some(suborder_id.into());
        self
    }
}

optional_setters!(DeclareRequest {
    with_buyer_certificate => buyer_certificate: Certificate,
});

impl Validate for DeclareRequest {
    /// Checks: `declarationRequestId` 1–32 characters; `paymentId` required, max 64; an amount
    /// greater than 0;
    /// `customs.customsCode`, `merchantCustomsInfo.merchantCustomsCode` and `…Name` required;
    /// `suborderId` max 64 and required when `splitOrder` is `true`; `buyerCertificate` (when present):
    /// `certificateNo` required, max 64, holder-name lengths.
    ///
    /// Not checked (UNKNOWN or server-side): the lengths of the customs and merchant-customs fields,
    /// `customs.region`, the accepted certificate types, and the amount against the payment.
    fn validate(&self) -> Result<(), FieldError> {
        check::chars_between(
            "declarationRequestId",
            self.declaration_request_id.as_str(),
            1,
            32,
        )?;
        check::required_max("paymentId", self.payment_id.as_str(), 64)?;
        if self.declaration_amount.is_zero() {
            return Err(FieldError::new(
                "declarationAmount.value",
                Rule::Invalid("must be greater than 0"),
            ));
        }
        self.customs.check("customs")?;
        self.merchant_customs_info.check("merchantCustomsInfo")?;
        match self.suborder_id.as_deref() {
            Some(id) if !id.trim().is_empty() => check::max_chars("suborderId", id, 64)?,
            _ if self.split_order => {
                return Err(FieldError::new(
                    "suborderId",
                    Rule::RequiredWhen("splitOrder is true"),
                ));
            }
            _ => {}
        }
        if let Some(certificate) = &self.buyer_certificate {
            certificate.check("buyerCertificate")?;
        }
        Ok(())
    }
}

/// declare response body: the fields beyond `result` come with `S` (the clearing fields only once
/// customs' receipt is back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct DeclareResponse {
    /// `result`: the call's status only, not customs' answer.
    pub result: AmsResult,
    /// `customsPaymentId` (max 64): the payment number the declaration provider gave customs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customs_payment_id: Option<String>,
    /// `customsOrderId` (max 64): the order number given to customs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customs_order_id: Option<String>,
    /// `identityCheckResult`: absent when the identity was not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_check_result: Option<IdentityCheckResult>,
    /// `clearingChannel`: once customs' receipt is back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clearing_channel: Option<ClearingChannel>,
    /// `clearingTransactionId` (max 64): the clearing organisation's serial number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clearing_transaction_id: Option<String>,
    /// `customsProviderRegistrationId` (max 32): the provider's registration ID with customs (e.g.
    /// `31222699S7`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customs_provider_registration_id: Option<String>,
}

impl DeclareResponse {
    /// A response with only `result` (what F/U answers carry).
    #[must_use]
    pub fn new(result: AmsResult) -> Self {
        DeclareResponse {
            result,
            customs_payment_id: None,
            customs_order_id: None,
            identity_check_result: None,
            clearing_channel: None,
            clearing_transaction_id: None,
            customs_provider_registration_id: None,
        }
    }
}

optional_setters!(DeclareResponse {
    with_customs_payment_id => customs_payment_id: String,
    with_customs_order_id => customs_order_id: String,
    with_identity_check_result => identity_check_result: IdentityCheckResult,
    with_clearing_channel => clearing_channel: ClearingChannel,
    with_clearing_transaction_id => clearing_transaction_id: String,
    with_customs_provider_registration_id => customs_provider_registration_id: String,
});

crate::api::ams_api!(DeclareRequest => DeclareResponse, crate::api::Api::Declare);
