//! The client against the in-process ams-sandbox, Alipay's stand-in: every API with typed requests
//! and responses, every gateway fault, the retry policy end to end, stored bodies sent byte for
//! byte, notifications, and the example.
//!
//! The sandbox registers the vectors' merchant key for both a production and a `SANDBOX_` client id,
//! signs as the vectors' simulated Alipay key, and has its clock frozen at [`T0`]; the client signs
//! with the merchant key, trusts `sandbox.alipay_public_key()`, and runs on a [`ManualClock`] at
//! [`T0`] too, so retries never wait and notifications fall inside the skew window.

mod apis;
mod example;
mod faults;
mod notifications;
mod retry;
mod stored_body;
mod wallet;

use ams_client::testing::ManualClock;
use ams_client::{AlipayPublicKeys, AmsClient, CallResult, ClientBuilder, ClientId, Gateway};
use ams_client::{Outcome, RequestId};
use ams_protocol::{
    AccessToken, Amount, AmsRequest, ApplyTokenRequest, ApplyTokenResponse, Currency,
    CustomerBelongsTo, Env, InquiryPaymentRequest, InquiryPaymentResponse, Order, PayRequest,
    PayResponse, Scope, TerminalType,
};
use ams_sandbox::{ClockUpdate, Sandbox, SandboxHandle, UserSpec};
use ams_signing::{KeyVersion, PrivateKey, PublicKey, Signer};

use crate::support::*;

/// The wallet user every fixture starts with: ALIPAY_CN, USD 100.00.
pub(crate) const ALICE: &str = "alice@example.com";
/// [`T0`] as an AMS datetime.
const T0_TEXT: &str = "2024-01-01T00:00:00+00:00";
/// Where the wallet sends the user back after consent.
pub(crate) const REDIRECT: &str = "https://merchant.example/authorized";

pub(crate) type Builder = ClientBuilder<Gateway, ClientId, Signer, AlipayPublicKeys>;

pub(crate) fn usd(minor: u64) -> Amount {
    Amount::new(Currency::USD, minor)
}

/// A running sandbox and a client pointed at it.
pub(crate) struct Fixture {
    pub(crate) sandbox: SandboxHandle,
    pub(crate) clock: ManualClock,
    pub(crate) client: AmsClient,
}

/// Starts a sandbox: the merchant key registered under [`CLIENT_ID`] and [`SANDBOX_CLIENT_ID`],
/// Alipay's key from the vectors, [`ALICE`] with USD 100.00, the clock frozen at [`T0`].
pub(crate) async fn start_sandbox() -> SandboxHandle {
    let sandbox = Sandbox::builder()
        .merchant(CLIENT_ID, merchant_public())
        .merchant(SANDBOX_CLIENT_ID, merchant_public())
        .alipay_key(PrivateKey::from_text(ALIPAY_PRIVATE_PEM).unwrap())
        .user(UserSpec::new(
            ALICE,
            CustomerBelongsTo::AlipayCn,
            vec![usd(10_000)],
        ))
        .start_local()
        .await
        .expect("the sandbox starts");
    let clock = sandbox
        .update_clock(&ClockUpdate {
            set: Some(T0_TEXT.to_owned()),
            frozen: Some(true),
            ..ClockUpdate::default()
        })
        .unwrap();
    assert_eq!(clock.unix_ms, T0);
    sandbox
}

/// A client for `sandbox` as `client_id`: signs with the merchant key, verifies with the key the
/// sandbox says Alipay signs with, waits on `clock`.
pub(crate) fn client_builder(
    sandbox: &SandboxHandle,
    client_id: &str,
    clock: &ManualClock,
) -> Builder {
    let alipay = PublicKey::from_text(&sandbox.alipay_public_key().to_pem()).unwrap();
    AmsClient::builder()
        .gateway(Gateway::url(sandbox.base_url()).unwrap())
        .client_id(client_id)
        .merchant_key(
            PrivateKey::from_text(MERCHANT_PRIVATE_PEM).unwrap(),
            KeyVersion::DEFAULT,
        )
        .alipay_public_key(alipay)
        .clock(clock.clone())
}

impl Fixture {
    /// A sandbox and a `SANDBOX_` client with default settings.
    pub(crate) async fn start() -> Fixture {
        Fixture::start_with(SANDBOX_CLIENT_ID, |builder| builder).await
    }

    /// A sandbox and a client as `client_id`, with `configure` applied to the builder.
    pub(crate) async fn start_with(
        client_id: &str,
        configure: impl FnOnce(Builder) -> Builder,
    ) -> Fixture {
        let sandbox = start_sandbox().await;
        let clock = manual_clock();
        let client = configure(client_builder(&sandbox, client_id, &clock))
            .build()
            .unwrap();
        Fixture {
            sandbox,
            clock,
            client,
        }
    }

    /// Calls and expects `Outcome::Success`.
    pub(crate) async fn success<R>(&self, request: &R) -> R::Response
    where
        R: AmsRequest + RequestId,
        R::Response: std::fmt::Debug,
    {
        match self.client.execute(request).await {
            Ok(Outcome::Success(response)) => response,
            other => panic!("{} did not succeed: {other:?}", R::API),
        }
    }

    /// Calls and expects `Outcome::Failed`; returns the response.
    pub(crate) async fn failed<R>(&self, request: &R) -> R::Response
    where
        R: AmsRequest + RequestId,
        R::Response: std::fmt::Debug,
    {
        match self.client.execute(request).await {
            Ok(Outcome::Failed(response)) => response,
            other => panic!("{} did not fail: {other:?}", R::API),
        }
    }

    /// consult → the wallet's consent page (agreed as `login`) → applyToken with the code.
    pub(crate) async fn bind(&self, login: &str, auth_state: &str) -> ApplyTokenResponse {
        let consult = ams_protocol::ConsultRequest::new(
            CustomerBelongsTo::AlipayCn,
            REDIRECT,
            vec![Scope::AgreementPay],
            auth_state,
            TerminalType::Web,
        );
        let consulted = self.success(&consult).await;
        let url = consulted.normal_url.expect("normalUrl");
        let code = agree(&url, login, auth_state).await;
        self.success(&ApplyTokenRequest::authorization_code(
            CustomerBelongsTo::AlipayCn,
            code,
        ))
        .await
    }

    /// Binds [`ALICE`] and returns her access token.
    pub(crate) async fn alice_token(&self) -> AccessToken {
        self.bind(ALICE, "STATE_ALICE")
            .await
            .access_token
            .expect("accessToken")
    }

    /// Sends `pay`.
    pub(crate) async fn pay(&self, request: &PayRequest) -> CallResult<PayResponse> {
        self.client.execute(request).await
    }

    /// inquiryPayment by `paymentRequestId`, expecting S.
    pub(crate) async fn inquire(&self, payment_request_id: &str) -> InquiryPaymentResponse {
        self.success(&InquiryPaymentRequest::by_payment_request_id(
            payment_request_id,
        ))
        .await
    }

    /// How many debits the sandbox's ledger holds for this payment.
    pub(crate) fn debits(&self, payment_request_id: &str) -> u32 {
        self.sandbox.ledger(Some(payment_request_id), None).debits
    }

    /// A user's USD balance.
    pub(crate) fn balance(&self, login: &str) -> Amount {
        let user = self.sandbox.user(login).expect("user");
        user.spec.balances[0]
    }

    /// The fault rules as `GET /sandbox/faults` shows them: `(seen, fired)` per rule.
    pub(crate) async fn fault_counters(&self) -> Vec<(u64, u64)> {
        let listed: serde_json::Value = http()
            .get(format!("{}/sandbox/faults", self.sandbox.base_url()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .map(|text| serde_json::from_str(&text).unwrap())
            .unwrap();
        listed
            .as_array()
            .unwrap_or_else(|| panic!("{listed}"))
            .iter()
            .map(|r| (r["seen"].as_u64().unwrap(), r["fired"].as_u64().unwrap()))
            .collect()
    }
}

/// An agreement payment of `amount` with `token`.
pub(crate) fn pay(payment_request_id: &str, amount: Amount, token: &AccessToken) -> PayRequest {
    PayRequest::agreement_payment(
        payment_request_id,
        Order::new(
            format!("ORDER_{payment_request_id}"),
            "Monthly subscription",
            amount,
        ),
        amount,
        CustomerBelongsTo::AlipayCn,
        token,
        Env::new(TerminalType::Web),
    )
}

/// A plain HTTP client, like a browser: no redirects followed, no proxy.
fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap()
}

/// Plays the user: opens the consent page, agrees as `login`, and returns the `authCode` from the
/// redirect (after checking it carries our `authState` back).
pub(crate) async fn agree(url: &str, login: &str, auth_state: &str) -> String {
    let http = http();
    let page = http.get(url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("<form method=\"post\""), "{html}");
    assert!(html.contains(login), "{html}");
    let answer = http
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("decision=agree&user={}", form_encode(login)))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
    let location = answer.headers()["location"].to_str().unwrap();
    assert!(location.starts_with(REDIRECT), "{location}");
    let location = reqwest::Url::parse(location).unwrap();
    let param = |name: &str| {
        location
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(param("authState").as_deref(), Some(auth_state));
    param("authCode").expect("authCode in the redirect")
}

fn form_encode(value: &str) -> String {
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
