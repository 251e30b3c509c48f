//! Requests in transit: a call held by a hold fault is kept here, unprocessed, until it is due
//! (sandbox time) or released, and then runs as a fresh arrival at the moment of its release.
//!
//! Whoever reads the clock releases what is due before doing anything else under the same lock: a
//! gateway call (before its own processing), a move of the clock through the control API or the
//! handle, and the notifier (in real time). Released calls run in due order, then in the order
//! they were held; their answers go nowhere (the caller's connection is long closed).

use super::World;
use crate::call::{Call, WalletUrls};
use crate::model::HeldRequest;
use crate::util::ams_time;

/// One held call.
pub(crate) struct Held {
    seq: u64,
    client_id: String,
    call: Call,
    /// Where the wallet's pages live, for a held consult or pay.
    wallet: WalletUrls,
    held_at_ms: i64,
    due_ms: i64,
}

impl Held {
    fn view(&self) -> HeldRequest {
        HeldRequest {
            seq: self.seq,
            api: self.call.api(),
            client_id: self.client_id.clone(),
            request_id: self.call.public_id(),
            held_at_ms: self.held_at_ms,
            due_ms: self.due_ms,
            due: ams_time(self.due_ms).into_inner(),
        }
    }
}

impl World {
    /// Holds an admitted call, unprocessed, until `now + ms` (sandbox time) or an explicit release.
    pub(crate) fn hold(
        &mut self,
        client_id: &str,
        call: Call,
        wallet: WalletUrls,
        now: i64,
        ms: u64,
    ) -> HeldRequest {
        self.held_count += 1;
        let held = Held {
            seq: self.held_count,
            client_id: client_id.to_owned(),
            call,
            wallet,
            held_at_ms: now,
            due_ms: now.saturating_add(i64::try_from(ms).unwrap_or(i64::MAX)),
        };
        let view = held.view();
        self.held.push(held);
        view
    }

    /// What is held now, in the order it will be released.
    pub(crate) fn held(&self) -> Vec<HeldRequest> {
        let mut views: Vec<HeldRequest> = self.held.iter().map(Held::view).collect();
        views.sort_by_key(|h| (h.due_ms, h.seq));
        views
    }

    /// When the next held call is due, if any is held.
    pub(crate) fn next_held_due(&self) -> Option<i64> {
        self.held.iter().map(|h| h.due_ms).min()
    }

    /// Runs every held call due at `now` (due at or before it), as fresh arrivals at `now`.
    pub(crate) fn release_due(&mut self, now: i64) -> Vec<HeldRequest> {
        self.release(now, |held| held.due_ms <= now)
    }

    /// Runs every held call now, whether due or not, as fresh arrivals at `now`.
    pub(crate) fn release_all(&mut self, now: i64) -> Vec<HeldRequest> {
        self.release(now, |_| true)
    }

    fn release(&mut self, now: i64, pick: impl Fn(&Held) -> bool) -> Vec<HeldRequest> {
        if !self.held.iter().any(&pick) {
            return Vec::new();
        }
        let (mut released, kept): (Vec<Held>, Vec<Held>) =
            std::mem::take(&mut self.held).into_iter().partition(pick);
        self.held = kept;
        released.sort_by_key(|h| (h.due_ms, h.seq));
        let mut views = Vec::with_capacity(released.len());
        for held in released {
            let view = held.view();
            let _answer = held.call.apply(self, &held.client_id, &held.wallet, now);
            tracing::debug!(
                api = view.api.name(),
                seq = view.seq,
                "held request released"
            );
            views.push(view);
        }
        views
    }
}
