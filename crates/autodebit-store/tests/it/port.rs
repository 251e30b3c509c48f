//! The port's contract, as `InMemoryStore` defines it, on each backend.

use autodebit_domain::lifecycle::attempt::AttemptState;
use autodebit_domain::lifecycle::authorization::AuthorizationState;
use autodebit_domain::model::{
    AttemptId, AuthorizationId, Event, EventKind, IdempotencyRecord, InboxEntry, JobKind, OrderId,
    RefundId,
};
use autodebit_domain::ports::{Store, StoreError};

use crate::support::*;

#[tokio::test]
async fn records_round_trip_through_every_lookup() {
    for db in backends().await {
        let name = db.name();
        let store = &db.store;
        let auth = authorization("auth-1", "tok-1");
        let mut bare = authorization("auth-2", "tok-2");
        bare.token = None;
        bare.pending_auth_code = None;
        bare.os_type = None;
        bare.auth_url = None;
        bare.user_login_id = None;
        bare.failure = Some("USER_NOT_EXIST".into());
        bare.state = AuthorizationState::Failed;
        let order = order("order-1", "auth-1");
        let late = {
            let mut a = attempt("attempt-2", "order-1", "prid-2", "tok-1");
            a.created_at = T0 + 5;
            a.state = AttemptState::Unknown;
            a.payment_id = Some("pid-2".into());
            a.result_code = Some("UNKNOWN_EXCEPTION".into());
            a.inquiries = 3;
            a.late_success = true;
            a.cancel_started_at = Some(T0 + 9);
            a
        };
        let early = attempt("attempt-1", "order-1", "prid-1", "tok-1");
        let refund = refund("refund-1", "order-1", "rrid-1");

        let mut tx = store.begin().await.unwrap();
        tx.insert_authorization(&auth).await.unwrap();
        tx.insert_authorization(&bare).await.unwrap();
        tx.insert_order(&order).await.unwrap();
        tx.insert_attempt(&late).await.unwrap();
        tx.insert_attempt(&early).await.unwrap();
        tx.insert_refund(&refund).await.unwrap();
        // Read-your-writes inside the unit of work.
        assert_eq!(tx.order(&order.id).await.unwrap().as_ref(), Some(&order));
        tx.commit().await.unwrap();

        let mut tx = store.begin().await.unwrap();
        assert_eq!(
            tx.authorization(&auth.id).await.unwrap(),
            Some(auth.clone()),
            "{name}"
        );
        assert_eq!(
            tx.authorization(&bare.id).await.unwrap(),
            Some(bare.clone()),
            "{name}"
        );
        assert_eq!(
            tx.authorization_by_auth_state("state-auth-1")
                .await
                .unwrap(),
            Some(auth.clone())
        );
        assert_eq!(
            tx.authorization_by_access_token("tok-1").await.unwrap(),
            Some(auth.clone())
        );
        assert_eq!(
            tx.authorization_by_access_token("tok-9").await.unwrap(),
            None
        );
        assert_eq!(tx.order(&order.id).await.unwrap(), Some(order.clone()));
        assert_eq!(
            tx.attempt(&late.id).await.unwrap(),
            Some(late.clone()),
            "{name}"
        );
        assert_eq!(
            tx.attempt_by_payment_request_id("prid-1").await.unwrap(),
            Some(early.clone())
        );
        assert_eq!(
            tx.attempts_of_order(&order.id).await.unwrap(),
            vec![early.clone(), late.clone()],
            "oldest first"
        );
        assert_eq!(tx.refund(&refund.id).await.unwrap(), Some(refund.clone()));
        assert_eq!(
            tx.refund_by_refund_request_id("rrid-1").await.unwrap(),
            Some(refund.clone())
        );
        assert_eq!(
            tx.refunds_of_order(&order.id).await.unwrap(),
            vec![refund.clone()]
        );
        assert_eq!(tx.order(&OrderId::new("nope")).await.unwrap(), None);
        assert_eq!(tx.attempt(&AttemptId::new("nope")).await.unwrap(), None);
        assert_eq!(tx.refund(&RefundId::new("nope")).await.unwrap(), None);
        assert_eq!(
            tx.authorization(&AuthorizationId::new("nope"))
                .await
                .unwrap(),
            None
        );
        assert!(
            tx.attempts_of_order(&OrderId::new("nope"))
                .await
                .unwrap()
                .is_empty()
        );
        drop(tx);
        db.cleanup().await;
    }
}

#[tokio::test]
async fn updates_are_compare_and_set_on_the_version() {
    for db in backends().await {
        let name = db.name();
        let stored = seed_payment(&db.store, 1).await;
        let mut tx = db.store.begin().await.unwrap();
        let mut sent = stored.clone();
        sent.state = AttemptState::Sent;
        assert!(tx.update_attempt(&sent).await.unwrap(), "{name}: v0 → v1");
        assert!(!tx.update_attempt(&sent).await.unwrap(), "{name}: v0 again");
        let now = tx.attempt(&stored.id).await.unwrap().unwrap();
        assert_eq!((now.version, now.state), (1, AttemptState::Sent));
        let mut missing = sent.clone();
        missing.id = AttemptId::new("nope");
        assert!(!tx.update_attempt(&missing).await.unwrap());
        tx.commit().await.unwrap();

        // The same for every record type, across units of work.
        let mut tx = db.store.begin().await.unwrap();
        let mut order = tx.order(&OrderId::new("order-1")).await.unwrap().unwrap();
        let mut auth = tx
            .authorization(&AuthorizationId::new("auth-1"))
            .await
            .unwrap()
            .unwrap();
        tx.insert_refund(&refund("refund-1", "order-1", "rrid-1"))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let mut tx = db.store.begin().await.unwrap();
        order.refunded = 400;
        auth.token = None;
        auth.state = AuthorizationState::Invalid;
        assert!(tx.update_order(&order).await.unwrap());
        assert!(tx.update_authorization(&auth).await.unwrap());
        let mut r = tx
            .refund(&RefundId::new("refund-1"))
            .await
            .unwrap()
            .unwrap();
        r.sends = 2;
        assert!(tx.update_refund(&r).await.unwrap());
        tx.commit().await.unwrap();
        let mut tx = db.store.begin().await.unwrap();
        assert!(!tx.update_order(&order).await.unwrap(), "stale order");
        assert!(
            !tx.update_authorization(&auth).await.unwrap(),
            "stale authorization"
        );
        assert!(!tx.update_refund(&r).await.unwrap(), "stale refund");
        let back = tx.authorization(&auth.id).await.unwrap().unwrap();
        assert_eq!((back.version, back.token), (1, None), "{name}");
        assert_eq!(
            tx.authorization_by_access_token("tok-1").await.unwrap(),
            None,
            "{name}: a cleared token is not found by its old value"
        );
        assert_eq!(tx.order(&order.id).await.unwrap().unwrap().refunded, 400);
        assert_eq!(tx.refund(&r.id).await.unwrap().unwrap().sends, 2);
        drop(tx);
        db.cleanup().await;
    }
}

#[tokio::test]
async fn unique_rules_are_conflicts_and_the_unit_of_work_goes_on() {
    for db in backends().await {
        let name = db.name();
        seed_payment(&db.store, 1).await;
        let mut tx = db.store.begin().await.unwrap();
        let cases: Vec<(&str, Result<(), StoreError>)> = vec![
            (
                "same attempt id",
                tx.insert_attempt(&attempt("attempt-1", "order-1", "prid-x", "t"))
                    .await,
            ),
            (
                "same paymentRequestId",
                tx.insert_attempt(&attempt("attempt-x", "order-1", "prid-1", "t"))
                    .await,
            ),
            (
                "same authorization id",
                tx.insert_authorization(&authorization("auth-1", "t")).await,
            ),
            ("same authState", {
                let mut a = authorization("auth-x", "t");
                a.auth_state = "state-auth-1".into();
                tx.insert_authorization(&a).await
            }),
            (
                "same order id",
                tx.insert_order(&order("order-1", "auth-1")).await,
            ),
        ];
        for (case, result) in cases {
            assert!(
                matches!(result, Err(StoreError::Conflict(_))),
                "{name}: {case}: {result:?}"
            );
        }
        tx.insert_refund(&refund("refund-1", "order-1", "rrid-1"))
            .await
            .unwrap();
        let clash = tx
            .insert_refund(&refund("refund-2", "order-1", "rrid-1"))
            .await;
        assert!(
            matches!(clash, Err(StoreError::Conflict(_))),
            "{name}: {clash:?}"
        );
        // After the conflicts, the unit of work still works and commits what it did.
        tx.insert_attempt(&attempt("attempt-2", "order-1", "prid-2", "t"))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let mut tx = db.store.begin().await.unwrap();
        assert!(
            tx.attempt(&AttemptId::new("attempt-2"))
                .await
                .unwrap()
                .is_some(),
            "{name}"
        );
        assert!(
            tx.refund(&RefundId::new("refund-1"))
                .await
                .unwrap()
                .is_some(),
            "{name}"
        );
        assert!(
            tx.refund(&RefundId::new("refund-2"))
                .await
                .unwrap()
                .is_none()
        );
        drop(tx);
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_unit_of_work_commits_everything_or_nothing() {
    for db in backends().await {
        let name = db.name();
        let event = Event {
            kind: EventKind::PaymentSucceeded,
            subject: "order-1".into(),
            detail: Some("pid-1".into()),
            at: T0,
        };
        // Dropped without commit: nothing.
        {
            let mut tx = db.store.begin().await.unwrap();
            tx.insert_authorization(&authorization("auth-1", "tok-1"))
                .await
                .unwrap();
            tx.insert_order(&order("order-1", "auth-1")).await.unwrap();
            tx.enqueue_job(JobKind::ResolvePayment(AttemptId::new("a")), T0)
                .await
                .unwrap();
            tx.push_event(&event).await.unwrap();
            tx.inbox_insert(&inbox_entry("k1", "{}")).await.unwrap();
            tx.insert_idempotency(&idempotency("key-1")).await.unwrap();
        }
        let mut tx = db.store.begin().await.unwrap();
        assert_eq!(
            tx.order(&OrderId::new("order-1")).await.unwrap(),
            None,
            "{name}"
        );
        assert_eq!(tx.idempotency("key-1").await.unwrap(), None);
        drop(tx);
        assert!(db.store.jobs().await.unwrap().is_empty(), "{name}");
        assert!(db.store.events_after(0, 10).await.unwrap().is_empty());
        assert!(db.store.inbox().await.unwrap().is_empty());

        // Committed: all of it.
        let mut tx = db.store.begin().await.unwrap();
        tx.insert_authorization(&authorization("auth-1", "tok-1"))
            .await
            .unwrap();
        tx.insert_order(&order("order-1", "auth-1")).await.unwrap();
        tx.enqueue_job(JobKind::ResolvePayment(AttemptId::new("a")), T0)
            .await
            .unwrap();
        tx.push_event(&event).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(db.store.jobs().await.unwrap().len(), 1, "{name}");
        let events = db.store.events_after(0, 10).await.unwrap();
        assert_eq!(
            events.iter().map(|e| &e.1).collect::<Vec<_>>(),
            vec![&event]
        );
        db.cleanup().await;
    }
}

fn inbox_entry(key: &str, body: &str) -> InboxEntry {
    InboxEntry {
        dedup_key: key.into(),
        path: "/alipay/notify/payment".into(),
        headers: vec![
            ("client-id".into(), "SANDBOX_5Y".into()),
            (
                "signature".into(),
                "algorithm=RSA256,keyVersion=1,signature=abc".into(),
            ),
        ],
        body: body.into(),
        received_at: T0,
    }
}

fn idempotency(key: &str) -> IdempotencyRecord {
    IdempotencyRecord {
        key: key.into(),
        fingerprint: "sha256:abc".into(),
        resource: "order-1".into(),
        created_at: T0,
    }
}

#[tokio::test]
async fn the_inbox_and_idempotency_keys_deduplicate() {
    for db in backends().await {
        let name = db.name();
        let entry = inbox_entry("notifyPayment:p1:S", r#"{"paymentRequestId":"p1"}"#);
        let mut tx = db.store.begin().await.unwrap();
        assert!(tx.inbox_insert(&entry).await.unwrap(), "{name}");
        assert!(
            !tx.inbox_insert(&entry).await.unwrap(),
            "{name}: same unit of work"
        );
        assert!(tx.insert_idempotency(&idempotency("key-1")).await.unwrap());
        assert!(!tx.insert_idempotency(&idempotency("key-1")).await.unwrap());
        tx.commit().await.unwrap();
        let mut tx = db.store.begin().await.unwrap();
        assert!(
            !tx.inbox_insert(&entry).await.unwrap(),
            "{name}: after commit"
        );
        assert_eq!(
            tx.idempotency("key-1").await.unwrap(),
            Some(idempotency("key-1"))
        );
        assert_eq!(tx.idempotency("key-2").await.unwrap(), None);
        tx.commit().await.unwrap();
        assert_eq!(
            db.store.inbox().await.unwrap(),
            vec![entry],
            "{name}: headers and body kept"
        );
        db.cleanup().await;
    }
}

#[tokio::test]
async fn events_come_out_in_commit_order() {
    for db in backends().await {
        for i in 0..5 {
            let mut tx = db.store.begin().await.unwrap();
            tx.push_event(&Event {
                kind: EventKind::OperatorAttention,
                subject: format!("s{i}"),
                detail: None,
                at: T0 + i,
            })
            .await
            .unwrap();
            tx.commit().await.unwrap();
        }
        let all = db.store.events_after(0, 100).await.unwrap();
        let subjects: Vec<_> = all.iter().map(|(_, e)| e.subject.as_str()).collect();
        assert_eq!(subjects, ["s0", "s1", "s2", "s3", "s4"], "{}", db.name());
        let after = db.store.events_after(all[2].0, 1).await.unwrap();
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].1.subject, "s3");
        db.cleanup().await;
    }
}

#[tokio::test]
async fn jobs_are_taken_in_due_order_under_a_lease() {
    for db in backends().await {
        let name = db.name();
        let store = &db.store;
        let kind = |n: &str| JobKind::ResolvePayment(AttemptId::new(n));
        let mut tx = store.begin().await.unwrap();
        let late = tx.enqueue_job(kind("late"), T0 + 300).await.unwrap();
        let early = tx.enqueue_job(kind("early"), T0 + 100).await.unwrap();
        let middle = tx
            .enqueue_job(JobKind::RefreshToken(AuthorizationId::new("z")), T0 + 200)
            .await
            .unwrap();
        tx.commit().await.unwrap();

        assert!(
            store
                .claim_jobs(T0, "w1", 1_000, 10)
                .await
                .unwrap()
                .is_empty(),
            "{name}: none due"
        );
        let first = store.claim_jobs(T0 + 250, "w1", 1_000, 10).await.unwrap();
        assert_eq!(
            first.iter().map(|j| &j.id).collect::<Vec<_>>(),
            vec![&early, &middle],
            "{name}: due order"
        );
        assert!(first.iter().all(|j| j.attempts == 1
            && j.lease_holder.as_deref() == Some("w1")
            && j.lease_until == Some(T0 + 1_250)));
        assert_eq!(
            first[1].kind,
            JobKind::RefreshToken(AuthorizationId::new("z"))
        );
        // Leased jobs are not taken again while the lease holds; the free one is.
        let second = store.claim_jobs(T0 + 400, "w2", 1_000, 10).await.unwrap();
        assert_eq!(
            second.iter().map(|j| &j.id).collect::<Vec<_>>(),
            vec![&late],
            "{name}"
        );
        // The limit holds.
        assert!(
            store
                .claim_jobs(T0 + 400, "w2", 1_000, 0)
                .await
                .unwrap()
                .is_empty()
        );

        // Only the holder completes or reschedules.
        let mut tx = store.begin().await.unwrap();
        assert!(!tx.complete_job(&early, "w2").await.unwrap(), "{name}");
        assert!(tx.complete_job(&early, "w1").await.unwrap(), "{name}");
        assert!(!tx.reschedule_job(&middle, "w2", T0 + 5_000).await.unwrap());
        assert!(tx.reschedule_job(&middle, "w1", T0 + 5_000).await.unwrap());
        assert!(
            !tx.complete_job(&autodebit_domain::model::JobId::new("not-a-job"), "w1")
                .await
                .unwrap()
        );
        tx.commit().await.unwrap();
        let jobs = store.jobs().await.unwrap();
        assert_eq!(jobs.len(), 2, "{name}: {jobs:?}");
        let rescheduled = jobs.iter().find(|j| j.id == middle).unwrap();
        assert_eq!(
            (
                rescheduled.due_at,
                rescheduled.lease_holder.as_deref(),
                rescheduled.lease_until
            ),
            (T0 + 5_000, None, None),
            "{name}: rescheduled and released"
        );

        // An expired lease is taken by another worker, and the first one has lost it.
        let retaken = store.claim_jobs(T0 + 1_400, "w3", 1_000, 10).await.unwrap();
        assert_eq!(
            retaken
                .iter()
                .map(|j| (&j.id, j.attempts))
                .collect::<Vec<_>>(),
            vec![(&late, 2)]
        );
        let mut tx = store.begin().await.unwrap();
        assert!(
            !tx.complete_job(&late, "w2").await.unwrap(),
            "{name}: lease lost"
        );
        // remove_jobs removes every job of the kind, leased or not, at commit; until then it
        // counts what is stored (as the in-memory store does).
        assert_eq!(tx.remove_jobs(&kind("late")).await.unwrap(), 1);
        assert_eq!(tx.remove_jobs(&kind("late")).await.unwrap(), 1);
        tx.commit().await.unwrap();
        let left: Vec<_> = store
            .jobs()
            .await
            .unwrap()
            .into_iter()
            .map(|j| j.id)
            .collect();
        assert_eq!(left, vec![middle], "{name}");
        db.cleanup().await;
    }
}

#[tokio::test]
async fn job_changes_apply_at_commit_in_order_and_need_the_lease_then() {
    for db in backends().await {
        let name = db.name();
        let store = &db.store;
        let kind = JobKind::ResolvePayment(AttemptId::new("a1"));
        let mut tx = store.begin().await.unwrap();
        let old = tx.enqueue_job(kind.clone(), T0).await.unwrap();
        tx.commit().await.unwrap();
        let taken = store.claim_jobs(T0, "w1", 1_000, 1).await.unwrap();
        assert_eq!(taken[0].id, old);

        // Complete the job, remove its kind, enqueue a new one of the same kind: the removal
        // does not take the job enqueued after it, and completing a removed job is fine.
        let mut tx = store.begin().await.unwrap();
        assert!(tx.complete_job(&old, "w1").await.unwrap());
        assert_eq!(tx.remove_jobs(&kind).await.unwrap(), 1);
        let new = tx.enqueue_job(kind.clone(), T0 + 3_000).await.unwrap();
        tx.commit().await.unwrap();
        let left: Vec<_> = store
            .jobs()
            .await
            .unwrap()
            .into_iter()
            .map(|j| j.id)
            .collect();
        assert_eq!(left, vec![new.clone()], "{name}");

        // A lease lost between the check and the commit: the commit is a conflict and writes
        // nothing of the unit of work.
        let taken = store.claim_jobs(T0 + 3_000, "w1", 1_000, 1).await.unwrap();
        assert_eq!(taken[0].id, new);
        let mut tx = store.begin().await.unwrap();
        assert!(tx.complete_job(&new, "w1").await.unwrap());
        tx.push_event(&Event {
            kind: EventKind::PaymentSucceeded,
            subject: "a1".into(),
            detail: None,
            at: T0,
        })
        .await
        .unwrap();
        let rescuer = store.clone();
        // (The SQLite store runs one unit of work at a time: the rescuer claims after this one
        // is dropped; PostgreSQL lets it claim now.)
        if name == "postgres" {
            let retaken = rescuer
                .claim_jobs(T0 + 4_000, "w2", 1_000, 1)
                .await
                .unwrap();
            assert_eq!(retaken.len(), 1, "{name}: the expired lease is taken over");
            let err = tx.commit().await.unwrap_err();
            assert!(
                matches!(&err, StoreError::Conflict(m) if m.contains("no longer leased to w1")),
                "{name}: {err}"
            );
            assert!(
                store.events_after(0, 10).await.unwrap().is_empty(),
                "{name}: nothing written"
            );
            assert_eq!(
                store.jobs().await.unwrap()[0].lease_holder.as_deref(),
                Some("w2")
            );
        } else {
            drop(tx);
            let retaken = rescuer
                .claim_jobs(T0 + 4_000, "w2", 1_000, 1)
                .await
                .unwrap();
            assert_eq!(retaken.len(), 1);
            let mut tx = store.begin().await.unwrap();
            assert!(
                !tx.complete_job(&new, "w1").await.unwrap(),
                "{name}: lease lost"
            );
            drop(tx);
        }
        db.cleanup().await;
    }
}
