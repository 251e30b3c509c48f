//! The AMS endpoints: `/ams/api/v1/...` and `/ams/sandbox/api/v1/...`.
//!
//! Each call is checked in the gateway's order (path, client, signature, headers, body); then, under
//! the world's lock and with one clock reading, held calls now due land first, the call meets the
//! fault rules, and it is held in transit or run against the world (unless its rule says not to);
//! then the answer is shaped by the fault and signed. Business outcomes are HTTP 200 with a
//! `result`; every answer is signed, failures included, unless a fault says otherwise.

use std::sync::Arc;
use std::time::Duration;

use crate::call::Call;
use crate::model::{AnswerStatus, FaultAction, FaultRule};
use crate::server::ConnectionControl;
use crate::shared::Shared;
use crate::util::ams_time;
use ams_protocol::{AmsResult, Api, ResultCode, ResultStatus};
use ams_signing::{SignatureHeader, SignedContent};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

/// How the answer is signed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Signing {
    Valid,
    Missing,
    Wrong,
}

/// A refusal before the request reaches the world.
struct Refusal {
    code: ResultCode,
    message: String,
}

impl Refusal {
    fn new(code: ResultCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    fn body(&self) -> String {
        let status = self.code.default_status().unwrap_or(ResultStatus::F);
        serde_json::json!({ "result": AmsResult::new(self.code.clone(), status, self.message.clone()) }).to_string()
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Builds the signed HTTP answer.
fn answer(shared: &Shared, uri: &str, client_id: &str, body: String, signing: Signing) -> Response {
    let now = shared.clock.now_ms();
    let time = ams_time(now);
    let mut response = Response::new(Body::from(body.clone()));
    let headers = response.headers_mut();
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    if let Ok(value) = HeaderValue::from_str(client_id) {
        headers.insert("client-id", value);
    }
    if let Ok(value) = HeaderValue::from_str(time.as_str()) {
        headers.insert("response-time", value);
    }
    let signature = match signing {
        Signing::Missing => None,
        Signing::Valid => shared
            .alipay
            .sign(&SignedContent::response(
                uri,
                client_id,
                time.as_str(),
                body.as_bytes(),
            ))
            .ok(),
        Signing::Wrong => {
            // Signed over other content: a well-formed header that does not verify.
            let tampered = format!("{body} ");
            shared
                .alipay
                .sign(&SignedContent::response(
                    uri,
                    client_id,
                    time.as_str(),
                    tampered.as_bytes(),
                ))
                .ok()
        }
    };
    if let Some(value) =
        signature.and_then(|s: SignatureHeader| HeaderValue::from_str(&s.to_string()).ok())
    {
        headers.insert("signature", value);
    }
    response
}

/// Checks everything up to the body; returns the client id to answer with and the parsed call.
fn admit(
    shared: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<(Api, Call), (String, Refusal)> {
    let client_id = header(headers, "client-id").unwrap_or_default().to_owned();
    let refuse = |r: Refusal| (client_id.clone(), r);
    let path = uri.path();
    let Some(api) = Api::from_path(path) else {
        return Err(refuse(Refusal::new(
            ResultCode::NoInterfaceDef,
            format!("No API is defined at {path}; check the URL."),
        )));
    };
    // The transport rules the API tables document (digest §9.10): only POST, only JSON.
    if method != Method::POST {
        return Err(refuse(Refusal::new(
            ResultCode::MethodNotSupported,
            format!("{method} is not supported: only POST."),
        )));
    }
    if !is_json(header(headers, "content-type")) {
        return Err(refuse(Refusal::new(
            ResultCode::MediaTypeNotAcceptable,
            "The Content-Type must be application/json (with charset=UTF-8).",
        )));
    }
    if client_id.is_empty() {
        return Err(refuse(Refusal::new(
            ResultCode::UnknownClient,
            "The client-id header is missing.",
        )));
    }
    let Some(keys) = shared.lock().merchant_keys(&client_id) else {
        return Err(refuse(Refusal::new(
            ResultCode::UnknownClient,
            format!("Unknown client {client_id:?}."),
        )));
    };
    let Some(signature) = header(headers, "signature") else {
        return Err(refuse(Refusal::new(
            ResultCode::InvalidSignature,
            "The signature header is missing.",
        )));
    };
    let Some(time) = header(headers, "request-time") else {
        return Err(refuse(Refusal::new(
            ResultCode::ParamIllegal,
            "The request-time header is missing.",
        )));
    };
    let parsed: SignatureHeader = signature
        .parse()
        .map_err(|e| refuse(Refusal::new(ResultCode::InvalidSignature, format!("{e}"))))?;
    // No `keyVersion`: "the latest key version associated with the client id" (digest §1.4).
    let latest = keys.keys().next_back().copied().unwrap_or(1);
    let version = parsed.key_version().map_or(latest, |v| v.get());
    let Some(key) = keys.get(&version) else {
        return Err(refuse(Refusal::new(
            ResultCode::KeyNotFound,
            format!("No public key with keyVersion {version} is registered for {client_id:?}."),
        )));
    };
    let uri_text = uri.path_and_query().map_or(path, |p| p.as_str());
    let content = SignedContent::request(uri_text, &client_id, time, body);
    key.verify(&content, &parsed)
        .map_err(|e| refuse(Refusal::new(ResultCode::InvalidSignature, e.to_string())))?;
    if !shared
        .lock()
        .agent_token_accepted(&client_id, header(headers, "agent-token"))
    {
        return Err(refuse(Refusal::new(
            ResultCode::AccessDenied,
            "The agent-token header is missing, unknown or superseded.",
        )));
    }
    let call = Call::parse(api, body, now)
        .map_err(|(code, message)| refuse(Refusal::new(code, message)))?;
    Ok((api, call))
}

/// Whether a `Content-Type` names JSON (`application/json`, any case, parameters allowed) in UTF-8
/// (no charset, or `UTF-8`).
fn is_json(content_type: Option<&str>) -> bool {
    let Some(value) = content_type else {
        return false;
    };
    let mut parts = value.split(';').map(str::trim);
    let media = parts.next().unwrap_or_default();
    media.eq_ignore_ascii_case("application/json")
        && parts.all(|p| {
            p.split_once('=').is_none_or(|(name, v)| {
                !name.trim().eq_ignore_ascii_case("charset")
                    || v.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
            })
        })
}

/// Closes the caller's connection without an answer.
async fn no_answer(connection: Option<axum::Extension<ConnectionControl>>) -> Response {
    match connection {
        Some(axum::Extension(control)) => {
            control.drop_connection();
            std::future::pending::<Response>().await
        }
        None => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// A body holding only `result`.
fn result_only(code: &str, status: ResultStatus, message: &str) -> String {
    serde_json::json!({ "result": AmsResult::new(ResultCode::from(code), status, message) })
        .to_string()
}

/// The handler for every `/ams/...` path.
pub(crate) async fn handle(
    State(shared): State<Arc<Shared>>,
    connection: Option<axum::Extension<ConnectionControl>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let uri_text = uri
        .path_and_query()
        .map_or(uri.path(), |p| p.as_str())
        .to_owned();
    // One reading of the clock for the whole call: validation, releases, processing.
    let now = shared.clock.now_ms();
    let (api, call) = match admit(&shared, &method, &uri, &headers, &body, now) {
        Ok(admitted) => admitted,
        Err((client_id, refusal)) => {
            tracing::debug!(path = %uri.path(), code = refusal.code.as_str(), "refused");
            let signing = if shared.lock().settings().unsigned_refusals {
                Signing::Missing
            } else {
                Signing::Valid
            };
            return answer(&shared, &uri_text, &client_id, refusal.body(), signing);
        }
    };
    let client_id = header(&headers, "client-id").unwrap_or_default().to_owned();
    let wallet = shared.wallet_urls();
    // Under one lock: what was in transit and is due by now lands first, then this call meets
    // the fault rules and, unless held or told not to, takes effect.
    let (fault, processed) = {
        let mut world = shared.lock();
        world.release_due(now);
        let fault = world.take_fault(api, call.request_id().as_deref());
        match &fault {
            Some(FaultRule {
                action: FaultAction::Hold { ms },
                ..
            }) => {
                let held = world.hold(&client_id, call, wallet, now, *ms);
                tracing::debug!(
                    api = api.name(),
                    seq = held.seq,
                    due_ms = held.due_ms,
                    "held in transit"
                );
                (fault, None)
            }
            Some(FaultRule { process: false, .. }) => (fault, None),
            _ => {
                let body = call.apply(&mut world, &client_id, &wallet, now);
                (fault, Some(body))
            }
        }
    };
    shared.outbox_signal.notify_one();
    let Some(fault) = fault else {
        let body = processed.unwrap_or_default();
        return answer(&shared, &uri_text, &client_id, body, Signing::Valid);
    };
    tracing::debug!(api = api.name(), action = ?fault.action, process = fault.process, "fault fires");
    let body = processed.unwrap_or_else(|| {
        Refusal::new(
            ResultCode::UnknownException,
            "The request was not processed.",
        )
        .body()
    });
    match fault.action {
        FaultAction::Unknown { code } => {
            let body = result_only(&code, ResultStatus::U, "Unknown outcome (sandbox fault).");
            answer(&shared, &uri_text, &client_id, body, Signing::Valid)
        }
        FaultAction::Answer { status, code } => {
            let status = match status {
                AnswerStatus::F => ResultStatus::F,
                AnswerStatus::U => ResultStatus::U,
            };
            let body = result_only(&code, status, "Answer set by a sandbox fault.");
            answer(&shared, &uri_text, &client_id, body, Signing::Valid)
        }
        FaultAction::Delay { ms } => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            answer(&shared, &uri_text, &client_id, body, Signing::Valid)
        }
        FaultAction::Drop | FaultAction::Hold { .. } => no_answer(connection).await,
        FaultAction::Http500 => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        FaultAction::Unsigned => answer(&shared, &uri_text, &client_id, body, Signing::Missing),
        FaultAction::BadSignature => answer(&shared, &uri_text, &client_id, body, Signing::Wrong),
    }
}

#[cfg(test)]
mod tests {
    use super::is_json;

    #[test]
    fn only_json_in_utf8_is_accepted() {
        for ok in [
            "application/json; charset=UTF-8",
            "application/json",
            "Application/JSON;charset=utf-8",
            "application/json; charset=\"UTF-8\"",
        ] {
            assert!(is_json(Some(ok)), "{ok}");
        }
        for refused in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/json; charset=ISO-8859-1",
            "application/jsonx",
        ] {
            assert!(!is_json(Some(refused)), "{refused}");
        }
        assert!(!is_json(None));
    }
}
