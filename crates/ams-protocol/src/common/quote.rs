//! `Quote`: an exchange-rate quote (`paymentQuote`, `settlementQuote`).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::amount::Amount;
use super::datetime::AmsDateTime;

/// `quotePrice`: an exchange rate (not money). Legacy mocks send a JSON number, the docs' general rule
/// says string; both are accepted and written back in the form received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotePrice(QuotePriceRepr);

#[derive(Debug, Clone, PartialEq, Eq)]
enum QuotePriceRepr {
    Number(serde_json::Number),
    Text(String),
}

impl QuotePrice {
    /// A price sent as a JSON string, e.g. `"1.2345"`.
    #[must_use]
    pub fn text(value: impl Into<String>) -> Self {
        QuotePrice(QuotePriceRepr::Text(value.into()))
    }

    /// A price sent as a JSON number.
    #[must_use]
    pub fn number(value: serde_json::Number) -> Self {
        QuotePrice(QuotePriceRepr::Number(value))
    }

    /// The decimal text of the price (for a number, serde_json's rendering of it).
    #[must_use]
    pub fn to_decimal_string(&self) -> String {
        match &self.0 {
            QuotePriceRepr::Number(n) => n.to_string(),
            QuotePriceRepr::Text(t) => t.clone(),
        }
    }
}

impl fmt::Display for QuotePrice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            QuotePriceRepr::Number(n) => fmt::Display::fmt(n, f),
            QuotePriceRepr::Text(t) => f.write_str(t),
        }
    }
}

impl Serialize for QuotePrice {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            QuotePriceRepr::Number(n) => n.serialize(serializer),
            QuotePriceRepr::Text(t) => serializer.serialize_str(t),
        }
    }
}

impl<'de> Deserialize<'de> for QuotePrice {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PriceVisitor;

        impl serde::de::Visitor<'_> for PriceVisitor {
            type Value = QuotePrice;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal number or a string holding one")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<QuotePrice, E> {
                Ok(QuotePrice::text(v))
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<QuotePrice, E> {
                Ok(QuotePrice::number(v.into()))
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<QuotePrice, E> {
                Ok(QuotePrice::number(v.into()))
            }

            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<QuotePrice, E> {
                serde_json::Number::from_f64(v)
                    .map(QuotePrice::number)
                    .ok_or_else(|| E::custom(format!("quotePrice {v} is not a finite number")))
            }
        }

        deserializer.deserialize_any(PriceVisitor)
    }
}

/// `Quote` (SDK `Quote`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Quote {
    /// `quoteId` (max 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote_id: Option<String>,
    /// `quoteCurrencyPair` (max 16), e.g. `"USD/CNY"` (legacy mocks use numeric codes `"446/156"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote_currency_pair: Option<String>,
    /// `quotePrice`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote_price: Option<QuotePrice>,
    /// `quoteStartTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote_start_time: Option<AmsDateTime>,
    /// `quoteExpiryTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote_expiry_time: Option<AmsDateTime>,
    /// `guaranteed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guaranteed: Option<bool>,
    /// `exchangeAmount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange_amount: Option<Amount>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_price_keeps_its_wire_form() {
        let json = r#"{"quoteId":"Q1","quoteCurrencyPair":"446/156","quotePrice":0.8312,"guaranteed":false}"#;
        let q: Quote = serde_json::from_str(json).unwrap();
        assert_eq!(
            q.quote_price.as_ref().unwrap().to_decimal_string(),
            "0.8312"
        );
        assert_eq!(serde_json::to_string(&q).unwrap(), json);
        let json = r#"{"quotePrice":"7.1234"}"#;
        let q: Quote = serde_json::from_str(json).unwrap();
        assert_eq!(serde_json::to_string(&q).unwrap(), json);
    }
}
