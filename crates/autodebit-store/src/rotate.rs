//! Key rotation: rows sealed with an older key version are opened with it and sealed again with
//! the current one, in small transactions, without touching the plaintext or the row's version.
//! It covers the whole database, every merchant's rows (each sealed value stays bound to its own
//! row and merchant).
//!
//! Each row is rewritten with a compare-and-set on its version and key version, so a unit of work
//! that changes the row meanwhile wins (and writes it with the current key itself).
//!
//! Access tokens a refresh rotated away are kept only as a blind index under the key current when
//! they were retired (`retired_access_tokens.key_version`): without the token there is nothing to
//! index again, so a lookup by such a token works while that key stays configured. They are not
//! counted as rows on old keys.

use autodebit_domain::ports::StoreError;

use crate::db::Value;
use crate::rows::{self, ACCESS_TOKEN_INDEX};
use crate::store::SqlStore;

/// What a re-encryption pass rewrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reencrypted {
    /// Authorizations (tokens, pending auth codes, stray tokens, blind index).
    pub authorizations: u64,
    /// Payment attempts (`pay` bodies).
    pub attempts: u64,
    /// Refunds (`refund` bodies).
    pub refunds: u64,
    /// Customs declarations (`declare` bodies).
    pub declarations: u64,
    /// Secondary-merchant registrations (`registration` bodies).
    pub registrations: u64,
    /// Inbox entries (notification bodies).
    pub inbox: u64,
    /// Webhook endpoints made through the API (signing secrets).
    pub webhook_endpoints: u64,
    /// Kept API answers (replayed to a retry with the same idempotency key).
    pub api_requests: u64,
    /// Merchants' agent tokens (from Alipay's ISV authorization notification).
    pub agent_tokens: u64,
}

impl Reencrypted {
    /// Rows rewritten in all.
    pub fn total(&self) -> u64 {
        self.authorizations
            + self.attempts
            + self.refunds
            + self.declarations
            + self.registrations
            + self.inbox
            + self.webhook_endpoints
            + self.api_requests
            + self.agent_tokens
    }
}

/// A table with sealed columns: how to find its rows on old keys and rewrite them.
struct Sealed {
    table: &'static str,
    /// `id, version, key_version, merchant_id, <sealed columns…>` of up to `$2` rows whose key is
    /// not `$1`.
    select: &'static str,
    /// Sets the sealed columns (`$2…`) and `key_version`, guarded by id, version, old key and
    /// merchant.
    update: &'static str,
    columns: &'static [&'static str],
    /// Its counter in the report.
    tally: fn(&mut Reencrypted) -> &mut u64,
}

const TABLES: [Sealed; 9] = [
    Sealed {
        table: "authorizations",
        select: "SELECT id, version, key_version, merchant_id, access_token, refresh_token, \
                 pending_auth_code, stray_token FROM authorizations WHERE key_version <> $1 \
                 ORDER BY id LIMIT $2",
        update: "UPDATE authorizations SET access_token = $2, refresh_token = $3, \
                 pending_auth_code = $4, stray_token = $5, access_token_index = $6, \
                 key_version = $7 WHERE id = $1 AND version = $8 AND key_version = $9 \
                 AND merchant_id = $10",
        columns: &[
            "access_token",
            "refresh_token",
            "pending_auth_code",
            "stray_token",
        ],
        tally: |r| &mut r.authorizations,
    },
    Sealed {
        table: "payment_attempts",
        select: "SELECT id, version, key_version, merchant_id, request_body FROM payment_attempts \
                 WHERE key_version <> $1 ORDER BY id LIMIT $2",
        update: "UPDATE payment_attempts SET request_body = $2, key_version = $3 \
                 WHERE id = $1 AND version = $4 AND key_version = $5 AND merchant_id = $6",
        columns: &["request_body"],
        tally: |r| &mut r.attempts,
    },
    Sealed {
        table: "refunds",
        select: "SELECT id, version, key_version, merchant_id, request_body FROM refunds \
                 WHERE key_version <> $1 ORDER BY id LIMIT $2",
        update: "UPDATE refunds SET request_body = $2, key_version = $3 \
                 WHERE id = $1 AND version = $4 AND key_version = $5 AND merchant_id = $6",
        columns: &["request_body"],
        tally: |r| &mut r.refunds,
    },
    Sealed {
        table: "customs_declarations",
        select: "SELECT id, version, key_version, merchant_id, request_body \
                 FROM customs_declarations WHERE key_version <> $1 ORDER BY id LIMIT $2",
        update: "UPDATE customs_declarations SET request_body = $2, key_version = $3 \
                 WHERE id = $1 AND version = $4 AND key_version = $5 AND merchant_id = $6",
        columns: &["request_body"],
        tally: |r| &mut r.declarations,
    },
    Sealed {
        table: "secondary_merchant_registrations",
        select: "SELECT id, version, key_version, merchant_id, request_body \
                 FROM secondary_merchant_registrations WHERE key_version <> $1 \
                 ORDER BY id LIMIT $2",
        update: "UPDATE secondary_merchant_registrations SET request_body = $2, \
                 key_version = $3 \
                 WHERE id = $1 AND version = $4 AND key_version = $5 AND merchant_id = $6",
        columns: &["request_body"],
        tally: |r| &mut r.registrations,
    },
    Sealed {
        table: "inbox",
        select: "SELECT dedup_key, CAST(0 AS BIGINT) AS version, key_version, merchant_id, body \
                 FROM inbox WHERE key_version <> $1 ORDER BY merchant_id, dedup_key LIMIT $2",
        update: "UPDATE inbox SET body = $2, key_version = $3 \
                 WHERE dedup_key = $1 AND 0 = $4 AND key_version = $5 AND merchant_id = $6",
        columns: &["body"],
        tally: |r| &mut r.inbox,
    },
    Sealed {
        table: "webhook_endpoints",
        select: "SELECT id, CAST(0 AS BIGINT) AS version, key_version, merchant_id, secrets \
                 FROM webhook_endpoints WHERE key_version IS NOT NULL AND key_version <> $1 \
                 ORDER BY merchant_id, id LIMIT $2",
        update: "UPDATE webhook_endpoints SET secrets = $2, key_version = $3 \
                 WHERE id = $1 AND 0 = $4 AND key_version = $5 AND merchant_id = $6",
        columns: &["secrets"],
        tally: |r| &mut r.webhook_endpoints,
    },
    Sealed {
        table: "api_requests",
        select: "SELECT key, CAST(0 AS BIGINT) AS version, key_version, merchant_id, body \
                 FROM api_requests WHERE key_version IS NOT NULL AND key_version <> $1 \
                 ORDER BY merchant_id, key LIMIT $2",
        update: "UPDATE api_requests SET body = $2, key_version = $3 \
                 WHERE key = $1 AND 0 = $4 AND key_version = $5 AND merchant_id = $6",
        columns: &["body"],
        tally: |r| &mut r.api_requests,
    },
    // `auth_time` stands for the version: a newer token written meanwhile is not overwritten.
    Sealed {
        table: "agent_tokens",
        select: "SELECT merchant_id, auth_time, key_version, merchant_id, token \
                 FROM agent_tokens WHERE key_version <> $1 ORDER BY merchant_id LIMIT $2",
        update: "UPDATE agent_tokens SET token = $2, key_version = $3 \
                 WHERE merchant_id = $1 AND auth_time = $4 AND key_version = $5 \
                 AND merchant_id = $6",
        columns: &["token"],
        tally: |r| &mut r.agent_tokens,
    },
];

impl SqlStore {
    /// How many rows, of every merchant, are still sealed with a key other than the current one.
    ///
    /// # Errors
    /// As any read.
    pub async fn rows_on_old_keys(&self) -> Result<u64, StoreError> {
        let current = i64::from(self.keys().current_version());
        let mut tx = self.begin_tx().await?;
        let mut total = 0;
        for sql in [
            "SELECT count(*) FROM authorizations WHERE key_version <> $1",
            "SELECT count(*) FROM payment_attempts WHERE key_version <> $1",
            "SELECT count(*) FROM refunds WHERE key_version <> $1",
            "SELECT count(*) FROM customs_declarations WHERE key_version <> $1",
            "SELECT count(*) FROM secondary_merchant_registrations WHERE key_version <> $1",
            "SELECT count(*) FROM inbox WHERE key_version <> $1",
            "SELECT count(*) FROM webhook_endpoints WHERE key_version IS NOT NULL AND key_version <> $1",
            "SELECT count(*) FROM api_requests WHERE key_version IS NOT NULL AND key_version <> $1",
            "SELECT count(*) FROM agent_tokens WHERE key_version <> $1",
        ] {
            total += tx.count(sql, vec![current.into()]).await?;
        }
        Ok(total)
    }

    /// Re-seals every row written under an older key version with the current key, `batch` rows
    /// per transaction, until none is left: every merchant's rows, whichever handle runs it. Safe to run beside the flows and on several replicas.
    ///
    /// On SQLite it then rebuilds the file (`VACUUM`) and truncates the WAL, so the old
    /// ciphertexts (and older versions of rows, sealed with the old key) are gone from the files. On PostgreSQL old row versions stay
    /// in the table files until `VACUUM FULL` rewrites them: run it when the old key may be
    /// compromised.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] naming the row when a value does not open (its key version is not
    /// configured, or it was altered); rows done before stay done.
    pub async fn reencrypt(&self, batch: u32) -> Result<Reencrypted, StoreError> {
        let keys = self.keys();
        let current = i64::from(keys.current_version());
        let batch = i64::from(batch.max(1));
        let mut done = Reencrypted::default();
        for sealed in &TABLES {
            loop {
                let mut tx = self.begin_tx().await?;
                let rows = tx
                    .exec
                    .fetch(sealed.select, vec![current.into(), batch.into()])
                    .await?;
                if rows.is_empty() {
                    break;
                }
                let mut rewritten = 0;
                for row in &rows {
                    let id = row.text(0)?;
                    let version = row.int(1)?;
                    let old = row.int(2)?;
                    let merchant = row.text(3)?;
                    let mut args: Vec<Value> = vec![id.as_str().into()];
                    let mut access = None;
                    for (i, column) in sealed.columns.iter().enumerate() {
                        let place = (sealed.table, *column);
                        let plain = rows::open(keys, place, &id, &merchant, row.opt_text(4 + i)?)?;
                        let resealed = rows::seal(keys, place, &id, &merchant, plain.as_deref())?;
                        if *column == "access_token" {
                            access = plain;
                        }
                        args.push(resealed.into());
                    }
                    if sealed.table == "authorizations" {
                        args.push(
                            access
                                .map(|t| keys.blind_index(ACCESS_TOKEN_INDEX, &t))
                                .into(),
                        );
                    }
                    args.extend([current.into(), version.into(), old.into(), merchant.into()]);
                    rewritten += tx.exec.execute(sealed.update, args).await?;
                }
                tx.exec.commit().await?;
                *(sealed.tally)(&mut done) += rewritten;
            }
        }
        if done.total() > 0 {
            self.purge_old_versions().await?;
        }
        Ok(done)
    }
}
