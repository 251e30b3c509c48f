//! The control API under `/sandbox/`: set up users, merchants and sandbox-wide settings, move the
//! clock, inject faults, release requests held in transit, and read the ledger and the
//! notification log. JSON in, JSON out; errors are
//! `{"error": "..."}` with a 4xx status. `GET /sandbox` lists every endpoint.
//!
//! It is for the developer's own tools, never for a web page: before any handler here runs, the
//! request must name the sandbox in `Host`, carry no foreign `Origin`, carry the control token
//! when one is set, and, for `POST`, `PUT`, `PATCH` and `DELETE`, say
//! `Content-Type: application/json` (even with an empty body). See the crate's *Access* section.

use std::collections::HashMap;
use std::sync::Arc;

use ams_protocol::AmsDateTime;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::clock::SandboxClock;
use crate::model::{
    ClockUpdate, ClockView, Completion, CustomsRejection, FaultRule, HeldRequest, MerchantSettings,
    NotificationFaultRule, RegistrationRejection, SandboxSettings, UserSpec, UserUpdate,
};
use crate::shared::Shared;
use crate::util::ams_time;

/// The endpoints, as `GET /sandbox` lists them.
pub const ENDPOINTS: &[(&str, &str)] = &[
    ("GET /sandbox", "this list"),
    ("GET /sandbox/users", "every user"),
    (
        "POST /sandbox/users",
        "create a user: UserSpec {login_id, wallet, balances, status, risk_reject, per_payment_limit, max_payments, payment_mode: instant|processing|pending|needs_user, issues_refresh_tokens}",
    ),
    ("GET /sandbox/users/{login}", "one user"),
    (
        "PATCH /sandbox/users/{login}",
        "change a user: UserUpdate (balances, status, risk_reject, per_payment_limit, max_payments, payment_mode: instant|processing|pending|needs_user, issues_refresh_tokens)",
    ),
    (
        "POST /sandbox/users/{login}/unbind",
        "the user unbinds in the wallet: {client_id?} (or an empty body: every merchant); sends TOKEN_CANCELED",
    ),
    (
        "GET /sandbox/merchants/{client_id}",
        "a merchant's settings",
    ),
    (
        "PUT /sandbox/merchants/{client_id}",
        "set a merchant's settings: {name, payment_notify_url, refund_notify_url, authorization_notify_url, notify_token_created, wallets, customs_registered, customs_identity_check_fails, customs_rejections: [{declaration_request_id, code, desc}], registration_rejections: [{reference_merchant_id, wallet?, reason}], require_registered_secondary_merchants, require_agent_token, refund_failures: [refundRequestId]}",
    ),
    (
        "POST /sandbox/isv/authorize",
        "a merchant authorises an ISV: {client_id (the ISV, a sandbox merchant), auth_client_id, notify_url}; issues an agent token, superseding this merchant's earlier one, and sends the ISV authorization notification: {agent_token}",
    ),
    ("GET /sandbox/settings", "the sandbox-wide settings"),
    (
        "PUT /sandbox/settings",
        "set the sandbox-wide settings: {overtaken_pay: debits|closed, unsigned_refusals, no_resend, silent_unbind_wallets, customs_receipt_delay_ms, registration_review_delay_ms, refunds_in_process, refund_process_delay_ms, payment_pending_delay_ms, apply_token_checks_user}",
    ),
    ("GET /sandbox/clock", "read the clock"),
    (
        "POST /sandbox/clock",
        "move the clock: {set?: AMS datetime, advance_ms?, frozen?}, within 1970-01-01T00:00:00Z..9999-01-01T00:00:00Z; held requests now due are released",
    ),
    ("GET /sandbox/faults", "the fault rules with their counters"),
    (
        "POST /sandbox/faults",
        "add a gateway fault: {api, request_id?, skip?, times?, process?, action: {kind: unknown {code} | answer {status: F|U, code} | delay {ms} | drop | hold {ms} | http500 | unsigned | bad_signature}}",
    ),
    (
        "POST /sandbox/notification-faults",
        "add a notification fault: {notification?, request_id?, times?, action: {kind: skip|duplicate|delay|reorder, ...}}",
    ),
    (
        "DELETE /sandbox/faults",
        "remove every fault rule (held requests stay held)",
    ),
    (
        "GET /sandbox/held",
        "requests held in transit: [{seq, api, client_id, request_id?, held_at_ms, due_ms, due}]",
    ),
    (
        "POST /sandbox/held/release",
        "release every held request now, in due order: {released: [...]}",
    ),
    (
        "GET /sandbox/ledger?payment_request_id=&user=",
        "debits and credits, with counts",
    ),
    (
        "GET /sandbox/notifications",
        "every notification with its delivery attempts",
    ),
    (
        "POST /sandbox/payments/{payment_request_id}/complete",
        "end a PROCESSING payment: {outcome: success|fail, client_id?}",
    ),
];

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

fn body<T>(payload: Result<Json<T>, JsonRejection>) -> Result<T, Box<Response>> {
    payload
        .map(|Json(v)| v)
        .map_err(|e| Box::new(error(StatusCode::BAD_REQUEST, e.body_text())))
}

fn ok<T: Serialize>(value: T) -> Response {
    Json(value).into_response()
}

pub(crate) async fn index() -> Response {
    let endpoints: Vec<_> = ENDPOINTS
        .iter()
        .map(|(route, what)| json!({ "route": route, "what": what }))
        .collect();
    ok(json!({ "sandbox": "ams-sandbox", "endpoints": endpoints }))
}

pub(crate) async fn list_users(State(shared): State<Arc<Shared>>) -> Response {
    ok(shared.lock().users())
}

pub(crate) async fn create_user(
    State(shared): State<Arc<Shared>>,
    payload: Result<Json<UserSpec>, JsonRejection>,
) -> Response {
    let spec = match body(payload) {
        Ok(spec) => spec,
        Err(response) => return *response,
    };
    match shared.lock().create_user(spec) {
        Ok(user) => (StatusCode::CREATED, Json(user)).into_response(),
        Err(message) => error(StatusCode::BAD_REQUEST, message),
    }
}

pub(crate) async fn get_user(
    State(shared): State<Arc<Shared>>,
    Path(login): Path<String>,
) -> Response {
    match shared.lock().user_view(&login) {
        Some(user) => ok(user),
        None => error(StatusCode::NOT_FOUND, format!("no user {login:?}")),
    }
}

pub(crate) async fn update_user(
    State(shared): State<Arc<Shared>>,
    Path(login): Path<String>,
    payload: Result<Json<UserUpdate>, JsonRejection>,
) -> Response {
    let update = match body(payload) {
        Ok(update) => update,
        Err(response) => return *response,
    };
    match shared.lock().update_user(&login, update) {
        Ok(user) => ok(user),
        Err(message) => error(StatusCode::NOT_FOUND, message),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UnbindBody {
    client_id: Option<String>,
}

/// `POST /sandbox/users/{login}/unbind`: the body is optional (empty: every merchant), since a
/// control request always says `Content-Type: application/json`.
pub(crate) async fn unbind(
    State(shared): State<Arc<Shared>>,
    Path(login): Path<String>,
    payload: bytes::Bytes,
) -> Response {
    let request = if payload.trim_ascii().is_empty() {
        UnbindBody::default()
    } else {
        match serde_json::from_slice::<UnbindBody>(&payload) {
            Ok(request) => request,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("the body is not {{\"client_id\": ...}}: {e}"),
                );
            }
        }
    };
    let client = request.client_id;
    let now = shared.clock.now_ms();
    let result = shared.lock().unbind(&login, client.as_deref(), now);
    shared.outbox_signal.notify_one();
    match result {
        Ok(count) => ok(json!({ "tokens_cancelled": count })),
        Err(message) => error(StatusCode::NOT_FOUND, message),
    }
}

pub(crate) async fn get_merchant(
    State(shared): State<Arc<Shared>>,
    Path(client_id): Path<String>,
) -> Response {
    match shared.lock().merchant_view(&client_id) {
        Some(view) => ok(view),
        None => error(StatusCode::NOT_FOUND, format!("no merchant {client_id:?}")),
    }
}

/// `PUT /sandbox/merchants/{client_id}`: the dashboard settings and the sandbox's switches. A PUT
/// replaces them all: an absent field is unset (off).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MerchantBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    payment_notify_url: Option<String>,
    #[serde(default)]
    refund_notify_url: Option<String>,
    #[serde(default)]
    authorization_notify_url: Option<String>,
    #[serde(default)]
    notify_token_created: bool,
    #[serde(default)]
    wallets: Vec<ams_protocol::CustomerBelongsTo>,
    #[serde(default)]
    customs_registered: Option<bool>,
    #[serde(default)]
    customs_identity_check_fails: bool,
    #[serde(default)]
    customs_rejections: Vec<CustomsRejection>,
    #[serde(default)]
    registration_rejections: Vec<RegistrationRejection>,
    #[serde(default)]
    require_registered_secondary_merchants: bool,
    #[serde(default)]
    require_agent_token: bool,
    #[serde(default)]
    refund_failures: Vec<String>,
}

pub(crate) async fn put_merchant(
    State(shared): State<Arc<Shared>>,
    Path(client_id): Path<String>,
    payload: Result<Json<MerchantBody>, JsonRejection>,
) -> Response {
    let request = match body(payload) {
        Ok(request) => request,
        Err(response) => return *response,
    };
    let mut world = shared.lock();
    if world.merchant_keys(&client_id).is_none() {
        return error(
            StatusCode::NOT_FOUND,
            format!("no merchant {client_id:?}: register its public key when starting the sandbox"),
        );
    }
    let settings = MerchantSettings {
        name: request.name,
        payment_notify_url: request.payment_notify_url,
        refund_notify_url: request.refund_notify_url,
        authorization_notify_url: request.authorization_notify_url,
        wallets: request.wallets,
        customs_registered: request.customs_registered,
        customs_identity_check_fails: request.customs_identity_check_fails,
        customs_rejections: request.customs_rejections,
        registration_rejections: request.registration_rejections,
        require_registered_secondary_merchants: request.require_registered_secondary_merchants,
        require_agent_token: request.require_agent_token,
        refund_failures: request.refund_failures,
    };
    world.set_merchant(&client_id, settings);
    world.set_notify_token_created(&client_id, request.notify_token_created);
    match world.merchant_view(&client_id) {
        Some(view) => ok(view),
        None => error(StatusCode::NOT_FOUND, format!("no merchant {client_id:?}")),
    }
}

pub(crate) async fn get_settings(State(shared): State<Arc<Shared>>) -> Response {
    ok(shared.lock().settings())
}

pub(crate) async fn put_settings(
    State(shared): State<Arc<Shared>>,
    payload: Result<Json<SandboxSettings>, JsonRejection>,
) -> Response {
    match body(payload) {
        Ok(settings) => {
            shared.lock().set_settings(settings.clone());
            ok(settings)
        }
        Err(response) => *response,
    }
}

/// Makes happen what the clock's reading now made due (expiries, pending payments and refunds in
/// process ending, customs' receipts, registration reviews) and releases the held requests due by
/// then; they take effect at that time.
pub(crate) fn release_due(shared: &Shared) -> Vec<HeldRequest> {
    let now = shared.clock.now_ms();
    let released = {
        let mut world = shared.lock();
        world.sweep(now);
        world.release_due(now)
    };
    shared.outbox_signal.notify_one();
    released
}

/// Releases every held request now, due or not.
pub(crate) fn release_all(shared: &Shared) -> Vec<HeldRequest> {
    let now = shared.clock.now_ms();
    let released = shared.lock().release_all(now);
    shared.outbox_signal.notify_one();
    released
}

pub(crate) async fn list_held(State(shared): State<Arc<Shared>>) -> Response {
    ok(shared.lock().held())
}

pub(crate) async fn release_held(State(shared): State<Arc<Shared>>) -> Response {
    ok(json!({ "released": release_all(&shared) }))
}

pub(crate) fn clock_view(shared: &Shared) -> ClockView {
    let now = shared.clock.now_ms();
    ClockView {
        unix_ms: now,
        now: ams_time(now).into_inner(),
        frozen: shared.clock.is_frozen(),
    }
}

pub(crate) async fn get_clock(State(shared): State<Arc<Shared>>) -> Response {
    ok(clock_view(&shared))
}

/// The clock's range, for messages.
fn clock_range() -> String {
    format!(
        "the sandbox clock stays between {} and {}",
        ams_time(SandboxClock::EARLIEST_MS).as_str(),
        ams_time(SandboxClock::LATEST_MS).as_str()
    )
}

/// Applies a clock change; the error says what was wrong with it. A change that would take the
/// clock out of its range changes nothing.
pub(crate) fn apply_clock(shared: &Shared, update: &ClockUpdate) -> Result<ClockView, String> {
    let set = match &update.set {
        Some(text) => {
            let ms = AmsDateTime::new(text.clone())
                .unix_millis()
                .map_err(|e| format!("set: {e}"))?;
            if !SandboxClock::in_range(ms) {
                return Err(format!("set: {text:?} is out of range: {}", clock_range()));
            }
            Some(ms)
        }
        None => None,
    };
    if let Some(ms) = update.advance_ms {
        let from = set.unwrap_or_else(|| shared.clock.now_ms());
        if !from.checked_add(ms).is_some_and(SandboxClock::in_range) {
            return Err(format!(
                "advance_ms: moving the clock by {ms} ms from {} is out of range: {}",
                ams_time(from).as_str(),
                clock_range()
            ));
        }
    }
    // Freezing first makes `set` (and `advance_ms`) land exactly: freezing after them would
    // re-read real time and add whatever elapsed in between.
    if update.frozen == Some(true) {
        shared.clock.freeze(true);
    }
    if let Some(ms) = set {
        shared.clock.set_ms(ms);
    }
    if let Some(ms) = update.advance_ms {
        shared.clock.advance_ms(ms);
    }
    if update.frozen == Some(false) {
        shared.clock.freeze(false);
    }
    release_due(shared);
    Ok(clock_view(shared))
}

pub(crate) async fn post_clock(
    State(shared): State<Arc<Shared>>,
    payload: Result<Json<ClockUpdate>, JsonRejection>,
) -> Response {
    let update = match body(payload) {
        Ok(update) => update,
        Err(response) => return *response,
    };
    match apply_clock(&shared, &update) {
        Ok(view) => ok(view),
        Err(message) => error(StatusCode::BAD_REQUEST, message),
    }
}

pub(crate) async fn list_faults(State(shared): State<Arc<Shared>>) -> Response {
    let rules: Vec<_> = shared
        .lock()
        .faults()
        .into_iter()
        .map(|(rule, seen, fired)| json!({ "rule": rule, "seen": seen, "fired": fired }))
        .collect();
    ok(rules)
}

pub(crate) async fn add_fault(
    State(shared): State<Arc<Shared>>,
    payload: Result<Json<FaultRule>, JsonRejection>,
) -> Response {
    match body(payload) {
        Ok(rule) => (
            StatusCode::CREATED,
            Json(json!({ "id": shared.lock().add_fault(rule) })),
        )
            .into_response(),
        Err(response) => *response,
    }
}

pub(crate) async fn add_notification_fault(
    State(shared): State<Arc<Shared>>,
    payload: Result<Json<NotificationFaultRule>, JsonRejection>,
) -> Response {
    match body(payload) {
        Ok(rule) => (
            StatusCode::CREATED,
            Json(json!({ "id": shared.lock().add_notification_fault(rule) })),
        )
            .into_response(),
        Err(response) => *response,
    }
}

pub(crate) async fn clear_faults(State(shared): State<Arc<Shared>>) -> Response {
    shared.lock().clear_faults();
    StatusCode::NO_CONTENT.into_response()
}

pub(crate) async fn ledger(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let view = shared.lock().ledger(
        query.get("payment_request_id").map(String::as_str),
        query.get("user").map(String::as_str),
    );
    ok(view)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuthorizeIsvBody {
    client_id: String,
    auth_client_id: String,
    notify_url: String,
}

pub(crate) async fn authorize_isv(
    State(shared): State<Arc<Shared>>,
    payload: Result<Json<AuthorizeIsvBody>, JsonRejection>,
) -> Response {
    let request = match body(payload) {
        Ok(request) => request,
        Err(response) => return *response,
    };
    let now = shared.clock.now_ms();
    let result = shared.lock().authorize_isv(
        &request.client_id,
        &request.auth_client_id,
        &request.notify_url,
        now,
    );
    shared.outbox_signal.notify_one();
    match result {
        // The sandbox's tokens are fake: shown, so that a test can check which one is sent.
        Ok(token) => ok(json!({ "agent_token": token })),
        Err(message) => error(StatusCode::BAD_REQUEST, message),
    }
}

pub(crate) async fn notifications(State(shared): State<Arc<Shared>>) -> Response {
    ok(shared.lock().notifications())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CompleteBody {
    outcome: Completion,
    #[serde(default)]
    client_id: Option<String>,
}

pub(crate) async fn complete_payment(
    State(shared): State<Arc<Shared>>,
    Path(payment_request_id): Path<String>,
    payload: Result<Json<CompleteBody>, JsonRejection>,
) -> Response {
    let request = match body(payload) {
        Ok(request) => request,
        Err(response) => return *response,
    };
    let now = shared.clock.now_ms();
    let result = shared.lock().complete_payment(
        request.client_id.as_deref(),
        &payment_request_id,
        request.outcome,
        now,
    );
    shared.outbox_signal.notify_one();
    match result {
        Ok(()) => ok(json!({ "completed": payment_request_id })),
        Err(message) => error(StatusCode::CONFLICT, message),
    }
}
