//! Each merchant's agent token as the gateway reads it: the token Alipay's ISV authorization
//! notification last handed over (`POST /alipay/isv/notify`, kept in the database so that every
//! replica uses the token any of them received), else the configured one.
//!
//! Reading the database on every call to Alipay would be one query per call: the token read is
//! kept for at most [`CACHE_MS`] on the clock. The replica that receives a new token forgets its
//! copy at once ([`StoreAgentTokens::forget`]); the others use the new one within [`CACHE_MS`].

use std::sync::Arc;
use std::sync::Mutex;

use ams_protocol::AgentToken;
use async_trait::async_trait;
use autodebit_alipay::AgentTokenSource;
use autodebit_domain::model::Millis;
use autodebit_domain::ports::Clock;
use autodebit_store::SqlStore;

/// How long a token read from the database is used before it is read again (ms).
pub const CACHE_MS: Millis = 5_000;

/// What was last read, and when.
#[derive(Default)]
struct Cached {
    /// `(read at, token)`.
    read: Option<(Millis, Option<AgentToken>)>,
    /// Bumped by [`StoreAgentTokens::forget`]: a read that began before it is not kept.
    generation: u64,
}

/// One merchant's agent token, read from its store.
pub struct StoreAgentTokens {
    store: SqlStore,
    clock: Arc<dyn Clock>,
    cached: Mutex<Cached>,
}

impl std::fmt::Debug for StoreAgentTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreAgentTokens")
            .field("merchant", &self.store.merchant())
            .finish_non_exhaustive()
    }
}

impl StoreAgentTokens {
    /// The token of `store`'s merchant, the time read from `clock`.
    pub fn new(store: SqlStore, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            cached: Mutex::new(Cached::default()),
        }
    }

    /// Forgets what was read: the next call reads the database (a new token was just kept).
    pub fn forget(&self) {
        let mut cached = self.lock();
        cached.read = None;
        cached.generation = cached.generation.wrapping_add(1);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cached> {
        self.cached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl AgentTokenSource for StoreAgentTokens {
    async fn current(&self) -> Option<AgentToken> {
        let now = self.clock.now_ms();
        let (generation, last) = {
            let cached = self.lock();
            if let Some((at, token)) = &cached.read
                && (*at..at.saturating_add(CACHE_MS)).contains(&now)
            {
                return token.clone();
            }
            (
                cached.generation,
                cached.read.as_ref().and_then(|(_, t)| t.clone()),
            )
        };
        match self.store.agent_token().await {
            Ok(record) => {
                let token = record.map(|r| r.token);
                let mut cached = self.lock();
                if cached.generation == generation {
                    cached.read = Some((now, token.clone()));
                }
                token
            }
            Err(error) => {
                // The call goes on with the token last read (else the configured one); the
                // database's trouble shows in its own metrics and in the flows.
                tracing::warn!(merchant = self.store.merchant(), %error, "the agent token could not be read");
                last
            }
        }
    }
}
