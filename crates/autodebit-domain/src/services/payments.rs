//! Charging an authorization, and resolving every outcome that is not known.
//!
//! 1. **Store.** One unit of work checks the merchant's idempotency key, checks that the
//!    authorization is `active`, and stores the order and a payment attempt (`Created`) with a
//!    fresh `paymentRequestId` and the exact `pay` body — plus a `SendPayment` job, so an attempt
//!    stored but never sent (a crash) is still sent.
//! 2. **Send.** The attempt moves to `Sent` and a `ResolvePayment` job is stored in one unit of work,
//!    committed **before** `pay` leaves: no call without a committed intent, and no sent call without
//!    a durable job to resolve it.
//! 3. **Apply the answer** through the attempt lifecycle and the decision table: `S` → succeeded;
//!    `F` → failed (and `INVALID_ACCESS_TOKEN` makes the authorization invalid); `U` or no answer →
//!    unknown, inquired from 3 s later; surely not sent → back to `Created`, sent again shortly.
//! 4. **Resolve** (jobs, [`Payments::run_due_jobs`]): `inquiryPayment` every 3 s up to 20 times;
//!    still unknown → `cancel`, retried every 5–10 s for 60 s inside the cancel window (00:15 UTC+8
//!    the day after the payment); refused for good or exhausted → an operator is asked.

use ams_protocol::{
    Amount, AmsDateTime, Api, CancelRequest, CancelResponse, Env, InquiryPaymentRequest,
    InquiryPaymentResponse, Order as WireOrder, PayRequest, PayResponse, PaymentStatus,
    ResultStatus, SettlementStrategy,
};

use super::authorizations::Authorizations;
use super::refunds::Refunds;
use super::{Context, Error, MAX_TRIES, cancel_deadline, commit, event, fingerprint, jitter};
use crate::decision::{Decision, decide, decide_payment_status};
use crate::lifecycle::Step;
use crate::lifecycle::attempt::{self, AttemptEvent, AttemptState};
use crate::lifecycle::authorization::{self as auth_lifecycle, AuthorizationEvent};
use crate::lifecycle::order::{self as order_lifecycle, OrderEvent, OrderState};
use crate::model::{
    AttemptId, Authorization, AuthorizationId, EventKind, IdempotencyRecord, Job, JobId, JobKind,
    Millis, Order, OrderId, PaymentAttempt, TokenSet,
};
use crate::ports::{Reply, Tx};

/// A merchant's request to charge an authorization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChargeCommand {
    /// The merchant's idempotency key: the same key with the same parameters returns the same
    /// payment; with other parameters it is refused.
    pub idempotency_key: String,
    /// The authorization to charge (must be `active`).
    pub authorization_id: AuthorizationId,
    /// The merchant's order reference (`referenceOrderId`, at most 64 characters).
    pub reference: String,
    /// What it is for (`orderDescription`, at most 256 characters).
    pub description: String,
    /// How much.
    pub amount: Amount,
}

/// Where a charge stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChargeResult {
    /// The order.
    pub order_id: OrderId,
    /// The order's state.
    pub order_state: OrderState,
    /// The attempt (the latest of the order).
    pub attempt_id: AttemptId,
    /// Its `paymentRequestId`.
    pub payment_request_id: String,
    /// The attempt's state.
    pub attempt_state: AttemptState,
    /// Alipay's `paymentId`, once known.
    pub payment_id: Option<String>,
    /// The last result code that mattered (why it failed, or why an operator must look).
    pub result_code: Option<String>,
    /// Whether a success arrived after the attempt was cancelled (Alipay returns that money).
    pub late_success: bool,
    /// Whether this answers an earlier command with the same idempotency key.
    pub replayed: bool,
}

/// What a run of due jobs did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobReport {
    /// Jobs taken.
    pub claimed: usize,
    /// Jobs run to the end (done, rescheduled, or found to be moot).
    pub done: usize,
    /// Jobs that failed (their lease expires and they run again), with why.
    pub failed: Vec<(JobId, String)>,
}

/// A job a worker holds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lease<'a> {
    pub(crate) job: &'a Job,
    pub(crate) worker: &'a str,
}

impl Lease<'_> {
    /// Completes the job in `tx`; false when the lease is lost (drop the unit of work).
    pub(crate) async fn complete(&self, tx: &mut dyn Tx) -> Result<bool, Error> {
        Ok(tx.complete_job(&self.job.id, self.worker).await?)
    }

    /// Moves the job to `due_at` in `tx`; false when the lease is lost.
    pub(crate) async fn retry_at(&self, tx: &mut dyn Tx, due_at: Millis) -> Result<bool, Error> {
        Ok(tx.reschedule_job(&self.job.id, self.worker, due_at).await?)
    }
}

/// Completes a job that has nothing (more) to do.
pub(crate) async fn complete_alone(ctx: &Context, lease: &Lease<'_>) -> Result<(), Error> {
    for _ in 0..MAX_TRIES {
        let mut tx = ctx.store.begin().await?;
        if !lease.complete(&mut *tx).await? || commit(tx).await? {
            return Ok(());
        }
    }
    Err(Error::Contention(lease.job.id.to_string()))
}

pub(crate) fn not_found(what: &'static str, id: impl std::fmt::Display) -> Error {
    Error::NotFound {
        what,
        id: id.to_string(),
    }
}

/// What an answer, an inquiry or a notification says about a payment, besides the event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Facts {
    pub(crate) payment_id: Option<String>,
    pub(crate) result_code: Option<String>,
    /// Why an operator must look, flagged when the event moves the attempt to failed.
    pub(crate) operator: Option<String>,
    /// Alipay refused the token: the authorization that issued it becomes invalid.
    pub(crate) token_rejected: bool,
}

impl Facts {
    fn code(code: impl Into<String>) -> Self {
        Self {
            result_code: Some(code.into()),
            ..Self::default()
        }
    }
}

/// The facts of a final failure with `code` (a `pay` F, an inquiry `FAIL`, a failure notification).
pub(crate) fn failure_facts(status: &ResultStatus, code: &ams_protocol::ResultCode) -> Facts {
    let (decision, why) = decide(Api::Pay, status, code);
    let mut facts = Facts::code(code.as_str());
    match decision {
        Decision::Reauthorize => facts.token_rejected = true,
        Decision::AskOperator => {
            facts.operator = Some(format!("pay refused with {}: {why}", code.as_str()))
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
fn pay_outcome(reply: &Reply<PayResponse>) -> (AttemptEvent, Facts) {
    match reply {
        Reply::Success(r) => (
            AttemptEvent::Succeeded,
            Facts {
                payment_id: r.payment_id.as_ref().map(|id| id.as_str().to_owned()),
                ..Facts::default()
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
            // Not in the table for an F; never treat the unclear as failed.
            Decision::RetrySame | Decision::Inquire | Decision::Cancel => {
                (AttemptEvent::Unknown, Facts::code(r.result.code().as_str()))
            }
        },
        Reply::Unknown { response, .. } => (
            AttemptEvent::Unknown,
            Facts {
                result_code: response
                    .as_ref()
                    .map(|r| r.result.code().as_str().to_owned()),
                ..Facts::default()
            },
        ),
        Reply::NotSent { .. } => (AttemptEvent::NotSent, Facts::default()),
    }
}

/// The event and facts of an `inquiryPayment` reply, with `left` inquiries after this one.
fn inquiry_outcome(reply: &Reply<InquiryPaymentResponse>, left: u32) -> (AttemptEvent, Facts) {
    let Reply::Success(r) = reply else {
        // F (ORDER_NOT_EXIST: not there yet), U, no answer, not sent: still unknown.
        return (AttemptEvent::StillUnknown, Facts::default());
    };
    let Some(status) = &r.payment_status else {
        return (AttemptEvent::StillUnknown, Facts::default());
    };
    let payment_id = r.payment_id.as_ref().map(|id| id.as_str().to_owned());
    match decide_payment_status(status, left) {
        Decision::Succeeded if matches!(status, PaymentStatus::Cancelled) => (
            AttemptEvent::Cancelled,
            Facts {
                payment_id,
                ..Facts::code("CANCELLED")
            },
        ),
        Decision::Succeeded => (
            AttemptEvent::Succeeded,
            Facts {
                payment_id,
                ..Facts::default()
            },
        ),
        Decision::FailedForGood => {
            let code = r
                .payment_result_code
                .clone()
                .unwrap_or_else(|| ams_protocol::ResultCode::from("FAIL"));
            let facts = failure_facts(&ResultStatus::F, &code);
            (
                AttemptEvent::Failed,
                Facts {
                    payment_id,
                    ..facts
                },
            )
        }
        Decision::Inquire
        | Decision::Cancel
        | Decision::RetrySame
        | Decision::Reauthorize
        | Decision::AskOperator => (AttemptEvent::StillUnknown, Facts::default()),
    }
}

/// What a `cancel` reply means.
enum CancelOutcome {
    Cancelled,
    Impossible(String),
    Retry(String),
}

fn cancel_outcome(reply: &Reply<CancelResponse>) -> CancelOutcome {
    match reply {
        Reply::Success(_) => CancelOutcome::Cancelled,
        Reply::Failed(r) => match decide(Api::Cancel, r.result.status(), r.result.code()).0 {
            // ORDER_NOT_EXIST: nothing was charged.
            Decision::Succeeded => CancelOutcome::Cancelled,
            Decision::RetrySame | Decision::Inquire => {
                CancelOutcome::Retry(r.result.code().as_str().to_owned())
            }
            Decision::AskOperator
            | Decision::FailedForGood
            | Decision::Reauthorize
            | Decision::Cancel => CancelOutcome::Impossible(r.result.code().as_str().to_owned()),
        },
        Reply::Unknown { detail, .. } | Reply::NotSent { detail } => {
            CancelOutcome::Retry(detail.clone())
        }
    }
}

/// An attempt after an event was applied in a unit of work.
pub(crate) struct Applied {
    pub(crate) attempt: PaymentAttempt,
    /// `None` when the event contradicted the state (flagged, nothing changed).
    pub(crate) step: Option<Step<AttemptState>>,
}

impl Applied {
    /// The state the attempt moved to, if it moved.
    pub(crate) fn moved_to(&self) -> Option<AttemptState> {
        match self.step {
            Some(Step::Moved(state)) => Some(state),
            Some(Step::Unchanged(_) | Step::Noted(..)) | None => None,
        }
    }
}

/// The access token inside a stored `pay` body.
fn body_token(body: &str) -> Option<String> {
    serde_json::from_str::<PayRequest>(body)
        .ok()
        .and_then(|r| r.payment_method.payment_method_id)
        .map(|t| t.expose_secret().to_owned())
}

/// Applies `event` to `attempt` inside `tx`, with what follows from it: the order's transition,
/// the outbox events, a rejected token. `tweak` adjusts the attempt after the transition (counters,
/// timestamps). Returns `None` when a compare-and-set lost (drop `tx`, read again, re-apply).
pub(crate) async fn apply_attempt(
    tx: &mut dyn Tx,
    mut attempt: PaymentAttempt,
    event_: AttemptEvent,
    facts: &Facts,
    now: Millis,
    tweak: impl FnOnce(&mut PaymentAttempt),
) -> Result<Option<Applied>, Error> {
    let original = attempt.clone();
    let subject = attempt.order_id.clone();
    let prid = attempt.payment_request_id.clone();
    let step = match attempt::transition(attempt.state, event_) {
        Ok(step) => step,
        Err(e) => {
            let detail = format!("{e} (paymentRequestId {prid})");
            tx.push_event(&event(
                EventKind::OperatorAttention,
                &subject,
                Some(detail),
                now,
            ))
            .await?;
            return Ok(Some(Applied {
                attempt,
                step: None,
            }));
        }
    };
    attempt.state = step.state();
    if let (Some(id), None) = (&facts.payment_id, &attempt.payment_id) {
        attempt.payment_id = Some(id.clone());
    }
    if step.moved()
        && let Some(code) = &facts.result_code
    {
        attempt.result_code = Some(code.clone());
    }
    let mut events = Vec::new();
    if let Step::Noted(_, note) = step
        && !attempt.late_success
    {
        attempt.late_success = true;
        events.push(event(
            EventKind::OperatorAttention,
            &subject,
            Some(format!("{note} (paymentRequestId {prid})")),
            now,
        ));
    }
    tweak(&mut attempt);
    if attempt != original {
        attempt.updated_at = now;
        if !tx.update_attempt(&attempt).await? {
            return Ok(None);
        }
        attempt.version += 1;
    }
    if step.moved() {
        let order_event = match attempt.state {
            AttemptState::Succeeded => {
                Some((OrderEvent::AttemptSucceeded, EventKind::PaymentSucceeded))
            }
            AttemptState::Failed => Some((OrderEvent::AttemptFailed, EventKind::PaymentFailed)),
            AttemptState::Cancelled => {
                Some((OrderEvent::AttemptCancelled, EventKind::PaymentCancelled))
            }
            AttemptState::NeedsOperator => {
                let why = facts
                    .operator
                    .clone()
                    .or_else(|| attempt.result_code.clone())
                    .unwrap_or_else(|| "the payment cannot be settled automatically".into());
                events.push(event(
                    EventKind::OperatorAttention,
                    &subject,
                    Some(format!("{why} (paymentRequestId {prid})")),
                    now,
                ));
                None
            }
            AttemptState::Created
            | AttemptState::Sent
            | AttemptState::Unknown
            | AttemptState::Inquiring
            | AttemptState::CancelRequested => None,
        };
        let mut order = tx
            .order(&attempt.order_id)
            .await?
            .ok_or_else(|| not_found("order", &attempt.order_id))?;
        if let Some((order_event, kind)) = order_event {
            match order_lifecycle::transition(order.state, order_event) {
                Ok(Step::Moved(state)) => {
                    order.state = state;
                    order.updated_at = now;
                    if !tx.update_order(&order).await? {
                        return Ok(None);
                    }
                    events.push(event(kind, &order.id, attempt.result_code.clone(), now));
                }
                Ok(Step::Unchanged(_) | Step::Noted(..)) => {}
                Err(e) => events.push(event(
                    EventKind::OperatorAttention,
                    &order.id,
                    Some(e.to_string()),
                    now,
                )),
            }
        }
        if attempt.state == AttemptState::Failed {
            if let Some(why) = &facts.operator {
                events.push(event(
                    EventKind::OperatorAttention,
                    &subject,
                    Some(why.clone()),
                    now,
                ));
            }
            if facts.token_rejected
                && !reject_token(tx, &order.authorization_id, &attempt, now).await?
            {
                return Ok(None);
            }
        }
    }
    for e in &events {
        tx.push_event(e).await?;
    }
    Ok(Some(Applied {
        attempt,
        step: Some(step),
    }))
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
    if current.is_none() || body_token(&attempt.request_body) != current {
        return Ok(true);
    }
    match auth_lifecycle::transition(auth.state, AuthorizationEvent::TokenRejected) {
        Ok(Step::Moved(state)) => {
            auth.state = state;
            auth.failure = attempt.result_code.clone();
            auth.updated_at = now;
            if !tx.update_authorization(&auth).await? {
                return Ok(false);
            }
            tx.remove_jobs(&JobKind::RefreshToken(auth.id.clone()))
                .await?;
            tx.push_event(&event(
                EventKind::AuthorizationNeedsReauthorization,
                &auth.id,
                attempt.result_code.clone(),
                now,
            ))
            .await?;
        }
        Ok(Step::Unchanged(_) | Step::Noted(..)) => {}
        Err(e) => {
            tx.push_event(&event(
                EventKind::OperatorAttention,
                &auth.id,
                Some(e.to_string()),
                now,
            ))
            .await?;
        }
    }
    Ok(true)
}

/// Why `auth` may not be charged now, if it may not.
fn not_chargeable(auth: &Authorization, now: Millis) -> Option<String> {
    if !auth.state.can_charge() {
        return Some(format!("it is {}", auth.state.name()));
    }
    match &auth.token {
        None => Some("it holds no token".into()),
        Some(token) if token.access_expires_at <= now => {
            Some("its access token has expired".into())
        }
        Some(_) => None,
    }
}

/// The exact `pay` body.
fn pay_body(
    ctx: &Context,
    auth: &Authorization,
    token: &TokenSet,
    payment_request_id: &str,
    order: &Order,
    expires_at: Millis,
) -> Result<String, Error> {
    let mut env = Env::new(auth.terminal_type.clone());
    if let Some(os) = &auth.os_type {
        env = env.with_os_type(os.clone());
    }
    let settlement = ctx
        .settings
        .settlement_currency
        .unwrap_or(order.amount.currency);
    let mut request = PayRequest::agreement_payment(
        payment_request_id,
        WireOrder::new(
            order.reference.as_str(),
            order.description.as_str(),
            order.amount,
        ),
        order.amount,
        auth.wallet.clone(),
        &token.access_token,
        env,
    )
    .with_settlement_strategy(SettlementStrategy::new(settlement));
    if let Ok(expiry) = AmsDateTime::from_unix_millis(expires_at, 8 * 60) {
        request = request.with_payment_expiry_time(expiry);
    }
    if let Some(url) = &ctx.settings.payment_notify_url {
        request = request.with_payment_notify_url(url.clone());
    }
    serde_json::to_string(&request)
        .map_err(|e| Error::Invalid(format!("the pay body does not serialise: {e}")))
}

fn validate(command: &ChargeCommand) -> Result<(), Error> {
    let bad = |what: &str| Err(Error::Invalid(what.to_owned()));
    if command.idempotency_key.is_empty() || command.idempotency_key.len() > 128 {
        return bad("the idempotency key must have 1 to 128 characters");
    }
    if command.reference.is_empty() || command.reference.chars().count() > 64 {
        return bad("the order reference must have 1 to 64 characters");
    }
    if command.description.is_empty() || command.description.chars().count() > 256 {
        return bad("the description must have 1 to 256 characters");
    }
    if command.amount.is_zero() {
        return bad("the amount must be more than zero");
    }
    Ok(())
}

/// Charges authorizations and resolves the outcomes; also runs every due job.
#[derive(Clone, Debug)]
pub struct Payments {
    ctx: Context,
}

impl Payments {
    /// The service over `ctx`.
    pub fn new(ctx: Context) -> Self {
        Self { ctx }
    }

    /// Charges an authorization, once per idempotency key.
    ///
    /// Returns where the payment stands after the first answer: succeeded, failed, or still
    /// unknown (then jobs resolve it; [`Payments::status`] reads it later).
    ///
    /// # Errors
    /// [`Error::Invalid`], [`Error::NotFound`], [`Error::NotChargeable`] (nothing stored or sent),
    /// [`Error::IdempotencyConflict`], and store failures.
    pub async fn charge(&self, command: ChargeCommand) -> Result<ChargeResult, Error> {
        validate(&command)?;
        let fp = fingerprint(
            "charge",
            &[
                command.authorization_id.as_str(),
                &command.reference,
                &command.description,
                command.amount.currency.code(),
                &command.amount.minor_units().to_string(),
            ],
        );
        let (attempt_id, replayed) = self.store_charge(&command, &fp).await?;
        self.send(&attempt_id, None).await?;
        let mut result = self.result_of_attempt(&attempt_id).await?;
        result.replayed = replayed;
        Ok(result)
    }

    async fn store_charge(
        &self,
        command: &ChargeCommand,
        fp: &str,
    ) -> Result<(AttemptId, bool), Error> {
        for _ in 0..MAX_TRIES {
            let now = self.ctx.now();
            let mut tx = self.ctx.store.begin().await?;
            if let Some(record) = tx.idempotency(&command.idempotency_key).await? {
                if record.fingerprint != fp {
                    return Err(Error::IdempotencyConflict {
                        key: command.idempotency_key.clone(),
                    });
                }
                let order_id = OrderId::new(record.resource);
                let attempt = tx
                    .attempts_of_order(&order_id)
                    .await?
                    .pop()
                    .ok_or_else(|| not_found("payment attempt of order", &order_id))?;
                return Ok((attempt.id, true));
            }
            let auth = tx
                .authorization(&command.authorization_id)
                .await?
                .ok_or_else(|| not_found("authorization", &command.authorization_id))?;
            if let Some(reason) = not_chargeable(&auth, now) {
                return Err(Error::NotChargeable {
                    id: auth.id.to_string(),
                    reason,
                });
            }
            let Some(token) = &auth.token else {
                return Err(Error::NotChargeable {
                    id: auth.id.to_string(),
                    reason: "it holds no token".into(),
                });
            };
            let order = Order {
                id: OrderId::new(self.ctx.ids.local_id("ord")),
                authorization_id: auth.id.clone(),
                reference: command.reference.clone(),
                description: command.description.clone(),
                amount: command.amount,
                state: OrderState::Pending,
                refunded: 0,
                version: 0,
                created_at: now,
                updated_at: now,
            };
            let payment_request_id = self.ctx.ids.payment_request_id(
                now,
                auth.terminal_type.as_str(),
                command.amount.minor_units(),
            );
            let expires_at = now + self.ctx.schedule.payment_expiry_ms;
            let attempt = PaymentAttempt {
                id: AttemptId::new(self.ctx.ids.local_id("att")),
                order_id: order.id.clone(),
                request_body: pay_body(
                    &self.ctx,
                    &auth,
                    token,
                    &payment_request_id,
                    &order,
                    expires_at,
                )?,
                payment_request_id,
                amount: command.amount,
                state: AttemptState::Created,
                payment_id: None,
                result_code: None,
                inquiries: 0,
                late_success: false,
                cancel_started_at: None,
                expires_at,
                version: 0,
                created_at: now,
                updated_at: now,
            };
            let record = IdempotencyRecord {
                key: command.idempotency_key.clone(),
                fingerprint: fp.to_owned(),
                resource: order.id.to_string(),
                created_at: now,
            };
            if !tx.insert_idempotency(&record).await? {
                continue;
            }
            tx.insert_order(&order).await?;
            tx.insert_attempt(&attempt).await?;
            tx.enqueue_job(
                JobKind::SendPayment(attempt.id.clone()),
                now + self.ctx.schedule.reply_timeout_ms,
            )
            .await?;
            if commit(tx).await? {
                return Ok((attempt.id, false));
            }
        }
        Err(Error::Contention(format!(
            "idempotency key {}",
            command.idempotency_key
        )))
    }

    /// Sends a `Created` attempt: commits the intent (`Sent` + a `ResolvePayment` job), calls
    /// `pay` with the stored body, applies the answer. Does nothing for an attempt that is not
    /// `Created`. An attempt whose authorization is no longer chargeable, or that would reach
    /// Alipay too close to its expiry, is cancelled locally: it never left.
    pub(crate) async fn send(
        &self,
        id: &AttemptId,
        lease: Option<&Lease<'_>>,
    ) -> Result<(), Error> {
        let body = 'intent: {
            for _ in 0..MAX_TRIES {
                let now = self.ctx.now();
                let mut tx = self.ctx.store.begin().await?;
                let mut attempt = tx
                    .attempt(id)
                    .await?
                    .ok_or_else(|| not_found("payment attempt", id))?;
                if let Some(lease) = lease
                    && !lease.complete(&mut *tx).await?
                {
                    return Ok(());
                }
                match attempt.state {
                    AttemptState::Created => {}
                    AttemptState::Sent
                    | AttemptState::Succeeded
                    | AttemptState::Failed
                    | AttemptState::Unknown
                    | AttemptState::Inquiring
                    | AttemptState::CancelRequested
                    | AttemptState::Cancelled
                    | AttemptState::NeedsOperator => {
                        if lease.is_none() || commit(tx).await? {
                            return Ok(());
                        }
                        continue;
                    }
                }
                let order = tx
                    .order(&attempt.order_id)
                    .await?
                    .ok_or_else(|| not_found("order", &attempt.order_id))?;
                let auth = tx.authorization(&order.authorization_id).await?;
                let refusal = match &auth {
                    None => Some((
                        "AUTHORIZATION_NOT_FOUND",
                        "the authorization is gone".to_owned(),
                    )),
                    Some(auth) => {
                        not_chargeable(auth, now).map(|why| ("AUTHORIZATION_NOT_ACTIVE", why))
                    }
                }
                .or_else(|| {
                    (now + self.ctx.schedule.send_margin_ms >= attempt.expires_at).then(|| {
                        (
                            "EXPIRED_BEFORE_SENT",
                            "the payment expired before it could be sent".to_owned(),
                        )
                    })
                });
                let (Some(auth), None) = (auth, refusal.as_ref()) else {
                    // Never sent: cancelled here, nothing charged.
                    let (code, _why) =
                        refusal.unwrap_or(("AUTHORIZATION_NOT_FOUND", String::new()));
                    let facts = Facts::code(code);
                    let cancelled = apply_attempt(
                        &mut *tx,
                        attempt,
                        AttemptEvent::CancelRequested,
                        &facts,
                        now,
                        |_| {},
                    )
                    .await?;
                    if cancelled.is_none() {
                        continue;
                    }
                    tx.remove_jobs(&JobKind::SendPayment(id.clone())).await?;
                    if commit(tx).await? {
                        return Ok(());
                    }
                    continue;
                };
                // Never sent so far, so the body may still change: follow a rotated token.
                if let Some(token) = &auth.token
                    && body_token(&attempt.request_body).as_deref()
                        != Some(token.access_token.expose_secret())
                {
                    attempt.request_body = pay_body(
                        &self.ctx,
                        &auth,
                        token,
                        &attempt.payment_request_id,
                        &order,
                        attempt.expires_at,
                    )?;
                }
                let Some(applied) = apply_attempt(
                    &mut *tx,
                    attempt,
                    AttemptEvent::Send,
                    &Facts::default(),
                    now,
                    |_| {},
                )
                .await?
                else {
                    continue;
                };
                tx.remove_jobs(&JobKind::SendPayment(id.clone())).await?;
                tx.remove_jobs(&JobKind::ResolvePayment(id.clone())).await?;
                tx.enqueue_job(
                    JobKind::ResolvePayment(id.clone()),
                    now + self.ctx.schedule.reply_timeout_ms,
                )
                .await?;
                if commit(tx).await? {
                    break 'intent applied.attempt.request_body;
                }
            }
            return Err(Error::Contention(id.to_string()));
        };
        let reply = self.ctx.gateway.pay(&body).await;
        self.apply_pay_reply(id, &reply).await
    }

    async fn apply_pay_reply(
        &self,
        id: &AttemptId,
        reply: &Reply<PayResponse>,
    ) -> Result<(), Error> {
        let (event_, facts) = pay_outcome(reply);
        for _ in 0..MAX_TRIES {
            let now = self.ctx.now();
            let mut tx = self.ctx.store.begin().await?;
            let attempt = tx
                .attempt(id)
                .await?
                .ok_or_else(|| not_found("payment attempt", id))?;
            // "Not sent" only means something for the send in flight; otherwise it adds nothing.
            let event_ = if event_ == AttemptEvent::NotSent && attempt.state != AttemptState::Sent {
                AttemptEvent::Unknown
            } else {
                event_
            };
            let Some(applied) =
                apply_attempt(&mut *tx, attempt, event_, &facts, now, |_| {}).await?
            else {
                continue;
            };
            let resolve = JobKind::ResolvePayment(id.clone());
            let moved = applied.moved_to().is_some();
            match applied.attempt.state {
                AttemptState::Unknown if moved => {
                    tx.remove_jobs(&resolve).await?;
                    tx.enqueue_job(resolve, now + self.ctx.schedule.first_inquiry_after_ms)
                        .await?;
                }
                AttemptState::Created if moved => {
                    tx.remove_jobs(&resolve).await?;
                    tx.enqueue_job(
                        JobKind::SendPayment(id.clone()),
                        now + self.ctx.schedule.resend_after_ms,
                    )
                    .await?;
                }
                AttemptState::Succeeded | AttemptState::Failed | AttemptState::Cancelled => {
                    tx.remove_jobs(&resolve).await?;
                    tx.remove_jobs(&JobKind::SendPayment(id.clone())).await?;
                }
                // Unchanged by this answer, or still on its way: the stored jobs go on.
                AttemptState::Unknown
                | AttemptState::Created
                | AttemptState::Sent
                | AttemptState::Inquiring
                | AttemptState::CancelRequested
                | AttemptState::NeedsOperator => {}
            }
            if commit(tx).await? {
                return Ok(());
            }
        }
        Err(Error::Contention(id.to_string()))
    }

    /// `ResolvePayment`: one `inquiryPayment`; settled → done; still unknown → again in 3 s;
    /// after the last inquiry → cancel.
    pub(crate) async fn resolve_job(&self, lease: &Lease<'_>, id: &AttemptId) -> Result<(), Error> {
        let attempt = self.read_attempt(id).await?;
        match attempt.state {
            AttemptState::Sent | AttemptState::Unknown | AttemptState::Inquiring => {}
            AttemptState::Created
            | AttemptState::Succeeded
            | AttemptState::Failed
            | AttemptState::CancelRequested
            | AttemptState::Cancelled
            | AttemptState::NeedsOperator => return complete_alone(&self.ctx, lease).await,
        }
        let schedule = &self.ctx.schedule;
        let reply = self
            .ctx
            .gateway
            .inquiry_payment(&InquiryPaymentRequest::by_payment_request_id(
                attempt.payment_request_id.as_str(),
            ))
            .await;
        let left = schedule.max_inquiries.saturating_sub(attempt.inquiries + 1);
        let (event_, facts) = inquiry_outcome(&reply, left);
        let unsettled = |s: AttemptState| {
            matches!(
                s,
                AttemptState::Sent | AttemptState::Unknown | AttemptState::Inquiring
            )
        };
        for _ in 0..MAX_TRIES {
            let now = self.ctx.now();
            let mut tx = self.ctx.store.begin().await?;
            let attempt = tx
                .attempt(id)
                .await?
                .ok_or_else(|| not_found("payment attempt", id))?;
            let Some(applied) = apply_attempt(&mut *tx, attempt, event_, &facts, now, |a| {
                if unsettled(a.state) {
                    a.inquiries += 1;
                }
            })
            .await?
            else {
                continue;
            };
            let attempt = applied.attempt;
            let held = if unsettled(attempt.state) && attempt.inquiries >= schedule.max_inquiries {
                let facts = Facts::code("INQUIRIES_EXHAUSTED");
                let cancelling = apply_attempt(
                    &mut *tx,
                    attempt,
                    AttemptEvent::CancelRequested,
                    &facts,
                    now,
                    |a| {
                        a.cancel_started_at.get_or_insert(now);
                    },
                )
                .await?;
                if cancelling.is_none() {
                    continue;
                }
                tx.enqueue_job(JobKind::CancelPayment(id.clone()), now)
                    .await?;
                lease.complete(&mut *tx).await?
            } else if unsettled(attempt.state) {
                lease
                    .retry_at(&mut *tx, now + schedule.inquiry_every_ms)
                    .await?
            } else {
                lease.complete(&mut *tx).await?
            };
            if !held || commit(tx).await? {
                return Ok(());
            }
        }
        Err(Error::Contention(id.to_string()))
    }

    /// `CancelPayment`: one `cancel` with the same `paymentRequestId`; S (or nothing to cancel) →
    /// cancelled; U or no answer → again in 5–10 s while within the retry time and the cancel
    /// window; refused (window passed) or exhausted → an operator.
    pub(crate) async fn cancel_job(&self, lease: &Lease<'_>, id: &AttemptId) -> Result<(), Error> {
        let attempt = self.read_attempt(id).await?;
        match attempt.state {
            AttemptState::CancelRequested => {}
            AttemptState::Created
            | AttemptState::Sent
            | AttemptState::Succeeded
            | AttemptState::Failed
            | AttemptState::Unknown
            | AttemptState::Inquiring
            | AttemptState::Cancelled
            | AttemptState::NeedsOperator => return complete_alone(&self.ctx, lease).await,
        }
        let schedule = &self.ctx.schedule;
        let started = attempt.cancel_started_at.unwrap_or_else(|| self.ctx.now());
        let deadline = cancel_deadline(attempt.created_at);
        let outcome = if self.ctx.now() > deadline {
            CancelOutcome::Impossible("CANCEL_WINDOW_EXCEED".into())
        } else {
            let request = CancelRequest::by_payment_request_id(attempt.payment_request_id.as_str());
            cancel_outcome(&self.ctx.gateway.cancel(&request).await)
        };
        for _ in 0..MAX_TRIES {
            let now = self.ctx.now();
            let mut tx = self.ctx.store.begin().await?;
            let attempt = tx
                .attempt(id)
                .await?
                .ok_or_else(|| not_found("payment attempt", id))?;
            let (event_, facts) = match &outcome {
                CancelOutcome::Cancelled => (AttemptEvent::Cancelled, Facts::default()),
                CancelOutcome::Impossible(code) => (
                    AttemptEvent::CancelImpossible,
                    Facts {
                        operator: Some(format!(
                            "the cancel was refused ({code}): refund instead, or contact Alipay"
                        )),
                        ..Facts::code(code.clone())
                    },
                ),
                CancelOutcome::Retry(detail) => {
                    let next =
                        now + jitter(schedule.cancel_retry_min_ms, schedule.cancel_retry_max_ms);
                    if next <= started + schedule.cancel_retry_for_ms && next <= deadline {
                        if !lease.retry_at(&mut *tx, next).await? || commit(tx).await? {
                            return Ok(());
                        }
                        continue;
                    }
                    (
                        AttemptEvent::CancelImpossible,
                        Facts {
                            operator: Some(format!(
                                "the cancel got no answer while retried ({detail}): contact Alipay's support"
                            )),
                            ..Facts::code("CANCEL_RETRIES_EXHAUSTED")
                        },
                    )
                }
            };
            if apply_attempt(&mut *tx, attempt, event_, &facts, now, |_| {})
                .await?
                .is_none()
            {
                continue;
            }
            if !lease.complete(&mut *tx).await? || commit(tx).await? {
                return Ok(());
            }
        }
        Err(Error::Contention(id.to_string()))
    }

    /// Asks to cancel an order's payment (before or after it succeeded, inside the cancel window):
    /// the cancel is sent by a job, retried, and settles the payment as cancelled.
    ///
    /// # Errors
    /// [`Error::NotFound`] and store failures.
    pub async fn cancel(&self, order_id: &OrderId) -> Result<ChargeResult, Error> {
        for _ in 0..MAX_TRIES {
            let now = self.ctx.now();
            let mut tx = self.ctx.store.begin().await?;
            let attempt = tx
                .attempts_of_order(order_id)
                .await?
                .pop()
                .ok_or_else(|| not_found("payment attempt of order", order_id))?;
            let id = attempt.id.clone();
            let Some(applied) = apply_attempt(
                &mut *tx,
                attempt,
                AttemptEvent::CancelRequested,
                &Facts::code("MERCHANT_CANCEL"),
                now,
                |a| {
                    if a.state == AttemptState::CancelRequested {
                        a.cancel_started_at.get_or_insert(now);
                    }
                },
            )
            .await?
            else {
                continue;
            };
            let moved = applied.moved_to().is_some();
            match applied.attempt.state {
                AttemptState::CancelRequested if moved => {
                    tx.remove_jobs(&JobKind::ResolvePayment(id.clone())).await?;
                    tx.enqueue_job(JobKind::CancelPayment(id.clone()), now)
                        .await?;
                }
                // Never sent: cancelled here.
                AttemptState::Cancelled if moved => {
                    tx.remove_jobs(&JobKind::SendPayment(id.clone())).await?;
                }
                // Already cancelling, or settled (a failed or cancelled payment holds nothing).
                AttemptState::CancelRequested
                | AttemptState::Cancelled
                | AttemptState::Created
                | AttemptState::Sent
                | AttemptState::Succeeded
                | AttemptState::Failed
                | AttemptState::Unknown
                | AttemptState::Inquiring
                | AttemptState::NeedsOperator => {}
            }
            if commit(tx).await? {
                return self.result_of_attempt(&id).await;
            }
        }
        Err(Error::Contention(order_id.to_string()))
    }

    /// Where an order's payment stands.
    ///
    /// # Errors
    /// [`Error::NotFound`] and store failures.
    pub async fn status(&self, order_id: &OrderId) -> Result<ChargeResult, Error> {
        let mut tx = self.ctx.store.begin().await?;
        let attempt = tx
            .attempts_of_order(order_id)
            .await?
            .pop()
            .ok_or_else(|| not_found("payment attempt of order", order_id))?;
        drop(tx);
        self.result_of_attempt(&attempt.id).await
    }

    async fn read_attempt(&self, id: &AttemptId) -> Result<PaymentAttempt, Error> {
        let mut tx = self.ctx.store.begin().await?;
        tx.attempt(id)
            .await?
            .ok_or_else(|| not_found("payment attempt", id))
    }

    async fn result_of_attempt(&self, id: &AttemptId) -> Result<ChargeResult, Error> {
        let mut tx = self.ctx.store.begin().await?;
        let attempt = tx
            .attempt(id)
            .await?
            .ok_or_else(|| not_found("payment attempt", id))?;
        let order = tx
            .order(&attempt.order_id)
            .await?
            .ok_or_else(|| not_found("order", &attempt.order_id))?;
        Ok(ChargeResult {
            order_id: order.id,
            order_state: order.state,
            attempt_id: attempt.id,
            payment_request_id: attempt.payment_request_id,
            attempt_state: attempt.state,
            payment_id: attempt.payment_id,
            result_code: attempt.result_code,
            late_success: attempt.late_success,
            replayed: false,
        })
    }

    /// Takes the jobs due at `now` (every kind: payments, refunds, authorizations) as `worker`, and
    /// runs each. A job that fails keeps its lease until it expires, then runs again.
    ///
    /// # Errors
    /// Store failures while claiming.
    pub async fn run_due_jobs(&self, worker: &str, now: Millis) -> Result<JobReport, Error> {
        let schedule = &self.ctx.schedule;
        let jobs = self
            .ctx
            .store
            .claim_jobs(now, worker, schedule.lease_ms, schedule.batch)
            .await?;
        let mut report = JobReport {
            claimed: jobs.len(),
            ..JobReport::default()
        };
        let authorizations = Authorizations::new(self.ctx.clone());
        let refunds = Refunds::new(self.ctx.clone());
        for job in &jobs {
            let lease = Lease { job, worker };
            let result = match &job.kind {
                JobKind::SendPayment(id) => self.send(id, Some(&lease)).await,
                JobKind::ResolvePayment(id) => self.resolve_job(&lease, id).await,
                JobKind::CancelPayment(id) => self.cancel_job(&lease, id).await,
                JobKind::RefreshToken(id) => authorizations.refresh_job(&lease, id).await,
                JobKind::ExchangeCode(id) => authorizations.exchange(id, Some(&lease)).await,
                JobKind::Revoke(id) => authorizations.revoke_job(&lease, id).await,
                JobKind::ResolveRefund(id) => refunds.resolve_job(&lease, id).await,
            };
            match result {
                Ok(()) => report.done += 1,
                // Its subject is gone: nothing will ever run it to the end.
                Err(e @ Error::NotFound { .. }) => {
                    complete_alone(&self.ctx, &lease).await?;
                    report.failed.push((job.id.clone(), e.to_string()));
                }
                Err(e) => report.failed.push((job.id.clone(), e.to_string())),
            }
        }
        Ok(report)
    }
}
