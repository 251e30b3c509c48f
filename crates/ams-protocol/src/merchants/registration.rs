//! `registration` — `POST /ams/api/v1/merchants/registration`: an acquirer or ISV registers a
//! secondary merchant (digest §9.5). Deprecated for online payments since August 2022; kept as an
//! optional module.
//!
//! The answer only says whether the request was accepted (`S`); the outcome arrives through
//! notifyRegistrationStatus or inquiryRegistrationStatus.
//!
//! # What is read and what is written
//!
//! * The notify URL is read from `registrationNotifyURL` (current page, every SDK) **or**
//!   `registrationNotifyUrl` (older pages, Alipay+) — both only when equal — and written
//!   `registrationNotifyURL`.
//! * `productCodes` is read as an array or as a single string (the online page types it `String`) and
//!   written as an array.

use serde::{Deserialize, Serialize};

use super::model::{MerchantRegistrationInfo, RegistrationRequestId};
use crate::check::{self, FieldError, Rule, Validate};
use crate::common::result::AmsResult;
use crate::lenient::{self, OneOrMany};
use crate::macros::optional_setters;
use crate::payments::pay::ProductCode;

/// registration request body.
///
/// Deserialisation is tolerant (see the [module docs](self)); serialisation writes one spelling only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "RegistrationRequestWire")]
#[non_exhaustive]
pub struct RegistrationRequest {
    /// `registrationRequestId` (required, max 64; checked): the idempotency key (same id → same S/F
    /// result).
    pub registration_request_id: RegistrationRequestId,
    /// `registrationNotifyURL` (max 2048, an http(s) URL; checked): where notifyRegistrationStatus is
    /// sent.
    #[serde(
        rename = "registrationNotifyURL",
        skip_serializing_if = "Option::is_none"
    )]
    pub registration_notify_url: Option<String>,
    /// `passThroughInfo` (max 2048; checked): opaque text (SDK demos: a JSON string), echoed in the
    /// response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pass_through_info: Option<String>,
    /// `merchantInfo`: the secondary merchant.
    pub merchant_info: MerchantRegistrationInfo,
    /// `productCodes` (required, at least one; checked): online `CASHIER_PAYMENT`,
    /// `AGREEMENT_PAYMENT`; in-store `IN_STORE_PAYMENT`. Any other value is `PARAM_ILLEGAL`.
    pub product_codes: Vec<ProductCode>,
    /// `storeInfo` (SDK: absent; fields UNKNOWN, kept as raw JSON): required when `productCodes`
    /// contains `IN_STORE_PAYMENT` (checked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_info: Option<serde_json::Value>,
}

/// What is accepted on the wire for [`RegistrationRequest`].
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegistrationRequestWire {
    registration_request_id: RegistrationRequestId,
    #[serde(default, rename = "registrationNotifyURL")]
    notify_url_documented: Option<String>,
    #[serde(default, rename = "registrationNotifyUrl")]
    notify_url_alternate: Option<String>,
    #[serde(default)]
    pass_through_info: Option<String>,
    merchant_info: MerchantRegistrationInfo,
    product_codes: OneOrMany<ProductCode>,
    #[serde(default)]
    store_info: Option<serde_json::Value>,
}

impl TryFrom<RegistrationRequestWire> for RegistrationRequest {
    type Error = String;

    fn try_from(wire: RegistrationRequestWire) -> Result<Self, Self::Error> {
        Ok(RegistrationRequest {
            registration_request_id: wire.registration_request_id,
            registration_notify_url: lenient::one_spelling(
                wire.notify_url_documented,
                "registrationNotifyURL",
                wire.notify_url_alternate,
                "registrationNotifyUrl",
            )?,
            pass_through_info: wire.pass_through_info,
            merchant_info: wire.merchant_info,
            product_codes: wire.product_codes.into(),
            store_info: wire.store_info,
        })
    }
}

impl RegistrationRequest {
    /// A registration of `merchant_info` for `product_codes`.
    #[must_use]
    pub fn new(
        registration_request_id: impl Into<RegistrationRequestId>,
        merchant_info: MerchantRegistrationInfo,
        product_codes: Vec<ProductCode>,
    ) -> Self {
        RegistrationRequest {
            registration_request_id: registration_request_id.into(),
            registration_notify_url: None,
            pass_through_info: None,
            merchant_info,
            product_codes,
            store_info: None,
        }
    }
}

optional_setters!(RegistrationRequest {
    with_registration_notify_url => registration_notify_url: String,
    with_pass_through_info => pass_through_info: String,
    with_store_info => store_info: serde_json::Value,
});

impl Validate for RegistrationRequest {
    /// Checks: `registrationRequestId` required, max 64; `registrationNotifyURL` an http(s) URL, max
    /// 2048; `passThroughInfo` max 2048; `merchantInfo.referenceMerchantId` required, max 64; each
    /// `merchantInfo.websites[i].url` an http(s) URL, max 2048; `productCodes` at least one, each a
    /// documented value; `storeInfo` required with `IN_STORE_PAYMENT`.
    ///
    /// Not checked (UNKNOWN): the lengths of the other merchant fields, the value sets of
    /// `attachmentType`, `contactType`, `registrationType`, `businessType`, and the cut-off rules of
    /// the page ("merchantInfo.re…").
    fn validate(&self) -> Result<(), FieldError> {
        check::required_max(
            "registrationRequestId",
            self.registration_request_id.as_str(),
            64,
        )?;
        if let Some(url) = &self.registration_notify_url {
            check::url("registrationNotifyURL", url, 2048)?;
        }
        check::optional_max("passThroughInfo", self.pass_through_info.as_deref(), 2048)?;
        self.merchant_info.check("merchantInfo")?;
        check::items("productCodes", &self.product_codes, 1, usize::MAX)?;
        if let Some(i) = self.product_codes.iter().position(|c| !c.is_known()) {
            return Err(FieldError::new(
                format!("productCodes[{i}]"),
                Rule::NotAllowed,
            ));
        }
        let in_store = self.product_codes.contains(&ProductCode::InStorePayment);
        let has_store = self
            .store_info
            .as_ref()
            .is_some_and(|store| !store.is_null());
        if in_store && !has_store {
            return Err(FieldError::new(
                "storeInfo",
                Rule::RequiredWhen("productCodes contains IN_STORE_PAYMENT"),
            ));
        }
        Ok(())
    }
}

/// registration response body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RegistrationResponse {
    /// `result`: `S` = accepted (not yet registered).
    pub result: AmsResult,
    /// `passThroughInfo` (max 2048): the request's, echoed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass_through_info: Option<String>,
}

impl RegistrationResponse {
    /// A response with only `result`.
    #[must_use]
    pub fn new(result: AmsResult) -> Self {
        RegistrationResponse {
            result,
            pass_through_info: None,
        }
    }
}

optional_setters!(RegistrationResponse {
    with_pass_through_info => pass_through_info: String,
});

crate::api::ams_api!(RegistrationRequest => RegistrationResponse, crate::api::Api::Registration);
