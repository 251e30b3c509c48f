//! From a checked [`Config`] to what the server runs: the store, one [`Tenant`] per merchant
//! (its Alipay client, the domain's context over its scoped store, its API keys), and in sandbox
//! mode the embedded sandbox with fresh development keys, its demo user, and a development API
//! key. Secrets are read here, from files or the environment, and never shown.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ams_client::{AlipayPublicKeys, AmsClient, Gateway, KeyVersion, PrivateKey, PublicKey};
use ams_protocol::{Amount, Api, Currency, CustomerBelongsTo};
use ams_sandbox::{MerchantSettings, Sandbox, SandboxHandle, UserSpec};
use ams_signing::{Backend, GeneratedKeyPair};
use autodebit_alipay::{AlipayGateway, AlipayVerifier, ClientClock};

use crate::delivery::Endpoint;
use crate::metered::MeteredGateway;
use crate::webhooks::WebhookSecret;
use autodebit_domain::services::{Context, Settings};
use autodebit_store::{Keyring, SqlStore, StoreOptions};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::sync::Notify;

use crate::config::{self, Config, DEFAULT_MERCHANT, Environment, SANDBOX_CLIENT_ID};
use crate::http::alipay::{notify_path, return_path};
use crate::http::auth::{hash_key, parse_hash};
use crate::http::dto::{SandboxBody, parse_currency};
use crate::http::state::{AppState, KeyHash, Shared, Tenant};

/// The demo user's login in sandbox mode.
pub const DEMO_USER: &str = "demo@sandbox.example";

/// Why the server cannot start, with what to change.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A setting is wrong.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The database could not be opened.
    #[error("database: {0}")]
    Store(String),
    /// The embedded sandbox could not start.
    #[error("embedded sandbox: {0}")]
    Sandbox(String),
    /// The listener could not be bound.
    #[error("cannot listen on {addr}: {error}")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        error: std::io::Error,
    },
}

/// What a test (or an embedding program) may replace.
#[derive(Clone, Default)]
pub struct Options {
    /// The environment read for the development API key (`AUTODEBIT_DEV_API_KEY`).
    pub env: Environment,
    /// The clock (default: in sandbox mode the sandbox's, else the system's).
    pub clock: Option<Arc<dyn ams_client::Clock>>,
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("env", &self.env.len())
            .field("clock", &self.clock.is_some())
            .finish()
    }
}

/// What the server runs.
pub struct Runtime {
    /// The routes' state.
    pub state: AppState,
    /// The merchants.
    pub tenants: Vec<Tenant>,
    /// The embedded sandbox, in sandbox mode.
    pub sandbox: Option<Arc<SandboxHandle>>,
    /// The development API key, in sandbox mode.
    pub dev_api_key: Option<String>,
    /// Whether the development key was generated (then it is printed at start).
    pub dev_api_key_generated: bool,
    /// The database.
    pub store: SqlStore,
    /// How Alipay and browsers reach the server.
    pub public_url: String,
    /// Wakes the workers.
    pub wake: Arc<Notify>,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("tenants", &self.tenants)
            .field("sandbox", &self.sandbox.as_ref().map(|s| s.base_url()))
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

/// The sandbox's clock as the client's (and so the domain's): in sandbox mode a move of the
/// sandbox's clock moves the server's time with it. A test that runs the server against a sandbox
/// of its own (gateway mode) gives it as [`Options::clock`].
#[derive(Debug)]
pub struct SandboxTime {
    sandbox: Arc<SandboxHandle>,
    system: ams_client::SystemClock,
}

impl SandboxTime {
    /// `sandbox`'s clock for the wall time; the system's for durations and sleeps.
    pub fn new(sandbox: Arc<SandboxHandle>) -> Self {
        Self {
            sandbox,
            system: ams_client::SystemClock::new(),
        }
    }
}

impl ams_client::Clock for SandboxTime {
    fn unix_millis(&self) -> i64 {
        self.sandbox.clock().now_ms()
    }

    fn monotonic(&self) -> Duration {
        self.system.monotonic()
    }

    fn sleep(&self, duration: Duration) -> ams_client::Sleep<'_> {
        self.system.sleep(duration)
    }
}

fn read_secret(path: &Path, what: &str) -> Result<String, StartError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        StartError::Config(config::ConfigError::new(
            what,
            format!("cannot read {}: {e}", path.display()),
        ))
    })?;
    Ok(text.trim().to_owned())
}

/// Merchant `id`'s webhook endpoints with their secrets (from the configuration or its files).
fn webhook_endpoints(id: &str, m: &config::MerchantConfig) -> Result<Vec<Endpoint>, StartError> {
    let mut endpoints = Vec::with_capacity(m.webhooks.len());
    for (n, hook) in m.webhooks.iter().enumerate() {
        let setting = format!("merchants.{id}.webhooks[{n}].secrets");
        let texts: Vec<String> = match &hook.secrets_file {
            Some(path) => read_secret(path, &setting)?
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
            None => hook.secrets.iter().map(|s| s.expose().to_owned()).collect(),
        };
        if !(1..=2).contains(&texts.len()) {
            return Err(config_error(setting, "one or two secrets (`whsec_…`)"));
        }
        let secrets = texts
            .iter()
            .map(|t| t.parse::<WebhookSecret>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| config_error(setting.clone(), e.to_string()))?;
        endpoints.push(Endpoint {
            id: crate::delivery::config_endpoint_id(&hook.url),
            url: hook.url.clone(),
            secrets,
        });
    }
    Ok(endpoints)
}

fn config_error(setting: impl Into<String>, problem: impl Into<String>) -> StartError {
    StartError::Config(config::ConfigError::new(setting, problem))
}

/// The metrics registry, installed once per process.
pub fn metrics_handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(crate::metered::RESOLVE_SECONDS.to_owned()),
                    &crate::metered::RESOLVE_BUCKETS,
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(crate::metered::INQUIRIES.to_owned()),
                        &crate::metered::INQUIRY_BUCKETS,
                    )
                })
                .ok()?
                .install_recorder()
                .ok()
        })
        .clone()
}

/// Where sandbox mode keeps its token encryption key when none is configured: beside the SQLite
/// file, created once (mode 0600) so tokens sealed in one run open in the next.
fn dev_token_keys(database_url: &str) -> Result<String, StartError> {
    let path = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))
        .map(|p| PathBuf::from(format!("{p}.dev-token-key")))
        .ok_or_else(|| {
            config_error(
                "database.token_keys",
                "is required with PostgreSQL (AUTODEBIT_TOKEN_KEYS or database.token_keys_file; `autodebit keys token-key` makes one)",
            )
        })?;
    if let Ok(text) = std::fs::read_to_string(&path) {
        return Ok(text.trim().to_owned());
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| StartError::Store(format!("random source: {e}")))?;
    let entry = format!(
        "1:{}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes)
    );
    write_private(&path, &format!("{entry}\n")).map_err(|e| {
        StartError::Store(format!(
            "cannot write the development token key {}: {e}",
            path.display()
        ))
    })?;
    Ok(entry)
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)?.write_all(text.as_bytes())
}

/// The pair's private key as a key of its own (keys are not `Clone`, by design).
fn owned_private(pair: &GeneratedKeyPair) -> Result<PrivateKey, StartError> {
    PrivateKey::from_text(&pair.private_pkcs8_pem())
        .map_err(|e| StartError::Sandbox(format!("development key: {e}")))
}

/// A public key as a key of its own.
fn owned_public(key: &PublicKey) -> Result<PublicKey, StartError> {
    PublicKey::from_text(&key.to_pem())
        .map_err(|e| StartError::Sandbox(format!("development key: {e}")))
}

/// A new development API key.
fn new_api_key() -> Result<String, StartError> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| StartError::Store(format!("random source: {e}")))?;
    Ok(format!(
        "sk_sandbox_{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ))
}

fn gateway_of(id: &str, text: &str) -> Result<Gateway, StartError> {
    parse_gateway(text).map_err(|e| config_error(format!("merchants.{id}.gateway"), e))
}

/// A gateway by region name (`north_america`, `north_america_accelerated`, `asia`,
/// `asia_accelerated`, `europe`, `us_merchants`) or URL.
///
/// # Errors
/// Why the URL is refused.
pub fn parse_gateway(text: &str) -> Result<Gateway, String> {
    Ok(match text {
        "north_america" => Gateway::NorthAmerica,
        "north_america_accelerated" => Gateway::NorthAmericaAccelerated,
        "asia" => Gateway::Asia,
        "asia_accelerated" => Gateway::AsiaAccelerated,
        "europe" => Gateway::Europe,
        "us_merchants" => Gateway::UsMerchants,
        url => Gateway::url(url).map_err(|e| e.to_string())?,
    })
}

/// One merchant's Alipay credentials, resolved.
struct Credentials {
    client_id: String,
    gateway: Gateway,
    private_key: PrivateKey,
    key_version: KeyVersion,
    alipay_keys: AlipayPublicKeys,
    agent_token: Option<String>,
}

fn credentials(id: &str, m: &config::MerchantConfig) -> Result<Credentials, StartError> {
    let setting = |k: &str| format!("merchants.{id}.{k}");
    let private_text = match (&m.private_key, &m.private_key_file) {
        (Some(key), _) => key.expose().to_owned(),
        (None, Some(path)) => read_secret(path, &setting("private_key_file"))?,
        (None, None) => return Err(config_error(setting("private_key_file"), "is required")),
    };
    let private_key = PrivateKey::from_text(&private_text)
        .map_err(|e| config_error(setting("private_key_file"), e.to_string()))?;
    let mut keys: Option<AlipayPublicKeys> = None;
    for (version, path) in &m.alipay_public_key_files {
        let version = KeyVersion::new(version.parse().unwrap_or(1));
        let text = read_secret(path, &setting("alipay_public_key_files"))?;
        let key = PublicKey::from_text(&text).map_err(|e| {
            config_error(
                setting("alipay_public_key_files"),
                format!("{}: {e}", path.display()),
            )
        })?;
        keys = Some(match keys {
            None => AlipayPublicKeys::new(version, key),
            Some(keys) => keys.with(version, key),
        });
    }
    let alipay_keys =
        keys.ok_or_else(|| config_error(setting("alipay_public_key_files"), "is required"))?;
    let agent_token = match (&m.agent_token, &m.agent_token_file) {
        (Some(t), _) => Some(t.expose().to_owned()),
        (None, Some(path)) => Some(read_secret(path, &setting("agent_token_file"))?),
        (None, None) => None,
    };
    Ok(Credentials {
        client_id: m.client_id.clone().unwrap_or_default(),
        gateway: gateway_of(id, m.gateway.as_deref().unwrap_or(""))?,
        private_key,
        key_version: KeyVersion::new(m.key_version.unwrap_or(1)),
        alipay_keys,
        agent_token,
    })
}

fn api_keys(id: &str, m: &config::MerchantConfig) -> Result<Vec<KeyHash>, StartError> {
    let mut out = Vec::new();
    for hash in &m.api_key_sha256 {
        out.push(parse_hash(hash.expose()).ok_or_else(|| {
            config_error(
                format!("merchants.{id}.api_key_sha256"),
                "not a SHA-256 in hex",
            )
        })?);
    }
    if let Some(path) = &m.api_key_sha256_file {
        let text = read_secret(path, &format!("merchants.{id}.api_key_sha256_file"))?;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            out.push(parse_hash(line).ok_or_else(|| {
                config_error(
                    format!("merchants.{id}.api_key_sha256_file"),
                    format!("line {} is not a SHA-256 in hex", n + 1),
                )
            })?);
        }
    }
    Ok(out)
}

/// Opens the store `config.database` names (its URL or `url_file`; its token keys, their file, or
/// in sandbox mode the development key beside the SQLite file), migrated: what `serve` runs on,
/// and what the admin commands open beside it.
///
/// # Errors
/// A wrong setting, an unreadable secret, the database failing to open.
pub async fn open_store(config: &Config) -> Result<SqlStore, StartError> {
    let embedded = config.embedded_sandbox();
    let database_url = match &config.database.url_file {
        Some(path) => read_secret(path, "database.url_file")?,
        None => config.database.url.expose().to_owned(),
    };
    let token_keys = match (
        &config.database.token_keys,
        &config.database.token_keys_file,
    ) {
        (Some(keys), _) => keys.expose().to_owned(),
        (None, Some(path)) => read_secret(path, "database.token_keys_file")?,
        (None, None) if embedded => dev_token_keys(&database_url)?,
        (None, None) => {
            return Err(config_error(
                "database.token_keys",
                "is required: AUTODEBIT_TOKEN_KEYS or database.token_keys_file (`autodebit keys token-key` makes one)",
            ));
        }
    };
    let keyring = Keyring::parse(&token_keys)
        .map_err(|e| config_error("database.token_keys", e.to_string()))?;
    let mut store_options =
        StoreOptions::new(database_url).allow_unverified_tls(config.database.allow_unverified_tls);
    if let Some(n) = config.database.max_connections {
        store_options = store_options.max_connections(n);
    }
    if let Some(schema) = &config.database.schema {
        store_options = store_options.schema(schema.clone());
    }
    let store = SqlStore::open(store_options, keyring)
        .await
        .map_err(|e| StartError::Store(e.to_string()))?;
    Ok(store)
}

/// Builds everything but the listener: `public_url` is how the server is reached (its listener
/// must already be bound, so a port 0 is known).
///
/// # Errors
/// A wrong setting, an unreadable secret, the database or the sandbox failing to start.
pub async fn build(
    config: &Config,
    public_url: &str,
    options: Options,
) -> Result<Runtime, StartError> {
    config.check()?;
    let embedded = config.embedded_sandbox();
    let store = open_store(config).await?;
    store.observe(Arc::new(crate::metered::CommitMetrics));

    let mut merchants: BTreeMap<String, config::MerchantConfig> = config.merchants.clone();
    if embedded && merchants.is_empty() {
        merchants.insert(
            DEFAULT_MERCHANT.to_owned(),
            config::MerchantConfig::default(),
        );
    }

    // Sandbox mode: fresh keys, the sandbox, the development API key.
    let mut sandbox = None;
    let mut sandbox_keys: BTreeMap<String, (String, PrivateKey)> = BTreeMap::new();
    let mut dev_api_key = None;
    let mut dev_api_key_generated = false;
    if embedded {
        let alipay = GeneratedKeyPair::generate(Backend::default(), 2048)
            .map_err(|e| StartError::Sandbox(format!("key generation: {e}")))?;
        let mut builder = Sandbox::builder().alipay_key(owned_private(&alipay)?);
        for (n, (id, m)) in merchants.iter().enumerate() {
            let pair = GeneratedKeyPair::generate(Backend::default(), 2048)
                .map_err(|e| StartError::Sandbox(format!("key generation: {e}")))?;
            let client_id = m.client_id.clone().unwrap_or_else(|| {
                if n == 0 {
                    SANDBOX_CLIENT_ID.to_owned()
                } else {
                    format!("SANDBOX_5X{n:014}")
                }
            });
            builder = builder
                .merchant(client_id.clone(), owned_public(pair.public_key())?)
                .merchant_settings(
                    client_id.clone(),
                    MerchantSettings {
                        name: Some(format!("Sandbox merchant {id}")),
                        ..MerchantSettings::default()
                    },
                );
            sandbox_keys.insert(id.clone(), (client_id, owned_private(&pair)?));
        }
        if config.sandbox.demo_user {
            builder = builder.user(UserSpec::new(
                DEMO_USER,
                CustomerBelongsTo::AlipayCn,
                vec![
                    Amount::new(Currency::USD, 100_000),
                    Amount::new(Currency::CNY, 1_000_000),
                ],
            ));
        }
        let handle = builder
            .start_local()
            .await
            .map_err(|e| StartError::Sandbox(e.to_string()))?;
        sandbox = Some(Arc::new(handle));
        let from_env = options
            .env
            .iter()
            .find(|(k, _)| k == "AUTODEBIT_DEV_API_KEY")
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty());
        dev_api_key_generated = from_env.is_none();
        dev_api_key = Some(match from_env {
            Some(key) => key,
            None => new_api_key()?,
        });
    }

    let clock: Arc<dyn ams_client::Clock> = match (&options.clock, &sandbox) {
        (Some(clock), _) => clock.clone(),
        (None, Some(sandbox)) => Arc::new(SandboxTime::new(sandbox.clone())),
        (None, None) => Arc::new(ams_client::SystemClock::new()),
    };
    let schedule = config
        .schedule()
        .map_err(|e| config_error(format!("schedule.{}", e.setting), e.problem))?;

    let mut tenants = Vec::new();
    let mut keys = Vec::new();
    for (n, (id, m)) in merchants.iter().enumerate() {
        let creds = match (&sandbox, sandbox_keys.remove(id)) {
            (Some(sandbox), Some((client_id, private_key))) => Credentials {
                client_id,
                gateway: Gateway::url(sandbox.base_url())
                    .map_err(|e| StartError::Sandbox(e.to_string()))?,
                private_key,
                key_version: KeyVersion::DEFAULT,
                alipay_keys: AlipayPublicKeys::single(owned_public(sandbox.alipay_public_key())?),
                agent_token: None,
            },
            _ => credentials(id, m)?,
        };
        let mut client = AmsClient::builder()
            .gateway(creds.gateway)
            .client_id(creds.client_id)
            .merchant_key(creds.private_key, creds.key_version)
            .alipay_public_keys(creds.alipay_keys)
            .connect_timeout(Duration::from_millis(config.alipay.connect_timeout_ms))
            .call_timeout(Duration::from_millis(config.alipay.call_timeout_ms))
            .shared_clock(clock.clone())
            .notification_skew_window(Some(Duration::from_millis(
                config.alipay.notification_skew_ms,
            )));
        for api in [Api::InquiryPayment, Api::Cancel, Api::Refund] {
            client = client.api_timeout(
                api,
                Duration::from_millis(config.alipay.call_again_timeout_ms),
            );
        }
        if let Some(token) = creds.agent_token {
            client = client.agent_token(token);
        }
        let client = client
            .build()
            .map_err(|e| config_error(format!("merchants.{id}"), e.to_string()))?;
        let settings = Settings {
            auth_redirect_url: Some(format!("{public_url}{}", return_path(id))),
            auth_notify_url: Some(format!("{public_url}{}", notify_path(id, "authorizations"))),
            payment_notify_url: Some(format!("{public_url}{}", notify_path(id, "payments"))),
            refund_notify_url: Some(format!("{public_url}{}", notify_path(id, "refunds"))),
            settlement_currency: m.settlement_currency.as_deref().and_then(parse_currency),
            customs_declarations: m.customs_declarations,
            secondary_merchant_registration: m.secondary_merchant_registration,
            registration_notify_url: Some(format!(
                "{public_url}{}",
                notify_path(id, "registrations")
            )),
            ..Settings::default()
        };
        let scoped = store
            .for_merchant(id)
            .map_err(|e| config_error(format!("merchants.{id}"), e.to_string()))?;
        // An agent token received from Alipay (by any replica) wins over the configured one.
        let agent_tokens = Arc::new(crate::agent_tokens::StoreAgentTokens::new(
            scoped.clone(),
            Arc::new(ClientClock::new(clock.clone())),
        ));
        let ctx = Context::new(
            Arc::new(scoped.clone()),
            Arc::new(MeteredGateway::new(
                Arc::new(
                    AlipayGateway::new(client.clone()).with_agent_tokens(agent_tokens.clone()),
                ),
                id.clone(),
            )),
            Arc::new(ClientClock::new(clock.clone())),
        )
        .with_verifier(Arc::new(AlipayVerifier::new(
            client.notification_verifier(),
        )))
        .with_schedule(schedule.clone())
        .with_settings(settings);
        for hash in api_keys(id, m)? {
            keys.push((hash, id.clone()));
        }
        if n == 0
            && let Some(key) = &dev_api_key
        {
            keys.push((hash_key(key), id.clone()));
        }
        let webhooks = webhook_endpoints(id, m)?;
        let configured: Vec<(String, String)> = webhooks
            .iter()
            .map(|e| (e.id.clone(), e.url.clone()))
            .collect();
        scoped
            .record_config_endpoints(&configured, ctx.now())
            .await
            .map_err(|e| StartError::Store(e.to_string()))?;
        let mut tenant = Tenant::with_webhooks(id.clone(), ctx, scoped, webhooks);
        if let Some(auth_client_id) = &m.auth_client_id {
            tenant = tenant.with_agent_tokens(auth_client_id.clone(), agent_tokens);
        }
        tenants.push(tenant);
    }

    let wake = Arc::new(Notify::new());
    let request_timeout_ms = config.server.request_timeout_ms;
    let state = AppState::new(Shared {
        tenants: tenants
            .iter()
            .map(|t| (t.id().to_owned(), t.clone()))
            .collect(),
        api_keys: keys,
        sandbox: sandbox.as_ref().map(|s| SandboxBody {
            sandbox_url: s.base_url().to_owned(),
            demo_user: config.sandbox.demo_user.then(|| DEMO_USER.to_owned()),
        }),
        sandbox_handle: sandbox.clone(),
        wake: wake.clone(),
        metrics: metrics_handle(),
        store: store.clone(),
        clock: Arc::new(ClientClock::new(clock)),
        idempotency_hold_ms: i64::try_from(request_timeout_ms.saturating_mul(2) + 5_000)
            .unwrap_or(i64::MAX),
        return_url_origins: config.api.return_url_origins.clone(),
        body_limit: config.server.body_limit_bytes,
        request_timeout_ms,
        concurrency_limit: config.server.concurrency_limit,
    });
    Ok(Runtime {
        state,
        tenants,
        sandbox,
        dev_api_key,
        dev_api_key_generated,
        store,
        public_url: public_url.to_owned(),
        wake,
    })
}
