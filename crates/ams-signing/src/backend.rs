//! The RSA engines: aws-lc-rs by default, `rsa` + `sha2` as a pure-Rust option.
//!
//! Both take normalised DER (PKCS#8 for private keys, SubjectPublicKeyInfo for public keys) and do
//! RSASSA-PKCS1-v1_5 with SHA-256. PKCS#1 v1.5 is deterministic, so both produce the same bytes.

#[cfg(not(any(feature = "aws-lc", feature = "rust-crypto")))]
compile_error!(
    "ams-signing needs a backend: enable the `aws-lc` (default) or `rust-crypto` feature"
);

use std::fmt;

/// Which library performs the RSA operations.
///
/// Enable either or both with the `aws-lc` (default) and `rust-crypto` features; with both, the
/// default is aws-lc-rs and the other can still be chosen explicitly (benchmarks, cross-checks).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// aws-lc-rs: constant-time, fast, needs a C compiler to build.
    #[cfg(feature = "aws-lc")]
    AwsLc,
    /// The pure-Rust `rsa` crate. Its private-key operation is not constant-time
    /// (RUSTSEC-2023-0071, no fixed release); signing uses blinding, which narrows but does not
    /// close that side channel. Prefer aws-lc wherever a C compiler is available.
    #[cfg(feature = "rust-crypto")]
    RustCrypto,
}

impl Backend {
    /// Every backend compiled into this build, the default first.
    pub const fn available() -> &'static [Backend] {
        &[
            #[cfg(feature = "aws-lc")]
            Backend::AwsLc,
            #[cfg(feature = "rust-crypto")]
            Backend::RustCrypto,
        ]
    }

    /// A short name: `aws-lc-rs` or `rust-crypto`.
    pub const fn name(self) -> &'static str {
        match self {
            #[cfg(feature = "aws-lc")]
            Backend::AwsLc => "aws-lc-rs",
            #[cfg(feature = "rust-crypto")]
            Backend::RustCrypto => "rust-crypto",
        }
    }
}

impl Default for Backend {
    fn default() -> Self {
        Self::available()[0]
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A loaded private key in one backend.
pub(crate) enum PrivateEngine {
    #[cfg(feature = "aws-lc")]
    AwsLc(aws_lc_rs::rsa::KeyPair),
    #[cfg(feature = "rust-crypto")]
    RustCrypto(Box<rsa::pkcs1v15::SigningKey<sha2::Sha256>>),
}

/// A loaded public key in one backend.
#[derive(Clone)]
pub(crate) enum PublicEngine {
    #[cfg(feature = "aws-lc")]
    AwsLc(aws_lc_rs::signature::ParsedPublicKey),
    #[cfg(feature = "rust-crypto")]
    RustCrypto(Box<rsa::pkcs1v15::VerifyingKey<sha2::Sha256>>),
}

impl PrivateEngine {
    pub(crate) fn from_pkcs8(backend: Backend, pkcs8: &[u8]) -> Result<Self, String> {
        match backend {
            #[cfg(feature = "aws-lc")]
            Backend::AwsLc => aws_lc_rs::rsa::KeyPair::from_pkcs8(pkcs8)
                .map(Self::AwsLc)
                .map_err(|e| e.to_string()),
            #[cfg(feature = "rust-crypto")]
            Backend::RustCrypto => {
                use rsa::pkcs8::DecodePrivateKey as _;
                let key = rsa::RsaPrivateKey::from_pkcs8_der(pkcs8).map_err(|e| e.to_string())?;
                key.validate().map_err(|e| e.to_string())?;
                Ok(Self::RustCrypto(Box::new(rsa::pkcs1v15::SigningKey::new(
                    key,
                ))))
            }
        }
    }

    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        match self {
            #[cfg(feature = "aws-lc")]
            Self::AwsLc(pair) => {
                let mut out = vec![0u8; pair.public_modulus_len()];
                pair.sign(
                    &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                    &aws_lc_rs::rand::SystemRandom::new(),
                    message,
                    &mut out,
                )
                .map_err(|e| e.to_string())?;
                Ok(out)
            }
            #[cfg(feature = "rust-crypto")]
            Self::RustCrypto(key) => {
                use rsa::signature::{RandomizedSigner as _, SignatureEncoding as _};
                // The randomised entry point blinds the private-key operation.
                let signature = key
                    .try_sign_with_rng(&mut rand_core::OsRng, message)
                    .map_err(|e| e.to_string())?;
                Ok(signature.to_vec())
            }
        }
    }
}

impl PublicEngine {
    pub(crate) fn from_spki(backend: Backend, spki: &[u8]) -> Result<Self, String> {
        match backend {
            #[cfg(feature = "aws-lc")]
            Backend::AwsLc => aws_lc_rs::signature::ParsedPublicKey::new(
                &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
                spki,
            )
            .map(Self::AwsLc)
            .map_err(|e| e.to_string()),
            #[cfg(feature = "rust-crypto")]
            Backend::RustCrypto => {
                use rsa::pkcs8::DecodePublicKey as _;
                let key =
                    rsa::RsaPublicKey::from_public_key_der(spki).map_err(|e| e.to_string())?;
                Ok(Self::RustCrypto(Box::new(
                    rsa::pkcs1v15::VerifyingKey::new(key),
                )))
            }
        }
    }

    /// Whether `signature` is a valid RSASSA-PKCS1-v1_5/SHA-256 signature of `message`.
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            #[cfg(feature = "aws-lc")]
            Self::AwsLc(key) => key.verify_sig(message, signature).is_ok(),
            #[cfg(feature = "rust-crypto")]
            Self::RustCrypto(key) => {
                use rsa::signature::Verifier as _;
                rsa::pkcs1v15::Signature::try_from(signature)
                    .map(|sig| key.verify(message, &sig).is_ok())
                    .unwrap_or(false)
            }
        }
    }
}

/// A freshly generated RSA key as PKCS#8 DER.
pub(crate) fn generate_pkcs8(backend: Backend, bits: usize) -> Result<Vec<u8>, String> {
    match backend {
        #[cfg(feature = "aws-lc")]
        Backend::AwsLc => {
            use aws_lc_rs::encoding::AsDer as _;
            let size = match bits {
                2048 => aws_lc_rs::rsa::KeySize::Rsa2048,
                3072 => aws_lc_rs::rsa::KeySize::Rsa3072,
                4096 => aws_lc_rs::rsa::KeySize::Rsa4096,
                8192 => aws_lc_rs::rsa::KeySize::Rsa8192,
                other => {
                    return Err(format!(
                        "cannot generate {other}-bit keys (2048, 3072, 4096 or 8192)"
                    ));
                }
            };
            let pair = aws_lc_rs::rsa::KeyPair::generate(size).map_err(|e| e.to_string())?;
            let der = pair.as_der().map_err(|e| e.to_string())?;
            Ok(der.as_ref().to_vec())
        }
        #[cfg(feature = "rust-crypto")]
        Backend::RustCrypto => {
            use rsa::pkcs8::EncodePrivateKey as _;
            if !matches!(bits, 2048 | 3072 | 4096 | 8192) {
                return Err(format!(
                    "cannot generate {bits}-bit keys (2048, 3072, 4096 or 8192)"
                ));
            }
            let key =
                rsa::RsaPrivateKey::new(&mut rand_core::OsRng, bits).map_err(|e| e.to_string())?;
            let der = key.to_pkcs8_der().map_err(|e| e.to_string())?;
            Ok(der.as_bytes().to_vec())
        }
    }
}
