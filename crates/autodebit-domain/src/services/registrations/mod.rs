//! Secondary-merchant registration (digest §9.5–9.8; deprecated by Alipay for online payments
//! since August 2022, so an optional module): an acquirer or ISV registers a merchant it acts for,
//! with one `registrationRequestId` per registration, kept for every send.
//!
//! - `registration` is idempotent on `registrationRequestId`: `U`, a timeout or no answer → the
//!   same bytes again, with growing waits, never a new id (a second id for the same merchant would
//!   be `REPEAT_REGISTRATION`). `F` → refused, final. `S` only says Alipay accepted it: the wallets'
//!   review follows ("normally within 7 days"), read with `inquiryRegistrationStatus` with growing
//!   waits, or applied from `notifyRegistrationStatus`, whichever comes first.
//! - A second registration of a merchant is refused here while the first still waits for Alipay's
//!   answer (two ids in flight for one merchant: one of them would be `REPEAT_REGISTRATION`, and
//!   which one is not knowable); once the first is answered, Alipay decides (a merchant whose
//!   first data were wrong may be registered again).
//! - A person is told when Alipay does not answer for long (`attention_after_ms`), or when the
//!   review takes longer than Alipay says it normally does ([`REVIEW_NORMALLY_WITHIN_MS`]); the job
//!   goes on either way.

mod job;

pub(crate) use job::{apply_review, run_now, step};

use ams_protocol::{
    Api, InquiryRegistrationInfoRequest, InquiryRegistrationInfoResponse, MerchantRegistrationInfo,
    ProductCode, RegistrationRequest, RegistrationRequestId, Validate,
};

use super::{
    Context, Error, Page, Unit, fingerprint, invalid, not_found, page_of, page_request, replayed,
    schedule_and_remember,
};
use crate::lifecycle::registration::RegistrationState;
use crate::model::{Body, JobKind, Registration, RegistrationId};
use crate::ports::{PageRequest, Reply};

/// Alipay+ says a review ends "normally within 7 days": a person is told after that.
pub const REVIEW_NORMALLY_WITHIN_MS: crate::model::Millis = 7 * 86_400_000;

/// A merchant's request to register a secondary merchant.
#[derive(Clone, Debug, PartialEq)]
pub struct RegisterCommand {
    /// The merchant's idempotency key.
    pub idempotency_key: String,
    /// Alipay's `merchantInfo` (its `referenceMerchantId` names the secondary merchant).
    pub merchant_info: MerchantRegistrationInfo,
    /// `productCodes` (for Auto Debit, `AGREEMENT_PAYMENT`).
    pub product_codes: Vec<ProductCode>,
    /// `passThroughInfo`: opaque text Alipay echoes.
    pub pass_through_info: Option<String>,
}

/// A registration as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrationView {
    /// The registration.
    pub registration: Registration,
    /// Whether this answers an earlier command with the same idempotency key.
    pub replayed: bool,
}

/// The secondary-merchant registration service.
#[derive(Debug)]
pub struct Registrations {
    ctx: Context,
}

impl Registrations {
    /// The service over `ctx`.
    pub fn new(ctx: Context) -> Self {
        Self { ctx }
    }

    /// Registers a secondary merchant, once per idempotency key, and sends the registration at
    /// once.
    ///
    /// # Errors
    /// [`Error::Invalid`] (a field breaking Alipay's rules is named by its wire path, or a
    /// registration of the same merchant still waiting for Alipay's answer),
    /// [`Error::IdempotencyConflict`], the random source, store failures.
    pub async fn register(&self, command: RegisterCommand) -> Result<RegistrationView, Error> {
        let (id, replayed) = self.record(&command).await?;
        if !replayed {
            run_now(&self.ctx, &id).await?;
        }
        let mut view = self.view(&id).await?;
        view.replayed = replayed;
        Ok(view)
    }

    /// A registration as stored.
    ///
    /// # Errors
    /// [`Error::NotFound`] and store failures.
    pub async fn view(&self, id: &RegistrationId) -> Result<RegistrationView, Error> {
        let mut tx = self.ctx.store.begin().await?;
        let registration = tx
            .registration(id)
            .await?
            .ok_or_else(|| not_found("secondary merchant registration", id))?;
        Ok(RegistrationView {
            registration,
            replayed: false,
        })
    }

    /// A page of the registrations, or of those of one secondary merchant, newest first.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a limit out of bounds or a `starting_after` that names no
    /// registration; store failures.
    pub async fn list(
        &self,
        reference: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<Registration>, Error> {
        let read = page_request(page)?;
        let mut tx = self.ctx.store.begin().await?;
        if let Some(after) = &page.after
            && tx
                .registration(&RegistrationId::new(after.clone()))
                .await?
                .is_none()
        {
            return Err(invalid("starting_after", "names no registration"));
        }
        Ok(page_of(
            tx.list_registrations(reference, &read).await?,
            page,
        ))
    }

    /// What Alipay holds of secondary merchant `reference` (`inquiryRegistrationInfo`): the
    /// information of its latest approved registration, or none while no wallet approved one.
    /// A read: nothing is stored, and it is asked again on each call.
    ///
    /// # Errors
    /// [`Error::Refused`] when Alipay answers F (`RECORD_NOT_FOUND`: nothing accepted for it);
    /// [`Error::Unavailable`] when it does not answer.
    pub async fn registered_info(
        &self,
        reference: &str,
    ) -> Result<InquiryRegistrationInfoResponse, Error> {
        let request = InquiryRegistrationInfoRequest::new(reference);
        request
            .validate()
            .map_err(|e| invalid("reference_merchant_id", e.to_string()))?;
        match self.ctx.gateway.inquiry_registration_info(&request).await {
            Reply::Success(response) => Ok(response),
            Reply::Failed(response) => Err(Error::Refused {
                api: Api::InquiryRegistrationInfo,
                code: response.result.code().as_str().to_owned(),
            }),
            Reply::Unknown { detail, .. } | Reply::NotSent { detail } => Err(Error::Unavailable {
                api: Api::InquiryRegistrationInfo,
                detail,
            }),
        }
    }

    async fn record(&self, command: &RegisterCommand) -> Result<(RegistrationId, bool), Error> {
        let ctx = &self.ctx;
        let mut request = RegistrationRequest::new(
            RegistrationRequestId::new("G"),
            command.merchant_info.clone(),
            command.product_codes.clone(),
        );
        if let Some(url) = &ctx.settings.registration_notify_url {
            request = request.with_registration_notify_url(url.clone());
        }
        if let Some(info) = &command.pass_through_info {
            request = request.with_pass_through_info(info.clone());
        }
        request
            .validate()
            .map_err(|e| invalid("merchant_info", e.to_string()))?;
        let reference = command.merchant_info.reference_merchant_id.clone();
        let what = serde_json::to_string(&(
            &command.merchant_info,
            &command.product_codes,
            &command.pass_through_info,
        ))
        .map_err(|e| invalid("merchant_info", format!("does not serialise: {e}")))?;
        let fp = fingerprint("registration", &[&what]);
        unit_of_work!(ctx, &command.idempotency_key, |tx, now| {
            if let Some(id) = replayed(tx, &command.idempotency_key, &fp).await? {
                return Ok(Unit::Done((RegistrationId::new(id), true)));
            }
            if let Some(waiting) = tx
                .registrations(Some(&reference))
                .await?
                .into_iter()
                .find(|r| r.state.in_flight())
            {
                return Err(invalid(
                    "merchant_info",
                    format!(
                        "a registration of {reference} ({}) still waits for Alipay's answer; it is sent again by itself",
                        waiting.id
                    ),
                ));
            }
            let mut request = request.clone();
            request.registration_request_id = ctx.ids.registration_request_id(now)?;
            let body = serde_json::to_string(&request)
                .map(Body::new)
                .map_err(|e| invalid("merchant_info", format!("does not serialise: {e}")))?;
            let registration = Registration {
                id: RegistrationId::new(ctx.ids.local_id("smr")?),
                reference_merchant_id: reference.clone(),
                registration_request_id: request.registration_request_id,
                request_body: body,
                state: RegistrationState::Requested,
                result_code: None,
                result_message: None,
                review: None,
                wallets: Vec::new(),
                sends: 0,
                inquiries: 0,
                round_started_at: now,
                version: 0,
                created_at: now,
                updated_at: now,
            };
            tx.insert_registration(&registration).await?;
            // The request sends it at once; the job is what remains if that send never happens.
            let job = JobKind::Registration(registration.id.clone());
            schedule_and_remember(
                ctx,
                tx,
                job,
                &command.idempotency_key,
                &fp,
                now,
                registration.id,
            )
            .await
        })
    }
}
