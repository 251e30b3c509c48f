//! The sandbox's own JSON: users, fault rules, the ledger and the notification log, as the control
//! API (`/sandbox/...`) and the in-process handle speak them. These are not AMS wire types.

use ams_protocol::{Amount, Api, CustomerBelongsTo};
use serde::{Deserialize, Serialize};

/// The state of a wallet account.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    /// Can pay.
    #[default]
    Normal,
    /// Pays fail with `USER_STATUS_ABNORMAL`.
    Abnormal,
    /// The account is gone: pays fail with `USER_NOT_EXIST`.
    Closed,
}

/// How a `pay` on this user's token completes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMode {
    /// The debit happens at once: `S` (or a final `F`).
    #[default]
    Instant,
    /// `pay` answers `U`/`PAYMENT_IN_PROCESS` and the payment stays `PROCESSING` until completed
    /// through the control API, or fails when its expiry time passes.
    Processing,
    /// The user completed the payment but the result is not final yet (digest §3.4, §3.5, §4.2):
    /// `pay` answers `U`/`PAYMENT_IN_PROCESS`, the money is taken at once (the ledger shows the
    /// debit while the status says pending), `inquiryPayment` answers `paymentStatus` `PENDING`
    /// and a `notifyPayment` `PAYMENT_PENDING` is sent. After
    /// [`SandboxSettings::payment_pending_delay_ms`] of sandbox time the payment is `SUCCESS`
    /// (no second debit) and `PAYMENT_RESULT` follows. It does not expire; a `cancel` meanwhile
    /// gives the money back.
    Pending,
    /// Like [`PaymentMode::Processing`] (`pay` answers `U`/`PAYMENT_IN_PROCESS`, nothing is
    /// debited until the user confirms, the payment fails with `ORDER_IS_CLOSED` when its expiry
    /// passes), but the wallet needs the user (digest §3.4): the `pay` answer, and every identical
    /// retry while the payment waits, carries the URLs where the user confirms: `normalUrl`, the
    /// sandbox wallet's payment page `/sandbox/wallet/payments/{paymentId}`, and for an `APP`,
    /// `WAP` or `MINI_APP` terminal also `schemeUrl`, `applinkUrl` and `appIdentifier`. On that
    /// page the user pays (the usual balance and limit checks apply then) or declines
    /// (`PROCESS_FAIL`); the control API can still complete it too. Once the payment is final the
    /// answer carries no URL.
    NeedsUser,
}

/// A wallet user: who they are, what they hold, and how their payments go.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    /// The login id in the wallet (unique in the sandbox).
    pub login_id: String,
    /// The wallet (`customerBelongsTo`).
    pub wallet: CustomerBelongsTo,
    /// Balances, one per currency. A currency without a balance is not supported for this user
    /// (`CURRENCY_NOT_SUPPORT`).
    #[serde(default)]
    pub balances: Vec<Amount>,
    /// Account status.
    #[serde(default)]
    pub status: AccountStatus,
    /// Every pay is refused by risk control (`RISK_REJECT`).
    #[serde(default)]
    pub risk_reject: bool,
    /// The largest single payment allowed (`USER_AMOUNT_EXCEED_LIMIT` above it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_payment_limit: Option<Amount>,
    /// How many successful payments are allowed in all (`PAYMENT_COUNT_EXCEED_LIMIT` after).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_payments: Option<u32>,
    /// How payments complete.
    #[serde(default)]
    pub payment_mode: PaymentMode,
    /// Whether the wallet issues refresh tokens (default true). With `false`, `applyToken` for this
    /// user answers an access token with its expiry and no `refreshToken` /
    /// `refreshTokenExpiryTime` ("if absent, the access token has a quite long validity", digest
    /// §3.2), so the binding can never be refreshed. Read each time a token is issued.
    #[serde(default = "yes")]
    pub issues_refresh_tokens: bool,
}

impl UserSpec {
    /// A normal user of `wallet` with the given balances.
    pub fn new(
        login_id: impl Into<String>,
        wallet: CustomerBelongsTo,
        balances: Vec<Amount>,
    ) -> Self {
        Self {
            login_id: login_id.into(),
            wallet,
            balances,
            status: AccountStatus::Normal,
            risk_reject: false,
            per_payment_limit: None,
            max_payments: None,
            payment_mode: PaymentMode::Instant,
            issues_refresh_tokens: true,
        }
    }

    /// The same user in a wallet that issues no refresh tokens.
    #[must_use]
    pub fn without_refresh_tokens(mut self) -> Self {
        self.issues_refresh_tokens = false;
        self
    }
}

/// A change to a user; absent fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    /// Replaces the balance of each currency named.
    #[serde(default)]
    pub balances: Vec<Amount>,
    /// New status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<AccountStatus>,
    /// New risk flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_reject: Option<bool>,
    /// New per-payment limit (`null` keeps it; to remove it, set a very large amount).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_payment_limit: Option<Amount>,
    /// New count limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_payments: Option<u32>,
    /// New payment mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_mode: Option<PaymentMode>,
    /// Whether the wallet issues refresh tokens from now on (tokens already issued keep theirs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issues_refresh_tokens: Option<bool>,
}

/// A user as the sandbox holds them now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    /// The user's settings and balances.
    #[serde(flatten)]
    pub spec: UserSpec,
    /// Successful payments so far.
    pub payments_made: u32,
}

/// What a fault rule does to a matching API call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultAction {
    /// Answer `U` with this result code (`PAYMENT_IN_PROCESS` or `UNKNOWN_EXCEPTION`).
    Unknown {
        /// The result code.
        code: String,
    },
    /// Answer after this many milliseconds of real time.
    Delay {
        /// The delay.
        ms: u64,
    },
    /// Close the connection without answering.
    Drop,
    /// Answer HTTP 500 with an empty body.
    Http500,
    /// Answer without `signature` header.
    Unsigned,
    /// Answer with a signature made by another key.
    BadSignature,
    /// Hold the request "in transit": it is admitted and verified, then neither processed nor
    /// answered (the connection closes, as with [`FaultAction::Drop`]). It takes effect later,
    /// processed as a fresh arrival at the sandbox time it is released: when the sandbox clock
    /// reaches the time it was held plus `ms`, or when released through the control API. The
    /// rule's `process` flag does not apply: a held request is never processed before its release.
    Hold {
        /// How long it stays in transit, in milliseconds of sandbox time.
        ms: u64,
    },
    /// Answer HTTP 200, signed, with only this `result` (after processing the call or not, as the
    /// rule's `process` flag says).
    Answer {
        /// `resultStatus`: `F` or `U`.
        status: AnswerStatus,
        /// `resultCode`, e.g. `ORDER_STATUS_INVALID` or `REPEAT_REQ_INCONSISTENT`.
        code: String,
    },
}

/// The `resultStatus` a [`FaultAction::Answer`] answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AnswerStatus {
    /// Failed.
    F,
    /// Unknown.
    U,
}

impl AnswerStatus {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            AnswerStatus::F => "F",
            AnswerStatus::U => "U",
        }
    }
}

/// A request held in transit by a [`FaultAction::Hold`] rule. Never shows a token or an auth code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldRequest {
    /// Position among every request held so far, from 1.
    pub seq: u64,
    /// The API, by its docs name.
    #[serde(with = "api_name")]
    pub api: Api,
    /// The merchant's client id.
    pub client_id: String,
    /// The request's id where it is not a secret: `paymentRequestId` or `paymentId` (pay,
    /// inquiryPayment, cancel), `refundRequestId` or `refundId` (refund, inquiryRefund),
    /// `authState` (consult), `declarationRequestId` (declare; inquiryDeclarationRequests: the ids
    /// joined by `,`), `registrationRequestId` (registration; inquiryRegistrationStatus, else its
    /// `referenceMerchantId`, else its `referenceStoreId`), `referenceMerchantId`
    /// (inquiryRegistrationInfo); `None` for applyToken and revoke, whose ids are codes and tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// When it arrived, in Unix milliseconds of the sandbox clock.
    pub held_at_ms: i64,
    /// When it takes effect, in Unix milliseconds of the sandbox clock.
    pub due_ms: i64,
    /// The same, as an AMS datetime.
    pub due: String,
}

/// What happens to a `pay` whose `paymentRequestId` a `cancel` named before the pay arrived (the
/// cancel, answered `ORDER_NOT_EXIST`, overtook a pay still in transit). The digest is silent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OvertakenPay {
    /// The cancel leaves nothing behind; the pay, when it arrives, is processed as any pay and
    /// debits (the harsher case for a merchant, so the default).
    #[default]
    Debits,
    /// The cancel leaves a tombstone for the client id and `paymentRequestId`; the pay, when it
    /// arrives, is recorded as failed with `F` / `ORDER_IS_CLOSED` and moves no money.
    Closed,
}

/// Sandbox-wide behaviour where Alipay's is not documented.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxSettings {
    /// What a cancel that overtook its pay does to that pay (default `debits`). Applies to cancels
    /// answered while it is in force; a tombstone, once left, stays.
    #[serde(default)]
    pub overtaken_pay: OvertakenPay,
    /// Answer the refusals made before a call reaches the world (no API at the path, an unknown
    /// client, a bad or missing signature, a malformed request) unsigned, as Alipay may (digest
    /// §2.7: an `INVALID_SIGNATURE` answer "may be unsigned"). Default `false`: signed, as the
    /// digest advises a simulator; turn it on to meet the harsher case.
    #[serde(default)]
    pub unsigned_refusals: bool,
    /// Send a notification once, never again when it is not acknowledged, as Alipay's own
    /// sandbox does (digest §4). Default `false`: sent again on production's schedule.
    #[serde(default)]
    pub no_resend: bool,
    /// Wallets that send no `TOKEN_CANCELED` when their user unbinds the merchant (digest §4.1: not
    /// every wallet does): the token just stops working, and the merchant learns it from the next
    /// call (`INVALID_ACCESS_TOKEN`). Default: none (every wallet tells).
    #[serde(default)]
    pub silent_unbind_wallets: Vec<ams_protocol::CustomerBelongsTo>,
    /// How long, in milliseconds of sandbox time, customs takes to answer a declaration (default
    /// [`DEFAULT_CUSTOMS_RECEIPT_DELAY_MS`], one minute; Alipay's is UNKNOWN). Until then
    /// `inquiryDeclarationRequests` shows it `PROCESSING` and `declare` answers without the clearing
    /// fields. Applies to declarations (and re-transmissions) made while it is in force.
    #[serde(default = "default_customs_receipt_delay_ms")]
    pub customs_receipt_delay_ms: u64,
    /// How long, in milliseconds of sandbox time, the wallets take to review a secondary-merchant
    /// registration (default [`DEFAULT_REGISTRATION_REVIEW_DELAY_MS`], one minute; Alipay+ says
    /// "normally within 7 days"). Until then the registration is `PENDING`; then it is `COMPLETED`
    /// and `notifyRegistrationStatus` is sent. Applies to registrations accepted while it is in force.
    #[serde(default = "default_registration_review_delay_ms")]
    pub registration_review_delay_ms: u64,
    /// Refunds are not final in the call (digest §3.7 `REFUND_IN_PROCESS`, §3.8 `PROCESSING`,
    /// §4.3 `FAIL`): an accepted `refund` answers `F` / `REFUND_IN_PROCESS` (the digest gives no
    /// status; F is the sandbox's fallback and the harsher reading), `inquiryRefund` answers
    /// `refundStatus` `PROCESSING`, and an identical retry answers the same, until
    /// [`Self::refund_process_delay_ms`] of sandbox time has passed. Then the refund is `SUCCESS`
    /// (the user is credited, once, at that moment) or, when
    /// [`MerchantSettings::refund_failures`] names it, `FAIL` (nothing credited, its amount
    /// refundable again), and `notifyRefund` says so. An in-process refund counts against the
    /// amount left to refund. Applies to refunds accepted while it is on. Default `false`: final
    /// in the call (every test of the product would otherwise have to wait for its refunds).
    #[serde(default)]
    pub refunds_in_process: bool,
    /// How long, in milliseconds of sandbox time, a refund stays in process under
    /// [`Self::refunds_in_process`] (default [`DEFAULT_REFUND_PROCESS_DELAY_MS`], one minute;
    /// Alipay's is UNKNOWN). Applies to refunds accepted while it is in force.
    #[serde(default = "default_refund_process_delay_ms")]
    pub refund_process_delay_ms: u64,
    /// How long, in milliseconds of sandbox time, a payment of a user in
    /// [`PaymentMode::Pending`] stays `PENDING` before it is `SUCCESS` (default
    /// [`DEFAULT_PAYMENT_PENDING_DELAY_MS`], one minute; Alipay's is UNKNOWN). Applies to payments
    /// accepted while it is in force.
    #[serde(default = "default_payment_pending_delay_ms")]
    pub payment_pending_delay_ms: u64,
    /// `applyToken` checks the wallet account it would issue a token for (digest §3.2: Alipay
    /// added `USER_NOT_EXIST` and `USER_STATUS_ABNORMAL` to applyToken in January 2022): a closed
    /// account is `USER_NOT_EXIST`, an abnormal one `USER_STATUS_ABNORMAL`, both `F`, for either
    /// grant type, and nothing is issued (an auth code stays unused). Default `true`; `false`
    /// issues tokens to any account and leaves the failure to `pay`.
    #[serde(default = "yes")]
    pub apply_token_checks_user: bool,
}

/// [`SandboxSettings::customs_receipt_delay_ms`] by default: one minute.
pub const DEFAULT_CUSTOMS_RECEIPT_DELAY_MS: u64 = 60_000;

/// [`SandboxSettings::registration_review_delay_ms`] by default: one minute.
pub const DEFAULT_REGISTRATION_REVIEW_DELAY_MS: u64 = 60_000;

/// [`SandboxSettings::refund_process_delay_ms`] by default: one minute.
pub const DEFAULT_REFUND_PROCESS_DELAY_MS: u64 = 60_000;

/// [`SandboxSettings::payment_pending_delay_ms`] by default: one minute.
pub const DEFAULT_PAYMENT_PENDING_DELAY_MS: u64 = 60_000;

fn default_refund_process_delay_ms() -> u64 {
    DEFAULT_REFUND_PROCESS_DELAY_MS
}

fn default_payment_pending_delay_ms() -> u64 {
    DEFAULT_PAYMENT_PENDING_DELAY_MS
}

fn default_customs_receipt_delay_ms() -> u64 {
    DEFAULT_CUSTOMS_RECEIPT_DELAY_MS
}

fn default_registration_review_delay_ms() -> u64 {
    DEFAULT_REGISTRATION_REVIEW_DELAY_MS
}

impl Default for SandboxSettings {
    fn default() -> Self {
        Self {
            overtaken_pay: OvertakenPay::default(),
            unsigned_refusals: false,
            no_resend: false,
            silent_unbind_wallets: Vec::new(),
            customs_receipt_delay_ms: DEFAULT_CUSTOMS_RECEIPT_DELAY_MS,
            registration_review_delay_ms: DEFAULT_REGISTRATION_REVIEW_DELAY_MS,
            refunds_in_process: false,
            refund_process_delay_ms: DEFAULT_REFUND_PROCESS_DELAY_MS,
            payment_pending_delay_ms: DEFAULT_PAYMENT_PENDING_DELAY_MS,
            apply_token_checks_user: true,
        }
    }
}

/// A fault rule for the gateway: matched by API and, optionally, the call's request id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// The API, by its docs name (`pay`, `inquiryPayment`, ...).
    #[serde(with = "api_name")]
    pub api: Api,
    /// Only calls with this request id: `paymentRequestId` (pay, inquiryPayment, cancel),
    /// `refundRequestId` (refund, inquiryRefund), `authState` (consult), the auth code or refresh
    /// token (applyToken), the access token (revoke), `declarationRequestId` (declare;
    /// inquiryDeclarationRequests: its ids joined by `,`), `registrationRequestId` (registration;
    /// inquiryRegistrationStatus, else its `referenceMerchantId`), `referenceMerchantId`
    /// (inquiryRegistrationInfo). As [`HeldRequest::request_id`] shows them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Let this many matching calls through before the rule fires.
    #[serde(default)]
    pub skip: u32,
    /// How many times it fires (default 1); `null` for every matching call.
    #[serde(default = "one", skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
    /// Whether the call still takes effect (commits) before the fault (default true). With
    /// `false` the request changes nothing. Not for [`FaultAction::Hold`], which never processes
    /// the call before its release.
    #[serde(default = "yes")]
    pub process: bool,
    /// What happens.
    pub action: FaultAction,
}

fn one() -> Option<u32> {
    Some(1)
}

fn yes() -> bool {
    true
}

impl FaultRule {
    /// A rule that fires once on the next call of `api`, after processing it.
    pub fn new(api: Api, action: FaultAction) -> Self {
        Self {
            api,
            request_id: None,
            skip: 0,
            times: Some(1),
            process: true,
            action,
        }
    }

    /// Only calls with this request id.
    #[must_use]
    pub fn for_request(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }

    /// Let `n` matching calls through first.
    #[must_use]
    pub fn skip(mut self, n: u32) -> Self {
        self.skip = n;
        self
    }

    /// Fire `n` times (`None`: always).
    #[must_use]
    pub fn times(mut self, n: Option<u32>) -> Self {
        self.times = n;
        self
    }

    /// Whether the call takes effect before the fault.
    #[must_use]
    pub fn process(mut self, process: bool) -> Self {
        self.process = process;
        self
    }
}

/// Which notifications a notification fault matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// notifyPayment.
    Payment,
    /// notifyRefund.
    Refund,
    /// notifyAuthorization.
    Authorization,
    /// notifyRegistrationStatus (a secondary-merchant registration was reviewed).
    Registration,
    /// The ISV authorization notification (a merchant authorised an ISV: its agent token).
    IsvAuthorization,
}

/// What a notification fault does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum NotificationFaultAction {
    /// Never send it.
    Skip,
    /// Send it twice on its first attempt.
    Duplicate,
    /// Hold its first attempt this many milliseconds of sandbox time.
    Delay {
        /// The delay.
        ms: u64,
    },
    /// Hold it until the next notification to the same merchant has been sent, then send it.
    Reorder,
}

/// A fault rule for outgoing notifications.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationFaultRule {
    /// Only this kind (default: any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification: Option<NotificationKind>,
    /// Only notifications about this request id (`paymentRequestId`, `refundRequestId`,
    /// `registrationRequestId`, the `authClientId` of an ISV authorization, or for an authorization notification the `authState`
    /// (`AUTHCODE_CREATED`, `TOKEN_CREATED`) or the access token (`TOKEN_CANCELED`)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// How many times it fires (default 1); `null` for every match.
    #[serde(default = "one", skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
    /// What happens.
    pub action: NotificationFaultAction,
}

impl NotificationFaultRule {
    /// A rule that fires once on the next notification of `kind`.
    pub fn new(kind: Option<NotificationKind>, action: NotificationFaultAction) -> Self {
        Self {
            notification: kind,
            request_id: None,
            times: Some(1),
            action,
        }
    }

    /// Only notifications about this request id.
    #[must_use]
    pub fn for_request(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }

    /// Fire `n` times (`None`: always).
    #[must_use]
    pub fn times(mut self, n: Option<u32>) -> Self {
        self.times = n;
        self
    }
}

/// Money moving in or out of a wallet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// The user paid.
    Debit,
    /// The user got money back (cancel or refund).
    Credit,
}

/// Why money moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryReason {
    /// A successful pay.
    Payment,
    /// A cancel of a paid payment.
    Cancel,
    /// A refund.
    Refund,
}

/// One line of the ledger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Position in the ledger, from 1.
    pub seq: u64,
    /// When, in Unix milliseconds of the sandbox clock.
    pub at_ms: i64,
    /// The user's login id.
    pub user: String,
    /// Debit or credit.
    pub kind: EntryKind,
    /// Why.
    pub reason: EntryReason,
    /// How much.
    pub amount: Amount,
    /// The merchant.
    pub client_id: String,
    /// The payment's `paymentRequestId`.
    pub payment_request_id: String,
    /// The payment's `paymentId`.
    pub payment_id: String,
    /// The refund's `refundRequestId`, for refunds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_request_id: Option<String>,
}

/// A selection of the ledger, with counts that answer "how many times was the user debited".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerView {
    /// The entries, in order.
    pub entries: Vec<LedgerEntry>,
    /// How many debits.
    pub debits: u32,
    /// How many credits.
    pub credits: u32,
}

/// One delivery attempt of a notification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryAttempt {
    /// When, in Unix milliseconds of the sandbox clock.
    pub at_ms: i64,
    /// The merchant's HTTP status, when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// Why the attempt failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Whether the exact acknowledgement came back.
    pub acknowledged: bool,
}

/// Where a notification stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its next attempt.
    Pending,
    /// Held by a reorder fault until the next notification is sent.
    Held,
    /// Acknowledged.
    Delivered,
    /// Dropped by a skip fault.
    Skipped,
    /// Every attempt of the schedule failed.
    GaveUp,
}

/// A notification and its delivery history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationRecord {
    /// Position in the log, from 1.
    pub seq: u64,
    /// The kind.
    pub notification: NotificationKind,
    /// The merchant's client id.
    pub client_id: String,
    /// Where it goes.
    pub url: String,
    /// The request id it is about.
    pub request_id: String,
    /// The exact body.
    pub body: String,
    /// Where it stands.
    pub state: DeliveryState,
    /// Every attempt so far.
    pub attempts: Vec<DeliveryAttempt>,
    /// The next attempt, in Unix milliseconds of the sandbox clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_ms: Option<i64>,
}

/// The clock, as the control API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockView {
    /// Now, in Unix milliseconds.
    pub unix_ms: i64,
    /// Now, as an AMS datetime.
    pub now: String,
    /// Whether it is frozen.
    pub frozen: bool,
}

/// A change to the clock. Fields apply in order: `set`, `advance_ms`, `frozen`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockUpdate {
    /// Set the clock to this AMS datetime (e.g. `2024-01-01T23:59:00+08:00`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<String>,
    /// Move it by this many milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advance_ms: Option<i64>,
    /// Freeze or thaw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frozen: Option<bool>,
}

/// How a payment held in `PROCESSING` ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Completion {
    /// The user confirmed: debit and succeed.
    Success,
    /// The user declined: fail.
    Fail,
}

/// Settings of a merchant (client id).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MerchantSettings {
    /// The name shown on the consent page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Dashboard setting: where notifyPayment goes when the request names no URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_notify_url: Option<String>,
    /// Dashboard setting: where notifyRefund goes when the request names no URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_notify_url: Option<String>,
    /// Dashboard setting: where notifyAuthorization goes when consult names no URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_notify_url: Option<String>,
    /// The wallets of the merchant's contract; `consult` for another is `NO_PAY_OPTIONS` (F,
    /// digest §3.1). Empty: every wallet the sandbox knows. A secondary-merchant registration is
    /// reviewed by each of these wallets (empty: by [`DEFAULT_REGISTRATION_WALLETS`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wallets: Vec<ams_protocol::CustomerBelongsTo>,
    /// Whether the merchant is registered for customs declaration (`None`, the default, and
    /// `Some(true)`: registered). `Some(false)`: every `declare` answers `MERCHANT_NOT_REGISTERED`
    /// (F) and changes nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customs_registered: Option<bool>,
    /// Customs finds that the buyer is not the payer: a `declare` with a `buyerCertificate` answers
    /// `identityCheckResult` `CHECK_NOT_PASSED` (default false: `CHECK_PASSED`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub customs_identity_check_fails: bool,
    /// Declarations customs rejects: when the receipt of a declaration named here comes back, its
    /// `declarationRequestStatus` is `FAIL` with this code and description. Read when the receipt
    /// comes back (so it may be set before or after the `declare`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub customs_rejections: Vec<CustomsRejection>,
    /// Secondary merchants the wallets refuse: when the review of a registration of a
    /// `referenceMerchantId` named here ends, the wallet named (or every wallet) answers `REJECTED`
    /// with this reason. Read when the review ends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub registration_rejections: Vec<RegistrationRejection>,
    /// The harsher reading of "the secondary merchant … must be registered with Antom" (digest
    /// §9.1): a `consult` whose `authClientId`, or a `pay` whose `order.merchant.referenceMerchantId`,
    /// names a secondary merchant with no registration that a wallet `APPROVED` at this client id
    /// answers `MERCHANT_NOT_REGISTERED` (F) and changes nothing. Default false: not checked.
    #[serde(default, skip_serializing_if = "is_false")]
    pub require_registered_secondary_merchants: bool,
    /// The ISV's harsher case (digest §9.9): every call of this client id must carry an
    /// `agent-token` the sandbox issued to it ([`SandboxHandle::authorize_isv`](crate::SandboxHandle::authorize_isv))
    /// and that no newer authorisation by the same merchant superseded; otherwise `ACCESS_DENIED`
    /// (F) and nothing changes (the real code is UNKNOWN). Default false: not checked.
    #[serde(default, skip_serializing_if = "is_false")]
    pub require_agent_token: bool,
    /// Refunds that end `FAIL` under [`SandboxSettings::refunds_in_process`], by
    /// `refundRequestId`: when a refund named here leaves `PROCESSING` it fails (nothing is
    /// credited, `notifyRefund` says `FAIL`). Read when the refund ends (so it may be set after
    /// the `refund`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refund_failures: Vec<String>,
}

/// The wallets that review a registration when the merchant's contract names none
/// ([`MerchantSettings::wallets`] empty): kept small.
pub const DEFAULT_REGISTRATION_WALLETS: [ams_protocol::CustomerBelongsTo; 2] = [
    ams_protocol::CustomerBelongsTo::AlipayCn,
    ams_protocol::CustomerBelongsTo::AlipayHk,
];

/// Customs rejects a declaration ([`MerchantSettings::customs_rejections`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomsRejection {
    /// The declaration's `declarationRequestId`.
    pub declaration_request_id: String,
    /// `customsDeclarationResultCode` customs answers (the success code is `2`).
    pub code: String,
    /// `customsDeclarationResultDesc` customs answers.
    pub desc: String,
}

impl CustomsRejection {
    /// Customs rejects `declaration_request_id` with `code` and `desc`.
    pub fn new(
        declaration_request_id: impl Into<String>,
        code: impl Into<String>,
        desc: impl Into<String>,
    ) -> Self {
        Self {
            declaration_request_id: declaration_request_id.into(),
            code: code.into(),
            desc: desc.into(),
        }
    }
}

/// A wallet refuses a secondary merchant ([`MerchantSettings::registration_rejections`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationRejection {
    /// The secondary merchant's `referenceMerchantId`.
    pub reference_merchant_id: String,
    /// Only this wallet refuses (`None`: every wallet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wallet: Option<ams_protocol::CustomerBelongsTo>,
    /// The `rejectReasons` text.
    pub reason: String,
}

impl RegistrationRejection {
    /// Every wallet refuses `reference_merchant_id` for `reason`.
    pub fn new(reference_merchant_id: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            reference_merchant_id: reference_merchant_id.into(),
            wallet: None,
            reason: reason.into(),
        }
    }

    /// Only `wallet` refuses.
    #[must_use]
    pub fn by_wallet(mut self, wallet: ams_protocol::CustomerBelongsTo) -> Self {
        self.wallet = Some(wallet);
        self
    }
}

/// A merchant as the control API shows it: the dashboard settings and the sandbox's own switches.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerchantView {
    /// The dashboard settings.
    #[serde(flatten)]
    pub settings: MerchantSettings,
    /// Whether a successful `applyToken` with `AUTHORIZATION_CODE` is followed by
    /// `notifyAuthorization` `TOKEN_CREATED` (default false; shown only when true).
    #[serde(default, skip_serializing_if = "is_false")]
    pub notify_token_created: bool,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// Serde for [`Api`] by its docs name.
mod api_name {
    use ams_protocol::Api;
    use serde::{Deserialize as _, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(api: &Api, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(api.name())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Api, D::Error> {
        let name = String::deserialize(d)?;
        Api::ALL
            .into_iter()
            .find(|api| api.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Api::ALL.iter().map(|a| a.name()).collect();
                serde::de::Error::custom(format!("unknown api {name:?}; expected one of {names:?}"))
            })
    }
}
