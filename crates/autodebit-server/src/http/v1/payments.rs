//! `/v1/payments`: charge an authorization, read, list, cancel, pay again, and what an operator
//! can do about a payment (inquire now, retry the cancel, resolve its attention items).

use ams_protocol::Amount;
use autodebit_domain::model::{AuthorizationId, OrderId, Subject};
use autodebit_domain::ports::{OrderFilter, PageRequest};
use autodebit_domain::services::Error as DomainError;
use autodebit_domain::services::operator::Operator;
use autodebit_domain::services::payments::{ChargeCommand, Payments, RetryCommand};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{MAX_AMOUNT, body_param, check_reason, limit_of, query_param};
use crate::config::check_secure_url_for;
use crate::http::dto::{
    CreatePayment, List, ListPayments, PaymentBody, Resolve, order_states, parse_currency,
};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{JsonBody, QueryParams};
use crate::http::idempotency::key_of;
use crate::http::state::{AppState, Tenant};

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_payment, list_payments))
        .routes(routes!(get_payment))
        .routes(routes!(cancel_payment))
        .routes(routes!(retry_payment))
        .routes(routes!(inquire_payment))
        .routes(routes!(retry_cancel))
        .routes(routes!(resolve_payment))
}

fn payments(tenant: &Tenant) -> Payments {
    Payments::new(tenant.ctx().clone())
}

fn order_id(id: String) -> OrderId {
    OrderId::new(id)
}

/// Charges an authorization. Answers as soon as the outcome is known or the first call ends;
/// `processing` is resolved in the background (inquiries, then a cancel), never left.
#[utoipa::path(
    post,
    path = "/v1/payments",
    tag = "payments",
    request_body = CreatePayment,
    responses((status = 201, description = "The payment (it may still be `processing`)", body = PaymentBody)),
    security(("api_key" = []))
)]
pub async fn create_payment(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<CreatePayment>,
) -> ApiResult<(StatusCode, Json<PaymentBody>)> {
    let key = key_of(&headers)?;
    let currency = parse_currency(&body.currency).ok_or_else(|| {
        ApiError::invalid(
            "/currency",
            format!("{:?} is not an ISO 4217 currency", body.currency),
        )
    })?;
    if body.amount == 0 || body.amount > MAX_AMOUNT {
        return Err(ApiError::invalid(
            "/amount",
            format!("amount must be 1 to {MAX_AMOUNT} (minor units)"),
        ));
    }
    if body.reference.is_empty() || body.reference.chars().count() > 64 {
        return Err(ApiError::invalid(
            "/reference",
            "reference must have 1 to 64 characters",
        ));
    }
    if let Some(url) = &body.return_url {
        check_secure_url_for(url, &state.shared().return_url_origins)
            .map_err(|why| ApiError::invalid("/return_url", why))?;
    }
    let view = payments(&tenant)
        .charge(ChargeCommand {
            idempotency_key: key,
            authorization_id: AuthorizationId::new(body.authorization_id),
            reference: body.reference,
            description: body.description,
            amount: Amount::new(currency, body.amount),
            return_url: body.return_url,
        })
        .await
        .map_err(|e| match e {
            DomainError::NotFound {
                what: "authorization",
                id,
            } => ApiError::not_found("authorization", &id).param("/authorization_id"),
            e => ApiError::from_domain(e, body_param),
        })?;
    state.shared().wake.notify_waiters();
    Ok((StatusCode::CREATED, Json(PaymentBody::from(&view))))
}

/// One payment, with its attempts and what needs a person.
#[utoipa::path(
    get,
    path = "/v1/payments/{id}",
    tag = "payments",
    params(("id" = String, Path, description = "`pay_…`")),
    responses((status = 200, description = "The payment", body = PaymentBody)),
    security(("api_key" = []))
)]
pub async fn get_payment(
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> ApiResult<Json<PaymentBody>> {
    let view = payments(&tenant).payment(&order_id(id)).await?;
    Ok(Json(PaymentBody::from(&view)))
}

/// Payments, newest first.
#[utoipa::path(
    get,
    path = "/v1/payments",
    tag = "payments",
    params(ListPayments),
    responses((status = 200, description = "A page of payments", body = List<PaymentBody>)),
    security(("api_key" = []))
)]
pub async fn list_payments(
    Extension(tenant): Extension<Tenant>,
    QueryParams(query): QueryParams<ListPayments>,
) -> ApiResult<Json<List<PaymentBody>>> {
    let states = match &query.status {
        None => Vec::new(),
        Some(status) => order_states(status).ok_or_else(|| {
            ApiError::invalid(
                "status",
                "status must be processing, succeeded, failed or cancelled",
            )
        })?,
    };
    let filter = OrderFilter {
        reference: query.reference,
        authorization_id: query.authorization_id.map(AuthorizationId::new),
        states,
    };
    let page = PageRequest {
        after: query.starting_after,
        limit: limit_of(query.limit),
    };
    let page = payments(&tenant)
        .list(&filter, &page)
        .await
        .map_err(|e| ApiError::from_domain(e, query_param))?;
    Ok(Json(List::new(
        page.items.iter().map(PaymentBody::from).collect(),
        page.has_more,
    )))
}

/// Cancels a payment: nothing is charged, or the charge is returned. Allowed until 00:15 (UTC+8)
/// the day after the payment; later, or once paid, the answer is `refund_instead`.
#[utoipa::path(
    post,
    path = "/v1/payments/{id}/cancel",
    tag = "payments",
    params(("id" = String, Path, description = "`pay_…`")),
    responses((status = 200, description = "The payment, being cancelled or cancelled", body = PaymentBody)),
    security(("api_key" = []))
)]
pub async fn cancel_payment(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> ApiResult<Json<PaymentBody>> {
    let view = payments(&tenant).cancel(&order_id(id)).await?;
    state.shared().wake.notify_waiters();
    Ok(Json(PaymentBody::from(&view)))
}

/// Pays the same order again (a new attempt, a new `paymentRequestId`): only when every earlier
/// attempt failed or was cancelled.
#[utoipa::path(
    post,
    path = "/v1/payments/{id}/retry",
    tag = "payments",
    params(("id" = String, Path, description = "`pay_…`")),
    responses((status = 200, description = "The payment with its new attempt", body = PaymentBody)),
    security(("api_key" = []))
)]
pub async fn retry_payment(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<PaymentBody>> {
    let view = payments(&tenant)
        .retry(RetryCommand {
            idempotency_key: key_of(&headers)?,
            order_id: order_id(id),
        })
        .await?;
    state.shared().wake.notify_waiters();
    Ok(Json(PaymentBody::from(&view)))
}

/// Operator: asks Alipay about the payment now (its next step runs at once).
#[utoipa::path(
    post,
    path = "/v1/payments/{id}/inquire",
    tag = "operations",
    params(("id" = String, Path, description = "`pay_…`")),
    responses((status = 200, description = "The payment after the inquiry", body = PaymentBody)),
    security(("api_key" = []))
)]
pub async fn inquire_payment(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> ApiResult<Json<PaymentBody>> {
    let view = Operator::new(tenant.ctx().clone())
        .inquire_now(&order_id(id))
        .await?;
    state.shared().wake.notify_waiters();
    Ok(Json(PaymentBody::from(&view)))
}

/// Operator: sends the payment's cancel again now (when a cancel is wanted).
#[utoipa::path(
    post,
    path = "/v1/payments/{id}/retry_cancel",
    tag = "operations",
    params(("id" = String, Path, description = "`pay_…`")),
    responses((status = 200, description = "The payment after the cancel", body = PaymentBody)),
    security(("api_key" = []))
)]
pub async fn retry_cancel(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> ApiResult<Json<PaymentBody>> {
    let view = Operator::new(tenant.ctx().clone())
        .retry_cancel(&order_id(id))
        .await
        .map_err(|e| match e {
            // Not being cancelled, or its window has closed: the payment's state, not the request.
            e @ DomainError::Invalid { .. } => {
                ApiError::new(StatusCode::CONFLICT, "invalid_state", e.to_string())
            }
            e => ApiError::from_domain(e, |_| None),
        })?;
    state.shared().wake.notify_waiters();
    Ok(Json(PaymentBody::from(&view)))
}

/// Operator: marks what needs a person about this payment as resolved, with a reason. The
/// payment's own state is not changed (its jobs go on).
#[utoipa::path(
    post,
    path = "/v1/payments/{id}/resolve",
    tag = "operations",
    params(("id" = String, Path, description = "`pay_…`")),
    request_body = Resolve,
    responses((status = 200, description = "The payment, its items resolved", body = PaymentBody)),
    security(("api_key" = []))
)]
pub async fn resolve_payment(
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Resolve>,
) -> ApiResult<Json<PaymentBody>> {
    check_reason(&body.reason)?;
    let id = order_id(id);
    let view = payments(&tenant).payment(&id).await?;
    let operator = Operator::new(tenant.ctx().clone());
    for item in view
        .attention
        .iter()
        .filter(|i| i.resolution.is_none() && i.subject == Subject::Order(id.clone()))
    {
        operator.resolve(&item.id, &body.reason).await?;
    }
    let view = payments(&tenant).payment(&id).await?;
    Ok(Json(PaymentBody::from(&view)))
}
