//! Merchants sharing one database: each handle reads, writes and claims its own merchant's rows
//! only; a merchant's own names (references, idempotency keys, inbox keys, one job and one open
//! attention item per subject) are unique per merchant, ids and Alipay's request ids database-wide.

use ams_protocol::{AccessToken, AuthState};
use autodebit_domain::model::{
    AttentionId, Event, EventKind, IdempotencyRecord, InboxEntry, JobId, OperatorAction,
    Resolution, Subject,
};
use autodebit_domain::ports::{
    AuthorizationFilter, OrderFilter, PageRequest, Store, StoreError, Tx,
};
use autodebit_store::{DEFAULT_MERCHANT, Keyring, OpenError, SqlStore, StoreOptions};

use crate::support::*;

fn page() -> PageRequest {
    PageRequest {
        after: None,
        limit: 100,
    }
}

fn item(id: &str, subject: &str) -> autodebit_domain::model::AttentionItem {
    autodebit_domain::model::AttentionItem {
        id: AttentionId::new(id),
        subject: Subject::Order(autodebit_domain::model::OrderId::new(subject)),
        code: "check".into(),
        reason: "look".into(),
        tried: "nothing".into(),
        actions: vec![OperatorAction::Resolve],
        opened_at: T0,
        updated_at: T0,
        resolution: None,
    }
}

fn inbox(key: &str, body: &str) -> InboxEntry {
    InboxEntry {
        dedup_key: key.into(),
        path: "/notify".into(),
        headers: vec![("client-id".into(), "c".into())],
        body: autodebit_domain::model::Body::new(body),
        received_at: T0,
    }
}

fn key(k: &str, resource: &str) -> IdempotencyRecord {
    IdempotencyRecord {
        key: k.into(),
        fingerprint: format!("fp-{resource}"),
        resource: resource.into(),
        created_at: T0,
    }
}

/// Everything merchant m1 writes: an authorization whose token a refresh rotated (so both the
/// current and the retired token find it), an order, an attempt, a refund, a job per subject,
/// an event, an open attention item, a notification and an idempotency key.
async fn write_m1(m1: &SqlStore) -> autodebit_domain::model::PaymentAttempt {
    let mut tx = m1.begin().await.unwrap();
    let attempt = stage_payment(&mut *tx, 1).await;
    tx.retire_access_token(
        &autodebit_domain::model::AuthorizationId::new("auth-1"),
        &AccessToken::new("tok-1-old"),
    )
    .await
    .unwrap();
    tx.insert_refund(&refund("refund-1", "order-1", "rrid-1"))
        .await
        .unwrap();
    tx.schedule_job(payment_job("attempt-1"), T0).await.unwrap();
    tx.push_event(&Event {
        kind: EventKind::PaymentSucceeded,
        subject: "order-1".into(),
        detail: None,
        at: T0,
    })
    .await
    .unwrap();
    assert!(tx.raise_attention(&item("atn-1", "order-1")).await.unwrap());
    assert!(tx.inbox_insert(&inbox("n-1", "m1's body")).await.unwrap());
    assert!(tx.insert_idempotency(&key("k-1", "order-1")).await.unwrap());
    tx.commit().await.unwrap();
    attempt
}

#[tokio::test]
async fn a_merchant_sees_and_claims_only_its_own_rows() {
    for place in Place::all() {
        let name = place.name();
        let keys = Keyring::generate_entry(1).unwrap();
        let m1 = SqlStore::open(
            place.options().merchant("m1"),
            Keyring::parse(&keys).unwrap(),
        )
        .await
        .unwrap();
        assert_eq!(m1.merchant(), "m1");
        let m2 = m1.for_merchant("m2").unwrap();
        assert_eq!((m1.merchant(), m2.merchant()), ("m1", "m2"));
        let attempt = write_m1(&m1).await;

        // m1 reads all of it back (so every insert was written for m1, not for the default).
        let mut tx = m1.begin().await.unwrap();
        let auth = tx
            .authorization_by_access_token(&AccessToken::new("tok-1-old"))
            .await
            .unwrap()
            .expect("m1 finds its retired token");
        assert_eq!(auth.id.as_str(), "auth-1", "{name}");
        assert!(
            tx.authorization_by_access_token(&AccessToken::new("tok-1"))
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            tx.order_by_reference("ref-order-1")
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(
            tx.attempt_by_payment_request_id(&attempt.payment_request_id)
                .await
                .unwrap()
                .as_ref(),
            Some(&attempt)
        );
        assert!(
            tx.job_of(&payment_job("attempt-1"))
                .await
                .unwrap()
                .is_some()
        );
        assert!(tx.idempotency("k-1").await.unwrap().is_some());
        drop(tx);
        assert_eq!(m1.events_after(0, 10).await.unwrap().len(), 1, "{name}");
        assert_eq!(m1.inbox().await.unwrap().len(), 1, "{name}");
        assert_eq!(m1.attention_items().await.unwrap().len(), 1, "{name}");

        // m2 finds none of it, by any key.
        let mut tx = m2.begin().await.unwrap();
        assert_eq!(tx.authorization(&auth.id).await.unwrap(), None, "{name}");
        assert_eq!(
            tx.authorization_by_auth_state(&AuthState::new("state-auth-1"))
                .await
                .unwrap(),
            None
        );
        for token in ["tok-1", "tok-1-old"] {
            assert_eq!(
                tx.authorization_by_access_token(&AccessToken::new(token))
                    .await
                    .unwrap(),
                None,
                "{name}: {token}"
            );
        }
        assert_eq!(tx.order(&attempt.order_id).await.unwrap(), None, "{name}");
        assert_eq!(tx.order_by_reference("ref-order-1").await.unwrap(), None);
        assert_eq!(tx.attempt(&attempt.id).await.unwrap(), None);
        assert_eq!(
            tx.attempt_by_payment_request_id(&attempt.payment_request_id)
                .await
                .unwrap(),
            None
        );
        assert!(
            tx.attempts_of_order(&attempt.order_id)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            tx.refund(&autodebit_domain::model::RefundId::new("refund-1"))
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            tx.refund_by_refund_request_id(&ams_protocol::RefundRequestId::new("rrid-1"))
                .await
                .unwrap(),
            None
        );
        assert!(
            tx.refunds_of_order(&attempt.order_id)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            tx.list_authorizations(&AuthorizationFilter::default(), &page())
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            tx.list_orders(&OrderFilter::default(), &page())
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(tx.job_of(&payment_job("attempt-1")).await.unwrap(), None);
        assert_eq!(
            tx.attention(&AttentionId::new("atn-1")).await.unwrap(),
            None
        );
        assert!(
            tx.attention_of(&Subject::Order(attempt.order_id.clone()))
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(tx.idempotency("k-1").await.unwrap(), None, "{name}");
        // Nor can it change it: compare-and-set updates and closing items miss m1's rows.
        assert!(!tx.update_authorization(&auth).await.unwrap(), "{name}");
        let order = order("order-1", "auth-1");
        assert!(!tx.update_order(&order).await.unwrap());
        assert!(!tx.update_attempt(&attempt).await.unwrap());
        assert!(
            !tx.update_refund(&refund("refund-1", "order-1", "rrid-1"))
                .await
                .unwrap()
        );
        let closed = tx
            .resolve_attention(
                &Subject::Order(attempt.order_id.clone()),
                None,
                &Resolution {
                    at: T0,
                    reason: "not mine".into(),
                },
            )
            .await
            .unwrap();
        assert_eq!(closed, 0, "{name}");
        tx.commit().await.unwrap();

        // Nor claim, renew, release or end m1's job.
        assert!(
            m2.claim_jobs(&claim("w2", T0 + 1, 60_000, 10))
                .await
                .unwrap()
                .is_empty(),
            "{name}"
        );
        assert_eq!(
            m2.claim_job(&payment_job("attempt-1"), T0, &lease("w2"), 60_000)
                .await
                .unwrap(),
            None
        );
        let job = m1
            .claim_jobs(&claim("w1", T0 + 1, 60_000, 10))
            .await
            .unwrap()
            .remove(0);
        assert!(
            !m2.renew_lease(&job.id, &lease("w1"), T0 + 99)
                .await
                .unwrap(),
            "{name}"
        );
        assert!(!m2.release_lease(&job.id, &lease("w1")).await.unwrap());
        let mut tx = m2.begin().await.unwrap();
        assert!(!tx.complete_job(&job.id, &lease("w1")).await.unwrap());
        assert!(!tx.reschedule_job(&job.id, &lease("w1"), T0).await.unwrap());
        tx.commit().await.unwrap();
        assert!(
            m1.renew_lease(&job.id, &lease("w1"), T0 + 99)
                .await
                .unwrap(),
            "{name}: the holder's merchant can"
        );

        // And the inspection reads show m2 nothing.
        assert!(m2.events_after(0, 10).await.unwrap().is_empty(), "{name}");
        assert!(m2.jobs().await.unwrap().is_empty());
        assert!(m2.dead_jobs().await.unwrap().is_empty());
        assert!(m2.attention_items().await.unwrap().is_empty());
        assert!(m2.open_attention(None, 10).await.unwrap().is_empty());
        assert!(
            m2.open_attention(Some(&AttentionId::new("atn-1")), 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(m2.authorizations().await.unwrap().is_empty());
        assert!(m2.orders().await.unwrap().is_empty());
        assert!(m2.attempts().await.unwrap().is_empty());
        assert!(m2.refunds().await.unwrap().is_empty());
        assert!(m2.inbox().await.unwrap().is_empty(), "{name}");
        // m1's rows are as they were.
        assert_eq!(m1.attention_items().await.unwrap()[0].resolution, None);
        assert_eq!(m1.authorizations().await.unwrap(), vec![auth.clone()]);
        // The default merchant's handle is one more merchant.
        let default = m1.for_merchant(DEFAULT_MERCHANT).unwrap();
        assert!(default.authorizations().await.unwrap().is_empty(), "{name}");
        m1.close().await;
    }
}

#[tokio::test]
async fn a_merchants_own_names_are_unique_per_merchant_and_ids_everywhere() {
    for db in backends().await {
        let name = db.name();
        let m1 = db.store.for_merchant("m1").unwrap();
        let m2 = db.store.for_merchant("m2").unwrap();
        write_m1(&m1).await;

        // m2 uses the same reference, idempotency key, inbox key, job subject and attention
        // subject, under ids of its own.
        let mut tx = m2.begin().await.unwrap();
        tx.insert_authorization(&authorization("auth-2", "tok-2"))
            .await
            .unwrap();
        let mut same_reference = order("order-2", "auth-2");
        same_reference.reference = "ref-order-1".into();
        tx.insert_order(&same_reference).await.unwrap();
        assert!(
            tx.insert_idempotency(&key("k-1", "order-2")).await.unwrap(),
            "{name}"
        );
        assert!(tx.inbox_insert(&inbox("n-1", "m2's body")).await.unwrap());
        tx.schedule_job(payment_job("attempt-1"), T0 + 5)
            .await
            .unwrap();
        let mut twin = item("atn-2", "order-1");
        twin.reason = "m2's".into();
        assert!(tx.raise_attention(&twin).await.unwrap(), "{name}");
        tx.commit().await.unwrap();

        let mut tx = m2.begin().await.unwrap();
        assert_eq!(
            tx.order_by_reference("ref-order-1")
                .await
                .unwrap()
                .map(|o| o.id.to_string()),
            Some("order-2".to_owned()),
            "{name}"
        );
        assert_eq!(
            tx.idempotency("k-1").await.unwrap().map(|k| k.resource),
            Some("order-2".to_owned())
        );
        assert_eq!(
            tx.job_of(&payment_job("attempt-1"))
                .await
                .unwrap()
                .map(|j| j.due_at),
            Some(T0 + 5)
        );
        // Still one per merchant: a second of each is refused or merged.
        let mut again = order("order-3", "auth-2");
        again.reference = "ref-order-1".into();
        assert!(matches!(
            tx.insert_order(&again).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(!tx.insert_idempotency(&key("k-1", "x")).await.unwrap());
        assert!(!tx.inbox_insert(&inbox("n-1", "again")).await.unwrap());
        assert!(
            !tx.raise_attention(&item("atn-3", "order-1")).await.unwrap(),
            "{name}: the open item of the subject and code is updated"
        );
        // Ids, authState, paymentRequestId and refundRequestId stay unique database-wide.
        assert!(matches!(
            tx.insert_authorization(&authorization("auth-1", "tok-x"))
                .await,
            Err(StoreError::Conflict(_))
        ));
        let mut stolen_state = authorization("auth-9", "tok-9");
        stolen_state.auth_state = AuthState::new("state-auth-1");
        assert!(matches!(
            tx.insert_authorization(&stolen_state).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            tx.insert_order(&order("order-1", "auth-2")).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            tx.insert_attempt(&attempt("attempt-9", "order-2", "prid-1", "tok-2"))
                .await,
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            tx.insert_refund(&refund("refund-9", "order-2", "rrid-1"))
                .await,
            Err(StoreError::Conflict(_))
        ));
        // An attention item id another merchant's item has is a conflict, not an update of it.
        let mut taken = item("atn-1", "order-77");
        taken.reason = "m2 reusing m1's id".into();
        assert!(matches!(
            tx.raise_attention(&taken).await,
            Err(StoreError::Conflict(_))
        ));
        // A token m1 retired cannot be retired again by m2's authorization.
        assert!(matches!(
            tx.retire_access_token(
                &autodebit_domain::model::AuthorizationId::new("auth-2"),
                &AccessToken::new("tok-1-old"),
            )
            .await,
            Err(StoreError::Conflict(_))
        ));
        drop(tx);

        // Each merchant's inbox body opens as its own.
        assert_eq!(m1.inbox().await.unwrap()[0].body.expose(), "m1's body");
        assert_eq!(m2.inbox().await.unwrap()[0].body.expose(), "m2's body");
        // Each merchant claims its own job of the same subject.
        let c1 = m1
            .claim_jobs(&claim("w1", T0 + 10, 60_000, 10))
            .await
            .unwrap();
        let c2 = m2
            .claim_jobs(&claim("w2", T0 + 10, 60_000, 10))
            .await
            .unwrap();
        assert_eq!((c1.len(), c2.len()), (1, 1), "{name}");
        assert_ne!(c1[0].id, c2[0].id);
        assert_eq!(c1[0].kind, c2[0].kind);
        // Both open items stay open, each closed by its own merchant.
        let mut tx = m1.begin().await.unwrap();
        let closed = tx
            .resolve_attention(
                &Subject::Order(autodebit_domain::model::OrderId::new("order-1")),
                Some("check"),
                &Resolution {
                    at: T0,
                    reason: "done".into(),
                },
            )
            .await
            .unwrap();
        assert_eq!(closed, 1, "{name}");
        tx.commit().await.unwrap();
        assert_eq!(m2.open_attention(None, 10).await.unwrap().len(), 1);
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_row_moved_to_another_merchant_does_not_decrypt() {
    for db in backends().await {
        let name = db.name();
        let m1 = db.store.for_merchant("m1").unwrap();
        let m2 = db.store.for_merchant("m2").unwrap();
        write_m1(&m1).await;
        // Someone with write access to the database hands m1's rows to m2.
        db.raw_sql(
            "UPDATE authorizations SET merchant_id = 'm2'; \
             UPDATE payment_attempts SET merchant_id = 'm2'; \
             UPDATE inbox SET merchant_id = 'm2';",
        );
        let mut tx = m2.begin().await.unwrap();
        let err = tx
            .authorization(&autodebit_domain::model::AuthorizationId::new("auth-1"))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt(m) if m.contains("merchant m2")),
            "{name}: {err}"
        );
        assert!(matches!(
            tx.attempt(&autodebit_domain::model::AttemptId::new("attempt-1"))
                .await,
            Err(StoreError::Corrupt(_))
        ));
        drop(tx);
        assert!(matches!(m2.inbox().await, Err(StoreError::Corrupt(_))));
        // A default row handed to a named merchant does not open either.
        db.raw_sql("UPDATE refunds SET merchant_id = 'default'");
        let default = db.store.for_merchant(DEFAULT_MERCHANT).unwrap();
        assert!(
            matches!(default.refunds().await, Err(StoreError::Corrupt(_))),
            "{name}"
        );
        db.cleanup().await;
    }
}

#[tokio::test]
async fn merchant_ids_are_checked() {
    let db = Db::sqlite().await;
    for bad in ["", "M1", "m 1", "-m", &"m".repeat(64), "m/1", "m1;drop"] {
        let err = db.store.for_merchant(bad).unwrap_err().to_string();
        assert!(err.contains("use 1-63 of a-z, 0-9"), "{bad:?}: {err}");
    }
    assert_eq!(db.store.merchant(), DEFAULT_MERCHANT);
    let (url, _) = db.location();
    let err = SqlStore::open(
        StoreOptions::new(url).merchant("Not Valid"),
        Keyring::parse(&db.keys).unwrap(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, OpenError::Merchant(_)), "{err}");
    assert!(err.to_string().contains("\"Not Valid\""), "{err}");
    // Job ids that are not numbers are nobody's.
    assert!(
        !db.store
            .release_lease(&JobId::new("x"), &lease("w"))
            .await
            .unwrap()
    );
    db.cleanup().await;
}

/// A merchant's handle serves the flows as any store does (`Arc<dyn Store>`), writing for its
/// merchant only.
#[tokio::test]
async fn a_merchant_handle_is_a_store() {
    let db = Db::sqlite().await;
    let store: std::sync::Arc<dyn Store> =
        std::sync::Arc::new(db.store.for_merchant("m7").unwrap());
    let mut tx: Box<dyn Tx> = store.begin().await.unwrap();
    stage_payment(&mut *tx, 7).await;
    tx.commit().await.unwrap();
    assert_eq!(
        db.store
            .for_merchant("m7")
            .unwrap()
            .orders()
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(db.store.orders().await.unwrap().is_empty());
    db.cleanup().await;
}
