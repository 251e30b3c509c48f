//! `Amount`: a currency plus an integer number of minor units, sent as `{"currency":"USD","value":"1000"}`.
//!
//! Money is never a float here. `value` is a JSON **string** holding a non-negative integer in the
//! currency's smallest unit (USD 10.00 → `"1000"`, JPY 1 → `"1"`).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::currency::Currency;

/// What went wrong with an amount or a currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AmountErrorKind {
    /// The value is not a plain string of decimal digits (`"10.5"`, `"1e3"`, `" 12"`, `"+5"`, `""`, or a JSON
    /// float).
    NotAnInteger,
    /// The value is a negative integer.
    Negative,
    /// The value is an integer larger than `u64::MAX` minor units.
    TooLarge,
    /// The currency code is not an active ISO 4217 code.
    UnknownCurrency,
    /// Arithmetic on two amounts in different currencies.
    CurrencyMismatch,
    /// An addition overflowed `u64` minor units.
    Overflow,
    /// A subtraction would go below zero.
    Underflow,
}

/// Error for invalid amounts, currencies and amount arithmetic.
///
/// Carries the kind and the offending input; the message names both, e.g.
/// `amount value "10.50" is not an integer number of minor units`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmountError {
    kind: AmountErrorKind,
    value: String,
}

impl AmountError {
    pub(crate) fn new(kind: AmountErrorKind, value: impl Into<String>) -> Self {
        AmountError {
            kind,
            value: value.into(),
        }
    }

    /// The kind of problem.
    #[must_use]
    pub fn kind(&self) -> AmountErrorKind {
        self.kind
    }

    /// The offending input (value, code, or the operands of a failed operation).
    #[must_use]
    pub fn value(&self) -> &str {
        &self.value
    }
}

impl fmt::Display for AmountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = &self.value;
        match self.kind {
            AmountErrorKind::NotAnInteger => {
                write!(
                    f,
                    "amount value {v} is not an integer number of minor units"
                )
            }
            AmountErrorKind::Negative => write!(f, "amount value {v} is negative"),
            AmountErrorKind::TooLarge => write!(
                f,
                "amount value {v} is too large (more than {} minor units)",
                u64::MAX
            ),
            AmountErrorKind::UnknownCurrency => {
                write!(f, "currency {v:?} is not an ISO 4217 code")
            }
            AmountErrorKind::CurrencyMismatch => {
                write!(f, "cannot combine amounts in different currencies ({v})")
            }
            AmountErrorKind::Overflow => write!(f, "amount arithmetic overflowed ({v})"),
            AmountErrorKind::Underflow => write!(f, "amount arithmetic went below zero ({v})"),
        }
    }
}

impl std::error::Error for AmountError {}

/// A non-negative integer number of minor units; on the wire a JSON string (`"1000"`).
///
/// Deserialisation also accepts a JSON integer (leniently); serialisation always writes a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MinorUnits(u64);

impl MinorUnits {
    /// Wraps a count of minor units.
    #[must_use]
    pub const fn new(value: u64) -> Self {
        MinorUnits(value)
    }

    /// The count of minor units.
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0
    }

    /// Parses the wire string: ASCII digits only (leading zeros tolerated), no sign, no spaces, no
    /// decimal point or exponent.
    ///
    /// # Errors
    ///
    /// [`AmountErrorKind::NotAnInteger`], [`AmountErrorKind::Negative`] or [`AmountErrorKind::TooLarge`],
    /// with the offending string quoted in the message.
    pub fn parse(value: &str) -> Result<Self, AmountError> {
        let quoted = || format!("{value:?}");
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if all_digits(value) {
            value
                .parse::<u64>()
                .map(MinorUnits)
                .map_err(|_| AmountError::new(AmountErrorKind::TooLarge, quoted()))
        } else if value.strip_prefix('-').is_some_and(all_digits) {
            Err(AmountError::new(AmountErrorKind::Negative, quoted()))
        } else {
            Err(AmountError::new(AmountErrorKind::NotAnInteger, quoted()))
        }
    }
}

impl From<u64> for MinorUnits {
    fn from(value: u64) -> Self {
        MinorUnits(value)
    }
}

impl fmt::Display for MinorUnits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::str::FromStr for MinorUnits {
    type Err = AmountError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MinorUnits::parse(s)
    }
}

impl Serialize for MinorUnits {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for MinorUnits {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MinorUnitsVisitor;

        impl serde::de::Visitor<'_> for MinorUnitsVisitor {
            type Value = MinorUnits;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string holding a non-negative integer number of minor units")
            }

            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<MinorUnits, E> {
                MinorUnits::parse(value).map_err(E::custom)
            }

            fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<MinorUnits, E> {
                Ok(MinorUnits(value))
            }

            fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<MinorUnits, E> {
                u64::try_from(value).map(MinorUnits).map_err(|_| {
                    E::custom(AmountError::new(
                        AmountErrorKind::Negative,
                        value.to_string(),
                    ))
                })
            }

            fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<MinorUnits, E> {
                // A JSON number with a fraction or exponent, or an integer beyond u64 (which
                // serde_json hands over as a float).
                let kind = if value.fract() == 0.0 && value >= 18_446_744_073_709_551_616.0 {
                    AmountErrorKind::TooLarge
                } else if value < 0.0 {
                    AmountErrorKind::Negative
                } else {
                    AmountErrorKind::NotAnInteger
                };
                Err(E::custom(AmountError::new(kind, format!("{value:?}"))))
            }
        }

        deserializer.deserialize_any(MinorUnitsVisitor)
    }
}

/// A sum of money: currency and integer minor units. Wire form `{"currency":"USD","value":"1000"}`.
///
/// ```
/// use ams_protocol::{Amount, Currency};
///
/// let a = Amount::parse("USD", "1000").unwrap();
/// assert_eq!(a, Amount::new(Currency::USD, 1000));
/// assert_eq!(a.to_string(), "USD 10.00");
/// assert_eq!(serde_json::to_string(&a).unwrap(), r#"{"currency":"USD","value":"1000"}"#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Amount {
    /// ISO 4217 currency.
    pub currency: Currency,
    /// Non-negative integer in the currency's minor unit, a JSON string on the wire.
    pub value: MinorUnits,
}

impl Amount {
    /// An amount of `minor_units` in `currency` (USD 10.00 is `Amount::new(Currency::USD, 1000)`).
    #[must_use]
    pub const fn new(currency: Currency, minor_units: u64) -> Self {
        Amount {
            currency,
            value: MinorUnits(minor_units),
        }
    }

    /// Parses a currency code and a wire value string.
    ///
    /// # Errors
    ///
    /// An [`AmountError`] naming the bad currency code or value.
    pub fn parse(currency: &str, value: &str) -> Result<Self, AmountError> {
        Ok(Amount {
            currency: Currency::parse(currency)?,
            value: MinorUnits::parse(value)?,
        })
    }

    /// The value in minor units.
    #[must_use]
    pub const fn minor_units(&self) -> u64 {
        self.value.0
    }

    /// `true` when the value is zero.
    #[must_use]
    pub const fn is_zero(&self) -> bool {
        self.value.0 == 0
    }

    /// Adds two amounts of the same currency.
    ///
    /// # Errors
    ///
    /// [`AmountErrorKind::CurrencyMismatch`] or [`AmountErrorKind::Overflow`].
    pub fn checked_add(&self, other: &Amount) -> Result<Amount, AmountError> {
        self.same_currency(other)?;
        self.value
            .0
            .checked_add(other.value.0)
            .map(|v| Amount::new(self.currency, v))
            .ok_or_else(|| AmountError::new(AmountErrorKind::Overflow, format!("{self} + {other}")))
    }

    /// Subtracts `other` from `self` (same currency, result must not go below zero).
    ///
    /// # Errors
    ///
    /// [`AmountErrorKind::CurrencyMismatch`] or [`AmountErrorKind::Underflow`].
    pub fn checked_sub(&self, other: &Amount) -> Result<Amount, AmountError> {
        self.same_currency(other)?;
        self.value
            .0
            .checked_sub(other.value.0)
            .map(|v| Amount::new(self.currency, v))
            .ok_or_else(|| {
                AmountError::new(AmountErrorKind::Underflow, format!("{self} - {other}"))
            })
    }

    fn same_currency(&self, other: &Amount) -> Result<(), AmountError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(AmountError::new(
                AmountErrorKind::CurrencyMismatch,
                format!("{} and {}", self.currency, other.currency),
            ))
        }
    }
}

/// `USD 10.00`, `JPY 1000`, `KWD 1.500`: code, space, value with the currency's exponent.
impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exp = u32::from(self.currency.exponent());
        let v = self.value.0;
        if exp == 0 {
            return write!(f, "{} {v}", self.currency);
        }
        let scale = 10u64.pow(exp);
        let width = exp as usize;
        write!(
            f,
            "{} {}.{:0width$}",
            self.currency,
            v / scale,
            v % scale,
            width = width
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err_of(value: &str) -> AmountError {
        MinorUnits::parse(value).unwrap_err()
    }

    #[test]
    fn parses_minor_units() {
        assert_eq!(MinorUnits::parse("0").unwrap().get(), 0);
        assert_eq!(MinorUnits::parse("1000").unwrap().get(), 1000);
        assert_eq!(MinorUnits::parse("007").unwrap().get(), 7);
        assert_eq!(
            MinorUnits::parse("18446744073709551615").unwrap().get(),
            u64::MAX
        );
    }

    #[test]
    fn non_integers_are_rejected_with_the_value_in_the_message() {
        for bad in [
            "10.5", "10.50", "1e3", " 12", "12 ", "+5", "", "-", "abc", "1_000", "-1.5",
        ] {
            let err = err_of(bad);
            assert_eq!(err.kind(), AmountErrorKind::NotAnInteger, "{bad:?}");
            assert_eq!(
                err.to_string(),
                format!("amount value {bad:?} is not an integer number of minor units")
            );
        }
        assert_eq!(
            err_of("10.50").to_string(),
            r#"amount value "10.50" is not an integer number of minor units"#
        );
    }

    #[test]
    fn negative_and_overflowing_values_are_rejected() {
        let err = err_of("-5");
        assert_eq!(err.kind(), AmountErrorKind::Negative);
        assert_eq!(err.to_string(), r#"amount value "-5" is negative"#);
        let err = err_of("18446744073709551616");
        assert_eq!(err.kind(), AmountErrorKind::TooLarge);
        assert_eq!(
            err.to_string(),
            r#"amount value "18446744073709551616" is too large (more than 18446744073709551615 minor units)"#
        );
        assert_eq!(err.value(), r#""18446744073709551616""#);
    }

    #[test]
    fn unknown_currency_is_rejected() {
        let err = Amount::parse("XYZ", "100").unwrap_err();
        assert_eq!(err.kind(), AmountErrorKind::UnknownCurrency);
        assert_eq!(err.to_string(), r#"currency "XYZ" is not an ISO 4217 code"#);
    }

    #[test]
    fn serde_wire_form() {
        let a: Amount = serde_json::from_str(r#"{"currency":"USD","value":"1000"}"#).unwrap();
        assert_eq!(a, Amount::new(Currency::USD, 1000));
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            r#"{"currency":"USD","value":"1000"}"#
        );
        // Lenient: a JSON integer is accepted, but a string is written back.
        let b: Amount = serde_json::from_str(r#"{"currency":"USD","value":1000}"#).unwrap();
        assert_eq!(b, a);
        assert_eq!(
            serde_json::to_string(&b).unwrap(),
            r#"{"currency":"USD","value":"1000"}"#
        );
    }

    #[test]
    fn serde_errors_name_the_problem() {
        let cases = [
            (
                r#"{"currency":"USD","value":"10.50"}"#,
                r#"amount value "10.50" is not an integer number of minor units"#,
            ),
            (
                r#"{"currency":"USD","value":"-1"}"#,
                r#"amount value "-1" is negative"#,
            ),
            (
                r#"{"currency":"USD","value":-1}"#,
                "amount value -1 is negative",
            ),
            (
                r#"{"currency":"USD","value":10.5}"#,
                "amount value 10.5 is not an integer number of minor units",
            ),
            (
                r#"{"currency":"USD","value":1e3}"#,
                "amount value 1000.0 is not an integer number of minor units",
            ),
            (
                r#"{"currency":"USD","value":"99999999999999999999"}"#,
                "is too large",
            ),
            (
                r#"{"currency":"USD","value":99999999999999999999}"#,
                "is too large",
            ),
            (
                r#"{"currency":"XYZ","value":"1"}"#,
                r#"currency "XYZ" is not an ISO 4217 code"#,
            ),
            (r#"{"currency":"USD"}"#, "missing field `value`"),
        ];
        for (json, expected) in cases {
            let err = serde_json::from_str::<Amount>(json)
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{json}: {err}");
        }
    }

    #[test]
    fn display_uses_the_exponent() {
        assert_eq!(Amount::new(Currency::USD, 1000).to_string(), "USD 10.00");
        assert_eq!(Amount::new(Currency::USD, 5).to_string(), "USD 0.05");
        assert_eq!(Amount::new(Currency::JPY, 1000).to_string(), "JPY 1000");
        assert_eq!(Amount::new(Currency::KWD, 1500).to_string(), "KWD 1.500");
        assert_eq!(
            Amount::parse("CLF", "12345").unwrap().to_string(),
            "CLF 1.2345"
        );
        assert_eq!(
            Amount::new(Currency::USD, u64::MAX).to_string(),
            "USD 184467440737095516.15"
        );
    }

    #[test]
    fn checked_arithmetic_refuses_mixing_currencies() {
        let usd = Amount::new(Currency::USD, 1000);
        let eur = Amount::new(Currency::EUR, 1);
        let err = usd.checked_add(&eur).unwrap_err();
        assert_eq!(err.kind(), AmountErrorKind::CurrencyMismatch);
        assert_eq!(
            err.to_string(),
            "cannot combine amounts in different currencies (USD and EUR)"
        );
        assert_eq!(
            usd.checked_sub(&eur).unwrap_err().kind(),
            AmountErrorKind::CurrencyMismatch
        );
        assert_eq!(
            usd.checked_add(&Amount::new(Currency::USD, 1)).unwrap(),
            Amount::new(Currency::USD, 1001)
        );
        assert_eq!(
            usd.checked_sub(&Amount::new(Currency::USD, 1000)).unwrap(),
            Amount::new(Currency::USD, 0)
        );
        assert_eq!(
            usd.checked_sub(&Amount::new(Currency::USD, 1001))
                .unwrap_err()
                .kind(),
            AmountErrorKind::Underflow
        );
        assert_eq!(
            Amount::new(Currency::USD, u64::MAX)
                .checked_add(&Amount::new(Currency::USD, 1))
                .unwrap_err()
                .kind(),
            AmountErrorKind::Overflow
        );
    }
}
