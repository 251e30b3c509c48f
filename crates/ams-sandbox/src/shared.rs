//! What every part of a running sandbox shares: the world, the clock, Alipay's key, the notifier's
//! wake-up signal, who may use the control API.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ams_signing::Signer;
use tokio::sync::Notify;

use crate::access::Access;
use crate::call::WalletUrls;
use crate::clock::SandboxClock;
use crate::world::World;

/// The state of one running sandbox.
pub(crate) struct Shared {
    pub(crate) world: Mutex<World>,
    pub(crate) clock: Arc<SandboxClock>,
    /// Alipay's signing key (responses and notifications).
    pub(crate) alipay: Signer,
    /// Wakes the notifier when the outbox changes.
    pub(crate) outbox_signal: Notify,
    /// Where this sandbox listens, e.g. `http://127.0.0.1:4242`.
    pub(crate) base_url: String,
    /// The client for notifications to merchants.
    pub(crate) http: reqwest::Client,
    /// How long a merchant has to acknowledge one notification attempt.
    pub(crate) notify_timeout: Duration,
    /// The names the control API and the wallet's pages answer to, and the control token.
    pub(crate) access: Access,
}

impl Shared {
    /// The world, under its lock. A panic while holding it cannot leave a half-applied call
    /// visible to others in a way that matters to a test double, so poisoning is ignored.
    pub(crate) fn lock(&self) -> MutexGuard<'_, World> {
        self.world
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Where the wallet's pages (consent, payment) live on this sandbox.
    pub(crate) fn wallet_urls(&self) -> WalletUrls {
        WalletUrls::new(&self.base_url)
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}
