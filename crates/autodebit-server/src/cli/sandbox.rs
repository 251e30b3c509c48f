//! `autodebit sandbox`: runs `ams-sandbox` as a process.
//!
//! `autodebit sandbox --listen ADDR --client-id ID --merchant-public-key FILE --alipay-private-key FILE`
//! is a contract. Without the key flags it uses development keys in `--keys-dir` (generated on the
//! first run, reused after) and prints where they are, so a newcomer can point a client at it at once.
//!
//! The control API (users, balances, the clock, faults, every auth code and token issued) is for
//! the developer's own tools: `--listen` must be a loopback address unless `--allow-remote` is
//! given (exit 2 otherwise, before anything is written); `--control-token-file FILE` (else
//! `AUTODEBIT_SANDBOX_CONTROL_TOKEN`) makes every control request carry
//! `Authorization: Bearer <token>`, and the token is never printed; listening beyond loopback
//! without a token prints a warning. `--allowed-host NAME[:PORT]` adds a `Host` name the control
//! API and the consent page answer to (besides the listen address and `localhost:PORT`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ams_protocol::{Amount, Currency, CustomerBelongsTo};
use ams_sandbox::{MerchantSettings, Sandbox, UserSpec};
use ams_signing::{Backend, GeneratedKeyPair, PrivateKey, PublicKey};
use clap::Args;

use super::{Failure, read_file};
use crate::cli::keys::write_new_file;

/// Arguments of `autodebit sandbox`.
#[derive(Debug, Args)]
pub(crate) struct SandboxArgs {
    /// The address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8089")]
    listen: SocketAddr,
    /// The merchant's client id (a `SANDBOX_` id makes SDKs use the `/ams/sandbox/api` paths;
    /// both work).
    #[arg(long, value_name = "ID", default_value = "SANDBOX_5X00000000000000")]
    client_id: String,
    /// The merchant's public key (SPKI, PEM or base64): what the sandbox verifies requests with.
    #[arg(long, value_name = "FILE", requires = "alipay_private_key")]
    merchant_public_key: Option<PathBuf>,
    /// The key the sandbox signs answers and notifications with, as Alipay (PKCS#8 or PKCS#1).
    #[arg(long, value_name = "FILE", requires = "merchant_public_key")]
    alipay_private_key: Option<PathBuf>,
    /// Where development keys live when the key flags are not given.
    #[arg(long, value_name = "DIR", default_value = "sandbox-keys")]
    keys_dir: PathBuf,
    /// Where notifyPayment goes when a request names no URL.
    #[arg(long, value_name = "URL")]
    payment_notify_url: Option<String>,
    /// Where notifyRefund goes when a request names no URL.
    #[arg(long, value_name = "URL")]
    refund_notify_url: Option<String>,
    /// Where notifyAuthorization goes when consult names no URL.
    #[arg(long, value_name = "URL")]
    authorization_notify_url: Option<String>,
    /// Scales Alipay's notification retry schedule (1 = Alipay's own: 0 s, 2 min, ... 15 h).
    #[arg(long, value_name = "FACTOR", default_value_t = 1.0)]
    notify_schedule_factor: f64,
    /// Do not create the demo user (`demo@sandbox.example`, ALIPAY_CN, USD 1,000.00 and CNY 10,000.00).
    #[arg(long)]
    no_demo_user: bool,
    /// Allow a `--listen` address that is not loopback. The control API can create money, move the
    /// clock and read every token issued: set a control token too.
    #[arg(long)]
    allow_remote: bool,
    /// A file holding the control token: every control API request must then carry
    /// `Authorization: Bearer <token>` [default: $AUTODEBIT_SANDBOX_CONTROL_TOKEN].
    #[arg(long, value_name = "FILE")]
    control_token_file: Option<PathBuf>,
    /// One more `Host` name the control API and the consent page answer to, e.g. `sandbox:8089`
    /// (the listen address and `localhost:PORT` always are); repeatable.
    #[arg(long, value_name = "NAME[:PORT]")]
    allowed_host: Vec<String>,
}

/// The environment variable holding the control token when `--control-token-file` is not given.
const CONTROL_TOKEN_ENV: &str = "AUTODEBIT_SANDBOX_CONTROL_TOKEN";

/// Where the control token came from, for messages (never the token itself).
enum TokenSource {
    File(PathBuf),
    Env,
}

impl std::fmt::Display for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(path) => write!(f, "the token in {}", path.display()),
            Self::Env => write!(f, "the token in ${CONTROL_TOKEN_ENV}"),
        }
    }
}

/// The control token from `--control-token-file`, else the environment (unset or empty: none).
/// Surrounding whitespace (a trailing newline) is not part of it.
fn control_token(args: &SandboxArgs) -> Result<Option<(String, TokenSource)>, Failure> {
    if let Some(path) = &args.control_token_file {
        let token = text(path, "control token file")?.trim().to_owned();
        if token.is_empty() {
            return Err(Failure::bad_input(format!(
                "control token file {} is empty",
                path.display()
            )));
        }
        return usable(token, TokenSource::File(path.clone())).map(Some);
    }
    std::env::var(CONTROL_TOKEN_ENV)
        .ok()
        .map(|token| token.trim().to_owned())
        .filter(|token| !token.is_empty())
        .map(|token| usable(token, TokenSource::Env))
        .transpose()
}

/// A token must travel in an `Authorization` header: printable ASCII, no spaces.
fn usable(token: String, source: TokenSource) -> Result<(String, TokenSource), Failure> {
    if token.bytes().all(|b| b.is_ascii_graphic()) {
        Ok((token, source))
    } else {
        Err(Failure::bad_input(format!(
            "{source}: a control token must be printable ASCII without spaces (it is sent as \
             Authorization: Bearer <token>)"
        )))
    }
}

/// Refuses a listen address beyond loopback unless `--allow-remote` says so.
fn check_listen(args: &SandboxArgs) -> Result<(), Failure> {
    if args.listen.ip().is_loopback() || args.allow_remote {
        return Ok(());
    }
    Err(Failure::bad_input(format!(
        "--listen {} is not a loopback address: anyone who can reach it could use the sandbox's \
         control API (create users with balances, move the clock, inject faults, read every auth \
         code and access token issued). Listen on 127.0.0.1 or [::1], or pass --allow-remote \
         (and a control token with --control-token-file) if you mean it.",
        args.listen
    )))
}

fn text(path: &Path, what: &str) -> Result<String, Failure> {
    String::from_utf8(read_file(path, what)?).map_err(|_| {
        Failure::bad_input(format!(
            "{what} {} is not text (PEM or base64 expected)",
            path.display()
        ))
    })
}

/// The development keys: `merchant_*` (the merchant signs with the private one) and `alipay_*` (the
/// sandbox signs with the private one; merchants verify with the public one). Generated once.
fn development_keys(dir: &Path) -> Result<(PublicKey, PrivateKey), Failure> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Failure::bad_input(format!("cannot create {}: {e}", dir.display())))?;
    for name in ["merchant", "alipay"] {
        let private = dir.join(format!("{name}_private_pkcs8.pem"));
        if private.exists() {
            continue;
        }
        let pair = GeneratedKeyPair::generate(Backend::default(), 2048)
            .map_err(|e| Failure::bad_input(format!("key generation failed: {e}")))?;
        write_new_file(&private, &pair.private_pkcs8_pem(), true)?;
        write_new_file(
            &dir.join(format!("{name}_private_pkcs8.b64.txt")),
            &format!("{}\n", pair.private_pkcs8_base64()),
            true,
        )?;
        write_new_file(
            &dir.join(format!("{name}_public_spki.pem")),
            &pair.public_key().to_pem(),
            false,
        )?;
        write_new_file(
            &dir.join(format!("{name}_public_spki.b64.txt")),
            &format!("{}\n", pair.public_key().to_base64()),
            false,
        )?;
    }
    let merchant_public =
        PublicKey::from_text(&text(&dir.join("merchant_public_spki.pem"), "key file")?).map_err(
            |e| {
                Failure::bad_input(format!(
                    "{}: {e}",
                    dir.join("merchant_public_spki.pem").display()
                ))
            },
        )?;
    let alipay_private =
        PrivateKey::from_text(&text(&dir.join("alipay_private_pkcs8.pem"), "key file")?).map_err(
            |e| {
                Failure::bad_input(format!(
                    "{}: {e}",
                    dir.join("alipay_private_pkcs8.pem").display()
                ))
            },
        )?;
    Ok((merchant_public, alipay_private))
}

pub(crate) fn run(args: &SandboxArgs) -> Result<(), Failure> {
    check_listen(args)?;
    let token = control_token(args)?;
    let (merchant_public, alipay_private, dev_dir) =
        match (&args.merchant_public_key, &args.alipay_private_key) {
            (Some(public), Some(private)) => {
                let merchant = PublicKey::from_text(&text(public, "merchant public key file")?)
                    .map_err(|e| {
                        Failure::bad_input(format!(
                            "merchant public key file {}: {e}",
                            public.display()
                        ))
                    })?;
                let alipay = PrivateKey::from_text(&text(private, "Alipay private key file")?)
                    .map_err(|e| {
                        Failure::bad_input(format!(
                            "Alipay private key file {}: {e}",
                            private.display()
                        ))
                    })?;
                (merchant, alipay, None)
            }
            _ => {
                let (merchant, alipay) = development_keys(&args.keys_dir)?;
                (merchant, alipay, Some(args.keys_dir.clone()))
            }
        };
    let settings = MerchantSettings {
        name: Some("Sandbox merchant".to_owned()),
        payment_notify_url: args.payment_notify_url.clone(),
        refund_notify_url: args.refund_notify_url.clone(),
        authorization_notify_url: args.authorization_notify_url.clone(),
        ..MerchantSettings::default()
    };
    let mut builder = Sandbox::builder()
        .merchant(args.client_id.clone(), merchant_public)
        .merchant_settings(args.client_id.clone(), settings)
        .alipay_key(alipay_private)
        .notify_schedule_factor(args.notify_schedule_factor);
    for host in &args.allowed_host {
        builder = builder.allowed_host(host.clone());
    }
    if let Some((secret, _)) = &token {
        builder = builder.control_token(secret.clone());
    }
    if !args.no_demo_user {
        builder = builder.user(UserSpec::new(
            "demo@sandbox.example",
            CustomerBelongsTo::AlipayCn,
            vec![
                Amount::new(Currency::USD, 100_000),
                Amount::new(Currency::CNY, 1_000_000),
            ],
        ));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::bad_input(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async {
        let sandbox = builder
            .start(args.listen)
            .await
            .map_err(|e| Failure::bad_input(e.to_string()))?;
        eprintln!(
            "autodebit sandbox: Alipay's stand-in is listening on {}",
            sandbox.base_url()
        );
        eprintln!(
            "  gateway:      {}/ams/api/v1/... and {}/ams/sandbox/api/v1/...",
            sandbox.base_url(),
            sandbox.base_url()
        );
        match &token {
            Some((_, source)) => eprintln!(
                "  control API:  {}/sandbox (send Authorization: Bearer <{source}>)",
                sandbox.base_url()
            ),
            None => eprintln!("  control API:  {}/sandbox", sandbox.base_url()),
        }
        eprintln!("  client id:    {}", args.client_id);
        if let Some(dir) = &dev_dir {
            eprintln!(
                "  development keys in {} (generated once, reused):",
                dir.display()
            );
            eprintln!(
                "    sign requests with   {}",
                dir.join("merchant_private_pkcs8.pem").display()
            );
            eprintln!(
                "    verify answers with  {}",
                dir.join("alipay_public_spki.pem").display()
            );
        }
        if !args.no_demo_user {
            eprintln!(
                "  demo user:    demo@sandbox.example (ALIPAY_CN, USD 1,000.00, CNY 10,000.00)"
            );
        }
        if !args.listen.ip().is_loopback() {
            warn_remote(args, sandbox.addr(), token.is_some());
        }
        eprintln!("Press Ctrl-C to stop.");
        wait_for_stop().await;
        eprintln!("autodebit sandbox: stopping");
        drop(sandbox);
        Ok(())
    })
}

/// What listening beyond loopback on `bound` means, said loudly (louder without a control token).
fn warn_remote(args: &SandboxArgs, bound: SocketAddr, has_token: bool) {
    let port = bound.port();
    if has_token {
        eprintln!(
            "autodebit sandbox: listening on {bound} beyond loopback (--allow-remote); the control \
             API requires the control token."
        );
    } else {
        eprintln!("autodebit sandbox: WARNING: listening on {bound} with NO CONTROL TOKEN.");
        eprintln!(
            "  Anyone who can reach this address can use the control API: create users with \
             balances, move the clock, inject faults, change notification URLs, and read every \
             auth code and access token issued."
        );
        eprintln!(
            "  Set one with --control-token-file FILE (or ${CONTROL_TOKEN_ENV}), or listen on \
             127.0.0.1."
        );
    }
    eprintln!(
        "  The control API and the consent page answer only to the Host names {bound}, \
         localhost:{port} (and the loopback addresses when listening on all interfaces){}; add \
         others with --allowed-host NAME[:PORT].",
        if args.allowed_host.is_empty() {
            String::new()
        } else {
            format!(", {}", args.allowed_host.join(", "))
        }
    );
}

async fn wait_for_stop() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
