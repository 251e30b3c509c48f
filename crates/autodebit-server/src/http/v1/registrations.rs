//! Secondary-merchant registrations (for an acquirer or ISV; on per merchant with
//! `merchants.<id>.secondary_merchant_registration = true`, as Alipay deprecated registration for
//! online payments in August 2022): `POST /v1/secondary_merchant_registrations`,
//! `GET /v1/secondary_merchant_registrations`, `GET /v1/secondary_merchant_registrations/{id}`,
//! `GET /v1/secondary_merchant_registrations/{id}/registered_info` (what Alipay holds, asked live).
//!
//! The secondary merchant's information is Alipay's own `merchantInfo` object, with Alipay's field
//! names: it is long, Alipay-defined, and passed on as given (checked against Alipay's rules first).

use ams_protocol::{MerchantRegistrationInfo, ProductCode, RegistrationStatus};
use autodebit_domain::lifecycle::registration::RegistrationState;
use autodebit_domain::model::{Registration, RegistrationId};
use autodebit_domain::ports::PageRequest;
use autodebit_domain::services::registrations::{RegisterCommand, Registrations};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::Object;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{limit_of, query_param};
use crate::http::dto::{Failure, List, failure_message, one_of, time};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{JsonBody, QueryParams};
use crate::http::idempotency::key_of;
use crate::http::state::{AppState, Tenant};

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_registration, list_registrations))
        .routes(routes!(get_registration))
        .routes(routes!(get_registered_info))
}

/// Refuses every registration route of a merchant that does not register secondary merchants.
fn enabled(tenant: &Tenant) -> ApiResult<()> {
    if tenant.ctx().settings.secondary_merchant_registration {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "secondary_merchant_registration_disabled",
            format!(
                "secondary-merchant registration is off for this merchant (deprecated by Alipay for online payments since August 2022); turn it on with merchants.{}.secondary_merchant_registration = true",
                tenant.id()
            ),
        ))
    }
}

/// `POST /v1/secondary_merchant_registrations`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRegistration {
    /// Alipay's `merchantInfo`, with Alipay's field names: `referenceMerchantId` (the secondary
    /// merchant, 1 to 64 characters, as later named in `secondary_merchant` of an authorization),
    /// `merchantDisplayName`, `merchantMCC`, `logo`, `websites`, `merchantAddress`,
    /// `registrationDetail`.
    #[schema(value_type = Object, example = json!({
        "referenceMerchantId": "sub_shop_1", "merchantDisplayName": "Sub Shop", "merchantMCC": "5812",
        "websites": [{"url": "https://sub.example"}],
        "merchantAddress": {"region": "HK", "city": "Hong Kong", "address1": "1 Road"},
        "registrationDetail": {"legalName": "Sub Shop Ltd", "registrationType": "ENTERPRISE_REGISTRATION_NO",
            "registrationNo": "12345", "businessType": "ENTERPRISE"}
    }))]
    pub merchant_info: serde_json::Value,
    /// Alipay's `productCodes` (default `["AGREEMENT_PAYMENT"]`, Auto Debit's).
    #[serde(default)]
    pub product_codes: Option<Vec<String>>,
    /// Opaque text Alipay echoes (`passThroughInfo`, at most 2048 characters).
    #[serde(default)]
    #[schema(max_length = 2048)]
    pub pass_through_info: Option<String>,
}

/// `GET /v1/secondary_merchant_registrations` filters.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListRegistrations {
    /// Only this secondary merchant's.
    pub reference_merchant_id: Option<String>,
    /// 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The id of the last item of the page before.
    pub starting_after: Option<String>,
}

/// One wallet's review of a secondary merchant.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct WalletReviewBody {
    /// The wallet (Alipay's `pspName`).
    pub wallet: Option<String>,
    /// `APPROVED`, `REJECTED`, or another status Alipay gives.
    pub status: Option<String>,
    /// Why it was rejected.
    pub reject_reasons: Option<String>,
}

/// A secondary merchant's registration with Alipay.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RegistrationBody {
    /// `smr_…`.
    pub id: String,
    /// Always `secondary_merchant_registration`.
    pub object: &'static str,
    /// The secondary merchant (`referenceMerchantId`).
    pub reference_merchant_id: String,
    /// The `registrationRequestId` sent to Alipay (the same for every send).
    pub registration_request_id: String,
    /// `processing` (Alipay has not answered yet), `in_review` (accepted; the wallets review it,
    /// normally within 7 days), `reviewed` (the review ended: see `wallets`), `failed` (Alipay
    /// refused it).
    #[schema(schema_with = registration_status_body)]
    pub status: &'static str,
    /// The overall review status Alipay gives (`PENDING`, `COMPLETED`, ...), once read.
    pub review_status: Option<String>,
    /// Each wallet's review, once read.
    pub wallets: Vec<WalletReviewBody>,
    /// Why Alipay refused it, when `failed`.
    pub failure: Option<Failure>,
    /// How many times it was sent (the same body each time).
    pub sends: u32,
    /// When it was created.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
}

/// The merchant-facing status of a registration.
pub fn registration_status(r: &Registration) -> &'static str {
    match r.state {
        RegistrationState::Refused => "failed",
        RegistrationState::Accepted if r.reviewed() => "reviewed",
        RegistrationState::Accepted => "in_review",
        RegistrationState::Requested | RegistrationState::Sent | RegistrationState::Unknown => {
            "processing"
        }
    }
}

fn registration_status_body() -> Object {
    one_of(
        ["processing", "in_review", "reviewed", "failed"],
        false,
        "Where the registration stands.",
        "reviewed",
    )
}

fn status_name(status: Option<&RegistrationStatus>) -> Option<String> {
    status.map(|s| s.as_str().to_owned())
}

impl From<&Registration> for RegistrationBody {
    fn from(r: &Registration) -> Self {
        let status = registration_status(r);
        Self {
            id: r.id.to_string(),
            object: "secondary_merchant_registration",
            reference_merchant_id: r.reference_merchant_id.clone(),
            registration_request_id: r.registration_request_id.as_str().to_owned(),
            status,
            review_status: status_name(
                r.review
                    .as_ref()
                    .and_then(|v| v.registration_status.as_ref()),
            ),
            wallets: r
                .wallets
                .iter()
                .map(|w| WalletReviewBody {
                    wallet: w.psp_name.clone(),
                    status: status_name(
                        w.registration_result
                            .as_ref()
                            .and_then(|v| v.registration_status.as_ref()),
                    ),
                    reject_reasons: w
                        .registration_result
                        .as_ref()
                        .and_then(|v| v.reject_reasons.clone()),
                })
                .collect(),
            failure: (status == "failed").then(|| {
                let code = r.result_code.clone().unwrap_or_else(|| "FAILED".into());
                Failure {
                    message: r
                        .result_message
                        .clone()
                        .unwrap_or_else(|| failure_message(ams_protocol::Api::Registration, &code)),
                    code,
                }
            }),
            sends: r.sends,
            created_at: time(r.created_at),
            updated_at: time(r.updated_at),
        }
    }
}

/// Where a domain error's field is in the body.
fn registration_param(field: &str) -> Option<String> {
    (field == "merchant_info").then(|| "/merchant_info".to_owned())
}

/// Registers a secondary merchant with Alipay and sends the registration at once. Alipay's
/// acceptance is not the wallets' review: that is read afterwards (or notified), and the
/// registration becomes `reviewed` (with a `secondary_merchant.reviewed` event) when it ends.
#[utoipa::path(
    post,
    path = "/v1/secondary_merchant_registrations",
    tag = "secondary_merchants",
    request_body = CreateRegistration,
    responses((status = 201, description = "The registration (it may still be `processing`)", body = RegistrationBody)),
    security(("api_key" = []))
)]
pub async fn create_registration(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<CreateRegistration>,
) -> ApiResult<(StatusCode, Json<RegistrationBody>)> {
    enabled(&tenant)?;
    let key = key_of(&headers)?;
    let merchant_info: MerchantRegistrationInfo = serde_json::from_value(body.merchant_info)
        .map_err(|e| {
            ApiError::invalid(
                "/merchant_info",
                format!("merchant_info is not Alipay's merchantInfo: {e}"),
            )
        })?;
    let product_codes = body
        .product_codes
        .unwrap_or_else(|| vec!["AGREEMENT_PAYMENT".to_owned()])
        .iter()
        .map(|code| ProductCode::from_wire(code))
        .collect();
    let view = Registrations::new(tenant.ctx().clone())
        .register(RegisterCommand {
            idempotency_key: key,
            merchant_info,
            product_codes,
            pass_through_info: body.pass_through_info,
        })
        .await
        .map_err(|e| ApiError::from_domain(e, registration_param))?;
    state.shared().wake.notify_waiters();
    Ok((
        StatusCode::CREATED,
        Json(RegistrationBody::from(&view.registration)),
    ))
}

/// One registration.
#[utoipa::path(
    get,
    path = "/v1/secondary_merchant_registrations/{id}",
    tag = "secondary_merchants",
    params(("id" = String, Path, description = "`smr_…`")),
    responses((status = 200, description = "The registration", body = RegistrationBody)),
    security(("api_key" = []))
)]
pub async fn get_registration(
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> ApiResult<Json<RegistrationBody>> {
    enabled(&tenant)?;
    let view = Registrations::new(tenant.ctx().clone())
        .view(&RegistrationId::new(id))
        .await?;
    Ok(Json(RegistrationBody::from(&view.registration)))
}

/// The registrations, newest first.
#[utoipa::path(
    get,
    path = "/v1/secondary_merchant_registrations",
    tag = "secondary_merchants",
    params(ListRegistrations),
    responses((status = 200, description = "A page of registrations", body = List<RegistrationBody>)),
    security(("api_key" = []))
)]
pub async fn list_registrations(
    Extension(tenant): Extension<Tenant>,
    QueryParams(query): QueryParams<ListRegistrations>,
) -> ApiResult<Json<List<RegistrationBody>>> {
    enabled(&tenant)?;
    let page = PageRequest {
        after: query.starting_after,
        limit: limit_of(query.limit),
    };
    let page = Registrations::new(tenant.ctx().clone())
        .list(query.reference_merchant_id.as_deref(), &page)
        .await
        .map_err(|e| ApiError::from_domain(e, query_param))?;
    Ok(Json(List::new(
        page.items.iter().map(RegistrationBody::from).collect(),
        page.has_more,
    )))
}

/// What Alipay holds of a registered secondary merchant (`inquiryRegistrationInfo`).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RegisteredInfoBody {
    /// Always `secondary_merchant_info`.
    pub object: &'static str,
    /// The secondary merchant.
    pub reference_merchant_id: String,
    /// Alipay's `merchantInfo` of its latest approved registration, with Alipay's field names;
    /// `null` while no wallet approved one.
    #[schema(value_type = Option<Object>)]
    pub merchant_info: Option<serde_json::Value>,
    /// Alipay's `productCodes` of that registration.
    pub product_codes: Vec<String>,
}

/// What Alipay holds of the registration's secondary merchant, asked of Alipay on each call
/// (`inquiryRegistrationInfo`; nothing is stored).
#[utoipa::path(
    get,
    path = "/v1/secondary_merchant_registrations/{id}/registered_info",
    tag = "secondary_merchants",
    params(("id" = String, Path, description = "`smr_…`")),
    responses((status = 200, description = "What Alipay holds", body = RegisteredInfoBody)),
    security(("api_key" = []))
)]
pub async fn get_registered_info(
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> ApiResult<Json<RegisteredInfoBody>> {
    enabled(&tenant)?;
    let registrations = Registrations::new(tenant.ctx().clone());
    let reference = registrations
        .view(&RegistrationId::new(id))
        .await?
        .registration
        .reference_merchant_id;
    let info = registrations.registered_info(&reference).await?;
    Ok(Json(RegisteredInfoBody {
        object: "secondary_merchant_info",
        reference_merchant_id: reference,
        merchant_info: info
            .merchant_info
            .as_ref()
            .and_then(|m| serde_json::to_value(m).ok()),
        product_codes: info
            .product_codes
            .unwrap_or_default()
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect(),
    }))
}
