//! `paymentMethod`: which wallet pays, and with which token.

use serde::{Deserialize, Serialize};

use super::ids::PaymentMethodId;
use super::wallet::CustomerBelongsTo;
use crate::macros::optional_setters;

/// `paymentMethod` (SDK `PaymentMethod`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PaymentMethod {
    /// `paymentMethodType` (max 64): for Auto Debit the wallet, same strings as `customerBelongsTo`.
    pub payment_method_type: CustomerBelongsTo,
    /// `paymentMethodId` (max 128): for Auto Debit **the access token** (required there). Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_method_id: Option<PaymentMethodId>,
    /// `customerId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// `extendInfo` (max 2048).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extend_info: Option<String>,
    /// `paymentMethodMetaData`: free-form map.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_method_meta_data: Option<serde_json::Map<String, serde_json::Value>>,
    /// `funding` (cards: `CREDIT`, `DEBIT`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub funding: Option<String>,
    /// `requireIssuerAuthentication`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_issuer_authentication: Option<bool>,
}

impl PaymentMethod {
    /// A payment method of the given type, without id.
    #[must_use]
    pub fn new(payment_method_type: CustomerBelongsTo) -> Self {
        PaymentMethod {
            payment_method_type,
            payment_method_id: None,
            customer_id: None,
            extend_info: None,
            payment_method_meta_data: None,
            funding: None,
            require_issuer_authentication: None,
        }
    }

    /// The Auto Debit form: the wallet plus the access token as `paymentMethodId`.
    #[must_use]
    pub fn agreement(wallet: CustomerBelongsTo, access_token: impl Into<PaymentMethodId>) -> Self {
        PaymentMethod::new(wallet).with_payment_method_id(access_token)
    }
}

optional_setters!(PaymentMethod {
    with_payment_method_id => payment_method_id: PaymentMethodId,
    with_customer_id => customer_id: String,
    with_extend_info => extend_info: String,
});
