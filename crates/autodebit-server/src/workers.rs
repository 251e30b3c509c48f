//! The job runner inside `autodebit serve`: `workers.count` tasks, each taking due jobs of every
//! merchant in turn (the domain's [`Jobs`] runner under leases, so several processes on one
//! PostgreSQL share the work). A worker that found work looks again at once; an idle one waits,
//! doubling its wait up to `workers.idle_poll_max_ms`, or until a request or notification wakes
//! it. On shutdown a worker finishes the job it is running and gives back the jobs it took but
//! had not started (their leases released, so another process takes them at once).
//!
//! Besides, one housekeeping task sweeps idempotency keys older than the retention, and one task
//! sends the merchants' events to their webhook endpoints ([`crate::delivery`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use autodebit_domain::services::jobs::Jobs;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::http::state::Tenant;

/// How the workers run.
#[derive(Clone, Debug)]
pub struct WorkerSettings {
    /// How many.
    pub count: u32,
    /// The shortest idle wait.
    pub idle_min: Duration,
    /// The longest idle wait.
    pub idle_max: Duration,
    /// How long idempotency keys are kept.
    pub idempotency_retention: Duration,
    /// Whether webhook endpoints made through the API may be sent to internal addresses (sandbox
    /// mode only: its receivers are on loopback).
    pub webhooks_to_private_addresses: bool,
}

/// The running workers.
#[derive(Debug)]
pub struct Workers {
    tasks: JoinSet<()>,
    stop: CancellationToken,
    stopping: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
}

impl Workers {
    /// Starts the workers over `tenants`.
    pub fn start(tenants: Vec<Tenant>, settings: &WorkerSettings, wake: Arc<Notify>) -> Self {
        let stop = CancellationToken::new();
        let stopping = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let mut tasks = JoinSet::new();
        for n in 0..settings.count {
            tasks.spawn(work(
                n,
                tenants.clone(),
                settings.clone(),
                wake.clone(),
                Stop {
                    token: stop.clone(),
                    stopping: stopping.clone(),
                },
                done.clone(),
            ));
        }
        match crate::delivery::clients(settings.webhooks_to_private_addresses) {
            Ok(http) => {
                tasks.spawn(crate::delivery::run(tenants.clone(), http, stop.clone()));
            }
            Err(e) => tracing::error!(error = %e, "webhooks cannot be sent: no HTTP client"),
        }
        tasks.spawn(housekeeping(tenants, settings.clone(), stop.clone()));
        Self {
            tasks,
            stop,
            stopping,
            done,
        }
    }

    /// How many jobs these workers ran to the end so far (this process only; the metric
    /// `autodebit_jobs_run_total` counts the same).
    pub fn jobs_done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    /// Asks every worker to stop after the job it is running, and waits up to `grace` for them.
    /// Returns whether all stopped in time (the others are aborted: their leases end on their own).
    pub async fn stop(mut self, grace: Duration) -> bool {
        self.stopping.store(true, Ordering::SeqCst);
        self.stop.cancel();
        let all = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(grace, all).await.is_ok() {
            true
        } else {
            self.tasks.abort_all();
            false
        }
    }
}

/// How a worker is told to stop: the token ends its waits, the flag stops a batch between jobs.
struct Stop {
    token: CancellationToken,
    stopping: Arc<AtomicBool>,
}

async fn work(
    n: u32,
    tenants: Vec<Tenant>,
    settings: WorkerSettings,
    wake: Arc<Notify>,
    Stop {
        token: stop,
        stopping,
    }: Stop,
    done: Arc<AtomicU64>,
) {
    let mut idle = settings.idle_min;
    // Workers start on different merchants so one busy merchant does not hold every worker.
    let mut start = usize::try_from(n).unwrap_or(0);
    loop {
        if stop.is_cancelled() {
            return;
        }
        let mut busy = false;
        for i in 0..tenants.len() {
            let tenant = &tenants[(start + i) % tenants.len()];
            let stopping = stopping.clone();
            let report = Jobs::new(tenant.ctx().clone())
                .run_due_until(move || stopping.load(Ordering::SeqCst))
                .await;
            match report {
                Ok(report) => {
                    if report.claimed > 0 {
                        busy = true;
                        let ran = u64::try_from(report.done).unwrap_or(0);
                        done.fetch_add(ran, Ordering::Relaxed);
                        metrics::counter!("autodebit_jobs_run_total", "merchant" => tenant.id().to_owned())
                            .increment(ran);
                    }
                    for (job, why) in &report.failed {
                        metrics::counter!("autodebit_jobs_failed_total", "merchant" => tenant.id().to_owned())
                            .increment(1);
                        tracing::warn!(merchant = tenant.id(), %job, %why, "a job failed; it runs again when its lease ends");
                    }
                }
                Err(e) => {
                    tracing::warn!(merchant = tenant.id(), error = %e, "could not take jobs");
                }
            }
            if stop.is_cancelled() {
                return;
            }
        }
        start = start.wrapping_add(1);
        if busy {
            idle = settings.idle_min;
            continue;
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = wake.notified() => idle = settings.idle_min,
            () = tokio::time::sleep(idle) => idle = (idle * 2).min(settings.idle_max),
        }
    }
}

async fn housekeeping(tenants: Vec<Tenant>, settings: WorkerSettings, stop: CancellationToken) {
    let every = Duration::from_secs(3_600);
    loop {
        for tenant in &tenants {
            let now = tenant.ctx().now();
            let keep =
                i64::try_from(settings.idempotency_retention.as_millis()).unwrap_or(i64::MAX);
            match tenant
                .store()
                .sweep_api_requests(now.saturating_sub(keep))
                .await
            {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    merchant = tenant.id(),
                    swept = n,
                    "idempotency keys past their retention removed"
                ),
                Err(e) => {
                    tracing::warn!(merchant = tenant.id(), error = %e, "could not sweep idempotency keys")
                }
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}
