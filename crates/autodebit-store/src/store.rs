//! [`SqlStore`]: the domain's store port on SQLite or PostgreSQL.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use autodebit_domain::model::{
    AttentionId, AttentionItem, Authorization, Event, InboxEntry, Job, JobId, JobKind, LeaseToken,
    Millis, Order, PaymentAttempt, Refund,
};
use autodebit_domain::ports::{Claim, Store, StoreError, Tx};
use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::crypto::Keyring;
use crate::db::{Exec, Row, map_error};
use crate::jobs;
use crate::merchant::{self, DEFAULT_MERCHANT, InvalidMerchant};
use crate::rows::{
    self, attempt_columns, attention_columns, authorization_columns, job_columns, order_columns,
    refund_columns,
};
use crate::tls;
use crate::tx::SqlTx;
use crate::{Backend, OpenError};

/// How to open a store. [`StoreOptions::new`] takes a database URL: `sqlite://PATH` (or
/// `sqlite:PATH`; the file is created if missing) or `postgres://…`/`postgresql://…`.
///
/// A PostgreSQL server that is not on this machine must be reached with a verified certificate
/// (`sslmode=verify-full` or `verify-ca` in the URL): see [`StoreOptions::allow_unverified_tls`].
#[derive(Clone)]
pub struct StoreOptions {
    url: String,
    max_connections: u32,
    busy_timeout: Duration,
    migrate: bool,
    schema: Option<String>,
    merchant: String,
    allow_unverified_tls: bool,
}

impl fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL can hold a password: show the scheme only.
        let scheme = self.url.split(':').next().unwrap_or("");
        f.debug_struct("StoreOptions")
            .field("url", &format_args!("{scheme}:…"))
            .field("max_connections", &self.max_connections)
            .field("busy_timeout", &self.busy_timeout)
            .field("migrate", &self.migrate)
            .field("schema", &self.schema)
            .field("merchant", &self.merchant)
            .field("allow_unverified_tls", &self.allow_unverified_tls)
            .finish()
    }
}

impl StoreOptions {
    /// Options for `url`, with the defaults: 8 connections (SQLite: 4), a 5 s busy timeout,
    /// migrations applied on open, merchant [`DEFAULT_MERCHANT`], certificates verified for a
    /// PostgreSQL server off this machine.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 0,
            busy_timeout: Duration::from_secs(5),
            migrate: true,
            schema: None,
            merchant: DEFAULT_MERCHANT.to_owned(),
            allow_unverified_tls: false,
        }
    }

    /// The merchant the opened store reads and writes for (default [`DEFAULT_MERCHANT`]); other
    /// merchants' handles come from [`SqlStore::for_merchant`]. Checked at open: 1–63 characters
    /// of `a`–`z`, `0`–`9`, `_`, `-`, starting with a letter or digit.
    #[must_use]
    pub fn merchant(mut self, id: impl Into<String>) -> Self {
        self.merchant = id.into();
        self
    }

    /// PostgreSQL only: accept a server off this machine reached without a verified certificate
    /// (`sslmode` other than `verify-full`/`verify-ca`), which anyone on the path can read, change,
    /// or downgrade to plaintext. Off by default: opening such a URL is refused. Loopback
    /// addresses and Unix sockets never need it.
    #[must_use]
    pub fn allow_unverified_tls(mut self, allow: bool) -> Self {
        self.allow_unverified_tls = allow;
        self
    }

    /// At most this many connections.
    #[must_use]
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n;
        self
    }

    /// How long a unit of work waits for the database (SQLite's write lock, a pool connection).
    #[must_use]
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// Whether opening applies pending migrations (the default). Without it, a database that is
    /// not at the latest schema is an error.
    #[must_use]
    pub fn migrate(mut self, migrate: bool) -> Self {
        self.migrate = migrate;
        self
    }

    /// PostgreSQL only: keep every table in this schema (created if missing), e.g. one per tenant
    /// or per test.
    #[must_use]
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// The backend the URL names.
    ///
    /// # Errors
    /// [`OpenError::Url`] for any other scheme.
    pub fn backend(&self) -> Result<Backend, OpenError> {
        let scheme = self.url.split(':').next().unwrap_or("");
        match scheme {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            _ => Err(OpenError::Url(format!(
                "the database URL must start with sqlite: or postgres:, not {scheme:?}"
            ))),
        }
    }
}

#[derive(Clone)]
enum Pool {
    Sqlite {
        pool: SqlitePool,
        /// One writer at a time in this process, queued fairly, instead of spinning on
        /// `SQLITE_BUSY` (other processes still meet the busy timeout).
        writer: Arc<Semaphore>,
    },
    Postgres(PgPool),
}

pub(crate) struct Inner {
    pool: Pool,
    pub(crate) keys: Arc<Keyring>,
    busy_timeout: Duration,
    /// PostgreSQL: the `sslmode` connections use (`unix-socket` when TLS does not apply).
    ssl_mode: Option<String>,
    /// Told what each commit changed ([`SqlStore::observe`]).
    pub(crate) observer: std::sync::OnceLock<Arc<dyn crate::observe::CommitObserver>>,
}

/// The store port on SQLite or PostgreSQL, for one merchant. Cheap to clone: clones share the
/// pool, and so do the handles of other merchants ([`SqlStore::for_merchant`]).
///
/// Every unit of work is a database transaction: on SQLite `BEGIN IMMEDIATE` (one writer at a
/// time, so a read-then-write never meets a stale snapshot), on PostgreSQL `READ COMMITTED` with
/// compare-and-set updates (`… WHERE version = $n`), which block on a concurrent writer of the same
/// row and then see its commit. Jobs are claimed with `FOR UPDATE SKIP LOCKED` on PostgreSQL.
///
/// Every read and write through a handle, the port's and the inspection reads alike, is scoped
/// to its merchant ([`SqlStore::merchant`]): rows are written with it, read, updated and claimed
/// only when they carry it. Migrations, [`SqlStore::diagnostics`], [`SqlStore::ready`] and
/// [`SqlStore::reencrypt`] act on the whole database.
#[derive(Clone)]
pub struct SqlStore {
    inner: Arc<Inner>,
    merchant: Arc<str>,
}

impl fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlStore")
            .field("backend", &self.backend())
            .field("merchant", &self.merchant)
            .field("keys", &self.inner.keys)
            .finish_non_exhaustive()
    }
}

fn sqlite_options(url: &str, busy_timeout: Duration) -> Result<SqliteConnectOptions, OpenError> {
    Ok(SqliteConnectOptions::from_str(url)
        .map_err(|e| OpenError::Url(e.to_string()))?
        .create_if_missing(true)
        // Set explicitly: WAL lets readers run beside the writer; FULL syncs the WAL on every
        // commit, so a committed unit of work survives power loss, not just a crash.
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(busy_timeout))
}

impl SqlStore {
    /// Opens the database `options` names, applying migrations unless told not to.
    ///
    /// # Errors
    /// [`OpenError`] when the URL is malformed, the database cannot be reached, or its schema is
    /// newer than this build (or behind it, with migrations off).
    pub async fn open(options: StoreOptions, keys: Keyring) -> Result<Self, OpenError> {
        merchant::check(&options.merchant)?;
        let store = Self::connect(&options, keys).await?;
        if options.migrate {
            store.migrate().await?;
        } else {
            store.check_schema().await?;
        }
        Ok(store)
    }

    async fn connect(options: &StoreOptions, keys: Keyring) -> Result<Self, OpenError> {
        let mut ssl_mode = None;
        let pool = match options.backend()? {
            Backend::Sqlite => {
                if options.url.contains(":memory:") || options.url.contains("mode=memory") {
                    return Err(OpenError::Url(
                        "an in-memory SQLite database is neither durable nor shared between \
                         connections: name a file (sqlite://PATH)"
                            .into(),
                    ));
                }
                let connect = sqlite_options(&options.url, options.busy_timeout)?;
                let max = if options.max_connections == 0 {
                    4
                } else {
                    options.max_connections
                };
                let pool = SqlitePoolOptions::new()
                    .max_connections(max)
                    .acquire_timeout(options.busy_timeout.max(Duration::from_secs(1)))
                    .connect_with(connect)
                    .await
                    .map_err(|e| OpenError::Connect(e.to_string()))?;
                Pool::Sqlite {
                    pool,
                    writer: Arc::new(Semaphore::new(1)),
                }
            }
            Backend::Postgres => {
                let mut connect = PgConnectOptions::from_str(&options.url)
                    .map_err(|e| OpenError::Url(e.to_string()))?;
                // Before any connection: a server off this machine needs a verified certificate.
                tls::check(
                    tls::transport(&connect),
                    connect.get_ssl_mode(),
                    options.allow_unverified_tls,
                )
                .map_err(OpenError::Tls)?;
                ssl_mode = Some(tls::effective(&connect));
                if let Some(schema) = &options.schema {
                    if !schema
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_')
                        || schema.is_empty()
                    {
                        return Err(OpenError::Url(format!(
                            "schema {schema:?}: use letters, digits and underscores"
                        )));
                    }
                    let mut conn = sqlx::PgConnection::connect_with(&connect)
                        .await
                        .map_err(|e| OpenError::Connect(e.to_string()))?;
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "CREATE SCHEMA IF NOT EXISTS {schema}"
                    )))
                    .execute(&mut conn)
                    .await
                    .map_err(|e| OpenError::Connect(e.to_string()))?;
                    connect = connect.options([("search_path", schema.as_str())]);
                }
                let max = if options.max_connections == 0 {
                    8
                } else {
                    options.max_connections
                };
                let pool = PgPoolOptions::new()
                    .max_connections(max)
                    .acquire_timeout(options.busy_timeout.max(Duration::from_secs(1)))
                    .connect_with(connect)
                    .await
                    .map_err(|e| OpenError::Connect(e.to_string()))?;
                Pool::Postgres(pool)
            }
        };
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                keys: Arc::new(keys),
                busy_timeout: options.busy_timeout,
                ssl_mode,
                observer: std::sync::OnceLock::new(),
            }),
            merchant: Arc::from(options.merchant.as_str()),
        })
    }

    /// A handle on the same database for merchant `id`: it shares this store's pool, keyring and
    /// (SQLite) writer queue, and reads and writes `id`'s rows only. Cheap: no connection is made.
    ///
    /// # Errors
    /// [`InvalidMerchant`] unless `id` is 1–63 characters of `a`–`z`, `0`–`9`, `_` and `-`,
    /// starting with a letter or a digit.
    pub fn for_merchant(&self, id: &str) -> Result<SqlStore, InvalidMerchant> {
        merchant::check(id)?;
        Ok(Self {
            inner: self.inner.clone(),
            merchant: Arc::from(id),
        })
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    /// The merchant this handle reads and writes for.
    pub fn merchant(&self) -> &str {
        &self.merchant
    }

    /// Applies pending migrations to the database `options` names and reports where it stands,
    /// without token keys (migrations never read a sealed value): what `autodebit migrate` runs.
    ///
    /// # Errors
    /// As [`SqlStore::open`].
    pub async fn migrate_database(options: StoreOptions) -> Result<Migrated, OpenError> {
        // A throwaway keyring: nothing is sealed or opened here.
        let keys = Keyring::parse(
            &Keyring::generate_entry(0).map_err(|e| OpenError::Migrate(e.to_string()))?,
        )
        .map_err(|e| OpenError::Migrate(e.to_string()))?;
        let store = Self::connect(&options, keys).await?;
        let applied = store.migrate().await?;
        let diagnostics = store
            .diagnostics()
            .await
            .map_err(|e| OpenError::Migrate(e.to_string()))?;
        store.close().await;
        Ok(Migrated {
            applied,
            diagnostics,
        })
    }

    /// Applies the migrations up to `version` only, as [`SqlStore::migrate_database`] applies
    /// them all: for tests that build a database as an older release left it, then migrate it.
    ///
    /// # Errors
    /// As [`SqlStore::migrate_database`].
    #[doc(hidden)]
    pub async fn migrate_database_to(
        options: StoreOptions,
        version: i64,
    ) -> Result<Vec<i64>, OpenError> {
        let keys = Keyring::parse(
            &Keyring::generate_entry(0).map_err(|e| OpenError::Migrate(e.to_string()))?,
        )
        .map_err(|e| OpenError::Migrate(e.to_string()))?;
        let store = Self::connect(&options, keys).await?;
        let migrator = crate::migrations::migrator(store.backend());
        match &store.inner.pool {
            Pool::Sqlite { pool, .. } => migrator.run_to(version, pool).await,
            Pool::Postgres(pool) => migrator.run_to(version, pool).await,
        }
        .map_err(|e| OpenError::Migrate(e.to_string()))?;
        let applied = store.applied_migrations().await;
        store.close().await;
        applied
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        match self.inner.pool {
            Pool::Sqlite { .. } => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// The keyring sealing tokens.
    pub fn keys(&self) -> &Keyring {
        &self.inner.keys
    }

    /// Applies pending migrations; returns the versions applied now (empty when up to date).
    ///
    /// # Errors
    /// [`OpenError::Migrate`] when a migration fails (it is rolled back) or the database holds a
    /// migration this build does not know or whose text changed.
    pub async fn migrate(&self) -> Result<Vec<i64>, OpenError> {
        let before = self.applied_migrations().await?;
        let migrator = crate::migrations::migrator(self.backend());
        match &self.inner.pool {
            Pool::Sqlite { pool, .. } => migrator.run(pool).await,
            Pool::Postgres(pool) => migrator.run(pool).await,
        }
        .map_err(|e| OpenError::Migrate(e.to_string()))?;
        let after = self.applied_migrations().await?;
        Ok(after.into_iter().filter(|v| !before.contains(v)).collect())
    }

    async fn applied_migrations(&self) -> Result<Vec<i64>, OpenError> {
        let exists = match &self.inner.pool {
            Pool::Sqlite { pool, .. } => sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
            )
            .fetch_one(pool)
            .await,
            Pool::Postgres(pool) => sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name = '_sqlx_migrations'",
            )
            .fetch_one(pool)
            .await,
        }
        .map_err(|e| OpenError::Connect(e.to_string()))?;
        if exists == 0 {
            return Ok(Vec::new());
        }
        let sql = "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version";
        match &self.inner.pool {
            Pool::Sqlite { pool, .. } => sqlx::query_scalar::<_, i64>(sql).fetch_all(pool).await,
            Pool::Postgres(pool) => sqlx::query_scalar::<_, i64>(sql).fetch_all(pool).await,
        }
        .map_err(|e| OpenError::Connect(e.to_string()))
    }

    /// Whether the store can serve (for a readiness probe): a round trip to the database, and every
    /// migration this build embeds applied. A database a newer build has migrated further is
    /// still ready (this build's schema is all there); opening it would be refused.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] saying which: the database cannot be reached, or it lacks
    /// migrations (run `autodebit migrate`).
    pub async fn ready(&self) -> Result<(), StoreError> {
        let applied = self
            .applied_migrations()
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let known = crate::migrations::versions(self.backend());
        let missing: Vec<i64> = known
            .iter()
            .copied()
            .filter(|v| !applied.contains(v))
            .collect();
        if !missing.is_empty() {
            return Err(StoreError::Unavailable(format!(
                "the database lacks migrations {missing:?} (it is at {applied:?}): run `autodebit migrate`"
            )));
        }
        Ok(())
    }

    async fn check_schema(&self) -> Result<(), OpenError> {
        let applied = self.applied_migrations().await?;
        let known = crate::migrations::versions(self.backend());
        if applied != known {
            return Err(OpenError::Migrate(format!(
                "the database is at migrations {applied:?}, this build needs {known:?}: run `autodebit migrate`"
            )));
        }
        Ok(())
    }

    /// Begins a unit of work, as [`Store::begin`], but with the concrete type.
    pub(crate) async fn begin_tx(&self) -> Result<SqlTx, StoreError> {
        let exec: Box<dyn Exec>;
        let mut permit = None;
        match &self.inner.pool {
            Pool::Sqlite { pool, writer } => {
                let held = self.acquire_writer(writer).await?;
                permit = Some(held);
                exec = Box::new(
                    pool.begin_with("BEGIN IMMEDIATE")
                        .await
                        .map_err(map_error)?,
                );
            }
            Pool::Postgres(pool) => {
                exec = Box::new(pool.begin().await.map_err(map_error)?);
            }
        }
        Ok(SqlTx {
            exec,
            keys: self.inner.keys.clone(),
            backend: self.backend(),
            merchant: self.merchant.clone(),
            jobs: Vec::new(),
            writer: permit,
            observer: self.inner.observer.get().cloned(),
            tracking: crate::observe::Tracking::default(),
        })
    }

    /// This merchant's outbox entries after `seq`, oldest first, with their sequence numbers: what
    /// a relay delivers to the merchant, remembering the last `seq` it sent. Sequence numbers are
    /// shared by every merchant (so one merchant's numbers have gaps).
    ///
    /// # Errors
    /// As any read.
    pub async fn events_after(
        &self,
        seq: i64,
        limit: u32,
    ) -> Result<Vec<(i64, Event)>, StoreError> {
        let mut tx = self.begin_tx().await?;
        let rows = tx
            .exec
            .fetch(
                "SELECT seq, kind, subject, detail, at FROM events \
                 WHERE merchant_id = $3 AND seq > $1 ORDER BY seq LIMIT $2",
                vec![seq.into(), i64::from(limit).into(), self.merchant().into()],
            )
            .await?;
        rows.iter().map(rows::event).collect()
    }

    /// This merchant's jobs that will run (not set aside), in due order: for operators, and for
    /// tests that inspect a run.
    ///
    /// # Errors
    /// As any read; [`StoreError::Corrupt`] when a row cannot be read (the next claim sets it
    /// aside).
    pub async fn jobs(&self) -> Result<Vec<Job>, StoreError> {
        let mut tx = self.begin_tx().await?;
        tx.read(
            concat!(
                "SELECT ",
                job_columns!(),
                " FROM jobs WHERE merchant_id = $1 AND dead_reason IS NULL ORDER BY due_at, id"
            ),
            vec![self.merchant().into()],
            |row, _| rows::job(row),
        )
        .await
    }

    /// This merchant's jobs set aside as dead letters, oldest first, with why.
    ///
    /// # Errors
    /// As any read.
    pub async fn dead_jobs(&self) -> Result<Vec<DeadJob>, StoreError> {
        let mut tx = self.begin_tx().await?;
        tx.read(
            concat!(
                "SELECT ",
                job_columns!(),
                ", dead_reason, dead_at FROM jobs WHERE merchant_id = $1 \
                 AND dead_reason IS NOT NULL ORDER BY dead_at, id"
            ),
            vec![self.merchant().into()],
            |row, _| {
                Ok(DeadJob {
                    id: rows::job_id(row.int(0)?),
                    what: rows::job_what(row),
                    job: rows::job(row).ok(),
                    reason: row.text(7)?,
                    dead_at: row.int(8)?,
                })
            },
        )
        .await
    }

    /// This merchant's attention items, open or closed, in (opened_at, id) order.
    ///
    /// # Errors
    /// As any read.
    pub async fn attention_items(&self) -> Result<Vec<AttentionItem>, StoreError> {
        let mut tx = self.begin_tx().await?;
        tx.read(
            concat!(
                "SELECT ",
                attention_columns!(),
                " FROM attention_items WHERE merchant_id = $1 ORDER BY opened_at, id"
            ),
            vec![self.merchant().into()],
            |row, _| rows::attention(row),
        )
        .await
    }

    /// This merchant's authorizations, by id, decrypted.
    ///
    /// # Errors
    /// As any read.
    pub async fn authorizations(&self) -> Result<Vec<Authorization>, StoreError> {
        let mut tx = self.begin_tx().await?;
        tx.read(
            concat!(
                "SELECT ",
                authorization_columns!(),
                " FROM authorizations WHERE merchant_id = $1 ORDER BY id"
            ),
            vec![self.merchant().into()],
            rows::authorization,
        )
        .await
    }

    /// This merchant's orders, by id.
    ///
    /// # Errors
    /// As any read.
    pub async fn orders(&self) -> Result<Vec<Order>, StoreError> {
        let mut tx = self.begin_tx().await?;
        tx.read(
            concat!(
                "SELECT ",
                order_columns!(),
                " FROM orders WHERE merchant_id = $1 ORDER BY id"
            ),
            vec![self.merchant().into()],
            |row, _| rows::order(row),
        )
        .await
    }

    /// This merchant's payment attempts, by creation time, decrypted.
    ///
    /// # Errors
    /// As any read.
    pub async fn attempts(&self) -> Result<Vec<PaymentAttempt>, StoreError> {
        let mut tx = self.begin_tx().await?;
        tx.read(
            concat!(
                "SELECT ",
                attempt_columns!(),
                " FROM payment_attempts WHERE merchant_id = $1 ORDER BY created_at, id"
            ),
            vec![self.merchant().into()],
            rows::attempt,
        )
        .await
    }

    /// This merchant's refunds, by creation time, decrypted.
    ///
    /// # Errors
    /// As any read.
    pub async fn refunds(&self) -> Result<Vec<Refund>, StoreError> {
        let mut tx = self.begin_tx().await?;
        tx.read(
            concat!(
                "SELECT ",
                refund_columns!(),
                " FROM refunds WHERE merchant_id = $1 ORDER BY created_at, id"
            ),
            vec![self.merchant().into()],
            rows::refund,
        )
        .await
    }

    /// This merchant's inbox entries, oldest first, decrypted.
    ///
    /// # Errors
    /// As any read; [`StoreError::Corrupt`] when a body does not decrypt.
    pub async fn inbox(&self) -> Result<Vec<InboxEntry>, StoreError> {
        let mut tx = self.begin_tx().await?;
        tx.read(
            "SELECT dedup_key, path, headers, body, received_at, merchant_id FROM inbox \
             WHERE merchant_id = $1 ORDER BY received_at, dedup_key",
            vec![self.merchant().into()],
            rows::inbox,
        )
        .await
    }

    /// What the database runs with (the whole database, whichever merchant's handle asks): for the
    /// start-up log, and to check the settings took.
    ///
    /// # Errors
    /// As any read.
    pub async fn diagnostics(&self) -> Result<Diagnostics, StoreError> {
        let mut tx = self.begin_tx().await?;
        let text = |rows: Vec<Row>| -> Result<Option<String>, StoreError> {
            rows.first()
                .map(|r| match r.opt_text(0) {
                    Ok(t) => Ok(t),
                    Err(_) => r.int(0).map(|i| Some(i.to_string())),
                })
                .transpose()
                .map(Option::flatten)
        };
        let migrations = self
            .applied_migrations()
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(match self.backend() {
            Backend::Sqlite => {
                let journal = text(tx.exec.fetch("PRAGMA journal_mode", vec![]).await?)?;
                let synchronous = text(tx.exec.fetch("PRAGMA synchronous", vec![]).await?)?;
                let version = text(tx.exec.fetch("SELECT sqlite_version()", vec![]).await?)?;
                let integrity = text(tx.exec.fetch("PRAGMA quick_check", vec![]).await?)?;
                Diagnostics {
                    backend: Backend::Sqlite,
                    server_version: version,
                    journal_mode: journal,
                    synchronous: synchronous.map(|s| {
                        match s.as_str() {
                            "0" => "off",
                            "1" => "normal",
                            "2" => "full",
                            "3" => "extra",
                            other => other,
                        }
                        .to_owned()
                    }),
                    integrity,
                    migrations,
                    ssl_mode: None,
                    ssl_in_use: None,
                }
            }
            Backend::Postgres => Diagnostics {
                backend: Backend::Postgres,
                server_version: text(tx.exec.fetch("SHOW server_version", vec![]).await?)?,
                journal_mode: None,
                synchronous: text(tx.exec.fetch("SHOW synchronous_commit", vec![]).await?)?,
                integrity: None,
                migrations,
                ssl_mode: self.inner.ssl_mode.clone(),
                ssl_in_use: tx
                    .exec
                    .fetch(
                        "SELECT CAST(CASE WHEN ssl THEN 1 ELSE 0 END AS BIGINT) FROM pg_stat_ssl \
                         WHERE pid = pg_backend_pid()",
                        vec![],
                    )
                    .await?
                    .first()
                    .map(|r| r.int(0))
                    .transpose()?
                    .map(|on| on == 1),
            },
        })
    }

    /// SQLite: rebuilds the database file (`VACUUM`, which leaves no free space holding old
    /// values) and truncates the WAL, so no superseded value (an old ciphertext) is left in either
    /// file. PostgreSQL: nothing (old row versions go with `VACUUM FULL`, which takes exclusive
    /// locks: an operator's decision).
    pub(crate) async fn purge_old_versions(&self) -> Result<(), StoreError> {
        if let Pool::Sqlite { pool, writer } = &self.inner.pool {
            let _writing = self.acquire_writer(writer).await?;
            sqlx::query("VACUUM")
                .execute(pool)
                .await
                .map_err(map_error)?;
            let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_one(pool)
                .await
                .map_err(map_error)?;
            if busy != 0 {
                return Err(StoreError::Unavailable(
                    "the WAL checkpoint could not finish: a reader is active; run it again".into(),
                ));
            }
        }
        Ok(())
    }

    /// SQLite's in-process write slot, waited for up to the busy timeout.
    async fn acquire_writer(
        &self,
        writer: &Arc<Semaphore>,
    ) -> Result<OwnedSemaphorePermit, StoreError> {
        tokio::time::timeout(self.inner.busy_timeout, writer.clone().acquire_owned())
            .await
            .map_err(|_| {
                StoreError::Unavailable(
                    "the database is busy: no write slot within the busy timeout".into(),
                )
            })?
            .map_err(|_| StoreError::Unavailable("the store is closed".into()))
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        match &self.inner.pool {
            Pool::Sqlite { pool, .. } => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }
}

/// A job set aside as a dead letter (see [`SqlStore::dead_jobs`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadJob {
    /// Its id.
    pub id: JobId,
    /// Its kind and subject as stored (`payment att_1`), readable by this version or not.
    pub what: String,
    /// The job, when its row can be read (`None`: a kind from a newer version, a corrupt value).
    pub job: Option<Job>,
    /// Why it was set aside.
    pub reason: String,
    /// When.
    pub dead_at: Millis,
}

/// What [`SqlStore::migrate_database`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Migrated {
    /// The migrations applied now (empty when the database was up to date).
    pub applied: Vec<i64>,
    /// Where the database stands after.
    pub diagnostics: Diagnostics,
}

/// What [`SqlStore::diagnostics`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Diagnostics {
    /// The backend.
    pub backend: Backend,
    /// The server's (or SQLite library's) version.
    pub server_version: Option<String>,
    /// SQLite's journal mode (`wal`).
    pub journal_mode: Option<String>,
    /// SQLite's `synchronous` (`full`), or PostgreSQL's `synchronous_commit` (`on`).
    pub synchronous: Option<String>,
    /// SQLite's `PRAGMA quick_check` (`ok`).
    pub integrity: Option<String>,
    /// The migrations applied.
    pub migrations: Vec<i64>,
    /// PostgreSQL: the `sslmode` connections are opened with (`verify-full`, `verify-ca`,
    /// `require`, `prefer`, `allow`, `disable`; `unix-socket` when TLS does not apply), after the
    /// URL, `PGSSLMODE` and sqlx's default (`prefer`). `None` on SQLite.
    pub ssl_mode: Option<String>,
    /// PostgreSQL: whether the connection that read these diagnostics is encrypted
    /// (`pg_stat_ssl`). `None` on SQLite.
    pub ssl_in_use: Option<bool>,
}

#[async_trait]
impl Store for SqlStore {
    async fn begin(&self) -> Result<Box<dyn Tx>, StoreError> {
        Ok(Box::new(self.begin_tx().await?))
    }

    async fn claim_jobs(&self, claim: &Claim) -> Result<Vec<Job>, StoreError> {
        jobs::claim_jobs(self, claim).await
    }

    async fn claim_job(
        &self,
        kind: &JobKind,
        now: Millis,
        token: &LeaseToken,
        lease_ms: Millis,
    ) -> Result<Option<Job>, StoreError> {
        jobs::claim_job(self, kind, now, token, lease_ms).await
    }

    async fn renew_lease(
        &self,
        id: &JobId,
        token: &LeaseToken,
        until: Millis,
    ) -> Result<bool, StoreError> {
        jobs::renew_lease(self, id, token, until).await
    }

    async fn release_lease(&self, id: &JobId, token: &LeaseToken) -> Result<bool, StoreError> {
        jobs::release_lease(self, id, token).await
    }

    async fn open_attention(
        &self,
        after: Option<&AttentionId>,
        limit: u32,
    ) -> Result<Vec<AttentionItem>, StoreError> {
        let mut tx = self.begin_tx().await?;
        let cursor = match after {
            None => None,
            Some(id) => {
                tx.read_one(
                    "SELECT opened_at, id FROM attention_items WHERE id = $1 AND merchant_id = $2",
                    vec![id.as_str().into(), self.merchant().into()],
                    |row, _| Ok((row.int(0)?, row.text(1)?)),
                )
                .await?
            }
        };
        let limit = i64::from(limit);
        // After the cursor's place in (opened_at, id) order, even if it was closed since; an
        // unknown cursor lists from the start.
        let items = match cursor {
            None => {
                tx.read(
                    concat!(
                        "SELECT ",
                        attention_columns!(),
                        " FROM attention_items WHERE merchant_id = $2 AND resolved_at IS NULL \
                         ORDER BY opened_at, id LIMIT $1"
                    ),
                    vec![limit.into(), self.merchant().into()],
                    |row, _| rows::attention(row),
                )
                .await?
            }
            Some((opened_at, id)) => {
                tx.read(
                    concat!(
                        "SELECT ",
                        attention_columns!(),
                        " FROM attention_items WHERE merchant_id = $4 AND resolved_at IS NULL \
                         AND (opened_at > $1 OR (opened_at = $1 AND id > $2)) \
                         ORDER BY opened_at, id LIMIT $3"
                    ),
                    vec![
                        opened_at.into(),
                        id.into(),
                        limit.into(),
                        self.merchant().into(),
                    ],
                    |row, _| rows::attention(row),
                )
                .await?
            }
        };
        drop(tx);
        Ok(items)
    }
}
