//! `autodebit keys generate`.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use ams_signing::{Backend, GeneratedKeyPair};
use clap::Args;

use super::Failure;

/// Arguments of `autodebit keys generate`.
#[derive(Debug, Args)]
pub(crate) struct GenerateArgs {
    /// The folder to write the four files into (created if missing). Existing files are never
    /// overwritten.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The file name prefix.
    #[arg(long, value_name = "NAME", default_value = "merchant")]
    name: String,
}

/// One file to write: its name, contents, and whether it is secret (mode 0600).
struct Output {
    path: PathBuf,
    contents: String,
    secret: bool,
}

pub(crate) fn generate(args: &GenerateArgs) -> Result<(), Failure> {
    if args.name.is_empty() || args.name.contains(['/', '\\']) {
        return Err(Failure::bad_input(format!(
            "--name {:?} must be a plain file name prefix",
            args.name
        )));
    }
    std::fs::create_dir_all(&args.out)
        .map_err(|e| Failure::bad_input(format!("cannot create {}: {e}", args.out.display())))?;
    let pair = GeneratedKeyPair::generate(Backend::default(), 2048)
        .map_err(|e| Failure::bad_input(format!("key generation failed: {e}")))?;
    let file = |suffix: &str| args.out.join(format!("{}_{suffix}", args.name));
    let outputs = [
        Output {
            path: file("private_pkcs8.pem"),
            contents: pair.private_pkcs8_pem(),
            secret: true,
        },
        Output {
            path: file("private_pkcs8.b64.txt"),
            contents: format!("{}\n", pair.private_pkcs8_base64()),
            secret: true,
        },
        Output {
            path: file("public_spki.pem"),
            contents: pair.public_key().to_pem(),
            secret: false,
        },
        Output {
            path: file("public_spki.b64.txt"),
            contents: format!("{}\n", pair.public_key().to_base64()),
            secret: false,
        },
    ];
    // Check every name first, so a refusal leaves nothing half-written.
    if let Some(existing) = outputs.iter().find(|o| o.path.exists()) {
        return Err(Failure::bad_input(format!(
            "refusing to overwrite {}; choose another --out or --name",
            existing.path.display()
        )));
    }
    let mut written: Vec<&Path> = Vec::new();
    for output in &outputs {
        if let Err(e) = write_new(output) {
            for path in written {
                let _ = std::fs::remove_file(path);
            }
            return Err(Failure::bad_input(format!(
                "cannot write {}: {e}",
                output.path.display()
            )));
        }
        written.push(&output.path);
    }
    for output in &outputs {
        println!("{}", output.path.display());
    }
    eprintln!(
        "autodebit: wrote a new RSA-2048 key pair (public key {}). Register the public key (the .b64.txt \
         file) with Alipay; keep the private key files secret.",
        pair.public_key().fingerprint()
    );
    Ok(())
}

fn write_new(output: &Output) -> std::io::Result<()> {
    create_new(&output.path, &output.contents, output.secret)
}

/// Creates a file that must not exist yet; secret files get mode 0600.
fn create_new(path: &Path, contents: &str, secret: bool) -> std::io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(if secret { 0o600 } else { 0o644 });
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

/// [`create_new`] with the error as a command-line failure.
pub(crate) fn write_new_file(path: &Path, contents: &str, secret: bool) -> Result<(), Failure> {
    create_new(path, contents, secret)
        .map_err(|e| Failure::bad_input(format!("cannot write {}: {e}", path.display())))
}

/// `autodebit keys api-key`: a new API key (to give the merchant's backend) and its SHA-256 (to
/// configure in `merchants.<id>.api_key_sha256`). The key is printed once and never kept.
pub(crate) fn api_key() -> Result<(), Failure> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| Failure::bad_input(format!("the random source failed: {e}")))?;
    let key = format!(
        "sk_live_{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    let hash: String = crate::http::auth::hash_key(&key)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    println!("api_key = {key}");
    println!("api_key_sha256 = {hash}");
    Ok(())
}

/// `autodebit keys webhook-secret`: a new Standard Webhooks secret, for a webhook endpoint's
/// `secrets` (or its `secrets_file`) and for the receiver. Printed once and never kept.
pub(crate) fn webhook_secret() -> Result<(), Failure> {
    let secret = crate::webhooks::WebhookSecret::generate()
        .map_err(|e| Failure::bad_input(format!("the random source failed: {e}")))?;
    println!("{}", secret.expose());
    Ok(())
}
