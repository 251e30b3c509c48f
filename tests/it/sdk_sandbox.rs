//! The official Python SDK (global-open-sdk-python 1.7.1) walks a whole Auto Debit journey against
//! `ams-sandbox`: consult → consent page → applyToken → pay → inquiryPayment → partial refund →
//! inquiryRefund → a second pay → cancel → a third pay that the wallet needs the user for (the
//! SDK's response class reads the wallet's page; the user pays there) → inquiryPayment → revoke.
//!
//! `tests/interop/sdk_journey.py` replaces only the SDK's transport (plain HTTP to loopback instead
//! of HTTPS on port 443); signing, the `SANDBOX_` path rewrite and response verification are the
//! SDK's own, so an answer it cannot verify fails the script. A relay in front of the sandbox
//! records each connection's request line, which shows the exact target the SDK asked for.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use ams_protocol::{Amount, Api, Currency, CustomerBelongsTo};
use ams_sandbox::{
    EntryKind, EntryReason, FaultAction, FaultRule, LedgerEntry, Sandbox, SandboxHandle, UserSpec,
};
use ams_signing::{PrivateKey, PublicKey};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use crate::sdk_script::{Steps, run_script_blocking, transcript, vector};

/// A `SANDBOX_` client id, so the SDK rewrites `/ams/api` to `/ams/sandbox/api` itself.
const CLIENT_ID: &str = "SANDBOX_5Y00000000004242";
const USER: &str = "sdk-journey@example.com";
const REDIRECT: &str = "https://merchant.example/authorized";
const AUTH_STATE: &str = "sdk-journey-state-1";
const PAYMENT: &str = "sdk-journey-pay-1";
const REFUND: &str = "sdk-journey-refund-1";
const CANCELLED_PAYMENT: &str = "sdk-journey-pay-2";
const WALLET_PAYMENT: &str = "sdk-journey-pay-3";

/// Each SDK call in order: the step name the script prints and the path it must have posted to.
const SDK_CALLS: [(&str, &str); 11] = [
    ("consult", "/ams/sandbox/api/v1/authorizations/consult"),
    (
        "applyToken",
        "/ams/sandbox/api/v1/authorizations/applyToken",
    ),
    ("pay", "/ams/sandbox/api/v1/payments/pay"),
    (
        "inquiryPayment",
        "/ams/sandbox/api/v1/payments/inquiryPayment",
    ),
    ("refund", "/ams/sandbox/api/v1/payments/refund"),
    (
        "inquiryRefund",
        "/ams/sandbox/api/v1/payments/inquiryRefund",
    ),
    ("pay2", "/ams/sandbox/api/v1/payments/pay"),
    ("cancel", "/ams/sandbox/api/v1/payments/cancel"),
    ("pay3", "/ams/sandbox/api/v1/payments/pay"),
    (
        "inquiryPayment3",
        "/ams/sandbox/api/v1/payments/inquiryPayment",
    ),
    ("revoke", "/ams/sandbox/api/v1/authorizations/revoke"),
];

fn usd(minor: u64) -> Amount {
    Amount::new(Currency::USD, minor)
}

/// A loopback relay in front of the sandbox that records the request line of every connection.
struct Recorder {
    base_url: String,
    lines: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Recorder {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let base_url = format!("http://{}", listener.local_addr().expect("relay address"));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let recorded = lines.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(relay(client, upstream, recorded.clone()));
            }
        });
        Self {
            base_url,
            lines,
            task,
        }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("lock").clone()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads up to the end of the request line, records it, then pipes both ways unchanged.
async fn relay(mut client: TcpStream, upstream: SocketAddr, lines: Arc<Mutex<Vec<String>>>) {
    let mut head = Vec::new();
    let mut buf = [0_u8; 4096];
    let line_end = loop {
        if let Some(end) = head.windows(2).position(|w| w == b"\r\n") {
            break end;
        }
        match client.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    };
    lines
        .lock()
        .expect("lock")
        .push(String::from_utf8_lossy(&head[..line_end]).into_owned());
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    if server.write_all(&head).await.is_ok() {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
    }
}

fn string<'a>(body: &'a Value, field: &str) -> &'a str {
    body[field]
        .as_str()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| panic!("{field} missing in {body}"))
}

/// One query parameter of a URL, as sent (no percent-decoding: the test's values need none).
fn query_param<'a>(url: &'a str, name: &str) -> Option<&'a str> {
    let (_, query) = url.split_once('?')?;
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

fn assert_entry(
    entry: &LedgerEntry,
    kind: EntryKind,
    reason: EntryReason,
    amount: Amount,
    payment_id: &str,
    refund: Option<&str>,
) {
    assert_eq!(
        (
            entry.kind,
            entry.reason,
            entry.amount,
            entry.user.as_str(),
            entry.client_id.as_str(),
            entry.payment_id.as_str(),
            entry.refund_request_id.as_deref(),
        ),
        (kind, reason, amount, USER, CLIENT_ID, payment_id, refund),
        "{entry:?}"
    );
}

async fn start_sandbox() -> SandboxHandle {
    let merchant_public =
        PublicKey::from_text(&vector("merchant_public_spki.pem")).expect("merchant public key");
    let alipay_key =
        PrivateKey::from_text(&vector("alipay_sim_private_pkcs8.pem")).expect("alipay key");
    Sandbox::builder()
        .merchant(CLIENT_ID, merchant_public)
        .alipay_key(alipay_key)
        .user(UserSpec::new(
            USER,
            CustomerBelongsTo::AlipayCn,
            vec![usd(10_000)],
        ))
        .start_local()
        .await
        .expect("sandbox starts")
}

/// What one run of the journey script left behind.
struct Run {
    recorder: Recorder,
    status: std::process::ExitStatus,
    stdout: String,
    transcript: String,
}

/// Runs the journey script against `sandbox`, through a recording relay.
async fn run_journey(sandbox: &SandboxHandle) -> Run {
    let recorder = Recorder::start(sandbox.addr()).await;
    let config = json!({
        "gateway_url": recorder.base_url,
        "client_id": CLIENT_ID,
        "merchant_private_key": vector("merchant_private_pkcs8.b64.txt").trim_end(),
        "alipay_public_key": vector("alipay_sim_public_spki.b64.txt").trim_end(),
        "user": USER,
        "auth_redirect_url": REDIRECT,
        "auth_state": AUTH_STATE,
        "currency": "USD",
        "payment": { "request_id": PAYMENT, "value": "2500" },
        "refund": { "request_id": REFUND, "value": "1000" },
        "cancelled_payment": { "request_id": CANCELLED_PAYMENT, "value": "1200" },
        "wallet_payment": { "request_id": WALLET_PAYMENT, "value": "700" },
    });
    // The sandbox serves on this runtime's workers while the script blocks another thread.
    let (status, stdout, stderr) = run_script_blocking("sdk_journey.py", config).await;
    let transcript = transcript(&stdout, &stderr);
    Run {
        recorder,
        status,
        stdout,
        transcript,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_official_python_sdk_walks_the_auto_debit_journey_and_verifies_every_answer() {
    let sandbox = start_sandbox().await;
    let Run {
        recorder,
        status,
        stdout,
        transcript,
    } = run_journey(&sandbox).await;
    assert!(
        status.success(),
        "sdk_journey.py failed ({status}):\n{transcript}"
    );
    let steps = Steps::parse(&stdout, transcript);
    steps.assert_names(&[
        "sdk",
        "consult",
        "consent",
        "applyToken",
        "pay",
        "inquiryPayment",
        "refund",
        "inquiryRefund",
        "pay2",
        "cancel",
        "pay3",
        "pay3_sdk",
        "wallet",
        "inquiryPayment3",
        "revoke",
    ]);
    assert_eq!(steps.get("sdk")["version"], "1.7.1", "the SDK under test");

    // The SDK's sandbox rule: every call went to /ams/sandbox/api, and the relay saw exactly
    // those targets, in the absolute form the SDK's transport uses.
    for (step, path) in SDK_CALLS {
        assert_eq!(
            steps.get(step)["url"],
            format!("{}{path}", recorder.base_url),
            "{step}"
        );
    }
    let expected_lines: Vec<String> = SDK_CALLS
        .iter()
        .map(|(_, path)| format!("POST {}{path} HTTP/1.1", recorder.base_url))
        .collect();
    assert_eq!(recorder.lines(), expected_lines);

    // consult → consent → applyToken.
    let consult = steps.success("consult");
    let normal_url = string(consult, "normalUrl");
    assert!(normal_url.starts_with(sandbox.base_url()), "{normal_url}");
    let consent = steps.get("consent");
    assert_eq!(
        (&consent["page_status"], &consent["status"]),
        (&json!(200), &json!(303)),
        "{consent}"
    );
    let location = consent["location"].as_str().expect("a redirect");
    assert!(
        location.starts_with(&format!("{REDIRECT}?authCode=")),
        "{location}"
    );
    assert_eq!(query_param(location, "authState"), Some(AUTH_STATE));
    string(steps.success("applyToken"), "accessToken");

    // pay → inquiryPayment → partial refund → inquiryRefund.
    let pay = steps.success("pay");
    let payment_id = string(pay, "paymentId");
    assert_eq!(pay["paymentRequestId"], PAYMENT);
    assert_eq!(
        pay["paymentAmount"],
        json!({"currency": "USD", "value": "2500"})
    );
    let inquiry = steps.success("inquiryPayment");
    assert_eq!(
        (&inquiry["paymentStatus"], &inquiry["paymentId"]),
        (&json!("SUCCESS"), &json!(payment_id)),
        "{inquiry}"
    );
    let refund = steps.success("refund");
    assert_eq!(refund["refundRequestId"], REFUND);
    assert_eq!(refund["paymentId"], payment_id);
    assert_eq!(
        refund["refundAmount"],
        json!({"currency": "USD", "value": "1000"})
    );
    let refund_id = string(refund, "refundId");
    let inquiry_refund = steps.success("inquiryRefund");
    assert_eq!(
        (&inquiry_refund["refundStatus"], &inquiry_refund["refundId"]),
        (&json!("SUCCESS"), &json!(refund_id)),
        "{inquiry_refund}"
    );

    // A second pay, cancelled; then revoke.
    let pay2 = steps.success("pay2");
    let cancelled_id = string(pay2, "paymentId");
    assert_ne!(cancelled_id, payment_id);
    let cancel = steps.success("cancel");
    assert_eq!(
        (&cancel["paymentId"], &cancel["paymentRequestId"]),
        (&json!(cancelled_id), &json!(CANCELLED_PAYMENT)),
        "{cancel}"
    );

    // A third pay that the wallet needs the user for: U / PAYMENT_IN_PROCESS, and the SDK's own
    // response class reads the wallet's page from it (WEB: normalUrl alone); the user pays there
    // and the inquiry finds it paid.
    let pay3 = steps.response("pay3");
    assert_eq!(steps.result("pay3"), ("U", "PAYMENT_IN_PROCESS"), "{pay3}");
    let read = steps.get("pay3_sdk");
    assert_eq!(read["resultCode"], "PAYMENT_IN_PROCESS", "{read}");
    assert_eq!(read["normalUrl"], pay3["normalUrl"], "{read}");
    let page = string(read, "normalUrl");
    assert!(
        page.starts_with(&format!("{}/sandbox/wallet/payments/", sandbox.base_url())),
        "{page}"
    );
    assert_eq!(
        (
            &read["schemeUrl"],
            &read["applinkUrl"],
            &read["appIdentifier"]
        ),
        (&Value::Null, &Value::Null, &Value::Null),
        "{read}"
    );
    assert_eq!(
        steps.get("wallet")["status"],
        200,
        "no paymentRedirectUrl: the wallet's own page ends it"
    );
    let inquiry3 = steps.success("inquiryPayment3");
    assert_eq!(inquiry3["paymentStatus"], "SUCCESS", "{inquiry3}");
    steps.success("revoke");

    // The ledger: a debit and a refund credit on the first payment, a debit and a cancel credit
    // on the second, a debit on the third once the user paid; USD 100.00 - 25.00 + 10.00 - 12.00
    // + 12.00 - 7.00 = 78.00.
    let first = sandbox.ledger(Some(PAYMENT), None);
    assert_eq!((first.debits, first.credits), (1, 1), "{first:?}");
    assert_eq!(first.entries.len(), 2, "{first:?}");
    assert_entry(
        &first.entries[0],
        EntryKind::Debit,
        EntryReason::Payment,
        usd(2_500),
        payment_id,
        None,
    );
    assert_entry(
        &first.entries[1],
        EntryKind::Credit,
        EntryReason::Refund,
        usd(1_000),
        payment_id,
        Some(REFUND),
    );
    let second = sandbox.ledger(Some(CANCELLED_PAYMENT), None);
    assert_eq!((second.debits, second.credits), (1, 1), "{second:?}");
    assert_eq!(second.entries.len(), 2, "{second:?}");
    assert_entry(
        &second.entries[0],
        EntryKind::Debit,
        EntryReason::Payment,
        usd(1_200),
        cancelled_id,
        None,
    );
    assert_entry(
        &second.entries[1],
        EntryKind::Credit,
        EntryReason::Cancel,
        usd(1_200),
        cancelled_id,
        None,
    );
    let third = sandbox.ledger(Some(WALLET_PAYMENT), None);
    assert_eq!((third.debits, third.credits), (1, 0), "{third:?}");
    let all = sandbox.ledger(None, None);
    assert_eq!(
        (all.debits, all.credits, all.entries.len()),
        (3, 2, 5),
        "{all:?}"
    );
    let user = sandbox.user(USER).expect("the user");
    assert_eq!(user.spec.balances, [usd(7_800)]);
}

/// The control: when one answer's signature does not verify, the SDK raises and the script fails
/// at that step, so a passing journey means the SDK verified every answer.
#[tokio::test(flavor = "multi_thread")]
async fn a_mis_signed_answer_stops_the_sdk_journey() {
    let sandbox = start_sandbox().await;
    sandbox.add_fault(FaultRule::new(Api::Refund, FaultAction::BadSignature));
    let run = run_journey(&sandbox).await;
    assert!(!run.status.success(), "{}", run.transcript);
    let last: Value = run
        .stdout
        .lines()
        .last()
        .and_then(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| panic!("no JSON line:\n{}", run.transcript));
    assert_eq!(last["step"], "refund", "{}", run.transcript);
    let error = last["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("response verify failed"),
        "{}",
        run.transcript
    );
}
