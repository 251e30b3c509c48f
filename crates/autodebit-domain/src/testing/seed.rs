//! Records a test starts from.

use ams_protocol::{AccessToken, AuthState, CustomerBelongsTo, RefreshToken, TerminalType};

use crate::lifecycle::authorization::AuthorizationState;
use crate::model::{Authorization, AuthorizationId, Millis, TokenSet};
use crate::ports::{Store, StoreError};

const DAY: Millis = 86_400_000;

/// An active authorization `id` holding `token` (and a refresh token), valid for 30 days from
/// `now`, for customer `cust-1` on ALIPAY_CN (WEB).
pub fn active_authorization(id: &str, token: &str, now: Millis) -> Authorization {
    Authorization {
        id: AuthorizationId::new(id),
        customer_id: "cust-1".into(),
        wallet: CustomerBelongsTo::AlipayCn,
        terminal_type: TerminalType::Web,
        os_type: None,
        return_url: "https://merchant.example/done".into(),
        secondary_merchant: None,
        auth_state: AuthState::new(format!("state-{id}")),
        auth_url: None,
        qr_code: None,
        state: AuthorizationState::Active,
        token: Some(TokenSet {
            access_token: AccessToken::new(token),
            access_expires_at: now + 30 * DAY,
            refresh_token: Some(RefreshToken::new(format!("refresh-{token}"))),
            refresh_expires_at: Some(now + 180 * DAY),
        }),
        pending_auth_code: None,
        tries: 0,
        stray_token: None,
        consent_expires_at: None,
        user_login_id: None,
        failure: None,
        version: 0,
        created_at: now,
        updated_at: now,
    }
}

/// Stores `authorization` in a unit of work of its own.
///
/// # Errors
/// The store's.
pub async fn insert(store: &dyn Store, authorization: &Authorization) -> Result<(), StoreError> {
    let mut tx = store.begin().await?;
    tx.insert_authorization(authorization).await?;
    tx.commit().await
}
