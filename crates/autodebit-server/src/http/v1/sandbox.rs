//! `GET /v1/sandbox`: where the embedded sandbox is (sandbox mode only; the route does not exist
//! otherwise).

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::dto::SandboxBody;
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_sandbox))
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
