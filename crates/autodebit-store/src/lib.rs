//! The SQLite and PostgreSQL adapter for `autodebit-domain`'s store port.
//!
//! [`SqlStore`] implements [`autodebit_domain::ports::Store`] on either backend with the same
//! guarantees:
//!
//! - **Units of work are transactions.** A state change and the jobs and events it creates commit
//!   together or not at all. SQLite runs in WAL mode with `synchronous=FULL` (set explicitly), each
//!   unit of work under `BEGIN IMMEDIATE`; PostgreSQL runs `READ COMMITTED`.
//! - **Compare-and-set.** Every update names the version it read (`… WHERE id = $1 AND version =
//!   $n`); a notification and an inquiry racing to change one record apply once, the loser sees
//!   `false` and re-reads.
//! - **Leased jobs, one per subject.**
//!   [`Store::claim_jobs`](autodebit_domain::ports::Store::claim_jobs) takes due jobs in due order
//!   under the claim's lease token; on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so replicas never
//!   take the same job; a crashed worker's job is taken again once its lease runs out. A job taken
//!   too often in a row, or whose row cannot be read, is set aside (a dead letter, with an
//!   attention item and an event) in the claim's transaction, and the others are claimed: one bad
//!   row never stops the queue. Scheduling, completing and rescheduling are staged and applied at
//!   commit with the job rows locked in id order and every lease checked again, as the in-memory
//!   store does, so a worker whose lease was taken over never commits beside the one that took it.
//! - **Attention items**: one open item per subject and code (a partial unique index).
//! - **Tokens encrypted at rest** ([`crypto`]): access and refresh tokens, stray tokens, pending
//!   auth codes, the exact `pay`/`refund` bodies (which carry the token), inbox bodies and
//!   merchants' agent tokens ([`SqlStore::record_agent_token`]) are AES-256-GCM sealed, the associated data binding table, column, row id and key version.
//!   Lookups by token use a blind index (HMAC); an access token a refresh rotated away is kept only
//!   as its blind index. [`SqlStore::reencrypt`] moves old rows to the current key.
//! - **Merchants.** One database serves several merchants: every business row carries its
//!   merchant, and a handle ([`StoreOptions::merchant`], [`SqlStore::for_merchant`]) reads and
//!   writes one merchant's rows only. Order references, idempotency keys, inbox keys and the one
//!   job or open attention item per subject are unique per merchant; ids and Alipay's request ids
//!   are unique database-wide.
//! - **Lists** (`list_authorizations`, `list_orders`): newest first by `(created_at, id)`, paged by
//!   a cursor, ids compared byte-wise on both backends.
//! - **HTTP idempotency records** ([`SqlStore::begin_api_request`] and its siblings) for the
//!   server's `Idempotency-Key` handling.
//! - **Migrations** are embedded per backend and applied on open ([`StoreOptions::migrate`]) or by
//!   `autodebit migrate`; [`SqlStore::ready`] checks the database answers and is migrated.
//! - **Transport.** A PostgreSQL server off this machine is refused unless the URL verifies its
//!   certificate (`sslmode=verify-full`), or [`StoreOptions::allow_unverified_tls`] says so.
//!
//! No database derives on domain or protocol types: the mapping lives in this crate.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use autodebit_store::{Keyring, SqlStore, StoreOptions};
//!
//! let keys = Keyring::parse(&std::env::var("AUTODEBIT_TOKEN_KEYS")?)?;
//! let store = SqlStore::open(StoreOptions::new("sqlite://autodebit.db"), keys).await?;
//! # let _ = store; Ok(()) }
//! ```

mod agent_tokens;
mod api_requests;
pub mod crypto;
mod db;
mod endpoints;
mod events;
mod gauges;
mod jobs;
mod list;
mod merchant;
mod migrations;
mod observe;
mod rotate;
mod rows;
mod stats;
mod store;
mod tls;
mod tx;
mod webhooks;

pub use agent_tokens::AgentTokenRecord;
pub use api_requests::ApiRequestStart;
pub use crypto::{CryptoError, Keyring};
pub use endpoints::{EndpointRecord, EndpointSource, EndpointState, StoredSecret};
pub use events::EventFilter;
pub use gauges::Gauges;
pub use merchant::{DEFAULT_MERCHANT, InvalidMerchant};
pub use observe::{CommitObserver, Observed};
pub use rotate::Reencrypted;
pub use stats::{HourStats, PaymentStats};
pub use store::{DeadJob, Diagnostics, Migrated, SqlStore, StoreOptions};
pub use webhooks::{AttemptOutcome, DeliveryStatus, WebhookAttempt, WebhookDelivery};

/// Which database.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// SQLite: the embedded default, one process.
    Sqlite,
    /// PostgreSQL: several replicas sharing the work.
    Postgres,
}

/// Why a store could not be opened or migrated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The database URL (or schema name) is malformed.
    #[error("database URL: {0}")]
    Url(String),
    /// The merchant named by [`StoreOptions::merchant`] is not a merchant id.
    #[error(transparent)]
    Merchant(#[from] InvalidMerchant),
    /// The URL names a PostgreSQL server off this machine without a verified certificate
    /// (`sslmode=verify-full`/`verify-ca`); see [`StoreOptions::allow_unverified_tls`].
    #[error("database TLS: {0}")]
    Tls(String),
    /// The database could not be reached or opened.
    #[error("cannot open the database: {0}")]
    Connect(String),
    /// A migration failed, or the schema does not match this build.
    #[error("migration: {0}")]
    Migrate(String),
}
