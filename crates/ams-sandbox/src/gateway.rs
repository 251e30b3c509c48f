//! The AMS endpoints: `/ams/api/v1/...` and `/ams/sandbox/api/v1/...`.
//!
//! Each call is checked in the gateway's order (path, client, signature, headers, body), then run
//! against the world under its lock, then shaped by any fault rule, then signed. Business outcomes
//! are HTTP 200 with a `result`; every answer is signed, failures included, unless a fault says
//! otherwise.

use std::sync::Arc;
use std::time::Duration;

use ams_protocol::{
    AmsResult, Api, ApplyTokenRequest, CancelRequest, ConsultRequest, InquiryPaymentRequest,
    InquiryRefundRequest, PayRequest, RefundRequest, ResultCode, ResultStatus, RevokeRequest,
};
use ams_signing::{SignatureHeader, SignedContent};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::model::{FaultAction, FaultRule};
use crate::server::ConnectionControl;
use crate::shared::Shared;
use crate::util::ams_time;
use crate::validate;

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

/// Parses the body; a refusal names the offending field by its path (e.g.
/// `paymentAmount.value: amount value "-5" is negative`), as `PARAM_ILLEGAL` must.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Refusal> {
    axum::Json::<T>::from_bytes(body)
        .map(|axum::Json(value)| value)
        .map_err(|e| {
            let text = e.body_text();
            let detail = text
                .strip_prefix("Failed to deserialize the JSON body into the target type: ")
                .unwrap_or(&text);
            Refusal::new(
                ResultCode::ParamIllegal,
                format!("illegal request body: {detail}"),
            )
        })
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| r#"{"result":{"resultCode":"UNKNOWN_EXCEPTION","resultStatus":"U","resultMessage":"serialisation failed"}}"#.to_owned())
}

/// A parsed, validated request, ready for the world.
enum Call {
    Consult(Box<ConsultRequest>),
    ApplyToken(ApplyTokenRequest),
    Revoke(RevokeRequest),
    Pay(Box<PayRequest>),
    InquiryPayment(InquiryPaymentRequest),
    Cancel(CancelRequest),
    Refund(RefundRequest),
    InquiryRefund(InquiryRefundRequest),
}

impl Call {
    fn parse(api: Api, body: &[u8], now: i64) -> Result<Self, Refusal> {
        let illegal = |e: String| Refusal::new(ResultCode::ParamIllegal, e);
        Ok(match api {
            Api::Consult => {
                let r: ConsultRequest = parse(body)?;
                validate::consult(&r).map_err(illegal)?;
                Call::Consult(Box::new(r))
            }
            Api::ApplyToken => {
                let r: ApplyTokenRequest = parse(body)?;
                validate::apply_token(&r).map_err(illegal)?;
                Call::ApplyToken(r)
            }
            Api::Revoke => {
                let r: RevokeRequest = parse(body)?;
                validate::revoke(&r).map_err(illegal)?;
                Call::Revoke(r)
            }
            Api::Pay => {
                let r: PayRequest = parse(body)?;
                validate::pay(&r, now).map_err(illegal)?;
                Call::Pay(Box::new(r))
            }
            Api::InquiryPayment => {
                let r: InquiryPaymentRequest = parse(body)?;
                validate::inquiry_payment(&r).map_err(illegal)?;
                Call::InquiryPayment(r)
            }
            Api::Cancel => {
                let r: CancelRequest = parse(body)?;
                validate::cancel(&r).map_err(illegal)?;
                Call::Cancel(r)
            }
            Api::Refund => {
                let r: RefundRequest = parse(body)?;
                validate::refund(&r).map_err(illegal)?;
                Call::Refund(r)
            }
            Api::InquiryRefund => {
                let r: InquiryRefundRequest = parse(body)?;
                validate::inquiry_refund(&r).map_err(illegal)?;
                Call::InquiryRefund(r)
            }
            _ => {
                return Err(Refusal::new(
                    ResultCode::NoInterfaceDef,
                    "The API is not defined.",
                ));
            }
        })
    }

    /// The id fault rules match on.
    fn request_id(&self) -> Option<String> {
        match self {
            Call::Consult(r) => Some(r.auth_state.as_str().to_owned()),
            Call::ApplyToken(r) => r
                .auth_code
                .as_ref()
                .map(|c| c.expose_secret().to_owned())
                .or_else(|| {
                    r.refresh_token
                        .as_ref()
                        .map(|t| t.expose_secret().to_owned())
                }),
            Call::Revoke(r) => Some(r.access_token.expose_secret().to_owned()),
            Call::Pay(r) => Some(r.payment_request_id.as_str().to_owned()),
            Call::InquiryPayment(r) => r
                .payment_request_id
                .as_ref()
                .map(|i| i.as_str().to_owned())
                .or_else(|| r.payment_id.as_ref().map(|i| i.as_str().to_owned())),
            Call::Cancel(r) => r
                .payment_request_id
                .as_ref()
                .map(|i| i.as_str().to_owned())
                .or_else(|| r.payment_id.as_ref().map(|i| i.as_str().to_owned())),
            Call::Refund(r) => Some(r.refund_request_id.as_str().to_owned()),
            Call::InquiryRefund(r) => r
                .refund_request_id
                .as_ref()
                .map(|i| i.as_str().to_owned())
                .or_else(|| r.refund_id.as_ref().map(|i| i.as_str().to_owned())),
        }
    }

    /// Runs the call against the world and returns the response body.
    fn run(&self, shared: &Shared, client_id: &str, now: i64) -> String {
        let mut world = shared.lock();
        world.sweep(now);
        let body = match self {
            Call::Consult(r) => {
                to_json(&world.consult(client_id, r, &shared.consent_url_base(), now))
            }
            Call::ApplyToken(r) => to_json(&world.apply_token(client_id, r, now)),
            Call::Revoke(r) => to_json(&world.revoke(client_id, r, now)),
            Call::Pay(r) => to_json(&world.pay(client_id, r, now)),
            Call::InquiryPayment(r) => to_json(&world.inquiry_payment(client_id, r)),
            Call::Cancel(r) => to_json(&world.cancel(client_id, r, now)),
            Call::Refund(r) => to_json(&world.refund(client_id, r, now)),
            Call::InquiryRefund(r) => to_json(&world.inquiry_refund(client_id, r)),
        };
        drop(world);
        shared.outbox_signal.notify_one();
        body
    }
}

/// Checks everything up to the body; returns the client id to answer with and the parsed call.
fn admit(
    shared: &Shared,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
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
    let version = parsed.key_version().map_or(1, |v| v.get());
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
    let call = Call::parse(api, body, shared.clock.now_ms()).map_err(refuse)?;
    Ok((api, call))
}

/// The handler for every `/ams/...` path.
pub(crate) async fn handle(
    State(shared): State<Arc<Shared>>,
    connection: Option<axum::Extension<ConnectionControl>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let uri_text = uri
        .path_and_query()
        .map_or(uri.path(), |p| p.as_str())
        .to_owned();
    let (api, call) = match admit(&shared, &uri, &headers, &body) {
        Ok(admitted) => admitted,
        Err((client_id, refusal)) => {
            tracing::debug!(path = %uri.path(), code = refusal.code.as_str(), "refused");
            return answer(
                &shared,
                &uri_text,
                &client_id,
                refusal.body(),
                Signing::Valid,
            );
        }
    };
    let client_id = header(&headers, "client-id").unwrap_or_default().to_owned();
    let now = shared.clock.now_ms();
    let fault = shared.lock().take_fault(api, call.request_id().as_deref());
    let processed = match &fault {
        Some(FaultRule { process: false, .. }) => None,
        _ => Some(call.run(&shared, &client_id, now)),
    };
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
            let body = serde_json::json!({
                "result": AmsResult::new(ResultCode::from(code.as_str()), ResultStatus::U, "Unknown outcome (sandbox fault).")
            })
            .to_string();
            answer(&shared, &uri_text, &client_id, body, Signing::Valid)
        }
        FaultAction::Delay { ms } => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            answer(&shared, &uri_text, &client_id, body, Signing::Valid)
        }
        FaultAction::Drop => match connection {
            Some(axum::Extension(control)) => {
                control.drop_connection();
                std::future::pending::<Response>().await
            }
            None => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        },
        FaultAction::Http500 => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        FaultAction::Unsigned => answer(&shared, &uri_text, &client_id, body, Signing::Missing),
        FaultAction::BadSignature => answer(&shared, &uri_text, &client_id, body, Signing::Wrong),
    }
}
