//! The sandbox's state and the Alipay-side rules, behind one lock.
//!
//! Every API call runs start to finish under the lock with one reading of the clock, so a call is
//! atomic: it either takes effect whole or not at all, and a payment can be debited at most once
//! whatever the interleaving of retries, inquiries, cancels and faults.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use ams_protocol::{
    AccessToken, Amount, AmsDateTime, AmsResult, ApplyTokenRequest, ApplyTokenResponse, AuthCode,
    AuthCodeForm, AuthorizationNotifyType, CancelRequest, CancelResponse, CodeDetail,
    CodeValueType, ConsultRequest, ConsultResponse, Currency, CustomerBelongsTo, DisplayType,
    GrantType, InquiryPaymentRequest, InquiryPaymentResponse, InquiryRefundRequest,
    InquiryRefundResponse, NotifyAuthorization, NotifyPayment, NotifyRefund, PayRequest,
    PayResponse, PaymentNotifyType, PaymentStatus, RefreshToken, RefundRequest, RefundResponse,
    RefundStatus, ResultCode, ResultStatus, RevokeRequest, RevokeResponse, Scope, TerminalType,
    Transaction, TransactionStatus, TransactionType,
};

use ams_signing::PublicKey;

use crate::model::{
    AccountStatus, Completion, DeliveryState, EntryKind, EntryReason, FaultRule, LedgerEntry,
    LedgerView, MerchantSettings, NotificationFaultAction, NotificationFaultRule, NotificationKind,
    NotificationRecord, PaymentMode, UserSpec, UserUpdate, UserView,
};
use crate::util::{ams_time, append_query, date_digits, random_digits, random_hex};

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;
const UTC8_MS: i64 = 8 * HOUR_MS;

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
    refresh_token: String,
    client_id: String,
    wallet: CustomerBelongsTo,
    user: String,
    access_expires_ms: i64,
    refresh_expires_ms: i64,
    state: TokenState,
    /// Where the binding's notifications go (TOKEN_CANCELED), from the consult that made it.
    notify_url: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum PayState {
    Processing,
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
    /// Whether the user's money moved (so a cancel must give it back).
    debited: bool,
    notify_url: Option<String>,
    refunded: u64,
    refunds: Vec<usize>,
}

struct Refund {
    client_id: String,
    refund_request_id: String,
    refund_id: String,
    payment: usize,
    amount: Amount,
    time_ms: i64,
    /// Why it was refused; `None` for a refund that succeeded. A refused refund is kept so the
    /// same `refundRequestId` gets the same final answer (§5.9).
    failure: Option<(ResultCode, &'static str)>,
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

/// The last moment a payment created at `created_ms` can be cancelled: 00:15 (UTC+8) on the day
/// after its creation day in UTC+8.
pub(crate) fn cancel_deadline_ms(created_ms: i64) -> i64 {
    let local = created_ms + UTC8_MS;
    let day_start_local = local.div_euclid(DAY_MS) * DAY_MS;
    day_start_local + DAY_MS + 15 * MINUTE_MS - UTC8_MS
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
        }
    }

    // ----- merchants and users -------------------------------------------------------------

    /// Registers a merchant (client id) or changes its settings.
    pub(crate) fn set_merchant(&mut self, client_id: &str, settings: MerchantSettings) {
        self.merchants
            .entry(client_id.to_owned())
            .or_insert_with(|| Merchant {
                settings: MerchantSettings::default(),
                keys: BTreeMap::new(),
            })
            .settings = settings;
    }

    /// Registers a merchant public key under a key version.
    pub(crate) fn add_merchant_key(&mut self, client_id: &str, version: u32, key: Arc<PublicKey>) {
        self.merchants
            .entry(client_id.to_owned())
            .or_insert_with(|| Merchant {
                settings: MerchantSettings::default(),
                keys: BTreeMap::new(),
            })
            .keys
            .insert(version, key);
    }

    /// The merchant's public keys by version, if the client id is known.
    pub(crate) fn merchant_keys(&self, client_id: &str) -> Option<BTreeMap<u32, Arc<PublicKey>>> {
        self.merchants.get(client_id).map(|m| m.keys.clone())
    }

    pub(crate) fn merchant_settings(&self, client_id: &str) -> Option<MerchantSettings> {
        self.merchants.get(client_id).map(|m| m.settings.clone())
    }

    pub(crate) fn create_user(&mut self, spec: UserSpec) -> Result<UserView, String> {
        if spec.login_id.trim().is_empty() || spec.login_id.len() > 64 {
            return Err("login_id must be 1 to 64 characters".into());
        }
        if !spec.wallet.is_known() {
            return Err(format!(
                "wallet {:?} is not a known customerBelongsTo value",
                spec.wallet.as_str()
            ));
        }
        if self.users.contains_key(&spec.login_id) {
            return Err(format!("user {:?} already exists", spec.login_id));
        }
        let mut balances = BTreeMap::new();
        for amount in &spec.balances {
            if balances.insert(amount.currency, *amount).is_some() {
                return Err(format!("two balances in {}", amount.currency));
            }
        }
        let spec = UserSpec {
            balances: balances.into_values().collect(),
            ..spec
        };
        let login = spec.login_id.clone();
        self.users.insert(
            login.clone(),
            User {
                spec,
                payments_made: 0,
            },
        );
        self.user_view(&login)
            .ok_or_else(|| "user vanished".to_owned())
    }

    pub(crate) fn update_user(
        &mut self,
        login: &str,
        update: UserUpdate,
    ) -> Result<UserView, String> {
        let user = self
            .users
            .get_mut(login)
            .ok_or_else(|| format!("no user {login:?}"))?;
        for amount in update.balances {
            match user
                .spec
                .balances
                .iter_mut()
                .find(|b| b.currency == amount.currency)
            {
                Some(balance) => *balance = amount,
                None => user.spec.balances.push(amount),
            }
        }
        if let Some(status) = update.status {
            user.spec.status = status;
        }
        if let Some(risk) = update.risk_reject {
            user.spec.risk_reject = risk;
        }
        if let Some(limit) = update.per_payment_limit {
            user.spec.per_payment_limit = Some(limit);
        }
        if let Some(max) = update.max_payments {
            user.spec.max_payments = Some(max);
        }
        if let Some(mode) = update.payment_mode {
            user.spec.payment_mode = mode;
        }
        self.user_view(login)
            .ok_or_else(|| "user vanished".to_owned())
    }

    pub(crate) fn user_view(&self, login: &str) -> Option<UserView> {
        self.users.get(login).map(|u| UserView {
            spec: u.spec.clone(),
            payments_made: u.payments_made,
        })
    }

    pub(crate) fn users(&self) -> Vec<UserView> {
        self.users
            .keys()
            .filter_map(|login| self.user_view(login))
            .collect()
    }

    fn balance_mut(&mut self, login: &str, currency: Currency) -> Option<&mut Amount> {
        self.users
            .get_mut(login)
            .and_then(|u| u.spec.balances.iter_mut().find(|b| b.currency == currency))
    }

    // ----- faults ---------------------------------------------------------------------------

    pub(crate) fn add_fault(&mut self, rule: FaultRule) -> usize {
        self.faults.push(FaultSlot {
            rule,
            seen: 0,
            fired: 0,
        });
        self.faults.len()
    }

    pub(crate) fn clear_faults(&mut self) {
        self.faults.clear();
        self.notification_faults.clear();
    }

    pub(crate) fn faults(&self) -> Vec<(FaultRule, u32, u32)> {
        self.faults
            .iter()
            .map(|s| (s.rule.clone(), s.seen, s.fired))
            .collect()
    }

    /// The rule that fires for this call, if any; counts the match on every rule it reaches.
    pub(crate) fn take_fault(
        &mut self,
        api: ams_protocol::Api,
        request_id: Option<&str>,
    ) -> Option<FaultRule> {
        for slot in &mut self.faults {
            let rule = &slot.rule;
            let matches = rule.api == api
                && match (&rule.request_id, request_id) {
                    (None, _) => true,
                    (Some(wanted), Some(got)) => wanted == got,
                    (Some(_), None) => false,
                };
            if !matches {
                continue;
            }
            slot.seen += 1;
            let exhausted = rule.times.is_some_and(|t| slot.fired >= t);
            if slot.seen > rule.skip && !exhausted {
                slot.fired += 1;
                return Some(rule.clone());
            }
        }
        None
    }

    pub(crate) fn add_notification_fault(&mut self, rule: NotificationFaultRule) -> usize {
        self.notification_faults
            .push(NotificationFaultSlot { rule, fired: 0 });
        self.notification_faults.len()
    }

    fn take_notification_fault(
        &mut self,
        kind: NotificationKind,
        request_id: &str,
    ) -> Option<NotificationFaultAction> {
        for slot in &mut self.notification_faults {
            let rule = &slot.rule;
            let matches = rule.notification.is_none_or(|k| k == kind)
                && rule.request_id.as_deref().is_none_or(|r| r == request_id)
                && rule.times.is_none_or(|t| slot.fired < t);
            if matches {
                slot.fired += 1;
                return Some(rule.action.clone());
            }
        }
        None
    }

    // ----- notifications --------------------------------------------------------------------

    fn enqueue(
        &mut self,
        kind: NotificationKind,
        client_id: &str,
        url: Option<String>,
        request_id: &str,
        body: String,
        now: i64,
    ) {
        let Some(url) = url else {
            return; // No URL configured: Alipay would not notify either.
        };
        let action = self.take_notification_fault(kind, request_id);
        let seq = self.outbox.len() as u64 + 1;
        let mut state = DeliveryState::Pending;
        let mut due = Some(now);
        let mut duplicate_first = false;
        match action {
            Some(NotificationFaultAction::Skip) => {
                state = DeliveryState::Skipped;
                due = None;
            }
            Some(NotificationFaultAction::Duplicate) => duplicate_first = true,
            Some(NotificationFaultAction::Delay { ms }) => {
                due = Some(now.saturating_add(i64::try_from(ms).unwrap_or(i64::MAX)));
            }
            Some(NotificationFaultAction::Reorder) => {
                state = DeliveryState::Held;
                due = None;
            }
            None => {}
        }
        // A notification held by a reorder fault goes right after this one: due at the same
        // time (so a frozen clock releases it too) and ordered after it by the notifier.
        if state == DeliveryState::Pending {
            for held in self.outbox.iter_mut().filter(|d| {
                d.record.state == DeliveryState::Held && d.record.client_id == client_id
            }) {
                held.record.state = DeliveryState::Pending;
                held.record.next_attempt_ms = due;
                held.release_after = Some(seq);
            }
        }
        self.outbox.push(Delivery {
            record: NotificationRecord {
                seq,
                notification: kind,
                client_id: client_id.to_owned(),
                url,
                request_id: request_id.to_owned(),
                body,
                state,
                attempts: Vec::new(),
                next_attempt_ms: due,
            },
            attempts_made: 0,
            in_flight: false,
            duplicate_first,
            release_after: None,
        });
    }

    pub(crate) fn notifications(&self) -> Vec<NotificationRecord> {
        self.outbox.iter().map(|d| d.record.clone()).collect()
    }

    // ----- ledger ---------------------------------------------------------------------------

    fn post(
        &mut self,
        now: i64,
        payment: usize,
        kind: EntryKind,
        reason: EntryReason,
        amount: Amount,
        refund: Option<String>,
    ) {
        let p = &self.payments[payment];
        let user = p.user.clone().unwrap_or_default();
        let entry = LedgerEntry {
            seq: self.ledger.len() as u64 + 1,
            at_ms: now,
            user: user.clone(),
            kind,
            reason,
            amount,
            client_id: p.client_id.clone(),
            payment_request_id: p.payment_request_id.clone(),
            payment_id: p.payment_id.clone(),
            refund_request_id: refund,
        };
        self.ledger.push(entry);
        if let Some(balance) = self.balance_mut(&user, amount.currency) {
            let value = match kind {
                EntryKind::Debit => balance.minor_units().saturating_sub(amount.minor_units()),
                EntryKind::Credit => balance.minor_units().saturating_add(amount.minor_units()),
            };
            *balance = Amount::new(amount.currency, value);
        }
    }

    pub(crate) fn ledger(
        &self,
        payment_request_id: Option<&str>,
        user: Option<&str>,
    ) -> LedgerView {
        let entries: Vec<LedgerEntry> = self
            .ledger
            .iter()
            .filter(|e| payment_request_id.is_none_or(|p| e.payment_request_id == p))
            .filter(|e| user.is_none_or(|u| e.user == u))
            .cloned()
            .collect();
        let debits = entries
            .iter()
            .filter(|e| e.kind == EntryKind::Debit)
            .count() as u32;
        let credits = entries
            .iter()
            .filter(|e| e.kind == EntryKind::Credit)
            .count() as u32;
        LedgerView {
            entries,
            debits,
            credits,
        }
    }

    // ----- authorization ----------------------------------------------------------------------

    pub(crate) fn consult(
        &mut self,
        client_id: &str,
        req: &ConsultRequest,
        consent_url_base: &str,
        now: i64,
    ) -> ConsultResponse {
        let id = random_hex::<16>();
        // Only the request's own URL is kept: the dashboard's is read when a notification is sent.
        let notify_url = req.auth_notify_url.clone();
        self.consents.insert(
            id.clone(),
            Consent {
                client_id: client_id.to_owned(),
                wallet: req.customer_belongs_to.clone(),
                redirect_url: req.auth_redirect_url.clone(),
                auth_state: req.auth_state.as_str().to_owned(),
                scopes: req.scopes.clone(),
                notify_url,
                expires_ms: now + self.lifetimes.consent_ms,
                state: ConsentState::Pending,
            },
        );
        let normal_url = format!("{consent_url_base}/{id}");
        let mut response = ConsultResponse::new(AmsResult::success());
        response.normal_url = Some(normal_url.clone());
        match req.terminal_type {
            TerminalType::App | TerminalType::Wap | TerminalType::MiniApp => {
                response.scheme_url = Some(format!("alipay-sandbox://authorize?consent={id}"));
                response.applink_url = Some(format!("{normal_url}?applink=1"));
                response.app_identifier = Some("com.example.sandbox.wallet".to_owned());
            }
            _ => {
                // Scan to Bind: the merchant shows this value as a QR code for the wallet app.
                let detail = CodeDetail::new(
                    normal_url.clone(),
                    CodeValueType::Qrcode,
                    DisplayType::BigImage,
                );
                response.auth_code_form = Some(AuthCodeForm::new(vec![detail]));
            }
        }
        response
    }

    fn open_consent(&self, id: &str, now: i64) -> Result<&Consent, ConsentError> {
        let consent = self.consents.get(id).ok_or(ConsentError::NotFound)?;
        if consent.state != ConsentState::Pending {
            return Err(ConsentError::Used);
        }
        if now > consent.expires_ms {
            return Err(ConsentError::Expired);
        }
        Ok(consent)
    }

    pub(crate) fn consent_page(&self, id: &str, now: i64) -> Result<ConsentPage, ConsentError> {
        let consent = self.open_consent(id, now)?;
        let merchant = self
            .merchants
            .get(&consent.client_id)
            .and_then(|m| m.settings.name.clone())
            .unwrap_or_else(|| consent.client_id.clone());
        let users = self
            .users
            .values()
            .filter(|u| u.spec.wallet == consent.wallet)
            .map(|u| u.spec.login_id.clone())
            .collect();
        Ok(ConsentPage {
            merchant,
            wallet: consent.wallet.clone(),
            scopes: consent.scopes.clone(),
            users,
        })
    }

    /// The user agrees or declines; returns where the browser goes next.
    pub(crate) fn decide_consent(
        &mut self,
        id: &str,
        user: &str,
        agree: bool,
        now: i64,
    ) -> Result<String, ConsentError> {
        let consent = self.open_consent(id, now)?;
        let wallet = consent.wallet.clone();
        if agree {
            let known = self
                .users
                .get(user)
                .ok_or_else(|| ConsentError::UnknownUser(user.to_owned()))?;
            if known.spec.wallet != wallet {
                return Err(ConsentError::WrongWallet(user.to_owned()));
            }
        }
        let consent = self.consents.get_mut(id).ok_or(ConsentError::NotFound)?;
        consent.state = ConsentState::Decided;
        let (client_id, redirect, state, notify_url) = (
            consent.client_id.clone(),
            consent.redirect_url.clone(),
            consent.auth_state.clone(),
            consent.notify_url.clone(),
        );
        if !agree {
            return Ok(append_query(
                &redirect,
                &[("authState", &state), ("errorCode", "USER_CANCELLED")],
            ));
        }
        let code = format!("{}{}", date_digits(now), random_hex::<12>().to_uppercase());
        self.auth_codes.insert(
            code.clone(),
            AuthCodeRecord {
                client_id: client_id.clone(),
                wallet,
                user: user.to_owned(),
                expires_ms: now + self.lifetimes.auth_code_ms,
                used: false,
                notify_url: notify_url.clone(),
            },
        );
        let mut notify = NotifyAuthorization::new(
            AuthorizationNotifyType::AuthcodeCreated,
            AmsResult::success(),
        );
        notify.auth_code = Some(AuthCode::new(code.clone()));
        notify.auth_state = Some(state.clone().into());
        notify.user_login_id = Some(mask_login(user));
        let body = serde_json::to_string(&notify).unwrap_or_default();
        let url = notify_url.or_else(|| {
            self.merchant_settings(&client_id)
                .and_then(|m| m.authorization_notify_url)
        });
        self.enqueue(
            NotificationKind::Authorization,
            &client_id,
            url,
            &state,
            body,
            now,
        );
        Ok(append_query(
            &redirect,
            &[("authCode", &code), ("authState", &state)],
        ))
    }

    fn issue_token(
        &mut self,
        client_id: &str,
        wallet: CustomerBelongsTo,
        user: &str,
        notify_url: Option<String>,
        now: i64,
    ) -> usize {
        let token = Token {
            access_token: format!("2810{}", random_hex::<18>().to_uppercase()),
            refresh_token: format!("2820{}", random_hex::<18>().to_uppercase()),
            client_id: client_id.to_owned(),
            wallet,
            user: user.to_owned(),
            access_expires_ms: now + self.lifetimes.access_token_ms,
            refresh_expires_ms: now + self.lifetimes.refresh_token_ms,
            state: TokenState::Active,
            notify_url,
        };
        let index = self.tokens.len();
        self.token_by_access
            .insert(token.access_token.clone(), index);
        self.token_by_refresh
            .insert(token.refresh_token.clone(), index);
        self.tokens.push(token);
        index
    }

    fn token_response(&self, index: usize) -> ApplyTokenResponse {
        let token = &self.tokens[index];
        let mut response = ApplyTokenResponse::new(AmsResult::success());
        response.access_token = Some(AccessToken::new(token.access_token.clone()));
        response.access_token_expiry_time = Some(ams_time(token.access_expires_ms));
        response.refresh_token = Some(RefreshToken::new(token.refresh_token.clone()));
        response.refresh_token_expiry_time = Some(ams_time(token.refresh_expires_ms));
        response.user_login_id = Some(mask_login(&token.user));
        response
    }

    pub(crate) fn apply_token(
        &mut self,
        client_id: &str,
        req: &ApplyTokenRequest,
        now: i64,
    ) -> ApplyTokenResponse {
        let fail = |code: ResultCode, message: &str| ApplyTokenResponse::new(result(code, message));
        match req.grant_type {
            GrantType::AuthorizationCode => {
                let code = req
                    .auth_code
                    .as_ref()
                    .map(|c| c.expose_secret())
                    .unwrap_or_default();
                let Some(record) = self.auth_codes.get_mut(code) else {
                    return fail(ResultCode::InvalidCode, "The auth code is invalid.");
                };
                if record.client_id != client_id || record.wallet != req.customer_belongs_to {
                    return fail(ResultCode::InvalidCode, "The auth code is invalid.");
                }
                if record.used {
                    return fail(
                        ResultCode::InvalidCode,
                        "The auth code has already been used.",
                    );
                }
                if now > record.expires_ms {
                    return fail(ResultCode::ExpiredCode, "The auth code is expired.");
                }
                record.used = true;
                let (wallet, user, url) = (
                    record.wallet.clone(),
                    record.user.clone(),
                    record.notify_url.clone(),
                );
                let index = self.issue_token(client_id, wallet, &user, url, now);
                self.token_response(index)
            }
            GrantType::RefreshToken => {
                let refresh = req
                    .refresh_token
                    .as_ref()
                    .map(|c| c.expose_secret())
                    .unwrap_or_default();
                // The real code for a bad refresh token is not documented (digest §8); the sandbox
                // answers INVALID_REFRESH_TOKEN, which clients see as an unknown F code.
                let invalid = || {
                    fail(
                        ResultCode::Unknown("INVALID_REFRESH_TOKEN".into()),
                        "The refresh token is invalid, expired or already used.",
                    )
                };
                let Some(&index) = self.token_by_refresh.get(refresh) else {
                    return invalid();
                };
                let token = &mut self.tokens[index];
                if token.client_id != client_id
                    || token.wallet != req.customer_belongs_to
                    || token.state != TokenState::Active
                    || now > token.refresh_expires_ms
                {
                    return invalid();
                }
                // Rotation: the old pair stops working; a new pair is issued.
                token.state = TokenState::Rotated;
                let (wallet, user, url) = (
                    token.wallet.clone(),
                    token.user.clone(),
                    token.notify_url.clone(),
                );
                let index = self.issue_token(client_id, wallet, &user, url, now);
                self.token_response(index)
            }
            _ => fail(ResultCode::ParamIllegal, "grantType is not supported"),
        }
    }

    /// Tells the merchant a token stopped working (`TOKEN_CANCELED`), at the URL the binding's
    /// consult named, else the dashboard's.
    fn token_canceled(
        &mut self,
        client: &str,
        access: &str,
        binding_url: Option<String>,
        reason: &str,
        now: i64,
    ) {
        let mut notify =
            NotifyAuthorization::new(AuthorizationNotifyType::TokenCanceled, AmsResult::success());
        notify.access_token = Some(AccessToken::new(access.to_owned()));
        notify.reason = Some(reason.to_owned());
        let body = serde_json::to_string(&notify).unwrap_or_default();
        let url = binding_url.or_else(|| {
            self.merchant_settings(client)
                .and_then(|m| m.authorization_notify_url)
        });
        self.enqueue(
            NotificationKind::Authorization,
            client,
            url,
            access,
            body,
            now,
        );
    }

    pub(crate) fn revoke(
        &mut self,
        client_id: &str,
        req: &RevokeRequest,
        now: i64,
    ) -> RevokeResponse {
        let token = self
            .token_by_access
            .get(req.access_token.expose_secret())
            .map(|&i| &mut self.tokens[i])
            .filter(|t| t.client_id == client_id);
        match token {
            Some(token) if matches!(token.state, TokenState::Active | TokenState::Revoked) => {
                // "Cancellation succeeded, from the merchant or the wallet side" (notifyAuthorization):
                // the first revoke is notified; a repeated one is not.
                let first = token.state == TokenState::Active;
                token.state = TokenState::Revoked;
                if first {
                    let (client, access, url) = (
                        token.client_id.clone(),
                        token.access_token.clone(),
                        token.notify_url.clone(),
                    );
                    self.token_canceled(
                        &client,
                        &access,
                        url,
                        "The merchant revoked the token.",
                        now,
                    );
                }
                RevokeResponse::new(AmsResult::success())
            }
            _ => RevokeResponse::new(result(
                ResultCode::InvalidAccessToken,
                "The access token is expired, revoked, or does not exist.",
            )),
        }
    }

    /// The user unbinds the merchant in the wallet: every active token of the user for this
    /// merchant (or all merchants) stops working, and the merchant is told (`TOKEN_CANCELED`).
    pub(crate) fn unbind(
        &mut self,
        user: &str,
        client_id: Option<&str>,
        now: i64,
    ) -> Result<usize, String> {
        if !self.users.contains_key(user) {
            return Err(format!("no user {user:?}"));
        }
        let mut cancelled = Vec::new();
        for token in &mut self.tokens {
            if token.user == user
                && token.state == TokenState::Active
                && client_id.is_none_or(|c| c == token.client_id)
            {
                token.state = TokenState::Unbound;
                cancelled.push((
                    token.client_id.clone(),
                    token.access_token.clone(),
                    token.notify_url.clone(),
                ));
            }
        }
        for (client, access, binding_url) in cancelled.iter().cloned() {
            self.token_canceled(
                &client,
                &access,
                binding_url,
                "The user unbound the merchant in the wallet.",
                now,
            );
        }
        Ok(cancelled.len())
    }

    // ----- payments ---------------------------------------------------------------------------

    fn pay_response(&self, index: usize) -> PayResponse {
        let p = &self.payments[index];
        let mut response = match p.state {
            PayState::Success => PayResponse::new(AmsResult::success()),
            PayState::Processing => PayResponse::new(result(
                ResultCode::PaymentInProcess,
                "The payment is being processed.",
            )),
            PayState::Fail => {
                PayResponse::new(result(p.result_code.clone(), "The payment failed."))
            }
            PayState::Cancelled => PayResponse::new(result(
                ResultCode::OrderIsClosed,
                "The payment was cancelled.",
            )),
        };
        response.payment_request_id = Some(p.payment_request_id.clone().into());
        if p.state != PayState::Fail {
            response.payment_id = Some(p.payment_id.clone().into());
            response.payment_amount = Some(p.amount);
            response.payment_create_time = Some(ams_time(p.created_ms));
            response.payment_time = p.paid_ms.map(ams_time);
        }
        response
    }

    fn notify_payment(&mut self, index: usize, now: i64) {
        let p = &self.payments[index];
        let outcome = match p.state {
            PayState::Success => AmsResult::success(),
            PayState::Fail => result(p.result_code.clone(), "The payment failed."),
            PayState::Processing | PayState::Cancelled => return,
        };
        let mut notify = NotifyPayment::new(
            PaymentNotifyType::PaymentResult,
            outcome,
            p.payment_request_id.clone(),
            p.payment_id.clone(),
            p.amount,
        );
        notify.payment_create_time = Some(ams_time(p.created_ms));
        notify.payment_time = p.paid_ms.map(ams_time);
        let body = serde_json::to_string(&notify).unwrap_or_default();
        let url = p.notify_url.clone().or_else(|| {
            self.merchant_settings(&p.client_id)
                .and_then(|m| m.payment_notify_url)
        });
        let (client, request_id) = (p.client_id.clone(), p.payment_request_id.clone());
        self.enqueue(
            NotificationKind::Payment,
            &client,
            url,
            &request_id,
            body,
            now,
        );
    }

    /// Checks the user can pay this amount now; the failing code otherwise.
    fn refusal(&self, user: &User, amount: Amount, check_balance: bool) -> Option<ResultCode> {
        let spec = &user.spec;
        match spec.status {
            AccountStatus::Closed => return Some(ResultCode::UserNotExist),
            AccountStatus::Abnormal => return Some(ResultCode::UserStatusAbnormal),
            AccountStatus::Normal => {}
        }
        if spec.risk_reject {
            return Some(ResultCode::RiskReject);
        }
        let Some(balance) = spec.balances.iter().find(|b| b.currency == amount.currency) else {
            return Some(ResultCode::CurrencyNotSupport);
        };
        if let Some(limit) = spec.per_payment_limit
            && limit.currency == amount.currency
            && amount.minor_units() > limit.minor_units()
        {
            return Some(ResultCode::UserAmountExceedLimit);
        }
        if spec
            .max_payments
            .is_some_and(|max| user.payments_made >= max)
        {
            return Some(ResultCode::PaymentCountExceedLimit);
        }
        if check_balance && balance.minor_units() < amount.minor_units() {
            return Some(ResultCode::UserBalanceNotEnough);
        }
        None
    }

    fn debit(&mut self, index: usize, now: i64) {
        let amount = self.payments[index].amount;
        self.post(
            now,
            index,
            EntryKind::Debit,
            EntryReason::Payment,
            amount,
            None,
        );
        let p = &mut self.payments[index];
        p.state = PayState::Success;
        p.result_code = ResultCode::Success;
        p.paid_ms = Some(now);
        p.debited = true;
        if let Some(user) = p.user.clone().and_then(|u| self.users.get_mut(&u)) {
            user.payments_made += 1;
        }
    }

    pub(crate) fn pay(&mut self, client_id: &str, req: &PayRequest, now: i64) -> PayResponse {
        let key = (
            client_id.to_owned(),
            req.payment_request_id.as_str().to_owned(),
        );
        let method_id = req
            .payment_method
            .payment_method_id
            .as_ref()
            .map(|m| m.expose_secret().to_owned())
            .unwrap_or_default();
        if let Some(&index) = self.payment_by_request.get(&key) {
            let p = &self.payments[index];
            if p.amount != req.payment_amount || p.payment_method_id != method_id {
                let mut response = PayResponse::new(result(
                    ResultCode::RepeatReqInconsistent,
                    "The paymentRequestId was used with a different paymentAmount or paymentMethodId.",
                ));
                response.payment_request_id = Some(req.payment_request_id.clone());
                return response;
            }
            return self.pay_response(index);
        }
        let expires_ms = req
            .payment_expiry_time
            .as_ref()
            .and_then(|t| t.unix_millis().ok())
            .unwrap_or(now + self.lifetimes.payment_expiry_ms);
        let token = self
            .token_by_access
            .get(&method_id)
            .map(|&i| &self.tokens[i])
            .filter(|t| {
                t.client_id == client_id
                    && t.wallet == req.payment_method.payment_method_type
                    && t.state == TokenState::Active
                    && now <= t.access_expires_ms
            });
        let user = token.map(|t| t.user.clone());
        let refusal = match &user {
            None => Some(ResultCode::InvalidAccessToken),
            Some(login) => match self.users.get(login) {
                None => Some(ResultCode::UserNotExist),
                Some(u) => self.refusal(
                    u,
                    req.payment_amount,
                    u.spec.payment_mode == PaymentMode::Instant,
                ),
            },
        };
        let mode = user
            .as_ref()
            .and_then(|u| self.users.get(u))
            .map_or(PaymentMode::Instant, |u| u.spec.payment_mode);
        let payment_id = format!("{}{}", date_digits(now), random_digits(24));
        let index = self.payments.len();
        self.payments.push(Payment {
            client_id: client_id.to_owned(),
            payment_request_id: key.1.clone(),
            payment_id: payment_id.clone(),
            user,
            amount: req.payment_amount,
            payment_method_id: method_id,
            state: PayState::Processing,
            result_code: ResultCode::PaymentInProcess,
            created_ms: now,
            paid_ms: None,
            expires_ms,
            cancel_ms: None,
            debited: false,
            notify_url: req.payment_notify_url.clone(),
            refunded: 0,
            refunds: Vec::new(),
        });
        self.payment_by_request.insert(key, index);
        self.payment_by_id.insert(payment_id, index);
        match refusal {
            Some(code) => {
                let p = &mut self.payments[index];
                p.state = PayState::Fail;
                p.result_code = code;
                self.notify_payment(index, now);
            }
            None if mode == PaymentMode::Instant => {
                self.debit(index, now);
                self.notify_payment(index, now);
            }
            None => {} // Processing: the user must confirm, or the payment expires.
        }
        self.pay_response(index)
    }

    /// A payment held in PROCESSING ends (the user confirmed or declined in the wallet).
    pub(crate) fn complete_payment(
        &mut self,
        client_id: Option<&str>,
        payment_request_id: &str,
        how: Completion,
        now: i64,
    ) -> Result<(), String> {
        // A payment whose expiry passed has failed, whether or not anyone looked since.
        self.sweep(now);
        let index = self
            .payments
            .iter()
            .position(|p| {
                p.payment_request_id == payment_request_id
                    && client_id.is_none_or(|c| c == p.client_id)
            })
            .ok_or_else(|| format!("no payment {payment_request_id:?}"))?;
        if self.payments[index].state != PayState::Processing {
            return Err(format!("payment {payment_request_id:?} is not processing"));
        }
        self.finish_processing(index, how, ResultCode::ProcessFail, now);
        Ok(())
    }

    fn finish_processing(
        &mut self,
        index: usize,
        how: Completion,
        fail_code: ResultCode,
        now: i64,
    ) {
        let refusal = match (
            how,
            self.payments[index]
                .user
                .as_ref()
                .and_then(|u| self.users.get(u)),
        ) {
            (Completion::Fail, _) => Some(fail_code),
            (Completion::Success, None) => Some(ResultCode::UserNotExist),
            (Completion::Success, Some(user)) => {
                self.refusal(user, self.payments[index].amount, true)
            }
        };
        match refusal {
            None => self.debit(index, now),
            Some(code) => {
                let p = &mut self.payments[index];
                p.state = PayState::Fail;
                p.result_code = code;
            }
        }
        self.notify_payment(index, now);
    }

    /// Fails every processing payment whose expiry has passed. Returns the next expiry, if any.
    pub(crate) fn sweep(&mut self, now: i64) -> Option<i64> {
        let expired: Vec<usize> = (0..self.payments.len())
            .filter(|&i| {
                self.payments[i].state == PayState::Processing && now > self.payments[i].expires_ms
            })
            .collect();
        for index in expired {
            self.finish_processing(index, Completion::Fail, ResultCode::OrderIsClosed, now);
        }
        self.payments
            .iter()
            .filter(|p| p.state == PayState::Processing)
            .map(|p| p.expires_ms + 1)
            .min()
    }

    fn find_payment(
        &self,
        client_id: &str,
        payment_id: Option<&str>,
        payment_request_id: Option<&str>,
    ) -> Option<usize> {
        let index = match (payment_id, payment_request_id) {
            (Some(id), _) => self.payment_by_id.get(id).copied(),
            (None, Some(request)) => self
                .payment_by_request
                .get(&(client_id.to_owned(), request.to_owned()))
                .copied(),
            (None, None) => None,
        }?;
        (self.payments[index].client_id == client_id).then_some(index)
    }

    pub(crate) fn inquiry_payment(
        &self,
        client_id: &str,
        req: &InquiryPaymentRequest,
    ) -> InquiryPaymentResponse {
        let Some(index) = self.find_payment(
            client_id,
            req.payment_id.as_ref().map(|i| i.as_str()),
            req.payment_request_id.as_ref().map(|i| i.as_str()),
        ) else {
            return InquiryPaymentResponse::new(result(
                ResultCode::OrderNotExist,
                "The payment does not exist.",
            ));
        };
        let p = &self.payments[index];
        let mut response = InquiryPaymentResponse::new(AmsResult::success());
        let (status, code) = match p.state {
            PayState::Success => (PaymentStatus::Success, ResultCode::Success),
            PayState::Fail => (PaymentStatus::Fail, p.result_code.clone()),
            PayState::Processing => (PaymentStatus::Processing, ResultCode::PaymentInProcess),
            PayState::Cancelled => (PaymentStatus::Cancelled, ResultCode::OrderIsClosed),
        };
        response.payment_status = Some(status);
        response.payment_result_message = Some(code.as_str().to_owned());
        response.payment_result_code = Some(code);
        response.payment_request_id = Some(p.payment_request_id.clone().into());
        response.payment_id = Some(p.payment_id.clone().into());
        response.payment_amount = Some(p.amount);
        response.payment_create_time = Some(ams_time(p.created_ms));
        response.payment_time = p.paid_ms.map(ams_time);
        let mut transactions: Vec<Transaction> = p
            .refunds
            .iter()
            .map(|&r| {
                let refund = &self.refunds[r];
                let mut t = Transaction::default();
                t.transaction_result = Some(AmsResult::success());
                t.transaction_id = Some(refund.refund_id.clone());
                t.transaction_type = Some(TransactionType::Refund);
                t.transaction_status = Some(TransactionStatus::Success);
                t.transaction_amount = Some(refund.amount);
                t.transaction_request_id = Some(refund.refund_request_id.clone());
                t.transaction_time = Some(ams_time(refund.time_ms));
                t
            })
            .collect();
        if let Some(cancel_ms) = p.cancel_ms {
            let mut t = Transaction::default();
            t.transaction_result = Some(AmsResult::success());
            t.transaction_type = Some(TransactionType::Cancel);
            t.transaction_status = Some(TransactionStatus::Success);
            t.transaction_amount = Some(p.amount);
            t.transaction_time = Some(ams_time(cancel_ms));
            transactions.push(t);
        }
        if !transactions.is_empty() {
            response.transactions = Some(transactions);
        }
        response
    }

    pub(crate) fn cancel(
        &mut self,
        client_id: &str,
        req: &CancelRequest,
        now: i64,
    ) -> CancelResponse {
        let Some(index) = self.find_payment(
            client_id,
            req.payment_id.as_ref().map(|i| i.as_str()),
            req.payment_request_id.as_ref().map(|i| i.as_str()),
        ) else {
            return CancelResponse::new(result(
                ResultCode::OrderNotExist,
                "The payment does not exist.",
            ));
        };
        let p = &self.payments[index];
        let answer = |p: &Payment| {
            let mut response = CancelResponse::new(AmsResult::success());
            response.payment_id = Some(p.payment_id.clone().into());
            response.payment_request_id = Some(p.payment_request_id.clone().into());
            response.cancel_time = p.cancel_ms.map(ams_time);
            response
        };
        if p.state == PayState::Cancelled {
            return answer(p);
        }
        if now > cancel_deadline_ms(p.created_ms) {
            return CancelResponse::new(result(
                ResultCode::CancelWindowExceed,
                "The cancel window (00:15 UTC+8 on the day after the payment) has passed; refund instead.",
            ));
        }
        if !p.refunds.is_empty() {
            return CancelResponse::new(result(
                ResultCode::OrderStatusInvalid,
                "A refunded payment cannot be cancelled.",
            ));
        }
        if p.debited {
            let amount = p.amount;
            self.post(
                now,
                index,
                EntryKind::Credit,
                EntryReason::Cancel,
                amount,
                None,
            );
        }
        let p = &mut self.payments[index];
        p.state = PayState::Cancelled;
        p.cancel_ms = Some(now);
        answer(p)
    }

    pub(crate) fn refund(
        &mut self,
        client_id: &str,
        req: &RefundRequest,
        now: i64,
    ) -> RefundResponse {
        let key = (
            client_id.to_owned(),
            req.refund_request_id.as_str().to_owned(),
        );
        if let Some(&r) = self.refund_by_request.get(&key) {
            let refund = &self.refunds[r];
            if refund.amount != req.refund_amount
                || self.payments[refund.payment].payment_id != req.payment_id.as_str()
            {
                return RefundResponse::new(result(
                    ResultCode::RepeatReqInconsistent,
                    "The refundRequestId was used with a different refundAmount or paymentId.",
                ));
            }
            return self.refund_response(r);
        }
        let Some(index) = self.find_payment(client_id, Some(req.payment_id.as_str()), None) else {
            return RefundResponse::new(result(
                ResultCode::OrderNotExist,
                "The payment does not exist.",
            ));
        };
        let p = &self.payments[index];
        let refusal = match p.state {
            PayState::Cancelled => {
                Some((ResultCode::OrderIsCanceled, "The payment was cancelled."))
            }
            PayState::Processing | PayState::Fail => Some((
                ResultCode::OrderStatusInvalid,
                "Only a successful payment can be refunded.",
            )),
            PayState::Success => None,
        }
        .or_else(|| {
            (req.refund_amount.currency != p.amount.currency).then_some((
                ResultCode::CurrencyNotSupport,
                "The refund currency differs from the payment's.",
            ))
        })
        .or_else(|| {
            (p.paid_ms.unwrap_or(p.created_ms) + self.lifetimes.refund_window_ms < now).then_some((
                ResultCode::RefundWindowExceed,
                "The refund window has passed.",
            ))
        })
        .or_else(|| {
            (p.refunded.saturating_add(req.refund_amount.minor_units()) > p.amount.minor_units())
                .then_some((
                    ResultCode::RefundAmountExceed,
                    "The refunds would exceed the amount paid.",
                ))
        });
        let refund_id = format!("{}{}", date_digits(now), random_digits(24));
        let r = self.refunds.len();
        self.refunds.push(Refund {
            client_id: client_id.to_owned(),
            refund_request_id: key.1.clone(),
            refund_id: refund_id.clone(),
            payment: index,
            amount: req.refund_amount,
            time_ms: now,
            failure: refusal.clone(),
        });
        self.refund_by_request.insert(key.clone(), r);
        self.refund_by_id.insert(refund_id.clone(), r);
        if refusal.is_some() {
            return self.refund_response(r);
        }
        self.payments[index].refunded += req.refund_amount.minor_units();
        self.payments[index].refunds.push(r);
        self.post(
            now,
            index,
            EntryKind::Credit,
            EntryReason::Refund,
            req.refund_amount,
            Some(key.1.clone()),
        );

        let mut notify = NotifyRefund::new(
            AmsResult::success(),
            RefundStatus::Success,
            key.1.clone(),
            refund_id,
            req.refund_amount,
        );
        notify.refund_time = Some(ams_time(now));
        let body = serde_json::to_string(&notify).unwrap_or_default();
        let url = req.refund_notify_url.clone().or_else(|| {
            self.merchant_settings(client_id)
                .and_then(|m| m.refund_notify_url)
        });
        self.enqueue(NotificationKind::Refund, client_id, url, &key.1, body, now);
        self.refund_response(r)
    }

    fn refund_response(&self, r: usize) -> RefundResponse {
        let refund = &self.refunds[r];
        if let Some((code, message)) = &refund.failure {
            return RefundResponse::new(result(code.clone(), message));
        }
        let mut response = RefundResponse::new(AmsResult::success());
        response.refund_request_id = Some(refund.refund_request_id.clone().into());
        response.refund_id = Some(refund.refund_id.clone().into());
        response.payment_id = Some(self.payments[refund.payment].payment_id.clone().into());
        response.refund_amount = Some(refund.amount);
        response.refund_time = Some(ams_time(refund.time_ms));
        response
    }

    pub(crate) fn inquiry_refund(
        &self,
        client_id: &str,
        req: &InquiryRefundRequest,
    ) -> InquiryRefundResponse {
        let index = match (&req.refund_id, &req.refund_request_id) {
            (Some(id), _) => self.refund_by_id.get(id.as_str()).copied(),
            (None, Some(request)) => self
                .refund_by_request
                .get(&(client_id.to_owned(), request.as_str().to_owned()))
                .copied(),
            (None, None) => None,
        }
        .filter(|&r| self.refunds[r].client_id == client_id);
        let Some(r) = index else {
            return InquiryRefundResponse::new(result(
                ResultCode::OrderNotExist,
                "The refund does not exist.",
            ));
        };
        let refund = &self.refunds[r];
        let mut response = InquiryRefundResponse::new(AmsResult::success());
        response.refund_id = Some(refund.refund_id.clone().into());
        response.refund_request_id = Some(refund.refund_request_id.clone().into());
        response.refund_amount = Some(refund.amount);
        response.refund_status = Some(if refund.failure.is_some() {
            TransactionStatus::Fail
        } else {
            TransactionStatus::Success
        });
        response.refund_time = refund.failure.is_none().then(|| ams_time(refund.time_ms));
        response
    }
}

/// The datetime a payment expiry must not exceed, given the request time.
pub(crate) fn max_expiry_ms(now: i64) -> i64 {
    now + MINUTE_MS
}

/// Parses an AMS datetime into Unix milliseconds.
pub(crate) fn parse_time(value: &AmsDateTime) -> Result<i64, String> {
    value.unix_millis().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        AmsDateTime::new(text).unix_millis().expect("valid time")
    }

    #[test]
    fn cancel_deadline_is_0015_utc8_on_the_next_day() {
        let deadline = at("2024-03-02T00:15:00+08:00");
        for created in [
            "2024-03-01T00:00:00+08:00",
            "2024-03-01T12:00:00+08:00",
            "2024-03-01T23:59:59+08:00",
        ] {
            assert_eq!(cancel_deadline_ms(at(created)), deadline, "{created}");
        }
        // 23:59 UTC on 1 March is already 2 March in UTC+8.
        assert_eq!(
            cancel_deadline_ms(at("2024-03-01T23:59:00+00:00")),
            at("2024-03-03T00:15:00+08:00")
        );
    }

    #[test]
    fn logins_are_masked() {
        assert_eq!(mask_login("alice@example.com"), "al***om");
        assert_eq!(mask_login("bob"), "***");
    }
}
