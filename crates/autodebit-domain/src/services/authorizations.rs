//! Binding a wallet and keeping the token alive.
//!
//! - [`Authorizations::start`]: a new unguessable `authState`, `consult`, and the URL (or, for
//!   Scan to Bind, the QR value) for the user. A failed authorization is never reused:
//!   [`Authorizations::restart`] makes a new one with a new `authState` (`authUrl` and `authCode`
//!   are single-use).
//! - [`Authorizations::complete_with_code`]: the auth code from the redirect, or from
//!   `AUTHCODE_CREATED` ([`crate::services::notifications`]), whichever comes first; the second
//!   does nothing. The code is stored with the authorization's job before `applyToken` is called,
//!   and the call is made under the job's lease, renewed right before it leaves: a single-use code
//!   is never sent by two workers.
//! - The authorization's job (`step`) then does what its state needs: recover a consult that
//!   never answered, expire a consent nobody gave, exchange the code, refresh the token before the
//!   access or the refresh token expires (or, with no refresh token, mark it *needs
//!   re-authorization* when the access token expires), revoke, and revoke a token Alipay issued
//!   that we do not hold.
//! - [`Authorizations::revoke`], and `TOKEN_CANCELED` from the wallet (even naming a token rotated
//!   since): the authorization ends.

use ams_protocol::{
    AccessToken, AmsDateTime, Api, ApplyTokenRequest, ApplyTokenResponse, AuthCode, AuthState,
    ConsultRequest, CustomerBelongsTo, OsType, RefreshToken, RevokeRequest, TerminalType,
};

use super::lease::Lease;
use super::{Context, Error, Flag, Page, Unit, invalid, not_found, page_of, page_request, raise};
use crate::decision::{Decision, decide};
use crate::lifecycle::Step;
use crate::lifecycle::authorization::{AuthorizationEvent, AuthorizationState, transition};
use crate::model::{
    Authorization, AuthorizationId, Event, EventKind, InboxEntry, JobKind, Millis, OperatorAction,
    Subject, TokenSet,
};
use crate::ports::{AuthorizationFilter, PageRequest, Reply, Tx};

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
    /// The secondary merchant the user authorizes (an acquirer or ISV acting for it): sent as
    /// `consult`'s `authClientId`, and as `order.merchant.referenceMerchantId` in every payment
    /// of this authorization (the token was granted to that merchant). At most 64 characters.
    pub secondary_merchant: Option<String>,
}

/// An authorization waiting for the user.
#[derive(Clone, PartialEq, Eq)]
pub struct Started {
    /// Our id.
    pub authorization_id: AuthorizationId,
    /// The `authState` sent to `consult` (it comes back with the redirect). A capability: never
    /// log it.
    pub auth_state: AuthState,
    /// The URL the user must open, when Alipay gave one.
    pub auth_url: Option<String>,
    /// Scan to Bind: the value to show as a QR code, when Alipay gave one.
    pub qr_code: Option<String>,
}

impl std::fmt::Debug for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Started")
            .field("authorization_id", &self.authorization_id)
            .field("auth_state", &"<redacted>")
            .field("auth_url", &self.auth_url)
            .field("qr_code", &self.qr_code)
            .finish()
    }
}

/// What receiving an auth code did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CodeReceipt {
    /// The same notification was already received.
    Duplicate,
    /// The code is stored; exchange it.
    Exchanging(AuthorizationId),
    /// An earlier code (redirect or notification) was taken; this one does nothing.
    AlreadyHandled(AuthorizationId, AuthorizationState),
}

/// What `applyToken` said.
enum TokenOutcome {
    Issued(TokenSet, Option<String>),
    Refused(String),
    /// No settling answer: asked again (the diagnosis is in the server's log, from the gateway).
    Retry,
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
            Decision::RetrySame | Decision::Inquire => TokenOutcome::Retry,
            Decision::Reauthorize
            | Decision::FailedForGood
            | Decision::AskOperator
            | Decision::Succeeded
            | Decision::Cancel => TokenOutcome::Refused(r.result.code().as_str().to_owned()),
        },
        Reply::Unknown { .. } | Reply::NotSent { .. } => TokenOutcome::Retry,
    }
}

/// When the authorization's job must next look at `token`: before the earlier of the access and
/// the refresh token's expiries (by the margin, at most a fifth of the remaining life) when it
/// can be refreshed; at the access token's expiry when it cannot. `None`: nothing ever expires.
fn token_due(ctx: &Context, token: &TokenSet, now: Millis) -> Option<Millis> {
    if token.refresh_token.is_none() {
        return (token.access_expires_at != Millis::MAX).then_some(token.access_expires_at);
    }
    let expires = token
        .access_expires_at
        .min(token.refresh_expires_at.unwrap_or(Millis::MAX));
    if expires == Millis::MAX {
        return None;
    }
    let remaining = (expires - now).max(0);
    let margin = ctx.schedule.refresh_margin_ms.min(remaining / 5);
    Some((expires - margin).max(now))
}

/// Applies `event` to `auth` in `tx` with the events it calls for; `tweak` adjusts the record.
/// `Ok(None)`: the compare-and-set lost.
pub(crate) async fn apply_authorization(
    tx: &mut dyn Tx,
    mut auth: Authorization,
    event: AuthorizationEvent,
    detail: Option<String>,
    now: Millis,
    tweak: impl FnOnce(&mut Authorization),
) -> Result<Option<(Authorization, Step<AuthorizationState>)>, Error> {
    let original = auth.clone();
    let step = transition(auth.state, event)?;
    auth.state = step.state();
    if step.moved() {
        auth.tries = 0;
    }
    tweak(&mut auth);
    if auth != original {
        auth.updated_at = now;
        if !tx.update_authorization(&auth).await? {
            return Ok(None);
        }
        auth.version += 1;
    }
    if step.moved() {
        let kind = match (event, auth.state) {
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
            tx.push_event(&Event::new(kind, &auth.id, detail, now))
                .await?;
        }
    }
    Ok(Some((auth, step)))
}

fn validate(command: &StartAuthorization) -> Result<(), Error> {
    if command.customer_id.is_empty() || command.customer_id.chars().count() > 64 {
        return Err(invalid("customer_id", "must have 1 to 64 characters"));
    }
    if command.return_url.is_empty() {
        return Err(invalid("return_url", "is empty"));
    }
    if let Some(merchant) = &command.secondary_merchant
        && (merchant.is_empty()
            || merchant.chars().count() > 64
            || merchant.chars().any(char::is_control))
    {
        return Err(invalid(
            "secondary_merchant",
            "must have 1 to 64 printable characters",
        ));
    }
    let needs_os = matches!(
        command.terminal,
        TerminalType::App | TerminalType::Wap | TerminalType::MiniApp
    );
    if needs_os && command.os.is_none() {
        return Err(invalid(
            "os_type",
            format!("is required for terminal {}", command.terminal.as_str()),
        ));
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

    /// Starts an authorization: a new `authState`, `consult`, and the URL or QR value for the
    /// user.
    ///
    /// # Errors
    /// [`Error::Invalid`]; [`Error::Refused`] or [`Error::Unavailable`] when `consult` gave neither
    /// (the authorization is stored as failed: [`Authorizations::restart`] it); the random source;
    /// store failures.
    pub async fn start(&self, command: StartAuthorization) -> Result<Started, Error> {
        validate(&command)?;
        let ctx = &self.ctx;
        let now = ctx.now();
        let auth = Authorization {
            id: AuthorizationId::new(ctx.ids.local_id("auth")?),
            customer_id: command.customer_id,
            wallet: command.wallet,
            terminal_type: command.terminal,
            os_type: command.os,
            return_url: command.return_url,
            secondary_merchant: command.secondary_merchant,
            auth_state: ctx.ids.auth_state()?,
            auth_url: None,
            qr_code: None,
            state: AuthorizationState::Consulting,
            token: None,
            pending_auth_code: None,
            tries: 0,
            stray_token: None,
            consent_expires_at: None,
            user_login_id: None,
            failure: None,
            version: 0,
            created_at: now,
            updated_at: now,
        };
        unit_of_work!(ctx, &auth.id, |tx, _now| {
            tx.insert_authorization(&auth).await?;
            // Recovers the authorization if this process stops before consult answers.
            tx.schedule_job(
                JobKind::Authorization(auth.id.clone()),
                now + ctx.schedule.reply_timeout_ms,
            )
            .await?;
            Ok(Unit::Commit(()))
        })?;
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
                return Err(invalid(
                    "authorization",
                    format!("{id} is {}: nothing to restart", old.state.name()),
                ));
            }
        }
        self.start(StartAuthorization {
            customer_id: old.customer_id,
            wallet: old.wallet,
            terminal: old.terminal_type,
            os: old.os_type,
            return_url: old.return_url,
            secondary_merchant: old.secondary_merchant,
        })
        .await
    }

    async fn consult(&self, auth: Authorization) -> Result<Started, Error> {
        let ctx = &self.ctx;
        let settings = &ctx.settings;
        let redirect = settings
            .auth_redirect_url
            .clone()
            .unwrap_or_else(|| auth.return_url.clone());
        let mut request = ConsultRequest::new(
            auth.wallet.clone(),
            redirect,
            settings.scopes.clone(),
            auth.auth_state.clone(),
            auth.terminal_type.clone(),
        );
        if let Some(os) = &auth.os_type {
            request = request.with_os_type(os.clone());
        }
        if let Some(url) = &settings.auth_notify_url {
            request = request.with_auth_notify_url(url.clone());
        }
        if let Some(merchant) = &auth.secondary_merchant {
            request = request.with_auth_client_id(merchant.clone());
        }
        let (event, url, qr, failure) = match ctx.gateway.consult(&request).await {
            Reply::Success(r) => {
                let qr = r
                    .auth_code_form
                    .as_ref()
                    .and_then(|form| form.code_details.first())
                    .map(|detail| detail.code_value.clone());
                let url = r
                    .normal_url
                    .or(r.applink_url)
                    .or(r.scheme_url)
                    .or(r.auth_url);
                if url.is_some() || qr.is_some() {
                    (AuthorizationEvent::ConsultSucceeded, url, qr, None)
                } else {
                    (
                        AuthorizationEvent::ConsultFailed,
                        None,
                        None,
                        Some(Error::Refused {
                            api: Api::Consult,
                            code: "NO_AUTH_URL".into(),
                        }),
                    )
                }
            }
            Reply::Failed(r) => (
                AuthorizationEvent::ConsultFailed,
                None,
                None,
                Some(Error::Refused {
                    api: Api::Consult,
                    code: r.result.code().as_str().to_owned(),
                }),
            ),
            // consult moves no money: an unclear answer is a failure to try again with a new
            // authState.
            Reply::Unknown { detail, .. } | Reply::NotSent { detail } => (
                AuthorizationEvent::ConsultFailed,
                None,
                None,
                Some(Error::Unavailable {
                    api: Api::Consult,
                    detail,
                }),
            ),
        };
        // What the merchant is shown is a code: Alipay's, or ours for no answer (the diagnosis
        // goes back to the caller in the error, and to the server's log).
        let why = failure.as_ref().map(|e| match e {
            Error::Refused { code, .. } => code.clone(),
            _ => "CONSULT_UNANSWERED".to_owned(),
        });
        unit_of_work!(ctx, &auth.id, |tx, now| {
            let current = tx
                .authorization(&auth.id)
                .await?
                .ok_or_else(|| not_found("authorization", &auth.id))?;
            let consent_expires_at = now + ctx.schedule.consent_timeout_ms;
            let applied = apply_authorization(tx, current, event, why.clone(), now, |a| {
                a.auth_url.clone_from(&url);
                a.qr_code.clone_from(&qr);
                a.failure.clone_from(&why);
                if a.state == AuthorizationState::AwaitingUser {
                    a.consent_expires_at = Some(consent_expires_at);
                }
            })
            .await?;
            if applied.is_none() {
                return Ok(Unit::Retry);
            }
            Ok(Unit::Commit(()))
        })?;
        match failure {
            Some(e) => Err(e),
            None => Ok(Started {
                authorization_id: auth.id,
                auth_state: auth.auth_state,
                auth_url: url,
                qr_code: qr,
            }),
        }
    }

    /// The user agreed: the auth code from the redirect (or from `AUTHCODE_CREATED`). The first
    /// code is exchanged for a token; a later one does nothing. Returns the state after the
    /// exchange: `Active`, or `Exchanging` while an unknown answer is retried by the job, or
    /// `Failed` (restart it).
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown `authState`, [`Error::Transition`] when the authorization
    /// cannot take a code (failed or declined), store failures.
    pub async fn complete_with_code(
        &self,
        auth_state: &AuthState,
        auth_code: &AuthCode,
    ) -> Result<AuthorizationState, Error> {
        match receive_code(&self.ctx, auth_state, auth_code, None).await? {
            CodeReceipt::Exchanging(id) => {
                run_now(&self.ctx, &id).await?;
                Ok(self.authorization(&id).await?.state)
            }
            CodeReceipt::AlreadyHandled(id, AuthorizationState::Exchanging) => {
                // The other code (the notification's) is being exchanged: help it along if no
                // one holds its job right now.
                run_now(&self.ctx, &id).await?;
                Ok(self.authorization(&id).await?.state)
            }
            CodeReceipt::AlreadyHandled(_, state) => Ok(state),
            CodeReceipt::Duplicate => Err(invalid("auth_code", "this code was already received")),
        }
    }

    /// The user declined in the wallet (the redirect carried no code).
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Transition`], store failures.
    pub async fn decline(&self, auth_state: &AuthState) -> Result<AuthorizationState, Error> {
        unit_of_work!(&self.ctx, "a declined authorization", |tx, now| {
            let auth = tx
                .authorization_by_auth_state(auth_state)
                .await?
                .ok_or_else(|| not_found("authorization with the authState", "given"))?;
            match apply_authorization(
                tx,
                auth,
                AuthorizationEvent::UserDeclined,
                Some("declined by the user".into()),
                now,
                |_| {},
            )
            .await?
            {
                Some((auth, _)) => Ok(Unit::Commit(auth.state)),
                None => Ok(Unit::Retry),
            }
        })
    }

    /// Revokes the token (`revoke`); the authorization ends as revoked by the merchant. An unknown
    /// answer is retried by the authorization's job.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Transition`] (nothing to revoke yet), store failures.
    pub async fn revoke(&self, id: &AuthorizationId) -> Result<AuthorizationState, Error> {
        let ctx = &self.ctx;
        unit_of_work!(ctx, id, |tx, now| {
            let auth = tx
                .authorization(id)
                .await?
                .ok_or_else(|| not_found("authorization", id))?;
            let Some((_, step)) = apply_authorization(
                tx,
                auth,
                AuthorizationEvent::RevokeRequested,
                None,
                now,
                |_| {},
            )
            .await?
            else {
                return Ok(Unit::Retry);
            };
            if step.moved() {
                tx.schedule_job(JobKind::Authorization(id.clone()), now)
                    .await?;
            }
            Ok(Unit::Commit(()))
        })?;
        run_now(ctx, id).await?;
        Ok(self.authorization(id).await?.state)
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

    /// The authorization an `authState` belongs to (how the return page finds its way back).
    ///
    /// # Errors
    /// [`Error::NotFound`] (the `authState` is never echoed), store failures.
    pub async fn authorization_by_auth_state(
        &self,
        auth_state: &AuthState,
    ) -> Result<Authorization, Error> {
        let mut tx = self.ctx.store.begin().await?;
        tx.authorization_by_auth_state(auth_state)
            .await?
            .ok_or_else(|| not_found("authorization with the authState", "given"))
    }

    /// A page of the authorizations matching `filter`, newest first.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a limit out of 1 to [`MAX_PAGE`](super::MAX_PAGE) (`limit`) or a
    /// cursor that names no authorization (`starting_after`); store failures.
    pub async fn list(
        &self,
        filter: &AuthorizationFilter,
        page: &PageRequest,
    ) -> Result<Page<Authorization>, Error> {
        let read = page_request(page)?;
        let mut tx = self.ctx.store.begin().await?;
        if let Some(after) = &page.after
            && tx
                .authorization(&AuthorizationId::new(after.clone()))
                .await?
                .is_none()
        {
            return Err(invalid("starting_after", "names no authorization"));
        }
        Ok(page_of(tx.list_authorizations(filter, &read).await?, page))
    }
}

/// Stores a received code (and the notification that carried it, if one did) and moves the
/// authorization to `Exchanging`, with its job, in one unit of work.
pub(crate) async fn receive_code(
    ctx: &Context,
    auth_state: &AuthState,
    code: &AuthCode,
    inbox: Option<&InboxEntry>,
) -> Result<CodeReceipt, Error> {
    unit_of_work!(ctx, "an auth code", |tx, now| {
        let Some(auth) = tx.authorization_by_auth_state(auth_state).await? else {
            let error = not_found("authorization with the authState", "given");
            if let Some(entry) = inbox {
                // Stored under its own key, and shown to a person; the authState is not repeated.
                let mut entry = entry.clone();
                entry.dedup_key = format!(
                    "notifyAuthorization:AUTHCODE_CREATED:unknown:{}",
                    ctx.ids.local_id("n")?
                );
                tx.inbox_insert(&entry).await?;
                raise(
                    ctx,
                    tx,
                    Flag::new(
                        Subject::Notification("AUTHCODE_CREATED".into()),
                        "unknown_auth_state",
                        "AUTHCODE_CREATED for an authState no authorization has",
                        "the notification was stored and acknowledged; nothing was exchanged",
                        &[OperatorAction::Resolve],
                    ),
                    now,
                )
                .await?;
                return Ok(Unit::Commit(Err(error)));
            }
            return Err(error);
        };
        if let Some(entry) = inbox {
            let mut entry = entry.clone();
            entry.dedup_key = format!("notifyAuthorization:AUTHCODE_CREATED:{}", auth.id);
            if !tx.inbox_insert(&entry).await? {
                return Ok(Unit::Done(Ok(CodeReceipt::Duplicate)));
            }
        }
        let id = auth.id.clone();
        let applied = match apply_authorization(
            tx,
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
                    raise(
                        ctx,
                        tx,
                        Flag::new(
                            Subject::Authorization(id.clone()),
                            "contradiction",
                            e.to_string(),
                            "the notification was stored and acknowledged; nothing was exchanged",
                            &[OperatorAction::Resolve],
                        ),
                        now,
                    )
                    .await?;
                    return Ok(Unit::Commit(Err(e)));
                }
                return Err(e);
            }
        };
        let Some((auth, step)) = applied else {
            return Ok(Unit::Retry);
        };
        let receipt = if step.moved() {
            tx.schedule_job(
                JobKind::Authorization(id.clone()),
                now + ctx.schedule.reply_timeout_ms,
            )
            .await?;
            CodeReceipt::Exchanging(id)
        } else {
            CodeReceipt::AlreadyHandled(id, auth.state)
        };
        Ok(Unit::Commit(Ok(receipt)))
    })?
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
        |a| a.pending_auth_code = None,
    )
    .await?;
    Ok(applied.map(|(auth, _)| auth))
}

/// `TOKEN_CREATED`: Alipay issued `token` for `auth`. If we do not hold it (the answer of the
/// exchange that made it was lost), it is kept as a stray token and revoked by the job, unless an
/// exchange under way receives it. False: the compare-and-set lost.
pub(crate) async fn token_created(
    tx: &mut dyn Tx,
    mut auth: Authorization,
    token: &AccessToken,
    now: Millis,
) -> Result<bool, Error> {
    if auth
        .token
        .as_ref()
        .is_some_and(|t| t.access_token == *token)
        || auth.stray_token.as_ref() == Some(token)
    {
        return Ok(true);
    }
    auth.stray_token = Some(token.clone());
    auth.updated_at = now;
    if !tx.update_authorization(&auth).await? {
        return Ok(false);
    }
    let due = if auth.state == AuthorizationState::Exchanging {
        now + 60_000
    } else {
        now
    };
    tx.schedule_job(JobKind::Authorization(auth.id.clone()), due)
        .await?;
    Ok(true)
}

/// Runs the job of authorization `id` now, under a lease of its own (false: a worker has it).
pub(crate) async fn run_now(ctx: &Context, id: &AuthorizationId) -> Result<bool, Error> {
    let Some(lease) = Lease::claim(ctx, &JobKind::Authorization(id.clone())).await? else {
        return Ok(false);
    };
    step(ctx, &lease, id).await?;
    Ok(true)
}

async fn read(ctx: &Context, id: &AuthorizationId) -> Result<Authorization, Error> {
    let mut tx = ctx.store.begin().await?;
    tx.authorization(id)
        .await?
        .ok_or_else(|| not_found("authorization", id))
}

async fn reread(tx: &mut dyn Tx, id: &AuthorizationId) -> Result<Authorization, Error> {
    tx.authorization(id)
        .await?
        .ok_or_else(|| not_found("authorization", id))
}

/// When the job must look at `auth` next, from its state alone.
fn next_due(ctx: &Context, auth: &Authorization, now: Millis) -> Option<Millis> {
    if auth.stray_token.is_some() && auth.state != AuthorizationState::Exchanging {
        return Some(now);
    }
    match auth.state {
        AuthorizationState::Consulting => Some(auth.created_at + ctx.schedule.reply_timeout_ms),
        AuthorizationState::AwaitingUser => Some(
            auth.consent_expires_at
                .unwrap_or(auth.created_at + ctx.schedule.consent_timeout_ms),
        ),
        AuthorizationState::Exchanging | AuthorizationState::Revoking => Some(now),
        AuthorizationState::Active | AuthorizationState::Refreshing => auth
            .token
            .as_ref()
            .and_then(|token| token_due(ctx, token, now)),
        AuthorizationState::NeedsReauthorization
        | AuthorizationState::Revoked(_)
        | AuthorizationState::Invalid
        | AuthorizationState::Failed
        | AuthorizationState::Declined
        | AuthorizationState::Expired => None,
    }
}

/// Runs the authorization job of `id` once, by the authorization's state.
pub(crate) async fn step(ctx: &Context, lease: &Lease, id: &AuthorizationId) -> Result<(), Error> {
    let auth = read(ctx, id).await?;
    let now = ctx.now();
    if auth.stray_token.is_some() && auth.state != AuthorizationState::Exchanging {
        return revoke_stray(ctx, lease, &auth).await;
    }
    match auth.state {
        AuthorizationState::Consulting
            if now >= auth.created_at + ctx.schedule.reply_timeout_ms =>
        {
            end(
                ctx,
                lease,
                id,
                AuthorizationEvent::ConsultFailed,
                "CONSULT_INTERRUPTED",
            )
            .await
        }
        AuthorizationState::AwaitingUser if auth.consent_expires_at.is_some_and(|at| now >= at) => {
            end(
                ctx,
                lease,
                id,
                AuthorizationEvent::ConsentExpired,
                "CONSENT_EXPIRED",
            )
            .await
        }
        AuthorizationState::Exchanging => exchange(ctx, lease, &auth).await,
        AuthorizationState::Revoking => revoke(ctx, lease, &auth).await,
        // The job is scheduled for when the token must be refreshed (or, with no refresh token,
        // when it expires): running now means it is time. (Recomputing the due time here would
        // move it: its margin shrinks with the token's remaining life.)
        AuthorizationState::Active | AuthorizationState::Refreshing => match &auth.token {
            Some(token)
                if token.refresh_token.is_none()
                    && (token.access_expires_at == Millis::MAX
                        || now < token.access_expires_at) =>
            {
                lease.finish_alone(ctx, token_due(ctx, token, now)).await
            }
            // Taken before its time: a request helping an exchange along (`run_now`) found it
            // already done. Nothing is due; a refresh now would rotate the token under a charge
            // being made with it (Alipay then refuses that charge: INVALID_ACCESS_TOKEN).
            Some(_) if auth.state == AuthorizationState::Active && now < lease.job.due_at => {
                lease.finish_alone(ctx, Some(lease.job.due_at)).await
            }
            Some(_) => refresh(ctx, lease, &auth).await,
            None => lease.finish_alone(ctx, None).await,
        },
        _ => lease.finish_alone(ctx, next_due(ctx, &auth, now)).await,
    }
}

/// Moves the authorization by `event` (an ending with `code`) and lets the job go.
async fn end(
    ctx: &Context,
    lease: &Lease,
    id: &AuthorizationId,
    event: AuthorizationEvent,
    code: &'static str,
) -> Result<(), Error> {
    unit_of_work!(ctx, id, |tx, now| {
        let auth = reread(tx, id).await?;
        let Some((auth, _)) = apply_authorization(tx, auth, event, Some(code.into()), now, |a| {
            a.failure = Some(code.into());
        })
        .await?
        else {
            return Ok(Unit::Retry);
        };
        lease.settle(tx, next_due(ctx, &auth, now)).await?;
        Ok(Unit::Commit(()))
    })
}

/// Counts one more try of the step under way, before its call leaves. False: the authorization
/// moved meanwhile (make no call).
async fn count_try(
    ctx: &Context,
    id: &AuthorizationId,
    state: AuthorizationState,
) -> Result<Option<u32>, Error> {
    unit_of_work!(ctx, id, |tx, now| {
        let mut auth = reread(tx, id).await?;
        if auth.state != state {
            return Ok(Unit::Done(None));
        }
        auth.tries += 1;
        auth.updated_at = now;
        if !tx.update_authorization(&auth).await? {
            return Ok(Unit::Retry);
        }
        Ok(Unit::Commit(Some(auth.tries)))
    })
}

/// `Exchanging`: `applyToken` with the stored code, under a lease renewed right before it leaves.
async fn exchange(ctx: &Context, lease: &Lease, read: &Authorization) -> Result<(), Error> {
    let id = &read.id;
    let Some(code) = read.pending_auth_code.clone() else {
        return end(
            ctx,
            lease,
            id,
            AuthorizationEvent::ExchangeFailed,
            "NO_AUTH_CODE",
        )
        .await;
    };
    if !lease.renew_for_call(ctx).await? {
        return Ok(());
    }
    let Some(tries) = count_try(ctx, id, AuthorizationState::Exchanging).await? else {
        return lease.finish_alone(ctx, Some(ctx.now())).await;
    };
    let request = ApplyTokenRequest::authorization_code(read.wallet.clone(), code);
    let mut outcome = token_outcome(ctx.gateway.apply_token(&request).await);
    if matches!(outcome, TokenOutcome::Retry) && tries >= ctx.schedule.auth_max_tries {
        // A code, not the diagnosis (the server's log has it, from the gateway).
        outcome = TokenOutcome::Refused("EXCHANGE_UNKNOWN".to_owned());
    }
    unit_of_work!(ctx, id, |tx, now| {
        let auth = reread(tx, id).await?;
        if auth.state != AuthorizationState::Exchanging {
            lease.settle(tx, next_due(ctx, &auth, now)).await?;
            return Ok(Unit::Commit(()));
        }
        let applied = match &outcome {
            TokenOutcome::Issued(token, login) => {
                apply_authorization(tx, auth, AuthorizationEvent::TokenIssued, None, now, |a| {
                    if a.stray_token.as_ref() == Some(&token.access_token) {
                        a.stray_token = None;
                    }
                    a.token = Some(token.clone());
                    a.pending_auth_code = None;
                    a.user_login_id.clone_from(login);
                    a.failure = None;
                })
                .await?
            }
            TokenOutcome::Refused(code) => {
                if tries > 1 {
                    // An earlier try may have reached Alipay and used the code: a token may exist
                    // that we never received.
                    raise(
                        ctx,
                        tx,
                        Flag::new(
                            Subject::Authorization(id.clone()),
                            "exchange_answer_lost",
                            format!(
                                "the auth code was refused ({code}) after an earlier applyToken got no answer: Alipay may have issued a token this server never received"
                            ),
                            format!(
                                "{tries} applyToken calls with the same code; a token Alipay reports (TOKEN_CREATED) is revoked by itself"
                            ),
                            &[OperatorAction::Resolve],
                        ),
                        now,
                    )
                    .await?;
                }
                apply_authorization(
                    tx,
                    auth,
                    AuthorizationEvent::ExchangeFailed,
                    Some(code.clone()),
                    now,
                    |a| {
                        a.pending_auth_code = None;
                        a.failure = Some(code.clone());
                    },
                )
                .await?
            }
            TokenOutcome::Retry => {
                lease
                    .settle(tx, Some(now + ctx.schedule.auth_retry_ms))
                    .await?;
                return Ok(Unit::Commit(()));
            }
        };
        let Some((auth, _)) = applied else {
            return Ok(Unit::Retry);
        };
        lease.settle(tx, next_due(ctx, &auth, now)).await?;
        Ok(Unit::Commit(()))
    })
}

/// `Active`, due: `applyToken` with the refresh token; S → new tokens (still `Active`) and the
/// next refresh; F, an expired refresh token, or no refresh token at the access token's expiry →
/// `NeedsReauthorization`, and the merchant is told.
async fn refresh(ctx: &Context, lease: &Lease, read: &Authorization) -> Result<(), Error> {
    let id = &read.id;
    let Some(token) = read.token.clone() else {
        return lease.finish_alone(ctx, None).await;
    };
    let now = ctx.now();
    let sent: Option<RefreshToken> = token.refresh_token.clone();
    let outcome = match &sent {
        None => TokenOutcome::Refused("ACCESS_TOKEN_EXPIRED".into()),
        Some(_) if token.refresh_expires_at.is_some_and(|at| at <= now) => {
            TokenOutcome::Refused("REFRESH_TOKEN_EXPIRED".into())
        }
        Some(refresh_token) => {
            if !lease.renew_for_call(ctx).await? {
                return Ok(());
            }
            let request =
                ApplyTokenRequest::refresh_token(read.wallet.clone(), refresh_token.clone());
            token_outcome(ctx.gateway.apply_token(&request).await)
        }
    };
    unit_of_work!(ctx, id, |tx, now| {
        let auth = reread(tx, id).await?;
        let current = auth.token.as_ref().and_then(|t| t.refresh_token.clone());
        if auth.state != AuthorizationState::Active || current != sent {
            // The authorization moved, or its token was rotated since: this answer is stale.
            lease.settle(tx, next_due(ctx, &auth, now)).await?;
            return Ok(Unit::Commit(()));
        }
        let applied = match &outcome {
            TokenOutcome::Issued(new, _) => {
                let mut rotated = new.clone();
                if rotated.refresh_token.is_none() {
                    rotated.refresh_token.clone_from(&token.refresh_token);
                    rotated.refresh_expires_at = token.refresh_expires_at;
                }
                if rotated.access_token != token.access_token {
                    tx.retire_access_token(id, &token.access_token).await?;
                }
                let Some((refreshing, _)) = apply_authorization(
                    tx,
                    auth,
                    AuthorizationEvent::RefreshStarted,
                    None,
                    now,
                    |_| {},
                )
                .await?
                else {
                    return Ok(Unit::Retry);
                };
                apply_authorization(
                    tx,
                    refreshing,
                    AuthorizationEvent::RefreshSucceeded,
                    None,
                    now,
                    |a| {
                        a.token = Some(rotated.clone());
                        a.failure = None;
                    },
                )
                .await?
            }
            TokenOutcome::Refused(code) => {
                apply_authorization(
                    tx,
                    auth,
                    AuthorizationEvent::RefreshFailed,
                    Some(code.clone()),
                    now,
                    |a| a.failure = Some(code.clone()),
                )
                .await?
            }
            TokenOutcome::Retry => {
                let next = now + ctx.schedule.auth_retry_ms;
                let expires = token
                    .access_expires_at
                    .min(token.refresh_expires_at.unwrap_or(Millis::MAX));
                if next < expires {
                    lease.settle(tx, Some(next)).await?;
                    return Ok(Unit::Commit(()));
                }
                // A code, not the diagnosis (the server's log has it, from the gateway).
                let why = "REFRESH_UNKNOWN".to_owned();
                apply_authorization(
                    tx,
                    auth,
                    AuthorizationEvent::RefreshFailed,
                    Some(why.clone()),
                    now,
                    |a| a.failure = Some(why.clone()),
                )
                .await?
            }
        };
        let Some((auth, _)) = applied else {
            return Ok(Unit::Retry);
        };
        lease.settle(tx, next_due(ctx, &auth, now)).await?;
        Ok(Unit::Commit(()))
    })
}

/// What a `revoke` reply means.
enum Revoked {
    Yes,
    Refused(String),
    Retry(String),
}

async fn call_revoke(ctx: &Context, token: &AccessToken) -> Revoked {
    match ctx.gateway.revoke(&RevokeRequest::new(token.clone())).await {
        Reply::Success(_) => Revoked::Yes,
        Reply::Failed(r) => match decide(Api::Revoke, r.result.status(), r.result.code()).0 {
            // INVALID_ACCESS_TOKEN: already gone.
            Decision::Succeeded => Revoked::Yes,
            Decision::RetrySame | Decision::Inquire => {
                Revoked::Retry(r.result.code().as_str().to_owned())
            }
            Decision::AskOperator
            | Decision::FailedForGood
            | Decision::Reauthorize
            | Decision::Cancel => Revoked::Refused(r.result.code().as_str().to_owned()),
        },
        Reply::Unknown { detail, .. } | Reply::NotSent { detail } => Revoked::Retry(detail),
    }
}

/// A wait that doubles with each try, from the auth retry time up to an hour.
fn retry_wait(ctx: &Context, tries: u32) -> Millis {
    let factor: Millis = 1 << tries.min(10);
    (ctx.schedule.auth_retry_ms.saturating_mul(factor)).min(3_600_000)
}

/// `Revoking`: `revoke`; S (or the token already gone) → revoked; no answer → again, with growing
/// waits (a person is told after the tries run out); refused → a person is told.
async fn revoke(ctx: &Context, lease: &Lease, read: &Authorization) -> Result<(), Error> {
    let id = &read.id;
    let outcome = match &read.token {
        None => Revoked::Yes,
        Some(token) => {
            if !lease.renew_for_call(ctx).await? {
                return Ok(());
            }
            if count_try(ctx, id, AuthorizationState::Revoking)
                .await?
                .is_none()
            {
                return lease.finish_alone(ctx, Some(ctx.now())).await;
            }
            call_revoke(ctx, &token.access_token).await
        }
    };
    unit_of_work!(ctx, id, |tx, now| {
        let auth = reread(tx, id).await?;
        if auth.state != AuthorizationState::Revoking {
            lease.settle(tx, next_due(ctx, &auth, now)).await?;
            return Ok(Unit::Commit(()));
        }
        let subject = Subject::Authorization(id.clone());
        match &outcome {
            Revoked::Yes => {
                let Some((auth, _)) = apply_authorization(
                    tx,
                    auth,
                    AuthorizationEvent::RevokeSucceeded,
                    Some("revoked by the merchant".into()),
                    now,
                    |_| {},
                )
                .await?
                else {
                    return Ok(Unit::Retry);
                };
                lease.settle(tx, next_due(ctx, &auth, now)).await?;
            }
            Revoked::Refused(code) => {
                raise(
                    ctx,
                    tx,
                    Flag::new(
                        subject,
                        "revoke_refused",
                        format!("revoke was refused ({code}): the token may still work at Alipay"),
                        format!("{} revoke calls", auth.tries),
                        &[OperatorAction::Resolve],
                    ),
                    now,
                )
                .await?;
                lease.settle(tx, None).await?;
            }
            Revoked::Retry(detail) => {
                if auth.tries >= ctx.schedule.auth_max_tries {
                    raise(
                        ctx,
                        tx,
                        Flag::new(
                            subject,
                            "revoke_unanswered",
                            format!("revoke has had no answer ({detail}): the token may still work at Alipay"),
                            format!("{} revoke calls; tried again with growing waits", auth.tries),
                            &[OperatorAction::Resolve],
                        ),
                        now,
                    )
                    .await?;
                }
                lease
                    .settle(tx, Some(now + retry_wait(ctx, auth.tries)))
                    .await?;
            }
        }
        Ok(Unit::Commit(()))
    })
}

/// Revokes a token Alipay issued for this authorization that it does not hold.
async fn revoke_stray(ctx: &Context, lease: &Lease, read: &Authorization) -> Result<(), Error> {
    let id = &read.id;
    let Some(stray) = read.stray_token.clone() else {
        return lease
            .finish_alone(ctx, next_due(ctx, read, ctx.now()))
            .await;
    };
    if !lease.renew_for_call(ctx).await? {
        return Ok(());
    }
    let outcome = call_revoke(ctx, &stray).await;
    unit_of_work!(ctx, id, |tx, now| {
        let mut auth = reread(tx, id).await?;
        if auth.stray_token.as_ref() != Some(&stray) {
            lease.settle(tx, next_due(ctx, &auth, now)).await?;
            return Ok(Unit::Commit(()));
        }
        match &outcome {
            Revoked::Yes => auth.stray_token = None,
            Revoked::Refused(code) => {
                raise(
                    ctx,
                    tx,
                    Flag::new(
                        Subject::Authorization(id.clone()),
                        "stray_token_not_revoked",
                        format!(
                            "a token Alipay issued for this authorization, which this server does not hold, could not be revoked ({code})"
                        ),
                        "revoke was called once with it; the user can unbind the merchant in the wallet",
                        &[OperatorAction::Resolve],
                    ),
                    now,
                )
                .await?;
                auth.stray_token = None;
            }
            Revoked::Retry(_) => {
                let wait =
                    super::backoff(auth.updated_at, now, ctx.schedule.auth_retry_ms, 3_600_000);
                lease.settle(tx, Some(now + wait)).await?;
                return Ok(Unit::Commit(()));
            }
        }
        auth.updated_at = now;
        if !tx.update_authorization(&auth).await? {
            return Ok(Unit::Retry);
        }
        lease.settle(tx, next_due(ctx, &auth, now)).await?;
        Ok(Unit::Commit(()))
    })
}
