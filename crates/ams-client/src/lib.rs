//! The async client for Alipay's global AMS open API (Auto Debit and the other AMS products).
//!
//! The official SDKs are blocking, hard-code their timeouts, ignore proxies, switch TLS checks off,
//! accept unsigned responses and hand back raw JSON. This client does the opposite:
//!
//! * **Built once, shared.** [`AmsClient`] is a cheap `Clone` over one connection pool. Gateways are
//!   named regions or any origin ([`Gateway`]); timeouts (connect, per call, per [`Api`](ams_protocol::Api)), proxy and
//!   user agent are configurable; TLS is always verified, and plain `http://` is refused except on a
//!   loopback host (a local sandbox).
//! * **Timeouts follow Alipay's advice.** One attempt of `inquiryPayment`, `cancel` or `refund` times
//!   out after 3 s ([`DEFAULT_CALL_AGAIN_TIMEOUT`]: "if no result comes back within 3 seconds, call
//!   again"), any other API after 10 s ([`DEFAULT_CALL_TIMEOUT`]); [`default_timeout_for`] says which.
//!   [`ClientBuilder::api_timeout`] wins over everything for its API; otherwise
//!   [`ClientBuilder::call_timeout`] sets every API, these three included.
//!   [`AmsClient::timeout_for`] reports the result.
//! * **One generic call.** [`AmsClient::execute`] takes any [`ams_protocol::AmsRequest`], serialises
//!   it once, signs each attempt with a fresh `request-time`, and **verifies Alipay's signature over
//!   the exact response bytes before parsing**, failing closed: unsigned, partially signed,
//!   mis-signed or foreign-client answers are errors, never results. Alipay's keys are held by key
//!   version ([`AlipayPublicKeys`]) so a rotation needs no downtime.
//! * **Stored bodies, byte for byte.** [`AmsClient::execute_body`] sends the exact bytes a merchant
//!   stored for a request (say the first `pay` or `refund` body, resent with the same request id
//!   because Alipay's idempotency compares the request), never re-serialised, through the same
//!   signing, verification and retry machinery. Bytes that do not parse as the API's request are
//!   [`Error::NotSent`] ([`NotSentKind::InvalidBody`]); the message says why without quoting them.
//! * **Outcomes as data.** A verified answer is an [`Outcome`]: `Success` (S), `Failed` (F) or
//!   `Unknown` (U, or a status this crate does not know). Failures say whether the request may
//!   have reached Alipay: [`Error::NotSent`], [`Error::MaybeSent`], [`Error::BadResponse`].
//!   **For money, `MaybeSent` and `BadResponse` are unknown outcomes, never failures** — resolve
//!   them by inquiry, as for `U`.
//! * **Retry as a policy value.** [`RetryPolicy`] is a closed enum with a pure
//!   [`decide`](RetryPolicy::decide) function. By default `cancel` and `refund` resend the identical
//!   body for 60 s every 5–10 s until S or F; `pay` is never retried unless asked for
//!   ([`AmsClient::execute_with_policy`]). Waiting goes through the injected [`Clock`], so tests
//!   control time ([`testing::ManualClock`]).
//! * **Notifications.** [`NotificationVerifier`] checks an incoming notification (path, headers,
//!   raw body) the same fail-closed way, plus a skew window on `request-time`, and parses it into
//!   an [`ams_protocol::Notification`]; answer with [`ACK_SUCCESS_BODY`].
//! * **Secrets stay secret.** The private key shows only its public fingerprint, the agent token
//!   and the tokens inside requests are redacted in `Debug`, and nothing logs bodies. Each call runs
//!   in a `tracing` span `ams_call` with the API name, the request id ([`RequestId`]), the number of
//!   attempts, the duration and the outcome; each attempt in a child span `ams_attempt`. Requests
//!   identified only by a secret log no request id (`-`): `applyToken` (auth code, refresh token),
//!   `revoke` (access token) and `consult`, whose `authState` completes or declines the
//!   authorization and is therefore a bearer capability.
//!
//! # Example
//!
//! Bind a wallet and charge it, acting on each outcome. This runs as written against the
//! in-process sandbox (`ams-sandbox`, Alipay's stand-in, started in the hidden lines); against
//! Alipay only the settings marked *production* change.
//!
//! ```
//! use std::time::Duration;
//!
//! use ams_client::{AmsClient, Error, Gateway, KeyVersion, Outcome, PrivateKey, PublicKey};
//! use ams_protocol::{
//!     Amount, Api, ApplyTokenRequest, ConsultRequest, Currency, CustomerBelongsTo, Env, Order,
//!     PayRequest, Scope, TerminalType,
//! };
//! # use ams_sandbox::{Sandbox, UserSpec};
//! # const MERCHANT_PRIVATE_PEM: &str =
//! #     include_str!("../../../testdata/ams-vectors/merchant_private_pkcs8.pem");
//! # const MERCHANT_PUBLIC_PEM: &str =
//! #     include_str!("../../../testdata/ams-vectors/merchant_public_spki.pem");
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let sandbox = Sandbox::builder()
//! #     .merchant("SANDBOX_5X00000000000000", PublicKey::from_text(MERCHANT_PUBLIC_PEM)?)
//! #     .user(UserSpec::new("alice@example.com", CustomerBelongsTo::AlipayCn,
//! #         vec![Amount::new(Currency::USD, 10_000)]))
//! #     .start_local()
//! #     .await?;
//! // Built once at start-up and shared (`Clone` is cheap).
//! let client = AmsClient::builder()
//!     .gateway(Gateway::url(sandbox.base_url())?) // production: Gateway::AsiaAccelerated, ...
//!     .client_id("SANDBOX_5X00000000000000") // SANDBOX_ → /ams/sandbox/api/...
//!     .merchant_key(PrivateKey::from_text(MERCHANT_PRIVATE_PEM)?, KeyVersion::DEFAULT)
//!     // production: Alipay's public key from the Dashboard
//!     .alipay_public_key(PublicKey::from_text(&sandbox.alipay_public_key().to_pem())?)
//!     .connect_timeout(Duration::from_secs(3))
//!     .api_timeout(Api::Pay, Duration::from_secs(10))
//!     .build()?;
//!
//! // 1. consult: where to send the user to agree.
//! let consult = ConsultRequest::new(
//!     CustomerBelongsTo::AlipayCn,
//!     "https://merchant.example/authorized",
//!     vec![Scope::AgreementPay],
//!     "STATE_20240101_0001", // comes back with the redirect: check it there
//!     TerminalType::Web,
//! );
//! let Outcome::Success(consulted) = client.execute(&consult).await? else {
//!     return Err("consult failed".into());
//! };
//! let consent_page = consulted.normal_url.ok_or("no normalUrl")?;
//!
//! // 2. The user agrees in the wallet, which redirects them to authRedirectUrl?authCode=...
//! # let auth_code = agree(&consent_page, "alice@example.com").await?;
//! let apply = ApplyTokenRequest::authorization_code(CustomerBelongsTo::AlipayCn, auth_code);
//! let Outcome::Success(applied) = client.execute(&apply).await? else {
//!     return Err("applyToken failed".into());
//! };
//! let token = applied.access_token.ok_or("no accessToken")?; // store it, encrypted
//!
//! // 3. Charge the token, and act on the outcome.
//! let amount = Amount::new(Currency::USD, 1000); // USD 10.00
//! let request = PayRequest::agreement_payment(
//!     "PAY_20240101_0001", // the idempotency key: reuse it to retry this payment
//!     Order::new("ORDER_20240101_0001", "Monthly subscription", amount),
//!     amount,
//!     CustomerBelongsTo::AlipayCn,
//!     &token,
//!     Env::new(TerminalType::Web),
//! );
//! match client.execute(&request).await {
//!     Ok(Outcome::Success(paid)) => println!("paid: {:?}", paid.payment_id),
//!     Ok(Outcome::Failed(refused)) => println!("refused: {}", refused.result.code()),
//!     // U, an unknown status, a timeout, a reset, an unverifiable answer: the money may have
//!     // moved. Inquire (inquiryPayment), then cancel if it stays unknown.
//!     Ok(Outcome::Unknown(_)) | Err(Error::MaybeSent(_) | Error::BadResponse(_)) => {
//!         println!("outcome unknown: inquire");
//!     }
//!     // Certainly not sent (DNS, connection refused, signing): nothing happened at Alipay.
//!     Err(error) => println!("not sent: {error}"),
//! }
//! # assert_eq!(sandbox.ledger(Some("PAY_20240101_0001"), None).debits, 1);
//! # Ok(())
//! # }
//! # /// The sandbox wallet's consent page, agreed to as `user`; returns the redirect's authCode.
//! # async fn agree(page: &str, user: &str) -> Result<String, Box<dyn std::error::Error>> {
//! #     let browser = reqwest::Client::builder()
//! #         .redirect(reqwest::redirect::Policy::none())
//! #         .no_proxy()
//! #         .build()?;
//! #     let answer = browser
//! #         .post(page)
//! #         .header("content-type", "application/x-www-form-urlencoded")
//! #         .body(format!("decision=agree&user={}", user.replace('@', "%40")))
//! #         .send()
//! #         .await?;
//! #     let location = answer.headers().get("location").ok_or("no redirect")?.to_str()?;
//! #     let location = reqwest::Url::parse(location)?;
//! #     let code = location.query_pairs().find(|(k, _)| k == "authCode").ok_or("no authCode")?;
//! #     Ok(code.1.into_owned())
//! # }
//! ```
//!
//! The whole journey, printed step by step: `cargo run -p ams-client --example bind_and_charge`.
//!
//! Notifications, in a web handler that has the path, headers and raw body:
//!
//! ```no_run
//! # fn handle(client: &ams_client::AmsClient, headers: &http::HeaderMap, body: &[u8]) {
//! use ams_client::{ACK_SUCCESS_BODY, NotificationError};
//! use ams_protocol::Notification;
//!
//! match client.notification_verifier().verify("/payNotify", headers, body) {
//!     Ok(verified) => {
//!         if let Notification::Payment(payment) = verified.notification() {
//!             // store it, apply it, then answer 200 with ACK_SUCCESS_BODY
//!             let _ = (payment, ACK_SUCCESS_BODY);
//!         }
//!     }
//!     Err(NotificationError::OutsideSkewWindow(_stale)) => { /* authentic but stale: re-inquire */ }
//!     Err(_refused) => { /* answer 4xx: Alipay resends */ }
//! }
//! # }
//! ```

mod builder;
mod classify;
mod client;
mod clock;
mod error;
mod gateway;
mod keys;
mod notification;
mod outcome;
mod request_id;
mod retry;
pub mod testing;
mod verify;

pub use builder::{
    ClientBuilder, ClientId, DEFAULT_CALL_AGAIN_TIMEOUT, DEFAULT_CALL_TIMEOUT,
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_USER_AGENT, Unset,
    default_timeout_for,
};
pub use client::{AmsClient, CallResult, REQUEST_CONTENT_TYPE};
pub use clock::{Clock, Sleep, SystemClock};
pub use error::{
    BadResponse, BadResponseKind, BuildError, Error, KEPT_BODY_BYTES, MaybeSent, MaybeSentKind,
    NotSent, NotSentKind, ResponseBody, TransportError, VerificationError,
};
pub use gateway::{CustomGateway, Gateway};
pub use keys::{AgentToken, AlipayPublicKeys};
pub use notification::{
    ACK_CONTENT_TYPE, ACK_SUCCESS_BODY, NotificationError, NotificationVerifier, StaleNotification,
    VerifiedNotification,
};
pub use outcome::Outcome;
pub use request_id::RequestId;
pub use retry::{AttemptClass, RetryDecision, RetryPolicy};

// Re-exported so callers need not depend on ams-signing for the types in this API.
pub use ams_signing::{KeyVersion, PrivateKey, PublicKey, VerifyError};
