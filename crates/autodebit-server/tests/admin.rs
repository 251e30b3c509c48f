//! `autodebit admin …` run as a process over the database of a server running in this test
//! (sandbox mode, SQLite in a temporary directory): the commands queue work that the server's
//! workers carry out, refuse bad input with exit 2, and without a server the work waits.
//!
//! The server's clock (the embedded sandbox's) is frozen an hour ahead of real time: every job
//! the server schedules for itself stays in its future, while a job an admin command makes due
//! now (real time) is due at once for the server. So what runs, runs because of the command.

use std::path::{Path, PathBuf};

use ams_protocol::Api as AmsApi;
use ams_sandbox::{
    ClockUpdate, FaultAction, FaultRule, NotificationFaultAction, NotificationFaultRule,
    NotificationKind,
};
use assert_cmd::Command;
use autodebit_domain::lifecycle::attempt::AttemptState;
use autodebit_domain::model::{AttentionId, AttentionItem, JobKind, OperatorAction, Subject};
use autodebit_domain::ports::Store as _;
use autodebit_server::config::{Config, DatabaseUrl};
use autodebit_server::runtime::Options;
use autodebit_server::serve::{self, RunningServer};
use autodebit_store::{Keyring, SqlStore, StoreOptions};
use serde_json::Value;

const KEY: &str = "sk_test_admin_commands";
const HOUR: i64 = 3_600_000;

/// Runs `autodebit admin ARGS --config FILE` off the runtime's threads: (exit code, stdout,
/// stderr).
async fn admin(config: &Path, args: &[&str]) -> (i32, String, String) {
    let mut command = Command::cargo_bin("autodebit").expect("binary built");
    command
        .arg("admin")
        .args(args)
        .arg("--config")
        .arg(config)
        .env_remove("AUTODEBIT_DATABASE_URL")
        .env_remove("AUTODEBIT_TOKEN_KEYS")
        .env_remove("RUST_LOG");
    let out = tokio::task::spawn_blocking(move || command.output().expect("ran"))
        .await
        .expect("joined");
    (
        out.status.code().expect("exit code"),
        String::from_utf8(out.stdout).expect("utf-8"),
        String::from_utf8(out.stderr).expect("utf-8"),
    )
}

struct Http {
    client: reqwest::Client,
    base: String,
}

impl Http {
    async fn send(&self, req: reqwest::RequestBuilder) -> (u16, String, Option<String>) {
        let res = req.send().await.expect("the server answers");
        let status = res.status().as_u16();
        let location = res
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (status, res.text().await.expect("body"), location)
    }

    async fn post(&self, path: &str, key: &str, body: Value) -> Value {
        let (status, text, _) = self
            .send(
                self.client
                    .post(format!("{}{path}", self.base))
                    .header("Authorization", format!("Bearer {KEY}"))
                    .header("Idempotency-Key", key)
                    .header("Content-Type", "application/json")
                    .body(body.to_string()),
            )
            .await;
        assert!(status < 300, "{path}: {status} {text}");
        serde_json::from_str(&text).expect("json")
    }

    /// Binds the demo wallet: consent page, then the return page. The authorization's id.
    async fn bind(&self) -> String {
        let auth = self
            .post(
                "/v1/authorizations",
                "bind-1",
                serde_json::json!({
                    "customer_id": "cust-1",
                    "wallet": "ALIPAY_CN",
                    "terminal_type": "WEB",
                    "return_url": format!("{}/healthz", self.base),
                }),
            )
            .await;
        let url = auth["auth_url"].as_str().expect("auth_url");
        let (status, _, back) = self
            .send(
                self.client
                    .post(url)
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body("decision=agree&user=demo%40sandbox.example"),
            )
            .await;
        assert_eq!(status, 303);
        let (status, text, _) = self.send(self.client.get(back.expect("redirected"))).await;
        assert_eq!(status, 303, "{text}");
        auth["id"].as_str().expect("id").to_owned()
    }

    /// Charges USD 10.00 with its `pay` answer lost (Alipay took it): the payment's id.
    async fn charge_lost(
        &self,
        sandbox: &ams_sandbox::SandboxHandle,
        auth: &str,
        n: u32,
    ) -> String {
        sandbox.add_fault(FaultRule::new(AmsApi::Pay, FaultAction::Drop));
        let payment = self
            .post(
                "/v1/payments",
                &format!("pay-{n}"),
                serde_json::json!({
                    "authorization_id": auth,
                    "amount": 1000,
                    "currency": "USD",
                    "reference": format!("order-{n}"),
                    "description": "Monthly plan",
                }),
            )
            .await;
        assert_eq!(payment["status"], "processing", "{payment}");
        payment["id"].as_str().expect("id").to_owned()
    }
}

/// The server's store, opened by the test beside it (the development token key the server made
/// next to the SQLite file).
async fn open_store(db: &Path) -> SqlStore {
    let key_file = PathBuf::from(format!("{}.dev-token-key", db.display()));
    let keys =
        Keyring::parse(std::fs::read_to_string(key_file).expect("key").trim()).expect("keys");
    SqlStore::open(
        StoreOptions::new(format!("sqlite://{}", db.display())),
        keys,
    )
    .await
    .expect("store")
}

async fn start(db: &Path) -> RunningServer {
    let mut config = Config::default();
    config.server.listen = "127.0.0.1:0".parse().expect("address");
    config.workers.count = 1;
    config.workers.idle_poll_max_ms = 20;
    config.database.url = DatabaseUrl::new(format!("sqlite://{}", db.display()));
    let env = vec![("AUTODEBIT_DEV_API_KEY".to_owned(), KEY.to_owned())];
    serve::start(&config, Options { env, clock: None })
        .await
        .expect("the server starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_commands_queue_work_for_the_server_and_refuse_bad_input() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("autodebit.db");
    let server = start(&db).await;
    let sandbox = server.sandbox().expect("sandbox mode");
    sandbox.advance_clock_ms(HOUR);
    sandbox
        .update_clock(&ClockUpdate {
            frozen: Some(true),
            ..ClockUpdate::default()
        })
        .expect("frozen");
    sandbox.add_notification_fault(
        NotificationFaultRule::new(
            Some(NotificationKind::Payment),
            NotificationFaultAction::Skip,
        )
        .times(None),
    );
    let config = dir.path().join("autodebit.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\npublic_url = \"{}\"\n\n[database]\nurl = \"sqlite://{}\"\n",
            server.url(),
            db.display()
        ),
    )
    .expect("config");
    let http = Http {
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .expect("client"),
        base: server.url().to_owned(),
    };
    let auth = http.bind().await;
    let paid = http.charge_lost(sandbox, &auth, 1).await;
    let waiting = http.charge_lost(sandbox, &auth, 2).await;
    let cancelled = http.charge_lost(sandbox, &auth, 3).await;

    // Inquire: queued, and the server's workers resolve it (its own inquiry is an hour away).
    let (code, out, err) = admin(&config, &["inquire", &paid, "--wait", "30"]).await;
    assert_eq!(code, 0, "{out}{err}");
    // The state right after the commit (a worker may already have settled it when it is read).
    assert!(
        out.contains(&format!("payment {paid}: processing"))
            || out.starts_with(&format!("payment {paid}: succeeded")),
        "{out}"
    );
    assert!(
        out.contains("queued: a running server's workers send it"),
        "{out}"
    );
    assert!(
        out.contains(&format!("done: payment {paid}: succeeded")),
        "{out}"
    );
    // Final: only shown.
    let (code, out, _) = admin(&config, &["inquire", &paid]).await;
    assert_eq!(code, 0);
    assert!(out.contains("final: nothing to inquire"), "{out}");

    // Refund: recorded with its job due now, sent by the server; once per reference.
    let refund = [
        "refund",
        &paid,
        "--amount",
        "250",
        "--reference",
        "r-1",
        "--reason",
        "goodwill",
    ];
    let (code, out, err) = admin(&config, &[&refund[..], &["--wait", "30"]].concat()).await;
    assert_eq!(code, 0, "{out}{err}");
    // The state right after the commit: a worker may already have taken it by the time it is read.
    let first = out.lines().next().unwrap_or_default();
    assert!(
        ["USD 2.50 requested", "USD 2.50 sent", "USD 2.50 succeeded"]
            .iter()
            .any(|s| first.ends_with(s)),
        "{out}"
    );
    // Queued, unless a worker had already finished it by the time it was read back.
    assert!(
        first.ends_with("succeeded") || out.contains("queued: a running server's workers send it"),
        "{out}"
    );
    assert!(out.contains("USD 2.50 succeeded"), "{out}");
    let (code, out, _) = admin(&config, &refund).await;
    assert_eq!(code, 0);
    assert!(
        out.contains("already requested with reference \"r-1\""),
        "{out}"
    );
    let refund_id = out
        .split_whitespace()
        .nth(1)
        .expect("refund re_…")
        .to_owned();
    assert!(refund_id.starts_with("re_"), "{out}");
    let (code, out, err) = admin(&config, &["inquire", &refund_id]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("succeeded\nfinal: nothing to inquire"),
        "{out}"
    );

    // Retry a cancel whose answer was lost: the server's own retry is an hour away.
    sandbox.add_fault(FaultRule::new(AmsApi::Cancel, FaultAction::Drop).process(false));
    let body = http
        .post(
            &format!("/v1/payments/{cancelled}/cancel"),
            "cancel-3",
            serde_json::json!({}),
        )
        .await;
    assert_eq!(body["status"], "processing", "{body}");
    let (code, out, err) = admin(&config, &["retry-cancel", &cancelled, "--wait", "30"]).await;
    assert_eq!(code, 0, "{out}{err}");
    // The cancel asked for again (a worker may already have sent it when the state is read).
    assert!(
        out.contains("cancel_requested")
            || out.contains(&format!("payment {cancelled}: cancelled")),
        "{out}"
    );
    assert!(
        out.contains(&format!("done: payment {cancelled}: cancelled")),
        "{out}"
    );
    let payment = reqwest::Client::new()
        .get(format!("{}/v1/payments/{paid}", server.url()))
        .header("Authorization", format!("Bearer {KEY}"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("body");
    let payment: Value = serde_json::from_str(&payment).expect("json");
    assert_eq!(payment["amount_refunded"], 250, "one refund: {payment}");

    // Bad input: exit 2, with the reason.
    for (args, says) in [
        (vec!["inquire", "pay_000000000000000000000000"], "not found"),
        (vec!["inquire", "nonsense"], "neither a payment id"),
        (vec!["retry-cancel", paid.as_str()], "not being cancelled"),
        (
            vec![
                "refund",
                paid.as_str(),
                "--amount",
                "100000",
                "--reference",
                "r-2",
            ],
            "exceeds",
        ),
        (
            vec![
                "refund",
                paid.as_str(),
                "--amount",
                "0",
                "--reference",
                "r-3",
            ],
            "more than zero",
        ),
        (
            vec![
                "refund",
                paid.as_str(),
                "--amount",
                "-5",
                "--reference",
                "r-4",
            ],
            "-5",
        ),
        (vec!["redeliver", "evt_42"], "no event"),
        (
            vec!["attention", "--database", "sqlite://nowhere/autodebit.db"],
            "no database at nowhere/autodebit.db",
        ),
        (
            vec!["inquire", paid.as_str(), "--merchant", "other"],
            "no merchant \"other\"",
        ),
    ] {
        let (code, out, err) = admin(&config, &args).await;
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }

    server.shutdown().await;

    // Without a server the intent is written and waits: the job due now, nothing else changed.
    let store = open_store(&db).await;
    let attempt = store
        .attempts()
        .await
        .expect("attempts")
        .into_iter()
        .find(|a| a.order_id.as_str() == waiting)
        .expect("the attempt");
    assert_eq!(attempt.state, AttemptState::Unknown);
    let job_due = || async {
        store
            .jobs()
            .await
            .expect("jobs")
            .into_iter()
            .find(|j| j.kind == JobKind::Payment(attempt.id.clone()))
            .expect("its job")
            .due_at
    };
    assert!(
        job_due().await > attempt.created_at,
        "the server's own inquiry, later"
    );
    let (code, out, err) = admin(&config, &["inquire", &waiting, "--wait", "1"]).await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("queued: a running server's workers send it"),
        "{out}"
    );
    assert!(err.contains("not carried out within 1 s"), "{err}");
    assert!(
        job_due().await < attempt.created_at,
        "due now, in real time"
    );
    let still = store.attempts().await.expect("attempts");
    assert!(
        still
            .iter()
            .any(|a| a.id == attempt.id && a.state == AttemptState::Unknown)
    );

    // Attention: listed as a table and as JSON lines; resolved with a reason.
    let item = AttentionItem {
        id: AttentionId::new("atn_admin_test"),
        subject: Subject::Order(autodebit_domain::model::OrderId::new(waiting.as_str())),
        code: "payment_unresolved".into(),
        reason: "the payment has not settled".into(),
        tried: "20 inquiries".into(),
        actions: vec![OperatorAction::InquireNow, OperatorAction::Resolve],
        opened_at: attempt.created_at,
        updated_at: attempt.created_at,
        resolution: None,
    };
    let mut tx = store.begin().await.expect("tx");
    assert!(tx.raise_attention(&item).await.expect("raised"));
    tx.commit().await.expect("commit");
    let (code, out, err) = admin(&config, &["attention"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("ID "), "a table: {out}");
    let row = out
        .lines()
        .find(|l| l.starts_with("atn_admin_test"))
        .expect("listed");
    assert!(row.contains(&format!("order {waiting}")), "{row}");
    assert!(
        row.contains("inquire_now,resolve") && row.contains("tried: 20 inquiries"),
        "{row}"
    );
    let (code, out, _) = admin(&config, &["attention", "--json", "--limit", "10"]).await;
    assert_eq!(code, 0);
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let listed = lines
        .iter()
        .find(|l| l["id"] == "atn_admin_test")
        .expect("listed");
    assert_eq!(listed["subject"]["id"], waiting.as_str());
    assert_eq!(
        listed["actions"],
        serde_json::json!(["inquire_now", "resolve"])
    );
    let (code, _, err) = admin(&config, &["resolve", "atn_admin_test", "--reason", " "]).await;
    assert_eq!(code, 2, "a reason is needed: {err}");
    let (code, out, err) = admin(
        &config,
        &["resolve", "atn_admin_test", "--reason", "settled by phone"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("resolved: settled by phone"), "{out}");
    let (_, out, _) = admin(&config, &["attention", "--json"]).await;
    assert!(!out.contains("atn_admin_test"), "{out}");

    // Redeliver: failed deliveries become pending, one event or every failed one.
    let url = "https://hooks.example/autodebit";
    let endpoint = autodebit_server::delivery::config_endpoint_id(url);
    let now = attempt.created_at;
    store
        .record_config_endpoints(&[(endpoint.clone(), url.to_owned())], now)
        .await
        .expect("endpoint");
    let made = store
        .fan_out_webhooks(&endpoint, 0, now)
        .await
        .expect("fan out");
    assert!(made >= 2, "events to deliver: {made}");
    // Every try spent (three days of them): failed for good, as the sender records it.
    let claimed = store
        .claim_webhook_deliveries(now, "admin-test", now + 60_000, 100)
        .await
        .expect("claimed");
    assert_eq!(u64::try_from(claimed.len()).expect("count"), made);
    for delivery in &claimed {
        let attempt = autodebit_store::WebhookAttempt {
            endpoint: endpoint.clone(),
            n: 10,
            at: now,
            status: Some(500),
            latency_ms: 1,
            answer: "no".into(),
        };
        assert!(
            store
                .finish_webhook_attempt(
                    delivery.event_seq,
                    "admin-test",
                    &attempt,
                    autodebit_store::AttemptOutcome::Failed
                )
                .await
                .expect("finished")
        );
    }
    let failed = store.failed_webhook_events(0).await.expect("failed");
    assert_eq!(u64::try_from(failed.len()).expect("count"), made);
    assert!(
        store
            .failed_webhook_events(now + 1)
            .await
            .expect("failed")
            .is_empty()
    );
    let first = format!("evt_{:016}", failed[0]);
    let (code, out, err) = admin(&config, &["redeliver", &first]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("{first}: 1 delivery pending again")),
        "{out}"
    );
    let state = |seq| {
        let store = &store;
        async move {
            store.webhook_deliveries(seq).await.expect("deliveries")[0]
                .state
                .clone()
        }
    };
    assert_eq!(state(failed[0]).await, "pending");
    assert_eq!(state(failed[1]).await, "failed");
    // They failed an hour ahead of real time (the server's clock): within the last 2 hours.
    let (code, out, err) = admin(&config, &["redeliver", "--failed", "--hours", "2"]).await;
    assert_eq!(code, 0, "{err}");
    let rest = failed.len() - 1;
    assert!(
        out.starts_with(&format!(
            "{rest} failed deliveries of {rest} events pending again"
        )),
        "{out}"
    );
    assert!(
        !err.contains('\u{1b}'),
        "no progress bar off a terminal: {err:?}"
    );
    for seq in &failed {
        assert_eq!(state(*seq).await, "pending");
    }
    let (code, out, _) = admin(
        &config,
        &["redeliver", "--failed", "--since", "2000-01-01T00:00:00Z"],
    )
    .await;
    assert_eq!(code, 0);
    assert!(out.starts_with("0 failed deliveries of 0 events"), "{out}");
    let (code, _, err) = admin(&config, &["redeliver", "--failed", "--since", "yesterday"]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--since"), "{err}");
    store.close().await;
}
