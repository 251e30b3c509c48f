//! `/v1/authorizations`: bind a user's wallet, read, list, revoke, authorize again.

use autodebit_domain::model::AuthorizationId;
use autodebit_domain::ports::{AuthorizationFilter, PageRequest};
use autodebit_domain::services::Error as DomainError;
use autodebit_domain::services::authorizations::{Authorizations, StartAuthorization};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{body_param, limit_of, query_param};
use crate::config::check_secure_url_for;
use crate::http::dto::{
    AuthorizationBody, CreateAuthorization, List, ListAuthorizations, authorization_states,
    parse_os, parse_terminal, parse_wallet,
};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{JsonBody, QueryParams};
use crate::http::state::{AppState, Tenant};

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_authorization, list_authorizations))
        .routes(routes!(get_authorization))
        .routes(routes!(revoke_authorization))
        .routes(routes!(reauthorize))
}

async fn read(tenant: &Tenant, id: &AuthorizationId) -> ApiResult<AuthorizationBody> {
    let auth = Authorizations::new(tenant.ctx().clone())
        .authorization(id)
        .await?;
    Ok(AuthorizationBody::from(&auth))
}

/// Binds a user's wallet: asks Alipay for the consent URL (or a QR code) the user must open.
#[utoipa::path(
    post,
    path = "/v1/authorizations",
    tag = "authorizations",
    request_body = CreateAuthorization,
    responses((status = 201, description = "Created: send the user to `auth_url` (or show `qr_code`)", body = AuthorizationBody)),
    security(("api_key" = []))
)]
pub async fn create_authorization(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    JsonBody(body): JsonBody<CreateAuthorization>,
) -> ApiResult<(StatusCode, Json<AuthorizationBody>)> {
    let count = body.customer_id.chars().count();
    if count == 0 || count > 64 {
        return Err(ApiError::invalid(
            "/customer_id",
            "customer_id must have 1 to 64 characters",
        ));
    }
    let wallet = parse_wallet(&body.wallet).ok_or_else(|| {
        ApiError::invalid(
            "/wallet",
            format!(
                "{:?} is not a wallet Alipay knows (e.g. ALIPAY_CN, GCASH)",
                body.wallet
            ),
        )
    })?;
    let terminal = parse_terminal(&body.terminal_type).ok_or_else(|| {
        ApiError::invalid(
            "/terminal_type",
            "terminal_type must be WEB, WAP, APP or MINI_APP",
        )
    })?;
    let os = match &body.os_type {
        None => None,
        Some(os) => Some(
            parse_os(os)
                .ok_or_else(|| ApiError::invalid("/os_type", "os_type must be IOS or ANDROID"))?,
        ),
    };
    check_secure_url_for(&body.return_url, &state.shared().return_url_origins)
        .map_err(|why| ApiError::invalid("/return_url", why))?;
    let started = Authorizations::new(tenant.ctx().clone())
        .start(StartAuthorization {
            customer_id: body.customer_id,
            wallet,
            terminal,
            os,
            return_url: body.return_url,
            secondary_merchant: body.secondary_merchant,
        })
        .await
        .map_err(|e| ApiError::from_domain(e, body_param))?;
    state.shared().wake.notify_waiters();
    let body = read(&tenant, &started.authorization_id).await?;
    Ok((StatusCode::CREATED, Json(body)))
}

/// One authorization.
#[utoipa::path(
    get,
    path = "/v1/authorizations/{id}",
    tag = "authorizations",
    params(("id" = String, Path, description = "`auth_…`")),
    responses((status = 200, description = "The authorization", body = AuthorizationBody)),
    security(("api_key" = []))
)]
pub async fn get_authorization(
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> ApiResult<Json<AuthorizationBody>> {
    Ok(Json(read(&tenant, &AuthorizationId::new(id)).await?))
}

/// Authorizations, newest first.
#[utoipa::path(
    get,
    path = "/v1/authorizations",
    tag = "authorizations",
    params(ListAuthorizations),
    responses((status = 200, description = "A page of authorizations", body = List<AuthorizationBody>)),
    security(("api_key" = []))
)]
pub async fn list_authorizations(
    Extension(tenant): Extension<Tenant>,
    QueryParams(query): QueryParams<ListAuthorizations>,
) -> ApiResult<Json<List<AuthorizationBody>>> {
    let states = match &query.status {
        None => Vec::new(),
        Some(status) => authorization_states(status).ok_or_else(|| {
            ApiError::invalid("status", "status must be awaiting_user, active, needs_reauthorization, revoked, declined, expired or failed")
        })?,
    };
    let filter = AuthorizationFilter {
        customer_id: query.customer_id,
        states,
    };
    let page = PageRequest {
        after: query.starting_after,
        limit: limit_of(query.limit),
    };
    let page = Authorizations::new(tenant.ctx().clone())
        .list(&filter, &page)
        .await
        .map_err(|e| ApiError::from_domain(e, query_param))?;
    Ok(Json(List::new(
        page.items.iter().map(AuthorizationBody::from).collect(),
        page.has_more,
    )))
}

/// Revokes the authorization at Alipay: no payment can be made on it any more.
#[utoipa::path(
    post,
    path = "/v1/authorizations/{id}/revoke",
    tag = "authorizations",
    params(("id" = String, Path, description = "`auth_…`")),
    responses((status = 200, description = "Revoked (or being revoked)", body = AuthorizationBody)),
    security(("api_key" = []))
)]
pub async fn revoke_authorization(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> ApiResult<Json<AuthorizationBody>> {
    let id = AuthorizationId::new(id);
    Authorizations::new(tenant.ctx().clone())
        .revoke(&id)
        .await
        .map_err(|e| match e {
            e @ DomainError::Invalid { .. } => {
                ApiError::new(StatusCode::CONFLICT, "invalid_state", e.to_string())
            }
            e => ApiError::from_domain(e, |_| None),
        })?;
    state.shared().wake.notify_waiters();
    Ok(Json(read(&tenant, &id).await?))
}

/// Asks the user to authorize again (after `needs_reauthorization`, `failed`, `declined`,
/// `expired` or `revoked`): a new authorization for the same customer, wallet and return URL.
#[utoipa::path(
    post,
    path = "/v1/authorizations/{id}/reauthorize",
    tag = "authorizations",
    params(("id" = String, Path, description = "`auth_…`: the authorization to replace")),
    responses((status = 201, description = "The new authorization, awaiting the user", body = AuthorizationBody)),
    security(("api_key" = []))
)]
pub async fn reauthorize(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<AuthorizationBody>)> {
    let started = Authorizations::new(tenant.ctx().clone())
        .restart(&AuthorizationId::new(id))
        .await
        .map_err(|e| match e {
            e @ DomainError::Invalid { .. } => {
                ApiError::new(StatusCode::CONFLICT, "authorization_usable", e.to_string())
            }
            e => ApiError::from_domain(e, |_| None),
        })?;
    state.shared().wake.notify_waiters();
    let body = read(&tenant, &started.authorization_id).await?;
    Ok((StatusCode::CREATED, Json(body)))
}
