//! Webhook endpoints: where a merchant's events go. Those of the configuration file are recorded
//! here too ([`SqlStore::record_config_endpoints`]), so that every endpoint has an id, a state and
//! a health that every server shares; those made through the API keep their signing secrets here,
//! sealed with the token keys.
//!
//! An endpoint is `enabled` (its deliveries are sent), `disabled` (its deliveries are made and
//! wait; sent again once it is enabled) or `removed` (gone from the file, or deleted through the
//! API: nothing more is made for it). [`SqlStore::endpoint_tried`] keeps `failing_since`, the
//! first failed try since the last delivered one; [`SqlStore::disable_failing_endpoint`] disables
//! an endpoint and writes its `webhook_endpoint.disabled` event in one unit of work, once however
//! many servers decide it at the same moment.

use std::fmt;

use autodebit_domain::model::{EventKind, Millis};
use autodebit_domain::ports::StoreError;

use crate::SqlStore;
use crate::db::Row;
use crate::rows;

/// Where an endpoint was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndpointSource {
    /// The configuration file (its secrets are there).
    Config,
    /// The API (its secrets are here).
    Api,
}

impl EndpointSource {
    fn name(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::Api => "api",
        }
    }
}

/// An endpoint's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndpointState {
    /// Its deliveries are sent.
    Enabled,
    /// Its deliveries wait until it is enabled.
    Disabled,
    /// Gone: nothing more is made for it.
    Removed,
}

impl EndpointState {
    /// The state's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Enabled => "enabled",
            Self::Disabled => "disabled",
            Self::Removed => "removed",
        }
    }

    fn parse(name: &str) -> Result<Self, StoreError> {
        match name {
            "enabled" => Ok(Self::Enabled),
            "disabled" => Ok(Self::Disabled),
            "removed" => Ok(Self::Removed),
            other => Err(StoreError::Corrupt(format!(
                "webhook endpoint state {other:?}"
            ))),
        }
    }
}

/// A signing secret kept for an endpoint of the API. Its `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredSecret {
    /// `whsec_…`.
    pub secret: String,
    /// When it stops being used (a rotated-out secret signs beside the new one until then).
    pub expires_at: Option<Millis>,
}

impl fmt::Debug for StoredSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredSecret")
            .field("secret", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// An endpoint as kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointRecord {
    /// `we_…`.
    pub id: String,
    /// Where events are sent.
    pub url: String,
    /// The merchant's note.
    pub description: String,
    /// Where it was made.
    pub source: EndpointSource,
    /// Its secrets, newest first (API endpoints only).
    pub secrets: Vec<StoredSecret>,
    /// Its state.
    pub state: EndpointState,
    /// Why it was disabled.
    pub disabled_reason: Option<String>,
    /// The first failed try since the last delivered one.
    pub failing_since: Option<Millis>,
    /// When it was made.
    pub created_at: Millis,
    /// When it last changed.
    pub updated_at: Millis,
}

macro_rules! endpoint_columns {
    () => {
        "id, url, description, source, secrets, state, disabled_reason, failing_since, \
         created_at, updated_at"
    };
}

const TABLE: (&str, &str) = ("webhook_endpoints", "secrets");

fn secrets_from_json(json: &str) -> Option<Vec<StoredSecret>> {
    let value: serde_json::Value = serde_json::from_str(json).ok()?;
    value
        .as_array()?
        .iter()
        .map(|s| {
            Some(StoredSecret {
                secret: s.get("secret")?.as_str()?.to_owned(),
                expires_at: match s.get("expires_at")? {
                    serde_json::Value::Null => None,
                    at => Some(at.as_i64()?),
                },
            })
        })
        .collect()
}

/// A row as read, its secrets still sealed.
struct Raw {
    id: String,
    url: String,
    description: String,
    source: String,
    secrets: Option<String>,
    state: String,
    disabled_reason: Option<String>,
    failing_since: Option<Millis>,
    created_at: Millis,
    updated_at: Millis,
}

fn raw(row: &Row, _: &crate::Keyring) -> Result<Raw, StoreError> {
    Ok(Raw {
        id: row.text(0)?,
        url: row.text(1)?,
        description: row.text(2)?,
        source: row.text(3)?,
        secrets: row.opt_text(4)?,
        state: row.text(5)?,
        disabled_reason: row.opt_text(6)?,
        failing_since: row.opt_int(7)?,
        created_at: row.int(8)?,
        updated_at: row.int(9)?,
    })
}

impl SqlStore {
    fn endpoint_from(&self, raw: Raw) -> Result<EndpointRecord, StoreError> {
        let Raw {
            id,
            url,
            description,
            source,
            secrets,
            state,
            disabled_reason,
            failing_since,
            created_at,
            updated_at,
        } = raw;
        let source = match source.as_str() {
            "config" => EndpointSource::Config,
            "api" => EndpointSource::Api,
            other => {
                return Err(StoreError::Corrupt(format!(
                    "webhook endpoint {id} source {other:?}"
                )));
            }
        };
        let secrets = match rows::open(&self.inner().keys, TABLE, &id, self.merchant(), secrets)? {
            None => Vec::new(),
            Some(json) => secrets_from_json(&json).ok_or_else(|| {
                StoreError::Corrupt(format!("webhook endpoint {id}: unreadable secrets"))
            })?,
        };
        Ok(EndpointRecord {
            url,
            description,
            source,
            secrets,
            state: EndpointState::parse(&state)?,
            disabled_reason,
            failing_since,
            created_at,
            updated_at,
            id,
        })
    }

    fn sealed_secrets(&self, id: &str, secrets: &[StoredSecret]) -> Result<String, StoreError> {
        let json = serde_json::Value::Array(
            secrets
                .iter()
                .map(|s| serde_json::json!({"secret": s.secret, "expires_at": s.expires_at}))
                .collect(),
        )
        .to_string();
        rows::seal(&self.inner().keys, TABLE, id, self.merchant(), Some(&json))?
            .ok_or_else(|| StoreError::Rejected("nothing to seal".into()))
    }

    /// Records the configuration's endpoints (`(id, url)`): new ones enabled, known ones keep
    /// their state (a removed one comes back enabled), those no longer configured are removed.
    /// Deliveries still named by an endpoint's URL (schema 4) are renamed to its id.
    ///
    /// # Errors
    /// As any write.
    pub async fn record_config_endpoints(
        &self,
        endpoints: &[(String, String)],
        now: Millis,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_tx().await?;
        let merchant = self.merchant().to_owned();
        for (id, url) in endpoints {
            tx.exec
                .execute(
                    "INSERT INTO webhook_endpoints (merchant_id, id, url, description, source, \
                     secrets, state, disabled_reason, failing_since, created_at, updated_at) \
                     VALUES ($1, $2, $3, '', 'config', NULL, 'enabled', NULL, NULL, $4, $4) \
                     ON CONFLICT DO NOTHING",
                    vec![
                        merchant.as_str().into(),
                        id.as_str().into(),
                        url.as_str().into(),
                        now.into(),
                    ],
                )
                .await?;
            tx.exec
                .execute(
                    "UPDATE webhook_endpoints SET url = $3, updated_at = $4, \
                     state = CASE WHEN state = 'removed' THEN 'enabled' ELSE state END \
                     WHERE merchant_id = $1 AND id = $2 AND source = 'config' \
                     AND (url <> $3 OR state = 'removed')",
                    vec![
                        merchant.as_str().into(),
                        id.as_str().into(),
                        url.as_str().into(),
                        now.into(),
                    ],
                )
                .await?;
            for sql in [
                "UPDATE webhook_deliveries SET endpoint = $2 WHERE merchant_id = $1 AND endpoint = $3",
                "UPDATE webhook_attempts SET endpoint = $2 WHERE merchant_id = $1 AND endpoint = $3",
            ] {
                tx.exec
                    .execute(
                        sql,
                        vec![
                            merchant.as_str().into(),
                            id.as_str().into(),
                            url.as_str().into(),
                        ],
                    )
                    .await?;
            }
        }
        let configured: Vec<&str> = endpoints.iter().map(|(id, _)| id.as_str()).collect();
        let known = tx
            .read(
                "SELECT id FROM webhook_endpoints WHERE merchant_id = $1 AND source = 'config' \
                 AND state <> 'removed'",
                vec![merchant.as_str().into()],
                |row, _| row.text(0),
            )
            .await?;
        for id in known.iter().filter(|id| !configured.contains(&id.as_str())) {
            tx.exec
                .execute(
                    "UPDATE webhook_endpoints SET state = 'removed', updated_at = $3 \
                     WHERE merchant_id = $1 AND id = $2",
                    vec![merchant.as_str().into(), id.as_str().into(), now.into()],
                )
                .await?;
        }
        tx.commit_now().await
    }

    /// Keeps a new endpoint made through the API.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when its id exists; as any write.
    pub async fn create_endpoint(&self, endpoint: &EndpointRecord) -> Result<(), StoreError> {
        let sealed = self.sealed_secrets(&endpoint.id, &endpoint.secrets)?;
        let mut tx = self.begin_tx().await?;
        let made = tx
            .exec
            .execute(
                "INSERT INTO webhook_endpoints (merchant_id, id, url, description, source, \
                 secrets, state, disabled_reason, failing_since, created_at, updated_at, \
                 key_version) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL, $8, $8, $9) \
                 ON CONFLICT DO NOTHING",
                vec![
                    self.merchant().into(),
                    endpoint.id.as_str().into(),
                    endpoint.url.as_str().into(),
                    endpoint.description.as_str().into(),
                    endpoint.source.name().into(),
                    sealed.as_str().into(),
                    endpoint.state.name().into(),
                    endpoint.created_at.into(),
                    i64::from(self.inner().keys.current_version()).into(),
                ],
            )
            .await?;
        if made != 1 {
            return Err(StoreError::Conflict(format!(
                "webhook endpoint {} exists",
                endpoint.id
            )));
        }
        tx.commit_now().await
    }

    /// Every endpoint of this merchant but the removed ones, oldest first.
    ///
    /// # Errors
    /// As any read.
    pub async fn endpoints(&self) -> Result<Vec<EndpointRecord>, StoreError> {
        let mut tx = self.begin_tx().await?;
        let rows = tx
            .read(
                concat!(
                    "SELECT ",
                    endpoint_columns!(),
                    " FROM webhook_endpoints WHERE merchant_id = $1 \
                     AND state <> 'removed' ORDER BY created_at, id"
                ),
                vec![self.merchant().into()],
                raw,
            )
            .await?;
        drop(tx);
        rows.into_iter()
            .map(|row| self.endpoint_from(row))
            .collect()
    }

    /// Endpoint `id` (not removed).
    ///
    /// # Errors
    /// As any read.
    pub async fn endpoint(&self, id: &str) -> Result<Option<EndpointRecord>, StoreError> {
        let mut tx = self.begin_tx().await?;
        let found = tx
            .read_one(
                concat!(
                    "SELECT ",
                    endpoint_columns!(),
                    " FROM webhook_endpoints WHERE merchant_id = $1 AND id = $2 \
                     AND state <> 'removed'"
                ),
                vec![self.merchant().into(), id.into()],
                raw,
            )
            .await?;
        drop(tx);
        found.map(|row| self.endpoint_from(row)).transpose()
    }

    /// Sets endpoint `id`'s state (enabling it forgets its failures); the endpoint after, or
    /// `None` when there is none.
    ///
    /// # Errors
    /// As any write.
    pub async fn set_endpoint_state(
        &self,
        id: &str,
        state: EndpointState,
        reason: Option<&str>,
        now: Millis,
    ) -> Result<Option<EndpointRecord>, StoreError> {
        self.update_endpoint(
            id,
            "UPDATE webhook_endpoints SET state = $3, disabled_reason = $4, updated_at = $5, \
             failing_since = CASE WHEN $3 = 'enabled' THEN NULL ELSE failing_since END \
             WHERE merchant_id = $1 AND id = $2 AND state <> 'removed'",
            vec![state.name().into(), reason.into(), now.into()],
        )
        .await
    }

    /// Replaces endpoint `id`'s secrets (API endpoints); the endpoint after, or `None`.
    ///
    /// # Errors
    /// As any write.
    pub async fn set_endpoint_secrets(
        &self,
        id: &str,
        secrets: &[StoredSecret],
        now: Millis,
    ) -> Result<Option<EndpointRecord>, StoreError> {
        let sealed = self.sealed_secrets(id, secrets)?;
        self.update_endpoint(
            id,
            "UPDATE webhook_endpoints SET secrets = $3, updated_at = $4, key_version = $5 \
             WHERE merchant_id = $1 AND id = $2 AND source = 'api' AND state <> 'removed'",
            vec![
                sealed.as_str().into(),
                now.into(),
                i64::from(self.inner().keys.current_version()).into(),
            ],
        )
        .await
    }

    /// Runs `sql` on endpoint `id` (`$1` the merchant, `$2` the id, then `args`); the endpoint
    /// after, or `None` when no row changed.
    async fn update_endpoint(
        &self,
        id: &str,
        sql: &'static str,
        args: Vec<crate::db::Value>,
    ) -> Result<Option<EndpointRecord>, StoreError> {
        let mut values = vec![self.merchant().into(), id.into()];
        values.extend(args);
        let mut tx = self.begin_tx().await?;
        let changed = tx.exec.execute(sql, values).await?;
        tx.commit_now().await?;
        if changed == 0 {
            return Ok(None);
        }
        self.endpoint(id).await
    }

    /// Records a try to endpoint `id`: a delivered one clears its failures, a failed one starts
    /// them if none had; when its failures started (`None` while it delivers).
    ///
    /// # Errors
    /// As any write.
    pub async fn endpoint_tried(
        &self,
        id: &str,
        delivered: bool,
        now: Millis,
    ) -> Result<Option<Millis>, StoreError> {
        let mut tx = self.begin_tx().await?;
        let sql = if delivered {
            "UPDATE webhook_endpoints SET failing_since = NULL \
             WHERE merchant_id = $1 AND id = $2 AND failing_since IS NOT NULL AND $3 >= 0"
        } else {
            "UPDATE webhook_endpoints SET failing_since = $3 \
             WHERE merchant_id = $1 AND id = $2 AND failing_since IS NULL"
        };
        tx.exec
            .execute(sql, vec![self.merchant().into(), id.into(), now.into()])
            .await?;
        let since = tx
            .read_one(
                "SELECT failing_since FROM webhook_endpoints WHERE merchant_id = $1 AND id = $2",
                vec![self.merchant().into(), id.into()],
                |row, _| row.opt_int(0),
            )
            .await?
            .flatten();
        tx.commit_now().await?;
        Ok(since)
    }

    /// Disables endpoint `id` for `reason` if it is enabled, with its `webhook_endpoint.disabled`
    /// event, in one unit of work; whether this call disabled it.
    ///
    /// # Errors
    /// As any write.
    pub async fn disable_failing_endpoint(
        &self,
        id: &str,
        reason: &str,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_tx().await?;
        let changed = tx
            .exec
            .execute(
                "UPDATE webhook_endpoints SET state = 'disabled', disabled_reason = $3, \
                 updated_at = $4 WHERE merchant_id = $1 AND id = $2 AND state = 'enabled'",
                vec![self.merchant().into(), id.into(), reason.into(), now.into()],
            )
            .await?;
        if changed != 1 {
            return Ok(false);
        }
        tx.exec
            .execute(
                "INSERT INTO events (kind, subject, detail, at, merchant_id) \
                 VALUES ($1, $2, $3, $4, $5)",
                vec![
                    EventKind::WebhookEndpointDisabled.name().into(),
                    id.into(),
                    reason.into(),
                    now.into(),
                    self.merchant().into(),
                ],
            )
            .await?;
        tx.commit_now().await?;
        Ok(true)
    }
}
