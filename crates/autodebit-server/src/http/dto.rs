//! The merchant API's JSON: what requests carry and what answers hold (`snake_case`, ids with a
//! type prefix, times in RFC 3339 UTC, money as an integer in minor units with its currency).
//! Only this module knows these shapes; the domain's types have no serde.

use ams_protocol::{AmsDateTime, Currency, CustomerBelongsTo, OsType, TerminalType};
use autodebit_domain::lifecycle::attempt::AttemptState;
use autodebit_domain::lifecycle::authorization::{AuthorizationState, RevokedBy};
use autodebit_domain::lifecycle::declaration::DeclarationState;
use autodebit_domain::lifecycle::order::OrderState;
use autodebit_domain::lifecycle::refund::RefundState;
use autodebit_domain::model::{
    AttentionItem, Authorization, Declaration, EventKind, Millis, PaymentAttempt, Refund,
    RefundOrigin, Subject,
};
use autodebit_domain::services::payments::{PaymentView, Status};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};
use utoipa::{IntoParams, ToSchema};

use super::v1::MAX_AMOUNT;

/// RFC 3339 in UTC (`2026-12-05T23:10:00Z`).
pub fn time(ms: Millis) -> String {
    AmsDateTime::from_unix_millis(ms, 0).map_or_else(
        |_| String::from("1970-01-01T00:00:00Z"),
        |t| t.as_str().replace("+00:00", "Z"),
    )
}

/// A failure: Alipay's result code (or ours), and what it means.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Failure {
    /// The code (Alipay's `resultCode`, or one of ours such as `NOT_FOUND_AFTER_EXPIRY`).
    pub code: String,
    /// What it means.
    pub message: String,
}

// ---- schemas the derive cannot say ------------------------------------------------------------

/// A string that is one of `values` (and `null` when `nullable`).
pub(crate) fn one_of<'a>(
    values: impl IntoIterator<Item = &'a str>,
    nullable: bool,
    description: &str,
    example: &str,
) -> Object {
    let mut seen = std::collections::BTreeSet::new();
    let mut listed: Vec<serde_json::Value> = values
        .into_iter()
        .filter(|value| seen.insert(*value))
        .map(serde_json::Value::from)
        .collect();
    let schema_type = if nullable {
        listed.push(serde_json::Value::Null);
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::Type(Type::String)
    };
    ObjectBuilder::new()
        .schema_type(schema_type)
        .enum_values(Some(listed))
        .description(Some(description))
        .examples([example])
        .build()
}

/// `wallet`: the wallets Alipay knows.
fn wallet_schema() -> Object {
    one_of(
        CustomerBelongsTo::KNOWN
            .iter()
            .map(CustomerBelongsTo::as_str),
        false,
        "Alipay's `customerBelongsTo`: the user's wallet.",
        "ALIPAY_CN",
    )
}

/// `terminal_type`.
fn terminal_schema() -> Object {
    one_of(
        TerminalType::KNOWN.iter().map(TerminalType::as_str),
        false,
        "Where the user is: `WEB`, `WAP`, `APP` or `MINI_APP`.",
        "WEB",
    )
}

/// `os_type`.
fn os_schema() -> Object {
    one_of(
        OsType::KNOWN.iter().map(OsType::as_str),
        true,
        "`IOS` or `ANDROID`: required for `WAP`, `APP` and `MINI_APP`.",
        "IOS",
    )
}

/// `currency`: the ISO 4217 codes with a minor unit.
fn currency_schema() -> Object {
    one_of(
        Currency::all().map(Currency::code),
        false,
        "ISO 4217.",
        "USD",
    )
}

/// The `status` filter of `GET /v1/authorizations`.
fn authorization_status_schema() -> Object {
    one_of(
        AuthorizationState::ALL
            .into_iter()
            .map(authorization_status),
        false,
        "Only those with this status.",
        "active",
    )
}

/// White space as Rust's `char::is_whitespace` (Unicode's `White_Space`), which a reason must
/// not be made of only. Not `\s`: ECMA-262's (the schema's regular expressions) leaves out U+0085
/// and takes U+FEFF in.
const WHITE_SPACE: [char; 25] = [
    '\t', '\n', '\u{b}', '\u{c}', '\r', ' ', '\u{85}', '\u{a0}', '\u{1680}', '\u{2000}',
    '\u{2001}', '\u{2002}', '\u{2003}', '\u{2004}', '\u{2005}', '\u{2006}', '\u{2007}', '\u{2008}',
    '\u{2009}', '\u{200a}', '\u{2028}', '\u{2029}', '\u{202f}', '\u{205f}', '\u{3000}',
];

/// A resolution's `reason`: 1 to 1000 characters, one at least not white space.
fn reason_schema() -> Object {
    let not_white: String = WHITE_SPACE.iter().collect();
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(
            "Why it is resolved (1 to 1000 characters, not all white space): kept with the item.",
        ))
        .min_length(Some(1))
        .max_length(Some(1000))
        .pattern(Some(format!("[^{not_white}]")))
        .build()
}

/// An authorization's `status`.
fn authorization_status_body() -> Object {
    one_of(
        AuthorizationState::ALL
            .into_iter()
            .map(authorization_status),
        false,
        "What the authorization is now.",
        "active",
    )
}

/// An attempt's `status`.
fn attempt_status_body() -> Object {
    one_of(
        AttemptState::ALL.into_iter().map(AttemptState::name),
        false,
        "What the attempt is now.",
        "succeeded",
    )
}

/// A payment's `status`.
fn payment_status_body() -> Object {
    one_of(
        PAYMENT_STATUSES,
        false,
        "What the payment is now.",
        "succeeded",
    )
}

/// A refund's `status`.
fn refund_status_body() -> Object {
    one_of(
        RefundState::ALL.into_iter().map(refund_status),
        false,
        "What the refund is now.",
        "succeeded",
    )
}

/// The `status` filter of `GET /v1/payments`.
fn payment_status_schema() -> Object {
    one_of(
        PAYMENT_STATUSES,
        false,
        "Only those with this status.",
        "succeeded",
    )
}

/// An amount in minor units: a JSON number that is a whole number, however it is written
/// (`1000`, `1000.0`, `1e3`: JSON does not tell them apart, and the schema's `integer` admits
/// them all). Read from the number's text, never through a float, so that no digit is lost; a
/// number beyond `u64` reads as `u64::MAX`, for the handler to refuse with the range.
///
/// # Errors
/// Anything but a number; a negative number; a number with a fractional part.
pub fn minor_units<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    use serde::de::Error;

    let raw = Box::<serde_json::value::RawValue>::deserialize(deserializer)?;
    let text = raw.get().trim();
    let expected = format!("expected an integer from 1 to {MAX_AMOUNT} (minor units)");
    let kind = match text.as_bytes().first() {
        Some(b'-' | b'0'..=b'9') => None,
        Some(b'"') => Some("a string"),
        Some(b'n') => Some("null"),
        Some(b't' | b'f') => Some("a boolean"),
        Some(b'[') => Some("an array"),
        _ => Some("an object"),
    };
    if let Some(kind) = kind {
        return Err(D::Error::custom(format!(
            "invalid type: {kind}, {expected}"
        )));
    }
    whole_number(text).map_err(|why| D::Error::custom(format!("{text} is {why}, {expected}")))
}

/// [`minor_units`] for an optional field (`null` is absent).
pub fn opt_minor_units<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u64>, D::Error> {
    let raw = Box::<serde_json::value::RawValue>::deserialize(deserializer)?;
    if raw.get().trim() == "null" {
        return Ok(None);
    }
    minor_units(raw.as_ref())
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// The whole number a JSON number's text stands for, exactly; `u64::MAX` when beyond it.
///
/// # Errors
/// "negative" or "not a whole number".
fn whole_number(text: &str) -> Result<u64, &'static str> {
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = text.split_once(['e', 'E']).unwrap_or((text, "0"));
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: String = whole.chars().chain(fraction.chars()).collect();
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Ok(0);
    }
    if negative {
        return Err("negative");
    }
    // The decimal point moves right by `shift` places (left when negative).
    let exponent: i64 =
        exponent
            .trim_start_matches('+')
            .parse()
            .unwrap_or(if exponent.starts_with('-') {
                i64::MIN
            } else {
                i64::MAX
            });
    let fraction_len = i64::try_from(fraction.len()).unwrap_or(i64::MAX);
    let shift = exponent.saturating_sub(fraction_len);
    let digits = if shift < 0 {
        let drop = usize::try_from(shift.unsigned_abs()).unwrap_or(usize::MAX);
        if drop >= digits.len() {
            return Err("not a whole number");
        }
        let (kept, dropped) = digits.split_at(digits.len() - drop);
        if dropped.bytes().any(|b| b != b'0') {
            return Err("not a whole number");
        }
        kept
    } else {
        digits
    };
    let zeros = usize::try_from(shift.max(0)).unwrap_or(usize::MAX);
    let value = digits
        .bytes()
        .map(|b| u64::from(b - b'0'))
        .chain(std::iter::repeat_n(0, zeros.min(20)))
        .try_fold(0u64, |value, digit| {
            value.checked_mul(10)?.checked_add(digit)
        });
    Ok(value.unwrap_or(u64::MAX))
}

// ---- authorizations ---------------------------------------------------------------------------

/// `POST /v1/authorizations`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAuthorization {
    /// Your own id of the customer (1 to 64 characters).
    #[schema(min_length = 1, max_length = 64)]
    pub customer_id: String,
    /// Alipay's `customerBelongsTo`: the user's wallet.
    #[schema(schema_with = wallet_schema)]
    pub wallet: String,
    /// Where the user is: `WEB`, `WAP`, `APP` or `MINI_APP`.
    #[schema(schema_with = terminal_schema)]
    pub terminal_type: String,
    /// `IOS` or `ANDROID`: required for `WAP`, `APP` and `MINI_APP`.
    #[serde(default)]
    #[schema(schema_with = os_schema)]
    pub os_type: Option<String>,
    /// Where the user is sent once the binding ends (`https`, or `http` on loopback; at most
    /// 1024 bytes; among `api.return_url_origins` when those are configured), with
    /// `authorization_id` and `status` added.
    #[schema(
        example = "https://shop.example/account",
        min_length = 1,
        max_length = 1024
    )]
    pub return_url: String,
    /// For acquirers and ISVs: the secondary merchant the user authorizes (its
    /// `referenceMerchantId`, 1 to 64 characters). Sent to Alipay as `authClientId`, and with
    /// every payment of this authorization as `order.merchant.referenceMerchantId`. Alipay may
    /// require it to be registered (`/v1/secondary_merchants`).
    #[serde(default)]
    #[schema(example = "sub_shop_1", min_length = 1, max_length = 64)]
    pub secondary_merchant: Option<String>,
}

/// `GET /v1/authorizations` filters.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListAuthorizations {
    /// Only this customer's.
    pub customer_id: Option<String>,
    /// Only those with this status.
    #[param(schema_with = authorization_status_schema)]
    pub status: Option<String>,
    /// 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The id of the last item of the page before.
    pub starting_after: Option<String>,
}

/// An authorization: a user's consent to be charged. Its token never leaves the server.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AuthorizationBody {
    /// `auth_…`.
    pub id: String,
    /// Always `authorization`.
    pub object: &'static str,
    /// Your customer id.
    pub customer_id: String,
    /// The wallet.
    pub wallet: String,
    /// The terminal type given.
    pub terminal_type: String,
    /// The OS type given.
    pub os_type: Option<String>,
    /// `awaiting_user`, `active`, `needs_reauthorization`, `revoked`, `declined`, `expired`, `failed`.
    #[schema(schema_with = authorization_status_body)]
    pub status: &'static str,
    /// Who revoked it (`merchant` or `user`), when revoked.
    pub revoked_by: Option<&'static str>,
    /// The URL the user opens to consent, while awaiting the user.
    pub auth_url: Option<String>,
    /// Scan to Bind: the value to show as a QR code, when Alipay gave one.
    pub qr_code: Option<String>,
    /// Where the user is sent at the end.
    pub return_url: String,
    /// The secondary merchant the user authorized, when one was named.
    pub secondary_merchant: Option<String>,
    /// The user's login id at the wallet, masked by Alipay.
    pub user_login_id: Option<String>,
    /// When the access token expires (the token itself is never shown).
    pub access_token_expires_at: Option<String>,
    /// When the refresh token expires.
    pub refresh_token_expires_at: Option<String>,
    /// Why it failed, for `failed`, `needs_reauthorization`.
    pub failure: Option<Failure>,
    /// When it was created.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
}

/// The merchant-facing status of a domain state.
pub fn authorization_status(state: AuthorizationState) -> &'static str {
    use AuthorizationState as S;
    match state {
        S::Consulting | S::AwaitingUser | S::Exchanging => "awaiting_user",
        S::Active | S::Refreshing => "active",
        S::NeedsReauthorization | S::Invalid => "needs_reauthorization",
        S::Revoking | S::Revoked(_) => "revoked",
        S::Declined => "declined",
        S::Expired => "expired",
        S::Failed => "failed",
    }
}

/// The domain states a merchant-facing status stands for (`None`: no such status).
pub fn authorization_states(status: &str) -> Option<Vec<AuthorizationState>> {
    let states: Vec<_> = AuthorizationState::ALL
        .into_iter()
        .filter(|s| authorization_status(*s) == status)
        .collect();
    (!states.is_empty()).then_some(states)
}

impl From<&Authorization> for AuthorizationBody {
    fn from(a: &Authorization) -> Self {
        let status = authorization_status(a.state);
        let failure = a
            .failure
            .as_ref()
            .map(|code| Failure {
                code: code.clone(),
                message: failure_message(ams_protocol::Api::ApplyToken, code),
            })
            .or_else(|| {
                (a.state == AuthorizationState::Invalid).then(|| Failure {
                    code: "INVALID_ACCESS_TOKEN".into(),
                    message:
                        "Alipay refused the token when charging: the user must authorize again"
                            .into(),
                })
            });
        Self {
            id: a.id.to_string(),
            object: "authorization",
            customer_id: a.customer_id.clone(),
            wallet: a.wallet.as_str().to_owned(),
            terminal_type: a.terminal_type.as_str().to_owned(),
            os_type: a.os_type.as_ref().map(|o| o.as_str().to_owned()),
            status,
            revoked_by: match a.state {
                AuthorizationState::Revoked(RevokedBy::Merchant) | AuthorizationState::Revoking => {
                    Some("merchant")
                }
                AuthorizationState::Revoked(RevokedBy::User) => Some("user"),
                _ => None,
            },
            auth_url: (status == "awaiting_user")
                .then(|| a.auth_url.clone())
                .flatten(),
            qr_code: (status == "awaiting_user")
                .then(|| a.qr_code.clone())
                .flatten(),
            return_url: a.return_url.clone(),
            secondary_merchant: a.secondary_merchant.clone(),
            user_login_id: a.user_login_id.clone(),
            access_token_expires_at: a.token.as_ref().map(|t| time(t.access_expires_at)),
            refresh_token_expires_at: a
                .token
                .as_ref()
                .and_then(|t| t.refresh_expires_at)
                .map(time),
            failure,
            created_at: time(a.created_at),
            updated_at: time(a.updated_at),
        }
    }
}

/// What a failure code means: the decision table's reason for an `F` answer of `api`, or ours.
pub(crate) fn failure_message(api: ams_protocol::Api, code: &str) -> String {
    match code {
        "NOT_FOUND_AFTER_EXPIRY" => {
            "Alipay had no such payment after its expiry: nothing was charged".into()
        }
        "NOT_SENT" => "the request never reached Alipay: nothing happened there".into(),
        "CONSULT_INTERRUPTED" => "the server stopped while asking Alipay; start again".into(),
        "CONSULT_UNANSWERED" => {
            "Alipay did not answer consult (or its answer could not be verified); start again"
                .into()
        }
        "EXCHANGE_UNKNOWN" => {
            "Alipay never answered the code exchange, however often it was asked; the code may have been used: start again"
                .into()
        }
        "REFRESH_UNKNOWN" => {
            "Alipay never answered the token refresh before the token expired: the user must authorize again"
                .into()
        }
        _ => {
            let (_, why) = autodebit_domain::decision::decide(
                api,
                &ams_protocol::ResultStatus::F,
                &ams_protocol::ResultCode::from(code),
            );
            if why == "no rule matched" {
                format!("Alipay answered {code}")
            } else {
                format!("Alipay answered {code}: {why}")
            }
        }
    }
}

/// Parses a wallet name (Alipay's `customerBelongsTo`), known values only.
pub fn parse_wallet(value: &str) -> Option<CustomerBelongsTo> {
    Some(CustomerBelongsTo::from_wire(value)).filter(CustomerBelongsTo::is_known)
}

/// Parses a terminal type, known values only.
pub fn parse_terminal(value: &str) -> Option<TerminalType> {
    Some(TerminalType::from_wire(value)).filter(TerminalType::is_known)
}

/// Parses an OS type, known values only.
pub fn parse_os(value: &str) -> Option<OsType> {
    Some(OsType::from_wire(value)).filter(OsType::is_known)
}

// ---- payments ---------------------------------------------------------------------------------

/// `POST /v1/payments`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePayment {
    /// The authorization to charge (`auth_…`, `active`).
    pub authorization_id: String,
    /// In the currency's minor units (cents for USD), more than 0.
    #[serde(deserialize_with = "minor_units")]
    #[schema(example = 1000, minimum = 1, maximum = 9_007_199_254_740_991_u64)]
    pub amount: u64,
    /// ISO 4217.
    #[schema(schema_with = currency_schema)]
    pub currency: String,
    /// Your order reference (1 to 64 characters): unique; paying the same order again is a retry.
    #[schema(min_length = 1, max_length = 64)]
    pub reference: String,
    /// What is paid for, shown to the user (1 to 256 characters).
    #[schema(min_length = 1, max_length = 256)]
    pub description: String,
    /// Where the wallet sends the user back when it needed them for this payment (see
    /// `next_action`): `https`, or `http` on loopback; at most 1024 bytes; among
    /// `api.return_url_origins` when those are configured. Sent to Alipay as
    /// `paymentRedirectUrl` with every attempt.
    #[serde(default)]
    #[schema(
        example = "https://shop.example/orders/42",
        min_length = 1,
        max_length = 1024,
        pattern = r"^(https://[A-Za-z0-9.-]+|http://(127\.0\.0\.1|localhost|\[::1\]))(:[0-9]{1,5})?([/?#][!-~]*)?$"
    )]
    pub return_url: Option<String>,
}

/// `GET /v1/payments` filters.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListPayments {
    /// Only the payment with this reference.
    pub reference: Option<String>,
    /// Only those with this status.
    #[param(schema_with = payment_status_schema)]
    pub status: Option<String>,
    /// Only those charged on this authorization.
    pub authorization_id: Option<String>,
    /// 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The id of the last item of the page before.
    pub starting_after: Option<String>,
}

/// One attempt to charge a payment (a `paymentRequestId` at Alipay).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AttemptBody {
    /// The `paymentRequestId` sent to Alipay.
    pub payment_request_id: String,
    /// `created`, `sent`, `unknown`, `inquiring`, `cancel_requested`, `confirming`, `succeeded`,
    /// `failed`, `cancelled`.
    #[schema(schema_with = attempt_status_body)]
    pub status: &'static str,
    /// Alipay's `paymentId`, once known.
    pub payment_id: Option<String>,
    /// Alipay's last result code.
    pub result_code: Option<String>,
    /// When it was created.
    pub created_at: String,
    /// Its `paymentExpiryTime`.
    pub expires_at: String,
}

/// Something a person should look at, and what they can do.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AttentionBody {
    /// `atn_…`.
    pub id: String,
    /// Always `attention`.
    pub object: &'static str,
    /// What it is about: `authorization`, `order` (a payment), `refund`, `job`, `notification`.
    pub subject_type: &'static str,
    /// Its id.
    pub subject_id: String,
    /// A stable code (`cancel_unanswered`, `success_after_not_found`, `job_dead_letter`, …).
    pub code: String,
    /// What is wrong.
    pub reason: String,
    /// What was tried.
    pub tried: String,
    /// What can be done: `inquire_now`, `retry_cancel`, `refund`, `resolve`.
    pub actions: Vec<&'static str>,
    /// Resolved (with a reason), or open.
    pub resolved: bool,
    /// Why it was resolved.
    pub resolution: Option<String>,
    /// When it opened.
    pub opened_at: String,
    /// When it last changed.
    pub updated_at: String,
}

impl From<&AttentionItem> for AttentionBody {
    fn from(i: &AttentionItem) -> Self {
        Self {
            id: i.id.to_string(),
            object: "attention",
            subject_type: match &i.subject {
                Subject::Order(_) => "payment",
                other => other.kind(),
            },
            subject_id: i.subject.id().to_owned(),
            code: i.code.clone(),
            reason: i.reason.clone(),
            tried: i.tried.clone(),
            actions: i.actions.iter().map(|a| a.name()).collect(),
            resolved: i.resolution.is_some(),
            resolution: i.resolution.as_ref().map(|r| r.reason.clone()),
            opened_at: time(i.opened_at),
            updated_at: time(i.updated_at),
        }
    }
}

/// A payment: one business order, its attempts (at most one live), refunds and anything that
/// needs a person.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PaymentBody {
    /// `pay_…`.
    pub id: String,
    /// Always `payment`.
    pub object: &'static str,
    /// The authorization charged.
    pub authorization_id: String,
    /// In minor units.
    pub amount: u64,
    /// ISO 4217.
    pub currency: String,
    /// Your reference.
    pub reference: String,
    /// What is paid for.
    pub description: String,
    /// Where the wallet sends the user back when it needed them, if given.
    pub return_url: Option<String>,
    /// `processing`, `succeeded`, `failed`, `cancelled`.
    #[schema(schema_with = payment_status_body)]
    pub status: &'static str,
    /// How much has been refunded (in minor units).
    pub amount_refunded: u64,
    /// Why it failed, when `failed`.
    pub failure: Option<Failure>,
    /// What the user must do before the payment can finish, while it is `processing` and the
    /// wallet asked for the user; `null` otherwise.
    pub next_action: Option<NextActionBody>,
    /// Whether a person should look at it (see `attention`).
    pub needs_attention: bool,
    /// What needs a person, with what was tried and what can be done.
    pub attention: Vec<AttentionBody>,
    /// The attempts, oldest first.
    pub attempts: Vec<AttemptBody>,
    /// When it was created.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
}

/// The wallet needs its user before it can finish the payment (Alipay's `pay` answered
/// `PAYMENT_IN_PROCESS` with where to send them). Send the user to one of these before
/// `expires_at`; the payment then succeeds or fails by itself (a `payment.succeeded` or
/// `payment.failed` event follows). Nothing is charged until the user completes it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct NextActionBody {
    /// Always `redirect_to_wallet`.
    #[serde(rename = "type")]
    #[schema(example = "redirect_to_wallet")]
    pub kind: &'static str,
    /// A web page (`normalUrl`): what a web integration opens.
    pub url: Option<String>,
    /// Opens the wallet app (`schemeUrl`).
    pub scheme_url: Option<String>,
    /// Opens the wallet app, or a web page without it (`applinkUrl`).
    pub applink_url: Option<String>,
    /// The wallet app's Android package (`appIdentifier`).
    pub app_identifier: Option<String>,
    /// Until when the user can complete it (the attempt's `paymentExpiryTime`).
    pub expires_at: String,
}

/// What the user must do for `v`'s live attempt, if the wallet asked for them.
fn next_action(v: &PaymentView) -> Option<NextActionBody> {
    let latest = v.latest();
    let action = latest.wallet_action.as_ref()?;
    (v.status() == Status::Processing && latest.state.is_unresolved()).then(|| NextActionBody {
        kind: "redirect_to_wallet",
        url: action.normal_url.clone(),
        scheme_url: action.scheme_url.clone(),
        applink_url: action.applink_url.clone(),
        app_identifier: action.app_identifier.clone(),
        expires_at: time(latest.expires_at),
    })
}

/// The merchant-facing name of a payment status.
pub fn payment_status(status: Status) -> &'static str {
    status.name()
}

/// Every merchant-facing payment status.
pub const PAYMENT_STATUSES: [&str; 4] = ["processing", "succeeded", "failed", "cancelled"];

/// The order states a merchant-facing payment status stands for.
pub fn order_states(status: &str) -> Option<Vec<OrderState>> {
    use OrderState as S;
    match status {
        "processing" => Some(vec![S::Pending]),
        "succeeded" => Some(vec![S::Succeeded, S::PartlyRefunded, S::FullyRefunded]),
        "failed" => Some(vec![S::Failed]),
        "cancelled" => Some(vec![S::Cancelled]),
        _ => None,
    }
}

fn attempt_body(a: &PaymentAttempt) -> AttemptBody {
    AttemptBody {
        payment_request_id: a.payment_request_id.as_str().to_owned(),
        status: a.state.name(),
        payment_id: a.payment_id.as_ref().map(|p| p.as_str().to_owned()),
        result_code: a.result_code.clone(),
        created_at: time(a.created_at),
        expires_at: time(a.expires_at),
    }
}

impl From<&PaymentView> for PaymentBody {
    fn from(v: &PaymentView) -> Self {
        let status = v.status();
        let latest = v.latest();
        let failure = (status == Status::Failed).then(|| {
            let code = latest
                .result_code
                .clone()
                .unwrap_or_else(|| "FAILED".into());
            Failure {
                message: failure_message(ams_protocol::Api::Pay, &code),
                code,
            }
        });
        Self {
            id: v.order.id.to_string(),
            object: "payment",
            authorization_id: v.order.authorization_id.to_string(),
            amount: v.order.amount.minor_units(),
            currency: v.order.amount.currency.code().to_owned(),
            reference: v.order.reference.clone(),
            description: v.order.description.clone(),
            return_url: v.order.return_url.clone(),
            status: payment_status(status),
            amount_refunded: v.order.refunded,
            failure,
            next_action: next_action(v),
            needs_attention: v.needs_attention(),
            attention: v.attention.iter().map(AttentionBody::from).collect(),
            attempts: v.attempts.iter().map(attempt_body).collect(),
            created_at: time(v.order.created_at),
            updated_at: time(
                v.attempts
                    .iter()
                    .map(|a| a.updated_at)
                    .chain([v.order.updated_at])
                    .max()
                    .unwrap_or(v.order.updated_at),
            ),
        }
    }
}

/// Parses an ISO 4217 code.
pub fn parse_currency(code: &str) -> Option<Currency> {
    Currency::parse(code).ok()
}

/// Whether `state` is a live (not final) attempt state: shown for completeness.
pub fn attempt_is_live(state: AttemptState) -> bool {
    !state.is_final()
}

// ---- refunds ----------------------------------------------------------------------------------

/// `POST /v1/payments/{id}/refunds`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRefund {
    /// In the payment's currency's minor units, more than 0, at most what is left to refund.
    #[serde(deserialize_with = "minor_units")]
    #[schema(example = 500, minimum = 1, maximum = 9_007_199_254_740_991_u64)]
    pub amount: u64,
    /// Why (at most 256 characters).
    #[serde(default)]
    #[schema(max_length = 256)]
    pub reason: Option<String>,
}

/// A refund of a payment.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RefundBody {
    /// `re_…`.
    pub id: String,
    /// Always `refund`.
    pub object: &'static str,
    /// The payment refunded.
    pub payment_id: String,
    /// In minor units.
    pub amount: u64,
    /// ISO 4217.
    pub currency: String,
    /// `processing`, `succeeded`, `failed`.
    #[schema(schema_with = refund_status_body)]
    pub status: &'static str,
    /// Who asked: `merchant`, or `cancel_too_late` (a cancel could not be done in time and the
    /// payment turned out paid).
    pub origin: &'static str,
    /// The `refundRequestId` sent to Alipay.
    pub refund_request_id: String,
    /// Alipay's `refundId`, once known.
    pub alipay_refund_id: Option<String>,
    /// Why it failed, when `failed`.
    pub failure: Option<Failure>,
    /// When it was created.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
}

/// The merchant-facing status of a refund state.
pub fn refund_status(state: RefundState) -> &'static str {
    match state {
        RefundState::Succeeded => "succeeded",
        RefundState::Failed => "failed",
        RefundState::Requested
        | RefundState::Sent
        | RefundState::Unknown
        | RefundState::Inquiring => "processing",
    }
}

impl From<&Refund> for RefundBody {
    fn from(r: &Refund) -> Self {
        let status = refund_status(r.state);
        Self {
            id: r.id.to_string(),
            object: "refund",
            payment_id: r.order_id.to_string(),
            amount: r.amount.minor_units(),
            currency: r.amount.currency.code().to_owned(),
            status,
            origin: match r.origin {
                RefundOrigin::Merchant => "merchant",
                RefundOrigin::CancelTooLate => "cancel_too_late",
            },
            refund_request_id: r.refund_request_id.as_str().to_owned(),
            alipay_refund_id: r.alipay_refund_id.as_ref().map(|i| i.as_str().to_owned()),
            failure: (status == "failed").then(|| {
                let code = r.result_code.clone().unwrap_or_else(|| "FAILED".into());
                Failure {
                    message: failure_message(ams_protocol::Api::Refund, &code),
                    code,
                }
            }),
            created_at: time(r.created_at),
            updated_at: time(r.updated_at),
        }
    }
}

// ---- customs declarations ---------------------------------------------------------------------

/// The buyer, as customs checks them against the payer (recommended: customs spot-checks).
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BuyerBody {
    /// `ID_CARD` (the type customs' samples use) or another certificate type Alipay accepts.
    #[schema(example = "ID_CARD", max_length = 64)]
    pub certificate_type: String,
    /// The certificate's number (personal data: stored encrypted, never shown in answers).
    #[schema(max_length = 64)]
    pub certificate_no: String,
    /// The holder's full name.
    #[schema(max_length = 128)]
    pub full_name: String,
}

impl std::fmt::Debug for BuyerBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuyerBody")
            .field("certificate_type", &self.certificate_type)
            .finish_non_exhaustive()
    }
}

/// `POST /v1/payments/{id}/customs_declarations`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDeclaration {
    /// In minor units (default: what the payment took). The declarations not refused never add up
    /// to more than was paid.
    #[serde(default, deserialize_with = "opt_minor_units")]
    #[schema(example = 1000, minimum = 1, maximum = 9_007_199_254_740_991_u64)]
    pub amount: Option<u64>,
    /// ISO 4217 (default: the payment's currency; customs declarations are usually in CNY).
    #[serde(default)]
    #[schema(example = "CNY")]
    pub currency: Option<String>,
    /// The customs office's code (`ZONGSHU`, `SHANGHAI_CBT`, `NINGBO`, `ZHENGZHOU`, ...).
    #[schema(example = "ZONGSHU", max_length = 64)]
    pub customs_code: String,
    /// The merchant's registration code at that customs office.
    #[schema(max_length = 128)]
    pub merchant_customs_code: String,
    /// The merchant's registered name at that customs office.
    #[schema(max_length = 256)]
    pub merchant_customs_name: String,
    /// Set when this declaration is one part of a split order: the sub-order's id, as customs
    /// receives it.
    #[serde(default)]
    #[schema(max_length = 64)]
    pub suborder_id: Option<String>,
    /// The buyer.
    #[serde(default)]
    pub buyer: Option<BuyerBody>,
}

/// `POST /v1/customs_declarations/{id}/resend`: only what Alipay lets a re-send change (at least
/// one), more than five minutes after the previous call.
#[derive(Clone, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ResendDeclaration {
    /// The new amount, in minor units of the declaration's currency.
    #[serde(default, deserialize_with = "opt_minor_units")]
    #[schema(minimum = 1, maximum = 9_007_199_254_740_991_u64)]
    pub amount: Option<u64>,
    /// The customs office's code.
    #[serde(default)]
    pub customs_code: Option<String>,
    /// The merchant's customs code.
    #[serde(default)]
    pub merchant_customs_code: Option<String>,
    /// The merchant's customs name.
    #[serde(default)]
    pub merchant_customs_name: Option<String>,
    /// The sub-order id (a split order only).
    #[serde(default)]
    pub suborder_id: Option<String>,
    /// The buyer's full name (only when a buyer was declared).
    #[serde(default)]
    pub buyer_full_name: Option<String>,
    /// The buyer's certificate number (only when a buyer was declared).
    #[serde(default)]
    pub buyer_certificate_no: Option<String>,
}

impl std::fmt::Debug for ResendDeclaration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResendDeclaration")
            .field("amount", &self.amount)
            .field("customs_code", &self.customs_code)
            .finish_non_exhaustive()
    }
}

/// What customs said, once it answered (from `inquiryDeclarationRequests`).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CustomsResultBody {
    /// Customs' processing status as Alipay reports it (its value set is not documented).
    pub status: Option<String>,
    /// Customs' result code.
    pub code: Option<String>,
    /// Customs' description.
    pub description: Option<String>,
    /// When customs answered (as Alipay wrote it).
    pub returned_at: Option<String>,
}

/// A customs declaration of a paid payment (China customs only).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DeclarationBody {
    /// `cd_…`.
    pub id: String,
    /// Always `customs_declaration`.
    pub object: &'static str,
    /// The payment declared.
    pub payment_id: String,
    /// In minor units.
    pub amount: u64,
    /// ISO 4217.
    pub currency: String,
    /// The customs office's code.
    pub customs_code: String,
    /// `processing` (Alipay has not answered yet), `accepted` (customs' answer is read as it
    /// comes), `completed` (customs answered), `failed` (Alipay refused it: declare again).
    #[schema(schema_with = declaration_status_body)]
    pub status: &'static str,
    /// The `declarationRequestId` sent to Alipay (the same for every re-send).
    pub declaration_request_id: String,
    /// Customs' payment number, once Alipay accepted it.
    pub customs_payment_id: Option<String>,
    /// Customs' order number, once Alipay accepted it.
    pub customs_order_id: Option<String>,
    /// `CHECK_PASSED` or `CHECK_NOT_PASSED` (whether the buyer is the payer), when checked.
    pub identity_check_result: Option<String>,
    /// Customs' answer, once there is one.
    pub customs_result: Option<CustomsResultBody>,
    /// Why Alipay refused it, when `failed`; or why it refused the last re-send (the declaration
    /// it accepted before stands).
    pub failure: Option<Failure>,
    /// How many times it was sent (first send, retries of the same body, re-sends).
    pub sends: u32,
    /// When it was created.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
}

/// The merchant-facing status of a declaration.
pub fn declaration_status(d: &Declaration) -> &'static str {
    match d.state {
        DeclarationState::Refused => "failed",
        DeclarationState::Accepted if d.customs_answered() => "completed",
        DeclarationState::Accepted => "accepted",
        DeclarationState::Requested | DeclarationState::Sent | DeclarationState::Unknown => {
            "processing"
        }
    }
}

fn declaration_status_body() -> Object {
    one_of(
        ["processing", "accepted", "completed", "failed"],
        false,
        "Where the declaration stands.",
        "completed",
    )
}

impl From<&Declaration> for DeclarationBody {
    fn from(d: &Declaration) -> Self {
        let status = declaration_status(d);
        let accepted = d.accepted.as_ref();
        Self {
            id: d.id.to_string(),
            object: "customs_declaration",
            payment_id: d.order_id.to_string(),
            amount: d.amount.minor_units(),
            currency: d.amount.currency.code().to_owned(),
            customs_code: d.customs_code.clone(),
            status,
            declaration_request_id: d.declaration_request_id.as_str().to_owned(),
            customs_payment_id: accepted.and_then(|a| a.customs_payment_id.clone()),
            customs_order_id: accepted.and_then(|a| a.customs_order_id.clone()),
            identity_check_result: accepted
                .and_then(|a| a.identity_check_result.as_ref())
                .map(|r| r.as_str().to_owned()),
            customs_result: d.record.as_ref().map(|r| CustomsResultBody {
                status: r.declaration_request_status.clone(),
                code: r.customs_declaration_result_code.clone(),
                description: r.customs_declaration_result_desc.clone(),
                returned_at: r
                    .customs_declaration_return_time
                    .as_ref()
                    .map(|t| t.as_str().to_owned()),
            }),
            failure: (status == "failed" || (status != "processing" && d.result_code.is_some()))
                .then(|| {
                    let code = d.result_code.clone().unwrap_or_else(|| "FAILED".into());
                    Failure {
                        message: d
                            .result_message
                            .clone()
                            .unwrap_or_else(|| failure_message(ams_protocol::Api::Declare, &code)),
                        code,
                    }
                }),
            sends: d.sends,
            created_at: time(d.created_at),
            updated_at: time(d.updated_at),
        }
    }
}

// ---- lists, operations, sandbox ---------------------------------------------------------------

/// `GET /v1/attention` and list pages.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The id of the last item of the page before.
    pub starting_after: Option<String>,
}

/// A page of a list.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct List<T: ToSchema> {
    /// Always `list`.
    pub object: &'static str,
    /// The items, newest first (attention: oldest first).
    pub data: Vec<T>,
    /// Whether more follow: ask again with `starting_after` = the last item's id.
    pub has_more: bool,
}

impl<T: ToSchema> List<T> {
    /// A page.
    pub fn new(data: Vec<T>, has_more: bool) -> Self {
        Self {
            object: "list",
            data,
            has_more,
        }
    }
}

/// `POST …/resolve`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resolve {
    /// Why it is resolved (1 to 1000 characters, not all white space): kept with the item.
    #[schema(schema_with = reason_schema)]
    pub reason: String,
}

/// `GET /v1/sandbox`: the embedded sandbox (sandbox mode only).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SandboxBody {
    /// The sandbox's base URL; its control API is `GET {sandbox_url}/sandbox`.
    pub sandbox_url: String,
    /// The demo user's login id at the sandbox wallet (null without one).
    pub demo_user: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The amount of a refund body, read as the server reads a body.
    fn amount(json: &str) -> Result<u64, String> {
        crate::http::extract::parse_json::<CreateRefund>(
            format!(r#"{{"amount": {json}}}"#).as_bytes(),
        )
        .map(|r| r.amount)
        .map_err(|e| format!("{:?}", e.problem()))
    }

    #[test]
    fn an_amount_is_a_whole_number_however_it_is_written() {
        assert_eq!(amount("126052"), Ok(126_052));
        // The schema's `integer` admits 126052.0 (JSON Schema counts numbers, not spellings).
        assert_eq!(amount("126052.0"), Ok(126_052));
        assert_eq!(amount("1e3"), Ok(1_000));
        assert_eq!(amount("1.5E+3"), Ok(1_500));
        assert_eq!(amount("15000e-1"), Ok(1_500));
        assert_eq!(amount("0.0"), Ok(0));
        assert_eq!(amount("-0"), Ok(0));
        // serde_json would read 9007199254740991.0 as 9007199254740990 through a float.
        assert_eq!(amount("9007199254740991.0"), Ok(MAX_AMOUNT));
        assert_eq!(amount("7008961263705108.0"), Ok(7_008_961_263_705_108));
        assert_eq!(amount("9007199254740991"), Ok(MAX_AMOUNT));
        // Beyond u64: the handler refuses it with the range.
        assert_eq!(amount("1e300"), Ok(u64::MAX));
        assert_eq!(amount("184467440737095516150"), Ok(u64::MAX));
        for refused in [
            "12.5", "1e-1", "1.05e1", "-1", "-1.0", "\"1000\"", "null", "true", "[1]", "{}",
        ] {
            assert!(amount(refused).is_err(), "{refused} was taken");
        }
    }

    #[test]
    fn white_space_is_what_rust_trims() {
        for c in (0..=0x10_FFFF).filter_map(char::from_u32) {
            assert_eq!(c.is_whitespace(), WHITE_SPACE.contains(&c), "{c:?}");
        }
    }

    #[test]
    fn every_status_the_api_shows_is_in_its_schema() {
        for status in PAYMENT_STATUSES {
            assert!(order_states(status).is_some(), "{status}");
        }
        for status in [
            Status::Processing,
            Status::Succeeded,
            Status::Failed,
            Status::Cancelled,
        ] {
            assert!(PAYMENT_STATUSES.contains(&payment_status(status)));
        }
    }
}

// ---- events -------------------------------------------------------------------------------------

/// An event's `type`.
fn event_type_body() -> Object {
    one_of(
        EventKind::ALL.iter().map(EventKind::name),
        false,
        "What happened.",
        "payment.succeeded",
    )
}

/// `GET /v1/events?type=`.
fn event_type_schema() -> Object {
    one_of(
        EventKind::ALL.iter().map(EventKind::name),
        false,
        "Only events of this type.",
        "payment.succeeded",
    )
}

/// `GET /v1/events`.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// Only events of this type (e.g. `payment.succeeded`).
    #[serde(rename = "type")]
    #[param(schema_with = event_type_schema)]
    pub kind: Option<String>,
    /// Only events about this resource (`auth_…`, `pay_…`, `re_…`).
    pub subject: Option<String>,
    /// 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The id of the last event of the page before.
    pub starting_after: Option<String>,
}

/// Something that happened, as the merchant's systems hear it: written in the same transaction as
/// the change it reports, with the resource as it is when read.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EventBody {
    /// `evt_…`: stable, the same however often the event is read or delivered.
    pub id: String,
    /// Always `event`.
    pub object: &'static str,
    /// What happened.
    #[serde(rename = "type")]
    #[schema(schema_with = event_type_body)]
    pub kind: &'static str,
    /// When it happened.
    pub created_at: String,
    /// The id of what it happened to: an authorization, a payment or a refund (for
    /// `operator.attention`, whatever needs a person, a job included).
    pub subject: String,
    /// A reason or a result code, when there is one.
    pub detail: Option<String>,
    /// The resource.
    pub data: EventData,
    /// Its deliveries to the webhook endpoints, with every try (only when one event is read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deliveries: Option<Vec<DeliveryBody>>,
}

/// A delivery's `status`.
fn delivery_status_body() -> Object {
    one_of(
        ["pending", "delivered", "failed"],
        false,
        "`pending` (to be tried, or again), `delivered` (the endpoint answered 2xx), `failed` (no tries left; `redeliver` sends it again).",
        "delivered",
    )
}

/// An event's delivery to one webhook endpoint.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DeliveryBody {
    /// The endpoint's id (`we_…`, see `/v1/webhook_endpoints`).
    pub endpoint: String,
    /// Where it stands.
    #[schema(schema_with = delivery_status_body)]
    pub status: String,
    /// When it is tried next, while `pending`.
    pub next_attempt_at: Option<String>,
    /// Every try, oldest first.
    pub attempts: Vec<DeliveryAttemptBody>,
}

/// One try of a delivery.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DeliveryAttemptBody {
    /// From 1.
    pub n: u32,
    /// When it was sent.
    pub at: String,
    /// The endpoint's HTTP status; `null` when no answer came.
    pub http_status: Option<u16>,
    /// How long it took, in milliseconds.
    pub latency_ms: i64,
    /// The answer's first bytes, or what went wrong.
    pub answer: String,
}

/// An event's resource.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EventData {
    /// The authorization, payment or refund as it is now; `null` when the subject is none of
    /// these.
    #[schema(value_type = Option<Object>)]
    pub object: Option<serde_json::Value>,
}
