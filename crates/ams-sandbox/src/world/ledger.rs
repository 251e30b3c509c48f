//! The ledger: every debit and credit, the proof that a payment debits at most once.

use ams_protocol::Amount;

use super::World;
use crate::model::{EntryKind, EntryReason, LedgerEntry, LedgerView};

impl World {
    pub(super) fn post(
        &mut self,
        now: i64,
        payment: usize,
        kind: EntryKind,
        reason: EntryReason,
        amount: Amount,
        refund: Option<String>,
    ) {
        let p = &self.payments[payment];
        let user = p.user.clone().unwrap_or_default();
        let entry = LedgerEntry {
            seq: self.ledger.len() as u64 + 1,
            at_ms: now,
            user: user.clone(),
            kind,
            reason,
            amount,
            client_id: p.client_id.clone(),
            payment_request_id: p.payment_request_id.clone(),
            payment_id: p.payment_id.clone(),
            refund_request_id: refund,
        };
        self.ledger.push(entry);
        if let Some(balance) = self.balance_mut(&user, amount.currency) {
            let value = match kind {
                EntryKind::Debit => balance.minor_units().saturating_sub(amount.minor_units()),
                EntryKind::Credit => balance.minor_units().saturating_add(amount.minor_units()),
            };
            *balance = Amount::new(amount.currency, value);
        }
    }

    pub(crate) fn ledger(
        &self,
        payment_request_id: Option<&str>,
        user: Option<&str>,
    ) -> LedgerView {
        let entries: Vec<LedgerEntry> = self
            .ledger
            .iter()
            .filter(|e| payment_request_id.is_none_or(|p| e.payment_request_id == p))
            .filter(|e| user.is_none_or(|u| e.user == u))
            .cloned()
            .collect();
        let debits = entries
            .iter()
            .filter(|e| e.kind == EntryKind::Debit)
            .count() as u32;
        let credits = entries
            .iter()
            .filter(|e| e.kind == EntryKind::Credit)
            .count() as u32;
        LedgerView {
            entries,
            debits,
            credits,
        }
    }
}
