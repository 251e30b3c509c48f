//! Objects of the customs APIs: `customs`, `merchantCustomsInfo`, `buyerCertificate`, the customs-code
//! table (digest §9.3.4), and the enums of the declare response.

use serde::{Deserialize, Serialize};

use crate::check::{self, Checked};
use crate::common::order::UserName;
use crate::macros::{id_newtype, optional_setters, wire_enum};

id_newtype!(
    /// `declarationRequestId`: the merchant's id of a customs declaration, the idempotency key of
    /// declare (1–32 characters). Re-sending a declaration (re-transmission) reuses it.
    DeclarationRequestId
);

wire_enum! {
    /// `customs.customsCode`: the customs office to declare to (digest §9.3.4; see [`CustomsOffice`]
    /// for which office is reached through which code).
    ///
    /// Whether other codes are accepted, and whether matching is case-sensitive, is UNKNOWN (the Java
    /// demo sends lowercase `zongshu`, which parses as `Unknown("zongshu")` and is sent back
    /// unchanged).
    pub enum CustomsCode {
        /// General Administration of Customs; also the route for Xinzheng, Tianjin, Guangzhou and
        /// Hangzhou.
        Zongshu = "ZONGSHU",
        /// Henan bonded logistics centre.
        Zhengzhou = "ZHENGZHOU",
        /// Ningbo Customs.
        Ningbo = "NINGBO",
        /// Shanghai Customs.
        ShanghaiCbt = "SHANGHAI_CBT",
    }
}

/// The customs offices of the declare page's table (digest §9.3.4): what to send as `customsCode`
/// and Alipay's registration ID with that office.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CustomsOffice {
    /// General Administration of Customs.
    GeneralAdministration,
    /// Henan bonded logistics centre.
    HenanBondedLogisticsCentre,
    /// Ningbo Customs.
    Ningbo,
    /// Xinzheng comprehensive bonded zone (airport).
    XinzhengBondedZone,
    /// Tianjin Customs.
    Tianjin,
    /// Shanghai Customs.
    Shanghai,
    /// Guangzhou Customs (airport, Nansha, Huangpu, Shatian).
    Guangzhou,
    /// Hangzhou Customs.
    Hangzhou,
}

impl CustomsOffice {
    /// Every office of the table, in its order.
    pub const ALL: [CustomsOffice; 8] = [
        CustomsOffice::GeneralAdministration,
        CustomsOffice::HenanBondedLogisticsCentre,
        CustomsOffice::Ningbo,
        CustomsOffice::XinzhengBondedZone,
        CustomsOffice::Tianjin,
        CustomsOffice::Shanghai,
        CustomsOffice::Guangzhou,
        CustomsOffice::Hangzhou,
    ];

    /// The `customsCode` to send for this office.
    ///
    /// Xinzheng: the current Chinese page routes it via HENAN, then ZONGSHU; `ZONGSHU` is what is sent.
    #[must_use]
    pub fn customs_code(self) -> CustomsCode {
        match self {
            CustomsOffice::HenanBondedLogisticsCentre => CustomsCode::Zhengzhou,
            CustomsOffice::Ningbo => CustomsCode::Ningbo,
            CustomsOffice::Shanghai => CustomsCode::ShanghaiCbt,
            CustomsOffice::GeneralAdministration
            | CustomsOffice::XinzhengBondedZone
            | CustomsOffice::Tianjin
            | CustomsOffice::Guangzhou
            | CustomsOffice::Hangzhou => CustomsCode::Zongshu,
        }
    }

    /// Alipay's registration ID with this office, as the current (Chinese) page gives it.
    ///
    /// The 2024-05-13 English page gives `31222699S7` for every office; the current page differs for
    /// Guangzhou (`C000010000416158`; the declaration is sent on to the local inspection bureau and the
    /// merchant must supply its filing information) and Hangzhou (`ZF14021901`).
    #[must_use]
    pub fn registration_id(self) -> &'static str {
        match self {
            CustomsOffice::Guangzhou => "C000010000416158",
            CustomsOffice::Hangzhou => "ZF14021901",
            CustomsOffice::GeneralAdministration
            | CustomsOffice::HenanBondedLogisticsCentre
            | CustomsOffice::Ningbo
            | CustomsOffice::XinzhengBondedZone
            | CustomsOffice::Tianjin
            | CustomsOffice::Shanghai => "31222699S7",
        }
    }

    /// The office's English name as the table writes it.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            CustomsOffice::GeneralAdministration => "General Administration of Customs",
            CustomsOffice::HenanBondedLogisticsCentre => "Henan bonded logistics centre",
            CustomsOffice::Ningbo => "Ningbo Customs",
            CustomsOffice::XinzhengBondedZone => "Xinzheng comprehensive bonded zone (airport)",
            CustomsOffice::Tianjin => "Tianjin Customs",
            CustomsOffice::Shanghai => "Shanghai Customs",
            CustomsOffice::Guangzhou => "Guangzhou Customs",
            CustomsOffice::Hangzhou => "Hangzhou Customs",
        }
    }
}

/// `customs` (SDK `CustomsInfo`): the customs office `{customsCode, region}`.
///
/// Maximum lengths of both fields: UNKNOWN (not checked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CustomsInfo {
    /// `customsCode` (required): see [`CustomsCode`] and [`CustomsOffice`].
    pub customs_code: CustomsCode,
    /// `region`: the samples send `CN` (declarations go to Chinese customs). Whether it is required:
    /// UNKNOWN (every SDK demo and doc sample sends it; not checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

impl CustomsInfo {
    /// `{customsCode, region}`.
    #[must_use]
    pub fn new(customs_code: CustomsCode, region: impl Into<String>) -> Self {
        CustomsInfo {
            customs_code,
            region: Some(region.into()),
        }
    }

    /// The office of `office` in region `CN`.
    #[must_use]
    pub fn for_office(office: CustomsOffice) -> Self {
        CustomsInfo::new(office.customs_code(), "CN")
    }

    pub(crate) fn check(&self, path: &str) -> Checked {
        check::required(&format!("{path}.customsCode"), self.customs_code.as_str())
    }
}

/// `merchantCustomsInfo` (SDK `MerchantCustomsInfo`): the merchant's record as registered with
/// customs.
///
/// Both fields are checked as required (the object is required and is nothing without them; every SDK
/// demo sets both); their maximum lengths are UNKNOWN (not checked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct MerchantCustomsInfo {
    /// `merchantCustomsCode`: the merchant's code with customs.
    #[serde(default)]
    pub merchant_customs_code: String,
    /// `merchantCustomsName`: the merchant's name with customs.
    #[serde(default)]
    pub merchant_customs_name: String,
}

impl MerchantCustomsInfo {
    /// `{merchantCustomsCode, merchantCustomsName}`.
    #[must_use]
    pub fn new(code: impl Into<String>, name: impl Into<String>) -> Self {
        MerchantCustomsInfo {
            merchant_customs_code: code.into(),
            merchant_customs_name: name.into(),
        }
    }

    pub(crate) fn check(&self, path: &str) -> Checked {
        check::required(
            &format!("{path}.merchantCustomsCode"),
            &self.merchant_customs_code,
        )?;
        check::required(
            &format!("{path}.merchantCustomsName"),
            &self.merchant_customs_name,
        )
    }
}

wire_enum! {
    /// `certificateType` (SDK `CertificateType`, a union over several products). The values declare
    /// accepts are UNKNOWN; `ID_CARD` is the only one seen in declare samples.
    pub enum CertificateType {
        /// Enterprise registration certificate (marketplace).
        EnterpriseRegistration = "ENTERPRISE_REGISTRATION",
        /// Licence information (marketplace).
        LicenseInfo = "LICENSE_INFO",
        /// National identity card: what declare samples send.
        IdCard = "ID_CARD",
        /// Passport.
        Passport = "PASSPORT",
        /// Driving licence.
        DrivingLicense = "DRIVING_LICENSE",
        /// Brazilian individual taxpayer number.
        Cpf = "CPF",
        /// Brazilian company taxpayer number.
        Cnpj = "CNPJ",
    }
}

/// `buyerCertificate` (SDK `Certificate`): the buyer's identity, for customs' spot checks.
///
/// `Debug` shows the certificate number: it is personal data, not a credential; keep request `Debug`
/// output out of shared logs when a certificate is present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Certificate {
    /// `certificateType`.
    pub certificate_type: CertificateType,
    /// `certificateNo` (max 64, from the SDKs' shared model; checked). Customs uses it together with
    /// `holderName.fullName`.
    #[serde(default)]
    pub certificate_no: String,
    /// `holderName`: customs uses `fullName`. Lengths (shared model): first/middle/last name 32,
    /// full name 128 (checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder_name: Option<UserName>,
}

impl Certificate {
    /// A certificate of `certificate_type` numbered `certificate_no`.
    #[must_use]
    pub fn new(certificate_type: CertificateType, certificate_no: impl Into<String>) -> Self {
        Certificate {
            certificate_type,
            certificate_no: certificate_no.into(),
            holder_name: None,
        }
    }

    pub(crate) fn check(&self, path: &str) -> Checked {
        check::required(
            &format!("{path}.certificateType"),
            self.certificate_type.as_str(),
        )?;
        check::required_max(&format!("{path}.certificateNo"), &self.certificate_no, 64)?;
        if let Some(name) = &self.holder_name {
            let field = |f: &str| format!("{path}.holderName.{f}");
            check::optional_max(&field("firstName"), name.first_name.as_deref(), 32)?;
            check::optional_max(&field("middleName"), name.middle_name.as_deref(), 32)?;
            check::optional_max(&field("lastName"), name.last_name.as_deref(), 32)?;
            check::optional_max(&field("fullName"), name.full_name.as_deref(), 128)?;
        }
        Ok(())
    }
}

optional_setters!(Certificate {
    with_holder_name => holder_name: UserName,
});

wire_enum! {
    /// `identityCheckResult` of declare: whether the buyer is the payer (absent: not checked).
    pub enum IdentityCheckResult {
        /// The buyer is the payer.
        CheckPassed = "CHECK_PASSED",
        /// The buyer is not the payer.
        CheckNotPassed = "CHECK_NOT_PASSED",
    }
}

wire_enum! {
    /// `clearingChannel` of declare (once customs' receipt is back).
    pub enum ClearingChannel {
        /// UnionPay (e.g. bank-card funding).
        Cup = "CUP",
        /// NetsUnion (e.g. bank card).
        Nucc = "NUCC",
        /// Other (e.g. credit products such as Huabei).
        Other = "OTHER",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn office_table() {
        let codes: Vec<_> = CustomsOffice::ALL
            .iter()
            .map(|o| o.customs_code().as_str().to_owned())
            .collect();
        assert_eq!(
            codes,
            [
                "ZONGSHU",
                "ZHENGZHOU",
                "NINGBO",
                "ZONGSHU",
                "ZONGSHU",
                "SHANGHAI_CBT",
                "ZONGSHU",
                "ZONGSHU"
            ]
        );
        assert_eq!(CustomsOffice::Tianjin.registration_id(), "31222699S7");
        assert_eq!(
            CustomsOffice::Guangzhou.registration_id(),
            "C000010000416158"
        );
        assert_eq!(
            serde_json::to_string(&CustomsInfo::for_office(CustomsOffice::Shanghai)).unwrap(),
            r#"{"customsCode":"SHANGHAI_CBT","region":"CN"}"#
        );
        for office in CustomsOffice::ALL {
            assert!(!office.name().is_empty());
        }
        // Lowercase is not normalised: it goes back as received.
        let c: CustomsInfo = serde_json::from_str(r#"{"customsCode":"zongshu"}"#).unwrap();
        assert_eq!(c.customs_code, CustomsCode::Unknown("zongshu".into()));
    }
}
