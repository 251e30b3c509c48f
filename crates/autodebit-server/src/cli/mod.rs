//! The command line. Its forms and exit codes are a contract that scripts outside the project
//! rely on; change them only by adding.
//!
//! - `autodebit keys generate --out DIR` writes a new RSA-2048 pair and prints the file names.
//! - `autodebit sign --private-key FILE --client-id ID --request-time TIME --path PATH
//!   [--key-version N] --body-file FILE` prints the `Signature` header value.
//! - `autodebit verify --public-key FILE --client-id ID --time TIME --path PATH --body-file FILE
//!   --signature VALUE` exits 0 when valid, 1 when not, 2 on bad input, with the reason on stderr.
//!
//! - `autodebit sandbox --listen ADDR --client-id ID --merchant-public-key FILE --alipay-private-key FILE`
//!   runs the sandbox; without the key flags it uses (and on first run generates) development keys
//!   and prints where they are.
//!
//! - `autodebit migrate [--database URL] [--schema NAME]` applies the store's migrations and prints
//!   where the database stands.
//! - `autodebit reencrypt [--database URL] [--token-keys-file FILE] [--batch N]` re-seals every row
//!   written under an older token key with the current one, and prints the counts.
//! - `autodebit keys token-key [--key-version N]` prints a new token encryption key entry.
//!
//! - `autodebit serve [--config FILE] [--listen ADDR] [--log-format text|json]` runs the server
//!   (sandbox mode with no configuration).
//! - `autodebit config check [--config FILE]` validates the configuration and prints it, secrets
//!   redacted; `autodebit config example` prints a complete, commented file.
//! - `autodebit keys api-key` prints a new API key and the SHA-256 to configure.
//!
//! - `autodebit admin attention|inquire|retry-cancel|refund|resolve|redeliver [--config FILE]
//!   [--merchant ID]`: an operator's commands over the database of a running server; they queue
//!   work for its workers and never call Alipay (`--wait SECS` waits for it, exit 1 on time out).
//!
//! - `autodebit call API --body FILE --gateway REGION|URL --client-id ID --private-key FILE
//!   --alipay-public-key FILE [--key-version N] [--agent-token-file FILE]` sends one AMS call and
//!   prints the verified answer: exit 0 on S, 1 on F, 3 when the outcome is unknown.
//!
//! Exit code 2 means bad input everywhere (clap's usage errors use it too).

#![allow(
    clippy::print_stdout,
    reason = "a command line prints its results on stdout"
)]

mod admin;
mod call;
mod keys;
mod sandbox;
mod serve;
mod signature;
mod store;

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Exit code for a signature that does not verify.
pub const EXIT_INVALID: u8 = 1;
/// Exit code for bad input: unreadable file, not a key, malformed header, bad arguments.
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit code of `autodebit call` when the outcome is not known (the call may have taken effect).
pub const EXIT_UNKNOWN: u8 = 3;

/// Alipay Auto Debit for merchants: the server, and its keys, signatures, sandbox and database.
#[derive(Debug, Parser)]
#[command(name = "autodebit", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: the merchant API, Alipay's notifications, the return page and the workers
    /// (sandbox mode with no configuration).
    Serve(serve::ServeArgs),
    /// Check or show the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Manage keys: RSA signing keys, token encryption keys, API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Sign a request body and print the `Signature` header value.
    Sign(signature::SignArgs),
    /// Verify a signature; exit 0 when valid, 1 when not, 2 on bad input.
    Verify(signature::VerifyArgs),
    /// Send one AMS call (signed, answer verified) and print the answer: exit 0 on S, 1 on F,
    /// 3 when the outcome is unknown, 2 when nothing was sent.
    Call(call::CallArgs),
    /// Run the sandbox: a stand-in for Alipay's gateway and the user's wallet, on this machine.
    Sandbox(sandbox::SandboxArgs),
    /// Apply the store's migrations (SQLite or PostgreSQL) and show where the database stands.
    Migrate(store::MigrateArgs),
    /// Re-encrypt rows sealed with an older token key under the current one.
    Reencrypt(store::ReencryptArgs),
    /// An operator's commands over the database of a running server: what needs attention,
    /// inquire, retry a cancel, refund, resolve, redeliver webhooks.
    Admin(admin::AdminArgs),
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Write a new RSA-2048 key pair: PKCS#8 private and SPKI public, as PEM and as bare base64.
    Generate(keys::GenerateArgs),
    /// Print a new token encryption key entry (`<version>:<base64>`) for AUTODEBIT_TOKEN_KEYS.
    TokenKey(store::TokenKeyArgs),
    /// Print a new API key, and the SHA-256 the server is configured with.
    ApiKey,
    /// Print a new webhook signing secret (`whsec_…`) for `merchants.<id>.webhooks`, once.
    WebhookSecret,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate the configuration (file and AUTODEBIT_* variables) and print what is in effect,
    /// secrets redacted.
    Check(serve::CheckArgs),
    /// Print a complete, commented configuration file.
    Example,
}

/// A failure, with the exit code it maps to. The message goes to stderr.
#[derive(Debug)]
pub(crate) struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    pub(crate) fn bad_input(message: impl Into<String>) -> Self {
        Self {
            code: EXIT_BAD_INPUT,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self {
            code: EXIT_INVALID,
            message: message.into(),
        }
    }

    /// Exit `code`, with nothing more to say (the command said it already).
    pub(crate) fn quiet(code: u8) -> Self {
        Self {
            code,
            message: String::new(),
        }
    }
}

/// Runs the command line with the process arguments and returns the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keys(KeysCommand::Generate(args)) => keys::generate(&args),
        Command::Keys(KeysCommand::TokenKey(args)) => store::token_key(&args),
        Command::Keys(KeysCommand::ApiKey) => keys::api_key(),
        Command::Keys(KeysCommand::WebhookSecret) => keys::webhook_secret(),
        Command::Serve(args) => serve::run(&args),
        Command::Config(ConfigCommand::Check(args)) => serve::check(&args),
        Command::Config(ConfigCommand::Example) => serve::example(),
        Command::Migrate(args) => store::migrate(&args),
        Command::Reencrypt(args) => store::reencrypt(&args),
        Command::Admin(args) => admin::run(&args),
        Command::Sign(args) => signature::sign(&args),
        Command::Verify(args) => signature::verify(&args),
        Command::Call(args) => call::run(&args),
        Command::Sandbox(args) => {
            init_logging(crate::config::LogFormat::Text);
            sandbox::run(&args)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if !failure.message.is_empty() {
                eprintln!("autodebit: {}", failure.message);
            }
            ExitCode::from(failure.code)
        }
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`), as text or one JSON object per line.
fn init_logging(format: crate::config::LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // A closed stderr must not turn a log line into a panic.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .log_internal_errors(false)
        .with_writer(std::io::stderr);
    let _ = match format {
        crate::config::LogFormat::Json => builder.json().try_init(),
        crate::config::LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
    };
}

/// A file argument that may be `-` for standard input.
#[derive(Clone, Debug)]
pub(crate) struct InputFile(PathBuf);

impl From<&str> for InputFile {
    fn from(value: &str) -> Self {
        Self(PathBuf::from(value))
    }
}

impl InputFile {
    /// The exact bytes of the file or of standard input: no newline or encoding changes.
    pub(crate) fn read_bytes(&self, what: &str) -> Result<Vec<u8>, Failure> {
        if self.0.as_os_str() == "-" {
            let mut out = Vec::new();
            std::io::stdin().read_to_end(&mut out).map_err(|e| {
                Failure::bad_input(format!("cannot read {what} from standard input: {e}"))
            })?;
            return Ok(out);
        }
        read_file(&self.0, what)
    }
}

pub(crate) fn read_file(path: &Path, what: &str) -> Result<Vec<u8>, Failure> {
    std::fs::read(path)
        .map_err(|e| Failure::bad_input(format!("cannot read {what} {}: {e}", path.display())))
}

/// Common arguments naming the signed message.
#[derive(Debug, Args)]
pub(crate) struct MessageArgs {
    /// The client id, exactly as in the `client-id` header.
    #[arg(long, value_name = "ID")]
    client_id: String,
    /// The request path as sent (e.g. `/ams/api/v1/payments/pay`, or the `/ams/sandbox/api/...` path).
    #[arg(long, value_name = "PATH")]
    path: String,
    /// The file holding the exact body bytes; `-` reads standard input.
    #[arg(long, value_name = "FILE")]
    body_file: InputFile,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
