//! Secondary-merchant registration (digest §9.5–9.8): `registration` and its idempotency, the
//! wallets' review ending after [`crate::SandboxSettings::registration_review_delay_ms`] with
//! `notifyRegistrationStatus`, `inquiryRegistrationStatus` and `inquiryRegistrationInfo`, and
//! whether a secondary merchant is registered (for consult and pay, when the merchant's settings
//! require it).
//!
//! Registrations are kept per client id (the acquirer's namespace of `referenceMerchantId`s). A
//! registration's answer, `S` or `F`, is kept with its request: the same `registrationRequestId`
//! with the same body gets it again, with another body `REPEAT_REQ_INCONSISTENT` (digest §9.5.1:
//! "same id that reached S or F → same result returned").

use ams_protocol::{
    AmsResult, CustomerBelongsTo, InquiryRegistrationInfoRequest, InquiryRegistrationInfoResponse,
    InquiryRegistrationStatusRequest, InquiryRegistrationStatusResponse, NotifyRegistrationStatus,
    PspRegistrationResult, RegistrationRequest, RegistrationResponse, RegistrationResult,
    RegistrationStatus, ResultCode,
};

use super::{World, result};
use crate::model::{DEFAULT_REGISTRATION_WALLETS, NotificationKind};

/// One wallet's decision.
#[derive(Clone)]
struct WalletDecision {
    wallet: CustomerBelongsTo,
    /// `None`: approved; `Some(reason)`: rejected.
    rejected: Option<String>,
}

/// Where an accepted registration stands.
#[derive(Clone)]
enum Review {
    /// The wallets have not decided; the review ends at this sandbox time.
    Pending { due_ms: i64 },
    /// Every wallet decided.
    Completed { decisions: Vec<WalletDecision> },
}

/// What a registration request got.
#[derive(Clone)]
enum Outcome {
    /// Accepted (`S`): under review or reviewed.
    Accepted(Review),
    /// Refused (`F`) with this code and message; kept so the same id gets the same answer.
    Refused(ResultCode, &'static str),
}

/// One registration request, accepted or refused.
pub(crate) struct Registration {
    client_id: String,
    request: RegistrationRequest,
    outcome: Outcome,
}

impl Registration {
    fn reference_merchant_id(&self) -> &str {
        &self.request.merchant_info.reference_merchant_id
    }

    fn review(&self) -> Option<&Review> {
        match &self.outcome {
            Outcome::Accepted(review) => Some(review),
            Outcome::Refused(..) => None,
        }
    }

    /// Accepted and not (yet) refused by every wallet: pending, or approved by at least one wallet.
    fn stands(&self) -> bool {
        match self.review() {
            Some(Review::Pending { .. }) => true,
            Some(Review::Completed { decisions }) => decisions.iter().any(|d| d.rejected.is_none()),
            None => false,
        }
    }

    /// Approved by at least one wallet.
    fn approved(&self) -> bool {
        matches!(self.review(), Some(Review::Completed { decisions }) if decisions.iter().any(|d| d.rejected.is_none()))
    }

    /// The overall result and, once reviewed, one result per wallet.
    fn status(&self) -> (RegistrationResult, Option<Vec<PspRegistrationResult>>) {
        match self.review() {
            Some(Review::Completed { decisions }) => (
                RegistrationResult::new(RegistrationStatus::Completed),
                Some(
                    decisions
                        .iter()
                        .map(|d| {
                            let result = match &d.rejected {
                                None => RegistrationResult::new(RegistrationStatus::Approved),
                                Some(reason) => {
                                    RegistrationResult::new(RegistrationStatus::Rejected)
                                        .with_reject_reasons(reason.clone())
                                }
                            };
                            PspRegistrationResult::new(d.wallet.as_str(), result)
                        })
                        .collect(),
                ),
            ),
            _ => (RegistrationResult::new(RegistrationStatus::Pending), None),
        }
    }
}

impl World {
    fn registration_response(&self, index: usize) -> RegistrationResponse {
        let r = &self.registrations[index];
        match &r.outcome {
            Outcome::Refused(code, message) => {
                RegistrationResponse::new(result(code.clone(), message))
            }
            Outcome::Accepted(_) => {
                let mut response = RegistrationResponse::new(AmsResult::success());
                response
                    .pass_through_info
                    .clone_from(&r.request.pass_through_info);
                response
            }
        }
    }

    pub(crate) fn register(
        &mut self,
        client_id: &str,
        req: &RegistrationRequest,
        now: i64,
    ) -> RegistrationResponse {
        let key = (
            client_id.to_owned(),
            req.registration_request_id.as_str().to_owned(),
        );
        if let Some(&index) = self.registration_by_request.get(&key) {
            if self.registrations[index].request != *req {
                return RegistrationResponse::new(result(
                    ResultCode::RepeatReqInconsistent,
                    "The registrationRequestId was used with another request; change the registrationRequestId.",
                ));
            }
            return self.registration_response(index);
        }
        let reference = &req.merchant_info.reference_merchant_id;
        let taken = self.registrations.iter().any(|r| {
            r.client_id == client_id && r.reference_merchant_id() == reference && r.stands()
        });
        let outcome = if taken {
            Outcome::Refused(
                ResultCode::RepeatRegistration,
                "The secondary merchant is already registered or under review.",
            )
        } else {
            let delay =
                i64::try_from(self.settings.registration_review_delay_ms).unwrap_or(i64::MAX);
            Outcome::Accepted(Review::Pending {
                due_ms: now.saturating_add(delay),
            })
        };
        let index = self.registrations.len();
        self.registrations.push(Registration {
            client_id: client_id.to_owned(),
            request: req.clone(),
            outcome,
        });
        self.registration_by_request.insert(key, index);
        self.registration_response(index)
    }

    /// The wallets end every review due by `now`: each wallet of the merchant's contract approves,
    /// unless the settings' `registration_rejections` name the secondary merchant (for it or for
    /// every wallet); then `notifyRegistrationStatus` goes to the request's `registrationNotifyURL`
    /// (no URL: no notification). Returns when the next review ends.
    pub(super) fn end_registration_reviews(&mut self, now: i64) -> Option<i64> {
        let mut next: Option<i64> = None;
        for i in 0..self.registrations.len() {
            let Outcome::Accepted(Review::Pending { due_ms }) = self.registrations[i].outcome
            else {
                continue;
            };
            if due_ms > now {
                next = Some(next.map_or(due_ms, |n| n.min(due_ms)));
                continue;
            }
            let r = &self.registrations[i];
            let settings = self.merchant_settings(&r.client_id).unwrap_or_default();
            let wallets = if settings.wallets.is_empty() {
                DEFAULT_REGISTRATION_WALLETS.to_vec()
            } else {
                settings.wallets.clone()
            };
            let decisions = wallets
                .into_iter()
                .map(|wallet| {
                    let rejected = settings
                        .registration_rejections
                        .iter()
                        .find(|x| {
                            x.reference_merchant_id == r.reference_merchant_id()
                                && x.wallet.as_ref().is_none_or(|w| *w == wallet)
                        })
                        .map(|x| x.reason.clone());
                    WalletDecision { wallet, rejected }
                })
                .collect();
            self.registrations[i].outcome = Outcome::Accepted(Review::Completed { decisions });
            self.notify_registration(i, now);
        }
        next
    }

    fn notify_registration(&mut self, index: usize, now: i64) {
        let r = &self.registrations[index];
        let (overall, wallets) = r.status();
        let mut notify = NotifyRegistrationStatus::new(r.request.registration_request_id.clone())
            .with_reference_merchant_id(r.reference_merchant_id().to_owned())
            .with_registration_result(overall);
        notify.psp_registration_result_list = wallets;
        let body = serde_json::to_string(&notify).unwrap_or_default();
        let (client, url, request_id) = (
            r.client_id.clone(),
            r.request.registration_notify_url.clone(),
            r.request.registration_request_id.as_str().to_owned(),
        );
        self.enqueue(
            NotificationKind::Registration,
            &client,
            url,
            &request_id,
            body,
            now,
        );
    }

    /// The client's accepted registrations of `reference_merchant_id`, latest last.
    fn registrations_of<'a>(
        &'a self,
        client_id: &'a str,
        reference_merchant_id: &'a str,
    ) -> impl DoubleEndedIterator<Item = &'a Registration> + 'a {
        self.registrations.iter().filter(move |r| {
            r.client_id == client_id
                && r.reference_merchant_id() == reference_merchant_id
                && r.review().is_some()
        })
    }

    /// inquiryRegistrationStatus: by `registrationRequestId` (and, when also given, only if it is
    /// that secondary merchant's), else the secondary merchant's latest registration; a refused
    /// registration, an unknown id or a `referenceStoreId` alone is `RECORD_NOT_FOUND` (F).
    pub(crate) fn inquiry_registration_status(
        &self,
        client_id: &str,
        req: &InquiryRegistrationStatusRequest,
    ) -> InquiryRegistrationStatusResponse {
        fn given(v: Option<&str>) -> Option<&str> {
            v.filter(|s| !s.trim().is_empty())
        }
        let reference = given(req.reference_merchant_id.as_deref());
        let found = match given(req.registration_request_id.as_ref().map(|id| id.as_str())) {
            Some(id) => self
                .registration_by_request
                .get(&(client_id.to_owned(), id.to_owned()))
                .map(|&i| &self.registrations[i])
                .filter(|r| r.review().is_some())
                .filter(|r| reference.is_none_or(|m| r.reference_merchant_id() == m)),
            None => reference.and_then(|m| self.registrations_of(client_id, m).next_back()),
        };
        let Some(registration) = found else {
            return InquiryRegistrationStatusResponse::new(result(
                ResultCode::RecordNotFound,
                "No registration was found for the ids given.",
            ));
        };
        let (overall, wallets) = registration.status();
        let mut response = InquiryRegistrationStatusResponse::new(AmsResult::success())
            .with_registration_result(overall);
        response.psp_registration_result_list = wallets;
        response
    }

    /// inquiryRegistrationInfo: the merchant information and product codes of the secondary
    /// merchant's latest registration a wallet approved; `S` with nothing else while none was
    /// approved ("only the acceptance result"); `RECORD_NOT_FOUND` (F) when it was never accepted.
    pub(crate) fn inquiry_registration_info(
        &self,
        client_id: &str,
        req: &InquiryRegistrationInfoRequest,
    ) -> InquiryRegistrationInfoResponse {
        let reference = req.reference_merchant_id.as_str();
        if self.registrations_of(client_id, reference).next().is_none() {
            return InquiryRegistrationInfoResponse::new(result(
                ResultCode::RecordNotFound,
                "No registration was found for this referenceMerchantId.",
            ));
        }
        let response = InquiryRegistrationInfoResponse::new(AmsResult::success());
        match self
            .registrations_of(client_id, reference)
            .rfind(|r| r.approved())
        {
            Some(r) => response
                .with_merchant_info(r.request.merchant_info.clone())
                .with_product_codes(r.request.product_codes.clone()),
            None => response,
        }
    }

    /// Whether a wallet approved a registration of this secondary merchant at this client id.
    pub(crate) fn secondary_merchant_approved(
        &self,
        client_id: &str,
        reference_merchant_id: &str,
    ) -> bool {
        self.registrations_of(client_id, reference_merchant_id)
            .any(Registration::approved)
    }

    /// The refusal of a consult or pay naming a secondary merchant, when the merchant's settings
    /// require registered secondary merchants and this one has no approved registration.
    pub(crate) fn unregistered_secondary_merchant(
        &self,
        client_id: &str,
        reference_merchant_id: Option<&str>,
    ) -> Option<AmsResult> {
        let required = self
            .merchant_settings(client_id)
            .is_some_and(|m| m.require_registered_secondary_merchants);
        let reference = reference_merchant_id?;
        (required && !self.secondary_merchant_approved(client_id, reference)).then(|| {
            result(
                ResultCode::MerchantNotRegistered,
                "The secondary merchant is not registered; register it with the registration API.",
            )
        })
    }
}
