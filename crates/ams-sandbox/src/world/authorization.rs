//! Authorization: consult, the consent page's decisions, applyToken (both grants), revoke and the user unbinding in the wallet.

use ams_protocol::{
    AccessToken, AmsResult, ApplyTokenRequest, ApplyTokenResponse, AuthCode, AuthCodeForm,
    AuthorizationNotifyType, CodeDetail, CodeValueType, ConsultRequest, ConsultResponse,
    CustomerBelongsTo, DisplayType, GrantType, NotifyAuthorization, RefreshToken, ResultCode,
    RevokeRequest, RevokeResponse, TerminalType,
};

use super::{
    AuthCodeRecord, Consent, ConsentError, ConsentPage, ConsentState, Token, TokenState, World,
    mask_login, result,
};
use crate::model::{AccountStatus, NotificationKind};
use crate::util::{ams_time, append_query, date_digits, random_hex};

impl World {
    pub(crate) fn consult(
        &mut self,
        client_id: &str,
        req: &ConsultRequest,
        consent_url_base: &str,
        now: i64,
    ) -> ConsultResponse {
        if let Some(refusal) =
            self.unregistered_secondary_merchant(client_id, req.auth_client_id.as_deref())
        {
            return ConsultResponse::new(refusal);
        }
        let contract = self
            .merchant_settings(client_id)
            .map(|m| m.wallets)
            .unwrap_or_default();
        if !contract.is_empty() && !contract.contains(&req.customer_belongs_to) {
            return ConsultResponse::new(result(
                ResultCode::NoPayOptions,
                "This wallet is not available to the merchant.",
            ));
        }
        let id = random_hex::<16>();
        // Only the request's own URL is kept: the dashboard's is read when a notification is sent.
        let notify_url = req.auth_notify_url.clone();
        self.consents.insert(
            id.clone(),
            Consent {
                client_id: client_id.to_owned(),
                wallet: req.customer_belongs_to.clone(),
                redirect_url: req.auth_redirect_url.clone(),
                auth_state: req.auth_state.as_str().to_owned(),
                scopes: req.scopes.clone(),
                notify_url,
                expires_ms: now.saturating_add(self.lifetimes.consent_ms),
                state: ConsentState::Pending,
            },
        );
        let normal_url = format!("{consent_url_base}/{id}");
        let mut response = ConsultResponse::new(AmsResult::success());
        response.normal_url = Some(normal_url.clone());
        match req.terminal_type {
            TerminalType::App | TerminalType::Wap | TerminalType::MiniApp => {
                response.scheme_url = Some(format!("alipay-sandbox://authorize?consent={id}"));
                response.applink_url = Some(format!("{normal_url}?applink=1"));
                response.app_identifier = Some("com.example.sandbox.wallet".to_owned());
            }
            _ => {
                // Scan to Bind: the merchant shows this value as a QR code for the wallet app.
                let detail = CodeDetail::new(
                    normal_url.clone(),
                    CodeValueType::Qrcode,
                    DisplayType::BigImage,
                );
                response.auth_code_form = Some(AuthCodeForm::new(vec![detail]));
            }
        }
        response
    }

    fn open_consent(&self, id: &str, now: i64) -> Result<&Consent, ConsentError> {
        let consent = self.consents.get(id).ok_or(ConsentError::NotFound)?;
        if consent.state != ConsentState::Pending {
            return Err(ConsentError::Used);
        }
        if now > consent.expires_ms {
            return Err(ConsentError::Expired);
        }
        Ok(consent)
    }

    pub(crate) fn consent_page(&self, id: &str, now: i64) -> Result<ConsentPage, ConsentError> {
        let consent = self.open_consent(id, now)?;
        let merchant = self.merchant_name(&consent.client_id);
        let users = self
            .users
            .values()
            .filter(|u| u.spec.wallet == consent.wallet)
            .map(|u| u.spec.login_id.clone())
            .collect();
        Ok(ConsentPage {
            merchant,
            wallet: consent.wallet.clone(),
            scopes: consent.scopes.clone(),
            users,
        })
    }

    /// The user agrees or declines; returns where the browser goes next.
    pub(crate) fn decide_consent(
        &mut self,
        id: &str,
        user: &str,
        agree: bool,
        now: i64,
    ) -> Result<String, ConsentError> {
        let consent = self.open_consent(id, now)?;
        let wallet = consent.wallet.clone();
        if agree {
            let known = self
                .users
                .get(user)
                .ok_or_else(|| ConsentError::UnknownUser(user.to_owned()))?;
            if known.spec.wallet != wallet {
                return Err(ConsentError::WrongWallet(user.to_owned()));
            }
        }
        let consent = self.consents.get_mut(id).ok_or(ConsentError::NotFound)?;
        consent.state = ConsentState::Decided;
        let (client_id, redirect, state, notify_url) = (
            consent.client_id.clone(),
            consent.redirect_url.clone(),
            consent.auth_state.clone(),
            consent.notify_url.clone(),
        );
        if !agree {
            return Ok(append_query(
                &redirect,
                &[("authState", &state), ("errorCode", "USER_CANCELLED")],
            ));
        }
        let code = format!("{}{}", date_digits(now), random_hex::<12>().to_uppercase());
        self.auth_codes.insert(
            code.clone(),
            AuthCodeRecord {
                client_id: client_id.clone(),
                wallet,
                user: user.to_owned(),
                expires_ms: now.saturating_add(self.lifetimes.auth_code_ms),
                used: false,
                notify_url: notify_url.clone(),
                auth_state: state.clone(),
            },
        );
        let mut notify = NotifyAuthorization::new(
            AuthorizationNotifyType::AuthcodeCreated,
            AmsResult::success(),
        );
        notify.auth_code = Some(AuthCode::new(code.clone()));
        notify.auth_state = Some(state.clone().into());
        notify.user_login_id = Some(mask_login(user));
        let body = serde_json::to_string(&notify).unwrap_or_default();
        let url = notify_url.or_else(|| {
            self.merchant_settings(&client_id)
                .and_then(|m| m.authorization_notify_url)
        });
        self.enqueue(
            NotificationKind::Authorization,
            &client_id,
            url,
            &state,
            body,
            now,
        );
        Ok(append_query(
            &redirect,
            &[("authCode", &code), ("authState", &state)],
        ))
    }

    fn issue_token(
        &mut self,
        client_id: &str,
        wallet: CustomerBelongsTo,
        user: &str,
        notify_url: Option<String>,
        now: i64,
    ) -> usize {
        // The wallet's behaviour as it stands when the token is issued.
        let issues_refresh = self
            .users
            .get(user)
            .is_none_or(|u| u.spec.issues_refresh_tokens);
        let token = Token {
            access_token: format!("2810{}", random_hex::<18>().to_uppercase()),
            refresh: issues_refresh.then(|| {
                (
                    format!("2820{}", random_hex::<18>().to_uppercase()),
                    now.saturating_add(self.lifetimes.refresh_token_ms),
                )
            }),
            client_id: client_id.to_owned(),
            wallet,
            user: user.to_owned(),
            access_expires_ms: now.saturating_add(self.lifetimes.access_token_ms),
            state: TokenState::Active,
            notify_url,
        };
        let index = self.tokens.len();
        self.token_by_access
            .insert(token.access_token.clone(), index);
        if let Some((refresh, _)) = &token.refresh {
            self.token_by_refresh.insert(refresh.clone(), index);
        }
        self.tokens.push(token);
        index
    }

    fn token_response(&self, index: usize) -> ApplyTokenResponse {
        let token = &self.tokens[index];
        let mut response = ApplyTokenResponse::new(AmsResult::success());
        response.access_token = Some(AccessToken::new(token.access_token.clone()));
        response.access_token_expiry_time = Some(ams_time(token.access_expires_ms));
        if let Some((refresh, expires_ms)) = &token.refresh {
            response.refresh_token = Some(RefreshToken::new(refresh.clone()));
            response.refresh_token_expiry_time = Some(ams_time(*expires_ms));
        }
        response.user_login_id = Some(mask_login(&token.user));
        response
    }

    pub(crate) fn apply_token(
        &mut self,
        client_id: &str,
        req: &ApplyTokenRequest,
        now: i64,
    ) -> ApplyTokenResponse {
        let fail = |code: ResultCode, message: &str| ApplyTokenResponse::new(result(code, message));
        match req.grant_type {
            GrantType::AuthorizationCode => {
                let code = req
                    .auth_code
                    .as_ref()
                    .map(|c| c.expose_secret())
                    .unwrap_or_default();
                let Some(record) = self.auth_codes.get_mut(code) else {
                    return fail(ResultCode::InvalidAuthcode, "The auth code is invalid.");
                };
                if record.client_id != client_id || record.wallet != req.customer_belongs_to {
                    return fail(ResultCode::InvalidAuthcode, "The auth code is invalid.");
                }
                // Alipay's table (digest §9.10) has one code for a bad, used or expired code.
                if record.used {
                    return fail(
                        ResultCode::InvalidAuthcode,
                        "The auth code has already been used.",
                    );
                }
                if now > record.expires_ms {
                    return fail(ResultCode::InvalidAuthcode, "The auth code is expired.");
                }
                let user = record.user.clone();
                if let Some(refused) = self.account_refusal(&user) {
                    // Nothing is issued and the code stays unused.
                    return ApplyTokenResponse::new(refused);
                }
                let Some(record) = self.auth_codes.get_mut(code) else {
                    return fail(ResultCode::InvalidAuthcode, "The auth code is invalid.");
                };
                record.used = true;
                let (wallet, user, url, state) = (
                    record.wallet.clone(),
                    record.user.clone(),
                    record.notify_url.clone(),
                    record.auth_state.clone(),
                );
                let index = self.issue_token(client_id, wallet, &user, url, now);
                self.token_created(index, &state, now);
                self.token_response(index)
            }
            GrantType::RefreshToken => {
                let refresh = req
                    .refresh_token
                    .as_ref()
                    .map(|c| c.expose_secret())
                    .unwrap_or_default();
                // Alipay's table (digest §9.10): INVALID_REFRESH_TOKEN, F.
                let invalid = || {
                    fail(
                        ResultCode::InvalidRefreshToken,
                        "The refresh token is invalid, expired or already used.",
                    )
                };
                let Some(&index) = self.token_by_refresh.get(refresh) else {
                    return invalid();
                };
                let token = &mut self.tokens[index];
                if token.client_id != client_id
                    || token.wallet != req.customer_belongs_to
                    || token.state != TokenState::Active
                    || token
                        .refresh
                        .as_ref()
                        .is_none_or(|(_, expires)| now > *expires)
                {
                    return invalid();
                }
                let user = token.user.clone();
                if let Some(refused) = self.account_refusal(&user) {
                    // Nothing is issued and the old pair keeps working.
                    return ApplyTokenResponse::new(refused);
                }
                let token = &mut self.tokens[index];
                // Rotation: the old pair stops working; a new pair is issued.
                token.state = TokenState::Rotated;
                let (wallet, user, url) = (
                    token.wallet.clone(),
                    token.user.clone(),
                    token.notify_url.clone(),
                );
                let index = self.issue_token(client_id, wallet, &user, url, now);
                self.token_response(index)
            }
            _ => fail(ResultCode::ParamIllegal, "grantType is not supported"),
        }
    }

    /// Why `applyToken` issues no token for this wallet account (digest §3.2: `USER_NOT_EXIST`
    /// and `USER_STATUS_ABNORMAL` since January 2022), unless
    /// [`crate::SandboxSettings::apply_token_checks_user`] is off.
    fn account_refusal(&self, login: &str) -> Option<AmsResult> {
        if !self.settings.apply_token_checks_user {
            return None;
        }
        match self.users.get(login).map(|u| u.spec.status) {
            None | Some(AccountStatus::Closed) => Some(result(
                ResultCode::UserNotExist,
                "The user's account does not exist in the wallet.",
            )),
            Some(AccountStatus::Abnormal) => Some(result(
                ResultCode::UserStatusAbnormal,
                "The user's account is abnormal in the wallet.",
            )),
            Some(AccountStatus::Normal) => None,
        }
    }

    /// Tells the merchant a code exchange made a token (`TOKEN_CREATED`, digest §4.1), when its
    /// settings ask for it: with the consult's `authState`, the access token and the masked login,
    /// at the URL the binding's consult named, else the dashboard's. Notification faults match it
    /// by `authState`.
    fn token_created(&mut self, index: usize, auth_state: &str, now: i64) {
        let token = &self.tokens[index];
        let wanted = self
            .merchants
            .get(&token.client_id)
            .is_some_and(|m| m.notify_token_created);
        if !wanted {
            return;
        }
        let mut notify =
            NotifyAuthorization::new(AuthorizationNotifyType::TokenCreated, AmsResult::success());
        notify.access_token = Some(AccessToken::new(token.access_token.clone()));
        notify.auth_state = Some(auth_state.to_owned().into());
        notify.user_login_id = Some(mask_login(&token.user));
        let body = serde_json::to_string(&notify).unwrap_or_default();
        let client = token.client_id.clone();
        let url = token.notify_url.clone().or_else(|| {
            self.merchant_settings(&client)
                .and_then(|m| m.authorization_notify_url)
        });
        self.enqueue(
            NotificationKind::Authorization,
            &client,
            url,
            auth_state,
            body,
            now,
        );
    }

    /// Tells the merchant a token stopped working (`TOKEN_CANCELED`), at the URL the binding's
    /// consult named, else the dashboard's.
    fn token_canceled(
        &mut self,
        client: &str,
        access: &str,
        binding_url: Option<String>,
        reason: &str,
        now: i64,
    ) {
        let mut notify =
            NotifyAuthorization::new(AuthorizationNotifyType::TokenCanceled, AmsResult::success());
        notify.access_token = Some(AccessToken::new(access.to_owned()));
        notify.reason = Some(reason.to_owned());
        let body = serde_json::to_string(&notify).unwrap_or_default();
        let url = binding_url.or_else(|| {
            self.merchant_settings(client)
                .and_then(|m| m.authorization_notify_url)
        });
        self.enqueue(
            NotificationKind::Authorization,
            client,
            url,
            access,
            body,
            now,
        );
    }

    pub(crate) fn revoke(
        &mut self,
        client_id: &str,
        req: &RevokeRequest,
        now: i64,
    ) -> RevokeResponse {
        let token = self
            .token_by_access
            .get(req.access_token.expose_secret())
            .map(|&i| &mut self.tokens[i])
            .filter(|t| t.client_id == client_id);
        match token {
            Some(token) if matches!(token.state, TokenState::Active | TokenState::Revoked) => {
                // "Cancellation succeeded, from the merchant or the wallet side" (notifyAuthorization):
                // the first revoke is notified; a repeated one is not.
                let first = token.state == TokenState::Active;
                token.state = TokenState::Revoked;
                if first {
                    let (client, access, url) = (
                        token.client_id.clone(),
                        token.access_token.clone(),
                        token.notify_url.clone(),
                    );
                    self.token_canceled(
                        &client,
                        &access,
                        url,
                        "The merchant revoked the token.",
                        now,
                    );
                }
                RevokeResponse::new(AmsResult::success())
            }
            _ => RevokeResponse::new(result(
                ResultCode::InvalidAccessToken,
                "The access token is expired, revoked, or does not exist.",
            )),
        }
    }

    /// The user unbinds the merchant in the wallet: every active token of the user for this
    /// merchant (or all merchants) stops working, and the merchant is told (`TOKEN_CANCELED`)
    /// unless the token's wallet is one of `SandboxSettings::silent_unbind_wallets`.
    pub(crate) fn unbind(
        &mut self,
        user: &str,
        client_id: Option<&str>,
        now: i64,
    ) -> Result<usize, String> {
        if !self.users.contains_key(user) {
            return Err(format!("no user {user:?}"));
        }
        let silent = self.settings().silent_unbind_wallets;
        let mut cancelled = Vec::new();
        let mut told = Vec::new();
        for token in &mut self.tokens {
            if token.user == user
                && token.state == TokenState::Active
                && client_id.is_none_or(|c| c == token.client_id)
            {
                token.state = TokenState::Unbound;
                cancelled.push(token.access_token.clone());
                if !silent.contains(&token.wallet) {
                    told.push((
                        token.client_id.clone(),
                        token.access_token.clone(),
                        token.notify_url.clone(),
                    ));
                }
            }
        }
        for (client, access, binding_url) in told {
            self.token_canceled(
                &client,
                &access,
                binding_url,
                "The user unbound the merchant in the wallet.",
                now,
            );
        }
        Ok(cancelled.len())
    }
}
