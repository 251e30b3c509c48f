//! The HTTP API's idempotency records on each backend: one request runs per key, a retry
//! replays its answer, another request under the key is refused, a dead holder's key is taken
//! over after its hold, and old records are swept; per merchant.

use std::sync::Arc;

use autodebit_domain::ports::StoreError;
use autodebit_store::ApiRequestStart::{InFlight, Mismatch, Proceed, Replay};
use tokio::sync::Barrier;

use crate::support::*;

const HOLD: i64 = 30_000;

#[tokio::test]
async fn a_key_runs_once_then_replays_and_refuses_another_request() {
    for db in backends().await {
        let name = db.name();
        let s = &db.store;
        assert_eq!(
            s.begin_api_request("k1", "fp-a", T0, HOLD).await.unwrap(),
            Proceed,
            "{name}"
        );
        assert_eq!(
            s.begin_api_request("k1", "fp-a", T0 + 1, HOLD)
                .await
                .unwrap(),
            InFlight,
            "{name}: a retry while it runs"
        );
        assert_eq!(
            s.begin_api_request("k1", "fp-b", T0 + 1, HOLD)
                .await
                .unwrap(),
            Mismatch,
            "{name}: another request under the key"
        );
        assert!(
            !s.finish_api_request("k1", "fp-b", 201, "{}").await.unwrap(),
            "{name}: only the request's own fingerprint finishes it"
        );
        assert!(
            s.finish_api_request("k1", "fp-a", 201, r#"{"id":"order-1"}"#)
                .await
                .unwrap()
        );
        assert!(
            !s.finish_api_request("k1", "fp-a", 500, "late")
                .await
                .unwrap(),
            "{name}: finished once"
        );
        assert!(!s.abandon_api_request("k1", "fp-a").await.unwrap());
        let replay = Replay {
            status: 201,
            body: r#"{"id":"order-1"}"#.into(),
        };
        assert_eq!(
            s.begin_api_request("k1", "fp-a", T0 + 2, HOLD)
                .await
                .unwrap(),
            replay,
            "{name}"
        );
        // Long after its hold, a finished request still replays.
        assert_eq!(
            s.begin_api_request("k1", "fp-a", T0 + 10 * HOLD, HOLD)
                .await
                .unwrap(),
            replay
        );
        assert_eq!(
            s.begin_api_request("k1", "fp-b", T0 + 10 * HOLD, HOLD)
                .await
                .unwrap(),
            Mismatch
        );

        // Abandoned: the next request with the key runs.
        assert_eq!(
            s.begin_api_request("k2", "fp-a", T0, HOLD).await.unwrap(),
            Proceed
        );
        assert!(!s.abandon_api_request("k2", "fp-b").await.unwrap());
        assert!(s.abandon_api_request("k2", "fp-a").await.unwrap(), "{name}");
        assert_eq!(
            s.begin_api_request("k2", "fp-b", T0 + 1, HOLD)
                .await
                .unwrap(),
            Proceed,
            "{name}: an abandoned key is free"
        );

        // Values the store refuses, with nothing written.
        assert!(matches!(
            s.finish_api_request("k2", "fp-b", 42, "x").await,
            Err(StoreError::Rejected(m)) if m.contains("42")
        ));
        assert!(matches!(
            s.begin_api_request("k3", "fp", i64::MAX, 1).await,
            Err(StoreError::Rejected(_))
        ));
        assert_eq!(
            s.begin_api_request("k3", "fp", T0, HOLD).await.unwrap(),
            Proceed,
            "{name}: the refused begin wrote nothing"
        );
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_dead_holders_key_is_taken_over_after_its_hold() {
    for db in backends().await {
        let name = db.name();
        let s = &db.store;
        assert_eq!(
            s.begin_api_request("k", "fp", T0, HOLD).await.unwrap(),
            Proceed
        );
        // The process that began it dies without finishing or abandoning.
        assert_eq!(
            s.begin_api_request("k", "fp", T0 + HOLD - 1, HOLD)
                .await
                .unwrap(),
            InFlight,
            "{name}: held until its hold ends"
        );
        assert_eq!(
            s.begin_api_request("k", "fp-other", T0 + HOLD, HOLD)
                .await
                .unwrap(),
            Mismatch,
            "{name}: another request never takes it over"
        );
        assert_eq!(
            s.begin_api_request("k", "fp", T0 + HOLD, HOLD)
                .await
                .unwrap(),
            Proceed,
            "{name}: taken over once the hold ended"
        );
        // The new holder's hold counts from the takeover.
        assert_eq!(
            s.begin_api_request("k", "fp", T0 + 2 * HOLD - 1, HOLD)
                .await
                .unwrap(),
            InFlight,
            "{name}"
        );
        assert!(s.finish_api_request("k", "fp", 200, "ok").await.unwrap());
        assert_eq!(
            s.begin_api_request("k", "fp", T0 + 3 * HOLD, HOLD)
                .await
                .unwrap(),
            Replay {
                status: 200,
                body: "ok".into()
            }
        );
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_requests_with_one_key_run_once() {
    const N: usize = 16;
    for db in backends().await {
        let name = db.name();
        for round in 0..3 {
            let barrier = Arc::new(Barrier::new(N));
            let key = format!("race-{round}");
            let tasks: Vec<_> = (0..N)
                .map(|_| {
                    let store = db.store.clone();
                    let barrier = barrier.clone();
                    let key = key.clone();
                    tokio::spawn(async move {
                        barrier.wait().await;
                        store.begin_api_request(&key, "fp", T0, HOLD).await
                    })
                })
                .collect();
            let mut proceeded = 0;
            let mut in_flight = 0;
            for task in tasks {
                match task.await.unwrap().unwrap() {
                    Proceed => proceeded += 1,
                    InFlight => in_flight += 1,
                    other => panic!("{name}: {other:?}"),
                }
            }
            assert_eq!((proceeded, in_flight), (1, N - 1), "{name}, round {round}");
        }
        // Concurrent takeovers of a dead holder's key: one wins.
        let barrier = Arc::new(Barrier::new(N));
        let tasks: Vec<_> = (0..N)
            .map(|_| {
                let store = db.store.clone();
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    store
                        .begin_api_request("race-0", "fp", T0 + HOLD, HOLD)
                        .await
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.unwrap().unwrap());
        }
        assert_eq!(
            outcomes.iter().filter(|o| **o == Proceed).count(),
            1,
            "{name}: {outcomes:?}"
        );
        assert!(outcomes.iter().all(|o| matches!(o, Proceed | InFlight)));
        db.cleanup().await;
    }
}

#[tokio::test]
async fn keys_are_per_merchant_and_old_records_are_swept() {
    for db in backends().await {
        let name = db.name();
        let m1 = db.store.for_merchant("m1").unwrap();
        let m2 = db.store.for_merchant("m2").unwrap();
        // The same key is two merchants' two requests.
        assert_eq!(
            m1.begin_api_request("k", "fp-1", T0, HOLD).await.unwrap(),
            Proceed
        );
        assert_eq!(
            m2.begin_api_request("k", "fp-2", T0, HOLD).await.unwrap(),
            Proceed,
            "{name}"
        );
        assert!(!m2.finish_api_request("k", "fp-1", 200, "x").await.unwrap());
        assert!(!m2.abandon_api_request("k", "fp-1").await.unwrap());
        assert!(m1.finish_api_request("k", "fp-1", 200, "m1").await.unwrap());
        assert_eq!(
            m2.begin_api_request("k", "fp-2", T0 + 1, HOLD)
                .await
                .unwrap(),
            InFlight,
            "{name}: m1's answer is not m2's"
        );

        // m1: finished old and new, in flight with a hold ended and one still held.
        let s = &m1;
        assert_eq!(
            s.begin_api_request("new", "fp", T0 + 100, HOLD)
                .await
                .unwrap(),
            Proceed
        );
        assert!(s.finish_api_request("new", "fp", 200, "n").await.unwrap());
        assert_eq!(
            s.begin_api_request("dead", "fp", T0, 10).await.unwrap(),
            Proceed
        );
        assert_eq!(
            s.begin_api_request("held", "fp", T0, 10 * HOLD)
                .await
                .unwrap(),
            Proceed
        );
        // Finished ones created before the cutoff go ("k", made at T0); in-flight ones whose hold
        // ended before it go ("dead", held until T0 + 10); the rest stay.
        assert_eq!(s.sweep_api_requests(T0 + 50).await.unwrap(), 2, "{name}");
        assert_eq!(
            s.begin_api_request("k", "fp-other", T0 + 60, HOLD)
                .await
                .unwrap(),
            Proceed,
            "{name}: a swept key is free"
        );
        assert_eq!(
            s.begin_api_request("dead", "fp-other", T0 + 60, HOLD)
                .await
                .unwrap(),
            Proceed
        );
        assert_eq!(
            s.begin_api_request("held", "fp", T0 + 60, HOLD)
                .await
                .unwrap(),
            InFlight
        );
        assert_eq!(
            s.begin_api_request("new", "fp", T0 + 60, HOLD)
                .await
                .unwrap(),
            Replay {
                status: 200,
                body: "n".into()
            }
        );
        // m2's record was not m1's to sweep.
        assert_eq!(
            m2.begin_api_request("k", "fp-2", T0 + 60, HOLD)
                .await
                .unwrap(),
            InFlight,
            "{name}"
        );
        assert_eq!(m2.sweep_api_requests(T0 + HOLD + 1).await.unwrap(), 1);
        db.cleanup().await;
    }
}
