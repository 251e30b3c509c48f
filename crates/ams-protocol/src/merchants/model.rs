//! Objects of the registration APIs: `merchantInfo` (SDK `MerchantRegistrationInfo`) and its children,
//! and the registration results (digest §9.5.2, §9.6).
//!
//! The pages collapse every child table, so field names come from the SDKs and almost every length and
//! enum value set is UNKNOWN: such fields are not checked (each says so), and enums keep what they do
//! not know in `Unknown`.

use serde::{Deserialize, Serialize};

use crate::check::{self, Checked};
use crate::common::datetime::AmsDateTime;
use crate::common::order::Address;
use crate::lenient;
use crate::macros::{id_newtype, optional_setters, wire_enum};

id_newtype!(
    /// `registrationRequestId`: the acquirer's id of a registration, its idempotency key (max 64).
    RegistrationRequestId
);

/// `merchantInfo` (SDK `MerchantRegistrationInfo`): the secondary merchant to register.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct MerchantRegistrationInfo {
    /// `referenceMerchantId` (required, max 64; checked): the secondary merchant's id, globally unique
    /// (registering it again is `REPEAT_REGISTRATION`). It is consult's `authClientId` and pay's
    /// `order.merchant.referenceMerchantId`.
    #[serde(default)]
    pub reference_merchant_id: String,
    /// `merchantDisplayName`: the name shown. Length UNKNOWN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_display_name: Option<String>,
    /// `merchantMCC`: merchant category code (4 digits in the samples). Format not checked.
    #[serde(
        default,
        rename = "merchantMCC",
        skip_serializing_if = "Option::is_none"
    )]
    pub merchant_mcc: Option<String>,
    /// `logo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo: Option<Logo>,
    /// `websites`: each `url` must be a valid URL (checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub websites: Option<Vec<WebSite>>,
    /// `merchantAddress`: must be an address Google Maps recognises (server-side rule). The shared
    /// model's lengths (region 2, state 8, city 32, …) come from other products: not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_address: Option<Address>,
    /// `registrationDetail`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_detail: Option<RegistrationDetail>,
}

impl MerchantRegistrationInfo {
    /// A merchant with only its `referenceMerchantId`.
    #[must_use]
    pub fn new(reference_merchant_id: impl Into<String>) -> Self {
        MerchantRegistrationInfo {
            reference_merchant_id: reference_merchant_id.into(),
            ..MerchantRegistrationInfo::default()
        }
    }

    pub(crate) fn check(&self, path: &str) -> Checked {
        check::required_max(
            &format!("{path}.referenceMerchantId"),
            &self.reference_merchant_id,
            64,
        )?;
        for (i, site) in self.websites.iter().flatten().enumerate() {
            check::url(&format!("{path}.websites[{i}].url"), &site.url, 2048)?;
        }
        Ok(())
    }
}

optional_setters!(MerchantRegistrationInfo {
    with_merchant_display_name => merchant_display_name: String,
    with_merchant_mcc => merchant_mcc: String,
    with_logo => logo: Logo,
    with_websites => websites: Vec<WebSite>,
    with_merchant_address => merchant_address: Address,
    with_registration_detail => registration_detail: RegistrationDetail,
});

/// `merchantInfo.logo` (SDK `Logo`). The shared model's lengths (name 12, URL 2048) come from the card
/// brand context; their applicability is UNKNOWN, so they are not checked.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Logo {
    /// `logoName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_name: Option<String>,
    /// `logoUrl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
}

impl Logo {
    /// `{logoName, logoUrl}`.
    #[must_use]
    pub fn new(logo_name: impl Into<String>, logo_url: impl Into<String>) -> Self {
        Logo {
            logo_name: Some(logo_name.into()),
            logo_url: Some(logo_url.into()),
        }
    }
}

/// `merchantInfo.websites[]` (SDK `WebSite`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct WebSite {
    /// `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `url`: an absolute http(s) URL, max 2048 (shared model); an invalid URL is `PARAM_ILLEGAL`
    /// (checked).
    #[serde(default)]
    pub url: String,
    /// `desc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desc: Option<String>,
    /// `type` (`COMPANY_INTRODUCE` / `TRADING` in the marketplace context; not checked).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub site_type: Option<String>,
}

impl WebSite {
    /// A website with its `url`.
    #[must_use]
    pub fn new(url: impl Into<String>) -> Self {
        WebSite {
            url: url.into(),
            ..WebSite::default()
        }
    }
}

optional_setters!(WebSite {
    with_name => name: String,
    with_desc => desc: String,
    with_site_type => site_type: String,
});

wire_enum! {
    /// `attachmentType`. The doc calls it an enumeration (out-of-range → `PARAM_ILLEGAL`) but its value
    /// list is UNKNOWN; listed are the values seen in official samples.
    pub enum AttachmentType {
        /// Articles of association.
        ArticlesOfAssociation = "ARTICLES_OF_ASSOCIATION",
    }
}

wire_enum! {
    /// `contactType`. Value list UNKNOWN; listed are the values seen in official samples.
    pub enum ContactType {
        /// A mobile phone number.
        MobilePhone = "MOBILE_PHONE",
        /// An e-mail address.
        Email = "EMAIL",
    }
}

wire_enum! {
    /// `registrationType`. Value list UNKNOWN; listed are the values seen in official samples.
    pub enum RegistrationType {
        /// Enterprise registration number.
        EnterpriseRegistrationNo = "ENTERPRISE_REGISTRATION_NO",
    }
}

wire_enum! {
    /// `businessType`. Value list UNKNOWN; listed are the values seen in official samples.
    pub enum BusinessType {
        /// An enterprise.
        Enterprise = "ENTERPRISE",
    }
}

/// `merchantInfo.registrationDetail` (SDK `RegistrationDetail`): the merchant's legal registration.
/// Lengths UNKNOWN (not checked).
///
/// The two dates are read as ISO 8601 strings (Python, PHP, .NET) or as epoch milliseconds (what the
/// Java SDK's `Date` may become; converted to `…+00:00`), and written as strings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RegistrationDetail {
    /// `legalName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_name: Option<String>,
    /// `attachments`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<Attachment>>,
    /// `contactInfo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_info: Option<Vec<ContactInfo>>,
    /// `registrationType`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_type: Option<RegistrationType>,
    /// `registrationNo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_no: Option<String>,
    /// `registrationAddress`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_address: Option<Address>,
    /// `businessType`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_type: Option<BusinessType>,
    /// `registrationEffectiveDate`.
    #[serde(
        default,
        deserialize_with = "lenient::opt_datetime",
        skip_serializing_if = "Option::is_none"
    )]
    pub registration_effective_date: Option<AmsDateTime>,
    /// `registrationExpireDate`.
    #[serde(
        default,
        deserialize_with = "lenient::opt_datetime",
        skip_serializing_if = "Option::is_none"
    )]
    pub registration_expire_date: Option<AmsDateTime>,
}

optional_setters!(RegistrationDetail {
    with_legal_name => legal_name: String,
    with_attachments => attachments: Vec<Attachment>,
    with_contact_info => contact_info: Vec<ContactInfo>,
    with_registration_type => registration_type: RegistrationType,
    with_registration_no => registration_no: String,
    with_registration_address => registration_address: Address,
    with_business_type => business_type: BusinessType,
    with_registration_effective_date => registration_effective_date: AmsDateTime,
    with_registration_expire_date => registration_expire_date: AmsDateTime,
});

/// `registrationDetail.attachments[]` (SDK `Attachment`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Attachment {
    /// `attachmentType`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment_type: Option<AttachmentType>,
    /// `file`: the file's content or reference (format UNKNOWN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// `attachmentName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment_name: Option<String>,
    /// `fileKey`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_key: Option<String>,
}

optional_setters!(Attachment {
    with_attachment_type => attachment_type: AttachmentType,
    with_file => file: String,
    with_attachment_name => attachment_name: String,
    with_file_key => file_key: String,
});

/// `registrationDetail.contactInfo[]` (SDK `ContactInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ContactInfo {
    /// `contactNo`: the number or address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_no: Option<String>,
    /// `contactType`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_type: Option<ContactType>,
}

impl ContactInfo {
    /// `{contactNo, contactType}`.
    #[must_use]
    pub fn new(contact_no: impl Into<String>, contact_type: ContactType) -> Self {
        ContactInfo {
            contact_no: Some(contact_no.into()),
            contact_type: Some(contact_type),
        }
    }
}

wire_enum! {
    /// `registrationStatus`: overall (`PENDING` → `COMPLETED`) or per wallet (`APPROVED`, `REJECTED`).
    /// The complete value set is UNKNOWN; listed are the values seen.
    pub enum RegistrationStatus {
        /// Overall: not finished yet.
        Pending = "PENDING",
        /// Overall: every wallet has decided.
        Completed = "COMPLETED",
        /// Per wallet: the wallet accepted the merchant.
        Approved = "APPROVED",
        /// Per wallet: the wallet refused the merchant (see `rejectReasons`).
        Rejected = "REJECTED",
    }
}

/// `registrationResult` (SDK `RegistrationResult`): a registration's status.
///
/// The reason is read from `rejectReasons` (the AMS SDKs' spelling) or `rejectionReason` (the Alipay+
/// sibling's) and written `rejectReasons`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RegistrationResult {
    /// `registrationStatus` (may be absent or `null`, e.g. for a wallet that has not decided).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_status: Option<RegistrationStatus>,
    /// `rejectReasons`: why a wallet refused.
    #[serde(
        default,
        alias = "rejectionReason",
        skip_serializing_if = "Option::is_none"
    )]
    pub reject_reasons: Option<String>,
}

impl RegistrationResult {
    /// A result with this status.
    #[must_use]
    pub fn new(registration_status: RegistrationStatus) -> Self {
        RegistrationResult {
            registration_status: Some(registration_status),
            reject_reasons: None,
        }
    }
}

optional_setters!(RegistrationResult {
    with_reject_reasons => reject_reasons: String,
});

/// `pspRegistrationResultList[]` (SDK `PSPRegistrationResult`): one wallet's decision.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PspRegistrationResult {
    /// `pspName`: the wallet (`AlipayCN` in the AMS sample; value set UNKNOWN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psp_name: Option<String>,
    /// `registrationResult`: the wallet's status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_result: Option<RegistrationResult>,
}

impl PspRegistrationResult {
    /// `{pspName, registrationResult}`.
    #[must_use]
    pub fn new(psp_name: impl Into<String>, registration_result: RegistrationResult) -> Self {
        PspRegistrationResult {
            psp_name: Some(psp_name.into()),
            registration_result: Some(registration_result),
        }
    }
}
