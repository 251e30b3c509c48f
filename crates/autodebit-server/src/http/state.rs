//! What every handler reads: the merchants (each with its domain context and its scoped store),
//! the API keys, the embedded sandbox's address, the job runner's wake-up, and the metrics.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use autodebit_domain::model::Millis;
use autodebit_domain::ports::Clock;
use autodebit_domain::services::Context;
use autodebit_store::SqlStore;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::Notify;

use super::dto::SandboxBody;

/// One merchant as the server serves it.
#[derive(Clone)]
pub struct Tenant(Arc<TenantInner>);

struct TenantInner {
    id: String,
    ctx: Context,
    store: SqlStore,
    webhooks: Vec<crate::delivery::Endpoint>,
    /// `merchants.ID.auth_client_id`, and where its gateway reads the agent token.
    agent: Option<(String, Arc<crate::agent_tokens::StoreAgentTokens>)>,
}

impl Tenant {
    /// Merchant `id`: its flows run over `ctx`, whose store is `store` (scoped to it).
    pub fn new(id: impl Into<String>, ctx: Context, store: SqlStore) -> Self {
        Self::with_webhooks(id, ctx, store, Vec::new())
    }

    /// As [`Tenant::new`], its events sent to `webhooks`.
    pub fn with_webhooks(
        id: impl Into<String>,
        ctx: Context,
        store: SqlStore,
        webhooks: Vec<crate::delivery::Endpoint>,
    ) -> Self {
        Self(Arc::new(TenantInner {
            id: id.into(),
            ctx,
            store,
            webhooks,
            agent: None,
        }))
    }

    /// This tenant with the agent tokens of the ISV authorization notifications naming
    /// `auth_client_id`: kept in its store, then read by its gateway through `tokens`.
    #[must_use]
    pub fn with_agent_tokens(
        self,
        auth_client_id: String,
        tokens: Arc<crate::agent_tokens::StoreAgentTokens>,
    ) -> Self {
        let inner = &self.0;
        Self(Arc::new(TenantInner {
            id: inner.id.clone(),
            ctx: inner.ctx.clone(),
            store: inner.store.clone(),
            webhooks: inner.webhooks.clone(),
            agent: Some((auth_client_id, tokens)),
        }))
    }

    /// Its `authClientId` and agent tokens, when configured.
    pub fn agent_tokens(&self) -> Option<(&str, &crate::agent_tokens::StoreAgentTokens)> {
        self.0
            .agent
            .as_ref()
            .map(|(auth, tokens)| (auth.as_str(), &**tokens))
    }

    /// Where its events are sent.
    pub fn webhooks(&self) -> &[crate::delivery::Endpoint] {
        &self.0.webhooks
    }

    /// The merchant's id.
    pub fn id(&self) -> &str {
        &self.0.id
    }

    /// What its flows run over.
    pub fn ctx(&self) -> &Context {
        &self.0.ctx
    }

    /// Its store (idempotency records, inspection).
    pub fn store(&self) -> &SqlStore {
        &self.0.store
    }
}

impl fmt::Debug for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tenant").field("id", &self.0.id).finish()
    }
}

/// The SHA-256 of an API key.
pub type KeyHash = [u8; 32];

/// The state behind every route. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] holds.
#[allow(
    missing_debug_implementations,
    reason = "AppState's Debug shows what may be shown of it"
)]
pub struct Shared {
    /// The merchants, by id.
    pub tenants: BTreeMap<String, Tenant>,
    /// Each API key's hash and its merchant.
    pub api_keys: Vec<(KeyHash, String)>,
    /// The embedded sandbox, in sandbox mode.
    pub sandbox: Option<SandboxBody>,
    /// The embedded sandbox itself, in sandbox mode (the console's fault injection).
    pub sandbox_handle: Option<Arc<ams_sandbox::SandboxHandle>>,
    /// Wakes the job runner when a request may have added due work.
    pub wake: Arc<Notify>,
    /// The metrics registry, when one is installed.
    pub metrics: Option<PrometheusHandle>,
    /// The database (readiness).
    pub store: SqlStore,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// How long an idempotency key is held by a request under way before another may take over
    /// (longer than any request may run).
    pub idempotency_hold_ms: Millis,
    /// Where an authorization's `return_url` may point (empty: any https origin).
    pub return_url_origins: Vec<String>,
    /// The largest request body.
    pub body_limit: usize,
    /// The longest a request may take.
    pub request_timeout_ms: u64,
    /// At most this many requests at once.
    pub concurrency_limit: usize,
}

impl AppState {
    /// The state over `shared`.
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }

    /// What it holds.
    pub fn shared(&self) -> &Shared {
        &self.0
    }

    /// Merchant `id`.
    pub fn tenant(&self, id: &str) -> Option<&Tenant> {
        self.0.tenants.get(id)
    }

    /// Now.
    pub fn now(&self) -> Millis {
        self.0.clock.now_ms()
    }
}

impl fmt::Debug for AppState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppState")
            .field("tenants", &self.0.tenants.keys().collect::<Vec<_>>())
            .field("api_keys", &self.0.api_keys.len())
            .finish_non_exhaustive()
    }
}
