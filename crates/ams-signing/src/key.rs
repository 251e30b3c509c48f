//! RSA keys: loading from PEM or bare base64 (PKCS#8, PKCS#1, SPKI), fingerprints, generation.
//!
//! Loading sniffs the DER structure first, so a key in the wrong role or format gets an error that
//! names what was expected and what was found. Keys are normalised to PKCS#8 (private) and
//! SubjectPublicKeyInfo (public) before a backend parses them.

use std::fmt;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use sha2::{Digest as _, Sha256};

use crate::backend::{self, Backend, PrivateEngine, PublicEngine};
use crate::content::{SignedContent, hex};
use crate::der::{self, DerKind, KeyAlgorithm};
use crate::error::{
    Checked, KeyError, KeyFormat, KeyRole, SignError, VerifyError, VerifyErrorKind,
};
use crate::header::{Algorithm, KeyVersion, SignatureHeader};

const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

const MIN_BITS: usize = 2048;
const MAX_BITS: usize = 8192;

/// Decodes PEM or bare base64 (one line or wrapped) into DER.
fn decode_text(text: &str, expected: KeyRole) -> Result<Vec<u8>, KeyError> {
    // Keys pasted from JSON or an environment variable often carry literal `\n` escapes.
    let unescaped;
    let text = if text.contains("\\n") {
        unescaped = text.replace("\\r", "").replace("\\n", "\n");
        unescaped.as_str()
    } else {
        text
    };
    let text = text.trim_start_matches('\u{feff}').trim();
    if text.is_empty() {
        return Err(KeyError::Empty { expected });
    }
    if let Some(begin) = text.find("-----BEGIN ") {
        return decode_pem(&text[begin..], expected);
    }
    decode_base64(text, expected)
}

fn decode_pem(text: &str, expected: KeyRole) -> Result<Vec<u8>, KeyError> {
    let bad = |detail: String| KeyError::NotPemOrBase64 { expected, detail };
    let after_begin = &text["-----BEGIN ".len()..];
    let Some(label_end) = after_begin.find("-----") else {
        return Err(bad("the PEM BEGIN line is not closed with -----".into()));
    };
    let label = after_begin[..label_end].trim();
    let body_start = &after_begin[label_end + 5..];
    let end_marker = format!("-----END {label}-----");
    let Some(end) = body_start.find(&end_marker) else {
        return Err(bad(format!(
            "the PEM block has no matching {end_marker:?} line"
        )));
    };
    let body = &body_start[..end];
    if body.contains("ENCRYPTED") {
        return Err(KeyError::Unusable {
            expected,
            found: KeyFormat::Pkcs1Private,
            detail: "it is encrypted with a passphrase; decrypt it first (`openssl pkey -in key.pem -out plain.pem`)".into(),
        });
    }
    // Legacy PEM headers ("Name: value") come before a blank line; skip them.
    let base64_body: String = body
        .lines()
        .filter(|line| !line.contains(':'))
        .collect::<Vec<_>>()
        .concat();
    decode_base64(&base64_body, expected)
}

fn decode_base64(text: &str, expected: KeyRole) -> Result<Vec<u8>, KeyError> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if let Some((offset, c)) = compact
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=')))
    {
        let hint = if compact.starts_with('/')
            || compact.ends_with(".pem")
            || compact.ends_with(".txt")
        {
            " (it looks like a file path: pass the file's contents, or the option that takes a file)"
        } else {
            ""
        };
        return Err(KeyError::NotPemOrBase64 {
            expected,
            detail: format!("character {c:?} at offset {offset} is not base64{hint}"),
        });
    }
    if compact.len() >= 64
        && compact.len().is_multiple_of(2)
        && compact.chars().all(|c| c.is_ascii_hexdigit())
    {
        return Err(KeyError::NotPemOrBase64 {
            expected,
            detail: "it looks like hex; AMS keys are base64 (or PEM)".into(),
        });
    }
    BASE64_LENIENT
        .decode(compact.as_bytes())
        .map_err(|e| KeyError::NotPemOrBase64 {
            expected,
            detail: format!("invalid base64 ({e})"),
        })
}

fn check_bits(pkcs1: &[u8]) -> Result<usize, KeyError> {
    let bits = der::pkcs1_modulus_bits(pkcs1).ok_or_else(|| KeyError::Rejected {
        detail: "the RSA modulus cannot be read".into(),
    })?;
    if !(MIN_BITS..=MAX_BITS).contains(&bits) {
        return Err(KeyError::BadSize { bits });
    }
    Ok(bits)
}

fn not_a_key(expected: KeyRole, der: &[u8]) -> KeyError {
    KeyError::NotAKey {
        expected,
        detail: format!(
            "{} bytes that are not a DER key structure (PKCS#8, PKCS#1 or SubjectPublicKeyInfo)",
            der.len()
        ),
    }
}

/// Normalises private-key DER to PKCS#8 and returns it with the PKCS#1 inner key.
fn normalise_private(der: Vec<u8>) -> Result<(Vec<u8>, Vec<u8>), KeyError> {
    let expected = KeyRole::Private;
    match der::classify(&der) {
        Some(DerKind::Pkcs8 {
            algorithm: KeyAlgorithm::Rsa,
        }) => {
            let inner = der::pkcs8_inner(&der)
                .ok_or_else(|| not_a_key(expected, &der))?
                .to_vec();
            Ok((der, inner))
        }
        Some(DerKind::Pkcs1Private) => Ok((der::pkcs1_private_to_pkcs8(&der), der)),
        Some(DerKind::Pkcs8 {
            algorithm: KeyAlgorithm::Other(algorithm),
        }) => Err(KeyError::NotRsa {
            expected,
            algorithm,
        }),
        Some(DerKind::EncryptedPkcs8) => Err(KeyError::Unusable {
            expected,
            found: KeyFormat::EncryptedPkcs8,
            detail: "decrypt it first (`openssl pkcs8 -in key.pem -out plain.pem`)".into(),
        }),
        Some(DerKind::Spki { .. }) => Err(KeyError::WrongRole {
            expected,
            found: KeyFormat::Spki,
        }),
        Some(DerKind::Pkcs1Public) => Err(KeyError::WrongRole {
            expected,
            found: KeyFormat::Pkcs1Public,
        }),
        Some(DerKind::Certificate) => Err(KeyError::WrongRole {
            expected,
            found: KeyFormat::Certificate,
        }),
        None => Err(not_a_key(expected, &der)),
    }
}

/// Normalises public-key DER to SubjectPublicKeyInfo and returns it with the PKCS#1 inner key.
fn normalise_public(der: Vec<u8>) -> Result<(Vec<u8>, Vec<u8>), KeyError> {
    let expected = KeyRole::Public;
    match der::classify(&der) {
        Some(DerKind::Spki {
            algorithm: KeyAlgorithm::Rsa,
        }) => {
            let inner = der::spki_inner(&der)
                .ok_or_else(|| not_a_key(expected, &der))?
                .to_vec();
            Ok((der, inner))
        }
        Some(DerKind::Pkcs1Public) => Ok((der::pkcs1_public_to_spki(&der), der)),
        Some(DerKind::Spki {
            algorithm: KeyAlgorithm::Other(algorithm),
        }) => Err(KeyError::NotRsa {
            expected,
            algorithm,
        }),
        Some(DerKind::Certificate) => Err(KeyError::Unusable {
            expected,
            found: KeyFormat::Certificate,
            detail: "take its public key out first (`openssl x509 -in cert.pem -pubkey -noout`)"
                .into(),
        }),
        Some(DerKind::Pkcs8 { .. }) => Err(KeyError::WrongRole {
            expected,
            found: KeyFormat::Pkcs8,
        }),
        Some(DerKind::Pkcs1Private) => Err(KeyError::WrongRole {
            expected,
            found: KeyFormat::Pkcs1Private,
        }),
        Some(DerKind::EncryptedPkcs8) => Err(KeyError::WrongRole {
            expected,
            found: KeyFormat::EncryptedPkcs8,
        }),
        None => Err(not_a_key(expected, &der)),
    }
}

fn fingerprint_of(spki: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(spki)))
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = BASE64_LENIENT.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        // Base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// An RSA private key that signs. Its `Debug` shows the backend, size and public fingerprint only.
pub struct PrivateKey {
    engine: PrivateEngine,
    public: PublicKey,
}

impl PrivateKey {
    /// Loads a private key from PEM or bare base64 (PKCS#8 or PKCS#1), on the default backend.
    ///
    /// # Errors
    /// A [`KeyError`] that says what was expected and what was found.
    pub fn from_text(text: &str) -> Result<Self, KeyError> {
        Self::from_text_with(Backend::default(), text)
    }

    /// Like [`Self::from_text`], on a chosen backend.
    ///
    /// # Errors
    /// A [`KeyError`] that says what was expected and what was found.
    pub fn from_text_with(backend: Backend, text: &str) -> Result<Self, KeyError> {
        Self::from_der_with(backend, decode_text(text, KeyRole::Private)?)
    }

    /// Loads a private key from DER bytes (PKCS#8 or PKCS#1).
    ///
    /// # Errors
    /// A [`KeyError`] that says what was expected and what was found.
    pub fn from_der_with(backend: Backend, der: impl Into<Vec<u8>>) -> Result<Self, KeyError> {
        let (pkcs8, pkcs1) = normalise_private(der.into())?;
        check_bits(&pkcs1)?;
        let public_pkcs1 =
            der::pkcs1_private_to_public(&pkcs1).ok_or_else(|| KeyError::Rejected {
                detail: "the public part of the private key cannot be read".into(),
            })?;
        let public = PublicKey::from_der_with(backend, public_pkcs1)?;
        let engine = PrivateEngine::from_pkcs8(backend, &pkcs8)
            .map_err(|detail| KeyError::Rejected { detail })?;
        Ok(Self { engine, public })
    }

    /// The matching public key (what the merchant registers with Alipay).
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The fingerprint of the matching public key: `sha256:<hex>` of its SubjectPublicKeyInfo DER.
    pub fn fingerprint(&self) -> &str {
        self.public.fingerprint()
    }

    /// The modulus size in bits.
    pub fn bits(&self) -> usize {
        self.public.bits
    }

    /// The backend doing the work.
    pub fn backend(&self) -> Backend {
        self.public.backend
    }

    /// Signs raw bytes with RSASSA-PKCS1-v1_5 / SHA-256.
    ///
    /// # Errors
    /// Only when the backend fails, which a validated key does not do in practice.
    pub fn sign_bytes(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        self.engine.sign(message).map_err(SignError::new)
    }

    /// Signs the content of a request, response or notification and returns the header.
    ///
    /// # Errors
    /// Only when the backend fails, which a validated key does not do in practice.
    pub fn sign(
        &self,
        content: &SignedContent<'_>,
        key_version: KeyVersion,
    ) -> Result<SignatureHeader, SignError> {
        let signature = self.sign_bytes(&content.to_bytes())?;
        Ok(SignatureHeader::new(
            Algorithm::Rsa256,
            key_version,
            &signature,
        ))
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("backend", &self.public.backend)
            .field("bits", &self.public.bits)
            .field("public_fingerprint", &self.public.fingerprint)
            .finish_non_exhaustive()
    }
}

/// An RSA public key that verifies.
///
/// `Clone` is cheap enough for set-up code (the key is a few hundred bytes): give the same key to
/// a sandbox and to a client without a trip through PEM.
#[derive(Clone)]
pub struct PublicKey {
    engine: PublicEngine,
    backend: Backend,
    spki: Vec<u8>,
    fingerprint: String,
    bits: usize,
}

impl PublicKey {
    /// Loads a public key from PEM or bare base64 (SubjectPublicKeyInfo; PKCS#1 RSAPublicKey is
    /// accepted too), on the default backend.
    ///
    /// # Errors
    /// A [`KeyError`] that says what was expected and what was found.
    pub fn from_text(text: &str) -> Result<Self, KeyError> {
        Self::from_text_with(Backend::default(), text)
    }

    /// Like [`Self::from_text`], on a chosen backend.
    ///
    /// # Errors
    /// A [`KeyError`] that says what was expected and what was found.
    pub fn from_text_with(backend: Backend, text: &str) -> Result<Self, KeyError> {
        Self::from_der_with(backend, decode_text(text, KeyRole::Public)?)
    }

    /// Loads a public key from DER bytes (SubjectPublicKeyInfo or PKCS#1 RSAPublicKey).
    ///
    /// # Errors
    /// A [`KeyError`] that says what was expected and what was found.
    pub fn from_der_with(backend: Backend, der: impl Into<Vec<u8>>) -> Result<Self, KeyError> {
        let (spki, pkcs1) = normalise_public(der.into())?;
        let bits = check_bits(&pkcs1)?;
        let engine = PublicEngine::from_spki(backend, &spki)
            .map_err(|detail| KeyError::Rejected { detail })?;
        Ok(Self {
            engine,
            backend,
            fingerprint: fingerprint_of(&spki),
            spki,
            bits,
        })
    }

    /// `sha256:<hex>` of the SubjectPublicKeyInfo DER; the same as
    /// `openssl pkey -pubin -in key.pem -outform DER | sha256sum`.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The modulus size in bits.
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// The backend doing the work.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The SubjectPublicKeyInfo DER.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// Bare base64 of the SubjectPublicKeyInfo DER, on one line: what Alipay's dashboard takes.
    pub fn to_base64(&self) -> String {
        BASE64_LENIENT.encode(&self.spki)
    }

    /// PEM (`BEGIN PUBLIC KEY`).
    pub fn to_pem(&self) -> String {
        pem("PUBLIC KEY", &self.spki)
    }

    /// Whether `signature` is a valid signature of `message` by this key.
    pub fn verify_bytes(&self, message: &[u8], signature: &[u8]) -> bool {
        self.engine.verify(message, signature)
    }

    /// Verifies a `Signature` header over the content of a request, response or notification.
    ///
    /// # Errors
    /// A [`VerifyError`] saying why, and what was checked (key fingerprint, key version, hash of
    /// the signed content), so a wrong key can be told from a changed message.
    pub fn verify(
        &self,
        content: &SignedContent<'_>,
        header: &SignatureHeader,
    ) -> Result<(), VerifyError> {
        let bytes = content.to_bytes();
        let checked = || Checked {
            key_fingerprint: self.fingerprint.clone(),
            header_key_version: header.key_version().map(KeyVersion::get),
            algorithm: header.algorithm().to_string(),
            request_line: format!("{} {}", content.method(), content.uri()),
            client_id: content.client_id().to_owned(),
            time: content.time().to_owned(),
            body_len: content.body().len(),
            content_sha256: hex(&Sha256::digest(&bytes)),
        };
        if header.algorithm() != &Algorithm::Rsa256 {
            return Err(VerifyError::new(
                VerifyErrorKind::UnsupportedAlgorithm,
                checked(),
            ));
        }
        let signature = header.signature_bytes().map_err(|e| {
            VerifyError::new(
                VerifyErrorKind::Malformed {
                    detail: e.to_string(),
                },
                checked(),
            )
        })?;
        let expected_len = self.bits.div_ceil(8);
        if signature.len() != expected_len {
            return Err(VerifyError::new(
                VerifyErrorKind::Malformed {
                    detail: format!(
                        "it is {} bytes; a {}-bit key makes {expected_len}-byte signatures",
                        signature.len(),
                        self.bits
                    ),
                },
                checked(),
            ));
        }
        if self.engine.verify(&bytes, &signature) {
            Ok(())
        } else {
            Err(VerifyError::new(VerifyErrorKind::Mismatch, checked()))
        }
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("backend", &self.backend)
            .field("bits", &self.bits)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl PartialEq for PublicKey {
    /// Two public keys are equal when their SubjectPublicKeyInfo DER is.
    fn eq(&self, other: &Self) -> bool {
        self.spki == other.spki
    }
}

impl Eq for PublicKey {}

/// A newly generated key pair, with the encodings the `autodebit keys generate` command writes.
///
/// The private key's bytes are wiped when this value is dropped; `Debug` never shows them.
///
/// A key for a test or a first run, made in-process (no file from this repository needed): keep
/// the private key for the client and give the public one to whoever verifies (a sandbox, or
/// Alipay's Dashboard as [`PublicKey::to_base64`]).
///
/// ```
/// use ams_signing::{Backend, GeneratedKeyPair, KeyVersion, PrivateKey, PublicKey, SignedContent};
///
/// let pair = GeneratedKeyPair::generate(Backend::default(), 2048)?;
/// let public: PublicKey = pair.public_key().clone(); // e.g. for `Sandbox::builder().merchant(..)`
/// let private: PrivateKey = pair.into_private_key(); // e.g. for `AmsClient::builder().merchant_key(..)`
///
/// let content = SignedContent::request("/ams/api/v1/payments/pay", "5X00000000000000", "1685599933871", b"{}");
/// let header = private.sign(&content, KeyVersion::DEFAULT)?;
/// public.verify(&content, &header)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct GeneratedKeyPair {
    pkcs8: WipedDer,
    private: PrivateKey,
}

/// PKCS#8 DER bytes, zeroed when dropped.
struct WipedDer(Vec<u8>);

impl Drop for WipedDer {
    fn drop(&mut self) {
        for byte in &mut self.0 {
            *byte = 0;
        }
        std::hint::black_box(&self.0);
    }
}

impl GeneratedKeyPair {
    /// Generates a new RSA key pair of `bits` (2048, 3072, 4096 or 8192) on a backend.
    ///
    /// # Errors
    /// When the size is not supported or the backend fails.
    pub fn generate(backend: Backend, bits: usize) -> Result<Self, KeyError> {
        let pkcs8 = backend::generate_pkcs8(backend, bits)
            .map_err(|detail| KeyError::Rejected { detail })?;
        let pkcs8 = WipedDer(pkcs8);
        let private = PrivateKey::from_der_with(backend, pkcs8.0.clone())?;
        Ok(Self { pkcs8, private })
    }

    /// The private key, kept; the encoded copies of it are wiped. For handing the key to a client
    /// that takes a [`PrivateKey`] by value (clone the [`public_key`](Self::public_key) first if
    /// you need it too).
    #[must_use]
    pub fn into_private_key(self) -> PrivateKey {
        self.private
    }

    /// The private key, ready to sign.
    pub fn private_key(&self) -> &PrivateKey {
        &self.private
    }

    /// The public key.
    pub fn public_key(&self) -> &PublicKey {
        self.private.public_key()
    }

    /// The private key as PKCS#8 PEM (`BEGIN PRIVATE KEY`).
    ///
    /// **Secret**: write it only where the merchant's private key belongs.
    pub fn private_pkcs8_pem(&self) -> String {
        pem("PRIVATE KEY", &self.pkcs8.0)
    }

    /// The private key as bare base64 of its PKCS#8 DER, one line: what the official SDKs take.
    ///
    /// **Secret**: write it only where the merchant's private key belongs.
    pub fn private_pkcs8_base64(&self) -> String {
        BASE64_LENIENT.encode(&self.pkcs8.0)
    }

    /// The private key as PKCS#1 PEM (`BEGIN RSA PRIVATE KEY`), for tools that want the older form.
    ///
    /// **Secret**: write it only where the merchant's private key belongs.
    pub fn private_pkcs1_pem(&self) -> String {
        pem(
            "RSA PRIVATE KEY",
            der::pkcs8_inner(&self.pkcs8.0).unwrap_or_default(),
        )
    }

    /// The private key as bare base64 of its PKCS#1 DER, one line.
    ///
    /// **Secret**: write it only where the merchant's private key belongs.
    pub fn private_pkcs1_base64(&self) -> String {
        BASE64_LENIENT.encode(der::pkcs8_inner(&self.pkcs8.0).unwrap_or_default())
    }
}

impl fmt::Debug for GeneratedKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedKeyPair")
            .field("private", &self.private)
            .finish_non_exhaustive()
    }
}

/// A private key and the key version it is registered under: signs requests (or, in a simulator,
/// responses and notifications).
#[derive(Debug)]
pub struct Signer {
    key: PrivateKey,
    key_version: KeyVersion,
}

impl Signer {
    /// A signer with a key and its version.
    pub fn new(key: PrivateKey, key_version: KeyVersion) -> Self {
        Self { key, key_version }
    }

    /// The key.
    pub fn key(&self) -> &PrivateKey {
        &self.key
    }

    /// The key version written in headers.
    pub fn key_version(&self) -> KeyVersion {
        self.key_version
    }

    /// Signs content and returns the `Signature` header.
    ///
    /// # Errors
    /// Only when the backend fails.
    pub fn sign(&self, content: &SignedContent<'_>) -> Result<SignatureHeader, SignError> {
        self.key.sign(content, self.key_version)
    }
}
