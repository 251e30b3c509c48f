//! `autodebit sign` and `autodebit verify`.

use std::path::PathBuf;

use ams_signing::{KeyVersion, PrivateKey, PublicKey, SignatureHeader, SignedContent};
use clap::Args;

use super::{Failure, MessageArgs, read_file};

/// Arguments of `autodebit sign`.
#[derive(Debug, Args)]
pub(crate) struct SignArgs {
    /// The merchant's private key: PKCS#8 or PKCS#1, PEM or bare base64.
    #[arg(long, value_name = "FILE")]
    private_key: PathBuf,
    /// The `request-time` header value, exactly as it will be sent (epoch ms or ISO 8601).
    #[arg(long, value_name = "TIME")]
    request_time: String,
    /// The key version written in the header.
    #[arg(long, value_name = "N", default_value_t = 1)]
    key_version: u32,
    #[command(flatten)]
    message: MessageArgs,
}

/// Arguments of `autodebit verify`.
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The signer's public key (X.509 SubjectPublicKeyInfo), PEM or bare base64.
    #[arg(long, value_name = "FILE")]
    public_key: PathBuf,
    /// The `request-time` (or `response-time`) header value, exactly as received.
    #[arg(long, value_name = "TIME")]
    time: String,
    /// The `Signature` header value (`algorithm=RSA256,keyVersion=1,signature=...`), or the
    /// signature alone (URL-encoded or raw base64).
    #[arg(long, value_name = "VALUE", allow_hyphen_values = true)]
    signature: String,
    #[command(flatten)]
    message: MessageArgs,
}

fn key_text(path: &std::path::Path, what: &str) -> Result<String, Failure> {
    let bytes = read_file(path, what)?;
    String::from_utf8(bytes).map_err(|_| {
        Failure::bad_input(format!(
            "{what} {} is not text (PEM or base64 expected)",
            path.display()
        ))
    })
}

pub(crate) fn sign(args: &SignArgs) -> Result<(), Failure> {
    let text = key_text(&args.private_key, "private key file")?;
    let key = PrivateKey::from_text(&text).map_err(|e| {
        Failure::bad_input(format!(
            "private key file {}: {e}",
            args.private_key.display()
        ))
    })?;
    let body = args.message.body_file.read_bytes("body file")?;
    let content = SignedContent::request(
        &args.message.path,
        &args.message.client_id,
        &args.request_time,
        &body,
    );
    let header = key
        .sign(&content, KeyVersion::new(args.key_version))
        .map_err(|e| Failure::bad_input(e.to_string()))?;
    println!("{header}");
    Ok(())
}

pub(crate) fn verify(args: &VerifyArgs) -> Result<(), Failure> {
    let text = key_text(&args.public_key, "public key file")?;
    let key = PublicKey::from_text(&text).map_err(|e| {
        Failure::bad_input(format!(
            "public key file {}: {e}",
            args.public_key.display()
        ))
    })?;
    let value = args.signature.trim();
    let header_text = if value.to_ascii_lowercase().contains("signature=") {
        value.to_owned()
    } else {
        format!("signature={value}")
    };
    let header: SignatureHeader = header_text
        .parse()
        .map_err(|e| Failure::bad_input(format!("{e}")))?;
    let body = args.message.body_file.read_bytes("body file")?;
    let content = SignedContent::request(
        &args.message.path,
        &args.message.client_id,
        &args.time,
        &body,
    );
    key.verify(&content, &header)
        .map_err(|e| Failure::invalid(e.to_string()))?;
    println!("valid: {} (key {})", content.uri(), key.fingerprint());
    Ok(())
}
