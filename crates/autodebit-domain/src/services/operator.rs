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

use super::payments::{self, AttemptFacts, PaymentView, apply_attempt, view};
use super::refunds::{RefundCommand, RefundView, Refunds};
use super::{Context, Error, Unit, cancel_deadline, invalid, not_found};
use crate::lifecycle::attempt::{AttemptEvent, AttemptState};
use crate::model::{
    AttentionId, AttentionItem, CancelReason, JobKind, OrderId, RefundId, Resolution,
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
        let ctx = &self.ctx;
        let attempt = unit_of_work!(ctx, order_id, |tx, now| {
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
        })?;
        if let Some(id) = &attempt {
            payments::run_now(ctx, id).await?;
        }
        let mut tx = ctx.store.begin().await?;
        view(&mut *tx, order_id).await
    }

    /// Runs the refund's job at once, bringing it back if it was set aside.
    ///
    /// # Errors
    /// [`Error::NotFound`], store failures.
    pub async fn inquire_refund_now(&self, id: &RefundId) -> Result<RefundView, Error> {
        let ctx = &self.ctx;
        let live = unit_of_work!(ctx, id, |tx, now| {
            let refund = tx
                .refund(id)
                .await?
                .ok_or_else(|| not_found("refund", id))?;
            if refund.state.is_final() {
                return Ok(Unit::Done(false));
            }
            tx.schedule_job(JobKind::Refund(id.clone()), now).await?;
            Ok(Unit::Commit(true))
        })?;
        if live {
            super::refunds::run_now(ctx, id).await?;
        }
        Refunds::new(ctx.clone()).refund_view(id).await
    }

    /// Sends the cancel again now. A payment being confirmed after its cancel was refused is
    /// cancelled again, while the window is open.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the payment is not being cancelled or the window has closed;
    /// [`Error::NotFound`], store failures.
    pub async fn retry_cancel(&self, order_id: &OrderId) -> Result<PaymentView, Error> {
        let ctx = &self.ctx;
        let id = unit_of_work!(ctx, order_id, |tx, now| {
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
        })?;
        payments::run_now(ctx, &id).await?;
        let mut tx = ctx.store.begin().await?;
        view(&mut *tx, order_id).await
    }

    /// Refunds (part of) a paid payment, as the merchant would.
    ///
    /// # Errors
    /// As [`Refunds::refund`].
    pub async fn refund(&self, command: RefundCommand) -> Result<RefundView, Error> {
        Refunds::new(self.ctx.clone()).refund(command).await
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
