//! The sandbox's state and the Alipay-side rules, behind one lock.
//!
//! Every API call runs start to finish under the lock with one reading of the clock, so a call is
//! atomic: it either takes effect whole or not at all, and a payment can be debited at most once
//! whatever the interleaving of retries, inquiries, cancels and faults.
//!
//! The rules are split by section, one `impl World` per file: `accounts` (merchants and users),
//! `faults`, `notifications` (the outbox), `ledger`, `authorization`, `payments` (pay, inquiry,
//! cancel, refund), `customs` (declare and its inquiry, customs' receipts), `registration`
//! (secondary merchants: registration, its review and inquiries) and `held` (requests in transit,
//! released as fresh arrivals).
//!
//! What happens later by itself (a processing payment expiring, customs answering a declaration,
//! the wallets ending a registration's review) happens in [`World::sweep`], which every call runs
//! first and the notifier runs whenever the clock reaches the next such time.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use ams_protocol::{
    Amount, AmsDateTime, AmsResult, CustomerBelongsTo, ResultCode, ResultStatus, Scope,
};
use ams_signing::PublicKey;

use crate::model::{
    FaultRule, LedgerEntry, MerchantSettings, NotificationFaultRule, NotificationRecord,
    SandboxSettings, UserSpec,
};

mod accounts;
mod agent;
mod authorization;
mod customs;
mod faults;
mod held;
mod ledger;
mod notifications;
mod payments;
mod registration;

pub(crate) use customs::Declaration;
pub(crate) use registration::Registration;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;

/// Lifetimes and windows, all in milliseconds of the sandbox clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lifetimes {
    /// How long an access token can debit (default 30 days).
    pub access_token_ms: i64,
    /// How long a refresh token can refresh (default 180 days).
    pub refresh_token_ms: i64,
    /// How long an auth code can be exchanged (default 10 minutes).
    pub auth_code_ms: i64,
    /// How long a consult's consent link stays open (default 30 minutes).
    pub consent_ms: i64,
    /// How long after a payment a refund is accepted (default 365 days).
    pub refund_window_ms: i64,
    /// A payment's default expiry when the request sets none (1 minute, as Alipay's).
    pub payment_expiry_ms: i64,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Self {
            access_token_ms: 30 * DAY_MS,
            refresh_token_ms: 180 * DAY_MS,
            auth_code_ms: 10 * MINUTE_MS,
            consent_ms: 30 * MINUTE_MS,
            refund_window_ms: 365 * DAY_MS,
            payment_expiry_ms: MINUTE_MS,
        }
    }
}

/// A notification the world wants sent; the notifier signs and delivers it.
#[derive(Debug)]
pub(crate) struct Delivery {
    pub(crate) record: NotificationRecord,
    /// How many scheduled attempts have been made.
    pub(crate) attempts_made: usize,
    pub(crate) in_flight: bool,
    pub(crate) duplicate_first: bool,
    /// Released from a reorder hold by this notification (its `seq`): due at the same time, and
    /// sent right after it.
    pub(crate) release_after: Option<u64>,
}

struct Merchant {
    settings: MerchantSettings,
    keys: BTreeMap<u32, Arc<PublicKey>>,
    /// Send `TOKEN_CREATED` after a successful code exchange.
    notify_token_created: bool,
}

struct User {
    spec: UserSpec,
    payments_made: u32,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ConsentState {
    Pending,
    Decided,
}

struct Consent {
    client_id: String,
    wallet: CustomerBelongsTo,
    redirect_url: String,
    auth_state: String,
    scopes: Vec<Scope>,
    notify_url: Option<String>,
    expires_ms: i64,
    state: ConsentState,
}

struct AuthCodeRecord {
    client_id: String,
    wallet: CustomerBelongsTo,
    user: String,
    expires_ms: i64,
    used: bool,
    /// The consult's authNotifyUrl, for the binding's later notifications.
    notify_url: Option<String>,
    /// The consult's authState, for `TOKEN_CREATED`.
    auth_state: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum TokenState {
    Active,
    /// Replaced by a refresh.
    Rotated,
    /// Revoked by the merchant.
    Revoked,
    /// Unbound by the user in the wallet.
    Unbound,
}

struct Token {
    access_token: String,
    /// The refresh token and its expiry; `None` from a wallet that issues none.
    refresh: Option<(String, i64)>,
    client_id: String,
    wallet: CustomerBelongsTo,
    user: String,
    access_expires_ms: i64,
    state: TokenState,
    /// Where the binding's notifications go (TOKEN_CANCELED), from the consult that made it.
    notify_url: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum PayState {
    Processing,
    /// Accepted and debited, not final yet ([`crate::PaymentMode::Pending`]).
    Pending,
    Success,
    Fail,
    Cancelled,
}

struct Payment {
    client_id: String,
    payment_request_id: String,
    payment_id: String,
    user: Option<String>,
    amount: Amount,
    payment_method_id: String,
    state: PayState,
    result_code: ResultCode,
    created_ms: i64,
    paid_ms: Option<i64>,
    expires_ms: i64,
    cancel_ms: Option<i64>,
    /// When a `Pending` payment becomes `Success` (sandbox time).
    pending_until: Option<i64>,
    /// Whether the user's money moved (so a cancel must give it back).
    debited: bool,
    notify_url: Option<String>,
    /// What the refunds not failed add up to (those in process included): the cap's measure.
    refunded: u64,
    /// The refunds accepted (in process, succeeded, or failed after being in process).
    refunds: Vec<usize>,
    /// Where the user confirms, for a payment accepted in [`crate::PaymentMode::NeedsUser`]:
    /// carried by its `pay` answers while it is processing, and the only payments the wallet's
    /// payment page serves. `None` for every other payment.
    wallet_links: Option<WalletLinks>,
    /// The request's `paymentRedirectUrl`: where the payment page sends the user's browser.
    redirect_url: Option<String>,
}

/// The URLs a [`crate::PaymentMode::NeedsUser`] payment's `pay` answer carries while it waits.
#[derive(Clone)]
struct WalletLinks {
    /// The wallet the payment is made in (`paymentMethodType`), for the page's heading.
    wallet: CustomerBelongsTo,
    normal_url: String,
    /// `schemeUrl`, `applinkUrl`, `appIdentifier`: for an `APP`, `WAP` or `MINI_APP` terminal.
    app: Option<(String, String, String)>,
}

struct Refund {
    client_id: String,
    refund_request_id: String,
    refund_id: String,
    payment: usize,
    amount: Amount,
    /// When it was answered or, once it left `PROCESSING`, when it ended (`refundTime`).
    time_ms: i64,
    /// Why it was refused or failed; `None` for a refund that succeeded or is in process. A
    /// refused refund is kept so the same `refundRequestId` gets the same final answer (§5.9).
    failure: Option<(ResultCode, &'static str)>,
    /// While in process ([`crate::SandboxSettings::refunds_in_process`]): when it ends.
    in_process_until: Option<i64>,
    /// The request's `refundNotifyUrl` (the dashboard's is read when the notification is sent).
    notify_url: Option<String>,
}

struct FaultSlot {
    rule: FaultRule,
    seen: u32,
    fired: u32,
}

struct NotificationFaultSlot {
    rule: NotificationFaultRule,
    fired: u32,
}

/// Why a consent page cannot be shown or decided.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ConsentError {
    NotFound,
    Used,
    Expired,
    UnknownUser(String),
    WrongWallet(String),
}

/// Why the wallet's payment page cannot be shown or decided.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PaymentPageError {
    /// No payment has this `paymentId`, or it never waited for the user in the wallet (instant,
    /// pending, processing, or refused when it arrived): no page was ever handed out for it.
    NotFound,
    /// It is final: paid (`true`: through this page or otherwise) or failed.
    Completed { paid: bool },
    /// Its expiry passed before the user decided (`ORDER_IS_CLOSED`).
    Expired,
    /// The merchant cancelled it.
    Cancelled,
}

/// What the payment page shows.
pub(crate) struct PaymentPage {
    pub(crate) merchant: String,
    pub(crate) wallet: CustomerBelongsTo,
    pub(crate) amount: Amount,
}

/// How the user's decision on the payment page ended the payment.
pub(crate) struct PaymentDecision {
    /// Paid (`None`), or failed with this code (declined: `PROCESS_FAIL`; a refused check: its code).
    pub(crate) failure: Option<ResultCode>,
    /// The request's `paymentRedirectUrl`, if it had one.
    pub(crate) redirect_url: Option<String>,
}

/// What the consent page shows.
pub(crate) struct ConsentPage {
    pub(crate) merchant: String,
    pub(crate) wallet: CustomerBelongsTo,
    pub(crate) scopes: Vec<Scope>,
    pub(crate) users: Vec<String>,
}

/// Everything the sandbox knows.
pub(crate) struct World {
    pub(crate) lifetimes: Lifetimes,
    /// Alipay's notification schedule, in milliseconds, already scaled.
    pub(crate) retry_intervals_ms: Vec<i64>,
    merchants: BTreeMap<String, Merchant>,
    users: BTreeMap<String, User>,
    consents: HashMap<String, Consent>,
    auth_codes: HashMap<String, AuthCodeRecord>,
    tokens: Vec<Token>,
    token_by_access: HashMap<String, usize>,
    token_by_refresh: HashMap<String, usize>,
    payments: Vec<Payment>,
    payment_by_request: HashMap<(String, String), usize>,
    payment_by_id: HashMap<String, usize>,
    refunds: Vec<Refund>,
    refund_by_request: HashMap<(String, String), usize>,
    refund_by_id: HashMap<String, usize>,
    ledger: Vec<LedgerEntry>,
    faults: Vec<FaultSlot>,
    notification_faults: Vec<NotificationFaultSlot>,
    pub(crate) outbox: Vec<Delivery>,
    settings: SandboxSettings,
    /// `(client id, paymentRequestId)` closed by a cancel that overtook its pay
    /// ([`crate::model::OvertakenPay::Closed`]).
    closed_requests: HashSet<(String, String)>,
    /// Requests in transit, held by a hold fault until due or released.
    held: Vec<held::Held>,
    /// How many requests were ever held (numbers them).
    held_count: u64,
    /// Customs declarations, in the order they were first accepted.
    declarations: Vec<Declaration>,
    declaration_by_request: HashMap<(String, String), usize>,
    /// Secondary-merchant registrations (accepted and refused), in the order they arrived.
    registrations: Vec<Registration>,
    registration_by_request: HashMap<(String, String), usize>,
    /// Agent tokens issued to ISVs, in the order issued.
    agent_grants: Vec<agent::AgentGrant>,
}

fn result(code: ResultCode, message: &str) -> AmsResult {
    let status = code.default_status().unwrap_or(ResultStatus::F);
    AmsResult::new(code, status, message)
}

fn mask_login(login: &str) -> String {
    let chars: Vec<char> = login.chars().collect();
    if chars.len() <= 4 {
        return "*".repeat(chars.len());
    }
    let keep = 2;
    let mut out: String = chars[..keep].iter().collect();
    out.push_str("***");
    out.extend(&chars[chars.len() - keep..]);
    out
}

impl World {
    pub(crate) fn new(lifetimes: Lifetimes, retry_intervals_ms: Vec<i64>) -> Self {
        Self {
            lifetimes,
            retry_intervals_ms,
            merchants: BTreeMap::new(),
            users: BTreeMap::new(),
            consents: HashMap::new(),
            auth_codes: HashMap::new(),
            tokens: Vec::new(),
            token_by_access: HashMap::new(),
            token_by_refresh: HashMap::new(),
            payments: Vec::new(),
            payment_by_request: HashMap::new(),
            payment_by_id: HashMap::new(),
            refunds: Vec::new(),
            refund_by_request: HashMap::new(),
            refund_by_id: HashMap::new(),
            ledger: Vec::new(),
            faults: Vec::new(),
            notification_faults: Vec::new(),
            outbox: Vec::new(),
            settings: SandboxSettings::default(),
            closed_requests: HashSet::new(),
            held: Vec::new(),
            held_count: 0,
            declarations: Vec::new(),
            declaration_by_request: HashMap::new(),
            registrations: Vec::new(),
            registration_by_request: HashMap::new(),
            agent_grants: Vec::new(),
        }
    }

    /// Makes happen what was due by `now` (processing payments whose expiry passed fail, pending
    /// payments succeed, refunds in process end, customs answers declarations, wallets end
    /// registration reviews). Returns the next time something falls due, if anything will.
    pub(crate) fn sweep(&mut self, now: i64) -> Option<i64> {
        [
            self.expire_payments(now),
            self.end_pending_payments(now),
            self.end_refunds_in_process(now),
            self.receive_customs_receipts(now),
            self.end_registration_reviews(now),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The sandbox-wide settings.
    pub(crate) fn settings(&self) -> SandboxSettings {
        self.settings.clone()
    }

    /// Replaces the sandbox-wide settings.
    pub(crate) fn set_settings(&mut self, settings: SandboxSettings) {
        self.settings = settings;
    }
}

/// The datetime a payment expiry must not exceed, given the request time.
pub(crate) fn max_expiry_ms(now: i64) -> i64 {
    now.saturating_add(MINUTE_MS)
}

/// Parses an AMS datetime into Unix milliseconds.
pub(crate) fn parse_time(value: &AmsDateTime) -> Result<i64, String> {
    value.unix_millis().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_are_masked() {
        assert_eq!(mask_login("alice@example.com"), "al***om");
        assert_eq!(mask_login("bob"), "***");
    }
}
