//! Alipay's ISV authorization notification (digest §9.9), `POST /alipay/isv/notify`: a merchant
//! authorised this deployment's ISV, and Alipay hands over the agent token to send as
//! `agent-token` when calling for that merchant. One URL for every merchant (Alipay is given it
//! when it onboards the ISV); the body's `authClientId` names the merchant, matched against
//! `merchants.ID.auth_client_id`.
//!
//! Nothing in the body is believed before the signature is checked, by that merchant's verifier,
//! over the exact bytes, path and headers received. A verified token is kept sealed in the
//! merchant's store (an older authorisation arriving late does not replace a newer one) and used by
//! the merchant's next call to Alipay; the notification is acknowledged with Alipay's exact body.
//! Not acknowledged, so that Alipay sends it again: a body that is not this notification (400), one
//! that fails verification (401), one naming an `authClientId` no merchant is configured for (404,
//! logged with that id, so an operator can add the setting), one that could not be stored (503).
//! The token is never logged or echoed.

use ams_protocol::notify::{ACK_FAILURE_BODY, ACK_SUCCESS_BODY};
use ams_protocol::{IsvAuthorizationNotification, Notification};
use autodebit_domain::ports::Verification;
use autodebit_store::AgentTokenRecord;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use super::state::{AppState, Tenant};

/// The path Alipay is given for the ISV authorization notification.
pub const ISV_NOTIFY_PATH: &str = "/alipay/isv/notify";

/// The route (outside the OpenAPI document: Alipay's contract, not ours).
pub fn router() -> Router<AppState> {
    Router::new().route(ISV_NOTIFY_PATH, post(notify))
}

fn answer(status: StatusCode, body: &'static str, outcome: &'static str) -> Response {
    metrics::counter!("autodebit_isv_notifications_total", "outcome" => outcome).increment(1);
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    response
}

fn malformed(why: &str) -> Response {
    tracing::warn!(why, "an ISV authorization notification was not understood");
    answer(StatusCode::BAD_REQUEST, ACK_FAILURE_BODY, "malformed")
}

/// A token the client can send: 1 to 128 visible ASCII characters (`ams_client`'s rule).
fn sendable(token: &str) -> bool {
    (1..=128).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_graphic())
}

async fn notify(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(text) = String::from_utf8(body.to_vec()) else {
        return malformed("not UTF-8");
    };
    // Only enough to find the merchant whose verifier checks it.
    let auth_client_id = match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Object(map)) if IsvAuthorizationNotification::matches(&map) => {
            match map.get("authClientId") {
                Some(serde_json::Value::String(id)) if !id.is_empty() => id.clone(),
                _ => return malformed("no authClientId"),
            }
        }
        _ => return malformed("not an ISV authorization notification"),
    };
    let Some(tenant) = state
        .shared()
        .tenants
        .values()
        .find(|t| t.agent_tokens().is_some_and(|(id, _)| id == auth_client_id))
        .cloned()
    else {
        // Not believed yet (nothing verified it): named for the operator, capped, never the body.
        let named: String = auth_client_id.chars().take(64).collect();
        tracing::warn!(
            auth_client_id = ?named,
            "an ISV authorization notification names no configured merchant (merchants.ID.auth_client_id): not acknowledged, Alipay sends it again"
        );
        return answer(StatusCode::NOT_FOUND, ACK_FAILURE_BODY, "unknown_client");
    };
    let raw = super::alipay::raw_notification(&uri, &headers, text);
    let parsed = match tenant.ctx().verifier.verify(&raw) {
        Verification::Verified(Notification::Unrecognised(map)) => {
            serde_json::from_value::<IsvAuthorizationNotification>(serde_json::Value::Object(map))
        }
        Verification::Verified(other) => {
            return malformed(other.kind_name());
        }
        Verification::Stale(_) => {
            return unverified(&tenant, "stale", "sent outside the skew window");
        }
        Verification::Refused { cause, detail } => {
            return unverified(&tenant, cause.name(), &detail);
        }
    };
    let Ok(notification) = parsed else {
        return malformed("unreadable fields");
    };
    let Some(auth_time) = notification.auth_time_millis() else {
        return malformed("no authTime in epoch milliseconds");
    };
    if !sendable(notification.access_token.expose_secret()) {
        return malformed("the accessToken is not 1 to 128 visible ASCII characters");
    }
    let record = AgentTokenRecord {
        auth_client_id,
        token: notification.access_token,
        auth_time,
        expires_at: notification
            .access_token_expiry_time
            .filter(|t| !t.is_empty()),
        received_at: tenant.ctx().now(),
    };
    match tenant.store().record_agent_token(&record).await {
        Ok(replaced) => {
            if let Some((_, tokens)) = tenant.agent_tokens() {
                tokens.forget();
            }
            tracing::info!(
                merchant = tenant.id(),
                auth_client_id = record.auth_client_id,
                auth_time,
                replaced,
                "an agent token was received"
            );
            let outcome = if replaced { "stored" } else { "older" };
            answer(StatusCode::OK, ACK_SUCCESS_BODY, outcome)
        }
        Err(error) => {
            tracing::error!(merchant = tenant.id(), %error, "an agent token could not be stored");
            answer(
                StatusCode::SERVICE_UNAVAILABLE,
                ACK_FAILURE_BODY,
                "unavailable",
            )
        }
    }
}

fn unverified(tenant: &Tenant, cause: &'static str, detail: &str) -> Response {
    tracing::warn!(
        merchant = tenant.id(),
        cause,
        detail,
        "an ISV authorization notification failed verification"
    );
    metrics::counter!("autodebit_notifications_refused_total", "cause" => cause).increment(1);
    answer(StatusCode::UNAUTHORIZED, ACK_FAILURE_BODY, "unverified")
}
