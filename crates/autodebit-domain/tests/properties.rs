//! A property test over random sequences of charges, Alipay's answers (S, F, U, lost before or
//! after taking effect, not sent), inquiries, cancels, duplicated and reordered notifications, the
//! user unbinding, crashes between steps (a unit of work that never commits) and job runs, against
//! the in-memory store and a small model of Alipay that debits at most once per
//! `paymentRequestId`.
//!
//! After every step: no `pay` on a token that is not active, never two bodies for one
//! `paymentRequestId`, a final state never moves backwards, what the domain calls paid is paid at
//! Alipay and what it calls failed or cancelled holds no money, no notification is refused and no
//! contradiction is flagged. At the end, with the faults gone and time moving, every payment
//! settles and agrees with Alipay's ledger.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use ams_protocol::{
    AccessToken, Amount, AmsResult, ApplyTokenRequest, ApplyTokenResponse, AuthorizationNotifyType,
    CancelRequest, CancelResponse, ConsultRequest, ConsultResponse, Currency, CustomerBelongsTo,
    InquiryPaymentRequest, InquiryPaymentResponse, InquiryRefundRequest, InquiryRefundResponse,
    Notification, NotifyAuthorization, NotifyPayment, PayRequest, PayResponse, PaymentNotifyType,
    PaymentStatus, RefundResponse, RevokeRequest, RevokeResponse, TerminalType,
};
use async_trait::async_trait;
use autodebit_domain::lifecycle::attempt::AttemptState;
use autodebit_domain::lifecycle::authorization::AuthorizationState;
use autodebit_domain::lifecycle::order::OrderState;
use autodebit_domain::model::{
    AttemptId, Authorization, AuthorizationId, EventKind, Millis, TokenSet,
};
use autodebit_domain::ports::{Clock, Gateway, Reply, Store};
use autodebit_domain::services::notifications::Notifications;
use autodebit_domain::services::payments::{ChargeCommand, Payments};
use autodebit_domain::services::{Context, Error};
use autodebit_domain::testing::replies::{self, result};
use autodebit_domain::testing::{InMemoryStore, ManualClock};
use proptest::prelude::*;

/// 2024-03-01T10:00:00+08:00: the cancel window stays open for the whole run.
const T0: Millis = 1_709_258_400_000;
const TOKEN: &str = "tok-1";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Settled {
    Success,
    Fail,
    Cancelled,
}

#[derive(Debug)]
struct FakePayment {
    amount: Amount,
    token: String,
    status: Settled,
    debits: u32,
    credits: u32,
}

#[derive(Debug, Default)]
struct Alipay {
    payments: BTreeMap<String, FakePayment>,
    /// `paymentRequestId`s cancelled before any payment existed.
    closed: Vec<String>,
    modes: BTreeMap<&'static str, VecDeque<u8>>,
    notifications: Vec<Notification>,
    token_revoked: bool,
    violations: Vec<String>,
}

/// Alipay as a model: truthful, idempotent per `paymentRequestId`, with scripted faults.
struct Fake {
    store: InMemoryStore,
    state: Mutex<Alipay>,
}

impl Fake {
    fn mode(&self, api: &'static str) -> u8 {
        let mut state = self.state.lock().unwrap();
        state
            .modes
            .get_mut(api)
            .and_then(VecDeque::pop_front)
            .unwrap_or(0)
    }
}

fn lost<T>() -> Reply<T> {
    replies::lost()
}

#[async_trait]
impl Gateway for Fake {
    async fn consult(&self, _: &ConsultRequest) -> Reply<ConsultResponse> {
        replies::not_sent()
    }
    async fn apply_token(&self, _: &ApplyTokenRequest) -> Reply<ApplyTokenResponse> {
        replies::not_sent()
    }
    async fn revoke(&self, _: &RevokeRequest) -> Reply<RevokeResponse> {
        replies::not_sent()
    }

    async fn pay(&self, body: &str) -> Reply<PayResponse> {
        let request: PayRequest = serde_json::from_str(body).expect("a pay body");
        let prid = request.payment_request_id.as_str().to_owned();
        let token = request
            .payment_method
            .payment_method_id
            .as_ref()
            .map(|t| t.expose_secret().to_owned())
            .unwrap_or_default();
        let local = self
            .store
            .authorizations()
            .into_iter()
            .find(|a| {
                a.token
                    .as_ref()
                    .is_some_and(|t| t.access_token.expose_secret() == token)
            })
            .map(|a| a.state);
        let mode = self.mode("pay");
        let mut s = self.state.lock().unwrap();
        if local != Some(AuthorizationState::Active) {
            s.violations.push(format!(
                "pay {prid} sent while the authorization is {local:?}"
            ));
        }
        // 4: lost on the way; 5: surely not sent. Neither reaches Alipay.
        match mode {
            4 => return lost(),
            5 => return replies::not_sent(),
            _ => {}
        }
        if s.closed.contains(&prid) {
            return Reply::Failed(PayResponse::new(result(
                ams_protocol::ResultStatus::F,
                "ORDER_IS_CLOSED",
            )));
        }
        let status = match s.payments.get(&prid) {
            Some(p) => {
                if p.amount != request.payment_amount || p.token != token {
                    s.violations
                        .push(format!("pay {prid} sent again with other parameters"));
                    return replies::pay_failed("REPEAT_REQ_INCONSISTENT");
                }
                p.status
            }
            None => {
                let status = if s.token_revoked || mode == 1 {
                    Settled::Fail
                } else {
                    Settled::Success
                };
                s.payments.insert(
                    prid.clone(),
                    FakePayment {
                        amount: request.payment_amount,
                        token,
                        status,
                        debits: u32::from(status == Settled::Success),
                        credits: 0,
                    },
                );
                let code = if s.token_revoked {
                    "INVALID_ACCESS_TOKEN"
                } else {
                    "USER_BALANCE_NOT_ENOUGH"
                };
                let notify_result = match status {
                    Settled::Success => AmsResult::success(),
                    Settled::Fail | Settled::Cancelled => {
                        result(ams_protocol::ResultStatus::F, code)
                    }
                };
                s.notifications
                    .push(Notification::Payment(Box::new(NotifyPayment::new(
                        PaymentNotifyType::PaymentResult,
                        notify_result,
                        prid.as_str(),
                        format!("pid-{prid}"),
                        request.payment_amount,
                    ))));
                status
            }
        };
        let code = if s.token_revoked {
            "INVALID_ACCESS_TOKEN"
        } else {
            "USER_BALANCE_NOT_ENOUGH"
        };
        match mode {
            2 => replies::pay_unknown("UNKNOWN_EXCEPTION"),
            3 => lost(),
            _ => match status {
                Settled::Success => {
                    replies::pay_success(&prid, &format!("pid-{prid}"), request.payment_amount)
                }
                Settled::Fail => replies::pay_failed(code),
                Settled::Cancelled => replies::pay_failed("ORDER_IS_CLOSED"),
            },
        }
    }

    async fn inquiry_payment(
        &self,
        request: &InquiryPaymentRequest,
    ) -> Reply<InquiryPaymentResponse> {
        let prid = request
            .payment_request_id
            .as_ref()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default();
        match self.mode("inquiryPayment") {
            1 => return replies::inquiry_unknown(),
            2 => return lost(),
            _ => {}
        }
        let s = self.state.lock().unwrap();
        match s.payments.get(&prid) {
            None => replies::inquiry_failed("ORDER_NOT_EXIST"),
            Some(p) => {
                let status = match p.status {
                    Settled::Success => PaymentStatus::Success,
                    Settled::Fail => PaymentStatus::Fail,
                    Settled::Cancelled => PaymentStatus::Cancelled,
                };
                replies::inquiry(status, &format!("pid-{prid}"), p.amount)
            }
        }
    }

    async fn cancel(&self, request: &CancelRequest) -> Reply<CancelResponse> {
        let prid = request
            .payment_request_id
            .as_ref()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default();
        let mode = self.mode("cancel");
        if mode == 3 {
            return replies::cancel_failed("CANCEL_WINDOW_EXCEED");
        }
        let mut s = self.state.lock().unwrap();
        let exists = match s.payments.get_mut(&prid) {
            Some(p) => {
                if p.status == Settled::Success {
                    p.credits += 1;
                }
                p.status = Settled::Cancelled;
                true
            }
            None => {
                s.closed.push(prid);
                false
            }
        };
        match mode {
            1 => replies::cancel_unknown(),
            2 => lost(),
            _ if exists => replies::cancel_success(),
            _ => replies::cancel_failed("ORDER_NOT_EXIST"),
        }
    }

    async fn refund(&self, _: &str) -> Reply<RefundResponse> {
        replies::not_sent()
    }
    async fn inquiry_refund(&self, _: &InquiryRefundRequest) -> Reply<InquiryRefundResponse> {
        replies::not_sent()
    }
}

#[derive(Clone, Debug)]
enum Op {
    Charge {
        key: u8,
        amount: u64,
    },
    /// The next call of an API behaves so (pay: 0 truthful, 1 declined, 2 U after the debit,
    /// 3 lost after the debit, 4 lost before, 5 not sent; inquiry: 0, 1 U, 2 lost; cancel: 0,
    /// 1 U after cancelling, 2 lost after cancelling, 3 window passed).
    Script {
        api: u8,
        mode: u8,
    },
    /// Alipay delivers one of its notifications (any, again or out of order).
    Deliver(usize),
    /// Time passes and the due jobs run.
    Tick(Millis),
    /// The merchant cancels one of the orders.
    Cancel(usize),
    /// The n-th commit from now fails: the process dies before it.
    Crash(u32),
    /// The user unbinds the merchant in the wallet.
    Unbind,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..4, 1u64..4).prop_map(|(key, a)| Op::Charge { key, amount: a * 100 }),
        4 => (0u8..3, 0u8..6).prop_map(|(api, mode)| Op::Script { api, mode }),
        3 => any::<u16>().prop_map(|i| Op::Deliver(usize::from(i))),
        4 => (0i64..20).prop_map(|s| Op::Tick(s * 1_000)),
        1 => any::<u16>().prop_map(|i| Op::Cancel(usize::from(i))),
        1 => (1u32..4).prop_map(Op::Crash),
        1 => Just(Op::Unbind),
    ]
}

struct Run {
    store: InMemoryStore,
    fake: Arc<Fake>,
    clock: ManualClock,
    ctx: Context,
    auth: AuthorizationId,
    seen: BTreeMap<AttemptId, AttemptState>,
    seen_orders: BTreeMap<String, OrderState>,
}

fn allowed(from: AttemptState, to: AttemptState) -> bool {
    use AttemptState as S;
    match from {
        S::Succeeded => matches!(
            to,
            S::Succeeded | S::CancelRequested | S::Cancelled | S::NeedsOperator
        ),
        S::Failed => to == S::Failed,
        S::Cancelled => to == S::Cancelled,
        S::Created
        | S::Sent
        | S::Unknown
        | S::Inquiring
        | S::CancelRequested
        | S::NeedsOperator => true,
    }
}

fn order_allowed(from: OrderState, to: OrderState) -> bool {
    use OrderState as O;
    match from {
        O::Succeeded => matches!(to, O::Succeeded | O::Cancelled),
        O::Failed => to == O::Failed,
        O::Cancelled => to == O::Cancelled,
        O::Pending => true,
        O::PartlyRefunded | O::FullyRefunded => from == to,
    }
}

impl Run {
    async fn new() -> Self {
        let store = InMemoryStore::new();
        let fake = Arc::new(Fake {
            store: store.clone(),
            state: Mutex::new(Alipay::default()),
        });
        let clock = ManualClock::new(T0);
        let ctx = Context::new(
            Arc::new(store.clone()),
            fake.clone(),
            Arc::new(clock.clone()),
        );
        let auth = AuthorizationId::new("auth-1");
        let mut tx = store.begin().await.unwrap();
        tx.insert_authorization(&Authorization {
            id: auth.clone(),
            customer_id: "cust-1".into(),
            wallet: CustomerBelongsTo::AlipayCn,
            terminal_type: TerminalType::Web,
            os_type: None,
            return_url: "https://merchant.example/done".into(),
            auth_state: "state-1".into(),
            auth_url: None,
            state: AuthorizationState::Active,
            token: Some(TokenSet {
                access_token: AccessToken::new(TOKEN),
                access_expires_at: T0 + 30 * 86_400_000,
                refresh_token: None,
                refresh_expires_at: None,
            }),
            pending_auth_code: None,
            user_login_id: None,
            failure: None,
            version: 0,
            created_at: T0,
            updated_at: T0,
        })
        .await
        .unwrap();
        tx.commit().await.unwrap();
        Self {
            store,
            fake,
            clock,
            ctx,
            auth,
            seen: BTreeMap::new(),
            seen_orders: BTreeMap::new(),
        }
    }

    async fn run_jobs(&self) {
        let report = Payments::new(self.ctx.clone())
            .run_due_jobs("worker", self.clock.now_ms())
            .await
            .expect("claiming never fails");
        for (_, why) in &report.failed {
            assert!(why.contains("store unavailable"), "a job failed: {why}");
        }
    }

    async fn step(&mut self, op: &Op) {
        match op {
            Op::Charge { key, amount } => {
                let result = Payments::new(self.ctx.clone())
                    .charge(ChargeCommand {
                        idempotency_key: format!("k{key}"),
                        authorization_id: self.auth.clone(),
                        reference: format!("order-{key}"),
                        description: "Plan".into(),
                        amount: Amount::new(Currency::USD, *amount),
                    })
                    .await;
                match result {
                    Ok(_)
                    | Err(
                        Error::NotChargeable { .. }
                        | Error::IdempotencyConflict { .. }
                        | Error::Store(_),
                    ) => {}
                    Err(e) => panic!("charge: {e}"),
                }
            }
            Op::Script { api, mode } => {
                let (name, modes) = match api {
                    0 => ("pay", 6),
                    1 => ("inquiryPayment", 3),
                    _ => ("cancel", 4),
                };
                let mut s = self.fake.state.lock().unwrap();
                s.modes.entry(name).or_default().push_back(mode % modes);
            }
            Op::Deliver(i) => {
                let notification = {
                    let s = self.fake.state.lock().unwrap();
                    if s.notifications.is_empty() {
                        return;
                    }
                    s.notifications[i % s.notifications.len()].clone()
                };
                let body = serde_json::to_string(&notification).unwrap();
                match Notifications::new(self.ctx.clone())
                    .receive(&notification, "/notify", &body)
                    .await
                {
                    Ok(_) | Err(Error::Store(_)) => {}
                    Err(e) => panic!("a notification from Alipay was refused: {e}"),
                }
            }
            Op::Tick(ms) => {
                self.clock.advance(*ms);
                self.run_jobs().await;
            }
            Op::Cancel(i) => {
                let orders = self.store.orders();
                if orders.is_empty() {
                    return;
                }
                let order = &orders[i % orders.len()];
                match Payments::new(self.ctx.clone()).cancel(&order.id).await {
                    Ok(_) | Err(Error::Store(_)) => {}
                    Err(e) => panic!("cancel: {e}"),
                }
            }
            Op::Crash(n) => self.store.fail_commit_in(*n),
            Op::Unbind => {
                let mut s = self.fake.state.lock().unwrap();
                if !s.token_revoked {
                    s.token_revoked = true;
                    s.notifications.push(Notification::Authorization(Box::new(
                        NotifyAuthorization::new(
                            AuthorizationNotifyType::TokenCanceled,
                            AmsResult::success(),
                        )
                        .with_access_token(AccessToken::new(TOKEN)),
                    )));
                }
            }
        }
    }

    /// What must hold after every step.
    fn check(&mut self) -> Result<(), TestCaseError> {
        let alipay = self.fake.state.lock().unwrap();
        prop_assert!(alipay.violations.is_empty(), "{:?}", alipay.violations);
        for attempt in self.store.attempts() {
            if let Some(before) = self.seen.insert(attempt.id.clone(), attempt.state) {
                prop_assert!(
                    allowed(before, attempt.state),
                    "{before:?} -> {:?}",
                    attempt.state
                );
            }
            let at_alipay = alipay.payments.get(&attempt.payment_request_id);
            let net = at_alipay.map_or(0, |p| p.debits - p.credits);
            prop_assert!(at_alipay.is_none_or(|p| p.debits <= 1), "debited twice");
            match attempt.state {
                AttemptState::Succeeded => prop_assert_eq!(net, 1, "called paid but not paid"),
                AttemptState::Failed | AttemptState::Cancelled => {
                    prop_assert_eq!(net, 0, "money kept")
                }
                _ => {}
            }
        }
        for order in self.store.orders() {
            if let Some(before) = self.seen_orders.insert(order.id.to_string(), order.state) {
                prop_assert!(
                    order_allowed(before, order.state),
                    "order {before:?} -> {:?}",
                    order.state
                );
            }
        }
        for event in self.store.events() {
            let detail = event.detail.clone().unwrap_or_default();
            prop_assert!(
                !detail.contains("is not allowed"),
                "a contradiction: {detail}"
            );
        }
        Ok(())
    }

    /// Faults gone, time moving: everything settles and agrees with Alipay.
    async fn settle(&mut self) -> Result<(), TestCaseError> {
        self.store.fail_commit_in(0);
        self.fake.state.lock().unwrap().modes.clear();
        for _ in 0..400 {
            if self.store.jobs().is_empty() {
                break;
            }
            self.clock.advance(10_000);
            self.run_jobs().await;
            self.check()?;
        }
        prop_assert!(
            self.store.jobs().is_empty(),
            "work left: {:?}",
            self.store.jobs()
        );
        let alipay = self.fake.state.lock().unwrap();
        let orders: BTreeMap<_, _> = self
            .store
            .orders()
            .into_iter()
            .map(|o| (o.id.clone(), o))
            .collect();
        for attempt in self.store.attempts() {
            let net = alipay
                .payments
                .get(&attempt.payment_request_id)
                .map_or(0, |p| p.debits - p.credits);
            let order = &orders[&attempt.order_id];
            match attempt.state {
                AttemptState::Succeeded => {
                    prop_assert_eq!(net, 1);
                    prop_assert_eq!(order.state, OrderState::Succeeded);
                }
                AttemptState::Failed => {
                    prop_assert_eq!(net, 0);
                    prop_assert_eq!(order.state, OrderState::Failed);
                }
                AttemptState::Cancelled => {
                    prop_assert_eq!(net, 0);
                    prop_assert_eq!(order.state, OrderState::Cancelled);
                }
                // Only a cancel refused for good, or unanswered for its whole retry time, leaves a
                // payment to a person.
                AttemptState::NeedsOperator => {
                    let code = attempt.result_code.as_deref();
                    prop_assert!(
                        matches!(
                            code,
                            Some("CANCEL_WINDOW_EXCEED" | "CANCEL_RETRIES_EXHAUSTED")
                        ),
                        "{attempt:?}"
                    );
                }
                other => prop_assert!(false, "unsettled: {other:?}"),
            }
            if order.state == OrderState::Succeeded {
                prop_assert!(self.store.events().iter().any(|e| e.kind
                    == EventKind::PaymentSucceeded
                    && e.subject == order.id.as_str()));
            }
        }
        let succeeded_events = self
            .store
            .events()
            .iter()
            .filter(|e| e.kind == EventKind::PaymentSucceeded)
            .count();
        prop_assert!(
            succeeded_events <= self.store.orders().len(),
            "a success reported twice"
        );
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn alipay_and_the_domain_always_agree(ops in proptest::collection::vec(op(), 1..40)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        runtime.block_on(async {
            let mut run = Run::new().await;
            for op in &ops {
                run.step(op).await;
                run.check()?;
            }
            run.settle().await
        })?;
    }
}
