//! The port's contract, as `InMemoryStore` defines it, on each backend.

use ams_protocol::{AccessToken, AuthState, PaymentId, PaymentRequestId, RefundRequestId};
use autodebit_domain::lifecycle::attempt::AttemptState;
use autodebit_domain::lifecycle::authorization::AuthorizationState;
use autodebit_domain::lifecycle::refund::RefundState;
use autodebit_domain::model::{
    AlipayRefundId, AttemptId, AttentionId, AttentionItem, AuthorizationId, Body, CancelReason,
    Event, EventKind, IdempotencyRecord, InboxEntry, OperatorAction, OrderId, RefundId,
    RefundOrigin, Resolution, Subject,
};
use autodebit_domain::ports::{Store, StoreError};

use crate::support::*;

#[tokio::test]
async fn records_round_trip_through_every_lookup() {
    for db in backends().await {
        let name = db.name();
        let store = &db.store;
        let mut auth = authorization("auth-1", "tok-1");
        auth.stray_token = Some(AccessToken::new("stray-1"));
        let mut bare = authorization("auth-2", "tok-2");
        bare.token = None;
        bare.pending_auth_code = None;
        bare.os_type = None;
        bare.auth_url = None;
        bare.qr_code = None;
        bare.tries = 0;
        bare.consent_expires_at = None;
        bare.user_login_id = None;
        bare.failure = Some("USER_NOT_EXIST".into());
        bare.state = AuthorizationState::Failed;
        let order = order("order-1", "auth-1");
        let late = {
            let mut a = attempt("attempt-2", "order-1", "prid-2", "tok-1");
            a.created_at = T0 + 5;
            a.state = AttemptState::Confirming;
            a.payment_id = Some(PaymentId::new("pid-2"));
            a.result_code = Some("UNKNOWN_EXCEPTION".into());
            a.inquiries = 3;
            a.late_success = true;
            a.cancel_reason = Some(CancelReason::Unresolved);
            a.cancel_started_at = Some(T0 + 9);
            a
        };
        let early = attempt("attempt-1", "order-1", "prid-1", "tok-1");
        let refund = refund("refund-1", "order-1", "rrid-1");
        let sent_refund = {
            let mut r = self::refund("refund-2", "order-1", "rrid-2");
            r.created_at = T0 + 1;
            r.origin = RefundOrigin::CancelTooLate;
            r.state = RefundState::Inquiring;
            r.alipay_refund_id = Some(AlipayRefundId::new("alipay-re-2"));
            r.sends = 3;
            r.not_sent = 1;
            r.maybe_sent = true;
            r.first_sent_at = Some(T0 + 2);
            r.inquiries = 4;
            r
        };

        let mut tx = store.begin().await.unwrap();
        tx.insert_authorization(&auth).await.unwrap();
        tx.insert_authorization(&bare).await.unwrap();
        tx.insert_order(&order).await.unwrap();
        tx.insert_attempt(&late).await.unwrap();
        tx.insert_attempt(&early).await.unwrap();
        tx.insert_refund(&refund).await.unwrap();
        tx.insert_refund(&sent_refund).await.unwrap();
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
            tx.authorization_by_auth_state(&AuthState::new("state-auth-1"))
                .await
                .unwrap(),
            Some(auth.clone())
        );
        assert_eq!(
            tx.authorization_by_access_token(&AccessToken::new("tok-1"))
                .await
                .unwrap(),
            Some(auth.clone())
        );
        for unknown in ["tok-9", "stray-1"] {
            assert_eq!(
                tx.authorization_by_access_token(&AccessToken::new(unknown))
                    .await
                    .unwrap(),
                None,
                "{name}: {unknown}"
            );
        }
        assert_eq!(tx.order(&order.id).await.unwrap(), Some(order.clone()));
        assert_eq!(
            tx.order_by_reference("ref-order-1").await.unwrap(),
            Some(order.clone())
        );
        assert_eq!(tx.order_by_reference("ref-nope").await.unwrap(), None);
        assert_eq!(
            tx.attempt(&late.id).await.unwrap(),
            Some(late.clone()),
            "{name}"
        );
        assert_eq!(
            tx.attempt_by_payment_request_id(&PaymentRequestId::new("prid-1"))
                .await
                .unwrap(),
            Some(early.clone())
        );
        assert_eq!(
            tx.attempts_of_order(&order.id).await.unwrap(),
            vec![early.clone(), late.clone()],
            "oldest first"
        );
        assert_eq!(tx.refund(&refund.id).await.unwrap(), Some(refund.clone()));
        assert_eq!(
            tx.refund(&sent_refund.id).await.unwrap(),
            Some(sent_refund.clone()),
            "{name}"
        );
        assert_eq!(
            tx.refund_by_refund_request_id(&RefundRequestId::new("rrid-1"))
                .await
                .unwrap(),
            Some(refund.clone())
        );
        assert_eq!(
            tx.refunds_of_order(&order.id).await.unwrap(),
            vec![refund.clone(), sent_refund.clone()]
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
            tx.authorization_by_access_token(&AccessToken::new("tok-1"))
                .await
                .unwrap(),
            None,
            "{name}: a cleared token is not found by its old value (it was not retired)"
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
                a.auth_state = AuthState::new("state-auth-1");
                tx.insert_authorization(&a).await
            }),
            (
                "same order id",
                tx.insert_order(&order("order-1", "auth-1")).await,
            ),
            ("same order reference", {
                let mut o = order("order-x", "auth-1");
                o.reference = "ref-order-1".into();
                tx.insert_order(&o).await
            }),
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
            tx.schedule_job(payment_job("a"), T0).await.unwrap();
            tx.push_event(&event).await.unwrap();
            tx.inbox_insert(&inbox_entry("k1", "{}")).await.unwrap();
            tx.insert_idempotency(&idempotency("key-1")).await.unwrap();
            assert!(tx.raise_attention(&attention_item("atn-1")).await.unwrap());
            tx.retire_access_token(
                &AuthorizationId::new("auth-1"),
                &AccessToken::new("tok-old"),
            )
            .await
            .unwrap();
        }
        let mut tx = db.store.begin().await.unwrap();
        assert_eq!(
            tx.order(&OrderId::new("order-1")).await.unwrap(),
            None,
            "{name}"
        );
        assert_eq!(tx.idempotency("key-1").await.unwrap(), None);
        assert_eq!(
            tx.authorization_by_access_token(&AccessToken::new("tok-old"))
                .await
                .unwrap(),
            None
        );
        drop(tx);
        assert!(db.store.jobs().await.unwrap().is_empty(), "{name}");
        assert!(db.store.events_after(0, 10).await.unwrap().is_empty());
        assert!(db.store.inbox().await.unwrap().is_empty());
        assert!(db.store.attention_items().await.unwrap().is_empty());

        // Committed: all of it.
        let mut tx = db.store.begin().await.unwrap();
        tx.insert_authorization(&authorization("auth-1", "tok-1"))
            .await
            .unwrap();
        tx.insert_order(&order("order-1", "auth-1")).await.unwrap();
        tx.schedule_job(payment_job("a"), T0).await.unwrap();
        tx.push_event(&event).await.unwrap();
        assert!(tx.raise_attention(&attention_item("atn-1")).await.unwrap());
        tx.commit().await.unwrap();
        assert_eq!(db.store.jobs().await.unwrap().len(), 1, "{name}");
        assert_eq!(
            db.store.attention_items().await.unwrap(),
            vec![attention_item("atn-1")]
        );
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
        body: Body::new(body),
        received_at: T0,
    }
}

fn attention_item(id: &str) -> AttentionItem {
    AttentionItem {
        id: AttentionId::new(id),
        subject: Subject::Order(OrderId::new("order-1")),
        code: "payment_unconfirmed".into(),
        reason: "the payment could not be confirmed".into(),
        tried: "inquired 10 times".into(),
        actions: vec![OperatorAction::InquireNow, OperatorAction::Resolve],
        opened_at: T0,
        updated_at: T0,
        resolution: None,
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
async fn attention_items_list_by_cursor_even_past_a_closed_one() {
    for db in backends().await {
        let name = db.name();
        let mut tx = db.store.begin().await.unwrap();
        for (i, id) in ["atn-a", "atn-b", "atn-c"].iter().enumerate() {
            let mut item = attention_item(id);
            item.subject = Subject::Refund(RefundId::new(format!("refund-{i}")));
            item.opened_at = T0 + i64::try_from(i).unwrap();
            assert!(tx.raise_attention(&item).await.unwrap());
        }
        // Another subject's item with a taken id is refused, and the unit of work goes on.
        let mut clash = attention_item("atn-a");
        clash.subject = Subject::Job(autodebit_domain::model::JobId::new("9"));
        let err = tx.raise_attention(&clash).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{name}: {err}");
        tx.commit().await.unwrap();
        let first = db.store.open_attention(None, 1).await.unwrap().remove(0);
        assert_eq!(first.id.as_str(), "atn-a", "{name}");
        // The cursor item is closed before the next page is read: the page goes on after it.
        let mut tx = db.store.begin().await.unwrap();
        let closed = tx
            .resolve_attention(
                &first.subject,
                None,
                &Resolution {
                    at: T0 + 10,
                    reason: "done".into(),
                },
            )
            .await
            .unwrap();
        assert_eq!(closed, 1);
        tx.commit().await.unwrap();
        let next = db.store.open_attention(Some(&first.id), 10).await.unwrap();
        assert_eq!(
            next.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
            vec!["atn-b", "atn-c"],
            "{name}"
        );
        let unknown = db
            .store
            .open_attention(Some(&AttentionId::new("atn-nope")), 10)
            .await
            .unwrap();
        assert_eq!(
            unknown.len(),
            2,
            "{name}: an unknown cursor lists from the start"
        );
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_rotated_token_is_kept_as_a_blind_index_only() {
    for db in backends().await {
        let name = db.name();
        seed_payment(&db.store, 1).await;
        let id = AuthorizationId::new("auth-1");
        let mut tx = db.store.begin().await.unwrap();
        let mut auth = tx.authorization(&id).await.unwrap().unwrap();
        let old = auth.token.as_ref().unwrap().access_token.clone();
        if let Some(token) = auth.token.as_mut() {
            token.access_token = AccessToken::new("tok-rotated-2");
        }
        assert!(tx.update_authorization(&auth).await.unwrap());
        tx.retire_access_token(&id, &old).await.unwrap();
        // Retiring the same token twice is fine.
        tx.retire_access_token(&id, &old).await.unwrap();
        assert_eq!(
            tx.authorization_by_access_token(&old)
                .await
                .unwrap()
                .map(|a| a.id),
            Some(id.clone()),
            "{name}: read your writes"
        );
        tx.commit().await.unwrap();
        let stored = db.raw_sql("SELECT token_index, authorization_id FROM retired_access_tokens");
        assert_eq!(stored.lines().count(), 1, "{name}: {stored}");
        assert!(stored.starts_with("v1."), "{name}: a keyed index: {stored}");
        assert!(!stored.contains(old.expose_secret()), "{name}");
        db.cleanup().await;
    }
}
