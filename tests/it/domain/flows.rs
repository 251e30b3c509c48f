//! The flows against the scripted gateway: every path of seed 003's payment figure and seed 004's
//! rules (S, F, U → inquiry → cancel, cancel retried, no answer, not sent, crashes, notification
//! and inquiry racing, late success, amount checks), idempotency, authorization and refunds.

use ams_protocol::{
    Amount, AmsResult, Api, AuthState, Currency, CustomerBelongsTo, PayRequest, PaymentStatus,
    ResultCode, ResultStatus, TerminalType, TransactionStatus,
};
use autodebit_domain::lifecycle::attempt::AttemptState;
use autodebit_domain::lifecycle::authorization::{AuthorizationState, RevokedBy};
use autodebit_domain::lifecycle::order::OrderState;
use autodebit_domain::lifecycle::refund::RefundState;
use autodebit_domain::model::{EventKind, JobKind, OrderId};
use autodebit_domain::ports::Clock;
use autodebit_domain::services::authorizations::StartAuthorization;
use autodebit_domain::services::notifications::Receipt;
use autodebit_domain::services::payments::Status;
use autodebit_domain::services::refunds::RefundCommand;
use autodebit_domain::services::{Error, Schedule};
use autodebit_domain::testing::replies::*;

use super::{
    DAY, H, T0, authcode_created, backend_test, payment_notification, refund_notification,
    token_canceled, usd,
};

// ---- charge: S, F, and the intent -------------------------------------------------------------

backend_test! {
    async fn s_succeeds_with_the_intent_committed_before_pay(b) {
        let h = H::new(b);
        let auth = h.active().await;
        h.gw.push_pay(pay_success("pid-1", usd(1_000)));
        let view = h.charge(&auth, "k1", 1_000).await.unwrap();
        assert_eq!((view.latest().state, view.order.state), (AttemptState::Succeeded, OrderState::Succeeded));
        assert_eq!(view.status(), Status::Succeeded);
        assert_eq!(view.latest().payment_id.as_ref().map(|p| p.as_str()), Some("pid-1"));
        assert!(!view.replayed);
        assert_eq!(*h.states_at_pay.lock().unwrap(), vec![AttemptState::Sent]);
        let sent = &h.bodies(Api::Pay)[0];
        let body: PayRequest = serde_json::from_str(sent).unwrap();
        assert_eq!(body.product_code, ams_protocol::ProductCode::AgreementPayment);
        assert_eq!(body.payment_request_id, view.latest().payment_request_id);
        assert_eq!(body.payment_method.payment_method_id.unwrap().expose_secret(), "tok-1");
        let expiry = body.payment_expiry_time.unwrap().unix_millis().unwrap();
        assert!(expiry > T0 && expiry < T0 + 60_000, "paymentExpiryTime within one minute");
        assert_eq!(view.latest().request_body.expose(), sent, "the exact stored body");
        assert_eq!(h.events(EventKind::PaymentSucceeded).await, 1);
        assert!(h.jobs().await.is_empty(), "nothing left to do: {:?}", h.jobs().await);
    }
}

backend_test! {
    async fn f_fails_for_good(b) {
        let h = H::new(b);
        let auth = h.active().await;
        h.gw.push_pay(pay_failed("USER_BALANCE_NOT_ENOUGH"));
        let view = h.charge(&auth, "k1", 1_000).await.unwrap();
        assert_eq!((view.latest().state, view.order.state), (AttemptState::Failed, OrderState::Failed));
        assert_eq!(view.latest().result_code.as_deref(), Some("USER_BALANCE_NOT_ENOUGH"));
        assert_eq!(h.events(EventKind::PaymentFailed).await, 1);
        assert!(h.jobs().await.is_empty());
        assert_eq!(h.authorization(&auth).await.state, AuthorizationState::Active);
    }
}

backend_test! {
    async fn invalid_access_token_invalidates_the_authorization_and_stops_charges(b) {
        let h = H::new(b);
        let auth = h.active().await;
        h.gw.push_pay(pay_failed("INVALID_ACCESS_TOKEN"));
        let view = h.charge(&auth, "k1", 1_000).await.unwrap();
        assert_eq!(view.latest().state, AttemptState::Failed);
        assert_eq!(h.authorization(&auth).await.state, AuthorizationState::Invalid);
        assert_eq!(h.events(EventKind::AuthorizationNeedsReauthorization).await, 1);
        let again = h.charge(&auth, "k2", 1_000).await;
        assert!(matches!(again, Err(Error::NotChargeable { .. })), "{again:?}");
        assert_eq!(h.calls(Api::Pay), 1);
    }
}

backend_test! {
    async fn a_charge_on_a_non_active_authorization_is_refused_before_anything_is_stored(b) {
        let h = H::new(b);
        for state in [
            AuthorizationState::NeedsReauthorization,
            AuthorizationState::Revoked(RevokedBy::User),
            AuthorizationState::Invalid,
            AuthorizationState::Refreshing,
            AuthorizationState::Revoking,
        ] {
            let auth = h.auth_in(state).await;
            let key = format!("k-{}", state.name());
            let result = h.charge(&auth, &key, 1_000).await;
            assert!(matches!(result, Err(Error::NotChargeable { .. })), "{state:?}: {result:?}");
            let mut tx = h.store().begin().await.unwrap();
            assert!(tx.order_by_reference(&format!("order-{key}")).await.unwrap().is_none());
        }
        assert!(h.gw.calls().is_empty());
    }
}

backend_test! {
    async fn an_expired_access_token_is_not_charged(b) {
        let h = H::new(b);
        let auth = h.active().await;
        h.clock.advance(31 * DAY);
        let result = h.charge(&auth, "k1", 1_000).await;
        assert!(matches!(result, Err(Error::NotChargeable { .. })), "{result:?}");
        assert!(h.gw.calls().is_empty());
    }
}

backend_test! {
    async fn the_same_key_replays_and_other_parameters_conflict(b) {
        let h = H::new(b);
        let auth = h.active().await;
        h.gw.push_pay(pay_success("pid-1", usd(1_000)));
        let first = h.charge(&auth, "k1", 1_000).await.unwrap();
        let replay = h.charge(&auth, "k1", 1_000).await.unwrap();
        assert!(replay.replayed);
        assert_eq!((&replay.order.id, replay.latest().state), (&first.order.id, AttemptState::Succeeded));
        let conflict = h.charge(&auth, "k1", 1_001).await;
        assert!(matches!(conflict, Err(Error::IdempotencyConflict { .. })), "{conflict:?}");
        assert_eq!(h.calls(Api::Pay), 1);
    }
}

// ---- unknown outcomes: inquiry, then cancel -----------------------------------------------------

backend_test! {
    async fn u_is_resolved_by_inquiry_every_3_s(b) {
        let h = H::new(b);
        let auth = h.active().await;
        h.gw.push_pay(pay_unknown("PAYMENT_IN_PROCESS"));
        let view = h.charge(&auth, "k1", 1_000).await.unwrap();
        assert_eq!((view.latest().state, view.status()), (AttemptState::Unknown, Status::Processing));
        let jobs = h.jobs().await;
        assert_eq!(jobs.len(), 1);
        assert_eq!((&jobs[0].kind, jobs[0].due_at), (&JobKind::Payment(view.latest().id.clone()), T0 + 3_000));
        assert_eq!(h.advance(2_999).await.claimed, 0, "not before 3 s");
        h.gw.push_inquiry_payment(inquiry(PaymentStatus::Processing, "pid-1", usd(1_000)));
        h.gw.push_inquiry_payment(inquiry(PaymentStatus::Success, "pid-1", usd(1_000)));
        h.advance(1).await;
        let now = h.payment(&view.order.id).await;
        assert_eq!((now.latest().state, now.latest().inquiries), (AttemptState::Inquiring, 1));
        assert_eq!(h.jobs().await[0].due_at, T0 + 6_000);
        h.advance(3_000).await;
        let now = h.payment(&view.order.id).await;
        assert_eq!((now.latest().state, now.latest().payment_id.as_ref().map(|p| p.as_str())), (AttemptState::Succeeded, Some("pid-1")));
        assert_eq!(now.order.state, OrderState::Succeeded);
        assert_eq!((h.calls(Api::InquiryPayment), h.calls(Api::Cancel)), (2, 0));
        assert!(h.jobs().await.is_empty());
    }
}

backend_test! {
    async fn no_answer_is_unknown_and_inquired_never_failed(b) {
        let h = H::new(b);
        let auth = h.active().await;
        h.gw.push_pay(lost());
        let view = h.charge(&auth, "k1", 1_000).await.unwrap();
        assert_eq!(view.latest().state, AttemptState::Unknown);
        h.gw.push_inquiry_payment(inquiry_failed("ORDER_NOT_EXIST"));
        h.gw.push_inquiry_payment(inquiry_unknown());
        h.gw.push_inquiry_payment(lost());
        h.gw.push_inquiry_payment(inquiry(PaymentStatus::Fail, "pid-1", usd(1_000)));
        for _ in 0..4 {
            h.advance(3_000).await;
        }
        let now = h.payment(&view.order.id).await;
        assert_eq!((now.latest().state, now.order.state), (AttemptState::Failed, OrderState::Failed));
        assert_eq!(h.calls(Api::InquiryPayment), 4);
    }
}

backend_test! {
    async fn inquiries_exhausted_then_cancel_s(b) {
        let h = H::new(b);
        let auth = h.active().await;
        h.gw.push_pay(pay_unknown("UNKNOWN_EXCEPTION"));
        let view = h.charge(&auth, "k1", 1_000).await.unwrap();
        let prid = view.latest().payment_request_id.to_string();
        for _ in 0..20 {
            h.gw.push_inquiry_payment(inquiry(PaymentStatus::Processing, "pid-1", usd(1_000)));
        }
        h.gw.push_cancel(cancel_success());
        for _ in 0..19 {
            h.advance(3_000).await;
        }
        let now = h.payment(&view.order.id).await;
        assert_eq!((now.latest().state, h.calls(Api::InquiryPayment)), (AttemptState::Inquiring, 19));
        h.advance(3_000).await;
        assert_eq!(h.calls(Api::InquiryPayment), 20, "20 inquiries, 3 s apart");
        h.run().await;
        let now = h.payment(&view.order.id).await;
        assert_eq!(now.latest().state, AttemptState::Cancelled);
        assert_eq!(now.latest().cancel_started_at, Some(T0 + 60_000));
        assert_eq!(now.order.state, OrderState::Cancelled);
        assert!(h.bodies(Api::Cancel)[0].contains(&prid), "cancel names the same paymentRequestId");
        assert_eq!(h.events(EventKind::PaymentCancelled).await, 1);
        assert!(h.jobs().await.is_empty());
    }
}

pub(crate) fn short_inquiries() -> Schedule {
    Schedule {
        max_inquiries: 2,
        ..Schedule::default()
    }
}

/// Charges and runs inquiries until the cancel is due; returns the order.
pub(crate) async fn until_cancel(h: &H) -> OrderId {
    let auth = h.active().await;
    h.gw.push_pay(pay_unknown("PAYMENT_IN_PROCESS"));
    let order = h.charge(&auth, "k1", 1_000).await.unwrap().order.id;
    h.gw.push_inquiry_payment(inquiry(PaymentStatus::Processing, "pid-1", usd(1_000)));
    h.gw.push_inquiry_payment(lost());
    h.advance(3_000).await;
    assert_eq!(h.advance(3_000).await.claimed, 1);
    assert_eq!(
        h.payment(&order).await.latest().state,
        AttemptState::CancelRequested
    );
    order
}

backend_test! {
    async fn a_cancel_answered_u_or_nothing_is_retried_every_5_to_10_s_then_s(b) {
        let h = H::at(b, T0, short_inquiries());
        let order = until_cancel(&h).await;
        h.gw.push_cancel(cancel_unknown());
        h.gw.push_cancel(lost());
        h.gw.push_cancel(not_sent());
        h.gw.push_cancel(cancel_success());
        h.run().await;
        let mut waits = Vec::new();
        for _ in 0..3 {
            let job = h.jobs().await.pop().expect("the cancel is retried");
            assert_eq!(job.kind, JobKind::Payment(h.payment(&order).await.latest().id.clone()));
            waits.push(job.due_at - h.clock.now_ms());
            h.clock.set(job.due_at);
            h.run().await;
        }
        assert!(waits.iter().all(|d| (5_000..=10_000).contains(d)), "{waits:?}");
        assert_eq!(h.payment(&order).await.latest().state, AttemptState::Cancelled);
        assert_eq!(h.calls(Api::Cancel), 4);
        let bodies = h.bodies(Api::Cancel);
        assert!(bodies.windows(2).all(|w| w[0] == w[1]), "the same cancel each time");
    }
}

backend_test! {
    async fn not_sent_goes_back_to_created_and_resends_the_same_body(b) {
        let h = H::new(b);
        let auth = h.active().await;
        h.gw.push_pay(not_sent());
        h.gw.push_pay(pay_success("pid-1", usd(1_000)));
        let view = h.charge(&auth, "k1", 1_000).await.unwrap();
        assert_eq!(view.latest().state, AttemptState::Created);
        assert_eq!(h.jobs().await[0].due_at, T0 + 2_000);
        h.advance(2_000).await;
        assert_eq!(h.payment(&view.order.id).await.latest().state, AttemptState::Succeeded);
        let bodies = h.bodies(Api::Pay);
        assert_eq!(bodies.len(), 2);
        assert_eq!(bodies[0], bodies[1], "same paymentRequestId, same bytes");
    }
}

backend_test! {
    async fn a_crash_after_pay_is_resolved_by_the_job_left_behind(b) {
        let Some(memory) = b.memory().cloned() else { continue };
        let h = H::new(b);
        let auth = h.active().await;
        h.gw.push_pay(pay_success("pid-1", usd(1_000)));
        // Commits: 1 stores the charge, 2 the intent, 3 the answer: the process dies before 3.
        memory.fail_commit_in(3);
        assert!(matches!(h.charge(&auth, "k1", 1_000).await, Err(Error::Store(_))));
        let order = memory.orders().pop().unwrap().id;
        assert_eq!(h.payment(&order).await.latest().state, AttemptState::Sent);
        h.gw.push_inquiry_payment(inquiry(PaymentStatus::Success, "pid-1", usd(1_000)));
        assert_eq!(h.advance(14_999).await.claimed, 0, "the lease covers the call and its guard");
        h.advance(1).await;
        assert_eq!(h.payment(&order).await.latest().state, AttemptState::Succeeded);
        assert_eq!(h.calls(Api::Pay), 1);
    }
}

backend_test! {
    async fn a_crash_before_pay_is_sent_later_by_the_stored_job(b) {
        let Some(memory) = b.memory().cloned() else { continue };
        let h = H::new(b);
        let auth = h.active().await;
        memory.fail_commit_in(2);
        assert!(h.charge(&auth, "k1", 1_000).await.is_err());
        let order = memory.orders().pop().unwrap().id;
        assert_eq!((h.payment(&order).await.latest().state, h.calls(Api::Pay)), (AttemptState::Created, 0));
        h.gw.push_pay(pay_success("pid-1", usd(1_000)));
        h.advance(15_000).await;
        assert_eq!(h.payment(&order).await.latest().state, AttemptState::Succeeded);
        // The merchant's retry with the same key now just reads it.
        assert!(h.charge(&auth, "k1", 1_000).await.unwrap().replayed);
        assert_eq!(h.calls(Api::Pay), 1);
    }
}

backend_test! {
    async fn an_attempt_whose_authorization_ended_before_the_resend_is_cancelled_unsent(b) {
        let h = H::new(b);
        let auth = h.active().await;
        h.gw.push_pay(not_sent());
        let order = h.charge(&auth, "k1", 1_000).await.unwrap().order.id;
        assert_eq!(h.notify(&token_canceled("tok-1")).await.unwrap(), Receipt::Applied);
        assert_eq!(h.authorization(&auth).await.state, AuthorizationState::Revoked(RevokedBy::User));
        h.advance(2_000).await;
        let attempt = h.payment(&order).await.latest().clone();
        assert_eq!((attempt.state, attempt.result_code.as_deref()), (AttemptState::Cancelled, Some("AUTHORIZATION_NOT_ACTIVE")));
        assert_eq!(h.calls(Api::Pay), 1, "never sent on a token that is not active");
    }
}

// ---- notifications and inquiries racing ---------------------------------------------------------

backend_test! {
    async fn a_notification_first_then_the_inquiry_applies_once(b) {
        let h = H::new(b);
        let auth = h.active().await;
        h.gw.push_pay(pay_unknown("PAYMENT_IN_PROCESS"));
        let view = h.charge(&auth, "k1", 1_000).await.unwrap();
        let prid = view.latest().payment_request_id.to_string();
        let n = payment_notification(&prid, AmsResult::success(), usd(1_000));
        assert_eq!(h.notify(&n).await.unwrap(), Receipt::Applied);
        assert_eq!(h.payment(&view.order.id).await.latest().state, AttemptState::Succeeded);
        h.gw.push_inquiry_payment(inquiry(PaymentStatus::Success, "pid-1", usd(1_000)));
        h.advance(3_000).await;
        assert_eq!(h.calls(Api::InquiryPayment), 0, "the job found it settled");
        assert!(h.jobs().await.is_empty());
        assert_eq!(h.events(EventKind::PaymentSucceeded).await, 1);
    }
}

backend_test! {
    async fn an_inquiry_first_then_duplicated_notifications_apply_once(b) {
        let h = H::new(b);
        let auth = h.active().await;
        h.gw.push_pay(lost());
        let view = h.charge(&auth, "k1", 1_000).await.unwrap();
        let prid = view.latest().payment_request_id.to_string();
        h.gw.push_inquiry_payment(inquiry(PaymentStatus::Success, "pid-1", usd(1_000)));
        h.advance(3_000).await;
        assert_eq!(h.payment(&view.order.id).await.latest().state, AttemptState::Succeeded);
        let n = payment_notification(&prid, AmsResult::success(), usd(1_000));
        assert_eq!(h.notify(&n).await.unwrap(), Receipt::Applied);
        assert_eq!(h.notify(&n).await.unwrap(), Receipt::Duplicate);
        assert_eq!(h.events(EventKind::PaymentSucceeded).await, 1);
    }
}

backend_test! {
    multi_thread async fn a_notification_and_an_inquiry_racing_apply_once(b) {
        for _ in 0..10 {
            let h = H::new(b.fresh().await);
            let auth = h.active().await;
            h.gw.push_pay(pay_unknown("PAYMENT_IN_PROCESS"));
            let view = h.charge(&auth, "k1", 1_000).await.unwrap();
            h.gw.push_inquiry_payment(inquiry(PaymentStatus::Success, "pid-1", usd(1_000)));
            h.clock.advance(3_000);
            let n = payment_notification(view.latest().payment_request_id.as_str(), AmsResult::success(), usd(1_000));
            let jobs = autodebit_domain::services::jobs::Jobs::new(h.ctx.clone());
            let notifications = h.notifications();
            let raw = autodebit_domain::testing::raw(&n);
            let (ran, received) = tokio::join!(jobs.run_due(), notifications.receive(&raw));
            assert!(ran.unwrap().failed.is_empty());
            received.unwrap();
            let now = h.payment(&view.order.id).await;
            assert_eq!(now.latest().state, AttemptState::Succeeded);
            assert_eq!(h.events(EventKind::PaymentSucceeded).await, 1);
            assert_eq!(now.order.version, 1, "the order changed once");
        }
    }
}

backend_test! {
    async fn a_success_after_a_cancel_s_is_recorded_never_a_second_success(b) {
        let h = H::new(b);
        let auth = h.active().await;
        h.gw.push_pay(pay_unknown("PAYMENT_IN_PROCESS"));
        h.gw.push_cancel(cancel_success());
        let view = h.charge(&auth, "k1", 1_000).await.unwrap();
        let cancelled = h.payments().cancel(&view.order.id).await.unwrap();
        assert_eq!(cancelled.latest().state, AttemptState::Cancelled);
        let n = payment_notification(view.latest().payment_request_id.as_str(), AmsResult::success(), usd(1_000));
        assert_eq!(h.notify(&n).await.unwrap(), Receipt::Applied);
        let now = h.payment(&view.order.id).await;
        assert_eq!(now.latest().state, AttemptState::Cancelled);
        assert!(now.latest().late_success, "recorded: the cancel returned that money");
        assert_eq!(now.order.state, OrderState::Cancelled);
        assert_eq!(h.events(EventKind::PaymentSucceeded).await, 0);
    }
}

backend_test! {
    async fn a_success_while_cancelling_waits_for_the_cancel(b) {
        let h = H::new(b);
        let auth = h.active().await;
        h.gw.push_pay(pay_unknown("PAYMENT_IN_PROCESS"));
        h.gw.push_cancel(lost());
        let view = h.charge(&auth, "k1", 1_000).await.unwrap();
        h.payments().cancel(&view.order.id).await.unwrap();
        let n = payment_notification(view.latest().payment_request_id.as_str(), AmsResult::success(), usd(1_000));
        h.notify(&n).await.unwrap();
        let now = h.payment(&view.order.id).await;
        assert_eq!(now.latest().state, AttemptState::CancelRequested, "seed 004: go by the cancel's result");
        assert_eq!(now.latest().payment_id.as_ref().map(|p| p.as_str()), Some("pid-1"));
        assert!(h.jobs().await[0].due_at <= h.clock.now_ms(), "the cancel is due at once");
        h.gw.push_cancel(cancel_success());
        h.run().await;
        let now = h.payment(&view.order.id).await;
        assert_eq!((now.latest().state, now.order.state), (AttemptState::Cancelled, OrderState::Cancelled));
        assert_eq!(h.events(EventKind::PaymentSucceeded).await, 0);
    }
}

backend_test! {
    async fn an_amount_or_currency_mismatch_is_refused_and_flagged_without_a_change(b) {
        let h = H::new(b);
        let auth = h.active().await;
        h.gw.push_pay(pay_unknown("PAYMENT_IN_PROCESS"));
        let view = h.charge(&auth, "k1", 1_000).await.unwrap();
        let prid = view.latest().payment_request_id.to_string();
        for amount in [usd(999), Amount::new(Currency::EUR, 1_000)] {
            let refused = h.notify(&payment_notification(&prid, AmsResult::success(), amount)).await;
            assert!(matches!(refused, Err(Error::NotificationRefused(_))), "{refused:?}");
        }
        let now = h.payment(&view.order.id).await;
        assert_eq!((now.latest().state, now.order.state), (AttemptState::Unknown, OrderState::Pending));
        assert_eq!(now.attention.len(), 1, "{:?}", now.attention);
        assert_eq!(now.attention[0].code, "notification_refused");
        assert_eq!(h.events(EventKind::PaymentSucceeded).await, 0);
        // The right one still applies, and settles what needed a person.
        let n = payment_notification(&prid, AmsResult::success(), usd(1_000));
        assert_eq!(h.notify(&n).await.unwrap(), Receipt::Applied);
        let now = h.payment(&view.order.id).await;
        assert_eq!(now.latest().state, AttemptState::Succeeded);
        assert!(now.attention.is_empty(), "settled by the payment's own result");
    }
}

backend_test! {
    async fn a_failure_notification_settles_an_unknown_payment_and_a_contradiction_is_refused(b) {
        let h = H::new(b);
        let auth = h.active().await;
        h.gw.push_pay(pay_unknown("PAYMENT_IN_PROCESS"));
        let view = h.charge(&auth, "k1", 1_000).await.unwrap();
        let prid = view.latest().payment_request_id.to_string();
        let failed = AmsResult::new(ResultCode::UserBalanceNotEnough, ResultStatus::F, "no money");
        assert_eq!(h.notify(&payment_notification(&prid, failed, usd(1_000))).await.unwrap(), Receipt::Applied);
        assert_eq!(h.payment(&view.order.id).await.latest().state, AttemptState::Failed);
        let n = payment_notification(&prid, AmsResult::success(), usd(1_000));
        assert!(matches!(h.notify(&n).await, Err(Error::NotificationRefused(_))));
        let now = h.payment(&view.order.id).await;
        assert_eq!(now.latest().state, AttemptState::Failed);
        assert!(now.attention.iter().any(|i| i.code == "contradiction"), "{:?}", now.attention);
    }
}

backend_test! {
    async fn a_notification_for_an_unknown_payment_is_refused_once(b) {
        let h = H::new(b);
        let n = payment_notification("nobody", AmsResult::success(), usd(1));
        assert!(matches!(h.notify(&n).await, Err(Error::NotificationRefused(_))));
        assert_eq!(h.notify(&n).await.unwrap(), Receipt::Duplicate);
        assert_eq!(h.events(EventKind::OperatorAttention).await, 1);
    }
}

// ---- authorization --------------------------------------------------------------------------------

pub(crate) fn start() -> StartAuthorization {
    StartAuthorization {
        customer_id: "cust-1".into(),
        wallet: CustomerBelongsTo::AlipayCn,
        terminal: TerminalType::Web,
        os: None,
        return_url: "https://merchant.example/done".into(),
        secondary_merchant: None,
    }
}

fn code(text: &str) -> ams_protocol::AuthCode {
    ams_protocol::AuthCode::new(text)
}

backend_test! {
    async fn bind_then_the_second_code_does_nothing(b) {
        let h = H::new(b);
        h.gw.push_consult(consult_success("https://wallet.example/consent/1"));
        let started = h.authorizations().start(start()).await.unwrap();
        assert_eq!(started.auth_url.as_deref(), Some("https://wallet.example/consent/1"));
        assert_eq!(started.auth_state.as_str().len(), 32, "unguessable");
        assert!(!format!("{started:?}").contains(started.auth_state.as_str()), "authState in Debug");
        assert!(h.bodies(Api::Consult)[0].contains(started.auth_state.as_str()));
        h.gw.push_apply_token(token("tok-9", T0 + 30 * DAY, Some(("ref-9", T0 + 180 * DAY))));
        let state = h.authorizations().complete_with_code(&started.auth_state, &code("code-1")).await.unwrap();
        assert_eq!(state, AuthorizationState::Active);
        let auth = h.authorization(&started.authorization_id).await;
        assert_eq!(auth.token.as_ref().unwrap().access_token.expose_secret(), "tok-9");
        assert!(auth.pending_auth_code.is_none());
        let job = h.jobs().await.pop().unwrap();
        assert_eq!(job.kind, JobKind::Authorization(auth.id.clone()));
        assert!(job.due_at > T0 && job.due_at < T0 + 30 * DAY, "refreshed before it expires");
        assert_eq!(h.events(EventKind::AuthorizationActive).await, 1);
        // AUTHCODE_CREATED arrives after the redirect: nothing more.
        let n = authcode_created(started.auth_state.as_str(), "code-1");
        assert_eq!(h.notify(&n).await.unwrap(), Receipt::Applied);
        assert_eq!(h.notify(&n).await.unwrap(), Receipt::Duplicate);
        assert_eq!(h.calls(Api::ApplyToken), 1);
        for event in h.backend.events().await {
            assert!(!event.detail.unwrap_or_default().contains(started.auth_state.as_str()), "authState in an event");
        }
    }
}

backend_test! {
    async fn the_notification_code_first_then_the_redirect(b) {
        let h = H::new(b);
        h.gw.push_consult(consult_success("https://wallet.example/consent/1"));
        let started = h.authorizations().start(start()).await.unwrap();
        h.gw.push_apply_token(token("tok-9", T0 + 30 * DAY, None));
        let n = authcode_created(started.auth_state.as_str(), "code-1");
        assert_eq!(h.notify(&n).await.unwrap(), Receipt::Applied);
        let state = h.authorizations().complete_with_code(&started.auth_state, &code("code-1")).await.unwrap();
        assert_eq!(state, AuthorizationState::Active);
        assert_eq!(h.calls(Api::ApplyToken), 1);
        let jobs = h.jobs().await;
        assert_eq!(jobs.len(), 1, "{jobs:?}");
        assert_eq!(jobs[0].due_at, T0 + 30 * DAY, "no refresh token: looked at when the access token expires");
    }
}

backend_test! {
    async fn an_unknown_exchange_is_retried_by_its_job(b) {
        let h = H::new(b);
        h.gw.push_consult(consult_success("https://wallet.example/consent/1"));
        let started = h.authorizations().start(start()).await.unwrap();
        h.gw.push_apply_token(lost());
        let state = h.authorizations().complete_with_code(&started.auth_state, &code("code-1")).await.unwrap();
        assert_eq!(state, AuthorizationState::Exchanging);
        h.gw.push_apply_token(token("tok-9", T0 + 30 * DAY, None));
        h.advance(5_000).await;
        assert_eq!(h.authorization(&started.authorization_id).await.state, AuthorizationState::Active);
        assert!(h.bodies(Api::ApplyToken).iter().all(|body| body.contains("code-1")));
    }
}

backend_test! {
    async fn a_failed_exchange_is_restarted_with_a_new_auth_state(b) {
        let h = H::new(b);
        h.gw.push_consult(consult_success("https://wallet.example/consent/1"));
        let started = h.authorizations().start(start()).await.unwrap();
        h.gw.push_apply_token(token_failed("INVALID_AUTHCODE"));
        let state = h.authorizations().complete_with_code(&started.auth_state, &code("code-1")).await.unwrap();
        assert_eq!(state, AuthorizationState::Failed);
        assert_eq!(h.events(EventKind::AuthorizationFailed).await, 1);
        assert!(h.attention().await.is_empty(), "a code refused on its first try leaves no token behind");
        h.gw.push_consult(consult_success("https://wallet.example/consent/2"));
        let again = h.authorizations().restart(&started.authorization_id).await.unwrap();
        assert_ne!(again.auth_state, started.auth_state);
        assert_ne!(again.authorization_id, started.authorization_id);
        assert_eq!(again.auth_url.as_deref(), Some("https://wallet.example/consent/2"));
        assert_eq!(h.calls(Api::Consult), 2);
        let refused = h.authorizations().restart(&again.authorization_id).await;
        assert!(matches!(refused, Err(Error::Invalid { .. })), "an authorization waiting for the user");
    }
}

backend_test! {
    async fn a_failed_consult_is_reported(b) {
        let h = H::new(b);
        h.gw.push_consult(consult_failed("NO_PAY_OPTIONS"));
        let failed = h.authorizations().start(start()).await;
        assert!(matches!(&failed, Err(Error::Refused { code, .. }) if code == "NO_PAY_OPTIONS"), "{failed:?}");
        let mut tx = h.store().begin().await.unwrap();
        let bound = tx.authorization_by_auth_state(&AuthState::new("none")).await.unwrap();
        assert!(bound.is_none());
        drop(tx);
        assert_eq!(h.events(EventKind::AuthorizationFailed).await, 1);
    }
}

backend_test! {
    async fn the_refresh_job_rotates_tokens_or_asks_for_the_user_again(b) {
        let h = H::new(b);
        let id = h.active().await;
        let mut tx = h.store().begin().await.unwrap();
        tx.schedule_job(JobKind::Authorization(id.clone()), T0 + DAY).await.unwrap();
        tx.commit().await.unwrap();
        h.gw.push_apply_token(token("tok-2", T0 + 60 * DAY, Some(("ref-2", T0 + 200 * DAY))));
        h.advance(DAY).await;
        let auth = h.authorization(&id).await;
        assert_eq!(auth.state, AuthorizationState::Active);
        assert_eq!(auth.token.as_ref().unwrap().access_token.expose_secret(), "tok-2");
        assert!(h.bodies(Api::ApplyToken)[0].contains("refresh-tok-1"));
        let next = h.jobs().await.pop().expect("the next refresh");
        assert_eq!(next.due_at, T0 + 59 * DAY, "a day before the new access token expires");
        h.gw.push_apply_token(token_failed("INVALID_REFRESH_TOKEN"));
        h.clock.set(next.due_at);
        h.run().await;
        assert_eq!(h.authorization(&id).await.state, AuthorizationState::NeedsReauthorization);
        assert_eq!(h.events(EventKind::AuthorizationNeedsReauthorization).await, 1);
        assert!(h.jobs().await.is_empty());
    }
}

backend_test! {
    async fn revoke_ends_the_authorization(b) {
        let h = H::new(b);
        let id = h.active().await;
        h.gw.push_revoke(lost());
        assert_eq!(h.authorizations().revoke(&id).await.unwrap(), AuthorizationState::Revoking);
        assert!(matches!(h.charge(&id, "k1", 1).await, Err(Error::NotChargeable { .. })));
        h.gw.push_revoke(revoke_success());
        h.drain(T0 + DAY).await;
        assert_eq!(h.authorization(&id).await.state, AuthorizationState::Revoked(RevokedBy::Merchant));
        assert_eq!(h.events(EventKind::AuthorizationEnded).await, 1);
        assert!(h.jobs().await.is_empty());
        assert!(h.bodies(Api::Revoke).iter().all(|body| body.contains("tok-1")));
    }
}

backend_test! {
    async fn token_canceled_revokes_by_the_user_once(b) {
        let h = H::new(b);
        let id = h.active().await;
        assert_eq!(h.notify(&token_canceled("tok-1")).await.unwrap(), Receipt::Applied);
        assert_eq!(h.notify(&token_canceled("tok-1")).await.unwrap(), Receipt::Duplicate);
        assert_eq!(h.authorization(&id).await.state, AuthorizationState::Revoked(RevokedBy::User));
        assert_eq!(h.events(EventKind::AuthorizationEnded).await, 1);
        if let Some(memory) = h.backend.memory() {
            assert!(memory.inbox().iter().all(|e| !e.dedup_key.contains("tok-1")), "no token in keys");
        }
    }
}

// ---- refunds -----------------------------------------------------------------------------------

pub(crate) async fn paid(h: &H, minor: u64) -> OrderId {
    let auth = h.active().await;
    h.gw.push_pay(pay_success("pid-1", usd(minor)));
    h.charge(&auth, "paid", minor).await.unwrap().order.id
}

pub(crate) fn refund_cmd(order: &OrderId, key: &str, minor: u64) -> RefundCommand {
    RefundCommand {
        idempotency_key: key.into(),
        order_id: order.clone(),
        amount: usd(minor),
        reason: Some("changed mind".into()),
    }
}

backend_test! {
    async fn refunds_accumulate_and_never_exceed_what_was_paid(b) {
        let h = H::new(b);
        let order = paid(&h, 1_000).await;
        h.gw.push_refund(refund_success("rid-1", usd(400)));
        let first = h.refunds().refund(refund_cmd(&order, "r1", 400)).await.unwrap();
        assert_eq!((first.refund.state, first.order_state), (RefundState::Succeeded, OrderState::PartlyRefunded));
        let body = &h.bodies(Api::Refund)[0];
        assert!(body.contains("pid-1") && body.contains(first.refund.refund_request_id.as_str()), "{body}");
        let too_much = h.refunds().refund(refund_cmd(&order, "r2", 601)).await;
        assert!(matches!(too_much, Err(Error::RefundTooLarge { .. })), "{too_much:?}");
        assert_eq!(h.calls(Api::Refund), 1, "refused before anything was sent");
        h.gw.push_refund(refund_success("rid-2", usd(600)));
        let second = h.refunds().refund(refund_cmd(&order, "r3", 600)).await.unwrap();
        assert_eq!(second.order_state, OrderState::FullyRefunded);
        assert_ne!(second.refund.refund_request_id, first.refund.refund_request_id);
        assert!(h.refunds().refund(refund_cmd(&order, "r1", 400)).await.unwrap().replayed);
        assert!(matches!(h.refunds().refund(refund_cmd(&order, "r1", 300)).await, Err(Error::IdempotencyConflict { .. })));
        assert_eq!(h.payment(&order).await.order.refunded, 1_000);
        assert_eq!(h.events(EventKind::RefundSucceeded).await, 2);
    }
}

backend_test! {
    async fn an_unpaid_order_is_not_refunded(b) {
        let h = H::new(b);
        let auth = h.active().await;
        h.gw.push_pay(pay_failed("RISK_REJECT"));
        let order = h.charge(&auth, "k1", 1_000).await.unwrap().order.id;
        assert!(matches!(h.refunds().refund(refund_cmd(&order, "r1", 1)).await, Err(Error::NotRefundable { .. })));
    }
}

backend_test! {
    async fn an_unknown_refund_is_sent_again_then_settles(b) {
        let h = H::new(b);
        let order = paid(&h, 1_000).await;
        h.gw.push_refund(refund_unknown());
        h.gw.push_refund(lost());
        h.gw.push_refund(refund_success("rid-1", usd(500)));
        let result = h.refunds().refund(refund_cmd(&order, "r1", 500)).await.unwrap();
        assert_eq!(result.refund.state, RefundState::Unknown);
        while let Some(job) = h.jobs().await.pop() {
            let wait = job.due_at - h.clock.now_ms();
            assert!((5_000..=10_000).contains(&wait), "{wait}");
            h.clock.set(job.due_at);
            h.run().await;
        }
        let refund = h.refunds().refund_view(&result.refund.id).await.unwrap().refund;
        assert_eq!((refund.state, refund.sends), (RefundState::Succeeded, 3));
        let bodies = h.bodies(Api::Refund);
        assert!(bodies.windows(2).all(|w| w[0] == w[1]), "the same refund each time");
    }
}

backend_test! {
    async fn a_refund_unknown_for_60_s_is_inquired(b) {
        let h = H::new(b);
        let order = paid(&h, 1_000).await;
        for _ in 0..20 {
            h.gw.push_refund(refund_unknown());
        }
        h.gw.push_inquiry_refund(inquiry_refund(TransactionStatus::Processing, "rid-1"));
        h.gw.push_inquiry_refund(inquiry_refund(TransactionStatus::Success, "rid-1"));
        let id = h.refunds().refund(refund_cmd(&order, "r1", 500)).await.unwrap().refund.id;
        h.drain(T0 + DAY).await;
        let refund = h.refunds().refund_view(&id).await.unwrap().refund;
        assert_eq!(refund.state, RefundState::Succeeded);
        assert_eq!(refund.alipay_refund_id.as_ref().map(|r| r.as_str()), Some("rid-1"));
        assert_eq!(h.calls(Api::InquiryRefund), 2);
        let sends = h.calls(Api::Refund);
        assert!((6..=13).contains(&sends), "{sends} sends in 60 s");
        assert_eq!(h.payment(&order).await.order.state, OrderState::PartlyRefunded);
    }
}

backend_test! {
    async fn notify_refund_is_checked_and_applied_once(b) {
        let h = H::new(b);
        let order = paid(&h, 1_000).await;
        h.gw.push_refund(lost());
        let result = h.refunds().refund(refund_cmd(&order, "r1", 1_000)).await.unwrap();
        assert_eq!(result.refund.state, RefundState::Unknown);
        let rrid = result.refund.refund_request_id.as_str();
        assert!(matches!(h.notify(&refund_notification(rrid, usd(999))).await, Err(Error::NotificationRefused(_))));
        assert_eq!(h.notify(&refund_notification(rrid, usd(999))).await.unwrap(), Receipt::Duplicate);
        assert_eq!(h.refunds().refund_view(&result.refund.id).await.unwrap().refund.state, RefundState::Unknown);
        assert_eq!(h.notify(&refund_notification(rrid, usd(1_000))).await.unwrap(), Receipt::Applied);
        assert_eq!(h.notify(&refund_notification(rrid, usd(1_000))).await.unwrap(), Receipt::Duplicate);
        let view = h.refunds().refund_view(&result.refund.id).await.unwrap();
        assert_eq!((view.refund.state, view.refund.alipay_refund_id.as_ref().map(|r| r.as_str())), (RefundState::Succeeded, Some("rid-1")));
        assert_eq!(view.order_state, OrderState::FullyRefunded);
        assert_eq!(h.events(EventKind::RefundSucceeded).await, 1);
        h.drain(T0 + DAY).await;
        assert!(h.jobs().await.is_empty());
        assert_eq!(h.calls(Api::Refund), 1, "the settled refund was not sent again");
    }
}

// ---- lists and the runner's stop ---------------------------------------------------------------

backend_test! {
    async fn payments_and_authorizations_list_newest_first_by_page(b) {
        use autodebit_domain::ports::{AuthorizationFilter, OrderFilter, PageRequest};
        let h = H::new(b);
        let auth = h.active().await;
        let mut orders = Vec::new();
        for k in ["k1", "k2", "k3"] {
            h.gw.push_pay(pay_success(&format!("pid-{k}"), usd(100)));
            orders.push(h.charge(&auth, k, 100).await.unwrap().order.id);
            h.clock.advance(1);
        }
        let first = h.payments().list(&OrderFilter::default(), &PageRequest { after: None, limit: 2 }).await.unwrap();
        let ids: Vec<_> = first.items.iter().map(|v| v.order.id.clone()).collect();
        assert_eq!(ids, [orders[2].clone(), orders[1].clone()]);
        assert!(first.has_more);
        assert_eq!(first.items[0].attempts.len(), 1, "each item is the whole payment");
        let rest = h.payments().list(&OrderFilter::default(), &PageRequest { after: Some(orders[1].to_string()), limit: 2 }).await.unwrap();
        assert_eq!(rest.items.iter().map(|v| v.order.id.clone()).collect::<Vec<_>>(), [orders[0].clone()]);
        assert!(!rest.has_more);
        let by_reference = OrderFilter { reference: Some("order-k2".into()), ..OrderFilter::default() };
        let found = h.payments().list(&by_reference, &PageRequest { after: None, limit: 10 }).await.unwrap();
        assert_eq!(found.items.len(), 1);
        assert_eq!(found.items[0].order.id, orders[1]);
        let bad = h.payments().list(&OrderFilter::default(), &PageRequest { after: None, limit: 101 }).await;
        assert!(matches!(bad, Err(Error::Invalid { field: "limit", .. })), "{bad:?}");
        let bad = h.payments().list(&OrderFilter::default(), &PageRequest { after: Some("pay_nope".into()), limit: 10 }).await;
        assert!(matches!(bad, Err(Error::Invalid { field: "starting_after", .. })), "{bad:?}");
        let listed = h.authorizations().list(&AuthorizationFilter { customer_id: Some("cust-1".into()), states: vec![AuthorizationState::Active] }, &PageRequest { after: None, limit: 10 }).await.unwrap();
        assert_eq!(listed.items.iter().map(|a| a.id.clone()).collect::<Vec<_>>(), [auth]);
        let refunds = h.refunds().of_payment(&orders[0]).await.unwrap();
        assert!(refunds.is_empty());
        assert!(matches!(h.refunds().of_payment(&OrderId::new("pay_nope")).await, Err(Error::NotFound { .. })));
    }
}

backend_test! {
    async fn a_stopping_runner_gives_back_the_jobs_it_did_not_start(b) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use autodebit_domain::services::jobs::Jobs;
        let h = H::new(b);
        let auth = h.active().await;
        for k in ["k1", "k2", "k3"] {
            h.gw.push_pay(pay_unknown("PAYMENT_IN_PROCESS"));
            h.charge(&auth, k, 100).await.unwrap();
        }
        h.clock.advance(h.ctx.schedule.first_inquiry_after_ms);
        for _ in 0..3 {
            h.gw.push_inquiry_payment(inquiry_unknown());
        }
        let asked = AtomicUsize::new(0);
        let report = Jobs::new(h.ctx.clone())
            .run_due_until(|| asked.fetch_add(1, Ordering::SeqCst) >= 1)
            .await
            .unwrap();
        assert_eq!((report.claimed, report.done, report.released), (3, 1, 2), "{report:?}");
        assert_eq!(h.calls(Api::InquiryPayment), 1);
        let jobs = h.jobs().await;
        let free: Vec<_> = jobs.iter().filter(|j| j.lease.is_none()).collect();
        assert_eq!(free.len(), 3, "the one run was rescheduled, the two given back are free: {jobs:?}");
        // Another worker takes the two at once, not when the leases would have ended.
        let report = h.run().await;
        assert_eq!(report.done, 2, "{report:?}");
        assert_eq!(h.calls(Api::InquiryPayment), 3);
    }
}

backend_test! {
    async fn a_pending_payment_is_never_cancelled_for_the_inquiries_running_out(b) {
        let h = H::at(b, T0, short_inquiries());
        let auth = h.active().await;
        h.gw.push_pay(pay_unknown("PAYMENT_IN_PROCESS"));
        let order = h.charge(&auth, "k1", 1_000).await.unwrap().order.id;
        // PENDING past the last inquiry: no cancel, inquiries with growing waits, the paymentId kept.
        for _ in 0..6 {
            h.gw.push_inquiry_payment(inquiry(PaymentStatus::Pending, "pid-1", usd(1_000)));
        }
        h.gw.push_inquiry_payment(inquiry(PaymentStatus::Success, "pid-1", usd(1_000)));
        let mut waits = Vec::new();
        while h.payment(&order).await.order.state != OrderState::Succeeded {
            let job = h.jobs().await.pop().expect("the payment keeps its job");
            waits.push(job.due_at - h.clock.now_ms());
            h.clock.set(job.due_at);
            h.run().await;
            let now = h.payment(&order).await;
            assert!(
                matches!(now.latest().state, AttemptState::Sent | AttemptState::Unknown | AttemptState::Inquiring | AttemptState::Succeeded),
                "never cancelled: {:?}",
                now.latest().state
            );
            assert!(waits.len() < 20, "it settles");
        }
        assert_eq!(h.calls(Api::Cancel), 0);
        let paid = h.payment(&order).await;
        assert_eq!(paid.latest().payment_id.as_ref().map(|p| p.as_str()), Some("pid-1"));
        assert!(waits.windows(2).skip(2).all(|w| w[1] >= w[0]), "growing waits: {waits:?}");
        assert_eq!(h.events(EventKind::PaymentSucceeded).await, 1);
        assert!(h.jobs().await.is_empty());
    }
}
