//! `notifyRegistrationStatus` (SPI, Alipay → merchant): the outcome of a registration, sent to the
//! request's `registrationNotifyURL` (digest §9.8). No SDK models it.
//!
//! The body has **no** `result`. Verify it like every AMS notification (signature over the raw body
//! and the arrival path) and answer with [`ACK_SUCCESS_BODY`](crate::ACK_SUCCESS_BODY). The retry
//! schedule when the acknowledgement is missing is UNKNOWN (assume digest §4's).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::model::{PspRegistrationResult, RegistrationRequestId, RegistrationResult};
use crate::macros::optional_setters;

/// The SPI's documented name (it is POSTed to the merchant's URL, not to this path).
pub const NOTIFY_REGISTRATION_STATUS_NAME: &str = "notifyRegistrationStatus";

/// notifyRegistrationStatus body: every field is optional.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct NotifyRegistrationStatus {
    /// `referenceMerchantId` (max 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_merchant_id: Option<String>,
    /// `registrationRequestId` (max 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_request_id: Option<RegistrationRequestId>,
    /// `referenceStoreId` (max 32; in-store).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_store_id: Option<String>,
    /// `registrationResult`: the overall result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_result: Option<RegistrationResult>,
    /// `pspRegistrationResultList`: one result per Alipay+ wallet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psp_registration_result_list: Option<Vec<PspRegistrationResult>>,
}

impl NotifyRegistrationStatus {
    /// A notification about the registration `registration_request_id` (simulator side).
    #[must_use]
    pub fn new(registration_request_id: impl Into<RegistrationRequestId>) -> Self {
        NotifyRegistrationStatus {
            registration_request_id: Some(registration_request_id.into()),
            ..NotifyRegistrationStatus::default()
        }
    }

    /// `true` when a notification body (a JSON object) looks like this kind: no `result`, no
    /// `accessToken`, and at least one of `registrationRequestId`, `registrationResult`,
    /// `pspRegistrationResultList`.
    #[must_use]
    pub fn matches(body: &Map<String, Value>) -> bool {
        !body.contains_key("result")
            && !body.contains_key("accessToken")
            && [
                "registrationRequestId",
                "registrationResult",
                "pspRegistrationResultList",
            ]
            .iter()
            .any(|key| body.contains_key(*key))
    }
}

optional_setters!(NotifyRegistrationStatus {
    with_reference_merchant_id => reference_merchant_id: String,
    with_reference_store_id => reference_store_id: String,
    with_registration_result => registration_result: RegistrationResult,
    with_psp_registration_result_list => psp_registration_result_list: Vec<PspRegistrationResult>,
});
