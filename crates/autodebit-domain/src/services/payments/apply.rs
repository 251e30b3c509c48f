//! What an answer, an inquiry or a notification says about a payment attempt, and how it is
//! applied: the attempt's transition, the order's, the events, the token a refusal rejects, the
//! items a person must see, and the refund that returns a payment found paid after a cancel was
//! wanted.
//!
//! Every answer is bound to its request first: a verified answer that names another
//! `paymentRequestId`, or another amount or currency, is not applied (it is flagged, and the
//! attempt stays unknown until an inquiry settles it).

use ams_protocol::{
    Api, CancelResponse, InquiryPaymentResponse, PayResponse, PaymentStatus, ResultCode,
    ResultStatus,
};

use crate::decision::{Decision, decide, decide_payment_status};
use crate::lifecycle::Note;
use crate::lifecycle::Step;
use crate::lifecycle::attempt::{self, AttemptEvent, AttemptState};
use crate::lifecycle::authorization::{self as auth_lifecycle, AuthorizationEvent};
use crate::lifecycle::order::{self as order_lifecycle, OrderEvent};
use crate::model::{
    AuthorizationId, Event, EventKind, JobKind, Millis, OperatorAction, PaymentAttempt, PaymentId,
    RefundOrigin, Subject, WalletAction,
};
use crate::ports::{Reply, Tx};
use crate::services::refunds::store_new_refund;
use crate::services::{Context, Error, Flag, not_found, raise, settle_attention};

/// What an answer, an inquiry or a notification says about a payment, besides the event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct AttemptFacts {
    pub(crate) payment_id: Option<PaymentId>,
    pub(crate) result_code: Option<String>,
    /// Something a person must see (raised when the event is applied).
    pub(crate) flag: Option<(&'static str, String)>,
    /// Alipay refused the token: the authorization that issued it becomes invalid.
    pub(crate) token_rejected: bool,
    /// The wallet needs the user (`pay` answered `PAYMENT_IN_PROCESS` with where to send them).
    pub(crate) wallet_action: Option<WalletAction>,
}

impl AttemptFacts {
    pub(crate) fn code(code: impl Into<String>) -> Self {
        Self {
            result_code: Some(code.into()),
            ..Self::default()
        }
    }

    fn flagged(code: &'static str, why: String) -> Self {
        Self {
            flag: Some((code, why)),
            ..Self::default()
        }
    }
}

/// Checks that an answer is about `attempt` (its `paymentRequestId` and amount).
fn unbound(
    attempt: &PaymentAttempt,
    api: Api,
    payment_request_id: Option<&ams_protocol::PaymentRequestId>,
    amount: Option<&ams_protocol::Amount>,
) -> Option<String> {
    crate::services::unbound(
        api,
        "paymentRequestId",
        (&attempt.payment_request_id, &attempt.amount),
        (payment_request_id, amount),
    )
}

/// The facts of a final failure with `code` (a `pay` F, an inquiry `FAIL`, a failure notification).
pub(crate) fn failure_facts(status: &ResultStatus, code: &ResultCode) -> AttemptFacts {
    let (decision, why) = decide(Api::Pay, status, code);
    let mut facts = AttemptFacts::code(code.as_str());
    match decision {
        Decision::Reauthorize => facts.token_rejected = true,
        Decision::AskOperator => {
            facts.flag = Some((
                "pay_refused",
                format!("pay refused with {}: {why}", code.as_str()),
            ));
        }
        Decision::Succeeded
        | Decision::FailedForGood
        | Decision::RetrySame
        | Decision::Inquire
        | Decision::Cancel => {}
    }
    facts
}

/// The event and facts of a `pay` reply.
pub(crate) fn pay_outcome(
    attempt: &PaymentAttempt,
    reply: &Reply<PayResponse>,
) -> (AttemptEvent, AttemptFacts) {
    if let Some(r) = reply.response()
        && let Some(why) = unbound(
            attempt,
            Api::Pay,
            r.payment_request_id.as_ref(),
            r.payment_amount.as_ref(),
        )
    {
        return (
            AttemptEvent::Unknown,
            AttemptFacts::flagged("answer_mismatch", why),
        );
    }
    match reply {
        // A success at the time of the pay: a cancel sent since may have reversed it.
        Reply::Success(r) => (
            AttemptEvent::SuccessReported,
            AttemptFacts {
                payment_id: r.payment_id.clone(),
                ..AttemptFacts::default()
            },
        ),
        Reply::Failed(r) => match decide(Api::Pay, r.result.status(), r.result.code()).0 {
            Decision::Reauthorize
            | Decision::AskOperator
            | Decision::FailedForGood
            | Decision::Succeeded => (
                AttemptEvent::Failed,
                failure_facts(r.result.status(), r.result.code()),
            ),
            // REPEAT_REQ_INCONSISTENT and anything else that means "the first request with this id
            // may have worked": never failed, inquire.
            Decision::RetrySame | Decision::Inquire | Decision::Cancel => (
                AttemptEvent::Unknown,
                AttemptFacts::code(r.result.code().as_str()),
            ),
        },
        Reply::Unknown { response, .. } => (
            AttemptEvent::Unknown,
            AttemptFacts {
                result_code: response
                    .as_ref()
                    .map(|r| r.result.code().as_str().to_owned()),
                // Only an answer that says the payment is in process sends the user anywhere.
                wallet_action: response
                    .as_ref()
                    .filter(|r| *r.result.code() == ResultCode::PaymentInProcess)
                    .and_then(WalletAction::of_pay),
                ..AttemptFacts::default()
            },
        ),
        Reply::NotSent { .. } => (AttemptEvent::NotSent, AttemptFacts::default()),
    }
}

/// Whether "no such payment" can be believed for `attempt` at `now`: its expiry and the margin
/// have passed, so a `pay` still in transit can no longer debit.
pub(crate) fn past_expiry(ctx: &Context, attempt: &PaymentAttempt, now: Millis) -> bool {
    now > attempt.expires_at + ctx.schedule.expiry_margin_ms
}

/// The event and facts of an `inquiryPayment` reply.
pub(crate) fn inquiry_outcome(
    ctx: &Context,
    attempt: &PaymentAttempt,
    reply: &Reply<InquiryPaymentResponse>,
    now: Millis,
) -> (AttemptEvent, AttemptFacts) {
    let r = match reply {
        Reply::Success(r) => r,
        Reply::Failed(r) if r.result.code().as_str() == "ORDER_NOT_EXIST" => {
            return if past_expiry(ctx, attempt, now) {
                (
                    AttemptEvent::ExpiredUnseen,
                    AttemptFacts::code("NOT_FOUND_AFTER_EXPIRY"),
                )
            } else {
                // Not there yet: the pay may still be in transit.
                (AttemptEvent::StillUnknown, AttemptFacts::default())
            };
        }
        // Another F, U, no answer, not sent: still unknown.
        Reply::Failed(_) | Reply::Unknown { .. } | Reply::NotSent { .. } => {
            return (AttemptEvent::StillUnknown, AttemptFacts::default());
        }
    };
    if let Some(why) = unbound(
        attempt,
        Api::InquiryPayment,
        r.payment_request_id.as_ref(),
        r.payment_amount.as_ref(),
    ) {
        return (
            AttemptEvent::StillUnknown,
            AttemptFacts::flagged("answer_mismatch", why),
        );
    }
    let Some(status) = &r.payment_status else {
        return (AttemptEvent::StillUnknown, AttemptFacts::default());
    };
    let payment_id = r.payment_id.clone();
    match decide_payment_status(status, 1) {
        Decision::Succeeded if matches!(status, PaymentStatus::Cancelled) => (
            AttemptEvent::Cancelled,
            AttemptFacts {
                payment_id,
                ..AttemptFacts::code("CANCELLED")
            },
        ),
        Decision::Succeeded => (
            AttemptEvent::Succeeded,
            AttemptFacts {
                payment_id,
                ..AttemptFacts::default()
            },
        ),
        Decision::FailedForGood => {
            let code = r
                .payment_result_code
                .clone()
                .unwrap_or_else(|| ResultCode::from("FAIL"));
            (
                AttemptEvent::Failed,
                AttemptFacts {
                    payment_id,
                    ..failure_facts(&ResultStatus::F, &code)
                },
            )
        }
        // Not final (PROCESSING, PENDING): Alipay's paymentId is kept all the same, so a later
        // debit and credit can be matched to it.
        Decision::Inquire
        | Decision::Cancel
        | Decision::RetrySame
        | Decision::Reauthorize
        | Decision::AskOperator => (
            AttemptEvent::StillUnknown,
            AttemptFacts {
                payment_id,
                ..AttemptFacts::default()
            },
        ),
    }
}

/// What a `cancel` reply means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CancelOutcome {
    /// Cancelled (nothing charged, or the charge returned).
    Cancelled,
    /// The cancel cannot be done: confirm the payment by inquiry. With a flag for a person when
    /// Alipay refused it for a reason other than the window.
    Impossible { code: String, flag: Option<String> },
    /// Not settled: send the cancel again.
    Retry {
        detail: String,
        flag: Option<String>,
    },
}

pub(crate) fn cancel_outcome(
    ctx: &Context,
    attempt: &PaymentAttempt,
    reply: &Reply<CancelResponse>,
    now: Millis,
) -> CancelOutcome {
    match reply {
        Reply::Success(r) => {
            match unbound(attempt, Api::Cancel, r.payment_request_id.as_ref(), None) {
                Some(why) => CancelOutcome::Retry {
                    detail: why.clone(),
                    flag: Some(why),
                },
                None => CancelOutcome::Cancelled,
            }
        }
        Reply::Failed(r) => {
            let code = r.result.code().as_str().to_owned();
            if code == "ORDER_NOT_EXIST" {
                // The cancel may have overtaken the pay: until the pay's expiry has passed, it
                // proves nothing. After it, confirm by inquiry.
                return if past_expiry(ctx, attempt, now) {
                    CancelOutcome::Impossible { code, flag: None }
                } else {
                    CancelOutcome::Retry {
                        detail: "ORDER_NOT_EXIST before the payment's expiry".into(),
                        flag: None,
                    }
                };
            }
            match decide(Api::Cancel, r.result.status(), r.result.code()) {
                (Decision::RetrySame, _) => CancelOutcome::Retry {
                    detail: code,
                    flag: None,
                },
                (Decision::Inquire | Decision::Succeeded, _) => {
                    CancelOutcome::Impossible { code, flag: None }
                }
                (
                    Decision::AskOperator
                    | Decision::FailedForGood
                    | Decision::Reauthorize
                    | Decision::Cancel,
                    why,
                ) => CancelOutcome::Impossible {
                    flag: Some(format!("the cancel was refused with {code}: {why}")),
                    code,
                },
            }
        }
        Reply::Unknown { detail, .. } | Reply::NotSent { detail } => CancelOutcome::Retry {
            detail: detail.clone(),
            flag: None,
        },
    }
}

/// An attempt after an event was applied in a unit of work.
pub(crate) struct Applied {
    pub(crate) attempt: PaymentAttempt,
    /// `None` when the event contradicted the state (flagged, nothing changed).
    pub(crate) step: Option<Step<AttemptState>>,
}

fn order_subject(attempt: &PaymentAttempt) -> Subject {
    Subject::Order(attempt.order_id.clone())
}

/// Applies `event` to `attempt` inside `tx`, with what follows from it: the order's transition,
/// the outbox events, a rejected token, attention items raised or settled, and a refund when a
/// payment that was to be cancelled turns out paid. `tweak` adjusts the attempt after the
/// transition (counters, timestamps). `Ok(None)`: a compare-and-set lost (drop `tx`, read again,
/// re-apply).
pub(crate) async fn apply_attempt(
    ctx: &Context,
    tx: &mut dyn Tx,
    mut attempt: PaymentAttempt,
    event: AttemptEvent,
    facts: &AttemptFacts,
    now: Millis,
    tweak: impl FnOnce(&mut PaymentAttempt),
) -> Result<Option<Applied>, Error> {
    let original = attempt.clone();
    let subject = order_subject(&attempt);
    let prid = attempt.payment_request_id.clone();
    let step = match attempt::transition(attempt.state, event) {
        Ok(step) => step,
        Err(e) => {
            raise(
                ctx,
                tx,
                Flag::new(
                    subject,
                    "contradiction",
                    format!(
                        "{e} (paymentRequestId {prid}): Alipay's answers contradict each other"
                    ),
                    "nothing was changed",
                    &[OperatorAction::InquireNow, OperatorAction::Resolve],
                ),
                now,
            )
            .await?;
            return Ok(Some(Applied {
                attempt,
                step: None,
            }));
        }
    };
    let from = attempt.state;
    attempt.state = step.state();
    if let (Some(id), None) = (&facts.payment_id, &attempt.payment_id) {
        attempt.payment_id = Some(id.clone());
    }
    if step.moved()
        && let Some(code) = &facts.result_code
    {
        attempt.result_code = Some(code.clone());
    }
    match step {
        Step::Noted(_, Note::LateSuccessAfterCancel) => {
            if attempt.result_code.as_deref() == Some("NOT_FOUND_AFTER_EXPIRY") {
                // We settled it because Alipay had no such payment after its expiry; a success now
                // contradicts that, and the money must come back by hand.
                raise(
                    ctx,
                    tx,
                    Flag::new(
                        subject.clone(),
                        "success_after_not_found",
                        format!(
                            "Alipay reports paymentRequestId {prid} paid, after it had no such payment past its expiry"
                        ),
                        "the payment was settled as cancelled with nothing charged",
                        &[OperatorAction::InquireNow, OperatorAction::Resolve],
                    ),
                    now,
                )
                .await?;
            } else {
                attempt.late_success = true;
            }
        }
        Step::Noted(_, Note::SuccessWhileCancelling) => {
            // The cancel decides; make sure it runs now.
            tx.schedule_job(JobKind::Payment(attempt.id.clone()), now)
                .await?;
        }
        Step::Moved(_) | Step::Unchanged(_) => {}
    }
    tweak(&mut attempt);
    // The wallet needs the user: kept while the outcome is being found out (not once a cancel is
    // under way: the user is not sent to pay what is being undone), told to the merchant once.
    let action_required = match &facts.wallet_action {
        Some(action) if attempt.state.is_unresolved() && attempt.wallet_action.is_none() => {
            attempt.wallet_action = Some(action.clone());
            true
        }
        _ => false,
    };
    if attempt != original {
        attempt.updated_at = now;
        if !tx.update_attempt(&attempt).await? {
            return Ok(None);
        }
        attempt.version += 1;
    }
    if action_required {
        tx.push_event(&Event::new(
            EventKind::PaymentActionRequired,
            &attempt.order_id,
            facts.result_code.clone(),
            now,
        ))
        .await?;
    }
    if step.moved() && !on_moved(ctx, tx, &attempt, from, facts, now).await? {
        return Ok(None);
    }
    // Raised after a move settled the payment's items, so it stays open.
    if let Some((code, why)) = &facts.flag {
        let tried = if attempt.state.is_final() {
            "the payment settled with this answer".to_owned()
        } else {
            "the answer was not applied; the payment is inquired until Alipay settles it".to_owned()
        };
        raise(
            ctx,
            tx,
            Flag::new(
                subject,
                code,
                format!("{why} (paymentRequestId {prid})"),
                tried,
                &[OperatorAction::InquireNow, OperatorAction::Resolve],
            ),
            now,
        )
        .await?;
    }
    Ok(Some(Applied {
        attempt,
        step: Some(step),
    }))
}

/// What follows from an attempt moving from `from` to its state. False: a compare-and-set lost.
async fn on_moved(
    ctx: &Context,
    tx: &mut dyn Tx,
    attempt: &PaymentAttempt,
    from: AttemptState,
    facts: &AttemptFacts,
    now: Millis,
) -> Result<bool, Error> {
    let order_event = match attempt.state {
        AttemptState::Succeeded => {
            Some((OrderEvent::AttemptSucceeded, EventKind::PaymentSucceeded))
        }
        AttemptState::Failed => Some((OrderEvent::AttemptFailed, EventKind::PaymentFailed)),
        AttemptState::Cancelled => {
            Some((OrderEvent::AttemptCancelled, EventKind::PaymentCancelled))
        }
        AttemptState::Created
        | AttemptState::Sent
        | AttemptState::Unknown
        | AttemptState::Inquiring
        | AttemptState::CancelRequested
        | AttemptState::Confirming => None,
    };
    let Some((order_event, kind)) = order_event else {
        return Ok(true);
    };
    let subject = order_subject(attempt);
    let mut order = tx
        .order(&attempt.order_id)
        .await?
        .ok_or_else(|| not_found("order", &attempt.order_id))?;
    match order_lifecycle::transition(order.state, order_event) {
        Ok(Step::Moved(state)) => {
            order.state = state;
            order.updated_at = now;
            if !tx.update_order(&order).await? {
                return Ok(false);
            }
            order.version += 1;
            tx.push_event(&Event::new(
                kind,
                &order.id,
                attempt.result_code.clone(),
                now,
            ))
            .await?;
        }
        Ok(Step::Unchanged(_) | Step::Noted(..)) => {}
        Err(e) => {
            raise(
                ctx,
                tx,
                Flag::new(
                    subject.clone(),
                    "contradiction",
                    format!("{e} (paymentRequestId {})", attempt.payment_request_id),
                    "the payment's own state was applied; the order's was not",
                    &[OperatorAction::InquireNow, OperatorAction::Resolve],
                ),
                now,
            )
            .await?;
        }
    }
    settle_attention(
        tx,
        &subject,
        format!("the payment settled: {}", attempt.state.name()),
        now,
    )
    .await?;
    if attempt.state == AttemptState::Failed
        && facts.token_rejected
        && !reject_token(tx, &order.authorization_id, attempt, now).await?
    {
        return Ok(false);
    }
    if attempt.state == AttemptState::Succeeded && from == AttemptState::Confirming {
        // A cancel was wanted and could not be done; the payment turned out paid: refund it, in
        // full, with its own refundRequestId (seed 004: past the cancel window, refund).
        let left = order.amount.minor_units().saturating_sub(order.refunded);
        if left > 0 {
            store_new_refund(
                ctx,
                tx,
                &order,
                attempt,
                ams_protocol::Amount::new(order.amount.currency, left),
                Some("the payment could not be cancelled in time".into()),
                RefundOrigin::CancelTooLate,
                now,
            )
            .await?;
        }
    }
    Ok(true)
}

/// The access token inside a stored `pay` body.
fn body_token(attempt: &PaymentAttempt) -> Option<String> {
    serde_json::from_str::<ams_protocol::PayRequest>(attempt.request_body.expose())
        .ok()
        .and_then(|r| r.payment_method.payment_method_id)
        .map(|t| t.expose_secret().to_owned())
}

/// Alipay refused the token `attempt` was sent with: its authorization becomes invalid, unless it
/// holds a newer token by now. False when the compare-and-set lost.
async fn reject_token(
    tx: &mut dyn Tx,
    id: &AuthorizationId,
    attempt: &PaymentAttempt,
    now: Millis,
) -> Result<bool, Error> {
    let Some(mut auth) = tx.authorization(id).await? else {
        return Ok(true);
    };
    let current = auth
        .token
        .as_ref()
        .map(|t| t.access_token.expose_secret().to_owned());
    if current.is_none() || body_token(attempt) != current {
        return Ok(true);
    }
    if let Ok(Step::Moved(state)) =
        auth_lifecycle::transition(auth.state, AuthorizationEvent::TokenRejected)
    {
        auth.state = state;
        auth.failure = attempt.result_code.clone();
        auth.updated_at = now;
        if !tx.update_authorization(&auth).await? {
            return Ok(false);
        }
        tx.push_event(&Event::new(
            EventKind::AuthorizationNeedsReauthorization,
            &auth.id,
            attempt.result_code.clone(),
            now,
        ))
        .await?;
    }
    Ok(true)
}
