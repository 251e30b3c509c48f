//! The HTTP API's idempotency records (`Idempotency-Key`, as Stripe and the IETF draft define it),
//! per merchant: the first request with a key holds it while it runs, then keeps the response it
//! got, so a retry with the same key and the same request gets that response again instead of
//! running twice; the same key with another request is refused.
//!
//! A row is in flight (`status` NULL) until the request finishes or is abandoned, held until
//! `held_until`: a row still in flight after that belongs to a process that died, and the next
//! request with the key takes it over (a compare-and-set on `held_until`, so one taker wins).
//! These are not part of the domain's port: the server calls them around its handlers.

use std::fmt;

use autodebit_domain::model::Millis;
use autodebit_domain::ports::StoreError;

use crate::store::SqlStore;

/// What [`SqlStore::begin_api_request`] found for a key.
#[derive(Clone, PartialEq, Eq)]
pub enum ApiRequestStart {
    /// The key is this request's now: run it, then [`SqlStore::finish_api_request`] (or
    /// [`SqlStore::abandon_api_request`] when it must not count).
    Proceed,
    /// The request ran already: answer with this, without running it again.
    Replay {
        /// The HTTP status it got.
        status: u16,
        /// The body it got.
        body: String,
    },
    /// The same request is running now (another process or task holds the key): ask the client
    /// to retry later (409).
    InFlight,
    /// The key was used for another request (another fingerprint): refuse (422).
    Mismatch,
}

impl fmt::Debug for ApiRequestStart {
    /// A replayed body may hold what the merchant's customer should only see once: its length
    /// only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Proceed => f.write_str("Proceed"),
            Self::Replay { status, body } => f
                .debug_struct("Replay")
                .field("status", status)
                .field("body_len", &body.len())
                .finish(),
            Self::InFlight => f.write_str("InFlight"),
            Self::Mismatch => f.write_str("Mismatch"),
        }
    }
}

/// How many times `begin` reads again when the row it raced with vanished or changed under it
/// (abandoned, swept, taken over) before giving up with a conflict.
const BEGIN_ROUNDS: usize = 8;

/// The answer kept for a replay is sealed (it may hold what is shown once: an endpoint's secret,
/// an authorization's URL).
const SEALED: (&str, &str) = ("api_requests", "body");

impl SqlStore {
    /// Starts a request with `key` (this merchant's): [`ApiRequestStart::Proceed`] when the key is
    /// new (an in-flight row is written, held until `now + hold_ms`) or its earlier holder's hold
    /// has ended without an answer (taken over); [`ApiRequestStart::Replay`] when a request with
    /// this `fingerprint` finished; [`ApiRequestStart::InFlight`] while one is held;
    /// [`ApiRequestStart::Mismatch`] when the key belongs to a request with another fingerprint.
    /// Of concurrent first requests with one key, exactly one proceeds.
    ///
    /// # Errors
    /// [`StoreError::Rejected`] when `now + hold_ms` overflows; as any write otherwise.
    pub async fn begin_api_request(
        &self,
        key: &str,
        fingerprint: &str,
        now: Millis,
        hold_ms: Millis,
    ) -> Result<ApiRequestStart, StoreError> {
        let until = now.checked_add(hold_ms).ok_or_else(|| {
            StoreError::Rejected(format!("a hold of {hold_ms} ms from {now} overflows"))
        })?;
        let mut tx = self.begin_tx().await?;
        for _ in 0..BEGIN_ROUNDS {
            // On PostgreSQL a concurrent insert of the same key makes this wait for its commit,
            // then do nothing; the read after it sees that row (READ COMMITTED).
            let inserted = tx
                .exec
                .execute(
                    "INSERT INTO api_requests \
                     (merchant_id, key, fingerprint, status, body, held_until, created_at) \
                     VALUES ($1, $2, $3, NULL, NULL, $4, $5) ON CONFLICT DO NOTHING",
                    vec![
                        tx.merchant_value(),
                        key.into(),
                        fingerprint.into(),
                        until.into(),
                        now.into(),
                    ],
                )
                .await?;
            if inserted == 1 {
                tx.commit_now().await?;
                return Ok(ApiRequestStart::Proceed);
            }
            let found = tx
                .read_one(
                    "SELECT fingerprint, status, body, held_until FROM api_requests \
                     WHERE merchant_id = $1 AND key = $2",
                    vec![tx.merchant_value(), key.into()],
                    |row, _| Ok((row.text(0)?, row.opt_int(1)?, row.opt_text(2)?, row.int(3)?)),
                )
                .await?;
            let Some((stored, status, body, held_until)) = found else {
                // Abandoned or swept between the insert and the read: insert again.
                continue;
            };
            if stored != fingerprint {
                return Ok(ApiRequestStart::Mismatch);
            }
            if let Some(status) = status {
                let status = u16::try_from(status).map_err(|_| {
                    StoreError::Corrupt(format!("api request {key:?}: status {status}"))
                })?;
                let body = body.ok_or_else(|| {
                    StoreError::Corrupt(format!("api request {key:?}: a status without a body"))
                })?;
                // Sealed since schema 5 (an answer may hold a secret shown once); a JSON body
                // kept before that is read as it is.
                let body = if body.starts_with('v') {
                    crate::rows::open(&self.inner().keys, SEALED, key, self.merchant(), Some(body))?
                        .unwrap_or_default()
                } else {
                    body
                };
                return Ok(ApiRequestStart::Replay { status, body });
            }
            if held_until > now {
                return Ok(ApiRequestStart::InFlight);
            }
            // In flight, but its hold ended: its process died. Take it over, unless another
            // request did first (then read again).
            let taken = tx
                .exec
                .execute(
                    "UPDATE api_requests SET held_until = $4 WHERE merchant_id = $1 AND key = $2 \
                     AND fingerprint = $3 AND status IS NULL AND held_until = $5",
                    vec![
                        tx.merchant_value(),
                        key.into(),
                        fingerprint.into(),
                        until.into(),
                        held_until.into(),
                    ],
                )
                .await?;
            if taken == 1 {
                tx.commit_now().await?;
                return Ok(ApiRequestStart::Proceed);
            }
        }
        Err(StoreError::Conflict(format!(
            "api request {key:?} kept changing while it was read: try again"
        )))
    }

    /// Stores the response of the in-flight request with `key` and `fingerprint`, so retries
    /// replay it. False when there is no such in-flight row (it finished, was abandoned or swept,
    /// or the key holds another request).
    ///
    /// # Errors
    /// [`StoreError::Rejected`] when `status` is not an HTTP status (100–999); as any write
    /// otherwise.
    pub async fn finish_api_request(
        &self,
        key: &str,
        fingerprint: &str,
        status: u16,
        body: &str,
    ) -> Result<bool, StoreError> {
        if !(100..=999).contains(&status) {
            return Err(StoreError::Rejected(format!(
                "{status} is not an HTTP status"
            )));
        }
        let sealed =
            crate::rows::seal(&self.inner().keys, SEALED, key, self.merchant(), Some(body))?
                .unwrap_or_default();
        let body = sealed.as_str();
        let mut tx = self.begin_tx().await?;
        let n = tx
            .exec
            .execute(
                "UPDATE api_requests SET status = $4, body = $5, key_version = $6 \
                 WHERE merchant_id = $1 AND key = $2 AND fingerprint = $3 AND status IS NULL",
                vec![
                    tx.merchant_value(),
                    key.into(),
                    fingerprint.into(),
                    i64::from(status).into(),
                    body.into(),
                    i64::from(self.inner().keys.current_version()).into(),
                ],
            )
            .await?;
        tx.commit_now().await?;
        Ok(n == 1)
    }

    /// Drops the in-flight request with `key` and `fingerprint` (it failed in a way that must not
    /// be replayed), so the next request with the key runs. False when there is none.
    ///
    /// # Errors
    /// As any write.
    pub async fn abandon_api_request(
        &self,
        key: &str,
        fingerprint: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_tx().await?;
        let n = tx
            .exec
            .execute(
                "DELETE FROM api_requests WHERE merchant_id = $1 AND key = $2 \
                 AND fingerprint = $3 AND status IS NULL",
                vec![tx.merchant_value(), key.into(), fingerprint.into()],
            )
            .await?;
        tx.commit_now().await?;
        Ok(n == 1)
    }

    /// Forgets this merchant's finished requests created before `created_before`, and its
    /// in-flight ones whose hold ended before it. Returns how many.
    ///
    /// # Errors
    /// As any write.
    pub async fn sweep_api_requests(&self, created_before: Millis) -> Result<u64, StoreError> {
        let mut tx = self.begin_tx().await?;
        let n = tx
            .exec
            .execute(
                "DELETE FROM api_requests WHERE merchant_id = $1 AND \
                 ((status IS NOT NULL AND created_at < $2) \
                  OR (status IS NULL AND held_until < $2))",
                vec![tx.merchant_value(), created_before.into()],
            )
            .await?;
        tx.commit_now().await?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replayed_body_stays_out_of_debug() {
        let replay = ApiRequestStart::Replay {
            status: 201,
            body: r#"{"authUrl":"https://wallet.example/?authState=secret"}"#.into(),
        };
        let shown = format!("{replay:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("201"), "{shown}");
    }
}
