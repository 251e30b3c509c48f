//! `Idempotency-Key` on every `POST` of the merchant API (the IETF draft and Stripe's rules):
//!
//! - missing or malformed (not 1–255 printable ASCII characters): 400;
//! - first use: the request runs, and its answer (status and body) is kept with the key and a
//!   fingerprint of the request (method, path, body);
//! - the same key and the same request again: the kept answer, replayed, with
//!   `Idempotent-Replayed: true`;
//! - the same key with another request: 422; while the first is still running: 409.
//!
//! The key is held by the running request until it answers; if the process dies meanwhile, the
//! hold ends after [`Shared::idempotency_hold_ms`](super::state::Shared) and a retry runs again
//! (the domain's own idempotency records make that retry find what the first run created). A
//! 5xx answer is not kept: the key is released so the request can be tried again. Keys are kept
//! at least `api.idempotency_retention_hours`.

use autodebit_store::ApiRequestStart;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::error::{ApiError, PROBLEM_JSON};
use super::state::{AppState, Tenant};

/// The request header.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// The header on a replayed answer.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// A key as the merchant sent it, checked.
///
/// # Errors
/// 400 when missing or malformed.
pub fn key_of(headers: &axum::http::HeaderMap) -> Result<String, ApiError> {
    let Some(value) = headers.get(&IDEMPOTENCY_KEY) else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "idempotency_key_missing",
            "every POST needs an Idempotency-Key header (1 to 255 printable characters)",
        )
        .param("Idempotency-Key"));
    };
    let bytes = value.as_bytes();
    if bytes.is_empty() || bytes.len() > 255 || !bytes.iter().all(|b| (0x20..=0x7e).contains(b)) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "idempotency_key_invalid",
            "the Idempotency-Key must be 1 to 255 printable ASCII characters",
        )
        .param("Idempotency-Key"));
    }
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

fn fingerprint(method: &Method, path: &str, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(method.as_str().as_bytes());
    hash.update(b"\n");
    hash.update(path.as_bytes());
    hash.update(b"\n");
    hash.update(body);
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Middleware (after authentication): applies the rules above to `POST` requests.
pub async fn idempotency(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let Some(tenant) = req.extensions().get::<Tenant>().cloned() else {
        return ApiError::internal().into_response();
    };
    let key = match key_of(req.headers()) {
        Ok(key) => key,
        Err(e) => return e.into_response(),
    };
    let (parts, body) = req.into_parts();
    let bytes = match to_bytes(body, state.shared().body_limit).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "the body is larger than the server accepts",
            )
            .into_response();
        }
    };
    let fp = fingerprint(&parts.method, parts.uri.path(), &bytes);
    let store = tenant.store();
    let start = store
        .begin_api_request(&key, &fp, state.now(), state.shared().idempotency_hold_ms)
        .await;
    match start {
        Err(e) => {
            tracing::error!(error = %e, "idempotency record unavailable");
            ApiError::unavailable(
                "store_unavailable",
                "the database did not answer; nothing was changed; try again",
            )
            .into_response()
        }
        Ok(ApiRequestStart::Mismatch) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key was used with another request (method, path or body)",
        )
        .param("Idempotency-Key")
        .into_response(),
        Ok(ApiRequestStart::InFlight) => ApiError::new(
            StatusCode::CONFLICT,
            "idempotency_key_in_use",
            "a request with this Idempotency-Key is still running; try again when it has answered",
        )
        .param("Idempotency-Key")
        .into_response(),
        Ok(ApiRequestStart::Replay { status, body }) => replay(status, body),
        Ok(ApiRequestStart::Proceed) => {
            let response = next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
            let (mut head, body) = response.into_parts();
            let Ok(body) = to_bytes(body, usize::MAX).await else {
                let _ = store.abandon_api_request(&key, &fp).await;
                return ApiError::internal().into_response();
            };
            let kept = if head.status.is_server_error() {
                store.abandon_api_request(&key, &fp).await.map(|_| ())
            } else {
                store
                    .finish_api_request(
                        &key,
                        &fp,
                        head.status.as_u16(),
                        &String::from_utf8_lossy(&body),
                    )
                    .await
                    .map(|_| ())
            };
            if let Err(e) = kept {
                // The answer stands; a retry with this key finds the key held until its hold ends,
                // then runs again and finds what this run created.
                tracing::warn!(error = %e, "the idempotency record was not updated");
            }
            head.headers.remove(&IDEMPOTENT_REPLAYED);
            Response::from_parts(head, Body::from(body))
        }
    }
}

fn replay(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let content_type = if status.is_success() {
        "application/json"
    } else {
        PROBLEM_JSON
    };
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
        .headers_mut()
        .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked_and_fingerprints_bind_the_whole_request() {
        let mut headers = axum::http::HeaderMap::new();
        assert_eq!(
            key_of(&headers).unwrap_err().problem().code,
            "idempotency_key_missing"
        );
        headers.insert(&IDEMPOTENCY_KEY, HeaderValue::from_static(""));
        assert_eq!(
            key_of(&headers).unwrap_err().problem().code,
            "idempotency_key_invalid"
        );
        headers.insert(
            &IDEMPOTENCY_KEY,
            HeaderValue::from_str(&"k".repeat(256)).unwrap(),
        );
        assert!(key_of(&headers).is_err());
        headers.insert(&IDEMPOTENCY_KEY, HeaderValue::from_static("order-1 try 2"));
        assert_eq!(key_of(&headers).unwrap(), "order-1 try 2");
        let a = fingerprint(&Method::POST, "/v1/payments", b"{}");
        assert_ne!(a, fingerprint(&Method::POST, "/v1/payments", b"{ }"));
        assert_ne!(a, fingerprint(&Method::POST, "/v1/refunds", b"{}"));
        assert_eq!(a, fingerprint(&Method::POST, "/v1/payments", b"{}"));
    }
}
