//! The client: one shared HTTP connection pool, one generic `execute`, signing per attempt and
//! fail-closed verification of every answer.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ams_protocol::{AmsRequest, AmsResponse, AmsResult, Api, request_path};
use ams_signing::{SignedContent, Signer};
use bytes::{Bytes, BytesMut};
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::de::DeserializeOwned;
use tracing::Instrument as _;
use tracing::field;

use crate::builder::{ClientBuilder, default_timeout_for};
use crate::classify::{Classified, Phase, TransportFacts, classify};
use crate::clock::Clock;
use crate::error::{
    BadResponse, BadResponseKind, BuildError, Error, InvalidBody, KEPT_BODY_BYTES, MaybeSent,
    NotSent, NotSentKind, ResponseBody, TransportError,
};
use crate::gateway::Gateway;
use crate::keys::{AgentToken, AlipayPublicKeys};
use crate::notification::NotificationVerifier;
use crate::outcome::Outcome;
use crate::request_id::RequestId;
use crate::retry::{AttemptClass, RetryDecision, RetryPolicy, random_jitter};
use crate::verify::{CLIENT_ID, REQUEST_TIME, SIGNATURE, Signed, verify_signed};

/// The `Content-Type` of every request: the charset is part of what the docs call the signature
/// contract.
pub const REQUEST_CONTENT_TYPE: &str = "application/json; charset=UTF-8";

/// `agent-token`.
const AGENT_TOKEN: &str = "agent-token";

/// The result of one call.
pub type CallResult<T> = Result<Outcome<T>, Error>;

/// Where one API is sent: the path that is signed, and the full URL.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    path: String,
    url: String,
}

impl Target {
    pub(crate) fn new(gateway: &Gateway, api: Api, client_id: &str) -> Self {
        let path = request_path(api, client_id);
        let url = format!("{}{path}", gateway.origin());
        Self { path, url }
    }
}

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) gateway: Gateway,
    pub(crate) client_id: String,
    pub(crate) client_id_value: HeaderValue,
    pub(crate) signer: Signer,
    pub(crate) alipay_keys: Arc<AlipayPublicKeys>,
    pub(crate) agent_token: Option<AgentToken>,
    pub(crate) agent_token_value: Option<HeaderValue>,
    pub(crate) user_agent: String,
    pub(crate) connect_timeout: Duration,
    /// Set explicitly, for every API without its own timeout.
    pub(crate) call_timeout: Option<Duration>,
    pub(crate) api_timeouts: BTreeMap<Api, Duration>,
    pub(crate) retry: BTreeMap<Api, RetryPolicy>,
    pub(crate) proxy: String,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) max_response_bytes: usize,
    pub(crate) targets: BTreeMap<Api, Target>,
    pub(crate) verifier: NotificationVerifier,
}

/// The async AMS client. Build it once ([`AmsClient::builder`]) and share it: `Clone` is cheap and
/// every clone uses the same connection pool.
///
/// `Debug` shows the configuration with the private key reduced to its public fingerprint and the
/// agent token redacted.
#[derive(Clone)]
pub struct AmsClient {
    inner: Arc<Inner>,
    /// The `agent-token` this handle sends: the builder's, or another one
    /// ([`AmsClient::with_agent_token`]).
    agent: Option<(AgentToken, HeaderValue)>,
}

impl AmsClient {
    /// Starts a builder; see [`ClientBuilder`].
    #[must_use]
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    pub(crate) fn from_inner(inner: Inner) -> Self {
        let agent = inner
            .agent_token
            .clone()
            .zip(inner.agent_token_value.clone());
        Self {
            inner: Arc::new(inner),
            agent,
        }
    }

    /// This client acting for another merchant: the same configuration and connection pool, its
    /// calls sent with `token` as the `agent-token` header. An ISV serving several merchants
    /// from one deployment keeps one client and takes a handle per merchant's token.
    ///
    /// ```
    /// # fn demo(client: &ams_client::AmsClient) -> Result<(), ams_client::BuildError> {
    /// let for_shop_a = client.with_agent_token("agent-token-of-shop-a")?;
    /// assert!(for_shop_a.agent_token().is_some());
    /// assert!(client.without_agent_token().agent_token().is_none());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`BuildError::InvalidAgentToken`] when the token is not 1 to 128 visible ASCII characters
    /// without spaces.
    pub fn with_agent_token(&self, token: impl Into<AgentToken>) -> Result<Self, BuildError> {
        let token = token.into();
        let value = crate::builder::agent_header(&token)?;
        Ok(Self {
            inner: self.inner.clone(),
            agent: Some((token, value)),
        })
    }

    /// This client sending no `agent-token` (a merchant calling for itself).
    #[must_use]
    pub fn without_agent_token(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            agent: None,
        }
    }

    /// The agent token this handle sends, if any.
    #[must_use]
    pub fn agent_token(&self) -> Option<&AgentToken> {
        self.agent.as_ref().map(|(token, _)| token)
    }

    /// Our client id.
    #[must_use]
    pub fn client_id(&self) -> &str {
        &self.inner.client_id
    }

    /// The gateway.
    #[must_use]
    pub fn gateway(&self) -> &Gateway {
        &self.inner.gateway
    }

    /// The path requested (and signed) for `api`: the sandbox path for a `SANDBOX_` client id.
    #[must_use]
    pub fn path(&self, api: Api) -> String {
        self.inner.target(api).path
    }

    /// The per-attempt timeout for `api`: its [`api_timeout`](ClientBuilder::api_timeout) if given,
    /// else the [`call_timeout`](ClientBuilder::call_timeout) if given, else
    /// [`default_timeout_for`]`(api)` (3 s for `inquiryPayment`, `cancel` and `refund`, 10 s for
    /// the others).
    #[must_use]
    pub fn timeout_for(&self, api: Api) -> Duration {
        self.inner.timeout_for(api)
    }

    /// The retry policy [`execute`](Self::execute) uses for `api`.
    #[must_use]
    pub fn retry_policy_for(&self, api: Api) -> RetryPolicy {
        self.inner
            .retry
            .get(&api)
            .copied()
            .unwrap_or_else(|| RetryPolicy::default_for(api))
    }

    /// A verifier for Alipay's notifications to this merchant, sharing this client's id, Alipay keys
    /// and clock.
    #[must_use]
    pub fn notification_verifier(&self) -> NotificationVerifier {
        self.inner.verifier.clone()
    }

    /// Calls an AMS API with the API's retry policy ([`retry_policy_for`](Self::retry_policy_for):
    /// by default `cancel` and `refund` retry for 60 s, nothing else retries).
    ///
    /// The request is first checked against its API's documented field rules
    /// ([`Validate`](ams_protocol::Validate)); the body is serialised once; each attempt is signed
    /// with a fresh `request-time`, sent, and its answer verified against Alipay's public key before
    /// it is parsed.
    ///
    /// # Errors
    ///
    /// See [`Error`]: [`Error::MaybeSent`] and [`Error::BadResponse`] are unknown outcomes, never
    /// failures. A request that breaks a field rule is [`Error::NotSent`] with
    /// [`NotSentKind::InvalidField`]: nothing was sent.
    pub async fn execute<R>(&self, request: &R) -> CallResult<R::Response>
    where
        R: AmsRequest + RequestId,
    {
        self.execute_with_policy(request, self.retry_policy_for(R::API))
            .await
    }

    /// Calls an AMS API with an explicit retry policy, e.g. to retry a `pay` with the same
    /// `paymentRequestId` and parameters, or to call `cancel` exactly once.
    ///
    /// # Errors
    ///
    /// As [`execute`](Self::execute).
    pub async fn execute_with_policy<R>(
        &self,
        request: &R,
        policy: RetryPolicy,
    ) -> CallResult<R::Response>
    where
        R: AmsRequest + RequestId,
    {
        let span = call_span(R::API, request.request_id());
        let body = request
            .validate()
            .map_err(|e| Error::NotSent(NotSent::new(NotSentKind::InvalidField, e)))
            .and_then(|()| {
                serde_json::to_vec(request)
                    .map(Bytes::from)
                    .map_err(|e| Error::NotSent(NotSent::new(NotSentKind::Serialize, e)))
            });
        self.call::<R::Response>(span, R::API, body, policy).await
    }

    /// Sends a stored request body **byte for byte** as a request of `R::API`, with an explicit
    /// retry policy.
    ///
    /// For a merchant that stores the exact `pay` or `refund` body it sent and must resend the
    /// same bytes when the outcome is unknown (Alipay's idempotency compares the request): the
    /// bytes are never re-serialised, so key order, whitespace and escapes (`\u00e9`) reach Alipay
    /// as stored. Everything else is as in [`execute_with_policy`](Self::execute_with_policy):
    /// each attempt is signed with a fresh `request-time` over exactly these bytes, the answer is
    /// verified fail-closed and parsed as `R::Response`, the policy decides the retries, and the
    /// `ams_call` span carries the request id of the parsed body ([`RequestId`]).
    ///
    /// Before anything is sent, the bytes must parse as `R` (JSON). Fields `R` does not know are
    /// not refused (the wire types are forward compatible), so a body of another API whose fields
    /// are a subset of `R`'s (a `cancel` body given as `inquiryPayment`) is not detected.
    ///
    /// ```no_run
    /// # async fn resend(client: &ams_client::AmsClient, stored: Vec<u8>) {
    /// use ams_client::RetryPolicy;
    /// use ams_protocol::PayRequest;
    ///
    /// // `stored` is the exact body of the first attempt, kept with its paymentRequestId.
    /// let outcome = client.execute_body::<PayRequest>(stored, RetryPolicy::Never).await;
    /// # let _ = outcome;
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::NotSent`] with [`NotSentKind::InvalidBody`] when the bytes are not a valid `R`
    /// request, with [`NotSentKind::InvalidField`] when they parse but break a documented field rule;
    /// nothing is sent then. Its message names the API and says why (a JSON syntax error,
    /// a missing field, or the kind of value found and the type expected, with line and column)
    /// without quoting the body, which can hold an access token. Otherwise as
    /// [`execute`](Self::execute).
    pub async fn execute_body<R>(
        &self,
        body: impl Into<Bytes>,
        policy: RetryPolicy,
    ) -> CallResult<R::Response>
    where
        R: AmsRequest + RequestId + DeserializeOwned,
    {
        let body: Bytes = body.into();
        let (span, body) = match serde_json::from_slice::<R>(&body) {
            Ok(request) => {
                let checked = request
                    .validate()
                    .map(|()| body)
                    .map_err(|e| Error::NotSent(NotSent::new(NotSentKind::InvalidField, e)));
                (call_span(R::API, request.request_id()), checked)
            }
            Err(e) => (
                call_span(R::API, None),
                Err(Error::NotSent(NotSent::new(
                    NotSentKind::InvalidBody,
                    InvalidBody::new(R::API, &e),
                ))),
            ),
        };
        self.call::<R::Response>(span, R::API, body, policy).await
    }

    /// One call of `api` with `body` (or the error that stops it before sending) in `span`:
    /// attempts under `policy`, and the call's outcome recorded and logged.
    async fn call<T>(
        &self,
        span: tracing::Span,
        api: Api,
        body: Result<Bytes, Error>,
        policy: RetryPolicy,
    ) -> CallResult<T>
    where
        T: DeserializeOwned + AmsResponse,
    {
        let inner = &*self.inner;
        let agent = self.agent.as_ref().map(|(_, value)| value);
        async move {
            let started = inner.clock.monotonic();
            let result = match body {
                Ok(body) => inner.run::<T>(api, &body, policy, started, agent).await,
                Err(error) => Err(error),
            };
            let span = tracing::Span::current();
            let class = class_of(&result);
            span.record("outcome", class.as_str());
            span.record(
                "duration_ms",
                millis(inner.clock.monotonic().saturating_sub(started)),
            );
            match &result {
                Ok(outcome) => log_result(outcome.result()),
                Err(error) => tracing::warn!(error = %error, "AMS call failed"),
            }
            result
        }
        .instrument(span)
        .await
    }
}

/// The `ams_call` span of one call.
fn call_span(api: Api, request_id: Option<&str>) -> tracing::Span {
    tracing::info_span!(
        "ams_call",
        api = api.name(),
        request_id = request_id.unwrap_or("-"),
        attempts = field::Empty,
        duration_ms = field::Empty,
        outcome = field::Empty,
    )
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn class_of<T>(result: &CallResult<T>) -> AttemptClass {
    match result {
        Ok(outcome) => outcome.class(),
        Err(error) => error.class(),
    }
}

fn log_result(result: &AmsResult) {
    tracing::info!(
        result_status = result.status().as_str(),
        result_code = result.code().as_str(),
        "AMS call answered"
    );
}

impl Inner {
    fn target(&self, api: Api) -> Target {
        self.targets
            .get(&api)
            .cloned()
            .unwrap_or_else(|| Target::new(&self.gateway, api, &self.client_id))
    }

    fn timeout_for(&self, api: Api) -> Duration {
        self.api_timeouts
            .get(&api)
            .copied()
            .or(self.call_timeout)
            .unwrap_or_else(|| default_timeout_for(api))
    }

    /// The attempt loop: sends `body` to `api` until `policy` says stop.
    async fn run<T>(
        &self,
        api: Api,
        body: &Bytes,
        policy: RetryPolicy,
        started: Duration,
        agent: Option<&HeaderValue>,
    ) -> CallResult<T>
    where
        T: DeserializeOwned + AmsResponse,
    {
        let target = self.target(api);
        let timeout = self.timeout_for(api);
        let mut attempt: u32 = 1;
        loop {
            let attempt_span = tracing::debug_span!(
                "ams_attempt",
                attempt,
                duration_ms = field::Empty,
                outcome = field::Empty,
            );
            let attempt_started = self.clock.monotonic();
            let result = self
                .attempt::<T>(&target, body, timeout, agent)
                .instrument(attempt_span.clone())
                .await;
            let class = class_of(&result);
            attempt_span.record("outcome", class.as_str());
            attempt_span.record(
                "duration_ms",
                millis(self.clock.monotonic().saturating_sub(attempt_started)),
            );
            tracing::Span::current().record("attempts", attempt);
            let elapsed = self.clock.monotonic().saturating_sub(started);
            match policy.decide(class, elapsed, random_jitter()) {
                RetryDecision::Stop => return result,
                RetryDecision::RetryAfter(wait) => {
                    tracing::warn!(
                        attempt,
                        outcome = class.as_str(),
                        wait_ms = millis(wait),
                        "AMS call not final; sending the same request again"
                    );
                    self.clock.sleep(wait).await;
                    attempt = attempt.saturating_add(1);
                }
            }
        }
    }

    async fn attempt<T>(
        &self,
        target: &Target,
        body: &Bytes,
        timeout: Duration,
        agent: Option<&HeaderValue>,
    ) -> CallResult<T>
    where
        T: DeserializeOwned + AmsResponse,
    {
        let request_time = self.clock.unix_millis().to_string();
        let content = SignedContent::request(&target.path, &self.client_id, &request_time, body);
        let signature = self
            .signer
            .sign(&content)
            .map_err(|e| Error::NotSent(NotSent::new(NotSentKind::Sign, e)))?;
        let signature = HeaderValue::from_str(&signature.to_string())
            .map_err(|e| Error::NotSent(NotSent::new(NotSentKind::InvalidRequest, e)))?;
        let request_time_value = HeaderValue::from_str(&request_time)
            .map_err(|e| Error::NotSent(NotSent::new(NotSentKind::InvalidRequest, e)))?;

        let mut request = self
            .http
            .post(target.url.as_str())
            .header(CONTENT_TYPE, HeaderValue::from_static(REQUEST_CONTENT_TYPE))
            .header(CLIENT_ID, self.client_id_value.clone())
            .header(REQUEST_TIME, request_time_value)
            .header(SIGNATURE, signature)
            .timeout(timeout)
            .body(body.clone());
        if let Some(token) = agent {
            request = request.header(AGENT_TOKEN, token.clone());
        }
        tracing::debug!(request_time = %request_time, body_len = body.len(), "sending");

        let mut response = request
            .send()
            .await
            .map_err(|e| transport_error(e, Phase::Send, None))?;
        let status = response.status();
        let headers = std::mem::take(response.headers_mut());
        let (bytes, received, over_limit) = read_body(&mut response, self.max_response_bytes)
            .await
            .map_err(|e| transport_error(e, Phase::ReadBody, Some(status)))?;
        drop(response);
        self.interpret(&target.path, status, &headers, &bytes, received, over_limit)
    }

    /// Verifies and parses an answer. A verified, parsable answer is believed whatever the HTTP
    /// status (Alipay signed it); anything else is a bad response for HTTP 200, and *maybe sent*
    /// for any other status.
    fn interpret<T>(
        &self,
        path: &str,
        status: StatusCode,
        headers: &HeaderMap,
        body: &Bytes,
        received: usize,
        over_limit: bool,
    ) -> CallResult<T>
    where
        T: DeserializeOwned + AmsResponse,
    {
        let checked = if over_limit {
            Err((
                BadResponseKind::TooLarge {
                    limit: self.max_response_bytes,
                },
                None,
            ))
        } else {
            match verify_signed(
                Signed::Response,
                headers,
                path,
                body,
                &self.client_id,
                &self.alipay_keys,
            ) {
                Ok(verified) => {
                    tracing::debug!(
                        response_time = verified.time,
                        key_version = verified.key_version.get(),
                        "answer verified"
                    );
                    parse_response::<T>(body)
                }
                Err(e) => Err((BadResponseKind::Verification(e), None)),
            }
        };
        match checked {
            Ok(response) => {
                if status != StatusCode::OK {
                    tracing::warn!(%status, "verified AMS answer with an HTTP status other than 200");
                }
                Ok(Outcome::from_response(response))
            }
            Err((kind, result)) => {
                let bad = BadResponse::new(kind, status, ResponseBody::new(body, received), result);
                if status == StatusCode::OK {
                    Err(Error::BadResponse(bad))
                } else {
                    Err(Error::MaybeSent(MaybeSent::http_status(bad)))
                }
            }
        }
    }
}

/// Reads the body up to `limit` bytes. Returns the bytes (at most the first [`KEPT_BODY_BYTES`] when
/// over the limit), how many bytes were received, and whether the limit was exceeded.
async fn read_body(
    response: &mut reqwest::Response,
    limit: usize,
) -> Result<(Bytes, usize, bool), reqwest::Error> {
    let mut buffer = BytesMut::new();
    let mut received = 0usize;
    while let Some(chunk) = response.chunk().await? {
        received = received.saturating_add(chunk.len());
        if received > limit {
            let room = KEPT_BODY_BYTES.saturating_sub(buffer.len());
            buffer.extend_from_slice(&chunk[..chunk.len().min(room)]);
            buffer.truncate(KEPT_BODY_BYTES);
            return Ok((buffer.freeze(), received, true));
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok((buffer.freeze(), received, false))
}

/// Parses a verified body, diagnosing failures: not JSON, no `result`, or a body that does not fit.
fn parse_response<T: DeserializeOwned>(
    body: &[u8],
) -> Result<T, (BadResponseKind, Option<AmsResult>)> {
    match serde_json::from_slice::<T>(body) {
        Ok(response) => Ok(response),
        Err(typed) => {
            let value: serde_json::Value = match serde_json::from_slice(body) {
                Ok(value) => value,
                Err(e) => return Err((BadResponseKind::NotJson(e), None)),
            };
            match value.get("result") {
                None => Err((BadResponseKind::MissingResult, None)),
                Some(result) => {
                    let result = serde_json::from_value::<AmsResult>(result.clone()).ok();
                    Err((BadResponseKind::Schema(typed), result))
                }
            }
        }
    }
}

fn transport_error(error: reqwest::Error, phase: Phase, status: Option<StatusCode>) -> Error {
    let facts = TransportFacts::of(&error, phase);
    let source = TransportError::new(error);
    match classify(&facts) {
        Classified::NotSent(kind) => Error::NotSent(NotSent::new(kind, source)),
        Classified::MaybeSent(kind) => Error::MaybeSent(match status {
            Some(status) => MaybeSent::while_reading(kind, status, source),
            None => MaybeSent::transport(kind, source),
        }),
    }
}

impl fmt::Debug for AmsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("AmsClient")
            .field("gateway", &inner.gateway)
            .field("client_id", &inner.client_id)
            .field("merchant_key", &inner.signer)
            .field("alipay_public_keys", &inner.alipay_keys)
            .field("agent_token", &self.agent_token())
            .field("user_agent", &inner.user_agent)
            .field("connect_timeout", &inner.connect_timeout)
            .field("call_timeout", &inner.call_timeout)
            .field("api_timeouts", &inner.api_timeouts)
            .field("retry", &inner.retry)
            .field("proxy", &format_args!("{}", inner.proxy))
            .field("max_response_bytes", &inner.max_response_bytes)
            .field("clock", &inner.clock)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ams_protocol::PayResponse;

    #[test]
    fn parse_diagnoses_bodies() {
        let ok: PayResponse =
            parse_response(br#"{"result":{"resultCode":"SUCCESS","resultStatus":"S"}}"#).unwrap();
        assert!(ok.result.is_success());
        assert!(matches!(
            parse_response::<PayResponse>(b"<html>"),
            Err((BadResponseKind::NotJson(_), None))
        ));
        assert!(matches!(
            parse_response::<PayResponse>(b"{}"),
            Err((BadResponseKind::MissingResult, None))
        ));
        assert!(matches!(
            parse_response::<PayResponse>(b"[1]"),
            Err((BadResponseKind::MissingResult, None))
        ));
        let Err((BadResponseKind::Schema(_), Some(result))) = parse_response::<PayResponse>(
            br#"{"result":{"resultCode":"SUCCESS","resultStatus":"S"},"paymentAmount":7}"#,
        ) else {
            panic!("expected a schema error keeping the result")
        };
        assert!(result.is_success());
    }

    #[test]
    fn logged_error_displays_every_source() {
        let err = Error::NotSent(NotSent::new(
            NotSentKind::Dns,
            std::io::Error::other("no such host"),
        ));
        assert_eq!(
            err.to_string(),
            "the request was not sent to Alipay: the gateway host name did not resolve: no such host"
        );
    }
}
