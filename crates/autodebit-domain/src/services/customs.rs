//! Customs declarations (China customs only; digest §9.3–9.4): a paid order is declared to a
//! customs office, with one `declarationRequestId` per declaration, kept for every send and re-send.
//!
//! - The declared amounts of an order's declarations that are not refused never exceed what was
//!   paid (when declared in the payment's currency; Alipay checks its own rule in any case), and an
//!   order is declared only while it is paid.
//! - `declare` is idempotent on `declarationRequestId`: `U`, a timeout or no answer → the same bytes
//!   again, with growing waits, never a new id (a second id for the same payment and office would
//!   be `DUPLICATED_DECLARATIONS`). `F` → refused, final. `S` → accepted; customs' answer is then
//!   read with `inquiryDeclarationRequests`, with growing waits, until customs has answered.
//! - A re-send (customs lost the data, or it was wrong) changes only what the digest lets change
//!   (§9.3.5: the merchant's customs code and name, the customs office, the amount, the sub-order
//!   id, the buyer's name and certificate number), keeps the id, and is taken only more than five
//!   minutes after the previous call; it is refused before anything is sent otherwise. A re-send
//!   Alipay refuses leaves the declaration accepted (the earlier transmission stands), the refusal
//!   kept as its result code, with a `customs_declaration.failed` event.
//! - A person is told when a declaration stays without Alipay's or customs' answer for long; its job
//!   goes on.

use ams_protocol::{
    Amount, Api, Certificate, CertificateType, CustomsCode, CustomsInfo, DeclareRequest,
    DeclareResponse, InquiryDeclarationRequestsRequest, MerchantCustomsInfo, UserName,
};

use super::lease::Lease;
use super::{
    Context, Error, Flag, Unit, backoff, fingerprint, invalid, not_found, raise, remember, replayed,
};
use crate::decision::{Decision, decide};
use crate::lifecycle::Step;
use crate::lifecycle::declaration::{DeclarationEvent, DeclarationState, transition};
use crate::model::{
    Body, Declaration, DeclarationId, Event, EventKind, JobKind, Millis, OperatorAction, OrderId,
    Subject,
};
use crate::ports::{Reply, Tx};

/// Alipay takes a re-send of a declaration only this long after the previous call (digest §9.3.5:
/// "more than 5 minutes").
pub const RESEND_AFTER_MS: Millis = 5 * 60_000;

/// The buyer, as customs checks them against the payer.
#[derive(Clone, PartialEq, Eq)]
pub struct Buyer {
    /// `certificateType` (e.g. `ID_CARD`).
    pub certificate_type: String,
    /// `certificateNo` (personal data: never in `Debug`).
    pub certificate_no: String,
    /// `holderName.fullName`.
    pub full_name: String,
}

impl std::fmt::Debug for Buyer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Buyer")
            .field("certificate_type", &self.certificate_type)
            .finish_non_exhaustive()
    }
}

/// A merchant's request to declare a paid order to customs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeclareCommand {
    /// The merchant's idempotency key.
    pub idempotency_key: String,
    /// The paid order.
    pub order_id: OrderId,
    /// How much to declare; `None`: what the order took.
    pub amount: Option<Amount>,
    /// The customs office's code (`ZONGSHU`, `SHANGHAI_CBT`, ...).
    pub customs_code: String,
    /// The merchant's registration code at that customs office.
    pub merchant_customs_code: String,
    /// The merchant's registered name at that customs office.
    pub merchant_customs_name: String,
    /// `Some(id)`: this declaration is one part of a split order, sent to customs as `id`.
    pub suborder_id: Option<String>,
    /// The buyer (recommended: customs spot-checks that the buyer is the payer).
    pub buyer: Option<Buyer>,
}

/// What a re-send changes; `None` keeps the value sent before.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeclarationChanges {
    /// The declared amount.
    pub amount: Option<Amount>,
    /// The customs office's code.
    pub customs_code: Option<String>,
    /// The merchant's customs code.
    pub merchant_customs_code: Option<String>,
    /// The merchant's customs name.
    pub merchant_customs_name: Option<String>,
    /// The sub-order id (only for a split order).
    pub suborder_id: Option<String>,
    /// The buyer's full name (only when a buyer was declared).
    pub buyer_full_name: Option<String>,
    /// The buyer's certificate number (only when a buyer was declared; personal data).
    pub buyer_certificate_no: Option<String>,
}

/// A merchant's request to send a declaration again, with changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResendCommand {
    /// The merchant's idempotency key.
    pub idempotency_key: String,
    /// The declaration.
    pub id: DeclarationId,
    /// What changes.
    pub changes: DeclarationChanges,
}

/// A declaration as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeclarationView {
    /// The declaration.
    pub declaration: Declaration,
    /// Whether this answers an earlier command with the same idempotency key.
    pub replayed: bool,
}

/// The customs declaration service.
#[derive(Debug)]
pub struct Customs {
    ctx: Context,
}

impl Customs {
    /// The service over `ctx`.
    pub fn new(ctx: Context) -> Self {
        Self { ctx }
    }

    /// Declares a paid order, once per idempotency key, and sends the declaration at once.
    ///
    /// # Errors
    /// [`Error::Invalid`], [`Error::NotFound`], [`Error::NotDeclarable`] (not paid, or more than was
    /// paid is declared), [`Error::IdempotencyConflict`], the random source, store failures.
    pub async fn declare(&self, command: DeclareCommand) -> Result<DeclarationView, Error> {
        let (id, replayed) = self.record(&command).await?;
        if !replayed {
            run_now(&self.ctx, &id).await?;
        }
        let mut view = self.view(&id).await?;
        view.replayed = replayed;
        Ok(view)
    }

    /// Sends a declaration again with changes (same `declarationRequestId`), once per idempotency
    /// key.
    ///
    /// # Errors
    /// [`Error::NotDeclarable`] when it is refused, still unanswered, or was sent less than five
    /// minutes ago, or the changes would declare more than was paid; [`Error::Invalid`] for a
    /// change that does not apply (a sub-order id of an unsplit order, a buyer never declared);
    /// [`Error::IdempotencyConflict`], store failures.
    pub async fn resend(&self, command: ResendCommand) -> Result<DeclarationView, Error> {
        let (id, replayed) = self.record_resend(&command).await?;
        if !replayed {
            run_now(&self.ctx, &id).await?;
        }
        let mut view = self.view(&id).await?;
        view.replayed = replayed;
        Ok(view)
    }

    /// A declaration as stored.
    ///
    /// # Errors
    /// [`Error::NotFound`] and store failures.
    pub async fn view(&self, id: &DeclarationId) -> Result<DeclarationView, Error> {
        let mut tx = self.ctx.store.begin().await?;
        let declaration = tx
            .declaration(id)
            .await?
            .ok_or_else(|| not_found("customs declaration", id))?;
        Ok(DeclarationView {
            declaration,
            replayed: false,
        })
    }

    /// The declarations of a payment, oldest first.
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no such payment; store failures.
    pub async fn of_payment(&self, order_id: &OrderId) -> Result<Vec<DeclarationView>, Error> {
        let mut tx = self.ctx.store.begin().await?;
        tx.order(order_id)
            .await?
            .ok_or_else(|| not_found("payment", order_id))?;
        Ok(tx
            .declarations_of_order(order_id)
            .await?
            .into_iter()
            .map(|declaration| DeclarationView {
                declaration,
                replayed: false,
            })
            .collect())
    }

    async fn record(&self, command: &DeclareCommand) -> Result<(DeclarationId, bool), Error> {
        validate(command)?;
        let amount_text = command
            .amount
            .map(|a| format!("{} {}", a.currency.code(), a.minor_units()))
            .unwrap_or_default();
        let buyer_text = command
            .buyer
            .as_ref()
            .map(|b| {
                format!(
                    "{}|{}|{}",
                    b.certificate_type, b.certificate_no, b.full_name
                )
            })
            .unwrap_or_default();
        let fp = fingerprint(
            "declare",
            &[
                command.order_id.as_str(),
                &amount_text,
                &command.customs_code,
                &command.merchant_customs_code,
                &command.merchant_customs_name,
                command.suborder_id.as_deref().unwrap_or(""),
                &buyer_text,
            ],
        );
        let ctx = &self.ctx;
        unit_of_work!(ctx, &command.idempotency_key, |tx, now| {
            if let Some(id) = replayed(tx, &command.idempotency_key, &fp).await? {
                return Ok(Unit::Done((DeclarationId::new(id), true)));
            }
            let mut order = tx
                .order(&command.order_id)
                .await?
                .ok_or_else(|| not_found("payment", &command.order_id))?;
            let refusal = |reason: String| Error::NotDeclarable {
                id: command.order_id.to_string(),
                reason,
            };
            if !order.state.is_paid() {
                return Err(refusal(format!("it is {}", order.state.name())));
            }
            let payment_id = tx
                .attempts_of_order(&order.id)
                .await?
                .into_iter()
                .rev()
                .find_map(|a| a.payment_id)
                .ok_or_else(|| refusal("Alipay's paymentId of it is unknown".into()))?;
            let amount = command.amount.unwrap_or(order.amount);
            let others = tx.declarations_of_order(&order.id).await?;
            check_total(&order.amount, amount, &others, None).map_err(refusal)?;
            // Touch the order so that two declarations of it are never stored side by side unseen.
            order.updated_at = now;
            if !tx.update_order(&order).await? {
                return Ok(Unit::Retry);
            }
            let declaration_request_id = ctx.ids.declaration_request_id(now)?;
            let mut request = DeclareRequest::new(
                declaration_request_id.clone(),
                payment_id,
                amount,
                CustomsInfo::new(CustomsCode::from_wire(&command.customs_code), "CN"),
                MerchantCustomsInfo::new(
                    command.merchant_customs_code.clone(),
                    command.merchant_customs_name.clone(),
                ),
            );
            if let Some(suborder) = &command.suborder_id {
                request = request.with_split_order(suborder.clone());
            }
            if let Some(buyer) = &command.buyer {
                let mut certificate = Certificate::new(
                    CertificateType::from_wire(&buyer.certificate_type),
                    buyer.certificate_no.clone(),
                );
                let mut name = UserName::default();
                name.full_name = Some(buyer.full_name.clone());
                certificate.holder_name = Some(name);
                request = request.with_buyer_certificate(certificate);
            }
            let declaration = Declaration {
                id: DeclarationId::new(ctx.ids.local_id("cd")?),
                order_id: order.id.clone(),
                declaration_request_id,
                request_body: body_of(&request)?,
                amount,
                customs_code: command.customs_code.clone(),
                state: DeclarationState::Requested,
                result_code: None,
                result_message: None,
                accepted: None,
                record: None,
                sends: 0,
                inquiries: 0,
                last_sent_at: None,
                round_started_at: now,
                version: 0,
                created_at: now,
                updated_at: now,
            };
            tx.insert_declaration(&declaration).await?;
            // The request sends it at once; the job is what remains if that send never happens.
            tx.schedule_job(
                JobKind::Declaration(declaration.id.clone()),
                now + ctx.schedule.reply_timeout_ms,
            )
            .await?;
            if !remember(
                tx,
                &command.idempotency_key,
                &fp,
                declaration.id.as_str(),
                now,
            )
            .await?
            {
                return Ok(Unit::Retry);
            }
            Ok(Unit::Commit((declaration.id, false)))
        })
    }

    async fn record_resend(&self, command: &ResendCommand) -> Result<(DeclarationId, bool), Error> {
        let changes = &command.changes;
        validate_changes(changes)?;
        let amount_text = changes
            .amount
            .map(|a| format!("{} {}", a.currency.code(), a.minor_units()))
            .unwrap_or_default();
        let fp = fingerprint(
            "declaration_resend",
            &[
                command.id.as_str(),
                &amount_text,
                changes.customs_code.as_deref().unwrap_or(""),
                changes.merchant_customs_code.as_deref().unwrap_or(""),
                changes.merchant_customs_name.as_deref().unwrap_or(""),
                changes.suborder_id.as_deref().unwrap_or(""),
                changes.buyer_full_name.as_deref().unwrap_or(""),
                changes.buyer_certificate_no.as_deref().unwrap_or(""),
            ],
        );
        let ctx = &self.ctx;
        unit_of_work!(ctx, &command.idempotency_key, |tx, now| {
            if let Some(id) = replayed(tx, &command.idempotency_key, &fp).await? {
                return Ok(Unit::Done((DeclarationId::new(id), true)));
            }
            let declaration = tx
                .declaration(&command.id)
                .await?
                .ok_or_else(|| not_found("customs declaration", &command.id))?;
            let refusal = |reason: String| Error::NotDeclarable {
                id: command.id.to_string(),
                reason,
            };
            match declaration.state {
                DeclarationState::Accepted => {}
                DeclarationState::Refused => {
                    return Err(refusal(
                        "Alipay refused it: declare again as a new declaration".into(),
                    ));
                }
                DeclarationState::Requested
                | DeclarationState::Sent
                | DeclarationState::Unknown => {
                    return Err(refusal(
                        "Alipay has not answered it yet: it is sent again by itself".into(),
                    ));
                }
            }
            if let Some(last) = declaration.last_sent_at
                && now <= last + RESEND_AFTER_MS
            {
                return Err(refusal(format!(
                    "Alipay takes a re-send only more than 5 minutes after the previous call ({} ms to wait)",
                    last + RESEND_AFTER_MS + 1 - now
                )));
            }
            let mut order = tx
                .order(&declaration.order_id)
                .await?
                .ok_or_else(|| not_found("payment", &declaration.order_id))?;
            if !order.state.is_paid() {
                return Err(refusal(format!("its payment is {}", order.state.name())));
            }
            let mut request: DeclareRequest =
                serde_json::from_str(declaration.request_body.expose()).map_err(|e| {
                    invalid(
                        "declaration",
                        format!("the stored body does not parse: {e}"),
                    )
                })?;
            apply_changes(&mut request, changes)?;
            let amount = request.declaration_amount;
            let others = tx.declarations_of_order(&order.id).await?;
            check_total(&order.amount, amount, &others, Some(&declaration.id)).map_err(refusal)?;
            order.updated_at = now;
            if !tx.update_order(&order).await? {
                return Ok(Unit::Retry);
            }
            let body = body_of(&request)?;
            let customs_code = request.customs.customs_code.as_str().to_owned();
            let Some(declaration) =
                apply(tx, declaration, DeclarationEvent::Changed, None, now, |d| {
                    d.request_body = body;
                    d.amount = amount;
                    d.customs_code = customs_code;
                    d.round_started_at = now;
                    d.result_code = None;
                    d.result_message = None;
                    // Customs' answer was to the body sent before: the re-sent one gets its own.
                    d.record = None;
                })
                .await?
            else {
                return Ok(Unit::Retry);
            };
            tx.schedule_job(
                JobKind::Declaration(declaration.id.clone()),
                now + ctx.schedule.reply_timeout_ms,
            )
            .await?;
            if !remember(
                tx,
                &command.idempotency_key,
                &fp,
                declaration.id.as_str(),
                now,
            )
            .await?
            {
                return Ok(Unit::Retry);
            }
            Ok(Unit::Commit((declaration.id, false)))
        })
    }
}

fn body_of(request: &DeclareRequest) -> Result<Body, Error> {
    Ok(Body::new(serde_json::to_string(request).map_err(|e| {
        invalid(
            "declaration",
            format!("the declare body does not serialise: {e}"),
        )
    })?))
}

/// The documented field rules, before anything is stored (the same rules the client applies).
fn validate(command: &DeclareCommand) -> Result<(), Error> {
    if command.idempotency_key.trim().is_empty() {
        return Err(invalid("idempotency_key", "is required"));
    }
    for (field, value) in [
        ("customs_code", &command.customs_code),
        ("merchant_customs_code", &command.merchant_customs_code),
        ("merchant_customs_name", &command.merchant_customs_name),
    ] {
        if value.trim().is_empty() {
            return Err(invalid(field, "is required"));
        }
    }
    if let Some(amount) = &command.amount
        && amount.is_zero()
    {
        return Err(invalid("amount", "must be more than 0"));
    }
    if let Some(suborder) = &command.suborder_id
        && (suborder.trim().is_empty() || suborder.chars().count() > 64)
    {
        return Err(invalid("suborder_id", "must be 1 to 64 characters"));
    }
    if let Some(buyer) = &command.buyer {
        if buyer.certificate_type.trim().is_empty() {
            return Err(invalid("buyer.certificate_type", "is required"));
        }
        if buyer.certificate_no.trim().is_empty() || buyer.certificate_no.chars().count() > 64 {
            return Err(invalid(
                "buyer.certificate_no",
                "must be 1 to 64 characters",
            ));
        }
        if buyer.full_name.trim().is_empty() || buyer.full_name.chars().count() > 128 {
            return Err(invalid("buyer.full_name", "must be 1 to 128 characters"));
        }
    }
    Ok(())
}

fn validate_changes(changes: &DeclarationChanges) -> Result<(), Error> {
    if changes == &DeclarationChanges::default() {
        return Err(invalid(
            "changes",
            "name at least one field to change (a re-send of the same body changes nothing)",
        ));
    }
    if let Some(amount) = &changes.amount
        && amount.is_zero()
    {
        return Err(invalid("amount", "must be more than 0"));
    }
    for (field, value) in [
        ("customs_code", &changes.customs_code),
        ("merchant_customs_code", &changes.merchant_customs_code),
        ("merchant_customs_name", &changes.merchant_customs_name),
        ("suborder_id", &changes.suborder_id),
        ("buyer.full_name", &changes.buyer_full_name),
        ("buyer.certificate_no", &changes.buyer_certificate_no),
    ] {
        if value.as_ref().is_some_and(|v| v.trim().is_empty()) {
            return Err(invalid(field, "must not be empty"));
        }
    }
    Ok(())
}

/// Applies the changes a re-send may carry (digest §9.3.5) to the stored body.
fn apply_changes(request: &mut DeclareRequest, changes: &DeclarationChanges) -> Result<(), Error> {
    if let Some(amount) = changes.amount {
        if amount.currency != request.declaration_amount.currency {
            return Err(invalid(
                "amount",
                format!(
                    "the declaration is in {}, the change in {}",
                    request.declaration_amount.currency, amount.currency
                ),
            ));
        }
        request.declaration_amount = amount;
    }
    if let Some(code) = &changes.customs_code {
        request.customs.customs_code = CustomsCode::from_wire(code);
    }
    if let Some(code) = &changes.merchant_customs_code {
        request
            .merchant_customs_info
            .merchant_customs_code
            .clone_from(code);
    }
    if let Some(name) = &changes.merchant_customs_name {
        request
            .merchant_customs_info
            .merchant_customs_name
            .clone_from(name);
    }
    if let Some(suborder) = &changes.suborder_id {
        if !request.split_order {
            return Err(invalid(
                "suborder_id",
                "the declaration is of a whole order: it has no sub-order id",
            ));
        }
        request.suborder_id = Some(suborder.clone());
    }
    if changes.buyer_full_name.is_some() || changes.buyer_certificate_no.is_some() {
        let Some(certificate) = request.buyer_certificate.as_mut() else {
            return Err(invalid("buyer", "no buyer was declared: it cannot change"));
        };
        if let Some(number) = &changes.buyer_certificate_no {
            certificate.certificate_no.clone_from(number);
        }
        if let Some(full_name) = &changes.buyer_full_name {
            certificate
                .holder_name
                .get_or_insert_with(UserName::default)
                .full_name = Some(full_name.clone());
        }
    }
    Ok(())
}

/// Refuses `amount` when, with the other declarations of the order that count (all but refused
/// ones, and not `replacing`), it would declare more than was paid. Declarations in another
/// currency than the payment's are left to Alipay's check (no rate is known here).
fn check_total(
    paid: &Amount,
    amount: Amount,
    others: &[Declaration],
    replacing: Option<&DeclarationId>,
) -> Result<(), String> {
    if amount.currency != paid.currency {
        return Ok(());
    }
    let declared: u64 = others
        .iter()
        .filter(|d| d.state.counts() && Some(&d.id) != replacing)
        .filter(|d| d.amount.currency == paid.currency)
        .map(|d| d.amount.minor_units())
        .fold(0, u64::saturating_add);
    let left = paid.minor_units().saturating_sub(declared);
    if amount.minor_units() > left {
        return Err(format!(
            "declaring {amount} would pass what was paid ({paid}); {} is left to declare",
            Amount::new(paid.currency, left)
        ));
    }
    Ok(())
}

/// Applies `event` to the declaration (with `change` on the record) and writes it; the event it
/// reports, if any, goes out with it. `None` when the write lost a compare-and-set.
async fn apply(
    tx: &mut dyn Tx,
    mut declaration: Declaration,
    event: DeclarationEvent,
    detail: Option<String>,
    now: Millis,
    change: impl FnOnce(&mut Declaration),
) -> Result<Option<Declaration>, Error> {
    let before = declaration.state;
    let step = transition(before, event)?;
    let after = step.state();
    change(&mut declaration);
    declaration.state = after;
    declaration.updated_at = now;
    if !tx.update_declaration(&declaration).await? {
        return Ok(None);
    }
    if matches!(step, Step::Moved(_)) {
        let kind = match (event, after) {
            (DeclarationEvent::ResendRefused, _) | (_, DeclarationState::Refused) => {
                Some(EventKind::CustomsDeclarationFailed)
            }
            (_, DeclarationState::Accepted) => Some(EventKind::CustomsDeclarationAccepted),
            _ => None,
        };
        if let Some(kind) = kind {
            tx.push_event(&Event::new(kind, &declaration.id, detail, now))
                .await?;
        }
    }
    Ok(Some(declaration))
}

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
    let code_of = |r: &DeclareResponse| Some(r.result.code().as_str().to_owned());
    let message_of = |r: &DeclareResponse| r.result.message().map(str::to_owned);
    match reply {
        Reply::Success(r) => (DeclarationEvent::Accepted, None, None, Some(r.clone())),
        Reply::Failed(r) => match decide(Api::Declare, r.result.status(), r.result.code()).0 {
            // A documented "call again" F: the same body later.
            Decision::RetrySame | Decision::Inquire => {
                (DeclarationEvent::Unknown, code_of(r), message_of(r), None)
            }
            _ => (DeclarationEvent::Refused, code_of(r), message_of(r), None),
        },
        Reply::Unknown { response, detail } => (
            DeclarationEvent::Unknown,
            response.as_ref().and_then(code_of),
            response
                .as_ref()
                .and_then(message_of)
                .or_else(|| Some(detail.clone())),
            None,
        ),
        // Surely not sent: back to requested, unless an earlier send of this body may have left
        // (then it stays unknown: the same body again either way).
        Reply::NotSent { detail } if maybe_sent_before => (
            DeclarationEvent::Unknown,
            Some("NOT_SENT".into()),
            Some(detail.clone()),
            None,
        ),
        Reply::NotSent { detail } => (
            DeclarationEvent::NotSent,
            Some("NOT_SENT".into()),
            Some(detail.clone()),
            None,
        ),
    }
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
            super::settle_attention(
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
