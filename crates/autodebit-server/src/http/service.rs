//! Service endpoints, without an API key: `/healthz` (the process answers), `/readyz` (the
//! database answers and every migration is applied), `/metrics` (Prometheus text), and
//! `/openapi.json` (the merchant API's document, generated from the code).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::state::AppState;

/// `GET /healthz`.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`.
pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.shared().store.ready().await {
        Ok(()) => Json(json!({"status": "ready"})).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "not_ready", "reason": "the database is unreachable or not migrated"})),
            )
                .into_response()
        }
    }
}

/// `GET /metrics`: the counters and histograms recorded as things happen, and gauges read from
/// each merchant's store at the scrape (payments by state, the job queue, open attention items).
pub async fn metrics(State(state): State<AppState>) -> Response {
    let Some(handle) = &state.shared().metrics else {
        return StatusCode::NOT_FOUND.into_response();
    };
    for tenant in state.shared().tenants.values() {
        let merchant = tenant.id().to_owned();
        match tenant.store().gauges(state.now()).await {
            Ok(g) => {
                for (status, n) in &g.orders_by_state {
                    metrics::gauge!("autodebit_payments", "merchant" => merchant.clone(), "state" => status.name())
                        .set(*n as f64);
                }
                metrics::gauge!("autodebit_jobs_due", "merchant" => merchant.clone())
                    .set(g.jobs_due as f64);
                metrics::gauge!("autodebit_jobs_lag_seconds", "merchant" => merchant.clone())
                    .set(g.oldest_due_ms as f64 / 1000.0);
                metrics::gauge!("autodebit_jobs_dead", "merchant" => merchant.clone())
                    .set(g.jobs_dead as f64);
                metrics::gauge!("autodebit_attention_open", "merchant" => merchant)
                    .set(g.attention_open as f64);
            }
            Err(e) => {
                tracing::warn!(merchant = tenant.id(), error = %e, "could not read the gauges");
            }
        }
    }
    let mut response = handle.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}

/// `GET /openapi.json`.
pub async fn openapi(State(doc): State<Arc<String>>) -> Response {
    let mut response = doc.as_str().to_owned().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
