//! Races: many units of work on one compare-and-set, many workers on one jobs table, a worker
//! that dies holding leases.

use std::collections::BTreeMap;
use std::sync::Arc;

use autodebit_domain::lifecycle::attempt::AttemptState;
use autodebit_domain::model::{Event, EventKind, IdempotencyRecord, JobKind};
use autodebit_domain::ports::{Store, StoreError};
use tokio::sync::Barrier;

use crate::support::*;

const RACERS: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_units_of_work_apply_one_compare_and_set_once() {
    for db in backends().await {
        let name = db.name();
        let read = seed_payment(&db.store, 1).await;
        let barrier = Arc::new(Barrier::new(RACERS));
        let mut tasks = Vec::new();
        for i in 0..RACERS {
            let store = db.store.clone();
            let barrier = barrier.clone();
            let mut mine = read.clone();
            tasks.push(tokio::spawn(async move {
                // Everyone read version 0 and now applies a different result to it.
                mine.state = if i % 2 == 0 {
                    AttemptState::Succeeded
                } else {
                    AttemptState::Failed
                };
                mine.payment_id = Some(ams_protocol::PaymentId::new(format!("pid-{i}")));
                barrier.wait().await;
                let mut tx = store.begin().await.unwrap();
                if !tx.update_attempt(&mine).await.unwrap() {
                    return None;
                }
                tx.push_event(&Event {
                    kind: EventKind::PaymentSucceeded,
                    subject: mine.id.to_string(),
                    detail: mine.payment_id.as_ref().map(ToString::to_string),
                    at: T0,
                })
                .await
                .unwrap();
                tx.commit().await.unwrap();
                Some(i)
            }));
        }
        let mut winners = Vec::new();
        for task in tasks {
            if let Some(i) = task.await.unwrap() {
                winners.push(i);
            }
        }
        assert_eq!(winners.len(), 1, "{name}: winners {winners:?}");
        let mut tx = db.store.begin().await.unwrap();
        let stored = tx.attempt(&read.id).await.unwrap().unwrap();
        drop(tx);
        assert_eq!(stored.version, 1, "{name}");
        assert_eq!(
            stored.payment_id.map(|p| p.to_string()),
            Some(format!("pid-{}", winners[0])),
            "{name}: the winner's write"
        );
        let events = db.store.events_after(0, 100).await.unwrap();
        assert_eq!(events.len(), 1, "{name}: one event, from the winner");
        db.cleanup().await;
    }
}

const JOBS: usize = 200;
const WORKERS: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workers_sharing_the_jobs_table_run_each_job_once() {
    for db in backends().await {
        let name = db.name();
        let mut tx = db.store.begin().await.unwrap();
        for i in 0..JOBS {
            let due = T0 + i64::try_from(i % 7).unwrap();
            tx.schedule_job(payment_job(&format!("a{i}")), due)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();

        let barrier = Arc::new(Barrier::new(WORKERS));
        let mut tasks = Vec::new();
        for w in 0..WORKERS {
            let store = db.store.clone();
            let barrier = barrier.clone();
            tasks.push(tokio::spawn(async move {
                let mut ran = Vec::new();
                barrier.wait().await;
                for round in 0.. {
                    // A fresh token for every claim, as the job runner makes them.
                    let token = format!("worker-{w}-claim-{round}");
                    let jobs = store
                        .claim_jobs(&claim(&token, T0 + 10, 60_000, 3))
                        .await
                        .unwrap();
                    if jobs.is_empty() {
                        break;
                    }
                    for job in jobs {
                        // "Running" a job writes a record keyed by it: a second run of the same
                        // job would find the key taken.
                        let JobKind::Payment(id) = &job.kind else {
                            unreachable!()
                        };
                        let mut tx = store.begin().await.unwrap();
                        let first = tx
                            .insert_idempotency(&IdempotencyRecord {
                                key: format!("ran:{id}"),
                                fingerprint: token.clone(),
                                resource: job.id.to_string(),
                                created_at: T0,
                            })
                            .await
                            .unwrap();
                        assert!(first, "{id} ran twice");
                        assert!(tx.complete_job(&job.id, &lease(&token)).await.unwrap());
                        tx.commit().await.unwrap();
                        ran.push(id.to_string());
                    }
                }
                ran
            }));
        }
        let mut runs: BTreeMap<String, usize> = BTreeMap::new();
        let mut per_worker = Vec::new();
        for task in tasks {
            let ran = task.await.unwrap();
            per_worker.push(ran.len());
            for id in ran {
                *runs.entry(id).or_default() += 1;
            }
        }
        assert_eq!(runs.len(), JOBS, "{name}: every job ran");
        assert!(runs.values().all(|&n| n == 1), "{name}: each once");
        assert!(db.store.jobs().await.unwrap().is_empty(), "{name}");
        eprintln!("{name}: jobs per worker {per_worker:?}");
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_worker_killed_holding_leases_loses_nothing() {
    for db in backends().await {
        let name = db.name();
        let mut tx = db.store.begin().await.unwrap();
        for i in 0..5 {
            tx.schedule_job(payment_job(&format!("a{i}")), T0)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
        let lease_ms = 30_000;
        // The first worker takes three jobs and starts one, then dies: its unit of work is
        // never committed.
        let taken = db
            .store
            .claim_jobs(&claim("doomed", T0, lease_ms, 3))
            .await
            .unwrap();
        assert_eq!(taken.len(), 3);
        {
            let mut tx = db.store.begin().await.unwrap();
            assert!(
                tx.complete_job(&taken[0].id, &lease("doomed"))
                    .await
                    .unwrap()
            );
            // killed here
        }
        // While its leases hold, nobody else takes those jobs.
        let others = db
            .store
            .claim_jobs(&claim("rescuer-1", T0 + lease_ms - 1, lease_ms, 10))
            .await
            .unwrap();
        assert_eq!(others.len(), 2, "{name}: only the two free ones");
        let mut tx = db.store.begin().await.unwrap();
        for job in &others {
            assert!(tx.complete_job(&job.id, &lease("rescuer-1")).await.unwrap());
        }
        tx.commit().await.unwrap();
        // Once they run out, a rescuer takes the three again, with the attempt counted.
        let rescued = db
            .store
            .claim_jobs(&claim("rescuer-2", T0 + lease_ms, lease_ms, 10))
            .await
            .unwrap();
        assert_eq!(
            rescued
                .iter()
                .map(|j| (&j.id, j.attempts))
                .collect::<Vec<_>>(),
            taken.iter().map(|j| (&j.id, 2)).collect::<Vec<_>>(),
            "{name}"
        );
        let mut tx = db.store.begin().await.unwrap();
        for job in &rescued {
            assert!(tx.complete_job(&job.id, &lease("rescuer-2")).await.unwrap());
        }
        tx.commit().await.unwrap();
        assert!(db.store.jobs().await.unwrap().is_empty(), "{name}");
        db.cleanup().await;
    }
}

/// Fewer than the PostgreSQL pool's 8 connections: every stale unit of work holds one while the
/// rescuer needs its own.
const RACED: usize = 6;

/// Workers whose leases ran out each stage a completion (and an event) while a rescuer takes
/// their jobs over: no job ends twice, and a worker whose lease was taken over commits nothing.
/// On PostgreSQL the staged units of work hold no job row, so the rescuer claims while they are
/// open and every one of their commits must be a conflict; on SQLite one writer at a time decides
/// the order, and whoever goes first ends the job.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_whose_lease_was_taken_over_commits_nothing() {
    for db in backends().await {
        let name = db.name();
        let postgres = name == "postgres";
        let mut tx = db.store.begin().await.unwrap();
        for i in 0..RACED {
            tx.schedule_job(payment_job(&format!("a{i}")), T0)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
        // The stale worker's lease is 10 ms long; the rescuer claims a second later.
        let stale = db
            .store
            .claim_jobs(&claim("stale", T0, 10, 100))
            .await
            .unwrap();
        assert_eq!(stale.len(), RACED);

        let staged = Arc::new(Barrier::new(RACED + 1));
        let rescued = Arc::new(Barrier::new(RACED + 1));
        // SQLite: every other stale worker starts only once the rescuer has claimed, so it must
        // find its lease gone.
        let (first_claim, claimed) = tokio::sync::watch::channel(false);
        let mut workers = Vec::new();
        for (i, job) in stale.into_iter().enumerate() {
            let store = db.store.clone();
            let staged = staged.clone();
            let rescued = rescued.clone();
            let mut claimed = claimed.clone();
            workers.push(tokio::spawn(async move {
                let JobKind::Payment(subject) = job.kind.clone() else {
                    unreachable!()
                };
                if postgres {
                    let mut tx = store.begin().await.unwrap();
                    assert!(tx.complete_job(&job.id, &lease("stale")).await.unwrap());
                    tx.push_event(&done(&format!("stale {subject}")))
                        .await
                        .unwrap();
                    staged.wait().await;
                    rescued.wait().await;
                    tx.commit().await
                } else {
                    staged.wait().await;
                    if i % 2 == 1 {
                        claimed.wait_for(|done| *done).await.unwrap();
                    }
                    let mut tx = store.begin().await.unwrap();
                    if tx.complete_job(&job.id, &lease("stale")).await.unwrap() {
                        tx.push_event(&done(&format!("stale {subject}")))
                            .await
                            .unwrap();
                    }
                    tx.commit().await
                }
            }));
        }
        let store = db.store.clone();
        let rescuer = tokio::spawn({
            let staged = staged.clone();
            let rescued = rescued.clone();
            async move {
                staged.wait().await;
                let mut ended = 0;
                for round in 0..1_000 {
                    if store.jobs().await.unwrap().is_empty() {
                        break;
                    }
                    let token = format!("rescuer-{round}");
                    let jobs = store
                        .claim_jobs(&claim(&token, T0 + 1_000, 60_000, 100))
                        .await
                        .unwrap();
                    for job in jobs {
                        let JobKind::Payment(subject) = job.kind.clone() else {
                            unreachable!()
                        };
                        let mut tx = store.begin().await.unwrap();
                        assert!(tx.complete_job(&job.id, &lease(&token)).await.unwrap());
                        tx.push_event(&done(&format!("rescuer {subject}")))
                            .await
                            .unwrap();
                        tx.commit().await.unwrap();
                        ended += 1;
                    }
                    first_claim.send_replace(true);
                    if postgres && ended == RACED {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
                if postgres {
                    rescued.wait().await;
                }
                ended
            }
        });
        // A panic in one task would leave the others at a barrier: give up rather than hang.
        let finished = tokio::time::timeout(std::time::Duration::from_secs(60), async {
            let mut results = Vec::new();
            for worker in workers {
                results.push(worker.await.unwrap());
            }
            (results, rescuer.await.unwrap())
        })
        .await;
        let (results, by_rescuer) = finished.unwrap_or_else(|_| panic!("{name}: the race hung"));
        let mut conflicts = 0;
        for result in results {
            match result {
                Ok(()) => {}
                Err(StoreError::Conflict(why)) => {
                    assert!(
                        why.contains("no longer held by this lease"),
                        "{name}: {why}"
                    );
                    conflicts += 1;
                }
                Err(other) => panic!("{name}: {other}"),
            }
        }
        let events = db.store.events_after(0, 1_000).await.unwrap();
        let mut ends: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (_, event) in &events {
            let (who, subject) = event.subject.split_once(' ').unwrap();
            ends.entry(subject.to_owned())
                .or_default()
                .push(who.to_owned());
        }
        assert_eq!(ends.len(), RACED, "{name}: every job ended: {ends:?}");
        assert!(
            ends.values().all(|who| who.len() == 1),
            "{name}: a job ended twice: {ends:?}"
        );
        let by_stale = ends.values().filter(|who| who[0] == "stale").count();
        assert_eq!(by_stale + by_rescuer, RACED, "{name}");
        if postgres {
            assert_eq!(
                conflicts, RACED,
                "postgres: every stale commit lost its lease"
            );
            assert_eq!(by_rescuer, RACED);
        } else {
            assert_eq!(
                conflicts, 0,
                "sqlite: a lease lost is seen before anything is staged"
            );
            assert!(
                by_rescuer >= RACED / 2,
                "sqlite: the late half lost their leases"
            );
        }
        assert!(db.store.jobs().await.unwrap().is_empty(), "{name}");
        eprintln!("{name}: {by_stale} ended by the stale worker, {by_rescuer} by the rescuer");
        db.cleanup().await;
    }
}

fn done(subject: &str) -> Event {
    Event {
        kind: EventKind::PaymentSucceeded,
        subject: subject.to_owned(),
        detail: None,
        at: T0,
    }
}
