//! The client builder: a typestate over the four required settings (gateway, client id, merchant
//! key, Alipay's public keys), so a client missing any of them does not compile; everything else has
//! a default.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ams_protocol::Api;
use ams_signing::{KeyVersion, PrivateKey, PublicKey, Signer};
use http::HeaderValue;

use crate::client::{AmsClient, Inner, Target};
use crate::clock::{Clock, SystemClock};
use crate::error::{BuildError, TransportError};
use crate::gateway::Gateway;
use crate::keys::{AgentToken, AlipayPublicKeys};
use crate::notification::NotificationVerifier;
use crate::retry::RetryPolicy;

/// Default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default timeout of one attempt, from connecting until the whole answer is read, for every API
/// except those [`default_timeout_for`] gives [`DEFAULT_CALL_AGAIN_TIMEOUT`].
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Default timeout of one attempt of `inquiryPayment`, `cancel` and `refund`: Alipay's best
/// practice (seed 004) is to call these again when no result comes back within 3 seconds.
pub const DEFAULT_CALL_AGAIN_TIMEOUT: Duration = Duration::from_secs(3);

/// The default timeout of one attempt of `api`, when neither [`ClientBuilder::api_timeout`] nor
/// [`ClientBuilder::call_timeout`] is given: [`DEFAULT_CALL_AGAIN_TIMEOUT`] (3 s) for
/// `inquiryPayment`, `cancel` and `refund`, [`DEFAULT_CALL_TIMEOUT`] (10 s) for every other API.
///
/// ```
/// use std::time::Duration;
/// use ams_client::default_timeout_for;
/// use ams_protocol::Api;
///
/// assert_eq!(default_timeout_for(Api::Refund), Duration::from_secs(3));
/// assert_eq!(default_timeout_for(Api::Pay), Duration::from_secs(10));
/// ```
#[must_use]
pub const fn default_timeout_for(api: Api) -> Duration {
    match api {
        Api::InquiryPayment | Api::Cancel | Api::Refund => DEFAULT_CALL_AGAIN_TIMEOUT,
        _ => DEFAULT_CALL_TIMEOUT,
    }
}
/// Default limit on the size of an answer (AMS answers are a few kilobytes).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// Default `user-agent`.
pub const DEFAULT_USER_AGENT: &str = concat!("ams-client-rust/", env!("CARGO_PKG_VERSION"));

/// Marker for a required builder setting not given yet.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unset;

/// The client id, as set on a [`ClientBuilder`] (checked by [`ClientBuilder::build`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientId(String);

impl ClientId {
    /// The client id.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Clone)]
enum ProxySetting {
    /// Honour `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY`/`NO_PROXY` (not for a loopback gateway).
    Environment,
    /// Connect directly.
    Disabled,
    /// Use this proxy for every request.
    Url(String),
}

impl fmt::Debug for ProxySetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxySetting::Environment => f.write_str("Environment"),
            ProxySetting::Disabled => f.write_str("Disabled"),
            ProxySetting::Url(url) => write!(f, "Url({})", redact_url(url)),
        }
    }
}

/// A proxy URL without its credentials.
fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            if !parsed.username().is_empty() || parsed.password().is_some() {
                let _ = parsed.set_username("");
                let _ = parsed.set_password(None);
                format!("<credentials redacted>@{parsed}")
            } else {
                parsed.to_string()
            }
        }
        Err(_) => "<unparsable URL>".to_owned(),
    }
}

/// The optional settings.
#[derive(Clone)]
struct Options {
    agent_token: Option<AgentToken>,
    user_agent: String,
    connect_timeout: Duration,
    /// `None` until [`ClientBuilder::call_timeout`] is given: each API has its default then.
    call_timeout: Option<Duration>,
    api_timeouts: BTreeMap<Api, Duration>,
    retry: BTreeMap<Api, RetryPolicy>,
    proxy: ProxySetting,
    root_certificates: Vec<Vec<u8>>,
    clock: Arc<dyn Clock>,
    max_response_bytes: usize,
    notification_skew: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            agent_token: None,
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            call_timeout: None,
            api_timeouts: BTreeMap::new(),
            retry: BTreeMap::new(),
            proxy: ProxySetting::Environment,
            root_certificates: Vec::new(),
            clock: Arc::new(SystemClock::new()),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            notification_skew: Some(NotificationVerifier::DEFAULT_SKEW_WINDOW),
        }
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("agent_token", &self.agent_token)
            .field("user_agent", &self.user_agent)
            .field("connect_timeout", &self.connect_timeout)
            .field("call_timeout", &self.call_timeout)
            .field("api_timeouts", &self.api_timeouts)
            .field("retry", &self.retry)
            .field("proxy", &self.proxy)
            .field("root_certificates", &self.root_certificates.len())
            .field("clock", &self.clock)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("notification_skew", &self.notification_skew)
            .finish()
    }
}

/// Builds an [`AmsClient`]. Start with [`AmsClient::builder`].
///
/// The type parameters track the four required settings; [`build`](ClientBuilder::build) exists only
/// once all four are given ([`gateway`](Self::gateway), [`client_id`](Self::client_id),
/// [`merchant_key`](Self::merchant_key), [`alipay_public_keys`](Self::alipay_public_keys)), and each
/// can be given once. Alipay's public key is required like the others: without it no answer could be
/// verified, and this client does not accept unverified answers.
///
/// ```compile_fail
/// use ams_client::{AmsClient, Gateway};
///
/// // No merchant key and no Alipay key: `build` does not exist on this builder type.
/// let client = AmsClient::builder()
///     .gateway(Gateway::AsiaAccelerated)
///     .client_id("5X00000000000000")
///     .build();
/// ```
///
/// ```compile_fail
/// # use ams_client::{AmsClient, Gateway};
/// // A required setting cannot be given twice.
/// let builder = AmsClient::builder()
///     .gateway(Gateway::AsiaAccelerated)
///     .gateway(Gateway::Europe);
/// ```
#[derive(Debug)]
pub struct ClientBuilder<G = Unset, C = Unset, K = Unset, P = Unset> {
    gateway: G,
    client_id: C,
    merchant_key: K,
    alipay_keys: P,
    options: Options,
}

impl ClientBuilder {
    pub(crate) fn new() -> Self {
        Self {
            gateway: Unset,
            client_id: Unset,
            merchant_key: Unset,
            alipay_keys: Unset,
            options: Options::default(),
        }
    }
}

impl<C, K, P> ClientBuilder<Unset, C, K, P> {
    /// Where to send requests (required): a named region, or [`Gateway::url`].
    pub fn gateway(self, gateway: Gateway) -> ClientBuilder<Gateway, C, K, P> {
        ClientBuilder {
            gateway,
            client_id: self.client_id,
            merchant_key: self.merchant_key,
            alipay_keys: self.alipay_keys,
            options: self.options,
        }
    }
}

impl<G, K, P> ClientBuilder<G, Unset, K, P> {
    /// The client id Alipay gave the merchant (required). A client id starting with `SANDBOX_`
    /// sends every request to the sandbox path `/ams/sandbox/api/...` on the same gateway.
    pub fn client_id(self, client_id: impl Into<String>) -> ClientBuilder<G, ClientId, K, P> {
        ClientBuilder {
            gateway: self.gateway,
            client_id: ClientId(client_id.into()),
            merchant_key: self.merchant_key,
            alipay_keys: self.alipay_keys,
            options: self.options,
        }
    }
}

impl<G, C, P> ClientBuilder<G, C, Unset, P> {
    /// The merchant's private key and the key version it is registered under (required; version 1
    /// unless Alipay's Dashboard says otherwise).
    pub fn merchant_key(
        self,
        key: PrivateKey,
        version: KeyVersion,
    ) -> ClientBuilder<G, C, Signer, P> {
        self.merchant_signer(Signer::new(key, version))
    }

    /// The merchant's key and version as an [`ams_signing::Signer`] (alternative to
    /// [`merchant_key`](Self::merchant_key)).
    pub fn merchant_signer(self, signer: Signer) -> ClientBuilder<G, C, Signer, P> {
        ClientBuilder {
            gateway: self.gateway,
            client_id: self.client_id,
            merchant_key: signer,
            alipay_keys: self.alipay_keys,
            options: self.options,
        }
    }
}

impl<G, C, K> ClientBuilder<G, C, K, Unset> {
    /// Alipay's public keys by key version (required): responses are verified with them, failing
    /// closed. Give several during a key rotation.
    pub fn alipay_public_keys(
        self,
        keys: AlipayPublicKeys,
    ) -> ClientBuilder<G, C, K, AlipayPublicKeys> {
        ClientBuilder {
            gateway: self.gateway,
            client_id: self.client_id,
            merchant_key: self.merchant_key,
            alipay_keys: keys,
            options: self.options,
        }
    }

    /// A single Alipay public key, under key version 1 (shorthand for
    /// [`alipay_public_keys`](Self::alipay_public_keys)`(AlipayPublicKeys::single(key))`).
    pub fn alipay_public_key(self, key: PublicKey) -> ClientBuilder<G, C, K, AlipayPublicKeys> {
        self.alipay_public_keys(AlipayPublicKeys::single(key))
    }
}

impl<G, C, K, P> ClientBuilder<G, C, K, P> {
    /// The ISV agent token, sent as the `agent-token` header (only when set).
    #[must_use]
    pub fn agent_token(mut self, token: impl Into<AgentToken>) -> Self {
        self.options.agent_token = Some(token.into());
        self
    }

    /// The `user-agent` header (default [`DEFAULT_USER_AGENT`]).
    #[must_use]
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.options.user_agent = user_agent.into();
        self
    }

    /// How long to wait for a connection (default [`DEFAULT_CONNECT_TIMEOUT`]).
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.options.connect_timeout = timeout;
        self
    }

    /// How long one attempt may take, from connecting until the whole answer is read, for every
    /// API without its own [`api_timeout`](Self::api_timeout) — including `inquiryPayment`,
    /// `cancel` and `refund`, whose 3 s default it replaces too. A timeout is a *maybe sent*
    /// error.
    ///
    /// Without it, each API has [`default_timeout_for`] it: 3 s
    /// ([`DEFAULT_CALL_AGAIN_TIMEOUT`]) for `inquiryPayment`, `cancel` and `refund`, 10 s
    /// ([`DEFAULT_CALL_TIMEOUT`]) for the others.
    #[must_use]
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.options.call_timeout = Some(timeout);
        self
    }

    /// The per-attempt timeout for one API. It wins over [`call_timeout`](Self::call_timeout)
    /// and over the API's default, whichever order they are given in.
    ///
    /// Precedence, as [`AmsClient::timeout_for`] reports it: `api_timeout(api, ..)`, else
    /// `call_timeout(..)`, else [`default_timeout_for`]`(api)`.
    #[must_use]
    pub fn api_timeout(mut self, api: Api, timeout: Duration) -> Self {
        self.options.api_timeouts.insert(api, timeout);
        self
    }

    /// The retry policy [`AmsClient::execute`] uses for one API, instead of
    /// [`RetryPolicy::default_for`].
    #[must_use]
    pub fn retry_policy(mut self, api: Api, policy: RetryPolicy) -> Self {
        self.options.retry.insert(api, policy);
        self
    }

    /// Sends every request through this proxy (`http://`, `https://`; credentials in the URL are
    /// used and never shown in `Debug`). TLS to the gateway is still end to end and verified.
    #[must_use]
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.options.proxy = ProxySetting::Url(url.into());
        self
    }

    /// Ignores proxy environment variables and connects directly.
    ///
    /// By default the client honours `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY`,
    /// except for a loopback gateway (a local sandbox), which is always reached directly unless
    /// [`proxy`](Self::proxy) is set.
    #[must_use]
    pub fn no_proxy(mut self) -> Self {
        self.options.proxy = ProxySetting::Disabled;
        self
    }

    /// Trusts an extra root certificate (PEM) besides the system's, e.g. for a TLS sandbox with its
    /// own CA. Certificates are always verified; there is no way to switch verification off.
    #[must_use]
    pub fn add_root_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.options.root_certificates.push(pem.into());
        self
    }

    /// The clock for `request-time`, retry waits and notification skew (default [`SystemClock`]).
    #[must_use]
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.options.clock = Arc::new(clock);
        self
    }

    /// The clock, already shared.
    #[must_use]
    pub fn shared_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.options.clock = clock;
        self
    }

    /// The largest answer accepted, in bytes (default [`DEFAULT_MAX_RESPONSE_BYTES`]); a larger one
    /// is a bad response.
    #[must_use]
    pub fn max_response_bytes(mut self, limit: usize) -> Self {
        self.options.max_response_bytes = limit;
        self
    }

    /// The skew window of [`AmsClient::notification_verifier`] (default 5 minutes; `None` turns the
    /// check off).
    #[must_use]
    pub fn notification_skew_window(mut self, window: Option<Duration>) -> Self {
        self.options.notification_skew = window;
        self
    }
}

/// The `agent-token` header for `token`: 1 to 128 visible ASCII characters, marked sensitive.
pub(crate) fn agent_header(token: &AgentToken) -> Result<HeaderValue, BuildError> {
    let text = token.expose_secret();
    if text.len() > 128 || text.contains(' ') {
        return Err(BuildError::InvalidAgentToken);
    }
    let mut value = header_value(text).ok_or(BuildError::InvalidAgentToken)?;
    value.set_sensitive(true);
    Ok(value)
}

fn header_value(text: &str) -> Option<HeaderValue> {
    let visible = !text.is_empty() && text.bytes().all(|b| (0x20..0x7f).contains(&b));
    visible.then(|| HeaderValue::from_str(text).ok()).flatten()
}

impl ClientBuilder<Gateway, ClientId, Signer, AlipayPublicKeys> {
    /// Builds the client.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] when the client id, agent token, user agent, proxy or a root certificate
    /// is unusable, or the HTTP client cannot be created.
    pub fn build(self) -> Result<AmsClient, BuildError> {
        let Options {
            agent_token,
            user_agent,
            connect_timeout,
            call_timeout,
            api_timeouts,
            retry,
            proxy,
            root_certificates,
            clock,
            max_response_bytes,
            notification_skew,
        } = self.options;

        let client_id = self.client_id.0;
        if client_id.is_empty() {
            return Err(BuildError::InvalidClientId {
                reason: "it is empty",
            });
        }
        if client_id.bytes().any(|b| !(0x21..0x7f).contains(&b)) {
            return Err(BuildError::InvalidClientId {
                reason: "it must be visible ASCII without spaces",
            });
        }
        let client_id_value = header_value(&client_id).ok_or(BuildError::InvalidClientId {
            reason: "it cannot be sent in a header",
        })?;
        let agent_token_value = agent_token.as_ref().map(agent_header).transpose()?;
        let user_agent_value = header_value(&user_agent)
            .ok_or_else(|| BuildError::InvalidUserAgent(user_agent.clone()))?;

        let mut http = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(user_agent_value)
            .referer(false);
        match &proxy {
            ProxySetting::Url(url) => {
                let proxy = reqwest::Proxy::all(url.as_str())
                    .map_err(|e| BuildError::InvalidProxy(TransportError::new(e.without_url())))?;
                http = http.proxy(proxy);
            }
            ProxySetting::Disabled => http = http.no_proxy(),
            ProxySetting::Environment if self.gateway.is_loopback() => http = http.no_proxy(),
            ProxySetting::Environment => {}
        }
        for pem in &root_certificates {
            let cert = reqwest::Certificate::from_pem(pem)
                .map_err(|e| BuildError::InvalidRootCertificate(TransportError::new(e)))?;
            http = http.add_root_certificate(cert);
        }
        let http = http
            .build()
            .map_err(|e| BuildError::Http(TransportError::new(e)))?;

        let targets = Api::ALL
            .into_iter()
            .map(|api| (api, Target::new(&self.gateway, api, &client_id)))
            .collect();
        let alipay_keys = Arc::new(self.alipay_keys);
        let verifier = NotificationVerifier::from_parts(
            Arc::from(client_id.as_str()),
            Arc::clone(&alipay_keys),
            Arc::clone(&clock),
            notification_skew,
        );
        Ok(AmsClient::from_inner(Inner {
            http,
            gateway: self.gateway,
            client_id,
            client_id_value,
            signer: self.merchant_key,
            alipay_keys,
            agent_token,
            agent_token_value,
            user_agent,
            connect_timeout,
            call_timeout,
            api_timeouts,
            retry,
            proxy: format!("{proxy:?}"),
            clock,
            max_response_bytes,
            targets,
            verifier,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_credentials_are_redacted() {
        let shown = format!(
            "{:?}",
            ProxySetting::Url("http://user:hunter2@proxy.example:3128".into())
        );
        assert!(
            !shown.contains("hunter2") && !shown.contains("user"),
            "{shown}"
        );
        assert!(shown.contains("proxy.example:3128"), "{shown}");
        assert_eq!(
            format!(
                "{:?}",
                ProxySetting::Url("http://proxy.example:3128".into())
            ),
            "Url(http://proxy.example:3128/)"
        );
        assert_eq!(
            format!("{:?}", ProxySetting::Url("not a url".into())),
            "Url(<unparsable URL>)"
        );
    }

    #[test]
    fn header_values_must_be_visible_ascii() {
        assert!(header_value("5X00000000000000").is_some());
        assert!(header_value("").is_none());
        assert!(header_value("a\nb").is_none());
        assert!(header_value("café").is_none());
    }
}
