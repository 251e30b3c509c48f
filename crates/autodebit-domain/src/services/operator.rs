//! What needs a person, and what a person can do about it.
//!
//! An attention item says what is wrong, what the system tried (and is still trying), and which
//! of these operations apply. None of them is needed to keep the money right — every payment and
//! refund that is not final has a job that moves it on — but each lets a person act sooner or
//! close what they settled outside the system (with Alipay's support, say).
//!
//! - [`Operator::inquire_now`]: run the payment's (or refund's) job at once: an inquiry, or the
//!   next step of its resolution; a job set aside as a dead letter is brought back.
//! - [`Operator::retry_cancel`]: send the cancel again now; for a payment being confirmed after a
//!   refused cancel, inside the window, cancel it again.
//! - [`Operator::refund`]: refund what is left of a paid payment.
//! - [`Operator::resolve`]: close an item with a reason.
//!
//! Each of the first three has a `queue_` twin ([`Operator::queue_inquire`],
//! [`Operator::queue_inquire_refund`], [`Operator::queue_retry_cancel`],
//! [`Operator::queue_refund`]) that commits the same intent (the state change and the job, due
//! now, in one unit of work) and calls nothing: for a process beside a running server, whose
//! workers then carry it out under their leases. The inline operation is its twin followed by the
//! job's run.

use super::payments::{self, AttemptFacts, PaymentView, apply_attempt, view};
use super::refunds::{RefundCommand, RefundView, Refunds};
use super::{Context, Error, Unit, cancel_deadline, invalid, not_found};
use crate::lifecycle::attempt::{AttemptEvent, AttemptState};
use crate::model::{
    AttemptId, AttentionId, AttentionItem, CancelReason, JobKind, OrderId, RefundId, Resolution,
};

/// The operations a person can run.
#[derive(Clone, Debug)]
pub struct Operator {
    ctx: Context,
}

impl Operator {
    /// The service over `ctx`.
    pub fn new(ctx: Context) -> Self {
        Self { ctx }
    }

    /// Open items, oldest first: at most `limit` after the item `after`.
    ///
    /// # Errors
    /// Store failures.
    pub async fn attention(
        &self,
        after: Option<&AttentionId>,
        limit: u32,
    ) -> Result<Vec<AttentionItem>, Error> {
        Ok(self.ctx.store.open_attention(after, limit).await?)
    }

    /// Runs the payment's job at once (its inquiry, or the next step of its resolution), bringing
    /// it back if it was set aside. A final payment is only shown.
    ///
    /// # Errors
    /// [`Error::NotFound`], store failures.
    pub async fn inquire_now(&self, order_id: &OrderId) -> Result<PaymentView, Error> {
        if let Some(id) = self.schedule_payment(order_id).await? {
            payments::run_now(&self.ctx, &id).await?;
        }
        self.payment_view(order_id).await
    }

    /// What [`Operator::inquire_now`] commits, without running the job: the payment's job is due
    /// now (brought back if it was set aside) and a worker runs it. Nothing is sent to Alipay
    /// here. A final payment is only shown.
    ///
    /// # Errors
    /// [`Error::NotFound`], store failures.
    pub async fn queue_inquire(&self, order_id: &OrderId) -> Result<PaymentView, Error> {
        self.schedule_payment(order_id).await?;
        self.payment_view(order_id).await
    }

    /// Makes the job of the payment's latest attempt due now, unless the attempt is final: the
    /// attempt whose job it is.
    async fn schedule_payment(&self, order_id: &OrderId) -> Result<Option<AttemptId>, Error> {
        unit_of_work!(&self.ctx, order_id, |tx, now| {
            let attempt = tx
                .attempts_of_order(order_id)
                .await?
                .pop()
                .ok_or_else(|| not_found("payment", order_id))?;
            if attempt.state.is_final() {
                return Ok(Unit::Done(None));
            }
            tx.schedule_job(JobKind::Payment(attempt.id.clone()), now)
                .await?;
            Ok(Unit::Commit(Some(attempt.id)))
        })
    }

    async fn payment_view(&self, order_id: &OrderId) -> Result<PaymentView, Error> {
        let mut tx = self.ctx.store.begin().await?;
        view(&mut *tx, order_id).await
    }

    /// Runs the refund's job at once, bringing it back if it was set aside.
    ///
    /// # Errors
    /// [`Error::NotFound`], store failures.
    pub async fn inquire_refund_now(&self, id: &RefundId) -> Result<RefundView, Error> {
        if self.schedule_refund(id).await? {
            super::refunds::run_now(&self.ctx, id).await?;
        }
        Refunds::new(self.ctx.clone()).refund_view(id).await
    }

    /// What [`Operator::inquire_refund_now`] commits, without running the job: the refund's job
    /// is due now (brought back if it was set aside) and a worker runs it. Nothing is sent to
    /// Alipay here. A final refund is only shown.
    ///
    /// # Errors
    /// [`Error::NotFound`], store failures.
    pub async fn queue_inquire_refund(&self, id: &RefundId) -> Result<RefundView, Error> {
        self.schedule_refund(id).await?;
        Refunds::new(self.ctx.clone()).refund_view(id).await
    }

    /// Makes the refund's job due now, unless the refund is final: whether it did.
    async fn schedule_refund(&self, id: &RefundId) -> Result<bool, Error> {
        unit_of_work!(&self.ctx, id, |tx, now| {
            let refund = tx
                .refund(id)
                .await?
                .ok_or_else(|| not_found("refund", id))?;
            if refund.state.is_final() {
                return Ok(Unit::Done(false));
            }
            tx.schedule_job(JobKind::Refund(id.clone()), now).await?;
            Ok(Unit::Commit(true))
        })
    }

    /// Sends the cancel again now. A payment being confirmed after its cancel was refused is
    /// cancelled again, while the window is open.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the payment is not being cancelled or the window has closed;
    /// [`Error::NotFound`], store failures.
    pub async fn retry_cancel(&self, order_id: &OrderId) -> Result<PaymentView, Error> {
        let id = self.schedule_cancel(order_id).await?;
        payments::run_now(&self.ctx, &id).await?;
        self.payment_view(order_id).await
    }

    /// What [`Operator::retry_cancel`] commits, without sending: the payment is being cancelled
    /// (again, for one being confirmed after a refused cancel) and its job is due now; a worker
    /// sends the cancel. Nothing is sent to Alipay here.
    ///
    /// # Errors
    /// As [`Operator::retry_cancel`].
    pub async fn queue_retry_cancel(&self, order_id: &OrderId) -> Result<PaymentView, Error> {
        self.schedule_cancel(order_id).await?;
        self.payment_view(order_id).await
    }

    /// Puts the payment's latest attempt (back) to being cancelled, with its job due now: the
    /// attempt.
    async fn schedule_cancel(&self, order_id: &OrderId) -> Result<AttemptId, Error> {
        let ctx = &self.ctx;
        unit_of_work!(ctx, order_id, |tx, now| {
            let attempt = tx
                .attempts_of_order(order_id)
                .await?
                .pop()
                .ok_or_else(|| not_found("payment", order_id))?;
            if now > cancel_deadline(attempt.created_at) {
                return Err(invalid(
                    "payment",
                    "its cancel window has closed: it is confirmed by inquiry and refunded if paid",
                ));
            }
            let id = attempt.id.clone();
            match attempt.state {
                AttemptState::CancelRequested => {}
                AttemptState::Confirming => {
                    let reason = attempt.cancel_reason.unwrap_or(CancelReason::Merchant);
                    let applied = apply_attempt(
                        ctx,
                        tx,
                        attempt,
                        AttemptEvent::CancelRequested,
                        &AttemptFacts::code("OPERATOR_CANCEL"),
                        now,
                        |a| {
                            a.cancel_reason = Some(reason);
                            a.cancel_started_at = Some(now);
                        },
                    )
                    .await?;
                    if applied.is_none() {
                        return Ok(Unit::Retry);
                    }
                }
                other => {
                    return Err(invalid(
                        "payment",
                        format!("it is {}, not being cancelled", other.name()),
                    ));
                }
            }
            tx.schedule_job(JobKind::Payment(id.clone()), now).await?;
            Ok(Unit::Commit(id))
        })
    }

    /// Refunds (part of) a paid payment, as the merchant would.
    ///
    /// # Errors
    /// As [`Refunds::refund`].
    pub async fn refund(&self, command: RefundCommand) -> Result<RefundView, Error> {
        Refunds::new(self.ctx.clone()).refund(command).await
    }

    /// Records a refund as [`Operator::refund`] does, with its job due now, and sends nothing: a
    /// worker sends it ([`Refunds::queue_refund`]).
    ///
    /// # Errors
    /// As [`Refunds::refund`].
    pub async fn queue_refund(&self, command: RefundCommand) -> Result<RefundView, Error> {
        Refunds::new(self.ctx.clone()).queue_refund(command).await
    }

    /// Closes an item with the person's reason.
    ///
    /// # Errors
    /// [`Error::Invalid`] for an empty reason, [`Error::NotFound`], store failures.
    pub async fn resolve(&self, id: &AttentionId, reason: &str) -> Result<AttentionItem, Error> {
        if reason.trim().is_empty() {
            return Err(invalid("reason", "say why the item is resolved"));
        }
        unit_of_work!(&self.ctx, id, |tx, now| {
            let item = tx
                .attention(id)
                .await?
                .ok_or_else(|| not_found("attention item", id))?;
            if item.resolution.is_some() {
                return Ok(Unit::Done(item));
            }
            let resolution = Resolution {
                at: now,
                reason: reason.to_owned(),
            };
            tx.resolve_attention(&item.subject, Some(&item.code), &resolution)
                .await?;
            Ok(Unit::Commit(AttentionItem {
                resolution: Some(resolution),
                ..item
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ams_protocol::{Amount, Api, Currency, PaymentStatus};

    use super::*;
    use crate::lifecycle::refund::RefundState;
    use crate::model::{AuthorizationId, Job};
    use crate::services::jobs::Jobs;
    use crate::services::payments::{ChargeCommand, Payments, Status};
    use crate::testing::{InMemoryStore, ManualClock, ScriptedGateway, replies, seed};

    const T0: i64 = 1_709_258_400_000;

    struct H {
        store: InMemoryStore,
        gw: Arc<ScriptedGateway>,
        clock: ManualClock,
        ctx: Context,
    }

    impl H {
        async fn new() -> Self {
            let (store, gw, clock) = (
                InMemoryStore::new(),
                Arc::new(ScriptedGateway::new()),
                ManualClock::new(T0),
            );
            seed::insert(&store, &seed::active_authorization("auth_1", "tok", T0))
                .await
                .unwrap();
            let ctx = Context::new(Arc::new(store.clone()), gw.clone(), Arc::new(clock.clone()));
            Self {
                store,
                gw,
                clock,
                ctx,
            }
        }

        fn operator(&self) -> Operator {
            Operator::new(self.ctx.clone())
        }

        async fn charge(&self, key: &str) -> OrderId {
            Payments::new(self.ctx.clone())
                .charge(ChargeCommand {
                    idempotency_key: key.into(),
                    authorization_id: AuthorizationId::new("auth_1"),
                    reference: key.into(),
                    description: "plan".into(),
                    amount: usd(1_000),
                    return_url: None,
                })
                .await
                .unwrap()
                .order
                .id
        }

        fn job(&self, kind: &JobKind) -> Job {
            self.store
                .jobs()
                .into_iter()
                .find(|j| &j.kind == kind)
                .expect("the job exists")
        }
    }

    fn usd(minor: u64) -> Amount {
        Amount::new(Currency::USD, minor)
    }

    fn refund_cmd(order: &OrderId, key: &str, minor: u64) -> RefundCommand {
        RefundCommand {
            idempotency_key: key.into(),
            order_id: order.clone(),
            amount: usd(minor),
            reason: Some("operator".into()),
        }
    }

    #[tokio::test]
    async fn queue_inquire_makes_the_job_due_now_and_calls_nothing() {
        let h = H::new().await;
        h.gw.push_pay(replies::lost());
        let order = h.charge("k1").await;
        let calls = h.gw.calls().len();
        let attempt = h.store.attempts()[0].id.clone();
        assert!(h.job(&JobKind::Payment(attempt.clone())).due_at > T0);

        h.clock.advance(1_000);
        let view = h.operator().queue_inquire(&order).await.unwrap();
        assert_eq!(
            view.latest().state,
            AttemptState::Unknown,
            "nothing applied"
        );
        assert_eq!(h.gw.calls().len(), calls, "no call to Alipay");
        assert_eq!(h.job(&JobKind::Payment(attempt)).due_at, T0 + 1_000);

        // A worker carries it out.
        h.gw.push_inquiry_payment(replies::inquiry(
            PaymentStatus::Success,
            "pid-1",
            usd(1_000),
        ));
        Jobs::new(h.ctx.clone()).run_due().await.unwrap();
        assert_eq!(h.gw.calls_of(Api::InquiryPayment).len(), 1);
        let view = h.operator().queue_inquire(&order).await.unwrap();
        assert_eq!(
            view.status(),
            Status::Succeeded,
            "a final payment is only shown"
        );
        assert_eq!(h.gw.calls_of(Api::InquiryPayment).len(), 1);
    }

    #[tokio::test]
    async fn queue_inquire_of_an_unknown_payment_writes_nothing() {
        let h = H::new().await;
        let commits = h.store.commits();
        let missing = h.operator().queue_inquire(&OrderId::new("pay_nope")).await;
        assert!(
            matches!(missing, Err(Error::NotFound { .. })),
            "{missing:?}"
        );
        let missing = h
            .operator()
            .queue_inquire_refund(&RefundId::new("re_nope"))
            .await;
        assert!(
            matches!(missing, Err(Error::NotFound { .. })),
            "{missing:?}"
        );
        assert_eq!(h.store.commits(), commits);
        assert!(h.store.jobs().is_empty());
    }

    #[tokio::test]
    async fn queue_retry_cancel_makes_the_cancel_due_now_and_sends_nothing() {
        let h = H::new().await;
        h.gw.push_pay(replies::lost());
        let order = h.charge("k1").await;
        // Not being cancelled: refused, nothing written.
        let commits = h.store.commits();
        let refused = h.operator().queue_retry_cancel(&order).await;
        assert!(matches!(refused, Err(Error::Invalid { .. })), "{refused:?}");
        assert_eq!(h.store.commits(), commits);

        h.gw.push_cancel(replies::cancel_unknown());
        let view = Payments::new(h.ctx.clone()).cancel(&order).await.unwrap();
        assert_eq!(view.latest().state, AttemptState::CancelRequested);
        let attempt = view.latest().id.clone();
        assert!(h.job(&JobKind::Payment(attempt.clone())).due_at > T0);
        let calls = h.gw.calls().len();

        h.clock.advance(500);
        let view = h.operator().queue_retry_cancel(&order).await.unwrap();
        assert_eq!(view.latest().state, AttemptState::CancelRequested);
        assert_eq!(h.gw.calls().len(), calls, "no call to Alipay");
        assert_eq!(h.job(&JobKind::Payment(attempt)).due_at, T0 + 500);

        h.gw.push_cancel(replies::cancel_success());
        Jobs::new(h.ctx.clone()).run_due().await.unwrap();
        let view = Payments::new(h.ctx.clone()).payment(&order).await.unwrap();
        assert_eq!(view.status(), Status::Cancelled, "a worker sent it");
    }

    #[tokio::test]
    async fn queue_refund_records_the_refund_due_now_once_per_key() {
        let h = H::new().await;
        h.gw.push_pay(replies::pay_success("pid-1", usd(1_000)));
        let order = h.charge("k1").await;
        let calls = h.gw.calls().len();

        // Too much: refused, nothing stored.
        let commits = h.store.commits();
        let refused = h
            .operator()
            .queue_refund(refund_cmd(&order, "r0", 1_001))
            .await;
        assert!(
            matches!(refused, Err(Error::RefundTooLarge { .. })),
            "{refused:?}"
        );
        assert_eq!(h.store.commits(), commits);
        assert!(h.store.refunds().is_empty());

        let view = h
            .operator()
            .queue_refund(refund_cmd(&order, "r1", 300))
            .await
            .unwrap();
        assert_eq!(view.refund.state, RefundState::Requested);
        assert!(!view.replayed);
        assert_eq!(h.gw.calls().len(), calls, "no call to Alipay");
        let kind = JobKind::Refund(view.refund.id.clone());
        assert_eq!(h.job(&kind).due_at, T0, "due now, not after a grace");

        let again = h
            .operator()
            .queue_refund(refund_cmd(&order, "r1", 300))
            .await
            .unwrap();
        assert!(again.replayed);
        assert_eq!(again.refund.id, view.refund.id);
        assert_eq!(h.store.refunds().len(), 1);

        // A worker sends it; it stays unknown, and the operator asks for its job again.
        h.gw.push_refund(replies::refund_unknown());
        Jobs::new(h.ctx.clone()).run_due().await.unwrap();
        assert_eq!(h.gw.calls_of(Api::Refund).len(), 1);
        assert_eq!(h.store.refunds()[0].state, RefundState::Unknown);
        assert!(h.job(&kind).due_at > T0);
        let calls = h.gw.calls().len();
        h.clock.advance(1_000);
        let view = h
            .operator()
            .queue_inquire_refund(&view.refund.id)
            .await
            .unwrap();
        assert_eq!(view.refund.state, RefundState::Unknown);
        assert_eq!(h.gw.calls().len(), calls, "no call to Alipay");
        assert_eq!(h.job(&kind).due_at, T0 + 1_000);
    }
}
