//! Alipay's notifications: `notifyPayment`, `notifyRefund`, `notifyAuthorization` and
//! `notifyRegistrationStatus`.
//!
//! The domain takes a notification only as it arrived ([`RawNotification`]: path, headers, raw
//! body) and believes nothing in it until the [`NotificationVerifier`] port has verified the
//! signature over those exact bytes and the freshness of `request-time`; there is no way to hand
//! it a parsed notification. A stale one (signed, but outside the skew window) is not applied:
//! what it names is inquired at once instead.
//!
//! Each verified notification is stored in the inbox under a deduplication key in the same unit of
//! work that applies it, so a notification delivered twice is applied once:
//!
//! | notification | key |
//! |---|---|
//! | `notifyPayment` | type + `paymentRequestId` + result status + result code + amount |
//! | `notifyRefund` | `refundRequestId` + `refundStatus` + amount |
//! | `notifyAuthorization` `AUTHCODE_CREATED` | type + the authorization (never the `authState`) |
//! | `notifyAuthorization` `TOKEN_CANCELED` / `TOKEN_CREATED` | type + the authorization (never the token) |
//! | `notifyRegistrationStatus` | `registrationRequestId` + the overall and every wallet's status |
//!
//! A notification whose amount or currency differs from the payment (or refund) is refused and
//! flagged for a person, changing no state (seed 004). The amount is part of the key, so its
//! resends are duplicates while a notification with the right amount still applies. The rest goes
//! through the same transitions as answers and inquiries: a success for an attempt already settled
//! by an inquiry changes nothing; a success while a cancel is under way waits for the cancel's
//! result (seed 004); a success after a `cancel` S is recorded, never a second success.
//!
//! [`RawNotification`]: crate::ports::RawNotification
//! [`NotificationVerifier`]: crate::ports::NotificationVerifier

use ams_protocol::{
    AuthorizationNotifyType, Notification, NotifyAuthorization, NotifyPayment, NotifyRefund,
    NotifyRegistrationStatus, PaymentNotifyType, RefundStatus, ResultStatus,
};

use super::authorizations::{self, CodeReceipt};
use super::payments::{AttemptFacts, apply_attempt, failure_facts};
use super::refunds::{RefundFacts, apply_refund};
use super::{Context, Error, Flag, Unit, raise};
use crate::lifecycle::attempt::AttemptEvent;
use crate::lifecycle::refund::RefundEvent;
use crate::model::{InboxEntry, JobKind, Millis, OperatorAction, Subject};
use crate::ports::{RawNotification, RefusalCause, Verification};

/// What receiving a notification did. Every receipt is acknowledged to Alipay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Receipt {
    /// Stored and applied (possibly changing nothing, as for a result already known).
    Applied,
    /// The same notification was received before; nothing was done.
    Duplicate,
    /// Not for this flow (an unrecognised kind, an unknown token); not stored.
    Ignored(String),
}

/// Receives Alipay's notifications.
#[derive(Clone, Debug)]
pub struct Notifications {
    ctx: Context,
}

fn entry(key: String, raw: &RawNotification, now: Millis) -> InboxEntry {
    InboxEntry {
        dedup_key: key,
        path: raw.path.clone(),
        headers: raw.headers.clone(),
        body: raw.body.clone(),
        received_at: now,
    }
}

impl Notifications {
    /// The service over `ctx`.
    pub fn new(ctx: Context) -> Self {
        Self { ctx }
    }

    /// Verifies, stores and applies a notification as it arrived.
    ///
    /// A notification already parsed (so never verified) is not accepted; this does not compile:
    ///
    /// ```compile_fail
    /// # async fn hand_over(
    /// #     notifications: &autodebit_domain::services::notifications::Notifications,
    /// #     parsed: ams_protocol::Notification,
    /// # ) {
    /// notifications.receive(&parsed).await;
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Error::NotificationUnverified`] when the verifier does not believe it (nothing stored;
    /// for a stale one, what it names is inquired at once); [`Error::NotificationRefused`] when a
    /// verified one names an unknown payment or refund, its amount or currency differs, or it
    /// contradicts what is known: it is stored and flagged for a person (a resend is then a
    /// duplicate), and no state changed. Store failures: nothing was stored; answer so that Alipay
    /// resends.
    pub async fn receive(&self, raw: &RawNotification) -> Result<Receipt, Error> {
        match self.ctx.verifier.verify(raw) {
            Verification::Verified(notification) => self.apply(&notification, raw).await,
            Verification::Stale(notification) => {
                self.inquire_now(&notification).await?;
                Err(Error::NotificationUnverified {
                    cause: RefusalCause::Stale,
                    detail: "signed by Alipay but sent outside the skew window: not applied; what it names is inquired".into(),
                })
            }
            Verification::Refused { cause, detail } => {
                Err(Error::NotificationUnverified { cause, detail })
            }
        }
    }

    async fn apply(
        &self,
        notification: &Notification,
        raw: &RawNotification,
    ) -> Result<Receipt, Error> {
        match notification {
            Notification::Payment(n) => self.payment(n, raw).await,
            Notification::Refund(n) => self.refund(n, raw).await,
            Notification::Authorization(n) => self.authorization(n, raw).await,
            Notification::Unrecognised(body) if NotifyRegistrationStatus::matches(body) => {
                match serde_json::from_value::<NotifyRegistrationStatus>(body.clone().into()) {
                    Ok(n) => self.registration(&n, raw).await,
                    Err(e) => Ok(Receipt::Ignored(format!(
                        "a notifyRegistrationStatus that does not parse: {e}"
                    ))),
                }
            }
            Notification::Unrecognised(_) => {
                Ok(Receipt::Ignored("an unrecognised notification".into()))
            }
            _ => Ok(Receipt::Ignored(format!(
                "{} is not handled",
                notification.kind_name()
            ))),
        }
    }

    /// A stale notification: its payment or refund is inquired now (its job moved up), nothing
    /// else.
    async fn inquire_now(&self, notification: &Notification) -> Result<(), Error> {
        let ctx = &self.ctx;
        unit_of_work!(ctx, "a stale notification", |tx, now| {
            let kind = match notification {
                Notification::Payment(n) => tx
                    .attempt_by_payment_request_id(&n.payment_request_id)
                    .await?
                    .filter(|a| !a.state.is_final())
                    .map(|a| JobKind::Payment(a.id)),
                Notification::Refund(n) => tx
                    .refund_by_refund_request_id(&n.refund_request_id)
                    .await?
                    .filter(|r| !r.state.is_final())
                    .map(|r| JobKind::Refund(r.id)),
                _ => None,
            };
            match kind {
                Some(kind) => {
                    tx.schedule_job(kind, now).await?;
                    Ok(Unit::Commit(()))
                }
                None => Ok(Unit::Done(())),
            }
        })
    }

    async fn payment(&self, n: &NotifyPayment, raw: &RawNotification) -> Result<Receipt, Error> {
        let ctx = &self.ctx;
        let status = n.result.status();
        let code = n.result.code();
        let key = format!(
            "notifyPayment:{}:{}:{}:{}:{}",
            n.notify_type.as_str(),
            n.payment_request_id,
            status.as_str(),
            code.as_str(),
            n.payment_amount
        );
        let payment_id = Some(n.payment_id.clone());
        let settles = match (&n.notify_type, status) {
            (PaymentNotifyType::PaymentResult, ResultStatus::S) => Some((
                AttemptEvent::SuccessReported,
                AttemptFacts {
                    payment_id,
                    ..AttemptFacts::default()
                },
            )),
            (PaymentNotifyType::PaymentResult, ResultStatus::F) => Some((
                AttemptEvent::Failed,
                AttemptFacts {
                    payment_id,
                    ..failure_facts(status, code)
                },
            )),
            // PAYMENT_PENDING, or a status that settles nothing: recorded only.
            _ => None,
        };
        let prid = &n.payment_request_id;
        unit_of_work!(ctx, &key, |tx, now| {
            if !tx.inbox_insert(&entry(key.clone(), raw, now)).await? {
                return Ok(Unit::Done(Ok(Receipt::Duplicate)));
            }
            let Some(attempt) = tx.attempt_by_payment_request_id(prid).await? else {
                let why = format!("notifyPayment for an unknown paymentRequestId {prid}");
                return refuse_unknown(ctx, tx, prid.to_string(), why, now).await;
            };
            if n.payment_amount != attempt.amount {
                let why = format!(
                    "notifyPayment says {} but payment {prid} is for {}",
                    n.payment_amount, attempt.amount
                );
                raise(
                    ctx,
                    tx,
                    refused(Subject::Order(attempt.order_id.clone()), &why),
                    now,
                )
                .await?;
                return Ok(Unit::Commit(Err(Error::NotificationRefused(why))));
            }
            let Some((event, facts)) = &settles else {
                return Ok(Unit::Commit(Ok(Receipt::Applied)));
            };
            let Some(applied) = apply_attempt(ctx, tx, attempt, *event, facts, now, |_| {}).await?
            else {
                return Ok(Unit::Retry);
            };
            Ok(Unit::Commit(match applied.step {
                Some(_) => Ok(Receipt::Applied),
                None => Err(Error::NotificationRefused(format!(
                    "notifyPayment {} contradicts payment {prid}, which is {}",
                    status.as_str(),
                    applied.attempt.state.name()
                ))),
            }))
        })?
    }

    /// `notifyRegistrationStatus`: the wallets' review of a registration we sent, kept as an
    /// inquiry's would be. One for a registration we do not know is stored and flagged.
    async fn registration(
        &self,
        n: &NotifyRegistrationStatus,
        raw: &RawNotification,
    ) -> Result<Receipt, Error> {
        let ctx = &self.ctx;
        let Some(rrid) = &n.registration_request_id else {
            return Ok(Receipt::Ignored(
                "a notifyRegistrationStatus without registrationRequestId".into(),
            ));
        };
        let status = |r: Option<&ams_protocol::RegistrationResult>| {
            r.and_then(|r| r.registration_status.as_ref())
                .map_or("", |s| s.as_str())
                .to_owned()
        };
        let wallets = n.psp_registration_result_list.clone().unwrap_or_default();
        let mut key = format!(
            "notifyRegistrationStatus:{rrid}:{}",
            status(n.registration_result.as_ref())
        );
        for wallet in &wallets {
            key.push_str(&format!(
                ":{}={}",
                wallet.psp_name.as_deref().unwrap_or(""),
                status(wallet.registration_result.as_ref())
            ));
        }
        unit_of_work!(ctx, &key, |tx, now| {
            if !tx.inbox_insert(&entry(key.clone(), raw, now)).await? {
                return Ok(Unit::Done(Ok(Receipt::Duplicate)));
            }
            let Some(registration) = tx.registration_by_request_id(rrid).await? else {
                let why =
                    format!("notifyRegistrationStatus for an unknown registrationRequestId {rrid}");
                return refuse_unknown(ctx, tx, rrid.to_string(), why, now).await;
            };
            if registration.state != crate::lifecycle::registration::RegistrationState::Accepted {
                // A review of a request whose answer we have not read yet: Alipay accepted it.
                // The job's next send gets that S (the same id answers the same), then reads
                // the review; nothing is applied out of order here.
                return Ok(Unit::Commit(Ok(Receipt::Applied)));
            }
            let review = Some((n.registration_result.clone(), wallets.clone()));
            if super::registrations::apply_review(tx, registration, review, false, now)
                .await?
                .is_none()
            {
                return Ok(Unit::Retry);
            }
            Ok(Unit::Commit(Ok(Receipt::Applied)))
        })?
    }

    async fn refund(&self, n: &NotifyRefund, raw: &RawNotification) -> Result<Receipt, Error> {
        let ctx = &self.ctx;
        let rrid = &n.refund_request_id;
        let key = format!(
            "notifyRefund:{rrid}:{}:{}",
            n.refund_status.as_str(),
            n.refund_amount
        );
        let alipay_refund_id = Some(n.refund_id.clone());
        let settles = match n.refund_status {
            RefundStatus::Success => Some((
                RefundEvent::Succeeded,
                RefundFacts {
                    alipay_refund_id,
                    ..RefundFacts::default()
                },
            )),
            RefundStatus::Fail => Some((
                RefundEvent::Failed,
                RefundFacts {
                    alipay_refund_id,
                    result_code: Some(n.result.code().as_str().to_owned()),
                    ..RefundFacts::default()
                },
            )),
            _ => None,
        };
        unit_of_work!(ctx, &key, |tx, now| {
            if !tx.inbox_insert(&entry(key.clone(), raw, now)).await? {
                return Ok(Unit::Done(Ok(Receipt::Duplicate)));
            }
            let Some(refund) = tx.refund_by_refund_request_id(rrid).await? else {
                let why = format!("notifyRefund for an unknown refundRequestId {rrid}");
                return refuse_unknown(ctx, tx, rrid.to_string(), why, now).await;
            };
            if n.refund_amount != refund.amount {
                let why = format!(
                    "notifyRefund says {} but refund {rrid} is for {}",
                    n.refund_amount, refund.amount
                );
                raise(
                    ctx,
                    tx,
                    refused(Subject::Refund(refund.id.clone()), &why),
                    now,
                )
                .await?;
                return Ok(Unit::Commit(Err(Error::NotificationRefused(why))));
            }
            let Some((event, facts)) = &settles else {
                return Ok(Unit::Commit(Ok(Receipt::Applied)));
            };
            let Some((refund, step)) =
                apply_refund(ctx, tx, refund, *event, facts, now, |_| {}).await?
            else {
                return Ok(Unit::Retry);
            };
            Ok(Unit::Commit(match step {
                Some(_) => Ok(Receipt::Applied),
                None => Err(Error::NotificationRefused(format!(
                    "notifyRefund {} contradicts refund {rrid}, which is {}",
                    n.refund_status.as_str(),
                    refund.state.name()
                ))),
            }))
        })?
    }

    async fn authorization(
        &self,
        n: &NotifyAuthorization,
        raw: &RawNotification,
    ) -> Result<Receipt, Error> {
        let ctx = &self.ctx;
        match &n.authorization_notify_type {
            AuthorizationNotifyType::AuthcodeCreated => {
                let (Some(auth_state), Some(code)) = (&n.auth_state, &n.auth_code) else {
                    return Err(Error::NotificationRefused(
                        "AUTHCODE_CREATED without authState or authCode".into(),
                    ));
                };
                let inbox = entry(String::new(), raw, ctx.now());
                match authorizations::receive_code(ctx, auth_state, code, Some(&inbox)).await {
                    Ok(CodeReceipt::Duplicate) => Ok(Receipt::Duplicate),
                    Ok(CodeReceipt::AlreadyHandled(..)) => Ok(Receipt::Applied),
                    Ok(CodeReceipt::Exchanging(id)) => {
                        // The code and its job are stored: a failure here is retried by the job.
                        let _ = authorizations::run_now(ctx, &id).await;
                        Ok(Receipt::Applied)
                    }
                    Err(e @ (Error::Store(_) | Error::Random(_))) => Err(e),
                    Err(e) => Err(Error::NotificationRefused(e.to_string())),
                }
            }
            AuthorizationNotifyType::TokenCanceled | AuthorizationNotifyType::TokenCreated => {
                let Some(token) = &n.access_token else {
                    return Err(Error::NotificationRefused(format!(
                        "{} without accessToken",
                        n.authorization_notify_type.as_str()
                    )));
                };
                let created = matches!(
                    n.authorization_notify_type,
                    AuthorizationNotifyType::TokenCreated
                );
                unit_of_work!(ctx, "a token notification", |tx, now| {
                    // TOKEN_CREATED names its authorization by authState; TOKEN_CANCELED by the
                    // token, current or rotated since.
                    let auth = match (&n.auth_state, created) {
                        (Some(state), true) => tx.authorization_by_auth_state(state).await?,
                        _ => tx.authorization_by_access_token(token).await?,
                    };
                    let Some(auth) = auth else {
                        return Ok(Unit::Done(Ok(Receipt::Ignored(format!(
                            "{} for a token or authState this merchant does not have",
                            n.authorization_notify_type.as_str()
                        )))));
                    };
                    let key = format!(
                        "notifyAuthorization:{}:{}",
                        n.authorization_notify_type.as_str(),
                        auth.id
                    );
                    if !tx.inbox_insert(&entry(key, raw, now)).await? {
                        return Ok(Unit::Done(Ok(Receipt::Duplicate)));
                    }
                    if created {
                        // Ours already (current or rotated since)? Nothing to do.
                        let holder = tx.authorization_by_access_token(token).await?;
                        if holder.as_ref().is_some_and(|h| h.id == auth.id) {
                            return Ok(Unit::Commit(Ok(Receipt::Applied)));
                        }
                        return if authorizations::token_created(tx, auth, token, now).await? {
                            Ok(Unit::Commit(Ok(Receipt::Applied)))
                        } else {
                            Ok(Unit::Retry)
                        };
                    }
                    let id = auth.id.clone();
                    match authorizations::canceled_in_wallet(tx, auth, n.reason.clone(), now).await
                    {
                        Ok(Some(_)) => Ok(Unit::Commit(Ok(Receipt::Applied))),
                        Ok(None) => Ok(Unit::Retry),
                        Err(e @ Error::Store(_)) => Err(e),
                        Err(e) => {
                            raise(
                                ctx,
                                tx,
                                Flag::new(
                                    Subject::Authorization(id),
                                    "contradiction",
                                    e.to_string(),
                                    "the notification was stored and acknowledged",
                                    &[OperatorAction::Resolve],
                                ),
                                now,
                            )
                            .await?;
                            Ok(Unit::Commit(Err(Error::NotificationRefused(e.to_string()))))
                        }
                    }
                })?
            }
            other => Ok(Receipt::Ignored(format!(
                "notifyAuthorization {} needs nothing here",
                other.as_str()
            ))),
        }
    }
}

/// The flag of a verified notification that was refused.
/// Flags a verified notification that names nothing we know (it is stored, not applied) and says
/// why.
async fn refuse_unknown(
    ctx: &Context,
    tx: &mut dyn crate::ports::Tx,
    id: String,
    why: String,
    now: Millis,
) -> Result<Unit<Result<Receipt, Error>>, Error> {
    raise(ctx, tx, refused(Subject::Notification(id), &why), now).await?;
    Ok(Unit::Commit(Err(Error::NotificationRefused(why))))
}

fn refused(subject: Subject, why: &str) -> Flag {
    Flag::new(
        subject,
        "notification_refused",
        why,
        "the notification was stored and not applied",
        &[OperatorAction::InquireNow, OperatorAction::Resolve],
    )
}
