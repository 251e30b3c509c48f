//! The flows against the in-process sandbox, through the real client: bind a wallet through the
//! consent page, charge (S), charge with the answer dropped after the debit (resolved by inquiry,
//! debited once), charge answered `U` with every inquiry `U` until the cancel (the debit returned),
//! refund. The sandbox keeps its own clock; the domain's clock only drives scheduling, and both are
//! moved together.

use std::sync::Arc;

use ams_client::{AmsClient, KeyVersion, PrivateKey, PublicKey};
use ams_protocol::{Amount, Api, Currency, CustomerBelongsTo, TerminalType};
use ams_sandbox::{
    ClockUpdate, EntryKind, EntryReason, FaultAction, FaultRule, SandboxHandle, UserSpec,
};
use autodebit_domain::lifecycle::attempt::AttemptState;
use autodebit_domain::lifecycle::authorization::AuthorizationState;
use autodebit_domain::lifecycle::order::OrderState;
use autodebit_domain::lifecycle::refund::RefundState;
use autodebit_domain::model::{AuthorizationId, Millis};
use autodebit_domain::ports::Clock;
use autodebit_domain::services::authorizations::{Authorizations, StartAuthorization};
use autodebit_domain::services::payments::{ChargeCommand, ChargeResult, Payments};
use autodebit_domain::services::refunds::{RefundCommand, Refunds};
use autodebit_domain::services::{Context, Settings};
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
        self.store
            .attempts()
            .into_iter()
            .find(|a| a.id == result.attempt_id)
            .expect("the attempt")
            .state
    }
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
