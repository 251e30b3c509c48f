//! The job queue on each backend, beyond the domain's contract: claims in due order under lease
//! tokens, changes staged to commit, and rows a claim cannot read (set aside, never blocking).

use autodebit_domain::model::{
    AttentionId, EventKind, JobId, JobKind, RefundId, Resolution, Subject,
};
use autodebit_domain::ports::{Store, StoreError};

use crate::support::*;

#[tokio::test]
async fn jobs_are_taken_in_due_order_under_a_lease_token() {
    for db in backends().await {
        let name = db.name();
        let store = &db.store;
        let refresh = JobKind::Authorization(autodebit_domain::model::AuthorizationId::new("z"));
        let mut tx = store.begin().await.unwrap();
        tx.schedule_job(payment_job("late"), T0 + 300)
            .await
            .unwrap();
        tx.schedule_job(payment_job("early"), T0 + 100)
            .await
            .unwrap();
        tx.schedule_job(refresh.clone(), T0 + 200).await.unwrap();
        // Staged: not visible until commit, not even to this unit of work.
        assert_eq!(tx.job_of(&payment_job("early")).await.unwrap(), None);
        tx.commit().await.unwrap();
        let by_kind = |kind: JobKind| {
            let store = store.clone();
            async move {
                let mut tx = store.begin().await.unwrap();
                tx.job_of(&kind).await.unwrap().unwrap().id
            }
        };
        let (late, early, middle) = (
            by_kind(payment_job("late")).await,
            by_kind(payment_job("early")).await,
            by_kind(refresh.clone()).await,
        );

        assert!(
            store
                .claim_jobs(&claim("w0", T0, 1_000, 10))
                .await
                .unwrap()
                .is_empty(),
            "{name}: none due"
        );
        let first = store
            .claim_jobs(&claim("w1", T0 + 250, 1_000, 10))
            .await
            .unwrap();
        assert_eq!(
            first.iter().map(|j| &j.id).collect::<Vec<_>>(),
            vec![&early, &middle],
            "{name}: due order"
        );
        assert!(first.iter().all(|j| j.attempts == 1
            && j.lease.as_ref().map(|l| (l.token.as_str(), l.until)) == Some(("w1", T0 + 1_250))));
        assert_eq!(first[1].kind, refresh);
        // Leased jobs are not taken again while the lease holds; the free one is.
        let second = store
            .claim_jobs(&claim("w2", T0 + 400, 1_000, 10))
            .await
            .unwrap();
        assert_eq!(
            second.iter().map(|j| &j.id).collect::<Vec<_>>(),
            vec![&late],
            "{name}"
        );
        // The limit holds.
        assert!(
            store
                .claim_jobs(&claim("w2", T0 + 400, 1_000, 0))
                .await
                .unwrap()
                .is_empty()
        );

        // Only the holder's token completes or reschedules.
        let mut tx = store.begin().await.unwrap();
        assert!(
            !tx.complete_job(&early, &lease("w2")).await.unwrap(),
            "{name}"
        );
        assert!(
            tx.complete_job(&early, &lease("w1")).await.unwrap(),
            "{name}"
        );
        assert!(
            !tx.reschedule_job(&middle, &lease("w2"), T0 + 5_000)
                .await
                .unwrap()
        );
        assert!(
            tx.reschedule_job(&middle, &lease("w1"), T0 + 5_000)
                .await
                .unwrap()
        );
        assert!(
            !tx.complete_job(&JobId::new("not-a-job"), &lease("w1"))
                .await
                .unwrap()
        );
        tx.commit().await.unwrap();
        let jobs = store.jobs().await.unwrap();
        assert_eq!(jobs.len(), 2, "{name}: {jobs:?}");
        let rescheduled = jobs.iter().find(|j| j.id == middle).unwrap();
        assert_eq!(
            (rescheduled.due_at, &rescheduled.lease, rescheduled.attempts),
            (T0 + 5_000, &None, 0),
            "{name}: rescheduled, released, attempts from zero"
        );

        // An expired lease is taken by another claim; the first token has lost it.
        let retaken = store
            .claim_jobs(&claim("w3", T0 + 1_400, 1_000, 10))
            .await
            .unwrap();
        assert_eq!(
            retaken
                .iter()
                .map(|j| (&j.id, j.attempts))
                .collect::<Vec<_>>(),
            vec![(&late, 2)]
        );
        assert!(
            !store
                .renew_lease(&late, &lease("w2"), T0 + 9_000)
                .await
                .unwrap()
        );
        assert!(
            store
                .renew_lease(&late, &lease("w3"), T0 + 9_000)
                .await
                .unwrap()
        );
        assert!(
            !store
                .renew_lease(&JobId::new("x"), &lease("w3"), T0)
                .await
                .unwrap()
        );
        let mut tx = store.begin().await.unwrap();
        assert!(
            !tx.complete_job(&late, &lease("w2")).await.unwrap(),
            "{name}: lease lost"
        );
        drop(tx);
        // A job taken by kind, due or not, unless a live lease holds it.
        assert_eq!(
            store
                .claim_job(&refresh, T0 + 1_500, &lease("now"), 1_000)
                .await
                .unwrap()
                .map(|j| (j.id, j.attempts)),
            Some((middle.clone(), 1)),
            "{name}"
        );
        assert!(
            store
                .claim_job(&payment_job("late"), T0 + 1_500, &lease("now"), 1_000)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .claim_job(&payment_job("nope"), T0, &lease("now"), 1_000)
                .await
                .unwrap()
                .is_none()
        );
        db.cleanup().await;
    }
}

#[tokio::test]
async fn job_changes_apply_at_commit_in_order_and_need_the_lease_then() {
    for db in backends().await {
        let name = db.name();
        let store = &db.store;
        let kind = payment_job("a1");
        let mut tx = store.begin().await.unwrap();
        tx.schedule_job(kind.clone(), T0).await.unwrap();
        tx.commit().await.unwrap();
        let old = store
            .claim_jobs(&claim("w1", T0, 1_000, 1))
            .await
            .unwrap()
            .remove(0);

        // Complete the job, then schedule its subject again in the same unit of work: the job
        // goes and a new one comes, due then.
        let mut tx = store.begin().await.unwrap();
        assert!(tx.complete_job(&old.id, &lease("w1")).await.unwrap());
        tx.schedule_job(kind.clone(), T0 + 3_000).await.unwrap();
        tx.commit().await.unwrap();
        let jobs = store.jobs().await.unwrap();
        assert_eq!(
            jobs.iter()
                .map(|j| (&j.kind, j.due_at, j.attempts))
                .collect::<Vec<_>>(),
            vec![(&kind, T0 + 3_000, 0)],
            "{name}"
        );
        assert_ne!(jobs[0].id, old.id, "{name}: a new job");

        // Schedule first, then complete: the schedule came in while held, so the job stays.
        let held = store
            .claim_jobs(&claim("w1", T0 + 3_000, 1_000, 1))
            .await
            .unwrap()
            .remove(0);
        let mut tx = store.begin().await.unwrap();
        tx.schedule_job(kind.clone(), T0 + 7_000).await.unwrap();
        assert!(tx.complete_job(&held.id, &lease("w1")).await.unwrap());
        tx.commit().await.unwrap();
        let jobs = store.jobs().await.unwrap();
        assert_eq!(
            jobs.iter()
                .map(|j| (&j.id, j.due_at, &j.lease))
                .collect::<Vec<_>>(),
            vec![(&held.id, T0 + 7_000, &None)],
            "{name}"
        );
        db.cleanup().await;
    }
}

/// A row with a kind from a newer version, and rows with corrupt values, planted by raw SQL.
fn plant_bad_jobs(db: &Db) {
    db.raw_sql(&format!(
        "INSERT INTO jobs (kind, subject, due_at, attempts) VALUES \
         ('from_the_future', 'x-1', {t}, 0), \
         ('payment', 'att-corrupt', {t}, 5000000000); \
         INSERT INTO jobs (kind, subject, due_at, attempts, lease_token) VALUES \
         ('refund', 're-half-lease', {t}, 0, 'tok');",
        t = T0
    ));
}

#[tokio::test]
async fn an_unreadable_job_row_is_set_aside_and_the_others_are_claimed() {
    for db in backends().await {
        let name = db.name();
        let store = &db.store;
        plant_bad_jobs(&db);
        let mut tx = store.begin().await.unwrap();
        tx.schedule_job(payment_job("good"), T0 + 1).await.unwrap();
        tx.commit().await.unwrap();
        assert!(
            matches!(store.jobs().await, Err(StoreError::Corrupt(_))),
            "{name}: an inspection says the truth about unreadable rows"
        );

        // The bad rows are due first; the claim of one job sets them aside and takes the good one.
        let taken = store
            .claim_jobs(&claim("w1", T0 + 10, 60_000, 1))
            .await
            .unwrap();
        assert_eq!(
            taken.iter().map(|j| &j.kind).collect::<Vec<_>>(),
            vec![&payment_job("good")],
            "{name}"
        );
        let dead = store.dead_jobs().await.unwrap();
        let mut what: Vec<_> = dead.iter().map(|d| d.what.as_str()).collect();
        what.sort_unstable();
        assert_eq!(
            what,
            vec![
                "from_the_future x-1",
                "payment att-corrupt",
                "refund re-half-lease"
            ],
            "{name}"
        );
        assert!(
            dead.iter().all(|d| d.dead_at == T0 + 10),
            "{name}: {dead:?}"
        );
        // Set aside, the half lease is gone and that row reads again; the others still do not.
        assert_eq!(
            dead.iter().filter(|d| d.job.is_none()).count(),
            2,
            "{name}: {dead:?}"
        );
        assert!(
            dead.iter()
                .any(|d| d.what.starts_with("from_the_future") && d.reason.contains("not known")),
            "{name}: {dead:?}"
        );
        // Each with an attention item about the job and an operator.attention event.
        let items = store.open_attention(None, 10).await.unwrap();
        assert_eq!(items.len(), 3, "{name}: {items:?}");
        for d in &dead {
            let item = items
                .iter()
                .find(|i| i.subject == Subject::Job(d.id.clone()))
                .unwrap_or_else(|| panic!("{name}: no item for {}", d.what));
            assert_eq!(item.code, "job_dead_letter");
            assert!(item.reason.contains(&d.what), "{name}: {}", item.reason);
        }
        let events = store.events_after(0, 10).await.unwrap();
        assert_eq!(events.len(), 3, "{name}");
        assert!(
            events
                .iter()
                .all(|(_, e)| e.kind == EventKind::OperatorAttention)
        );

        // The next claim does not see them; the inspection works again.
        assert!(
            store
                .claim_jobs(&claim("w2", T0 + 5_000, 1_000, 10))
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store.jobs().await.unwrap().len(),
            1,
            "{name}: the good job, held"
        );
        assert_eq!(store.dead_jobs().await.unwrap().len(), 3);
        assert_eq!(store.events_after(0, 10).await.unwrap().len(), 3, "{name}");

        // Scheduling a set-aside job of a known kind brings it back, attempts from zero.
        let mut tx = store.begin().await.unwrap();
        tx.schedule_job(payment_job("att-corrupt"), T0 + 6_000)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let back = store
            .claim_jobs(&claim("w3", T0 + 6_000, 1_000, 10))
            .await
            .unwrap();
        assert_eq!(
            back.iter()
                .map(|j| (&j.kind, j.attempts))
                .collect::<Vec<_>>(),
            vec![(&payment_job("att-corrupt"), 1)],
            "{name}"
        );
        assert_eq!(store.dead_jobs().await.unwrap().len(), 2, "{name}");
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_job_taken_by_kind_whose_row_is_corrupt_is_set_aside() {
    for db in backends().await {
        let name = db.name();
        plant_bad_jobs(&db);
        let taken = db
            .store
            .claim_job(&payment_job("att-corrupt"), T0, &lease("now"), 1_000)
            .await
            .unwrap();
        assert!(taken.is_none(), "{name}");
        let dead = db.store.dead_jobs().await.unwrap();
        assert_eq!(
            dead.iter().map(|d| d.what.as_str()).collect::<Vec<_>>(),
            vec!["payment att-corrupt"],
            "{name}"
        );
        assert!(
            dead[0].reason.contains("attempts"),
            "{name}: {}",
            dead[0].reason
        );
        assert_eq!(db.store.open_attention(None, 10).await.unwrap().len(), 1);
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_job_set_aside_again_after_its_item_was_closed_gets_a_new_item() {
    for db in backends().await {
        let name = db.name();
        let store = &db.store;
        let kind = JobKind::Refund(RefundId::new("re-1"));
        let mut tx = store.begin().await.unwrap();
        tx.schedule_job(kind.clone(), T0).await.unwrap();
        tx.commit().await.unwrap();
        let exhaust = |from: i64| {
            let store = store.clone();
            async move {
                let mut now = from;
                // max_attempts 10: taken ten times, set aside at the eleventh claim.
                for _ in 0..10 {
                    assert_eq!(
                        store
                            .claim_jobs(&claim("w", now, 1_000, 1))
                            .await
                            .unwrap()
                            .len(),
                        1
                    );
                    now += 1_000;
                }
                assert!(
                    store
                        .claim_jobs(&claim("w", now, 1_000, 1))
                        .await
                        .unwrap()
                        .is_empty()
                );
                now
            }
        };
        let now = exhaust(T0).await;
        let dead = store.dead_jobs().await.unwrap();
        assert_eq!(dead.len(), 1, "{name}");
        assert!(
            dead[0].reason.contains("taken 10 times"),
            "{name}: {}",
            dead[0].reason
        );
        assert_eq!(dead[0].job.as_ref().map(|j| &j.kind), Some(&kind));
        let subject = Subject::Job(dead[0].id.clone());
        let first = AttentionId::new(format!("atn_job_{}", dead[0].id));
        let mut tx = store.begin().await.unwrap();
        assert_eq!(
            tx.attention_of(&subject)
                .await
                .unwrap()
                .iter()
                .map(|i| &i.id)
                .collect::<Vec<_>>(),
            vec![&first]
        );
        let closed = tx
            .resolve_attention(
                &subject,
                Some("job_dead_letter"),
                &Resolution {
                    at: now,
                    reason: "looked at it".into(),
                },
            )
            .await
            .unwrap();
        assert_eq!(closed, 1);
        tx.schedule_job(kind.clone(), now).await.unwrap();
        tx.commit().await.unwrap();
        exhaust(now).await;
        let items = store.attention_items().await.unwrap();
        assert_eq!(
            items
                .iter()
                .map(|i| (i.id.as_str(), i.resolution.is_some()))
                .collect::<Vec<_>>(),
            vec![
                (first.as_str(), true),
                (format!("{first}.2").as_str(), false)
            ],
            "{name}"
        );
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_claim_takes_each_job_once_even_when_its_lease_ends_at_once() {
    for db in backends().await {
        let name = db.name();
        plant_bad_jobs(&db);
        let mut tx = db.store.begin().await.unwrap();
        for id in ["g1", "g2"] {
            tx.schedule_job(payment_job(id), T0).await.unwrap();
        }
        tx.commit().await.unwrap();
        // A lease of 0 ms ends as it starts: the rows taken are due and free again at once, and
        // the bad rows make the claim read a second batch.
        let taken = db.store.claim_jobs(&claim("w", T0, 0, 10)).await.unwrap();
        let mut ids: Vec<_> = taken.iter().map(|j| j.id.clone()).collect();
        ids.dedup();
        assert_eq!(
            ids.len(),
            taken.len(),
            "{name}: a job taken twice: {taken:?}"
        );
        assert!(!taken.is_empty(), "{name}");
        assert_eq!(db.store.dead_jobs().await.unwrap().len(), 3, "{name}");
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_released_lease_keeps_a_schedule_that_came_while_it_was_held() {
    for db in backends().await {
        let name = db.name();
        let store = &db.store;
        let mut tx = store.begin().await.unwrap();
        tx.schedule_job(payment_job("a"), T0 + 500).await.unwrap();
        tx.schedule_job(payment_job("b"), T0 + 500).await.unwrap();
        tx.commit().await.unwrap();
        let held = store
            .claim_jobs(&claim("w1", T0 + 600, 60_000, 10))
            .await
            .unwrap();
        assert_eq!(held.len(), 2, "{name}");
        // While held: a schedule earlier than its due time for `a`, a later one for `b`.
        let mut tx = store.begin().await.unwrap();
        tx.schedule_job(payment_job("a"), T0 + 100).await.unwrap();
        tx.schedule_job(payment_job("b"), T0 + 900).await.unwrap();
        tx.commit().await.unwrap();
        // A unit of work that relied on the lease and commits after the release conflicts
        // (PostgreSQL; on SQLite a unit of work holds the write slot, so none can be open while
        // the release runs).
        let late = if name == "postgres" {
            let mut late = store.begin().await.unwrap();
            assert!(late.complete_job(&held[0].id, &lease("w1")).await.unwrap());
            Some(late)
        } else {
            None
        };
        for job in &held {
            assert!(store.release_lease(&job.id, &lease("w1")).await.unwrap());
        }
        if let Some(late) = late {
            assert!(
                matches!(late.commit().await, Err(StoreError::Conflict(_))),
                "{name}: a released lease is not held at commit"
            );
        }
        let mut tx = store.begin().await.unwrap();
        assert!(
            !tx.complete_job(&held[1].id, &lease("w1")).await.unwrap(),
            "{name}: a released lease is not held"
        );
        drop(tx);
        let mut tx = store.begin().await.unwrap();
        let a = tx.job_of(&payment_job("a")).await.unwrap().unwrap();
        let b = tx.job_of(&payment_job("b")).await.unwrap().unwrap();
        drop(tx);
        assert_eq!(
            (a.due_at, a.attempts, a.lease.is_none()),
            (T0 + 100, 0, true),
            "{name}: the earlier schedule applies"
        );
        assert_eq!(
            (b.due_at, b.attempts, b.lease.is_none()),
            (T0 + 500, 0, true),
            "{name}: due as before"
        );
        // Released twice in a row, a job's attempts never go below zero, and it is never set
        // aside for takes that were given back.
        for round in 0..12 {
            // Only `a` is due at T0 + 200; a claim sets aside a job taken 10 times in a row.
            let mut taken = store
                .claim_jobs(&claim("w2", T0 + 200, 60_000, 10))
                .await
                .unwrap();
            assert_eq!(taken.len(), 1, "{name}: round {round}");
            let taken = taken.remove(0);
            assert_eq!(
                (taken.id.clone(), taken.attempts),
                (a.id.clone(), 1),
                "{name}"
            );
            assert!(store.release_lease(&taken.id, &lease("w2")).await.unwrap());
            assert!(!store.release_lease(&taken.id, &lease("w2")).await.unwrap());
        }
        assert!(store.dead_jobs().await.unwrap().is_empty(), "{name}");
        db.cleanup().await;
    }
}
