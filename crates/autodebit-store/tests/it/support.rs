//! Fresh databases for each test, on every configured backend, and records to store.

use std::path::PathBuf;
use std::process::Command;

use ams_protocol::{
    AccessToken, Amount, AuthCode, AuthState, Currency, CustomerBelongsTo, PaymentRequestId,
    RefreshToken, RefundRequestId, TerminalType,
};
use autodebit_domain::lifecycle::attempt::AttemptState;
use autodebit_domain::lifecycle::authorization::AuthorizationState;
use autodebit_domain::lifecycle::order::OrderState;
use autodebit_domain::lifecycle::refund::RefundState;
use autodebit_domain::model::{
    AttemptId, Authorization, AuthorizationId, Body, JobKind, LeaseToken, Millis, Order, OrderId,
    PaymentAttempt, Refund, RefundId, RefundOrigin, TokenSet,
};
use autodebit_domain::ports::Claim;
use autodebit_store::{Backend, Keyring, SqlStore, StoreOptions};
use tempfile::TempDir;

/// 2024-01-01T00:00:00Z.
pub(crate) const T0: Millis = 1_704_067_200_000;

/// The PostgreSQL server the suite also runs on, if any.
pub(crate) fn postgres_url() -> Option<String> {
    std::env::var("AUTODEBIT_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
}

/// Where a test database lives: a file in its own temporary directory, or a schema of its own on
/// the PostgreSQL server (dropped when this drops, also when the test failed).
pub(crate) struct Place {
    url: String,
    schema: Option<String>,
    dir: Option<TempDir>,
}

fn random_suffix() -> String {
    // A fresh key is 32 random bytes in base64: keep its letters and digits.
    Keyring::generate_entry(0)
        .unwrap()
        .chars()
        .skip(2)
        .filter(char::is_ascii_alphanumeric)
        .take(16)
        .collect::<String>()
        .to_ascii_lowercase()
}

impl Place {
    /// A fresh SQLite file (not created yet).
    pub(crate) fn sqlite() -> Place {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("autodebit.db").display());
        Place {
            url,
            schema: None,
            dir: Some(dir),
        }
    }

    /// A fresh schema on the PostgreSQL server (created on first open).
    pub(crate) fn postgres(url: &str) -> Place {
        Place {
            url: url.to_owned(),
            schema: Some(format!("autodebit_test_{}", random_suffix())),
            dir: None,
        }
    }

    /// A fresh place on every configured backend.
    pub(crate) fn all() -> Vec<Place> {
        let mut all = vec![Place::sqlite()];
        match postgres_url() {
            Some(url) => all.push(Place::postgres(&url)),
            None => eprintln!("AUTODEBIT_TEST_DATABASE_URL is not set: PostgreSQL not tested"),
        }
        all
    }

    /// The backend's name, for assertion messages.
    pub(crate) fn name(&self) -> &'static str {
        if self.dir.is_some() {
            "sqlite"
        } else {
            "postgres"
        }
    }

    /// Options naming this database.
    pub(crate) fn options(&self) -> StoreOptions {
        let mut options = StoreOptions::new(&self.url);
        if let Some(schema) = &self.schema {
            options = options.schema(schema);
        }
        options
    }

    /// A store on this database with `keys` (migrating it to the latest schema).
    pub(crate) async fn open(&self, keys: &str) -> SqlStore {
        SqlStore::open(self.options(), Keyring::parse(keys).unwrap())
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "open {}: {e}",
                    self.url.split('@').next_back().unwrap_or("")
                )
            })
    }

    /// The SQLite file, if this is SQLite.
    pub(crate) fn sqlite_path(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.path().join("autodebit.db"))
    }

    /// Runs SQL on the database behind the store's back (`sqlite3` or `psql`), as an attacker, a
    /// broken tool or an older release would.
    pub(crate) fn raw_sql(&self, sql: &str) -> String {
        let out = match (&self.dir, &self.schema) {
            // A busy timeout, as the store has: a unit of work that failed a moment ago may still
            // be rolling back (sqlx rolls a dropped transaction back in the background).
            (Some(_), _) => Command::new("sqlite3")
                .args(["-cmd", ".timeout 5000"])
                .arg(self.sqlite_path().unwrap())
                .arg(sql)
                .output()
                .expect("sqlite3 on PATH"),
            (None, Some(schema)) => Command::new("psql")
                .args([
                    "--no-psqlrc",
                    "-q",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-At",
                    "--dbname",
                    &self.url,
                    "-c",
                    &format!("SET search_path TO {schema}; {sql}"),
                ])
                .output()
                .expect("psql on PATH"),
            (None, None) => unreachable!(),
        };
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for Place {
    /// Drops the test's PostgreSQL schema (a connection a failed test left inside a transaction
    /// cannot make this wait: the lock timeout gives up instead).
    fn drop(&mut self) {
        if let Some(schema) = &self.schema {
            let _ = Command::new("psql")
                .args(["--no-psqlrc", "-q", "--dbname", &self.url, "-c"])
                .arg(format!(
                    "SET lock_timeout = '2s'; DROP SCHEMA IF EXISTS {schema} CASCADE"
                ))
                .output();
        }
    }
}

/// One fresh database with a store on it.
pub(crate) struct Db {
    /// The store on it.
    pub(crate) store: SqlStore,
    /// Its token keys, in configuration form.
    pub(crate) keys: String,
    place: Place,
}

impl Db {
    /// A fresh SQLite file.
    pub(crate) async fn sqlite() -> Db {
        Self::on(Place::sqlite()).await
    }

    /// A store with fresh keys on `place`.
    pub(crate) async fn on(place: Place) -> Db {
        Self::with_keys(place, Keyring::generate_entry(1).unwrap()).await
    }

    /// A store with `keys` on `place`.
    pub(crate) async fn with_keys(place: Place, keys: String) -> Db {
        let store = place.open(&keys).await;
        Db { store, keys, place }
    }

    /// The backend's name, for assertion messages.
    pub(crate) fn name(&self) -> &'static str {
        match self.store.backend() {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// Another store on the same database, with other keys.
    pub(crate) async fn reopen(&self, keys: &str) -> SqlStore {
        self.place.open(keys).await
    }

    /// The URL and the schema (empty for SQLite), for a child process to open the same database.
    pub(crate) fn location(&self) -> (String, String) {
        (
            self.place.url.clone(),
            self.place.schema.clone().unwrap_or_default(),
        )
    }

    /// Everything the database holds, as an attacker with a dump would see it: SQLite's files
    /// (database and WAL) byte for byte, or `pg_dump` of the schema.
    pub(crate) async fn dump(&self) -> Vec<u8> {
        match (&self.place.dir, &self.place.schema) {
            (Some(dir), _) => {
                let mut bytes = Vec::new();
                for entry in std::fs::read_dir(dir.path()).unwrap() {
                    bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
                }
                bytes
            }
            (None, Some(schema)) => {
                let out = Command::new("pg_dump")
                    .args(["--dbname", &self.place.url, "--schema", schema, "--inserts"])
                    .output()
                    .expect("pg_dump (PostgreSQL's client tools) on PATH");
                assert!(
                    out.status.success(),
                    "pg_dump: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                out.stdout
            }
            (None, None) => unreachable!("a database is a file or a schema"),
        }
    }

    /// Runs SQL on the database behind the store's back.
    pub(crate) fn raw_sql(&self, sql: &str) -> String {
        self.place.raw_sql(sql)
    }

    /// Closes the store; the schema (PostgreSQL) or the directory (SQLite) goes when `self` drops.
    pub(crate) async fn cleanup(self) {
        self.store.close().await;
    }
}

/// A fresh database on every configured backend.
pub(crate) async fn backends() -> Vec<Db> {
    let mut all = Vec::new();
    for place in Place::all() {
        all.push(Db::on(place).await);
    }
    all
}

pub(crate) fn usd(minor: u64) -> Amount {
    Amount::new(Currency::USD, minor)
}

pub(crate) fn authorization(id: &str, token: &str) -> Authorization {
    Authorization {
        id: AuthorizationId::new(id),
        customer_id: "cust-1".into(),
        wallet: CustomerBelongsTo::AlipayCn,
        terminal_type: TerminalType::App,
        os_type: Some(ams_protocol::OsType::Ios),
        return_url: "https://merchant.example/done".into(),
        secondary_merchant: None,
        auth_state: AuthState::new(format!("state-{id}")),
        auth_url: Some("https://wallet.example/authorize?x=1".into()),
        qr_code: Some(format!("https://qr.example/{id}")),
        state: AuthorizationState::Active,
        token: Some(TokenSet {
            access_token: AccessToken::new(token),
            access_expires_at: T0 + 30 * 86_400_000,
            refresh_token: Some(RefreshToken::new(format!("refresh-{token}"))),
            refresh_expires_at: Some(T0 + 180 * 86_400_000),
        }),
        pending_auth_code: Some(AuthCode::new(format!("code-{id}"))),
        tries: 2,
        stray_token: None,
        consent_expires_at: Some(T0 + 900_000),
        user_login_id: Some("ab***@example.com".into()),
        failure: None,
        version: 0,
        created_at: T0,
        updated_at: T0,
    }
}

pub(crate) fn order(id: &str, auth: &str) -> Order {
    Order {
        id: OrderId::new(id),
        authorization_id: AuthorizationId::new(auth),
        reference: format!("ref-{id}"),
        description: "Monthly plan".into(),
        amount: usd(1_000),
        state: OrderState::Pending,
        refunded: 0,
        return_url: None,
        version: 0,
        created_at: T0,
        updated_at: T0,
    }
}

pub(crate) fn attempt(id: &str, order: &str, prid: &str, token: &str) -> PaymentAttempt {
    PaymentAttempt {
        id: AttemptId::new(id),
        order_id: OrderId::new(order),
        payment_request_id: PaymentRequestId::new(prid),
        request_body: Body::new(format!(
            r#"{{"paymentRequestId":"{prid}","paymentMethod":{{"paymentMethodId":"{token}"}}}}"#
        )),
        amount: usd(1_000),
        state: AttemptState::Created,
        payment_id: None,
        result_code: None,
        inquiries: 0,
        late_success: false,
        wallet_action: None,
        cancel_reason: None,
        cancel_started_at: None,
        expires_at: T0 + 60_000,
        version: 0,
        created_at: T0,
        updated_at: T0,
    }
}

pub(crate) fn refund(id: &str, order: &str, rrid: &str) -> Refund {
    Refund {
        id: RefundId::new(id),
        order_id: OrderId::new(order),
        refund_request_id: RefundRequestId::new(rrid),
        request_body: Body::new(format!(r#"{{"refundRequestId":"{rrid}"}}"#)),
        amount: usd(400),
        origin: RefundOrigin::Merchant,
        state: RefundState::Requested,
        alipay_refund_id: None,
        result_code: None,
        sends: 0,
        not_sent: 0,
        maybe_sent: false,
        first_sent_at: None,
        inquiries: 0,
        version: 0,
        created_at: T0,
        updated_at: T0,
    }
}

/// Stages an authorization, an order and an attempt for it, all numbered `n`.
pub(crate) async fn stage_payment(
    tx: &mut dyn autodebit_domain::ports::Tx,
    n: u32,
) -> PaymentAttempt {
    tx.insert_authorization(&authorization(&format!("auth-{n}"), &format!("tok-{n}")))
        .await
        .unwrap();
    tx.insert_order(&order(&format!("order-{n}"), &format!("auth-{n}")))
        .await
        .unwrap();
    let a = attempt(
        &format!("attempt-{n}"),
        &format!("order-{n}"),
        &format!("prid-{n}"),
        &format!("tok-{n}"),
    );
    tx.insert_attempt(&a).await.unwrap();
    a
}

/// Stores an authorization, an order and an attempt for it, committed.
pub(crate) async fn seed_payment(store: &SqlStore, n: u32) -> PaymentAttempt {
    use autodebit_domain::ports::Store;
    let mut tx = store.begin().await.unwrap();
    let a = stage_payment(&mut *tx, n).await;
    tx.commit().await.unwrap();
    a
}

/// A claim by `token` at `now` of at most `limit` jobs, leased for `lease_ms`; a job is set aside
/// after 10 takes in a row.
pub(crate) fn claim(token: &str, now: Millis, lease_ms: Millis, limit: u32) -> Claim {
    Claim {
        now,
        token: LeaseToken::new(token),
        lease_ms,
        limit,
        max_attempts: 10,
    }
}

/// A lease token.
pub(crate) fn lease(token: &str) -> LeaseToken {
    LeaseToken::new(token)
}

/// The payment job of attempt `id`.
pub(crate) fn payment_job(id: &str) -> JobKind {
    JobKind::Payment(AttemptId::new(id))
}
