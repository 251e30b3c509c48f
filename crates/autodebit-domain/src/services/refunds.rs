//! Refunds: partial or full, each with its own `refundRequestId` and exact body, never more than
//! was paid minus what is refunded or being refunded, and never beside a cancel of the same
//! payment (the two cannot both go out).
//!
//! `S` → succeeded (the order becomes partly or fully refunded); `F` → failed; `U` or no answer →
//! the same bytes again every 5–10 s for 60 s, then `inquiryRefund` with growing waits until it
//! settles (Alipay having no such refund → the same bytes again); a refund that surely never left,
//! many times in a row, fails as not sent. A person is told when it takes long. `notifyRefund` is
//! applied once ([`crate::services::notifications`]).

use ams_protocol::{
    Amount, Api, InquiryRefundRequest, InquiryRefundResponse, RefundRequest, RefundResponse,
    TransactionStatus,
};

use super::lease::Lease;
use super::{
    Context, Error, Flag, Unit, backoff, fingerprint, invalid, not_found, raise, remember,
    replayed, settle_attention,
};
use crate::decision::{Decision, decide};
use crate::lifecycle::Step;
use crate::lifecycle::attempt::AttemptState;
use crate::lifecycle::order::{self as order_lifecycle, OrderEvent, OrderState};
use crate::lifecycle::refund::{RefundEvent, RefundState, transition};
use crate::model::{
    AlipayRefundId, Body, Event, EventKind, JobKind, Millis, OperatorAction, Order, OrderId,
    PaymentAttempt, Refund, RefundId, RefundOrigin, Subject,
};
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

/// A refund with the state of its order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundView {
    /// The refund.
    pub refund: Refund,
    /// The order's state.
    pub order_state: OrderState,
    /// Whether this answers an earlier command with the same idempotency key.
    pub replayed: bool,
}

/// What an answer or a notification says about a refund, besides the event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RefundFacts {
    pub(crate) alipay_refund_id: Option<AlipayRefundId>,
    pub(crate) result_code: Option<String>,
    pub(crate) flag: Option<(&'static str, String)>,
}

/// Stores a new refund of `amount` for the paid `attempt` of `order`, with its exact body and its
/// job (a merchant's: due once the caller's own send has had its time; otherwise due now).
#[allow(
    clippy::too_many_arguments,
    reason = "every part of a refund is needed"
)]
pub(crate) async fn store_new_refund(
    ctx: &Context,
    tx: &mut dyn Tx,
    order: &Order,
    attempt: &PaymentAttempt,
    amount: Amount,
    reason: Option<String>,
    origin: RefundOrigin,
    now: Millis,
) -> Result<Refund, Error> {
    let payment_id = attempt.payment_id.clone().ok_or_else(|| {
        invalid(
            "payment",
            "Alipay's paymentId of the paid attempt is unknown",
        )
    })?;
    let refund_request_id = ctx.ids.refund_request_id(now)?;
    let mut request = RefundRequest::new(refund_request_id.clone(), payment_id, amount);
    if let Some(reason) = &reason {
        request = request.with_refund_reason(reason.clone());
    }
    if let Some(url) = &ctx.settings.refund_notify_url {
        request = request.with_refund_notify_url(url.clone());
    }
    let refund =
        Refund {
            id: RefundId::new(ctx.ids.local_id("re")?),
            order_id: order.id.clone(),
            refund_request_id,
            request_body: Body::new(serde_json::to_string(&request).map_err(|e| {
                invalid("refund", format!("the refund body does not serialise: {e}"))
            })?),
            amount,
            origin,
            state: RefundState::Requested,
            alipay_refund_id: None,
            result_code: None,
            sends: 0,
            not_sent: 0,
            maybe_sent: false,
            first_sent_at: None,
            inquiries: 0,
            version: 0,
            created_at: now,
            updated_at: now,
        };
    tx.insert_refund(&refund).await?;
    // A merchant's refund is sent at once by the request itself (`run_now`): its job is what
    // remains if that send never happens or never answers, so it falls due once the first call
    // has had its time, as a payment attempt's does (due now, a worker could take it first and
    // the request would answer `processing` for a refund about to succeed). A refund stored by a
    // job is sent by the job, now.
    let due = match origin {
        RefundOrigin::Merchant => now + ctx.schedule.reply_timeout_ms,
        RefundOrigin::CancelTooLate => now,
    };
    tx.schedule_job(JobKind::Refund(refund.id.clone()), due)
        .await?;
    Ok(refund)
}

/// Applies `event` to `refund` in `tx`, with the order's transition, the events and the items a
/// person must see. `Ok(None)`: a compare-and-set lost. The step is `None` when the event
/// contradicted the state (flagged).
pub(crate) async fn apply_refund(
    ctx: &Context,
    tx: &mut dyn Tx,
    mut refund: Refund,
    event: RefundEvent,
    facts: &RefundFacts,
    now: Millis,
    tweak: impl FnOnce(&mut Refund),
) -> Result<Option<(Refund, Option<Step<RefundState>>)>, Error> {
    let original = refund.clone();
    let subject = Subject::Refund(refund.id.clone());
    let step = match transition(refund.state, event) {
        Ok(step) => step,
        Err(e) => {
            raise(
                ctx,
                tx,
                Flag::new(
                    subject,
                    "contradiction",
                    format!(
                        "{e} (refundRequestId {}): Alipay's answers contradict each other",
                        refund.refund_request_id
                    ),
                    "nothing was changed",
                    &[OperatorAction::InquireNow, OperatorAction::Resolve],
                ),
                now,
            )
            .await?;
            return Ok(Some((refund, None)));
        }
    };
    refund.state = step.state();
    if let (Some(id), None) = (&facts.alipay_refund_id, &refund.alipay_refund_id) {
        refund.alipay_refund_id = Some(id.clone());
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
    if step.moved() && refund.state.is_final() {
        if !on_final(ctx, tx, &refund, now).await? {
            return Ok(None);
        }
        settle_attention(
            tx,
            &subject,
            format!("the refund settled: {}", refund.state.name()),
            now,
        )
        .await?;
    }
    // Raised after a move settled the refund's items, so it stays open.
    if let Some((code, why)) = &facts.flag {
        let tried = if refund.state.is_final() {
            "the refund settled with this answer"
        } else {
            "nothing was applied from that answer; the refund is inquired until it settles"
        };
        raise(
            ctx,
            tx,
            Flag::new(
                subject,
                code,
                format!("{why} (refundRequestId {})", refund.refund_request_id),
                tried,
                &[OperatorAction::InquireNow, OperatorAction::Resolve],
            ),
            now,
        )
        .await?;
    }
    Ok(Some((refund, Some(step))))
}

/// The order's transition and the events of a refund that just settled. False: a
/// compare-and-set lost.
async fn on_final(
    ctx: &Context,
    tx: &mut dyn Tx,
    refund: &Refund,
    now: Millis,
) -> Result<bool, Error> {
    let mut order = tx
        .order(&refund.order_id)
        .await?
        .ok_or_else(|| not_found("order", &refund.order_id))?;
    match refund.state {
        RefundState::Succeeded => {
            let refunded = order.refunded.saturating_add(refund.amount.minor_units());
            let full = refunded >= order.amount.minor_units();
            match order_lifecycle::transition(order.state, OrderEvent::Refunded { full }) {
                Ok(order_step) => {
                    order.state = order_step.state();
                    order.refunded = refunded;
                    order.updated_at = now;
                    if !tx.update_order(&order).await? {
                        return Ok(false);
                    }
                    let detail = Some(format!("order {}, {}", order.id, refund.amount));
                    tx.push_event(&Event::new(
                        EventKind::RefundSucceeded,
                        &refund.id,
                        detail,
                        now,
                    ))
                    .await?;
                }
                Err(e) => {
                    raise(
                        ctx,
                        tx,
                        Flag::new(
                            Subject::Order(order.id.clone()),
                            "contradiction",
                            format!(
                                "{e}: refund {} succeeded at Alipay",
                                refund.refund_request_id
                            ),
                            "the refund was recorded; the order was not changed",
                            &[OperatorAction::Resolve],
                        ),
                        now,
                    )
                    .await?;
                }
            }
        }
        RefundState::Failed => {
            tx.push_event(&Event::new(
                EventKind::RefundFailed,
                &refund.id,
                refund.result_code.clone(),
                now,
            ))
            .await?;
            if refund.origin == RefundOrigin::CancelTooLate {
                raise(
                    ctx,
                    tx,
                    Flag::new(
                        Subject::Order(order.id.clone()),
                        "refund_instead_failed",
                        format!(
                            "payment {} could not be cancelled in time and its refund {} failed ({}): the user is still debited",
                            order.id,
                            refund.refund_request_id,
                            refund.result_code.as_deref().unwrap_or("no code")
                        ),
                        "the cancel was retried until the window closed, then a full refund was sent",
                        &[OperatorAction::Refund, OperatorAction::Resolve],
                    ),
                    now,
                )
                .await?;
            }
        }
        RefundState::Requested
        | RefundState::Sent
        | RefundState::Unknown
        | RefundState::Inquiring => {}
    }
    Ok(true)
}

/// Checks that an answer is about `refund` (its `refundRequestId` and amount).
fn unbound(
    refund: &Refund,
    api: Api,
    refund_request_id: Option<&ams_protocol::RefundRequestId>,
    amount: Option<&Amount>,
) -> Option<String> {
    super::unbound(
        api,
        "refundRequestId",
        (&refund.refund_request_id, &refund.amount),
        (refund_request_id, amount),
    )
}

/// The event and facts of a `refund` reply (`NotSent` is left to the caller).
fn refund_outcome(refund: &Refund, reply: &Reply<RefundResponse>) -> (RefundEvent, RefundFacts) {
    if let Some(r) = reply.response()
        && let Some(why) = unbound(
            refund,
            Api::Refund,
            r.refund_request_id.as_ref(),
            r.refund_amount.as_ref(),
        )
    {
        return (
            RefundEvent::InquiryStarted,
            RefundFacts {
                flag: Some(("answer_mismatch", why)),
                ..RefundFacts::default()
            },
        );
    }
    match reply {
        Reply::Success(r) => (
            RefundEvent::Succeeded,
            RefundFacts {
                alipay_refund_id: r.refund_id.clone(),
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
                Decision::RetrySame => (RefundEvent::Unknown, facts),
                // REPEAT_REQ_INCONSISTENT: the first request with this id may have worked.
                Decision::Inquire | Decision::Cancel => (RefundEvent::InquiryStarted, facts),
                Decision::AskOperator => (
                    RefundEvent::Failed,
                    RefundFacts {
                        flag: Some((
                            "refund_refused",
                            format!("refund refused with {code}: {why}"),
                        )),
                        ..facts
                    },
                ),
                Decision::FailedForGood | Decision::Reauthorize | Decision::Succeeded => {
                    (RefundEvent::Failed, facts)
                }
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

/// What an `inquiryRefund` reply says: settled, not there (send again), or still unknown.
enum Inquired {
    Settled(RefundEvent, RefundFacts),
    Absent,
    Still(Option<(&'static str, String)>),
}

fn inquiry_outcome(refund: &Refund, reply: &Reply<InquiryRefundResponse>) -> Inquired {
    match reply {
        Reply::Success(r) => {
            if let Some(why) = unbound(
                refund,
                Api::InquiryRefund,
                r.refund_request_id.as_ref(),
                r.refund_amount.as_ref(),
            ) {
                return Inquired::Still(Some(("answer_mismatch", why)));
            }
            let facts = RefundFacts {
                alipay_refund_id: r.refund_id.clone(),
                ..RefundFacts::default()
            };
            match r.refund_status {
                Some(TransactionStatus::Success) => {
                    Inquired::Settled(RefundEvent::Succeeded, facts)
                }
                Some(TransactionStatus::Fail) => Inquired::Settled(
                    RefundEvent::Failed,
                    RefundFacts {
                        result_code: Some("FAIL".into()),
                        ..facts
                    },
                ),
                // PROCESSING, PENDING, anything new: not settled.
                _ => Inquired::Still(None),
            }
        }
        Reply::Failed(r) => match decide(Api::InquiryRefund, r.result.status(), r.result.code()) {
            (Decision::RetrySame, _) if r.result.code().as_str() == "ORDER_NOT_EXIST" => {
                Inquired::Absent
            }
            _ => Inquired::Still(None),
        },
        Reply::Unknown { .. } | Reply::NotSent { .. } => Inquired::Still(None),
    }
}

fn validate(command: &RefundCommand) -> Result<(), Error> {
    let key = &command.idempotency_key;
    if key.is_empty() || key.len() > 255 || key.chars().any(char::is_control) {
        return Err(invalid(
            "idempotency_key",
            "must have 1 to 255 printable characters",
        ));
    }
    if command.amount.is_zero() {
        return Err(invalid("amount", "must be more than zero"));
    }
    if command
        .reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > 256)
    {
        return Err(invalid("reason", "must have at most 256 characters"));
    }
    Ok(())
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
    /// [`Error::Invalid`], [`Error::NotFound`], [`Error::NotRefundable`] (not paid, or a cancel
    /// under way), [`Error::RefundTooLarge`] (nothing stored or sent), [`Error::IdempotencyConflict`],
    /// the random source, store failures.
    pub async fn refund(&self, command: RefundCommand) -> Result<RefundView, Error> {
        let (id, replayed) = self.record(&command, false).await?;
        if !replayed {
            run_now(&self.ctx, &id).await?;
        }
        let mut view = self.refund_view(&id).await?;
        view.replayed = replayed;
        Ok(view)
    }

    /// Records the refund as [`Refunds::refund`] does (the same checks, the same unit of work, the
    /// same idempotency by key) with its job due now, and sends nothing: a worker sends it. For a
    /// process that must not call Alipay itself (an operator's command beside a running server).
    ///
    /// # Errors
    /// As [`Refunds::refund`].
    pub async fn queue_refund(&self, command: RefundCommand) -> Result<RefundView, Error> {
        let (id, replayed) = self.record(&command, true).await?;
        let mut view = self.refund_view(&id).await?;
        view.replayed = replayed;
        Ok(view)
    }

    /// Stores the refund and its job, once per idempotency key: its id, and whether it was there
    /// already. `due_now`: the job is due at once (nobody sends it inline).
    async fn record(
        &self,
        command: &RefundCommand,
        due_now: bool,
    ) -> Result<(RefundId, bool), Error> {
        validate(command)?;
        let fp = fingerprint(
            "refund",
            &[
                command.order_id.as_str(),
                command.amount.currency.code(),
                &command.amount.minor_units().to_string(),
                command.reason.as_deref().unwrap_or(""),
            ],
        );
        let ctx = &self.ctx;
        unit_of_work!(ctx, &command.idempotency_key, |tx, now| {
            if let Some(id) = replayed(tx, &command.idempotency_key, &fp).await? {
                return Ok(Unit::Done((RefundId::new(id), true)));
            }
            let mut order = tx
                .order(&command.order_id)
                .await?
                .ok_or_else(|| not_found("payment", &command.order_id))?;
            let refusal = |reason: String| Error::NotRefundable {
                id: order.id.to_string(),
                reason,
            };
            if !order.state.is_paid() {
                return Err(refusal(format!("it is {}", order.state.name())));
            }
            if command.amount.currency != order.amount.currency {
                return Err(invalid(
                    "amount",
                    format!(
                        "the refund is in {}, the payment in {}",
                        command.amount.currency, order.amount.currency
                    ),
                ));
            }
            let latest = tx
                .attempts_of_order(&order.id)
                .await?
                .pop()
                .ok_or_else(|| refusal("it has no attempt".into()))?;
            match latest.state {
                AttemptState::Succeeded if latest.payment_id.is_some() => {}
                AttemptState::CancelRequested | AttemptState::Confirming => {
                    return Err(refusal(
                        "a cancel is under way: it returns the money, or a refund follows by itself"
                            .into(),
                    ));
                }
                _ => return Err(refusal("no attempt of it was paid".into())),
            }
            let taken: u64 = tx
                .refunds_of_order(&order.id)
                .await?
                .iter()
                .filter(|r| r.state != RefundState::Failed)
                .map(|r| r.amount.minor_units())
                .fold(0, u64::saturating_add);
            let available = order.amount.minor_units().saturating_sub(taken);
            if command.amount.minor_units() > available {
                return Err(Error::RefundTooLarge {
                    requested: command.amount,
                    available: Amount::new(order.amount.currency, available),
                });
            }
            // Touch the order so that two refunds of it, or a refund and a cancel, are never
            // stored side by side unseen.
            order.updated_at = now;
            if !tx.update_order(&order).await? {
                return Ok(Unit::Retry);
            }
            let refund = store_new_refund(
                ctx,
                tx,
                &order,
                &latest,
                command.amount,
                command.reason.clone(),
                RefundOrigin::Merchant,
                now,
            )
            .await?;
            if due_now {
                // Earlier than the merchant's grace (a job is only ever moved earlier).
                tx.schedule_job(JobKind::Refund(refund.id.clone()), now)
                    .await?;
            }
            if !remember(tx, &command.idempotency_key, &fp, refund.id.as_str(), now).await? {
                return Ok(Unit::Retry);
            }
            Ok(Unit::Commit((refund.id, false)))
        })
    }

    /// A refund as stored, with its order's state.
    ///
    /// # Errors
    /// [`Error::NotFound`] and store failures.
    pub async fn refund_view(&self, id: &RefundId) -> Result<RefundView, Error> {
        let mut tx = self.ctx.store.begin().await?;
        let refund = tx
            .refund(id)
            .await?
            .ok_or_else(|| not_found("refund", id))?;
        let order = tx
            .order(&refund.order_id)
            .await?
            .ok_or_else(|| not_found("payment", &refund.order_id))?;
        Ok(RefundView {
            refund,
            order_state: order.state,
            replayed: false,
        })
    }
}

impl Refunds {
    /// The refunds of a payment, oldest first, with its order's state.
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no such payment; store failures.
    pub async fn of_payment(&self, order_id: &OrderId) -> Result<Vec<RefundView>, Error> {
        let mut tx = self.ctx.store.begin().await?;
        let order = tx
            .order(order_id)
            .await?
            .ok_or_else(|| not_found("payment", order_id))?;
        Ok(tx
            .refunds_of_order(order_id)
            .await?
            .into_iter()
            .map(|refund| RefundView {
                refund,
                order_state: order.state,
                replayed: false,
            })
            .collect())
    }
}

/// Runs the job of refund `id` now, under a lease of its own (false: a worker has it).
pub(crate) async fn run_now(ctx: &Context, id: &RefundId) -> Result<bool, Error> {
    let Some(lease) = Lease::claim(ctx, &JobKind::Refund(id.clone())).await? else {
        return Ok(false);
    };
    step(ctx, &lease, id).await?;
    Ok(true)
}

async fn read(ctx: &Context, id: &RefundId) -> Result<Refund, Error> {
    let mut tx = ctx.store.begin().await?;
    tx.refund(id).await?.ok_or_else(|| not_found("refund", id))
}

/// Runs the refund job of `id` once: send, send again, or inquire, by the refund's state.
pub(crate) async fn step(ctx: &Context, lease: &Lease, id: &RefundId) -> Result<(), Error> {
    let refund = read(ctx, id).await?;
    let first = refund.first_sent_at.unwrap_or(refund.created_at);
    match refund.state {
        RefundState::Requested => send(ctx, lease, id).await,
        // Sent: the answer never came back (the process stopped mid-call): as unknown.
        RefundState::Sent | RefundState::Unknown
            if ctx.now() < first + ctx.schedule.refund_retry_for_ms =>
        {
            send(ctx, lease, id).await
        }
        RefundState::Sent | RefundState::Unknown | RefundState::Inquiring => {
            inquire(ctx, lease, id).await
        }
        RefundState::Succeeded | RefundState::Failed => lease.finish_alone(ctx, None).await,
    }
}

/// When the job runs next for a refund left in `refund.state`.
fn next_due(ctx: &Context, refund: &Refund, now: Millis) -> Option<Millis> {
    let schedule = &ctx.schedule;
    let first = refund.first_sent_at.unwrap_or(refund.created_at);
    match refund.state {
        RefundState::Requested => Some(now + schedule.resend_after_ms),
        RefundState::Sent | RefundState::Unknown => Some(
            now + ctx
                .ids
                .jitter(schedule.refund_retry_min_ms, schedule.refund_retry_max_ms),
        ),
        RefundState::Inquiring => Some(
            now + backoff(
                first,
                now,
                schedule.refund_inquiry_every_ms,
                schedule.refund_inquiry_max_ms,
            ),
        ),
        RefundState::Succeeded | RefundState::Failed => None,
    }
}

/// Sends (or sends again) the stored bytes: `Sent` is committed first.
async fn send(ctx: &Context, lease: &Lease, id: &RefundId) -> Result<(), Error> {
    if !lease.renew_for_call(ctx).await? {
        return Ok(());
    }
    let intent = unit_of_work!(ctx, id, |tx, now| {
        let refund = tx
            .refund(id)
            .await?
            .ok_or_else(|| not_found("refund", id))?;
        if refund.state.is_final() {
            lease.settle(tx, None).await?;
            return Ok(Unit::Commit(None));
        }
        let was_maybe_sent = refund.maybe_sent;
        let body = refund.request_body.clone();
        let refund = if refund.state == RefundState::Sent {
            // Sent before, and its answer never came back: it may have left.
            let Some((refund, _)) = apply_refund(
                ctx,
                tx,
                refund,
                RefundEvent::Unknown,
                &RefundFacts::default(),
                now,
                |_| {},
            )
            .await?
            else {
                return Ok(Unit::Retry);
            };
            refund
        } else {
            refund
        };
        match apply_refund(
            ctx,
            tx,
            refund,
            RefundEvent::Send,
            &RefundFacts::default(),
            now,
            |r| {
                r.maybe_sent = true;
                r.sends += 1;
                r.first_sent_at.get_or_insert(now);
            },
        )
        .await?
        {
            Some(_) => Ok(Unit::Commit(Some((body, was_maybe_sent)))),
            None => Ok(Unit::Retry),
        }
    })?;
    let Some((body, was_maybe_sent)) = intent else {
        return Ok(());
    };
    let reply = ctx.gateway.refund(body.expose()).await;
    let schedule = &ctx.schedule;
    unit_of_work!(ctx, id, |tx, now| {
        let refund = tx
            .refund(id)
            .await?
            .ok_or_else(|| not_found("refund", id))?;
        let (mut event, facts) = refund_outcome(&refund, &reply);
        let mut facts = facts;
        let mut not_sent = 0;
        if event == RefundEvent::NotSent {
            if was_maybe_sent || refund.state != RefundState::Sent {
                event = RefundEvent::Unknown;
            } else {
                not_sent = refund.not_sent + 1;
                if not_sent >= schedule.refund_max_not_sent {
                    event = RefundEvent::Failed;
                    let detail = match &reply {
                        Reply::NotSent { detail } => detail.clone(),
                        _ => String::new(),
                    };
                    facts = RefundFacts {
                        result_code: Some("NOT_SENT".into()),
                        flag: Some((
                            "refund_not_sent",
                            format!(
                                "the refund could not be sent {not_sent} times in a row ({detail}); it failed without reaching Alipay"
                            ),
                        )),
                        ..RefundFacts::default()
                    };
                }
            }
        }
        let Some((refund, _)) = apply_refund(ctx, tx, refund, event, &facts, now, |r| {
            r.not_sent = not_sent;
            if event == RefundEvent::NotSent {
                r.maybe_sent = false;
            }
        })
        .await?
        else {
            return Ok(Unit::Retry);
        };
        // Past the burst, an unknown refund is inquired.
        let first = refund.first_sent_at.unwrap_or(now);
        let refund = if refund.state == RefundState::Unknown
            && now + schedule.refund_retry_min_ms >= first + schedule.refund_retry_for_ms
        {
            let Some((refund, _)) = apply_refund(
                ctx,
                tx,
                refund,
                RefundEvent::InquiryStarted,
                &RefundFacts::default(),
                now,
                |_| {},
            )
            .await?
            else {
                return Ok(Unit::Retry);
            };
            refund
        } else {
            refund
        };
        lease.settle(tx, next_due(ctx, &refund, now)).await?;
        Ok(Unit::Commit(()))
    })
}

/// `inquiryRefund` once: settled → done; Alipay has no such refund → the same bytes again; still
/// unknown → again after a growing wait, and a person is told after a while.
async fn inquire(ctx: &Context, lease: &Lease, id: &RefundId) -> Result<(), Error> {
    if !lease.renew_for_call(ctx).await? {
        return Ok(());
    }
    let read = read(ctx, id).await?;
    let reply = ctx
        .gateway
        .inquiry_refund(&InquiryRefundRequest::by_refund_request_id(
            read.refund_request_id.clone(),
        ))
        .await;
    let outcome = inquiry_outcome(&read, &reply);
    let schedule = &ctx.schedule;
    let resend = unit_of_work!(ctx, id, |tx, now| {
        let refund = tx
            .refund(id)
            .await?
            .ok_or_else(|| not_found("refund", id))?;
        if refund.state.is_final() {
            lease.settle(tx, None).await?;
            return Ok(Unit::Commit(false));
        }
        let (event, facts) = match &outcome {
            Inquired::Settled(event, facts) => (*event, facts.clone()),
            Inquired::Absent => (RefundEvent::InquiryStarted, RefundFacts::default()),
            Inquired::Still(flag) => (
                RefundEvent::InquiryStarted,
                RefundFacts {
                    flag: flag.clone(),
                    ..RefundFacts::default()
                },
            ),
        };
        let Some((refund, _)) = apply_refund(ctx, tx, refund, event, &facts, now, |r| {
            r.inquiries += 1;
        })
        .await?
        else {
            return Ok(Unit::Retry);
        };
        if matches!(outcome, Inquired::Absent) && !refund.state.is_final() {
            // Alipay has no such refund: the same request again, now.
            return Ok(Unit::Commit(true));
        }
        let first = refund.first_sent_at.unwrap_or(refund.created_at);
        if !refund.state.is_final() && now - first >= schedule.attention_after_ms {
            raise(
                ctx,
                tx,
                Flag::new(
                    Subject::Refund(refund.id.clone()),
                    "refund_unresolved",
                    format!(
                        "refund {} has not settled since {} ms",
                        refund.refund_request_id,
                        now - first
                    ),
                    format!(
                        "{} sends and {} inquiries so far; inquired again with growing waits",
                        refund.sends, refund.inquiries
                    ),
                    &[OperatorAction::InquireNow, OperatorAction::Resolve],
                ),
                now,
            )
            .await?;
        }
        lease.settle(tx, next_due(ctx, &refund, now)).await?;
        Ok(Unit::Commit(false))
    })?;
    if resend {
        send(ctx, lease, id).await?;
    }
    Ok(())
}
