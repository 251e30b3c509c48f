//! Sans-IO signatures for Alipay's AMS open API.
//!
//! Every AMS request, response and notification is signed with RSASSA-PKCS1-v1_5 / SHA-256 over
//! `POST <path>\n<client-id>.<time>.<body>`, and the signature travels in a `Signature` header as
//! `algorithm=RSA256,keyVersion=1,signature=<url-encoded base64>`. This crate builds that content
//! ([`SignedContent`]), formats and leniently parses the header ([`SignatureHeader`]), loads keys in
//! every format merchants hold them ([`PrivateKey`], [`PublicKey`]: PKCS#8, PKCS#1 or SPKI, as PEM or
//! bare base64), and signs and verifies. It does no IO: no clock, no network, no files.
//!
//! Errors are diagnostic: a key in the wrong role says so ([`KeyError::WrongRole`]), and a failed
//! verification reports what it checked ([`Checked`]: key fingerprint, key version, hash of the
//! signed content), so a merchant can tell a wrong key from a changed body.
//!
//! # Backends
//! The `aws-lc` feature (default) runs RSA on aws-lc-rs: constant-time and fast. The `rust-crypto`
//! feature adds a pure-Rust backend on `rsa` + `sha2` for builds without a C compiler; its
//! private-key operation is subject to RUSTSEC-2023-0071 (see `Backend::RustCrypto`, which exists
//! with that feature only).
//!
//! # Keys
//! [`PrivateKey::from_text`] and [`PublicKey::from_text`] read what you already hold (a file's
//! contents, an environment variable, Alipay's Dashboard text). For a test or a first run, make a
//! pair in-process with [`GeneratedKeyPair::generate`]; [`PublicKey`] is `Clone`, and
//! [`GeneratedKeyPair::into_private_key`] hands the private key on, so no PEM round trip is needed:
//!
//! ```
//! use ams_signing::{Backend, GeneratedKeyPair};
//!
//! let pair = GeneratedKeyPair::generate(Backend::default(), 2048)?;
//! let merchant_public = pair.public_key().clone(); // register it (Alipay, or a sandbox)
//! println!("upload to Alipay: {}", merchant_public.to_base64());
//! let merchant_private = pair.into_private_key(); // sign with it (the client)
//! assert_eq!(merchant_private.fingerprint(), merchant_public.fingerprint());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Outside tests, keep the private key out of your repository: `autodebit keys generate --out DIR`
//! (or [`GeneratedKeyPair::private_pkcs8_pem`]) writes it once, and your service reads it from a
//! secret store at start-up.
//!
//! # Example
//! ```
//! use ams_signing::{KeyVersion, PrivateKey, PublicKey, SignatureHeader, SignedContent};
//!
//! # let pair = ams_signing::GeneratedKeyPair::generate(ams_signing::Backend::default(), 2048)?;
//! # let private_pem = pair.private_pkcs8_pem();
//! # let public_b64 = pair.public_key().to_base64();
//! // The merchant's private key, as PEM or bare base64 (PKCS#8 or PKCS#1), read from your secrets.
//! let key = PrivateKey::from_text(&private_pem)?;
//! let body = br#"{"accessToken":"281010033AB2F588D14B43238637264FCA5Axxxx"}"#;
//! let content = SignedContent::request("/ams/api/v1/authorizations/revoke", "5X00000000000000", "1685599933871", body);
//! let header = key.sign(&content, KeyVersion::DEFAULT)?.to_string();
//! assert!(header.starts_with("algorithm=RSA256,keyVersion=1,signature="));
//!
//! // The receiving side parses the header and checks it with the signer's public key.
//! let public = PublicKey::from_text(&public_b64)?;
//! public.verify(&content, &header.parse::<SignatureHeader>()?)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// The README's examples run as doctests too, so they cannot rot.
#![cfg_attr(doctest, doc = include_str!("../README.md"))]

mod backend;
mod content;
mod der;
mod error;
mod header;
mod key;

pub use backend::Backend;
pub use content::{METHOD_POST, SignedContent};
pub use error::{
    Checked, HeaderError, KeyError, KeyFormat, KeyRole, SignError, VerifyError, VerifyErrorKind,
};
pub use header::{Algorithm, KeyVersion, SignatureHeader};
pub use key::{GeneratedKeyPair, PrivateKey, PublicKey, Signer};
