//! [`SqlStore`]: the domain's store port on SQLite or PostgreSQL.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use autodebit_domain::model::{
    AttemptId, Authorization, AuthorizationId, Event, IdempotencyRecord, InboxEntry, Job, JobId,
    JobKind, Millis, Order, OrderId, PaymentAttempt, Refund, RefundId,
};
use autodebit_domain::ports::{Store, StoreError, Tx};
use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::crypto::Keyring;
use crate::db::{Exec, Row, Value, map_error};
use crate::rows::{
    self, attempt_columns, authorization_columns, job_columns, order_columns, refund_columns,
};
use crate::{Backend, OpenError};

/// How to open a store. [`StoreOptions::new`] takes a database URL: `sqlite://PATH` (or
/// `sqlite:PATH`; the file is created if missing) or `postgres://…`/`postgresql://…`.
#[derive(Clone)]
pub struct StoreOptions {
    url: String,
    max_connections: u32,
    busy_timeout: Duration,
    migrate: bool,
    schema: Option<String>,
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
            .finish()
    }
}

impl StoreOptions {
    /// Options for `url`, with the defaults: 8 connections (SQLite: 4), a 5 s busy timeout,
    /// migrations applied on open.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 0,
            busy_timeout: Duration::from_secs(5),
            migrate: true,
            schema: None,
        }
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

struct Inner {
    pool: Pool,
    keys: Arc<Keyring>,
    busy_timeout: Duration,
}

/// The store port on SQLite or PostgreSQL. Cheap to clone: clones share the pool.
///
/// Every unit of work is a database transaction: on SQLite `BEGIN IMMEDIATE` (one writer at a
/// time, so a read-then-write never meets a stale snapshot), on PostgreSQL `READ COMMITTED` with
/// compare-and-set updates (`… WHERE version = $n`), which block on a concurrent writer of the same
/// row and then see its commit. Jobs are claimed with `FOR UPDATE SKIP LOCKED` on PostgreSQL.
#[derive(Clone)]
pub struct SqlStore {
    inner: Arc<Inner>,
}

impl fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlStore")
            .field("backend", &self.backend())
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
        let store = Self::connect(&options, keys).await?;
        if options.migrate {
            store.migrate().await?;
        } else {
            store.check_schema().await?;
        }
        Ok(store)
    }

    async fn connect(options: &StoreOptions, keys: Keyring) -> Result<Self, OpenError> {
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
            }),
        })
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
            jobs: Vec::new(),
            _writer: permit,
        })
    }

    /// Outbox entries after `seq`, oldest first, with their sequence numbers: what a relay
    /// delivers to the merchant, remembering the last `seq` it sent.
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
                "SELECT seq, kind, subject, detail, at FROM events WHERE seq > $1 ORDER BY seq LIMIT $2",
                vec![seq.into(), i64::from(limit).into()],
            )
            .await?;
        rows.iter().map(rows::event).collect()
    }

    /// Every job, in due order (for operators and tests).
    ///
    /// # Errors
    /// As any read.
    pub async fn jobs(&self) -> Result<Vec<Job>, StoreError> {
        let mut tx = self.begin_tx().await?;
        let rows = tx
            .exec
            .fetch(
                concat!("SELECT ", job_columns!(), " FROM jobs ORDER BY due_at, id"),
                vec![],
            )
            .await?;
        rows.iter().map(rows::job).collect()
    }

    /// Every inbox entry, oldest first, decrypted.
    ///
    /// # Errors
    /// As any read; [`StoreError::Corrupt`] when a body does not decrypt.
    pub async fn inbox(&self) -> Result<Vec<InboxEntry>, StoreError> {
        let mut tx = self.begin_tx().await?;
        let rows = tx
            .exec
            .fetch(
                "SELECT dedup_key, path, headers, body, received_at FROM inbox ORDER BY received_at, dedup_key",
                vec![],
            )
            .await?;
        rows.iter()
            .map(|r| rows::inbox(r, &self.inner.keys))
            .collect()
    }

    /// What the database runs with: for the start-up log, and to check the settings took.
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
                }
            }
            Backend::Postgres => Diagnostics {
                backend: Backend::Postgres,
                server_version: text(tx.exec.fetch("SHOW server_version", vec![]).await?)?,
                journal_mode: None,
                synchronous: text(tx.exec.fetch("SHOW synchronous_commit", vec![]).await?)?,
                integrity: None,
                migrations,
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
}

/// A unit of work on a [`SqlStore`]: one open database transaction. Dropped without
/// [`Tx::commit`], it rolls back.
pub(crate) struct SqlTx {
    pub(crate) exec: Box<dyn Exec>,
    pub(crate) keys: Arc<Keyring>,
    backend: Backend,
    /// Job changes, applied at commit in this order (see [`SqlTx::apply_jobs`]).
    jobs: Vec<JobOp>,
    _writer: Option<OwnedSemaphorePermit>,
}

/// A job change staged by the unit of work.
#[derive(Debug)]
enum JobOp {
    /// A job inserted by this unit of work (inserted at once; kept here so a removal staged
    /// before it does not remove it).
    Enqueued(i64),
    Complete {
        id: i64,
        worker: String,
    },
    Reschedule {
        id: i64,
        worker: String,
        due_at: Millis,
    },
    Remove {
        kind: &'static str,
        subject: String,
    },
}

/// Reads a row into a record (with the keyring for sealed columns).
type Decode<T> = fn(&Row, &Keyring) -> Result<T, StoreError>;

impl SqlTx {
    /// Runs a query and decodes every row.
    async fn read<T>(
        &mut self,
        sql: &'static str,
        args: Vec<Value>,
        decode: Decode<T>,
    ) -> Result<Vec<T>, StoreError> {
        let rows = self.exec.fetch(sql, args).await?;
        rows.iter().map(|row| decode(row, &self.keys)).collect()
    }

    /// Runs a query for at most one row.
    async fn read_one<T>(
        &mut self,
        sql: &'static str,
        args: Vec<Value>,
        decode: Decode<T>,
    ) -> Result<Option<T>, StoreError> {
        Ok(self.read(sql, args, decode).await?.into_iter().next())
    }

    /// Runs an `INSERT … ON CONFLICT DO NOTHING`; no row inserted is a conflict.
    async fn insert(
        &mut self,
        sql: &'static str,
        values: Vec<Value>,
        conflict: impl FnOnce() -> String + Send,
    ) -> Result<(), StoreError> {
        match self.exec.execute(sql, values).await? {
            1 => Ok(()),
            _ => Err(StoreError::Conflict(conflict())),
        }
    }

    /// Runs a compare-and-set `UPDATE` whose last parameter is the version read.
    async fn update(
        &mut self,
        sql: &'static str,
        mut values: Vec<Value>,
        expected: u64,
    ) -> Result<bool, StoreError> {
        values.push(
            i64::try_from(expected)
                .map_err(|_| StoreError::Rejected("version out of range".into()))?
                .into(),
        );
        Ok(self.exec.execute(sql, values).await? == 1)
    }

    /// Runs a `SELECT count(*)`.
    pub(crate) async fn count(
        &mut self,
        sql: &'static str,
        args: Vec<Value>,
    ) -> Result<u64, StoreError> {
        let n = self
            .read_one(sql, args, |row, _| row.int(0))
            .await?
            .unwrap_or(0);
        u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("a count of {n}")))
    }

    /// Stages `op` for job `id` if `worker` holds its lease as committed now (checked again at
    /// commit); returns whether it does.
    async fn stage_if_held(
        &mut self,
        id: &JobId,
        worker: &str,
        op: impl FnOnce(i64, String) -> JobOp + Send,
    ) -> Result<bool, StoreError> {
        let Some(number) = job_number(id) else {
            return Ok(false);
        };
        let held = self
            .count(
                "SELECT count(*) FROM jobs WHERE id = $1 AND lease_holder = $2",
                vec![number.into(), worker.into()],
            )
            .await?
            == 1;
        if held {
            self.jobs.push(op(number, worker.to_owned()));
        }
        Ok(held)
    }

    /// Applies the staged job changes, as the in-memory store does at commit: first every job
    /// row involved is locked in id order (PostgreSQL; SQLite already holds the write lock) and
    /// every lease the unit of work relied on is checked, then the changes apply in the order they
    /// were made. Staging them keeps job rows unlocked while the unit of work runs, so a worker
    /// finishing a job and a notification settling the same payment cannot deadlock on a job row
    /// and an entity row taken in opposite orders.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when a lease is no longer held (the caller re-reads and re-applies).
    async fn apply_jobs(&mut self) -> Result<(), StoreError> {
        if self.jobs.iter().all(|op| matches!(op, JobOp::Enqueued(_))) {
            return Ok(());
        }
        // The rows each removal covers, as committed now (plus this unit of work's own inserts).
        let mut removals: Vec<Vec<i64>> = Vec::new();
        let mut involved: Vec<i64> = Vec::new();
        for op in &self.jobs {
            match op {
                JobOp::Enqueued(_) => {}
                JobOp::Complete { id, .. } | JobOp::Reschedule { id, .. } => involved.push(*id),
                JobOp::Remove { kind, subject } => {
                    let rows = self
                        .exec
                        .fetch(
                            "SELECT id FROM jobs WHERE kind = $1 AND subject = $2 ORDER BY id",
                            vec![(*kind).into(), subject.as_str().into()],
                        )
                        .await?;
                    let ids = rows
                        .iter()
                        .map(|r| r.int(0))
                        .collect::<Result<Vec<_>, _>>()?;
                    involved.extend(&ids);
                    removals.push(ids);
                }
            }
        }
        involved.sort_unstable();
        involved.dedup();
        let lock = match self.backend {
            Backend::Postgres => "SELECT id, lease_holder FROM jobs WHERE id = $1 FOR UPDATE",
            Backend::Sqlite => "SELECT id, lease_holder FROM jobs WHERE id = $1",
        };
        let mut holders = std::collections::BTreeMap::new();
        for id in involved {
            let rows = self.exec.fetch(lock, vec![id.into()]).await?;
            if let Some(row) = rows.first() {
                holders.insert(id, row.opt_text(1)?);
            }
        }
        for op in &self.jobs {
            if let JobOp::Complete { id, worker } | JobOp::Reschedule { id, worker, .. } = op
                && holders.get(id).and_then(Option::as_deref) != Some(worker.as_str())
            {
                return Err(StoreError::Conflict(format!(
                    "job {id} is no longer leased to {worker}"
                )));
            }
        }
        let ops = std::mem::take(&mut self.jobs);
        let mut removals = removals.into_iter();
        for (i, op) in ops.iter().enumerate() {
            match op {
                JobOp::Enqueued(_) => {}
                JobOp::Complete { id, .. } => {
                    self.exec
                        .execute("DELETE FROM jobs WHERE id = $1", vec![(*id).into()])
                        .await?;
                }
                JobOp::Reschedule { id, due_at, .. } => {
                    self.exec
                        .execute(
                            "UPDATE jobs SET due_at = $2, lease_holder = NULL, lease_until = NULL \
                             WHERE id = $1",
                            vec![(*id).into(), (*due_at).into()],
                        )
                        .await?;
                }
                JobOp::Remove { .. } => {
                    // Jobs this unit of work enqueues after the removal stay.
                    let later: Vec<i64> = ops[i..]
                        .iter()
                        .filter_map(|o| match o {
                            JobOp::Enqueued(id) => Some(*id),
                            _ => None,
                        })
                        .collect();
                    for id in removals.next().unwrap_or_default() {
                        if !later.contains(&id) {
                            self.exec
                                .execute("DELETE FROM jobs WHERE id = $1", vec![id.into()])
                                .await?;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

impl fmt::Debug for SqlTx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlTx").finish_non_exhaustive()
    }
}

const CLAIM_SQLITE: &str = concat!(
    "UPDATE jobs SET lease_holder = $1, lease_until = $2, attempts = attempts + 1 \
     WHERE id IN (SELECT id FROM jobs WHERE due_at <= $3 \
     AND (lease_until IS NULL OR lease_until <= $3) ORDER BY due_at, id LIMIT $4) \
     RETURNING ",
    job_columns!()
);

const CLAIM_POSTGRES: &str = concat!(
    "UPDATE jobs SET lease_holder = $1, lease_until = $2, attempts = attempts + 1 \
     WHERE id IN (SELECT id FROM jobs WHERE due_at <= $3 \
     AND (lease_until IS NULL OR lease_until <= $3) ORDER BY due_at, id LIMIT $4 \
     FOR UPDATE SKIP LOCKED) \
     RETURNING ",
    job_columns!()
);

#[async_trait]
impl Store for SqlStore {
    async fn begin(&self) -> Result<Box<dyn Tx>, StoreError> {
        Ok(Box::new(self.begin_tx().await?))
    }

    async fn claim_jobs(
        &self,
        now: Millis,
        worker: &str,
        lease_ms: Millis,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        let sql = match self.backend() {
            Backend::Sqlite => CLAIM_SQLITE,
            Backend::Postgres => CLAIM_POSTGRES,
        };
        let until = now.checked_add(lease_ms).ok_or_else(|| {
            StoreError::Rejected(format!("a lease of {lease_ms} ms from {now} overflows"))
        })?;
        let mut tx = self.begin_tx().await?;
        let rows = tx
            .exec
            .fetch(
                sql,
                vec![
                    worker.into(),
                    until.into(),
                    now.into(),
                    i64::from(limit).into(),
                ],
            )
            .await?;
        let mut jobs = rows.iter().map(rows::job).collect::<Result<Vec<_>, _>>()?;
        tx.exec.commit().await?;
        jobs.sort_by_key(|j| (j.due_at, job_number(&j.id)));
        Ok(jobs)
    }
}

fn job_number(id: &JobId) -> Option<i64> {
    id.as_str().parse().ok()
}

fn version_after(version: u64) -> Result<u64, StoreError> {
    version
        .checked_add(1)
        .ok_or_else(|| StoreError::Rejected("the version counter is exhausted".into()))
}

#[async_trait]
impl Tx for SqlTx {
    async fn authorization(
        &mut self,
        id: &AuthorizationId,
    ) -> Result<Option<Authorization>, StoreError> {
        self.read_one(
            concat!(
                "SELECT ",
                authorization_columns!(),
                " FROM authorizations WHERE id = $1"
            ),
            vec![id.as_str().into()],
            rows::authorization,
        )
        .await
    }

    async fn authorization_by_auth_state(
        &mut self,
        auth_state: &str,
    ) -> Result<Option<Authorization>, StoreError> {
        self.read_one(
            concat!(
                "SELECT ",
                authorization_columns!(),
                " FROM authorizations WHERE auth_state = $1"
            ),
            vec![auth_state.into()],
            rows::authorization,
        )
        .await
    }

    async fn authorization_by_access_token(
        &mut self,
        access_token: &str,
    ) -> Result<Option<Authorization>, StoreError> {
        // The blind index under every configured key: rows not yet re-encrypted still match.
        for index in self
            .keys
            .blind_indexes(rows::ACCESS_TOKEN_INDEX, access_token)
        {
            let found = self
                .read(
                    concat!(
                        "SELECT ",
                        authorization_columns!(),
                        " FROM authorizations WHERE access_token_index = $1 ORDER BY id"
                    ),
                    vec![index.into()],
                    rows::authorization,
                )
                .await?;
            if let Some(auth) = found.into_iter().find(|a| {
                a.token
                    .as_ref()
                    .is_some_and(|t| t.access_token.expose_secret() == access_token)
            }) {
                return Ok(Some(auth));
            }
        }
        Ok(None)
    }

    async fn insert_authorization(
        &mut self,
        authorization: &Authorization,
    ) -> Result<(), StoreError> {
        let values = rows::authorization_values(authorization, 0, &self.keys)?;
        self.insert(
            concat!(
                "INSERT INTO authorizations (",
                authorization_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
                 $16, $17, $18, $19, $20, $21) ON CONFLICT DO NOTHING"
            ),
            values,
            || format!("authorization {} or its authState exists", authorization.id),
        )
        .await
    }

    async fn update_authorization(
        &mut self,
        authorization: &Authorization,
    ) -> Result<bool, StoreError> {
        let values = rows::authorization_values(
            authorization,
            version_after(authorization.version)?,
            &self.keys,
        )?;
        self.update(
            "UPDATE authorizations SET customer_id = $2, wallet = $3, terminal_type = $4, \
             os_type = $5, return_url = $6, auth_state = $7, auth_url = $8, state = $9, \
             access_token = $10, access_expires_at = $11, refresh_token = $12, \
             refresh_expires_at = $13, pending_auth_code = $14, user_login_id = $15, \
             failure = $16, version = $17, created_at = $18, updated_at = $19, \
             key_version = $20, access_token_index = $21 WHERE id = $1 AND version = $22",
            values,
            authorization.version,
        )
        .await
    }

    async fn order(&mut self, id: &OrderId) -> Result<Option<Order>, StoreError> {
        self.read_one(
            concat!("SELECT ", order_columns!(), " FROM orders WHERE id = $1"),
            vec![id.as_str().into()],
            |row, _| rows::order(row),
        )
        .await
    }

    async fn insert_order(&mut self, order: &Order) -> Result<(), StoreError> {
        self.insert(
            concat!(
                "INSERT INTO orders (",
                order_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING"
            ),
            rows::order_values(order, 0)?,
            || format!("order {} exists", order.id),
        )
        .await
    }

    async fn update_order(&mut self, order: &Order) -> Result<bool, StoreError> {
        self.update(
            "UPDATE orders SET authorization_id = $2, reference = $3, description = $4, \
             currency = $5, amount_minor = $6, state = $7, refunded_minor = $8, version = $9, \
             created_at = $10, updated_at = $11 WHERE id = $1 AND version = $12",
            rows::order_values(order, version_after(order.version)?)?,
            order.version,
        )
        .await
    }

    async fn attempt(&mut self, id: &AttemptId) -> Result<Option<PaymentAttempt>, StoreError> {
        self.read_one(
            concat!(
                "SELECT ",
                attempt_columns!(),
                " FROM payment_attempts WHERE id = $1"
            ),
            vec![id.as_str().into()],
            rows::attempt,
        )
        .await
    }

    async fn attempt_by_payment_request_id(
        &mut self,
        id: &str,
    ) -> Result<Option<PaymentAttempt>, StoreError> {
        self.read_one(
            concat!(
                "SELECT ",
                attempt_columns!(),
                " FROM payment_attempts WHERE payment_request_id = $1"
            ),
            vec![id.into()],
            rows::attempt,
        )
        .await
    }

    async fn attempts_of_order(
        &mut self,
        order: &OrderId,
    ) -> Result<Vec<PaymentAttempt>, StoreError> {
        self.read(
            concat!(
                "SELECT ",
                attempt_columns!(),
                " FROM payment_attempts WHERE order_id = $1 ORDER BY created_at, id"
            ),
            vec![order.as_str().into()],
            rows::attempt,
        )
        .await
    }

    async fn insert_attempt(&mut self, attempt: &PaymentAttempt) -> Result<(), StoreError> {
        let values = rows::attempt_values(attempt, 0, &self.keys)?;
        self.insert(
            concat!(
                "INSERT INTO payment_attempts (",
                attempt_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
                 $16, $17) ON CONFLICT DO NOTHING"
            ),
            values,
            || {
                format!(
                    "attempt {} or paymentRequestId {} exists",
                    attempt.id, attempt.payment_request_id
                )
            },
        )
        .await
    }

    async fn update_attempt(&mut self, attempt: &PaymentAttempt) -> Result<bool, StoreError> {
        let values = rows::attempt_values(attempt, version_after(attempt.version)?, &self.keys)?;
        self.update(
            "UPDATE payment_attempts SET order_id = $2, payment_request_id = $3, \
             request_body = $4, currency = $5, amount_minor = $6, state = $7, \
             payment_id = $8, result_code = $9, inquiries = $10, late_success = $11, \
             cancel_started_at = $12, expires_at = $13, version = $14, created_at = $15, \
             updated_at = $16, key_version = $17 WHERE id = $1 AND version = $18",
            values,
            attempt.version,
        )
        .await
    }

    async fn refund(&mut self, id: &RefundId) -> Result<Option<Refund>, StoreError> {
        self.read_one(
            concat!("SELECT ", refund_columns!(), " FROM refunds WHERE id = $1"),
            vec![id.as_str().into()],
            rows::refund,
        )
        .await
    }

    async fn refund_by_refund_request_id(
        &mut self,
        id: &str,
    ) -> Result<Option<Refund>, StoreError> {
        self.read_one(
            concat!(
                "SELECT ",
                refund_columns!(),
                " FROM refunds WHERE refund_request_id = $1"
            ),
            vec![id.into()],
            rows::refund,
        )
        .await
    }

    async fn refunds_of_order(&mut self, order: &OrderId) -> Result<Vec<Refund>, StoreError> {
        self.read(
            concat!(
                "SELECT ",
                refund_columns!(),
                " FROM refunds WHERE order_id = $1 ORDER BY created_at, id"
            ),
            vec![order.as_str().into()],
            rows::refund,
        )
        .await
    }

    async fn insert_refund(&mut self, refund: &Refund) -> Result<(), StoreError> {
        let values = rows::refund_values(refund, 0, &self.keys)?;
        self.insert(
            concat!(
                "INSERT INTO refunds (",
                refund_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
                 $16) ON CONFLICT DO NOTHING"
            ),
            values,
            || {
                format!(
                    "refund {} or refundRequestId {} exists",
                    refund.id, refund.refund_request_id
                )
            },
        )
        .await
    }

    async fn update_refund(&mut self, refund: &Refund) -> Result<bool, StoreError> {
        let values = rows::refund_values(refund, version_after(refund.version)?, &self.keys)?;
        self.update(
            "UPDATE refunds SET order_id = $2, refund_request_id = $3, request_body = $4, \
             currency = $5, amount_minor = $6, state = $7, refund_id = $8, result_code = $9, \
             sends = $10, first_sent_at = $11, inquiries = $12, version = $13, \
             created_at = $14, updated_at = $15, key_version = $16 \
             WHERE id = $1 AND version = $17",
            values,
            refund.version,
        )
        .await
    }

    async fn enqueue_job(&mut self, kind: JobKind, due_at: Millis) -> Result<JobId, StoreError> {
        let (name, subject) = rows::job_kind_values(&kind);
        let id = self
            .read_one(
                "INSERT INTO jobs (kind, subject, due_at, attempts) VALUES ($1, $2, $3, 0) RETURNING id",
                vec![name.into(), subject.into(), due_at.into()],
                |row, _| row.int(0),
            )
            .await?
            .ok_or_else(|| StoreError::Unavailable("the job insert returned no id".into()))?;
        self.jobs.push(JobOp::Enqueued(id));
        Ok(JobId::new(id.to_string()))
    }

    async fn complete_job(&mut self, id: &JobId, worker: &str) -> Result<bool, StoreError> {
        self.stage_if_held(id, worker, |id, worker| JobOp::Complete { id, worker })
            .await
    }

    async fn reschedule_job(
        &mut self,
        id: &JobId,
        worker: &str,
        due_at: Millis,
    ) -> Result<bool, StoreError> {
        self.stage_if_held(id, worker, |id, worker| JobOp::Reschedule {
            id,
            worker,
            due_at,
        })
        .await
    }

    async fn remove_jobs(&mut self, kind: &JobKind) -> Result<usize, StoreError> {
        let (name, subject) = rows::job_kind_values(kind);
        let count = self
            .count(
                "SELECT count(*) FROM jobs WHERE kind = $1 AND subject = $2",
                vec![name.into(), subject.into()],
            )
            .await?;
        self.jobs.push(JobOp::Remove {
            kind: name,
            subject: subject.to_owned(),
        });
        Ok(usize::try_from(count).unwrap_or(usize::MAX))
    }

    async fn push_event(&mut self, event: &Event) -> Result<(), StoreError> {
        self.exec
            .execute(
                "INSERT INTO events (kind, subject, detail, at) VALUES ($1, $2, $3, $4)",
                vec![
                    event.kind.name().into(),
                    event.subject.as_str().into(),
                    event.detail.as_deref().into(),
                    event.at.into(),
                ],
            )
            .await?;
        Ok(())
    }

    async fn inbox_insert(&mut self, entry: &InboxEntry) -> Result<bool, StoreError> {
        let n = self
            .exec
            .execute(
                "INSERT INTO inbox (dedup_key, path, headers, body, received_at, key_version) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                rows::inbox_values(entry, &self.keys)?,
            )
            .await?;
        Ok(n == 1)
    }

    async fn idempotency(&mut self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.read_one(
            "SELECT key, fingerprint, resource, created_at FROM idempotency_keys WHERE key = $1",
            vec![key.into()],
            |row, _| rows::idempotency(row),
        )
        .await
    }

    async fn insert_idempotency(&mut self, record: &IdempotencyRecord) -> Result<bool, StoreError> {
        let n = self
            .exec
            .execute(
                "INSERT INTO idempotency_keys (key, fingerprint, resource, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                vec![
                    record.key.as_str().into(),
                    record.fingerprint.as_str().into(),
                    record.resource.as_str().into(),
                    record.created_at.into(),
                ],
            )
            .await?;
        Ok(n == 1)
    }

    async fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        self.apply_jobs().await?;
        let SqlTx { exec, _writer, .. } = *self;
        let result = exec.commit().await;
        drop(_writer);
        result
    }
}
