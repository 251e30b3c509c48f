//! Who may use the control API and the wallet's pages: checks made before any handler runs.
//!
//! The control API (`/sandbox/...`) creates users with balances, moves the clock, injects faults,
//! changes notify URLs, and shows every notification, so every auth code and access token issued.
//! It is meant for the developer's own tools (tests, scripts, `curl`), never for a web page. A page
//! reaches a loopback server in two ways: by DNS rebinding (its own host name now resolves to
//! 127.0.0.1, so the browser sends that name as `Host` and treats the request as same-origin), and
//! by a cross-origin request or form post (the browser sends `Origin`, or posts a form without
//! JSON). So, in this order:
//!
//! 1. **Host**: the `Host` header must be one of the names the sandbox answers to: the bound
//!    address as written (`127.0.0.1:PORT`, `[::1]:PORT`), `localhost:PORT`, the loopback
//!    addresses when bound to every interface, and the extra names of
//!    [`SandboxBuilder::allowed_host`](crate::SandboxBuilder::allowed_host). A `Host` without a
//!    port means port 80; names compare case-insensitively. Otherwise `403`.
//! 2. **Origin**: an `Origin` header, when present, must be the sandbox's own (`http://` or
//!    `https://` and one of those names). Otherwise `403`.
//! 3. **Control token** (control API only, when
//!    [`SandboxBuilder::control_token`](crate::SandboxBuilder::control_token) is set):
//!    `Authorization: Bearer <token>`, compared in constant time. Otherwise `401`.
//! 4. **JSON** (control API only): a `POST`, `PUT`, `PATCH` or `DELETE` must say
//!    `Content-Type: application/json` (an empty body is fine where the endpoint takes none),
//!    which no HTML form can send. Otherwise `403`.
//!
//! The wallet's pages, the consent page (`/sandbox/wallet/consent/{id}`) and the payment page
//! (`/sandbox/wallet/payments/{paymentId}`), are opened by the user's browser and post HTML forms,
//! so they get the first two checks only. The AMS gateway (`/ams/...`) gets none: every
//! request there is authenticated by the merchant's signature, and clients reach it through
//! relays and proxies under other names (a test relay, a `Host` naming Alipay's own domain).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::shared::Shared;

/// A host name and port as a client writes them in `Host` (or `Origin`): lowercase name, port.
#[derive(Clone, Debug, PartialEq, Eq)]
struct HostPort {
    host: String,
    port: u16,
}

impl HostPort {
    /// Parses `name`, `name:port`, `1.2.3.4:port`, `[::1]:port`; a missing port is `default_port`.
    fn parse(text: &str, default_port: u16) -> Option<Self> {
        let text = text.trim();
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (inside, after) = rest.split_once(']')?;
            let port = match after {
                "" => default_port,
                _ => after.strip_prefix(':')?.parse().ok()?,
            };
            (format!("[{inside}]"), port)
        } else {
            match text.rsplit_once(':') {
                Some((host, port)) => (host.to_owned(), port.parse().ok()?),
                None => (text.to_owned(), default_port),
            }
        };
        let valid = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._[]:".contains(&b));
        valid.then(|| Self {
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

impl std::fmt::Display for HostPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// The control token, never shown by `Debug`.
#[derive(Clone)]
pub(crate) struct ControlToken(Arc<str>);

impl std::fmt::Debug for ControlToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ControlToken(<redacted>)")
    }
}

impl ControlToken {
    /// Checks that the token can travel in an `Authorization` header.
    pub(crate) fn new(secret: &str) -> Result<Self, String> {
        if secret.is_empty() {
            return Err("the control token is empty".to_owned());
        }
        if !secret.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(
                "the control token must be printable ASCII without spaces (it travels in an \
                 Authorization header)"
                    .to_owned(),
            );
        }
        Ok(Self(secret.into()))
    }

    /// Whether `presented` is the token, in time that does not depend on where they differ
    /// (`subtle`: only the lengths show).
    fn matches(&self, presented: &[u8]) -> bool {
        bool::from(subtle::ConstantTimeEq::ct_eq(self.0.as_bytes(), presented))
    }
}

/// What the checks compare against: the names the sandbox answers to and the control token.
#[derive(Debug)]
pub(crate) struct Access {
    hosts: Vec<HostPort>,
    token: Option<ControlToken>,
}

impl Access {
    /// The names for a sandbox bound to `bound`, plus `extra` (as `name` or `name:port`).
    pub(crate) fn new(
        bound: SocketAddr,
        extra: &[String],
        token: Option<ControlToken>,
    ) -> Result<Self, String> {
        let port = bound.port();
        let mut names = vec![bound.to_string(), format!("localhost:{port}")];
        if bound.ip().is_unspecified() {
            // Bound to every interface, loopback included.
            names.push(format!("127.0.0.1:{port}"));
            if bound.is_ipv6() {
                names.push(format!("[::1]:{port}"));
            }
        }
        let mut hosts = Vec::new();
        for name in &names {
            hosts.extend(HostPort::parse(name, 80));
        }
        for name in extra {
            let parsed = HostPort::parse(name, 80).ok_or_else(|| {
                format!(
                    "allowed host {name:?} is not a host name with an optional port \
                     (e.g. sandbox.test:8089)"
                )
            })?;
            hosts.push(parsed);
        }
        hosts.dedup();
        Ok(Self { hosts, token })
    }

    /// The names, for messages.
    fn names(&self) -> String {
        self.hosts
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn allows_host(&self, host: &HostPort) -> bool {
        self.hosts.contains(host)
    }

    /// Checks 1 and 2: the request names the sandbox and, if it comes from a page, a page of the
    /// sandbox's own. An absolute-form request target (`GET http://name/...`) must name it too.
    fn check_origin(&self, request: &Request) -> Result<(), Refusal> {
        let mut named = Vec::new();
        named.extend(header_text(request.headers(), header::HOST));
        named.extend(request.uri().authority().map(|a| a.as_str().to_owned()));
        if named.is_empty() {
            return Err(Refusal::forbidden(format!(
                "refused: the request has no Host header; this sandbox answers to {}",
                self.names()
            )));
        }
        for host in named {
            if !HostPort::parse(&host, 80).is_some_and(|h| self.allows_host(&h)) {
                return Err(Refusal::forbidden(format!(
                    "refused: Host {host:?} is not a name this sandbox answers to ({}). A web \
                     page using DNS rebinding sends its own host name; if this name is yours, \
                     allow it with --allowed-host (SandboxBuilder::allowed_host).",
                    self.names()
                )));
            }
        }
        if let Some(origin) = header_text(request.headers(), header::ORIGIN)
            && !self.is_own_origin(&origin)
        {
            return Err(Refusal::forbidden(format!(
                "refused: this request comes from a web page at {origin:?}; only the sandbox's \
                 own pages (http:// and one of {}) may call it. The control API is for your own \
                 tools, not for browsers.",
                self.names()
            )));
        }
        Ok(())
    }

    fn is_own_origin(&self, origin: &str) -> bool {
        let parsed = if let Some(rest) = origin.strip_prefix("http://") {
            HostPort::parse(rest, 80)
        } else if let Some(rest) = origin.strip_prefix("https://") {
            HostPort::parse(rest, 443)
        } else {
            None
        };
        parsed.is_some_and(|h| self.allows_host(&h))
    }

    /// Check 3: the control token, when one is set.
    fn check_token(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let Some(token) = &self.token else {
            return Ok(());
        };
        let presented = headers
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes())
            .and_then(|v| {
                let (scheme, rest) = v.split_at_checked(7)?;
                scheme.eq_ignore_ascii_case(b"bearer ").then_some(rest)
            });
        match presented {
            None => Err(Refusal::unauthorized(
                "refused: this sandbox's control API requires a control token: send \
                 Authorization: Bearer <token> (the token given to SandboxBuilder::control_token \
                 or autodebit sandbox --control-token-file)",
            )),
            Some(presented) if token.matches(presented.trim_ascii()) => Ok(()),
            Some(_) => Err(Refusal::unauthorized(
                "refused: the bearer token is not this sandbox's control token",
            )),
        }
    }
}

/// Check 4: a state-changing control request says its body is JSON.
fn check_json(request: &Request) -> Result<(), Refusal> {
    let method = request.method();
    if !(method == Method::POST
        || method == Method::PUT
        || method == Method::PATCH
        || method == Method::DELETE)
    {
        return Ok(());
    }
    let content_type = header_text(request.headers(), header::CONTENT_TYPE);
    let is_json = content_type.as_deref().is_some_and(|value| {
        value
            .split(';')
            .next()
            .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
    });
    if is_json {
        return Ok(());
    }
    let got = content_type.map_or_else(|| "none".to_owned(), |v| format!("{v:?}"));
    Err(Refusal::forbidden(format!(
        "refused: {method} {} must be sent with Content-Type: application/json (got {got}), even \
         with an empty body; the control API takes no form posts",
        request.uri().path()
    )))
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned())
}

/// A refused request: its status and the explanation.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    message: String,
}

impl Refusal {
    fn forbidden(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            message: message.into(),
        }
    }

    fn unauthorized(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            message: message.into(),
        }
    }
}

fn log(refusal: &Refusal, request: &Request) {
    tracing::warn!(
        method = %request.method(),
        path = request.uri().path(),
        status = refusal.status.as_u16(),
        reason = %refusal.message,
        "ams-sandbox refused a request"
    );
}

/// The control API's guard: all four checks; refusals are `{"error": "..."}`.
pub(crate) async fn control(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let access = &shared.access;
    let checked = access
        .check_origin(&request)
        .and_then(|()| access.check_token(request.headers()))
        .and_then(|()| check_json(&request));
    match checked {
        Ok(()) => next.run(request).await,
        Err(refusal) => {
            log(&refusal, &request);
            let mut response =
                (refusal.status, Json(json!({ "error": refusal.message }))).into_response();
            if refusal.status == StatusCode::UNAUTHORIZED
                && let Ok(value) = "Bearer realm=\"ams-sandbox control API\"".parse()
            {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, value);
            }
            response
        }
    }
}

/// The wallet pages' guard (the consent page, the payment page): Host and Origin only (the user's
/// browser opens them and posts their forms; no control token); refusals are plain text.
pub(crate) async fn wallet_pages(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    match shared.access.check_origin(&request) {
        Ok(()) => next.run(request).await,
        Err(refusal) => {
            log(&refusal, &request);
            (refusal.status, refusal.message).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp(host: &str, port: u16) -> Option<HostPort> {
        Some(HostPort {
            host: host.to_owned(),
            port,
        })
    }

    #[test]
    fn host_headers_parse_with_their_default_port() {
        assert_eq!(HostPort::parse("127.0.0.1:8089", 80), hp("127.0.0.1", 8089));
        assert_eq!(HostPort::parse("LocalHost:8089", 80), hp("localhost", 8089));
        assert_eq!(HostPort::parse("localhost", 80), hp("localhost", 80));
        assert_eq!(HostPort::parse("[::1]:8089", 80), hp("[::1]", 8089));
        assert_eq!(HostPort::parse("[::1]", 443), hp("[::1]", 443));
        assert_eq!(HostPort::parse("localhost:99999", 80), None);
        assert_eq!(HostPort::parse("localhost:", 80), None);
        assert_eq!(HostPort::parse("", 80), None);
        assert_eq!(HostPort::parse("a b:80", 80), None);
        assert_eq!(HostPort::parse("[::1]x", 80), None);
    }

    #[test]
    fn the_names_follow_the_bound_address() {
        let loopback =
            Access::new(SocketAddr::from(([127, 0, 0, 1], 8089)), &[], None).expect("valid");
        assert_eq!(loopback.names(), "127.0.0.1:8089, localhost:8089");
        let any = Access::new(
            SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 0], 80)),
            &["Sandbox.Test".to_owned()],
            None,
        )
        .expect("valid");
        assert_eq!(
            any.names(),
            "[::]:80, localhost:80, 127.0.0.1:80, [::1]:80, sandbox.test:80"
        );
        assert!(any.allows_host(&HostPort::parse("localhost", 80).expect("parses")));
        assert!(any.is_own_origin("http://sandbox.test"));
        assert!(!any.is_own_origin("https://sandbox.test"));
        assert!(!any.is_own_origin("null"));
        let bad = Access::new(
            SocketAddr::from(([127, 0, 0, 1], 1)),
            &["evil.test:x".to_owned()],
            None,
        );
        assert!(bad.expect_err("refused").contains("evil.test:x"));
    }

    #[test]
    fn tokens_compare_whole() {
        let token = ControlToken::new("s3cret-token").expect("valid");
        assert!(token.matches(b"s3cret-token"));
        assert!(!token.matches(b"s3cret-tokeN"));
        assert!(!token.matches(b"s3cret-token2"));
        assert!(!token.matches(b"s3cret"));
        assert!(!token.matches(b""));
        assert!(ControlToken::new("").is_err());
        assert!(ControlToken::new("two words").is_err());
        assert!(ControlToken::new("line\n").is_err());
        assert_eq!(format!("{token:?}"), "ControlToken(<redacted>)");
    }
}
