//! The declaration's job: send the stored body (again) until Alipay answers, then read customs'
//! answer with growing waits; a person is told when either takes long.

use ams_protocol::{Api, DeclareResponse, InquiryDeclarationRequestsRequest};

use super::apply;
use crate::lifecycle::declaration::{DeclarationEvent, DeclarationState};
use crate::model::{
    Declaration, DeclarationId, Event, EventKind, JobKind, Millis, OperatorAction, Subject,
};
use crate::ports::{Reply, Tx};
use crate::services::lease::Lease;
use crate::services::{Answer, Context, Error, Flag, Unit, answer, backoff, not_found, raise};

/// Runs the job of declaration `id` now, under a lease of its own (false: a worker has it).
pub(crate) async fn run_now(ctx: &Context, id: &DeclarationId) -> Result<bool, Error> {
    let Some(lease) = Lease::claim(ctx, &JobKind::Declaration(id.clone())).await? else {
        return Ok(false);
    };
    step(ctx, &lease, id).await?;
    Ok(true)
}

async fn read(ctx: &Context, id: &DeclarationId) -> Result<Declaration, Error> {
    let mut tx = ctx.store.begin().await?;
    tx.declaration(id)
        .await?
        .ok_or_else(|| not_found("customs declaration", id))
}

/// Runs the declaration job of `id` once: send (again), or read customs' answer.
pub(crate) async fn step(ctx: &Context, lease: &Lease, id: &DeclarationId) -> Result<(), Error> {
    let declaration = read(ctx, id).await?;
    match declaration.state {
        // Sent: the answer never came back (the process stopped mid-call): the same body again.
        DeclarationState::Requested | DeclarationState::Sent | DeclarationState::Unknown => {
            send(ctx, lease, id).await
        }
        DeclarationState::Accepted if !declaration.customs_answered() => {
            inquire(ctx, lease, id).await
        }
        DeclarationState::Accepted | DeclarationState::Refused => {
            lease.finish_alone(ctx, None).await
        }
    }
}

/// When the job runs next for a declaration left as `declaration` is.
fn next_due(ctx: &Context, declaration: &Declaration, now: Millis) -> Option<Millis> {
    let schedule = &ctx.schedule;
    match declaration.state {
        DeclarationState::Requested => Some(now + schedule.resend_after_ms),
        DeclarationState::Sent | DeclarationState::Unknown => Some(
            now + backoff(
                declaration.round_started_at,
                now,
                schedule.refund_retry_min_ms,
                schedule.refund_inquiry_max_ms,
            ),
        ),
        DeclarationState::Accepted if !declaration.customs_answered() => Some(
            now + backoff(
                declaration.round_started_at,
                now,
                schedule.refund_inquiry_every_ms,
                schedule.refund_inquiry_max_ms,
            ),
        ),
        DeclarationState::Accepted | DeclarationState::Refused => None,
    }
}

/// Tells a person when the current round has gone on for long without an answer.
async fn raise_if_long(
    ctx: &Context,
    tx: &mut dyn Tx,
    declaration: &Declaration,
    now: Millis,
) -> Result<(), Error> {
    let waited = now - declaration.round_started_at;
    if declaration.state.is_final()
        || declaration.customs_answered()
        || waited < ctx.schedule.attention_after_ms
    {
        return Ok(());
    }
    let whose = if declaration.state == DeclarationState::Accepted {
        "customs"
    } else {
        "Alipay"
    };
    raise(
        ctx,
        tx,
        Flag::new(
            Subject::Declaration(declaration.id.clone()),
            "customs_declaration_unanswered",
            format!(
                "customs declaration {} has had no answer from {whose} for {waited} ms",
                declaration.declaration_request_id
            ),
            format!(
                "{} sends and {} inquiries so far; tried again with growing waits",
                declaration.sends, declaration.inquiries
            ),
            &[OperatorAction::Resolve],
        ),
        now,
    )
    .await
}

/// Sends the stored body (again): `Sent` is committed first.
async fn send(ctx: &Context, lease: &Lease, id: &DeclarationId) -> Result<(), Error> {
    if !lease.renew_for_call(ctx).await? {
        return Ok(());
    }
    let intent = unit_of_work!(ctx, id, |tx, now| {
        let declaration = tx
            .declaration(id)
            .await?
            .ok_or_else(|| not_found("customs declaration", id))?;
        if !matches!(
            declaration.state,
            DeclarationState::Requested | DeclarationState::Sent | DeclarationState::Unknown
        ) {
            lease.settle(tx, next_due(ctx, &declaration, now)).await?;
            return Ok(Unit::Commit(None));
        }
        let body = declaration.request_body.clone();
        let was_sent = declaration.state == DeclarationState::Sent;
        let declaration = if was_sent {
            // Sent before, and its answer never came back: it may have left.
            match apply(
                tx,
                declaration,
                DeclarationEvent::Unknown,
                None,
                now,
                |_| {},
            )
            .await?
            {
                Some(d) => d,
                None => return Ok(Unit::Retry),
            }
        } else {
            declaration
        };
        let maybe_sent_before = declaration.state == DeclarationState::Unknown;
        match apply(tx, declaration, DeclarationEvent::Send, None, now, |d| {
            d.sends += 1;
            d.last_sent_at = Some(now);
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
    let reply = ctx.gateway.declare(body.expose()).await;
    unit_of_work!(ctx, id, |tx, now| {
        let declaration = tx
            .declaration(id)
            .await?
            .ok_or_else(|| not_found("customs declaration", id))?;
        let (mut event, code, message, accepted) = outcome(&reply, maybe_sent_before);
        if event == DeclarationEvent::Refused && declaration.accepted.is_some() {
            // A refused re-send: what Alipay accepted before still stands.
            event = DeclarationEvent::ResendRefused;
        }
        let detail = code.clone();
        let Some(declaration) = apply(tx, declaration, event, detail, now, |d| {
            if code.is_some() {
                d.result_code.clone_from(&code);
                d.result_message.clone_from(&message);
            }
            if let Some(accepted) = accepted {
                d.accepted = Some(accepted);
            }
        })
        .await?
        else {
            return Ok(Unit::Retry);
        };
        if declaration.state.is_final() {
            crate::services::settle_attention(
                tx,
                &Subject::Declaration(declaration.id.clone()),
                "Alipay refused it",
                now,
            )
            .await?;
        }
        raise_if_long(ctx, tx, &declaration, now).await?;
        lease.settle(tx, next_due(ctx, &declaration, now)).await?;
        Ok(Unit::Commit(()))
    })
}

/// What a `declare` answer means: the event, the code and message worth keeping, and the accepted
/// answer.
fn outcome(
    reply: &Reply<DeclareResponse>,
    maybe_sent_before: bool,
) -> (
    DeclarationEvent,
    Option<String>,
    Option<String>,
    Option<DeclareResponse>,
) {
    let (answer, code, message) = answer(Api::Declare, reply, maybe_sent_before);
    let event = match answer {
        Answer::Accepted => DeclarationEvent::Accepted,
        Answer::Refused => DeclarationEvent::Refused,
        Answer::Unknown => DeclarationEvent::Unknown,
        Answer::NotSent => DeclarationEvent::NotSent,
    };
    let accepted = match reply {
        Reply::Success(r) => Some(r.clone()),
        _ => None,
    };
    (event, code, message, accepted)
}

/// `inquiryDeclarationRequests` once: the record is kept; customs answered → done, and told.
async fn inquire(ctx: &Context, lease: &Lease, id: &DeclarationId) -> Result<(), Error> {
    if !lease.renew_for_call(ctx).await? {
        return Ok(());
    }
    let read = read(ctx, id).await?;
    let request = InquiryDeclarationRequestsRequest::new(vec![read.declaration_request_id.clone()]);
    let reply = ctx.gateway.inquiry_declaration_requests(&request).await;
    let record = match &reply {
        Reply::Success(r) => r
            .declaration_records
            .iter()
            .flatten()
            .find(|rec| rec.declaration_request_id.as_ref() == Some(&read.declaration_request_id))
            .cloned(),
        _ => None,
    };
    unit_of_work!(ctx, id, |tx, now| {
        let mut declaration = tx
            .declaration(id)
            .await?
            .ok_or_else(|| not_found("customs declaration", id))?;
        if declaration.state != DeclarationState::Accepted {
            lease.settle(tx, next_due(ctx, &declaration, now)).await?;
            return Ok(Unit::Commit(()));
        }
        let answered_before = declaration.customs_answered();
        declaration.inquiries += 1;
        if let Some(record) = &record {
            declaration.record = Some(record.clone());
        }
        declaration.updated_at = now;
        if !tx.update_declaration(&declaration).await? {
            return Ok(Unit::Retry);
        }
        if !answered_before && declaration.customs_answered() {
            let code = declaration
                .record
                .as_ref()
                .and_then(|r| r.customs_declaration_result_code.clone());
            tx.push_event(&Event::new(
                EventKind::CustomsDeclarationCompleted,
                &declaration.id,
                code,
                now,
            ))
            .await?;
            crate::services::settle_attention(
                tx,
                &Subject::Declaration(declaration.id.clone()),
                "customs answered",
                now,
            )
            .await?;
        }
        raise_if_long(ctx, tx, &declaration, now).await?;
        lease.settle(tx, next_due(ctx, &declaration, now)).await?;
        Ok(Unit::Commit(()))
    })
}
