//! The payment job: one per attempt, it moves the attempt on by its state, one call to Alipay per
//! run, and reschedules itself from the state it leaves.
//!
//! | state | what a run does | next |
//! |---|---|---|
//! | `Created` | commits `Sent`, then `pay` with the stored bytes | by the answer |
//! | `Sent`, `Unknown`, `Inquiring` | `inquiryPayment` | every 3 s; after the last, cancel |
//! | `CancelRequested` | `cancel` (same `paymentRequestId`) | 5–10 s for 60 s, then growing waits until the window closes; then confirm |
//! | `Confirming` | `inquiryPayment` | growing waits until Alipay says it is final |
//! | final | nothing | done |
//!
//! A person is told (an attention item) when a cancel stays unanswered after its first burst, and
//! when a payment is still not final long after it started; the job goes on either way.

use ams_protocol::{CancelRequest, InquiryPaymentRequest, InquiryPaymentResponse};

use super::apply::{
    AttemptFacts, CancelOutcome, apply_attempt, cancel_outcome, inquiry_outcome, pay_outcome,
};
use super::chargeable;
use crate::lifecycle::attempt::{AttemptEvent, AttemptState};
use crate::model::{AttemptId, Millis, OperatorAction, PaymentAttempt, Subject};
use crate::ports::{Reply, Tx};
use crate::services::lease::Lease;
use crate::services::{Context, Error, Flag, Unit, backoff, cancel_deadline, not_found, raise};

/// Runs the payment job of attempt `id` once.
pub(crate) async fn step(ctx: &Context, lease: &Lease, id: &AttemptId) -> Result<(), Error> {
    let attempt = read(ctx, id).await?;
    match attempt.state {
        AttemptState::Created => send(ctx, lease, id).await,
        AttemptState::Sent | AttemptState::Unknown | AttemptState::Inquiring => {
            inquire(ctx, lease, &attempt).await
        }
        AttemptState::CancelRequested => cancel(ctx, lease, &attempt).await,
        AttemptState::Confirming => inquire(ctx, lease, &attempt).await,
        AttemptState::Succeeded | AttemptState::Failed | AttemptState::Cancelled => {
            lease.finish_alone(ctx, None).await
        }
    }
}

async fn read(ctx: &Context, id: &AttemptId) -> Result<PaymentAttempt, Error> {
    let mut tx = ctx.store.begin().await?;
    tx.attempt(id)
        .await?
        .ok_or_else(|| not_found("payment attempt", id))
}

async fn reread(tx: &mut dyn Tx, id: &AttemptId) -> Result<PaymentAttempt, Error> {
    tx.attempt(id)
        .await?
        .ok_or_else(|| not_found("payment attempt", id))
}

/// When the job should run next for an attempt in `state` that this run did not otherwise plan
/// for (someone else moved it meanwhile): at once for the states with work, never for final ones.
fn due_for(state: AttemptState, now: Millis) -> Option<Millis> {
    (!state.is_final()).then_some(now)
}

/// `Created`: the intent (`Sent`) is committed before `pay` leaves, with the stored body; an
/// attempt that may not be charged any more, or would reach Alipay too close to its expiry, is
/// cancelled here: it never left.
async fn send(ctx: &Context, lease: &Lease, id: &AttemptId) -> Result<(), Error> {
    if !lease.renew_for_call(ctx).await? {
        return Ok(());
    }
    let body = unit_of_work!(ctx, id, |tx, now| {
        let attempt = reread(tx, id).await?;
        if attempt.state != AttemptState::Created {
            lease.settle(tx, due_for(attempt.state, now)).await?;
            return Ok(Unit::Commit(None));
        }
        let order = tx
            .order(&attempt.order_id)
            .await?
            .ok_or_else(|| not_found("order", &attempt.order_id))?;
        let auth = tx.authorization(&order.authorization_id).await?;
        let refusal = match &auth {
            None => Some("AUTHORIZATION_NOT_FOUND"),
            Some(auth) => chargeable(auth, now)
                .err()
                .map(|_| "AUTHORIZATION_NOT_ACTIVE"),
        }
        .or_else(|| {
            (now + ctx.schedule.send_margin_ms >= attempt.expires_at)
                .then_some("EXPIRED_BEFORE_SENT")
        });
        if let Some(code) = refusal {
            // Never sent: cancelled here, nothing charged.
            let applied = apply_attempt(
                ctx,
                tx,
                attempt,
                AttemptEvent::CancelRequested,
                &AttemptFacts::code(code),
                now,
                |_| {},
            )
            .await?;
            if applied.is_none() {
                return Ok(Unit::Retry);
            }
            lease.settle(tx, None).await?;
            return Ok(Unit::Commit(None));
        }
        let body = attempt.request_body.clone();
        match apply_attempt(
            ctx,
            tx,
            attempt,
            AttemptEvent::Send,
            &AttemptFacts::default(),
            now,
            |_| {},
        )
        .await?
        {
            Some(_) => Ok(Unit::Commit(Some(body))),
            None => Ok(Unit::Retry),
        }
    })?;
    let Some(body) = body else {
        return Ok(());
    };
    let reply = ctx.gateway.pay(body.expose()).await;
    let schedule = &ctx.schedule;
    unit_of_work!(ctx, id, |tx, now| {
        let attempt = reread(tx, id).await?;
        let (event, facts) = pay_outcome(&attempt, &reply);
        // "Not sent" only means something for the send in flight; otherwise it adds nothing.
        let event = if event == AttemptEvent::NotSent && attempt.state != AttemptState::Sent {
            AttemptEvent::Unknown
        } else {
            event
        };
        let Some(applied) = apply_attempt(ctx, tx, attempt, event, &facts, now, |_| {}).await?
        else {
            return Ok(Unit::Retry);
        };
        let next = match applied.attempt.state {
            AttemptState::Created => Some(now + schedule.resend_after_ms),
            AttemptState::Sent | AttemptState::Unknown | AttemptState::Inquiring => {
                Some(now + schedule.first_inquiry_after_ms)
            }
            state => due_for(state, now),
        };
        lease.settle(tx, next).await?;
        Ok(Unit::Commit(()))
    })
}

/// `Sent`, `Unknown`, `Inquiring`: one `inquiryPayment`; after the last one, cancel.
/// `Confirming`: one `inquiryPayment`, then again after a growing wait, until final.
async fn inquire(ctx: &Context, lease: &Lease, read: &PaymentAttempt) -> Result<(), Error> {
    if !lease.renew_for_call(ctx).await? {
        return Ok(());
    }
    let reply = ctx
        .gateway
        .inquiry_payment(&InquiryPaymentRequest::by_payment_request_id(
            read.payment_request_id.clone(),
        ))
        .await;
    let schedule = &ctx.schedule;
    unit_of_work!(ctx, &read.id, |tx, now| {
        let attempt = reread(tx, &read.id).await?;
        let (event, facts) = inquiry_outcome(ctx, &attempt, &reply, now);
        // Every inquiry of an open attempt counts, the one that settles it too.
        let was_open = !attempt.state.is_final();
        let Some(applied) = apply_attempt(ctx, tx, attempt, event, &facts, now, |a| {
            if was_open {
                a.inquiries += 1;
            }
        })
        .await?
        else {
            return Ok(Unit::Retry);
        };
        let attempt = applied.attempt;
        let next = match attempt.state {
            // PENDING is not unknown: the user paid and Alipay has the final result to give. It is
            // never cancelled for the inquiries running out (that would undo a completed sale);
            // it is inquired with growing waits, and a person is told when it lasts.
            AttemptState::Sent | AttemptState::Unknown | AttemptState::Inquiring
                if attempt.inquiries >= schedule.max_inquiries && pending(&reply) =>
            {
                if now - attempt.created_at >= schedule.attention_after_ms {
                    raise(
                        ctx,
                        tx,
                        Flag::new(
                            Subject::Order(attempt.order_id.clone()),
                            "payment_pending",
                            format!(
                                "Alipay says payment {} is paid and waiting for its final result, for {} ms now",
                                attempt.payment_request_id,
                                now - attempt.created_at
                            ),
                            format!(
                                "{} inquiries so far; inquired again with growing waits until Alipay settles it",
                                attempt.inquiries
                            ),
                            &[OperatorAction::InquireNow, OperatorAction::Resolve],
                        ),
                        now,
                    )
                    .await?;
                }
                Some(
                    now + backoff(
                        attempt.created_at,
                        now,
                        schedule.confirm_every_min_ms,
                        schedule.confirm_every_max_ms,
                    ),
                )
            }
            AttemptState::Sent | AttemptState::Unknown | AttemptState::Inquiring
                if attempt.inquiries >= schedule.max_inquiries =>
            {
                // Seed 004: still unknown after the last inquiry → cancel.
                let cancelling = apply_attempt(
                    ctx,
                    tx,
                    attempt,
                    AttemptEvent::CancelRequested,
                    &AttemptFacts::code("INQUIRIES_EXHAUSTED"),
                    now,
                    |a| {
                        a.cancel_reason = Some(crate::model::CancelReason::Unresolved);
                        a.cancel_started_at.get_or_insert(now);
                    },
                )
                .await?;
                if cancelling.is_none() {
                    return Ok(Unit::Retry);
                }
                Some(now)
            }
            AttemptState::Sent | AttemptState::Unknown | AttemptState::Inquiring => {
                Some(now + schedule.inquiry_every_ms)
            }
            AttemptState::Confirming => {
                let since = attempt.cancel_started_at.unwrap_or(attempt.created_at);
                if now - since >= schedule.attention_after_ms {
                    raise(
                        ctx,
                        tx,
                        Flag::new(
                            Subject::Order(attempt.order_id.clone()),
                            "payment_unconfirmed",
                            format!(
                                "payment {} could not be cancelled and Alipay has not said it is final",
                                attempt.payment_request_id
                            ),
                            format!(
                                "{} inquiries so far; inquired again with growing waits until Alipay settles it (a paid payment is then refunded)",
                                attempt.inquiries
                            ),
                            &[OperatorAction::InquireNow, OperatorAction::Resolve],
                        ),
                        now,
                    )
                    .await?;
                }
                Some(
                    now + backoff(
                        since,
                        now,
                        schedule.confirm_every_min_ms,
                        schedule.confirm_every_max_ms,
                    ),
                )
            }
            state => due_for(state, now),
        };
        lease.settle(tx, next).await?;
        Ok(Unit::Commit(()))
    })
}

/// Whether an inquiry answered that the payment is `PENDING` (paid, waiting for its final result).
fn pending(reply: &Reply<InquiryPaymentResponse>) -> bool {
    matches!(
        reply,
        Reply::Success(r) if r.payment_status == Some(ams_protocol::PaymentStatus::Pending)
    )
}

/// `CancelRequested`: one `cancel`. Cancelled → done; no answer → again (5–10 s for 60 s, then
/// growing waits) while the window is open; refused, or the window closed → confirm by inquiry.
async fn cancel(ctx: &Context, lease: &Lease, read: &PaymentAttempt) -> Result<(), Error> {
    let deadline = cancel_deadline(read.created_at);
    let outcome = if ctx.now() > deadline {
        CancelOutcome::Impossible {
            code: "CANCEL_WINDOW_EXCEED".into(),
            flag: None,
        }
    } else {
        if !lease.renew_for_call(ctx).await? {
            return Ok(());
        }
        let request = CancelRequest::by_payment_request_id(read.payment_request_id.clone());
        let reply = ctx.gateway.cancel(&request).await;
        cancel_outcome(ctx, read, &reply, ctx.now())
    };
    let schedule = &ctx.schedule;
    unit_of_work!(ctx, &read.id, |tx, now| {
        let attempt = reread(tx, &read.id).await?;
        if attempt.state != AttemptState::CancelRequested {
            lease.settle(tx, due_for(attempt.state, now)).await?;
            return Ok(Unit::Commit(()));
        }
        let subject = Subject::Order(attempt.order_id.clone());
        let (event, facts, next) = match &outcome {
            CancelOutcome::Cancelled => (
                AttemptEvent::Cancelled,
                AttemptFacts::code("CANCELLED"),
                None,
            ),
            CancelOutcome::Impossible { code, flag } => {
                if let Some(why) = flag {
                    raise(
                        ctx,
                        tx,
                        Flag::new(
                            subject.clone(),
                            "cancel_refused",
                            why.clone(),
                            "the payment is inquired until final; a paid one is refunded",
                            &[
                                OperatorAction::RetryCancel,
                                OperatorAction::InquireNow,
                                OperatorAction::Resolve,
                            ],
                        ),
                        now,
                    )
                    .await?;
                }
                (
                    AttemptEvent::CancelImpossible,
                    AttemptFacts::code(code.clone()),
                    Some(now),
                )
            }
            CancelOutcome::Retry { detail, flag } => {
                if let Some(why) = flag {
                    raise(
                        ctx,
                        tx,
                        Flag::new(
                            subject.clone(),
                            "answer_mismatch",
                            why.clone(),
                            "the cancel is sent again",
                            &[OperatorAction::InquireNow, OperatorAction::Resolve],
                        ),
                        now,
                    )
                    .await?;
                }
                let started = attempt.cancel_started_at.unwrap_or(now);
                let wait = if now < started + schedule.cancel_retry_for_ms {
                    ctx.ids
                        .jitter(schedule.cancel_retry_min_ms, schedule.cancel_retry_max_ms)
                } else {
                    raise(
                        ctx,
                        tx,
                        Flag::new(
                            subject.clone(),
                            "cancel_unanswered",
                            format!(
                                "the cancel of payment {} has had no answer since {} ms ({detail})",
                                attempt.payment_request_id,
                                now - started
                            ),
                            format!(
                                "cancel every 5–10 s for {} s, then with growing waits until the window closes; then the payment is inquired until final and refunded if paid",
                                schedule.cancel_retry_for_ms / 1000
                            ),
                            &[
                                OperatorAction::RetryCancel,
                                OperatorAction::InquireNow,
                                OperatorAction::Resolve,
                            ],
                        ),
                        now,
                    )
                    .await?;
                    backoff(
                        started,
                        now,
                        schedule.cancel_retry_max_ms,
                        schedule.cancel_backoff_max_ms,
                    )
                };
                // Never wait past the window: then the payment is confirmed instead.
                let next = (now + wait).min(deadline + 1);
                lease.settle(tx, Some(next)).await?;
                return Ok(Unit::Commit(()));
            }
        };
        match apply_attempt(ctx, tx, attempt, event, &facts, now, |_| {}).await? {
            Some(_) => {
                lease.settle(tx, next).await?;
                Ok(Unit::Commit(()))
            }
            None => Ok(Unit::Retry),
        }
    })
}
