//! Errors, shaped by the one question the caller must answer: **may the request have reached
//! Alipay?**
//!
//! * [`Error::NotSent`]: it certainly did not (the request could not be built or signed, the host
//!   did not resolve, the connection was refused). Nothing happened at Alipay.
//! * [`Error::MaybeSent`]: it may have (timeout, connection reset after writing, a response that
//!   could not be read, an HTTP status other than 200 without a verifiable body).
//! * [`Error::BadResponse`]: Alipay (or something claiming to be Alipay) answered, but the answer
//!   cannot be trusted or understood (signature missing or wrong, not JSON, no `result`).
//!
//! **For payments, `MaybeSent` and `BadResponse` mean "outcome unknown", never "failed":** a pay
//! that ended with either may have taken the money; resolve it with `inquiryPayment` (and `cancel`),
//! exactly as for a `U` result.
//!
//! No reqwest or hyper type appears here: transport failures are kept behind the opaque
//! [`TransportError`], reachable as an error `source` for logs.

use std::error::Error as StdError;
use std::fmt;

use ams_protocol::{AmsResult, Api};
use ams_signing::{HeaderError, KeyVersion, VerifyError};
use bytes::Bytes;
use http::StatusCode;
use serde_json::error::Category;

use crate::retry::AttemptClass;

/// How many bytes of a rejected response body are kept for diagnosis.
pub const KEPT_BODY_BYTES: usize = 64 * 1024;

type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Why the client could not be built, or a gateway URL was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The gateway URL is not usable.
    #[error("invalid gateway URL {url:?}: {reason}")]
    InvalidGateway {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A plain `http://` gateway whose host is not loopback.
    #[error(
        "refusing plain http:// gateway {url:?}: Alipay is reached over https only; http:// is \
         allowed only for a loopback host (127.0.0.0/8, ::1, localhost), e.g. a local sandbox"
    )]
    InsecureGateway {
        /// The URL given.
        url: String,
    },
    /// The client id is empty or cannot be sent in a header.
    #[error("invalid client id: {reason}")]
    InvalidClientId {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The agent token cannot be sent in a header (its value is not repeated here).
    #[error("invalid agent token: it must be 1 to 128 visible ASCII characters")]
    InvalidAgentToken,
    /// The user agent cannot be sent in a header.
    #[error("invalid user agent {0:?}: it must be visible ASCII")]
    InvalidUserAgent(String),
    /// The proxy URL was refused.
    #[error("invalid proxy URL")]
    InvalidProxy(#[source] TransportError),
    /// An extra root certificate could not be read.
    #[error("invalid root certificate (expected PEM)")]
    InvalidRootCertificate(#[source] TransportError),
    /// The HTTP client could not be created (e.g. the TLS backend failed to initialise).
    #[error("the HTTP client could not be created")]
    Http(#[source] TransportError),
}

/// Why a signed message (a response, or a notification) was not accepted. Fail closed: each of
/// these is an error, never a result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerificationError {
    /// No `signature` header, or an empty one: the message is unsigned.
    #[error("the message is unsigned (no `signature` header)")]
    Unsigned,
    /// The `signature` header could not be parsed.
    #[error("the `signature` header is malformed")]
    MalformedSignatureHeader(#[source] HeaderError),
    /// The time header (`response-time` or `request-time`) is missing or empty.
    #[error("the `{header}` header is missing")]
    MissingTime {
        /// Which header.
        header: &'static str,
    },
    /// The `client-id` header is missing or empty.
    #[error("the `client-id` header is missing")]
    MissingClientId,
    /// A header value is not visible ASCII, so it cannot be the string that was signed.
    #[error("the `{header}` header is not valid visible ASCII")]
    InvalidHeaderValue {
        /// Which header.
        header: &'static str,
    },
    /// The `client-id` header is not our client id.
    #[error("the `client-id` header is {received:?}, not our client id {expected:?}")]
    ClientIdMismatch {
        /// Our client id.
        expected: String,
        /// The one received.
        received: String,
    },
    /// The header names a key version for which no Alipay public key is configured.
    #[error(
        "the signature names Alipay keyVersion {received}, but only keyVersion {} configured",
        known_versions(.known)
    )]
    UnknownKeyVersion {
        /// The version named by the header (or the default, if it named none).
        received: KeyVersion,
        /// The versions configured.
        known: Vec<KeyVersion>,
    },
    /// The signature does not verify with Alipay's key for that version. The [`VerifyError`] says
    /// what was checked (key fingerprint, request line, client id, time, content hash).
    #[error("the signature does not verify with Alipay's public key (keyVersion {key_version})")]
    Signature {
        /// The key version used.
        key_version: KeyVersion,
        /// What failed, and what was checked.
        #[source]
        source: VerifyError,
    },
}

impl VerificationError {
    /// The signature-layer error, when the signature itself was checked and failed.
    #[must_use]
    pub fn verify_error(&self) -> Option<&VerifyError> {
        match self {
            VerificationError::Signature { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// `1 is` / `1, 2 are`.
fn known_versions(versions: &[KeyVersion]) -> String {
    let parts: Vec<String> = versions.iter().map(ToString::to_string).collect();
    let verb = if parts.len() == 1 { "is" } else { "are" };
    format!("{} {verb}", parts.join(", "))
}

/// An HTTP-level failure from the transport, kept opaque (no reqwest/hyper type in the API). Its
/// `Display` is the transport's message and `source()` continues the transport's chain.
pub struct TransportError(BoxError);

impl TransportError {
    pub(crate) fn new(error: impl Into<BoxError>) -> Self {
        Self(error.into())
    }
}

impl fmt::Debug for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TransportError({})", self.0)
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl StdError for TransportError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0.source()
    }
}

/// The first bytes of a response body, kept for diagnosis (up to [`KEPT_BODY_BYTES`]).
///
/// It may hold tokens (an applyToken answer carries an access token), so `Debug` shows only its
/// length; read [`bytes`](Self::bytes) deliberately.
#[derive(Clone, PartialEq, Eq)]
pub struct ResponseBody {
    kept: Bytes,
    received: usize,
}

impl ResponseBody {
    pub(crate) fn new(body: &Bytes, received: usize) -> Self {
        Self {
            kept: body.slice(..body.len().min(KEPT_BODY_BYTES)),
            received: received.max(body.len()),
        }
    }

    /// The kept bytes: the whole body, or its first [`KEPT_BODY_BYTES`] bytes.
    #[must_use]
    pub fn bytes(&self) -> &[u8] {
        &self.kept
    }

    /// How many body bytes were received (at least [`bytes`](Self::bytes)' length).
    #[must_use]
    pub fn received_len(&self) -> usize {
        self.received
    }

    /// `true` when fewer bytes were kept than received.
    #[must_use]
    pub fn is_truncated(&self) -> bool {
        self.kept.len() < self.received
    }
}

impl fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ResponseBody(<{} bytes received, {} kept>)",
            self.received,
            self.kept.len()
        )
    }
}

/// A failed call: not sent, maybe sent, or answered with something that cannot be trusted.
///
/// * [`Error::NotSent`]: the request certainly did not reach Alipay (it could not be built or
///   signed, the host did not resolve, the connection was refused): nothing happened there.
/// * [`Error::MaybeSent`]: it may have (timeout, reset after writing, an unreadable answer, an HTTP
///   status other than 200 without a verifiable body).
/// * [`Error::BadResponse`]: an answer came but cannot be trusted or understood.
///
/// **`MaybeSent` and `BadResponse` are unknown outcomes, never failures**: a `pay` that ended with
/// either may have moved money; resolve it with `inquiryPayment` (then `cancel`), as for `U`.
///
/// # Messages
/// `Display` is the whole diagnosis on one line, safe to log (no body, key or token): what
/// happened for the money, then why, down to the root cause. A rejected signature, for instance:
///
/// ```text
/// the answer from Alipay was rejected; the outcome is unknown: the answer failed verification
/// (HTTP 200, 512-byte body): the signature does not verify with Alipay's public key (keyVersion
/// 1): signature does not match: checked RSA256 with public key sha256:… over `POST /ams/…` …;
/// compare the key fingerprint with the key you expect (Alipay's, not your own) …
/// ```
///
/// So `{error}` is enough in a log line. The parts stay reachable for programs, as variants and
/// accessors ([`verify_error`](Self::verify_error), [`bad_response`](Self::bad_response),
/// [`status`](Self::status)) and through `source()`; a printer that also walks `source()` will
/// repeat some of the text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request certainly did not reach Alipay.
    #[error("the request was not sent to Alipay: {}", Diagnosis(.0))]
    NotSent(#[source] NotSent),
    /// The request may have reached Alipay and been processed; the outcome is unknown.
    #[error("the request may have reached Alipay; the outcome is unknown: {}", Diagnosis(.0))]
    MaybeSent(#[source] MaybeSent),
    /// Alipay's answer was rejected (unverifiable or unreadable); the outcome is unknown.
    #[error("the answer from Alipay was rejected; the outcome is unknown: {}", Diagnosis(.0))]
    BadResponse(#[source] BadResponse),
}

/// An error and every source below it, `a: b: c`, on one line, for the `Display` of the top-level
/// errors. A JSON error is shown without the values it quotes (a body may hold a token), and a
/// source whose text the line already ends with is not repeated.
pub(crate) struct Diagnosis<'a>(pub(crate) &'a (dyn StdError + 'static));

impl fmt::Display for Diagnosis<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut line = String::new();
        let mut next = Some(self.0);
        while let Some(error) = next {
            let text = match error.downcast_ref::<serde_json::Error>() {
                Some(json) => safe_json_message(json),
                None => error.to_string(),
            };
            if line.is_empty() {
                line = text;
            } else if !text.is_empty() && !line.ends_with(&text) {
                line.push_str(": ");
                line.push_str(&text);
            }
            next = error.source();
        }
        f.write_str(&line)
    }
}

/// A JSON error's message without any value taken from the input.
fn safe_json_message(error: &serde_json::Error) -> String {
    let message = match error.classify() {
        Category::Data => data_reason(&json_message(error)),
        Category::Syntax | Category::Eof | Category::Io => json_message(error),
    };
    if error.line() > 0 {
        format!(
            "{message} at line {} column {}",
            error.line(),
            error.column()
        )
    } else {
        message
    }
}

impl Error {
    /// `true` for [`Error::MaybeSent`] and [`Error::BadResponse`]: the request may have been
    /// processed, so the outcome must be treated as unknown (inquire), never as failed.
    #[must_use]
    pub fn is_outcome_unknown(&self) -> bool {
        !matches!(self, Error::NotSent(_))
    }

    /// The class the retry policy sees.
    #[must_use]
    pub fn class(&self) -> AttemptClass {
        match self {
            Error::NotSent(e) if e.kind.is_local() => AttemptClass::LocalError,
            Error::NotSent(_) => AttemptClass::NotSent,
            Error::MaybeSent(_) => AttemptClass::MaybeSent,
            Error::BadResponse(_) => AttemptClass::BadResponse,
        }
    }

    /// The HTTP status of the answer, if one arrived.
    #[must_use]
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::NotSent(_) => None,
            Error::MaybeSent(e) => e.status,
            Error::BadResponse(e) => Some(e.status()),
        }
    }

    /// The signature-layer diagnosis, when a signature was checked and did not verify.
    #[must_use]
    pub fn verify_error(&self) -> Option<&VerifyError> {
        self.bad_response()
            .and_then(BadResponse::verification)
            .and_then(VerificationError::verify_error)
    }

    /// The rejected answer: for [`Error::BadResponse`], or for [`Error::MaybeSent`] caused by an
    /// HTTP status other than 200 whose body was rejected too.
    #[must_use]
    pub fn bad_response(&self) -> Option<&BadResponse> {
        match self {
            Error::BadResponse(e) => Some(e),
            Error::MaybeSent(e) => e.rejected.as_deref(),
            Error::NotSent(_) => None,
        }
    }
}

/// Why a request was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotSentKind {
    /// The request body could not be serialised.
    Serialize,
    /// The request could not be signed.
    Sign,
    /// The request could not be built (a header value or the URL was refused).
    InvalidRequest,
    /// The request breaks a documented field rule of its API (`ams_protocol::Validate`: a required
    /// field missing, a length or list size exceeded, a value not documented). The source is the
    /// [`FieldError`](ams_protocol::FieldError) naming the field and the rule, never its value.
    InvalidField,
    /// A stored request body given to [`AmsClient::execute_body`](crate::AmsClient::execute_body)
    /// is not a valid request of its API (not JSON, or not the API's request type). The source
    /// says which API and why, without quoting the body.
    InvalidBody,
    /// The gateway's host name did not resolve.
    Dns,
    /// The connection was refused.
    ConnectionRefused,
    /// The network or host is unreachable.
    Unreachable,
    /// No connection within the connect timeout.
    ConnectTimeout,
    /// The TLS handshake failed (e.g. the certificate did not verify); nothing was sent over it.
    Tls,
}

impl NotSentKind {
    /// `true` for failures a retry cannot fix (serialising, signing, building the request).
    #[must_use]
    pub fn is_local(&self) -> bool {
        matches!(
            self,
            NotSentKind::Serialize
                | NotSentKind::Sign
                | NotSentKind::InvalidRequest
                | NotSentKind::InvalidField
                | NotSentKind::InvalidBody
        )
    }
}

impl fmt::Display for NotSentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NotSentKind::Serialize => "the request body could not be serialised",
            NotSentKind::Sign => "the request could not be signed",
            NotSentKind::InvalidRequest => "the HTTP request could not be built",
            NotSentKind::InvalidField => "the request breaks a documented field rule",
            NotSentKind::InvalidBody => "the stored request body was refused before sending",
            NotSentKind::Dns => "the gateway host name did not resolve",
            NotSentKind::ConnectionRefused => "the connection was refused",
            NotSentKind::Unreachable => "the gateway is unreachable",
            NotSentKind::ConnectTimeout => "no connection within the connect timeout",
            NotSentKind::Tls => "the TLS handshake failed",
        })
    }
}

/// Details of [`Error::NotSent`].
#[derive(Debug)]
pub struct NotSent {
    kind: NotSentKind,
    source: Option<BoxError>,
}

impl NotSent {
    pub(crate) fn new(kind: NotSentKind, source: impl Into<BoxError>) -> Self {
        Self {
            kind,
            source: Some(source.into()),
        }
    }

    /// What went wrong.
    #[must_use]
    pub fn kind(&self) -> &NotSentKind {
        &self.kind
    }
}

impl fmt::Display for NotSent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.kind.fmt(f)
    }
}

impl StdError for NotSent {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

/// Why a stored body is not a valid request of its API: the source of [`NotSentKind::InvalidBody`].
///
/// Built from the JSON error without keeping it: serde's messages quote the offending value
/// (`invalid type: string "…"`), and a stored body can hold an access token. Only the kind of
/// error, the names the schema knows (a missing field, the expected type) and the position are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InvalidBody {
    api: Api,
    reason: String,
}

impl InvalidBody {
    pub(crate) fn new(api: Api, error: &serde_json::Error) -> Self {
        let mut reason = match error.classify() {
            Category::Syntax | Category::Eof => {
                format!("it is not valid JSON ({})", json_message(error))
            }
            Category::Data => data_reason(&json_message(error)),
            Category::Io => "it could not be read".to_owned(),
        };
        if error.line() > 0 {
            reason.push_str(&format!(
                " at line {} column {}",
                error.line(),
                error.column()
            ));
        }
        Self { api, reason }
    }
}

impl fmt::Display for InvalidBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the stored body is not a valid `{}` request: {}",
            self.api.name(),
            self.reason
        )
    }
}

impl StdError for InvalidBody {}

/// serde_json's message without its ` at line L column C` suffix.
fn json_message(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    match text.strip_suffix(&suffix) {
        Some(message) if error.line() > 0 => message.to_owned(),
        _ => text,
    }
}

/// A data error's message with every value taken from the body removed. serde's own messages
/// are recognised and kept without their quoted value (`invalid type: string, expected …`);
/// any other message (a type's own check, which may print the value unquoted) becomes a generic
/// one.
fn data_reason(message: &str) -> String {
    const VALUE_FIRST: [&str; 4] = [
        "invalid type: ",
        "invalid value: ",
        "unknown variant ",
        "unknown field ",
    ];
    if let Some(field) = message
        .strip_prefix("missing field `")
        .or_else(|| message.strip_prefix("duplicate field `"))
        .and_then(|rest| rest.strip_suffix('`'))
        .filter(|name| is_field_name(name))
    {
        let what = if message.starts_with("missing") {
            "missing"
        } else {
            "duplicate"
        };
        return format!("{what} field `{field}`");
    }
    if let Some((length, expected)) = message
        .strip_prefix("invalid length ")
        .and_then(|rest| rest.split_once(", expected "))
        && length.bytes().all(|b| b.is_ascii_digit())
    {
        return format!("invalid length {length}, expected {expected}");
    }
    for prefix in VALUE_FIRST {
        let Some(rest) = message.strip_prefix(prefix) else {
            continue;
        };
        // The value comes first, quoted; what follows the last `, expected ` is the schema's.
        // For `invalid …`, the kind of value (`string`, `integer`, `map`) is the text before its
        // quote or comma.
        let expected = rest
            .rfind(", expected ")
            .map(|i| &rest[i + ", expected ".len()..]);
        let kind_end = rest.find(['`', '"', ',']).unwrap_or(rest.len());
        let kind = rest[..kind_end].trim_end();
        let kind = if prefix.starts_with("invalid")
            && kind.len() <= 32
            && kind.bytes().all(|b| b.is_ascii_alphabetic() || b == b' ')
        {
            kind
        } else {
            ""
        };
        let mut reason = prefix.trim_end().trim_end_matches(':').to_owned();
        if !kind.is_empty() {
            reason.push_str(": ");
            reason.push_str(kind);
        }
        if let Some(expected) = expected {
            reason.push_str(", expected ");
            reason.push_str(expected);
        }
        return reason;
    }
    "a field's value is not valid for its type".to_owned()
}

/// `true` for a JSON field name as the request types spell them (`paymentRequestId`).
fn is_field_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Why a request may have been sent without a usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MaybeSentKind {
    /// The call timed out (the request may have been written and processed).
    Timeout,
    /// The connection was reset or closed after the request may have been written.
    ConnectionClosed,
    /// The answer began but could not be read completely.
    IncompleteResponse,
    /// The HTTP status was not 200 and the body did not verify or parse as an AMS answer.
    HttpStatus,
    /// Another transport failure after the connection was established.
    Transport,
}

impl fmt::Display for MaybeSentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MaybeSentKind::Timeout => "the call timed out",
            MaybeSentKind::ConnectionClosed => "the connection was closed or reset",
            MaybeSentKind::IncompleteResponse => "the answer could not be read completely",
            MaybeSentKind::HttpStatus => "the HTTP status was not 200, with no verifiable answer",
            MaybeSentKind::Transport => "the transport failed",
        })
    }
}

/// Details of [`Error::MaybeSent`].
#[derive(Debug)]
pub struct MaybeSent {
    kind: MaybeSentKind,
    status: Option<StatusCode>,
    rejected: Option<Box<BadResponse>>,
    source: Option<TransportError>,
}

impl MaybeSent {
    pub(crate) fn transport(kind: MaybeSentKind, source: TransportError) -> Self {
        Self {
            kind,
            status: None,
            rejected: None,
            source: Some(source),
        }
    }

    pub(crate) fn while_reading(
        kind: MaybeSentKind,
        status: StatusCode,
        source: TransportError,
    ) -> Self {
        Self {
            kind,
            status: Some(status),
            rejected: None,
            source: Some(source),
        }
    }

    pub(crate) fn http_status(rejected: BadResponse) -> Self {
        Self {
            kind: MaybeSentKind::HttpStatus,
            status: Some(rejected.status()),
            rejected: Some(Box::new(rejected)),
            source: None,
        }
    }

    /// What went wrong.
    #[must_use]
    pub fn kind(&self) -> &MaybeSentKind {
        &self.kind
    }

    /// The HTTP status, when an answer began to arrive.
    #[must_use]
    pub fn status(&self) -> Option<StatusCode> {
        self.status
    }

    /// For [`MaybeSentKind::HttpStatus`]: why the body was not accepted, with the kept body bytes.
    #[must_use]
    pub fn rejected(&self) -> Option<&BadResponse> {
        self.rejected.as_deref()
    }
}

impl fmt::Display for MaybeSent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.kind.fmt(f)?;
        if let Some(status) = self.status {
            write!(f, " (HTTP {status})")?;
        }
        Ok(())
    }
}

impl StdError for MaybeSent {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        if let Some(rejected) = &self.rejected {
            return Some(rejected.as_ref());
        }
        self.source.as_ref().map(|e| e as &(dyn StdError + 'static))
    }
}

/// Why an answer was rejected.
#[derive(Debug)]
#[non_exhaustive]
pub enum BadResponseKind {
    /// The signature check failed closed (unsigned, headers missing, wrong client id, unknown key
    /// version, or a signature that does not verify).
    Verification(VerificationError),
    /// The verified body is not JSON.
    NotJson(serde_json::Error),
    /// The verified body is JSON without a `result` object.
    MissingResult,
    /// The verified body has a `result` but does not fit the response type.
    Schema(serde_json::Error),
    /// The body is larger than the configured limit.
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
}

/// Details of [`Error::BadResponse`]: why, the HTTP status, and the body (first 64 KiB).
#[derive(Debug)]
pub struct BadResponse(Box<BadResponseInner>);

#[derive(Debug)]
struct BadResponseInner {
    kind: BadResponseKind,
    status: StatusCode,
    body: ResponseBody,
    result: Option<AmsResult>,
}

impl BadResponse {
    pub(crate) fn new(
        kind: BadResponseKind,
        status: StatusCode,
        body: ResponseBody,
        result: Option<AmsResult>,
    ) -> Self {
        Self(Box::new(BadResponseInner {
            kind,
            status,
            body,
            result,
        }))
    }

    /// Why the answer was rejected.
    #[must_use]
    pub fn kind(&self) -> &BadResponseKind {
        &self.0.kind
    }

    /// The verification failure, if that is why.
    #[must_use]
    pub fn verification(&self) -> Option<&VerificationError> {
        match &self.0.kind {
            BadResponseKind::Verification(e) => Some(e),
            _ => None,
        }
    }

    /// The HTTP status of the answer.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    /// The raw body (its first [`KEPT_BODY_BYTES`] bytes).
    #[must_use]
    pub fn body(&self) -> &ResponseBody {
        &self.0.body
    }

    /// For [`BadResponseKind::Schema`]: the `result` object the body carried, read loosely. It was
    /// signed by Alipay, but the rest of the body did not fit the response type.
    #[must_use]
    pub fn result(&self) -> Option<&AmsResult> {
        self.0.result.as_ref()
    }
}

impl fmt::Display for BadResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.kind {
            BadResponseKind::Verification(_) => f.write_str("the answer failed verification")?,
            BadResponseKind::NotJson(_) => f.write_str("the answer is not JSON")?,
            BadResponseKind::MissingResult => f.write_str("the answer has no `result` object")?,
            BadResponseKind::Schema(_) => {
                f.write_str("the answer does not fit the response type")?;
            }
            BadResponseKind::TooLarge { limit } => {
                write!(f, "the answer is larger than the {limit}-byte limit")?;
            }
        }
        write!(
            f,
            " (HTTP {}, {}-byte body)",
            self.0.status,
            self.0.body.received_len()
        )
    }
}

impl StdError for BadResponse {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.0.kind {
            BadResponseKind::Verification(e) => Some(e),
            BadResponseKind::NotJson(e) | BadResponseKind::Schema(e) => Some(e),
            BadResponseKind::MissingResult | BadResponseKind::TooLarge { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_body_is_capped_and_not_shown_in_debug() {
        let big = Bytes::from(vec![b'x'; KEPT_BODY_BYTES + 10]);
        let body = ResponseBody::new(&big, big.len());
        assert_eq!(body.bytes().len(), KEPT_BODY_BYTES);
        assert_eq!(body.received_len(), KEPT_BODY_BYTES + 10);
        assert!(body.is_truncated());
        let small = ResponseBody::new(&Bytes::from_static(b"{\"accessToken\":\"t\"}"), 0);
        assert!(!small.is_truncated());
        let debug = format!("{small:?}");
        assert!(!debug.contains("accessToken"), "{debug}");
    }

    #[test]
    fn display_carries_the_diagnosis_and_sources_stay_reachable() {
        let err = Error::NotSent(NotSent::new(
            NotSentKind::ConnectionRefused,
            std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
        ));
        assert_eq!(
            err.to_string(),
            "the request was not sent to Alipay: the connection was refused: connection refused"
        );
        let inner = err.source().unwrap();
        assert_eq!(inner.to_string(), "the connection was refused");
        assert!(inner.source().is_some());
        assert!(!err.is_outcome_unknown());
        assert_eq!(err.class(), AttemptClass::NotSent);
        let local = Error::NotSent(NotSent::new(NotSentKind::Sign, "x"));
        assert_eq!(local.class(), AttemptClass::LocalError);
    }

    /// The reason for `body` parsed as a `pay` request.
    fn pay_reason(body: &str) -> String {
        let error = serde_json::from_str::<ams_protocol::PayRequest>(body).unwrap_err();
        InvalidBody::new(Api::Pay, &error).to_string()
    }

    const SECRET: &str = "281010033AB2F588D14B43238637264FCA5A0001";

    #[test]
    fn invalid_bodies_say_why_without_quoting_the_body() {
        let syntax = pay_reason(&format!(r#"{{"paymentRequestId":"{SECRET}""#));
        assert!(
            syntax.starts_with("the stored body is not a valid `pay` request: it is not valid JSON (EOF while parsing an object) at line 1 column "),
            "{syntax}"
        );
        let missing = pay_reason("{}");
        assert_eq!(
            missing,
            "the stored body is not a valid `pay` request: missing field `productCode` at line 1 column 2"
        );
        // serde quotes the offending value; the reason keeps only its kind and the expectation.
        let wrong_type = pay_reason(&format!(
            r#"{{"productCode":"AGREEMENT_PAYMENT","paymentMethod":"{SECRET}"}}"#
        ));
        assert!(
            wrong_type.contains("invalid type: string, expected struct PaymentMethod at line 1"),
            "{wrong_type}"
        );
        let number = pay_reason(r#"{"productCode":7}"#);
        assert!(
            number.contains("invalid type: integer, expected "),
            "{number}"
        );
        let object = pay_reason(r#"{"productCode":{}}"#);
        assert!(object.contains("invalid type: map, expected "), "{object}");
        // A type's own message may print the value unquoted: it is replaced entirely.
        let amount = pay_reason(&format!(
            r#"{{"productCode":"AGREEMENT_PAYMENT","paymentAmount":{{"currency":"USD","value":"{SECRET}"}}}}"#
        ));
        assert!(
            amount.contains("a field's value is not valid for its type at line 1"),
            "{amount}"
        );
        for reason in [&syntax, &wrong_type, &amount] {
            assert!(
                !reason.contains(SECRET) && !reason.contains("281010033"),
                "{reason}"
            );
        }
    }

    #[test]
    fn data_reasons_drop_body_values() {
        assert_eq!(
            data_reason("missing field `paymentId`"),
            "missing field `paymentId`"
        );
        assert_eq!(
            data_reason("duplicate field `paymentId`"),
            "duplicate field `paymentId`"
        );
        assert_eq!(
            data_reason("invalid length 3, expected a tuple of 2"),
            "invalid length 3, expected a tuple of 2"
        );
        assert_eq!(
            data_reason(r#"invalid value: string "s3cr, expected x"", expected a currency"#),
            "invalid value: string, expected a currency"
        );
        assert_eq!(
            data_reason("invalid type: floating point `1.5`, expected u64"),
            "invalid type: floating point, expected u64"
        );
        assert_eq!(
            data_reason("unknown variant `s3cr`, expected one of `A`, `B`"),
            "unknown variant, expected one of `A`, `B`"
        );
        assert_eq!(
            data_reason("unknown field `s3cr`, there are no fields"),
            "unknown field"
        );
        assert_eq!(
            data_reason("missing field `s3cr et`"),
            "a field's value is not valid for its type"
        );
        assert_eq!(
            data_reason("amount value s3cr is negative"),
            "a field's value is not valid for its type"
        );
    }

    #[test]
    fn display_names_the_signature_diagnosis() {
        use ams_signing::{Backend, GeneratedKeyPair, SignatureHeader, SignedContent};

        let signer = GeneratedKeyPair::generate(Backend::default(), 2048).unwrap();
        let expected = GeneratedKeyPair::generate(Backend::default(), 2048).unwrap();
        let content = SignedContent::response("/ams/api/v1/payments/pay", "C", "1", b"{}");
        let header: SignatureHeader = signer
            .private_key()
            .sign(&content, KeyVersion::DEFAULT)
            .unwrap();
        let verify = expected.public_key().verify(&content, &header).unwrap_err();
        let err = Error::BadResponse(BadResponse::new(
            BadResponseKind::Verification(VerificationError::Signature {
                key_version: KeyVersion::DEFAULT,
                source: verify,
            }),
            StatusCode::OK,
            ResponseBody::new(&Bytes::from_static(b"{}"), 2),
            None,
        ));
        let text = err.to_string();
        assert!(
            text.starts_with(
                "the answer from Alipay was rejected; the outcome is unknown: the answer failed \
                 verification (HTTP 200 OK, 2-byte body): the signature does not verify with \
                 Alipay's public key (keyVersion 1): signature does not match: checked RSA256 \
                 with public key sha256:"
            ),
            "{text}"
        );
        assert!(text.contains(expected.public_key().fingerprint()), "{text}");
        assert!(text.contains("(Alipay's, not your own)"), "{text}");
        assert!(!text.contains('\n'), "{text}");
        assert!(err.verify_error().is_some());
    }

    #[test]
    fn display_never_quotes_a_body_value() {
        // A signed body that does not fit the response type: serde quotes the value.
        let json = serde_json::from_str::<ams_protocol::PayResponse>(&format!(
            r#"{{"result":{{"resultCode":"SUCCESS","resultStatus":"S"}},"paymentAmount":"{SECRET}"}}"#
        ))
        .unwrap_err();
        assert!(json.to_string().contains(SECRET), "serde quotes it: {json}");
        let err = Error::BadResponse(BadResponse::new(
            BadResponseKind::Schema(json),
            StatusCode::OK,
            ResponseBody::new(&Bytes::from_static(b"{}"), 2),
            None,
        ));
        let text = err.to_string();
        assert!(
            text.starts_with(
                "the answer from Alipay was rejected; the outcome is unknown: the answer does not \
                 fit the response type (HTTP 200 OK, 2-byte body): invalid type: string, expected "
            ),
            "{text}"
        );
        assert!(
            !text.contains(SECRET) && !text.contains("281010033"),
            "{text}"
        );
    }

    #[test]
    fn display_of_maybe_sent_names_the_status_and_the_cause() {
        let err = Error::MaybeSent(MaybeSent::transport(
            MaybeSentKind::Timeout,
            TransportError::new(std::io::Error::other("operation timed out")),
        ));
        assert_eq!(
            err.to_string(),
            "the request may have reached Alipay; the outcome is unknown: the call timed out: \
             operation timed out"
        );
    }
}
