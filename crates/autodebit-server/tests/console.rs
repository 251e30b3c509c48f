//! The console (`/console`) and the routes it reads beyond the rest of the API: `/v1/stats` and
//! `/v1/sandbox/faults`.
//!
//! - The page and its assets: types, a strict `Content-Security-Policy`, no inline script.
//! - `/v1/stats` counts a known set of payments right (succeeded, refunded, failed, cancelled,
//!   unknown, then resolved), on SQLite and, when `AUTODEBIT_TEST_DATABASE_URL` names a server,
//!   on PostgreSQL.
//! - `/v1/sandbox/faults` arms the embedded sandbox and refuses what is not a fault rule.
//! - The browser test: the real `autodebit serve` in sandbox mode, then `scripts/browser-setup.sh`
//!   (Debian's chromium, `playwright-core` from the lock file) and `node browser/console.test.mjs`,
//!   which clicks through the whole sandbox journey. With `AUTODEBIT_BLESS=1` its screenshot goes
//!   to `docs/console.png` (the README shows it), otherwise under `target/`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ams_sandbox::{ClockUpdate, NotificationFaultAction, NotificationFaultRule, NotificationKind};
use autodebit_server::config::{Config, DatabaseUrl, Environment, Secret};
use autodebit_server::runtime::Options;
use autodebit_server::serve::{self, RunningServer};
use serde_json::{Value, json};

fn random_suffix() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("random");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root")
}

/// A server of this process in sandbox mode (its clock frozen) with an API client.
struct Srv {
    server: RunningServer,
    http: reqwest::Client,
    key: String,
    schema: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

impl Drop for Srv {
    fn drop(&mut self) {
        if let Some((url, schema)) = &self.schema {
            let _ = Command::new("psql")
                .args(["--no-psqlrc", "-q", "--dbname", url, "-c"])
                .arg(format!(
                    "SET lock_timeout = '2s'; DROP SCHEMA IF EXISTS {schema} CASCADE"
                ))
                .output();
        }
    }
}

/// The databases to run on: SQLite, and PostgreSQL when the environment names one.
fn databases() -> Vec<Option<String>> {
    let mut all = vec![None];
    if let Some(url) = std::env::var("AUTODEBIT_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
    {
        all.push(Some(url));
    }
    all
}

impl Srv {
    async fn start(postgres: Option<&str>) -> Srv {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::default();
        config.server.listen = "127.0.0.1:0".parse().expect("address");
        config.workers.count = 1;
        config.workers.idle_poll_max_ms = 20;
        let schema = match postgres {
            None => {
                config.database.url = DatabaseUrl::new(format!(
                    "sqlite://{}",
                    dir.path().join("autodebit.db").display()
                ));
                None
            }
            Some(url) => {
                let schema = format!("autodebit_console_{}", random_suffix());
                config.database.url = DatabaseUrl::new(url.to_owned());
                config.database.schema = Some(schema.clone());
                config.database.token_keys = Some(Secret::new(
                    autodebit_store::Keyring::generate_entry(1).expect("key"),
                ));
                Some((url.to_owned(), schema))
            }
        };
        let key = format!("sk_test_{}", random_suffix());
        let env: Environment = vec![("AUTODEBIT_DEV_API_KEY".into(), key.clone())];
        let server = serve::start(&config, Options { env, clock: None })
            .await
            .expect("the server starts");
        server
            .sandbox()
            .expect("sandbox mode")
            .update_clock(&ClockUpdate {
                frozen: Some(true),
                ..ClockUpdate::default()
            })
            .expect("freeze the clock");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .expect("client");
        Srv {
            server,
            http,
            key,
            schema,
            _dir: dir,
        }
    }

    fn url(&self) -> &str {
        self.server.url()
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.url()))
            .bearer_auth(&self.key);
        if method == reqwest::Method::POST {
            req = req.header("Idempotency-Key", format!("test-{}", random_suffix()));
        }
        if let Some(body) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(body.to_string());
        }
        let res = req.send().await.expect("the server answers");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.expect("body");
        (
            status,
            headers,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn get(&self, path: &str) -> Value {
        let (status, _, body) = self.send(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    async fn post(&self, path: &str, body: Option<Value>) -> (u16, Value) {
        let (status, _, body) = self.send(reqwest::Method::POST, path, body).await;
        (status, body)
    }

    /// Binds the demo wallet as a browser does: consent page, agree, return page.
    async fn bind(&self) -> String {
        let (status, auth) = self
            .post(
                "/v1/authorizations",
                Some(json!({
                    "customer_id": "cust-console",
                    "wallet": "ALIPAY_CN",
                    "terminal_type": "WEB",
                    "return_url": format!("{}/console", self.url()),
                })),
            )
            .await;
        assert_eq!(status, 201, "{auth}");
        let auth_url = auth["auth_url"].as_str().expect("auth_url");
        let agreed = self
            .http
            .post(auth_url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("decision=agree&user=demo%40sandbox.example")
            .send()
            .await
            .expect("consent");
        assert_eq!(agreed.status().as_u16(), 303);
        let back = agreed.headers()["location"].to_str().expect("location");
        let returned = self.http.get(back).send().await.expect("return page");
        let target = returned.headers()["location"].to_str().expect("location");
        assert!(
            target.starts_with(&format!("{}/console?", self.url()))
                && target.ends_with("status=active"),
            "the user comes back to the console: {target}"
        );
        auth["id"].as_str().expect("id").to_owned()
    }

    async fn charge(&self, auth: &str, amount: u64) -> Value {
        let (status, body) = self
            .post(
                "/v1/payments",
                Some(json!({
                    "authorization_id": auth,
                    "amount": amount,
                    "currency": "USD",
                    "reference": format!("order-{}", random_suffix()),
                    "description": "Console test",
                })),
            )
            .await;
        assert!(
            status == 201 || status == 202 || status == 200,
            "{status}: {body}"
        );
        body
    }

    async fn fault(&self, rule: Value) {
        let (status, body) = self.post("/v1/sandbox/faults", Some(rule)).await;
        assert_eq!(status, 201, "{body}");
    }

    /// The last hour of `GET /v1/stats` (where every payment of a frozen clock falls).
    async fn this_hour(&self) -> Value {
        let stats = self.get("/v1/stats").await;
        let hours = stats["hours"].as_array().expect("hours");
        assert_eq!(hours.len(), 6, "six hours by default: {stats}");
        for earlier in &hours[..5] {
            assert_eq!(earlier["created"], 0, "nothing before: {stats}");
        }
        hours[5].clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_and_its_assets_carry_their_types_and_a_strict_policy() {
    let srv = Srv::start(None).await;
    for (path, kind, needle) in [
        ("/console", "text/html", "<title>autodebit console</title>"),
        (
            "/console/assets/console.js",
            "text/javascript",
            "sessionStorage",
        ),
        ("/console/assets/console.css", "text/css", ":root"),
    ] {
        // No key needed: the page holds no data; it asks for the key.
        let res = srv
            .http
            .get(format!("{}{path}", srv.url()))
            .send()
            .await
            .expect("answer");
        assert_eq!(res.status().as_u16(), 200, "{path}");
        let header = |name: &str| {
            res.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        assert!(
            header("content-type").starts_with(kind),
            "{path}: {}",
            header("content-type")
        );
        let csp = header("content-security-policy");
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{csp}"
        );
        assert_eq!(header("x-content-type-options"), "nosniff");
        let text = res.text().await.expect("text");
        assert!(text.contains(needle), "{path}");
    }
    let missing = srv
        .http
        .get(format!("{}/console/assets/secret.txt", srv.url()))
        .send()
        .await
        .expect("answer");
    assert_eq!(missing.status().as_u16(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fault_route_arms_the_sandbox_and_refuses_what_is_no_rule() {
    let srv = Srv::start(None).await;
    let auth = srv.bind().await;
    let (status, body) = srv
        .post(
            "/v1/sandbox/faults",
            Some(json!({"api": "payy", "action": {"kind": "drop"}})),
        )
        .await;
    assert_eq!(
        (status, body["param"].as_str()),
        (400, Some("/api")),
        "{body}"
    );
    let (status, body) = srv
        .post(
            "/v1/sandbox/faults",
            Some(json!({"api": "pay", "action": {"kind": "explode"}})),
        )
        .await;
    assert_eq!(
        (status, body["param"].as_str()),
        (400, Some("/action")),
        "{body}"
    );
    // Without a key, nothing.
    let anonymous = srv
        .http
        .post(format!("{}/v1/sandbox/faults", srv.url()))
        .header("Content-Type", "application/json")
        .header("Idempotency-Key", "anonymous")
        .body(json!({"api": "pay", "action": {"kind": "drop"}}).to_string())
        .send()
        .await
        .expect("answer");
    assert_eq!(anonymous.status().as_u16(), 401);

    // Armed: the next pay is declined; the one after goes through.
    srv.fault(json!({
        "api": "pay",
        "process": false,
        "action": {"kind": "answer", "status": "F", "code": "USER_BALANCE_NOT_ENOUGH"},
    }))
    .await;
    let declined = srv.charge(&auth, 500).await;
    assert_eq!(declined["status"], "failed", "{declined}");
    assert_eq!(
        declined["failure"]["code"], "USER_BALANCE_NOT_ENOUGH",
        "{declined}"
    );
    let paid = srv.charge(&auth, 500).await;
    assert_eq!(paid["status"], "succeeded", "{paid}");

    // Cleared: a rule for every pay is gone after the clear.
    srv.fault(json!({"api": "pay", "times": 0, "process": false,
        "action": {"kind": "answer", "status": "F", "code": "USER_BALANCE_NOT_ENOUGH"}}))
        .await;
    let (status, _) = srv.post("/v1/sandbox/faults/clear", None).await;
    assert_eq!(status, 204);
    let paid = srv.charge(&auth, 500).await;
    assert_eq!(paid["status"], "succeeded", "{paid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_count_a_known_set_of_payments() {
    for db in databases() {
        let srv = Srv::start(db.as_deref()).await;
        let empty = srv.this_hour().await;
        assert_eq!(empty["created"], 0, "{empty}");
        assert_eq!(empty["resolve_p50_ms"], Value::Null, "{empty}");

        let auth = srv.bind().await;
        // Two paid (one of them partly refunded since: still paid).
        assert_eq!(srv.charge(&auth, 1000).await["status"], "succeeded");
        let refunded = srv.charge(&auth, 1000).await;
        let id = refunded["id"].as_str().expect("id");
        let (status, body) = srv
            .post(
                &format!("/v1/payments/{id}/refunds"),
                Some(json!({"amount": 100})),
            )
            .await;
        assert!(status < 300, "{body}");
        // One declined.
        srv.fault(json!({"api": "pay", "process": false,
            "action": {"kind": "answer", "status": "F", "code": "USER_BALANCE_NOT_ENOUGH"}}))
            .await;
        assert_eq!(srv.charge(&auth, 1000).await["status"], "failed");
        // One paid, then cancelled.
        let cancelled = srv.charge(&auth, 1000).await;
        let id = cancelled["id"].as_str().expect("id").to_owned();
        let (status, body) = srv.post(&format!("/v1/payments/{id}/cancel"), None).await;
        assert!(status < 300, "{body}");
        let body = srv.get(&format!("/v1/payments/{id}")).await;
        assert_eq!(body["status"], "cancelled", "{body}");
        // One whose answer is lost: debited at Alipay, unknown here while every inquiry is
        // answered U too and no payment notification comes.
        srv.server
            .sandbox()
            .expect("sandbox")
            .add_notification_fault(
                NotificationFaultRule::new(
                    Some(NotificationKind::Payment),
                    NotificationFaultAction::Skip,
                )
                .times(None),
            );
        srv.fault(json!({"api": "pay", "process": true,
            "action": {"kind": "unknown", "code": "UNKNOWN_EXCEPTION"}}))
            .await;
        srv.fault(json!({"api": "inquiryPayment", "times": 0,
            "action": {"kind": "unknown", "code": "UNKNOWN_EXCEPTION"}}))
            .await;
        let unknown = srv.charge(&auth, 1000).await;
        assert_eq!(unknown["status"], "processing", "{unknown}");
        let unknown_id = unknown["id"].as_str().expect("id").to_owned();

        let hour = srv.this_hour().await;
        let n = |field: &str| hour[field].as_u64().unwrap_or(u64::MAX);
        assert_eq!(
            [
                n("created"),
                n("succeeded"),
                n("failed"),
                n("cancelled"),
                n("unknown"),
                n("processing"),
                n("ever_unknown"),
                n("resolved"),
            ],
            [5, 2, 1, 1, 1, 0, 1, 4],
            "{hour}"
        );
        // The clock is frozen: everything resolved at once.
        assert_eq!(hour["resolve_p95_ms"], 0, "{hour}");

        // Alipay answers inquiries again, and the clock moves until one finds it paid: resolved,
        // later than the others.
        let (status, _) = srv.post("/v1/sandbox/faults/clear", None).await;
        assert_eq!(status, 204);
        let sandbox = srv.server.sandbox().expect("sandbox");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let mut moved_ms = 0;
        loop {
            let body = srv.get(&format!("/v1/payments/{unknown_id}")).await;
            if body["status"] == "succeeded" {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "never inquired: {body}"
            );
            sandbox.advance_clock_ms(2_000);
            moved_ms += 2_000;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let hour = srv.this_hour().await;
        let n = |field: &str| hour[field].as_u64().unwrap_or(u64::MAX);
        assert_eq!(
            [
                n("created"),
                n("succeeded"),
                n("unknown"),
                n("ever_unknown"),
                n("resolved")
            ],
            [5, 3, 0, 1, 5],
            "{hour}"
        );
        assert_eq!(hour["resolve_p50_ms"], 0, "{hour}");
        let slowest = hour["resolve_max_ms"].as_i64().expect("max");
        assert!(
            slowest > 0 && slowest <= moved_ms,
            "{hour} after {moved_ms} ms"
        );
        assert_eq!(hour["resolve_p95_ms"].as_i64(), Some(slowest), "{hour}");

        let (status, _, body) = srv
            .send(reqwest::Method::GET, "/v1/stats?hours=49", None)
            .await;
        assert_eq!(
            (status, body["param"].as_str()),
            (400, Some("hours")),
            "{body}"
        );
        let two = srv.get("/v1/stats?hours=2").await;
        assert_eq!(two["hours"].as_array().map(Vec::len), Some(2), "{two}");
    }
}

/// The sandbox-mode banner prints the console's URL; with the key in its fragment only when the key
/// was generated (and so printed anyway), never one chosen through the environment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_banner_points_at_the_console() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::default();
    config.server.listen = "127.0.0.1:0".parse().expect("address");
    config.database.url = DatabaseUrl::new(format!(
        "sqlite://{}",
        dir.path().join("autodebit.db").display()
    ));
    let generated = serve::start(
        &config,
        Options {
            env: Vec::new(),
            clock: None,
        },
    )
    .await
    .expect("the server starts");
    let key = generated.dev_api_key().expect("a generated key").to_owned();
    let banner = generated.banner();
    assert!(
        banner.contains(&format!("{}/console#key={key}", generated.url())),
        "{banner}"
    );
    generated.shutdown().await;

    let srv = Srv::start(None).await;
    let banner = srv.server.banner();
    assert!(
        banner.contains(&format!("{}/console ", srv.url())),
        "{banner}"
    );
    assert!(
        !banner.contains(&srv.key) && !banner.contains("#key="),
        "{banner}"
    );
}

/// Outside sandbox mode (a merchant with a gateway: here a sandbox this test starts, as Alipay
/// would be), the console is served and `/v1/stats` answers, but the fault routes do not exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_sandbox_mode_the_fault_routes_are_404() {
    use ams_protocol::{Amount, Currency, CustomerBelongsTo};
    use ams_signing::{Backend, GeneratedKeyPair, PrivateKey, PublicKey};
    use autodebit_server::config::MerchantConfig;
    use std::collections::BTreeMap;

    const CLIENT_ID: &str = "SANDBOX_5Y00000000000001";
    let dir = tempfile::tempdir().expect("temp dir");
    let generate = || GeneratedKeyPair::generate(Backend::default(), 2048).expect("key pair");
    let (alipay, merchant) = (generate(), generate());
    let sandbox = ams_sandbox::Sandbox::builder()
        .alipay_key(PrivateKey::from_text(&alipay.private_pkcs8_pem()).expect("key"))
        .merchant(
            CLIENT_ID,
            PublicKey::from_text(&merchant.public_key().to_pem()).expect("key"),
        )
        .user(ams_sandbox::UserSpec::new(
            "demo@sandbox.example",
            CustomerBelongsTo::AlipayCn,
            vec![Amount::new(Currency::USD, 100_000)],
        ))
        .start_local()
        .await
        .expect("the sandbox starts");
    let private_file = dir.path().join("merchant_private.pem");
    let alipay_file = dir.path().join("alipay_public.pem");
    std::fs::write(&private_file, merchant.private_pkcs8_pem()).expect("write");
    std::fs::write(&alipay_file, sandbox.alipay_public_key().to_pem()).expect("write");
    let key = format!("sk_live_{}", random_suffix());
    let hash: String = autodebit_server::http::auth::hash_key(&key)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut config = Config::default();
    config.server.listen = "127.0.0.1:0".parse().expect("address");
    config.database.url = DatabaseUrl::new(format!(
        "sqlite://{}",
        dir.path().join("autodebit.db").display()
    ));
    config.database.token_keys = Some(Secret::new(
        autodebit_store::Keyring::generate_entry(1).expect("key"),
    ));
    config.merchants.insert(
        "default".into(),
        MerchantConfig {
            client_id: Some(CLIENT_ID.into()),
            gateway: Some(sandbox.base_url().to_owned()),
            private_key_file: Some(private_file),
            alipay_public_key_files: BTreeMap::from([("1".to_owned(), alipay_file)]),
            api_key_sha256: vec![Secret::new(hash)],
            ..MerchantConfig::default()
        },
    );
    let server = serve::start(
        &config,
        Options {
            env: Vec::new(),
            clock: None,
        },
    )
    .await
    .expect("the server starts");
    assert!(server.sandbox().is_none(), "no embedded sandbox");
    assert!(
        !server.banner().contains("/console#key="),
        "{}",
        server.banner()
    );
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let call = |method: reqwest::Method, path: &str| {
        http.request(method, format!("{}{path}", server.url()))
            .bearer_auth(&key)
            .header("Idempotency-Key", random_suffix())
            .header("Content-Type", "application/json")
    };
    let status = |res: reqwest::Response| res.status().as_u16();
    let fault = json!({"api": "pay", "action": {"kind": "drop"}}).to_string();
    let res = call(reqwest::Method::POST, "/v1/sandbox/faults")
        .body(fault)
        .send()
        .await
        .expect("answer");
    assert_eq!(status(res), 404);
    let res = call(reqwest::Method::POST, "/v1/sandbox/faults/clear")
        .send()
        .await
        .expect("answer");
    assert_eq!(status(res), 404);
    let res = call(reqwest::Method::GET, "/v1/sandbox")
        .send()
        .await
        .expect("answer");
    assert_eq!(status(res), 404);
    let res = call(reqwest::Method::GET, "/v1/stats?hours=1")
        .send()
        .await
        .expect("answer");
    assert_eq!(status(res), 200);
    let res = http
        .get(format!("{}/console", server.url()))
        .send()
        .await
        .expect("answer");
    assert_eq!(status(res), 200);
    server.shutdown().await;
}

fn run(command: &mut Command, what: &str) {
    let out = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_person_clicks_through_the_sandbox_journey_in_a_browser() {
    let root = repo_root();
    let key = format!("sk_test_{}", random_suffix());
    let server = support::serve(&[], &[("AUTODEBIT_DEV_API_KEY", key.as_str())]);
    // The banner points at the console; a key from the environment is never echoed.
    let banner = server.banner.clone();
    assert!(
        banner.contains(&format!("{}/console", server.url)),
        "{banner}"
    );
    assert!(!banner.contains(&key), "{banner}");

    run(
        Command::new("bash")
            .arg(root.join("scripts/browser-setup.sh"))
            .current_dir(&root),
        "scripts/browser-setup.sh",
    );
    let bless = std::env::var_os("AUTODEBIT_BLESS").is_some();
    let target = root.join("target/console");
    std::fs::create_dir_all(&target).expect("target/console");
    let screenshot = if bless {
        std::fs::create_dir_all(root.join("docs")).expect("docs/");
        root.join("docs/console.png")
    } else {
        target.join("console.png")
    };
    run(
        Command::new("node")
            .arg(root.join("browser/console.test.mjs"))
            .env("AUTODEBIT_URL", &server.url)
            .env("AUTODEBIT_KEY", &key)
            .env("CONSOLE_SCREENSHOT", &screenshot)
            .env("CONSOLE_FULL_SCREENSHOT", target.join("console-full.png"))
            .env("CONSOLE_QR_SCREENSHOT", target.join("console-qr.png"))
            .env("CONSOLE_FAILURE_SCREENSHOT", target.join("failure.png"))
            .env_remove("http_proxy")
            .env_remove("HTTP_PROXY")
            .env_remove("all_proxy")
            .env_remove("ALL_PROXY")
            .current_dir(&root),
        "node browser/console.test.mjs",
    );
    let png = std::fs::read(&screenshot).expect("the screenshot was written");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
}
