//! `autodebit sandbox`: runs `ams-sandbox` as a process.
//!
//! `autodebit sandbox --listen ADDR --client-id ID --merchant-public-key FILE --alipay-private-key FILE`
//! is a contract. Without the key flags it uses development keys in `--keys-dir` (generated on the
//! first run, reused after) and prints where they are, so a newcomer can point a client at it at once.

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
    };
    let mut builder = Sandbox::builder()
        .merchant(args.client_id.clone(), merchant_public)
        .merchant_settings(args.client_id.clone(), settings)
        .alipay_key(alipay_private)
        .notify_schedule_factor(args.notify_schedule_factor);
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
        eprintln!("  control API:  {}/sandbox", sandbox.base_url());
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
        eprintln!("Press Ctrl-C to stop.");
        wait_for_stop().await;
        eprintln!("autodebit sandbox: stopping");
        drop(sandbox);
        Ok(())
    })
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
