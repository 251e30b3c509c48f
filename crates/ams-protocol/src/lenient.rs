//! Tolerant readers for values the official SDKs write in different shapes (crate-internal).
//!
//! Each reader accepts every shape an SDK is known to send; the matching field is always *written* in
//! the one documented shape by the ordinary derived `Serialize`.

use std::fmt;

use serde::Deserializer;
use serde::de::{self, Visitor};

use crate::common::datetime::AmsDateTime;

/// A boolean sent as a JSON boolean, or as the string `"true"` / `"false"` (any ASCII case), or `null`.
struct LenientBool;

impl<'de> Visitor<'de> for LenientBool {
    type Value = Option<bool>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"a boolean, or the string "true" or "false""#)
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Self::Value, E> {
        Ok(Some(value))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        if value.eq_ignore_ascii_case("true") {
            Ok(Some(true))
        } else if value.eq_ignore_ascii_case("false") {
            Ok(Some(false))
        } else {
            Err(E::invalid_value(de::Unexpected::Str(value), &self))
        }
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(LenientBool)
    }
}

/// `Option<bool>` from a boolean, a `"true"`/`"false"` string, or `null` (→ `None`). Use with
/// `#[serde(default)]` so a missing field is `None` as well.
pub(crate) fn opt_bool<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<bool>, D::Error> {
    deserializer.deserialize_option(LenientBool)
}

/// A datetime sent as an ISO 8601 string (kept verbatim) or as epoch milliseconds (a JSON integer, as
/// fastjson writes a Java `Date`; converted to the ISO form in UTC).
struct LenientDateTime;

impl<'de> Visitor<'de> for LenientDateTime {
    type Value = Option<AmsDateTime>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an ISO 8601 datetime string or epoch milliseconds")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        Ok(Some(AmsDateTime::new(value)))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
        AmsDateTime::from_unix_millis(value, 0)
            .map(Some)
            .map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
        let millis = i64::try_from(value)
            .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(value), &self))?;
        self.visit_i64(millis)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(LenientDateTime)
    }
}

/// `Option<AmsDateTime>` from an ISO string, epoch milliseconds, or `null`.
pub(crate) fn opt_datetime<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<AmsDateTime>, D::Error> {
    deserializer.deserialize_option(LenientDateTime)
}

/// A string sent as a JSON string or as a JSON integer (kept as its decimal text).
struct LenientString;

impl<'de> Visitor<'de> for LenientString {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or an integer")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        Ok(Some(value.to_owned()))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Self::Value, E> {
        Ok(Some(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
        Ok(Some(value.to_string()))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
        Ok(Some(value.to_string()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(LenientString)
    }
}

/// `Option<String>` from a string, an integer (its decimal text), or `null`.
pub(crate) fn opt_string_or_integer<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    deserializer.deserialize_option(LenientString)
}

/// One value or a list of them (`"CASHIER_PAYMENT"` or `["CASHIER_PAYMENT"]`), as a list.
#[derive(serde::Deserialize)]
#[serde(untagged)]
pub(crate) enum OneOrMany<T> {
    /// A list.
    Many(Vec<T>),
    /// A single value.
    One(T),
}

impl<T> From<OneOrMany<T>> for Vec<T> {
    fn from(value: OneOrMany<T>) -> Self {
        match value {
            OneOrMany::Many(list) => list,
            OneOrMany::One(one) => vec![one],
        }
    }
}

/// Resolves two spellings of one field: either may be given; both only when equal.
pub(crate) fn one_spelling<T: PartialEq>(
    documented: Option<T>,
    documented_name: &str,
    alternate: Option<T>,
    alternate_name: &str,
) -> Result<Option<T>, String> {
    match (documented, alternate) {
        (Some(a), Some(b)) if a != b => Err(format!(
            "`{documented_name}` and `{alternate_name}` are both present and differ"
        )),
        (Some(a), _) => Ok(Some(a)),
        (None, b) => Ok(b),
    }
}
