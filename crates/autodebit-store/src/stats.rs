//! What the console's charts show for one merchant: the payments created in each hour of a
//! window, by how they ended, how many ever had an unknown outcome, and how long they took to
//! resolve. Two aggregate reads (counts grouped in SQL; resolution times read from the outbox by
//! its `(merchant_id, at)` index), the same text on SQLite and PostgreSQL.

use autodebit_domain::model::Millis;
use autodebit_domain::ports::StoreError;

use crate::SqlStore;
use crate::db::Value;

/// One hour.
const HOUR_MS: i64 = 3_600_000;

/// At most this many resolution times are read for one window (the newest payments first); the
/// percentiles of a busier window are those of its newest payments.
const MAX_DURATIONS: i64 = 20_000;

/// The payments created in one hour, by outcome. Every payment is in exactly one of
/// `succeeded`, `failed`, `cancelled`, `unknown` and `open`; `ever_unknown` counts among all of
/// them those whose outcome was unknown at some point.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HourStats {
    /// Start of the hour (Unix epoch milliseconds, a whole hour).
    pub start: Millis,
    /// Paid (refunded or not).
    pub succeeded: u64,
    /// Failed: nothing charged.
    pub failed: u64,
    /// Cancelled: nothing charged, or the charge returned.
    pub cancelled: u64,
    /// Not final, with an attempt whose outcome is not known now (unknown, being inquired, being
    /// cancelled or confirmed).
    pub unknown: u64,
    /// Not final, with no attempt of unknown outcome (being sent, or waiting for a retry).
    pub open: u64,
    /// Whose outcome was unknown at some point: an attempt was inquired, or is in an unknown,
    /// inquiring or confirming state now.
    pub ever_unknown: u64,
    /// Milliseconds from each payment's creation to its first final event (`payment.succeeded`,
    /// `payment.failed` or `payment.cancelled`), for the payments created this hour that have
    /// one, ascending.
    pub resolve_ms: Vec<i64>,
}

/// One merchant's payments over a window of whole hours.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PaymentStats {
    /// The hours, oldest first; the last one holds `now` (and so is partial).
    pub hours: Vec<HourStats>,
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl SqlStore {
    /// This merchant's payments created in the `hours` whole hours up to the one holding `now`
    /// (at least 1).
    ///
    /// # Errors
    /// As any read.
    pub async fn payment_stats(&self, now: Millis, hours: u32) -> Result<PaymentStats, StoreError> {
        let hours = i64::from(hours.max(1));
        let first = now.div_euclid(HOUR_MS) * HOUR_MS - (hours - 1) * HOUR_MS;
        let end = first + hours * HOUR_MS;
        let merchant: Value = self.merchant().into();
        let mut out: Vec<HourStats> = (0..hours)
            .map(|i| HourStats {
                start: first + i * HOUR_MS,
                ..HourStats::default()
            })
            .collect();
        let bucket = |at: i64| usize::try_from((at - first).div_euclid(HOUR_MS)).ok();
        let mut tx = self.begin_tx().await?;
        let counted = tx
            .read(
                "SELECT s.created_at / 3600000, s.state, s.ever_unknown, s.unknown_now, COUNT(*) \
                 FROM (SELECT o.created_at AS created_at, o.state AS state, \
                   CASE WHEN EXISTS (SELECT 1 FROM payment_attempts a WHERE a.order_id = o.id \
                     AND (a.inquiries > 0 OR a.state IN ('unknown', 'inquiring', 'confirming'))) \
                     THEN CAST(1 AS BIGINT) ELSE CAST(0 AS BIGINT) END AS ever_unknown, \
                   CASE WHEN EXISTS (SELECT 1 FROM payment_attempts a WHERE a.order_id = o.id \
                     AND a.state IN ('unknown', 'inquiring', 'cancel_requested', 'confirming')) \
                     THEN CAST(1 AS BIGINT) ELSE CAST(0 AS BIGINT) END AS unknown_now \
                   FROM orders o \
                   WHERE o.merchant_id = $1 AND o.created_at >= $2 AND o.created_at < $3) s \
                 GROUP BY s.created_at / 3600000, s.state, s.ever_unknown, s.unknown_now",
                vec![merchant.clone(), first.into(), end.into()],
                |row, _| {
                    Ok((
                        row.int(0)?,
                        row.text(1)?,
                        row.int(2)? != 0,
                        row.int(3)? != 0,
                        count(row.int(4)?),
                    ))
                },
            )
            .await?;
        for (hour, state, ever_unknown, unknown_now, n) in counted {
            let Some(h) = bucket(hour * HOUR_MS).and_then(|i| out.get_mut(i)) else {
                continue;
            };
            match state.as_str() {
                "succeeded" | "partly_refunded" | "fully_refunded" => h.succeeded += n,
                "failed" => h.failed += n,
                "cancelled" => h.cancelled += n,
                _ if unknown_now => h.unknown += n,
                _ => h.open += n,
            }
            if ever_unknown {
                h.ever_unknown += n;
            }
        }
        let durations = tx
            .read(
                "SELECT o.created_at, MIN(e.at) - o.created_at FROM events e \
                 JOIN orders o ON o.id = e.subject AND o.merchant_id = e.merchant_id \
                 WHERE e.merchant_id = $1 AND e.at >= $2 \
                 AND e.kind IN ('payment.succeeded', 'payment.failed', 'payment.cancelled') \
                 AND o.created_at >= $2 AND o.created_at < $3 \
                 GROUP BY o.id, o.created_at ORDER BY o.created_at DESC LIMIT $4",
                vec![merchant, first.into(), end.into(), MAX_DURATIONS.into()],
                |row, _| Ok((row.int(0)?, row.int(1)?)),
            )
            .await?;
        for (created_at, ms) in durations {
            if let Some(h) = bucket(created_at).and_then(|i| out.get_mut(i)) {
                h.resolve_ms.push(ms.max(0));
            }
        }
        for h in &mut out {
            h.resolve_ms.sort_unstable();
        }
        Ok(PaymentStats { hours: out })
    }
}
