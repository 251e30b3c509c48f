//! Alipay's side (no API key: the signature is the authentication), per merchant, under
//! `/alipay/{merchant}`:
//!
//! - `POST …/notify/payments`, `…/notify/refunds`, `…/notify/authorizations`,
//!   `…/notify/registrations` (`notifyRegistrationStatus`): the raw body and
//!   headers go to the domain, which verifies the signature over those exact bytes and the path
//!   before anything is parsed, stores the notification in the inbox and applies it. A verified
//!   one is answered with Alipay's exact acknowledgement; one that fails verification gets no
//!   acknowledgement (401, counted by cause), and one that could not be stored gets 503, so Alipay
//!   sends it again.
//! - `GET …/return`: where the wallet sends the user after consent, with `authCode` and
//!   `authState` (or `errorCode`). It finishes the binding and redirects the user to the
//!   authorization's `return_url` with `authorization_id` and `status` added. Neither the code nor
//!   the state is ever logged or echoed.

use ams_protocol::notify::{ACK_FAILURE_BODY, ACK_SUCCESS_BODY};
use ams_protocol::{AuthCode, AuthState};
use autodebit_domain::lifecycle::authorization::AuthorizationState;
use autodebit_domain::model::Body as RawBody;
use autodebit_domain::ports::RawNotification;
use autodebit_domain::services::Error as DomainError;
use autodebit_domain::services::authorizations::Authorizations;
use autodebit_domain::services::notifications::{Notifications, Receipt};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::dto::authorization_status;
use super::state::AppState;

/// The routes (outside the OpenAPI document: Alipay's contract, not ours).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/alipay/{merchant}/notify/{kind}", post(notify))
        .route("/alipay/{merchant}/return", get(return_page))
}

/// The paths Alipay is given for merchant `id`.
pub fn notify_path(id: &str, kind: &str) -> String {
    format!("/alipay/{id}/notify/{kind}")
}

/// The return page's path for merchant `id`.
pub fn return_path(id: &str) -> String {
    format!("/alipay/{id}/return")
}

/// A notification as it arrived: the path, the headers that are text, the body.
pub(crate) fn raw_notification(uri: &Uri, headers: &HeaderMap, text: String) -> RawNotification {
    RawNotification {
        path: uri.path().to_owned(),
        headers: headers
            .iter()
            .filter_map(|(name, value)| {
                value
                    .to_str()
                    .ok()
                    .map(|v| (name.as_str().to_owned(), v.to_owned()))
            })
            .collect(),
        body: RawBody::new(text),
    }
}

fn ack(status: StatusCode, body: &'static str) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    response
}

async fn notify(
    State(state): State<AppState>,
    Path((merchant, kind)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(tenant) = state.tenant(&merchant).cloned() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if !matches!(
        kind.as_str(),
        "payments" | "refunds" | "authorizations" | "registrations"
    ) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let Ok(text) = String::from_utf8(body.to_vec()) else {
        metrics::counter!("autodebit_notifications_refused_total", "cause" => "not_utf8")
            .increment(1);
        return ack(StatusCode::BAD_REQUEST, ACK_FAILURE_BODY);
    };
    let raw = raw_notification(&uri, &headers, text);
    let result = Notifications::new(tenant.ctx().clone()).receive(&raw).await;
    state.shared().wake.notify_waiters();
    match result {
        Ok(receipt) => {
            let outcome = match receipt {
                Receipt::Applied => "applied",
                Receipt::Duplicate => "duplicate",
                Receipt::Ignored(_) => "ignored",
            };
            metrics::counter!("autodebit_notifications_total", "outcome" => outcome).increment(1);
            ack(StatusCode::OK, ACK_SUCCESS_BODY)
        }
        Err(DomainError::NotificationRefused(why)) => {
            // Verified, stored and flagged for a person: acknowledged, or Alipay would resend it
            // for a day.
            tracing::warn!(merchant = tenant.id(), %why, "a verified notification was refused");
            metrics::counter!("autodebit_notifications_total", "outcome" => "refused").increment(1);
            ack(StatusCode::OK, ACK_SUCCESS_BODY)
        }
        Err(DomainError::NotificationUnverified { cause, detail }) => {
            tracing::warn!(merchant = tenant.id(), cause = cause.name(), %detail, "a notification failed verification");
            metrics::counter!("autodebit_notifications_refused_total", "cause" => cause.name())
                .increment(1);
            ack(StatusCode::UNAUTHORIZED, ACK_FAILURE_BODY)
        }
        Err(e) => {
            tracing::error!(merchant = tenant.id(), error = %e, "a notification could not be stored");
            metrics::counter!("autodebit_notifications_refused_total", "cause" => "unavailable")
                .increment(1);
            ack(StatusCode::SERVICE_UNAVAILABLE, ACK_FAILURE_BODY)
        }
    }
}

/// What the wallet puts on the way back.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Return {
    auth_state: Option<String>,
    auth_code: Option<String>,
    error_code: Option<String>,
}

fn page(status: StatusCode, title: &str, text: &str) -> Response {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head><body><h1>{title}</h1><p>{text}</p></body></html>"
    );
    let mut response = (status, Html(html)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

async fn return_page(
    State(state): State<AppState>,
    Path(merchant): Path<String>,
    uri: Uri,
) -> Response {
    let Some(tenant) = state.tenant(&merchant).cloned() else {
        return page(StatusCode::NOT_FOUND, "Not found", "There is no such page.");
    };
    let back = Query::<Return>::try_from_uri(&uri).map_or_else(|_| Return::default(), |q| q.0);
    let Some(auth_state) = back.auth_state.filter(|s| !s.is_empty() && s.len() <= 256) else {
        return page(
            StatusCode::BAD_REQUEST,
            "This link is not complete",
            "The wallet did not say which authorization this is. Start again from the shop.",
        );
    };
    let auth_state = AuthState::new(auth_state);
    let authorizations = Authorizations::new(tenant.ctx().clone());
    let outcome = match back.auth_code.filter(|c| !c.is_empty() && c.len() <= 256) {
        Some(code) => authorizations
            .complete_with_code(&auth_state, &AuthCode::new(code))
            .await
            .map(|_| ()),
        None => {
            if back.error_code.is_some() {
                authorizations.decline(&auth_state).await.map(|_| ())
            } else {
                Ok(())
            }
        }
    };
    state.shared().wake.notify_waiters();
    match outcome {
        Ok(()) | Err(DomainError::Transition(_) | DomainError::Invalid { .. }) => {}
        Err(DomainError::NotFound { .. }) => {
            return page(
                StatusCode::NOT_FOUND,
                "This link is not valid",
                "It may have expired or been used already. Start again from the shop.",
            );
        }
        Err(e) => {
            // The code is kept: the authorization's job goes on exchanging it.
            tracing::warn!(merchant = tenant.id(), error = %e, "the return page could not finish the binding now");
        }
    }
    // The wallet's notification may be exchanging the code right now: give it a moment, so the
    // user comes back to a settled authorization (the job finishes it in any case).
    let mut waited = 0;
    let auth = loop {
        let auth = match authorizations
            .authorization_by_auth_state(&auth_state)
            .await
        {
            Ok(auth) => auth,
            Err(_) => {
                return page(
                    StatusCode::NOT_FOUND,
                    "This link is not valid",
                    "It may have expired or been used already. Start again from the shop.",
                );
            }
        };
        if auth.state != AuthorizationState::Exchanging || waited >= 30 {
            break auth;
        }
        waited += 1;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let separator = if auth.return_url.contains('?') {
        '&'
    } else {
        '?'
    };
    let target = format!(
        "{}{separator}authorization_id={}&status={}",
        auth.return_url,
        auth.id,
        authorization_status(auth.state)
    );
    match HeaderValue::from_str(&target) {
        Ok(location) => {
            let mut response = StatusCode::SEE_OTHER.into_response();
            response.headers_mut().insert(header::LOCATION, location);
            response.headers_mut().insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            );
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(_) => page(
            StatusCode::OK,
            "Done",
            &format!(
                "The authorization is {}. You can close this page.",
                authorization_status(auth.state)
            ),
        ),
    }
}
