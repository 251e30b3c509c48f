//! `autodebit serve [--config FILE] [--listen ADDR] [--log-format text|json]`: the server. With no
//! configuration it runs in sandbox mode (SQLite in `./autodebit.db`, the embedded sandbox, a
//! development API key) and says so loudly.
//!
//! `autodebit config check [--config FILE]` validates the configuration (file and environment)
//! and prints what is in effect, secrets redacted; `autodebit config example` prints a complete,
//! commented file.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use super::Failure;
use crate::config::{Config, LogFormat, process_environment};
use crate::runtime::Options;
use crate::serve::{self, shutdown_signal};

/// Arguments of `autodebit serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The configuration file (TOML); AUTODEBIT_* variables override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where to listen (overrides server.listen).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Log lines as text or JSON (overrides server.log_format).
    #[arg(long, value_name = "FORMAT")]
    log_format: Option<String>,
}

/// Arguments of `autodebit config check`.
#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// The configuration file (TOML); AUTODEBIT_* variables override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

fn load(file: Option<&PathBuf>) -> Result<Config, Failure> {
    Config::load(file.map(PathBuf::as_path), &process_environment())
        .map_err(|e| Failure::bad_input(format!("configuration: {e}")))
}

pub(crate) fn check(args: &CheckArgs) -> Result<(), Failure> {
    let config = load(args.config.as_ref())?;
    config
        .check()
        .map_err(|e| Failure::bad_input(format!("configuration: {e}")))?;
    print!("{}", config.redacted());
    eprintln!(
        "autodebit config check: the configuration is valid ({})",
        if config.embedded_sandbox() {
            "sandbox mode"
        } else {
            "gateway mode"
        }
    );
    Ok(())
}

pub(crate) fn example() -> Result<(), Failure> {
    print!("{}", crate::config::EXAMPLE);
    Ok(())
}

pub(crate) fn run(args: &ServeArgs) -> Result<(), Failure> {
    let mut config = load(args.config.as_ref())?;
    if let Some(listen) = args.listen {
        config.server.listen = listen;
    }
    if let Some(format) = &args.log_format {
        config.server.log_format = match format.as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                return Err(Failure::bad_input(format!(
                    "--log-format must be text or json, not {other:?}"
                )));
            }
        };
    }
    config
        .check()
        .map_err(|e| Failure::bad_input(format!("configuration: {e}")))?;
    super::init_logging(config.server.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::bad_input(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async {
        let server = serve::start(
            &config,
            Options {
                env: process_environment(),
                clock: None,
            },
        )
        .await
        .map_err(|e| Failure::bad_input(e.to_string()))?;
        eprint!("{}", server.banner());
        eprintln!("autodebit serve: listening on {}", server.url());
        tracing::info!(url = server.url(), "listening");
        shutdown_signal().await;
        eprintln!("autodebit serve: stopping");
        let stopped = server.shutdown().await;
        if !stopped.requests_drained || !stopped.workers_stopped {
            tracing::warn!(?stopped, "stopped before everything under way finished");
        }
        eprintln!("autodebit serve: stopped");
        Ok(())
    })
}
