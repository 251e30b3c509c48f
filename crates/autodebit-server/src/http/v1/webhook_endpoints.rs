//! `/v1/webhook_endpoints`: where the merchant's events are sent. Endpoints of the configuration
//! file are listed (`source: config`, read-only: change them in the file); endpoints made here
//! (`source: api`) get a signing secret, shown once when made and once more when rotated (the old
//! one keeps signing beside it for a day, so a receiver can switch without losing a delivery).
//! Any endpoint can be disabled and enabled; the server disables one that has failed every try for
//! three days, with a `webhook_endpoint.disabled` event (see [`crate::delivery`]).

use autodebit_store::{EndpointRecord, EndpointSource, EndpointState, StoredSecret};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::dto::{List, time};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::JsonBody;
use crate::http::state::{AppState, Tenant};
use crate::webhooks::WebhookSecret;

/// How long a rotated-out secret keeps signing beside the new one.
pub const ROTATION_OVERLAP_MS: i64 = 86_400_000;

/// At most this many endpoints per merchant (configured ones included).
pub const MAX_ENDPOINTS: usize = 16;

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_endpoint, list_endpoints))
        .routes(routes!(get_endpoint, delete_endpoint))
        .routes(routes!(enable_endpoint))
        .routes(routes!(disable_endpoint))
        .routes(routes!(rotate_secret))
}

/// `POST /v1/webhook_endpoints`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpoint {
    /// Where events are sent: `https` (plain `http` only to loopback, in sandbox mode).
    pub url: String,
    /// A note for people (at most 200 characters).
    #[serde(default)]
    pub description: String,
}

/// A webhook endpoint.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EndpointBody {
    /// `we_…`.
    pub id: String,
    /// Always `webhook_endpoint`.
    pub object: &'static str,
    /// Where events are sent.
    pub url: String,
    /// The merchant's note.
    pub description: String,
    /// `config` (the configuration file: change it there) or `api`.
    pub source: &'static str,
    /// `enabled` (events are sent) or `disabled` (events wait until it is enabled).
    pub status: &'static str,
    /// Why it was disabled.
    pub disabled_reason: Option<String>,
    /// Since when every try has failed (`null` while it delivers).
    pub failing_since: Option<String>,
    /// When it was made.
    pub created_at: String,
    /// The signing secret (`whsec_…`): only in the answer that made it or rotated it. Keep it:
    /// it is never shown again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl From<&EndpointRecord> for EndpointBody {
    fn from(e: &EndpointRecord) -> Self {
        Self {
            id: e.id.clone(),
            object: "webhook_endpoint",
            url: e.url.clone(),
            description: e.description.clone(),
            source: match e.source {
                EndpointSource::Config => "config",
                EndpointSource::Api => "api",
            },
            status: e.state.name(),
            disabled_reason: e.disabled_reason.clone(),
            failing_since: e.failing_since.map(time),
            created_at: time(e.created_at),
            secret: None,
        }
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found("webhook endpoint", id)
}

fn new_id(tenant: &Tenant) -> Result<String, ApiError> {
    tenant
        .ctx()
        .ids
        .local_id("we")
        .map_err(|_| ApiError::internal())
}

fn new_secret() -> Result<WebhookSecret, ApiError> {
    WebhookSecret::generate().map_err(|_| ApiError::internal())
}

/// Makes an endpoint; its secret is in this answer only.
#[utoipa::path(
    post,
    path = "/v1/webhook_endpoints",
    tag = "events",
    request_body = CreateEndpoint,
    responses((status = 201, description = "The endpoint, with its secret (shown this once)", body = EndpointBody)),
    security(("api_key" = []))
)]
pub async fn create_endpoint(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    JsonBody(body): JsonBody<CreateEndpoint>,
) -> ApiResult<(StatusCode, Json<EndpointBody>)> {
    if body.url.len() > 1024 {
        return Err(ApiError::invalid(
            "/url",
            "url must have at most 1024 characters",
        ));
    }
    crate::config::check_secure_url(&body.url).map_err(|p| ApiError::invalid("/url", p))?;
    if state.shared().sandbox.is_none() {
        if !body.url.starts_with("https://") {
            return Err(ApiError::invalid(
                "/url",
                "url must use https (plain http to loopback only in sandbox mode)",
            ));
        }
        // Names are checked when they are resolved, on every try (see `delivery::Clients`).
        if let Some(why) = crate::delivery::private_literal(&body.url) {
            return Err(ApiError::invalid(
                "/url",
                format!("url must name a public host: {why}"),
            ));
        }
    }
    if body.description.chars().count() > 200 {
        return Err(ApiError::invalid(
            "/description",
            "description must have at most 200 characters",
        ));
    }
    let store = tenant.store();
    let existing = store.endpoints().await?;
    if existing.len() >= MAX_ENDPOINTS {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "too_many_endpoints",
            format!("a merchant has at most {MAX_ENDPOINTS} webhook endpoints; delete one first"),
        ));
    }
    if existing.iter().any(|e| e.url == body.url) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "endpoint_exists",
            "an endpoint with this url exists",
        )
        .param("/url"));
    }
    let secret = new_secret()?;
    let now = state.now();
    let record = EndpointRecord {
        id: new_id(&tenant)?,
        url: body.url,
        description: body.description,
        source: EndpointSource::Api,
        secrets: vec![StoredSecret {
            secret: secret.expose(),
            expires_at: None,
        }],
        state: EndpointState::Enabled,
        disabled_reason: None,
        failing_since: None,
        created_at: now,
        updated_at: now,
    };
    store.create_endpoint(&record).await?;
    let mut answer = EndpointBody::from(&record);
    answer.secret = Some(secret.expose());
    Ok((StatusCode::CREATED, Json(answer)))
}

/// Every endpoint, the configuration's and the API's, oldest first.
#[utoipa::path(
    get,
    path = "/v1/webhook_endpoints",
    tag = "events",
    responses((status = 200, description = "Every endpoint (one page)", body = List<EndpointBody>)),
    security(("api_key" = []))
)]
pub async fn list_endpoints(
    Extension(tenant): Extension<Tenant>,
) -> ApiResult<Json<List<EndpointBody>>> {
    let all = tenant.store().endpoints().await?;
    Ok(Json(List::new(
        all.iter().map(EndpointBody::from).collect(),
        false,
    )))
}

/// One endpoint.
#[utoipa::path(
    get,
    path = "/v1/webhook_endpoints/{id}",
    tag = "events",
    params(("id" = String, Path, description = "`we_…`")),
    responses((status = 200, description = "The endpoint", body = EndpointBody)),
    security(("api_key" = []))
)]
pub async fn get_endpoint(
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> ApiResult<Json<EndpointBody>> {
    let found = tenant.store().endpoint(&id).await?;
    found
        .as_ref()
        .map(|e| Json(EndpointBody::from(e)))
        .ok_or_else(|| not_found(&id))
}

async fn api_endpoint(tenant: &Tenant, id: &str) -> Result<EndpointRecord, ApiError> {
    let found = tenant
        .store()
        .endpoint(id)
        .await?
        .ok_or_else(|| not_found(id))?;
    if found.source == EndpointSource::Config {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "endpoint_in_configuration",
            "this endpoint is in the configuration file: change it there",
        ));
    }
    Ok(found)
}

/// Deletes an endpoint made through the API; its events are no longer sent to it.
#[utoipa::path(
    delete,
    path = "/v1/webhook_endpoints/{id}",
    tag = "events",
    params(("id" = String, Path, description = "`we_…`")),
    responses((status = 200, description = "The endpoint, removed", body = EndpointBody)),
    security(("api_key" = []))
)]
pub async fn delete_endpoint(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> ApiResult<Json<EndpointBody>> {
    let found = api_endpoint(&tenant, &id).await?;
    tenant
        .store()
        .set_endpoint_state(&id, EndpointState::Removed, None, state.now())
        .await?;
    let mut answer = EndpointBody::from(&found);
    answer.status = EndpointState::Removed.name();
    Ok(Json(answer))
}

async fn set_state(
    state: &AppState,
    tenant: &Tenant,
    id: &str,
    to: EndpointState,
    reason: Option<&str>,
) -> ApiResult<Json<EndpointBody>> {
    let changed = tenant
        .store()
        .set_endpoint_state(id, to, reason, state.now())
        .await?
        .ok_or_else(|| not_found(id))?;
    Ok(Json(EndpointBody::from(&changed)))
}

/// Enables an endpoint: the events that waited for it are sent, in order, and its failures are
/// forgotten.
#[utoipa::path(
    post,
    path = "/v1/webhook_endpoints/{id}/enable",
    tag = "events",
    params(("id" = String, Path, description = "`we_…`")),
    responses((status = 200, description = "The endpoint, enabled", body = EndpointBody)),
    security(("api_key" = []))
)]
pub async fn enable_endpoint(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> ApiResult<Json<EndpointBody>> {
    set_state(&state, &tenant, &id, EndpointState::Enabled, None).await
}

/// Disables an endpoint: its events wait until it is enabled.
#[utoipa::path(
    post,
    path = "/v1/webhook_endpoints/{id}/disable",
    tag = "events",
    params(("id" = String, Path, description = "`we_…`")),
    responses((status = 200, description = "The endpoint, disabled", body = EndpointBody)),
    security(("api_key" = []))
)]
pub async fn disable_endpoint(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> ApiResult<Json<EndpointBody>> {
    set_state(
        &state,
        &tenant,
        &id,
        EndpointState::Disabled,
        Some("disabled by the merchant"),
    )
    .await
}

/// Gives an endpoint made through the API a new secret, in this answer only; the old one keeps
/// signing beside it for a day (both signatures in `webhook-signature`).
#[utoipa::path(
    post,
    path = "/v1/webhook_endpoints/{id}/rotate_secret",
    tag = "events",
    params(("id" = String, Path, description = "`we_…`")),
    responses((status = 200, description = "The endpoint, with its new secret (shown this once)", body = EndpointBody)),
    security(("api_key" = []))
)]
pub async fn rotate_secret(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> ApiResult<Json<EndpointBody>> {
    let found = api_endpoint(&tenant, &id).await?;
    let now = state.now();
    let secret = new_secret()?;
    let mut secrets = vec![StoredSecret {
        secret: secret.expose(),
        expires_at: None,
    }];
    // The newest earlier secret signs for a day more; older ones end now.
    secrets.extend(
        found
            .secrets
            .iter()
            .filter(|s| s.expires_at.is_none_or(|at| at > now))
            .take(1)
            .map(|s| StoredSecret {
                secret: s.secret.clone(),
                expires_at: Some(s.expires_at.map_or(now + ROTATION_OVERLAP_MS, |at| {
                    at.min(now + ROTATION_OVERLAP_MS)
                })),
            }),
    );
    let changed = tenant
        .store()
        .set_endpoint_secrets(&id, &secrets, now)
        .await?
        .ok_or_else(|| not_found(&id))?;
    let mut answer = EndpointBody::from(&changed);
    answer.secret = Some(secret.expose());
    Ok(Json(answer))
}
