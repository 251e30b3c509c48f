//! `inquiryDeclarationRequests` — `POST /ams/api/v1/customs/inquiryDeclarationRequests`: the status of up
//! to 10 customs declarations (digest §9.4).
//!
//! Ids Alipay does not know come back in `declarationRequestsNotFound`; the result is `S` even when
//! every id is unknown (digest §9.11, inferred).

use serde::{Deserialize, Serialize};

use super::model::{CustomsInfo, DeclarationRequestId, MerchantCustomsInfo};
use crate::check::{self, FieldError, Validate};
use crate::common::amount::Amount;
use crate::common::datetime::AmsDateTime;
use crate::common::result::AmsResult;
use crate::lenient;
use crate::macros::optional_setters;

/// At most this many ids per inquiry (`declarationRequestIds`, `declarationRequestsNotFound`,
/// `declarationRecords`).
pub const MAX_DECLARATION_REQUEST_IDS: usize = 10;

/// inquiryDeclarationRequests request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct InquiryDeclarationRequestsRequest {
    /// `declarationRequestIds` (required: 1 to 10 ids, each 1–32 characters; checked).
    pub declaration_request_ids: Vec<DeclarationRequestId>,
}

impl InquiryDeclarationRequestsRequest {
    /// An inquiry for these ids.
    #[must_use]
    pub fn new<I>(ids: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<DeclarationRequestId>,
    {
        InquiryDeclarationRequestsRequest {
            declaration_request_ids: ids.into_iter().map(Into::into).collect(),
        }
    }
}

impl Validate for InquiryDeclarationRequestsRequest {
    /// Checks: `declarationRequestIds` holds 1 to 10 ids, each 1–32 characters (the failing one is
    /// named by index, e.g. `declarationRequestIds[3]`).
    fn validate(&self) -> Result<(), FieldError> {
        check::items(
            "declarationRequestIds",
            &self.declaration_request_ids,
            1,
            MAX_DECLARATION_REQUEST_IDS,
        )?;
        for (i, id) in self.declaration_request_ids.iter().enumerate() {
            check::chars_between(&format!("declarationRequestIds[{i}]"), id.as_str(), 1, 32)?;
        }
        Ok(())
    }
}

/// inquiryDeclarationRequests response body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct InquiryDeclarationRequestsResponse {
    /// `result`: the call's status.
    pub result: AmsResult,
    /// `declarationRequestsNotFound` (max 10, each max 32): the ids Alipay does not know.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declaration_requests_not_found: Option<Vec<DeclarationRequestId>>,
    /// `declarationRecords` (max 10): one record per customs declaration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declaration_records: Option<Vec<DeclarationRecord>>,
}

impl InquiryDeclarationRequestsResponse {
    /// A response with only `result`.
    #[must_use]
    pub fn new(result: AmsResult) -> Self {
        InquiryDeclarationRequestsResponse {
            result,
            declaration_requests_not_found: None,
            declaration_records: None,
        }
    }
}

optional_setters!(InquiryDeclarationRequestsResponse {
    with_declaration_requests_not_found => declaration_requests_not_found: Vec<DeclarationRequestId>,
    with_declaration_records => declaration_records: Vec<DeclarationRecord>,
});

/// One customs declaration as inquiryDeclarationRequests reports it (SDK `DeclarationRecord`).
///
/// Field names are the SDKs' (identical in Java, Python, Go, .NET); every field is optional here
/// because the page's child table was never readable: maximum lengths and enum values are UNKNOWN.
/// `splitOrder` is read leniently (boolean or `"true"`/`"false"`) and written as a JSON boolean — the Go
/// SDK fails a whole response on a string.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct DeclarationRecord {
    /// `declarationRequestId`: the merchant's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declaration_request_id: Option<DeclarationRequestId>,
    /// `customsPaymentId`: as in the declare response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customs_payment_id: Option<String>,
    /// `customsOrderId`: as in the declare response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customs_order_id: Option<String>,
    /// `customs`. (The Python SDK 1.7.1's response class crashes on a record carrying it — digest §9.4;
    /// that is the SDK's bug, the field is documented.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customs: Option<CustomsInfo>,
    /// `merchantCustomsInfo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_customs_info: Option<MerchantCustomsInfo>,
    /// `declarationAmount`: the amount declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declaration_amount: Option<Amount>,
    /// `splitOrder`.
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub split_order: Option<bool>,
    /// `declarationRequestStatus`: the processing status of the declaration. Its value set is UNKNOWN
    /// (the Alipay+ sibling API returns e.g. `WAITING_FOR_PROCESSING`), so it is kept as a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declaration_request_status: Option<String>,
    /// `lastModifiedTime` (ISO 8601, inferred).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified_time: Option<AmsDateTime>,
    /// `customsDeclarationResultCode`: the code customs returned (Alipay+ sample: `"2"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customs_declaration_result_code: Option<String>,
    /// `customsDeclarationResultDesc`: customs' description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customs_declaration_result_desc: Option<String>,
    /// `customsDeclarationReturnTime`: when customs answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customs_declaration_return_time: Option<AmsDateTime>,
}

impl DeclarationRecord {
    /// A record for `declaration_request_id` with nothing else set.
    #[must_use]
    pub fn new(declaration_request_id: impl Into<DeclarationRequestId>) -> Self {
        DeclarationRecord {
            declaration_request_id: Some(declaration_request_id.into()),
            ..DeclarationRecord::default()
        }
    }
}

optional_setters!(DeclarationRecord {
    with_customs_payment_id => customs_payment_id: String,
    with_customs_order_id => customs_order_id: String,
    with_customs => customs: CustomsInfo,
    with_merchant_customs_info => merchant_customs_info: MerchantCustomsInfo,
    with_declaration_amount => declaration_amount: Amount,
    with_split_order => split_order: bool,
    with_declaration_request_status => declaration_request_status: String,
    with_last_modified_time => last_modified_time: AmsDateTime,
    with_customs_declaration_result_code => customs_declaration_result_code: String,
    with_customs_declaration_result_desc => customs_declaration_result_desc: String,
    with_customs_declaration_return_time => customs_declaration_return_time: AmsDateTime,
});

crate::api::ams_api!(InquiryDeclarationRequestsRequest => InquiryDeclarationRequestsResponse, crate::api::Api::InquiryDeclarationRequests);
