//! [`SqlTx`]: one unit of work, one database transaction. Records are read and written at once
//! (compare-and-set on `version`, `ON CONFLICT DO NOTHING` for uniqueness, so a clash leaves the
//! transaction usable); attention items are raised and closed at once too (a partial unique index
//! keeps one open item per subject and code); job changes are staged and applied at commit
//! ([`crate::jobs`]).

use std::fmt;
use std::sync::Arc;

use ams_protocol::{AccessToken, AuthState, PaymentRequestId, RefundRequestId};
use async_trait::async_trait;
use autodebit_domain::model::{
    AttemptId, AttentionId, AttentionItem, Authorization, AuthorizationId, Event,
    IdempotencyRecord, InboxEntry, Job, JobId, JobKind, LeaseToken, Millis, Order, OrderId,
    PaymentAttempt, Refund, RefundId, Resolution, Subject,
};
use autodebit_domain::model::{Declaration, DeclarationId, DeclarationRequestId};
use autodebit_domain::model::{Registration, RegistrationId, RegistrationRequestId};
use autodebit_domain::ports::{AuthorizationFilter, OrderFilter, PageRequest, StoreError, Tx};
use tokio::sync::OwnedSemaphorePermit;

use crate::Backend;
use crate::crypto::Keyring;
use crate::db::{Exec, Row, Value};
use crate::jobs::JobOp;
use crate::list::Listing;
use crate::rows::{
    self, attempt_columns, attention_columns, authorization_columns, declaration_columns,
    job_columns, order_columns, refund_columns, registration_columns,
};

/// A unit of work on a [`crate::SqlStore`]: one open database transaction. Dropped without
/// [`Tx::commit`], it rolls back.
pub(crate) struct SqlTx {
    pub(crate) exec: Box<dyn Exec>,
    pub(crate) keys: Arc<Keyring>,
    pub(crate) backend: Backend,
    /// The merchant whose rows it reads and writes (every statement names it).
    pub(crate) merchant: Arc<str>,
    /// Job changes, applied at commit in this order (see [`SqlTx::apply_jobs`]).
    pub(crate) jobs: Vec<JobOp>,
    pub(crate) writer: Option<OwnedSemaphorePermit>,
    /// Told what the commit changed.
    pub(crate) observer: Option<Arc<dyn crate::observe::CommitObserver>>,
    /// What this unit of work read and changed, for the observer.
    pub(crate) tracking: crate::observe::Tracking,
}

impl fmt::Debug for SqlTx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlTx")
            .field("backend", &self.backend)
            .field("merchant", &self.merchant)
            .field("staged_jobs", &self.jobs.len())
            .finish_non_exhaustive()
    }
}

/// Reads a row into a record (with the keyring for sealed columns).
pub(crate) type Decode<T> = fn(&Row, &Keyring) -> Result<T, StoreError>;

/// How raising an attention item went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Raised {
    /// A new open item.
    Opened,
    /// The open item of the same subject and code was updated.
    Updated,
    /// Neither: the item's id belongs to another item (a closed one, or another subject's).
    IdTaken,
}

impl SqlTx {
    /// Runs a query and decodes every row.
    pub(crate) async fn read<T>(
        &mut self,
        sql: &'static str,
        args: Vec<Value>,
        decode: Decode<T>,
    ) -> Result<Vec<T>, StoreError> {
        let rows = self.exec.fetch(sql, args).await?;
        rows.iter().map(|row| decode(row, &self.keys)).collect()
    }

    /// Runs a query for at most one row.
    pub(crate) async fn read_one<T>(
        &mut self,
        sql: &'static str,
        args: Vec<Value>,
        decode: Decode<T>,
    ) -> Result<Option<T>, StoreError> {
        Ok(self.read(sql, args, decode).await?.into_iter().next())
    }

    /// Runs an `INSERT … ON CONFLICT DO NOTHING`; no row inserted is a conflict.
    async fn insert(
        &mut self,
        sql: &'static str,
        values: Vec<Value>,
        conflict: impl FnOnce() -> String + Send,
    ) -> Result<(), StoreError> {
        match self.exec.execute(sql, values).await? {
            1 => Ok(()),
            _ => Err(StoreError::Conflict(conflict())),
        }
    }

    /// The merchant, as a parameter.
    pub(crate) fn merchant_value(&self) -> Value {
        Value::from(&*self.merchant)
    }

    /// Runs a compare-and-set `UPDATE` whose last parameter is the version read (the values, made
    /// by `rows::*_values`, end with the merchant, which the statement names before it).
    async fn update(
        &mut self,
        sql: &'static str,
        mut values: Vec<Value>,
        expected: u64,
    ) -> Result<bool, StoreError> {
        values.push(
            i64::try_from(expected)
                .map_err(|_| StoreError::Rejected("version out of range".into()))?
                .into(),
        );
        Ok(self.exec.execute(sql, values).await? == 1)
    }

    /// Runs a `SELECT count(*)`.
    pub(crate) async fn count(
        &mut self,
        sql: &'static str,
        args: Vec<Value>,
    ) -> Result<u64, StoreError> {
        let n = self
            .read_one(sql, args, |row, _| row.int(0))
            .await?
            .unwrap_or(0);
        u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("a count of {n}")))
    }

    /// Raises `item`: inserts it unless an item with its id, or an open one with its subject and
    /// code, exists (`ON CONFLICT DO NOTHING`: on PostgreSQL a concurrent raise of the same
    /// subject and code waits for the other's commit, then finds its item), else updates that open
    /// item.
    pub(crate) async fn raise(&mut self, item: &AttentionItem) -> Result<Raised, StoreError> {
        let mut open = item.clone();
        open.resolution = None;
        let inserted = self
            .exec
            .execute(
                concat!(
                    "INSERT INTO attention_items (",
                    attention_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                     ON CONFLICT DO NOTHING"
                ),
                rows::attention_values(&open, &self.merchant),
            )
            .await?;
        if inserted == 1 {
            return Ok(Raised::Opened);
        }
        let updated = self
            .exec
            .execute(
                "UPDATE attention_items SET reason = $4, tried = $5, actions = $6, updated_at = $7 \
                 WHERE merchant_id = $8 AND subject_kind = $1 AND subject_id = $2 AND code = $3 \
                 AND resolved_at IS NULL",
                vec![
                    item.subject.kind().into(),
                    item.subject.id().into(),
                    item.code.as_str().into(),
                    item.reason.as_str().into(),
                    item.tried.as_str().into(),
                    rows::actions_value(&item.actions).into(),
                    item.updated_at.into(),
                    self.merchant_value(),
                ],
            )
            .await?;
        Ok(if updated == 1 {
            Raised::Updated
        } else {
            Raised::IdTaken
        })
    }

    /// Commits the transaction as it is (no staged job changes to apply).
    pub(crate) async fn commit_now(self) -> Result<(), StoreError> {
        let SqlTx { exec, writer, .. } = self;
        let result = exec.commit().await;
        drop(writer);
        result
    }
}

fn version_after(version: u64) -> Result<u64, StoreError> {
    version
        .checked_add(1)
        .ok_or_else(|| StoreError::Rejected("the version counter is exhausted".into()))
}

#[async_trait]
impl Tx for SqlTx {
    async fn authorization(
        &mut self,
        id: &AuthorizationId,
    ) -> Result<Option<Authorization>, StoreError> {
        self.read_one(
            concat!(
                "SELECT ",
                authorization_columns!(),
                " FROM authorizations WHERE id = $1 AND merchant_id = $2"
            ),
            vec![id.as_str().into(), self.merchant_value()],
            rows::authorization,
        )
        .await
    }

    async fn authorization_by_auth_state(
        &mut self,
        auth_state: &AuthState,
    ) -> Result<Option<Authorization>, StoreError> {
        self.read_one(
            concat!(
                "SELECT ",
                authorization_columns!(),
                " FROM authorizations WHERE auth_state = $1 AND merchant_id = $2"
            ),
            vec![auth_state.as_str().into(), self.merchant_value()],
            rows::authorization,
        )
        .await
    }

    async fn authorization_by_access_token(
        &mut self,
        access_token: &AccessToken,
    ) -> Result<Option<Authorization>, StoreError> {
        let token = access_token.expose_secret();
        // The blind index under every configured key: rows not yet re-encrypted still match.
        let indexes = self.keys.blind_indexes(rows::ACCESS_TOKEN_INDEX, token);
        for index in &indexes {
            let found = self
                .read(
                    concat!(
                        "SELECT ",
                        authorization_columns!(),
                        " FROM authorizations WHERE access_token_index = $1 AND merchant_id = $2 \
                         ORDER BY id"
                    ),
                    vec![index.as_str().into(), self.merchant_value()],
                    rows::authorization,
                )
                .await?;
            if let Some(auth) = found.into_iter().find(|a| {
                a.token
                    .as_ref()
                    .is_some_and(|t| t.access_token.expose_secret() == token)
            }) {
                return Ok(Some(auth));
            }
        }
        // A token a refresh rotated away: only its blind index was kept.
        for index in indexes {
            let found = self
                .read_one(
                    concat!(
                        "SELECT ",
                        authorization_columns!(),
                        " FROM authorizations WHERE merchant_id = $2 AND id = \
                         (SELECT authorization_id FROM retired_access_tokens \
                          WHERE token_index = $1 AND merchant_id = $2)"
                    ),
                    vec![index.into(), self.merchant_value()],
                    rows::authorization,
                )
                .await?;
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    async fn list_authorizations(
        &mut self,
        filter: &AuthorizationFilter,
        page: &PageRequest,
    ) -> Result<Vec<Authorization>, StoreError> {
        let mut list = Listing::new(self, "authorizations", authorization_columns!());
        if let Some(customer) = &filter.customer_id {
            list.equals("customer_id", customer.as_str().into());
        }
        list.any_of("state", filter.states.iter().map(|s| s.name()).collect());
        list.read(self, page, rows::authorization).await
    }

    async fn insert_authorization(
        &mut self,
        authorization: &Authorization,
    ) -> Result<(), StoreError> {
        let values = rows::authorization_values(authorization, 0, &self.keys, &self.merchant)?;
        self.insert(
            concat!(
                "INSERT INTO authorizations (",
                authorization_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
                 $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27) ON CONFLICT DO NOTHING"
            ),
            values,
            || format!("authorization {} or its authState exists", authorization.id),
        )
        .await
    }

    async fn update_authorization(
        &mut self,
        authorization: &Authorization,
    ) -> Result<bool, StoreError> {
        let values = rows::authorization_values(
            authorization,
            version_after(authorization.version)?,
            &self.keys,
            &self.merchant,
        )?;
        self.update(
            "UPDATE authorizations SET customer_id = $2, wallet = $3, terminal_type = $4, \
             os_type = $5, return_url = $6, auth_state = $7, auth_url = $8, state = $9, \
             access_token = $10, access_expires_at = $11, refresh_token = $12, \
             refresh_expires_at = $13, pending_auth_code = $14, user_login_id = $15, \
             failure = $16, version = $17, created_at = $18, updated_at = $19, \
             key_version = $20, access_token_index = $21, qr_code = $22, tries = $23, \
             stray_token = $24, consent_expires_at = $25, secondary_merchant = $26 \
             WHERE id = $1 AND merchant_id = $27 AND version = $28",
            values,
            authorization.version,
        )
        .await
    }

    async fn retire_access_token(
        &mut self,
        authorization: &AuthorizationId,
        access_token: &AccessToken,
    ) -> Result<(), StoreError> {
        // Only the keyed blind index: the token itself is never kept once rotated away.
        let index = self
            .keys
            .blind_index(rows::ACCESS_TOKEN_INDEX, access_token.expose_secret());
        // The blind index is unique database-wide: a token another merchant's authorization
        // held is not taken over (that would be a token shared between merchants: refused).
        let kept = self
            .exec
            .execute(
                "INSERT INTO retired_access_tokens \
                 (token_index, authorization_id, key_version, merchant_id) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (token_index) DO UPDATE \
                 SET authorization_id = excluded.authorization_id \
                 WHERE retired_access_tokens.merchant_id = excluded.merchant_id",
                vec![
                    index.into(),
                    authorization.as_str().into(),
                    i64::from(self.keys.current_version()).into(),
                    self.merchant_value(),
                ],
            )
            .await?;
        if kept == 0 {
            return Err(StoreError::Conflict(format!(
                "the access token retired from authorization {authorization} was retired by \
                 another merchant's authorization"
            )));
        }
        Ok(())
    }

    async fn order(&mut self, id: &OrderId) -> Result<Option<Order>, StoreError> {
        self.read_one(
            concat!(
                "SELECT ",
                order_columns!(),
                " FROM orders WHERE id = $1 AND merchant_id = $2"
            ),
            vec![id.as_str().into(), self.merchant_value()],
            |row, _| rows::order(row),
        )
        .await
    }

    async fn list_orders(
        &mut self,
        filter: &OrderFilter,
        page: &PageRequest,
    ) -> Result<Vec<Order>, StoreError> {
        let mut list = Listing::new(self, "orders", order_columns!());
        if let Some(reference) = &filter.reference {
            list.equals("reference", reference.as_str().into());
        }
        if let Some(authorization) = &filter.authorization_id {
            list.equals("authorization_id", authorization.as_str().into());
        }
        list.any_of("state", filter.states.iter().map(|s| s.name()).collect());
        list.read(self, page, |row, _| rows::order(row)).await
    }

    async fn order_by_reference(&mut self, reference: &str) -> Result<Option<Order>, StoreError> {
        self.read_one(
            concat!(
                "SELECT ",
                order_columns!(),
                " FROM orders WHERE reference = $1 AND merchant_id = $2"
            ),
            vec![reference.into(), self.merchant_value()],
            |row, _| rows::order(row),
        )
        .await
    }

    async fn insert_order(&mut self, order: &Order) -> Result<(), StoreError> {
        self.insert(
            concat!(
                "INSERT INTO orders (",
                order_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
                 ON CONFLICT DO NOTHING"
            ),
            rows::order_values(order, 0, &self.merchant)?,
            || format!("order {} or its reference exists", order.id),
        )
        .await
    }

    async fn update_order(&mut self, order: &Order) -> Result<bool, StoreError> {
        self.update(
            "UPDATE orders SET authorization_id = $2, reference = $3, description = $4, \
             currency = $5, amount_minor = $6, state = $7, refunded_minor = $8, version = $9, \
             created_at = $10, updated_at = $11, return_url = $13 \
             WHERE id = $1 AND merchant_id = $12 AND version = $14",
            rows::order_values(order, version_after(order.version)?, &self.merchant)?,
            order.version,
        )
        .await
    }

    async fn attempt(&mut self, id: &AttemptId) -> Result<Option<PaymentAttempt>, StoreError> {
        self.read_one(
            concat!(
                "SELECT ",
                attempt_columns!(),
                " FROM payment_attempts WHERE id = $1 AND merchant_id = $2"
            ),
            vec![id.as_str().into(), self.merchant_value()],
            rows::attempt,
        )
        .await
        .inspect(|found| found.iter().for_each(|a| self.tracking.read(a)))
    }

    async fn attempt_by_payment_request_id(
        &mut self,
        id: &PaymentRequestId,
    ) -> Result<Option<PaymentAttempt>, StoreError> {
        self.read_one(
            concat!(
                "SELECT ",
                attempt_columns!(),
                " FROM payment_attempts WHERE payment_request_id = $1 AND merchant_id = $2"
            ),
            vec![id.as_str().into(), self.merchant_value()],
            rows::attempt,
        )
        .await
        .inspect(|found| found.iter().for_each(|a| self.tracking.read(a)))
    }

    async fn attempts_of_order(
        &mut self,
        order: &OrderId,
    ) -> Result<Vec<PaymentAttempt>, StoreError> {
        self.read(
            concat!(
                "SELECT ",
                attempt_columns!(),
                " FROM payment_attempts WHERE order_id = $1 AND merchant_id = $2 \
                 ORDER BY created_at, id"
            ),
            vec![order.as_str().into(), self.merchant_value()],
            rows::attempt,
        )
        .await
        .inspect(|found| found.iter().for_each(|a| self.tracking.read(a)))
    }

    async fn insert_attempt(&mut self, attempt: &PaymentAttempt) -> Result<(), StoreError> {
        let values = rows::attempt_values(attempt, 0, &self.keys, &self.merchant)?;
        self.insert(
            concat!(
                "INSERT INTO payment_attempts (",
                attempt_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
                 $16, $17, $18, $19, $20, $21, $22, $23) ON CONFLICT DO NOTHING"
            ),
            values,
            || {
                format!(
                    "attempt {} or paymentRequestId {} exists",
                    attempt.id, attempt.payment_request_id
                )
            },
        )
        .await?;
        self.tracking.inserted(attempt);
        Ok(())
    }

    async fn update_attempt(&mut self, attempt: &PaymentAttempt) -> Result<bool, StoreError> {
        let values = rows::attempt_values(
            attempt,
            version_after(attempt.version)?,
            &self.keys,
            &self.merchant,
        )?;
        let updated = self
            .update(
                "UPDATE payment_attempts SET order_id = $2, payment_request_id = $3, \
             request_body = $4, currency = $5, amount_minor = $6, state = $7, \
             payment_id = $8, result_code = $9, inquiries = $10, late_success = $11, \
             cancel_started_at = $12, expires_at = $13, version = $14, created_at = $15, \
             updated_at = $16, key_version = $17, cancel_reason = $18, \
             wallet_normal_url = $20, wallet_scheme_url = $21, wallet_applink_url = $22, \
             wallet_app_identifier = $23 \
             WHERE id = $1 AND merchant_id = $19 AND version = $24",
                values,
                attempt.version,
            )
            .await?;
        if updated {
            self.tracking.updated(attempt);
        }
        Ok(updated)
    }

    async fn refund(&mut self, id: &RefundId) -> Result<Option<Refund>, StoreError> {
        self.read_one(
            concat!(
                "SELECT ",
                refund_columns!(),
                " FROM refunds WHERE id = $1 AND merchant_id = $2"
            ),
            vec![id.as_str().into(), self.merchant_value()],
            rows::refund,
        )
        .await
    }

    async fn refund_by_refund_request_id(
        &mut self,
        id: &RefundRequestId,
    ) -> Result<Option<Refund>, StoreError> {
        self.read_one(
            concat!(
                "SELECT ",
                refund_columns!(),
                " FROM refunds WHERE refund_request_id = $1 AND merchant_id = $2"
            ),
            vec![id.as_str().into(), self.merchant_value()],
            rows::refund,
        )
        .await
    }

    async fn refunds_of_order(&mut self, order: &OrderId) -> Result<Vec<Refund>, StoreError> {
        self.read(
            concat!(
                "SELECT ",
                refund_columns!(),
                " FROM refunds WHERE order_id = $1 AND merchant_id = $2 ORDER BY created_at, id"
            ),
            vec![order.as_str().into(), self.merchant_value()],
            rows::refund,
        )
        .await
    }

    async fn insert_refund(&mut self, refund: &Refund) -> Result<(), StoreError> {
        let values = rows::refund_values(refund, 0, &self.keys, &self.merchant)?;
        self.insert(
            concat!(
                "INSERT INTO refunds (",
                refund_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
                 $16, $17, $18, $19, $20) ON CONFLICT DO NOTHING"
            ),
            values,
            || {
                format!(
                    "refund {} or refundRequestId {} exists",
                    refund.id, refund.refund_request_id
                )
            },
        )
        .await
    }

    async fn update_refund(&mut self, refund: &Refund) -> Result<bool, StoreError> {
        let values = rows::refund_values(
            refund,
            version_after(refund.version)?,
            &self.keys,
            &self.merchant,
        )?;
        self.update(
            "UPDATE refunds SET order_id = $2, refund_request_id = $3, request_body = $4, \
             currency = $5, amount_minor = $6, state = $7, alipay_refund_id = $8, \
             result_code = $9, sends = $10, first_sent_at = $11, inquiries = $12, version = $13, \
             created_at = $14, updated_at = $15, key_version = $16, origin = $17, \
             not_sent = $18, maybe_sent = $19 \
             WHERE id = $1 AND merchant_id = $20 AND version = $21",
            values,
            refund.version,
        )
        .await
    }

    async fn declaration(&mut self, id: &DeclarationId) -> Result<Option<Declaration>, StoreError> {
        self.read_one(
            concat!(
                "SELECT ",
                declaration_columns!(),
                " FROM customs_declarations WHERE id = $1 AND merchant_id = $2"
            ),
            vec![id.as_str().into(), self.merchant_value()],
            rows::declaration,
        )
        .await
    }

    async fn declaration_by_request_id(
        &mut self,
        id: &DeclarationRequestId,
    ) -> Result<Option<Declaration>, StoreError> {
        self.read_one(
            concat!(
                "SELECT ",
                declaration_columns!(),
                " FROM customs_declarations WHERE declaration_request_id = $1 AND merchant_id = $2"
            ),
            vec![id.as_str().into(), self.merchant_value()],
            rows::declaration,
        )
        .await
    }

    async fn declarations_of_order(
        &mut self,
        order: &OrderId,
    ) -> Result<Vec<Declaration>, StoreError> {
        self.read(
            concat!(
                "SELECT ",
                declaration_columns!(),
                " FROM customs_declarations WHERE order_id = $1 AND merchant_id = $2 \
                 ORDER BY created_at, id"
            ),
            vec![order.as_str().into(), self.merchant_value()],
            rows::declaration,
        )
        .await
    }

    async fn insert_declaration(&mut self, declaration: &Declaration) -> Result<(), StoreError> {
        let values = rows::declaration_values(declaration, 0, &self.keys, &self.merchant)?;
        self.insert(
            concat!(
                "INSERT INTO customs_declarations (",
                declaration_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
                 $16, $17, $18, $19, $20, $21) ON CONFLICT DO NOTHING"
            ),
            values,
            || {
                format!(
                    "customs declaration {} or declarationRequestId {} exists",
                    declaration.id, declaration.declaration_request_id
                )
            },
        )
        .await
    }

    async fn update_declaration(&mut self, declaration: &Declaration) -> Result<bool, StoreError> {
        let values = rows::declaration_values(
            declaration,
            version_after(declaration.version)?,
            &self.keys,
            &self.merchant,
        )?;
        self.update(
            "UPDATE customs_declarations SET order_id = $2, declaration_request_id = $3, \
             request_body = $4, currency = $5, amount_minor = $6, customs_code = $7, state = $8, \
             result_code = $9, result_message = $10, accepted = $11, record = $12, sends = $13, \
             inquiries = $14, last_sent_at = $15, round_started_at = $16, key_version = $17, \
             version = $18, created_at = $19, updated_at = $20 \
             WHERE id = $1 AND merchant_id = $21 AND version = $22",
            values,
            declaration.version,
        )
        .await
    }

    async fn registration(
        &mut self,
        id: &RegistrationId,
    ) -> Result<Option<Registration>, StoreError> {
        self.read_one(
            concat!(
                "SELECT ",
                registration_columns!(),
                " FROM secondary_merchant_registrations WHERE id = $1 AND merchant_id = $2"
            ),
            vec![id.as_str().into(), self.merchant_value()],
            rows::registration,
        )
        .await
    }

    async fn registration_by_request_id(
        &mut self,
        id: &RegistrationRequestId,
    ) -> Result<Option<Registration>, StoreError> {
        self.read_one(
            concat!(
                "SELECT ",
                registration_columns!(),
                " FROM secondary_merchant_registrations \
                 WHERE registration_request_id = $1 AND merchant_id = $2"
            ),
            vec![id.as_str().into(), self.merchant_value()],
            rows::registration,
        )
        .await
    }

    async fn registrations(
        &mut self,
        reference: Option<&str>,
    ) -> Result<Vec<Registration>, StoreError> {
        // Newest first by (created_at, id), ids compared byte-wise on both backends (as the lists).
        macro_rules! select {
            ($filter:literal, $id:literal) => {
                concat!(
                    "SELECT ",
                    registration_columns!(),
                    " FROM secondary_merchant_registrations WHERE merchant_id = $1",
                    $filter,
                    " ORDER BY created_at DESC, ",
                    $id,
                    " DESC"
                )
            };
        }
        let sql = match (self.backend, reference.is_some()) {
            (Backend::Sqlite, false) => select!("", "id"),
            (Backend::Sqlite, true) => select!(" AND reference_merchant_id = $2", "id"),
            (Backend::Postgres, false) => select!("", "id COLLATE \"C\""),
            (Backend::Postgres, true) => {
                select!(" AND reference_merchant_id = $2", "id COLLATE \"C\"")
            }
        };
        let mut args = vec![self.merchant_value()];
        args.extend(reference.map(Value::from));
        self.read(sql, args, rows::registration).await
    }

    async fn list_registrations(
        &mut self,
        reference: Option<&str>,
        page: &PageRequest,
    ) -> Result<Vec<Registration>, StoreError> {
        let mut list = Listing::new(
            self,
            "secondary_merchant_registrations",
            registration_columns!(),
        );
        if let Some(reference) = reference {
            list.equals("reference_merchant_id", reference.into());
        }
        list.read(self, page, rows::registration).await
    }

    async fn insert_registration(&mut self, registration: &Registration) -> Result<(), StoreError> {
        let values = rows::registration_values(registration, 0, &self.keys, &self.merchant)?;
        self.insert(
            concat!(
                "INSERT INTO secondary_merchant_registrations (",
                registration_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
                 $16, $17) ON CONFLICT DO NOTHING"
            ),
            values,
            || {
                format!(
                    "registration {} or registrationRequestId {} exists",
                    registration.id, registration.registration_request_id
                )
            },
        )
        .await
    }

    async fn update_registration(
        &mut self,
        registration: &Registration,
    ) -> Result<bool, StoreError> {
        let values = rows::registration_values(
            registration,
            version_after(registration.version)?,
            &self.keys,
            &self.merchant,
        )?;
        self.update(
            "UPDATE secondary_merchant_registrations SET reference_merchant_id = $2, \
             registration_request_id = $3, request_body = $4, state = $5, result_code = $6, \
             result_message = $7, review = $8, wallets = $9, sends = $10, inquiries = $11, \
             round_started_at = $12, key_version = $13, version = $14, created_at = $15, \
             updated_at = $16 \
             WHERE id = $1 AND merchant_id = $17 AND version = $18",
            values,
            registration.version,
        )
        .await
    }

    async fn schedule_job(&mut self, kind: JobKind, due_at: Millis) -> Result<(), StoreError> {
        self.jobs.push(JobOp::Schedule { kind, due_at });
        Ok(())
    }

    async fn job_of(&mut self, kind: &JobKind) -> Result<Option<Job>, StoreError> {
        self.read_one(
            concat!(
                "SELECT ",
                job_columns!(),
                " FROM jobs WHERE merchant_id = $3 AND kind = $1 AND subject = $2 \
                 AND dead_reason IS NULL"
            ),
            vec![
                kind.name().into(),
                kind.subject().into(),
                self.merchant_value(),
            ],
            |row, _| rows::job(row),
        )
        .await
    }

    async fn complete_job(&mut self, id: &JobId, token: &LeaseToken) -> Result<bool, StoreError> {
        self.stage_if_held(id, token, |id, token| JobOp::Complete { id, token })
            .await
    }

    async fn reschedule_job(
        &mut self,
        id: &JobId,
        token: &LeaseToken,
        due_at: Millis,
    ) -> Result<bool, StoreError> {
        self.stage_if_held(id, token, |id, token| JobOp::Reschedule {
            id,
            token,
            due_at,
        })
        .await
    }

    async fn push_event(&mut self, event: &Event) -> Result<(), StoreError> {
        self.exec
            .execute(
                "INSERT INTO events (kind, subject, detail, at, merchant_id) \
                 VALUES ($1, $2, $3, $4, $5)",
                vec![
                    event.kind.name().into(),
                    event.subject.as_str().into(),
                    event.detail.as_deref().into(),
                    event.at.into(),
                    self.merchant_value(),
                ],
            )
            .await?;
        Ok(())
    }

    async fn raise_attention(&mut self, item: &AttentionItem) -> Result<bool, StoreError> {
        match self.raise(item).await? {
            Raised::Opened => Ok(true),
            Raised::Updated => Ok(false),
            Raised::IdTaken => Err(StoreError::Conflict(format!(
                "attention item {} exists (closed, or about another subject or code)",
                item.id
            ))),
        }
    }

    async fn resolve_attention(
        &mut self,
        subject: &Subject,
        code: Option<&str>,
        resolution: &Resolution,
    ) -> Result<usize, StoreError> {
        let mut args: Vec<Value> = vec![
            subject.kind().into(),
            subject.id().into(),
            resolution.at.into(),
            resolution.reason.as_str().into(),
            self.merchant_value(),
        ];
        let closed = match code {
            None => {
                self.exec
                    .execute(
                        "UPDATE attention_items SET resolved_at = $3, resolution = $4 \
                         WHERE merchant_id = $5 AND subject_kind = $1 AND subject_id = $2 \
                         AND resolved_at IS NULL",
                        args,
                    )
                    .await?
            }
            Some(code) => {
                args.push(code.into());
                self.exec
                    .execute(
                        "UPDATE attention_items SET resolved_at = $3, resolution = $4 \
                         WHERE merchant_id = $5 AND subject_kind = $1 AND subject_id = $2 \
                         AND code = $6 AND resolved_at IS NULL",
                        args,
                    )
                    .await?
            }
        };
        Ok(usize::try_from(closed).unwrap_or(usize::MAX))
    }

    async fn attention_of(&mut self, subject: &Subject) -> Result<Vec<AttentionItem>, StoreError> {
        self.read(
            concat!(
                "SELECT ",
                attention_columns!(),
                " FROM attention_items WHERE merchant_id = $3 AND subject_kind = $1 \
                 AND subject_id = $2 AND resolved_at IS NULL ORDER BY opened_at, id"
            ),
            vec![
                subject.kind().into(),
                subject.id().into(),
                self.merchant_value(),
            ],
            |row, _| rows::attention(row),
        )
        .await
    }

    async fn attention(&mut self, id: &AttentionId) -> Result<Option<AttentionItem>, StoreError> {
        self.read_one(
            concat!(
                "SELECT ",
                attention_columns!(),
                " FROM attention_items WHERE id = $1 AND merchant_id = $2"
            ),
            vec![id.as_str().into(), self.merchant_value()],
            |row, _| rows::attention(row),
        )
        .await
    }

    async fn inbox_insert(&mut self, entry: &InboxEntry) -> Result<bool, StoreError> {
        let n = self
            .exec
            .execute(
                "INSERT INTO inbox \
                 (dedup_key, path, headers, body, received_at, key_version, merchant_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                rows::inbox_values(entry, &self.keys, &self.merchant)?,
            )
            .await?;
        Ok(n == 1)
    }

    async fn idempotency(&mut self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.read_one(
            "SELECT key, fingerprint, resource, created_at FROM idempotency_keys \
             WHERE key = $1 AND merchant_id = $2",
            vec![key.into(), self.merchant_value()],
            |row, _| rows::idempotency(row),
        )
        .await
    }

    async fn insert_idempotency(&mut self, record: &IdempotencyRecord) -> Result<bool, StoreError> {
        let n = self
            .exec
            .execute(
                "INSERT INTO idempotency_keys (key, fingerprint, resource, created_at, merchant_id) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                vec![
                    record.key.as_str().into(),
                    record.fingerprint.as_str().into(),
                    record.resource.as_str().into(),
                    record.created_at.into(),
                    self.merchant_value(),
                ],
            )
            .await?;
        Ok(n == 1)
    }

    async fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        self.apply_jobs().await?;
        let observer = self.observer.take();
        let changes = std::mem::take(&mut self.tracking.changes);
        let merchant = self.merchant.clone();
        (*self).commit_now().await?;
        if let Some(observer) = observer
            && !changes.is_empty()
        {
            observer.committed(&merchant, &changes);
        }
        Ok(())
    }
}
