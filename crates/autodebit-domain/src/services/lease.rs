//! A job this process holds, and the three things it does with it: renew it right before a call to
//! Alipay, settle it (complete or reschedule) in the unit of work that applies the call's result,
//! or finish it alone when there is nothing to do.
//!
//! The rule that keeps a call from leaving twice: a lease is renewed (a compare-and-set on its
//! token) right before every call, for exactly the time the call may take plus the guard
//! ([`crate::services::Schedule::reply_timeout_ms`], never less than
//! [`crate::services::Schedule::max_call_ms`]); a call is never made on a lease that could not be
//! renewed. The result of a call is kept even if the lease was lost meanwhile: the unit of work
//! that applies it simply leaves the job alone.

use super::{Context, Error, Unit};
use crate::model::{Job, JobKind, LeaseToken, Millis};
use crate::ports::Tx;

/// A job held under a lease token.
#[derive(Clone, Debug)]
pub(crate) struct Lease {
    pub(crate) job: Job,
    pub(crate) token: LeaseToken,
}

impl Lease {
    /// Takes the job of `kind` now, due or not, unless another lease holds it.
    pub(crate) async fn claim(ctx: &Context, kind: &JobKind) -> Result<Option<Self>, Error> {
        let token = ctx.ids.lease_token()?;
        let job = ctx
            .store
            .claim_job(kind, ctx.now(), &token, ctx.schedule.lease_ms)
            .await?;
        Ok(job.map(|job| Self { job, token }))
    }

    /// Renews the lease until `until`. False: it is lost, do nothing that must not happen twice.
    pub(crate) async fn renew(&self, ctx: &Context, until: Millis) -> Result<bool, Error> {
        Ok(ctx
            .store
            .renew_lease(&self.job.id, &self.token, until)
            .await?)
    }

    /// Renews the lease for one call to Alipay and its guard. False: lost, make no call.
    pub(crate) async fn renew_for_call(&self, ctx: &Context) -> Result<bool, Error> {
        self.renew(ctx, ctx.now() + ctx.schedule.reply_timeout_ms)
            .await
    }

    /// Stages the job's end in `tx`: completed (`next` is `None`) or due again at `next`. Does
    /// nothing when the lease is lost (the state change in `tx` is kept all the same).
    pub(crate) async fn settle(&self, tx: &mut dyn Tx, next: Option<Millis>) -> Result<(), Error> {
        match next {
            None => tx.complete_job(&self.job.id, &self.token).await?,
            Some(due_at) => tx.reschedule_job(&self.job.id, &self.token, due_at).await?,
        };
        Ok(())
    }

    /// Completes the job in a unit of work of its own (nothing more to do), or reschedules it.
    pub(crate) async fn finish_alone(
        &self,
        ctx: &Context,
        next: Option<Millis>,
    ) -> Result<(), Error> {
        unit_of_work!(ctx, &self.job.id, |tx, _now| {
            self.settle(tx, next).await?;
            Ok(Unit::Commit(()))
        })
    }
}
