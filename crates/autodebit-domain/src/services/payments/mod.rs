//! Charging an authorization, paying an order again, cancelling, and resolving every outcome that
//! is not known.
//!
//! 1. **Store.** One unit of work checks the merchant's idempotency key, that the reference is new,
//!    and that the authorization is `active`, and stores the order and a payment attempt
//!    (`Created`) with a fresh `paymentRequestId` and its exact `pay` body, plus the attempt's
//!    job. One business order has at most one attempt that is not final.
//! 2. **Send.** The request's own call runs the job at once under a lease: the attempt moves to
//!    `Sent` in a committed unit of work **before** `pay` leaves, and the job stays behind to
//!    resolve it if the answer never comes (no call without a committed intent, no sent call
//!    without a durable job).
//! 3. **Apply the answer** through the attempt lifecycle and the decision table, bound to the
//!    request (another `paymentRequestId` or amount is not applied): `S` → succeeded; `F` →
//!    failed (an invalid token makes the authorization invalid); `U`, no answer, or an `F` that
//!    means the first request may have worked (`REPEAT_REQ_INCONSISTENT`) → unknown; surely not
//!    sent → sent again with the same bytes.
//! 4. **Resolve** (the payment job, `step.rs`): `inquiryPayment` every 3 s up to 20 times; still unknown → `cancel`
//!    (same `paymentRequestId`), retried every 5–10 s for 60 s and then with growing waits until
//!    the cancel window (00:15 UTC+8 the day after the payment) closes; a cancel answered
//!    `ORDER_NOT_EXIST` before the payment's expiry (plus a margin) proves nothing and is retried;
//!    a cancel that cannot be done → the payment is inquired until final (`Confirming`), and a
//!    payment found paid is refunded in full. A person is told when it takes long; no path waits
//!    on one.

mod apply;
mod step;

pub(crate) use apply::{AttemptFacts, apply_attempt, failure_facts};
pub(crate) use step::step;

use ams_protocol::{
    Amount, AmsDateTime, Env, Merchant, Order as WireOrder, PayRequest, SettlementStrategy,
};

use super::lease::Lease;
use super::{
    Context, Error, Page, Unit, cancel_deadline, fingerprint, invalid, not_found, page_of,
    page_request,
};
use crate::lifecycle::Step;
use crate::lifecycle::attempt::{AttemptEvent, AttemptState};
use crate::lifecycle::order::{self as order_lifecycle, OrderEvent, OrderState};
use crate::lifecycle::refund::RefundState;
use crate::model::{
    AttemptId, AttentionItem, Authorization, AuthorizationId, Body, CancelReason, JobKind, Millis,
    Order, OrderId, PaymentAttempt, Refund, Subject, TokenSet,
};
use crate::ports::{OrderFilter, PageRequest, Tx};

/// A merchant's request to charge an authorization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChargeCommand {
    /// The merchant's idempotency key: the same key with the same parameters returns the same
    /// payment; with other parameters it is refused.
    pub idempotency_key: String,
    /// The authorization to charge (must be `active`).
    pub authorization_id: AuthorizationId,
    /// The merchant's order reference (`referenceOrderId`, at most 64 characters): one order per
    /// reference.
    pub reference: String,
    /// What it is for (`orderDescription`, at most 256 characters).
    pub description: String,
    /// How much.
    pub amount: Amount,
    /// Where the wallet sends the user back after a payment it needed them for
    /// (`paymentRedirectUrl`, at most 2048 characters); none: the wallet's own page ends it.
    pub return_url: Option<String>,
}

/// A merchant's request to pay an order again, after every earlier attempt failed or was
/// cancelled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryCommand {
    /// The merchant's idempotency key.
    pub idempotency_key: String,
    /// The order.
    pub order_id: OrderId,
}

/// Where a payment stands, as the merchant sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// Not settled yet: the resolution goes on in the background.
    Processing,
    /// Paid (refunds are shown apart).
    Succeeded,
    /// Not paid; it may be paid again with a retry.
    Failed,
    /// Cancelled: nothing charged, or the charge returned.
    Cancelled,
}

impl Status {
    /// The status's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Processing => "processing",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }
}

/// A payment: the order with its attempts, refunds and open attention items.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentView {
    /// The order.
    pub order: Order,
    /// Its attempts, oldest first (never empty).
    pub attempts: Vec<PaymentAttempt>,
    /// Its refunds, oldest first.
    pub refunds: Vec<Refund>,
    /// What needs a person about it, if anything.
    pub attention: Vec<AttentionItem>,
    /// Whether this answers an earlier command with the same idempotency key.
    pub replayed: bool,
}

impl PaymentView {
    /// The latest attempt.
    pub fn latest(&self) -> &PaymentAttempt {
        // Never empty: an order is stored with its first attempt.
        &self.attempts[self.attempts.len() - 1]
    }

    /// Where it stands.
    pub fn status(&self) -> Status {
        match self.order.state {
            OrderState::Pending => Status::Processing,
            OrderState::Succeeded | OrderState::PartlyRefunded | OrderState::FullyRefunded => {
                Status::Succeeded
            }
            OrderState::Failed => Status::Failed,
            OrderState::Cancelled => Status::Cancelled,
        }
    }

    /// Whether a person should look at it.
    pub fn needs_attention(&self) -> bool {
        !self.attention.is_empty()
    }
}

/// Why `auth` may not be charged at `now`, if it may not; its tokens if it may.
pub(crate) fn chargeable(auth: &Authorization, now: Millis) -> Result<&TokenSet, String> {
    if !auth.state.can_charge() {
        return Err(format!("it is {}", auth.state.name()));
    }
    match &auth.token {
        None => Err("it holds no token".into()),
        Some(token) if token.access_expires_at <= now => Err("its access token has expired".into()),
        Some(token) => Ok(token),
    }
}

/// The exact `pay` body.
fn pay_body(
    ctx: &Context,
    auth: &Authorization,
    token: &TokenSet,
    payment_request_id: &ams_protocol::PaymentRequestId,
    order: &Order,
    expires_at: Millis,
) -> Result<Body, Error> {
    let mut env = Env::new(auth.terminal_type.clone());
    if let Some(os) = &auth.os_type {
        env = env.with_os_type(os.clone());
    }
    let settlement = ctx
        .settings
        .settlement_currency
        .unwrap_or(order.amount.currency);
    let mut wire_order = WireOrder::new(
        order.reference.as_str(),
        order.description.as_str(),
        order.amount,
    );
    if let Some(reference) = &auth.secondary_merchant {
        // The token was granted to this secondary merchant (consult's `authClientId`): its
        // payments are made for it.
        let mut merchant = Merchant::default();
        merchant.reference_merchant_id = Some(reference.clone());
        wire_order = wire_order.with_merchant(merchant);
    }
    let mut request = PayRequest::agreement_payment(
        payment_request_id.clone(),
        wire_order,
        order.amount,
        auth.wallet.clone(),
        &token.access_token,
        env,
    )
    .with_settlement_strategy(SettlementStrategy::new(settlement));
    let expiry = AmsDateTime::from_unix_millis(expires_at, 8 * 60)
        .map_err(|e| invalid("payment_expiry_time", e.to_string()))?;
    request = request.with_payment_expiry_time(expiry);
    if let Some(url) = &ctx.settings.payment_notify_url {
        request = request.with_payment_notify_url(url.clone());
    }
    if let Some(url) = &order.return_url {
        request = request.with_payment_redirect_url(url.clone());
    }
    serde_json::to_string(&request)
        .map(Body::new)
        .map_err(|e| invalid("pay", format!("the pay body does not serialise: {e}")))
}

fn validate_key(key: &str) -> Result<(), Error> {
    if key.is_empty() || key.len() > 255 || key.chars().any(|c| c.is_control()) {
        return Err(invalid(
            "idempotency_key",
            "must have 1 to 255 printable characters",
        ));
    }
    Ok(())
}

fn validate(command: &ChargeCommand) -> Result<(), Error> {
    validate_key(&command.idempotency_key)?;
    if command.reference.is_empty() || command.reference.chars().count() > 64 {
        return Err(invalid("reference", "must have 1 to 64 characters"));
    }
    if command.description.is_empty() || command.description.chars().count() > 256 {
        return Err(invalid("description", "must have 1 to 256 characters"));
    }
    if command.amount.is_zero() {
        return Err(invalid("amount", "must be more than zero"));
    }
    if let Some(url) = &command.return_url
        && (url.is_empty() || url.chars().count() > 2048)
    {
        return Err(invalid("return_url", "must have 1 to 2048 characters"));
    }
    Ok(())
}

/// The authorization `id` and its tokens, when it may be charged at `now`.
async fn chargeable_authorization(
    tx: &mut dyn Tx,
    id: &AuthorizationId,
    now: Millis,
) -> Result<(Authorization, TokenSet), Error> {
    let auth = tx
        .authorization(id)
        .await?
        .ok_or_else(|| not_found("authorization", id))?;
    let token = chargeable(&auth, now)
        .map_err(|reason| Error::NotChargeable {
            id: auth.id.to_string(),
            reason,
        })?
        .clone();
    Ok((auth, token))
}

/// A new attempt of `order` on `auth`, with its id, `paymentRequestId`, expiry and exact body.
fn new_attempt(
    ctx: &Context,
    auth: &Authorization,
    token: &TokenSet,
    order: &Order,
    now: Millis,
) -> Result<PaymentAttempt, Error> {
    let payment_request_id =
        ctx.ids
            .payment_request_id(now, auth.terminal_type.as_str(), order.amount.minor_units())?;
    let expires_at = now + ctx.schedule.payment_expiry_ms;
    Ok(PaymentAttempt {
        id: AttemptId::new(ctx.ids.local_id("att")?),
        order_id: order.id.clone(),
        request_body: pay_body(ctx, auth, token, &payment_request_id, order, expires_at)?,
        payment_request_id,
        amount: order.amount,
        state: AttemptState::Created,
        payment_id: None,
        result_code: None,
        inquiries: 0,
        late_success: false,
        wallet_action: None,
        cancel_reason: None,
        cancel_started_at: None,
        expires_at,
        version: 0,
        created_at: now,
        updated_at: now,
    })
}

/// Stores a new attempt with its job, due once the first call has had its time (the request's
/// own call runs the job at once; the job is what remains if it never does).
async fn store_attempt(
    ctx: &Context,
    tx: &mut dyn Tx,
    attempt: &PaymentAttempt,
    now: Millis,
) -> Result<(), Error> {
    tx.insert_attempt(attempt).await?;
    tx.schedule_job(
        JobKind::Payment(attempt.id.clone()),
        now + ctx.schedule.reply_timeout_ms,
    )
    .await?;
    Ok(())
}

/// Charges authorizations, pays orders again, cancels them, and shows where they stand.
#[derive(Clone, Debug)]
pub struct Payments {
    ctx: Context,
}

impl Payments {
    /// The service over `ctx`.
    pub fn new(ctx: Context) -> Self {
        Self { ctx }
    }

    /// Charges an authorization, once per idempotency key and once per reference.
    ///
    /// Returns where the payment stands after the first answer: succeeded, failed, or still
    /// processing (then its job resolves it; [`Payments::payment`] reads it later).
    ///
    /// # Errors
    /// [`Error::Invalid`], [`Error::NotFound`], [`Error::NotChargeable`],
    /// [`Error::ReferenceInUse`] (nothing stored or sent), [`Error::IdempotencyConflict`], the
    /// random source, and store failures.
    pub async fn charge(&self, command: ChargeCommand) -> Result<PaymentView, Error> {
        validate(&command)?;
        let minor = command.amount.minor_units().to_string();
        let mut fields = vec![
            command.authorization_id.as_str(),
            &command.reference,
            &command.description,
            command.amount.currency.code(),
            &minor,
        ];
        // Only when given, so a key stored before return URLs existed still replays.
        fields.extend(command.return_url.as_deref());
        let fp = fingerprint("charge", &fields);
        let ctx = &self.ctx;
        let (order_id, attempt_id) = unit_of_work!(ctx, &command.idempotency_key, |tx, now| {
            if let Some(replayed) = replay(tx, &command.idempotency_key, &fp).await? {
                return Ok(Unit::Done((replayed, None)));
            }
            let (auth, token) =
                chargeable_authorization(tx, &command.authorization_id, now).await?;
            if let Some(order) = tx.order_by_reference(&command.reference).await? {
                return Err(Error::ReferenceInUse {
                    reference: command.reference.clone(),
                    order_id: order.id.to_string(),
                });
            }
            let order = Order {
                id: OrderId::new(ctx.ids.local_id("pay")?),
                authorization_id: auth.id.clone(),
                reference: command.reference.clone(),
                description: command.description.clone(),
                amount: command.amount,
                state: OrderState::Pending,
                refunded: 0,
                return_url: command.return_url.clone(),
                version: 0,
                created_at: now,
                updated_at: now,
            };
            let attempt = new_attempt(ctx, &auth, &token, &order, now)?;
            if !super::remember(tx, &command.idempotency_key, &fp, order.id.as_str(), now).await? {
                return Ok(Unit::Retry);
            }
            match tx.insert_order(&order).await {
                Ok(()) => {}
                // The reference was taken meanwhile: the next try says by whom.
                Err(crate::ports::StoreError::Conflict(_)) => return Ok(Unit::Retry),
                Err(e) => return Err(e.into()),
            }
            store_attempt(ctx, tx, &attempt, now).await?;
            Ok(Unit::Commit((order.id, Some(attempt.id))))
        })?;
        self.settle_first(&order_id, attempt_id).await
    }

    /// Pays an order again with a new attempt (a new `paymentRequestId`), only when every earlier
    /// attempt is final and unpaid (failed or cancelled).
    ///
    /// # Errors
    /// [`Error::AttemptInProgress`] while an attempt is not final, [`Error::AlreadyPaid`],
    /// [`Error::NotChargeable`], [`Error::NotFound`], [`Error::IdempotencyConflict`], the random
    /// source, store failures.
    pub async fn retry(&self, command: RetryCommand) -> Result<PaymentView, Error> {
        validate_key(&command.idempotency_key)?;
        let fp = fingerprint("retry", &[command.order_id.as_str()]);
        let ctx = &self.ctx;
        let (order_id, attempt_id) = unit_of_work!(ctx, &command.idempotency_key, |tx, now| {
            if let Some(replayed) = replay(tx, &command.idempotency_key, &fp).await? {
                return Ok(Unit::Done((replayed, None)));
            }
            let mut order = tx
                .order(&command.order_id)
                .await?
                .ok_or_else(|| not_found("payment", &command.order_id))?;
            if order.state.is_paid() {
                return Err(Error::AlreadyPaid {
                    order_id: order.id.to_string(),
                });
            }
            if let Some(live) = tx
                .attempts_of_order(&order.id)
                .await?
                .into_iter()
                .find(|a| !a.state.is_final_and_unpaid())
            {
                return Err(Error::AttemptInProgress {
                    order_id: order.id.to_string(),
                    payment_request_id: live.payment_request_id.to_string(),
                    state: live.state.name(),
                });
            }
            let (auth, token) = chargeable_authorization(tx, &order.authorization_id, now).await?;
            let attempt = new_attempt(ctx, &auth, &token, &order, now)?;
            match order_lifecycle::transition(order.state, OrderEvent::AttemptStarted)? {
                Step::Moved(state) => order.state = state,
                Step::Unchanged(_) | Step::Noted(..) => {}
            }
            order.updated_at = now;
            if !tx.update_order(&order).await? {
                return Ok(Unit::Retry);
            }
            if !super::remember(tx, &command.idempotency_key, &fp, order.id.as_str(), now).await? {
                return Ok(Unit::Retry);
            }
            store_attempt(ctx, tx, &attempt, now).await?;
            Ok(Unit::Commit((order.id, Some(attempt.id))))
        })?;
        self.settle_first(&order_id, attempt_id).await
    }

    /// Sends a new attempt at once (its job, claimed here) and shows the payment; a replay just
    /// shows it.
    async fn settle_first(
        &self,
        order_id: &OrderId,
        attempt_id: Option<AttemptId>,
    ) -> Result<PaymentView, Error> {
        let replayed = attempt_id.is_none();
        if let Some(id) = &attempt_id {
            run_now(&self.ctx, id).await?;
        }
        let mut view = self.payment(order_id).await?;
        view.replayed = replayed;
        Ok(view)
    }

    /// Cancels a payment (before or after it succeeded, inside the cancel window): the cancel is
    /// sent at once and by the payment's job until Alipay answers it, and settles the payment as
    /// cancelled. If it cannot be done in time and the payment was paid, it is refunded.
    ///
    /// # Errors
    /// [`Error::NotCancellable`] on a failed payment, after a refund, or past the window (then
    /// `refund_instead`); [`Error::NotFound`]; store failures.
    pub async fn cancel(&self, order_id: &OrderId) -> Result<PaymentView, Error> {
        let ctx = &self.ctx;
        let attempt_id = unit_of_work!(ctx, order_id, |tx, now| {
            let mut order = tx
                .order(order_id)
                .await?
                .ok_or_else(|| not_found("payment", order_id))?;
            let refuse = |reason: String, refund_instead: bool| Error::NotCancellable {
                order_id: order_id.to_string(),
                reason,
                refund_instead,
            };
            let attempt = tx
                .attempts_of_order(order_id)
                .await?
                .pop()
                .ok_or_else(|| not_found("payment attempt of", order_id))?;
            match order.state {
                OrderState::Pending | OrderState::Succeeded => {}
                OrderState::Cancelled => return Ok(Unit::Done(None)),
                OrderState::Failed => {
                    return Err(refuse("it failed: nothing was charged".into(), false));
                }
                OrderState::PartlyRefunded | OrderState::FullyRefunded => {
                    return Err(refuse(
                        "it was refunded: refund what is left instead".into(),
                        true,
                    ));
                }
            }
            if tx
                .refunds_of_order(order_id)
                .await?
                .iter()
                .any(|r| r.state != RefundState::Failed)
            {
                return Err(refuse(
                    "it has a refund: refund what is left instead".into(),
                    true,
                ));
            }
            if matches!(
                attempt.state,
                AttemptState::CancelRequested | AttemptState::Confirming | AttemptState::Cancelled
            ) {
                return Ok(Unit::Done(None));
            }
            let deadline = cancel_deadline(attempt.created_at);
            if now > deadline {
                return Err(refuse(
                    format!(
                        "its cancel window closed at {}: refund instead",
                        AmsDateTime::from_unix_millis(deadline, 8 * 60)
                            .map_or_else(|_| deadline.to_string(), |t| t.as_str().to_owned())
                    ),
                    order.state.is_paid(),
                ));
            }
            // Touch the order as it was read, before anything else is written: a refund stored
            // since then makes this compare-and-set fail (and the cancel is decided again, seeing
            // the refund), and one stored after waits for this unit and then fails its own. Read
            // again after `apply_attempt` instead, the order would carry the refund's version and
            // both would go out (READ COMMITTED shows other units' commits).
            order.updated_at = now;
            if !tx.update_order(&order).await? {
                return Ok(Unit::Retry);
            }
            let id = attempt.id.clone();
            let applied = apply_attempt(
                ctx,
                tx,
                attempt,
                AttemptEvent::CancelRequested,
                &AttemptFacts::code("MERCHANT_CANCEL"),
                now,
                |a| {
                    if a.state == AttemptState::CancelRequested {
                        a.cancel_reason = Some(CancelReason::Merchant);
                        a.cancel_started_at = Some(now);
                    }
                },
            )
            .await?;
            if applied.is_none() {
                return Ok(Unit::Retry);
            }
            // The cancel is sent at once below (`run_now`, which takes the job due or not); the
            // job is what remains if that call never happens or never answers. Due now, a worker
            // could take it first, and the merchant would be answered before the cancel left.
            tx.schedule_job(
                JobKind::Payment(id.clone()),
                now + ctx.schedule.reply_timeout_ms,
            )
            .await?;
            Ok(Unit::Commit(Some(id)))
        })?;
        if let Some(id) = &attempt_id {
            run_now(ctx, id).await?;
        }
        self.payment(order_id).await
    }

    /// A payment as stored: the order, its attempts, refunds and open attention items.
    ///
    /// # Errors
    /// [`Error::NotFound`] and store failures.
    pub async fn payment(&self, order_id: &OrderId) -> Result<PaymentView, Error> {
        let mut tx = self.ctx.store.begin().await?;
        view(&mut *tx, order_id).await
    }

    /// A page of the payments whose orders match `filter`, newest first.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a limit out of 1 to [`MAX_PAGE`](super::MAX_PAGE) (`limit`) or a
    /// cursor that names no payment (`starting_after`); store failures.
    pub async fn list(
        &self,
        filter: &OrderFilter,
        page: &PageRequest,
    ) -> Result<Page<PaymentView>, Error> {
        let read = page_request(page)?;
        let mut tx = self.ctx.store.begin().await?;
        if let Some(after) = &page.after
            && tx.order(&OrderId::new(after.clone())).await?.is_none()
        {
            return Err(invalid("starting_after", "names no payment"));
        }
        let orders = page_of(tx.list_orders(filter, &read).await?, page);
        let mut items = Vec::with_capacity(orders.items.len());
        for order in &orders.items {
            items.push(view(&mut *tx, &order.id).await?);
        }
        Ok(Page {
            items,
            has_more: orders.has_more,
        })
    }
}

/// The payment `order_id` as seen in `tx`.
pub(crate) async fn view(tx: &mut dyn Tx, order_id: &OrderId) -> Result<PaymentView, Error> {
    let order = tx
        .order(order_id)
        .await?
        .ok_or_else(|| not_found("payment", order_id))?;
    let attempts = tx.attempts_of_order(order_id).await?;
    if attempts.is_empty() {
        return Err(not_found("payment attempt of", order_id));
    }
    Ok(PaymentView {
        refunds: tx.refunds_of_order(order_id).await?,
        attention: tx.attention_of(&Subject::Order(order_id.clone())).await?,
        order,
        attempts,
        replayed: false,
    })
}

/// The order an idempotency key already made, if it did; an error if it made it with other
/// parameters.
async fn replay(
    tx: &mut dyn Tx,
    key: &str,
    fp: &super::Fingerprint,
) -> Result<Option<OrderId>, Error> {
    Ok(super::replayed(tx, key, fp).await?.map(OrderId::new))
}

/// Runs the job of attempt `id` now, under a lease of its own (false: a worker has it).
pub(crate) async fn run_now(ctx: &Context, id: &AttemptId) -> Result<bool, Error> {
    let Some(lease) = Lease::claim(ctx, &JobKind::Payment(id.clone())).await? else {
        return Ok(false);
    };
    step(ctx, &lease, id).await?;
    Ok(true)
}
