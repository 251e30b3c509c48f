//! What an operator's gauges show for one merchant, read in one go: payments by state, the job
//! queue (due, how late the oldest due job is, set aside as dead) and open attention items. The
//! server reads it when `/metrics` is scraped; every figure is a `COUNT` or a `MIN` over an
//! indexed column, never a walk of the rows.

use autodebit_domain::lifecycle::order::OrderState;
use autodebit_domain::model::Millis;
use autodebit_domain::ports::StoreError;

use crate::SqlStore;
use crate::db::Value;

/// One merchant's gauges at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Gauges {
    /// Payments (business orders) by state, every state listed (none: 0), so a gauge of a state
    /// no payment is in any more reads 0 rather than its last value.
    pub orders_by_state: Vec<(OrderState, u64)>,
    /// Jobs due now (leased or not).
    pub jobs_due: u64,
    /// How long the oldest due job has been due, in milliseconds (0 when none is due).
    pub oldest_due_ms: i64,
    /// Jobs set aside as dead letters.
    pub jobs_dead: u64,
    /// Attention items not resolved.
    pub attention_open: u64,
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl SqlStore {
    /// This merchant's gauges at `now`.
    ///
    /// # Errors
    /// As any read.
    pub async fn gauges(&self, now: Millis) -> Result<Gauges, StoreError> {
        let merchant: Value = self.merchant().into();
        let mut tx = self.begin_tx().await?;
        let counted = tx
            .read(
                "SELECT state, COUNT(*) FROM orders WHERE merchant_id = $1 GROUP BY state ORDER BY state",
                vec![merchant.clone()],
                |row, _| Ok((row.text(0)?, count(row.int(1)?))),
            )
            .await?;
        let orders_by_state = OrderState::ALL
            .into_iter()
            .map(|state| {
                let n = counted
                    .iter()
                    .find(|(name, _)| name == state.name())
                    .map_or(0, |(_, n)| *n);
                (state, n)
            })
            .collect();
        let (jobs_due, oldest) = tx
            .read_one(
                "SELECT COUNT(*), MIN(due_at) FROM jobs \
                 WHERE merchant_id = $1 AND dead_reason IS NULL AND due_at <= $2",
                vec![merchant.clone(), now.into()],
                |row, _| Ok((count(row.int(0)?), row.opt_int(1)?)),
            )
            .await?
            .unwrap_or_default();
        let jobs_dead = tx
            .read_one(
                "SELECT COUNT(*) FROM jobs WHERE merchant_id = $1 AND dead_reason IS NOT NULL",
                vec![merchant.clone()],
                |row, _| Ok(count(row.int(0)?)),
            )
            .await?
            .unwrap_or_default();
        let attention_open = tx
            .read_one(
                "SELECT COUNT(*) FROM attention_items WHERE merchant_id = $1 AND resolved_at IS NULL",
                vec![merchant],
                |row, _| Ok(count(row.int(0)?)),
            )
            .await?
            .unwrap_or_default();
        Ok(Gauges {
            orders_by_state,
            jobs_due,
            oldest_due_ms: oldest.map_or(0, |due| now.saturating_sub(due).max(0)),
            jobs_dead,
            attention_open,
        })
    }
}
