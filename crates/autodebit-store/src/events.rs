//! The outbox read as the merchant's event log: a page of a merchant's events, newest first by
//! sequence number, filtered by kind and subject, and one event by its number. Sequence numbers
//! never change, so they make the events' stable ids.

use autodebit_domain::model::Event;
use autodebit_domain::ports::StoreError;

use crate::SqlStore;
use crate::rows;

/// Which events a page holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Only this kind (its name, e.g. `payment.succeeded`).
    pub kind: Option<String>,
    /// Only about this subject (an authorization, payment or refund id).
    pub subject: Option<String>,
}

impl SqlStore {
    /// At most `limit` of this merchant's events matching `filter` with a sequence number below
    /// `before` (all when `None`), newest first.
    ///
    /// # Errors
    /// As any read; [`StoreError::Corrupt`] for a row of an unknown kind.
    pub async fn list_events(
        &self,
        filter: &EventFilter,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<(i64, Event)>, StoreError> {
        let mut tx = self.begin_tx().await?;
        let rows = tx
            .exec
            .fetch(
                "SELECT seq, kind, subject, detail, at FROM events \
                 WHERE merchant_id = $1 AND seq < $2 \
                 AND ($3 = '' OR kind = $3) AND ($4 = '' OR subject = $4) \
                 ORDER BY seq DESC LIMIT $5",
                vec![
                    self.merchant().into(),
                    before.unwrap_or(i64::MAX).into(),
                    filter.kind.clone().unwrap_or_default().into(),
                    filter.subject.clone().unwrap_or_default().into(),
                    i64::from(limit).into(),
                ],
            )
            .await?;
        rows.iter().map(rows::event).collect()
    }

    /// This merchant's event number `seq`.
    ///
    /// # Errors
    /// As any read.
    pub async fn event(&self, seq: i64) -> Result<Option<Event>, StoreError> {
        let mut tx = self.begin_tx().await?;
        let rows = tx
            .exec
            .fetch(
                "SELECT seq, kind, subject, detail, at FROM events \
                 WHERE merchant_id = $1 AND seq = $2",
                vec![self.merchant().into(), seq.into()],
            )
            .await?;
        rows.iter()
            .map(rows::event)
            .next()
            .transpose()
            .map(|e| e.map(|(_, event)| event))
    }
}
