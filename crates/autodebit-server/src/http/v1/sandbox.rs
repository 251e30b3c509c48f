//! `GET /v1/sandbox`: where the embedded sandbox is; `POST /v1/sandbox/faults` and `POST
//! /v1/sandbox/faults/clear`: its fault rules, set through the API key (the console's "inject a
//! fault": a web page cannot call the sandbox's own control API, which refuses foreign origins).
//! Sandbox mode only: the routes answer 404 otherwise.

use std::sync::Arc;

use ams_sandbox::{FaultRule, SandboxHandle};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::dto::SandboxBody;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::JsonBody;
use crate::http::state::AppState;

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_sandbox))
        .routes(routes!(add_fault))
        .routes(routes!(clear_faults))
}

/// The embedded sandbox's base URL (its control API: `GET {sandbox_url}/sandbox`) and demo user.
#[utoipa::path(
    get,
    path = "/v1/sandbox",
    tag = "sandbox",
    responses((status = 200, description = "Sandbox mode only", body = SandboxBody)),
    security(("api_key" = []))
)]
pub async fn get_sandbox(State(state): State<AppState>) -> ApiResult<Json<SandboxBody>> {
    state
        .shared()
        .sandbox
        .clone()
        .map(Json)
        .ok_or_else(|| ApiError::not_found("route", "/v1/sandbox (sandbox mode only)"))
}

/// A gateway fault rule of the embedded sandbox: what happens to the next matching call the
/// server makes to (simulated) Alipay.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SandboxFault {
    /// The Alipay API, by its docs name: `consult`, `applyToken`, `revoke`, `pay`,
    /// `inquiryPayment`, `cancel`, `refund`, `inquiryRefund`.
    pub api: String,
    /// Only calls with this request id (`paymentRequestId` for pay, inquiryPayment and cancel;
    /// `refundRequestId` for refund and inquiryRefund).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Let this many matching calls through first (default 0).
    #[serde(default)]
    pub skip: u32,
    /// How many matching calls it fires on (default 1; 0: every matching call).
    #[serde(default = "one")]
    pub times: u32,
    /// Whether the call still takes effect at Alipay before the fault (default true): a `pay`
    /// answered `U` after processing has debited the user, one not processed has not.
    #[serde(default = "yes")]
    pub process: bool,
    /// What happens, by `kind`: `{"kind":"unknown","code":"UNKNOWN_EXCEPTION"}` (a `U` answer),
    /// `{"kind":"delay","ms":N}`, `{"kind":"drop"}` (no answer), `{"kind":"http500"}`,
    /// `{"kind":"unsigned"}`, `{"kind":"bad_signature"}`, `{"kind":"hold","ms":N}` (in transit
    /// for N ms of sandbox time), `{"kind":"answer","status":"F","code":"USER_BALANCE_NOT_ENOUGH"}`
    /// (only this result).
    #[schema(value_type = Object)]
    pub action: serde_json::Value,
}

fn one() -> u32 {
    1
}

fn yes() -> bool {
    true
}

impl SandboxFault {
    /// The sandbox's rule.
    fn rule(&self) -> Result<FaultRule, ApiError> {
        let value = serde_json::json!({
            "api": self.api,
            "request_id": self.request_id,
            "skip": self.skip,
            "times": (self.times != 0).then_some(self.times),
            "process": self.process,
            "action": self.action,
        });
        serde_json::from_value(value).map_err(|e| {
            let param = if e.to_string().starts_with("unknown api") {
                "/api"
            } else {
                "/action"
            };
            ApiError::invalid(param, format!("not a sandbox fault rule: {e}"))
        })
    }
}

fn handle(state: &AppState, route: &str) -> Result<Arc<SandboxHandle>, ApiError> {
    state
        .shared()
        .sandbox_handle
        .clone()
        .ok_or_else(|| ApiError::not_found("route", &format!("{route} (sandbox mode only)")))
}

/// Adds a fault rule to the embedded sandbox's gateway.
#[utoipa::path(
    post,
    path = "/v1/sandbox/faults",
    tag = "sandbox",
    request_body = SandboxFault,
    responses((status = 201, description = "The rule, as added (sandbox mode only)", body = SandboxFault)),
    security(("api_key" = []))
)]
pub async fn add_fault(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<SandboxFault>,
) -> ApiResult<(StatusCode, Json<SandboxFault>)> {
    let sandbox = handle(&state, "/v1/sandbox/faults")?;
    let rule = body.rule()?;
    sandbox.add_fault(rule);
    Ok((StatusCode::CREATED, Json(body)))
}

/// Removes every fault rule of the embedded sandbox (gateway and notification rules).
#[utoipa::path(
    post,
    path = "/v1/sandbox/faults/clear",
    tag = "sandbox",
    responses((status = 204, description = "No rule left (sandbox mode only)")),
    security(("api_key" = []))
)]
pub async fn clear_faults(State(state): State<AppState>) -> ApiResult<StatusCode> {
    handle(&state, "/v1/sandbox/faults/clear")?.clear_faults();
    Ok(StatusCode::NO_CONTENT)
}
