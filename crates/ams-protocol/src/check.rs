//! Request checks: the documented field rules (required, conditional, lengths, list sizes) as code that
//! both sides can run — a client before sending, a simulator on receipt.
//!
//! A request type that has checks implements [`Validate`]; [`Validate::validate`] returns the first
//! broken rule as a [`FieldError`] naming the field by its wire path (`merchantInfo.websites[0].url`)
//! and the rule ([`Rule`]). A simulator answers such a request with `PARAM_ILLEGAL`, using the error's
//! `Display` as the message.
//!
//! Only rules the protocol digest documents are checked. Where the digest says a length is UNKNOWN, no
//! limit is enforced (the field's doc comment says so). Lengths count Unicode scalar values
//! (`chars()`), as the existing validation of the other APIs does.

use std::fmt;

mod core_apis;

/// A documented rule a field breaks.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rule {
    /// The field is required and is missing or empty (whitespace only counts as empty).
    Required,
    /// The field is required when a condition holds (the condition as text, e.g. `splitOrder is true`).
    RequiredWhen(&'static str),
    /// The field, or one of these other fields, must be given (none of them is).
    AtLeastOneOf(&'static [&'static str]),
    /// The string is longer than this many characters.
    MaxChars(usize),
    /// The string's length is outside `min..=max` characters.
    CharsBetween(usize, usize),
    /// The list has more than this many items.
    MaxItems(usize),
    /// The list has fewer than this many items.
    MinItems(usize),
    /// The value is not an absolute `http://` or `https://` URL.
    Url,
    /// The value is not one of the documented values of the field.
    NotAllowed,
    /// The value breaks a documented rule of its form, said as text (e.g. `must be greater than 0`).
    Invalid(&'static str),
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Required => f.write_str("is required"),
            Rule::RequiredWhen(condition) => write!(f, "is required when {condition}"),
            Rule::AtLeastOneOf([other]) => write!(f, "or {other} is required"),
            Rule::AtLeastOneOf(fields) => {
                write!(f, "or one of {} is required", fields.join(", "))
            }
            Rule::MaxChars(max) => write!(f, "is longer than {max} characters"),
            Rule::CharsBetween(min, max) => {
                write!(f, "must be {min} to {max} characters long")
            }
            Rule::MaxItems(max) => write!(f, "has more than {max} items"),
            Rule::MinItems(min) => write!(f, "has fewer than {min} items"),
            Rule::Url => f.write_str("must be an absolute http(s) URL"),
            Rule::NotAllowed => f.write_str("has a value that is not documented for it"),
            Rule::Invalid(rule) => f.write_str(rule),
        }
    }
}

/// A field that breaks a documented rule: `"{field} {rule}"`, e.g.
/// `declarationRequestId must be 1 to 32 characters long`.
///
/// The message names the field and the rule, never the field's value (values can be personal data such
/// as a certificate number).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldError {
    field: String,
    rule: Rule,
}

impl FieldError {
    /// An error for `field` (its wire path) breaking `rule`.
    #[must_use]
    pub fn new(field: impl Into<String>, rule: Rule) -> Self {
        FieldError {
            field: field.into(),
            rule,
        }
    }

    /// The field's wire path, e.g. `merchantInfo.registrationDetail.attachments[1].file`.
    #[must_use]
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The broken rule.
    #[must_use]
    pub fn rule(&self) -> &Rule {
        &self.rule
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.field, self.rule)
    }
}

impl std::error::Error for FieldError {}

/// A request body with documented field rules.
pub trait Validate {
    /// Checks the documented rules; the first broken one is returned.
    ///
    /// # Errors
    ///
    /// A [`FieldError`] naming the field and the rule.
    fn validate(&self) -> Result<(), FieldError>;
}

pub(crate) type Checked = Result<(), FieldError>;

fn chars(value: &str) -> usize {
    value.chars().count()
}

pub(crate) fn max_chars(field: &str, value: &str, max: usize) -> Checked {
    if chars(value) > max {
        return Err(FieldError::new(field, Rule::MaxChars(max)));
    }
    Ok(())
}

pub(crate) fn required(field: &str, value: &str) -> Checked {
    if value.trim().is_empty() {
        return Err(FieldError::new(field, Rule::Required));
    }
    Ok(())
}

pub(crate) fn required_max(field: &str, value: &str, max: usize) -> Checked {
    required(field, value)?;
    max_chars(field, value, max)
}

pub(crate) fn optional_max(field: &str, value: Option<&str>, max: usize) -> Checked {
    value.map_or(Ok(()), |v| max_chars(field, v, max))
}

pub(crate) fn chars_between(field: &str, value: &str, min: usize, max: usize) -> Checked {
    required(field, value)?;
    let n = chars(value);
    if n < min || n > max {
        return Err(FieldError::new(field, Rule::CharsBetween(min, max)));
    }
    Ok(())
}

pub(crate) fn url(field: &str, value: &str, max: usize) -> Checked {
    required_max(field, value, max)?;
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.starts_with('/') && !value.contains(' ') => Ok(()),
        _ => Err(FieldError::new(field, Rule::Url)),
    }
}

pub(crate) fn items<T>(field: &str, list: &[T], min: usize, max: usize) -> Checked {
    if list.len() < min {
        return Err(FieldError::new(field, Rule::MinItems(min)));
    }
    if list.len() > max {
        return Err(FieldError::new(field, Rule::MaxItems(max)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_field_and_rule() {
        assert_eq!(
            FieldError::new("paymentId", Rule::MaxChars(64)).to_string(),
            "paymentId is longer than 64 characters"
        );
        assert_eq!(
            FieldError::new("suborderId", Rule::RequiredWhen("splitOrder is true")).to_string(),
            "suborderId is required when splitOrder is true"
        );
        assert_eq!(
            FieldError::new("a", Rule::AtLeastOneOf(&["b", "c"])).to_string(),
            "a or one of b, c is required"
        );
        assert_eq!(
            FieldError::new("paymentId", Rule::AtLeastOneOf(&["paymentRequestId"])).to_string(),
            "paymentId or paymentRequestId is required"
        );
        assert_eq!(
            FieldError::new("ids", Rule::CharsBetween(1, 32)).to_string(),
            "ids must be 1 to 32 characters long"
        );
    }

    #[test]
    fn helpers() {
        assert!(required("f", " ").is_err());
        assert!(max_chars("f", "ééé", 3).is_ok());
        assert!(max_chars("f", "éééé", 3).is_err());
        assert!(url("u", "https://a.example/x", 2048).is_ok());
        assert!(url("u", "http://a", 2048).is_ok());
        for bad in [
            "ftp://a",
            "https://",
            "https:///x",
            "a.example",
            "https://a b",
        ] {
            assert_eq!(url("u", bad, 2048).unwrap_err().rule(), &Rule::Url, "{bad}");
        }
        assert_eq!(
            items::<u8>("l", &[], 1, 10).unwrap_err().rule(),
            &Rule::MinItems(1)
        );
        assert_eq!(
            items("l", &[0u8; 11], 1, 10).unwrap_err().rule(),
            &Rule::MaxItems(10)
        );
    }
}
