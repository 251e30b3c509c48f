//! The `Signature` header: `algorithm=RSA256,keyVersion=1,signature=<url-encoded base64>`.
//!
//! Formatting follows what every official SDK parser accepts (digest §1.5, §2.3): no spaces, the
//! signature third, its base64 form-URL-encoded with uppercase hex so it holds no raw `=` or `+`.
//! Parsing is lenient: spaces after commas, any field order, unknown extra fields, upper- or
//! lowercase hex escapes, and even raw (unencoded) base64 are accepted.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::error::HeaderError;

/// Standard alphabet, padding written on output, optional on input.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The signature algorithm named in the header.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// `RSA256`: RSASSA-PKCS1-v1_5 with SHA-256, the only algorithm of the AMS APIs.
    Rsa256,
    /// Anything else, kept verbatim; verification refuses it.
    Unknown(String),
}

impl Algorithm {
    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Rsa256 => "RSA256",
            Self::Unknown(other) => other,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for Algorithm {
    fn from(value: &str) -> Self {
        if value.eq_ignore_ascii_case("RSA256") {
            Self::Rsa256
        } else {
            Self::Unknown(value.to_owned())
        }
    }
}

/// The `keyVersion` of the header: which of the client's keys signed. SDKs default to `1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyVersion(u32);

impl KeyVersion {
    /// Version 1, every SDK's default.
    pub const DEFAULT: Self = Self(1);

    /// A key version.
    pub const fn new(version: u32) -> Self {
        Self(version)
    }

    /// The number.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl Default for KeyVersion {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Display for KeyVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for KeyVersion {
    type Err = HeaderError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim()
            .parse::<u32>()
            .map(Self)
            .map_err(|_| HeaderError::new(format!("keyVersion {s:?} is not a whole number")))
    }
}

/// A parsed or to-be-sent `Signature` header.
///
/// ```
/// use ams_signing::{Algorithm, SignatureHeader};
///
/// let header: SignatureHeader = "keyVersion=2, signature=AAEC%2b%2F%2b%2f, algorithm=RSA256".parse().unwrap();
/// assert_eq!(header.algorithm(), &Algorithm::Rsa256);
/// assert_eq!(header.key_version().map(|v| v.get()), Some(2));
/// assert_eq!(header.to_string(), "algorithm=RSA256,keyVersion=2,signature=AAEC%2B%2F%2B%2F");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SignatureHeader {
    algorithm: Algorithm,
    key_version: Option<KeyVersion>,
    signature_b64: String,
}

impl SignatureHeader {
    /// A header for raw signature bytes.
    pub fn new(algorithm: Algorithm, key_version: KeyVersion, signature: &[u8]) -> Self {
        Self {
            algorithm,
            key_version: Some(key_version),
            signature_b64: BASE64.encode(signature),
        }
    }

    /// The algorithm (`RSA256` when the header did not name one).
    pub fn algorithm(&self) -> &Algorithm {
        &self.algorithm
    }

    /// The key version, if the header carried one.
    pub fn key_version(&self) -> Option<KeyVersion> {
        self.key_version
    }

    /// The signature as standard base64 (not URL-encoded).
    pub fn signature_base64(&self) -> &str {
        &self.signature_b64
    }

    /// The signature as URL-encoded base64, as it appears after `signature=`.
    pub fn signature_urlencoded(&self) -> String {
        url_encode(&self.signature_b64)
    }

    /// The raw signature bytes.
    ///
    /// # Errors
    /// When the base64 in the header is malformed.
    pub fn signature_bytes(&self) -> Result<Vec<u8>, HeaderError> {
        BASE64
            .decode(&self.signature_b64)
            .map_err(|e| HeaderError::new(format!("the signature is not valid base64 ({e})")))
    }
}

impl fmt::Display for SignatureHeader {
    /// `algorithm=RSA256,keyVersion=N,signature=...`: the signature third, URL-encoded.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "algorithm={},keyVersion={},signature={}",
            self.algorithm,
            self.key_version.unwrap_or_default(),
            self.signature_urlencoded()
        )
    }
}

impl fmt::Debug for SignatureHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignatureHeader")
            .field("algorithm", &self.algorithm)
            .field("key_version", &self.key_version)
            .field("signature_base64", &self.signature_b64)
            .finish()
    }
}

impl FromStr for SignatureHeader {
    type Err = HeaderError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let value = value.trim();
        if value.is_empty() {
            return Err(HeaderError::new("the Signature header is empty"));
        }
        let mut algorithm = None;
        let mut key_version = None;
        let mut signature = None;
        for part in value.split(',') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let Some((name, field)) = part.split_once('=') else {
                return Err(HeaderError::new(format!(
                    "Signature header field {part:?} is not name=value"
                )));
            };
            let name = name.trim();
            let field = field.trim();
            if name.eq_ignore_ascii_case("algorithm") {
                set_once(&mut algorithm, Algorithm::from(field), "algorithm")?;
            } else if name.eq_ignore_ascii_case("keyVersion") {
                set_once(&mut key_version, field.parse::<KeyVersion>()?, "keyVersion")?;
            } else if name.eq_ignore_ascii_case("signature") {
                set_once(&mut signature, url_decode(field)?, "signature")?;
            }
            // Unknown fields are tolerated: the header may grow.
        }
        let Some(signature) = signature else {
            return Err(HeaderError::new(format!(
                "the Signature header has no signature= field (got {:?})",
                truncate(value, 80)
            )));
        };
        // A space inside can only be a `+` that went through a form decoder on its way here.
        let signature_b64: String = signature
            .chars()
            .map(|c| if c == ' ' { '+' } else { c })
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        if signature_b64.is_empty() {
            return Err(HeaderError::new(
                "the signature= field of the Signature header is empty",
            ));
        }
        BASE64
            .decode(&signature_b64)
            .map_err(|e| HeaderError::new(format!("the signature is not valid base64 ({e})")))?;
        Ok(Self {
            algorithm: algorithm.unwrap_or(Algorithm::Rsa256),
            key_version,
            signature_b64,
        })
    }
}

fn set_once<T>(slot: &mut Option<T>, value: T, name: &str) -> Result<(), HeaderError> {
    if slot.replace(value).is_some() {
        return Err(HeaderError::new(format!(
            "the Signature header has {name} twice"
        )));
    }
    Ok(())
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Form-URL-encodes base64 text: only `+`, `/` and `=` need escaping, with uppercase hex as
/// Python's `quote_plus` and Java's `URLEncoder` write them.
fn url_encode(b64: &str) -> String {
    let mut out = String::with_capacity(b64.len() + 16);
    for c in b64.chars() {
        match c {
            '+' => out.push_str("%2B"),
            '/' => out.push_str("%2F"),
            '=' => out.push_str("%3D"),
            other => out.push(other),
        }
    }
    out
}

/// Decodes `%XX` escapes in either case. A `+` stays a `+`: base64 never holds a space, so a
/// `+` can only be a raw base64 character from a signer that forgot to URL-encode.
fn url_decode(field: &str) -> Result<String, HeaderError> {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let escape = bytes.get(i + 1..i + 3).and_then(|h| {
                let hi = char::from(h[0]).to_digit(16)?;
                let lo = char::from(h[1]).to_digit(16)?;
                u8::try_from(hi * 16 + lo).ok()
            });
            let Some(byte) = escape else {
                return Err(HeaderError::new(format!(
                    "the signature has a malformed %-escape at byte {i}"
                )));
            };
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map_err(|_| HeaderError::new("the signature is not UTF-8 after URL-decoding"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_the_sdks() {
        let h = SignatureHeader::new(
            Algorithm::Rsa256,
            KeyVersion::new(1),
            &[0xfb, 0xff, 0xbf, 0x01],
        );
        assert_eq!(h.signature_base64(), "+/+/AQ==");
        assert_eq!(
            h.to_string(),
            "algorithm=RSA256,keyVersion=1,signature=%2B%2F%2B%2FAQ%3D%3D"
        );
    }

    #[test]
    fn parses_leniently() {
        let expected = vec![0xfb, 0xff, 0xbf, 0x01];
        for text in [
            "algorithm=RSA256,keyVersion=1,signature=%2B%2F%2B%2FAQ%3D%3D",
            "algorithm=RSA256, keyVersion=1, signature=%2b%2f%2b%2fAQ%3d%3d",
            "signature=%2B%2F%2B%2FAQ%3D%3D,keyVersion=1,algorithm=RSA256",
            "algorithm=RSA256,keyVersion=1,signature=+/+/AQ==",
            "signature=+/+/AQ",
            "signature=+/ /AQ==",
            "algorithm=RSA256,keyVersion=1,signature=%2B%2F%2B%2FAQ%3D%3D,extra=1,",
        ] {
            let h: SignatureHeader = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(h.signature_bytes().expect("decodes"), expected, "{text}");
            assert_eq!(h.algorithm(), &Algorithm::Rsa256);
        }
    }

    #[test]
    fn refuses_malformed_headers_with_reasons() {
        for (text, says) in [
            ("", "empty"),
            ("algorithm=RSA256,keyVersion=1", "no signature= field"),
            (
                "algorithm=RSA256,keyVersion=x,signature=AA",
                "keyVersion \"x\"",
            ),
            ("signature=%ZZ", "malformed %-escape"),
            ("signature=", "is empty"),
            ("signature=***", "not valid base64"),
            ("signature=AA,signature=AA", "signature twice"),
            ("garbage", "not name=value"),
        ] {
            let err = text.parse::<SignatureHeader>().expect_err(text).to_string();
            assert!(
                err.contains(says),
                "{text:?} gave {err:?}, expected it to say {says:?}"
            );
        }
    }

    #[test]
    fn unknown_algorithm_is_kept() {
        let h: SignatureHeader = "algorithm=ECC224,signature=AA==".parse().expect("parses");
        assert_eq!(h.algorithm(), &Algorithm::Unknown("ECC224".into()));
        assert_eq!(h.key_version(), None);
    }
}
