//! Errors that say what was expected, what was found, and what was checked.
//!
//! Signature failures are the first wall every Alipay integration hits, mostly from key-role
//! confusion (product.md, pain point 1). These errors carry enough to tell the cases apart without
//! ever printing key material or message bodies.

use std::fmt;

/// A malformed `Signature` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderError {
    detail: String,
}

impl HeaderError {
    pub(crate) fn new(detail: impl Into<String>) -> Self {
        Self {
            detail: detail.into(),
        }
    }
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed Signature header: {}", self.detail)
    }
}

impl std::error::Error for HeaderError {}

/// The role a key plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyRole {
    /// A private key: the merchant's signing key (or the sandbox's Alipay key).
    Private,
    /// A public key: Alipay's (to verify responses and notifications) or the merchant's (registered
    /// with Alipay).
    Public,
}

/// The encodings we recognise, named for messages.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyFormat {
    /// PKCS#8 PrivateKeyInfo.
    Pkcs8,
    /// PKCS#8 EncryptedPrivateKeyInfo (password-protected).
    EncryptedPkcs8,
    /// PKCS#1 RSAPrivateKey.
    Pkcs1Private,
    /// X.509 SubjectPublicKeyInfo.
    Spki,
    /// PKCS#1 RSAPublicKey.
    Pkcs1Public,
    /// An X.509 certificate.
    Certificate,
}

impl fmt::Display for KeyFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pkcs8 => "a PKCS#8 private key",
            Self::EncryptedPkcs8 => "a password-protected PKCS#8 private key",
            Self::Pkcs1Private => "a PKCS#1 RSA private key",
            Self::Spki => "an X.509 SubjectPublicKeyInfo public key",
            Self::Pkcs1Public => "a PKCS#1 RSA public key",
            Self::Certificate => "an X.509 certificate",
        })
    }
}

/// Why a key could not be loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// The input was empty.
    Empty {
        /// What was expected.
        expected: KeyRole,
    },
    /// Neither PEM nor base64.
    NotPemOrBase64 {
        /// What was expected.
        expected: KeyRole,
        /// What was wrong with the text.
        detail: String,
    },
    /// Base64 or PEM that does not hold a key structure we know.
    NotAKey {
        /// What was expected.
        expected: KeyRole,
        /// What was found instead.
        detail: String,
    },
    /// A key of the wrong role: a public key where a private one belongs, or the reverse.
    WrongRole {
        /// What was expected.
        expected: KeyRole,
        /// What was found.
        found: KeyFormat,
    },
    /// A key structure of the right role that cannot be used as it is.
    Unusable {
        /// What was expected.
        expected: KeyRole,
        /// What was found.
        found: KeyFormat,
        /// Why it cannot be used.
        detail: String,
    },
    /// A key of another algorithm than RSA.
    NotRsa {
        /// What was expected.
        expected: KeyRole,
        /// The algorithm found.
        algorithm: String,
    },
    /// An RSA key outside the supported sizes (2048 to 8192 bits).
    BadSize {
        /// The modulus size found.
        bits: usize,
    },
    /// The crypto backend refused the key (for example an inconsistent private key).
    Rejected {
        /// The backend's reason.
        detail: String,
    },
}

impl KeyError {
    fn expected_text(role: KeyRole) -> &'static str {
        match role {
            KeyRole::Private => "an RSA private key (PKCS#8 or PKCS#1, as PEM or bare base64)",
            KeyRole::Public => {
                "an RSA public key (X.509 SubjectPublicKeyInfo, as PEM or bare base64)"
            }
        }
    }
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty { expected } => write!(
                f,
                "expected {}, found an empty input",
                Self::expected_text(*expected)
            ),
            Self::NotPemOrBase64 { expected, detail } => write!(
                f,
                "expected {}, found text that is neither PEM nor base64: {detail}",
                Self::expected_text(*expected)
            ),
            Self::NotAKey { expected, detail } => {
                write!(
                    f,
                    "expected {}, found {detail}",
                    Self::expected_text(*expected)
                )
            }
            Self::WrongRole { expected, found } => {
                write!(
                    f,
                    "expected {}, found {found}",
                    Self::expected_text(*expected)
                )?;
                match expected {
                    KeyRole::Private => f.write_str(
                        ": a public key is what you register with Alipay (or Alipay's key, for verifying); \
                         signing needs the private key you generated and kept",
                    ),
                    KeyRole::Public => f.write_str(
                        ": this is a private key; verifying needs a public key (for responses and \
                         notifications, Alipay's public key from the dashboard, not your own). \
                         Never configure a private key where a public key belongs",
                    ),
                }
            }
            Self::Unusable {
                expected,
                found,
                detail,
            } => {
                write!(
                    f,
                    "expected {}, found {found}: {detail}",
                    Self::expected_text(*expected)
                )
            }
            Self::NotRsa {
                expected,
                algorithm,
            } => write!(
                f,
                "expected {}, found a key of another algorithm ({algorithm}); AMS signs with RSA256 only",
                Self::expected_text(*expected)
            ),
            Self::BadSize { bits } => write!(
                f,
                "the RSA key has {bits} bits; AMS keys must have 2048 to 8192 bits (2048 is what Alipay issues)"
            ),
            Self::Rejected { detail } => write!(f, "the RSA key was rejected: {detail}"),
        }
    }
}

impl std::error::Error for KeyError {}

/// A signing failure (rare: the key was already validated when loaded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignError {
    detail: String,
}

impl SignError {
    pub(crate) fn new(detail: impl Into<String>) -> Self {
        Self {
            detail: detail.into(),
        }
    }
}

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "signing failed: {}", self.detail)
    }
}

impl std::error::Error for SignError {}

/// What a verification looked at. Enough to tell a wrong key from a changed message, with no key
/// material or body bytes in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    /// `sha256:<hex>` of the public key's SubjectPublicKeyInfo DER (see `PublicKey::fingerprint`).
    pub key_fingerprint: String,
    /// The `keyVersion` the header named, if any.
    pub header_key_version: Option<u32>,
    /// The algorithm the header named.
    pub algorithm: String,
    /// The signed content's method and URI, e.g. `POST /ams/api/v1/payments/pay`.
    pub request_line: String,
    /// The client id that was part of the content.
    pub client_id: String,
    /// The time string that was part of the content.
    pub time: String,
    /// The length of the body in bytes.
    pub body_len: usize,
    /// Lowercase hex SHA-256 of the whole signed content.
    pub content_sha256: String,
}

impl fmt::Display for Checked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "checked {} with public key {} (header keyVersion {}) over `{}` for client-id {:?}, time {:?}, \
             a {}-byte body; signed content sha256 {}",
            self.algorithm,
            self.key_fingerprint,
            self.header_key_version
                .map_or_else(|| "absent".to_owned(), |v| v.to_string()),
            self.request_line,
            self.client_id,
            self.time,
            self.body_len,
            self.content_sha256
        )
    }
}

/// Why a signature did not verify.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyErrorKind {
    /// A well-formed signature that does not match: wrong key, or changed content.
    Mismatch,
    /// The signature cannot be a signature by this key (wrong length for the key size).
    Malformed {
        /// What is wrong with it.
        detail: String,
    },
    /// The header names an algorithm other than RSA256.
    UnsupportedAlgorithm,
}

/// A failed verification, with what was checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyError {
    kind: VerifyErrorKind,
    checked: Box<Checked>,
}

impl VerifyError {
    pub(crate) fn new(kind: VerifyErrorKind, checked: Checked) -> Self {
        Self {
            kind,
            checked: Box::new(checked),
        }
    }

    /// Why it failed.
    pub fn kind(&self) -> &VerifyErrorKind {
        &self.kind
    }

    /// What was checked.
    pub fn checked(&self) -> &Checked {
        &self.checked
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            VerifyErrorKind::Mismatch => write!(
                f,
                "signature does not match: {}. A wrong key and a changed message fail alike: compare the key \
                 fingerprint with the key you expect (Alipay's, not your own), and the content hash with the \
                 signer's (path, client-id, time and body must be the exact bytes signed)",
                self.checked
            ),
            VerifyErrorKind::Malformed { detail } => {
                write!(f, "signature is malformed ({detail}): {}", self.checked)
            }
            VerifyErrorKind::UnsupportedAlgorithm => write!(
                f,
                "unsupported signature algorithm {:?} (only RSA256): {}",
                self.checked.algorithm, self.checked
            ),
        }
    }
}

impl std::error::Error for VerifyError {}
