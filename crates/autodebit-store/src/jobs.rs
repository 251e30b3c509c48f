//! The job queue: one job row per subject of a merchant (`UNIQUE (merchant_id, kind, subject)`),
//! held under a lease token per claim, as the in-memory store defines it. A handle claims, renews,
//! releases and changes its own merchant's jobs only.
//!
//! - **Claims** ([`claim_jobs`], [`claim_job`]) run in a transaction of their own: due, live,
//!   unleased (or expired) rows in due order, on PostgreSQL `FOR UPDATE SKIP LOCKED` so replicas
//!   never take the same job. A row that cannot be read (a kind from a newer version, a corrupt
//!   value) or that was taken `max_attempts` times in a row is set aside in the same transaction,
//!   with the `dead_letter` attention item and event, and the claim goes on with the others: one
//!   bad row never stops the queue.
//! - **Changes** made by a unit of work (`schedule_job`, `complete_job`, `reschedule_job`) are
//!   staged and applied at commit ([`SqlTx::apply_jobs`]): the job rows involved are locked in id
//!   order and every lease relied on is checked again, so a worker whose lease was taken over
//!   commits nothing, and no job row is held while a unit of work runs.
//! - **Scheduling** is one upsert (`INSERT … ON CONFLICT (kind, subject) DO UPDATE`): it creates
//!   the job, moves an idle one earlier (never later), brings back a set-aside one with its
//!   attempts from zero, or, for a held one, remembers the earliest time asked in `rerun_at`, which
//!   completing turns into "stay, due then" and rescheduling into "due at the earlier of the two".

use autodebit_domain::model::{Job, JobId, JobKind, JobLease, LeaseToken, Millis};
use autodebit_domain::ports::{Claim, StoreError, Tx};
use autodebit_domain::services::jobs::{dead_letter, exhausted};

use crate::Backend;
use crate::db::Row;
use crate::rows::{self, job_columns};
use crate::store::SqlStore;
use crate::tx::{Raised, SqlTx};

/// A job change staged by a unit of work.
#[derive(Debug)]
pub(crate) enum JobOp {
    /// Make sure the job of `kind` runs no later than `due_at`.
    Schedule { kind: JobKind, due_at: Millis },
    /// End the job the lease `token` holds.
    Complete { id: i64, token: LeaseToken },
    /// Let the job go, due at `due_at`.
    Reschedule {
        id: i64,
        token: LeaseToken,
        due_at: Millis,
    },
}

/// The upsert behind `schedule_job` (`$1` kind, `$2` subject, `$3` due, `$4` merchant). Every `SET`
/// reads the row as it was, on both backends.
const SCHEDULE: &str = "INSERT INTO jobs (kind, subject, due_at, attempts, merchant_id) \
     VALUES ($1, $2, $3, 0, $4) \
     ON CONFLICT (merchant_id, kind, subject) DO UPDATE SET \
     due_at = CASE WHEN jobs.dead_reason IS NOT NULL THEN excluded.due_at \
                   WHEN jobs.lease_token IS NOT NULL THEN jobs.due_at \
                   WHEN excluded.due_at < jobs.due_at THEN excluded.due_at \
                   ELSE jobs.due_at END, \
     rerun_at = CASE WHEN jobs.dead_reason IS NOT NULL OR jobs.lease_token IS NULL THEN NULL \
                     WHEN jobs.rerun_at IS NULL OR excluded.due_at < jobs.rerun_at \
                          THEN excluded.due_at \
                     ELSE jobs.rerun_at END, \
     attempts = CASE WHEN jobs.dead_reason IS NOT NULL THEN 0 ELSE jobs.attempts END, \
     lease_token = CASE WHEN jobs.dead_reason IS NOT NULL THEN NULL ELSE jobs.lease_token END, \
     lease_until = CASE WHEN jobs.dead_reason IS NOT NULL THEN NULL ELSE jobs.lease_until END, \
     dead_reason = NULL, \
     dead_at = NULL";

/// A merchant's due, live jobs nobody holds (`$1` now, `$2` how many, `$3` merchant), in due
/// order.
const CLAIMABLE_SQLITE: &str = concat!(
    "SELECT ",
    job_columns!(),
    " FROM jobs WHERE merchant_id = $3 AND dead_reason IS NULL AND due_at <= $1 \
     AND (lease_until IS NULL OR lease_until <= $1) ORDER BY due_at, id LIMIT $2"
);

/// As [`CLAIMABLE_SQLITE`], skipping rows another claim has locked.
const CLAIMABLE_POSTGRES: &str = concat!(
    "SELECT ",
    job_columns!(),
    " FROM jobs WHERE merchant_id = $3 AND dead_reason IS NULL AND due_at <= $1 \
     AND (lease_until IS NULL OR lease_until <= $1) ORDER BY due_at, id LIMIT $2 \
     FOR UPDATE SKIP LOCKED"
);

/// Takes a job under a lease (`$1` id, `$2` token, `$3` until, `$4` merchant): one more attempt,
/// and a schedule remembered for an earlier holder is dropped (this run reads the subject as it
/// is now).
const TAKE: &str = "UPDATE jobs SET lease_token = $2, lease_until = $3, attempts = attempts + 1, \
     rerun_at = NULL WHERE id = $1 AND merchant_id = $4";

impl SqlTx {
    /// Stages `op` for job `id` if `token` holds its lease as committed now (checked again at
    /// commit); returns whether it does.
    pub(crate) async fn stage_if_held(
        &mut self,
        id: &JobId,
        token: &LeaseToken,
        op: impl FnOnce(i64, LeaseToken) -> JobOp + Send,
    ) -> Result<bool, StoreError> {
        let Some(number) = rows::job_number(id) else {
            return Ok(false);
        };
        let merchant = self.merchant_value();
        let held = self
            .count(
                "SELECT count(*) FROM jobs WHERE id = $1 AND lease_token = $2 AND merchant_id = $3",
                vec![number.into(), token.as_str().into(), merchant],
            )
            .await?
            == 1;
        if held {
            self.jobs.push(op(number, token.clone()));
        }
        Ok(held)
    }

    /// Applies the staged job changes, as the in-memory store does at commit: the job rows
    /// involved are locked in id order (PostgreSQL; SQLite already holds the write lock) and every
    /// lease the unit of work relied on is checked; then jobs for subjects that had none are
    /// created, in (kind, subject) order, and the other changes apply in the order they were made.
    /// Staging keeps job rows unlocked while the unit of work runs, so a worker finishing a job
    /// and a notification settling the same payment cannot deadlock on a job row and a record row
    /// taken in opposite orders; creating new jobs in one order keeps two units of work scheduling
    /// the same new subjects from waiting on each other.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when a lease is no longer held (nothing is written; the caller
    /// re-reads and re-applies).
    pub(crate) async fn apply_jobs(&mut self) -> Result<(), StoreError> {
        if self.jobs.is_empty() {
            return Ok(());
        }
        let ops = std::mem::take(&mut self.jobs);
        let mut involved: Vec<i64> = Vec::new();
        let mut new_kinds: Vec<&JobKind> = Vec::new();
        for op in &ops {
            match op {
                JobOp::Complete { id, .. } | JobOp::Reschedule { id, .. } => involved.push(*id),
                JobOp::Schedule { kind, .. } => {
                    let merchant = self.merchant_value();
                    let rows = self
                        .exec
                        .fetch(
                            "SELECT id FROM jobs WHERE merchant_id = $3 AND kind = $1 \
                             AND subject = $2",
                            vec![kind.name().into(), kind.subject().into(), merchant],
                        )
                        .await?;
                    match rows.first() {
                        Some(row) => involved.push(row.int(0)?),
                        None => new_kinds.push(kind),
                    }
                }
            }
        }
        involved.sort_unstable();
        involved.dedup();
        // Only this merchant's rows: the changes below name rows by id, all of them in `holders`
        // or found by this merchant's (kind, subject).
        let lock = match self.backend {
            Backend::Postgres => {
                "SELECT id, lease_token FROM jobs WHERE id = $1 AND merchant_id = $2 FOR UPDATE"
            }
            Backend::Sqlite => {
                "SELECT id, lease_token FROM jobs WHERE id = $1 AND merchant_id = $2"
            }
        };
        let mut holders = std::collections::BTreeMap::new();
        for id in involved {
            let merchant = self.merchant_value();
            let rows = self.exec.fetch(lock, vec![id.into(), merchant]).await?;
            if let Some(row) = rows.first() {
                holders.insert(id, row.opt_text(1)?);
            }
        }
        for op in &ops {
            if let JobOp::Complete { id, token } | JobOp::Reschedule { id, token, .. } = op
                && holders.get(id).and_then(Option::as_deref) != Some(token.as_str())
            {
                return Err(StoreError::Conflict(format!(
                    "job {id} is no longer held by this lease"
                )));
            }
        }
        new_kinds.sort();
        new_kinds.dedup();
        let mut first: Vec<&JobOp> = Vec::new();
        let mut rest: Vec<&JobOp> = Vec::new();
        for op in &ops {
            match op {
                JobOp::Schedule { kind, .. } if new_kinds.binary_search(&kind).is_ok() => {
                    first.push(op);
                }
                _ => rest.push(op),
            }
        }
        first.sort_by_key(|op| match op {
            JobOp::Schedule { kind, .. } => Some(kind),
            _ => None,
        });
        for op in first.into_iter().chain(rest) {
            match op {
                JobOp::Schedule { kind, due_at } => {
                    let merchant = self.merchant_value();
                    self.exec
                        .execute(
                            SCHEDULE,
                            vec![
                                kind.name().into(),
                                kind.subject().into(),
                                (*due_at).into(),
                                merchant,
                            ],
                        )
                        .await?;
                }
                JobOp::Complete { id, .. } => {
                    // Removed, or, when a schedule came in while it was held, kept and due then.
                    let merchant = self.merchant_value();
                    self.exec
                        .execute(
                            "DELETE FROM jobs WHERE id = $1 AND merchant_id = $2 \
                             AND rerun_at IS NULL",
                            vec![(*id).into(), merchant.clone()],
                        )
                        .await?;
                    self.exec
                        .execute(
                            "UPDATE jobs SET due_at = rerun_at, rerun_at = NULL, \
                             lease_token = NULL, lease_until = NULL, attempts = 0 \
                             WHERE id = $1 AND merchant_id = $2",
                            vec![(*id).into(), merchant],
                        )
                        .await?;
                }
                JobOp::Reschedule { id, due_at, .. } => {
                    let merchant = self.merchant_value();
                    self.exec
                        .execute(
                            "UPDATE jobs SET due_at = CASE WHEN rerun_at IS NOT NULL \
                             AND rerun_at < $2 THEN rerun_at ELSE $2 END, rerun_at = NULL, \
                             lease_token = NULL, lease_until = NULL, attempts = 0 \
                             WHERE id = $1 AND merchant_id = $3",
                            vec![(*id).into(), (*due_at).into(), merchant],
                        )
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// Sets the job row `id` aside (a dead letter, never claimed again until it is scheduled
    /// anew), with the attention item and the event [`dead_letter`] builds. `what` is the row's
    /// kind and subject as stored.
    pub(crate) async fn set_aside(
        &mut self,
        id: i64,
        what: &str,
        why: &str,
        now: Millis,
    ) -> Result<(), StoreError> {
        let merchant = self.merchant_value();
        self.exec
            .execute(
                "UPDATE jobs SET dead_reason = $2, dead_at = $3, lease_token = NULL, \
                 lease_until = NULL, rerun_at = NULL WHERE id = $1 AND merchant_id = $4",
                vec![id.into(), why.into(), now.into(), merchant],
            )
            .await?;
        let (mut item, event) = dead_letter(&rows::job_id(id), what, why, now);
        // The item's id is one per job: if an earlier item of this job was closed since, this one
        // takes a fresh id beside it.
        let base = item.id.clone();
        let mut n = 1;
        while self.raise(&item).await? == Raised::IdTaken {
            n += 1;
            item.id = autodebit_domain::model::AttentionId::new(format!("{base}.{n}"));
        }
        self.push_event(&event).await
    }
}

/// Why an exhausted job is set aside (the in-memory store's words).
fn exhausted_reason(job: &Job) -> String {
    format!("taken {} times in a row without finishing", job.attempts)
}

/// A claimable row read: the job, or why it cannot be run (set it aside).
fn read_claimable(row: &Row, max_attempts: Option<u32>) -> Result<Job, (String, String)> {
    match rows::job(row) {
        Ok(job) if max_attempts.is_some_and(|max| exhausted(&job, max)) => {
            Err((job.kind.to_string(), exhausted_reason(&job)))
        }
        Ok(job) => Ok(job),
        Err(e) => Err((rows::job_what(row), format!("its row cannot be read: {e}"))),
    }
}

fn lease_end(now: Millis, lease_ms: Millis) -> Result<Millis, StoreError> {
    now.checked_add(lease_ms).ok_or_else(|| {
        StoreError::Rejected(format!("a lease of {lease_ms} ms from {now} overflows"))
    })
}

/// Takes `job` (read from its row, not yet taken) under `token` until `until`.
async fn take(
    tx: &mut SqlTx,
    mut job: Job,
    token: &LeaseToken,
    until: Millis,
) -> Result<Job, StoreError> {
    let Some(id) = rows::job_number(&job.id) else {
        return Err(StoreError::Corrupt(format!(
            "job id {} is not a row",
            job.id
        )));
    };
    let merchant = tx.merchant_value();
    tx.exec
        .execute(
            TAKE,
            vec![id.into(), token.as_str().into(), until.into(), merchant],
        )
        .await?;
    job.attempts += 1;
    job.lease = Some(JobLease {
        token: token.clone(),
        until,
    });
    Ok(job)
}

/// [`autodebit_domain::ports::Store::claim_jobs`].
pub(crate) async fn claim_jobs(store: &SqlStore, claim: &Claim) -> Result<Vec<Job>, StoreError> {
    let until = lease_end(claim.now, claim.lease_ms)?;
    let sql = match store.backend() {
        Backend::Sqlite => CLAIMABLE_SQLITE,
        Backend::Postgres => CLAIMABLE_POSTGRES,
    };
    let limit = usize::try_from(claim.limit).unwrap_or(usize::MAX);
    let mut tx = store.begin_tx().await?;
    let mut claimed: Vec<Job> = Vec::new();
    // Rows set aside do not count against the limit: read again while a batch set some aside and
    // the limit is not reached. A row read twice (a lease of 0 ms ends at once) ends the claim.
    loop {
        let want = limit - claimed.len();
        if want == 0 {
            break;
        }
        let merchant = tx.merchant_value();
        let rows = tx
            .exec
            .fetch(
                sql,
                vec![
                    claim.now.into(),
                    i64::try_from(want).unwrap_or(i64::MAX).into(),
                    merchant,
                ],
            )
            .await?;
        let mut set_aside = false;
        for row in &rows {
            let id = row.int(0)?;
            if claimed.iter().any(|j| rows::job_number(&j.id) == Some(id)) {
                set_aside = false;
                break;
            }
            match read_claimable(row, Some(claim.max_attempts)) {
                Ok(job) => claimed.push(take(&mut tx, job, &claim.token, until).await?),
                Err((what, why)) => {
                    tx.set_aside(id, &what, &why, claim.now).await?;
                    set_aside = true;
                }
            }
        }
        if !set_aside || rows.len() < want {
            break;
        }
    }
    tx.commit_now().await?;
    Ok(claimed)
}

/// [`autodebit_domain::ports::Store::claim_job`].
pub(crate) async fn claim_job(
    store: &SqlStore,
    kind: &JobKind,
    now: Millis,
    token: &LeaseToken,
    lease_ms: Millis,
) -> Result<Option<Job>, StoreError> {
    let until = lease_end(now, lease_ms)?;
    let sql = match store.backend() {
        Backend::Sqlite => concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs WHERE merchant_id = $3 AND kind = $1 AND subject = $2 \
             AND dead_reason IS NULL"
        ),
        Backend::Postgres => concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs WHERE merchant_id = $3 AND kind = $1 AND subject = $2 \
             AND dead_reason IS NULL FOR UPDATE"
        ),
    };
    let mut tx = store.begin_tx().await?;
    let merchant = tx.merchant_value();
    let rows = tx
        .exec
        .fetch(
            sql,
            vec![kind.name().into(), kind.subject().into(), merchant],
        )
        .await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let taken = match read_claimable(row, None) {
        Ok(job) if job.lease.as_ref().is_some_and(|l| l.until > now) => None,
        Ok(job) => Some(take(&mut tx, job, token, until).await?),
        Err((what, why)) => {
            tx.set_aside(row.int(0)?, &what, &why, now).await?;
            None
        }
    };
    tx.commit_now().await?;
    Ok(taken)
}

/// [`autodebit_domain::ports::Store::renew_lease`]: a compare-and-set on the token.
pub(crate) async fn renew_lease(
    store: &SqlStore,
    id: &JobId,
    token: &LeaseToken,
    until: Millis,
) -> Result<bool, StoreError> {
    let Some(number) = rows::job_number(id) else {
        return Ok(false);
    };
    let mut tx = store.begin_tx().await?;
    let renewed = tx
        .exec
        .execute(
            "UPDATE jobs SET lease_until = $3 WHERE id = $1 AND lease_token = $2 \
             AND merchant_id = $4",
            vec![
                number.into(),
                token.as_str().into(),
                until.into(),
                store.merchant().into(),
            ],
        )
        .await?;
    tx.commit_now().await?;
    Ok(renewed == 1)
}

/// [`autodebit_domain::ports::Store::release_lease`]: a compare-and-set on the token that frees
/// the job, due as before (or at a schedule that came in while it was held, if earlier), and takes
/// back the attempt the claim counted.
pub(crate) async fn release_lease(
    store: &SqlStore,
    id: &JobId,
    token: &LeaseToken,
) -> Result<bool, StoreError> {
    let Some(number) = rows::job_number(id) else {
        return Ok(false);
    };
    let mut tx = store.begin_tx().await?;
    let released = tx
        .exec
        .execute(
            "UPDATE jobs SET lease_token = NULL, lease_until = NULL, \
             attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, \
             due_at = CASE WHEN rerun_at IS NOT NULL AND rerun_at < due_at THEN rerun_at \
                           ELSE due_at END, \
             rerun_at = NULL \
             WHERE id = $1 AND lease_token = $2 AND merchant_id = $3 AND dead_reason IS NULL",
            vec![
                number.into(),
                token.as_str().into(),
                store.merchant().into(),
            ],
        )
        .await?;
    tx.commit_now().await?;
    Ok(released == 1)
}
