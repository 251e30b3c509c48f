//! The authorization (token) lifecycle.
//!
//! ```text
//! Consulting ──consult S──▶ AwaitingUser ──authCode──▶ Exchanging ──token──▶ Active ◀──refreshed── Refreshing
//!     │ consult F               │ declined / expired        │ applyToken F      │  ▲                 │ refresh F
//!     ▼                         ▼                           ▼                   │  └──refresh due─────┘  ▼
//!   Failed               Declined / Expired              Failed                 │          NeedsReauthorization
//!                                                                               │ revoke
//!     Active, Refreshing, NeedsReauthorization, Invalid ──revoke──▶ Revoking ──revoke S──▶ Revoked(Merchant)
//!     any state holding a token ──TOKEN_CANCELED──▶ Revoked(User)
//!     Active, Refreshing ──pay answered INVALID_ACCESS_TOKEN──▶ Invalid
//! ```
//!
//! Only `Active` may be charged.

use super::{InvalidTransition, Step};

/// Who ended an authorization.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RevokedBy {
    /// The merchant called `revoke`.
    Merchant,
    /// The user unbound the merchant in the wallet (`TOKEN_CANCELED`).
    User,
}

/// Where an authorization stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthorizationState {
    /// `consult` has not answered yet.
    Consulting,
    /// The authorization URL was handed out; the user has not decided.
    AwaitingUser,
    /// An auth code arrived (redirect or notification); `applyToken` is under way.
    Exchanging,
    /// A valid token: payments allowed.
    Active,
    /// The access token is being refreshed.
    Refreshing,
    /// The refresh failed or the refresh token expired: the user must authorize again.
    NeedsReauthorization,
    /// `revoke` is under way.
    Revoking,
    /// Ended, by the merchant or the user.
    Revoked(RevokedBy),
    /// Alipay refused the token when charging it.
    Invalid,
    /// `consult` or `applyToken` failed for good before a token existed.
    Failed,
    /// The user declined in the wallet.
    Declined,
    /// The user did not decide in time.
    Expired,
}

impl AuthorizationState {
    /// The state's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Consulting => "consulting",
            Self::AwaitingUser => "awaiting_user",
            Self::Exchanging => "exchanging",
            Self::Active => "active",
            Self::Refreshing => "refreshing",
            Self::NeedsReauthorization => "needs_reauthorization",
            Self::Revoking => "revoking",
            Self::Revoked(RevokedBy::Merchant) => "revoked_by_merchant",
            Self::Revoked(RevokedBy::User) => "revoked_by_user",
            Self::Invalid => "invalid",
            Self::Failed => "failed",
            Self::Declined => "declined",
            Self::Expired => "expired",
        }
    }

    /// Every state, for mappings and tests.
    pub const ALL: [AuthorizationState; 13] = [
        Self::Consulting,
        Self::AwaitingUser,
        Self::Exchanging,
        Self::Active,
        Self::Refreshing,
        Self::NeedsReauthorization,
        Self::Revoking,
        Self::Revoked(RevokedBy::Merchant),
        Self::Revoked(RevokedBy::User),
        Self::Invalid,
        Self::Failed,
        Self::Declined,
        Self::Expired,
    ];

    /// The state with this name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether a payment may be made with this authorization's token. Only `Active`.
    pub fn can_charge(self) -> bool {
        matches!(self, Self::Active)
    }

    /// Whether the authorization can never become active again.
    pub fn is_terminal(self) -> bool {
        match self {
            Self::Revoked(_) | Self::Invalid | Self::Failed | Self::Declined => true,
            Self::Consulting
            | Self::AwaitingUser
            | Self::Exchanging
            | Self::Active
            | Self::Refreshing
            | Self::NeedsReauthorization
            | Self::Revoking
            | Self::Expired => false,
        }
    }
}

/// What can happen to an authorization.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthorizationEvent {
    /// `consult` answered S.
    ConsultSucceeded,
    /// `consult` answered F.
    ConsultFailed,
    /// An auth code arrived, from the redirect or from `AUTHCODE_CREATED` (whichever is first).
    AuthCodeReceived,
    /// The user declined.
    UserDeclined,
    /// The consent link expired.
    ConsentExpired,
    /// `applyToken` (authorization code) answered S.
    TokenIssued,
    /// `applyToken` (authorization code) answered F.
    ExchangeFailed,
    /// A refresh starts.
    RefreshStarted,
    /// `applyToken` (refresh) answered S: new tokens.
    RefreshSucceeded,
    /// `applyToken` (refresh) answered F, or the refresh token expired.
    RefreshFailed,
    /// The merchant asked to revoke.
    RevokeRequested,
    /// `revoke` answered S.
    RevokeSucceeded,
    /// `TOKEN_CANCELED`: the user unbound in the wallet.
    CanceledInWallet,
    /// A payment was answered `INVALID_ACCESS_TOKEN`.
    TokenRejected,
}

impl AuthorizationEvent {
    /// The event's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::ConsultSucceeded => "consult_succeeded",
            Self::ConsultFailed => "consult_failed",
            Self::AuthCodeReceived => "auth_code_received",
            Self::UserDeclined => "user_declined",
            Self::ConsentExpired => "consent_expired",
            Self::TokenIssued => "token_issued",
            Self::ExchangeFailed => "exchange_failed",
            Self::RefreshStarted => "refresh_started",
            Self::RefreshSucceeded => "refresh_succeeded",
            Self::RefreshFailed => "refresh_failed",
            Self::RevokeRequested => "revoke_requested",
            Self::RevokeSucceeded => "revoke_succeeded",
            Self::CanceledInWallet => "canceled_in_wallet",
            Self::TokenRejected => "token_rejected",
        }
    }

    /// Every event, for tests.
    pub const ALL: [AuthorizationEvent; 14] = [
        Self::ConsultSucceeded,
        Self::ConsultFailed,
        Self::AuthCodeReceived,
        Self::UserDeclined,
        Self::ConsentExpired,
        Self::TokenIssued,
        Self::ExchangeFailed,
        Self::RefreshStarted,
        Self::RefreshSucceeded,
        Self::RefreshFailed,
        Self::RevokeRequested,
        Self::RevokeSucceeded,
        Self::CanceledInWallet,
        Self::TokenRejected,
    ];
}

/// The one transition function of the authorization lifecycle.
///
/// # Errors
/// [`InvalidTransition`] when the event contradicts the state.
pub fn transition(
    state: AuthorizationState,
    event: AuthorizationEvent,
) -> Result<Step<AuthorizationState>, InvalidTransition> {
    use AuthorizationEvent as E;
    use AuthorizationState as S;
    let invalid = || {
        Err(InvalidTransition {
            machine: "authorization",
            state: state.name(),
            event: event.name(),
        })
    };
    let moved = |s| Ok(Step::Moved(s));
    let unchanged = || Ok(Step::Unchanged(state));
    match event {
        E::ConsultSucceeded => match state {
            S::Consulting => moved(S::AwaitingUser),
            S::AwaitingUser => unchanged(),
            S::Exchanging
            | S::Active
            | S::Refreshing
            | S::NeedsReauthorization
            | S::Revoking
            | S::Revoked(_)
            | S::Invalid
            | S::Failed
            | S::Declined
            | S::Expired => invalid(),
        },
        E::ConsultFailed => match state {
            S::Consulting => moved(S::Failed),
            S::Failed => unchanged(),
            S::AwaitingUser
            | S::Exchanging
            | S::Active
            | S::Refreshing
            | S::NeedsReauthorization
            | S::Revoking
            | S::Revoked(_)
            | S::Invalid
            | S::Declined
            | S::Expired => invalid(),
        },
        // Whichever of the redirect and the notification comes first exchanges the code; the
        // other does nothing. A code for a link we let expire is still the user's consent.
        E::AuthCodeReceived => match state {
            S::AwaitingUser | S::Expired => moved(S::Exchanging),
            // Failed: the exchange of the first code failed; a late copy of it changes nothing.
            S::Exchanging
            | S::Active
            | S::Refreshing
            | S::NeedsReauthorization
            | S::Revoking
            | S::Revoked(_)
            | S::Invalid
            | S::Failed => unchanged(),
            S::Consulting | S::Declined => invalid(),
        },
        E::UserDeclined => match state {
            S::AwaitingUser => moved(S::Declined),
            S::Declined => unchanged(),
            S::Consulting
            | S::Exchanging
            | S::Active
            | S::Refreshing
            | S::NeedsReauthorization
            | S::Revoking
            | S::Revoked(_)
            | S::Invalid
            | S::Failed
            | S::Expired => invalid(),
        },
        E::ConsentExpired => match state {
            S::AwaitingUser => moved(S::Expired),
            // Too late to matter: the user already decided.
            S::Expired
            | S::Exchanging
            | S::Active
            | S::Refreshing
            | S::NeedsReauthorization
            | S::Revoking
            | S::Revoked(_)
            | S::Invalid
            | S::Failed
            | S::Declined => unchanged(),
            S::Consulting => invalid(),
        },
        E::TokenIssued => match state {
            S::Exchanging => moved(S::Active),
            S::Active => unchanged(),
            S::Consulting
            | S::AwaitingUser
            | S::Refreshing
            | S::NeedsReauthorization
            | S::Revoking
            | S::Revoked(_)
            | S::Invalid
            | S::Failed
            | S::Declined
            | S::Expired => invalid(),
        },
        E::ExchangeFailed => match state {
            S::Exchanging => moved(S::Failed),
            S::Failed => unchanged(),
            S::Consulting
            | S::AwaitingUser
            | S::Active
            | S::Refreshing
            | S::NeedsReauthorization
            | S::Revoking
            | S::Revoked(_)
            | S::Invalid
            | S::Declined
            | S::Expired => invalid(),
        },
        E::RefreshStarted => match state {
            S::Active => moved(S::Refreshing),
            S::Refreshing => unchanged(),
            // A refresh job that fires after the authorization ended does nothing.
            S::NeedsReauthorization | S::Revoking | S::Revoked(_) | S::Invalid => unchanged(),
            S::Consulting
            | S::AwaitingUser
            | S::Exchanging
            | S::Failed
            | S::Declined
            | S::Expired => invalid(),
        },
        E::RefreshSucceeded => match state {
            S::Refreshing => moved(S::Active),
            S::Consulting
            | S::AwaitingUser
            | S::Exchanging
            | S::Active
            | S::NeedsReauthorization
            | S::Revoking
            | S::Revoked(_)
            | S::Invalid
            | S::Failed
            | S::Declined
            | S::Expired => invalid(),
        },
        E::RefreshFailed => match state {
            S::Refreshing | S::Active => moved(S::NeedsReauthorization),
            S::NeedsReauthorization => unchanged(),
            S::Consulting
            | S::AwaitingUser
            | S::Exchanging
            | S::Revoking
            | S::Revoked(_)
            | S::Invalid
            | S::Failed
            | S::Declined
            | S::Expired => invalid(),
        },
        E::RevokeRequested => match state {
            S::Active | S::Refreshing | S::NeedsReauthorization | S::Invalid => moved(S::Revoking),
            S::Revoking | S::Revoked(_) => unchanged(),
            S::Consulting
            | S::AwaitingUser
            | S::Exchanging
            | S::Failed
            | S::Declined
            | S::Expired => invalid(),
        },
        E::RevokeSucceeded => match state {
            S::Revoking => moved(S::Revoked(RevokedBy::Merchant)),
            S::Revoked(_) => unchanged(),
            S::Consulting
            | S::AwaitingUser
            | S::Exchanging
            | S::Active
            | S::Refreshing
            | S::NeedsReauthorization
            | S::Invalid
            | S::Failed
            | S::Declined
            | S::Expired => invalid(),
        },
        E::CanceledInWallet => match state {
            S::Exchanging
            | S::Active
            | S::Refreshing
            | S::NeedsReauthorization
            | S::Invalid
            | S::Revoking => moved(S::Revoked(RevokedBy::User)),
            S::Revoked(_) => unchanged(),
            S::Consulting | S::AwaitingUser | S::Failed | S::Declined | S::Expired => invalid(),
        },
        E::TokenRejected => match state {
            S::Active | S::Refreshing => moved(S::Invalid),
            S::Invalid | S::NeedsReauthorization | S::Revoking | S::Revoked(_) => unchanged(),
            S::Consulting
            | S::AwaitingUser
            | S::Exchanging
            | S::Failed
            | S::Declined
            | S::Expired => invalid(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AuthorizationEvent as E;
    use AuthorizationState as S;

    fn run(events: &[E]) -> Result<S, InvalidTransition> {
        events.iter().try_fold(S::Consulting, |s, e| {
            transition(s, *e).map(|step| step.state())
        })
    }

    #[test]
    fn the_happy_path_reaches_active_and_refreshes() {
        assert_eq!(
            run(&[
                E::ConsultSucceeded,
                E::AuthCodeReceived,
                E::TokenIssued,
                E::RefreshStarted,
                E::RefreshSucceeded
            ]),
            Ok(S::Active)
        );
    }

    #[test]
    fn the_second_auth_code_does_nothing() {
        let s = run(&[E::ConsultSucceeded, E::AuthCodeReceived]).expect("legal");
        assert_eq!(
            transition(s, E::AuthCodeReceived),
            Ok(Step::Unchanged(S::Exchanging))
        );
        let s = run(&[E::ConsultSucceeded, E::AuthCodeReceived, E::TokenIssued]).expect("legal");
        assert_eq!(
            transition(s, E::AuthCodeReceived),
            Ok(Step::Unchanged(S::Active))
        );
    }

    #[test]
    fn only_active_charges() {
        let charging: Vec<S> = S::ALL.into_iter().filter(|s| s.can_charge()).collect();
        assert_eq!(charging, vec![S::Active]);
    }

    #[test]
    fn the_wallet_can_end_it_at_any_point_after_the_code() {
        for path in [
            &[E::ConsultSucceeded, E::AuthCodeReceived][..],
            &[E::ConsultSucceeded, E::AuthCodeReceived, E::TokenIssued],
            &[
                E::ConsultSucceeded,
                E::AuthCodeReceived,
                E::TokenIssued,
                E::RefreshStarted,
            ],
            &[
                E::ConsultSucceeded,
                E::AuthCodeReceived,
                E::TokenIssued,
                E::RefreshFailed,
            ],
            &[
                E::ConsultSucceeded,
                E::AuthCodeReceived,
                E::TokenIssued,
                E::RevokeRequested,
            ],
        ] {
            let s = run(path).expect("legal");
            assert_eq!(
                transition(s, E::CanceledInWallet).map(|x| x.state()),
                Ok(S::Revoked(RevokedBy::User))
            );
        }
    }

    #[test]
    fn contradictions_are_errors() {
        assert!(transition(S::Declined, E::AuthCodeReceived).is_err());
        assert!(transition(S::Revoked(RevokedBy::Merchant), E::TokenIssued).is_err());
        assert!(transition(S::AwaitingUser, E::CanceledInWallet).is_err());
        let err = transition(S::Failed, E::RefreshSucceeded).expect_err("illegal");
        assert_eq!(
            err.to_string(),
            "authorization: refresh_succeeded is not allowed in state failed"
        );
    }

    #[test]
    fn names_round_trip() {
        for s in S::ALL {
            assert_eq!(S::from_name(s.name()), Some(s));
        }
    }

    #[test]
    fn terminal_states_never_become_active_again() {
        for s in S::ALL.into_iter().filter(|s| s.is_terminal()) {
            for e in E::ALL {
                if let Ok(step) = transition(s, e) {
                    assert!(
                        !step.state().can_charge(),
                        "{s:?} --{e:?}--> {:?}",
                        step.state()
                    );
                }
            }
        }
    }
}
