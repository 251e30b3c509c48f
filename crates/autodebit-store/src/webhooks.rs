//! Webhook deliveries: one row per event and endpoint (named by its id, see [`crate::endpoints`]), made from the outbox,
//! leased by the worker that sends it (so several servers send each one once), retried until it
//! is delivered or its tries are spent; every try kept.
//!
//! - [`SqlStore::fan_out_webhooks`] makes the rows for the events of the last `window` that have
//!   none yet (an insert that ignores what exists: run it as often as wanted, from any server).
//!   Reading by time, not by a sequence cursor, so an event whose transaction committed after a
//!   later-numbered one is not skipped.
//! - [`SqlStore::claim_webhook_deliveries`] leases due pending rows, oldest event first, and never
//!   a row while an earlier event about the same subject is pending for the same endpoint: a
//!   receiver hears about one resource in order.
//! - [`SqlStore::finish_webhook_attempt`] records a try and what follows (delivered, again at a
//!   time, or failed for good), only for the lease holder.
//! - [`SqlStore::redeliver_webhooks`] makes an event's rows pending again, due now.

use autodebit_domain::model::Millis;
use autodebit_domain::ports::StoreError;

use crate::SqlStore;

/// A delivery leased to a worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookDelivery {
    /// The endpoint's URL.
    pub endpoint: String,
    /// The event's sequence number.
    pub event_seq: i64,
    /// Tries so far (before this one).
    pub attempts: u32,
}

/// One try of a delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookAttempt {
    /// The endpoint's URL.
    pub endpoint: String,
    /// From 1.
    pub n: u32,
    /// When it was sent.
    pub at: Millis,
    /// The HTTP status of the answer, when one came.
    pub status: Option<u16>,
    /// How long it took.
    pub latency_ms: i64,
    /// The answer's first bytes, or what went wrong.
    pub answer: String,
}

/// What follows a try.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The endpoint took it (2xx).
    Delivered,
    /// Try again at this time.
    RetryAt(Millis),
    /// No more tries.
    Failed,
}

/// A delivery as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryStatus {
    /// The endpoint's URL.
    pub endpoint: String,
    /// `pending`, `delivered`, `failed`.
    pub state: String,
    /// When it is tried next (pending).
    pub due_at: Millis,
}

fn count(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl SqlStore {
    /// Makes the missing delivery rows for `endpoint` of this merchant's events since `since`,
    /// due at `now`; how many were made.
    ///
    /// # Errors
    /// As any write.
    pub async fn fan_out_webhooks(
        &self,
        endpoint: &str,
        since: Millis,
        now: Millis,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin_tx().await?;
        let made = tx
            .exec
            .execute(
                "INSERT INTO webhook_deliveries (merchant_id, endpoint, event_seq, subject, state, \
                 attempts, due_at, lease_token, lease_until, created_at, updated_at) \
                 SELECT merchant_id, $2, seq, subject, 'pending', 0, $4, NULL, 0, $4, $4 \
                 FROM events WHERE merchant_id = $1 AND at >= $3 \
                 ON CONFLICT DO NOTHING",
                vec![
                    self.merchant().into(),
                    endpoint.into(),
                    since.into(),
                    now.into(),
                ],
            )
            .await?;
        tx.commit_now().await?;
        Ok(made)
    }

    /// Leases at most `limit` due pending deliveries of enabled endpoints to `token` until
    /// `until`, oldest event first, none while an earlier event about the same subject is pending
    /// for its endpoint.
    ///
    /// # Errors
    /// As any write.
    pub async fn claim_webhook_deliveries(
        &self,
        now: Millis,
        token: &str,
        until: Millis,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>, StoreError> {
        let mut tx = self.begin_tx().await?;
        let candidates = tx
            .read(
                "SELECT endpoint, event_seq, attempts FROM webhook_deliveries d \
                 WHERE merchant_id = $1 AND state = 'pending' AND due_at <= $2 \
                 AND lease_until <= $2 \
                 AND EXISTS (SELECT 1 FROM webhook_endpoints w \
                     WHERE w.merchant_id = d.merchant_id AND w.id = d.endpoint \
                     AND w.state = 'enabled') \
                 AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e \
                     WHERE e.merchant_id = d.merchant_id AND e.endpoint = d.endpoint \
                     AND e.subject = d.subject AND e.state = 'pending' \
                     AND e.event_seq < d.event_seq) \
                 ORDER BY event_seq LIMIT $3",
                vec![self.merchant().into(), now.into(), i64::from(limit).into()],
                |row, _| {
                    Ok(WebhookDelivery {
                        endpoint: row.text(0)?,
                        event_seq: row.int(1)?,
                        attempts: count(row.int(2)?),
                    })
                },
            )
            .await?;
        let mut claimed = Vec::with_capacity(candidates.len());
        for delivery in candidates {
            let taken = tx
                .exec
                .execute(
                    "UPDATE webhook_deliveries SET lease_token = $4, lease_until = $5 \
                     WHERE merchant_id = $1 AND endpoint = $2 AND event_seq = $3 \
                     AND state = 'pending' AND lease_until <= $6",
                    vec![
                        self.merchant().into(),
                        delivery.endpoint.as_str().into(),
                        delivery.event_seq.into(),
                        token.into(),
                        until.into(),
                        now.into(),
                    ],
                )
                .await?;
            if taken == 1 {
                claimed.push(delivery);
            }
        }
        tx.commit_now().await?;
        Ok(claimed)
    }

    /// Records `attempt` of the delivery of event `event_seq` held under `token`, and what
    /// follows; false when the lease was lost (nothing is written).
    ///
    /// # Errors
    /// As any write.
    pub async fn finish_webhook_attempt(
        &self,
        event_seq: i64,
        token: &str,
        attempt: &WebhookAttempt,
        outcome: AttemptOutcome,
    ) -> Result<bool, StoreError> {
        let (state, due) = match outcome {
            AttemptOutcome::Delivered => ("delivered", attempt.at),
            AttemptOutcome::RetryAt(at) => ("pending", at),
            AttemptOutcome::Failed => ("failed", attempt.at),
        };
        let mut tx = self.begin_tx().await?;
        let updated = tx
            .exec
            .execute(
                "UPDATE webhook_deliveries SET state = $4, attempts = $5, due_at = $6, \
                 lease_token = NULL, lease_until = 0, updated_at = $7 \
                 WHERE merchant_id = $1 AND endpoint = $2 AND event_seq = $3 \
                 AND lease_token = $8",
                vec![
                    self.merchant().into(),
                    attempt.endpoint.as_str().into(),
                    event_seq.into(),
                    state.into(),
                    i64::from(attempt.n).into(),
                    due.into(),
                    attempt.at.into(),
                    token.into(),
                ],
            )
            .await?;
        if updated != 1 {
            return Ok(false);
        }
        tx.exec
            .execute(
                "INSERT INTO webhook_attempts (merchant_id, endpoint, event_seq, n, at, status, \
                 latency_ms, answer) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT DO NOTHING",
                vec![
                    self.merchant().into(),
                    attempt.endpoint.as_str().into(),
                    event_seq.into(),
                    i64::from(attempt.n).into(),
                    attempt.at.into(),
                    attempt.status.map(i64::from).into(),
                    attempt.latency_ms.into(),
                    attempt.answer.as_str().into(),
                ],
            )
            .await?;
        tx.commit_now().await?;
        Ok(true)
    }

    /// Event `event_seq`'s deliveries, by endpoint.
    ///
    /// # Errors
    /// As any read.
    pub async fn webhook_deliveries(
        &self,
        event_seq: i64,
    ) -> Result<Vec<DeliveryStatus>, StoreError> {
        let mut tx = self.begin_tx().await?;
        tx.read(
            "SELECT endpoint, state, due_at FROM webhook_deliveries \
             WHERE merchant_id = $1 AND event_seq = $2 ORDER BY endpoint",
            vec![self.merchant().into(), event_seq.into()],
            |row, _| {
                Ok(DeliveryStatus {
                    endpoint: row.text(0)?,
                    state: row.text(1)?,
                    due_at: row.int(2)?,
                })
            },
        )
        .await
    }

    /// Every try of event `event_seq`'s deliveries, oldest first.
    ///
    /// # Errors
    /// As any read.
    pub async fn webhook_attempts(
        &self,
        event_seq: i64,
    ) -> Result<Vec<WebhookAttempt>, StoreError> {
        let mut tx = self.begin_tx().await?;
        tx.read(
            "SELECT endpoint, n, at, status, latency_ms, answer FROM webhook_attempts \
             WHERE merchant_id = $1 AND event_seq = $2 ORDER BY at, endpoint, n",
            vec![self.merchant().into(), event_seq.into()],
            |row, _| {
                Ok(WebhookAttempt {
                    endpoint: row.text(0)?,
                    n: count(row.int(1)?),
                    at: row.int(2)?,
                    status: row.opt_int(3)?.and_then(|s| u16::try_from(s).ok()),
                    latency_ms: row.int(4)?,
                    answer: row.text(5)?,
                })
            },
        )
        .await
    }

    /// Makes event `event_seq`'s deliveries pending again, due at `now` (their tries go on
    /// counting); how many.
    ///
    /// # Errors
    /// As any write.
    pub async fn redeliver_webhooks(&self, event_seq: i64, now: Millis) -> Result<u64, StoreError> {
        let mut tx = self.begin_tx().await?;
        let n = tx
            .exec
            .execute(
                "UPDATE webhook_deliveries SET state = 'pending', due_at = $3, updated_at = $3 \
                 WHERE merchant_id = $1 AND event_seq = $2 AND state <> 'pending'",
                vec![self.merchant().into(), event_seq.into(), now.into()],
            )
            .await?;
        tx.commit_now().await?;
        Ok(n)
    }

    /// The events (sequence numbers, ascending) with a delivery of this merchant that failed for
    /// good and was last tried at or after `since`: what `autodebit admin redeliver --failed`
    /// makes pending again.
    ///
    /// # Errors
    /// As any read.
    pub async fn failed_webhook_events(&self, since: Millis) -> Result<Vec<i64>, StoreError> {
        let mut tx = self.begin_tx().await?;
        tx.read(
            "SELECT DISTINCT event_seq FROM webhook_deliveries \
             WHERE merchant_id = $1 AND state = 'failed' AND updated_at >= $2 \
             ORDER BY event_seq",
            vec![self.merchant().into(), since.into()],
            |row, _| row.int(0),
        )
        .await
    }
}
