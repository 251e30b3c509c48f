//! `pspCustomerInfo`: the customer as known to the wallet (PSP).

use serde::{Deserialize, Serialize};

/// `pspCustomerInfo` (SDK `PspCustomerInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PspCustomerInfo {
    /// `pspName` (max 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psp_name: Option<String>,
    /// `pspCustomerId` (max 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psp_customer_id: Option<String>,
    /// `displayCustomerId` (max 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_customer_id: Option<String>,
    /// `displayCustomerName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_customer_name: Option<String>,
    /// `customer2088Id`.
    #[serde(
        default,
        rename = "customer2088Id",
        skip_serializing_if = "Option::is_none"
    )]
    pub customer_2088_id: Option<String>,
    /// `extendInfo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extend_info: Option<String>,
}
