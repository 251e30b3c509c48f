//! Money safety, one scenario per finding of the December 2026 review of the domain against the
//! seeds (F1–F14): no money kept, none charged twice, nothing left hanging. Each ran against the
//! old behaviour and failed there.

use std::sync::Arc;

use ams_protocol::{AccessToken, AmsResult, Api, PaymentStatus, TransactionStatus};
use async_trait::async_trait;
use autodebit_domain::lifecycle::attempt::AttemptState;
use autodebit_domain::lifecycle::authorization::{AuthorizationState, RevokedBy};
use autodebit_domain::lifecycle::order::OrderState;
use autodebit_domain::lifecycle::refund::RefundState;
use autodebit_domain::model::{EventKind, Millis, OperatorAction, OrderId, RefundOrigin};
use autodebit_domain::ports::{
    Clock, Gateway, NotificationVerifier, Random, RandomError, RawNotification, RefusalCause,
    Reply, Verification,
};
use autodebit_domain::services::jobs::Jobs;
use autodebit_domain::services::notifications::Receipt;
use autodebit_domain::services::payments::{RetryCommand, Status};
use autodebit_domain::services::{Context, Error, Schedule, cancel_deadline};
use autodebit_domain::testing::replies::*;
use autodebit_domain::testing::{ScriptedGateway, UncheckedVerifier, raw};

use super::flows::{paid, refund_cmd, short_inquiries, start, until_cancel};
use super::{
    DAY, H, T0, authcode_created, backend_test, payment_notification, token_canceled, usd,
};

const MINUTE: Millis = 60_000;

async fn settled_state(h: &H, order: &OrderId) -> (AttemptState, OrderState) {
    let view = h.payment(order).await;
    (view.latest().state, view.order.state)
}

// ---- F1: a cancel answered ORDER_NOT_EXIST while the pay may still land -------------------------

backend_test! {
    async fn a_cancel_answered_order_not_exist_before_the_expiry_proves_nothing(b) {
        let h = H::new(b);
        let auth = h.active().await;
        h.gw.push_pay(lost()); // still in transit
        let order = h.charge(&auth, "k1", 1_000).await.unwrap().order.id;
        h.gw.push_cancel(cancel_failed("ORDER_NOT_EXIST"));
        let view = h.payments().cancel(&order).await.unwrap();
        assert_eq!(view.latest().state, AttemptState::CancelRequested, "not cancelled on ORDER_NOT_EXIST");
        assert_eq!(view.status(), Status::Processing);
        assert_eq!(h.events(EventKind::PaymentCancelled).await, 0);
        // The pay lands; the retried cancel finds it and returns the money.
        h.gw.push_cancel(cancel_success());
        h.drain(T0 + DAY).await;
        assert_eq!(settled_state(&h, &order).await, (AttemptState::Cancelled, OrderState::Cancelled));
        assert_eq!(h.calls(Api::Cancel), 2);
        let bodies = h.bodies(Api::Cancel);
        assert_eq!(bodies[0], bodies[1], "the same cancel");
    }
}

backend_test! {
    async fn order_not_exist_is_believed_only_after_the_expiry_and_its_margin(b) {
        let h = H::new(b);
        let auth = h.active().await;
        h.gw.push_pay(lost());
        let view = h.charge(&auth, "k1", 1_000).await.unwrap();
        let (order, expires) = (view.order.id.clone(), view.latest().expires_at);
        let believed_from = expires + h.ctx.schedule.expiry_margin_ms;
        for _ in 0..200 {
            h.gw.push_cancel(cancel_failed("ORDER_NOT_EXIST"));
            h.gw.push_inquiry_payment(inquiry_failed("ORDER_NOT_EXIST"));
        }
        h.payments().cancel(&order).await.unwrap();
        loop {
            let Some(next) = h.jobs().await.first().map(|j| j.due_at) else { break };
            h.clock.set(next.max(h.clock.now_ms()));
            h.run().await;
            let (attempt, order_state) = settled_state(&h, &order).await;
            if attempt.is_final() {
                assert!(h.clock.now_ms() > believed_from, "settled at {} before {believed_from}", h.clock.now_ms());
                assert_eq!((attempt, order_state), (AttemptState::Cancelled, OrderState::Cancelled));
                break;
            }
        }
        let view = h.payment(&order).await;
        assert_eq!(view.latest().result_code.as_deref(), Some("NOT_FOUND_AFTER_EXPIRY"));
        assert!(h.calls(Api::Cancel) >= 2, "the cancel was sent again while the pay could land");
        assert!(h.calls(Api::InquiryPayment) >= 1, "confirmed by inquiry");
        assert_eq!(h.events(EventKind::PaymentCancelled).await, 1);
        assert!(h.jobs().await.is_empty());
    }
}

// ---- F2: "needs an operator" is not a dead end ----------------------------------------------------

backend_test! {
    async fn an_unanswered_cancel_goes_on_until_the_window_closes_then_a_paid_payment_is_refunded(b) {
        let h = H::at(b, T0, short_inquiries());
        let order = until_cancel(&h).await;
        let started = h.clock.now_ms();
        let deadline = cancel_deadline(h.payment(&order).await.latest().created_at);
        for _ in 0..200 {
            h.gw.push_cancel(cancel_unknown());
        }
        let mut last_cancel_at = started;
        let mut waits = Vec::new();
        let mut calls = h.calls(Api::Cancel);
        while h.payment(&order).await.latest().state == AttemptState::CancelRequested {
            let next = h.jobs().await.first().expect("the cancel is never dropped").due_at;
            h.clock.set(next.max(h.clock.now_ms()));
            h.run().await;
            if h.calls(Api::Cancel) > calls {
                calls = h.calls(Api::Cancel);
                waits.push(h.clock.now_ms() - last_cancel_at);
                last_cancel_at = h.clock.now_ms();
                assert!(h.clock.now_ms() <= deadline, "a cancel after the window");
            }
        }
        // 5–10 s for the first minute, then growing waits up to 30 min, until the window closed.
        let burst: Vec<_> = waits.iter().skip(1).take_while(|w| **w <= 10_000).collect();
        assert!(burst.len() >= 5, "{waits:?}");
        assert!(waits.iter().all(|w| *w <= 30 * MINUTE), "{waits:?}");
        assert!(waits.contains(&(30 * MINUTE)), "the backoff reaches its cap: {waits:?}");
        assert!(last_cancel_at > deadline - 30 * MINUTE, "retried until the window closed");
        let view = h.payment(&order).await;
        assert_eq!(view.latest().state, AttemptState::Confirming);
        assert_eq!(view.status(), Status::Processing, "nothing assumed");
        let item = view.attention.iter().find(|i| i.code == "cancel_unanswered").expect("a person was told");
        assert!(item.actions.contains(&OperatorAction::RetryCancel));
        assert!(item.tried.contains("5–10 s"), "{}", item.tried);
        // Past the window: inquired until final; it was paid, so it is refunded, in full.
        h.gw.push_inquiry_payment(inquiry(PaymentStatus::Processing, "pid-1", usd(1_000)));
        h.gw.push_inquiry_payment(inquiry(PaymentStatus::Success, "pid-1", usd(1_000)));
        h.gw.push_refund(refund_success("rid-1", usd(1_000)));
        h.drain(deadline + DAY).await;
        let view = h.payment(&order).await;
        assert_eq!(view.latest().state, AttemptState::Succeeded);
        assert_eq!(view.order.state, OrderState::FullyRefunded, "the money went back");
        assert_eq!(view.order.refunded, 1_000);
        assert_eq!(view.refunds.len(), 1);
        assert_eq!(view.refunds[0].origin, RefundOrigin::CancelTooLate);
        assert_eq!(view.refunds[0].state, RefundState::Succeeded);
        assert!(view.attention.is_empty(), "settled on its own: {:?}", view.attention);
        assert_eq!(h.events(EventKind::PaymentSucceeded).await, 1);
        assert_eq!(h.events(EventKind::RefundSucceeded).await, 1);
        assert!(h.jobs().await.is_empty());
    }
}

backend_test! {
    async fn cancel_window_exceed_confirms_by_inquiry_and_refunds_instead(b) {
        let h = H::at(b, T0, short_inquiries());
        let order = until_cancel(&h).await;
        h.gw.push_cancel(cancel_failed("CANCEL_WINDOW_EXCEED"));
        h.run().await;
        assert_eq!(h.payment(&order).await.latest().state, AttemptState::Confirming);
        h.gw.push_inquiry_payment(inquiry(PaymentStatus::Success, "pid-1", usd(1_000)));
        h.gw.push_refund(refund_success("rid-1", usd(1_000)));
        h.drain(T0 + DAY).await;
        let view = h.payment(&order).await;
        assert_eq!((view.latest().state, view.order.state), (AttemptState::Succeeded, OrderState::FullyRefunded));
        assert_eq!(h.calls(Api::Cancel), 1);
        assert_eq!(h.calls(Api::Refund), 1);
    }
}

backend_test! {
    async fn a_cancel_refused_otherwise_is_shown_to_a_person_and_settled_by_inquiry(b) {
        let h = H::at(b, T0, short_inquiries());
        let order = until_cancel(&h).await;
        h.gw.push_cancel(cancel_failed("ORDER_STATUS_INVALID"));
        h.run().await;
        let view = h.payment(&order).await;
        assert_eq!(view.latest().state, AttemptState::Confirming);
        assert!(view.attention.iter().any(|i| i.code == "cancel_refused"), "{:?}", view.attention);
        h.gw.push_inquiry_payment(inquiry(PaymentStatus::Fail, "pid-1", usd(1_000)));
        h.drain(T0 + DAY).await;
        let view = h.payment(&order).await;
        assert_eq!((view.latest().state, view.order.state), (AttemptState::Failed, OrderState::Failed));
        assert!(view.attention.is_empty());
        assert_eq!(h.calls(Api::Refund), 0, "nothing was paid, nothing refunded");
    }
}

backend_test! {
    async fn a_success_reported_while_confirming_is_checked_by_inquiry_then_paid_and_refunded(b) {
        let h = H::at(b, T0, short_inquiries());
        let order = until_cancel(&h).await;
        h.gw.push_cancel(cancel_failed("CANCEL_WINDOW_EXCEED"));
        h.run().await;
        // A success notification is a fact about the past (the cancel may have reversed it since):
        // it settles nothing, but the inquiry that confirms the payment runs at once.
        let prid = h.payment(&order).await.latest().payment_request_id.to_string();
        h.notify(&payment_notification(&prid, AmsResult::success(), usd(1_000))).await.unwrap();
        assert_eq!(h.payment(&order).await.latest().state, AttemptState::Confirming);
        assert!(h.jobs().await[0].due_at <= h.clock.now_ms());
        h.gw.push_inquiry_payment(inquiry(PaymentStatus::Success, "pid-1", usd(1_000)));
        h.gw.push_refund(refund_success("rid-1", usd(1_000)));
        h.drain(T0 + DAY).await;
        let view = h.payment(&order).await;
        assert_eq!(view.order.state, OrderState::FullyRefunded);
        assert_eq!(view.refunds[0].origin, RefundOrigin::CancelTooLate);
    }
}

// ---- F3: a merchant cancel is guarded ---------------------------------------------------------------

backend_test! {
    async fn a_merchant_cancel_is_refused_on_a_failed_payment_after_a_refund_and_past_the_window(b) {
        let h2 = H::new(b.fresh().await);
        let h = H::new(b);
        let auth = h.active().await;
        h.gw.push_pay(pay_failed("USER_BALANCE_NOT_ENOUGH"));
        let failed = h.charge(&auth, "failed", 1_000).await.unwrap().order.id;
        let refused = h.payments().cancel(&failed).await;
        assert!(matches!(refused, Err(Error::NotCancellable { refund_instead: false, .. })), "{refused:?}");
        let order = paid(&h, 1_000).await;
        h.gw.push_refund(lost());
        h.refunds().refund(refund_cmd(&order, "r1", 100)).await.unwrap();
        let refused = h.payments().cancel(&order).await;
        assert!(matches!(refused, Err(Error::NotCancellable { refund_instead: true, .. })), "{refused:?}");
        let order = paid(&h2, 1_000).await;
        h2.clock.set(cancel_deadline(T0) + 1);
        let refused = h2.payments().cancel(&order).await;
        assert!(
            matches!(&refused, Err(Error::NotCancellable { refund_instead: true, reason, .. }) if reason.contains("refund instead")),
            "{refused:?}"
        );
        assert_eq!(h.calls(Api::Cancel) + h2.calls(Api::Cancel), 0, "nothing was sent");
        assert_eq!(h2.payment(&order).await.order.state, OrderState::Succeeded);
    }
}

backend_test! {
    async fn a_merchant_cancel_of_a_paid_payment_inside_the_window_returns_the_money(b) {
        let h = H::new(b);
        let order = paid(&h, 1_000).await;
        h.gw.push_cancel(cancel_success());
        let view = h.payments().cancel(&order).await.unwrap();
        assert_eq!((view.latest().state, view.order.state), (AttemptState::Cancelled, OrderState::Cancelled));
        assert_eq!(h.events(EventKind::PaymentCancelled).await, 1);
        let refused = h.refunds().refund(refund_cmd(&order, "r1", 100)).await;
        assert!(matches!(refused, Err(Error::NotRefundable { .. })), "{refused:?}");
    }
}

backend_test! {
    multi_thread async fn a_cancel_and_a_refund_racing_never_both_go_out(b) {
        for round in 0..10 {
            let h = H::new(b.fresh().await);
            let order = paid(&h, 1_000).await;
            h.gw.push_cancel(cancel_success());
            h.gw.push_refund(refund_success("rid-1", usd(1_000)));
            let (payments, refunds) = (h.payments(), h.refunds());
            let (cancelled, refunded) = tokio::join!(payments.cancel(&order), refunds.refund(refund_cmd(&order, "r1", 1_000)));
            match (&cancelled, &refunded) {
                (Ok(_), Err(Error::NotRefundable { .. })) => assert_eq!((h.calls(Api::Cancel), h.calls(Api::Refund)), (1, 0)),
                (Err(Error::NotCancellable { .. }), Ok(_)) => assert_eq!((h.calls(Api::Cancel), h.calls(Api::Refund)), (0, 1)),
                other => panic!("round {round}: both or neither: {other:?}"),
            }
        }
    }
}

// ---- F4: one business order, at most one live attempt ----------------------------------------------

backend_test! {
    async fn one_business_order_has_at_most_one_live_attempt(b) {
        let h = H::new(b);
        let auth = h.active().await;
        h.gw.push_pay(pay_unknown("PAYMENT_IN_PROCESS"));
        let first = h.charge(&auth, "k1", 1_000).await.unwrap();
        let again = h.payments().charge(autodebit_domain::services::payments::ChargeCommand {
            idempotency_key: "k2".into(),
            authorization_id: auth.clone(),
            reference: "order-k1".into(),
            description: "Monthly plan".into(),
            amount: usd(1_000),
            return_url: None,
        }).await;
        assert!(matches!(&again, Err(Error::ReferenceInUse { order_id, .. }) if *order_id == first.order.id.to_string()), "{again:?}");
        let retry = |key: &str| RetryCommand { idempotency_key: key.into(), order_id: first.order.id.clone() };
        let busy = h.payments().retry(retry("r0")).await;
        assert!(matches!(&busy, Err(Error::AttemptInProgress { state: "unknown", .. })), "{busy:?}");
        h.gw.push_inquiry_payment(inquiry(PaymentStatus::Fail, "pid-1", usd(1_000)));
        h.advance(3_000).await;
        assert_eq!(h.payment(&first.order.id).await.status(), Status::Failed);
        h.gw.push_pay(pay_success("pid-2", usd(1_000)));
        let second = h.payments().retry(retry("r1")).await.unwrap();
        assert_eq!(second.attempts.len(), 2);
        assert_ne!(second.attempts[0].payment_request_id, second.attempts[1].payment_request_id, "a new paymentRequestId");
        assert_eq!(second.status(), Status::Succeeded);
        assert!(h.payments().retry(retry("r1")).await.unwrap().replayed);
        let paid_again = h.payments().retry(retry("r2")).await;
        assert!(matches!(paid_again, Err(Error::AlreadyPaid { .. })), "{paid_again:?}");
        assert_eq!(h.calls(Api::Pay), 2);
    }
}

// ---- F5, F11, M1: answers that may mean "the first request worked", and answers bound to requests --

backend_test! {
    async fn repeat_req_inconsistent_is_inquired_never_failed(b) {
        let h = H::new(b);
        let auth = h.active().await;
        h.gw.push_pay(pay_failed("REPEAT_REQ_INCONSISTENT"));
        let view = h.charge(&auth, "k1", 1_000).await.unwrap();
        assert_eq!((view.latest().state, view.status()), (AttemptState::Unknown, Status::Processing));
        assert_eq!(h.events(EventKind::PaymentFailed).await, 0);
        h.gw.push_inquiry_payment(inquiry(PaymentStatus::Success, "pid-1", usd(1_000)));
        h.advance(3_000).await;
        assert_eq!(h.payment(&view.order.id).await.status(), Status::Succeeded);
    }
}

backend_test! {
    async fn an_answer_about_another_request_is_never_applied(b) {
        let h = H::new(b);
        let auth = h.active().await;
        h.gw.push_pay(pay_success_for("SOMEONE-ELSE", "pid-9", usd(1_000)));
        let view = h.charge(&auth, "k1", 1_000).await.unwrap();
        assert_eq!(view.latest().state, AttemptState::Unknown, "a replayed success is not ours");
        assert!(view.attention.iter().any(|i| i.code == "answer_mismatch"), "{:?}", view.attention);
        h.gw.push_inquiry_payment(inquiry(PaymentStatus::Success, "pid-1", usd(999)));
        h.advance(3_000).await;
        assert_eq!(h.payment(&view.order.id).await.latest().state, AttemptState::Inquiring, "the wrong amount is not ours");
        h.gw.push_inquiry_payment(inquiry(PaymentStatus::Success, "pid-1", usd(1_000)));
        h.advance(3_000).await;
        let now = h.payment(&view.order.id).await;
        assert_eq!(now.status(), Status::Succeeded);
        assert_eq!(now.latest().payment_id.as_ref().map(|p| p.as_str()), Some("pid-1"));
        assert!(now.attention.is_empty());
    }
}

backend_test! {
    async fn a_refund_answer_about_another_request_is_never_applied(b) {
        let h = H::new(b);
        let order = paid(&h, 1_000).await;
        h.gw.push_refund(refund_success_for("R-OTHER", "rid-9", usd(500)));
        let view = h.refunds().refund(refund_cmd(&order, "r1", 500)).await.unwrap();
        assert_eq!(view.refund.state, RefundState::Inquiring);
        assert_eq!(view.order_state, OrderState::Succeeded, "nothing refunded on someone else's answer");
        h.gw.push_inquiry_refund(inquiry_refund(TransactionStatus::Success, "rid-1"));
        h.drain(T0 + DAY).await;
        assert_eq!(h.refunds().refund_view(&view.refund.id).await.unwrap().refund.state, RefundState::Succeeded);
    }
}

// ---- F6: a retry resends the exact bytes ------------------------------------------------------------

backend_test! {
    async fn a_resend_keeps_the_stored_bytes_even_after_the_token_rotated(b) {
        let h = H::new(b);
        let auth = h.active().await;
        h.gw.push_pay(not_sent());
        let order = h.charge(&auth, "k1", 1_000).await.unwrap().order.id;
        let mut tx = h.store().begin().await.unwrap();
        let mut a = tx.authorization(&auth).await.unwrap().unwrap();
        if let Some(token) = a.token.as_mut() {
            token.access_token = AccessToken::new("tok-2");
        }
        assert!(tx.update_authorization(&a).await.unwrap());
        tx.commit().await.unwrap();
        h.gw.push_pay(pay_success("pid-1", usd(1_000)));
        h.advance(2_000).await;
        let bodies = h.bodies(Api::Pay);
        assert_eq!(bodies.len(), 2);
        assert_eq!(bodies[0], bodies[1], "one paymentRequestId, one body, byte for byte");
        assert_eq!(h.payment(&order).await.latest().request_body.expose(), bodies[0]);
    }
}

// ---- F7: jobs run once: leases are tokens, renewed before every call --------------------------------

/// A gateway whose `applyToken` takes `ms` of (simulated) time, during which another worker runs.
struct SlowExchange {
    inner: Arc<ScriptedGateway>,
    clock: autodebit_domain::testing::ManualClock,
    ms: Millis,
    other_worker: std::sync::Mutex<Option<Context>>,
}

#[async_trait]
impl Gateway for SlowExchange {
    async fn consult(
        &self,
        r: &ams_protocol::ConsultRequest,
    ) -> Reply<ams_protocol::ConsultResponse> {
        self.inner.consult(r).await
    }
    async fn apply_token(
        &self,
        r: &ams_protocol::ApplyTokenRequest,
    ) -> Reply<ams_protocol::ApplyTokenResponse> {
        let reply = self.inner.apply_token(r).await;
        self.clock.advance(self.ms);
        let other = self.other_worker.lock().unwrap().clone();
        if let Some(ctx) = other {
            Box::pin(Jobs::new(ctx).run_due())
                .await
                .expect("the other worker runs");
        }
        reply
    }
    async fn revoke(&self, r: &ams_protocol::RevokeRequest) -> Reply<ams_protocol::RevokeResponse> {
        self.inner.revoke(r).await
    }
    async fn pay(&self, body: &str) -> Reply<ams_protocol::PayResponse> {
        self.inner.pay(body).await
    }
    async fn inquiry_payment(
        &self,
        r: &ams_protocol::InquiryPaymentRequest,
    ) -> Reply<ams_protocol::InquiryPaymentResponse> {
        self.inner.inquiry_payment(r).await
    }
    async fn cancel(&self, r: &ams_protocol::CancelRequest) -> Reply<ams_protocol::CancelResponse> {
        self.inner.cancel(r).await
    }
    async fn refund(&self, body: &str) -> Reply<ams_protocol::RefundResponse> {
        self.inner.refund(body).await
    }
    async fn inquiry_refund(
        &self,
        r: &ams_protocol::InquiryRefundRequest,
    ) -> Reply<ams_protocol::InquiryRefundResponse> {
        self.inner.inquiry_refund(r).await
    }
    async fn declare(&self, body: &str) -> Reply<ams_protocol::DeclareResponse> {
        self.inner.declare(body).await
    }
    async fn inquiry_declaration_requests(
        &self,
        r: &ams_protocol::InquiryDeclarationRequestsRequest,
    ) -> Reply<ams_protocol::InquiryDeclarationRequestsResponse> {
        self.inner.inquiry_declaration_requests(r).await
    }
    async fn registration(&self, body: &str) -> Reply<ams_protocol::RegistrationResponse> {
        self.inner.registration(body).await
    }
    async fn inquiry_registration_status(
        &self,
        r: &ams_protocol::InquiryRegistrationStatusRequest,
    ) -> Reply<ams_protocol::InquiryRegistrationStatusResponse> {
        self.inner.inquiry_registration_status(r).await
    }
    async fn inquiry_registration_info(
        &self,
        r: &ams_protocol::InquiryRegistrationInfoRequest,
    ) -> Reply<ams_protocol::InquiryRegistrationInfoResponse> {
        self.inner.inquiry_registration_info(r).await
    }
}

backend_test! {
    async fn a_slow_gateway_and_a_second_worker_never_send_a_single_use_code_twice(b) {
        let h = H::new(b);
        // Three authorizations waiting to exchange their codes, in one batch.
        let mut codes = Vec::new();
        let mut ids = Vec::new();
        for n in 0..3 {
            h.gw.push_consult(consult_success("https://wallet.example/consent"));
            let started = h.authorizations().start(super::flows::start()).await.unwrap();
            let mut tx = h.store().begin().await.unwrap();
            let mut auth = tx.authorization(&started.authorization_id).await.unwrap().unwrap();
            auth.state = AuthorizationState::Exchanging;
            auth.pending_auth_code = Some(ams_protocol::AuthCode::new(format!("code-{n}")));
            assert!(tx.update_authorization(&auth).await.unwrap());
            tx.schedule_job(autodebit_domain::model::JobKind::Authorization(auth.id.clone()), T0).await.unwrap();
            tx.commit().await.unwrap();
            codes.push(format!("code-{n}"));
            ids.push(auth.id.clone());
        }
        for n in 0..6 {
            h.gw.push_apply_token(token(&format!("tok-{n}"), T0 + 30 * DAY, None));
        }
        let schedule = Schedule { lease_ms: 15_000, max_call_ms: 9_000, reply_timeout_ms: 10_000, ..Schedule::default() };
        let slow = Arc::new(SlowExchange { inner: h.gw.clone(), clock: h.clock.clone(), ms: 9_000, other_worker: std::sync::Mutex::new(None) });
        let worker = |gateway: Arc<dyn Gateway>| Context::new(h.store(), gateway, Arc::new(h.clock.clone()))
            .with_verifier(Arc::new(UncheckedVerifier))
            .with_schedule(schedule.clone());
        // The second worker: same store, a plain gateway (its calls are recorded too).
        *slow.other_worker.lock().unwrap() = Some(worker(h.gw.clone()));
        h.clock.set(T0 + 1);
        Jobs::new(worker(slow.clone())).run_due().await.unwrap();
        h.clock.advance(60_000);
        Jobs::new(worker(h.gw.clone())).run_due().await.unwrap();
        let sent: Vec<String> = h.bodies(Api::ApplyToken).into_iter().filter(|b| b.contains("code-")).collect();
        for code in &codes {
            let times = sent.iter().filter(|b| b.contains(code.as_str())).count();
            assert_eq!(times, 1, "{code} was sent {times} times: {sent:?}");
        }
        for id in &ids {
            assert_eq!(h.authorization(id).await.state, AuthorizationState::Active);
        }
        assert!(h.jobs().await.iter().all(|j| j.due_at > T0 + DAY), "only the refreshes are left");
    }
}

// ---- F9: refunds end: never sent → failed; "no such refund" → sent again ----------------------------

backend_test! {
    async fn a_refund_that_can_never_be_sent_fails_as_not_sent_and_a_person_is_told(b) {
        let h = H::new(b);
        let order = paid(&h, 1_000).await;
        for _ in 0..h.ctx.schedule.refund_max_not_sent {
            h.gw.push_refund(not_sent());
        }
        let id = h.refunds().refund(refund_cmd(&order, "r1", 400)).await.unwrap().refund.id;
        h.drain(T0 + DAY).await;
        let view = h.refunds().refund_view(&id).await.unwrap();
        assert_eq!((view.refund.state, view.refund.result_code.as_deref()), (RefundState::Failed, Some("NOT_SENT")));
        assert_eq!(h.calls(Api::Refund), 10, "a bounded number of tries");
        assert_eq!(view.order_state, OrderState::Succeeded, "nothing was refunded");
        assert_eq!(h.events(EventKind::RefundFailed).await, 1);
        assert!(h.attention().await.iter().any(|i| i.code == "refund_not_sent"));
        assert!(h.jobs().await.is_empty(), "no endless loop");
        // The money is still refundable.
        h.gw.push_refund(refund_success("rid-2", usd(1_000)));
        assert_eq!(h.refunds().refund(refund_cmd(&order, "r2", 1_000)).await.unwrap().order_state, OrderState::FullyRefunded);
    }
}

backend_test! {
    async fn a_refund_alipay_never_received_is_sent_again_with_the_same_bytes(b) {
        let h = H::new(b);
        let order = paid(&h, 1_000).await;
        for _ in 0..30 {
            h.gw.push_refund(lost());
        }
        h.gw.push_inquiry_refund(inquiry_refund_failed("ORDER_NOT_EXIST"));
        h.gw.push_inquiry_refund(inquiry_refund(TransactionStatus::Success, "rid-1"));
        let id = h.refunds().refund(refund_cmd(&order, "r1", 400)).await.unwrap().refund.id;
        h.drain(T0 + DAY).await;
        assert_eq!(h.refunds().refund_view(&id).await.unwrap().refund.state, RefundState::Succeeded);
        let apis: Vec<Api> = h.gw.calls().into_iter().map(|c| c.api).filter(|a| *a != Api::Pay).collect();
        let absent = apis.iter().position(|a| *a == Api::InquiryRefund).expect("inquired");
        assert_eq!(apis.get(absent + 1), Some(&Api::Refund), "sent again right after ORDER_NOT_EXIST: {apis:?}");
        let bodies = h.bodies(Api::Refund);
        assert!(bodies.windows(2).all(|w| w[0] == w[1]), "the same refund each time");
    }
}

// ---- F12: tokens -------------------------------------------------------------------------------------

backend_test! {
    async fn refresh_is_due_before_the_earlier_of_the_two_expiries(b) {
        let h = H::new(b);
        h.gw.push_consult(consult_success("https://wallet.example/consent"));
        let started = h.authorizations().start(start()).await.unwrap();
        h.gw.push_apply_token(token("tok-9", T0 + 30 * DAY, Some(("ref-9", T0 + 10 * DAY))));
        h.authorizations().complete_with_code(&started.auth_state, &ams_protocol::AuthCode::new("c")).await.unwrap();
        let job = h.jobs().await.pop().unwrap();
        assert_eq!(job.due_at, T0 + 9 * DAY, "a day before the refresh token expires, not the access token");
    }
}

backend_test! {
    async fn without_a_refresh_token_the_authorization_needs_the_user_when_the_token_expires(b) {
        let h = H::new(b);
        h.gw.push_consult(consult_success("https://wallet.example/consent"));
        let started = h.authorizations().start(start()).await.unwrap();
        h.gw.push_apply_token(token("tok-9", T0 + 2 * DAY, None));
        let id = started.authorization_id.clone();
        h.authorizations().complete_with_code(&started.auth_state, &ams_protocol::AuthCode::new("c")).await.unwrap();
        h.drain(T0 + DAY).await;
        assert_eq!(h.authorization(&id).await.state, AuthorizationState::Active);
        h.drain(T0 + 3 * DAY).await;
        let auth = h.authorization(&id).await;
        assert_eq!(auth.state, AuthorizationState::NeedsReauthorization);
        assert_eq!(auth.failure.as_deref(), Some("ACCESS_TOKEN_EXPIRED"));
        assert_eq!(h.events(EventKind::AuthorizationNeedsReauthorization).await, 1);
        assert_eq!(h.calls(Api::ApplyToken), 1, "nothing to refresh with");
        assert!(h.jobs().await.is_empty());
    }
}

backend_test! {
    async fn token_canceled_naming_a_token_rotated_since_is_still_applied(b) {
        let h = H::new(b);
        let id = h.active().await;
        let mut tx = h.store().begin().await.unwrap();
        tx.schedule_job(autodebit_domain::model::JobKind::Authorization(id.clone()), T0 + DAY).await.unwrap();
        tx.commit().await.unwrap();
        h.gw.push_apply_token(token("tok-2", T0 + 60 * DAY, Some(("ref-2", T0 + 200 * DAY))));
        h.advance(DAY).await;
        assert_eq!(h.authorization(&id).await.token.unwrap().access_token.expose_secret(), "tok-2");
        assert_eq!(h.notify(&token_canceled("tok-1")).await.unwrap(), Receipt::Applied);
        assert_eq!(h.authorization(&id).await.state, AuthorizationState::Revoked(RevokedBy::User));
    }
}

backend_test! {
    async fn an_authorization_nobody_consents_to_expires(b) {
        let h = H::new(b);
        h.gw.push_consult(consult_success("https://wallet.example/consent"));
        let started = h.authorizations().start(start()).await.unwrap();
        h.drain(T0 + 29 * MINUTE).await;
        assert_eq!(h.authorization(&started.authorization_id).await.state, AuthorizationState::AwaitingUser);
        h.drain(T0 + DAY).await;
        assert_eq!(h.authorization(&started.authorization_id).await.state, AuthorizationState::Expired);
        assert_eq!(h.events(EventKind::AuthorizationFailed).await, 1);
        assert!(h.jobs().await.is_empty());
        // A late code is still the user's consent.
        h.gw.push_apply_token(token("tok-9", T0 + 30 * DAY, None));
        let state = h.authorizations().complete_with_code(&started.auth_state, &ams_protocol::AuthCode::new("late")).await.unwrap();
        assert_eq!(state, AuthorizationState::Active);
    }
}

backend_test! {
    async fn a_consult_interrupted_by_a_crash_is_recovered(b) {
        let Some(memory) = b.memory().cloned() else { continue };
        let h = H::new(b);
        h.gw.push_consult(consult_success("https://wallet.example/consent"));
        memory.fail_commit_in(2); // 1 stores the authorization, 2 the consult's answer
        assert!(matches!(h.authorizations().start(start()).await, Err(Error::Store(_))));
        let id = memory.authorizations().pop().unwrap().id;
        assert_eq!(h.authorization(&id).await.state, AuthorizationState::Consulting);
        h.drain(T0 + DAY).await;
        let auth = h.authorization(&id).await;
        assert_eq!((auth.state, auth.failure.as_deref()), (AuthorizationState::Failed, Some("CONSULT_INTERRUPTED")));
        assert_eq!(h.events(EventKind::AuthorizationFailed).await, 1);
        h.gw.push_consult(consult_success("https://wallet.example/consent/2"));
        assert_eq!(
            h.authorizations().restart(&id).await.unwrap().auth_url.as_deref(),
            Some("https://wallet.example/consent/2"),
            "and it can be started again"
        );
    }
}

backend_test! {
    async fn a_token_issued_by_an_exchange_whose_answer_was_lost_is_revoked_when_alipay_reports_it(b) {
        let h = H::new(b);
        h.gw.push_consult(consult_success("https://wallet.example/consent"));
        let started = h.authorizations().start(start()).await.unwrap();
        let id = started.authorization_id.clone();
        h.gw.push_apply_token(lost()); // Alipay issued tok-lost; the answer never came
        h.gw.push_apply_token(token_failed("INVALID_AUTHCODE")); // the code is used up
        h.authorizations().complete_with_code(&started.auth_state, &ams_protocol::AuthCode::new("c")).await.unwrap();
        h.drain(T0 + MINUTE).await;
        assert_eq!(h.authorization(&id).await.state, AuthorizationState::Failed);
        let item = h.attention().await.into_iter().find(|i| i.code == "exchange_answer_lost").expect("a person is told");
        assert!(item.reason.contains("may have issued a token"), "{}", item.reason);
        // Alipay tells us of the token it issued: we never held it, so it is revoked.
        let created = ams_protocol::Notification::Authorization(Box::new(
            ams_protocol::NotifyAuthorization::new(ams_protocol::AuthorizationNotifyType::TokenCreated, AmsResult::success())
                .with_auth_state(started.auth_state.as_str())
                .with_access_token(AccessToken::new("tok-lost")),
        ));
        h.gw.push_revoke(revoke_success());
        h.notify(&created).await.unwrap();
        h.drain(T0 + DAY).await;
        assert_eq!(h.bodies(Api::Revoke).len(), 1);
        assert!(h.bodies(Api::Revoke)[0].contains("tok-lost"));
        assert!(h.authorization(&id).await.stray_token.is_none());
        assert!(h.jobs().await.is_empty());
    }
}

backend_test! {
    async fn scan_to_bind_hands_out_the_qr_value(b) {
        let h = H::new(b);
        h.gw.push_consult(consult_qr("https://qr.alipay.example/abc"));
        let started = h.authorizations().start(start()).await.unwrap();
        assert_eq!(started.qr_code.as_deref(), Some("https://qr.alipay.example/abc"));
        assert_eq!(started.auth_url, None);
        let auth = h.authorization(&started.authorization_id).await;
        assert_eq!((auth.state, auth.qr_code.as_deref()), (AuthorizationState::AwaitingUser, Some("https://qr.alipay.example/abc")));
        // The user scans and agrees: AUTHCODE_CREATED completes it.
        h.gw.push_apply_token(token("tok-9", T0 + 30 * DAY, None));
        h.notify(&authcode_created(started.auth_state.as_str(), "code-1")).await.unwrap();
        assert_eq!(h.authorization(&started.authorization_id).await.state, AuthorizationState::Active);
    }
}

// ---- F13, M4: randomness and verification ------------------------------------------------------------

struct Broken;

impl Random for Broken {
    fn fill(&self, _: &mut [u8]) -> Result<(), RandomError> {
        Err(RandomError("no entropy".into()))
    }
}

backend_test! {
    async fn a_failed_random_source_stores_and_sends_nothing(b) {
        let h = H::new(b);
        let auth = h.active().await;
        let broken = autodebit_domain::services::payments::Payments::new(h.ctx.clone().with_random(Arc::new(Broken)));
        let result = broken.charge(autodebit_domain::services::payments::ChargeCommand {
            idempotency_key: "k1".into(),
            authorization_id: auth,
            reference: "order-k1".into(),
            description: "Plan".into(),
            amount: usd(1_000),
            return_url: None,
        }).await;
        assert!(matches!(result, Err(Error::Random(_))), "{result:?}");
        let started = autodebit_domain::services::authorizations::Authorizations::new(h.ctx.clone().with_random(Arc::new(Broken))).start(start()).await;
        assert!(matches!(started, Err(Error::Random(_))), "{started:?}");
        let mut tx = h.store().begin().await.unwrap();
        assert!(tx.order_by_reference("order-k1").await.unwrap().is_none());
        assert!(h.gw.calls().is_empty());
    }
}

/// Signed, but outside the skew window.
struct StaleVerifier;

impl NotificationVerifier for StaleVerifier {
    fn verify(&self, raw: &RawNotification) -> Verification {
        match UncheckedVerifier.verify(raw) {
            Verification::Verified(n) => Verification::Stale(n),
            other => other,
        }
    }
}

backend_test! {
    async fn a_stale_notification_is_not_applied_but_its_payment_is_inquired_at_once(b) {
        let h = H::new(b);
        let auth = h.active().await;
        h.gw.push_pay(lost());
        let view = h.charge(&auth, "k1", 1_000).await.unwrap();
        let stale = autodebit_domain::services::notifications::Notifications::new(h.ctx.clone().with_verifier(Arc::new(StaleVerifier)));
        let n = payment_notification(view.latest().payment_request_id.as_str(), AmsResult::success(), usd(1_000));
        let refused = stale.receive(&raw(&n)).await;
        assert!(matches!(refused, Err(Error::NotificationUnverified { cause: RefusalCause::Stale, .. })), "{refused:?}");
        assert_eq!(h.payment(&view.order.id).await.latest().state, AttemptState::Unknown, "not applied");
        assert!(h.jobs().await[0].due_at <= h.clock.now_ms(), "inquired at once, not in 3 s");
        h.gw.push_inquiry_payment(inquiry(PaymentStatus::Success, "pid-1", usd(1_000)));
        h.run().await;
        assert_eq!(h.payment(&view.order.id).await.status(), Status::Succeeded);
    }
}

backend_test! {
    async fn without_a_verifier_every_notification_is_refused(b) {
        let h = H::new(b);
        let plain = autodebit_domain::services::notifications::Notifications::new(Context::new(h.store(), h.gw.clone(), Arc::new(h.clock.clone())));
        let n = token_canceled("tok-1");
        let refused = plain.receive(&raw(&n)).await;
        assert!(matches!(refused, Err(Error::NotificationUnverified { .. })), "{refused:?}");
    }
}

// ---- what a person can do ------------------------------------------------------------------------------

backend_test! {
    async fn a_person_can_inquire_retry_the_cancel_and_resolve(b) {
        let h = H::at(b, T0, short_inquiries());
        let order = until_cancel(&h).await;
        h.gw.push_cancel(cancel_failed("ORDER_STATUS_INVALID"));
        h.run().await;
        let view = h.payment(&order).await;
        assert_eq!(view.latest().state, AttemptState::Confirming);
        let item = h.operator().attention(None, 10).await.unwrap().into_iter().find(|i| i.code == "cancel_refused").expect("listed");
        assert!(item.actions.contains(&OperatorAction::RetryCancel));
        // The person sorted it out with Alipay and cancels again.
        h.gw.push_cancel(cancel_success());
        let view = h.operator().retry_cancel(&order).await.unwrap();
        assert_eq!(view.latest().state, AttemptState::Cancelled);
        assert!(view.attention.is_empty(), "the payment settled: its items closed");
        // Inquire now on a settled payment only shows it.
        assert_eq!(h.operator().inquire_now(&order).await.unwrap().status(), Status::Cancelled);
        // An item closed by hand needs a reason.
        let n = payment_notification("nobody", AmsResult::success(), usd(1));
        let _ = h.notify(&n).await;
        let open = h.operator().attention(None, 10).await.unwrap();
        let item = open.iter().find(|i| i.code == "notification_refused").expect("flagged");
        assert!(matches!(h.operator().resolve(&item.id, " ").await, Err(Error::Invalid { .. })));
        let closed = h.operator().resolve(&item.id, "a test notification from our staging").await.unwrap();
        assert_eq!(closed.resolution.map(|r| r.reason), Some("a test notification from our staging".into()));
        assert!(h.operator().attention(None, 10).await.unwrap().iter().all(|i| i.id != item.id));
    }
}
