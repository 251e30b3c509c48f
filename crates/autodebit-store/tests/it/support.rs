//! Fresh databases for each test, on every configured backend, and records to store.

use std::path::PathBuf;
use std::process::Command;

use ams_protocol::{
    AccessToken, Amount, AuthCode, Currency, CustomerBelongsTo, RefreshToken, TerminalType,
};
use autodebit_domain::lifecycle::attempt::AttemptState;
use autodebit_domain::lifecycle::authorization::AuthorizationState;
use autodebit_domain::lifecycle::order::OrderState;
use autodebit_domain::lifecycle::refund::RefundState;
use autodebit_domain::model::{
    AttemptId, Authorization, AuthorizationId, Millis, Order, OrderId, PaymentAttempt, Refund,
    RefundId, TokenSet,
};
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

/// One fresh database.
pub(crate) struct Db {
    /// The store on it.
    pub(crate) store: SqlStore,
    /// Its token keys, in configuration form.
    pub(crate) keys: String,
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

impl Db {
    /// A fresh SQLite file.
    pub(crate) async fn sqlite() -> Db {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("autodebit.db").display());
        Self::open(url, None, Some(dir)).await
    }

    /// A fresh schema on the PostgreSQL server.
    pub(crate) async fn postgres(url: &str) -> Db {
        let schema = format!("autodebit_test_{}", random_suffix());
        Self::open(url.to_owned(), Some(schema), None).await
    }

    async fn open(url: String, schema: Option<String>, dir: Option<TempDir>) -> Db {
        let keys = Keyring::generate_entry(1).unwrap();
        let store = open_store(&url, schema.as_deref(), &keys).await;
        Db {
            store,
            keys,
            url,
            schema,
            dir,
        }
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
        open_store(&self.url, self.schema.as_deref(), keys).await
    }

    /// The URL and the schema (empty for SQLite), for a child process to open the same database.
    pub(crate) fn location(&self) -> (String, String) {
        (self.url.clone(), self.schema.clone().unwrap_or_default())
    }

    /// The SQLite file, if this is SQLite.
    pub(crate) fn sqlite_path(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.path().join("autodebit.db"))
    }

    /// Everything the database holds, as an attacker with a dump would see it: SQLite's files
    /// (database and WAL) byte for byte, or `pg_dump` of the schema.
    pub(crate) async fn dump(&self) -> Vec<u8> {
        match (&self.dir, &self.schema) {
            (Some(dir), _) => {
                let mut bytes = Vec::new();
                for entry in std::fs::read_dir(dir.path()).unwrap() {
                    bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
                }
                bytes
            }
            (None, Some(schema)) => {
                let out = Command::new("pg_dump")
                    .args(["--dbname", &self.url, "--schema", schema, "--inserts"])
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

    /// Runs SQL on the database behind the store's back (`sqlite3` or `psql`), as an attacker or
    /// a broken tool would.
    pub(crate) fn raw_sql(&self, sql: &str) -> String {
        let out = match (&self.dir, &self.schema) {
            (Some(_), _) => Command::new("sqlite3")
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

    /// Closes the store; the schema (PostgreSQL) or the directory (SQLite) goes when `self` drops.
    pub(crate) async fn cleanup(self) {
        self.store.close().await;
    }
}

impl Drop for Db {
    /// Drops the test's PostgreSQL schema, also when the test failed (a connection a failed test
    /// left inside a transaction cannot make this wait: the lock timeout gives up instead).
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

async fn open_store(url: &str, schema: Option<&str>, keys: &str) -> SqlStore {
    let mut options = StoreOptions::new(url);
    if let Some(schema) = schema {
        options = options.schema(schema);
    }
    SqlStore::open(options, Keyring::parse(keys).unwrap())
        .await
        .unwrap_or_else(|e| panic!("open {}: {e}", url.split('@').next_back().unwrap_or("")))
}

/// A fresh database on every configured backend.
pub(crate) async fn backends() -> Vec<Db> {
    let mut all = vec![Db::sqlite().await];
    match postgres_url() {
        Some(url) => all.push(Db::postgres(&url).await),
        None => eprintln!("AUTODEBIT_TEST_DATABASE_URL is not set: PostgreSQL not tested"),
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
        auth_state: format!("state-{id}"),
        auth_url: Some("https://wallet.example/authorize?x=1".into()),
        state: AuthorizationState::Active,
        token: Some(TokenSet {
            access_token: AccessToken::new(token),
            access_expires_at: T0 + 30 * 86_400_000,
            refresh_token: Some(RefreshToken::new(format!("refresh-{token}"))),
            refresh_expires_at: Some(T0 + 180 * 86_400_000),
        }),
        pending_auth_code: Some(AuthCode::new(format!("code-{id}"))),
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
        version: 0,
        created_at: T0,
        updated_at: T0,
    }
}

pub(crate) fn attempt(id: &str, order: &str, prid: &str, token: &str) -> PaymentAttempt {
    PaymentAttempt {
        id: AttemptId::new(id),
        order_id: OrderId::new(order),
        payment_request_id: prid.into(),
        request_body: format!(
            r#"{{"paymentRequestId":"{prid}","paymentMethod":{{"paymentMethodId":"{token}"}}}}"#
        ),
        amount: usd(1_000),
        state: AttemptState::Created,
        payment_id: None,
        result_code: None,
        inquiries: 0,
        late_success: false,
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
        refund_request_id: rrid.into(),
        request_body: format!(r#"{{"refundRequestId":"{rrid}"}}"#),
        amount: usd(400),
        state: RefundState::Requested,
        refund_id: None,
        result_code: None,
        sends: 0,
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
