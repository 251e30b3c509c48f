//! Refunds: partial or full, each with its own `refundRequestId` and exact body, never more than
//! was paid minus what is refunded or being refunded.
//!
//! `S` → succeeded (the order becomes partly or fully refunded); `F` → failed; `U` or no answer →
//! the same body is sent again every 5–10 s for 60 s (a `ResolveRefund` job), then `inquiryRefund`
//! settles it, or an operator is asked. `notifyRefund` is applied once
//! ([`crate::services::notifications`]).

use ams_protocol::{
    Amount, Api, InquiryRefundRequest, RefundRequest, RefundResponse, TransactionStatus,
};

use super::payments::{Lease, complete_alone, not_found};
use super::{Context, Error, MAX_TRIES, commit, event, fingerprint, jitter};
use crate::decision::{Decision, decide};
use crate::lifecycle::Step;
use crate::lifecycle::attempt::AttemptState;
use crate::lifecycle::order::{self as order_lifecycle, OrderEvent, OrderState};
use crate::lifecycle::refund::{RefundEvent, RefundState, transition};
use crate::model::{EventKind, IdempotencyRecord, JobKind, Millis, OrderId, Refund, RefundId};
use crate::ports::{Reply, Tx};

/// A merchant's request to refund (part of) a paid order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundCommand {
    /// The merchant's idempotency key.
    pub idempotency_key: String,
    /// The paid order.
    pub order_id: OrderId,
    /// How much (in the order's currency).
    pub amount: Amount,
    /// Why (`refundReason`, at most 256 characters).
    pub reason: Option<String>,
}

/// Where a refund stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundResult {
    /// Our id.
    pub refund_id: RefundId,
    /// Its `refundRequestId`.
    pub refund_request_id: String,
    /// Its state.
    pub state: RefundState,
    /// The order's state.
    pub order_state: OrderState,
    /// Alipay's `refundId`, once known.
    pub alipay_refund_id: Option<String>,
    /// The last result code that mattered.
    pub result_code: Option<String>,
    /// Whether this answers an earlier command with the same idempotency key.
    pub replayed: bool,
}

/// What an answer or a notification says about a refund, besides the event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RefundFacts {
    pub(crate) refund_id: Option<String>,
    pub(crate) result_code: Option<String>,
    pub(crate) operator: Option<String>,
}

/// Applies `event_` to `refund` in `tx`, with the order's transition and the events. `Ok(None)`:
/// a compare-and-set lost. The step is `None` when the event contradicted the state (flagged).
pub(crate) async fn apply_refund(
    tx: &mut dyn Tx,
    mut refund: Refund,
    event_: RefundEvent,
    facts: &RefundFacts,
    now: Millis,
    tweak: impl FnOnce(&mut Refund),
) -> Result<Option<(Refund, Option<Step<RefundState>>)>, Error> {
    let original = refund.clone();
    let step = match transition(refund.state, event_) {
        Ok(step) => step,
        Err(e) => {
            let detail = format!("{e} (refundRequestId {})", refund.refund_request_id);
            tx.push_event(&event(
                EventKind::OperatorAttention,
                &refund.id,
                Some(detail),
                now,
            ))
            .await?;
            return Ok(Some((refund, None)));
        }
    };
    refund.state = step.state();
    if let (Some(id), None) = (&facts.refund_id, &refund.refund_id) {
        refund.refund_id = Some(id.clone());
    }
    if step.moved()
        && let Some(code) = &facts.result_code
    {
        refund.result_code = Some(code.clone());
    }
    tweak(&mut refund);
    if refund != original {
        refund.updated_at = now;
        if !tx.update_refund(&refund).await? {
            return Ok(None);
        }
        refund.version += 1;
    }
    if step.moved() {
        match refund.state {
            RefundState::Succeeded => {
                let mut order = tx
                    .order(&refund.order_id)
                    .await?
                    .ok_or_else(|| not_found("order", &refund.order_id))?;
                let refunded = order.refunded + refund.amount.minor_units();
                let full = refunded >= order.amount.minor_units();
                match order_lifecycle::transition(order.state, OrderEvent::Refunded { full }) {
                    Ok(order_step) => {
                        order.state = order_step.state();
                        order.refunded = refunded;
                        order.updated_at = now;
                        if !tx.update_order(&order).await? {
                            return Ok(None);
                        }
                        let detail = Some(format!("order {}, {}", order.id, refund.amount));
                        tx.push_event(&event(EventKind::RefundSucceeded, &refund.id, detail, now))
                            .await?;
                    }
                    Err(e) => {
                        let detail = format!(
                            "{e}: refund {} succeeded at Alipay",
                            refund.refund_request_id
                        );
                        tx.push_event(&event(
                            EventKind::OperatorAttention,
                            &order.id,
                            Some(detail),
                            now,
                        ))
                        .await?;
                    }
                }
            }
            RefundState::Failed => {
                tx.push_event(&event(
                    EventKind::RefundFailed,
                    &refund.id,
                    refund.result_code.clone(),
                    now,
                ))
                .await?;
                if let Some(why) = &facts.operator {
                    tx.push_event(&event(
                        EventKind::OperatorAttention,
                        &refund.id,
                        Some(why.clone()),
                        now,
                    ))
                    .await?;
                }
            }
            RefundState::NeedsOperator => {
                let why = facts.operator.clone().unwrap_or_else(|| {
                    "the refund could not be settled: contact Alipay's support".into()
                });
                tx.push_event(&event(
                    EventKind::OperatorAttention,
                    &refund.id,
                    Some(why),
                    now,
                ))
                .await?;
            }
            RefundState::Requested | RefundState::Sent | RefundState::Unknown => {}
        }
    }
    Ok(Some((refund, Some(step))))
}

fn refund_outcome(reply: &Reply<RefundResponse>) -> (RefundEvent, RefundFacts) {
    match reply {
        Reply::Success(r) => (
            RefundEvent::Succeeded,
            RefundFacts {
                refund_id: r.refund_id.as_ref().map(|id| id.as_str().to_owned()),
                ..RefundFacts::default()
            },
        ),
        Reply::Failed(r) => {
            let code = r.result.code().as_str().to_owned();
            let (decision, why) = decide(Api::Refund, r.result.status(), r.result.code());
            let facts = RefundFacts {
                result_code: Some(code.clone()),
                ..RefundFacts::default()
            };
            match decision {
                // REFUND_IN_PROCESS: the same request later.
                Decision::RetrySame | Decision::Inquire => (RefundEvent::Unknown, facts),
                Decision::AskOperator => (
                    RefundEvent::Failed,
                    RefundFacts {
                        operator: Some(format!("refund refused with {code}: {why}")),
                        ..facts
                    },
                ),
                Decision::FailedForGood
                | Decision::Reauthorize
                | Decision::Succeeded
                | Decision::Cancel => (RefundEvent::Failed, facts),
            }
        }
        Reply::Unknown { response, .. } => (
            RefundEvent::Unknown,
            RefundFacts {
                result_code: response
                    .as_ref()
                    .map(|r| r.result.code().as_str().to_owned()),
                ..RefundFacts::default()
            },
        ),
        Reply::NotSent { .. } => (RefundEvent::NotSent, RefundFacts::default()),
    }
}

/// Refunds paid orders.
#[derive(Clone, Debug)]
pub struct Refunds {
    ctx: Context,
}

impl Refunds {
    /// The service over `ctx`.
    pub fn new(ctx: Context) -> Self {
        Self { ctx }
    }

    /// Refunds (part of) a paid order, once per idempotency key.
    ///
    /// # Errors
    /// [`Error::Invalid`], [`Error::NotFound`], [`Error::NotRefundable`], [`Error::RefundTooLarge`]
    /// (nothing stored or sent), [`Error::IdempotencyConflict`], store failures.
    pub async fn refund(&self, command: RefundCommand) -> Result<RefundResult, Error> {
        if command.idempotency_key.is_empty() || command.idempotency_key.len() > 128 {
            return Err(Error::Invalid(
                "the idempotency key must have 1 to 128 characters".into(),
            ));
        }
        if command.amount.is_zero() {
            return Err(Error::Invalid("the amount must be more than zero".into()));
        }
        if command
            .reason
            .as_ref()
            .is_some_and(|r| r.chars().count() > 256)
        {
            return Err(Error::Invalid(
                "the reason must have at most 256 characters".into(),
            ));
        }
        let fp = fingerprint(
            "refund",
            &[
                command.order_id.as_str(),
                command.amount.currency.code(),
                &command.amount.minor_units().to_string(),
                command.reason.as_deref().unwrap_or(""),
            ],
        );
        let (id, replayed) = self.store_refund(&command, &fp).await?;
        self.send(&id, None).await?;
        let mut result = self.status(&id).await?;
        result.replayed = replayed;
        Ok(result)
    }

    async fn store_refund(
        &self,
        command: &RefundCommand,
        fp: &str,
    ) -> Result<(RefundId, bool), Error> {
        for _ in 0..MAX_TRIES {
            let now = self.ctx.now();
            let mut tx = self.ctx.store.begin().await?;
            if let Some(record) = tx.idempotency(&command.idempotency_key).await? {
                if record.fingerprint != fp {
                    return Err(Error::IdempotencyConflict {
                        key: command.idempotency_key.clone(),
                    });
                }
                return Ok((RefundId::new(record.resource), true));
            }
            let order = tx
                .order(&command.order_id)
                .await?
                .ok_or_else(|| not_found("order", &command.order_id))?;
            let refusal = |reason: String| Error::NotRefundable {
                id: order.id.to_string(),
                reason,
            };
            if !order.state.is_paid() {
                return Err(refusal(format!("it is {}", order.state.name())));
            }
            if command.amount.currency != order.amount.currency {
                return Err(Error::Invalid(format!(
                    "the refund is in {}, the order in {}",
                    command.amount.currency, order.amount.currency
                )));
            }
            let paid = tx
                .attempts_of_order(&order.id)
                .await?
                .into_iter()
                .rev()
                .find(|a| a.state == AttemptState::Succeeded && a.payment_id.is_some())
                .ok_or_else(|| refusal("no attempt of it was paid".into()))?;
            let payment_id = paid.payment_id.clone().unwrap_or_default();
            let taken: u64 = tx
                .refunds_of_order(&order.id)
                .await?
                .iter()
                .filter(|r| r.state != RefundState::Failed)
                .map(|r| r.amount.minor_units())
                .sum();
            let available = order.amount.minor_units().saturating_sub(taken);
            if command.amount.minor_units() > available {
                return Err(Error::RefundTooLarge {
                    requested: command.amount,
                    available: Amount::new(order.amount.currency, available),
                });
            }
            // Touch the order so that two refunds of it are never stored side by side unseen.
            if !tx.update_order(&order).await? {
                continue;
            }
            let refund_request_id = self.ctx.ids.refund_request_id(now);
            let mut request = RefundRequest::new(
                refund_request_id.as_str(),
                payment_id.as_str(),
                command.amount,
            );
            if let Some(reason) = &command.reason {
                request = request.with_refund_reason(reason.clone());
            }
            if let Some(url) = &self.ctx.settings.refund_notify_url {
                request = request.with_refund_notify_url(url.clone());
            }
            let refund = Refund {
                id: RefundId::new(self.ctx.ids.local_id("ref")),
                order_id: order.id.clone(),
                refund_request_id,
                request_body: serde_json::to_string(&request).map_err(|e| {
                    Error::Invalid(format!("the refund body does not serialise: {e}"))
                })?,
                amount: command.amount,
                state: RefundState::Requested,
                refund_id: None,
                result_code: None,
                sends: 0,
                first_sent_at: None,
                inquiries: 0,
                version: 0,
                created_at: now,
                updated_at: now,
            };
            let record = IdempotencyRecord {
                key: command.idempotency_key.clone(),
                fingerprint: fp.to_owned(),
                resource: refund.id.to_string(),
                created_at: now,
            };
            if !tx.insert_idempotency(&record).await? {
                continue;
            }
            tx.insert_refund(&refund).await?;
            tx.enqueue_job(
                JobKind::ResolveRefund(refund.id.clone()),
                now + self.ctx.schedule.reply_timeout_ms,
            )
            .await?;
            if commit(tx).await? {
                return Ok((refund.id, false));
            }
        }
        Err(Error::Contention(format!(
            "idempotency key {}",
            command.idempotency_key
        )))
    }

    /// Sends (or sends again) the stored body: commits `Sent` with a `ResolveRefund` job first.
    async fn send(&self, id: &RefundId, lease: Option<&Lease<'_>>) -> Result<(), Error> {
        let body = 'intent: {
            for _ in 0..MAX_TRIES {
                let now = self.ctx.now();
                let mut tx = self.ctx.store.begin().await?;
                let refund = tx
                    .refund(id)
                    .await?
                    .ok_or_else(|| not_found("refund", id))?;
                if let Some(lease) = lease
                    && !lease.complete(&mut *tx).await?
                {
                    return Ok(());
                }
                match refund.state {
                    RefundState::Requested | RefundState::Sent | RefundState::Unknown => {}
                    RefundState::Succeeded | RefundState::Failed | RefundState::NeedsOperator => {
                        if lease.is_none() || commit(tx).await? {
                            return Ok(());
                        }
                        continue;
                    }
                }
                let Some((refund, _)) = apply_refund(
                    &mut *tx,
                    refund,
                    RefundEvent::Send,
                    &RefundFacts::default(),
                    now,
                    |r| {
                        r.sends += 1;
                        r.first_sent_at.get_or_insert(now);
                    },
                )
                .await?
                else {
                    continue;
                };
                let resolve = JobKind::ResolveRefund(id.clone());
                tx.remove_jobs(&resolve).await?;
                tx.enqueue_job(resolve, now + self.ctx.schedule.reply_timeout_ms)
                    .await?;
                if commit(tx).await? {
                    break 'intent refund.request_body;
                }
            }
            return Err(Error::Contention(id.to_string()));
        };
        let reply = self.ctx.gateway.refund(&body).await;
        self.apply_reply(id, &reply).await
    }

    async fn apply_reply(&self, id: &RefundId, reply: &Reply<RefundResponse>) -> Result<(), Error> {
        let (event_, facts) = refund_outcome(reply);
        let schedule = &self.ctx.schedule;
        for _ in 0..MAX_TRIES {
            let now = self.ctx.now();
            let mut tx = self.ctx.store.begin().await?;
            let refund = tx
                .refund(id)
                .await?
                .ok_or_else(|| not_found("refund", id))?;
            let event_ = if event_ == RefundEvent::NotSent && refund.state != RefundState::Sent {
                RefundEvent::Unknown
            } else {
                event_
            };
            let Some((refund, _)) =
                apply_refund(&mut *tx, refund, event_, &facts, now, |_| {}).await?
            else {
                continue;
            };
            let resolve = JobKind::ResolveRefund(id.clone());
            match refund.state {
                RefundState::Requested => {
                    tx.remove_jobs(&resolve).await?;
                    tx.enqueue_job(resolve, now + schedule.resend_after_ms)
                        .await?;
                }
                RefundState::Unknown => {
                    tx.remove_jobs(&resolve).await?;
                    let due =
                        now + jitter(schedule.refund_retry_min_ms, schedule.refund_retry_max_ms);
                    tx.enqueue_job(resolve, due).await?;
                }
                RefundState::Succeeded | RefundState::Failed => {
                    tx.remove_jobs(&resolve).await?;
                }
                RefundState::Sent | RefundState::NeedsOperator => {}
            }
            if commit(tx).await? {
                return Ok(());
            }
        }
        Err(Error::Contention(id.to_string()))
    }

    /// `ResolveRefund`: within 60 s of the first send, the same body again; after, `inquiryRefund`
    /// until it settles or the inquiries run out (then an operator).
    pub(crate) async fn resolve_job(&self, lease: &Lease<'_>, id: &RefundId) -> Result<(), Error> {
        let refund = {
            let mut tx = self.ctx.store.begin().await?;
            tx.refund(id)
                .await?
                .ok_or_else(|| not_found("refund", id))?
        };
        let schedule = &self.ctx.schedule;
        match refund.state {
            RefundState::Succeeded | RefundState::Failed | RefundState::NeedsOperator => {
                return complete_alone(&self.ctx, lease).await;
            }
            RefundState::Requested => return self.send(id, Some(lease)).await,
            RefundState::Sent | RefundState::Unknown => {}
        }
        let first = refund.first_sent_at.unwrap_or_else(|| self.ctx.now());
        if self.ctx.now() < first + schedule.refund_retry_for_ms {
            return self.send(id, Some(lease)).await;
        }
        let request = InquiryRefundRequest::by_refund_request_id(refund.refund_request_id.as_str());
        let settled = match self.ctx.gateway.inquiry_refund(&request).await {
            Reply::Success(r) => {
                let facts = RefundFacts {
                    refund_id: r.refund_id.as_ref().map(|id| id.as_str().to_owned()),
                    ..RefundFacts::default()
                };
                match r.refund_status {
                    Some(TransactionStatus::Success) => Some((RefundEvent::Succeeded, facts)),
                    Some(TransactionStatus::Fail) => Some((
                        RefundEvent::Failed,
                        RefundFacts {
                            result_code: Some("FAIL".into()),
                            ..facts
                        },
                    )),
                    // PROCESSING, PENDING, anything new: not settled.
                    _ => None,
                }
            }
            Reply::Failed(_) | Reply::Unknown { .. } | Reply::NotSent { .. } => None,
        };
        for _ in 0..MAX_TRIES {
            let now = self.ctx.now();
            let mut tx = self.ctx.store.begin().await?;
            let refund = tx
                .refund(id)
                .await?
                .ok_or_else(|| not_found("refund", id))?;
            let held = match &settled {
                Some((event_, facts)) => {
                    if apply_refund(&mut *tx, refund, *event_, facts, now, |_| {})
                        .await?
                        .is_none()
                    {
                        continue;
                    }
                    lease.complete(&mut *tx).await?
                }
                None if refund.inquiries + 1 >= schedule.refund_max_inquiries => {
                    let facts = RefundFacts {
                        result_code: Some("REFUND_UNRESOLVED".into()),
                        operator: Some(
                            "the refund stayed unknown after retries and inquiries: contact Alipay's support".into(),
                        ),
                        ..RefundFacts::default()
                    };
                    if apply_refund(&mut *tx, refund, RefundEvent::GiveUp, &facts, now, |r| {
                        r.inquiries += 1
                    })
                    .await?
                    .is_none()
                    {
                        continue;
                    }
                    lease.complete(&mut *tx).await?
                }
                None => {
                    let mut counted = refund;
                    counted.inquiries += 1;
                    counted.updated_at = now;
                    if !tx.update_refund(&counted).await? {
                        continue;
                    }
                    lease
                        .retry_at(&mut *tx, now + schedule.refund_inquiry_every_ms)
                        .await?
                }
            };
            if !held || commit(tx).await? {
                return Ok(());
            }
        }
        Err(Error::Contention(id.to_string()))
    }

    /// Where a refund stands.
    ///
    /// # Errors
    /// [`Error::NotFound`] and store failures.
    pub async fn status(&self, id: &RefundId) -> Result<RefundResult, Error> {
        let mut tx = self.ctx.store.begin().await?;
        let refund = tx
            .refund(id)
            .await?
            .ok_or_else(|| not_found("refund", id))?;
        let order = tx
            .order(&refund.order_id)
            .await?
            .ok_or_else(|| not_found("order", &refund.order_id))?;
        Ok(RefundResult {
            refund_id: refund.id,
            refund_request_id: refund.refund_request_id,
            state: refund.state,
            order_state: order.state,
            alipay_refund_id: refund.refund_id,
            result_code: refund.result_code,
            replayed: false,
        })
    }
}
