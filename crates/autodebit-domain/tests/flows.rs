//! The flows against the test doubles: every path of seed 003's payment figure and seed 004's rules
//! (S, F, U → inquiry → cancel, cancel retried, the cancel window, no answer, not sent, notification
//! and inquiry racing, late success, amount checks), idempotency, authorization and refunds.

use std::sync::{Arc, Mutex};

use ams_protocol::{
    Amount, AmsResult, Api, Currency, CustomerBelongsTo, Notification, NotifyAuthorization,
    NotifyPayment, NotifyRefund, PayRequest, PayResponse, PaymentNotifyType, PaymentStatus,
    RefundStatus, ResultCode, ResultStatus, TerminalType, TransactionStatus,
};
use async_trait::async_trait;
use autodebit_domain::lifecycle::attempt::AttemptState;
use autodebit_domain::lifecycle::authorization::{AuthorizationState, RevokedBy};
use autodebit_domain::lifecycle::order::OrderState;
use autodebit_domain::lifecycle::refund::RefundState;
use autodebit_domain::model::{
    Authorization, AuthorizationId, EventKind, JobKind, Millis, OrderId, PaymentAttempt, TokenSet,
};
use autodebit_domain::ports::{Clock, Gateway, Reply, Store};
use autodebit_domain::services::authorizations::{Authorizations, StartAuthorization};
use autodebit_domain::services::notifications::{Notifications, Receipt};
use autodebit_domain::services::payments::{ChargeCommand, ChargeResult, JobReport, Payments};
use autodebit_domain::services::refunds::{RefundCommand, Refunds};
use autodebit_domain::services::{Context, Error, Schedule};
use autodebit_domain::testing::replies::*;
use autodebit_domain::testing::{InMemoryStore, ManualClock, ScriptedGateway};

/// 2024-01-01T08:00:00+08:00.
const T0: Millis = 1_704_067_200_000;
const DAY: Millis = 86_400_000;

fn usd(minor: u64) -> Amount {
    Amount::new(Currency::USD, minor)
}

/// Records the attempt's committed state at the moment `pay` is called.
struct Observing {
    inner: Arc<ScriptedGateway>,
    store: InMemoryStore,
    states_at_pay: Mutex<Vec<AttemptState>>,
}

#[async_trait]
impl Gateway for Observing {
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
        self.inner.apply_token(r).await
    }
    async fn revoke(&self, r: &ams_protocol::RevokeRequest) -> Reply<ams_protocol::RevokeResponse> {
        self.inner.revoke(r).await
    }
    async fn pay(&self, body: &str) -> Reply<PayResponse> {
        let prid = serde_json::from_str::<PayRequest>(body)
            .expect("pay body")
            .payment_request_id;
        let state = self
            .store
            .attempts()
            .into_iter()
            .find(|a| a.payment_request_id == prid.as_str())
            .map(|a| a.state)
            .expect("the attempt is committed before pay");
        self.states_at_pay.lock().unwrap().push(state);
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
}

struct H {
    store: InMemoryStore,
    gw: Arc<ScriptedGateway>,
    observing: Arc<Observing>,
    clock: ManualClock,
    ctx: Context,
}

impl H {
    fn new() -> Self {
        Self::at(T0, Schedule::default())
    }

    fn at(now: Millis, schedule: Schedule) -> Self {
        let store = InMemoryStore::new();
        let gw = Arc::new(ScriptedGateway::new());
        let observing = Arc::new(Observing {
            inner: gw.clone(),
            store: store.clone(),
            states_at_pay: Mutex::new(Vec::new()),
        });
        let clock = ManualClock::new(now);
        let ctx = Context::new(
            Arc::new(store.clone()),
            observing.clone(),
            Arc::new(clock.clone()),
        )
        .with_schedule(schedule);
        Self {
            store,
            gw,
            observing,
            clock,
            ctx,
        }
    }

    fn payments(&self) -> Payments {
        Payments::new(self.ctx.clone())
    }

    fn notifications(&self) -> Notifications {
        Notifications::new(self.ctx.clone())
    }

    fn refunds(&self) -> Refunds {
        Refunds::new(self.ctx.clone())
    }

    fn authorizations(&self) -> Authorizations {
        Authorizations::new(self.ctx.clone())
    }

    async fn auth_in(&self, state: AuthorizationState) -> AuthorizationId {
        let now = self.clock.now_ms();
        let id = AuthorizationId::new(format!("auth-{}", self.store.authorizations().len() + 1));
        let auth = Authorization {
            id: id.clone(),
            customer_id: "cust-1".into(),
            wallet: CustomerBelongsTo::AlipayCn,
            terminal_type: TerminalType::Web,
            os_type: None,
            return_url: "https://merchant.example/done".into(),
            auth_state: format!("state-{id}"),
            auth_url: None,
            state,
            token: Some(TokenSet {
                access_token: ams_protocol::AccessToken::new("tok-1"),
                access_expires_at: now + 30 * DAY,
                refresh_token: Some(ams_protocol::RefreshToken::new("ref-1")),
                refresh_expires_at: Some(now + 180 * DAY),
            }),
            pending_auth_code: None,
            user_login_id: None,
            failure: None,
            version: 0,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.store.begin().await.unwrap();
        tx.insert_authorization(&auth).await.unwrap();
        tx.commit().await.unwrap();
        id
    }

    async fn active(&self) -> AuthorizationId {
        self.auth_in(AuthorizationState::Active).await
    }

    async fn charge(
        &self,
        auth: &AuthorizationId,
        key: &str,
        minor: u64,
    ) -> Result<ChargeResult, Error> {
        self.payments()
            .charge(ChargeCommand {
                idempotency_key: key.into(),
                authorization_id: auth.clone(),
                reference: format!("order-{key}"),
                description: "Monthly plan".into(),
                amount: usd(minor),
            })
            .await
    }

    async fn run(&self) -> JobReport {
        let report = self
            .payments()
            .run_due_jobs("w1", self.clock.now_ms())
            .await
            .unwrap();
        assert!(report.failed.is_empty(), "{report:?}");
        report
    }

    async fn advance(&self, ms: Millis) -> JobReport {
        self.clock.advance(ms);
        self.run().await
    }

    fn attempt(&self) -> PaymentAttempt {
        self.store.attempts().pop().expect("an attempt")
    }

    fn order_state(&self) -> OrderState {
        self.store.orders().pop().expect("an order").state
    }

    fn events(&self, kind: EventKind) -> usize {
        self.store
            .events()
            .iter()
            .filter(|e| e.kind == kind)
            .count()
    }

    fn calls(&self, api: Api) -> usize {
        self.gw.calls_of(api).len()
    }
}

fn payment_notification(prid: &str, result: AmsResult, amount: Amount) -> (Notification, String) {
    let n = Notification::Payment(Box::new(NotifyPayment::new(
        PaymentNotifyType::PaymentResult,
        result,
        prid,
        "pid-1",
        amount,
    )));
    let body = serde_json::to_string(&n).unwrap();
    (n, body)
}

async fn receive(h: &H, n: Notification) -> Result<Receipt, Error> {
    h.notifications().receive(&n, "/notify/refund", "{}").await
}

async fn notify(h: &H, n: &(Notification, String)) -> Result<Receipt, Error> {
    h.notifications()
        .receive(&n.0, "/notify/payment", &n.1)
        .await
}

// ---- charge: S, F, and the intent -------------------------------------------------------------

#[tokio::test]
async fn s_succeeds_with_the_intent_committed_before_pay() {
    let h = H::new();
    let auth = h.active().await;
    h.gw.push_pay(pay_success("x", "pid-1", usd(1_000)));
    let result = h.charge(&auth, "k1", 1_000).await.unwrap();
    assert_eq!(
        (result.attempt_state, result.order_state),
        (AttemptState::Succeeded, OrderState::Succeeded)
    );
    assert_eq!(result.payment_id.as_deref(), Some("pid-1"));
    assert!(!result.replayed);
    assert_eq!(
        *h.observing.states_at_pay.lock().unwrap(),
        vec![AttemptState::Sent]
    );
    let body: PayRequest = serde_json::from_str(&h.gw.calls_of(Api::Pay)[0].body).unwrap();
    assert_eq!(
        body.product_code,
        ams_protocol::ProductCode::AgreementPayment
    );
    assert_eq!(body.payment_request_id.as_str(), result.payment_request_id);
    assert_eq!(
        body.payment_method
            .payment_method_id
            .unwrap()
            .expose_secret(),
        "tok-1"
    );
    let expiry = body.payment_expiry_time.unwrap().unix_millis().unwrap();
    assert!(
        expiry > T0 && expiry <= T0 + 60_000,
        "paymentExpiryTime within one minute"
    );
    assert_eq!(
        h.attempt().request_body,
        h.gw.calls_of(Api::Pay)[0].body,
        "the exact stored body"
    );
    assert_eq!(h.events(EventKind::PaymentSucceeded), 1);
    assert!(
        h.store.jobs().is_empty(),
        "nothing left to do: {:?}",
        h.store.jobs()
    );
}

#[tokio::test]
async fn f_fails_for_good() {
    let h = H::new();
    let auth = h.active().await;
    h.gw.push_pay(pay_failed("USER_BALANCE_NOT_ENOUGH"));
    let result = h.charge(&auth, "k1", 1_000).await.unwrap();
    assert_eq!(
        (result.attempt_state, result.order_state),
        (AttemptState::Failed, OrderState::Failed)
    );
    assert_eq!(
        result.result_code.as_deref(),
        Some("USER_BALANCE_NOT_ENOUGH")
    );
    assert_eq!(h.events(EventKind::PaymentFailed), 1);
    assert!(h.store.jobs().is_empty());
    assert_eq!(
        h.store.authorizations()[0].state,
        AuthorizationState::Active
    );
}

#[tokio::test]
async fn invalid_access_token_invalidates_the_authorization_and_stops_charges() {
    let h = H::new();
    let auth = h.active().await;
    h.gw.push_pay(pay_failed("INVALID_ACCESS_TOKEN"));
    let result = h.charge(&auth, "k1", 1_000).await.unwrap();
    assert_eq!(result.attempt_state, AttemptState::Failed);
    assert_eq!(
        h.store.authorizations()[0].state,
        AuthorizationState::Invalid
    );
    assert_eq!(h.events(EventKind::AuthorizationNeedsReauthorization), 1);
    let again = h.charge(&auth, "k2", 1_000).await;
    assert!(
        matches!(again, Err(Error::NotChargeable { .. })),
        "{again:?}"
    );
    assert_eq!(h.calls(Api::Pay), 1);
}

#[tokio::test]
async fn a_charge_on_a_non_active_authorization_is_refused_before_anything_is_stored() {
    let h = H::new();
    for state in [
        AuthorizationState::NeedsReauthorization,
        AuthorizationState::Revoked(RevokedBy::User),
        AuthorizationState::Invalid,
        AuthorizationState::Refreshing,
        AuthorizationState::Revoking,
    ] {
        let auth = h.auth_in(state).await;
        let result = h.charge(&auth, &format!("k-{}", state.name()), 1_000).await;
        assert!(
            matches!(result, Err(Error::NotChargeable { .. })),
            "{state:?}: {result:?}"
        );
    }
    assert!(h.store.orders().is_empty() && h.store.attempts().is_empty());
    assert!(h.gw.calls().is_empty());
}

#[tokio::test]
async fn an_expired_access_token_is_not_charged() {
    let h = H::new();
    let auth = h.active().await;
    h.clock.advance(31 * DAY);
    let result = h.charge(&auth, "k1", 1_000).await;
    assert!(
        matches!(result, Err(Error::NotChargeable { .. })),
        "{result:?}"
    );
    assert!(h.gw.calls().is_empty());
}

#[tokio::test]
async fn the_same_key_replays_and_other_parameters_conflict() {
    let h = H::new();
    let auth = h.active().await;
    h.gw.push_pay(pay_success("x", "pid-1", usd(1_000)));
    let first = h.charge(&auth, "k1", 1_000).await.unwrap();
    let replay = h.charge(&auth, "k1", 1_000).await.unwrap();
    assert!(replay.replayed);
    assert_eq!(
        (replay.order_id.clone(), replay.attempt_state),
        (first.order_id.clone(), AttemptState::Succeeded)
    );
    let conflict = h.charge(&auth, "k1", 1_001).await;
    assert!(
        matches!(conflict, Err(Error::IdempotencyConflict { .. })),
        "{conflict:?}"
    );
    assert_eq!(h.calls(Api::Pay), 1);
    assert_eq!(h.store.orders().len(), 1);
}

// ---- unknown outcomes: inquiry, then cancel -----------------------------------------------------

#[tokio::test]
async fn u_is_resolved_by_inquiry_every_3_s() {
    let h = H::new();
    let auth = h.active().await;
    h.gw.push_pay(pay_unknown("PAYMENT_IN_PROCESS"));
    let result = h.charge(&auth, "k1", 1_000).await.unwrap();
    assert_eq!(
        (result.attempt_state, result.order_state),
        (AttemptState::Unknown, OrderState::Pending)
    );
    let jobs = h.store.jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        (&jobs[0].kind, jobs[0].due_at),
        (
            &JobKind::ResolvePayment(result.attempt_id.clone()),
            T0 + 3_000
        )
    );
    assert_eq!(h.advance(2_999).await.claimed, 0, "not before 3 s");
    h.gw.push_inquiry_payment(inquiry(PaymentStatus::Processing, "pid-1", usd(1_000)));
    h.gw.push_inquiry_payment(inquiry(PaymentStatus::Success, "pid-1", usd(1_000)));
    h.advance(1).await;
    assert_eq!(
        (h.attempt().state, h.attempt().inquiries),
        (AttemptState::Inquiring, 1)
    );
    assert_eq!(h.store.jobs()[0].due_at, T0 + 6_000);
    h.advance(3_000).await;
    let attempt = h.attempt();
    assert_eq!(
        (attempt.state, attempt.payment_id.as_deref()),
        (AttemptState::Succeeded, Some("pid-1"))
    );
    assert_eq!(h.order_state(), OrderState::Succeeded);
    assert_eq!((h.calls(Api::InquiryPayment), h.calls(Api::Cancel)), (2, 0));
    assert!(h.store.jobs().is_empty());
}

#[tokio::test]
async fn no_answer_is_unknown_and_inquired_never_failed() {
    let h = H::new();
    let auth = h.active().await;
    h.gw.push_pay(lost());
    assert_eq!(
        h.charge(&auth, "k1", 1_000).await.unwrap().attempt_state,
        AttemptState::Unknown
    );
    h.gw.push_inquiry_payment(inquiry_failed("ORDER_NOT_EXIST"));
    h.gw.push_inquiry_payment(inquiry_unknown());
    h.gw.push_inquiry_payment(lost());
    h.gw.push_inquiry_payment(inquiry(PaymentStatus::Fail, "pid-1", usd(1_000)));
    for _ in 0..4 {
        h.advance(3_000).await;
    }
    assert_eq!(h.attempt().state, AttemptState::Failed);
    assert_eq!(h.order_state(), OrderState::Failed);
    assert_eq!(h.calls(Api::InquiryPayment), 4);
}

#[tokio::test]
async fn inquiries_exhausted_then_cancel_s() {
    let h = H::new();
    let auth = h.active().await;
    h.gw.push_pay(pay_unknown("UNKNOWN_EXCEPTION"));
    let prid = h
        .charge(&auth, "k1", 1_000)
        .await
        .unwrap()
        .payment_request_id;
    for _ in 0..20 {
        h.gw.push_inquiry_payment(inquiry(PaymentStatus::Processing, "pid-1", usd(1_000)));
    }
    h.gw.push_cancel(cancel_success());
    for _ in 0..19 {
        h.advance(3_000).await;
    }
    assert_eq!(
        (h.attempt().state, h.calls(Api::InquiryPayment)),
        (AttemptState::Inquiring, 19)
    );
    h.advance(3_000).await;
    assert_eq!(h.calls(Api::InquiryPayment), 20, "20 inquiries, 3 s apart");
    // The cancel job was due at once; the same run took it only if it was claimed: run again.
    h.run().await;
    let attempt = h.attempt();
    assert_eq!(attempt.state, AttemptState::Cancelled);
    assert_eq!(attempt.cancel_started_at, Some(T0 + 60_000));
    assert_eq!(h.order_state(), OrderState::Cancelled);
    let cancel = &h.gw.calls_of(Api::Cancel)[0];
    assert!(
        cancel.body.contains(&prid),
        "cancel names the same paymentRequestId: {}",
        cancel.body
    );
    assert_eq!(h.events(EventKind::PaymentCancelled), 1);
    assert!(h.store.jobs().is_empty());
}

fn short_inquiries() -> Schedule {
    Schedule {
        max_inquiries: 2,
        ..Schedule::default()
    }
}

/// Charges and runs inquiries until the cancel is due; returns the payment request id.
async fn until_cancel(h: &H) -> String {
    let auth = h.active().await;
    h.gw.push_pay(pay_unknown("PAYMENT_IN_PROCESS"));
    let prid = h
        .charge(&auth, "k1", 1_000)
        .await
        .unwrap()
        .payment_request_id;
    h.gw.push_inquiry_payment(inquiry(PaymentStatus::Processing, "pid-1", usd(1_000)));
    h.gw.push_inquiry_payment(lost());
    h.advance(3_000).await;
    h.clock.advance(3_000);
    let report = h
        .payments()
        .run_due_jobs("w1", h.clock.now_ms())
        .await
        .unwrap();
    assert_eq!(report.claimed, 1);
    assert_eq!(h.attempt().state, AttemptState::CancelRequested);
    prid
}

#[tokio::test]
async fn a_cancel_answered_u_or_nothing_is_retried_every_5_to_10_s_then_s() {
    let h = H::at(T0, short_inquiries());
    until_cancel(&h).await;
    h.gw.push_cancel(cancel_unknown());
    h.gw.push_cancel(lost());
    h.gw.push_cancel(not_sent());
    h.gw.push_cancel(cancel_success());
    h.run().await;
    let mut dues = Vec::new();
    for _ in 0..3 {
        let job = h.store.jobs().pop().expect("the cancel is retried");
        assert_eq!(job.kind, JobKind::CancelPayment(h.attempt().id));
        dues.push(job.due_at - h.clock.now_ms());
        h.clock.set(job.due_at);
        h.run().await;
    }
    assert!(
        dues.iter().all(|d| (5_000..=10_000).contains(d)),
        "{dues:?}"
    );
    assert_eq!(h.attempt().state, AttemptState::Cancelled);
    assert_eq!(h.calls(Api::Cancel), 4);
    let bodies: Vec<String> =
        h.gw.calls_of(Api::Cancel)
            .into_iter()
            .map(|c| c.body)
            .collect();
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "the same cancel each time"
    );
}

#[tokio::test]
async fn a_cancel_unanswered_for_60_s_asks_an_operator() {
    let h = H::at(T0, short_inquiries());
    until_cancel(&h).await;
    for _ in 0..20 {
        h.gw.push_cancel(cancel_unknown());
    }
    let started = h.clock.now_ms();
    h.run().await;
    while let Some(job) = h.store.jobs().pop() {
        h.clock.set(job.due_at);
        h.run().await;
    }
    let attempt = h.attempt();
    assert_eq!(attempt.state, AttemptState::NeedsOperator);
    assert_eq!(
        attempt.result_code.as_deref(),
        Some("CANCEL_RETRIES_EXHAUSTED")
    );
    assert!(h.clock.now_ms() - started <= 60_000);
    let tries = h.calls(Api::Cancel);
    assert!(
        (6..=13).contains(&tries),
        "{tries} tries in 60 s, 5–10 s apart"
    );
    assert_eq!(h.events(EventKind::OperatorAttention), 1);
    assert_eq!(h.order_state(), OrderState::Pending, "nothing is assumed");
}

#[tokio::test]
async fn cancel_window_exceed_asks_an_operator() {
    let h = H::at(T0, short_inquiries());
    until_cancel(&h).await;
    h.gw.push_cancel(cancel_failed("CANCEL_WINDOW_EXCEED"));
    h.run().await;
    let attempt = h.attempt();
    assert_eq!(
        (attempt.state, attempt.result_code.as_deref()),
        (AttemptState::NeedsOperator, Some("CANCEL_WINDOW_EXCEED"))
    );
    assert_eq!(h.events(EventKind::OperatorAttention), 1);
    assert!(h.store.jobs().is_empty());
}

#[tokio::test]
async fn past_the_cancel_window_no_cancel_is_sent() {
    // Paid at 2024-01-01T23:59:00+08:00: the window closes at 2024-01-02T00:15:00+08:00.
    let h = H::at(1_704_124_740_000, Schedule::default());
    let auth = h.active().await;
    h.gw.push_pay(pay_unknown("PAYMENT_IN_PROCESS"));
    let result = h.charge(&auth, "k1", 1_000).await.unwrap();
    h.clock.set(1_704_125_670_000); // 00:14:30
    h.payments().cancel(&result.order_id).await.unwrap();
    h.gw.push_cancel(cancel_unknown());
    h.run().await;
    let job = h
        .store
        .jobs()
        .pop()
        .expect("retried while inside the window");
    h.clock.set(job.due_at.max(1_704_125_700_001));
    h.run().await;
    let attempt = h.attempt();
    assert_eq!(
        (attempt.state, attempt.result_code.as_deref()),
        (AttemptState::NeedsOperator, Some("CANCEL_WINDOW_EXCEED"))
    );
    assert_eq!(h.calls(Api::Cancel), 1, "no cancel after the window");
}

#[tokio::test]
async fn not_sent_goes_back_to_created_and_resends_the_same_body() {
    let h = H::new();
    let auth = h.active().await;
    h.gw.push_pay(not_sent());
    h.gw.push_pay(pay_success("x", "pid-1", usd(1_000)));
    let result = h.charge(&auth, "k1", 1_000).await.unwrap();
    assert_eq!(result.attempt_state, AttemptState::Created);
    assert_eq!(
        h.store.jobs()[0].kind,
        JobKind::SendPayment(result.attempt_id.clone())
    );
    h.advance(2_000).await;
    assert_eq!(h.attempt().state, AttemptState::Succeeded);
    let bodies: Vec<String> =
        h.gw.calls_of(Api::Pay)
            .into_iter()
            .map(|c| c.body)
            .collect();
    assert_eq!(bodies.len(), 2);
    assert_eq!(
        bodies[0], bodies[1],
        "same paymentRequestId, same parameters"
    );
}

#[tokio::test]
async fn a_crash_after_pay_is_resolved_by_the_job_stored_with_the_intent() {
    let h = H::new();
    let auth = h.active().await;
    h.gw.push_pay(pay_success("x", "pid-1", usd(1_000)));
    // Commits: 1 stores the charge, 2 the intent, 3 the answer: the process dies before 3.
    h.store.fail_commit_in(3);
    assert!(matches!(
        h.charge(&auth, "k1", 1_000).await,
        Err(Error::Store(_))
    ));
    assert_eq!(h.attempt().state, AttemptState::Sent);
    h.gw.push_inquiry_payment(inquiry(PaymentStatus::Success, "pid-1", usd(1_000)));
    assert_eq!(h.advance(14_999).await.claimed, 0);
    h.advance(1).await;
    assert_eq!(h.attempt().state, AttemptState::Succeeded);
    assert_eq!(h.calls(Api::Pay), 1);
}

#[tokio::test]
async fn a_crash_before_pay_is_sent_later_by_the_stored_job() {
    let h = H::new();
    let auth = h.active().await;
    h.store.fail_commit_in(2);
    assert!(h.charge(&auth, "k1", 1_000).await.is_err());
    assert_eq!(
        (h.attempt().state, h.calls(Api::Pay)),
        (AttemptState::Created, 0)
    );
    h.gw.push_pay(pay_success("x", "pid-1", usd(1_000)));
    h.advance(15_000).await;
    assert_eq!(h.attempt().state, AttemptState::Succeeded);
    // The merchant's retry with the same key now just reads it.
    assert!(h.charge(&auth, "k1", 1_000).await.unwrap().replayed);
    assert_eq!(h.calls(Api::Pay), 1);
}

#[tokio::test]
async fn an_attempt_whose_authorization_ended_before_the_resend_is_cancelled_unsent() {
    let h = H::new();
    let auth = h.active().await;
    h.gw.push_pay(not_sent());
    h.charge(&auth, "k1", 1_000).await.unwrap();
    let n = Notification::Authorization(Box::new(
        NotifyAuthorization::new(
            ams_protocol::AuthorizationNotifyType::TokenCanceled,
            AmsResult::success(),
        )
        .with_access_token(ams_protocol::AccessToken::new("tok-1")),
    ));
    assert_eq!(
        h.notifications()
            .receive(&n, "/notify/auth", "{}")
            .await
            .unwrap(),
        Receipt::Applied
    );
    h.advance(2_000).await;
    let attempt = h.attempt();
    assert_eq!(
        (attempt.state, attempt.result_code.as_deref()),
        (AttemptState::Cancelled, Some("AUTHORIZATION_NOT_ACTIVE"))
    );
    assert_eq!(
        h.calls(Api::Pay),
        1,
        "never sent on a token that is not active"
    );
}

// ---- notifications and inquiries racing ---------------------------------------------------------

#[tokio::test]
async fn a_notification_first_then_the_inquiry_applies_once() {
    let h = H::new();
    let auth = h.active().await;
    h.gw.push_pay(pay_unknown("PAYMENT_IN_PROCESS"));
    let prid = h
        .charge(&auth, "k1", 1_000)
        .await
        .unwrap()
        .payment_request_id;
    let n = payment_notification(&prid, AmsResult::success(), usd(1_000));
    assert_eq!(notify(&h, &n).await.unwrap(), Receipt::Applied);
    assert_eq!(h.attempt().state, AttemptState::Succeeded);
    assert!(h.store.jobs().is_empty(), "the inquiry is no longer needed");
    h.gw.push_inquiry_payment(inquiry(PaymentStatus::Success, "pid-1", usd(1_000)));
    h.advance(3_000).await;
    assert_eq!(h.calls(Api::InquiryPayment), 0);
    assert_eq!(h.events(EventKind::PaymentSucceeded), 1);
}

#[tokio::test]
async fn an_inquiry_first_then_duplicated_notifications_apply_once() {
    let h = H::new();
    let auth = h.active().await;
    h.gw.push_pay(lost());
    let prid = h
        .charge(&auth, "k1", 1_000)
        .await
        .unwrap()
        .payment_request_id;
    h.gw.push_inquiry_payment(inquiry(PaymentStatus::Success, "pid-1", usd(1_000)));
    h.advance(3_000).await;
    assert_eq!(h.attempt().state, AttemptState::Succeeded);
    let n = payment_notification(&prid, AmsResult::success(), usd(1_000));
    assert_eq!(notify(&h, &n).await.unwrap(), Receipt::Applied);
    assert_eq!(notify(&h, &n).await.unwrap(), Receipt::Duplicate);
    assert_eq!(h.events(EventKind::PaymentSucceeded), 1);
    assert_eq!(h.store.inbox().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_and_an_inquiry_racing_apply_once() {
    for _ in 0..20 {
        let h = H::new();
        let auth = h.active().await;
        h.gw.push_pay(pay_unknown("PAYMENT_IN_PROCESS"));
        let prid = h
            .charge(&auth, "k1", 1_000)
            .await
            .unwrap()
            .payment_request_id;
        h.gw.push_inquiry_payment(inquiry(PaymentStatus::Success, "pid-1", usd(1_000)));
        h.clock.advance(3_000);
        let n = payment_notification(&prid, AmsResult::success(), usd(1_000));
        let (payments, notifications) = (h.payments(), h.notifications());
        let now = h.clock.now_ms();
        let (jobs, received) = tokio::join!(
            payments.run_due_jobs("w1", now),
            notifications.receive(&n.0, "/notify/payment", &n.1)
        );
        assert!(jobs.unwrap().failed.is_empty());
        received.unwrap();
        assert_eq!(h.attempt().state, AttemptState::Succeeded);
        assert_eq!(h.events(EventKind::PaymentSucceeded), 1);
        assert_eq!(h.store.orders()[0].version, 1, "the order changed once");
    }
}

#[tokio::test]
async fn a_success_after_the_cancel_is_recorded_never_a_second_success() {
    let h = H::new();
    let auth = h.active().await;
    h.gw.push_pay(pay_unknown("PAYMENT_IN_PROCESS"));
    let result = h.charge(&auth, "k1", 1_000).await.unwrap();
    h.payments().cancel(&result.order_id).await.unwrap();
    h.gw.push_cancel(cancel_success());
    h.run().await;
    assert_eq!(h.attempt().state, AttemptState::Cancelled);
    let n = payment_notification(&result.payment_request_id, AmsResult::success(), usd(1_000));
    assert_eq!(notify(&h, &n).await.unwrap(), Receipt::Applied);
    let attempt = h.attempt();
    assert_eq!(attempt.state, AttemptState::Cancelled);
    assert!(attempt.late_success);
    assert_eq!(h.order_state(), OrderState::Cancelled);
    assert_eq!(h.events(EventKind::PaymentSucceeded), 0);
    assert_eq!(h.events(EventKind::OperatorAttention), 1);
    let status = h.payments().status(&result.order_id).await.unwrap();
    assert!(status.late_success);
}

#[tokio::test]
async fn a_success_while_cancelling_lets_the_cancel_return_the_money() {
    let h = H::new();
    let auth = h.active().await;
    h.gw.push_pay(pay_unknown("PAYMENT_IN_PROCESS"));
    let result = h.charge(&auth, "k1", 1_000).await.unwrap();
    h.payments().cancel(&result.order_id).await.unwrap();
    let n = payment_notification(&result.payment_request_id, AmsResult::success(), usd(1_000));
    notify(&h, &n).await.unwrap();
    assert_eq!(h.attempt().state, AttemptState::CancelRequested);
    h.gw.push_cancel(cancel_success());
    h.run().await;
    assert_eq!(
        (h.attempt().state, h.order_state()),
        (AttemptState::Cancelled, OrderState::Cancelled)
    );
    assert!(h.attempt().late_success);
}

#[tokio::test]
async fn an_amount_or_currency_mismatch_is_refused_and_flagged_without_a_change() {
    let h = H::new();
    let auth = h.active().await;
    h.gw.push_pay(pay_unknown("PAYMENT_IN_PROCESS"));
    let prid = h
        .charge(&auth, "k1", 1_000)
        .await
        .unwrap()
        .payment_request_id;
    for amount in [usd(999), Amount::new(Currency::EUR, 1_000)] {
        let n = payment_notification(&prid, AmsResult::success(), amount);
        let refused = notify(&h, &n).await;
        assert!(
            matches!(refused, Err(Error::NotificationRefused(_))),
            "{refused:?}"
        );
    }
    assert_eq!(h.attempt().state, AttemptState::Unknown);
    assert_eq!(h.order_state(), OrderState::Pending);
    assert_eq!(h.events(EventKind::OperatorAttention), 2);
    assert_eq!(h.events(EventKind::PaymentSucceeded), 0);
    // The right one still applies.
    let n = payment_notification(&prid, AmsResult::success(), usd(1_000));
    assert_eq!(notify(&h, &n).await.unwrap(), Receipt::Applied);
    assert_eq!(h.attempt().state, AttemptState::Succeeded);
}

#[tokio::test]
async fn a_failure_notification_settles_an_unknown_payment_and_a_contradiction_is_refused() {
    let h = H::new();
    let auth = h.active().await;
    h.gw.push_pay(pay_unknown("PAYMENT_IN_PROCESS"));
    let prid = h
        .charge(&auth, "k1", 1_000)
        .await
        .unwrap()
        .payment_request_id;
    let failed = AmsResult::new(
        ResultCode::UserBalanceNotEnough,
        ResultStatus::F,
        "no money",
    );
    let n = payment_notification(&prid, failed, usd(1_000));
    assert_eq!(notify(&h, &n).await.unwrap(), Receipt::Applied);
    assert_eq!(h.attempt().state, AttemptState::Failed);
    let n = payment_notification(&prid, AmsResult::success(), usd(1_000));
    assert!(matches!(
        notify(&h, &n).await,
        Err(Error::NotificationRefused(_))
    ));
    assert_eq!(h.attempt().state, AttemptState::Failed);
}

#[tokio::test]
async fn a_notification_for_an_unknown_payment_is_refused_once() {
    let h = H::new();
    let n = payment_notification("nobody", AmsResult::success(), usd(1));
    assert!(matches!(
        notify(&h, &n).await,
        Err(Error::NotificationRefused(_))
    ));
    assert_eq!(notify(&h, &n).await.unwrap(), Receipt::Duplicate);
    assert_eq!(h.events(EventKind::OperatorAttention), 1);
}

// ---- authorization --------------------------------------------------------------------------------

fn start() -> StartAuthorization {
    StartAuthorization {
        customer_id: "cust-1".into(),
        wallet: CustomerBelongsTo::AlipayCn,
        terminal: TerminalType::Web,
        os: None,
        return_url: "https://merchant.example/done".into(),
    }
}

#[tokio::test]
async fn bind_then_the_second_code_does_nothing() {
    let h = H::new();
    h.gw.push_consult(consult_success("https://wallet.example/consent/1"));
    let started = h.authorizations().start(start()).await.unwrap();
    assert_eq!(started.auth_url, "https://wallet.example/consent/1");
    assert_eq!(started.auth_state.len(), 32, "unguessable");
    assert!(
        h.gw.calls_of(Api::Consult)[0]
            .body
            .contains(&started.auth_state)
    );
    h.gw.push_apply_token(token(
        "tok-9",
        T0 + 30 * DAY,
        Some(("ref-9", T0 + 180 * DAY)),
    ));
    let state = h
        .authorizations()
        .complete_with_code(&started.auth_state, "code-1")
        .await
        .unwrap();
    assert_eq!(state, AuthorizationState::Active);
    let auth = h.store.authorizations().pop().unwrap();
    assert_eq!(
        auth.token.as_ref().unwrap().access_token.expose_secret(),
        "tok-9"
    );
    assert!(auth.pending_auth_code.is_none());
    let job = h.store.jobs().pop().unwrap();
    assert_eq!(job.kind, JobKind::RefreshToken(auth.id.clone()));
    assert!(
        job.due_at > T0 && job.due_at < T0 + 30 * DAY,
        "refreshed before it expires"
    );
    assert_eq!(h.events(EventKind::AuthorizationActive), 1);
    // AUTHCODE_CREATED arrives after the redirect: nothing more.
    let n = Notification::Authorization(Box::new(
        NotifyAuthorization::new(
            ams_protocol::AuthorizationNotifyType::AuthcodeCreated,
            AmsResult::success(),
        )
        .with_auth_state(started.auth_state.as_str())
        .with_auth_code(ams_protocol::AuthCode::new("code-1")),
    ));
    assert_eq!(
        h.notifications()
            .receive(&n, "/notify/auth", "{}")
            .await
            .unwrap(),
        Receipt::Applied
    );
    assert_eq!(
        h.notifications()
            .receive(&n, "/notify/auth", "{}")
            .await
            .unwrap(),
        Receipt::Duplicate
    );
    assert_eq!(h.calls(Api::ApplyToken), 1);
}

#[tokio::test]
async fn the_notification_code_first_then_the_redirect() {
    let h = H::new();
    h.gw.push_consult(consult_success("https://wallet.example/consent/1"));
    let started = h.authorizations().start(start()).await.unwrap();
    h.gw.push_apply_token(token("tok-9", T0 + 30 * DAY, None));
    let n = Notification::Authorization(Box::new(
        NotifyAuthorization::new(
            ams_protocol::AuthorizationNotifyType::AuthcodeCreated,
            AmsResult::success(),
        )
        .with_auth_state(started.auth_state.as_str())
        .with_auth_code(ams_protocol::AuthCode::new("code-1")),
    ));
    assert_eq!(
        h.notifications()
            .receive(&n, "/notify/auth", "{}")
            .await
            .unwrap(),
        Receipt::Applied
    );
    let state = h
        .authorizations()
        .complete_with_code(&started.auth_state, "code-1")
        .await
        .unwrap();
    assert_eq!(state, AuthorizationState::Active);
    assert_eq!(h.calls(Api::ApplyToken), 1);
    assert!(
        h.store.jobs().is_empty(),
        "no refresh token: no refresh job"
    );
}

#[tokio::test]
async fn an_unknown_exchange_is_retried_by_its_job() {
    let h = H::new();
    h.gw.push_consult(consult_success("https://wallet.example/consent/1"));
    let started = h.authorizations().start(start()).await.unwrap();
    h.gw.push_apply_token(lost());
    let state = h
        .authorizations()
        .complete_with_code(&started.auth_state, "code-1")
        .await
        .unwrap();
    assert_eq!(state, AuthorizationState::Exchanging);
    h.gw.push_apply_token(token("tok-9", T0 + 30 * DAY, None));
    h.advance(5_000).await;
    assert_eq!(
        h.store.authorizations()[0].state,
        AuthorizationState::Active
    );
    assert!(
        h.gw.calls_of(Api::ApplyToken)
            .iter()
            .all(|c| c.body.contains("code-1"))
    );
}

#[tokio::test]
async fn a_failed_exchange_is_restarted_with_a_new_auth_state() {
    let h = H::new();
    h.gw.push_consult(consult_success("https://wallet.example/consent/1"));
    let started = h.authorizations().start(start()).await.unwrap();
    h.gw.push_apply_token(token_failed("INVALID_CODE"));
    let state = h
        .authorizations()
        .complete_with_code(&started.auth_state, "code-1")
        .await
        .unwrap();
    assert_eq!(state, AuthorizationState::Failed);
    assert_eq!(h.events(EventKind::AuthorizationFailed), 1);
    h.gw.push_consult(consult_success("https://wallet.example/consent/2"));
    let again = h
        .authorizations()
        .restart(&started.authorization_id)
        .await
        .unwrap();
    assert_ne!(again.auth_state, started.auth_state);
    assert_ne!(again.authorization_id, started.authorization_id);
    assert_eq!(again.auth_url, "https://wallet.example/consent/2");
    assert_eq!(h.calls(Api::Consult), 2);
    let refused = h.authorizations().restart(&again.authorization_id).await;
    assert!(
        matches!(refused, Err(Error::Invalid(_))),
        "an authorization waiting for the user"
    );
}

#[tokio::test]
async fn a_failed_consult_is_reported() {
    let h = H::new();
    h.gw.push_consult(consult_failed("NO_PAY_OPTIONS"));
    let failed = h.authorizations().start(start()).await;
    assert!(
        matches!(&failed, Err(Error::Refused { code, .. }) if code == "NO_PAY_OPTIONS"),
        "{failed:?}"
    );
    assert_eq!(
        h.store.authorizations()[0].state,
        AuthorizationState::Failed
    );
}

#[tokio::test]
async fn the_refresh_job_rotates_tokens_or_asks_for_the_user_again() {
    let h = H::new();
    let id = h.active().await;
    let mut tx = h.store.begin().await.unwrap();
    tx.enqueue_job(JobKind::RefreshToken(id.clone()), T0 + DAY)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    h.gw.push_apply_token(token(
        "tok-2",
        T0 + 31 * DAY,
        Some(("ref-2", T0 + 181 * DAY)),
    ));
    h.advance(DAY).await;
    let auth = h.store.authorizations().pop().unwrap();
    assert_eq!(auth.state, AuthorizationState::Active);
    assert_eq!(
        auth.token.as_ref().unwrap().access_token.expose_secret(),
        "tok-2"
    );
    assert!(h.gw.calls_of(Api::ApplyToken)[0].body.contains("ref-1"));
    let next = h.store.jobs().pop().expect("the next refresh");
    h.gw.push_apply_token(token_failed("INVALID_REFRESH_TOKEN"));
    h.clock.set(next.due_at);
    h.run().await;
    assert_eq!(
        h.store.authorizations()[0].state,
        AuthorizationState::NeedsReauthorization
    );
    assert_eq!(h.events(EventKind::AuthorizationNeedsReauthorization), 1);
    assert!(h.store.jobs().is_empty());
}

#[tokio::test]
async fn revoke_ends_the_authorization() {
    let h = H::new();
    let id = h.active().await;
    h.gw.push_revoke(lost());
    assert_eq!(
        h.authorizations().revoke(&id).await.unwrap(),
        AuthorizationState::Revoking
    );
    assert!(matches!(
        h.charge(&id, "k1", 1).await,
        Err(Error::NotChargeable { .. })
    ));
    h.gw.push_revoke(revoke_success());
    h.advance(5_000).await;
    assert_eq!(
        h.authorizations().authorization(&id).await.unwrap().state,
        AuthorizationState::Revoked(RevokedBy::Merchant)
    );
    assert_eq!(h.events(EventKind::AuthorizationEnded), 1);
    assert!(h.store.jobs().is_empty());
    assert!(
        h.gw.calls_of(Api::Revoke)
            .iter()
            .all(|c| c.body.contains("tok-1"))
    );
}

#[tokio::test]
async fn token_canceled_revokes_by_the_user_once() {
    let h = H::new();
    let id = h.active().await;
    let n = Notification::Authorization(Box::new(
        NotifyAuthorization::new(
            ams_protocol::AuthorizationNotifyType::TokenCanceled,
            AmsResult::success(),
        )
        .with_access_token(ams_protocol::AccessToken::new("tok-1"))
        .with_reason("user unbound"),
    ));
    assert_eq!(
        h.notifications()
            .receive(&n, "/notify/auth", "{}")
            .await
            .unwrap(),
        Receipt::Applied
    );
    assert_eq!(
        h.notifications()
            .receive(&n, "/notify/auth", "{}")
            .await
            .unwrap(),
        Receipt::Duplicate
    );
    let auth = h.authorizations().authorization(&id).await.unwrap();
    assert_eq!(auth.state, AuthorizationState::Revoked(RevokedBy::User));
    assert_eq!(h.events(EventKind::AuthorizationEnded), 1);
    assert!(
        h.store
            .inbox()
            .iter()
            .all(|e| !e.dedup_key.contains("tok-1")),
        "no token in keys"
    );
}

// ---- refunds -----------------------------------------------------------------------------------

async fn paid(h: &H, minor: u64) -> OrderId {
    let auth = h.active().await;
    h.gw.push_pay(pay_success("x", "pid-1", usd(minor)));
    h.charge(&auth, "paid", minor).await.unwrap().order_id
}

fn refund_cmd(order: &OrderId, key: &str, minor: u64) -> RefundCommand {
    RefundCommand {
        idempotency_key: key.into(),
        order_id: order.clone(),
        amount: usd(minor),
        reason: Some("changed mind".into()),
    }
}

#[tokio::test]
async fn refunds_accumulate_and_never_exceed_what_was_paid() {
    let h = H::new();
    let order = paid(&h, 1_000).await;
    h.gw.push_refund(refund_success("x", "rid-1", usd(400)));
    let first = h
        .refunds()
        .refund(refund_cmd(&order, "r1", 400))
        .await
        .unwrap();
    assert_eq!(
        (first.state, first.order_state),
        (RefundState::Succeeded, OrderState::PartlyRefunded)
    );
    let body = &h.gw.calls_of(Api::Refund)[0].body;
    assert!(
        body.contains("pid-1") && body.contains(&first.refund_request_id),
        "{body}"
    );
    let too_much = h.refunds().refund(refund_cmd(&order, "r2", 601)).await;
    assert!(
        matches!(too_much, Err(Error::RefundTooLarge { .. })),
        "{too_much:?}"
    );
    assert_eq!(h.calls(Api::Refund), 1, "refused before anything was sent");
    h.gw.push_refund(refund_success("x", "rid-2", usd(600)));
    let second = h
        .refunds()
        .refund(refund_cmd(&order, "r3", 600))
        .await
        .unwrap();
    assert_eq!(second.order_state, OrderState::FullyRefunded);
    assert_ne!(second.refund_request_id, first.refund_request_id);
    let replay = h
        .refunds()
        .refund(refund_cmd(&order, "r1", 400))
        .await
        .unwrap();
    assert!(replay.replayed);
    assert!(matches!(
        h.refunds().refund(refund_cmd(&order, "r1", 300)).await,
        Err(Error::IdempotencyConflict { .. })
    ));
    assert_eq!(h.store.orders()[0].refunded, 1_000);
    assert_eq!(h.events(EventKind::RefundSucceeded), 2);
}

#[tokio::test]
async fn an_unpaid_order_is_not_refunded() {
    let h = H::new();
    let auth = h.active().await;
    h.gw.push_pay(pay_failed("RISK_REJECT"));
    let order = h.charge(&auth, "k1", 1_000).await.unwrap().order_id;
    assert!(matches!(
        h.refunds().refund(refund_cmd(&order, "r1", 1)).await,
        Err(Error::NotRefundable { .. })
    ));
}

#[tokio::test]
async fn an_unknown_refund_is_sent_again_then_settles() {
    let h = H::new();
    let order = paid(&h, 1_000).await;
    h.gw.push_refund(refund_unknown());
    h.gw.push_refund(lost());
    h.gw.push_refund(refund_success("x", "rid-1", usd(500)));
    let result = h
        .refunds()
        .refund(refund_cmd(&order, "r1", 500))
        .await
        .unwrap();
    assert_eq!(result.state, RefundState::Unknown);
    while let Some(job) = h.store.jobs().pop() {
        let wait = job.due_at - h.clock.now_ms();
        assert!((5_000..=10_000).contains(&wait), "{wait}");
        h.clock.set(job.due_at);
        h.run().await;
    }
    let refund = h.store.refunds().pop().unwrap();
    assert_eq!((refund.state, refund.sends), (RefundState::Succeeded, 3));
    let bodies: Vec<String> =
        h.gw.calls_of(Api::Refund)
            .into_iter()
            .map(|c| c.body)
            .collect();
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "the same refund each time"
    );
}

#[tokio::test]
async fn a_refund_unknown_for_60_s_is_inquired() {
    let h = H::new();
    let order = paid(&h, 1_000).await;
    for _ in 0..20 {
        h.gw.push_refund(refund_unknown());
    }
    h.gw.push_inquiry_refund(inquiry_refund(TransactionStatus::Processing, "rid-1"));
    h.gw.push_inquiry_refund(inquiry_refund(TransactionStatus::Success, "rid-1"));
    h.refunds()
        .refund(refund_cmd(&order, "r1", 500))
        .await
        .unwrap();
    while let Some(job) = h.store.jobs().pop() {
        h.clock.set(job.due_at);
        h.run().await;
    }
    let refund = h.store.refunds().pop().unwrap();
    assert_eq!(refund.state, RefundState::Succeeded);
    assert_eq!(refund.refund_id.as_deref(), Some("rid-1"));
    assert_eq!(h.calls(Api::InquiryRefund), 2);
    let sends = h.calls(Api::Refund);
    assert!((6..=13).contains(&sends), "{sends} sends in 60 s");
    assert_eq!(h.order_state(), OrderState::PartlyRefunded);
}

#[tokio::test]
async fn notify_refund_is_checked_and_applied_once() {
    let h = H::new();
    let order = paid(&h, 1_000).await;
    h.gw.push_refund(lost());
    let result = h
        .refunds()
        .refund(refund_cmd(&order, "r1", 1_000))
        .await
        .unwrap();
    assert_eq!(result.state, RefundState::Unknown);
    let n = |amount| {
        Notification::Refund(Box::new(NotifyRefund::new(
            AmsResult::success(),
            RefundStatus::Success,
            result.refund_request_id.as_str(),
            "rid-1",
            amount,
        )))
    };
    assert!(matches!(
        receive(&h, n(usd(999))).await,
        Err(Error::NotificationRefused(_))
    ));
    assert_eq!(receive(&h, n(usd(999))).await.unwrap(), Receipt::Duplicate);
    assert_eq!(h.store.refunds()[0].state, RefundState::Unknown);
    assert_eq!(receive(&h, n(usd(1_000))).await.unwrap(), Receipt::Applied);
    assert_eq!(
        receive(&h, n(usd(1_000))).await.unwrap(),
        Receipt::Duplicate
    );
    let refund = h.store.refunds().pop().unwrap();
    assert_eq!(
        (refund.state, refund.refund_id.as_deref()),
        (RefundState::Succeeded, Some("rid-1"))
    );
    assert_eq!(h.order_state(), OrderState::FullyRefunded);
    assert_eq!(h.events(EventKind::RefundSucceeded), 1);
    assert!(h.store.jobs().is_empty());
}
