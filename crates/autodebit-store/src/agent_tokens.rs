//! Agent tokens: the `agent-token` an ISV sends when calling Alipay on behalf of a merchant, as
//! Alipay's ISV authorization notification handed it over. One per merchant, sealed with the token
//! keys. Notifications can arrive out of order (Alipay retries each on its own schedule), so a
//! token replaces the kept one only when its authorisation is not older.

use ams_protocol::AgentToken;
use autodebit_domain::model::Millis;
use autodebit_domain::ports::StoreError;

use crate::SqlStore;
use crate::db::Row;
use crate::rows;

/// Where the token is sealed (the row id is the merchant's id).
pub(crate) const TABLE: (&str, &str) = ("agent_tokens", "token");

/// A merchant's agent token as received. Its `Debug` redacts the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentTokenRecord {
    /// `authClientId`: the authorising merchant's Alipay client id.
    pub auth_client_id: String,
    /// The token.
    pub token: AgentToken,
    /// `authTime`: when the merchant authorised (epoch ms); the newest authorisation wins.
    pub auth_time: Millis,
    /// `accessTokenExpiryTime` verbatim, when not empty (its format is unknown).
    pub expires_at: Option<String>,
    /// When the notification arrived.
    pub received_at: Millis,
}

/// A row as read, its token still sealed.
struct Raw {
    merchant: String,
    auth_client_id: String,
    token: String,
    auth_time: Millis,
    expires_at: Option<String>,
    received_at: Millis,
}

fn raw(row: &Row, _: &crate::Keyring) -> Result<Raw, StoreError> {
    Ok(Raw {
        merchant: row.text(0)?,
        auth_client_id: row.text(1)?,
        token: row.text(2)?,
        auth_time: row.int(3)?,
        expires_at: row.opt_text(4)?,
        received_at: row.int(5)?,
    })
}

impl SqlStore {
    /// Keeps `record` as this merchant's agent token unless the kept one was authorised later (an
    /// equal `auth_time` replaces it: the same notification sent again). `true` when it replaced.
    ///
    /// # Errors
    /// As any write.
    pub async fn record_agent_token(&self, record: &AgentTokenRecord) -> Result<bool, StoreError> {
        let merchant = self.merchant().to_owned();
        let sealed = rows::seal(
            &self.inner().keys,
            TABLE,
            &merchant,
            &merchant,
            Some(record.token.expose_secret()),
        )?
        .ok_or_else(|| StoreError::Rejected("nothing to seal".into()))?;
        let mut tx = self.begin_tx().await?;
        // One statement: two replicas receiving two notifications at once keep the newer.
        let changed = tx
            .exec
            .execute(
                "INSERT INTO agent_tokens (merchant_id, auth_client_id, token, key_version, \
                 auth_time, expires_at, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (merchant_id) DO UPDATE SET auth_client_id = excluded.auth_client_id, \
                 token = excluded.token, key_version = excluded.key_version, \
                 auth_time = excluded.auth_time, expires_at = excluded.expires_at, \
                 received_at = excluded.received_at \
                 WHERE agent_tokens.auth_time <= excluded.auth_time",
                vec![
                    merchant.as_str().into(),
                    record.auth_client_id.as_str().into(),
                    sealed.into(),
                    i64::from(self.inner().keys.current_version()).into(),
                    record.auth_time.into(),
                    record.expires_at.clone().into(),
                    record.received_at.into(),
                ],
            )
            .await?;
        tx.commit_now().await?;
        Ok(changed == 1)
    }

    /// This merchant's agent token, unsealed, if one was received.
    ///
    /// # Errors
    /// As any read; [`StoreError::Corrupt`] when the token does not open.
    pub async fn agent_token(&self) -> Result<Option<AgentTokenRecord>, StoreError> {
        let mut tx = self.begin_tx().await?;
        let found = tx
            .read_one(
                "SELECT merchant_id, auth_client_id, token, auth_time, expires_at, received_at \
                 FROM agent_tokens WHERE merchant_id = $1",
                vec![self.merchant().into()],
                raw,
            )
            .await?;
        drop(tx);
        let Some(raw) = found else {
            return Ok(None);
        };
        let token = rows::open(
            &self.inner().keys,
            TABLE,
            &raw.merchant,
            &raw.merchant,
            Some(raw.token),
        )?
        .ok_or_else(|| StoreError::Corrupt("agent token: nothing sealed".into()))?;
        Ok(Some(AgentTokenRecord {
            auth_client_id: raw.auth_client_id,
            token: AgentToken::new(token),
            auth_time: raw.auth_time,
            expires_at: raw.expires_at,
            received_at: raw.received_at,
        }))
    }
}
