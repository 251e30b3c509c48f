//! Refunds: `POST /v1/payments/{id}/refunds`, `GET /v1/payments/{id}/refunds`,
//! `GET /v1/refunds/{id}`.

use ams_protocol::Amount;
use autodebit_domain::model::{OrderId, RefundId};
use autodebit_domain::services::payments::Payments;
use autodebit_domain::services::refunds::{RefundCommand, Refunds};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{MAX_AMOUNT, body_param, page_of_children};
use crate::http::dto::{CreateRefund, List, PageQuery, RefundBody};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{JsonBody, QueryParams};
use crate::http::idempotency::key_of;
use crate::http::state::{AppState, Tenant};

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_refund, list_refunds))
        .routes(routes!(get_refund))
}

/// Refunds (part of) a paid payment, in its currency. The refunds not failed never add up to more
/// than was paid.
#[utoipa::path(
    post,
    path = "/v1/payments/{id}/refunds",
    tag = "refunds",
    params(("id" = String, Path, description = "`pay_…`")),
    request_body = CreateRefund,
    responses((status = 201, description = "The refund (it may still be `processing`)", body = RefundBody)),
    security(("api_key" = []))
)]
pub async fn create_refund(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    headers: HeaderMap,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<CreateRefund>,
) -> ApiResult<(StatusCode, Json<RefundBody>)> {
    let key = key_of(&headers)?;
    if body.amount == 0 || body.amount > MAX_AMOUNT {
        return Err(ApiError::invalid(
            "/amount",
            format!("amount must be 1 to {MAX_AMOUNT} (minor units)"),
        ));
    }
    if let Some(reason) = &body.reason
        && reason.chars().count() > 256
    {
        return Err(ApiError::invalid(
            "/reason",
            "reason must have at most 256 characters",
        ));
    }
    let order_id = OrderId::new(id);
    let payment = Payments::new(tenant.ctx().clone())
        .payment(&order_id)
        .await?;
    let view = Refunds::new(tenant.ctx().clone())
        .refund(RefundCommand {
            idempotency_key: key,
            order_id,
            amount: Amount::new(payment.order.amount.currency, body.amount),
            reason: body.reason,
        })
        .await
        .map_err(|e| ApiError::from_domain(e, body_param))?;
    state.shared().wake.notify_waiters();
    Ok((StatusCode::CREATED, Json(RefundBody::from(&view.refund))))
}

/// One refund.
#[utoipa::path(
    get,
    path = "/v1/refunds/{id}",
    tag = "refunds",
    params(("id" = String, Path, description = "`re_…`")),
    responses((status = 200, description = "The refund", body = RefundBody)),
    security(("api_key" = []))
)]
pub async fn get_refund(
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> ApiResult<Json<RefundBody>> {
    let view = Refunds::new(tenant.ctx().clone())
        .refund_view(&RefundId::new(id))
        .await?;
    Ok(Json(RefundBody::from(&view.refund)))
}

/// A payment's refunds, newest first.
#[utoipa::path(
    get,
    path = "/v1/payments/{id}/refunds",
    tag = "refunds",
    params(("id" = String, Path, description = "`pay_…`"), PageQuery),
    responses((status = 200, description = "A page of the payment's refunds", body = List<RefundBody>)),
    security(("api_key" = []))
)]
pub async fn list_refunds(
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
    QueryParams(query): QueryParams<PageQuery>,
) -> ApiResult<Json<List<RefundBody>>> {
    let refunds = Refunds::new(tenant.ctx().clone())
        .of_payment(&OrderId::new(id))
        .await?;
    Ok(Json(page_of_children(
        refunds,
        &query,
        "refund of this payment",
        |v| v.refund.id.as_str(),
        |v| RefundBody::from(&v.refund),
    )?))
}
