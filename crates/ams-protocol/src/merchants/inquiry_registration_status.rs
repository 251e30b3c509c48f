//! `inquiryRegistrationStatus` — `POST /ams/api/v1/merchants/inquiryRegistrationStatus`: the status of a
//! registration, or of a secondary merchant across all wallets (digest §9.6).
//!
//! With `registrationRequestId`: the result of that registration; without it but with
//! `referenceMerchantId`: the merchant's status across every wallet. `RECORD_NOT_FOUND` (F) when nothing
//! is registered for the ids given.

use serde::{Deserialize, Serialize};

use super::model::{PspRegistrationResult, RegistrationRequestId, RegistrationResult};
use crate::check::{self, FieldError, Rule, Validate};
use crate::common::result::AmsResult;
use crate::macros::optional_setters;

/// inquiryRegistrationStatus request body: every field is optional, but at least one must be given.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct InquiryRegistrationStatusRequest {
    /// `referenceMerchantId` (max 64; checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_merchant_id: Option<String>,
    /// `registrationRequestId` (max 64; checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_request_id: Option<RegistrationRequestId>,
    /// `referenceStoreId` (max 32; checked): in-store payments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_store_id: Option<String>,
}

impl InquiryRegistrationStatusRequest {
    /// The status of the secondary merchant `reference_merchant_id` (across all wallets).
    #[must_use]
    pub fn for_merchant(reference_merchant_id: impl Into<String>) -> Self {
        InquiryRegistrationStatusRequest {
            reference_merchant_id: Some(reference_merchant_id.into()),
            ..InquiryRegistrationStatusRequest::default()
        }
    }

    /// The result of the registration `registration_request_id`.
    #[must_use]
    pub fn for_registration(registration_request_id: impl Into<RegistrationRequestId>) -> Self {
        InquiryRegistrationStatusRequest {
            registration_request_id: Some(registration_request_id.into()),
            ..InquiryRegistrationStatusRequest::default()
        }
    }
}

optional_setters!(InquiryRegistrationStatusRequest {
    with_reference_merchant_id => reference_merchant_id: String,
    with_registration_request_id => registration_request_id: RegistrationRequestId,
    with_reference_store_id => reference_store_id: String,
});

impl Validate for InquiryRegistrationStatusRequest {
    /// Checks: at least one of `referenceMerchantId`, `registrationRequestId`, `referenceStoreId`
    /// (non-empty); `referenceMerchantId` and `registrationRequestId` max 64; `referenceStoreId` max 32.
    fn validate(&self) -> Result<(), FieldError> {
        let given = |v: Option<&str>| v.is_some_and(|s| !s.trim().is_empty());
        if !given(self.reference_merchant_id.as_deref())
            && !given(self.registration_request_id.as_ref().map(|id| id.as_str()))
            && !given(self.reference_store_id.as_deref())
        {
            return Err(FieldError::new(
                "referenceMerchantId",
                Rule::AtLeastOneOf(&["registrationRequestId", "referenceStoreId"]),
            ));
        }
        check::optional_max(
            "referenceMerchantId",
            self.reference_merchant_id.as_deref(),
            64,
        )?;
        check::optional_max(
            "registrationRequestId",
            self.registration_request_id.as_ref().map(|id| id.as_str()),
            64,
        )?;
        check::optional_max("referenceStoreId", self.reference_store_id.as_deref(), 32)
    }
}

/// inquiryRegistrationStatus response body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct InquiryRegistrationStatusResponse {
    /// `result`.
    pub result: AmsResult,
    /// `registrationResult`: the overall result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_result: Option<RegistrationResult>,
    /// `pspRegistrationResultList`: one result per Alipay+ wallet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psp_registration_result_list: Option<Vec<PspRegistrationResult>>,
}

impl InquiryRegistrationStatusResponse {
    /// A response with only `result`.
    #[must_use]
    pub fn new(result: AmsResult) -> Self {
        InquiryRegistrationStatusResponse {
            result,
            registration_result: None,
            psp_registration_result_list: None,
        }
    }
}

optional_setters!(InquiryRegistrationStatusResponse {
    with_registration_result => registration_result: RegistrationResult,
    with_psp_registration_result_list => psp_registration_result_list: Vec<PspRegistrationResult>,
});

crate::api::ams_api!(InquiryRegistrationStatusRequest => InquiryRegistrationStatusResponse, crate::api::Api::InquiryRegistrationStatus);
