//! The domain's flows on the SQL store: the same services, with the scripted gateway, on each
//! backend. The port's semantics are what the flows rely on; these check they hold end to end.

use std::sync::Arc;

use ams_protocol::{AmsResult, Notification, NotifyPayment, PaymentNotifyType, PaymentStatus};
use autodebit_domain::lifecycle::attempt::AttemptState;
use autodebit_domain::lifecycle::order::OrderState;
use autodebit_domain::model::{AuthorizationId, EventKind, OrderId};
use autodebit_domain::ports::{Clock, Store};
use autodebit_domain::services::Context;
use autodebit_domain::services::notifications::{Notifications, Raw, Receipt};
use autodebit_domain::services::payments::{ChargeCommand, ChargeResult, Payments};
use autodebit_domain::testing::replies::*;
use autodebit_domain::testing::{ManualClock, ScriptedGateway};
use autodebit_store::SqlStore;

use crate::support::*;

struct H {
    store: SqlStore,
    gw: Arc<ScriptedGateway>,
    clock: ManualClock,
    ctx: Context,
}

impl H {
    async fn new(store: &SqlStore) -> H {
        let gw = Arc::new(ScriptedGateway::new());
        let clock = ManualClock::new(T0);
        let ctx = Context::new(Arc::new(store.clone()), gw.clone(), Arc::new(clock.clone()));
        let mut tx = store.begin().await.unwrap();
        tx.insert_authorization(&authorization("auth-1", "tok-1"))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        H {
            store: store.clone(),
            gw,
            clock,
            ctx,
        }
    }

    async fn charge(&self, key: &str) -> ChargeResult {
        Payments::new(self.ctx.clone())
            .charge(ChargeCommand {
                idempotency_key: key.into(),
                authorization_id: AuthorizationId::new("auth-1"),
                reference: format!("order-{key}"),
                description: "Monthly plan".into(),
                amount: usd(1_000),
            })
            .await
            .unwrap()
    }

    async fn advance(&self, ms: i64) {
        self.clock.advance(ms);
        let report = Payments::new(self.ctx.clone())
            .run_due_jobs("w1", self.clock.now_ms())
            .await
            .unwrap();
        assert!(report.failed.is_empty(), "{report:?}");
    }

    async fn order_state(&self, id: &OrderId) -> OrderState {
        let mut tx = self.store.begin().await.unwrap();
        tx.order(id).await.unwrap().unwrap().state
    }

    async fn events(&self, kind: EventKind) -> usize {
        let all = self.store.events_after(0, 1_000).await.unwrap();
        all.iter().filter(|(_, e)| e.kind == kind).count()
    }
}

fn notification(prid: &str) -> (Notification, String) {
    let n = Notification::Payment(Box::new(NotifyPayment::new(
        PaymentNotifyType::PaymentResult,
        AmsResult::success(),
        prid,
        "pid-1",
        usd(1_000),
    )));
    let body = serde_json::to_string(&n).unwrap();
    (n, body)
}

#[tokio::test]
async fn a_charge_succeeds_and_a_replay_returns_it() {
    for db in backends().await {
        let name = db.name();
        let h = H::new(&db.store).await;
        h.gw.push_pay(pay_success("x", "pid-1", usd(1_000)));
        let result = h.charge("k1").await;
        assert_eq!(
            (result.attempt_state, result.order_state),
            (AttemptState::Succeeded, OrderState::Succeeded),
            "{name}"
        );
        let mut tx = db.store.begin().await.unwrap();
        let attempt = tx.attempt(&result.attempt_id).await.unwrap().unwrap();
        drop(tx);
        assert_eq!(
            attempt.request_body,
            h.gw.calls()[0].body,
            "{name}: the exact body"
        );
        assert!(db.store.jobs().await.unwrap().is_empty(), "{name}");
        assert_eq!(h.events(EventKind::PaymentSucceeded).await, 1);
        let replay = h.charge("k1").await;
        assert!(replay.replayed, "{name}");
        assert_eq!(replay.order_id, result.order_id);
        assert_eq!(h.gw.calls().len(), 1, "{name}: no second pay");
        db.cleanup().await;
    }
}

#[tokio::test]
async fn an_unknown_payment_is_inquired_by_a_durable_job() {
    for db in backends().await {
        let name = db.name();
        let h = H::new(&db.store).await;
        h.gw.push_pay(pay_unknown("PAYMENT_IN_PROCESS"));
        let result = h.charge("k1").await;
        assert_eq!(result.attempt_state, AttemptState::Unknown, "{name}");
        assert_eq!(db.store.jobs().await.unwrap().len(), 1);
        h.gw.push_inquiry_payment(inquiry(PaymentStatus::Success, "pid-1", usd(1_000)));
        h.advance(3_000).await;
        assert_eq!(
            h.order_state(&result.order_id).await,
            OrderState::Succeeded,
            "{name}"
        );
        assert!(db.store.jobs().await.unwrap().is_empty(), "{name}");
        // The notification that follows is applied as a no-op, then deduplicated.
        let (n, body) = notification(&result.payment_request_id);
        let headers = vec![("client-id".to_owned(), "SANDBOX".to_owned())];
        let raw = Raw {
            path: "/alipay/notify/payment",
            headers: &headers,
            body: &body,
        };
        let notifications = Notifications::new(h.ctx.clone());
        assert_eq!(
            notifications.receive_raw(&n, &raw).await.unwrap(),
            Receipt::Applied
        );
        assert_eq!(
            notifications.receive_raw(&n, &raw).await.unwrap(),
            Receipt::Duplicate
        );
        assert_eq!(h.events(EventKind::PaymentSucceeded).await, 1, "{name}");
        let inbox = db.store.inbox().await.unwrap();
        assert_eq!(inbox.len(), 1);
        assert_eq!(
            (inbox[0].headers.clone(), inbox[0].body.clone()),
            (headers, body)
        );
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_and_an_inquiry_racing_apply_once() {
    for db in backends().await {
        let name = db.name();
        let h = H::new(&db.store).await;
        for round in 0..5 {
            h.gw.push_pay(pay_unknown("PAYMENT_IN_PROCESS"));
            let result = h.charge(&format!("k{round}")).await;
            h.gw.push_inquiry_payment(inquiry(PaymentStatus::Success, "pid-1", usd(1_000)));
            h.clock.advance(3_000);
            let (n, body) = notification(&result.payment_request_id);
            let (payments, notifications) = (
                Payments::new(h.ctx.clone()),
                Notifications::new(h.ctx.clone()),
            );
            let now = h.clock.now_ms();
            let (jobs, received) = tokio::join!(
                payments.run_due_jobs("w1", now),
                notifications.receive(&n, "/alipay/notify/payment", &body)
            );
            assert!(jobs.unwrap().failed.is_empty(), "{name}");
            received.unwrap();
            let mut tx = db.store.begin().await.unwrap();
            let order = tx.order(&result.order_id).await.unwrap().unwrap();
            drop(tx);
            assert_eq!(
                (order.state, order.version),
                (OrderState::Succeeded, 1),
                "{name}: the order changed once"
            );
        }
        assert_eq!(h.events(EventKind::PaymentSucceeded).await, 5, "{name}");
        db.cleanup().await;
    }
}
