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
//! in-process sandbox (`ams-sandbox`, Alipay's stand-in on loopback, a dev-dependency); against
//! Alipay only the lines marked *sandbox* and *production* change.
//!
//! ```
//! use std::time::Duration;
//!
//! use ams_client::testing::sandbox_wallet_agree;
//! use ams_client::{AmsClient, Error, Gateway, KeyVersion, Outcome};
//! use ams_protocol::{
//!     Amount, Api, ApplyTokenRequest, ConsultRequest, Currency, CustomerBelongsTo, Env, Order,
//!     PayRequest, Scope, TerminalType,
//! };
//! use ams_sandbox::{Sandbox, UserSpec};
//! use ams_signing::{Backend, GeneratedKeyPair};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The merchant's key pair. Production: load yours with `PrivateKey::from_text(..)` from your
//! // secret store, and upload the public key to Alipay's Dashboard.
//! let merchant = GeneratedKeyPair::generate(Backend::default(), 2048)?;
//!
//! // Sandbox: Alipay and the wallet on an ephemeral loopback port, with one user holding USD 100.
//! let sandbox = Sandbox::builder()
//!     .merchant("SANDBOX_5X00000000000000", merchant.public_key().clone())
//!     .user(UserSpec::new("alice@example.com", CustomerBelongsTo::AlipayCn,
//!         vec![Amount::new(Currency::USD, 10_000)]))
//!     .start_local()
//!     .await?;
//!
//! // Built once at start-up and shared (`Clone` is cheap).
//! let client = AmsClient::builder()
//!     .gateway(Gateway::url(sandbox.base_url())?) // production: Gateway::AsiaAccelerated, ...
//!     .client_id("SANDBOX_5X00000000000000") // SANDBOX_ → /ams/sandbox/api/...
//!     .merchant_key(merchant.into_private_key(), KeyVersion::DEFAULT)
//!     // production: Alipay's public key from the Dashboard, `PublicKey::from_text(..)`
//!     .alipay_public_key(sandbox.alipay_public_key().clone())
//!     .connect_timeout(Duration::from_secs(3))
//!     .api_timeout(Api::Pay, Duration::from_secs(10))
//!     .build()?;
//!
//! // 1. consult: where to send the user to agree. Only a success will do here, so
//! //    `into_result()?` turns F and U into an error that says what Alipay answered.
//! let consult = ConsultRequest::new(
//!     CustomerBelongsTo::AlipayCn,                 // the user's wallet
//!     "https://merchant.example/authorized",       // authRedirectUrl: where the wallet sends them
//!     vec![Scope::AgreementPay],
//!     "STATE_20240101_0001",                       // authState: comes back with the redirect
//!     TerminalType::Web,
//! );
//! let consulted = client.execute(&consult).await?.into_result()?;
//! let consent_page = consulted.normal_url.ok_or("no normalUrl")?;
//!
//! // 2. The user opens `consent_page` and agrees; the wallet redirects their browser to
//! //    authRedirectUrl?authCode=...&authState=... . Sandbox: play the user's browser (a POST of
//! //    `decision=agree&user=<login>` to the page; production: your redirect handler reads it).
//! let redirect = sandbox_wallet_agree(&consent_page, "alice@example.com").await?;
//! assert_eq!(redirect.auth_state.as_deref(), Some("STATE_20240101_0001")); // check it is yours
//! let auth_code = redirect.auth_code.ok_or("the user declined")?;
//!
//! // 3. applyToken: the auth code for an access token.
//! let apply = ApplyTokenRequest::authorization_code(CustomerBelongsTo::AlipayCn, auth_code);
//! let applied = client.execute(&apply).await?.into_result()?;
//! let token = applied.access_token.ok_or("no accessToken")?; // store it, encrypted
//!
//! // 4. Charge the token, and act on every outcome: money may have moved.
//! let amount = Amount::new(Currency::USD, 1000); // USD 10.00
//! let request = PayRequest::agreement_payment(
//!     "PAY_20240101_0001", // paymentRequestId, the idempotency key: reuse it to retry
//!     Order::new("ORDER_20240101_0001", "Monthly subscription", amount), // the whole order
//!     amount,              // paymentAmount: what this payment takes (the order's amount, usually)
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
//!     // `{error}` carries the whole diagnosis.
//!     Err(error) => println!("not sent: {error}"),
//! }
//! assert_eq!(sandbox.ledger(Some("PAY_20240101_0001"), None).debits, 1);
//! # Ok(())
//! # }
//! ```
//!
//! The whole journey, printed step by step: `cargo run -p ams-client --example bind_and_charge`.
//!
//! # Errors say why
//!
//! [`Error`]'s `Display` is the whole diagnosis on one line (a refused connection with the OS
//! error, a rejected signature with the key fingerprint, the request line and the content hash),
//! with no body, key or token in it: log `{error}`. The parts stay reachable as variants and
//! accessors ([`Error::verify_error`], [`Error::bad_response`], [`Error::status`]).
//! [`NotificationError`] does the same for notifications.
//!
//! # Notifications
//!
//! Alipay posts `notifyPayment`, `notifyRefund` and `notifyAuthorization` to your notify URLs,
//! signed over the URL's path (with its query, if any), your client id, `request-time` and the
//! raw body. In the web handler, give the verifier the path as it arrived, the headers and the
//! body **bytes** (never a re-serialised JSON value):
//!
//! ```no_run
//! # fn handle(client: &ams_client::AmsClient, headers: &http::HeaderMap, body: &[u8]) {
//! use ams_client::{ACK_SUCCESS_BODY, NotificationError};
//! use ams_protocol::Notification;
//!
//! match client.notification_verifier().verify("/alipay/notify/payments", headers, body) {
//!     Ok(verified) => {
//!         if let Notification::Payment(payment) = verified.notification() {
//!             // store it, apply it, then answer HTTP 200 with ACK_SUCCESS_BODY
//!             let _ = (payment, ACK_SUCCESS_BODY);
//!         }
//!     }
//!     Err(NotificationError::OutsideSkewWindow(_stale)) => { /* authentic but stale: re-inquire */ }
//!     Err(refused) => { /* answer 4xx (Alipay resends); log `{refused}`: it says why */ }
//! }
//! # }
//! ```
//!
//! **From the sandbox**: it sends the same signed notifications, retried on Alipay's schedule
//! until it gets [`ACK_SUCCESS_BODY`], to the URL named in the request
//! (`PayRequest::with_payment_notify_url`, `RefundRequest::with_refund_notify_url`,
//! `ConsultRequest::with_auth_notify_url`) or else to the merchant's dashboard setting (`SandboxBuilder::merchant_settings`
//! with `MerchantSettings`; `--payment-notify-url` and friends for `autodebit sandbox`). A plain
//! `http://127.0.0.1:PORT/...` URL is accepted, so a test runs its own small listener (axum,
//! hyper, anything that hands over the raw body) and verifies with the path of that URL:
//! `with_payment_notify_url("http://127.0.0.1:9000/alipay/notify/payments")` is verified with
//! `verify("/alipay/notify/payments", ..)`. `sandbox.notifications()` lists what was sent and
//! acknowledged.
//!
//! # Keys
//!
//! The client takes the merchant's [`PrivateKey`] and Alipay's [`PublicKey`], loaded from PEM or
//! bare base64 with `from_text` (PKCS#8, PKCS#1, SPKI; an error names a key in the wrong role).
//! For tests, `ams_signing::GeneratedKeyPair` makes a pair in-process (see the example above);
//! [`PublicKey`] is `Clone`. Keep real private keys out of your repository.
//!
//! # Using these crates
//!
//! A program needs `ams-client` and `ams-protocol` (the request and response types); `ams-signing`
//! only to generate keys (the key types are re-exported here); `ams-sandbox` (not published: a git
//! or path dependency on this repository) and `tokio` for tests against the sandbox. RSA is slow
//! unoptimised: a project whose tests sign a lot can build dependencies optimised with
//! `[profile.dev.package."*"] opt-level = 2`.

// The README's examples run as doctests too, so they cannot rot.
#![cfg_attr(doctest, doc = include_str!("../README.md"))]

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
pub use outcome::{Outcome, Unsuccessful};
pub use request_id::RequestId;
pub use retry::{AttemptClass, RetryDecision, RetryPolicy};

// Re-exported so callers need not depend on ams-signing for the types in this API.
pub use ams_signing::{KeyVersion, PrivateKey, PublicKey, VerifyError};
