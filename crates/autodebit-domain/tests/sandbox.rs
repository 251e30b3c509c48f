//! The flows against the in-process sandbox, through the real client: bind a wallet through the
//! consent page, charge (S), charge with the answer dropped after the debit (resolved by inquiry,
//! debited once), charge answered `U` with every inquiry `U` until the cancel (the debit returned),
//! refund. Then every other path of the payment rules against the sandbox's faults: pay F (balance),
//! INVALID_ACCESS_TOKEN after an unbind, a cancel answered U and retried, a cancel past its window,
//! and notifyPayment delivered (twice) to a raw merchant endpoint. The sandbox keeps its own clock;
//! the domain's clock only drives scheduling, and both are moved together.

use std::sync::Arc;

use std::time::Duration;

use ams_client::{AmsClient, KeyVersion, NotificationVerifier, PrivateKey, PublicKey};
use ams_protocol::{Amount, Api, Currency, CustomerBelongsTo, TerminalType};
use ams_sandbox::{
    ClockUpdate, DeliveryState, EntryKind, EntryReason, FaultAction, FaultRule, MerchantSettings,
    NotificationFaultAction, NotificationFaultRule, NotificationKind, SandboxHandle, UserSpec,
    UserUpdate,
};
use autodebit_domain::lifecycle::attempt::AttemptState;
use autodebit_domain::lifecycle::authorization::AuthorizationState;
use autodebit_domain::lifecycle::order::OrderState;
use autodebit_domain::lifecycle::refund::RefundState;
use autodebit_domain::model::{AuthorizationId, EventKind, JobKind, Millis, PaymentAttempt};
use autodebit_domain::ports::Clock;
use autodebit_domain::services::authorizations::{Authorizations, StartAuthorization};
use autodebit_domain::services::notifications::{Notifications, Receipt};
use autodebit_domain::services::payments::{ChargeCommand, ChargeResult, Payments};
use autodebit_domain::services::refunds::{RefundCommand, Refunds};
use autodebit_domain::services::{Context, Error, Settings};
use autodebit_domain::testing::{InMemoryStore, ManualClock};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const CLIENT_ID: &str = "SANDBOX_5X00000000000000";
const ALICE: &str = "alice@example.com";

fn vector(name: &str) -> String {
    let path = format!(
        "{}/../../testdata/ams-vectors/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn usd(minor: u64) -> Amount {
    Amount::new(Currency::USD, minor)
}

struct World {
    sandbox: SandboxHandle,
    store: InMemoryStore,
    clock: ManualClock,
    ctx: Context,
    /// The client's verifier, measuring the skew window on the domain's (simulated) clock.
    verifier: NotificationVerifier,
}

/// The domain's manual clock as the client's clock, so the notification skew window is measured
/// against the simulated time the sandbox signs with.
#[derive(Debug)]
struct SimulatedTime(ManualClock);

impl ams_client::Clock for SimulatedTime {
    fn unix_millis(&self) -> i64 {
        self.0.now_ms()
    }

    fn monotonic(&self) -> Duration {
        Duration::from_millis(u64::try_from(self.0.now_ms()).unwrap_or(0))
    }

    fn sleep(&self, _duration: Duration) -> ams_client::Sleep<'_> {
        Box::pin(async {})
    }
}

impl World {
    async fn start() -> Self {
        let sandbox = ams_sandbox::Sandbox::builder()
            .merchant(
                CLIENT_ID,
                PublicKey::from_text(&vector("merchant_public_spki.pem")).unwrap(),
            )
            .alipay_key(PrivateKey::from_text(&vector("alipay_sim_private_pkcs8.pem")).unwrap())
            .user(UserSpec::new(
                ALICE,
                CustomerBelongsTo::AlipayCn,
                vec![usd(10_000)],
            ))
            .start_local()
            .await
            .expect("the sandbox starts");
        let now = sandbox
            .update_clock(&ClockUpdate {
                set: Some("2024-03-01T10:00:00+08:00".into()),
                frozen: Some(true),
                ..ClockUpdate::default()
            })
            .expect("clock set")
            .unix_ms;
        let client = AmsClient::builder()
            .gateway(ams_client::Gateway::url(sandbox.base_url()).unwrap())
            .client_id(CLIENT_ID)
            .merchant_key(
                PrivateKey::from_text(&vector("merchant_private_pkcs8.pem")).unwrap(),
                KeyVersion::DEFAULT,
            )
            .alipay_public_key(PublicKey::from_text(&vector("alipay_sim_public_spki.pem")).unwrap())
            .build()
            .expect("the client builds");
        let store = InMemoryStore::new();
        let clock = ManualClock::new(now);
        let verifier = client
            .notification_verifier()
            .with_clock(SimulatedTime(clock.clone()));
        let ctx = Context::new(
            Arc::new(store.clone()),
            Arc::new(client),
            Arc::new(clock.clone()),
        )
        .with_settings(Settings {
            auth_redirect_url: Some("https://merchant.example/authorized".into()),
            ..Settings::default()
        });
        Self {
            sandbox,
            store,
            clock,
            ctx,
            verifier,
        }
    }

    /// Moves both clocks.
    fn tick(&self, ms: Millis) {
        self.clock.advance(ms);
        self.sandbox.advance_clock_ms(ms);
    }

    async fn run_jobs(&self) {
        let report = Payments::new(self.ctx.clone())
            .run_due_jobs("worker", self.clock.now_ms())
            .await
            .unwrap();
        assert!(report.failed.is_empty(), "{report:?}");
    }

    async fn bind(&self) -> AuthorizationId {
        let authorizations = Authorizations::new(self.ctx.clone());
        let started = authorizations
            .start(StartAuthorization {
                customer_id: "cust-1".into(),
                wallet: CustomerBelongsTo::AlipayCn,
                terminal: TerminalType::Web,
                os: None,
                return_url: "https://merchant.example/account".into(),
            })
            .await
            .expect("consult");
        let location = agree(&started.auth_url, ALICE).await;
        assert_eq!(
            query(&location, "authState").as_deref(),
            Some(started.auth_state.as_str())
        );
        let code = query(&location, "authCode").expect("authCode in the redirect");
        let state = authorizations
            .complete_with_code(&started.auth_state, &code)
            .await
            .expect("applyToken");
        assert_eq!(state, AuthorizationState::Active);
        started.authorization_id
    }

    async fn charge(&self, auth: &AuthorizationId, key: &str, minor: u64) -> ChargeResult {
        Payments::new(self.ctx.clone())
            .charge(ChargeCommand {
                idempotency_key: key.into(),
                authorization_id: auth.clone(),
                reference: format!("order-{key}"),
                description: "Monthly plan".into(),
                amount: usd(minor),
            })
            .await
            .expect("charge")
    }

    fn state_of(&self, result: &ChargeResult) -> AttemptState {
        self.attempt(result).state
    }

    fn attempt(&self, result: &ChargeResult) -> PaymentAttempt {
        self.store
            .attempts()
            .into_iter()
            .find(|a| a.id == result.attempt_id)
            .expect("the attempt")
    }

    /// Runs the due jobs every 3 s of both clocks until the attempt reaches `target` (at most
    /// `rounds` rounds); returns the attempt as it ends.
    async fn run_until(
        &self,
        result: &ChargeResult,
        target: AttemptState,
        rounds: usize,
    ) -> PaymentAttempt {
        for _ in 0..rounds {
            if self.state_of(result) == target {
                break;
            }
            self.tick(3_000);
            self.run_jobs().await;
        }
        self.attempt(result)
    }

    /// `(debits, credits)` in the sandbox's ledger for one `paymentRequestId`.
    fn ledger_counts(&self, payment_request_id: &str) -> (u32, u32) {
        let ledger = self.sandbox.ledger(Some(payment_request_id), None);
        (ledger.debits, ledger.credits)
    }

    /// The events about `subject` of `kind`.
    fn events(&self, kind: EventKind, subject: &str) -> Vec<autodebit_domain::model::Event> {
        self.store
            .events()
            .into_iter()
            .filter(|e| e.kind == kind && e.subject == subject)
            .collect()
    }

    fn balance(&self) -> u64 {
        self.sandbox.user(ALICE).unwrap().spec.balances[0].minor_units()
    }
}

fn unknown(code: &str) -> FaultAction {
    FaultAction::Unknown { code: code.into() }
}

/// One HTTP/1.1 exchange on a fresh connection; returns the status and the head.
async fn http(url: &str, method: &str, form: Option<&str>) -> (u16, String) {
    let rest = url.strip_prefix("http://").expect("a loopback http URL");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = tokio::net::TcpStream::connect(authority)
        .await
        .expect("connect");
    let body = form.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let head = answer
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head)
}

/// The user agrees on the wallet's consent page; returns where the wallet sends them.
async fn agree(consent_url: &str, user: &str) -> String {
    let (status, _) = http(consent_url, "GET", None).await;
    assert_eq!(status, 200, "the consent page");
    let (status, head) = http(
        consent_url,
        "POST",
        Some(&format!("decision=agree&user={}", user.replace('@', "%40"))),
    )
    .await;
    assert_eq!(status, 303, "{head}");
    head.lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("location")
                .then(|| value.trim().to_owned())
        })
        .expect("a Location header")
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| percent_decode(v))
    })
}

#[tokio::test]
async fn bind_charge_recover_cancel_and_refund_against_the_sandbox() {
    let w = World::start().await;
    let auth = w.bind().await;

    // 1. S.
    let paid = w.charge(&auth, "k1", 2_500).await;
    assert_eq!(
        (paid.attempt_state, paid.order_state),
        (AttemptState::Succeeded, OrderState::Succeeded)
    );
    assert_eq!(
        w.sandbox
            .ledger(Some(&paid.payment_request_id), None)
            .debits,
        1
    );

    // 2. The answer is lost after the debit: unknown, then the inquiry finds SUCCESS. One debit.
    w.sandbox
        .add_fault(FaultRule::new(Api::Pay, FaultAction::Drop));
    let dropped = w.charge(&auth, "k2", 1_000).await;
    assert_eq!(dropped.attempt_state, AttemptState::Unknown);
    w.tick(3_000);
    w.run_jobs().await;
    assert_eq!(w.state_of(&dropped), AttemptState::Succeeded);
    let ledger = w.sandbox.ledger(Some(&dropped.payment_request_id), None);
    assert_eq!((ledger.debits, ledger.credits), (1, 0));

    // 3. pay U after the debit, every inquiry U: 20 inquiries, then the cancel returns the money.
    w.sandbox.add_fault(FaultRule::new(
        Api::Pay,
        FaultAction::Unknown {
            code: "UNKNOWN_EXCEPTION".into(),
        },
    ));
    w.sandbox.add_fault(
        FaultRule::new(
            Api::InquiryPayment,
            FaultAction::Unknown {
                code: "UNKNOWN_EXCEPTION".into(),
            },
        )
        .times(None),
    );
    let unknown = w.charge(&auth, "k3", 1_500).await;
    assert_eq!(unknown.attempt_state, AttemptState::Unknown);
    for _ in 0..25 {
        if w.state_of(&unknown) == AttemptState::Cancelled {
            break;
        }
        w.tick(3_000);
        w.run_jobs().await;
    }
    w.sandbox.clear_faults();
    let attempt = w
        .store
        .attempts()
        .into_iter()
        .find(|a| a.id == unknown.attempt_id)
        .unwrap();
    assert_eq!(
        (attempt.state, attempt.inquiries),
        (AttemptState::Cancelled, 20)
    );
    let ledger = w.sandbox.ledger(Some(&unknown.payment_request_id), None);
    assert_eq!(
        (ledger.debits, ledger.credits),
        (1, 1),
        "the debit was returned"
    );
    assert_eq!(ledger.entries[1].reason, EntryReason::Cancel);

    // 4. Refund part of the first payment.
    let refund = Refunds::new(w.ctx.clone())
        .refund(RefundCommand {
            idempotency_key: "r1".into(),
            order_id: paid.order_id.clone(),
            amount: usd(1_000),
            reason: Some("partial".into()),
        })
        .await
        .expect("refund");
    assert_eq!(
        (refund.state, refund.order_state),
        (RefundState::Succeeded, OrderState::PartlyRefunded)
    );
    let credits: Vec<_> = w
        .sandbox
        .ledger(Some(&paid.payment_request_id), None)
        .entries
        .into_iter()
        .filter(|e| e.kind == EntryKind::Credit)
        .collect();
    assert_eq!(credits.len(), 1);
    assert_eq!(
        (credits[0].reason, credits[0].amount),
        (EntryReason::Refund, usd(1_000))
    );
    assert_eq!(
        credits[0].refund_request_id.as_deref(),
        Some(refund.refund_request_id.as_str())
    );

    // Alice paid 25.00 + 10.00 (+ 15.00 returned) and got 10.00 back.
    let balance = w.sandbox.user(ALICE).unwrap().spec.balances[0].minor_units();
    assert_eq!(balance, 10_000 - 2_500 - 1_000 + 1_000);
}

/// A merchant's notification endpoint on a raw socket: one request read, one answer written.
struct MerchantEndpoint {
    listener: tokio::net::TcpListener,
}

/// One notification as the merchant's endpoint received it.
struct Received {
    path: String,
    headers: http::HeaderMap,
    body: Vec<u8>,
    stream: tokio::net::TcpStream,
}

impl MerchantEndpoint {
    async fn bind() -> Self {
        Self {
            listener: tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind"),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.listener.local_addr().unwrap())
    }

    /// Waits (bounded, real time) for the next POST and reads it whole.
    async fn next(&self) -> Received {
        let (mut stream, _) = tokio::time::timeout(Duration::from_secs(10), self.listener.accept())
            .await
            .expect("a notification within 10 s")
            .expect("accept");
        let mut buf = Vec::new();
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
                .await
                .expect("the request head in time")
                .expect("read");
            assert!(n > 0, "the connection closed before the head ended");
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8(buf[..head_end].to_vec()).expect("an ASCII head");
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or_default().to_owned();
        let mut parts = request_line.split(' ');
        assert_eq!(parts.next(), Some("POST"), "{request_line}");
        let path = parts.next().expect("a path").to_owned();
        let mut headers = http::HeaderMap::new();
        for line in lines {
            let (name, value) = line.split_once(':').expect("a header line");
            headers.append(
                http::HeaderName::from_bytes(name.trim().as_bytes()).unwrap(),
                http::HeaderValue::from_str(value.trim()).unwrap(),
            );
        }
        let length: usize = headers
            .get("content-length")
            .expect("a Content-Length")
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let mut body = buf[head_end + 4..].to_vec();
        while body.len() < length {
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
                .await
                .expect("the body in time")
                .expect("read");
            assert!(n > 0, "the connection closed before the body ended");
            body.extend_from_slice(&chunk[..n]);
        }
        assert_eq!(body.len(), length);
        Received {
            path,
            headers,
            body,
            stream,
        }
    }
}

impl Received {
    /// Answers 200 with the exact acknowledgement and closes the connection.
    async fn ack(mut self) {
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
            ams_client::ACK_CONTENT_TYPE,
            ams_protocol::ACK_SUCCESS_BODY.len(),
            ams_protocol::ACK_SUCCESS_BODY
        );
        self.stream
            .write_all(answer.as_bytes())
            .await
            .expect("write");
        self.stream.shutdown().await.expect("shutdown");
    }
}

/// Seed path: pay F (balance too low) → attempt and order failed, nothing debited; after a top-up a
/// new charge (new idempotency key) goes through with a new paymentRequestId.
#[tokio::test]
async fn a_low_balance_fails_the_charge_and_a_new_charge_after_a_top_up_succeeds() {
    let w = World::start().await;
    let auth = w.bind().await;
    w.sandbox
        .update_user(
            ALICE,
            UserUpdate {
                balances: vec![usd(500)],
                ..UserUpdate::default()
            },
        )
        .unwrap();

    let failed = w.charge(&auth, "low-1", 2_500).await;
    assert_eq!(
        (failed.attempt_state, failed.order_state),
        (AttemptState::Failed, OrderState::Failed)
    );
    assert_eq!(
        failed.result_code.as_deref(),
        Some("USER_BALANCE_NOT_ENOUGH")
    );
    assert_eq!(w.ledger_counts(&failed.payment_request_id), (0, 0));
    assert_eq!(w.balance(), 500);
    let guards = [
        JobKind::SendPayment(failed.attempt_id.clone()),
        JobKind::ResolvePayment(failed.attempt_id.clone()),
        JobKind::CancelPayment(failed.attempt_id.clone()),
    ];
    assert!(
        w.store.jobs().iter().all(|j| !guards.contains(&j.kind)),
        "nothing left to resolve: {:?}",
        w.store.jobs()
    );
    assert_eq!(
        w.events(EventKind::PaymentFailed, &failed.order_id.to_string())
            .len(),
        1
    );
    // The authorization is untouched by a balance refusal.
    let authorization = w
        .store
        .authorizations()
        .into_iter()
        .find(|a| a.id == auth)
        .unwrap();
    assert_eq!(authorization.state, AuthorizationState::Active);

    // The same key again is the same failed order: nothing is sent.
    let replayed = w.charge(&auth, "low-1", 2_500).await;
    assert!(replayed.replayed);
    assert_eq!(
        (
            replayed.order_id.clone(),
            replayed.payment_request_id.clone()
        ),
        (failed.order_id.clone(), failed.payment_request_id.clone())
    );
    assert_eq!(replayed.attempt_state, AttemptState::Failed);

    w.sandbox
        .update_user(
            ALICE,
            UserUpdate {
                balances: vec![usd(10_000)],
                ..UserUpdate::default()
            },
        )
        .unwrap();
    let paid = w.charge(&auth, "low-2", 2_500).await;
    assert_eq!(
        (paid.attempt_state, paid.order_state),
        (AttemptState::Succeeded, OrderState::Succeeded)
    );
    assert!(!paid.replayed);
    assert_ne!(paid.order_id, failed.order_id);
    assert_ne!(paid.payment_request_id, failed.payment_request_id);
    assert_eq!(w.ledger_counts(&paid.payment_request_id), (1, 0));
    assert_eq!(w.ledger_counts(&failed.payment_request_id), (0, 0));
    let all = w.sandbox.ledger(None, Some(ALICE));
    assert_eq!((all.debits, all.credits), (1, 0));
    assert_eq!(w.balance(), 10_000 - 2_500);
}

/// Seed path: pay F INVALID_ACCESS_TOKEN (the user unbound the merchant in the wallet) → the
/// attempt and order fail, the authorization becomes invalid, nothing is debited, and no further
/// charge is sent on it.
#[tokio::test]
async fn a_charge_on_an_unbound_token_invalidates_the_authorization() {
    let w = World::start().await;
    let auth = w.bind().await;
    assert_eq!(w.sandbox.unbind(ALICE, Some(CLIENT_ID)).unwrap(), 1);

    let refused = w.charge(&auth, "unbound-1", 1_000).await;
    assert_eq!(
        (refused.attempt_state, refused.order_state),
        (AttemptState::Failed, OrderState::Failed)
    );
    assert_eq!(refused.result_code.as_deref(), Some("INVALID_ACCESS_TOKEN"));
    let authorization = w
        .store
        .authorizations()
        .into_iter()
        .find(|a| a.id == auth)
        .unwrap();
    assert_eq!(authorization.state, AuthorizationState::Invalid);
    assert_eq!(
        w.events(
            EventKind::AuthorizationNeedsReauthorization,
            &auth.to_string()
        )
        .len(),
        1
    );
    assert_eq!(w.ledger_counts(&refused.payment_request_id), (0, 0));

    // The next charge is refused before anything is sent.
    let next = Payments::new(w.ctx.clone())
        .charge(ChargeCommand {
            idempotency_key: "unbound-2".into(),
            authorization_id: auth.clone(),
            reference: "order-unbound-2".into(),
            description: "Monthly plan".into(),
            amount: usd(1_000),
        })
        .await;
    assert!(matches!(next, Err(Error::NotChargeable { .. })), "{next:?}");
    assert_eq!(w.store.attempts().len(), 1);
    let all = w.sandbox.ledger(None, Some(ALICE));
    assert_eq!((all.debits, all.credits), (0, 0));
    assert_eq!(w.balance(), 10_000);
}

/// Seed path: pay U, every inquiry U, then the cancel is answered U twice (without effect) → the
/// cancel job retries on its 5–10 s schedule and the third cancel returns the debit. A pay that never
/// took effect is cancelled too (ORDER_NOT_EXIST), with nothing debited.
#[tokio::test]
async fn a_cancel_answered_unknown_twice_is_retried_until_cancelled() {
    let w = World::start().await;
    let auth = w.bind().await;
    w.sandbox
        .add_fault(FaultRule::new(Api::Pay, unknown("UNKNOWN_EXCEPTION")));
    w.sandbox
        .add_fault(FaultRule::new(Api::InquiryPayment, unknown("UNKNOWN_EXCEPTION")).times(None));
    w.sandbox.add_fault(
        FaultRule::new(Api::Cancel, unknown("UNKNOWN_EXCEPTION"))
            .times(Some(2))
            .process(false),
    );

    let charged = w.charge(&auth, "cancel-1", 1_500).await;
    assert_eq!(charged.attempt_state, AttemptState::Unknown);
    assert_eq!(w.ledger_counts(&charged.payment_request_id), (1, 0));

    let attempt = w.run_until(&charged, AttemptState::Cancelled, 60).await;
    assert_eq!(
        (attempt.state, attempt.inquiries),
        (AttemptState::Cancelled, 20)
    );
    // Two unanswered cancels, each followed by a wait of at least 5 s.
    let started = attempt.cancel_started_at.expect("the cancel started");
    assert!(
        attempt.updated_at - started >= 10_000,
        "cancelled {} ms after the first cancel",
        attempt.updated_at - started
    );
    let status = Payments::new(w.ctx.clone())
        .status(&charged.order_id)
        .await
        .unwrap();
    assert_eq!(status.order_state, OrderState::Cancelled);
    assert_eq!(
        w.events(EventKind::PaymentCancelled, &charged.order_id.to_string())
            .len(),
        1
    );
    let ledger = w.sandbox.ledger(Some(&charged.payment_request_id), None);
    assert_eq!(
        (ledger.debits, ledger.credits),
        (1, 1),
        "the debit returned"
    );
    assert_eq!(ledger.entries[1].reason, EntryReason::Cancel);
    assert_eq!(w.balance(), 10_000);

    // The same with a pay that never took effect: the cancel finds no payment.
    w.sandbox.clear_faults();
    w.sandbox
        .add_fault(FaultRule::new(Api::Pay, unknown("UNKNOWN_EXCEPTION")).process(false));
    w.sandbox
        .add_fault(FaultRule::new(Api::InquiryPayment, unknown("UNKNOWN_EXCEPTION")).times(None));
    w.sandbox.add_fault(
        FaultRule::new(Api::Cancel, unknown("UNKNOWN_EXCEPTION"))
            .times(Some(2))
            .process(false),
    );
    let lost = w.charge(&auth, "cancel-2", 700).await;
    assert_eq!(lost.attempt_state, AttemptState::Unknown);
    let attempt = w.run_until(&lost, AttemptState::Cancelled, 60).await;
    assert_eq!(attempt.state, AttemptState::Cancelled);
    assert_eq!(w.ledger_counts(&lost.payment_request_id), (0, 0));
    assert_eq!(w.balance(), 10_000);
}

/// Seed path: pay processed but answered U, every inquiry U, and both clocks past 00:15 UTC+8 of
/// the next day before the cancel is due → the cancel is not attempted (CANCEL_WINDOW_EXCEED), the
/// attempt needs an operator, and the debit stays (an operator must refund).
#[tokio::test]
async fn a_cancel_past_the_window_is_left_to_an_operator() {
    let w = World::start().await;
    let auth = w.bind().await;
    w.sandbox
        .add_fault(FaultRule::new(Api::Pay, unknown("UNKNOWN_EXCEPTION")));
    w.sandbox
        .add_fault(FaultRule::new(Api::InquiryPayment, unknown("UNKNOWN_EXCEPTION")).times(None));
    let charged = w.charge(&auth, "late-1", 1_500).await;
    assert_eq!(charged.attempt_state, AttemptState::Unknown);

    let view = w
        .sandbox
        .update_clock(&ClockUpdate {
            set: Some("2024-03-02T00:20:00+08:00".into()),
            ..ClockUpdate::default()
        })
        .unwrap();
    w.clock.set(view.unix_ms);

    let attempt = w.run_until(&charged, AttemptState::NeedsOperator, 40).await;
    assert_eq!(
        (attempt.state, attempt.inquiries),
        (AttemptState::NeedsOperator, 20)
    );
    assert_eq!(attempt.result_code.as_deref(), Some("CANCEL_WINDOW_EXCEED"));
    let flagged = w.events(EventKind::OperatorAttention, &charged.order_id.to_string());
    assert!(
        flagged.iter().any(|e| e
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("CANCEL_WINDOW_EXCEED"))),
        "{flagged:?}"
    );
    assert!(
        w.events(EventKind::PaymentCancelled, &charged.order_id.to_string())
            .is_empty()
    );
    assert_eq!(w.ledger_counts(&charged.payment_request_id), (1, 0));
    assert_eq!(w.balance(), 10_000 - 1_500);
}

/// Seed path: as above, but only the sandbox's clock passed the window, so the cancel is sent and
/// Alipay refuses it with CANCEL_WINDOW_EXCEED → an operator, the debit stays.
#[tokio::test]
async fn a_cancel_refused_by_alipay_for_the_window_is_left_to_an_operator() {
    let w = World::start().await;
    let auth = w.bind().await;
    w.sandbox
        .add_fault(FaultRule::new(Api::Pay, unknown("UNKNOWN_EXCEPTION")));
    w.sandbox
        .add_fault(FaultRule::new(Api::InquiryPayment, unknown("UNKNOWN_EXCEPTION")).times(None));
    let charged = w.charge(&auth, "late-2", 1_500).await;
    assert_eq!(charged.attempt_state, AttemptState::Unknown);
    w.sandbox
        .update_clock(&ClockUpdate {
            set: Some("2024-03-02T00:20:00+08:00".into()),
            ..ClockUpdate::default()
        })
        .unwrap();

    let attempt = w.run_until(&charged, AttemptState::NeedsOperator, 40).await;
    assert_eq!(attempt.state, AttemptState::NeedsOperator);
    assert_eq!(attempt.result_code.as_deref(), Some("CANCEL_WINDOW_EXCEED"));
    assert!(
        !w.events(EventKind::OperatorAttention, &charged.order_id.to_string())
            .is_empty()
    );
    assert_eq!(w.ledger_counts(&charged.payment_request_id), (1, 0));
    assert_eq!(w.balance(), 10_000 - 1_500);
}

/// Seed path: pay processed but answered U; the sandbox's notifyPayment (sent twice) reaches a
/// raw merchant endpoint, is verified with the client's verifier, acknowledged exactly, and applied:
/// the attempt succeeds once, the resend is a duplicate, and the jobs find nothing left to do.
#[tokio::test]
async fn a_payment_notification_settles_an_unknown_pay_once() {
    let w = World::start().await;
    let auth = w.bind().await;
    let endpoint = MerchantEndpoint::bind().await;
    w.sandbox
        .set_merchant_settings(
            CLIENT_ID,
            MerchantSettings {
                payment_notify_url: Some(endpoint.url("/payNotify")),
                ..MerchantSettings::default()
            },
        )
        .unwrap();
    w.sandbox.add_notification_fault(NotificationFaultRule::new(
        Some(NotificationKind::Payment),
        NotificationFaultAction::Duplicate,
    ));
    w.sandbox
        .add_fault(FaultRule::new(Api::Pay, unknown("UNKNOWN_EXCEPTION")));

    let charged = w.charge(&auth, "notified-1", 1_200).await;
    assert_eq!(charged.attempt_state, AttemptState::Unknown);

    let notifications = Notifications::new(w.ctx.clone());
    let mut receipts = Vec::new();
    for _ in 0..2 {
        let received = endpoint.next().await;
        assert_eq!(received.path, "/payNotify");
        let verified = w
            .verifier
            .verify(&received.path, &received.headers, &received.body)
            .expect("a notification signed by the sandbox's Alipay key");
        let body = String::from_utf8(received.body.clone()).unwrap();
        let receipt = notifications
            .receive(verified.notification(), &received.path, &body)
            .await
            .expect("applied");
        received.ack().await;
        receipts.push(receipt);
        if receipts.len() == 1 {
            assert_eq!(w.state_of(&charged), AttemptState::Succeeded);
        }
    }
    assert_eq!(receipts, vec![Receipt::Applied, Receipt::Duplicate]);

    let log = w
        .sandbox
        .wait_for_notifications(Duration::from_secs(10), |log| {
            log.iter().any(|n| {
                n.request_id == charged.payment_request_id && n.state == DeliveryState::Delivered
            })
        })
        .await;
    let record = log
        .iter()
        .find(|n| n.request_id == charged.payment_request_id)
        .expect("the notification");
    assert_eq!(record.state, DeliveryState::Delivered);
    assert_eq!(record.attempts.len(), 2);
    assert!(record.attempts.iter().all(|a| a.acknowledged));

    // The jobs that guarded the unknown pay find it settled: nothing new.
    for _ in 0..3 {
        w.tick(3_000);
        w.run_jobs().await;
    }
    let attempt = w.attempt(&charged);
    assert_eq!(attempt.state, AttemptState::Succeeded);
    assert_eq!(
        attempt.payment_id.as_deref(),
        Some(record_payment_id(&record.body))
    );
    let status = Payments::new(w.ctx.clone())
        .status(&charged.order_id)
        .await
        .unwrap();
    assert_eq!(status.order_state, OrderState::Succeeded);
    assert_eq!(
        w.events(EventKind::PaymentSucceeded, &charged.order_id.to_string())
            .len(),
        1
    );
    assert_eq!(w.store.inbox().len(), 1);
    assert_eq!(w.ledger_counts(&charged.payment_request_id), (1, 0));
    assert_eq!(w.balance(), 10_000 - 1_200);
}

fn record_payment_id(body: &str) -> &str {
    let at = body.find("\"paymentId\":\"").expect("a paymentId") + "\"paymentId\":\"".len();
    let rest = &body[at..];
    &rest[..rest.find('"').unwrap()]
}
