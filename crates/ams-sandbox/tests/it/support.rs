//! One helper per concern: a sandbox with the vectors' keys, a minimal signing client that checks
//! every answer's signature, and a merchant endpoint that records notifications.
#![allow(
    dead_code,
    reason = "shared helpers: not every test module uses every one"
)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ams_protocol::{Amount, AmsDateTime, Api, Currency, CustomerBelongsTo};
use ams_sandbox::{
    ClockUpdate, LedgerView, MerchantSettings, NotificationRecord, Sandbox, SandboxBuilder,
    SandboxHandle, UserSpec, UserView,
};
use ams_signing::{KeyVersion, PrivateKey, PublicKey, SignatureHeader, SignedContent};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

pub(crate) const CLIENT_ID: &str = "SANDBOX_5X00000000000000";
pub(crate) const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/ams-vectors");

pub(crate) fn vector(name: &str) -> String {
    std::fs::read_to_string(format!("{VECTORS}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

pub(crate) fn merchant_key() -> PrivateKey {
    PrivateKey::from_text(&vector("merchant_private_pkcs8.pem")).expect("merchant key")
}

pub(crate) fn merchant_public() -> PublicKey {
    PublicKey::from_text(&vector("merchant_public_spki.pem")).expect("merchant public key")
}

/// The vectors' simulated Alipay key, so no key is generated per test.
pub(crate) fn alipay_key() -> PrivateKey {
    PrivateKey::from_text(&vector("alipay_sim_private_pkcs8.pem")).expect("alipay key")
}

/// A builder with the test merchant registered and the vectors' Alipay key.
pub(crate) fn builder() -> SandboxBuilder {
    Sandbox::builder()
        .merchant(CLIENT_ID, merchant_public())
        .alipay_key(alipay_key())
}

pub(crate) fn usd(minor: u64) -> Amount {
    Amount::new(Currency::USD, minor)
}

/// A sandbox with one ALIPAY_CN user holding USD 100.00.
pub(crate) async fn sandbox_with_user(login: &str) -> SandboxHandle {
    builder()
        .user(UserSpec::new(
            login,
            CustomerBelongsTo::AlipayCn,
            vec![usd(10_000)],
        ))
        .start_local()
        .await
        .expect("sandbox starts")
}

/// What came back from one gateway call.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
    pub(crate) json: Value,
}

impl Answer {
    pub(crate) fn result_code(&self) -> &str {
        self.json["result"]["resultCode"]
            .as_str()
            .unwrap_or_default()
    }

    pub(crate) fn result_status(&self) -> &str {
        self.json["result"]["resultStatus"]
            .as_str()
            .unwrap_or_default()
    }

    pub(crate) fn message(&self) -> &str {
        self.json["result"]["resultMessage"]
            .as_str()
            .unwrap_or_default()
    }

    pub(crate) fn str(&self, field: &str) -> String {
        self.json[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field} missing in {}", self.body))
            .to_owned()
    }
}

/// A bare-bones merchant client: signs requests, and insists every answer is signed by Alipay.
pub(crate) struct TestClient {
    pub(crate) base: String,
    pub(crate) client_id: String,
    pub(crate) key: PrivateKey,
    pub(crate) alipay: PublicKey,
    pub(crate) http: reqwest::Client,
    /// Use the `/ams/sandbox/api` prefix instead of `/ams/api`.
    pub(crate) sandbox_paths: bool,
}

impl TestClient {
    pub(crate) fn new(sandbox: &SandboxHandle) -> Self {
        Self {
            base: sandbox.base_url().to_owned(),
            client_id: CLIENT_ID.to_owned(),
            key: merchant_key(),
            alipay: PublicKey::from_der_with(
                Default::default(),
                sandbox.alipay_public_key().spki_der().to_vec(),
            )
            .expect("alipay key"),
            http: reqwest::Client::new(),
            sandbox_paths: false,
        }
    }

    pub(crate) fn path(&self, api: Api) -> String {
        if self.sandbox_paths {
            api.sandbox_path()
        } else {
            api.path().to_owned()
        }
    }

    /// Calls an API with a JSON body and checks the answer's signature.
    pub(crate) async fn call(&self, api: Api, body: &Value) -> Answer {
        let answer = self.call_raw(&self.path(api), &body.to_string()).await;
        self.assert_signed(&self.path(api), &answer);
        answer
    }

    /// Sends exactly these body bytes to this path, signed; does not check the answer.
    pub(crate) async fn call_raw(&self, path: &str, body: &str) -> Answer {
        self.try_call_raw(path, body)
            .await
            .expect("the sandbox answers")
    }

    pub(crate) async fn try_call_raw(
        &self,
        path: &str,
        body: &str,
    ) -> Result<Answer, reqwest::Error> {
        let headers = self.signed_headers(path, body, KeyVersion::DEFAULT);
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        self.send(path, body, &headers).await
    }

    /// Calls an API and checks the answer's signature, or returns the transport error (no answer).
    pub(crate) async fn try_call(&self, api: Api, body: &Value) -> Result<Answer, reqwest::Error> {
        let path = self.path(api);
        let answer = self.try_call_raw(&path, &body.to_string()).await?;
        self.assert_signed(&path, &answer);
        Ok(answer)
    }

    /// Calls any path with a JSON body and checks the answer's signature.
    pub(crate) async fn call_path(&self, path: &str, body: &Value) -> Answer {
        let answer = self.call_raw(path, &body.to_string()).await;
        self.assert_signed(path, &answer);
        answer
    }

    /// The `client-id`, `request-time` and `signature` headers for these exact bytes at `path`,
    /// signed with the merchant key under `version`.
    pub(crate) fn signed_headers(
        &self,
        path: &str,
        body: &str,
        version: KeyVersion,
    ) -> Vec<(String, String)> {
        let time = "1700000000000";
        let header = self
            .key
            .sign(
                &SignedContent::request(path, &self.client_id, time, body.as_bytes()),
                version,
            )
            .expect("signs");
        vec![
            ("client-id".to_owned(), self.client_id.clone()),
            ("request-time".to_owned(), time.to_owned()),
            ("signature".to_owned(), header.to_string()),
        ]
    }

    /// Sends with exactly these headers.
    pub(crate) async fn send(
        &self,
        path: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> Result<Answer, reqwest::Error> {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .timeout(Duration::from_secs(10))
            .header("content-type", "application/json; charset=UTF-8")
            .body(body.to_owned());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await?;
        let json = serde_json::from_str(&body).unwrap_or(Value::Null);
        Ok(Answer {
            status,
            headers,
            body,
            json,
        })
    }

    /// The answer carries `client-id`, `response-time` and a signature that verifies with Alipay's key.
    pub(crate) fn assert_signed(&self, path: &str, answer: &Answer) {
        let get = |name: &str| {
            answer
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_else(|| panic!("answer lacks {name}: {answer:?}"))
                .to_owned()
        };
        let header: SignatureHeader = get("signature").parse().expect("signature parses");
        let (client_id, time) = (get("client-id"), get("response-time"));
        let content = SignedContent::response(path, &client_id, &time, answer.body.as_bytes());
        self.alipay
            .verify(&content, &header)
            .expect("the answer is signed by Alipay's key");
    }
}

/// One notification as the merchant endpoint received it.
#[derive(Clone, Debug)]
pub(crate) struct Received {
    pub(crate) path: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Received {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("notification is JSON")
    }
}

#[derive(Clone, Default)]
struct MerchantState {
    received: Arc<Mutex<Vec<Received>>>,
    /// How many of the next requests get a wrong answer (to make the sandbox retry).
    refuse_next: Arc<Mutex<u32>>,
}

/// A merchant's notification endpoint on loopback: records everything, answers the exact ack.
pub(crate) struct MerchantEndpoint {
    pub(crate) base: String,
    state: MerchantState,
    _task: tokio::task::JoinHandle<()>,
}

async fn receive(
    State(state): State<MerchantState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    state.received.lock().expect("lock").push(Received {
        path: uri.path().to_owned(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let mut refuse = state.refuse_next.lock().expect("lock");
    if *refuse > 0 {
        *refuse -= 1;
        return (StatusCode::OK, "OK".to_owned());
    }
    (StatusCode::OK, ams_protocol::ACK_SUCCESS_BODY.to_owned())
}

impl MerchantEndpoint {
    pub(crate) async fn start() -> Self {
        let state = MerchantState::default();
        let app = Router::new()
            .route("/{*path}", post(receive))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base,
            state,
            _task: task,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Settings that send every notification kind here.
    pub(crate) fn settings(&self) -> MerchantSettings {
        MerchantSettings {
            name: Some("Test Merchant".into()),
            payment_notify_url: Some(self.url("/notify/payment")),
            refund_notify_url: Some(self.url("/notify/refund")),
            authorization_notify_url: Some(self.url("/notify/authorization")),
            ..MerchantSettings::default()
        }
    }

    pub(crate) fn received(&self) -> Vec<Received> {
        self.state.received.lock().expect("lock").clone()
    }

    /// Answers something other than the ack to the next `n` notifications.
    pub(crate) fn refuse_next(&self, n: u32) {
        *self.state.refuse_next.lock().expect("lock") = n;
    }

    /// Waits up to 10 s of real time until `n` notifications arrived.
    pub(crate) async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..2000 {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("expected {n} notifications, got {:?}", self.received());
    }
}

/// Verifies a received notification with Alipay's key over the path it arrived on.
pub(crate) fn assert_notification_signed(alipay: &PublicKey, received: &Received) {
    let get = |name: &str| {
        received
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("notification lacks {name}"))
            .to_owned()
    };
    let header: SignatureHeader = get("signature").parse().expect("signature parses");
    let (client_id, time) = (get("client-id"), get("request-time"));
    let content =
        SignedContent::notification(&received.path, &client_id, &time, received.body.as_bytes());
    alipay
        .verify(&content, &header)
        .expect("notification signed by Alipay's key");
}

/// Walks the consent page like a browser: GET it, POST the decision, return the redirect target.
pub(crate) async fn consent(url: &str, user: &str, decision: &str) -> (u16, String) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let page = http
        .get(url)
        .send()
        .await
        .expect("consent page")
        .text()
        .await
        .expect("html");
    assert!(page.contains("<form method=\"post\""), "{page}");
    let response = http
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "decision={}&user={}",
            form_escape(decision),
            form_escape(user)
        ))
        .send()
        .await
        .expect("decision posted");
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| format!("<no location; body: {}>", "?"));
    (status, location)
}

/// Form-encodes a value.
pub(crate) fn form_escape(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// The value of a query parameter in a URL.
pub(crate) fn query_param(url: &str, name: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url).ok()?;
    parsed
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A consult body for ALIPAY_CN on a WEB terminal.
pub(crate) fn consult_body(auth_state: &str, redirect: &str) -> Value {
    json!({
        "customerBelongsTo": "ALIPAY_CN",
        "authRedirectUrl": redirect,
        "scopes": ["AGREEMENT_PAY"],
        "authState": auth_state,
        "terminalType": "WEB"
    })
}

/// A pay body debiting `amount` with `token`.
pub(crate) fn pay_body(payment_request_id: &str, amount: &Amount, token: &str) -> Value {
    let money =
        json!({ "currency": amount.currency.code(), "value": amount.minor_units().to_string() });
    json!({
        "productCode": "AGREEMENT_PAYMENT",
        "paymentRequestId": payment_request_id,
        "order": { "referenceOrderId": format!("order-{payment_request_id}"), "orderDescription": "Subscription", "orderAmount": money },
        "paymentAmount": money,
        "paymentMethod": { "paymentMethodType": "ALIPAY_CN", "paymentMethodId": token },
        "env": { "terminalType": "WEB" },
        "settlementStrategy": { "settlementCurrency": amount.currency.code() }
    })
}

/// Binds `user` to the test merchant through consult, the consent page and applyToken; returns the
/// access and refresh tokens.
pub(crate) async fn bind(client: &TestClient, user: &str, auth_state: &str) -> (String, String) {
    let token = bind_answer(client, user, auth_state).await;
    (token.str("accessToken"), token.str("refreshToken"))
}

/// Binds `user` as [`bind`] does; returns applyToken's successful answer as it came.
pub(crate) async fn bind_answer(client: &TestClient, user: &str, auth_state: &str) -> Answer {
    let consult = client
        .call(
            Api::Consult,
            &consult_body(auth_state, "https://merchant.example/authorized"),
        )
        .await;
    assert_eq!(consult.result_status(), "S", "{}", consult.body);
    let (status, location) = consent(&consult.str("normalUrl"), user, "agree").await;
    assert_eq!(status, 303);
    let code = query_param(&location, "authCode").expect("authCode in redirect");
    let token = client
        .call(
            Api::ApplyToken,
            &json!({ "grantType": "AUTHORIZATION_CODE", "customerBelongsTo": "ALIPAY_CN", "authCode": code }),
        )
        .await;
    assert_eq!(token.result_status(), "S", "{}", token.body);
    token
}

/// The login of the user most tests pay with.
pub(crate) const ALICE: &str = "alice@example.com";

/// Unix milliseconds of an AMS datetime.
pub(crate) fn at(text: &str) -> i64 {
    AmsDateTime::new(text)
        .unix_millis()
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// An AMS datetime for Unix milliseconds, in UTC+8 as the sandbox writes them.
pub(crate) fn ams(unix_ms: i64) -> String {
    AmsDateTime::from_unix_millis(unix_ms, 8 * 60)
        .expect("in range")
        .as_str()
        .to_owned()
}

/// Sets the sandbox clock to `text` and freezes it there.
pub(crate) fn freeze_at(sandbox: &SandboxHandle, text: &str) -> i64 {
    let view = sandbox
        .update_clock(&ClockUpdate {
            set: Some(text.to_owned()),
            frozen: Some(true),
            ..ClockUpdate::default()
        })
        .expect("clock set");
    assert!(view.frozen);
    view.unix_ms
}

/// A refund body.
pub(crate) fn refund_body(refund_request_id: &str, payment_id: &str, amount: &Amount) -> Value {
    json!({
        "refundRequestId": refund_request_id,
        "paymentId": payment_id,
        "refundAmount": { "currency": amount.currency.code(), "value": amount.minor_units().to_string() }
    })
}

/// An applyToken body exchanging an auth code.
pub(crate) fn apply_code_body(code: &str) -> Value {
    json!({ "grantType": "AUTHORIZATION_CODE", "customerBelongsTo": "ALIPAY_CN", "authCode": code })
}

/// An applyToken body refreshing a token.
pub(crate) fn refresh_body(refresh_token: &str) -> Value {
    json!({ "grantType": "REFRESH_TOKEN", "customerBelongsTo": "ALIPAY_CN", "refreshToken": refresh_token })
}

/// A running sandbox with [`ALICE`] (ALIPAY_CN, USD 100.00) bound to the test merchant.
pub(crate) struct Fixture {
    pub(crate) sandbox: SandboxHandle,
    pub(crate) client: TestClient,
    pub(crate) access: String,
    pub(crate) refresh: String,
}

impl Fixture {
    /// Sets how Alice's payments complete.
    pub(crate) fn set_payment_mode(&self, mode: ams_sandbox::PaymentMode) {
        self.sandbox
            .update_user(
                ALICE,
                ams_sandbox::UserUpdate {
                    payment_mode: Some(mode),
                    ..ams_sandbox::UserUpdate::default()
                },
            )
            .expect("Alice exists");
    }

    /// The default sandbox, Alice bound.
    pub(crate) async fn new() -> Self {
        Self::start(builder()).await
    }

    /// A sandbox from `builder` with Alice added and bound.
    pub(crate) async fn start(builder: SandboxBuilder) -> Self {
        let sandbox = builder
            .user(UserSpec::new(
                ALICE,
                CustomerBelongsTo::AlipayCn,
                vec![usd(10_000)],
            ))
            .start_local()
            .await
            .expect("sandbox starts");
        let client = TestClient::new(&sandbox);
        let (access, refresh) = bind(&client, ALICE, "fixture-state").await;
        Self {
            sandbox,
            client,
            access,
            refresh,
        }
    }

    /// pay `minor` US cents with Alice's token.
    pub(crate) async fn pay(&self, payment_request_id: &str, minor: u64) -> Answer {
        self.client
            .call(
                Api::Pay,
                &pay_body(payment_request_id, &usd(minor), &self.access),
            )
            .await
    }

    /// pay as [`Fixture::pay`], returning the transport error when no answer comes.
    pub(crate) async fn try_pay(
        &self,
        payment_request_id: &str,
        minor: u64,
    ) -> Result<Answer, reqwest::Error> {
        self.client
            .try_call(
                Api::Pay,
                &pay_body(payment_request_id, &usd(minor), &self.access),
            )
            .await
    }

    /// cancel by paymentRequestId.
    pub(crate) async fn cancel(&self, payment_request_id: &str) -> Answer {
        self.client
            .call(
                Api::Cancel,
                &json!({ "paymentRequestId": payment_request_id }),
            )
            .await
    }

    /// inquiryPayment by paymentRequestId.
    pub(crate) async fn inquiry(&self, payment_request_id: &str) -> Answer {
        self.client
            .call(
                Api::InquiryPayment,
                &json!({ "paymentRequestId": payment_request_id }),
            )
            .await
    }

    /// Alice's USD balance in cents.
    pub(crate) fn balance(&self) -> u64 {
        usd_balance(&self.sandbox, ALICE)
    }

    /// How many times the ledger debited this payment request.
    pub(crate) fn debits(&self, payment_request_id: &str) -> u32 {
        self.sandbox.ledger(Some(payment_request_id), None).debits
    }

    /// What the sandbox holds now, to compare before and after a refused call.
    pub(crate) fn snapshot(&self) -> Snapshot {
        snapshot(&self.sandbox)
    }
}

/// A user's balance in `currency`, in minor units (panics when the user has none).
pub(crate) fn balance_in(sandbox: &SandboxHandle, login: &str, currency: Currency) -> u64 {
    sandbox
        .user(login)
        .unwrap_or_else(|| panic!("no user {login}"))
        .spec
        .balances
        .iter()
        .find(|b| b.currency == currency)
        .unwrap_or_else(|| panic!("{login} has no {currency} balance"))
        .minor_units()
}

/// A user's USD balance in cents.
pub(crate) fn usd_balance(sandbox: &SandboxHandle, login: &str) -> u64 {
    balance_in(sandbox, login, Currency::USD)
}

/// The sandbox's observable state: ledger, users, notifications raised.
#[derive(Debug, PartialEq)]
pub(crate) struct Snapshot {
    pub(crate) ledger: LedgerView,
    pub(crate) users: Vec<Option<UserView>>,
    pub(crate) notifications: Vec<(u64, String)>,
}

pub(crate) fn snapshot(sandbox: &SandboxHandle) -> Snapshot {
    let control_users = [ALICE, "bob@example.com", "carol@example.com"];
    Snapshot {
        ledger: sandbox.ledger(None, None),
        users: control_users.iter().map(|u| sandbox.user(u)).collect(),
        notifications: sandbox
            .notifications()
            .iter()
            .map(|n: &NotificationRecord| (n.seq, n.request_id.clone()))
            .collect(),
    }
}

/// The control API over HTTP.
pub(crate) struct Control {
    base: String,
    http: reqwest::Client,
}

impl Control {
    pub(crate) fn new(sandbox: &SandboxHandle) -> Self {
        Self {
            base: sandbox.base_url().to_owned(),
            http: reqwest::Client::new(),
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .expect("control answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub(crate) async fn get(&self, path: &str) -> (u16, Value) {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    pub(crate) async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send(
            self.http
                .post(format!("{}{path}", self.base))
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
        .await
    }

    pub(crate) async fn patch(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send(
            self.http
                .patch(format!("{}{path}", self.base))
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
        .await
    }

    pub(crate) async fn put(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send(
            self.http
                .put(format!("{}{path}", self.base))
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
        .await
    }

    /// A `DELETE` (no body; still `Content-Type: application/json`, as every state-changing
    /// control request must say).
    pub(crate) async fn delete(&self, path: &str) -> (u16, Value) {
        self.send(
            self.http
                .delete(format!("{}{path}", self.base))
                .header("content-type", "application/json"),
        )
        .await
    }
}

/// An HTTP answer read off a raw socket: the head exactly as sent, and the body.
#[derive(Debug)]
pub(crate) struct RawResponse {
    pub(crate) head: String,
    pub(crate) body: String,
}

impl RawResponse {
    pub(crate) fn status(&self) -> u16 {
        self.head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {:?}", self.head))
    }

    /// The value of the header whose name is exactly `name` (case-sensitive, as on the wire).
    pub(crate) fn header_exact(&self, name: &str) -> Option<String> {
        self.head.split("\r\n").skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            (n == name).then(|| v.trim().to_owned())
        })
    }
}

/// Writes `request` to a fresh TCP connection and reads the answer until the server closes it
/// (send `Connection: close`).
pub(crate) async fn raw_http(addr: SocketAddr, request: &[u8]) -> RawResponse {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write");
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf))
        .await
        .expect("the sandbox answers in time")
        .expect("read");
    let text = String::from_utf8(buf).expect("UTF-8 answer");
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no head/body split in {text:?}"));
    RawResponse {
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

/// Waits (real time, up to 10 s) until the notification log satisfies `done`; panics otherwise.
pub(crate) async fn wait_log(
    sandbox: &SandboxHandle,
    what: &str,
    done: impl Fn(&[NotificationRecord]) -> bool,
) -> Vec<NotificationRecord> {
    let log = sandbox
        .wait_for_notifications(Duration::from_secs(10), &done)
        .await;
    assert!(done(&log), "timed out waiting for {what}: {log:#?}");
    log
}

/// Waits (real time, up to 10 s) until `done` holds; panics naming `what` otherwise. Only for what
/// happens in real time (a running clock); a frozen clock is moved instead.
pub(crate) async fn eventually(what: &str, done: impl Fn() -> bool) {
    for _ in 0..2000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(done(), "timed out waiting for {what}");
}

/// A fixture whose merchant sends its notifications to a fresh endpoint, with Alice's
/// `payment_mode` set to `mode` over the control API (as a test in another language would) and
/// the clock frozen.
pub(crate) async fn payment_mode_fixture(fx: Fixture, mode: &str) -> (Fixture, MerchantEndpoint) {
    let merchant = MerchantEndpoint::start().await;
    fx.sandbox
        .set_merchant_settings(CLIENT_ID, merchant.settings())
        .expect("merchant");
    let (status, user) = Control::new(&fx.sandbox)
        .patch(
            &format!("/sandbox/users/{ALICE}"),
            &json!({ "payment_mode": mode }),
        )
        .await;
    assert_eq!((status, &user["payment_mode"]), (200, &json!(mode)));
    freeze_at(&fx.sandbox, "2024-06-01T12:00:00+08:00");
    (fx, merchant)
}

/// The `notifyPayment` bodies raised for one `paymentRequestId`.
pub(crate) fn payment_notifications(fx: &Fixture, payment_request_id: &str) -> Vec<Value> {
    fx.sandbox
        .notifications()
        .iter()
        .filter(|n| {
            n.notification == ams_sandbox::NotificationKind::Payment
                && n.request_id == payment_request_id
        })
        .map(|n| serde_json::from_str(&n.body).expect("JSON"))
        .collect()
}
