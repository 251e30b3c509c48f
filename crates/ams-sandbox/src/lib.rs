//! A stateful, signing stand-in for Alipay's AMS gateway and the user's wallet.
//!
//! The real gateway is out of reach, so every end-to-end test, every demo and a newcomer's first run
//! talk to this instead. It behaves as Alipay does according to the protocol digest (the eight Auto
//! Debit APIs, customs declaration and secondary-merchant registration, all under `/ams/api/v1` and
//! `/ams/sandbox/api/v1`, signed answers, `PARAM_ILLEGAL` naming the field, idempotency on
//! `paymentRequestId`, `refundRequestId`, `declarationRequestId` and `registrationRequestId`, the
//! cancel window, signed notifications retried on Alipay's schedule), and lets a test produce every
//! hard case on demand:
//! `U` answers or any chosen `F`/`U` result, delays, dropped connections after commit, requests held
//! in transit and landing later, HTTP 500, unsigned or mis-signed answers, skipped, duplicated,
//! delayed or reordered notifications, and a clock that moves when told. Where Alipay's behaviour
//! is not documented, it takes the case that is harder on the merchant (see the decisions below).
//!
//! # Running it in a test
//! ```
//! use ams_protocol::{Amount, Currency, CustomerBelongsTo};
//! use ams_sandbox::{OvertakenPay, Sandbox, UserSpec};
//! use ams_signing::{Backend, GeneratedKeyPair};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The merchant's key pair: the sandbox verifies requests with the public half, the client
//! // (`ams-client`) signs with `merchant.into_private_key()`.
//! let merchant = GeneratedKeyPair::generate(Backend::default(), 2048)?;
//! let merchant_public = merchant.public_key().clone();
//! let sandbox = Sandbox::builder()
//!     .merchant("SANDBOX_5X00000000000000", merchant_public)
//!     .start_local()
//!     .await?;
//! sandbox.create_user(UserSpec::new("alice@example.com", CustomerBelongsTo::AlipayCn, vec![Amount::new(Currency::USD, 10_000)]))?;
//! // Point a client at sandbox.base_url(); verify answers with sandbox.alipay_public_key().
//! assert!(sandbox.base_url().starts_with("http://127.0.0.1:"));
//! assert_eq!(sandbox.ledger(None, Some("alice@example.com")).debits, 0);
//! // The harsher reading of undocumented behaviour is the default.
//! assert_eq!(sandbox.settings().overtaken_pay, OvertakenPay::Debits);
//! assert!(sandbox.held().is_empty());
//! # Ok(())
//! # }
//! ```
//!
//! # The wallet's consent page
//! `consult` answers with a `normalUrl` on the sandbox: `/sandbox/wallet/consent/{id}`, a plain
//! HTML form that plays the user's wallet. `GET` shows the merchant, the scopes and the wallet's
//! users; `POST` with the form-encoded fields `decision=agree` (or `decline`) and
//! `user=<login>` answers `303 See Other` to the merchant's `authRedirectUrl` with
//! `authCode=...&authState=...` (declined: `authState=...&errorCode=USER_CANCELLED`). Do not follow
//! the redirect; read `authCode` from its `Location`. The link is single-use and expires. In Rust,
//! `ams_client::testing::sandbox_wallet_agree(normal_url, login)` does exactly this (and
//! `sandbox_wallet_decline`); with curl:
//! `curl -s -o /dev/null -w '%{redirect_url}' "$NORMAL_URL" --data 'decision=agree&user=alice%40example.com'`.
//!
//! # The wallet's payment page
//! A user in [`PaymentMode::NeedsUser`] must confirm each payment in the wallet (digest §3.4:
//! `PAYMENT_IN_PROCESS` "e.g. when the wallet needs user interaction"). Their `pay` answers `U` /
//! `PAYMENT_IN_PROCESS` and, on the first answer and every identical retry while the payment waits,
//! carries `normalUrl`: `/sandbox/wallet/payments/{paymentId}` on the sandbox; for an `APP`, `WAP`
//! or `MINI_APP` terminal also `schemeUrl` (`alipay-sandbox://pay?payment={paymentId}`),
//! `applinkUrl` (`{normalUrl}?applink=1`) and `appIdentifier` (`com.example.sandbox.wallet`). The
//! page is a plain HTML form: `GET` shows the merchant and the amount; `POST` with
//! `decision=pay` (or `decline`) ends the payment as [`SandboxHandle::complete_payment`] does
//! (paid: debited once, with the balance and limit checks of that moment, a refused check failing
//! it with its code; declined: failed with `PROCESS_FAIL`), notifies it, and answers `303 See Other`
//! to the pay's `paymentRedirectUrl` (without one, a page saying how it ended, `id="result"`). A
//! payment that is final, expired or cancelled answers `410`; one that never waited for the user
//! (a [`PaymentMode::Processing`] payment included) `404`. With curl:
//! `curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "$NORMAL_URL" --data 'decision=pay'`.
//!
//! # Notifications to your code
//! Notifications are signed like Alipay's (over the notify URL's path, with its query if any) and
//! sent to the URL the request names (`PayRequest::with_payment_notify_url`,
//! `RefundRequest::with_refund_notify_url`, `ConsultRequest::with_auth_notify_url`), or else to the
//! merchant's dashboard setting ([`SandboxBuilder::merchant_settings`] with [`MerchantSettings`];
//! `PUT /sandbox/merchants/{client_id}`; `--payment-notify-url`, `--refund-notify-url` and
//! `--authorization-notify-url` for `autodebit sandbox`). Plain `http://` to a loopback port is
//! fine: a test runs its own small listener and verifies what arrives with
//! `ams_client::NotificationVerifier::verify(path, headers, body)` given that URL's path. Each is
//! retried on Alipay's schedule until an acknowledgement comes back: HTTP 200 and a `result` with
//! `resultCode` `SUCCESS` and `resultStatus` `S`, whatever its message (send
//! `ams_protocol::ACK_SUCCESS_BODY`); [`SandboxHandle::notifications`] (or `GET /sandbox/notifications`) lists every
//! notification with its URL, body and attempts.
//!
//! # Customs declaration and secondary-merchant registration
//! The five APIs of the digest's addendum (§9) answer as the sections below say; what the digest
//! leaves UNKNOWN is decided the harsher way and listed in the README's fidelity table.
//!
//! **`declare`** needs a payment of the same client id in `SUCCESS` (`ORDER_NOT_EXIST`,
//! `ORDER_STATUS_INVALID`, F), a `declarationAmount` in the payment's currency and above zero
//! (`PARAM_ILLEGAL`), and a merchant registered for customs ([`MerchantSettings::customs_registered`];
//! `MERCHANT_NOT_REGISTERED`). Each declaration is a share of its payment: the shares of one payment
//! never add up to more than its amount (`TOTAL_DECLARATION_AMOUNT_EXCEED`), and a second
//! `declarationRequestId` for the payment at the same `customsCode` is `DUPLICATED_DECLARATIONS`
//! unless both are parts of a split order with different `suborderId`s. A refused `declare` keeps
//! nothing. The same `declarationRequestId` again: the same request is answered as the first
//! success was; a change to a field outside the seven of §9.3.5 is `CONTEXT_INCONSISTENT` (F); a
//! change to the seven within five minutes of the previous call with that id (every call counts,
//! refused ones too) is `REPEAT_REQ_INCONSISTENT` when the amount or currency changed, else
//! `CONTEXT_INCONSISTENT`; after more than five minutes it is a re-transmission: the new data (and
//! amount) replace the old, the declaration goes to customs again, and the answer is the first
//! success's. Customs answers [`SandboxSettings::customs_receipt_delay_ms`] (one minute) after each
//! transmission: `declarationRequestStatus` goes from `PROCESSING` to `SUCCESS` (result code `2`)
//! or, for a declaration named in [`MerchantSettings::customs_rejections`], to `FAIL`; from then on
//! `declare` adds `clearingChannel` `OTHER`, `clearingTransactionId` and
//! `customsProviderRegistrationId` `31222699S7` to a successful declaration's answer.
//! `identityCheckResult` is `CHECK_PASSED` when a `buyerCertificate` is given
//! (`CHECK_NOT_PASSED` with [`MerchantSettings::customs_identity_check_fails`]).
//! **`inquiryDeclarationRequests`** answers `S` with a `declarationRecords` entry (with `customs`;
//! `splitOrder` a JSON boolean) per known id and the others in `declarationRequestsNotFound`.
//!
//! **`registration`** is kept per client id with its answer: the same `registrationRequestId` and
//! body gets the same `S` (echoing `passThroughInfo`) or `F`, another body `REPEAT_REQ_INCONSISTENT`;
//! a new registration of a `referenceMerchantId` that is under review or approved by a wallet is
//! `REPEAT_REGISTRATION` (once every wallet rejected it, it may register again). After
//! [`SandboxSettings::registration_review_delay_ms`] (one minute) the overall status goes from
//! `PENDING` to `COMPLETED`, with one result per wallet of [`MerchantSettings::wallets`] (none:
//! [`DEFAULT_REGISTRATION_WALLETS`]), `pspName` the wallet's `customerBelongsTo` value, `APPROVED`
//! or, as [`MerchantSettings::registration_rejections`] says, `REJECTED` with `rejectReasons`; then
//! `notifyRegistrationStatus` goes to the request's `registrationNotifyURL` (or
//! `registrationNotifyUrl`; none: no notification), signed and retried like every notification
//! ([`NotificationKind::Registration`], matched by `registrationRequestId`).
//! **`inquiryRegistrationStatus`** finds a registration by `registrationRequestId`, else the
//! `referenceMerchantId`'s latest; **`inquiryRegistrationInfo`** answers the `merchantInfo` and
//! `productCodes` of the latest registration a wallet approved, or `S` alone while none was; both
//! answer `RECORD_NOT_FOUND` (F) when nothing was accepted. With
//! [`MerchantSettings::require_registered_secondary_merchants`] a `consult` naming an `authClientId`,
//! or a `pay` naming an `order.merchant.referenceMerchantId`, that no wallet approved at this client
//! id is `MERCHANT_NOT_REGISTERED` (F) and changes nothing.
//!
//! # As a process
//! `autodebit sandbox` (this repository's `autodebit-server` package; its binary is named
//! `autodebit`) runs the same sandbox on `127.0.0.1:8089`, for tests in other languages:
//! `cargo run --release -p autodebit-server -- sandbox` from a clone, or
//! `cargo install --locked --path crates/autodebit-server` once (a few minutes: the binary also
//! carries the server and its database drivers). Without key flags it writes development keys to
//! `./sandbox-keys/` (run it from a scratch directory, or pass `--merchant-public-key` and
//! `--alipay-private-key`) and prints which file signs requests and which verifies answers.
//!
//! # Control API
//! Everything the handle does is also JSON over HTTP under `/sandbox/`, for tests in other
//! languages and for people exploring by hand; `GET /sandbox` lists it with each body's fields
//! (the list is [`control::ENDPOINTS`]):
//! - users: `GET`/`POST /sandbox/users`, `GET`/`PATCH /sandbox/users/{login}` (`payment_mode`:
//!   `instant`, `processing`, `pending` or `needs_user`),
//!   `POST /sandbox/users/{login}/unbind` (the user unbinds; sends `TOKEN_CANCELED`);
//! - merchants and settings: `GET`/`PUT /sandbox/merchants/{client_id}` (name, notify URLs,
//!   wallets, the customs and registration switches and rejections), `GET`/`PUT /sandbox/settings`
//!   (including the customs receipt and registration review delays);
//! - time: `GET`/`POST /sandbox/clock` (set, advance, freeze);
//! - faults: `GET`/`POST`/`DELETE /sandbox/faults`, `POST /sandbox/notification-faults`,
//!   `GET /sandbox/held`, `POST /sandbox/held/release`;
//! - what happened: `GET /sandbox/ledger?payment_request_id=&user=`, `GET /sandbox/notifications`,
//!   `POST /sandbox/payments/{payment_request_id}/complete` (settle a payment left processing).
//!
//! # Access
//! The control API shows every auth code and access token issued and can move money and time, so
//! it answers the developer's own tools only, never a web page (a page the developer visits can
//! reach a loopback port through DNS rebinding or a cross-origin request). Before any control
//! handler runs:
//! - `Host` must be a name the sandbox answers to: the bound address as written
//!   (`127.0.0.1:PORT`, `[::1]:PORT`), `localhost:PORT`, the loopback addresses when bound to
//!   every interface, and each [`SandboxBuilder::allowed_host`]; otherwise `403`;
//! - an `Origin` header, when present, must be the sandbox's own (one of those names); otherwise
//!   `403`;
//! - with [`SandboxBuilder::control_token`], `Authorization: Bearer <token>` must match (compared
//!   in constant time); otherwise `401`;
//! - `POST`, `PUT`, `PATCH` and `DELETE` must say `Content-Type: application/json`, even with an
//!   empty body, which no HTML form can send; otherwise `403`.
//!
//! Refusals are `{"error": "..."}` saying which rule applied. The wallet's pages, the consent page
//! (`/sandbox/wallet/consent/{id}`) and the payment page (`/sandbox/wallet/payments/{paymentId}`),
//! which the user's browser opens and posts forms to, get the `Host` and `Origin` checks only (no
//! control token). The gateway (`/ams/...`) gets none: its requests are
//! authenticated by the merchant's signature, and clients reach it under other names (relays,
//! proxies). The [`SandboxHandle`] methods are in-process calls and need none of this.
//!
//! The notifier follows no redirect and reads at most 64 KiB of a merchant's answer; the clock
//! stays between 1970 and the start of 9999 ([`SandboxClock::LATEST_MS`]); a client has
//! [`SandboxBuilder::header_read_timeout`] to send its headers. [`SandboxBuilder::start`] listens
//! where it is told; refusing a non-loopback address is the caller's call (`autodebit sandbox`
//! asks for `--allow-remote`).
//!
//! # Requests in transit
//! A [`FaultAction::Hold`] rule holds a matching gateway call after it is admitted (path, client,
//! signature, body all checked): the caller gets no answer (the connection closes, as with
//! [`FaultAction::Drop`]) and nothing happens yet. The call lands later, processed exactly as a
//! fresh arrival at the sandbox time of its release (its debit, its notifications, its expiry
//! checks), when
//! - the clock is moved through the handle ([`SandboxHandle::advance_clock_ms`],
//!   [`SandboxHandle::update_clock`]) or `POST /sandbox/clock` to or past its due time (held time
//!   plus `ms`): what became due lands before the call returns;
//! - a gateway call arrives after its due time: what is due lands first, in due order, then that
//!   call is processed, all under one lock with one clock reading (a call refused before the world,
//!   e.g. for its signature, changes nothing and releases nothing);
//! - the clock runs (not frozen) and its due time passes: the notifier lands it in real time;
//! - it is released on demand ([`SandboxHandle::release_held`], `POST /sandbox/held/release`),
//!   due or not.
//!
//! Several held calls land in due order, then in the order they were held. A frozen clock moved
//! straight on [`SandboxClock`] releases nothing by itself: the next gateway call or clock move
//! through the handle does. [`SandboxHandle::held`] and `GET /sandbox/held` list what is in transit
//! (API, request id, due time; never a token or an auth code). Removing the fault rules leaves held
//! calls held. This is how a merchant's `cancel` reaches Alipay before the `pay` it cancels.
//!
//! # Decisions where the digest is silent
//! - A bad, used or expired auth code is `INVALID_AUTHCODE`, a bad refresh token
//!   `INVALID_REFRESH_TOKEN` (Alipay's `applyToken` table, digest §9.10; `AUTH_IN_PROCESS`, U, comes
//!   from a fault rule); a declined consent redirects with `authState` and `errorCode=USER_CANCELLED`.
//! - Cancelling a failed or processing payment succeeds and moves no money; a processing payment
//!   whose expiry passes fails with `ORDER_IS_CLOSED`; a refused refund is kept, so its
//!   `refundRequestId` keeps its answer.
//! - **A pay that arrives after its `paymentExpiryTime` takes no effect** (digest §3.4: the payment
//!   expires then). A `pay` whose own `paymentExpiryTime` is at or before the sandbox time of its
//!   arrival (a held pay: of its release) is answered `F` / `ORDER_IS_CLOSED`, recorded as failed
//!   (an inquiry finds it `FAIL`, a retry with the same id gets the same answer, the failure is
//!   notified) and debits nothing. A time already past is therefore not `PARAM_ILLEGAL`; one more
//!   than a minute ahead still is. A pay without `paymentExpiryTime` expires a minute after it
//!   arrives (a held pay: after its release).
//! - **What a cancel that overtook its pay does to that pay** is a setting,
//!   [`SandboxSettings::overtaken_pay`] (builder [`SandboxBuilder::overtaken_pay`], handle
//!   [`SandboxHandle::set_overtaken_pay`], `PUT /sandbox/settings`). A `cancel` naming an unknown
//!   `paymentRequestId` is answered `F` / `ORDER_NOT_EXIST` either way. With
//!   [`OvertakenPay::Debits`] (the default, the harsher case for merchants) it records nothing and
//!   the pay, when it arrives, is processed normally and debits: the merchant must cancel again.
//!   With [`OvertakenPay::Closed`] it leaves a tombstone for the client id and `paymentRequestId`,
//!   and the pay, when it arrives, is recorded as failed with `F` / `ORDER_IS_CLOSED` (notified as
//!   failed pays are) and moves no money. The setting applies to cancels answered while it is in
//!   force; a tombstone stays.
//! - Wallets may issue no refresh token ("if absent, the access token has a quite long validity",
//!   §3.2): with [`UserSpec::issues_refresh_tokens`] false, `applyToken` answers the access token
//!   and its expiry only, and the binding cannot be refreshed. Default: refresh tokens are issued.
//! - **Refunds in process** (digest §3.7 `REFUND_IN_PROCESS`, §3.8, §4.3) are a setting,
//!   [`SandboxSettings::refunds_in_process`] (default off: every test of the product would
//!   otherwise wait for its refunds). On, an accepted `refund` answers `F` / `REFUND_IN_PROCESS`
//!   (the digest gives no status: F is the fallback, and the harsher reading, since a client that
//!   takes every F as final would refund again what is still coming), an identical retry answers
//!   the same, `inquiryRefund` says `PROCESSING`, and the refund counts against the amount left.
//!   After [`SandboxSettings::refund_process_delay_ms`] (one minute) it is `SUCCESS` (credited
//!   then, once) or, named in [`MerchantSettings::refund_failures`], `FAIL` (nothing credited; a
//!   retry answers `PROCESS_FAIL`, F), and `notifyRefund` tells either.
//! - **Pending payments** (digest §3.5 `PENDING`, §4.2 `PAYMENT_PENDING`): a user in
//!   [`PaymentMode::Pending`] pays at once (the ledger debits at acceptance, the harsher reading of
//!   "paid, waiting for the final result"), `pay` answers `U` / `PAYMENT_IN_PROCESS`, the inquiry
//!   `PENDING`, and `notifyPayment` `PAYMENT_PENDING` (with `result` S) is sent; after
//!   [`SandboxSettings::payment_pending_delay_ms`] (one minute) it is `SUCCESS` with
//!   `PAYMENT_RESULT`, no second debit. It does not expire; a `cancel` meanwhile credits the money
//!   back.
//! - **Payments that need the user** (digest §3.4, `PAYMENT_IN_PROCESS` with the wallet's URLs): a
//!   user in [`PaymentMode::NeedsUser`] gets the processing behaviour (nothing debited and the
//!   balance unchecked until the user pays, `ORDER_IS_CLOSED` when the expiry passes) with the URLs
//!   of the wallet's payment page in every `pay` answer while it waits, none once it is final. A
//!   decline fails it with `PROCESS_FAIL`: the documented codes have none for a user declining a
//!   payment. A `cancel` meanwhile closes the page (`410`); a late confirmation pays nothing.
//! - **`applyToken` checks the wallet account** (digest §3.2, January 2022): a closed account is
//!   `USER_NOT_EXIST`, an abnormal one `USER_STATUS_ABNORMAL` (F), for both grants; nothing is
//!   issued and the code stays unused. On by default ([`SandboxSettings::apply_token_checks_user`]):
//!   it is documented behaviour and no test of the product bound a closed account.
//! - Notifications are sent for final payment results (S and F), pending payments
//!   (`PAYMENT_PENDING`), refunds (when they end), ended registration
//!   reviews (`notifyRegistrationStatus`, to the registration's own URL only), `AUTHCODE_CREATED`,
//!   `TOKEN_CANCELED` (when the user unbinds, and on the merchant's first `revoke`), and, for a
//!   merchant that turns it on ([`SandboxHandle::set_notify_token_created`], `notify_token_created`
//!   in `PUT /sandbox/merchants/{client_id}`, default off), `TOKEN_CREATED` after each successful
//!   `applyToken` with `AUTHORIZATION_CODE` (not after a refresh), with the consult's `authState`,
//!   the `accessToken` and the masked `userLoginId`. Notification faults match it by `authState`.
//! - [`FaultAction::Answer`] answers exactly the `result` it names (HTTP 200, signed, no other
//!   field), after processing the call or not as the rule's `process` says: a test can make
//!   `cancel` refuse without cancelling, or `pay` claim a failure after it debited.

mod access;
mod call;
mod clock;
mod consent;
pub mod control;
mod gateway;
mod html;
mod model;
mod notify;
mod payment_page;
mod server;
mod shared;
mod util;
mod validate;
mod world;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ams_signing::{Backend, GeneratedKeyPair, KeyVersion, PrivateKey, PublicKey, Signer};
use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use tokio::sync::{Notify, watch};

pub use clock::SandboxClock;
pub use model::{
    AccountStatus, AnswerStatus, ClockUpdate, ClockView, Completion, CustomsRejection,
    DEFAULT_CUSTOMS_RECEIPT_DELAY_MS, DEFAULT_PAYMENT_PENDING_DELAY_MS,
    DEFAULT_REFUND_PROCESS_DELAY_MS, DEFAULT_REGISTRATION_REVIEW_DELAY_MS,
    DEFAULT_REGISTRATION_WALLETS, DeliveryAttempt, DeliveryState, EntryKind, EntryReason,
    FaultAction, FaultRule, HeldRequest, LedgerEntry, LedgerView, MerchantSettings, MerchantView,
    NotificationFaultAction, NotificationFaultRule, NotificationKind, NotificationRecord,
    OvertakenPay, PaymentMode, RegistrationRejection, SandboxSettings, UserSpec, UserUpdate,
    UserView,
};
pub use notify::ALIPAY_RETRY_INTERVALS_MS;
pub use world::Lifetimes;

use shared::Shared;
use world::World;

/// A failed control operation or start, with what was wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SandboxError(String);

impl std::fmt::Display for SandboxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SandboxError {}

impl From<String> for SandboxError {
    fn from(value: String) -> Self {
        Self(value)
    }
}

/// Entry point: `Sandbox::builder()`.
#[derive(Debug)]
pub struct Sandbox;

impl Sandbox {
    /// A builder with Alipay's defaults (lifetimes, notification schedule) and no merchant yet.
    pub fn builder() -> SandboxBuilder {
        SandboxBuilder::default()
    }
}

struct MerchantEntry {
    client_id: String,
    version: u32,
    key: PublicKey,
}

/// Configures a sandbox before it starts.
pub struct SandboxBuilder {
    merchants: Vec<MerchantEntry>,
    settings: Vec<(String, MerchantSettings)>,
    token_created: Vec<(String, bool)>,
    sandbox_settings: SandboxSettings,
    alipay_key: Option<PrivateKey>,
    alipay_key_version: KeyVersion,
    lifetimes: Lifetimes,
    schedule_factor: f64,
    notify_timeout: Duration,
    users: Vec<UserSpec>,
    allowed_hosts: Vec<String>,
    control_token: Option<String>,
    header_read_timeout: Duration,
}

/// How long a client has to send a request's headers, by default (hyper's own default once a
/// timer is set). An idle keep-alive connection closes after it too.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for SandboxBuilder {
    fn default() -> Self {
        Self {
            merchants: Vec::new(),
            settings: Vec::new(),
            token_created: Vec::new(),
            sandbox_settings: SandboxSettings::default(),
            alipay_key: None,
            alipay_key_version: KeyVersion::DEFAULT,
            lifetimes: Lifetimes::default(),
            schedule_factor: 1.0,
            notify_timeout: Duration::from_secs(10),
            users: Vec::new(),
            allowed_hosts: Vec::new(),
            control_token: None,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
        }
    }
}

impl std::fmt::Debug for SandboxBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxBuilder")
            .field(
                "merchants",
                &self
                    .merchants
                    .iter()
                    .map(|m| &m.client_id)
                    .collect::<Vec<_>>(),
            )
            .field("lifetimes", &self.lifetimes)
            .field("schedule_factor", &self.schedule_factor)
            .field("allowed_hosts", &self.allowed_hosts)
            .field(
                "control_token",
                &self.control_token.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

impl SandboxBuilder {
    /// Registers a merchant (client id) with its public key as key version 1.
    #[must_use]
    pub fn merchant(self, client_id: impl Into<String>, public_key: PublicKey) -> Self {
        self.merchant_key(client_id, KeyVersion::DEFAULT, public_key)
    }

    /// Registers a merchant public key under a key version (call again for more versions).
    #[must_use]
    pub fn merchant_key(
        mut self,
        client_id: impl Into<String>,
        version: KeyVersion,
        public_key: PublicKey,
    ) -> Self {
        self.merchants.push(MerchantEntry {
            client_id: client_id.into(),
            version: version.get(),
            key: public_key,
        });
        self
    }

    /// The merchant's dashboard settings: display name and notification URLs.
    #[must_use]
    pub fn merchant_settings(
        mut self,
        client_id: impl Into<String>,
        settings: MerchantSettings,
    ) -> Self {
        self.settings.push((client_id.into(), settings));
        self
    }

    /// Whether the merchant gets `notifyAuthorization` `TOKEN_CREATED` after each successful
    /// `applyToken` with `AUTHORIZATION_CODE` (default off). The merchant must be registered.
    #[must_use]
    pub fn notify_token_created(mut self, client_id: impl Into<String>, on: bool) -> Self {
        self.token_created.push((client_id.into(), on));
        self
    }

    /// Sandbox-wide settings (default: [`SandboxSettings::default`]).
    #[must_use]
    pub fn settings(mut self, settings: SandboxSettings) -> Self {
        self.sandbox_settings = settings;
        self
    }

    /// What a cancel that overtook its pay does to that pay (default [`OvertakenPay::Debits`]).
    #[must_use]
    pub fn overtaken_pay(mut self, overtaken_pay: OvertakenPay) -> Self {
        self.sandbox_settings.overtaken_pay = overtaken_pay;
        self
    }

    /// The key the sandbox signs as Alipay with (generated if not set).
    #[must_use]
    pub fn alipay_key(mut self, key: PrivateKey) -> Self {
        self.alipay_key = Some(key);
        self
    }

    /// Token, code and window lifetimes.
    #[must_use]
    pub fn lifetimes(mut self, lifetimes: Lifetimes) -> Self {
        self.lifetimes = lifetimes;
        self
    }

    /// Scales Alipay's notification retry schedule (0.001 runs the whole day-long schedule in about
    /// 90 seconds; 0 retries at once).
    #[must_use]
    pub fn notify_schedule_factor(mut self, factor: f64) -> Self {
        self.schedule_factor = factor.max(0.0);
        self
    }

    /// How long a merchant has to answer one notification attempt (default 10 s).
    #[must_use]
    pub fn notify_timeout(mut self, timeout: Duration) -> Self {
        self.notify_timeout = timeout;
        self
    }

    /// A user to create at start.
    #[must_use]
    pub fn user(mut self, spec: UserSpec) -> Self {
        self.users.push(spec);
        self
    }

    /// One more name the control API and the wallet's pages answer to, as the `Host` header
    /// carries it: `name` (port 80) or `name:port`, e.g. `sandbox:8089` for a container reached
    /// under that name. The bound address and `localhost:PORT` are always allowed; any other
    /// `Host` is refused with 403, which is what stops DNS rebinding (see [Access](crate#access)).
    /// An invalid name makes [`Self::start`] fail.
    #[must_use]
    pub fn allowed_host(mut self, host: impl Into<String>) -> Self {
        self.allowed_hosts.push(host.into());
        self
    }

    /// Requires `Authorization: Bearer <secret>` on every control API request (401 otherwise;
    /// compared in constant time). The wallet's pages and the gateway do not need it. The secret
    /// must be non-empty printable ASCII without spaces, or [`Self::start`] fails. Never shown
    /// by `Debug`.
    #[must_use]
    pub fn control_token(mut self, secret: impl Into<String>) -> Self {
        self.control_token = Some(secret.into());
        self
    }

    /// How long a client has to send a request's headers before its connection is closed
    /// (default [`DEFAULT_HEADER_READ_TIMEOUT`]); an idle keep-alive connection closes after it
    /// too. Zero is taken as one millisecond.
    #[must_use]
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// Starts on an ephemeral port of 127.0.0.1.
    ///
    /// # Errors
    /// When the port cannot be bound, a key cannot be generated, a user is invalid, or the
    /// control token or an allowed host is invalid.
    pub async fn start_local(self) -> Result<SandboxHandle, SandboxError> {
        self.start(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts listening on `addr`. Any address is accepted here; refusing one that is not
    /// loopback is the caller's decision (`autodebit sandbox` asks for `--allow-remote`).
    ///
    /// # Errors
    /// When the address cannot be bound, a key cannot be generated, a user is invalid, or the
    /// control token or an allowed host is invalid.
    pub async fn start(self, addr: SocketAddr) -> Result<SandboxHandle, SandboxError> {
        let token = self
            .control_token
            .as_deref()
            .map(access::ControlToken::new)
            .transpose()
            .map_err(SandboxError)?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| SandboxError(format!("cannot listen on {addr}: {e}")))?;
        let local = listener
            .local_addr()
            .map_err(|e| SandboxError(format!("cannot read the bound address: {e}")))?;
        let access =
            access::Access::new(local, &self.allowed_hosts, token).map_err(SandboxError)?;
        let alipay_key = match self.alipay_key {
            Some(key) => key,
            None => GeneratedKeyPair::generate(Backend::default(), 2048)
                .and_then(|pair| PrivateKey::from_text(&pair.private_pkcs8_pem()))
                .map_err(|e| SandboxError(format!("cannot generate Alipay's key: {e}")))?,
        };
        let alipay_public = PublicKey::from_der_with(
            Backend::default(),
            alipay_key.public_key().spki_der().to_vec(),
        )
        .map_err(|e| SandboxError(e.to_string()))?;
        let mut world = World::new(
            self.lifetimes,
            notify::scaled_intervals(self.schedule_factor),
        );
        for entry in self.merchants {
            world.add_merchant_key(&entry.client_id, entry.version, Arc::new(entry.key));
        }
        for (client_id, settings) in self.settings {
            world.set_merchant(&client_id, settings);
        }
        for (client_id, on) in self.token_created {
            if !world.set_notify_token_created(&client_id, on) {
                return Err(SandboxError(format!(
                    "notify_token_created: no merchant {client_id:?}"
                )));
            }
        }
        world.set_settings(self.sandbox_settings);
        for spec in self.users {
            world.create_user(spec)?;
        }
        // Notifications go to the URL given and nowhere else: no redirect is followed.
        let http = reqwest::Client::builder()
            .user_agent(concat!("ams-sandbox/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| SandboxError(format!("cannot build the notification client: {e}")))?;
        let shared = Arc::new(Shared {
            world: Mutex::new(world),
            clock: Arc::new(SandboxClock::new()),
            alipay: Signer::new(alipay_key, self.alipay_key_version),
            outbox_signal: Notify::new(),
            base_url: format!("http://{local}"),
            http,
            notify_timeout: self.notify_timeout,
            access,
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        tokio::spawn(server::serve(
            listener,
            router(shared.clone()),
            self.header_read_timeout,
            shutdown_rx.clone(),
        ));
        tokio::spawn(notify::run(shared.clone(), shutdown_rx));
        tracing::info!(base_url = %shared.base_url, "ams-sandbox listening");
        Ok(SandboxHandle {
            shared,
            alipay_public,
            addr: local,
            shutdown,
        })
    }
}

/// The routes: the AMS gateway, the wallet's pages (consent, payment), and the control API, each
/// wallet page and control route behind its guard (`access.rs`).
fn router(shared: Arc<Shared>) -> Router {
    let wallet = Router::new()
        .route(
            "/sandbox/wallet/consent/{id}",
            get(consent::show).post(consent::decide),
        )
        .route(
            "/sandbox/wallet/payments/{payment_id}",
            get(payment_page::show).post(payment_page::decide),
        )
        .route_layer(from_fn_with_state(shared.clone(), access::wallet_pages));
    let control = Router::new()
        .route("/sandbox", get(control::index))
        .route(
            "/sandbox/users",
            get(control::list_users).post(control::create_user),
        )
        .route(
            "/sandbox/users/{login}",
            get(control::get_user).patch(control::update_user),
        )
        .route("/sandbox/users/{login}/unbind", post(control::unbind))
        .route(
            "/sandbox/merchants/{client_id}",
            get(control::get_merchant).put(control::put_merchant),
        )
        .route(
            "/sandbox/clock",
            get(control::get_clock).post(control::post_clock),
        )
        .route(
            "/sandbox/faults",
            get(control::list_faults)
                .post(control::add_fault)
                .delete(control::clear_faults),
        )
        .route(
            "/sandbox/notification-faults",
            post(control::add_notification_fault),
        )
        .route(
            "/sandbox/settings",
            get(control::get_settings).put(control::put_settings),
        )
        .route("/sandbox/held", get(control::list_held))
        .route("/sandbox/held/release", post(control::release_held))
        .route("/sandbox/ledger", get(control::ledger))
        .route("/sandbox/notifications", get(control::notifications))
        .route("/sandbox/isv/authorize", post(control::authorize_isv))
        .route(
            "/sandbox/payments/{payment_request_id}/complete",
            post(control::complete_payment),
        )
        .route_layer(from_fn_with_state(shared.clone(), access::control));
    Router::new()
        .route("/ams/{*path}", axum::routing::any(gateway::handle))
        .merge(wallet)
        .merge(control)
        .with_state(shared)
}

/// A running sandbox. Dropping it stops the server and the notifier.
pub struct SandboxHandle {
    shared: Arc<Shared>,
    alipay_public: PublicKey,
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
}

impl std::fmt::Debug for SandboxHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxHandle")
            .field("base_url", &self.shared.base_url)
            .field("alipay_public_key", &self.alipay_public.fingerprint())
            .finish_non_exhaustive()
    }
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

impl SandboxHandle {
    /// The base URL, e.g. `http://127.0.0.1:41234`: the gateway URL for a client.
    pub fn base_url(&self) -> &str {
        &self.shared.base_url
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Alipay's public key: what a client verifies answers and notifications with.
    pub fn alipay_public_key(&self) -> &PublicKey {
        &self.alipay_public
    }

    /// The clock.
    pub fn clock(&self) -> &SandboxClock {
        &self.shared.clock
    }

    /// Moves the clock, as `POST /sandbox/clock` does. What became due happens (expiries, pending
    /// payments succeeding, refunds in process ending, customs' receipts, registration reviews)
    /// and held requests that became due are released (they take effect at the new time) before
    /// it returns.
    ///
    /// # Errors
    /// When `set` is not an AMS datetime.
    pub fn update_clock(&self, update: &ClockUpdate) -> Result<ClockView, SandboxError> {
        Ok(control::apply_clock(&self.shared, update)?)
    }

    /// Advances the clock by `ms` milliseconds. What became due happens and held requests that
    /// became due are released (they take effect at the new time) before it returns, as with
    /// [`Self::update_clock`].
    pub fn advance_clock_ms(&self, ms: i64) {
        self.shared.clock.advance_ms(ms);
        control::release_due(&self.shared);
    }

    /// Creates a user.
    ///
    /// # Errors
    /// When the login exists or the spec is invalid.
    pub fn create_user(&self, spec: UserSpec) -> Result<UserView, SandboxError> {
        Ok(self.shared.lock().create_user(spec)?)
    }

    /// Changes a user.
    ///
    /// # Errors
    /// When there is no such user.
    pub fn update_user(&self, login: &str, update: UserUpdate) -> Result<UserView, SandboxError> {
        Ok(self.shared.lock().update_user(login, update)?)
    }

    /// A user as they stand now.
    pub fn user(&self, login: &str) -> Option<UserView> {
        self.shared.lock().user_view(login)
    }

    /// A merchant's settings and switches, as `GET /sandbox/merchants/{client_id}` shows them.
    pub fn merchant(&self, client_id: &str) -> Option<MerchantView> {
        self.shared.lock().merchant_view(client_id)
    }

    /// Turns `notifyAuthorization` `TOKEN_CREATED` on or off for a merchant (default off).
    ///
    /// # Errors
    /// When the client id is not registered.
    pub fn set_notify_token_created(&self, client_id: &str, on: bool) -> Result<(), SandboxError> {
        if self.shared.lock().set_notify_token_created(client_id, on) {
            Ok(())
        } else {
            Err(SandboxError(format!("no merchant {client_id:?}")))
        }
    }

    /// The sandbox-wide settings, as `GET /sandbox/settings` shows them.
    pub fn settings(&self) -> SandboxSettings {
        self.shared.lock().settings()
    }

    /// Replaces the sandbox-wide settings, as `PUT /sandbox/settings` does.
    pub fn set_settings(&self, settings: SandboxSettings) {
        self.shared.lock().set_settings(settings);
    }

    /// What a cancel that overtook its pay does to that pay, from now on.
    pub fn set_overtaken_pay(&self, overtaken_pay: OvertakenPay) {
        let mut world = self.shared.lock();
        let mut settings = world.settings();
        settings.overtaken_pay = overtaken_pay;
        world.set_settings(settings);
    }

    /// The requests held in transit by hold faults, in the order they will be released.
    pub fn held(&self) -> Vec<HeldRequest> {
        self.shared.lock().held()
    }

    /// Releases every held request now, due or not, in due order: each takes effect as a fresh
    /// arrival at the current sandbox time. Returns what was released.
    pub fn release_held(&self) -> Vec<HeldRequest> {
        control::release_all(&self.shared)
    }

    /// Sets a merchant's dashboard settings and the sandbox's per-merchant switches (name, notification
    /// URLs, wallets, customs and registration behaviour): all of them, as [`MerchantSettings`] holds them.
    ///
    /// # Errors
    /// When the client id is not registered.
    pub fn set_merchant_settings(
        &self,
        client_id: &str,
        settings: MerchantSettings,
    ) -> Result<(), SandboxError> {
        let mut world = self.shared.lock();
        if world.merchant_keys(client_id).is_none() {
            return Err(SandboxError(format!("no merchant {client_id:?}")));
        }
        world.set_merchant(client_id, settings);
        Ok(())
    }

    /// The user unbinds the merchant (or every merchant) in the wallet; `TOKEN_CANCELED` follows.
    /// Returns how many tokens stopped working.
    ///
    /// # Errors
    /// When there is no such user.
    pub fn unbind(&self, login: &str, client_id: Option<&str>) -> Result<usize, SandboxError> {
        let now = self.shared.clock.now_ms();
        let count = self.shared.lock().unbind(login, client_id, now)?;
        self.shared.outbox_signal.notify_one();
        Ok(count)
    }

    /// Merchant `auth_client_id` authorises ISV `isv_client_id` (a sandbox merchant): a new agent
    /// token (48 letters and digits), superseding this merchant's earlier one for that ISV, sent
    /// to `notify_url` in the ISV authorization notification, signed and retried as every
    /// notification. Returns the token.
    ///
    /// # Errors
    /// When the ISV is not a sandbox merchant, or `auth_client_id` or `notify_url` is malformed.
    pub fn authorize_isv(
        &self,
        isv_client_id: &str,
        auth_client_id: &str,
        notify_url: &str,
    ) -> Result<String, SandboxError> {
        let now = self.shared.clock.now_ms();
        let token =
            self.shared
                .lock()
                .authorize_isv(isv_client_id, auth_client_id, notify_url, now)?;
        self.shared.outbox_signal.notify_one();
        Ok(token)
    }

    /// Adds a gateway fault rule.
    pub fn add_fault(&self, rule: FaultRule) {
        self.shared.lock().add_fault(rule);
    }

    /// Adds a notification fault rule.
    pub fn add_notification_fault(&self, rule: NotificationFaultRule) {
        self.shared.lock().add_notification_fault(rule);
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.shared.lock().clear_faults();
    }

    /// Ends a payment held in `PROCESSING`.
    ///
    /// # Errors
    /// When there is no such payment or it is not processing.
    pub fn complete_payment(
        &self,
        payment_request_id: &str,
        outcome: Completion,
    ) -> Result<(), SandboxError> {
        let now = self.shared.clock.now_ms();
        let result = self
            .shared
            .lock()
            .complete_payment(None, payment_request_id, outcome, now);
        self.shared.outbox_signal.notify_one();
        Ok(result?)
    }

    /// The ledger, optionally for one `paymentRequestId` and/or one user.
    pub fn ledger(&self, payment_request_id: Option<&str>, user: Option<&str>) -> LedgerView {
        self.shared.lock().ledger(payment_request_id, user)
    }

    /// Every notification with its delivery attempts.
    pub fn notifications(&self) -> Vec<NotificationRecord> {
        self.shared.lock().notifications()
    }

    /// Waits (in real time, up to `timeout`) until `done` holds for the notification log.
    /// Returns the log as it stood when `done` first held, or as it stands at the timeout.
    pub async fn wait_for_notifications(
        &self,
        timeout: Duration,
        done: impl Fn(&[NotificationRecord]) -> bool,
    ) -> Vec<NotificationRecord> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let log = self.notifications();
            if done(&log) || tokio::time::Instant::now() >= deadline {
                return log;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Stops the server and the notifier.
    pub fn shutdown(self) {
        drop(self);
    }
}
