//! The server's configuration: defaults, then a TOML file (`--config FILE`), then `AUTODEBIT_*`
//! environment variables, merged by figment. [`Config::load`] reads them; [`Config::check`]
//! validates everything that can be checked without touching a file or the network and says which
//! setting is wrong; [`Config::redacted`] is what `autodebit config check` prints.
//!
//! Environment variables: `AUTODEBIT_<SECTION>__<KEY>` (two underscores between levels), e.g.
//! `AUTODEBIT_SERVER__LISTEN=0.0.0.0:8080` or `AUTODEBIT_MERCHANTS__SHOP__CLIENT_ID=…`; and the
//! older single names `AUTODEBIT_DATABASE_URL` (= `database.url`) and `AUTODEBIT_TOKEN_KEYS`
//! (= `database.token_keys`). Secrets (the merchant's private key, token encryption keys, API key
//! hashes, the database URL with its password, an agent token) come from a file (`*_file`) or the
//! environment; [`Secret`] keeps them out of `Debug`, logs and `config check`.

mod schedule;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format as _, Toml};
use serde::{Deserialize, Serialize};

pub use schedule::ScheduleConfig;

/// The example configuration, complete and commented (`autodebit config example`).
pub const EXAMPLE: &str = include_str!("example.toml");

/// The merchant used when none is configured (sandbox mode).
pub const DEFAULT_MERCHANT: &str = "default";

/// The client id of the sandbox's merchant.
pub const SANDBOX_CLIENT_ID: &str = "SANDBOX_5X00000000000000";

/// A secret setting: shown as `<redacted>` everywhere but where it is used.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// A secret holding `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("<redacted>")
    }
}

/// A database URL: shown with its password masked.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL, password included. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any password replaced by `***`.
    pub fn masked(&self) -> String {
        let Some((scheme, rest)) = self.0.split_once("://") else {
            return self.0.clone();
        };
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        match authority.rsplit_once('@') {
            Some((userinfo, host)) => {
                let user = userinfo.split(':').next().unwrap_or("");
                let masked = if userinfo.contains(':') {
                    format!("{user}:***")
                } else {
                    user.to_owned()
                };
                let tail = mask_query_password(tail);
                format!("{scheme}://{masked}@{host}{tail}")
            }
            None => format!("{scheme}://{authority}{}", mask_query_password(tail)),
        }
    }
}

fn mask_query_password(tail: &str) -> String {
    let Some((path, query)) = tail.split_once('?') else {
        return tail.to_owned();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{path}?{}", query.join("&"))
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl Serialize for DatabaseUrl {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.masked())
    }
}

/// How logs are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Everything `autodebit serve` reads.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The HTTP server.
    pub server: ServerConfig,
    /// The database and the token encryption keys.
    pub database: DatabaseConfig,
    /// The job runner.
    pub workers: WorkersConfig,
    /// Alipay calls: timeouts.
    pub alipay: AlipayConfig,
    /// How often and how long payments, refunds and tokens are retried and inquired.
    pub schedule: ScheduleConfig,
    /// The merchant API.
    pub api: ApiConfig,
    /// The embedded sandbox.
    pub sandbox: SandboxConfig,
    /// The merchants served, by id (the id is part of Alipay's notification paths).
    pub merchants: BTreeMap<String, MerchantConfig>,
}

/// The HTTP server.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// How Alipay and the user's browser reach this server (notification and return URLs are
    /// built from it). Default: `http://` + `listen`. Must be `https` unless its host is loopback.
    pub public_url: Option<String>,
    /// The longest a request may take.
    pub request_timeout_ms: u64,
    /// The largest request body accepted.
    pub body_limit_bytes: usize,
    /// At most this many requests at once; more wait.
    pub concurrency_limit: usize,
    /// On SIGTERM/SIGINT: how long requests and jobs under way may take to finish.
    pub shutdown_grace_ms: u64,
    /// Log lines as text or JSON.
    pub log_format: LogFormat,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            request_timeout_ms: 30_000,
            body_limit_bytes: 64 * 1024,
            concurrency_limit: 512,
            shutdown_grace_ms: 10_000,
            log_format: LogFormat::Text,
        }
    }
}

/// The database and the token encryption keys.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` or `postgres://…` (a password in it is a secret: prefer `url_file` or the
    /// environment).
    pub url: DatabaseUrl,
    /// A file holding the URL.
    pub url_file: Option<PathBuf>,
    /// At most this many connections (default: the store's).
    pub max_connections: Option<u32>,
    /// PostgreSQL only: keep the tables in this schema (created if missing).
    pub schema: Option<String>,
    /// Token encryption keys, `<version>:<base64>` separated by commas, the first encrypting.
    pub token_keys: Option<Secret>,
    /// A file holding them.
    pub token_keys_file: Option<PathBuf>,
    /// Accept a PostgreSQL server on another host without certificate verification.
    pub allow_unverified_tls: bool,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: DatabaseUrl::new("sqlite://autodebit.db"),
            url_file: None,
            max_connections: None,
            schema: None,
            token_keys: None,
            token_keys_file: None,
            allow_unverified_tls: false,
        }
    }
}

/// The job runner.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkersConfig {
    /// How many workers run jobs in this process (0: none; another process runs them).
    pub count: u32,
    /// The longest wait between looks for due jobs when there is nothing to do.
    pub idle_poll_max_ms: u64,
}

impl Default for WorkersConfig {
    fn default() -> Self {
        Self {
            count: 2,
            idle_poll_max_ms: 1_000,
        }
    }
}

/// Alipay calls.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlipayConfig {
    /// The longest one call may take (`pay`, `consult`, `applyToken`, …). Leases are sized from
    /// the longest timeout.
    pub call_timeout_ms: u64,
    /// The timeout of `inquiryPayment`, `cancel` and `refund`, which are simply called again when
    /// no answer comes (Alipay's best practice: 3 s).
    pub call_again_timeout_ms: u64,
    /// The longest wait to connect.
    pub connect_timeout_ms: u64,
    /// How far a notification's `request-time` may be from our clock.
    pub notification_skew_ms: u64,
}

impl Default for AlipayConfig {
    fn default() -> Self {
        Self {
            call_timeout_ms: 10_000,
            call_again_timeout_ms: 3_000,
            connect_timeout_ms: 5_000,
            notification_skew_ms: 5 * 60_000,
        }
    }
}

/// The merchant API.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// How long idempotency keys are kept (at least 24 hours).
    pub idempotency_retention_hours: u64,
    /// The origins an authorization's `return_url` may point to (`https://shop.example`); empty:
    /// any `https` origin (and `http` on loopback).
    pub return_url_origins: Vec<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            idempotency_retention_hours: 24,
            return_url_origins: Vec::new(),
        }
    }
}

/// The embedded sandbox.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxConfig {
    /// Run Alipay's stand-in inside the server. Default: yes when no merchant names a gateway.
    pub embedded: Option<bool>,
    /// Create the demo user (`demo@sandbox.example`).
    pub demo_user: bool,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            embedded: None,
            demo_user: true,
        }
    }
}

/// One merchant: its Alipay credentials and its API keys.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MerchantConfig {
    /// Alipay's `client-id` for this merchant.
    pub client_id: Option<String>,
    /// Alipay's gateway: a region (`north_america`, `north_america_accelerated`, `asia`,
    /// `asia_accelerated`, `europe`, `us_merchants`) or a URL (`https://…`; `http://` only on
    /// loopback, e.g. a separately started `autodebit sandbox`).
    pub gateway: Option<String>,
    /// The merchant's private key (PEM or base64, PKCS#8 or PKCS#1).
    pub private_key: Option<Secret>,
    /// A file holding it.
    pub private_key_file: Option<PathBuf>,
    /// The version Alipay registered the merchant's public key under.
    pub key_version: Option<u32>,
    /// Alipay's public keys by key version: files (PEM or base64). Several during a rotation.
    pub alipay_public_key_files: BTreeMap<String, PathBuf>,
    /// An ISV's agent token for this merchant: the starting value. A token Alipay's ISV
    /// authorization notification hands over later (`POST /alipay/isv/notify`) takes precedence.
    pub agent_token: Option<Secret>,
    /// A file holding it.
    pub agent_token_file: Option<PathBuf>,
    /// This merchant's own Alipay client id, as the ISV authorization notification names it
    /// (`authClientId`): a notification naming it is this merchant's agent token. Unique.
    pub auth_client_id: Option<String>,
    /// SHA-256 (hex) of each API key this merchant may use.
    pub api_key_sha256: Vec<Secret>,
    /// A file with one SHA-256 (hex) per line.
    pub api_key_sha256_file: Option<PathBuf>,
    /// `settlementStrategy.settlementCurrency` of `pay` (default: the payment's currency).
    pub settlement_currency: Option<String>,
    /// Customs declarations of paid payments (China customs only; default off):
    /// `/v1/payments/{id}/customs_declarations`.
    pub customs_declarations: bool,
    /// For an acquirer or ISV: registering secondary merchants with Alipay (deprecated by Alipay
    /// for online payments since August 2022; default off): `/v1/secondary_merchant_registrations`.
    pub secondary_merchant_registration: bool,
    /// Where this merchant's events are sent, signed per Standard Webhooks.
    pub webhooks: Vec<WebhookEndpointConfig>,
}

/// A receiver of a merchant's events.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookEndpointConfig {
    /// Its URL: `https://…` (`http://` only on loopback).
    pub url: String,
    /// Its signing secrets (`whsec_…`), the newest first; two during a rotation.
    pub secrets: Vec<Secret>,
    /// A file with them instead, one a line.
    pub secrets_file: Option<PathBuf>,
}

/// A setting that is wrong, named.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {problem}")]
pub struct ConfigError {
    /// The setting, as a dotted path (`server.listen`, `merchants.shop.gateway`).
    pub setting: String,
    /// What is wrong.
    pub problem: String,
}

impl ConfigError {
    /// `setting` is wrong: `problem`.
    pub fn new(setting: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            setting: setting.into(),
            problem: problem.into(),
        }
    }
}

/// The environment variables the loader reads, as `(name, value)`: the process's, or a test's.
pub type Environment = Vec<(String, String)>;

/// The process's `AUTODEBIT_*` variables.
pub fn process_environment() -> Environment {
    std::env::vars()
        .filter(|(name, _)| name.starts_with("AUTODEBIT_"))
        .collect()
}

/// Variables that are not settings: read elsewhere (the dev API key) or by tests.
const NOT_SETTINGS: [&str; 3] = [
    "AUTODEBIT_DEV_API_KEY",
    "AUTODEBIT_TEST_DATABASE_URL",
    "AUTODEBIT_PROPTEST_CASES",
];

impl Config {
    /// Defaults, then `file` (when given), then the environment `env`.
    ///
    /// # Errors
    /// An unreadable or malformed file, an unknown setting, a value of the wrong type: named,
    /// with where it came from.
    pub fn load(file: Option<&Path>, env: &Environment) -> Result<Config, ConfigError> {
        // Every section has `#[serde(default)]`: what no source sets keeps its default.
        let mut figment = Figment::new();
        if let Some(file) = file {
            if !file.is_file() {
                return Err(ConfigError::new(
                    "--config",
                    format!("{} is not a readable file", file.display()),
                ));
            }
            figment = figment.merge(Toml::file_exact(file));
        }
        let mut nested = Vec::new();
        for (name, value) in env {
            if NOT_SETTINGS.contains(&name.as_str()) {
                continue;
            }
            match name.as_str() {
                "AUTODEBIT_DATABASE_URL" => {
                    nested.push(("AUTODEBIT_DATABASE__URL".to_owned(), value.clone()));
                }
                "AUTODEBIT_TOKEN_KEYS" => {
                    nested.push(("AUTODEBIT_DATABASE__TOKEN_KEYS".to_owned(), value.clone()));
                }
                _ if name.contains("__") => nested.push((name.clone(), value.clone())),
                _ => {
                    return Err(ConfigError::new(
                        name.clone(),
                        "not a setting: settings are AUTODEBIT_<SECTION>__<KEY> (two underscores), or AUTODEBIT_DATABASE_URL / AUTODEBIT_TOKEN_KEYS",
                    ));
                }
            }
        }
        // Exactly these variables (figment's own provider would read the whole process
        // environment).
        let figment = figment.merge(EnvSnapshot { vars: nested });
        figment.extract::<Config>().map_err(|e| {
            let setting = if e.path.is_empty() {
                "config".to_owned()
            } else {
                e.path.join(".")
            };
            let mut problem = e.kind.to_string();
            if let Some(source) = e.metadata.as_ref().and_then(|m| m.source.as_ref()) {
                problem.push_str(&format!(" (from {source})"));
            } else if let Some(metadata) = &e.metadata {
                problem.push_str(&format!(" (from {})", metadata.name));
            }
            ConfigError::new(setting, problem)
        })
    }

    /// Whether the embedded sandbox runs: `sandbox.embedded`, else when no merchant names a
    /// gateway.
    pub fn embedded_sandbox(&self) -> bool {
        self.sandbox
            .embedded
            .unwrap_or_else(|| self.merchants.values().all(|m| m.gateway.is_none()))
    }

    /// Checks every setting that can be checked without reading a file or the network.
    ///
    /// # Errors
    /// The first wrong setting, named.
    pub fn check(&self) -> Result<(), ConfigError> {
        let s = &self.server;
        if let Some(url) = &s.public_url {
            check_public_url(url).map_err(|p| ConfigError::new("server.public_url", p))?;
        } else if !s.listen.ip().is_loopback() && !s.listen.ip().is_unspecified() {
            return Err(ConfigError::new(
                "server.public_url",
                "must be set (https) when listening on a non-loopback address",
            ));
        }
        if s.listen.ip().is_unspecified() && s.public_url.is_none() {
            return Err(ConfigError::new(
                "server.public_url",
                "must be set when listening on all addresses: Alipay and the user's browser need a URL to reach this server",
            ));
        }
        for (setting, value, min, max) in [
            (
                "server.request_timeout_ms",
                s.request_timeout_ms,
                100,
                600_000,
            ),
            ("server.shutdown_grace_ms", s.shutdown_grace_ms, 0, 600_000),
            (
                "workers.idle_poll_max_ms",
                self.workers.idle_poll_max_ms,
                10,
                60_000,
            ),
            (
                "alipay.call_timeout_ms",
                self.alipay.call_timeout_ms,
                1_000,
                120_000,
            ),
            (
                "alipay.call_again_timeout_ms",
                self.alipay.call_again_timeout_ms,
                1_000,
                120_000,
            ),
            (
                "alipay.connect_timeout_ms",
                self.alipay.connect_timeout_ms,
                100,
                60_000,
            ),
            (
                "alipay.notification_skew_ms",
                self.alipay.notification_skew_ms,
                1_000,
                3_600_000,
            ),
        ] {
            if !(min..=max).contains(&value) {
                return Err(ConfigError::new(
                    setting,
                    format!("must be between {min} and {max}, found {value}"),
                ));
            }
        }
        if !(1_024..=16 * 1024 * 1024).contains(&s.body_limit_bytes) {
            return Err(ConfigError::new(
                "server.body_limit_bytes",
                format!(
                    "must be between 1024 and 16777216, found {}",
                    s.body_limit_bytes
                ),
            ));
        }
        if !(1..=100_000).contains(&s.concurrency_limit) {
            return Err(ConfigError::new(
                "server.concurrency_limit",
                format!(
                    "must be between 1 and 100000, found {}",
                    s.concurrency_limit
                ),
            ));
        }
        if self.workers.count > 64 {
            return Err(ConfigError::new(
                "workers.count",
                format!("must be at most 64, found {}", self.workers.count),
            ));
        }
        if self.api.idempotency_retention_hours < 24 {
            return Err(ConfigError::new(
                "api.idempotency_retention_hours",
                format!(
                    "must be at least 24 (idempotency keys are kept at least a day), found {}",
                    self.api.idempotency_retention_hours
                ),
            ));
        }
        for (i, origin) in self.api.return_url_origins.iter().enumerate() {
            check_origin(origin)
                .map_err(|p| ConfigError::new(format!("api.return_url_origins[{i}]"), p))?;
        }
        let database = self.database.url.expose();
        if self.database.url_file.is_none()
            && !database.starts_with("sqlite:")
            && !database.starts_with("postgres:")
            && !database.starts_with("postgresql:")
        {
            return Err(ConfigError::new(
                "database.url",
                "must start with sqlite: or postgres:",
            ));
        }
        if self.database.token_keys.is_some() && self.database.token_keys_file.is_some() {
            return Err(ConfigError::new(
                "database.token_keys_file",
                "give the token keys once: in the file or in database.token_keys (AUTODEBIT_TOKEN_KEYS), not both",
            ));
        }
        self.schedule()
            .map_err(|e| ConfigError::new(format!("schedule.{}", e.setting), e.problem))?;
        let embedded = self.embedded_sandbox();
        if embedded && let Some((id, _)) = self.merchants.iter().find(|(_, m)| m.gateway.is_some())
        {
            return Err(ConfigError::new(
                format!("merchants.{id}.gateway"),
                "a gateway is configured, so the embedded sandbox cannot run: set sandbox.embedded = false (or remove the gateway)",
            ));
        }
        if !embedded && self.merchants.is_empty() {
            return Err(ConfigError::new(
                "merchants",
                "without the embedded sandbox at least one merchant must be configured",
            ));
        }
        let mut auth_client_ids = BTreeMap::new();
        for (id, merchant) in &self.merchants {
            check_merchant_id(id).map_err(|p| ConfigError::new(format!("merchants.{id}"), p))?;
            merchant.check(id, embedded)?;
            if let Some(auth) = &merchant.auth_client_id
                && let Some(first) = auth_client_ids.insert(auth.as_str(), id)
            {
                return Err(ConfigError::new(
                    format!("merchants.{id}.auth_client_id"),
                    format!(
                        "{auth:?} is also merchants.{first}.auth_client_id: an ISV authorization names one merchant"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The domain's schedule: the defaults with every configured setting and `max_call_ms` the
    /// longest of the client's timeouts, validated.
    ///
    /// # Errors
    /// A setting out of its bounds.
    pub fn schedule(
        &self,
    ) -> Result<autodebit_domain::services::Schedule, autodebit_domain::services::ScheduleError>
    {
        self.schedule.resolve(
            self.alipay
                .call_timeout_ms
                .max(self.alipay.call_again_timeout_ms),
        )
    }

    /// The configuration as TOML, every secret shown as `<redacted>`.
    pub fn redacted(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot show: {e}\n"))
    }
}

impl MerchantConfig {
    fn check(&self, id: &str, embedded: bool) -> Result<(), ConfigError> {
        let setting = |key: &str| format!("merchants.{id}.{key}");
        if self.private_key.is_some() && self.private_key_file.is_some() {
            return Err(ConfigError::new(
                setting("private_key_file"),
                "give the private key once: in the file or in private_key, not both",
            ));
        }
        if self.agent_token.is_some() && self.agent_token_file.is_some() {
            return Err(ConfigError::new(
                setting("agent_token_file"),
                "give the agent token once: in the file or in agent_token, not both",
            ));
        }
        if let Some(auth) = &self.auth_client_id
            && (auth.is_empty() || auth.len() > 64 || !auth.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(ConfigError::new(
                setting("auth_client_id"),
                "must be an Alipay client id: 1 to 64 visible ASCII characters",
            ));
        }
        for hash in &self.api_key_sha256 {
            check_sha256(hash.expose())
                .map_err(|p| ConfigError::new(setting("api_key_sha256"), p))?;
        }
        for version in self.alipay_public_key_files.keys() {
            if version.parse::<u32>().map_or(true, |v| v == 0) {
                return Err(ConfigError::new(
                    setting("alipay_public_key_files"),
                    format!("key versions are positive numbers, found {version:?}"),
                ));
            }
        }
        if let Some(currency) = &self.settlement_currency
            && (currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()))
        {
            return Err(ConfigError::new(
                setting("settlement_currency"),
                format!("must be an ISO 4217 code like USD, found {currency:?}"),
            ));
        }
        let mut urls = std::collections::BTreeSet::new();
        for (n, hook) in self.webhooks.iter().enumerate() {
            let at = |key: &str| setting(&format!("webhooks[{n}].{key}"));
            check_secure_url(&hook.url).map_err(|p| ConfigError::new(at("url"), p))?;
            if !urls.insert(hook.url.as_str()) {
                return Err(ConfigError::new(at("url"), "given twice"));
            }
            if !hook.secrets.is_empty() && hook.secrets_file.is_some() {
                return Err(ConfigError::new(
                    at("secrets_file"),
                    "give the secrets once: in the file or in secrets, not both",
                ));
            }
            if hook.secrets_file.is_none() && !(1..=2).contains(&hook.secrets.len()) {
                return Err(ConfigError::new(
                    at("secrets"),
                    "one or two secrets (`whsec_…`; two during a rotation)",
                ));
            }
            for secret in &hook.secrets {
                secret
                    .expose()
                    .parse::<crate::webhooks::WebhookSecret>()
                    .map_err(|e| ConfigError::new(at("secrets"), e.to_string()))?;
            }
        }
        if embedded {
            if self.private_key.is_some()
                || self.private_key_file.is_some()
                || !self.alipay_public_key_files.is_empty()
            {
                return Err(ConfigError::new(
                    setting("private_key_file"),
                    "the embedded sandbox makes fresh development keys: remove the keys, or configure a gateway and set sandbox.embedded = false",
                ));
            }
            return Ok(());
        }
        if self.gateway.is_none() {
            return Err(ConfigError::new(
                setting("gateway"),
                "is required without the embedded sandbox (a region such as north_america, or a URL)",
            ));
        }
        if self.client_id.as_deref().is_none_or(str::is_empty) {
            return Err(ConfigError::new(setting("client_id"), "is required"));
        }
        if self.private_key.is_none() && self.private_key_file.is_none() {
            return Err(ConfigError::new(
                setting("private_key_file"),
                "is required (or private_key from the environment)",
            ));
        }
        if self.alipay_public_key_files.is_empty() {
            return Err(ConfigError::new(
                setting("alipay_public_key_files"),
                "is required: Alipay's public key by its version, e.g. { 1 = \"alipay_public.pem\" }",
            ));
        }
        if self.api_key_sha256.is_empty() && self.api_key_sha256_file.is_none() {
            return Err(ConfigError::new(
                setting("api_key_sha256"),
                "is required: the SHA-256 (hex) of at least one API key (`autodebit keys api-key` makes one)",
            ));
        }
        Ok(())
    }
}

/// A merchant id: 1–63 characters of `a-z`, `0-9`, `_`, `-`, starting with a letter or digit.
///
/// # Errors
/// What is wrong with it.
pub fn check_merchant_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 63
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && id.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{id:?} is not a merchant id: 1 to 63 characters of a-z, 0-9, _ and -, starting with a letter or digit"
        ))
    }
}

fn check_sha256(hex: &str) -> Result<(), String> {
    let hex = hex.strip_prefix("sha256:").unwrap_or(hex);
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err("each entry must be a SHA-256 in hex (64 characters)".into())
    }
}

/// Whether `host` (no port, IPv6 without brackets) is a loopback name or address.
pub fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The scheme and host of an absolute `http(s)` URL.
pub(crate) fn scheme_and_host(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    };
    if host.is_empty() {
        return None;
    }
    Some((scheme, host))
}

/// `https`, or `http` on a loopback host: what a URL that carries a user or a notification needs.
pub(crate) fn check_secure_url(url: &str) -> Result<(), String> {
    match scheme_and_host(url) {
        Some(("https", _)) => Ok(()),
        Some(("http", host)) if is_loopback_host(host) => Ok(()),
        Some(("http", _)) => Err(format!(
            "{url} must use https (plain http only on loopback)"
        )),
        _ => Err(format!("{url} is not an absolute http(s) URL")),
    }
}

/// A URL a user is sent to: `https` (plain `http` only on loopback), and its origin among
/// `origins` when any are configured.
///
/// # Errors
/// Why it is refused.
pub fn check_secure_url_for(url: &str, origins: &[String]) -> Result<(), String> {
    if url.len() > 1024 {
        return Err("return_url must have at most 1024 characters".into());
    }
    check_secure_url(url)?;
    if origins.is_empty() {
        return Ok(());
    }
    let rest = url.split_once("://").map_or("", |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let scheme = url.split("://").next().unwrap_or("");
    let origin = format!("{scheme}://{authority}");
    if origins.iter().any(|o| o.eq_ignore_ascii_case(&origin)) {
        Ok(())
    } else {
        Err(format!(
            "{origin} is not among the allowed origins (api.return_url_origins)"
        ))
    }
}

fn check_public_url(url: &str) -> Result<(), String> {
    check_secure_url(url)?;
    let rest = url.split_once("://").map_or("", |(_, r)| r);
    if rest.contains('?') || rest.contains('#') {
        return Err("must not have a query or fragment".into());
    }
    let path = rest.split_once('/').map_or("", |(_, p)| p);
    if !path.is_empty() {
        return Err(
            "must be an origin without a path (scheme://host[:port]): Alipay signs the notification path, so the server must see the paths it gives Alipay unchanged"
                .into(),
        );
    }
    Ok(())
}

fn check_origin(origin: &str) -> Result<(), String> {
    check_secure_url(origin)?;
    let rest = origin.split_once("://").map_or("", |(_, r)| r);
    if rest.contains('/') || rest.contains('?') || rest.contains('#') {
        return Err(format!(
            "{origin} is not an origin (scheme://host[:port], no path)"
        ));
    }
    Ok(())
}

/// figment's environment provider over a fixed list of variables instead of the process's.
struct EnvSnapshot {
    vars: Vec<(String, String)>,
}

impl figment::Provider for EnvSnapshot {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named("AUTODEBIT_* environment variables")
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        let mut dict = figment::value::Dict::new();
        for (name, value) in &self.vars {
            let Some(key) = name.strip_prefix("AUTODEBIT_") else {
                continue;
            };
            let path: Vec<String> = key.split("__").map(str::to_lowercase).collect();
            insert_path(&mut dict, &path, parse_env_value(value));
        }
        Ok(figment::Profile::Default.collect(dict))
    }
}

/// A variable's value as figment would read it: numbers, booleans and arrays parsed, else text.
fn parse_env_value(value: &str) -> figment::value::Value {
    value
        .parse::<figment::value::Value>()
        .unwrap_or_else(|_| figment::value::Value::from(value.to_owned()))
}

fn insert_path(dict: &mut figment::value::Dict, path: &[String], value: figment::value::Value) {
    match path {
        [] => {}
        [last] => {
            dict.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let entry = dict
                .entry(first.clone())
                .or_insert_with(|| figment::value::Value::from(figment::value::Dict::new()));
            if let figment::value::Value::Dict(_, inner) = entry {
                insert_path(inner, rest, value);
            } else {
                let mut inner = figment::value::Dict::new();
                insert_path(&mut inner, rest, value);
                *entry = figment::value::Value::from(inner);
            }
        }
    }
}

#[cfg(test)]
mod tests;
