//! `inquiryRegistrationInfo` — `POST /ams/api/v1/merchants/inquiryRegistrationInfo`: the latest
//! registered information of a secondary merchant (digest §9.7). If no registration ever succeeded,
//! only the acceptance result comes back.

use serde::{Deserialize, Serialize};

use super::model::MerchantRegistrationInfo;
use crate::check::{self, FieldError, Validate};
use crate::common::result::AmsResult;
use crate::macros::optional_setters;
use crate::payments::pay::ProductCode;

/// inquiryRegistrationInfo request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct InquiryRegistrationInfoRequest {
    /// `referenceMerchantId` (required, max 64; checked).
    #[serde(default)]
    pub reference_merchant_id: String,
    /// `referenceStoreId` (max 32; checked): in-store payments only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_store_id: Option<String>,
}

impl InquiryRegistrationInfoRequest {
    /// The information registered for `reference_merchant_id`.
    #[must_use]
    pub fn new(reference_merchant_id: impl Into<String>) -> Self {
        InquiryRegistrationInfoRequest {
            reference_merchant_id: reference_merchant_id.into(),
            reference_store_id: None,
        }
    }
}

optional_setters!(InquiryRegistrationInfoRequest {
    with_reference_store_id => reference_store_id: String,
});

impl Validate for InquiryRegistrationInfoRequest {
    /// Checks: `referenceMerchantId` required, max 64; `referenceStoreId` max 32.
    fn validate(&self) -> Result<(), FieldError> {
        check::required_max("referenceMerchantId", &self.reference_merchant_id, 64)?;
        check::optional_max("referenceStoreId", self.reference_store_id.as_deref(), 32)
    }
}

/// inquiryRegistrationInfo response body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct InquiryRegistrationInfoResponse {
    /// `result`.
    pub result: AmsResult,
    /// `merchantInfo`: with `S` (the online page marks it required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_info: Option<MerchantRegistrationInfo>,
    /// `storeInfo` (in-store; fields UNKNOWN, kept as raw JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_info: Option<serde_json::Value>,
    /// `productCodes`: with `S`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_codes: Option<Vec<ProductCode>>,
}

impl InquiryRegistrationInfoResponse {
    /// A response with only `result`.
    #[must_use]
    pub fn new(result: AmsResult) -> Self {
        InquiryRegistrationInfoResponse {
            result,
            merchant_info: None,
            store_info: None,
            product_codes: None,
        }
    }
}

optional_setters!(InquiryRegistrationInfoResponse {
    with_merchant_info => merchant_info: MerchantRegistrationInfo,
    with_store_info => store_info: serde_json::Value,
    with_product_codes => product_codes: Vec<ProductCode>,
});

crate::api::ams_api!(InquiryRegistrationInfoRequest => InquiryRegistrationInfoResponse, crate::api::Api::InquiryRegistrationInfo);
