//! Customs declarations (China customs only, on per merchant with
//! `merchants.<id>.customs_declarations = true`): `POST /v1/payments/{id}/customs_declarations`,
//! `GET /v1/payments/{id}/customs_declarations`, `GET /v1/customs_declarations/{id}`,
//! `POST /v1/customs_declarations/{id}/resend`.

use ams_protocol::{Amount, Currency};
use autodebit_domain::model::{DeclarationId, OrderId};
use autodebit_domain::services::customs::{
    Buyer, Customs, DeclarationChanges, DeclareCommand, ResendCommand,
};
use autodebit_domain::services::payments::Payments;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{MAX_AMOUNT, page_of_children};
use crate::http::dto::{CreateDeclaration, DeclarationBody, List, PageQuery, ResendDeclaration};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{JsonBody, QueryParams};
use crate::http::idempotency::key_of;
use crate::http::state::{AppState, Tenant};

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_declaration, list_declarations))
        .routes(routes!(get_declaration))
        .routes(routes!(resend_declaration))
}

/// Refuses every customs route of a merchant whose contract has no customs declarations.
fn enabled(tenant: &Tenant) -> ApiResult<()> {
    if tenant.ctx().settings.customs_declarations {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "customs_declarations_disabled",
            format!(
                "customs declarations are off for this merchant (China customs only); turn them on with merchants.{}.customs_declarations = true",
                tenant.id()
            ),
        ))
    }
}

/// Where a domain error's field is in the body.
fn declaration_param(field: &str) -> Option<String> {
    match field {
        "amount"
        | "customs_code"
        | "merchant_customs_code"
        | "merchant_customs_name"
        | "suborder_id"
        | "buyer_full_name"
        | "buyer_certificate_no" => Some(format!("/{field}")),
        "buyer" => Some("/buyer".into()),
        "buyer.certificate_type" => Some("/buyer/certificate_type".into()),
        "buyer.certificate_no" => Some("/buyer/certificate_no".into()),
        "buyer.full_name" => Some("/buyer/full_name".into()),
        _ => None,
    }
}

fn checked_amount(amount: Option<u64>) -> ApiResult<Option<u64>> {
    match amount {
        Some(a) if a == 0 || a > MAX_AMOUNT => Err(ApiError::invalid(
            "/amount",
            format!("amount must be 1 to {MAX_AMOUNT} (minor units)"),
        )),
        other => Ok(other),
    }
}

/// Declares a paid payment to Chinese customs and sends the declaration to Alipay at once.
/// Alipay's acceptance is not customs' answer: that is read afterwards, and the declaration
/// becomes `completed` (with a `customs_declaration.completed` event) when customs has answered.
#[utoipa::path(
    post,
    path = "/v1/payments/{id}/customs_declarations",
    tag = "customs",
    params(("id" = String, Path, description = "`pay_…`")),
    request_body = CreateDeclaration,
    responses((status = 201, description = "The declaration (it may still be `processing`)", body = DeclarationBody)),
    security(("api_key" = []))
)]
pub async fn create_declaration(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    headers: HeaderMap,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<CreateDeclaration>,
) -> ApiResult<(StatusCode, Json<DeclarationBody>)> {
    enabled(&tenant)?;
    let key = key_of(&headers)?;
    let amount = checked_amount(body.amount)?;
    let order_id = OrderId::new(id);
    let payment = Payments::new(tenant.ctx().clone())
        .payment(&order_id)
        .await?;
    let currency = match &body.currency {
        None => payment.order.amount.currency,
        Some(code) => code
            .parse::<Currency>()
            .map_err(|e| ApiError::invalid("/currency", e.to_string()))?,
    };
    let view = Customs::new(tenant.ctx().clone())
        .declare(DeclareCommand {
            idempotency_key: key,
            order_id,
            amount: amount.map(|a| Amount::new(currency, a)),
            customs_code: body.customs_code,
            merchant_customs_code: body.merchant_customs_code,
            merchant_customs_name: body.merchant_customs_name,
            suborder_id: body.suborder_id,
            buyer: body.buyer.map(|b| Buyer {
                certificate_type: b.certificate_type,
                certificate_no: b.certificate_no,
                full_name: b.full_name,
            }),
        })
        .await
        .map_err(|e| ApiError::from_domain(e, declaration_param))?;
    state.shared().wake.notify_waiters();
    Ok((
        StatusCode::CREATED,
        Json(DeclarationBody::from(&view.declaration)),
    ))
}

/// Sends a declaration again with what Alipay lets change (the customs office, the merchant's
/// customs code and name, the amount, the sub-order id, the buyer's name and certificate number),
/// under the same `declarationRequestId`: when customs lost the data or it was wrong. Alipay takes
/// it only more than five minutes after the previous call; sooner is refused before sending.
#[utoipa::path(
    post,
    path = "/v1/customs_declarations/{id}/resend",
    tag = "customs",
    params(("id" = String, Path, description = "`cd_…`")),
    request_body = ResendDeclaration,
    responses((status = 200, description = "The declaration, sent again", body = DeclarationBody)),
    security(("api_key" = []))
)]
pub async fn resend_declaration(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    headers: HeaderMap,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ResendDeclaration>,
) -> ApiResult<Json<DeclarationBody>> {
    enabled(&tenant)?;
    let key = key_of(&headers)?;
    let amount = checked_amount(body.amount)?;
    let customs = Customs::new(tenant.ctx().clone());
    let id = DeclarationId::new(id);
    let current = customs.view(&id).await?;
    let view = customs
        .resend(ResendCommand {
            idempotency_key: key,
            id,
            changes: DeclarationChanges {
                amount: amount.map(|a| Amount::new(current.declaration.amount.currency, a)),
                customs_code: body.customs_code,
                merchant_customs_code: body.merchant_customs_code,
                merchant_customs_name: body.merchant_customs_name,
                suborder_id: body.suborder_id,
                buyer_full_name: body.buyer_full_name,
                buyer_certificate_no: body.buyer_certificate_no,
            },
        })
        .await
        .map_err(|e| ApiError::from_domain(e, declaration_param))?;
    state.shared().wake.notify_waiters();
    Ok(Json(DeclarationBody::from(&view.declaration)))
}

/// One customs declaration.
#[utoipa::path(
    get,
    path = "/v1/customs_declarations/{id}",
    tag = "customs",
    params(("id" = String, Path, description = "`cd_…`")),
    responses((status = 200, description = "The declaration", body = DeclarationBody)),
    security(("api_key" = []))
)]
pub async fn get_declaration(
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> ApiResult<Json<DeclarationBody>> {
    enabled(&tenant)?;
    let view = Customs::new(tenant.ctx().clone())
        .view(&DeclarationId::new(id))
        .await?;
    Ok(Json(DeclarationBody::from(&view.declaration)))
}

/// A payment's customs declarations, newest first.
#[utoipa::path(
    get,
    path = "/v1/payments/{id}/customs_declarations",
    tag = "customs",
    params(("id" = String, Path, description = "`pay_…`"), PageQuery),
    responses((status = 200, description = "A page of the payment's declarations", body = List<DeclarationBody>)),
    security(("api_key" = []))
)]
pub async fn list_declarations(
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
    QueryParams(query): QueryParams<PageQuery>,
) -> ApiResult<Json<List<DeclarationBody>>> {
    enabled(&tenant)?;
    let all = Customs::new(tenant.ctx().clone())
        .of_payment(&OrderId::new(id))
        .await?;
    Ok(Json(page_of_children(
        all,
        &query,
        "declaration of this payment",
        |v| v.declaration.id.as_str(),
        |v| DeclarationBody::from(&v.declaration),
    )?))
}
