//! The HTTP server: [`app`] builds the whole router over an [`AppState`] (tests drive it with
//! `oneshot` or over a socket).
//!
//! - `/v1/…`: the merchant API (`merchant-api.md`): an API key on every route
//!   ([`auth::require_api_key`]), an `Idempotency-Key` on every `POST` ([`idempotency`]), problem
//!   details for every error ([`error`]), cursor pages. Handlers only translate: parse and check
//!   the request, call one domain service, shape the answer.
//! - `/alipay/{merchant}/…`: Alipay's notifications and the user's return page ([`alipay`]).
//! - `/alipay/isv/notify`: Alipay's ISV authorization notification, a merchant's agent token ([`isv`]).
//! - `/healthz`, `/readyz`, `/metrics`, `/openapi.json` ([`service`]).
//!
//! Around every route: a request id (`x-request-id`, taken from the request or made, and sent
//! back), a tracing span with the method, the *matched* path (never the query: the return page's
//! carries the auth code) and the merchant, a concurrency limit, a body limit, a time limit (a
//! request that runs out of time is answered 503, so an idempotent retry runs it again), and a
//! panic answered as a 500 problem.

pub mod alipay;
pub mod auth;
pub mod dto;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod isv;
pub mod openapi;
pub mod service;
pub mod state;
pub mod v1;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, Method, StatusCode, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower::ServiceBuilder;
use tower::limit::ConcurrencyLimitLayer;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;

pub use state::{AppState, Shared, Tenant};

use error::ApiError;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The merchant API's routes with their OpenAPI document.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(v1::authorizations::router())
        .merge(v1::payments::router())
        .merge(v1::refunds::router())
        .merge(v1::customs::router())
        .merge(v1::registrations::router())
        .merge(v1::attention::router())
        .merge(v1::events::router())
        .merge(v1::webhook_endpoints::router())
        .merge(v1::sandbox::router())
        .merge(v1::stats::router())
}

/// The merchant API's OpenAPI document, as served and checked in.
pub fn openapi_json() -> String {
    let (_, mut doc) = api().split_for_parts();
    openapi::finish(&mut doc);
    let mut text = doc
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

/// Runs the handler under the request time limit; out of time, 503 (not kept by idempotency,
/// so a retry runs the request again and finds what it did).
async fn time_limit(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::unavailable(
            "request_timeout",
            "the request took too long; what it started goes on; send it again with the same Idempotency-Key to see the outcome",
        )
        .into_response(),
    }
}

/// Counts requests and their durations by method, matched route and status.
async fn record(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    #[allow(
        clippy::disallowed_methods,
        reason = "a request's duration, for metrics only"
    )]
    let started = Instant::now();
    let response = next.run(req).await;
    let labels = [
        ("method", method.to_string()),
        ("path", path),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::counter!("autodebit_http_requests_total", &labels).increment(1);
    metrics::histogram!("autodebit_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

/// No id holds a NUL character (PostgreSQL cannot even store one): a path naming one names no
/// resource, and never reaches the database.
async fn no_nul_in_path(req: Request, next: Next) -> Response {
    if req.uri().path().to_ascii_lowercase().contains("%00") {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "resource_missing",
            "no such resource",
        )
        .into_response();
    }
    next.run(req).await
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "route_not_found", "no such route")
}

fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a handler panicked");
    ApiError::internal().into_response()
}

/// The whole server's router.
pub fn app(state: AppState) -> Router {
    let limit = Duration::from_millis(state.shared().request_timeout_ms);
    let (v1, _) = api().split_for_parts();
    let v1 = v1
        .route_layer(from_fn_with_state(limit, time_limit))
        .route_layer(from_fn(no_nul_in_path))
        .route_layer(from_fn_with_state(state.clone(), idempotency::idempotency))
        .route_layer(from_fn_with_state(state.clone(), auth::require_api_key));
    // `/v1/sandbox` does not exist outside sandbox mode: its handler answers 404 there (a second
    // route for the same path would make the router panic).
    let doc = Arc::new(openapi_json());
    let docs = Router::new()
        .route("/openapi.json", get(service::openapi))
        .with_state(doc);
    let concurrency = state.shared().concurrency_limit;
    let body_limit = state.shared().body_limit;
    Router::new()
        .merge(v1)
        .merge(alipay::router())
        .merge(isv::router())
        .route("/healthz", get(service::healthz))
        .route("/readyz", get(service::readyz))
        .route("/metrics", get(service::metrics))
        .with_state(state)
        .merge(docs)
        .merge(crate::console::router())
        .fallback(not_found)
        .method_not_allowed_fallback(|method: Method| async move {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("{method} is not allowed on this route"),
            )
        })
        .route_layer(from_fn(record))
        .layer(
            ServiceBuilder::new()
                .layer(SetSensitiveRequestHeadersLayer::new([
                    header::AUTHORIZATION,
                    header::COOKIE,
                ]))
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http().make_span_with(|req: &Request<Body>| {
                        let path = req
                            .extensions()
                            .get::<MatchedPath>()
                            .map_or("unmatched", MatchedPath::as_str);
                        let id = req
                            .headers()
                            .get(&REQUEST_ID)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("");
                        tracing::info_span!(
                            "request",
                            method = %req.method(),
                            path,
                            request_id = id,
                            merchant = tracing::field::Empty,
                        )
                    }),
                )
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(CatchPanicLayer::custom(panicked))
                .layer(ConcurrencyLimitLayer::new(concurrency))
                .layer(DefaultBodyLimit::max(body_limit)),
        )
}
