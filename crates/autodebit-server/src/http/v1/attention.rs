//! `/v1/attention`: everything that needs a person, with what was tried and what can be done, and
//! resolving an item with a reason.

use autodebit_domain::model::AttentionId;
use autodebit_domain::services::operator::Operator;
use axum::extract::Path;
use axum::{Extension, Json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{check_reason, checked_limit};
use crate::http::dto::{AttentionBody, List, PageQuery, Resolve};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{JsonBody, QueryParams};
use crate::http::state::{AppState, Tenant};

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_attention))
        .routes(routes!(resolve_attention))
}

/// Open items, oldest first.
#[utoipa::path(
    get,
    path = "/v1/attention",
    tag = "operations",
    params(PageQuery),
    responses((status = 200, description = "A page of open items, oldest first", body = List<AttentionBody>)),
    security(("api_key" = []))
)]
pub async fn list_attention(
    Extension(tenant): Extension<Tenant>,
    QueryParams(query): QueryParams<PageQuery>,
) -> ApiResult<Json<List<AttentionBody>>> {
    let limit = checked_limit(query.limit)?;
    let after = query.starting_after.map(AttentionId::new);
    if let Some(after) = &after {
        // A cursor must name an item (open or resolved since), as every other list's must.
        let mut tx = tenant.ctx().store.begin().await?;
        let known = tx.attention(after).await?;
        if known.is_none() {
            return Err(ApiError::invalid(
                "starting_after",
                "starting_after: names no attention item",
            ));
        }
    }
    let mut items = Operator::new(tenant.ctx().clone())
        .attention(after.as_ref(), limit + 1)
        .await?;
    let has_more = items.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    items.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(Json(List::new(
        items.iter().map(AttentionBody::from).collect(),
        has_more,
    )))
}

/// Marks an item resolved, with a reason (kept with it).
#[utoipa::path(
    post,
    path = "/v1/attention/{id}/resolve",
    tag = "operations",
    params(("id" = String, Path, description = "`atn_…`")),
    request_body = Resolve,
    responses((status = 200, description = "The item, resolved", body = AttentionBody)),
    security(("api_key" = []))
)]
pub async fn resolve_attention(
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Resolve>,
) -> ApiResult<Json<AttentionBody>> {
    check_reason(&body.reason)?;
    let item = Operator::new(tenant.ctx().clone())
        .resolve(&AttentionId::new(id), &body.reason)
        .await?;
    Ok(Json(AttentionBody::from(&item)))
}
