//! ISO 4217 currency codes with their minor-unit exponents.
//!
//! The table holds the active ISO 4217 codes that have a minor unit (precious metals, SDR, test and
//! "no currency" codes are left out, since an amount in them has no minor units). `ANG` is kept next to
//! its successor `XCG` during the changeover.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::amount::{AmountError, AmountErrorKind};

/// A validated ISO 4217 currency code (three upper-case letters present in the embedded table).
///
/// Cheap to copy; carries its minor-unit exponent (`USD` → 2, `JPY` → 0, `KWD` → 3).
///
/// ```
/// use ams_protocol::Currency;
///
/// let usd: Currency = "USD".parse().unwrap();
/// assert_eq!(usd.exponent(), 2);
/// assert!(Currency::parse("XYZ").is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    code: &'static str,
    exponent: u8,
}

macro_rules! currency_consts {
    ($($code:ident = $exp:literal),* $(,)?) => {
        impl Currency {
            $(
                #[doc = concat!("`", stringify!($code), "` (exponent ", stringify!($exp), ").")]
                pub const $code: Currency = Currency { code: stringify!($code), exponent: $exp };
            )*
        }
    };
}

currency_consts!(
    USD = 2,
    EUR = 2,
    GBP = 2,
    CNY = 2,
    HKD = 2,
    JPY = 0,
    KRW = 0,
    SGD = 2,
    MYR = 2,
    PHP = 2,
    IDR = 2,
    THB = 2,
    VND = 0,
    KWD = 3,
);

impl Currency {
    /// Looks a code up in the ISO 4217 table.
    ///
    /// # Errors
    ///
    /// [`AmountErrorKind::UnknownCurrency`] when `code` is not exactly an active ISO 4217 code (three
    /// upper-case letters, present in the table).
    pub fn parse(code: &str) -> Result<Self, AmountError> {
        ISO_4217
            .iter()
            .find(|(c, _)| *c == code)
            .map(|&(code, exponent)| Currency { code, exponent })
            .ok_or_else(|| AmountError::new(AmountErrorKind::UnknownCurrency, code))
    }

    /// The three-letter code, e.g. `"USD"`.
    #[must_use]
    pub fn code(self) -> &'static str {
        self.code
    }

    /// The three-letter code (same as [`code`](Self::code)).
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        self.code
    }

    /// Number of decimal places of the minor unit: `USD` → 2 (cents), `JPY` → 0, `BHD` → 3, `CLF` → 4.
    #[must_use]
    pub fn exponent(self) -> u8 {
        self.exponent
    }

    /// Every currency in the embedded table.
    pub fn all() -> impl Iterator<Item = Currency> {
        ISO_4217
            .iter()
            .map(|&(code, exponent)| Currency { code, exponent })
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.code)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

impl std::str::FromStr for Currency {
    type Err = AmountError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::parse(s)
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code)
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CurrencyVisitor;

        impl serde::de::Visitor<'_> for CurrencyVisitor {
            type Value = Currency;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an ISO 4217 currency code string")
            }

            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Currency, E> {
                Currency::parse(value).map_err(E::custom)
            }
        }

        deserializer.deserialize_str(CurrencyVisitor)
    }
}

/// Active ISO 4217 codes and their minor-unit exponents.
const ISO_4217: &[(&str, u8)] = &[
    ("AED", 2),
    ("AFN", 2),
    ("ALL", 2),
    ("AMD", 2),
    ("ANG", 2),
    ("AOA", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("AWG", 2),
    ("AZN", 2),
    ("BAM", 2),
    ("BBD", 2),
    ("BDT", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BIF", 0),
    ("BMD", 2),
    ("BND", 2),
    ("BOB", 2),
    ("BOV", 2),
    ("BRL", 2),
    ("BSD", 2),
    ("BTN", 2),
    ("BWP", 2),
    ("BYN", 2),
    ("BZD", 2),
    ("CAD", 2),
    ("CDF", 2),
    ("CHE", 2),
    ("CHF", 2),
    ("CHW", 2),
    ("CLF", 4),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("COU", 2),
    ("CRC", 2),
    ("CUP", 2),
    ("CVE", 2),
    ("CZK", 2),
    ("DJF", 0),
    ("DKK", 2),
    ("DOP", 2),
    ("DZD", 2),
    ("EGP", 2),
    ("ERN", 2),
    ("ETB", 2),
    ("EUR", 2),
    ("FJD", 2),
    ("FKP", 2),
    ("GBP", 2),
    ("GEL", 2),
    ("GHS", 2),
    ("GIP", 2),
    ("GMD", 2),
    ("GNF", 0),
    ("GTQ", 2),
    ("GYD", 2),
    ("HKD", 2),
    ("HNL", 2),
    ("HTG", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("IQD", 3),
    ("IRR", 2),
    ("ISK", 0),
    ("JMD", 2),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KGS", 2),
    ("KHR", 2),
    ("KMF", 0),
    ("KPW", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("KYD", 2),
    ("KZT", 2),
    ("LAK", 2),
    ("LBP", 2),
    ("LKR", 2),
    ("LRD", 2),
    ("LSL", 2),
    ("LYD", 3),
    ("MAD", 2),
    ("MDL", 2),
    ("MGA", 2),
    ("MKD", 2),
    ("MMK", 2),
    ("MNT", 2),
    ("MOP", 2),
    ("MRU", 2),
    ("MUR", 2),
    ("MVR", 2),
    ("MWK", 2),
    ("MXN", 2),
    ("MXV", 2),
    ("MYR", 2),
    ("MZN", 2),
    ("NAD", 2),
    ("NGN", 2),
    ("NIO", 2),
    ("NOK", 2),
    ("NPR", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PAB", 2),
    ("PEN", 2),
    ("PGK", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("PYG", 0),
    ("QAR", 2),
    ("RON", 2),
    ("RSD", 2),
    ("RUB", 2),
    ("RWF", 0),
    ("SAR", 2),
    ("SBD", 2),
    ("SCR", 2),
    ("SDG", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("SHP", 2),
    ("SLE", 2),
    ("SOS", 2),
    ("SRD", 2),
    ("SSP", 2),
    ("STN", 2),
    ("SVC", 2),
    ("SYP", 2),
    ("SZL", 2),
    ("THB", 2),
    ("TJS", 2),
    ("TMT", 2),
    ("TND", 3),
    ("TOP", 2),
    ("TRY", 2),
    ("TTD", 2),
    ("TWD", 2),
    ("TZS", 2),
    ("UAH", 2),
    ("UGX", 0),
    ("USD", 2),
    ("USN", 2),
    ("UYI", 0),
    ("UYU", 2),
    ("UYW", 4),
    ("UZS", 2),
    ("VED", 2),
    ("VES", 2),
    ("VND", 0),
    ("VUV", 0),
    ("WST", 2),
    ("XAF", 0),
    ("XCD", 2),
    ("XCG", 2),
    ("XOF", 0),
    ("XPF", 0),
    ("YER", 2),
    ("ZAR", 2),
    ("ZMW", 2),
    ("ZWG", 2),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponents_follow_iso_4217() {
        for code in [
            "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI",
            "VND", "VUV", "XAF", "XOF", "XPF",
        ] {
            assert_eq!(Currency::parse(code).unwrap().exponent(), 0, "{code}");
        }
        for code in ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"] {
            assert_eq!(Currency::parse(code).unwrap().exponent(), 3, "{code}");
        }
        for code in ["CLF", "UYW"] {
            assert_eq!(Currency::parse(code).unwrap().exponent(), 4, "{code}");
        }
        let special: usize = 17 + 7 + 2;
        let two = Currency::all().filter(|c| c.exponent() == 2).count();
        assert_eq!(two + special, Currency::all().count());
        for code in ["USD", "EUR", "CNY", "GBP", "IDR", "PHP", "XCD"] {
            assert_eq!(Currency::parse(code).unwrap().exponent(), 2, "{code}");
        }
    }

    #[test]
    fn table_is_sorted_unique_and_well_formed() {
        for pair in ISO_4217.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{} !< {}", pair[0].0, pair[1].0);
        }
        for (code, _) in ISO_4217 {
            assert_eq!(code.len(), 3);
            assert!(code.bytes().all(|b| b.is_ascii_uppercase()), "{code}");
        }
        assert!(ISO_4217.len() > 150);
    }

    #[test]
    fn constants_match_the_table() {
        for c in [
            Currency::USD,
            Currency::EUR,
            Currency::GBP,
            Currency::CNY,
            Currency::HKD,
            Currency::JPY,
            Currency::KRW,
            Currency::SGD,
            Currency::MYR,
            Currency::PHP,
            Currency::IDR,
            Currency::THB,
            Currency::VND,
            Currency::KWD,
        ] {
            assert_eq!(Currency::parse(c.code()).unwrap(), c);
        }
    }

    #[test]
    fn rejects_non_codes() {
        for bad in ["XYZ", "usd", "US", "USDD", "", " USD", "XAU", "HRK"] {
            let err = Currency::parse(bad).unwrap_err();
            assert_eq!(err.kind(), AmountErrorKind::UnknownCurrency);
            assert_eq!(
                err.to_string(),
                format!("currency \"{bad}\" is not an ISO 4217 code")
            );
        }
    }

    #[test]
    fn serde_round_trip_and_error() {
        let c: Currency = serde_json::from_str("\"JPY\"").unwrap();
        assert_eq!(c, Currency::JPY);
        assert_eq!(serde_json::to_string(&c).unwrap(), "\"JPY\"");
        let err = serde_json::from_str::<Currency>("\"XYZ\"").unwrap_err();
        assert!(
            err.to_string()
                .contains("currency \"XYZ\" is not an ISO 4217 code"),
            "{err}"
        );
        assert_eq!(format!("{c:?}"), "Currency(JPY)");
    }
}
