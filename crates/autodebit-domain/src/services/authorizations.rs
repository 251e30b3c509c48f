//! Binding a wallet and keeping the token alive.
//!
//! - [`Authorizations::start`]: a new unguessable `authState`, `consult`, and the URL the user must
//!   open. A failed authorization is never reused: [`Authorizations::restart`] makes a new one with
//!   a new `authState` (`authUrl` and `authCode` are single-use).
//! - [`Authorizations::complete_with_code`]: the auth code from the redirect, or from
//!   `AUTHCODE_CREATED` ([`crate::services::notifications`]), whichever comes first; the second does
//!   nothing. The code is stored with an `ExchangeCode` job before `applyToken` is called, so an
//!   unknown answer or a crash is retried.
//! - A `RefreshToken` job refreshes the access token before it expires; if it cannot, the
//!   authorization needs the user again and the merchant is told.
//! - [`Authorizations::revoke`], and `TOKEN_CANCELED` from the wallet: the authorization ends.

use ams_protocol::{
    AmsDateTime, Api, ApplyTokenRequest, ApplyTokenResponse, AuthCode, ConsultRequest,
    CustomerBelongsTo, OsType, RevokeRequest, TerminalType,
};

use super::payments::{Lease, complete_alone, not_found};
use super::{Context, Error, MAX_TRIES, commit, event};
use crate::decision::{Decision, decide};
use crate::lifecycle::Step;
use crate::lifecycle::authorization::{
    AuthorizationEvent, AuthorizationState, RevokedBy, transition,
};
use crate::model::{
    Authorization, AuthorizationId, EventKind, InboxEntry, JobKind, Millis, TokenSet,
};
use crate::ports::{Reply, Tx};

/// A merchant's request to bind a customer's wallet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartAuthorization {
    /// The merchant's own id for its customer.
    pub customer_id: String,
    /// The wallet.
    pub wallet: CustomerBelongsTo,
    /// The terminal the user authorizes on.
    pub terminal: TerminalType,
    /// The user's OS (required for `APP`, `WAP` and `MINI_APP`).
    pub os: Option<OsType>,
    /// Where the user goes at the end (the merchant's page).
    pub return_url: String,
}

/// An authorization waiting for the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Started {
    /// Our id.
    pub authorization_id: AuthorizationId,
    /// The `authState` sent to `consult` (it comes back with the redirect).
    pub auth_state: String,
    /// The URL the user must open.
    pub auth_url: String,
}

/// What receiving an auth code did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CodeReceipt {
    /// The same notification was already received.
    Duplicate,
    /// The code is stored; exchange it.
    Exchanging(AuthorizationId),
    /// An earlier code (redirect or notification) was taken; this one does nothing.
    AlreadyHandled(AuthorizationState),
}

/// What `applyToken` said.
enum TokenOutcome {
    Issued(TokenSet, Option<String>),
    Refused(String),
    Retry(String),
}

fn millis(time: Option<&AmsDateTime>) -> Option<Millis> {
    time.and_then(|t| t.unix_millis().ok())
}

fn token_outcome(reply: Reply<ApplyTokenResponse>) -> TokenOutcome {
    match reply {
        Reply::Success(r) => match r.access_token {
            Some(access_token) => TokenOutcome::Issued(
                TokenSet {
                    access_token,
                    // No expiry: "the access token has a quite long validity".
                    access_expires_at: millis(r.access_token_expiry_time.as_ref())
                        .unwrap_or(Millis::MAX),
                    refresh_token: r.refresh_token,
                    refresh_expires_at: millis(r.refresh_token_expiry_time.as_ref()),
                },
                r.user_login_id,
            ),
            None => TokenOutcome::Refused("NO_ACCESS_TOKEN".into()),
        },
        Reply::Failed(r) => match decide(Api::ApplyToken, r.result.status(), r.result.code()).0 {
            Decision::RetrySame | Decision::Inquire => {
                TokenOutcome::Retry(r.result.code().as_str().to_owned())
            }
            Decision::Reauthorize
            | Decision::FailedForGood
            | Decision::AskOperator
            | Decision::Succeeded
            | Decision::Cancel => TokenOutcome::Refused(r.result.code().as_str().to_owned()),
        },
        Reply::Unknown { detail, .. } | Reply::NotSent { detail } => TokenOutcome::Retry(detail),
    }
}

/// When to refresh `token`: before its access token expires (by the margin, at most a fifth of its
/// remaining life); never when it cannot be refreshed or does not expire.
fn refresh_due(ctx: &Context, token: &TokenSet, now: Millis) -> Option<Millis> {
    token.refresh_token.as_ref()?;
    if token.access_expires_at == Millis::MAX {
        return None;
    }
    let remaining = (token.access_expires_at - now).max(0);
    let margin = ctx.schedule.refresh_margin_ms.min(remaining / 5);
    Some((token.access_expires_at - margin).max(now))
}

/// Applies `event_` to `auth` in `tx` with the events it calls for; `tweak` adjusts the record.
/// `Ok(None)`: the compare-and-set lost.
pub(crate) async fn apply_authorization(
    tx: &mut dyn Tx,
    mut auth: Authorization,
    event_: AuthorizationEvent,
    detail: Option<String>,
    now: Millis,
    tweak: impl FnOnce(&mut Authorization),
) -> Result<Option<(Authorization, Step<AuthorizationState>)>, Error> {
    let original = auth.clone();
    let step = transition(auth.state, event_)?;
    auth.state = step.state();
    tweak(&mut auth);
    if auth != original {
        auth.updated_at = now;
        if !tx.update_authorization(&auth).await? {
            return Ok(None);
        }
        auth.version += 1;
    }
    if step.moved() {
        let kind = match (event_, auth.state) {
            (AuthorizationEvent::TokenIssued, _) => Some(EventKind::AuthorizationActive),
            (_, AuthorizationState::NeedsReauthorization | AuthorizationState::Invalid) => {
                Some(EventKind::AuthorizationNeedsReauthorization)
            }
            (_, AuthorizationState::Revoked(_)) => Some(EventKind::AuthorizationEnded),
            (
                _,
                AuthorizationState::Failed
                | AuthorizationState::Declined
                | AuthorizationState::Expired,
            ) => Some(EventKind::AuthorizationFailed),
            (
                _,
                AuthorizationState::Consulting
                | AuthorizationState::AwaitingUser
                | AuthorizationState::Exchanging
                | AuthorizationState::Active
                | AuthorizationState::Refreshing
                | AuthorizationState::Revoking,
            ) => None,
        };
        if let Some(kind) = kind {
            tx.push_event(&event(kind, &auth.id, detail, now)).await?;
        }
        if !auth.state.can_charge() && auth.state != AuthorizationState::Refreshing {
            tx.remove_jobs(&JobKind::RefreshToken(auth.id.clone()))
                .await?;
        }
    }
    Ok(Some((auth, step)))
}

fn validate(command: &StartAuthorization) -> Result<(), Error> {
    if command.customer_id.is_empty() {
        return Err(Error::Invalid("the customer id is empty".into()));
    }
    if command.return_url.is_empty() {
        return Err(Error::Invalid("the return URL is empty".into()));
    }
    let needs_os = matches!(
        command.terminal,
        TerminalType::App | TerminalType::Wap | TerminalType::MiniApp
    );
    if needs_os && command.os.is_none() {
        return Err(Error::Invalid(format!(
            "the OS is required for terminal {}",
            command.terminal.as_str()
        )));
    }
    Ok(())
}

/// Binds wallets, keeps tokens alive, revokes them.
#[derive(Clone, Debug)]
pub struct Authorizations {
    ctx: Context,
}

impl Authorizations {
    /// The service over `ctx`.
    pub fn new(ctx: Context) -> Self {
        Self { ctx }
    }

    /// Starts an authorization: a new `authState`, `consult`, and the URL for the user.
    ///
    /// # Errors
    /// [`Error::Invalid`]; [`Error::Refused`] or [`Error::Unavailable`] when `consult` did not give
    /// a URL (the authorization is stored as failed: [`Authorizations::restart`] it); store failures.
    pub async fn start(&self, command: StartAuthorization) -> Result<Started, Error> {
        validate(&command)?;
        let now = self.ctx.now();
        let auth = Authorization {
            id: AuthorizationId::new(self.ctx.ids.local_id("auth")),
            customer_id: command.customer_id,
            wallet: command.wallet,
            terminal_type: command.terminal,
            os_type: command.os,
            return_url: command.return_url,
            auth_state: self.ctx.ids.auth_state(now),
            auth_url: None,
            state: AuthorizationState::Consulting,
            token: None,
            pending_auth_code: None,
            user_login_id: None,
            failure: None,
            version: 0,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.ctx.store.begin().await?;
        tx.insert_authorization(&auth).await?;
        if !commit(tx).await? {
            return Err(Error::Contention(auth.id.to_string()));
        }
        self.consult(auth).await
    }

    /// Starts again after a failure: a **new** authorization (new id, new `authState`, a new
    /// `consult`) for the same customer, wallet, terminal and return URL. The old one stays as it
    /// is.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the authorization is still usable or under way; as
    /// [`Authorizations::start`].
    pub async fn restart(&self, id: &AuthorizationId) -> Result<Started, Error> {
        let old = self.authorization(id).await?;
        match old.state {
            AuthorizationState::Failed
            | AuthorizationState::Declined
            | AuthorizationState::Expired
            | AuthorizationState::NeedsReauthorization
            | AuthorizationState::Invalid
            | AuthorizationState::Revoked(_) => {}
            AuthorizationState::Consulting
            | AuthorizationState::AwaitingUser
            | AuthorizationState::Exchanging
            | AuthorizationState::Active
            | AuthorizationState::Refreshing
            | AuthorizationState::Revoking => {
                return Err(Error::Invalid(format!(
                    "authorization {id} is {}: nothing to restart",
                    old.state.name()
                )));
            }
        }
        self.start(StartAuthorization {
            customer_id: old.customer_id,
            wallet: old.wallet,
            terminal: old.terminal_type,
            os: old.os_type,
            return_url: old.return_url,
        })
        .await
    }

    async fn consult(&self, auth: Authorization) -> Result<Started, Error> {
        let settings = &self.ctx.settings;
        let redirect = settings
            .auth_redirect_url
            .clone()
            .unwrap_or_else(|| auth.return_url.clone());
        let mut request = ConsultRequest::new(
            auth.wallet.clone(),
            redirect,
            settings.scopes.clone(),
            auth.auth_state.as_str(),
            auth.terminal_type.clone(),
        );
        if let Some(os) = &auth.os_type {
            request = request.with_os_type(os.clone());
        }
        if let Some(url) = &settings.auth_notify_url {
            request = request.with_auth_notify_url(url.clone());
        }
        let (event_, url, failure) = match self.ctx.gateway.consult(&request).await {
            Reply::Success(r) => match r
                .normal_url
                .or(r.applink_url)
                .or(r.scheme_url)
                .or(r.auth_url)
            {
                Some(url) => (AuthorizationEvent::ConsultSucceeded, Some(url), None),
                None => (
                    AuthorizationEvent::ConsultFailed,
                    None,
                    Some(Error::Refused {
                        api: "consult",
                        code: "NO_AUTH_URL".into(),
                    }),
                ),
            },
            Reply::Failed(r) => (
                AuthorizationEvent::ConsultFailed,
                None,
                Some(Error::Refused {
                    api: "consult",
                    code: r.result.code().as_str().to_owned(),
                }),
            ),
            // consult moves no money: an unclear answer is a failure to try again with a new
            // authState.
            Reply::Unknown { detail, .. } | Reply::NotSent { detail } => (
                AuthorizationEvent::ConsultFailed,
                None,
                Some(Error::Unavailable {
                    api: "consult",
                    detail,
                }),
            ),
        };
        let why = failure.as_ref().map(ToString::to_string);
        for _ in 0..MAX_TRIES {
            let now = self.ctx.now();
            let mut tx = self.ctx.store.begin().await?;
            let current = tx
                .authorization(&auth.id)
                .await?
                .ok_or_else(|| not_found("authorization", &auth.id))?;
            let applied = apply_authorization(&mut *tx, current, event_, why.clone(), now, |a| {
                a.auth_url.clone_from(&url);
                a.failure.clone_from(&why);
            })
            .await?;
            if applied.is_none() || !commit(tx).await? {
                continue;
            }
            return match (failure, url) {
                (Some(e), _) => Err(e),
                (None, Some(auth_url)) => Ok(Started {
                    authorization_id: auth.id,
                    auth_state: auth.auth_state,
                    auth_url,
                }),
                (None, None) => Err(Error::Refused {
                    api: "consult",
                    code: "NO_AUTH_URL".into(),
                }),
            };
        }
        Err(Error::Contention(auth.id.to_string()))
    }

    /// The user agreed: the auth code from the redirect (or from `AUTHCODE_CREATED`). The first
    /// code is exchanged for a token; a later one does nothing. Returns the state after the
    /// exchange: `Active`, or `Exchanging` while an unknown answer is retried by a job, or
    /// `Failed` (restart it).
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown `authState`, [`Error::Transition`] when the authorization
    /// cannot take a code (failed or declined), store failures.
    pub async fn complete_with_code(
        &self,
        auth_state: &str,
        auth_code: &str,
    ) -> Result<AuthorizationState, Error> {
        match self
            .receive_code(auth_state, &AuthCode::new(auth_code), None)
            .await?
        {
            CodeReceipt::Exchanging(id) => {
                self.exchange(&id, None).await?;
                Ok(self.authorization(&id).await?.state)
            }
            CodeReceipt::AlreadyHandled(state) => Ok(state),
            CodeReceipt::Duplicate => Err(Error::Invalid("duplicate".into())),
        }
    }

    /// The user declined in the wallet (the redirect carried no code).
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Transition`], store failures.
    pub async fn decline(&self, auth_state: &str) -> Result<AuthorizationState, Error> {
        for _ in 0..MAX_TRIES {
            let now = self.ctx.now();
            let mut tx = self.ctx.store.begin().await?;
            let auth = tx
                .authorization_by_auth_state(auth_state)
                .await?
                .ok_or_else(|| not_found("authorization with authState", auth_state))?;
            let Some((auth, _)) = apply_authorization(
                &mut *tx,
                auth,
                AuthorizationEvent::UserDeclined,
                Some("declined by the user".into()),
                now,
                |_| {},
            )
            .await?
            else {
                continue;
            };
            if commit(tx).await? {
                return Ok(auth.state);
            }
        }
        Err(Error::Contention(auth_state.to_owned()))
    }

    /// Stores a received code (and the notification that carried it, if one did) and moves the
    /// authorization to `Exchanging`, with an `ExchangeCode` job, in one unit of work.
    pub(crate) async fn receive_code(
        &self,
        auth_state: &str,
        code: &AuthCode,
        inbox: Option<&InboxEntry>,
    ) -> Result<CodeReceipt, Error> {
        for _ in 0..MAX_TRIES {
            let now = self.ctx.now();
            let mut tx = self.ctx.store.begin().await?;
            if let Some(entry) = inbox
                && !tx.inbox_insert(entry).await?
            {
                return Ok(CodeReceipt::Duplicate);
            }
            let Some(auth) = tx.authorization_by_auth_state(auth_state).await? else {
                let error = not_found("authorization with authState", auth_state);
                if inbox.is_some() {
                    let detail = format!("AUTHCODE_CREATED for an unknown authState {auth_state}");
                    tx.push_event(&event(
                        EventKind::OperatorAttention,
                        "notifyAuthorization",
                        Some(detail),
                        now,
                    ))
                    .await?;
                    if !commit(tx).await? {
                        continue;
                    }
                }
                return Err(error);
            };
            let id = auth.id.clone();
            let applied = match apply_authorization(
                &mut *tx,
                auth,
                AuthorizationEvent::AuthCodeReceived,
                None,
                now,
                |a| {
                    if a.state == AuthorizationState::Exchanging && a.pending_auth_code.is_none() {
                        a.pending_auth_code = Some(code.clone());
                    }
                },
            )
            .await
            {
                Ok(applied) => applied,
                Err(e) => {
                    if inbox.is_some() {
                        tx.push_event(&event(
                            EventKind::OperatorAttention,
                            &id,
                            Some(e.to_string()),
                            now,
                        ))
                        .await?;
                        if !commit(tx).await? {
                            continue;
                        }
                    }
                    return Err(e);
                }
            };
            let Some((auth, step)) = applied else {
                continue;
            };
            let receipt = if step.moved() {
                tx.enqueue_job(
                    JobKind::ExchangeCode(id.clone()),
                    now + self.ctx.schedule.reply_timeout_ms,
                )
                .await?;
                CodeReceipt::Exchanging(id)
            } else {
                CodeReceipt::AlreadyHandled(auth.state)
            };
            if commit(tx).await? {
                return Ok(receipt);
            }
        }
        Err(Error::Contention(auth_state.to_owned()))
    }

    /// `applyToken` with the stored code: S → `Active` with the tokens and a `RefreshToken` job;
    /// F → `Failed`; unknown → tried again by the `ExchangeCode` job, a bounded number of times.
    pub(crate) async fn exchange(
        &self,
        id: &AuthorizationId,
        lease: Option<&Lease<'_>>,
    ) -> Result<(), Error> {
        let auth = self.authorization(id).await?;
        let pending = auth
            .pending_auth_code
            .clone()
            .filter(|_| auth.state == AuthorizationState::Exchanging);
        let code = match pending {
            Some(code) => code,
            None => {
                return match lease {
                    Some(lease) => complete_alone(&self.ctx, lease).await,
                    None => Ok(()),
                };
            }
        };
        let request = ApplyTokenRequest::authorization_code(auth.wallet.clone(), code);
        let mut outcome = token_outcome(self.ctx.gateway.apply_token(&request).await);
        let tries = lease.map_or(0, |l| l.job.attempts);
        if let TokenOutcome::Retry(detail) = &outcome
            && tries >= self.ctx.schedule.auth_max_tries
        {
            outcome = TokenOutcome::Refused(format!("EXCHANGE_UNKNOWN: {detail}"));
        }
        let exchange_job = JobKind::ExchangeCode(id.clone());
        for _ in 0..MAX_TRIES {
            let now = self.ctx.now();
            let mut tx = self.ctx.store.begin().await?;
            let auth = tx
                .authorization(id)
                .await?
                .ok_or_else(|| not_found("authorization", id))?;
            let exchanging = auth.state == AuthorizationState::Exchanging;
            if let Some(lease) = lease
                && (!exchanging || !matches!(outcome, TokenOutcome::Retry(_)))
                && !lease.complete(&mut *tx).await?
            {
                return Ok(());
            }
            if !exchanging {
                if commit(tx).await? {
                    return Ok(());
                }
                continue;
            }
            match &outcome {
                TokenOutcome::Issued(token, login) => {
                    let refresh_at = refresh_due(&self.ctx, token, now);
                    let applied = apply_authorization(
                        &mut *tx,
                        auth,
                        AuthorizationEvent::TokenIssued,
                        None,
                        now,
                        |a| {
                            a.token = Some(token.clone());
                            a.pending_auth_code = None;
                            a.user_login_id.clone_from(login);
                            a.failure = None;
                        },
                    )
                    .await?;
                    if applied.is_none() {
                        continue;
                    }
                    tx.remove_jobs(&exchange_job).await?;
                    if let Some(due) = refresh_at {
                        tx.enqueue_job(JobKind::RefreshToken(id.clone()), due)
                            .await?;
                    }
                }
                TokenOutcome::Refused(code) => {
                    let applied = apply_authorization(
                        &mut *tx,
                        auth,
                        AuthorizationEvent::ExchangeFailed,
                        Some(code.clone()),
                        now,
                        |a| {
                            a.pending_auth_code = None;
                            a.failure = Some(code.clone());
                        },
                    )
                    .await?;
                    if applied.is_none() {
                        continue;
                    }
                    tx.remove_jobs(&exchange_job).await?;
                }
                TokenOutcome::Retry(_) => {
                    let due = now + self.ctx.schedule.auth_retry_ms;
                    match lease {
                        Some(lease) => {
                            if !lease.retry_at(&mut *tx, due).await? {
                                return Ok(());
                            }
                        }
                        None => {
                            tx.remove_jobs(&exchange_job).await?;
                            tx.enqueue_job(exchange_job.clone(), due).await?;
                        }
                    }
                }
            }
            if commit(tx).await? {
                return Ok(());
            }
        }
        Err(Error::Contention(id.to_string()))
    }

    /// `RefreshToken`: `applyToken` with the refresh token; S → new tokens (still `Active`) and the
    /// next refresh; F or an expired refresh token → `NeedsReauthorization`, and the merchant is told.
    pub(crate) async fn refresh_job(
        &self,
        lease: &Lease<'_>,
        id: &AuthorizationId,
    ) -> Result<(), Error> {
        let auth = self.authorization(id).await?;
        let Some((token, refresh_token)) = auth
            .token
            .as_ref()
            .and_then(|t| t.refresh_token.clone().map(|r| (t.clone(), r)))
            .filter(|_| auth.state == AuthorizationState::Active)
        else {
            return complete_alone(&self.ctx, lease).await;
        };
        let outcome = if token
            .refresh_expires_at
            .is_some_and(|at| at <= self.ctx.now())
        {
            TokenOutcome::Refused("REFRESH_TOKEN_EXPIRED".into())
        } else {
            let request = ApplyTokenRequest::refresh_token(auth.wallet.clone(), refresh_token);
            token_outcome(self.ctx.gateway.apply_token(&request).await)
        };
        for _ in 0..MAX_TRIES {
            let now = self.ctx.now();
            let mut tx = self.ctx.store.begin().await?;
            let auth = tx
                .authorization(id)
                .await?
                .ok_or_else(|| not_found("authorization", id))?;
            if auth.state != AuthorizationState::Active {
                if !lease.complete(&mut *tx).await? || commit(tx).await? {
                    return Ok(());
                }
                continue;
            }
            match &outcome {
                TokenOutcome::Issued(new, _) => {
                    let mut rotated = new.clone();
                    if rotated.refresh_token.is_none() {
                        rotated.refresh_token.clone_from(&token.refresh_token);
                        rotated.refresh_expires_at = token.refresh_expires_at;
                    }
                    let Some((refreshing, _)) = apply_authorization(
                        &mut *tx,
                        auth,
                        AuthorizationEvent::RefreshStarted,
                        None,
                        now,
                        |_| {},
                    )
                    .await?
                    else {
                        continue;
                    };
                    let applied = apply_authorization(
                        &mut *tx,
                        refreshing,
                        AuthorizationEvent::RefreshSucceeded,
                        None,
                        now,
                        |a| {
                            a.token = Some(rotated.clone());
                            a.failure = None;
                        },
                    )
                    .await?;
                    if applied.is_none() {
                        continue;
                    }
                    if let Some(due) = refresh_due(&self.ctx, &rotated, now) {
                        tx.enqueue_job(JobKind::RefreshToken(id.clone()), due)
                            .await?;
                    }
                }
                TokenOutcome::Refused(code) => {
                    let applied = apply_authorization(
                        &mut *tx,
                        auth,
                        AuthorizationEvent::RefreshFailed,
                        Some(code.clone()),
                        now,
                        |a| a.failure = Some(code.clone()),
                    )
                    .await?;
                    if applied.is_none() {
                        continue;
                    }
                }
                TokenOutcome::Retry(detail) => {
                    let next = now + self.ctx.schedule.auth_retry_ms;
                    if next < token.access_expires_at {
                        if !lease.retry_at(&mut *tx, next).await? || commit(tx).await? {
                            return Ok(());
                        }
                        continue;
                    }
                    let why = format!("REFRESH_UNKNOWN: {detail}");
                    let applied = apply_authorization(
                        &mut *tx,
                        auth,
                        AuthorizationEvent::RefreshFailed,
                        Some(why.clone()),
                        now,
                        |a| a.failure = Some(why.clone()),
                    )
                    .await?;
                    if applied.is_none() {
                        continue;
                    }
                }
            }
            if !lease.complete(&mut *tx).await? || commit(tx).await? {
                return Ok(());
            }
        }
        Err(Error::Contention(id.to_string()))
    }

    /// Revokes the token (`revoke`); the authorization ends as revoked by the merchant. An unknown
    /// answer is retried by a `Revoke` job.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Transition`] (nothing to revoke yet), store failures.
    pub async fn revoke(&self, id: &AuthorizationId) -> Result<AuthorizationState, Error> {
        for _ in 0..MAX_TRIES {
            let now = self.ctx.now();
            let mut tx = self.ctx.store.begin().await?;
            let auth = tx
                .authorization(id)
                .await?
                .ok_or_else(|| not_found("authorization", id))?;
            let Some((auth, step)) = apply_authorization(
                &mut *tx,
                auth,
                AuthorizationEvent::RevokeRequested,
                None,
                now,
                |_| {},
            )
            .await?
            else {
                continue;
            };
            if !step.moved() {
                if auth.state == AuthorizationState::Revoking {
                    break;
                }
                return Ok(auth.state);
            }
            tx.remove_jobs(&JobKind::RefreshToken(id.clone())).await?;
            tx.enqueue_job(
                JobKind::Revoke(id.clone()),
                now + self.ctx.schedule.reply_timeout_ms,
            )
            .await?;
            if commit(tx).await? {
                break;
            }
        }
        self.call_revoke(id, None).await?;
        Ok(self.authorization(id).await?.state)
    }

    /// `Revoke`: the `revoke` call again.
    pub(crate) async fn revoke_job(
        &self,
        lease: &Lease<'_>,
        id: &AuthorizationId,
    ) -> Result<(), Error> {
        self.call_revoke(id, Some(lease)).await
    }

    async fn call_revoke(
        &self,
        id: &AuthorizationId,
        lease: Option<&Lease<'_>>,
    ) -> Result<(), Error> {
        let auth = self.authorization(id).await?;
        if auth.state != AuthorizationState::Revoking {
            return match lease {
                Some(lease) => complete_alone(&self.ctx, lease).await,
                None => Ok(()),
            };
        }
        enum Outcome {
            Revoked,
            Refused(String),
            Retry(String),
        }
        let mut outcome = match &auth.token {
            None => Outcome::Revoked,
            Some(token) => match self
                .ctx
                .gateway
                .revoke(&RevokeRequest::new(token.access_token.clone()))
                .await
            {
                Reply::Success(_) => Outcome::Revoked,
                Reply::Failed(r) => match decide(Api::Revoke, r.result.status(), r.result.code()).0
                {
                    // INVALID_ACCESS_TOKEN: already gone.
                    Decision::Succeeded => Outcome::Revoked,
                    Decision::RetrySame | Decision::Inquire => {
                        Outcome::Retry(r.result.code().as_str().to_owned())
                    }
                    Decision::AskOperator
                    | Decision::FailedForGood
                    | Decision::Reauthorize
                    | Decision::Cancel => Outcome::Refused(r.result.code().as_str().to_owned()),
                },
                Reply::Unknown { detail, .. } | Reply::NotSent { detail } => Outcome::Retry(detail),
            },
        };
        if let (Outcome::Retry(detail), Some(lease)) = (&outcome, lease)
            && lease.job.attempts >= self.ctx.schedule.auth_max_tries
        {
            outcome = Outcome::Refused(format!("REVOKE_UNKNOWN: {detail}"));
        }
        let revoke_job = JobKind::Revoke(id.clone());
        for _ in 0..MAX_TRIES {
            let now = self.ctx.now();
            let mut tx = self.ctx.store.begin().await?;
            let auth = tx
                .authorization(id)
                .await?
                .ok_or_else(|| not_found("authorization", id))?;
            let revoking = auth.state == AuthorizationState::Revoking;
            if let Some(lease) = lease
                && (!revoking || !matches!(outcome, Outcome::Retry(_)))
                && !lease.complete(&mut *tx).await?
            {
                return Ok(());
            }
            if !revoking {
                if commit(tx).await? {
                    return Ok(());
                }
                continue;
            }
            match &outcome {
                Outcome::Revoked => {
                    let applied = apply_authorization(
                        &mut *tx,
                        auth,
                        AuthorizationEvent::RevokeSucceeded,
                        Some("revoked by the merchant".into()),
                        now,
                        |_| {},
                    )
                    .await?;
                    if applied.is_none() {
                        continue;
                    }
                    tx.remove_jobs(&revoke_job).await?;
                }
                Outcome::Refused(code) => {
                    let detail = format!(
                        "revoke refused ({code}): the token may still work; revoke it by hand"
                    );
                    tx.push_event(&event(EventKind::OperatorAttention, id, Some(detail), now))
                        .await?;
                    tx.remove_jobs(&revoke_job).await?;
                }
                Outcome::Retry(_) => {
                    let due = now + self.ctx.schedule.auth_retry_ms;
                    match lease {
                        Some(lease) => {
                            if !lease.retry_at(&mut *tx, due).await? {
                                return Ok(());
                            }
                        }
                        None => {
                            tx.remove_jobs(&revoke_job).await?;
                            tx.enqueue_job(revoke_job.clone(), due).await?;
                        }
                    }
                }
            }
            if commit(tx).await? {
                return Ok(());
            }
        }
        Err(Error::Contention(id.to_string()))
    }

    /// `TOKEN_CANCELED`: the user unbound the merchant in the wallet.
    pub(crate) async fn canceled_in_wallet(
        tx: &mut dyn Tx,
        auth: Authorization,
        reason: Option<String>,
        now: Millis,
    ) -> Result<Option<Authorization>, Error> {
        let detail = Some(reason.unwrap_or_else(|| "canceled by the user in the wallet".into()));
        let applied = apply_authorization(
            tx,
            auth,
            AuthorizationEvent::CanceledInWallet,
            detail,
            now,
            |_| {},
        )
        .await?;
        if let Some((auth, _)) = &applied
            && matches!(auth.state, AuthorizationState::Revoked(RevokedBy::User))
        {
            tx.remove_jobs(&JobKind::Revoke(auth.id.clone())).await?;
            tx.remove_jobs(&JobKind::ExchangeCode(auth.id.clone()))
                .await?;
        }
        Ok(applied.map(|(auth, _)| auth))
    }

    /// An authorization as stored.
    ///
    /// # Errors
    /// [`Error::NotFound`] and store failures.
    pub async fn authorization(&self, id: &AuthorizationId) -> Result<Authorization, Error> {
        let mut tx = self.ctx.store.begin().await?;
        tx.authorization(id)
            .await?
            .ok_or_else(|| not_found("authorization", id))
    }
}
