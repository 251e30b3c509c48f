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

mod job;
mod rules;

pub(crate) use job::{run_now, step};
use rules::{apply_changes, body_of, check_total, validate, validate_changes};

use ams_protocol::{
    Amount, Certificate, CertificateType, CustomsCode, CustomsInfo, DeclareRequest,
    MerchantCustomsInfo, UserName,
};

use super::{
    Context, Error, Unit, fingerprint, invalid, not_found, replayed, schedule_and_remember,
};
use crate::lifecycle::Step;
use crate::lifecycle::attempt::AttemptState;
use crate::lifecycle::declaration::{DeclarationEvent, DeclarationState, transition};
use crate::model::{Declaration, DeclarationId, Event, EventKind, JobKind, Millis, OrderId};
use crate::ports::Tx;

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
                .find(|a| a.state == AttemptState::Succeeded)
                .and_then(|a| a.payment_id)
                .ok_or_else(|| {
                    refusal("Alipay's paymentId of its paid attempt is unknown".into())
                })?;
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
            let job = JobKind::Declaration(declaration.id.clone());
            schedule_and_remember(
                ctx,
                tx,
                job,
                &command.idempotency_key,
                &fp,
                now,
                declaration.id,
            )
            .await
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
            let job = JobKind::Declaration(declaration.id.clone());
            schedule_and_remember(
                ctx,
                tx,
                job,
                &command.idempotency_key,
                &fp,
                now,
                declaration.id,
            )
            .await
        })
    }
}

/// Applies `event` to the declaration (with `change` on the record) and writes it; the event it
/// reports, if any, goes out with it. `None` when the write lost a compare-and-set.
pub(super) async fn apply(
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
    // The row's version moved: a second write in this unit of work names the new one.
    declaration.version += 1;
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
