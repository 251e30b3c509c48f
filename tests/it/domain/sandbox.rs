//! The flows against the in-process sandbox, through the real client (`ams-client`), the domain's
//! adapters (`autodebit-alipay`: byte-exact resends, the real notification verifier over raw
//! bytes), on every store backend. The sandbox keeps its own clock (frozen); the domain's clock
//! drives scheduling; both move together. Its ledger is the proof of what was debited.

use std::sync::Arc;
use std::time::Duration;

use ams_client::{AmsClient, KeyVersion, PrivateKey, PublicKey};
use ams_protocol::{Amount, Api, AuthState, Currency, CustomerBelongsTo, TerminalType};
use ams_sandbox::{
    AnswerStatus, ClockUpdate, FaultAction, FaultRule, Lifetimes, MerchantSettings, SandboxHandle,
    UserSpec, UserUpdate,
};
use autodebit_alipay::{AlipayGateway, AlipayVerifier};
use autodebit_domain::lifecycle::attempt::AttemptState;
use autodebit_domain::lifecycle::authorization::AuthorizationState;
use autodebit_domain::lifecycle::order::OrderState;
use autodebit_domain::lifecycle::refund::RefundState;
use autodebit_domain::model::{AuthorizationId, Body, EventKind, Millis, OrderId, RefundOrigin};
use autodebit_domain::ports::{Clock, RawNotification, RefusalCause};
use autodebit_domain::services::authorizations::{Authorizations, StartAuthorization};
use autodebit_domain::services::jobs::Jobs;
use autodebit_domain::services::notifications::{Notifications, Receipt};
use autodebit_domain::services::payments::{
    ChargeCommand, PaymentView, Payments, RetryCommand, Status,
};
use autodebit_domain::services::refunds::{RefundCommand, Refunds};
use autodebit_domain::services::{Context, Error, Settings};
use autodebit_domain::testing::ManualClock;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::{Backend, backend_test, runnable_at};

const CLIENT_ID: &str = "SANDBOX_5X00000000000000";
const ALICE: &str = "alice@example.com";
const DAY: Millis = 86_400_000;

fn vector(name: &str) -> String {
    let path = format!(
        "{}/../testdata/ams-vectors/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn usd(minor: u64) -> Amount {
    Amount::new(Currency::USD, minor)
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

struct Journey {
    sandbox: SandboxHandle,
    backend: Backend,
    clock: ManualClock,
    ctx: Context,
    client: AmsClient,
}

impl Journey {
    async fn start(backend: Backend) -> Self {
        Self::with(backend, |b| b).await
    }

    async fn with(
        backend: Backend,
        tweak: impl FnOnce(ams_sandbox::SandboxBuilder) -> ams_sandbox::SandboxBuilder,
    ) -> Self {
        let builder = ams_sandbox::Sandbox::builder()
            .merchant(
                CLIENT_ID,
                PublicKey::from_text(&vector("merchant_public_spki.pem")).unwrap(),
            )
            .alipay_key(PrivateKey::from_text(&vector("alipay_sim_private_pkcs8.pem")).unwrap())
            .user(UserSpec::new(
                ALICE,
                CustomerBelongsTo::AlipayCn,
                vec![usd(10_000)],
            ));
        let sandbox = tweak(builder)
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
        let clock = ManualClock::new(now);
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
        let verifier = AlipayVerifier::new(
            client
                .notification_verifier()
                .with_clock(SimulatedTime(clock.clone())),
        );
        let ctx = Context::new(
            backend.store(),
            Arc::new(AlipayGateway::new(client.clone())),
            Arc::new(clock.clone()),
        )
        .with_verifier(Arc::new(verifier))
        .with_settings(Settings {
            auth_redirect_url: Some("https://merchant.example/authorized".into()),
            ..Settings::default()
        });
        Self {
            sandbox,
            backend,
            clock,
            ctx,
            client,
        }
    }

    /// Moves both clocks.
    fn tick(&self, ms: Millis) {
        self.clock.advance(ms);
        self.sandbox.advance_clock_ms(ms);
    }

    async fn run_jobs(&self) {
        let report = Jobs::new(self.ctx.clone()).run_due().await.unwrap();
        assert!(report.failed.is_empty(), "{report:?}");
    }

    /// Moves both clocks to each job's time and runs it, until `done` holds or `until` is reached.
    async fn run_until(&self, until: Millis, mut done: impl AsyncFnMut() -> bool) {
        for _ in 0..5_000 {
            if done().await {
                return;
            }
            let jobs = self.backend.jobs().await;
            let Some(next) = jobs.iter().map(runnable_at).min() else {
                return;
            };
            if next > until {
                return;
            }
            let now = self.clock.now_ms();
            if next > now {
                self.tick(next - now);
            }
            self.run_jobs().await;
        }
        panic!("the jobs never settled");
    }

    async fn payment(&self, order: &OrderId) -> PaymentView {
        Payments::new(self.ctx.clone())
            .payment(order)
            .await
            .unwrap()
    }

    async fn bind(&self) -> AuthorizationId {
        self.bind_for(None).await
    }

    /// Binds Alice's wallet for `secondary` (a secondary merchant), or the merchant itself.
    async fn bind_for(&self, secondary: Option<&str>) -> AuthorizationId {
        let authorizations = Authorizations::new(self.ctx.clone());
        let started = authorizations
            .start(StartAuthorization {
                secondary_merchant: secondary.map(str::to_owned),
                ..start()
            })
            .await
            .expect("consult");
        let location = agree(started.auth_url.as_deref().expect("an authUrl"), ALICE).await;
        assert_eq!(
            query(&location, "authState").as_deref(),
            Some(started.auth_state.as_str())
        );
        let code = query(&location, "authCode").expect("authCode in the redirect");
        let state = authorizations
            .complete_with_code(
                &AuthState::new(query(&location, "authState").unwrap()),
                &ams_protocol::AuthCode::new(code),
            )
            .await
            .expect("applyToken");
        assert_eq!(state, AuthorizationState::Active);
        started.authorization_id
    }

    async fn charge(&self, auth: &AuthorizationId, key: &str, minor: u64) -> PaymentView {
        Payments::new(self.ctx.clone())
            .charge(ChargeCommand {
                idempotency_key: key.into(),
                authorization_id: auth.clone(),
                reference: format!("order-{key}"),
                description: "Monthly plan".into(),
                amount: usd(minor),
                return_url: None,
            })
            .await
            .expect("charge")
    }

    /// `(debits, credits)` in the sandbox's ledger for one `paymentRequestId`.
    fn ledger(&self, view: &PaymentView) -> (u32, u32) {
        let ledger = self
            .sandbox
            .ledger(Some(view.latest().payment_request_id.as_str()), None);
        (ledger.debits, ledger.credits)
    }

    fn balance(&self) -> u64 {
        self.sandbox.user(ALICE).unwrap().spec.balances[0].minor_units()
    }

    async fn events(&self, kind: EventKind) -> usize {
        self.backend
            .events()
            .await
            .iter()
            .filter(|e| e.kind == kind)
            .count()
    }
}

fn start() -> StartAuthorization {
    StartAuthorization {
        customer_id: "cust-1".into(),
        wallet: CustomerBelongsTo::AlipayCn,
        terminal: TerminalType::Web,
        os: None,
        return_url: "https://merchant.example/account".into(),
        secondary_merchant: None,
    }
}

fn fault(api: Api, action: FaultAction) -> FaultRule {
    FaultRule::new(api, action)
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

fn query(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| {
            let mut out = Vec::new();
            let bytes = v.as_bytes();
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'%' && i + 2 < bytes.len() {
                    out.push(
                        u8::from_str_radix(
                            std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("3F"),
                            16,
                        )
                        .unwrap_or(b'?'),
                    );
                    i += 3;
                } else {
                    out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
                    i += 1;
                }
            }
            String::from_utf8_lossy(&out).into_owned()
        })
    })
}

/// A merchant's notification endpoint on a raw socket: each request read whole, answered by what
/// the domain made of it (the exact acknowledgement, or a refusal Alipay retries).
struct MerchantEndpoint {
    listener: tokio::net::TcpListener,
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

    /// Takes the next notification (bounded, real time), hands its raw bytes to the domain, and
    /// answers with the acknowledgement when the domain stored it.
    async fn receive(&self, notifications: &Notifications, tamper: bool) -> Result<Receipt, Error> {
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
            let n = stream.read(&mut chunk).await.expect("read");
            assert!(n > 0, "closed before the head ended");
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8(buf[..head_end].to_vec()).expect("an ASCII head");
        let mut lines = head.split("\r\n");
        let path = lines
            .next()
            .unwrap_or_default()
            .split(' ')
            .nth(1)
            .expect("a path")
            .to_owned();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| {
                l.split_once(':')
                    .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            })
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse().unwrap())
            .expect("a Content-Length");
        let mut body = buf[head_end + 4..].to_vec();
        while body.len() < length {
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.expect("read");
            assert!(n > 0, "closed before the body ended");
            body.extend_from_slice(&chunk[..n]);
        }
        let mut body = String::from_utf8(body).expect("a UTF-8 body");
        if tamper {
            body.push(' ');
        }
        let receipt = notifications
            .receive(&RawNotification {
                path,
                headers,
                body: Body::new(body),
            })
            .await;
        let answer = if receipt.is_ok() || matches!(receipt, Err(Error::NotificationRefused(_))) {
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                ams_client::ACK_CONTENT_TYPE,
                ams_protocol::ACK_SUCCESS_BODY.len(),
                ams_protocol::ACK_SUCCESS_BODY
            )
        } else {
            "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into()
        };
        stream.write_all(answer.as_bytes()).await.expect("write");
        stream.shutdown().await.expect("shutdown");
        receipt
    }
}

backend_test! {
    async fn bind_charge_recover_cancel_and_refund_against_the_sandbox(b) {
        let w = Journey::start(b).await;
        let auth = w.bind().await;
        // 1. S.
        let paid = w.charge(&auth, "k1", 2_500).await;
        assert_eq!(paid.status(), Status::Succeeded);
        assert_eq!(w.ledger(&paid), (1, 0));
        // 2. The answer dropped after the debit: unknown, resolved by inquiry, debited once.
        w.sandbox.add_fault(fault(Api::Pay, FaultAction::Drop));
        let dropped = w.charge(&auth, "k2", 1_000).await;
        assert_eq!(dropped.latest().state, AttemptState::Unknown, "never failed");
        w.run_until(w.clock.now_ms() + DAY, async || w.payment(&dropped.order.id).await.status() != Status::Processing).await;
        let dropped = w.payment(&dropped.order.id).await;
        assert_eq!(dropped.status(), Status::Succeeded);
        assert_eq!(w.ledger(&dropped), (1, 0));
        // 3. U, every inquiry U, then the cancel returns the debit.
        w.sandbox.add_fault(fault(Api::Pay, FaultAction::Unknown { code: "UNKNOWN_EXCEPTION".into() }));
        w.sandbox.add_fault(fault(Api::InquiryPayment, FaultAction::Unknown { code: "UNKNOWN_EXCEPTION".into() }).times(None));
        let unknown = w.charge(&auth, "k3", 700).await;
        w.run_until(w.clock.now_ms() + DAY, async || w.payment(&unknown.order.id).await.status() != Status::Processing).await;
        let unknown = w.payment(&unknown.order.id).await;
        assert_eq!((unknown.latest().state, unknown.status()), (AttemptState::Cancelled, Status::Cancelled));
        assert_eq!(unknown.latest().inquiries, 20);
        assert_eq!(w.ledger(&unknown), (1, 1), "the debit was returned");
        w.sandbox.clear_faults();
        // 4. A partial refund.
        let refund = Refunds::new(w.ctx.clone())
            .refund(RefundCommand { idempotency_key: "r1".into(), order_id: paid.order.id.clone(), amount: usd(1_000), reason: None })
            .await
            .unwrap();
        assert_eq!((refund.refund.state, refund.order_state), (RefundState::Succeeded, OrderState::PartlyRefunded));
        assert_eq!(w.balance(), 10_000 - 2_500 - 1_000 + 1_000);
    }
}

// ---- F1: the cancel that overtakes its pay ------------------------------------------------------

backend_test! {
    async fn a_cancel_that_overtakes_its_pay_never_loses_the_money(b) {
        let w = Journey::start(b).await;
        let auth = w.bind().await;
        assert_eq!(w.sandbox.settings().overtaken_pay, ams_sandbox::OvertakenPay::Debits, "the harsher case");
        // The pay is held in transit for 20 s: the client sees no answer.
        w.sandbox.add_fault(fault(Api::Pay, FaultAction::Hold { ms: 20_000 }));
        let view = w.charge(&auth, "k1", 1_000).await;
        assert_eq!(view.latest().state, AttemptState::Unknown);
        // The merchant cancels at once: Alipay has no such payment yet.
        let cancelling = Payments::new(w.ctx.clone()).cancel(&view.order.id).await.unwrap();
        assert_eq!(cancelling.latest().state, AttemptState::CancelRequested, "ORDER_NOT_EXIST proved nothing");
        assert_eq!(w.ledger(&view), (0, 0));
        // The pay lands and debits; the cancel, sent again, returns the money.
        w.run_until(w.clock.now_ms() + DAY, async || w.payment(&view.order.id).await.status() != Status::Processing).await;
        let settled = w.payment(&view.order.id).await;
        assert_eq!((settled.latest().state, settled.status()), (AttemptState::Cancelled, Status::Cancelled));
        assert_eq!(w.ledger(&view), (1, 1), "debited when it landed, returned by the cancel");
        assert_eq!(w.balance(), 10_000);
    }
}

backend_test! {
    async fn a_pay_still_in_transit_at_its_expiry_is_settled_only_after_it(b) {
        let w = Journey::start(b).await;
        let auth = w.bind().await;
        // Held for an hour, far past its paymentExpiryTime: until then Alipay knows no such payment.
        w.sandbox.add_fault(fault(Api::Pay, FaultAction::Hold { ms: 3_600_000 }));
        let view = w.charge(&auth, "k1", 1_000).await;
        let expires = view.latest().expires_at;
        Payments::new(w.ctx.clone()).cancel(&view.order.id).await.unwrap();
        w.run_until(w.clock.now_ms() + DAY, async || w.payment(&view.order.id).await.status() != Status::Processing).await;
        let settled = w.payment(&view.order.id).await;
        assert_eq!(settled.status(), Status::Cancelled);
        assert_eq!(settled.latest().result_code.as_deref(), Some("NOT_FOUND_AFTER_EXPIRY"));
        assert!(w.clock.now_ms() > expires + w.ctx.schedule.expiry_margin_ms, "settled only past the expiry and its margin");
        // When it finally lands, Alipay closes it: nothing is ever debited.
        w.tick(3_600_000);
        assert!(w.sandbox.held().is_empty(), "the held pay landed");
        assert_eq!(w.ledger(&view), (0, 0), "nothing was ever debited");
    }
}

// ---- F2/F3: past the window, refund instead ------------------------------------------------------

backend_test! {
    async fn a_cancel_the_window_closes_on_is_refunded_instead(b) {
        let w = Journey::start(b).await;
        let auth = w.bind().await;
        let paid = w.charge(&auth, "k1", 1_000).await;
        // 00:14:50 UTC+8 the next day: the merchant cancels; the cancel gets no answer.
        w.tick(14 * 3_600_000 + 14 * 60_000 + 50_000);
        w.sandbox.add_fault(fault(Api::Cancel, FaultAction::Unknown { code: "UNKNOWN_EXCEPTION".into() }).process(false).times(None));
        let view = Payments::new(w.ctx.clone()).cancel(&paid.order.id).await.unwrap();
        assert_eq!(view.latest().state, AttemptState::CancelRequested);
        w.run_until(w.clock.now_ms() + DAY, async || w.payment(&paid.order.id).await.order.state == OrderState::FullyRefunded).await;
        let view = w.payment(&paid.order.id).await;
        assert_eq!(view.order.state, OrderState::FullyRefunded);
        assert_eq!(view.refunds[0].origin, RefundOrigin::CancelTooLate);
        let ledger = w.sandbox.ledger(None, Some(ALICE));
        assert_eq!((ledger.debits, ledger.credits), (1, 1), "debited, then refunded");
        assert_eq!(w.balance(), 10_000);
    }
}

backend_test! {
    async fn a_cancel_alipay_refuses_for_its_window_is_refunded_instead(b) {
        let w = Journey::start(b).await;
        let auth = w.bind().await;
        let paid = w.charge(&auth, "k1", 1_000).await;
        // Alipay's clock is past the window, ours a minute before it.
        w.clock.advance(14 * 3_600_000 + 14 * 60_000);
        w.sandbox.advance_clock_ms(14 * 3_600_000 + 16 * 60_000);
        Payments::new(w.ctx.clone()).cancel(&paid.order.id).await.unwrap();
        w.run_until(w.clock.now_ms() + DAY, async || w.payment(&paid.order.id).await.order.state == OrderState::FullyRefunded).await;
        let view = w.payment(&paid.order.id).await;
        assert_eq!(view.latest().result_code.as_deref(), Some("CANCEL_WINDOW_EXCEED"));
        assert_eq!(view.order.state, OrderState::FullyRefunded);
        assert_eq!(w.balance(), 10_000);
    }
}

// ---- F5: an answer that may mean the first request worked -----------------------------------------

backend_test! {
    async fn repeat_req_inconsistent_after_a_debit_is_inquired_and_found_paid(b) {
        let w = Journey::start(b).await;
        let auth = w.bind().await;
        w.sandbox.add_fault(fault(Api::Pay, FaultAction::Answer { status: AnswerStatus::F, code: "REPEAT_REQ_INCONSISTENT".into() }));
        let view = w.charge(&auth, "k1", 1_000).await;
        assert_eq!(view.status(), Status::Processing, "never failed");
        w.run_until(w.clock.now_ms() + DAY, async || w.payment(&view.order.id).await.status() != Status::Processing).await;
        assert_eq!(w.payment(&view.order.id).await.status(), Status::Succeeded);
        assert_eq!(w.ledger(&view), (1, 0));
    }
}

// ---- notifications, verified over their raw bytes -------------------------------------------------

backend_test! {
    async fn a_payment_notification_settles_an_unknown_pay_once_and_a_forged_one_changes_nothing(b) {
        let endpoint = MerchantEndpoint::bind().await;
        let w = Journey::start(b).await;
        w.sandbox.set_merchant_settings(CLIENT_ID, MerchantSettings {
            payment_notify_url: Some(endpoint.url("/notify/payment")),
            ..MerchantSettings::default()
        }).unwrap();
        let auth = w.bind().await;
        w.sandbox.add_fault(fault(Api::Pay, FaultAction::Drop));
        let view = w.charge(&auth, "k1", 1_000).await;
        assert_eq!(view.latest().state, AttemptState::Unknown);
        let notifications = Notifications::new(w.ctx.clone());
        // First delivery, tampered on the way (one byte): refused, nothing stored.
        let refused = endpoint.receive(&notifications, true).await;
        assert!(matches!(refused, Err(Error::NotificationUnverified { cause: RefusalCause::BadSignature, .. })), "{refused:?}");
        assert_eq!(w.payment(&view.order.id).await.latest().state, AttemptState::Unknown);
        // Alipay resends (2 min later): applied.
        w.tick(120_000);
        assert_eq!(endpoint.receive(&notifications, false).await.unwrap(), Receipt::Applied);
        assert_eq!(w.payment(&view.order.id).await.status(), Status::Succeeded);
        assert_eq!(w.events(EventKind::PaymentSucceeded).await, 1);
    }
}

// ---- F4, F12: paying an order again, tokens ---------------------------------------------------------

backend_test! {
    async fn a_failed_order_is_paid_again_with_a_new_request_id(b) {
        let w = Journey::start(b).await;
        let auth = w.bind().await;
        w.sandbox.update_user(ALICE, UserUpdate { balances: vec![usd(500)], ..UserUpdate::default() }).unwrap();
        let failed = w.charge(&auth, "k1", 2_500).await;
        assert_eq!((failed.status(), failed.latest().result_code.as_deref()), (Status::Failed, Some("USER_BALANCE_NOT_ENOUGH")));
        w.sandbox.update_user(ALICE, UserUpdate { balances: vec![usd(10_000)], ..UserUpdate::default() }).unwrap();
        let again = Payments::new(w.ctx.clone())
            .retry(RetryCommand { idempotency_key: "retry-1".into(), order_id: failed.order.id.clone() })
            .await
            .unwrap();
        assert_eq!(again.status(), Status::Succeeded);
        assert_eq!(again.order.id, failed.order.id, "the same business order");
        assert_ne!(again.attempts[0].payment_request_id, again.attempts[1].payment_request_id);
        assert_eq!(w.sandbox.ledger(None, Some(ALICE)).debits, 1);
    }
}

backend_test! {
    async fn an_unbound_token_invalidates_the_authorization(b) {
        let w = Journey::start(b).await;
        let auth = w.bind().await;
        assert_eq!(w.sandbox.unbind(ALICE, Some(CLIENT_ID)).unwrap(), 1);
        let refused = w.charge(&auth, "k1", 1_000).await;
        assert_eq!((refused.status(), refused.latest().result_code.as_deref()), (Status::Failed, Some("INVALID_ACCESS_TOKEN")));
        let authorization = Authorizations::new(w.ctx.clone()).authorization(&auth).await.unwrap();
        assert_eq!(authorization.state, AuthorizationState::Invalid);
        let next = Payments::new(w.ctx.clone())
            .charge(ChargeCommand { idempotency_key: "k2".into(), authorization_id: auth, reference: "order-k2".into(), description: "d".into(), amount: usd(1), return_url: None })
            .await;
        assert!(matches!(next, Err(Error::NotChargeable { .. })), "{next:?}");
    }
}

backend_test! {
    async fn a_wallet_without_refresh_tokens_needs_the_user_when_its_token_expires(b) {
        let w = Journey::with(b, |s| {
            s.user(UserSpec::new("bob@example.com", CustomerBelongsTo::AlipayCn, vec![usd(1)]).without_refresh_tokens())
                .lifetimes(Lifetimes { access_token_ms: 2 * DAY, ..Lifetimes::default() })
        })
        .await;
        w.sandbox.update_user(ALICE, UserUpdate { issues_refresh_tokens: Some(false), ..UserUpdate::default() }).unwrap();
        let auth = w.bind().await;
        let authorization = Authorizations::new(w.ctx.clone()).authorization(&auth).await.unwrap();
        assert!(authorization.token.as_ref().unwrap().refresh_token.is_none());
        w.run_until(w.clock.now_ms() + 3 * DAY, async || false).await;
        let authorization = Authorizations::new(w.ctx.clone()).authorization(&auth).await.unwrap();
        assert_eq!(authorization.state, AuthorizationState::NeedsReauthorization);
        assert_eq!(w.events(EventKind::AuthorizationNeedsReauthorization).await, 1);
    }
}

backend_test! {
    async fn a_token_issued_by_an_exchange_whose_answer_was_lost_is_revoked(b) {
        let endpoint = MerchantEndpoint::bind().await;
        let w = Journey::with(b, |s| s.notify_token_created(CLIENT_ID, true)).await;
        w.sandbox.set_merchant_settings(CLIENT_ID, MerchantSettings {
            authorization_notify_url: Some(endpoint.url("/notify/authorization")),
            ..MerchantSettings::default()
        }).unwrap();
        w.sandbox.set_notify_token_created(CLIENT_ID, true).unwrap();
        let authorizations = Authorizations::new(w.ctx.clone());
        let started = authorizations.start(start()).await.unwrap();
        let location = agree(started.auth_url.as_deref().unwrap(), ALICE).await;
        let code = query(&location, "authCode").unwrap();
        // Alipay issues the token, but the answer is lost; the retry finds the code used.
        w.sandbox.add_fault(fault(Api::ApplyToken, FaultAction::Drop));
        let state = authorizations.complete_with_code(&started.auth_state, &ams_protocol::AuthCode::new(code)).await.unwrap();
        assert_eq!(state, AuthorizationState::Exchanging);
        w.run_until(w.clock.now_ms() + 60_000, async || {
            authorizations.authorization(&started.authorization_id).await.unwrap().state != AuthorizationState::Exchanging
        }).await;
        assert_eq!(authorizations.authorization(&started.authorization_id).await.unwrap().state, AuthorizationState::Failed);
        // Alipay's TOKEN_CREATED names the token we never received: it is revoked.
        let notifications = Notifications::new(w.ctx.clone());
        // AUTHCODE_CREATED (too late to matter), then TOKEN_CREATED.
        for _ in 0..2 {
            assert_eq!(endpoint.receive(&notifications, false).await.unwrap(), Receipt::Applied);
        }
        assert!(authorizations.authorization(&started.authorization_id).await.unwrap().stray_token.is_some());
        w.run_until(w.clock.now_ms() + DAY, async || {
            authorizations.authorization(&started.authorization_id).await.unwrap().stray_token.is_none()
        }).await;
        assert!(authorizations.authorization(&started.authorization_id).await.unwrap().stray_token.is_none());
        let revoked = w.sandbox.notifications().into_iter().any(|n| n.body.contains("TOKEN_CANCELED"));
        assert!(revoked, "the sandbox revoked the token and told the merchant");
    }
}

backend_test! {
    async fn scan_to_bind_hands_out_the_qr_value_the_wallet_app_opens(b) {
        let w = Journey::start(b).await;
        let authorizations = Authorizations::new(w.ctx.clone());
        // A desktop page: the sandbox answers with a QR code (authCodeForm) for the wallet app.
        let started = authorizations.start(start()).await.expect("consult");
        let qr = started.qr_code.clone().expect("the QR value reaches the caller");
        let stored = authorizations.authorization(&started.authorization_id).await.unwrap();
        assert_eq!(stored.qr_code.as_deref(), Some(qr.as_str()));
        // The user scans it and agrees in the app; the redirect carries the code.
        let location = agree(&qr, ALICE).await;
        let code = query(&location, "authCode").expect("authCode in the redirect");
        let state = authorizations
            .complete_with_code(&started.auth_state, &ams_protocol::AuthCode::new(code))
            .await
            .unwrap();
        assert_eq!(state, AuthorizationState::Active);
        let paid = w.charge(&started.authorization_id, "qr-1", 500).await;
        assert_eq!((paid.status(), w.ledger(&paid)), (Status::Succeeded, (1, 0)));
    }
}

// ---- Secondary merchants (digest §9.1, §9.5) ----------------------------------------------------

/// Registers secondary merchant `reference` with the sandbox (straight through the client) and lets
/// the wallets' review end: approved.
async fn register_secondary_merchant(w: &Journey, reference: &str) {
    let body = serde_json::json!({
        "productCodes": ["AGREEMENT_PAYMENT"],
        "registrationRequestId": format!("reg-{reference}"),
        "merchantInfo": {
            "referenceMerchantId": reference,
            "merchantDisplayName": "Sub shop",
            "merchantMCC": "5812",
            "websites": [{ "name": "n", "url": "https://sub.example", "desc": "d" }],
            "merchantAddress": { "region": "HK", "city": "Hong Kong", "address1": "1 Road" },
            "registrationDetail": {
                "legalName": "Sub Shop Ltd",
                "contactInfo": [{ "contactNo": "a@sub.example", "contactType": "EMAIL" }],
                "registrationType": "ENTERPRISE_REGISTRATION_NO",
                "registrationNo": "12345",
                "businessType": "ENTERPRISE"
            }
        }
    });
    let outcome = w
        .client
        .execute_body::<ams_protocol::RegistrationRequest>(
            body.to_string(),
            ams_client::RetryPolicy::Never,
        )
        .await
        .expect("registration answered");
    assert!(outcome.is_success(), "{outcome:?}");
    w.tick(ams_sandbox::DEFAULT_REGISTRATION_REVIEW_DELAY_MS as Millis + 1);
}

backend_test! {
    async fn a_secondary_merchant_is_named_in_consult_and_in_every_payment_of_its_authorization(b) {
        let w = Journey::start(b).await;
        // Bound while the sandbox does not check registrations; then it does (the harsher reading).
        let auth = w.bind_for(Some("sub_shop_1")).await;
        let strict = MerchantSettings { require_registered_secondary_merchants: true, ..MerchantSettings::default() };
        w.sandbox.set_merchant_settings(CLIENT_ID, strict).unwrap();
        // The payment names the secondary merchant: refused while it is not registered, no debit.
        let refused = w.charge(&auth, "s1", 1_000).await;
        assert_eq!(refused.status(), Status::Failed);
        assert_eq!(refused.latest().result_code.as_deref(), Some("MERCHANT_NOT_REGISTERED"));
        assert_eq!(w.ledger(&refused), (0, 0));
        // A consult naming an unregistered secondary merchant is refused too.
        let started = Authorizations::new(w.ctx.clone())
            .start(StartAuthorization { secondary_merchant: Some("sub_shop_2".into()), ..start() })
            .await;
        assert!(matches!(started, Err(Error::Refused { .. })), "{started:?}");
        // Registered and approved: the same authorization pays, for it.
        register_secondary_merchant(&w, "sub_shop_1").await;
        let paid = w.charge(&auth, "s2", 1_000).await;
        assert_eq!(paid.status(), Status::Succeeded, "{paid:?}");
        assert_eq!(w.ledger(&paid), (1, 0));
        assert_eq!(w.balance(), 10_000 - 1_000);
        // Bad input is named before anything is sent.
        let long = Authorizations::new(w.ctx.clone())
            .start(StartAuthorization { secondary_merchant: Some("x".repeat(65)), ..start() })
            .await;
        assert!(matches!(&long, Err(Error::Invalid { field, .. }) if *field == "secondary_merchant"), "{long:?}");
    }
}

// ---- Every documented F code of pay and refund (fidelity review T24, P28-P31, F10, F13-F16) ----

/// Codes Alipay documents as `F` for `pay` (digest §3.4, §3.9) that the sandbox never produces on
/// its own; a fault answers them.
const PAY_F_CODES: [&str; 12] = [
    "INVALID_MERCHANT_STATUS",
    "MERCHANT_KYB_NOT_QUALIFIED",
    "USER_PAYMENT_VERIFICATION_FAILED",
    "ACCESS_DENIED",
    "SYSTEM_ERROR",
    "INVALID_CLIENT_STATUS",
    "CLIENT_FORBIDDEN_ACCESS_API",
    "INVALID_API",
    "MERCHANT_NOT_REGISTERED",
    "PROCESS_FAIL",
    "PAYMENT_NOT_QUALIFIED",
    "RISK_REJECT",
];

/// Codes Alipay documents as `F` for `refund` (digest §3.7) that the sandbox never produces.
const REFUND_F_CODES: [&str; 6] = [
    "ORDER_IS_CLOSED",
    "MULTIPLE_REFUNDS_NOT_SUPPORTED",
    "REFUND_NOT_SUPPORTED",
    "PARTIAL_REFUND_NOT_SUPPORTED",
    "INVALID_MERCHANT_STATUS",
    "ACCESS_DENIED",
];

backend_test! {
    async fn every_documented_f_code_of_pay_and_refund_ends_with_the_money_accounted_for(b) {
        let w = Journey::start(b).await;
        let auth = w.bind().await;
        let mut balance = w.balance();
        for (n, code) in PAY_F_CODES.into_iter().enumerate() {
            // F: Alipay did nothing (the rule answers before the call takes effect).
            w.sandbox.add_fault(fault(Api::Pay, FaultAction::Answer { status: AnswerStatus::F, code: code.into() }).process(false));
            let view = w.charge(&auth, &format!("f-pay-{n}"), 100).await;
            w.run_until(w.clock.now_ms() + DAY, async || w.payment(&view.order.id).await.status() != Status::Processing).await;
            let view = w.payment(&view.order.id).await;
            // Each of these is final for the payment: nothing was taken, and the code is shown.
            assert_eq!((view.status(), view.latest().result_code.as_deref()), (Status::Failed, Some(code)), "{code}");
            assert_eq!(w.ledger(&view), (0, 0), "{code}: nothing debited");
            assert_eq!(w.balance(), balance, "{code}");
        }
        w.sandbox.clear_faults();
        let paid = w.charge(&auth, "f-paid", 5_000).await;
        assert_eq!(paid.status(), Status::Succeeded);
        balance -= 5_000;
        let refunds = Refunds::new(w.ctx.clone());
        for (n, code) in REFUND_F_CODES.into_iter().enumerate() {
            w.sandbox.add_fault(fault(Api::Refund, FaultAction::Answer { status: AnswerStatus::F, code: code.into() }).process(false));
            let refund = refunds
                .refund(RefundCommand { idempotency_key: format!("f-refund-{n}"), order_id: paid.order.id.clone(), amount: usd(100), reason: None })
                .await
                .unwrap();
            w.run_until(w.clock.now_ms() + DAY, async || refunds.refund_view(&refund.refund.id).await.unwrap().refund.state.is_final()).await;
            let refund = refunds.refund_view(&refund.refund.id).await.unwrap();
            assert_eq!((refund.refund.state, refund.refund.result_code.as_deref()), (RefundState::Failed, Some(code)), "{code}");
            assert_eq!(refund.order_state, OrderState::Succeeded, "{code}: nothing refunded");
            assert_eq!(w.balance(), balance, "{code}: nothing credited");
        }
        w.sandbox.clear_faults();
        // The whole amount is still refundable: no refused refund held any of it back.
        let whole = refunds
            .refund(RefundCommand { idempotency_key: "f-refund-all".into(), order_id: paid.order.id.clone(), amount: usd(5_000), reason: None })
            .await
            .unwrap();
        assert_eq!((whole.refund.state, whole.order_state), (RefundState::Succeeded, OrderState::FullyRefunded));
        assert_eq!(w.balance(), balance + 5_000);
    }
}

/// The `U` codes every API may answer ("call again", §3.9; rows T23, P32, F17 of the review).
const GENERIC_U_CODES: [&str; 2] = ["REQUEST_TRAFFIC_EXCEED_LIMIT", "UNKNOWN_EXCEPTION"];

backend_test! {
    async fn every_generic_u_code_of_pay_and_refund_ends_with_the_money_accounted_for(b) {
        let w = Journey::start(b).await;
        let auth = w.bind().await;
        let mut balance = w.balance();
        let paid = w.charge(&auth, "u-paid", 5_000).await;
        assert_eq!(paid.status(), Status::Succeeded);
        balance -= 5_000;
        let refunds = Refunds::new(w.ctx.clone());
        // Whether Alipay acted on the call before answering U (`process`) or not, the product
        // ends where Alipay is: paid or refunded exactly once, or nothing moved.
        for code in GENERIC_U_CODES {
            for acted in [false, true] {
                let case = format!("{code} (acted: {acted})");
                w.sandbox.add_fault(fault(Api::Pay, FaultAction::Answer { status: AnswerStatus::U, code: code.into() }).process(acted));
                let view = w.charge(&auth, &format!("u-pay-{code}-{acted}"), 100).await;
                assert!(!view.latest().state.is_final(), "{case}: a U is never final");
                w.run_until(w.clock.now_ms() + DAY, async || w.payment(&view.order.id).await.status() != Status::Processing).await;
                let view = w.payment(&view.order.id).await;
                if acted {
                    assert_eq!((view.status(), w.ledger(&view)), (Status::Succeeded, (1, 0)), "{case}");
                    balance -= 100;
                } else {
                    assert_ne!(view.status(), Status::Succeeded, "{case}");
                    assert_eq!(w.ledger(&view), (0, 0), "{case}: nothing debited");
                }
                assert_eq!(w.balance(), balance, "{case}");

                w.sandbox.add_fault(fault(Api::Refund, FaultAction::Answer { status: AnswerStatus::U, code: code.into() }).process(acted));
                let refund = refunds
                    .refund(RefundCommand { idempotency_key: format!("u-refund-{code}-{acted}"), order_id: paid.order.id.clone(), amount: usd(100), reason: None })
                    .await
                    .unwrap();
                assert!(!refund.refund.state.is_final(), "{case}: a U is never final");
                w.run_until(w.clock.now_ms() + DAY, async || refunds.refund_view(&refund.refund.id).await.unwrap().refund.state.is_final()).await;
                let refund = refunds.refund_view(&refund.refund.id).await.unwrap();
                // The same refundRequestId again: credited once, whether the first call acted.
                assert_eq!(refund.refund.state, RefundState::Succeeded, "{case}");
                balance += 100;
                assert_eq!(w.balance(), balance, "{case}: credited once");
            }
        }
        w.sandbox.clear_faults();
    }
}

backend_test! {
    async fn an_inquiry_answered_invalid_amount_is_never_read_as_a_failure(b) {
        // Q7: `INVALID_AMOUNT` (inquiryPayment, December 2023) comes with no meaning. It is about the
        // inquiry, not the payment: a pay whose answer was lost may have debited the user.
        let w = Journey::start(b).await;
        let auth = w.bind().await;
        let balance = w.balance();
        w.sandbox.add_fault(fault(Api::Pay, FaultAction::Drop));
        w.sandbox.add_fault(fault(Api::InquiryPayment, FaultAction::Answer { status: AnswerStatus::F, code: "INVALID_AMOUNT".into() }).times(None));
        let view = w.charge(&auth, "invalid-amount", 1_000).await;
        assert_eq!(view.latest().state, AttemptState::Unknown);
        assert_eq!(w.balance(), balance - 1_000, "the lost pay debited the user");
        w.run_until(w.clock.now_ms() + DAY, async || w.payment(&view.order.id).await.status() != Status::Processing).await;
        let view = w.payment(&view.order.id).await;
        // Every inquiry was refused, none was taken for a failure: the cancel settled it and
        // returned the money.
        assert_eq!((view.latest().state, view.status()), (AttemptState::Cancelled, Status::Cancelled));
        assert_eq!(view.latest().inquiries, 20);
        assert_eq!(w.ledger(&view), (1, 1), "debited once, returned once");
        assert_eq!(w.balance(), balance);
    }
}

/// Codes Alipay documents as `F` for `consult` (§3.1, §3.9) that the sandbox never produces.
const CONSULT_F_CODES: [&str; 7] = [
    "PAYMENT_NOT_QUALIFIED",
    "RISK_REJECT",
    "OAUTH_FAILED",
    "PROCESS_FAIL",
    "MERCHANT_NOT_REGISTERED",
    "INVALID_ACCESS_TOKEN",
    "SYSTEM_ERROR",
];

/// Codes Alipay documents as `F` for `applyToken` (§9.10) that the sandbox never produces.
const APPLY_TOKEN_F_CODES: [&str; 9] = [
    "OAUTH_FAILED",
    "NO_PAY_OPTIONS",
    "INVALID_CLIENT_STATUS",
    "CLIENT_FORBIDDEN_ACCESS_API",
    "ACCESS_DENIED",
    "INVALID_API",
    "PROCESS_FAIL",
    "SYSTEM_ERROR",
    "INVALID_ACCESS_TOKEN",
];

/// Codes Alipay documents as `F` for `revoke` (§3.3) that the sandbox never produces.
const REVOKE_F_CODES: [&str; 3] = [
    "CLIENT_FORBIDDEN_ACCESS_API",
    "INVALID_CLIENT_STATUS",
    "OAUTH_FAILED",
];

backend_test! {
    async fn every_documented_f_code_of_consult_apply_token_and_revoke_ends_the_binding_cleanly(b) {
        let w = Journey::start(b).await;
        let authorizations = Authorizations::new(w.ctx.clone());
        // consult F: the authorization fails with the code; nothing waits for a user.
        for code in CONSULT_F_CODES {
            w.sandbox.add_fault(fault(Api::Consult, FaultAction::Answer { status: AnswerStatus::F, code: code.into() }).process(false));
            let started = authorizations.start(start()).await;
            assert!(matches!(&started, Err(Error::Refused { code: c, .. }) if c == code), "{code}: {started:?}");
        }
        let failed = authorizations
            .list(&autodebit_domain::ports::AuthorizationFilter::default(), &autodebit_domain::ports::PageRequest { after: None, limit: 100 })
            .await
            .unwrap();
        assert_eq!(failed.items.len(), CONSULT_F_CODES.len());
        assert!(failed.items.iter().all(|a| a.state == AuthorizationState::Failed && a.token.is_none()), "{:?}", failed.items);
        // applyToken F: the binding fails with the code; no token is kept, nothing can be charged.
        for code in APPLY_TOKEN_F_CODES {
            let started = authorizations.start(start()).await.expect("consult");
            let location = agree(started.auth_url.as_deref().expect("an authUrl"), ALICE).await;
            w.sandbox.add_fault(fault(Api::ApplyToken, FaultAction::Answer { status: AnswerStatus::F, code: code.into() }).process(false));
            let state = authorizations
                .complete_with_code(&started.auth_state, &ams_protocol::AuthCode::new(query(&location, "authCode").unwrap()))
                .await
                .expect("the answer is applied");
            let auth = authorizations.authorization(&started.authorization_id).await.unwrap();
            assert_eq!((state, auth.failure.as_deref()), (AuthorizationState::Failed, Some(code)), "{code}");
            assert!(auth.token.is_none(), "{code}");
        }
        // revoke F: the token may still work at Alipay, so a person is told; it is never charged.
        for code in REVOKE_F_CODES {
            let auth = w.bind().await;
            w.sandbox.add_fault(fault(Api::Revoke, FaultAction::Answer { status: AnswerStatus::F, code: code.into() }).process(false));
            let _ = authorizations.revoke(&auth).await;
            w.run_until(w.clock.now_ms() + DAY, async || false).await;
            let attention = w.backend.store().begin().await.unwrap().attention_of(&autodebit_domain::model::Subject::Authorization(auth.clone())).await.unwrap();
            assert!(attention.iter().any(|a| a.code == "revoke_refused" && a.reason.contains(code)), "{code}: {attention:?}");
            let refused = Payments::new(w.ctx.clone())
                .charge(ChargeCommand { idempotency_key: format!("rv-{code}"), authorization_id: auth.clone(), reference: format!("rv-{code}"), description: "x".into(), amount: usd(100), return_url: None })
                .await;
            assert!(matches!(refused, Err(Error::NotChargeable { .. })), "{code}: {refused:?}");
        }
        assert_eq!(w.balance(), 10_000, "nothing was ever debited");
    }
}
