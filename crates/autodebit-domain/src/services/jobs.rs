//! The job runner: every piece of future work is a job written with the state change that needs
//! it, one job per subject (a payment attempt, a refund, an authorization). A worker claims due
//! jobs under a lease of its own (a fresh token per claim, never its name), renews each lease
//! before it runs the job and again before each call to Alipay, and moves the subject on by its
//! state: send, inquire, cancel, confirm, refresh, revoke, … Then the job is completed or
//! rescheduled in the unit of work that applies the result.
//!
//! A job that keeps failing (its run errs, or the process dies mid-run) is taken again when its
//! lease ends; after [`Schedule::job_max_attempts`](super::Schedule::job_max_attempts) takes in a
//! row it is set aside as a dead letter with an attention item, as is a job row the store cannot
//! read: every other job keeps running.

use super::lease::Lease;
use super::{Context, Error, authorizations, customs, payments, refunds, registrations};
use crate::model::{
    AttentionId, AttentionItem, Event, EventKind, Job, JobId, JobKind, Millis, OperatorAction,
    Subject,
};
use crate::ports::Claim;

/// What a run of due jobs did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobReport {
    /// Jobs taken.
    pub claimed: usize,
    /// Jobs run to the end (done, rescheduled, or found to be moot).
    pub done: usize,
    /// Jobs whose lease was lost before they ran (another worker has them).
    pub skipped: usize,
    /// Jobs that failed (their lease ends and they run again), with why.
    pub failed: Vec<(JobId, String)>,
    /// Jobs given back unrun because the runner was asked to stop.
    pub released: usize,
}

/// Runs due jobs.
#[derive(Clone, Debug)]
pub struct Jobs {
    ctx: Context,
}

impl Jobs {
    /// The runner over `ctx`.
    pub fn new(ctx: Context) -> Self {
        Self { ctx }
    }

    /// Claims the jobs due now (up to the schedule's batch) and runs each. A job that fails keeps
    /// its lease until it ends, then runs again.
    ///
    /// # Errors
    /// Store failures while claiming; the random source.
    pub async fn run_due(&self) -> Result<JobReport, Error> {
        self.run_due_until(|| false).await
    }

    /// As [`Jobs::run_due`], but `stop` is asked before each job: once it says so, the jobs not
    /// yet started are given back (their leases released, the takes not counted), so a worker
    /// that shuts down leaves them to the others at once instead of when the leases end.
    ///
    /// # Errors
    /// Store failures while claiming; the random source.
    pub async fn run_due_until(&self, stop: impl Fn() -> bool) -> Result<JobReport, Error> {
        let schedule = &self.ctx.schedule;
        let token = self.ctx.ids.lease_token()?;
        let jobs = self
            .ctx
            .store
            .claim_jobs(&Claim {
                now: self.ctx.now(),
                token: token.clone(),
                lease_ms: schedule.lease_ms,
                limit: schedule.batch,
                max_attempts: schedule.job_max_attempts,
            })
            .await?;
        let mut report = JobReport {
            claimed: jobs.len(),
            ..JobReport::default()
        };
        for job in jobs {
            if stop() {
                // Best effort: a lease not given back ends on its own.
                if let Ok(true) = self.ctx.store.release_lease(&job.id, &token).await {
                    report.released += 1;
                }
                continue;
            }
            let lease = Lease {
                job,
                token: token.clone(),
            };
            // The batch ran one job after another: make sure this one is still ours, for a whole
            // lease, before starting it.
            match lease
                .renew(&self.ctx, self.ctx.now() + schedule.lease_ms)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    report.skipped += 1;
                    continue;
                }
                Err(e) => {
                    report.failed.push((lease.job.id.clone(), e.to_string()));
                    continue;
                }
            }
            match run(&self.ctx, &lease).await {
                Ok(()) => report.done += 1,
                // Its subject is gone: nothing will ever run it to the end.
                Err(e @ Error::NotFound { .. }) => {
                    lease.finish_alone(&self.ctx, None).await?;
                    report.failed.push((lease.job.id.clone(), e.to_string()));
                }
                Err(e) => report.failed.push((lease.job.id.clone(), e.to_string())),
            }
        }
        Ok(report)
    }
}

/// Runs one held job: moves its subject on by the subject's state.
pub(crate) async fn run(ctx: &Context, lease: &Lease) -> Result<(), Error> {
    match &lease.job.kind {
        JobKind::Payment(id) => payments::step(ctx, lease, id).await,
        JobKind::Refund(id) => refunds::step(ctx, lease, id).await,
        JobKind::Authorization(id) => authorizations::step(ctx, lease, id).await,
        JobKind::Declaration(id) => customs::step(ctx, lease, id).await,
        JobKind::Registration(id) => registrations::step(ctx, lease, id).await,
    }
}

/// What a store writes, in the claim's transaction, when it sets a job aside: an attention item
/// (subject: the job; what it was for and why it stopped) and its `OperatorAttention` event.
/// `what` is the job's kind and subject as stored (it may not be readable as a [`JobKind`]).
pub fn dead_letter(job: &JobId, what: &str, why: &str, now: Millis) -> (AttentionItem, Event) {
    let item = AttentionItem {
        id: AttentionId::new(format!("atn_job_{job}")),
        subject: Subject::Job(job.clone()),
        code: "job_dead_letter".into(),
        reason: format!("job {job} ({what}) was set aside: {why}"),
        tried: "the job ran again each time its lease ended".into(),
        actions: vec![OperatorAction::InquireNow, OperatorAction::Resolve],
        opened_at: now,
        updated_at: now,
        resolution: None,
    };
    let event = Event::new(
        EventKind::OperatorAttention,
        job,
        Some(format!("job_dead_letter: {}", item.reason)),
        now,
    );
    (item, event)
}

/// Whether `job` (as claimed) has been taken too often in a row: the store's rule, shared with the
/// in-memory store.
pub fn exhausted(job: &Job, max_attempts: u32) -> bool {
    job.attempts >= max_attempts
}
