//! `autodebit serve` end to end: the server and its embedded sandbox run in this process, on
//! loopback; tests talk to it over HTTP as a merchant's backend, a user's browser and Alipay
//! would. Every scenario runs on SQLite and, when `AUTODEBIT_TEST_DATABASE_URL` names a server, on
//! PostgreSQL (a schema of its own, dropped afterwards).
//!
//! Time: in sandbox mode the server reads the sandbox's clock, so a test moves it
//! ([`Srv::advance`]) instead of sleeping; the workers look for due jobs every few milliseconds,
//! and [`Srv::until`] waits (in real time, bounded) for what they do. The clock is frozen at start
//! (only a test moves it), and [`Srv::drive`] moves it from one due job to the next until what a
//! test waits for holds: inquiries, cancels, expiries and retries pass in milliseconds.
//!
//! Gateway mode ([`Srv::gateway`]): the sandbox is started by the test, the server is configured
//! with a merchant whose gateway is that sandbox (keys in files, as in production) and reads the
//! sandbox's clock through [`Options::clock`], so it can be stopped and started again on the same
//! database while the sandbox, Alipay's side of the story, goes on.
//!
//! Money: [`Srv::audit`] checks, for every payment, that what the sandbox's ledger debited minus
//! what it credited is what the API says was paid minus refunded, that every refund the API calls
//! succeeded was credited once (and a failed one never), that the ledger moved no money for a
//! request the API does not show, and that every payment or refund not final has a job that will
//! resolve it. [`Srv::settle`] first drives every job to the end and requires nothing left
//! `processing`.

mod binding;
mod customs;
mod events;
mod faults;
mod fuzz;
mod harsh;
mod isv;
mod journey;
mod notifications;
mod problems;
mod refunds;
mod registrations;
mod replicas;
mod restart;
mod service;
mod webhooks;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use ams_protocol::{Amount, Currency, CustomerBelongsTo};
use ams_sandbox::{
    ClockUpdate, EntryKind, FaultAction, FaultRule, LedgerEntry, SandboxHandle, UserSpec,
};
use ams_signing::{Backend, GeneratedKeyPair, PrivateKey, PublicKey};
use autodebit_domain::model::Job;
use autodebit_server::config::{Config, DatabaseUrl, Environment, MerchantConfig, Secret};
use autodebit_server::runtime::{Options, SandboxTime};
use autodebit_server::serve::{self, RunningServer};
use serde_json::Value;

/// Which database a server runs on.
#[derive(Clone, Debug)]
pub(crate) enum Db {
    Sqlite,
    Postgres(String),
}

impl Db {
    /// SQLite always; PostgreSQL when `AUTODEBIT_TEST_DATABASE_URL` names a server.
    pub(crate) fn all() -> Vec<Db> {
        let mut all = vec![Db::Sqlite];
        if let Some(url) = std::env::var("AUTODEBIT_TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())
        {
            all.push(Db::Postgres(url));
        }
        all
    }
}

/// Runs the test body once per database.
macro_rules! server_test {
    (async fn $name:ident($db:ident) $body:block) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            for $db in $crate::server::Db::all() {
                $body
            }
        }
    };
}
pub(crate) use server_test;

fn random_suffix() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("random");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An answer: status, headers, JSON body (`Null` when not JSON).
#[derive(Debug)]
pub(crate) struct Resp {
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: Value,
    /// The body as text (for answers that are not JSON).
    pub(crate) text: String,
}

impl Resp {
    pub(crate) fn str(&self, field: &str) -> &str {
        self.body[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field} in {}", self.body))
    }

    pub(crate) fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// The demo user's login, in both modes.
pub(crate) const DEMO_USER: &str = autodebit_server::runtime::DEMO_USER;

/// The merchant's client id at the sandbox in gateway mode.
pub(crate) const GATEWAY_CLIENT_ID: &str = "SANDBOX_5Y00000000000001";

/// The longest single move of the clock [`Srv::drive`] makes: past a cancel window (00:15 UTC+8
/// the day after), short of a token refresh (days before the access token's 30 days end).
const DRIVE_HORIZON_MS: i64 = 3 * 24 * 3_600_000;

/// A sandbox started by the test (gateway mode), with Alipay's private key so a test can sign
/// notifications as Alipay would.
pub(crate) struct External {
    pub(crate) sandbox: Arc<SandboxHandle>,
    pub(crate) alipay_private_pem: String,
}

/// A merchant's backend calling the API with one key.
#[derive(Clone)]
pub(crate) struct Api {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    pub(crate) key: String,
}

/// A server in this process, with its sandbox, and the API as the development key's merchant.
pub(crate) struct Srv {
    pub(crate) server: Option<RunningServer>,
    pub(crate) api: Api,
    pub(crate) config: Config,
    /// Gateway mode: the sandbox the test started.
    pub(crate) external: Option<External>,
    schema: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for Srv {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Drop for Srv {
    fn drop(&mut self) {
        if let Some((url, schema)) = &self.schema {
            let _ = std::process::Command::new("psql")
                .args(["--no-psqlrc", "-q", "--dbname", url, "-c"])
                .arg(format!(
                    "SET lock_timeout = '2s'; DROP SCHEMA IF EXISTS {schema} CASCADE"
                ))
                .output();
        }
    }
}

/// The configuration tests start from: sandbox mode on `db`, loopback, a fast-polling worker.
pub(crate) fn test_config(db: &Db, dir: &std::path::Path) -> (Config, Option<(String, String)>) {
    let mut config = Config::default();
    config.server.listen = "127.0.0.1:0".parse().expect("address");
    config.workers.count = 1;
    config.workers.idle_poll_max_ms = 20;
    let schema = match db {
        Db::Sqlite => {
            config.database.url =
                DatabaseUrl::new(format!("sqlite://{}", dir.join("autodebit.db").display()));
            None
        }
        Db::Postgres(url) => {
            let schema = format!("autodebit_srv_{}", random_suffix());
            config.database.url = DatabaseUrl::new(url.clone());
            config.database.schema = Some(schema.clone());
            config.database.token_keys = Some(autodebit_server::config::Secret::new(
                autodebit_store::Keyring::generate_entry(1).expect("key"),
            ));
            Some((url.clone(), schema))
        }
    };
    (config, schema)
}

impl Srv {
    /// A server in sandbox mode on `db`.
    pub(crate) async fn start(db: &Db) -> Srv {
        Self::with(db, |_| {}).await
    }

    /// A server in sandbox mode on `db`, its configuration changed by `change`.
    pub(crate) async fn with(db: &Db, change: impl FnOnce(&mut Config)) -> Srv {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut config, schema) = test_config(db, dir.path());
        change(&mut config);
        let key = format!("sk_test_{}", random_suffix());
        let server = start(&config, &key, None).await;
        let api = Api {
            http: client(),
            base: server.url().to_owned(),
            key,
        };
        let srv = Srv {
            server: Some(server),
            api,
            config,
            external: None,
            schema,
            _dir: dir,
        };
        srv.freeze();
        srv
    }

    /// A server in gateway mode on `db`: the sandbox is started here (with the demo user), the
    /// server is configured as for a real gateway (keys in files, the API key by its hash) and
    /// reads the sandbox's clock.
    pub(crate) async fn gateway(db: &Db) -> Srv {
        Self::gateway_with(db, |_| {}).await
    }

    /// As [`Srv::gateway`], the configuration changed by `change`.
    pub(crate) async fn gateway_with(db: &Db, change: impl FnOnce(&mut Config)) -> Srv {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut config, schema) = test_config(db, dir.path());
        let generate = || GeneratedKeyPair::generate(Backend::default(), 2048).expect("key pair");
        let (alipay, merchant) = (generate(), generate());
        let sandbox = ams_sandbox::Sandbox::builder()
            .alipay_key(PrivateKey::from_text(&alipay.private_pkcs8_pem()).expect("key"))
            .merchant(
                GATEWAY_CLIENT_ID,
                PublicKey::from_text(&merchant.public_key().to_pem()).expect("key"),
            )
            .user(UserSpec::new(
                DEMO_USER,
                CustomerBelongsTo::AlipayCn,
                vec![
                    Amount::new(Currency::USD, 100_000),
                    Amount::new(Currency::CNY, 1_000_000),
                ],
            ))
            .start_local()
            .await
            .expect("the sandbox starts");
        let private_file = dir.path().join("merchant_private.pem");
        let alipay_file = dir.path().join("alipay_public.pem");
        std::fs::write(&private_file, merchant.private_pkcs8_pem()).expect("write");
        std::fs::write(&alipay_file, sandbox.alipay_public_key().to_pem()).expect("write");
        let key = format!("sk_live_{}", random_suffix());
        if config.database.token_keys.is_none() {
            // Outside sandbox mode the token keys are always configured.
            config.database.token_keys = Some(Secret::new(
                autodebit_store::Keyring::generate_entry(1).expect("key"),
            ));
        }
        config.merchants.insert(
            "default".into(),
            MerchantConfig {
                client_id: Some(GATEWAY_CLIENT_ID.into()),
                gateway: Some(sandbox.base_url().to_owned()),
                private_key_file: Some(private_file),
                alipay_public_key_files: BTreeMap::from([("1".to_owned(), alipay_file)]),
                api_key_sha256: vec![Secret::new(hex(&autodebit_server::http::auth::hash_key(
                    &key,
                )))],
                ..MerchantConfig::default()
            },
        );
        change(&mut config);
        let external = External {
            sandbox: Arc::new(sandbox),
            alipay_private_pem: alipay.private_pkcs8_pem(),
        };
        let server = start(&config, &key, Some(external.sandbox.clone())).await;
        assert!(
            server.sandbox().is_none(),
            "gateway mode: no embedded sandbox"
        );
        let api = Api {
            http: client(),
            base: server.url().to_owned(),
            key,
        };
        let srv = Srv {
            server: Some(server),
            api,
            config,
            external: Some(external),
            schema,
            _dir: dir,
        };
        srv.freeze();
        srv
    }

    /// Freezes the sandbox's clock: from now on only the test moves it.
    fn freeze(&self) {
        self.sandbox()
            .update_clock(&ClockUpdate {
                frozen: Some(true),
                ..ClockUpdate::default()
            })
            .expect("freeze the clock");
    }

    /// The API with another key.
    pub(crate) fn as_key(&self, key: &str) -> Api {
        Api {
            key: key.to_owned(),
            ..self.api.clone()
        }
    }

    pub(crate) fn server(&self) -> &RunningServer {
        self.server.as_ref().expect("running")
    }

    /// The sandbox: the embedded one, or in gateway mode the test's.
    pub(crate) fn sandbox(&self) -> &SandboxHandle {
        match &self.external {
            Some(external) => &external.sandbox,
            None => self.server().sandbox().expect("sandbox mode"),
        }
    }

    /// How many credits the sandbox's ledger holds for the refund `refundRequestId`.
    pub(crate) fn credits(&self, refund_request_id: &str) -> usize {
        self.sandbox()
            .ledger(None, None)
            .entries
            .iter()
            .filter(|e| e.refund_request_id.as_deref() == Some(refund_request_id))
            .count()
    }

    /// The sandbox's time (the server's), in Unix milliseconds.
    pub(crate) fn now_ms(&self) -> i64 {
        self.sandbox().clock().now_ms()
    }

    /// The default merchant's store.
    pub(crate) fn store(&self) -> &autodebit_store::SqlStore {
        self.server()
            .tenants()
            .iter()
            .find(|t| t.id() == "default")
            .expect("the default merchant")
            .store()
    }

    /// Runs one SQL statement on the server's database, behind its back (`sqlite3` or `psql`).
    pub(crate) fn sql(&self, statement: &str) {
        let output = match &self.schema {
            Some((url, schema)) => std::process::Command::new("psql")
                .args([
                    "--no-psqlrc",
                    "-q",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "--dbname",
                    url,
                    "-c",
                ])
                .arg(format!("SET search_path TO {schema}; {statement}"))
                .output(),
            None => {
                let url = self.config.database.url.expose();
                let path = url.strip_prefix("sqlite://").expect("a SQLite URL");
                std::process::Command::new("sqlite3")
                    .args(["-cmd", ".timeout 5000", path, statement])
                    .output()
            }
        }
        .expect("the database's client runs");
        assert!(
            output.status.success(),
            "{statement}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// The default merchant's jobs that will run.
    pub(crate) async fn jobs(&self) -> Vec<Job> {
        self.store().jobs().await.expect("jobs")
    }

    /// Adds a gateway fault.
    pub(crate) fn fault(&self, rule: FaultRule) {
        self.sandbox().add_fault(rule);
    }

    /// How many times each gateway fault rule fired, in the order they were added.
    pub(crate) async fn fired(&self) -> Vec<u64> {
        self.fault_counts()
            .await
            .iter()
            .map(|(_, fired)| *fired)
            .collect()
    }

    /// `(seen, fired)` of each gateway fault rule, in the order they were added (from the
    /// sandbox's control API). A rule that never fires (a huge `skip`) counts matching calls.
    pub(crate) async fn fault_counts(&self) -> Vec<(u64, u64)> {
        let bytes = self
            .http
            .get(format!("{}/sandbox/faults", self.sandbox().base_url()))
            .send()
            .await
            .expect("the sandbox answers")
            .bytes()
            .await
            .expect("body");
        let rules: Value = serde_json::from_slice(&bytes).expect("json");
        rules
            .as_array()
            .expect("rules")
            .iter()
            .map(|r| {
                (
                    r["seen"].as_u64().expect("seen"),
                    r["fired"].as_u64().expect("fired"),
                )
            })
            .collect()
    }

    /// Counts the calls of `api` about `request_id` (a rule that never fires); its index among
    /// the rules is returned.
    pub(crate) async fn count_calls(&self, api: ams_protocol::Api, request_id: &str) -> usize {
        self.fault(
            FaultRule::new(api, FaultAction::Drop)
                .for_request(request_id)
                .skip(u32::MAX)
                .times(None),
        );
        self.fault_counts().await.len() - 1
    }

    /// Skips every payment notification from now on (so only answers and inquiries tell).
    pub(crate) fn skip_payment_notifications(&self) {
        self.sandbox().add_notification_fault(
            ams_sandbox::NotificationFaultRule::new(
                Some(ams_sandbox::NotificationKind::Payment),
                ams_sandbox::NotificationFaultAction::Skip,
            )
            .times(None),
        );
    }

    /// Adds a gateway fault on the next call of `api` whose call does not take effect.
    pub(crate) fn fault_unprocessed(&self, api: ams_protocol::Api, action: FaultAction) {
        self.fault(FaultRule::new(api, action).process(false));
    }

    /// Moves the sandbox's clock (and so the server's) by `ms`.
    pub(crate) fn advance(&self, ms: i64) {
        self.sandbox().advance_clock_ms(ms);
    }

    /// Stops the server (graceful) and starts it again on the same database and sandbox
    /// settings. In sandbox mode the sandbox is new (its state lives in memory); in gateway mode
    /// it is the same one, and the clock stays frozen where it was.
    pub(crate) async fn restart(&mut self) {
        self.stop().await;
        self.start_again().await;
    }

    /// Stops the server (graceful); how it went.
    pub(crate) async fn stop(&mut self) -> serve::Stopped {
        self.server.take().expect("running").shutdown().await
    }

    /// Another server on the same database, settings and (gateway mode) sandbox, beside this
    /// one: as a second `autodebit serve` process would run.
    pub(crate) async fn another(&self) -> RunningServer {
        assert!(
            self.external.is_some(),
            "gateway mode: one sandbox for both"
        );
        let clock = self.external.as_ref().map(|e| e.sandbox.clone());
        start(&self.config, &self.api.key, clock).await
    }

    /// Starts the server again (after [`Srv::stop`]) on the same database and settings.
    pub(crate) async fn start_again(&mut self) {
        assert!(self.server.is_none(), "stopped first");
        let clock = self.external.as_ref().map(|e| e.sandbox.clone());
        let embedded = clock.is_none();
        let server = start(&self.config, &self.api.key, clock).await;
        self.api.base = server.url().to_owned();
        self.server = Some(server);
        if embedded {
            self.freeze();
        }
    }

    /// `(debits, credits)` in the sandbox's ledger for one `paymentRequestId`.
    pub(crate) fn ledger(&self, payment_request_id: &str) -> (u32, u32) {
        let ledger = self.sandbox().ledger(Some(payment_request_id), None);
        (ledger.debits, ledger.credits)
    }

    /// What the sandbox's ledger debited minus what it credited for one `paymentRequestId`.
    pub(crate) fn net(&self, payment_request_id: &str) -> i64 {
        net(&self
            .sandbox()
            .ledger(Some(payment_request_id), None)
            .entries)
    }

    /// Moves the clock to each payment, refund or authorization job as it falls due (one move at
    /// most [`DRIVE_HORIZON_MS`]), letting the workers run it, until `done` holds for `path`; at
    /// most 20 s of real time.
    pub(crate) async fn drive(&self, path: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let res = self.get(path).await;
            if done(&res.body) {
                return res.body;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{path} never got there: {}\njobs: {:?}",
                res.body,
                self.jobs().await
            );
            self.step().await;
        }
    }

    /// One move of [`Srv::drive`]: when no job is due now, the clock goes to the next one due
    /// (not held by a worker); then the workers get a moment.
    pub(crate) async fn step(&self) {
        let now = self.now_ms();
        let next = self
            .jobs()
            .await
            .iter()
            .filter(|j| j.lease.as_ref().is_none_or(|l| l.until <= now))
            .map(|j| j.due_at)
            .min();
        if let Some(due) = next
            && due > now
            && due - now <= DRIVE_HORIZON_MS
        {
            self.advance(due - now);
        }
        tokio::time::sleep(Duration::from_millis(15)).await;
    }

    /// Drives every payment and refund to a final state, then [`Srv::audit`]s the money.
    pub(crate) async fn settle(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let attempts = self.store().attempts().await.expect("attempts");
            let refunds = self.store().refunds().await.expect("refunds");
            let live = attempts.iter().filter(|a| !a.state.is_final()).count()
                + refunds.iter().filter(|r| !r.state.is_final()).count();
            if live == 0 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "never settled: {attempts:?}\n{refunds:?}\n{:?}",
                self.jobs().await
            );
            self.step().await;
        }
        let processing = self.all("/v1/payments").await;
        assert!(
            processing.iter().all(|p| p["status"] != "processing"),
            "{processing:?}"
        );
        self.audit().await;
    }

    /// Checks the money (see the module's docs); payments and refunds may still be processing,
    /// each with its job.
    pub(crate) async fn audit(&self) {
        let payments = self.all("/v1/payments").await;
        let ledger = self.sandbox().ledger(None, None).entries;
        let mut known = BTreeSet::new();
        for p in &payments {
            let id = p["id"].as_str().expect("id");
            let amount = i64::try_from(p["amount"].as_u64().expect("amount")).expect("amount");
            let refunded =
                i64::try_from(p["amount_refunded"].as_u64().expect("refunded")).expect("refunded");
            let prids: Vec<&str> = p["attempts"]
                .as_array()
                .expect("attempts")
                .iter()
                .map(|a| a["payment_request_id"].as_str().expect("prid"))
                .collect();
            known.extend(prids.iter().map(|p| (*p).to_owned()));
            let kept: i64 = prids.iter().map(|prid| self.net(prid)).sum();
            let refunds = self.all(&format!("/v1/payments/{id}/refunds")).await;
            let mut succeeded = 0;
            let mut live = 0;
            for r in &refunds {
                let rrid = r["refund_request_id"].as_str().expect("rrid");
                let value = i64::try_from(r["amount"].as_u64().expect("amount")).expect("amount");
                let credited: i64 = ledger
                    .iter()
                    .filter(|e| e.refund_request_id.as_deref() == Some(rrid))
                    .map(|e| -net(std::slice::from_ref(e)))
                    .sum();
                match r["status"].as_str().expect("status") {
                    "succeeded" => {
                        assert_eq!(credited, value, "refund {r} credited once, in full");
                        succeeded += value;
                        live += value;
                    }
                    "failed" => assert_eq!(credited, 0, "refund {r} failed: nothing credited"),
                    _ => live += value,
                }
            }
            assert_eq!(
                succeeded, refunded,
                "{id}: amount_refunded is the succeeded refunds"
            );
            assert!(
                live <= amount,
                "{id}: refunds not failed ({live}) exceed {amount}"
            );
            match p["status"].as_str().expect("status") {
                "succeeded" => assert_eq!(
                    kept,
                    amount - refunded,
                    "{id}: the ledger's net must be what was paid minus refunded: {p}"
                ),
                "failed" | "cancelled" => {
                    assert_eq!(kept, 0, "{id}: nothing kept for a payment not paid: {p}");
                    assert_eq!(refunded, 0, "{id}: {p}");
                }
                "processing" => {}
                other => panic!("{id}: status {other}"),
            }
        }
        for entry in &ledger {
            assert!(
                known.contains(&entry.payment_request_id),
                "money moved for a payment the API does not show: {entry:?}"
            );
        }
        // Nothing is left processing without a job that will resolve it.
        let jobs: BTreeSet<String> = self
            .jobs()
            .await
            .iter()
            .map(|j| j.kind.subject().to_owned())
            .collect();
        for attempt in self.store().attempts().await.expect("attempts") {
            assert!(
                attempt.state.is_final() || jobs.contains(attempt.id.as_str()),
                "attempt {attempt:?} is not final and has no job"
            );
        }
        for refund in self.store().refunds().await.expect("refunds") {
            assert!(
                refund.state.is_final() || jobs.contains(refund.id.as_str()),
                "refund {refund:?} is not final and has no job"
            );
        }
    }

    /// What the demo user holds, in USD cents.
    pub(crate) fn balance(&self) -> u64 {
        self.sandbox()
            .user("demo@sandbox.example")
            .expect("demo user")
            .spec
            .balances
            .iter()
            .find(|b| b.currency == ams_protocol::Currency::USD)
            .map_or(0, ams_protocol::Amount::minor_units)
    }
}

impl Api {
    pub(crate) fn url(&self) -> String {
        self.base.clone()
    }

    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> Resp {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url()))
            .header("Authorization", format!("Bearer {}", self.key));
        if let Some(key) = key {
            req = req.header("Idempotency-Key", key);
        }
        if let Some(body) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(serde_json::to_vec(body).expect("json"));
        }
        resp(req.send().await.expect("the server answers")).await
    }

    /// A request with exactly these headers and body (no API key unless given).
    pub(crate) async fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<reqwest::Body>,
    ) -> Resp {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url()))
            .body(body);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        resp(req.send().await.expect("the server answers")).await
    }

    /// Every item of a list, page after page.
    pub(crate) async fn all(&self, path: &str) -> Vec<Value> {
        let mut items: Vec<Value> = Vec::new();
        let separator = if path.contains('?') { '&' } else { '?' };
        loop {
            let page_path = match items.last() {
                None => format!("{path}{separator}limit=100"),
                Some(last) => format!(
                    "{path}{separator}limit=100&starting_after={}",
                    last["id"].as_str().expect("id")
                ),
            };
            let page = self.get(&page_path).await;
            assert_eq!(page.status, 200, "{page_path}: {}", page.body);
            items.extend(page.body["data"].as_array().expect("data").iter().cloned());
            if page.body["has_more"] != true {
                return items;
            }
        }
    }

    pub(crate) async fn get(&self, path: &str) -> Resp {
        self.send(reqwest::Method::GET, path, None, None).await
    }

    pub(crate) async fn post(&self, path: &str, key: &str, body: Value) -> Resp {
        self.send(reqwest::Method::POST, path, Some(key), Some(&body))
            .await
    }

    /// Starts binding the demo wallet; returns the authorization (awaiting the user).
    pub(crate) async fn start_binding(&self, key: &str) -> Value {
        let res = self
            .post(
                "/v1/authorizations",
                key,
                serde_json::json!({
                    "customer_id": "cust-1",
                    "wallet": "ALIPAY_CN",
                    "terminal_type": "WEB",
                    "return_url": format!("{}/healthz", self.url()),
                }),
            )
            .await;
        assert_eq!(res.status, 201, "{:?}", res.body);
        res.body
    }

    /// The user agrees on the consent page; returns where the wallet sends the browser (the
    /// server's return page, with the code).
    pub(crate) async fn agree(&self, auth_url: &str) -> String {
        let page = self.http.get(auth_url).send().await.expect("consent page");
        assert_eq!(page.status().as_u16(), 200);
        let res = self
            .http
            .post(auth_url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("decision=agree&user=demo%40sandbox.example")
            .send()
            .await
            .expect("consent");
        assert_eq!(res.status().as_u16(), 303);
        location(&res)
    }

    /// The browser follows the wallet's redirect to the return page; returns where the server
    /// sends it (the merchant's return URL with `authorization_id` and `status`).
    pub(crate) async fn come_back(&self, return_page: &str) -> String {
        let res = self
            .http
            .get(return_page)
            .send()
            .await
            .expect("return page");
        assert_eq!(res.status().as_u16(), 303, "{:?}", res.text().await);
        location(&res)
    }

    /// Binds the demo wallet through the consent page and the return page; returns its id.
    pub(crate) async fn bind(&self) -> String {
        let auth = self
            .start_binding(&format!("bind-{}", random_suffix()))
            .await;
        let back = self
            .agree(auth["auth_url"].as_str().expect("auth_url"))
            .await;
        let target = self.come_back(&back).await;
        let id = auth["id"].as_str().expect("id").to_owned();
        assert!(
            target.contains(&format!("authorization_id={id}")),
            "{target}"
        );
        assert!(target.ends_with("status=active"), "{target}");
        id
    }

    /// Charges `amount` cents on `auth`.
    pub(crate) async fn charge(&self, auth: &str, key: &str, amount: u64) -> Resp {
        self.post(
            "/v1/payments",
            key,
            serde_json::json!({
                "authorization_id": auth,
                "amount": amount,
                "currency": "USD",
                "reference": format!("order-{key}"),
                "description": "Monthly plan",
            }),
        )
        .await
    }

    /// Reads `path` until `done` holds (moving nothing), at most 10 s of real time.
    pub(crate) async fn until(&self, path: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let res = self.get(path).await;
            if done(&res.body) {
                return res.body;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{path} never got there: {}",
                res.body
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn start(config: &Config, key: &str, clock: Option<Arc<SandboxHandle>>) -> RunningServer {
    let env: Environment = vec![("AUTODEBIT_DEV_API_KEY".into(), key.into())];
    let clock =
        clock.map(|sandbox| -> Arc<dyn ams_client::Clock> { Arc::new(SandboxTime::new(sandbox)) });
    serve::start(config, Options { env, clock })
        .await
        .expect("the server starts")
}

async fn resp(res: reqwest::Response) -> Resp {
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let bytes = res.bytes().await.expect("body");
    Resp {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// Debits minus credits, in minor units.
pub(crate) fn net(entries: &[LedgerEntry]) -> i64 {
    entries
        .iter()
        .map(|e| {
            let value = i64::try_from(e.amount.minor_units()).expect("amount");
            match e.kind {
                EntryKind::Debit => value,
                EntryKind::Credit => -value,
            }
        })
        .sum()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `paymentRequestId` of a payment's attempt `n`.
pub(crate) fn prid(payment: &Value, n: usize) -> String {
    payment["attempts"][n]["payment_request_id"]
        .as_str()
        .unwrap_or_else(|| panic!("attempt {n} of {payment}"))
        .to_owned()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .expect("client")
}

fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("a Location header")
        .to_owned()
}
