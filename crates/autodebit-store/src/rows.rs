//! The mapping between the domain's records and rows: no database derives on domain or protocol
//! types, every column written and read here. Sealed columns go through the [`Keyring`] with the
//! table, the column and the row id as associated data.

use ams_protocol::{
    AccessToken, Amount, AuthCode, AuthState, Currency, CustomerBelongsTo, DeclarationRequestId,
    OsType, PaymentId, PaymentRequestId, RefreshToken, RefundRequestId, TerminalType,
};
use autodebit_domain::lifecycle::attempt::AttemptState;
use autodebit_domain::lifecycle::authorization::AuthorizationState;
use autodebit_domain::lifecycle::declaration::DeclarationState;
use autodebit_domain::lifecycle::order::OrderState;
use autodebit_domain::lifecycle::refund::RefundState;
use autodebit_domain::lifecycle::registration::RegistrationState;
use autodebit_domain::model::{
    AlipayRefundId, AttemptId, AttentionId, AttentionItem, Authorization, AuthorizationId, Body,
    CancelReason, Declaration, DeclarationId, Event, EventKind, IdempotencyRecord, InboxEntry, Job,
    JobId, JobKind, JobLease, LeaseToken, OperatorAction, Order, OrderId, PaymentAttempt, Refund,
    RefundId, RefundOrigin, Registration, RegistrationId, RegistrationRequestId, Resolution,
    Subject, TokenSet, WalletAction,
};
use autodebit_domain::ports::StoreError;

use crate::crypto::{CryptoError, Keyring};
use crate::db::{Row, Value};
use crate::merchant;

/// The columns of `authorizations`, in the order [`authorization`] reads them. Every column list
/// ends with `merchant_id`: inserts set it from the values, reads return it (the sealed columns
/// are bound to it).
macro_rules! authorization_columns {
    () => {
        "id, customer_id, wallet, terminal_type, os_type, return_url, auth_state, auth_url, state, \
         access_token, access_expires_at, refresh_token, refresh_expires_at, pending_auth_code, \
         user_login_id, failure, version, created_at, updated_at, key_version, access_token_index, \
         qr_code, tries, stray_token, consent_expires_at, secondary_merchant, merchant_id"
    };
}
/// The columns of `orders`.
macro_rules! order_columns {
    () => {
        "id, authorization_id, reference, description, currency, amount_minor, state, \
         refunded_minor, version, created_at, updated_at, merchant_id, return_url"
    };
}
/// The columns of `payment_attempts`.
macro_rules! attempt_columns {
    () => {
        "id, order_id, payment_request_id, request_body, currency, amount_minor, state, \
         payment_id, result_code, inquiries, late_success, cancel_started_at, expires_at, \
         version, created_at, updated_at, key_version, cancel_reason, merchant_id, \
         wallet_normal_url, wallet_scheme_url, wallet_applink_url, wallet_app_identifier"
    };
}
/// The columns of `refunds`.
macro_rules! refund_columns {
    () => {
        "id, order_id, refund_request_id, request_body, currency, amount_minor, state, \
         alipay_refund_id, result_code, sends, first_sent_at, inquiries, version, created_at, \
         updated_at, key_version, origin, not_sent, maybe_sent, merchant_id"
    };
}
/// The columns of `customs_declarations`.
macro_rules! declaration_columns {
    () => {
        "id, order_id, declaration_request_id, request_body, currency, amount_minor, \
         customs_code, state, result_code, result_message, accepted, record, sends, inquiries, \
         last_sent_at, round_started_at, key_version, version, created_at, updated_at, merchant_id"
    };
}
/// The columns of `secondary_merchant_registrations`.
macro_rules! registration_columns {
    () => {
        "id, reference_merchant_id, registration_request_id, request_body, state, result_code, \
         result_message, review, wallets, sends, inquiries, round_started_at, key_version, \
         version, created_at, updated_at, merchant_id"
    };
}
/// The columns of `jobs` that make a [`Job`], in the order [`job`] reads them.
macro_rules! job_columns {
    () => {
        "id, kind, subject, due_at, attempts, lease_token, lease_until"
    };
}
/// The columns of `attention_items`, in the order [`attention`] reads them.
macro_rules! attention_columns {
    () => {
        "id, subject_kind, subject_id, code, reason, tried, actions, opened_at, updated_at, \
         resolved_at, resolution, merchant_id"
    };
}
pub(crate) use {
    attempt_columns, attention_columns, authorization_columns, declaration_columns, job_columns,
    order_columns, refund_columns, registration_columns,
};

/// Blind-index purpose of the access token (current and retired ones share it, so a token is
/// found by the same index before and after a refresh rotates it away).
pub(crate) const ACCESS_TOKEN_INDEX: &str = "authorizations.access_token";

pub(crate) fn crypto(error: CryptoError) -> StoreError {
    match error {
        CryptoError::Config(m) => StoreError::Unavailable(m),
        other => StoreError::Corrupt(other.to_string()),
    }
}

fn to_i64(value: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(value)
        .map_err(|_| StoreError::Rejected(format!("{what} {value} is larger than a 64-bit column")))
}

fn to_u64(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} is negative ({value})")))
}

fn to_u32(value: i64, what: &str) -> Result<u32, StoreError> {
    u32::try_from(value)
        .map_err(|_| StoreError::Corrupt(format!("{what} is out of range ({value})")))
}

fn flag(row: &Row, i: usize) -> Result<bool, StoreError> {
    match row.int(i)? {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(StoreError::Corrupt(format!("{} is {other}", row.name(i)))),
    }
}

fn amount(row: &Row, currency: usize, minor: usize) -> Result<Amount, StoreError> {
    let code = row.text(currency)?;
    let currency = Currency::parse(&code).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(Amount::new(
        currency,
        to_u64(row.int(minor)?, row.name(minor))?,
    ))
}

/// A column holding a name, read back with `parse` (a state, an origin, a reason, …).
fn named<S>(row: &Row, i: usize, parse: fn(&str) -> Option<S>) -> Result<S, StoreError> {
    let name = row.text(i)?;
    parse(&name).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "{} {name:?} is not known to this version",
            row.name(i)
        ))
    })
}

fn opt_named<S>(
    row: &Row,
    i: usize,
    parse: fn(&str) -> Option<S>,
) -> Result<Option<S>, StoreError> {
    match row.opt_text(i)? {
        None => Ok(None),
        Some(_) => named(row, i, parse).map(Some),
    }
}

/// Opens a sealed column of `merchant`'s row `id`.
pub(crate) fn open(
    keys: &Keyring,
    (table, column): (&str, &str),
    id: &str,
    merchant: &str,
    sealed: Option<String>,
) -> Result<Option<String>, StoreError> {
    sealed
        .map(|s| {
            keys.open_scoped(table, column, id, merchant::scope(merchant), &s)
                .map_err(crypto)
        })
        .transpose()
}

/// Seals a column of `merchant`'s row `id` with the current key.
pub(crate) fn seal(
    keys: &Keyring,
    (table, column): (&str, &str),
    id: &str,
    merchant: &str,
    plain: Option<&str>,
) -> Result<Option<String>, StoreError> {
    plain
        .map(|p| {
            keys.seal_scoped(table, column, id, merchant::scope(merchant), p)
                .map_err(crypto)
        })
        .transpose()
}

/// An authorization row, decrypted.
pub(crate) fn authorization(row: &Row, keys: &Keyring) -> Result<Authorization, StoreError> {
    let id = row.text(0)?;
    let merchant = row.text(26)?;
    let sealed = |i: usize, column: &str| {
        open(
            keys,
            ("authorizations", column),
            &id,
            &merchant,
            row.opt_text(i)?,
        )
    };
    let access = sealed(9, "access_token")?;
    let refresh = sealed(11, "refresh_token")?;
    let code = sealed(13, "pending_auth_code")?;
    let stray = sealed(23, "stray_token")?;
    let token = match access {
        Some(access) => Some(TokenSet {
            access_token: AccessToken::new(access),
            access_expires_at: row.opt_int(10)?.ok_or_else(|| {
                StoreError::Corrupt(format!("authorization {id} has a token without an expiry"))
            })?,
            refresh_token: refresh.map(RefreshToken::new),
            refresh_expires_at: row.opt_int(12)?,
        }),
        None => None,
    };
    Ok(Authorization {
        customer_id: row.text(1)?,
        wallet: CustomerBelongsTo::from_wire(&row.text(2)?),
        terminal_type: TerminalType::from_wire(&row.text(3)?),
        os_type: row.opt_text(4)?.map(|o| OsType::from_wire(&o)),
        return_url: row.text(5)?,
        secondary_merchant: row.opt_text(25)?,
        auth_state: AuthState::new(row.text(6)?),
        auth_url: row.opt_text(7)?,
        qr_code: row.opt_text(21)?,
        state: named(row, 8, AuthorizationState::from_name)?,
        token,
        pending_auth_code: code.map(AuthCode::new),
        tries: to_u32(row.int(22)?, "tries")?,
        stray_token: stray.map(AccessToken::new),
        consent_expires_at: row.opt_int(24)?,
        user_login_id: row.opt_text(14)?,
        failure: row.opt_text(15)?,
        version: to_u64(row.int(16)?, "version")?,
        created_at: row.int(17)?,
        updated_at: row.int(18)?,
        id: AuthorizationId::new(id),
    })
}

/// The values of an authorization row, in [`authorization_columns`] order, every sealed column
/// sealed with the current key (the row's `key_version`), with `version` as given, ending with
/// `merchant`.
pub(crate) fn authorization_values(
    a: &Authorization,
    version: u64,
    keys: &Keyring,
    merchant: &str,
) -> Result<Vec<Value>, StoreError> {
    let id = a.id.as_str();
    let seal = |column: &str, plain: Option<&str>| {
        seal(keys, ("authorizations", column), id, merchant, plain)
    };
    let token = a.token.as_ref();
    let access = token.map(|t| t.access_token.expose_secret());
    Ok(vec![
        id.into(),
        a.customer_id.as_str().into(),
        a.wallet.as_str().into(),
        a.terminal_type.as_str().into(),
        a.os_type.as_ref().map(|o| o.as_str()).into(),
        a.return_url.as_str().into(),
        a.auth_state.as_str().into(),
        a.auth_url.as_deref().into(),
        a.state.name().into(),
        seal("access_token", access)?.into(),
        token.map(|t| t.access_expires_at).into(),
        seal(
            "refresh_token",
            token.and_then(|t| t.refresh_token.as_ref().map(|r| r.expose_secret())),
        )?
        .into(),
        token.and_then(|t| t.refresh_expires_at).into(),
        seal(
            "pending_auth_code",
            a.pending_auth_code.as_ref().map(|c| c.expose_secret()),
        )?
        .into(),
        a.user_login_id.as_deref().into(),
        a.failure.as_deref().into(),
        to_i64(version, "version")?.into(),
        a.created_at.into(),
        a.updated_at.into(),
        i64::from(keys.current_version()).into(),
        access
            .map(|t| keys.blind_index(ACCESS_TOKEN_INDEX, t))
            .into(),
        a.qr_code.as_deref().into(),
        i64::from(a.tries).into(),
        seal(
            "stray_token",
            a.stray_token.as_ref().map(|t| t.expose_secret()),
        )?
        .into(),
        a.consent_expires_at.into(),
        a.secondary_merchant.as_deref().into(),
        merchant.into(),
    ])
}

/// An order row.
pub(crate) fn order(row: &Row) -> Result<Order, StoreError> {
    Ok(Order {
        id: OrderId::new(row.text(0)?),
        authorization_id: AuthorizationId::new(row.text(1)?),
        reference: row.text(2)?,
        description: row.text(3)?,
        amount: amount(row, 4, 5)?,
        state: named(row, 6, OrderState::from_name)?,
        refunded: to_u64(row.int(7)?, "refunded_minor")?,
        return_url: row.opt_text(12)?,
        version: to_u64(row.int(8)?, "version")?,
        created_at: row.int(9)?,
        updated_at: row.int(10)?,
    })
}

/// The values of `merchant`'s order row, in [`order_columns`] order.
pub(crate) fn order_values(
    o: &Order,
    version: u64,
    merchant: &str,
) -> Result<Vec<Value>, StoreError> {
    Ok(vec![
        o.id.as_str().into(),
        o.authorization_id.as_str().into(),
        o.reference.as_str().into(),
        o.description.as_str().into(),
        o.amount.currency.code().into(),
        to_i64(o.amount.minor_units(), "amount")?.into(),
        o.state.name().into(),
        to_i64(o.refunded, "refunded amount")?.into(),
        to_i64(version, "version")?.into(),
        o.created_at.into(),
        o.updated_at.into(),
        merchant.into(),
        o.return_url.as_deref().into(),
    ])
}

/// A payment attempt row, decrypted.
pub(crate) fn attempt(row: &Row, keys: &Keyring) -> Result<PaymentAttempt, StoreError> {
    let id = row.text(0)?;
    let body = open(
        keys,
        ("payment_attempts", "request_body"),
        &id,
        &row.text(18)?,
        Some(row.text(3)?),
    )?
    .unwrap_or_default();
    Ok(PaymentAttempt {
        order_id: OrderId::new(row.text(1)?),
        payment_request_id: PaymentRequestId::new(row.text(2)?),
        request_body: Body::new(body),
        amount: amount(row, 4, 5)?,
        state: named(row, 6, AttemptState::from_name)?,
        payment_id: row.opt_text(7)?.map(PaymentId::new),
        result_code: row.opt_text(8)?,
        inquiries: to_u32(row.int(9)?, "inquiries")?,
        late_success: flag(row, 10)?,
        cancel_reason: opt_named(row, 17, CancelReason::from_name)?,
        cancel_started_at: row.opt_int(11)?,
        expires_at: row.int(12)?,
        wallet_action: Some(WalletAction {
            normal_url: row.opt_text(19)?,
            scheme_url: row.opt_text(20)?,
            applink_url: row.opt_text(21)?,
            app_identifier: row.opt_text(22)?,
        })
        .filter(|a| a != &WalletAction::default()),
        version: to_u64(row.int(13)?, "version")?,
        created_at: row.int(14)?,
        updated_at: row.int(15)?,
        id: AttemptId::new(id),
    })
}

/// The values of `merchant`'s attempt row, in [`attempt_columns`] order, sealed with the current
/// key.
pub(crate) fn attempt_values(
    a: &PaymentAttempt,
    version: u64,
    keys: &Keyring,
    merchant: &str,
) -> Result<Vec<Value>, StoreError> {
    let id = a.id.as_str();
    let mut values = vec![
        id.into(),
        a.order_id.as_str().into(),
        a.payment_request_id.as_str().into(),
        seal(
            keys,
            ("payment_attempts", "request_body"),
            id,
            merchant,
            Some(a.request_body.expose()),
        )?
        .into(),
        a.amount.currency.code().into(),
        to_i64(a.amount.minor_units(), "amount")?.into(),
        a.state.name().into(),
        a.payment_id.as_ref().map(PaymentId::as_str).into(),
        a.result_code.as_deref().into(),
        i64::from(a.inquiries).into(),
        i64::from(a.late_success).into(),
        a.cancel_started_at.into(),
        a.expires_at.into(),
        to_i64(version, "version")?.into(),
        a.created_at.into(),
        a.updated_at.into(),
        i64::from(keys.current_version()).into(),
        a.cancel_reason.map(CancelReason::name).into(),
        merchant.into(),
    ];
    let action = a.wallet_action.as_ref();
    values.extend([
        action.and_then(|w| w.normal_url.as_deref()).into(),
        action.and_then(|w| w.scheme_url.as_deref()).into(),
        action.and_then(|w| w.applink_url.as_deref()).into(),
        action.and_then(|w| w.app_identifier.as_deref()).into(),
    ]);
    Ok(values)
}

/// A refund row, decrypted.
pub(crate) fn refund(row: &Row, keys: &Keyring) -> Result<Refund, StoreError> {
    let id = row.text(0)?;
    let body = open(
        keys,
        ("refunds", "request_body"),
        &id,
        &row.text(19)?,
        Some(row.text(3)?),
    )?
    .unwrap_or_default();
    Ok(Refund {
        order_id: OrderId::new(row.text(1)?),
        refund_request_id: RefundRequestId::new(row.text(2)?),
        request_body: Body::new(body),
        amount: amount(row, 4, 5)?,
        origin: named(row, 16, RefundOrigin::from_name)?,
        state: named(row, 6, RefundState::from_name)?,
        alipay_refund_id: row.opt_text(7)?.map(AlipayRefundId::new),
        result_code: row.opt_text(8)?,
        sends: to_u32(row.int(9)?, "sends")?,
        not_sent: to_u32(row.int(17)?, "not_sent")?,
        maybe_sent: flag(row, 18)?,
        first_sent_at: row.opt_int(10)?,
        inquiries: to_u32(row.int(11)?, "inquiries")?,
        version: to_u64(row.int(12)?, "version")?,
        created_at: row.int(13)?,
        updated_at: row.int(14)?,
        id: RefundId::new(id),
    })
}

/// The values of `merchant`'s refund row, in [`refund_columns`] order, sealed with the current
/// key.
pub(crate) fn refund_values(
    r: &Refund,
    version: u64,
    keys: &Keyring,
    merchant: &str,
) -> Result<Vec<Value>, StoreError> {
    let id = r.id.as_str();
    Ok(vec![
        id.into(),
        r.order_id.as_str().into(),
        r.refund_request_id.as_str().into(),
        seal(
            keys,
            ("refunds", "request_body"),
            id,
            merchant,
            Some(r.request_body.expose()),
        )?
        .into(),
        r.amount.currency.code().into(),
        to_i64(r.amount.minor_units(), "amount")?.into(),
        r.state.name().into(),
        r.alipay_refund_id
            .as_ref()
            .map(AlipayRefundId::as_str)
            .into(),
        r.result_code.as_deref().into(),
        i64::from(r.sends).into(),
        r.first_sent_at.into(),
        i64::from(r.inquiries).into(),
        to_i64(version, "version")?.into(),
        r.created_at.into(),
        r.updated_at.into(),
        i64::from(keys.current_version()).into(),
        r.origin.name().into(),
        i64::from(r.not_sent).into(),
        i64::from(r.maybe_sent).into(),
        merchant.into(),
    ])
}

/// A JSON column of the declaration `id`, parsed (NULL: none).
macro_rules! json_column {
    ($row:expr, $i:expr, $what:expr, $id:expr) => {
        $row.opt_text($i)?
            .map(|text| {
                serde_json::from_str(&text).map_err(|e| {
                    StoreError::Corrupt(format!("{} of declaration {}: {e}", $what, $id))
                })
            })
            .transpose()
    };
}

/// A customs declaration row, decrypted.
pub(crate) fn declaration(row: &Row, keys: &Keyring) -> Result<Declaration, StoreError> {
    let id = row.text(0)?;
    let body = open(
        keys,
        ("customs_declarations", "request_body"),
        &id,
        &row.text(20)?,
        Some(row.text(3)?),
    )?
    .unwrap_or_default();
    Ok(Declaration {
        order_id: OrderId::new(row.text(1)?),
        declaration_request_id: DeclarationRequestId::new(row.text(2)?),
        request_body: Body::new(body),
        amount: amount(row, 4, 5)?,
        customs_code: row.text(6)?,
        state: named(row, 7, DeclarationState::from_name)?,
        result_code: row.opt_text(8)?,
        result_message: row.opt_text(9)?,
        accepted: json_column!(row, 10, "accepted", id)?,
        record: json_column!(row, 11, "record", id)?,
        sends: to_u32(row.int(12)?, "sends")?,
        inquiries: to_u32(row.int(13)?, "inquiries")?,
        last_sent_at: row.opt_int(14)?,
        round_started_at: row.int(15)?,
        version: to_u64(row.int(17)?, "version")?,
        created_at: row.int(18)?,
        updated_at: row.int(19)?,
        id: DeclarationId::new(id),
    })
}

/// The values of `merchant`'s declaration row, in [`declaration_columns`] order, sealed with the
/// current key.
pub(crate) fn declaration_values(
    d: &Declaration,
    version: u64,
    keys: &Keyring,
    merchant: &str,
) -> Result<Vec<Value>, StoreError> {
    let id = d.id.as_str();
    let accepted = d
        .accepted
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::Rejected(format!("declaration {id}: {e}")))?;
    let record = d
        .record
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::Rejected(format!("declaration {id}: {e}")))?;
    Ok(vec![
        id.into(),
        d.order_id.as_str().into(),
        d.declaration_request_id.as_str().into(),
        seal(
            keys,
            ("customs_declarations", "request_body"),
            id,
            merchant,
            Some(d.request_body.expose()),
        )?
        .into(),
        d.amount.currency.code().into(),
        to_i64(d.amount.minor_units(), "amount")?.into(),
        d.customs_code.as_str().into(),
        d.state.name().into(),
        d.result_code.as_deref().into(),
        d.result_message.as_deref().into(),
        accepted.as_deref().into(),
        record.as_deref().into(),
        i64::from(d.sends).into(),
        i64::from(d.inquiries).into(),
        d.last_sent_at.into(),
        d.round_started_at.into(),
        i64::from(keys.current_version()).into(),
        to_i64(version, "version")?.into(),
        d.created_at.into(),
        d.updated_at.into(),
        merchant.into(),
    ])
}

/// A secondary-merchant registration row ([`registration_columns`]), decrypted.
pub(crate) fn registration(row: &Row, keys: &Keyring) -> Result<Registration, StoreError> {
    let id = row.text(0)?;
    let body = open(
        keys,
        ("secondary_merchant_registrations", "request_body"),
        &id,
        &row.text(16)?,
        Some(row.text(3)?),
    )?
    .unwrap_or_default();
    let corrupt = |what: &str, e: serde_json::Error| {
        StoreError::Corrupt(format!("{what} of registration {id}: {e}"))
    };
    let review = row
        .opt_text(7)?
        .map(|text| serde_json::from_str(&text).map_err(|e| corrupt("review", e)))
        .transpose()?;
    let wallets = serde_json::from_str(&row.text(8)?).map_err(|e| corrupt("wallets", e))?;
    Ok(Registration {
        reference_merchant_id: row.text(1)?,
        registration_request_id: RegistrationRequestId::new(row.text(2)?),
        request_body: Body::new(body),
        state: named(row, 4, RegistrationState::from_name)?,
        result_code: row.opt_text(5)?,
        result_message: row.opt_text(6)?,
        review,
        wallets,
        sends: to_u32(row.int(9)?, "sends")?,
        inquiries: to_u32(row.int(10)?, "inquiries")?,
        round_started_at: row.int(11)?,
        version: to_u64(row.int(13)?, "version")?,
        created_at: row.int(14)?,
        updated_at: row.int(15)?,
        id: RegistrationId::new(id),
    })
}

/// The values of `merchant`'s registration row, in [`registration_columns`] order, sealed with the
/// current key.
pub(crate) fn registration_values(
    r: &Registration,
    version: u64,
    keys: &Keyring,
    merchant: &str,
) -> Result<Vec<Value>, StoreError> {
    let id = r.id.as_str();
    let review = r
        .review
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::Rejected(format!("registration {id}: {e}")))?;
    let wallets = serde_json::to_string(&r.wallets)
        .map_err(|e| StoreError::Rejected(format!("registration {id}: {e}")))?;
    Ok(vec![
        id.into(),
        r.reference_merchant_id.as_str().into(),
        r.registration_request_id.as_str().into(),
        seal(
            keys,
            ("secondary_merchant_registrations", "request_body"),
            id,
            merchant,
            Some(r.request_body.expose()),
        )?
        .into(),
        r.state.name().into(),
        r.result_code.as_deref().into(),
        r.result_message.as_deref().into(),
        review.as_deref().into(),
        wallets.as_str().into(),
        i64::from(r.sends).into(),
        i64::from(r.inquiries).into(),
        r.round_started_at.into(),
        i64::from(keys.current_version()).into(),
        to_i64(version, "version")?.into(),
        r.created_at.into(),
        r.updated_at.into(),
        merchant.into(),
    ])
}

/// A job row ([`job_columns`]). A kind this version does not know, an attempt count out of range
/// or half a lease is [`StoreError::Corrupt`].
pub(crate) fn job(row: &Row) -> Result<Job, StoreError> {
    let id = row.int(0)?;
    let name = row.text(1)?;
    let subject = row.text(2)?;
    let kind = JobKind::from_parts(&name, &subject).ok_or_else(|| {
        StoreError::Corrupt(format!("job kind {name:?} is not known to this version"))
    })?;
    let lease = match (row.opt_text(5)?, row.opt_int(6)?) {
        (Some(token), Some(until)) => Some(JobLease {
            token: LeaseToken::new(token),
            until,
        }),
        (None, None) => None,
        _ => {
            return Err(StoreError::Corrupt(format!(
                "job {id} has half a lease (a token without an expiry, or the reverse)"
            )));
        }
    };
    Ok(Job {
        id: job_id(id),
        kind,
        due_at: row.int(3)?,
        attempts: to_u32(row.int(4)?, "attempts")?,
        lease,
    })
}

/// What a job row is for, as stored (`payment att_1`), readable or not: for dead letters.
pub(crate) fn job_what(row: &Row) -> String {
    let part = |i: usize| {
        row.opt_text(i)
            .ok()
            .flatten()
            .unwrap_or_else(|| "?".to_owned())
    };
    format!("{} {}", part(1), part(2))
}

/// A job's id as the domain sees it.
pub(crate) fn job_id(number: i64) -> JobId {
    JobId::new(number.to_string())
}

/// A job id's row number (`None`: not one of ours).
pub(crate) fn job_number(id: &JobId) -> Option<i64> {
    id.as_str().parse().ok()
}

/// The stored form of a list of actions: their names, comma-separated.
pub(crate) fn actions_value(actions: &[OperatorAction]) -> String {
    actions
        .iter()
        .map(|a| a.name())
        .collect::<Vec<_>>()
        .join(",")
}

/// An attention item row ([`attention_columns`]).
pub(crate) fn attention(row: &Row) -> Result<AttentionItem, StoreError> {
    let id = row.text(0)?;
    let kind = row.text(1)?;
    let subject_id = row.text(2)?;
    let subject = Subject::from_parts(&kind, &subject_id).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "attention item {id}: subject kind {kind:?} is not known to this version"
        ))
    })?;
    let actions = row
        .text(6)?
        .split(',')
        .filter(|a| !a.is_empty())
        .map(|name| {
            OperatorAction::from_name(name).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "attention item {id}: action {name:?} is not known to this version"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let resolution = match (row.opt_int(9)?, row.opt_text(10)?) {
        (Some(at), Some(reason)) => Some(Resolution { at, reason }),
        (None, None) => None,
        _ => {
            return Err(StoreError::Corrupt(format!(
                "attention item {id} is half resolved"
            )));
        }
    };
    Ok(AttentionItem {
        subject,
        code: row.text(3)?,
        reason: row.text(4)?,
        tried: row.text(5)?,
        actions,
        opened_at: row.int(7)?,
        updated_at: row.int(8)?,
        resolution,
        id: AttentionId::new(id),
    })
}

/// The values of `merchant`'s attention item row, in [`attention_columns`] order.
pub(crate) fn attention_values(item: &AttentionItem, merchant: &str) -> Vec<Value> {
    vec![
        item.id.as_str().into(),
        item.subject.kind().into(),
        item.subject.id().into(),
        item.code.as_str().into(),
        item.reason.as_str().into(),
        item.tried.as_str().into(),
        actions_value(&item.actions).into(),
        item.opened_at.into(),
        item.updated_at.into(),
        item.resolution.as_ref().map(|r| r.at).into(),
        item.resolution.as_ref().map(|r| r.reason.as_str()).into(),
        merchant.into(),
    ]
}

/// An event row (`seq, kind, subject, detail, at`).
pub(crate) fn event(row: &Row) -> Result<(i64, Event), StoreError> {
    let name = row.text(1)?;
    let kind = EventKind::from_name(&name)
        .ok_or_else(|| StoreError::Corrupt(format!("event kind {name:?} is not known")))?;
    Ok((
        row.int(0)?,
        Event {
            kind,
            subject: row.text(2)?,
            detail: row.opt_text(3)?,
            at: row.int(4)?,
        },
    ))
}

/// An inbox row (`dedup_key, path, headers, body, received_at, merchant_id`), decrypted.
pub(crate) fn inbox(row: &Row, keys: &Keyring) -> Result<InboxEntry, StoreError> {
    let key = row.text(0)?;
    let headers: Vec<(String, String)> = serde_json::from_str(&row.text(2)?)
        .map_err(|e| StoreError::Corrupt(format!("inbox {key}: headers: {e}")))?;
    let body = open(
        keys,
        ("inbox", "body"),
        &key,
        &row.text(5)?,
        Some(row.text(3)?),
    )?
    .unwrap_or_default();
    Ok(InboxEntry {
        path: row.text(1)?,
        headers,
        body: Body::new(body),
        received_at: row.int(4)?,
        dedup_key: key,
    })
}

/// The values of `merchant`'s inbox row (`dedup_key, path, headers, body, received_at,
/// key_version, merchant_id`).
pub(crate) fn inbox_values(
    e: &InboxEntry,
    keys: &Keyring,
    merchant: &str,
) -> Result<Vec<Value>, StoreError> {
    let headers = serde_json::to_string(&e.headers)
        .map_err(|err| StoreError::Rejected(format!("inbox headers: {err}")))?;
    Ok(vec![
        e.dedup_key.as_str().into(),
        e.path.as_str().into(),
        headers.into(),
        seal(
            keys,
            ("inbox", "body"),
            &e.dedup_key,
            merchant,
            Some(e.body.expose()),
        )?
        .into(),
        e.received_at.into(),
        i64::from(keys.current_version()).into(),
        merchant.into(),
    ])
}

/// An idempotency record row (`key, fingerprint, resource, created_at`).
pub(crate) fn idempotency(row: &Row) -> Result<IdempotencyRecord, StoreError> {
    Ok(IdempotencyRecord {
        key: row.text(0)?,
        fingerprint: row.text(1)?,
        resource: row.text(2)?,
        created_at: row.int(3)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails to compile when an event kind is added and not listed in [`EVENT_KINDS`].
    fn listed(kind: &EventKind) -> usize {
        match kind {
            EventKind::AuthorizationActive => 0,
            EventKind::AuthorizationNeedsReauthorization => 1,
            EventKind::AuthorizationEnded => 2,
            EventKind::AuthorizationFailed => 3,
            EventKind::PaymentSucceeded => 4,
            EventKind::PaymentFailed => 5,
            EventKind::PaymentCancelled => 6,
            EventKind::RefundSucceeded => 7,
            EventKind::RefundFailed => 8,
            EventKind::OperatorAttention => 9,
            EventKind::WebhookEndpointDisabled => 10,
            EventKind::CustomsDeclarationAccepted => 11,
            EventKind::CustomsDeclarationFailed => 12,
            EventKind::CustomsDeclarationCompleted => 13,
            EventKind::SecondaryMerchantAccepted => 14,
            EventKind::SecondaryMerchantFailed => 15,
            EventKind::SecondaryMerchantReviewed => 16,
            EventKind::PaymentActionRequired => 17,
        }
    }

    #[test]
    fn every_event_kind_is_listed_once() {
        for (i, kind) in EventKind::ALL.iter().enumerate() {
            assert_eq!(listed(kind), i);
        }
    }

    #[test]
    fn every_job_kind_round_trips_and_an_unknown_one_is_corrupt() {
        let row = |kind: &str, subject: &str, attempts: i64, token: Option<&str>| {
            Row::for_tests(
                &[
                    "id",
                    "kind",
                    "subject",
                    "due_at",
                    "attempts",
                    "lease_token",
                    "lease_until",
                ],
                vec![
                    7_i64.into(),
                    kind.into(),
                    subject.into(),
                    5_i64.into(),
                    attempts.into(),
                    token.into(),
                    Value::Int(token.map(|_| 9)),
                ],
            )
        };
        for kind in [
            JobKind::Payment(AttemptId::new("a")),
            JobKind::Refund(RefundId::new("r")),
            JobKind::Authorization(AuthorizationId::new("z")),
            JobKind::Declaration(DeclarationId::new("d")),
            JobKind::Registration(RegistrationId::new("s")),
        ] {
            let job = job(&row(kind.name(), kind.subject(), 1, Some("t"))).unwrap();
            assert_eq!(job.kind, kind);
            assert_eq!(job.id, JobId::new("7"));
            assert_eq!(
                job.lease.map(|l| (l.token, l.until)),
                Some((LeaseToken::new("t"), 9))
            );
        }
        assert!(matches!(
            job(&row("mystery", "x", 0, None)),
            Err(StoreError::Corrupt(m)) if m.contains("mystery")
        ));
        assert!(matches!(
            job(&row("payment", "x", 1 << 40, None)),
            Err(StoreError::Corrupt(m)) if m.contains("attempts")
        ));
        assert_eq!(job_what(&row("mystery", "x", 0, None)), "mystery x");
    }
}
