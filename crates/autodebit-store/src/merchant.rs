//! Merchants (tenants). One database serves several merchants; every business row carries its
//! `merchant_id`, and a [`crate::SqlStore`] handle reads and writes one merchant's rows only
//! ([`crate::SqlStore::for_merchant`]). Rows written before merchants existed belong to
//! [`DEFAULT_MERCHANT`].

use std::fmt;

/// The merchant of a store opened without [`crate::StoreOptions::merchant`], and of every row
/// written before schema 3.
pub const DEFAULT_MERCHANT: &str = "default";

/// The longest merchant id.
const MAX_LEN: usize = 63;

/// A merchant id that is not one: 1–63 characters of `a`–`z`, `0`–`9`, `_` and `-`, starting with
/// a letter or a digit.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "merchant id {shown}: {why}; use 1-63 of a-z, 0-9, '_' and '-', starting with a letter or digit"
)]
pub struct InvalidMerchant {
    /// The id as given, quoted and cut short (it may come from a request).
    shown: String,
    why: &'static str,
}

impl fmt::Debug for InvalidMerchant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InvalidMerchant({self})")
    }
}

/// Checks a merchant id.
pub(crate) fn check(id: &str) -> Result<(), InvalidMerchant> {
    let refuse = |why| {
        let cut: String = id.chars().take(MAX_LEN + 1).collect();
        Err(InvalidMerchant {
            shown: format!("{cut:?}{}", if cut.len() < id.len() { "…" } else { "" }),
            why,
        })
    };
    if id.is_empty() {
        return refuse("it is empty");
    }
    if id.len() > MAX_LEN {
        return refuse("it is longer than 63 characters");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        return refuse("it holds a character other than a-z, 0-9, '_' and '-'");
    }
    if !id
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        return refuse("it does not start with a letter or a digit");
    }
    Ok(())
}

/// What a sealed value of `merchant`'s row binds besides its table, column and row: nothing for
/// [`DEFAULT_MERCHANT`] (the encoding of the values sealed before merchants existed), the merchant
/// otherwise.
pub(crate) fn scope(merchant: &str) -> Option<&str> {
    (merchant != DEFAULT_MERCHANT).then_some(merchant)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merchant_ids_are_short_lowercase_names() {
        for good in ["default", "m1", "0", "acme-eu_2", &"a".repeat(63)] {
            assert_eq!(check(good), Ok(()), "{good}");
        }
        for (bad, why) in [
            ("", "empty"),
            (&*"a".repeat(64), "longer than 63"),
            ("Acme", "other than"),
            ("acme corp", "other than"),
            ("acmé", "other than"),
            ("a/b", "other than"),
            ("-acme", "does not start"),
            ("_acme", "does not start"),
        ] {
            let err = check(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad:?}: {err}");
            assert!(err.contains("use 1-63 of a-z"), "{err}");
        }
        let long = format!("{}'; drop table x", "b".repeat(100));
        let err = check(&long).unwrap_err().to_string();
        assert!(!err.contains("drop table"), "cut short: {err}");
    }
}
