//! `autodebit migrate`, `autodebit reencrypt` and `autodebit keys token-key`: the store's
//! operator commands.
//!
//! The database comes from `--database URL`, else `AUTODEBIT_DATABASE_URL`, else the embedded
//! default `sqlite://autodebit.db` (in the working directory). Token keys come from
//! `--token-keys-file FILE`, else `AUTODEBIT_TOKEN_KEYS`: comma-separated `<version>:<base64 of 32
//! bytes>`, the first one encrypting. They are never printed.

use std::path::PathBuf;

use autodebit_store::{Keyring, SqlStore, StoreOptions};
use clap::Args;

use super::{Failure, read_file};

/// The database when nothing names one.
pub(crate) const DEFAULT_DATABASE: &str = "sqlite://autodebit.db";
const DATABASE_ENV: &str = "AUTODEBIT_DATABASE_URL";
const KEYS_ENV: &str = "AUTODEBIT_TOKEN_KEYS";

/// Which database.
#[derive(Debug, Args)]
pub(crate) struct DatabaseArgs {
    /// The database: `sqlite://PATH` or `postgres://USER@HOST/DB` [default: $AUTODEBIT_DATABASE_URL,
    /// else sqlite://autodebit.db].
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// PostgreSQL only: keep the tables in this schema.
    #[arg(long, value_name = "NAME")]
    schema: Option<String>,
}

impl DatabaseArgs {
    fn options(&self) -> StoreOptions {
        let url = self
            .database
            .clone()
            .or_else(|| std::env::var(DATABASE_ENV).ok().filter(|u| !u.is_empty()))
            .unwrap_or_else(|| DEFAULT_DATABASE.to_owned());
        let options = StoreOptions::new(url);
        match &self.schema {
            Some(schema) => options.schema(schema.clone()),
            None => options,
        }
    }
}

/// Arguments of `autodebit migrate`.
#[derive(Debug, Args)]
pub(crate) struct MigrateArgs {
    #[command(flatten)]
    database: DatabaseArgs,
}

/// Arguments of `autodebit reencrypt`.
#[derive(Debug, Args)]
pub(crate) struct ReencryptArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// A file holding the token keys [default: $AUTODEBIT_TOKEN_KEYS].
    #[arg(long, value_name = "FILE")]
    token_keys_file: Option<PathBuf>,
    /// Rows per transaction.
    #[arg(long, value_name = "N", default_value_t = 500)]
    batch: u32,
}

/// Arguments of `autodebit keys token-key`.
#[derive(Debug, Args)]
pub(crate) struct TokenKeyArgs {
    /// The new key's version: higher than every version in use.
    #[arg(long, value_name = "N", default_value_t = 1)]
    key_version: u32,
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::bad_input(format!("cannot start the runtime: {e}")))
}

/// `autodebit migrate`.
pub(crate) fn migrate(args: &MigrateArgs) -> Result<(), Failure> {
    let options = args.database.options();
    let migrated = runtime()?
        .block_on(SqlStore::migrate_database(options))
        .map_err(|e| Failure::bad_input(e.to_string()))?;
    let d = &migrated.diagnostics;
    if migrated.applied.is_empty() {
        println!("up to date: migrations {:?}", d.migrations);
    } else {
        println!(
            "applied migrations {:?}; now at {:?}",
            migrated.applied, d.migrations
        );
    }
    println!(
        "{:?} {}{}{}",
        d.backend,
        d.server_version.as_deref().unwrap_or("?"),
        d.journal_mode
            .as_deref()
            .map(|j| format!(", journal_mode={j}"))
            .unwrap_or_default(),
        d.synchronous
            .as_deref()
            .map(|s| format!(", synchronous={s}"))
            .unwrap_or_default(),
    );
    Ok(())
}

fn keys(args: &ReencryptArgs) -> Result<Keyring, Failure> {
    let config = match &args.token_keys_file {
        Some(path) => String::from_utf8(read_file(path, "the token keys file")?).map_err(|_| {
            Failure::bad_input(format!(
                "the token keys file {} is not text",
                path.display()
            ))
        })?,
        None => std::env::var(KEYS_ENV).map_err(|_| {
            Failure::bad_input(format!(
                "no token keys: set {KEYS_ENV} or pass --token-keys-file (make one with \
                 `autodebit keys token-key`)"
            ))
        })?,
    };
    Keyring::parse(&config).map_err(|e| Failure::bad_input(e.to_string()))
}

/// `autodebit reencrypt`.
pub(crate) fn reencrypt(args: &ReencryptArgs) -> Result<(), Failure> {
    let keys = keys(args)?;
    let current = keys.current_version();
    let options = args.database.options();
    runtime()?.block_on(async {
        let store = SqlStore::open(options, keys)
            .await
            .map_err(|e| Failure::bad_input(e.to_string()))?;
        let store_failure =
            |e: autodebit_domain::ports::StoreError| Failure::bad_input(e.to_string());
        let done = store.reencrypt(args.batch).await.map_err(store_failure)?;
        let left = store.rows_on_old_keys().await.map_err(store_failure)?;
        store.close().await;
        println!(
            "re-encrypted with key version {current}: {} authorizations, {} payment attempts, \
             {} refunds, {} customs declarations, {} secondary merchant registrations, \
             {} inbox entries, {} webhook endpoints, {} kept API answers, {} agent tokens; \
             {left} rows left on other keys",
            done.authorizations,
            done.attempts,
            done.refunds,
            done.declarations,
            done.registrations,
            done.inbox,
            done.webhook_endpoints,
            done.api_requests,
            done.agent_tokens
        );
        Ok(())
    })
}

/// `autodebit keys token-key`.
pub(crate) fn token_key(args: &TokenKeyArgs) -> Result<(), Failure> {
    let entry =
        Keyring::generate_entry(args.key_version).map_err(|e| Failure::bad_input(e.to_string()))?;
    println!("{entry}");
    Ok(())
}
