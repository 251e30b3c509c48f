//! Errors of the merchant API as RFC 9457 problem details (`application/problem+json`): `type`,
//! `title`, `status`, `detail`, plus a stable `code` and, where one field is at fault, `param`
//! (a JSON pointer into the body, or the query parameter's name). A 5xx never carries internals:
//! its cause is logged with the request's id and the body says only what kind of failure it was.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use autodebit_domain::services::Error as DomainError;

/// The media type of problem details.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem, as the merchant API answers it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem (`about:blank` for plain HTTP ones).
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What happened, for a person.
    pub detail: String,
    /// A stable, machine-readable code (e.g. `authorization_not_active`).
    pub code: String,
    /// The field at fault: a JSON pointer into the body (`/amount`) or a query parameter's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
    /// Alipay's result code, when Alipay refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alipay_result_code: Option<String>,
}

/// An error answer of the merchant API (boxed: handlers return it through every `?`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError(Box<Inner>);

#[derive(Clone, Debug, PartialEq, Eq)]
struct Inner {
    status: StatusCode,
    problem: Problem,
    /// Headers to add (`WWW-Authenticate`, `Retry-After`).
    extra: Vec<(header::HeaderName, &'static str)>,
}

impl ApiError {
    /// A problem with `status`, `code` and `detail`.
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Self(Box::new(Inner {
            status,
            problem: Problem {
                kind: format!("https://autodebit.dev/problems/{code}"),
                title: status.canonical_reason().unwrap_or("Error").to_owned(),
                status: status.as_u16(),
                detail: detail.into(),
                code: code.to_owned(),
                param: None,
                alipay_result_code: None,
            },
            extra: Vec::new(),
        }))
    }

    /// The field at fault.
    #[must_use]
    pub fn param(mut self, param: impl Into<String>) -> Self {
        self.0.problem.param = Some(param.into());
        self
    }

    /// 400 `invalid_request` about `param`.
    pub fn invalid(param: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", detail).param(param)
    }

    /// 404 for `what` `id` (also what another merchant's resource looks like).
    pub fn not_found(what: &str, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "resource_missing",
            format!("no {what} {id}"),
        )
    }

    /// 401 with `WWW-Authenticate: Bearer`.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail);
        e.0.extra.push((header::WWW_AUTHENTICATE, "Bearer"));
        e
    }

    /// 500 with nothing of the cause (which the caller logs).
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed; nothing about it is shown here (it is logged with this request's id)",
        )
    }

    /// 503: a dependency (the database, Alipay) did not answer; try again.
    pub fn unavailable(code: &str, detail: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, code, detail);
        e.0.extra.push((header::RETRY_AFTER, "1"));
        e
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    /// The problem.
    pub fn problem(&self) -> &Problem {
        &self.0.problem
    }

    /// A domain error as the merchant sees it. `param_of` names the request field a domain field
    /// comes from (`None`: the field is not the caller's).
    pub fn from_domain(error: DomainError, param_of: impl Fn(&str) -> Option<String>) -> Self {
        use DomainError as E;
        match error {
            E::Store(e) => {
                tracing::error!(error = %e, "the store failed");
                Self::unavailable(
                    "store_unavailable",
                    "the database did not answer; nothing was changed; try again",
                )
            }
            E::Random(e) => {
                tracing::error!(error = %e, "the random source failed");
                Self::internal()
            }
            E::NotFound { what, id } => {
                let e = Self::not_found(what, &id);
                match param_of(what) {
                    Some(p) => e.param(p),
                    None => e,
                }
            }
            E::Invalid { field, reason } => {
                let e = Self::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    format!("{field}: {reason}"),
                );
                match param_of(field) {
                    Some(p) => e.param(p),
                    None => e,
                }
            }
            E::IdempotencyConflict { key } => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                format!("the idempotency key {key:?} was used with other parameters"),
            ),
            e @ E::ReferenceInUse { .. } => {
                Self::new(StatusCode::CONFLICT, "reference_in_use", e.to_string())
                    .param("/reference")
            }
            e @ E::AttemptInProgress { .. } => {
                Self::new(StatusCode::CONFLICT, "payment_in_progress", e.to_string())
            }
            e @ E::AlreadyPaid { .. } => {
                Self::new(StatusCode::CONFLICT, "payment_already_paid", e.to_string())
            }
            e @ E::NotChargeable { .. } => Self::new(
                StatusCode::CONFLICT,
                "authorization_not_active",
                e.to_string(),
            )
            .param("/authorization_id"),
            E::NotCancellable {
                order_id,
                reason,
                refund_instead,
            } => {
                if refund_instead {
                    Self::new(
                        StatusCode::CONFLICT,
                        "refund_instead",
                        format!(
                            "payment {order_id} cannot be cancelled ({reason}): refund it instead (POST /v1/payments/{order_id}/refunds)"
                        ),
                    )
                } else {
                    Self::new(
                        StatusCode::CONFLICT,
                        "payment_not_cancellable",
                        format!("payment {order_id} cannot be cancelled: {reason}"),
                    )
                }
            }
            e @ E::NotRefundable { .. } => Self::new(
                StatusCode::CONFLICT,
                "payment_not_refundable",
                e.to_string(),
            ),
            e @ E::NotDeclarable { .. } => Self::new(
                StatusCode::CONFLICT,
                "customs_declaration_refused",
                e.to_string(),
            ),
            e @ E::RefundTooLarge { .. } => Self::new(
                StatusCode::BAD_REQUEST,
                "amount_exceeds_refundable",
                e.to_string(),
            )
            .param("/amount"),
            E::Transition(e) => Self::new(StatusCode::CONFLICT, "invalid_state", e.to_string()),
            E::Refused { api, code } => {
                let mut e = Self::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "alipay_refused",
                    format!("Alipay refused {}: {code}", api.name()),
                );
                e.0.problem.alipay_result_code = Some(code);
                e
            }
            E::Unavailable { api, detail } => {
                tracing::warn!(api = api.name(), %detail, "Alipay did not answer");
                Self::unavailable(
                    "alipay_unavailable",
                    format!("Alipay did not answer {}; try again", api.name()),
                )
            }
            e @ E::Contention(_) => {
                Self::new(StatusCode::CONFLICT, "concurrent_update", e.to_string())
            }
            e @ (E::NotificationRefused(_) | E::NotificationUnverified { .. }) => {
                tracing::error!(error = %e, "a notification error reached the merchant API");
                Self::internal()
            }
            e => {
                tracing::error!(error = %e, "an unexpected domain error");
                Self::internal()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let Inner {
            status,
            problem,
            extra,
        } = *self.0;
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        for (name, value) in extra {
            headers.insert(name, HeaderValue::from_static(value));
        }
        response
    }
}

/// The result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

/// A domain error whose fields are not the request's (no `param`).
/// A store failure outside any domain service (a read of the server's own).
impl From<autodebit_domain::ports::StoreError> for ApiError {
    fn from(error: autodebit_domain::ports::StoreError) -> Self {
        Self::from(DomainError::Store(error))
    }
}

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        Self::from_domain(error, |_| None)
    }
}
