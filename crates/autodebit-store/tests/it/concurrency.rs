//! Races: many units of work on one compare-and-set, many workers on one jobs table, a worker
//! that dies holding leases.

use std::collections::BTreeMap;
use std::sync::Arc;

use autodebit_domain::lifecycle::attempt::AttemptState;
use autodebit_domain::model::{AttemptId, Event, EventKind, IdempotencyRecord, JobKind};
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
                mine.payment_id = Some(format!("pid-{i}"));
                barrier.wait().await;
                let mut tx = store.begin().await.unwrap();
                if !tx.update_attempt(&mine).await.unwrap() {
                    return None;
                }
                tx.push_event(&Event {
                    kind: EventKind::PaymentSucceeded,
                    subject: mine.id.to_string(),
                    detail: mine.payment_id.clone(),
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
            stored.payment_id,
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
            tx.enqueue_job(JobKind::SendPayment(AttemptId::new(format!("a{i}"))), due)
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
                let worker = format!("worker-{w}");
                let mut ran = Vec::new();
                barrier.wait().await;
                loop {
                    let jobs = store.claim_jobs(T0 + 10, &worker, 60_000, 3).await.unwrap();
                    if jobs.is_empty() {
                        break;
                    }
                    for job in jobs {
                        // "Running" a job writes a record keyed by it: a second run of the same
                        // job would find the key taken.
                        let JobKind::SendPayment(id) = &job.kind else {
                            unreachable!()
                        };
                        let mut tx = store.begin().await.unwrap();
                        let first = tx
                            .insert_idempotency(&IdempotencyRecord {
                                key: format!("ran:{id}"),
                                fingerprint: worker.clone(),
                                resource: job.id.to_string(),
                                created_at: T0,
                            })
                            .await
                            .unwrap();
                        assert!(first, "{id} ran twice");
                        assert!(tx.complete_job(&job.id, &worker).await.unwrap());
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
            tx.enqueue_job(JobKind::ResolvePayment(AttemptId::new(format!("a{i}"))), T0)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
        let lease = 30_000;
        // The first worker takes three jobs and starts one, then dies: its unit of work is
        // never committed.
        let taken = db.store.claim_jobs(T0, "doomed", lease, 3).await.unwrap();
        assert_eq!(taken.len(), 3);
        {
            let mut tx = db.store.begin().await.unwrap();
            assert!(tx.complete_job(&taken[0].id, "doomed").await.unwrap());
            // killed here
        }
        // While its leases hold, nobody else takes those jobs.
        let others = db
            .store
            .claim_jobs(T0 + lease - 1, "rescuer", lease, 10)
            .await
            .unwrap();
        assert_eq!(others.len(), 2, "{name}: only the two free ones");
        let mut tx = db.store.begin().await.unwrap();
        for job in &others {
            assert!(tx.complete_job(&job.id, "rescuer").await.unwrap());
        }
        tx.commit().await.unwrap();
        // Once they run out, the rescuer takes the three again, with the attempt counted.
        let rescued = db
            .store
            .claim_jobs(T0 + lease, "rescuer", lease, 10)
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
            assert!(tx.complete_job(&job.id, "rescuer").await.unwrap());
        }
        tx.commit().await.unwrap();
        assert!(db.store.jobs().await.unwrap().is_empty(), "{name}");
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_whose_lease_ran_out_never_finishes_beside_the_rescuer() {
    for db in backends().await {
        let name = db.name();
        let mut tx = db.store.begin().await.unwrap();
        let busy = tx
            .enqueue_job(JobKind::ResolvePayment(AttemptId::new("busy")), T0)
            .await
            .unwrap();
        let free = tx
            .enqueue_job(JobKind::ResolvePayment(AttemptId::new("free")), T0 + 1)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        // w1 takes the first job; its lease runs out while it is still finishing it.
        let taken = db.store.claim_jobs(T0, "w1", 10, 1).await.unwrap();
        assert_eq!(taken[0].id, busy);
        let mut finishing = db.store.begin().await.unwrap();
        assert!(finishing.complete_job(&busy, "w1").await.unwrap());
        finishing
            .push_event(&Event {
                kind: EventKind::PaymentSucceeded,
                subject: "busy".into(),
                detail: None,
                at: T0,
            })
            .await
            .unwrap();
        // Meanwhile w2 polls, past the lease.
        let store = db.store.clone();
        let claim = tokio::spawn(async move { store.claim_jobs(T0 + 100, "w2", 1_000, 10).await });
        let (finished, claimed) = if name == "postgres" {
            // Job rows are not locked while a unit of work runs: w2 does not wait, and takes
            // the expired job; w1's commit then finds its lease gone and writes nothing.
            let claimed = tokio::time::timeout(std::time::Duration::from_secs(10), claim)
                .await
                .expect("postgres: the claim does not wait for w1")
                .unwrap()
                .unwrap();
            (finishing.commit().await, claimed)
        } else {
            // SQLite: one writer at a time; w2 claims after w1's unit of work, which finishes.
            let finished = finishing.commit().await;
            (finished, claim.await.unwrap().unwrap())
        };
        let ids: Vec<_> = claimed.iter().map(|j| &j.id).collect();
        let events = db.store.events_after(0, 10).await.unwrap();
        match finished {
            Ok(()) => {
                assert_eq!(
                    ids,
                    vec![&free],
                    "{name}: w1 finished, w2 took only the free job"
                );
                assert_eq!(events.len(), 1, "{name}");
            }
            Err(StoreError::Conflict(why)) => {
                assert!(why.contains("no longer leased to w1"), "{name}: {why}");
                assert_eq!(ids, vec![&busy, &free], "{name}: w2 took the expired job");
                assert!(events.is_empty(), "{name}: w1's unit of work wrote nothing");
            }
            Err(other) => panic!("{name}: {other}"),
        }
        if name == "postgres" {
            assert!(
                events.is_empty(),
                "postgres: the rescuer won, since claims never wait"
            );
        }
        db.cleanup().await;
    }
}
