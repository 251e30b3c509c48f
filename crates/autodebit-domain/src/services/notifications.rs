//! Alipay's notifications, after the server verified their signature and parsed them.
//!
//! Each is stored in the inbox under a deduplication key in the same unit of work that applies
//! it, so a notification delivered twice is applied once:
//!
//! | notification | key |
//! |---|---|
//! | `notifyPayment` | type + `paymentRequestId` + result status + result code + amount |
//! | `notifyRefund` | `refundRequestId` + `refundStatus` + amount |
//! | `notifyAuthorization` `AUTHCODE_CREATED` | type + `authState` |
//! | `notifyAuthorization` `TOKEN_CANCELED` | type + the authorization holding the token (never the token itself) |
//!
//! A notification whose amount or currency differs from the payment (or refund) is refused and
//! flagged for an operator, changing no state (seed 004). The amount is part of the key, so its
//! resends are duplicates while a notification with the right amount still applies. The rest goes through the same transitions as
//! answers and inquiries: a success for an attempt already settled by an inquiry changes nothing, a
//! success after a cancel is recorded (`late_success`), never a second success.

use ams_protocol::{
    AuthorizationNotifyType, Notification, NotifyAuthorization, NotifyPayment, NotifyRefund,
    PaymentNotifyType, RefundStatus, ResultStatus,
};

use super::authorizations::{Authorizations, CodeReceipt};
use super::payments::{Facts, apply_attempt, failure_facts};
use super::refunds::{RefundFacts, apply_refund};
use super::{Context, Error, MAX_TRIES, commit, event, flag_and_commit};
use crate::lifecycle::attempt::AttemptEvent;
use crate::lifecycle::refund::RefundEvent;
use crate::model::{EventKind, InboxEntry, JobKind, Millis};

/// What receiving a notification did. Every receipt is acknowledged to Alipay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Receipt {
    /// Stored and applied (possibly changing nothing, as for a result already known).
    Applied,
    /// The same notification was received before; nothing was done.
    Duplicate,
    /// Not for this flow (an unrecognised kind, `TOKEN_CREATED`, an unknown token); not stored.
    Ignored(String),
}

/// Receives Alipay's notifications.
#[derive(Clone, Debug)]
pub struct Notifications {
    ctx: Context,
}

/// A notification as it arrived: the path, the HTTP headers (the signature, `client-id`,
/// `request-time`) and the raw body, kept in the inbox as received.
#[derive(Clone, Copy, Debug)]
pub struct Raw<'a> {
    /// The path it arrived on.
    pub path: &'a str,
    /// Its headers, names and values as received.
    pub headers: &'a [(String, String)],
    /// The raw body.
    pub body: &'a str,
}

fn entry(key: String, raw: &Raw<'_>, now: Millis) -> InboxEntry {
    InboxEntry {
        dedup_key: key,
        path: raw.path.to_owned(),
        headers: raw.headers.to_vec(),
        body: raw.body.to_owned(),
        received_at: now,
    }
}

impl Notifications {
    /// The service over `ctx`.
    pub fn new(ctx: Context) -> Self {
        Self { ctx }
    }

    /// Stores and applies a verified notification; `path` and `body` are kept in the inbox as
    /// received.
    ///
    /// # Errors
    /// [`Error::NotificationRefused`] when it names an unknown payment or refund, its amount or
    /// currency differs, or it contradicts what is known: it is stored and flagged for an operator
    /// (a resend is then a duplicate), and no state changed. Store failures: nothing was stored;
    /// answer so that Alipay resends.
    pub async fn receive(
        &self,
        notification: &Notification,
        path: &str,
        body: &str,
    ) -> Result<Receipt, Error> {
        let raw = Raw {
            path,
            headers: &[],
            body,
        };
        self.receive_raw(notification, &raw).await
    }

    /// As [`Notifications::receive`], keeping the headers it arrived with in the inbox too.
    ///
    /// # Errors
    /// As [`Notifications::receive`].
    pub async fn receive_raw(
        &self,
        notification: &Notification,
        raw: &Raw<'_>,
    ) -> Result<Receipt, Error> {
        match notification {
            Notification::Payment(n) => self.payment(n, raw).await,
            Notification::Refund(n) => self.refund(n, raw).await,
            Notification::Authorization(n) => self.authorization(n, raw).await,
            Notification::Unrecognised(_) => {
                Ok(Receipt::Ignored("an unrecognised notification".into()))
            }
            _ => Ok(Receipt::Ignored(format!(
                "{} is not handled",
                notification.kind_name()
            ))),
        }
    }

    async fn payment(&self, n: &NotifyPayment, raw: &Raw<'_>) -> Result<Receipt, Error> {
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
        let payment_id = Some(n.payment_id.as_str().to_owned());
        let settles = match (&n.notify_type, status) {
            (PaymentNotifyType::PaymentResult, ResultStatus::S) => Some((
                AttemptEvent::Succeeded,
                Facts {
                    payment_id,
                    ..Facts::default()
                },
            )),
            (PaymentNotifyType::PaymentResult, ResultStatus::F) => Some((
                AttemptEvent::Failed,
                Facts {
                    payment_id,
                    ..failure_facts(status, code)
                },
            )),
            // PAYMENT_PENDING, or a status that settles nothing: recorded only.
            _ => None,
        };
        let prid = n.payment_request_id.as_str();
        for _ in 0..MAX_TRIES {
            let now = self.ctx.now();
            let mut tx = self.ctx.store.begin().await?;
            if !tx.inbox_insert(&entry(key.clone(), raw, now)).await? {
                return Ok(Receipt::Duplicate);
            }
            let Some(attempt) = tx.attempt_by_payment_request_id(prid).await? else {
                let why = format!("notifyPayment for an unknown paymentRequestId {prid}");
                if !flag_and_commit(tx, prid, &why, now).await? {
                    continue;
                }
                return Err(Error::NotificationRefused(why));
            };
            if n.payment_amount != attempt.amount {
                let why = format!(
                    "notifyPayment says {} but payment {prid} is for {}",
                    n.payment_amount, attempt.amount
                );
                if !flag_and_commit(tx, &attempt.order_id, &why, now).await? {
                    continue;
                }
                return Err(Error::NotificationRefused(why));
            }
            let Some((event_, facts)) = &settles else {
                if !commit(tx).await? {
                    continue;
                }
                return Ok(Receipt::Applied);
            };
            let id = attempt.id.clone();
            let Some(applied) =
                apply_attempt(&mut *tx, attempt, *event_, facts, now, |_| {}).await?
            else {
                continue;
            };
            if applied.moved_to().is_some_and(|s| s.is_final()) {
                tx.remove_jobs(&JobKind::SendPayment(id.clone())).await?;
                tx.remove_jobs(&JobKind::ResolvePayment(id.clone())).await?;
                tx.remove_jobs(&JobKind::CancelPayment(id)).await?;
            }
            if !commit(tx).await? {
                continue;
            }
            return match applied.step {
                Some(_) => Ok(Receipt::Applied),
                None => Err(Error::NotificationRefused(format!(
                    "notifyPayment {} contradicts payment {prid}, which is {}",
                    status.as_str(),
                    applied.attempt.state.name()
                ))),
            };
        }
        Err(Error::Contention(key))
    }

    async fn refund(&self, n: &NotifyRefund, raw: &Raw<'_>) -> Result<Receipt, Error> {
        let rrid = n.refund_request_id.as_str();
        let key = format!(
            "notifyRefund:{rrid}:{}:{}",
            n.refund_status.as_str(),
            n.refund_amount
        );
        let refund_id = Some(n.refund_id.as_str().to_owned());
        let settles = match n.refund_status {
            RefundStatus::Success => Some((
                RefundEvent::Succeeded,
                RefundFacts {
                    refund_id,
                    ..RefundFacts::default()
                },
            )),
            RefundStatus::Fail => Some((
                RefundEvent::Failed,
                RefundFacts {
                    refund_id,
                    result_code: Some(n.result.code().as_str().to_owned()),
                    ..RefundFacts::default()
                },
            )),
            _ => None,
        };
        for _ in 0..MAX_TRIES {
            let now = self.ctx.now();
            let mut tx = self.ctx.store.begin().await?;
            if !tx.inbox_insert(&entry(key.clone(), raw, now)).await? {
                return Ok(Receipt::Duplicate);
            }
            let Some(refund) = tx.refund_by_refund_request_id(rrid).await? else {
                let why = format!("notifyRefund for an unknown refundRequestId {rrid}");
                if !flag_and_commit(tx, rrid, &why, now).await? {
                    continue;
                }
                return Err(Error::NotificationRefused(why));
            };
            if n.refund_amount != refund.amount {
                let why = format!(
                    "notifyRefund says {} but refund {rrid} is for {}",
                    n.refund_amount, refund.amount
                );
                if !flag_and_commit(tx, &refund.id, &why, now).await? {
                    continue;
                }
                return Err(Error::NotificationRefused(why));
            }
            let Some((event_, facts)) = &settles else {
                if !commit(tx).await? {
                    continue;
                }
                return Ok(Receipt::Applied);
            };
            let id = refund.id.clone();
            let Some((refund, step)) =
                apply_refund(&mut *tx, refund, *event_, facts, now, |_| {}).await?
            else {
                continue;
            };
            if refund.state.is_final() {
                tx.remove_jobs(&JobKind::ResolveRefund(id)).await?;
            }
            if !commit(tx).await? {
                continue;
            }
            return match step {
                Some(_) => Ok(Receipt::Applied),
                None => Err(Error::NotificationRefused(format!(
                    "notifyRefund {} contradicts refund {rrid}, which is {}",
                    n.refund_status.as_str(),
                    refund.state.name()
                ))),
            };
        }
        Err(Error::Contention(key))
    }

    async fn authorization(
        &self,
        n: &NotifyAuthorization,
        raw: &Raw<'_>,
    ) -> Result<Receipt, Error> {
        let authorizations = Authorizations::new(self.ctx.clone());
        match &n.authorization_notify_type {
            AuthorizationNotifyType::AuthcodeCreated => {
                let (Some(auth_state), Some(code)) = (&n.auth_state, &n.auth_code) else {
                    return Err(Error::NotificationRefused(
                        "AUTHCODE_CREATED without authState or authCode".into(),
                    ));
                };
                let key = format!("notifyAuthorization:AUTHCODE_CREATED:{auth_state}");
                let inbox = entry(key, raw, self.ctx.now());
                match authorizations
                    .receive_code(auth_state.as_str(), code, Some(&inbox))
                    .await
                {
                    Ok(CodeReceipt::Duplicate) => Ok(Receipt::Duplicate),
                    Ok(CodeReceipt::AlreadyHandled(_)) => Ok(Receipt::Applied),
                    Ok(CodeReceipt::Exchanging(id)) => {
                        // The code and its job are stored: a failure here is retried by the job.
                        let _ = authorizations.exchange(&id, None).await;
                        Ok(Receipt::Applied)
                    }
                    Err(e @ Error::Store(_)) => Err(e),
                    Err(e) => Err(Error::NotificationRefused(e.to_string())),
                }
            }
            AuthorizationNotifyType::TokenCanceled => {
                let Some(token) = &n.access_token else {
                    return Err(Error::NotificationRefused(
                        "TOKEN_CANCELED without accessToken".into(),
                    ));
                };
                for _ in 0..MAX_TRIES {
                    let now = self.ctx.now();
                    let mut tx = self.ctx.store.begin().await?;
                    let Some(auth) = tx
                        .authorization_by_access_token(token.expose_secret())
                        .await?
                    else {
                        return Ok(Receipt::Ignored(
                            "TOKEN_CANCELED for a token this merchant does not hold".into(),
                        ));
                    };
                    let key = format!("notifyAuthorization:TOKEN_CANCELED:{}", auth.id);
                    if !tx.inbox_insert(&entry(key, raw, now)).await? {
                        return Ok(Receipt::Duplicate);
                    }
                    let id = auth.id.clone();
                    match Authorizations::canceled_in_wallet(&mut *tx, auth, n.reason.clone(), now)
                        .await
                    {
                        Ok(Some(_)) => {
                            if commit(tx).await? {
                                return Ok(Receipt::Applied);
                            }
                        }
                        Ok(None) => {}
                        Err(e @ Error::Store(_)) => return Err(e),
                        Err(e) => {
                            tx.push_event(&event(
                                EventKind::OperatorAttention,
                                &id,
                                Some(e.to_string()),
                                now,
                            ))
                            .await?;
                            if commit(tx).await? {
                                return Err(Error::NotificationRefused(e.to_string()));
                            }
                        }
                    }
                }
                Err(Error::Contention("TOKEN_CANCELED".into()))
            }
            other => Ok(Receipt::Ignored(format!(
                "notifyAuthorization {} needs nothing here",
                other.as_str()
            ))),
        }
    }
}
