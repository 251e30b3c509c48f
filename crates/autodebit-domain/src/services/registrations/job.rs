//! The registration's job: send the stored body (again) until Alipay answers, then read the
//! wallets' review with growing waits until it ends; a person is told when either takes long.

use ams_protocol::{
    Api, InquiryRegistrationStatusRequest, PspRegistrationResult, RegistrationResponse,
    RegistrationResult,
};

use super::REVIEW_NORMALLY_WITHIN_MS;
use crate::lifecycle::Step;
use crate::lifecycle::registration::{RegistrationEvent, RegistrationState, transition};
use crate::model::{
    Event, EventKind, JobKind, Millis, OperatorAction, Registration, RegistrationId, Subject,
};
use crate::ports::{Reply, Tx};
use crate::services::lease::Lease;
use crate::services::{
    Answer, Context, Error, Flag, Unit, answer, backoff, not_found, raise, settle_attention,
};

/// Runs the job of registration `id` now, under a lease of its own (false: a worker has it).
pub(crate) async fn run_now(ctx: &Context, id: &RegistrationId) -> Result<bool, Error> {
    let Some(lease) = Lease::claim(ctx, &JobKind::Registration(id.clone())).await? else {
        return Ok(false);
    };
    step(ctx, &lease, id).await?;
    Ok(true)
}

async fn read(tx: &mut dyn Tx, id: &RegistrationId) -> Result<Registration, Error> {
    tx.registration(id)
        .await?
        .ok_or_else(|| not_found("secondary merchant registration", id))
}

/// Runs the registration job of `id` once: send (again), or read the review.
pub(crate) async fn step(ctx: &Context, lease: &Lease, id: &RegistrationId) -> Result<(), Error> {
    let registration = read(&mut *ctx.store.begin().await?, id).await?;
    match registration.state {
        // Sent: the answer never came back (the process stopped mid-call): the same body again.
        RegistrationState::Requested | RegistrationState::Sent | RegistrationState::Unknown => {
            send(ctx, lease, id).await
        }
        RegistrationState::Accepted if !registration.reviewed() => inquire(ctx, lease, id).await,
        RegistrationState::Accepted | RegistrationState::Refused => {
            lease.finish_alone(ctx, None).await
        }
    }
}

/// When the job runs next for a registration left as `registration` is.
fn next_due(ctx: &Context, registration: &Registration, now: Millis) -> Option<Millis> {
    let schedule = &ctx.schedule;
    match registration.state {
        RegistrationState::Requested => Some(now + schedule.resend_after_ms),
        RegistrationState::Sent | RegistrationState::Unknown => Some(
            now + backoff(
                registration.round_started_at,
                now,
                schedule.refund_retry_min_ms,
                schedule.refund_inquiry_max_ms,
            ),
        ),
        RegistrationState::Accepted if !registration.reviewed() => Some(
            now + backoff(
                registration.round_started_at,
                now,
                schedule.refund_inquiry_every_ms,
                schedule.refund_inquiry_max_ms,
            ),
        ),
        RegistrationState::Accepted | RegistrationState::Refused => None,
    }
}

/// Applies `event` to the registration (with `change` on the record) and writes it, with the
/// event it reports. `None` when the write lost a compare-and-set.
async fn apply(
    tx: &mut dyn Tx,
    mut registration: Registration,
    event: RegistrationEvent,
    now: Millis,
    change: impl FnOnce(&mut Registration),
) -> Result<Option<Registration>, Error> {
    let step = transition(registration.state, event)?;
    let after = step.state();
    change(&mut registration);
    if matches!(step, Step::Moved(_)) && after == RegistrationState::Accepted {
        // The wait for the review starts now.
        registration.round_started_at = now;
    }
    registration.state = after;
    registration.updated_at = now;
    if !tx.update_registration(&registration).await? {
        return Ok(None);
    }
    registration.version += 1;
    if matches!(step, Step::Moved(_)) {
        let kind = match after {
            RegistrationState::Accepted => Some(EventKind::SecondaryMerchantAccepted),
            RegistrationState::Refused => Some(EventKind::SecondaryMerchantFailed),
            RegistrationState::Requested | RegistrationState::Sent | RegistrationState::Unknown => {
                None
            }
        };
        if let Some(kind) = kind {
            tx.push_event(&Event::new(
                kind,
                &registration.id,
                registration.result_code.clone(),
                now,
            ))
            .await?;
        }
    }
    Ok(Some(registration))
}

/// Tells a person when the current wait has gone on for long: Alipay's answer past
/// `attention_after_ms`, the wallets' review past [`REVIEW_NORMALLY_WITHIN_MS`].
async fn raise_if_long(
    ctx: &Context,
    tx: &mut dyn Tx,
    registration: &Registration,
    now: Millis,
) -> Result<(), Error> {
    let waited = now - registration.round_started_at;
    let (whose, limit) = match registration.state {
        RegistrationState::Refused => return Ok(()),
        RegistrationState::Accepted if registration.reviewed() => return Ok(()),
        RegistrationState::Accepted => ("the wallets' review", REVIEW_NORMALLY_WITHIN_MS),
        RegistrationState::Requested | RegistrationState::Sent | RegistrationState::Unknown => {
            ("Alipay", ctx.schedule.attention_after_ms)
        }
    };
    if waited < limit {
        return Ok(());
    }
    raise(
        ctx,
        tx,
        Flag::new(
            Subject::Registration(registration.id.clone()),
            "secondary_merchant_unanswered",
            format!(
                "the registration of secondary merchant {} has had no answer from {whose} for {waited} ms",
                registration.reference_merchant_id
            ),
            format!(
                "{} sends and {} inquiries so far; tried again with growing waits",
                registration.sends, registration.inquiries
            ),
            &[OperatorAction::Resolve],
        ),
        now,
    )
    .await
}

/// Sends the stored body (again): `Sent` is committed first.
async fn send(ctx: &Context, lease: &Lease, id: &RegistrationId) -> Result<(), Error> {
    if !lease.renew_for_call(ctx).await? {
        return Ok(());
    }
    let intent = unit_of_work!(ctx, id, |tx, now| {
        let registration = read(tx, id).await?;
        if !registration.state.in_flight() {
            lease.settle(tx, next_due(ctx, &registration, now)).await?;
            return Ok(Unit::Commit(None));
        }
        let body = registration.request_body.clone();
        let registration = if registration.state == RegistrationState::Sent {
            // Sent before, and its answer never came back: it may have left.
            match apply(tx, registration, RegistrationEvent::Unknown, now, |_| {}).await? {
                Some(r) => r,
                None => return Ok(Unit::Retry),
            }
        } else {
            registration
        };
        let maybe_sent_before = registration.state == RegistrationState::Unknown;
        match apply(tx, registration, RegistrationEvent::Send, now, |r| {
            r.sends += 1;
        })
        .await?
        {
            Some(_) => Ok(Unit::Commit(Some((body, maybe_sent_before)))),
            None => Ok(Unit::Retry),
        }
    })?;
    let Some((body, maybe_sent_before)) = intent else {
        return Ok(());
    };
    let reply = ctx.gateway.registration(body.expose()).await;
    unit_of_work!(ctx, id, |tx, now| {
        let registration = read(tx, id).await?;
        let (event, code, message) = outcome(&reply, maybe_sent_before);
        let Some(registration) = apply(tx, registration, event, now, |r| {
            if code.is_some() {
                r.result_code.clone_from(&code);
                r.result_message.clone_from(&message);
            }
        })
        .await?
        else {
            return Ok(Unit::Retry);
        };
        if registration.state == RegistrationState::Refused {
            settle_attention(
                tx,
                &Subject::Registration(registration.id.clone()),
                "Alipay refused it",
                now,
            )
            .await?;
        }
        raise_if_long(ctx, tx, &registration, now).await?;
        lease.settle(tx, next_due(ctx, &registration, now)).await?;
        Ok(Unit::Commit(()))
    })
}

/// What a `registration` answer means for the registration.
fn outcome(
    reply: &Reply<RegistrationResponse>,
    maybe_sent_before: bool,
) -> (RegistrationEvent, Option<String>, Option<String>) {
    let (answer, code, message) = answer(Api::Registration, reply, maybe_sent_before);
    let event = match answer {
        Answer::Accepted => RegistrationEvent::Accepted,
        Answer::Refused => RegistrationEvent::Refused,
        Answer::Unknown => RegistrationEvent::Unknown,
        Answer::NotSent => RegistrationEvent::NotSent,
    };
    (event, code, message)
}

/// `inquiryRegistrationStatus` once, by `registrationRequestId`: the review is kept; an ended
/// review is told.
async fn inquire(ctx: &Context, lease: &Lease, id: &RegistrationId) -> Result<(), Error> {
    if !lease.renew_for_call(ctx).await? {
        return Ok(());
    }
    let read_first = read(&mut *ctx.store.begin().await?, id).await?;
    let request = InquiryRegistrationStatusRequest::for_registration(
        read_first.registration_request_id.clone(),
    );
    let reply = ctx.gateway.inquiry_registration_status(&request).await;
    let review = match &reply {
        Reply::Success(r) => Some((
            r.registration_result.clone(),
            r.psp_registration_result_list.clone().unwrap_or_default(),
        )),
        _ => None,
    };
    unit_of_work!(ctx, id, |tx, now| {
        let registration = read(tx, id).await?;
        if registration.state != RegistrationState::Accepted {
            lease.settle(tx, next_due(ctx, &registration, now)).await?;
            return Ok(Unit::Commit(()));
        }
        let Some(registration) = apply_review(tx, registration, review.clone(), true, now).await?
        else {
            return Ok(Unit::Retry);
        };
        raise_if_long(ctx, tx, &registration, now).await?;
        lease.settle(tx, next_due(ctx, &registration, now)).await?;
        Ok(Unit::Commit(()))
    })
}

/// Keeps what an inquiry (`inquiry`: counted) or a notification says of the wallets' review of
/// an accepted registration; the review ending is told once (an event, the attention settled).
/// `None` when the write lost a compare-and-set.
pub(crate) async fn apply_review(
    tx: &mut dyn Tx,
    mut registration: Registration,
    review: Option<(Option<RegistrationResult>, Vec<PspRegistrationResult>)>,
    inquiry: bool,
    now: Millis,
) -> Result<Option<Registration>, Error> {
    let reviewed_before = registration.reviewed();
    if inquiry {
        registration.inquiries += 1;
    }
    if let Some((overall, wallets)) = review
        && !reviewed_before
    {
        // An ended review is never replaced by a later, older-looking read.
        if overall.is_some() {
            registration.review = overall;
        }
        if !wallets.is_empty() {
            registration.wallets = wallets;
        }
    }
    registration.updated_at = now;
    if !tx.update_registration(&registration).await? {
        return Ok(None);
    }
    registration.version += 1;
    if !reviewed_before && registration.reviewed() {
        let status = registration
            .review
            .as_ref()
            .and_then(|r| r.registration_status.as_ref())
            .map(|s| s.as_str().to_owned());
        tx.push_event(&Event::new(
            EventKind::SecondaryMerchantReviewed,
            &registration.id,
            status,
            now,
        ))
        .await?;
        settle_attention(
            tx,
            &Subject::Registration(registration.id.clone()),
            "the review ended",
            now,
        )
        .await?;
    }
    Ok(Some(registration))
}
