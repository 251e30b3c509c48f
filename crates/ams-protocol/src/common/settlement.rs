//! `settlementStrategy`.

use serde::{Deserialize, Serialize};

use super::currency::Currency;

/// `settlementStrategy` (SDK `SettlementStrategy`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SettlementStrategy {
    /// `settlementCurrency` (3 letters; required since Jan 2022).
    pub settlement_currency: Currency,
}

impl SettlementStrategy {
    /// Settle in `currency`.
    #[must_use]
    pub fn new(settlement_currency: Currency) -> Self {
        SettlementStrategy {
            settlement_currency,
        }
    }
}
