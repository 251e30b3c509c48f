//! One helper per concern: a sandbox with the vectors' keys, a minimal signing client that checks
//! every answer's signature, and a merchant endpoint that records notifications.
#![allow(
    dead_code,
    reason = "shared helpers: not every test module uses every one"
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ams_protocol::{Amount, Api, Currency, CustomerBelongsTo};
use ams_sandbox::{MerchantSettings, Sandbox, SandboxBuilder, SandboxHandle, UserSpec};
use ams_signing::{KeyVersion, PrivateKey, PublicKey, SignatureHeader, SignedContent};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::post;
use serde_json::{Value, json};

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
        let time = "1700000000000";
        let header = self
            .key
            .sign(
                &SignedContent::request(path, &self.client_id, time, body.as_bytes()),
                KeyVersion::DEFAULT,
            )
            .expect("signs");
        self.send(
            path,
            body,
            &[
                ("client-id", &self.client_id),
                ("request-time", time),
                ("signature", &header.to_string()),
            ],
        )
        .await
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
    (token.str("accessToken"), token.str("refreshToken"))
}
