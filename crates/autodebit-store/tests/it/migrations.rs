//! Migrations and connection settings, and the data migration of a database an older release
//! left behind.

use ams_protocol::AccessToken;
use autodebit_domain::lifecycle::attempt::AttemptState;
use autodebit_domain::lifecycle::refund::RefundState;
use autodebit_domain::model::{
    AttemptId, AuthorizationId, Job, JobKind, OrderId, RefundId, RefundOrigin, Subject,
};
use autodebit_domain::ports::{Store, StoreError};
use autodebit_store::{Keyring, OpenError, SqlStore, StoreOptions};

use crate::support::*;

/// The versions of every migration, in order: what a store up to date has applied.
fn every_migration() -> Vec<i64> {
    (1..=10).collect()
}

#[tokio::test]
async fn migrations_apply_once_and_settings_are_explicit() {
    for db in backends().await {
        let name = db.name();
        assert!(
            db.store.migrate().await.unwrap().is_empty(),
            "{name}: already applied on open"
        );
        let d = db.store.diagnostics().await.unwrap();
        assert_eq!(d.migrations, every_migration(), "{name}");
        match db.name() {
            "sqlite" => {
                assert_eq!(d.journal_mode.as_deref(), Some("wal"));
                assert_eq!(d.synchronous.as_deref(), Some("full"));
                assert_eq!(d.integrity.as_deref(), Some("ok"));
            }
            _ => assert!(d.server_version.is_some()),
        }
        // Opening again (another replica, a restart) changes nothing.
        let again = db.reopen(&db.keys).await;
        assert!(again.migrate().await.unwrap().is_empty());
        again.close().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn without_migrations_an_unmigrated_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("new.db").display());
    let keys = || Keyring::parse(&Keyring::generate_entry(1).unwrap()).unwrap();
    let err = SqlStore::open(StoreOptions::new(url.clone()).migrate(false), keys())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, OpenError::Migrate(m) if m.contains("autodebit migrate")),
        "{err}"
    );
    let store = SqlStore::open(StoreOptions::new(url.clone()), keys())
        .await
        .unwrap();
    store.close().await;
    SqlStore::open(StoreOptions::new(url).migrate(false), keys())
        .await
        .expect("a migrated database opens without migrating");
}

#[tokio::test]
async fn bad_urls_say_what_is_wrong() {
    let keys = || Keyring::parse(&Keyring::generate_entry(1).unwrap()).unwrap();
    let err = SqlStore::open(StoreOptions::new("mysql://x"), keys())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("must start with sqlite: or postgres:"),
        "{err}"
    );
    let err = SqlStore::open(
        StoreOptions::new("postgres://u:hunter2@127.0.0.1:5432/x").schema("no-dashes; drop"),
        keys(),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("letters, digits and underscores"),
        "{err}"
    );
    let err = SqlStore::open(StoreOptions::new("sqlite::memory:"), keys())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("name a file"), "{err}");
    let options = StoreOptions::new("postgres://u:hunter2@127.0.0.1:5432/x");
    assert!(!format!("{options:?}").contains("hunter2"));
}

/// What a database at schema 1 held: authorizations in every kind of state, orders sharing a
/// reference, attempts and refunds in states that no longer exist, and several jobs per subject
/// under the old kinds (one leased by an old worker), plus one kind nobody knows.
fn schema_1_rows(keys: &Keyring) -> String {
    let seal = |table: &str, column: &str, id: &str, plain: &str| {
        keys.seal(table, column, id, plain).unwrap()
    };
    let token = seal("authorizations", "access_token", "auth-a", "tok-old-a");
    let index = keys.blind_index("authorizations.access_token", "tok-old-a");
    let code = seal("authorizations", "pending_auth_code", "auth-x", "code-x");
    let body = |id: &str| seal("payment_attempts", "request_body", id, r#"{"pay":1}"#);
    let refund_body = |id: &str| seal("refunds", "request_body", id, r#"{"refund":1}"#);
    let auth = |id: &str, state: &str, access: &str, index: &str, code: &str| {
        format!(
            "('{id}', 'cust-1', 'ALIPAY_CN', 'WEB', NULL, 'https://m.example', 'state-{id}', NULL, \
             '{state}', {access}, {expiry}, NULL, NULL, {code}, NULL, NULL, 1, {t}, {t}, 1, {index})",
            expiry = if access == "NULL" {
                "NULL".into()
            } else {
                (T0 + 86_400_000).to_string()
            },
            t = T0,
        )
    };
    let attempt = |id: &str, state: &str, updated: i64| {
        format!(
            "('{id}', 'order-1', 'prid-{id}', '{body}', 'USD', 1000, '{state}', NULL, NULL, 2, 0, \
             NULL, {expires}, 3, {t}, {updated}, 1)",
            body = body(id),
            expires = T0 + 60_000,
            t = T0,
        )
    };
    let refund = |id: &str, state: &str, sends: i64, first: &str, updated: i64| {
        format!(
            "('{id}', 'order-1', 'rrid-{id}', '{body}', 'USD', 100, '{state}', NULL, NULL, {sends}, \
             {first}, 0, 1, {t}, {updated}, 1)",
            body = refund_body(id),
            t = T0,
        )
    };
    format!(
        "INSERT INTO authorizations (id, customer_id, wallet, terminal_type, os_type, return_url, \
           auth_state, auth_url, state, access_token, access_expires_at, refresh_token, \
           refresh_expires_at, pending_auth_code, user_login_id, failure, version, created_at, \
           updated_at, key_version, access_token_index) VALUES {a}, {x}, {r}, {w}, {d}; \
         INSERT INTO orders (id, authorization_id, reference, description, currency, amount_minor, \
           state, refunded_minor, version, created_at, updated_at) VALUES \
           ('order-1', 'auth-a', 'REF', 'plan', 'USD', 1000, 'succeeded', 0, 1, {t}, {t}), \
           ('order-2', 'auth-a', 'REF', 'plan', 'USD', 1000, 'pending', 0, 0, {t1}, {t1}); \
         INSERT INTO payment_attempts (id, order_id, payment_request_id, request_body, currency, \
           amount_minor, state, payment_id, result_code, inquiries, late_success, \
           cancel_started_at, expires_at, version, created_at, updated_at, key_version) VALUES \
           {att1}, {att2}, {att3}, {att4}; \
         INSERT INTO refunds (id, order_id, refund_request_id, request_body, currency, amount_minor, \
           state, refund_id, result_code, sends, first_sent_at, inquiries, version, created_at, \
           updated_at, key_version) VALUES {re1}, {re2}, {re3}; \
         INSERT INTO jobs (kind, subject, due_at, attempts, lease_holder, lease_until) VALUES \
           ('send_payment', 'att-3', {t50}, 7, NULL, NULL), \
           ('resolve_payment', 'att-3', {t40}, 2, 'old-worker', {t99}), \
           ('cancel_payment', 'att-3', {t60}, 0, NULL, NULL), \
           ('resolve_refund', 're-1', {t70}, 30, NULL, NULL), \
           ('refresh_token', 'auth-a', {t80}, 0, NULL, NULL), \
           ('exchange_code', 'auth-x', {t90}, 0, NULL, NULL), \
           ('revoke', 'auth-x', {t95}, 0, NULL, NULL), \
           ('mystery', 'm-1', {t}, 0, NULL, NULL);",
        a = auth(
            "auth-a",
            "active",
            &format!("'{token}'"),
            &format!("'{index}'"),
            "NULL"
        ),
        x = auth("auth-x", "exchanging", "NULL", "NULL", &format!("'{code}'")),
        r = auth("auth-r", "revoking", "NULL", "NULL", "NULL"),
        w = auth("auth-w", "awaiting_user", "NULL", "NULL", "NULL"),
        d = auth("auth-d", "revoked_by_user", "NULL", "NULL", "NULL"),
        att1 = attempt("att-1", "needs_operator", T0 + 11),
        att2 = attempt("att-2", "succeeded", T0 + 12),
        att3 = attempt("att-3", "sent", T0 + 13),
        att4 = attempt("att-4", "created", T0 + 14),
        re1 = refund("re-1", "needs_operator", 2, &(T0 + 5).to_string(), T0 + 21),
        re2 = refund("re-2", "requested", 0, "NULL", T0 + 22),
        re3 = refund("re-3", "succeeded", 1, &(T0 + 6).to_string(), T0 + 23),
        t = T0,
        t1 = T0 + 1,
        t40 = T0 + 40,
        t50 = T0 + 50,
        t60 = T0 + 60,
        t70 = T0 + 70,
        t80 = T0 + 80,
        t90 = T0 + 90,
        t95 = T0 + 95,
        t99 = T0 + 99,
    )
}

#[tokio::test]
async fn a_schema_1_database_is_carried_over_with_no_work_stranded() {
    for place in Place::all() {
        let name = place.name();
        let applied = SqlStore::migrate_database_to(place.options(), 1)
            .await
            .unwrap();
        assert_eq!(applied, vec![1], "{name}");
        let keys = Keyring::generate_entry(1).unwrap();
        place.raw_sql(&schema_1_rows(&Keyring::parse(&keys).unwrap()));
        // Opening applies schema 2 and its data migration (and schema 3).
        let db = Db::with_keys(place, keys).await;
        let store = &db.store;
        assert_eq!(
            store.diagnostics().await.unwrap().migrations,
            every_migration()
        );

        let mut tx = store.begin().await.unwrap();
        // States that no longer exist moved to the ones that carry their work on.
        let att1 = tx.attempt(&AttemptId::new("att-1")).await.unwrap().unwrap();
        assert_eq!(
            (att1.state, att1.cancel_reason),
            (AttemptState::Confirming, None),
            "{name}"
        );
        assert_eq!(
            att1.request_body.expose(),
            r#"{"pay":1}"#,
            "{name}: sealed body opens"
        );
        let re1 = tx.refund(&RefundId::new("re-1")).await.unwrap().unwrap();
        assert_eq!(
            (re1.state, re1.origin, re1.maybe_sent, re1.not_sent),
            (RefundState::Inquiring, RefundOrigin::Merchant, true, 0),
            "{name}"
        );
        let re2 = tx.refund(&RefundId::new("re-2")).await.unwrap().unwrap();
        assert_eq!(
            (re2.state, re2.maybe_sent),
            (RefundState::Requested, false),
            "{name}"
        );
        // Authorizations read with their new fields at rest values, and by token.
        let a = tx
            .authorization_by_access_token(&AccessToken::new("tok-old-a"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(a.id, AuthorizationId::new("auth-a"), "{name}");
        assert_eq!(
            (a.tries, &a.qr_code, &a.stray_token, a.consent_expires_at),
            (0, &None, &None, None)
        );
        let x = tx
            .authorization(&AuthorizationId::new("auth-x"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            x.pending_auth_code.map(|c| c.expose_secret().to_owned()),
            Some("code-x".into())
        );
        // One order per reference: the younger one was renamed, and a person is told.
        assert_eq!(
            tx.order_by_reference("REF").await.unwrap().map(|o| o.id),
            Some(OrderId::new("order-1")),
            "{name}"
        );
        assert_eq!(
            tx.order(&OrderId::new("order-2"))
                .await
                .unwrap()
                .unwrap()
                .reference,
            "REF#order-2"
        );
        let items = tx
            .attention_of(&Subject::Order(OrderId::new("order-2")))
            .await
            .unwrap();
        assert_eq!(
            items.iter().map(|i| i.code.as_str()).collect::<Vec<_>>(),
            vec!["duplicate_reference"],
            "{name}"
        );
        let mut twin = order("order-3", "auth-a");
        twin.reference = "REF".into();
        assert!(matches!(
            tx.insert_order(&twin).await,
            Err(StoreError::Conflict(_))
        ));
        // The merged job kept the earliest due, the longest lease, and attempts from zero.
        let merged = tx.job_of(&payment_job("att-3")).await.unwrap().unwrap();
        assert_eq!(
            (
                merged.due_at,
                merged.attempts,
                merged.lease.map(|l| (l.token.as_str().to_owned(), l.until))
            ),
            (T0 + 40, 0, Some(("migrated".to_owned(), T0 + 99))),
            "{name}"
        );
        drop(tx);

        // Every subject with work left has exactly one job; the unknown kind is set aside by the
        // first claim, which takes all the others.
        let all = store
            .claim_jobs(&claim("after-migration", T0 + 1_000, 60_000, 100))
            .await
            .unwrap();
        let kinds: Vec<(JobKind, i64)> = all
            .iter()
            .map(|j: &Job| (j.kind.clone(), j.due_at))
            .collect();
        let auth = |id: &str| JobKind::Authorization(AuthorizationId::new(id));
        assert_eq!(
            kinds,
            vec![
                (auth("auth-r"), T0),
                (auth("auth-w"), T0),
                (payment_job("att-1"), T0 + 11),
                (payment_job("att-4"), T0 + 14),
                (JobKind::Refund(RefundId::new("re-2")), T0 + 22),
                (payment_job("att-3"), T0 + 40),
                (JobKind::Refund(RefundId::new("re-1")), T0 + 70),
                (auth("auth-a"), T0 + 80),
                (auth("auth-x"), T0 + 90),
            ],
            "{name}"
        );
        assert!(all.iter().all(|j| j.attempts == 1), "{name}: {all:?}");
        let dead = store.dead_jobs().await.unwrap();
        assert_eq!(
            dead.iter().map(|d| d.what.as_str()).collect::<Vec<_>>(),
            vec!["mystery m-1"],
            "{name}"
        );
        db.cleanup().await;
    }
}

/// What a database at schema 2 held, one row of each business table, sealed values sealed as
/// schema 2 sealed them (bound to table, column and row only).
fn schema_2_rows(keys: &Keyring) -> String {
    let seal = |table: &str, column: &str, id: &str, plain: &str| {
        keys.seal(table, column, id, plain).unwrap()
    };
    format!(
        "INSERT INTO authorizations (id, customer_id, wallet, terminal_type, os_type, return_url, \
           auth_state, auth_url, state, access_token, access_token_index, access_expires_at, \
           refresh_token, refresh_expires_at, pending_auth_code, user_login_id, failure, \
           key_version, version, created_at, updated_at, qr_code, tries, stray_token, \
           consent_expires_at) VALUES ('auth-a', 'cust-1', 'ALIPAY_CN', 'WEB', NULL, \
           'https://m.example', 'state-a', NULL, 'active', '{token}', '{index}', {t9}, \
           '{refresh}', NULL, NULL, NULL, NULL, 1, 2, {t}, {t}, NULL, 0, NULL, NULL); \
         INSERT INTO retired_access_tokens (token_index, authorization_id, key_version) VALUES \
           ('{retired}', 'auth-a', 1); \
         INSERT INTO orders (id, authorization_id, reference, description, currency, amount_minor, \
           state, refunded_minor, version, created_at, updated_at) VALUES \
           ('order-1', 'auth-a', 'REF', 'plan', 'USD', 1000, 'succeeded', 100, 3, {t}, {t}); \
         INSERT INTO payment_attempts (id, order_id, payment_request_id, request_body, currency, \
           amount_minor, state, payment_id, result_code, inquiries, late_success, \
           cancel_started_at, expires_at, key_version, version, created_at, updated_at, \
           cancel_reason) VALUES ('att-1', 'order-1', 'prid-1', '{pay}', 'USD', 1000, \
           'succeeded', 'pid-1', NULL, 0, 0, NULL, {t9}, 1, 4, {t}, {t}, NULL); \
         INSERT INTO refunds (id, order_id, refund_request_id, request_body, currency, \
           amount_minor, state, alipay_refund_id, result_code, sends, first_sent_at, inquiries, \
           key_version, version, created_at, updated_at, origin, not_sent, maybe_sent) VALUES \
           ('re-1', 'order-1', 'rrid-1', '{refund}', 'USD', 100, 'inquiring', NULL, NULL, 1, \
           {t}, 0, 1, 1, {t}, {t}, 'merchant', 0, 1); \
         INSERT INTO jobs (kind, subject, due_at, attempts, lease_token, lease_until) VALUES \
           ('refund', 're-1', {t}, 0, NULL, NULL); \
         INSERT INTO events (kind, subject, detail, at) VALUES \
           ('payment.succeeded', 'order-1', NULL, {t}); \
         INSERT INTO attention_items (id, subject_kind, subject_id, code, reason, tried, actions, \
           opened_at, updated_at) VALUES ('atn-1', 'order', 'order-1', 'check', 'look', 'none', \
           'resolve', {t}, {t}); \
         INSERT INTO inbox (dedup_key, path, headers, body, received_at, key_version) VALUES \
           ('n-1', '/notify', '[]', '{note}', {t}, 1); \
         INSERT INTO idempotency_keys (key, fingerprint, resource, created_at) VALUES \
           ('k-1', 'fp', 'order-1', {t});",
        token = seal("authorizations", "access_token", "auth-a", "tok-a"),
        index = keys.blind_index("authorizations.access_token", "tok-a"),
        refresh = seal("authorizations", "refresh_token", "auth-a", "refresh-a"),
        retired = keys.blind_index("authorizations.access_token", "tok-a-old"),
        pay = seal("payment_attempts", "request_body", "att-1", r#"{"pay":2}"#),
        refund = seal("refunds", "request_body", "re-1", r#"{"refund":2}"#),
        note = seal("inbox", "body", "n-1", r#"{"notify":2}"#),
        t = T0,
        t9 = T0 + 9_000_000,
    )
}

#[tokio::test]
async fn a_schema_2_database_is_carried_over_to_merchant_default() {
    for place in Place::all() {
        let name = place.name();
        let applied = SqlStore::migrate_database_to(place.options(), 2)
            .await
            .unwrap();
        assert_eq!(applied, vec![1, 2], "{name}");
        let keys = Keyring::generate_entry(1).unwrap();
        place.raw_sql(&schema_2_rows(&Keyring::parse(&keys).unwrap()));
        let db = Db::with_keys(place, keys).await;
        let store = &db.store;
        assert_eq!(store.merchant(), "default");
        assert_eq!(
            store.diagnostics().await.unwrap().migrations,
            every_migration(),
            "{name}"
        );

        // Every row is the default merchant's, every sealed value opens.
        let mut tx = store.begin().await.unwrap();
        let auth = tx
            .authorization(&AuthorizationId::new("auth-a"))
            .await
            .unwrap()
            .expect("the authorization");
        assert_eq!(
            auth.token.as_ref().map(|t| (
                t.access_token.expose_secret().to_owned(),
                t.refresh_token
                    .as_ref()
                    .map(|r| r.expose_secret().to_owned())
            )),
            Some(("tok-a".to_owned(), Some("refresh-a".to_owned()))),
            "{name}"
        );
        assert_eq!(auth.version, 2);
        for token in ["tok-a", "tok-a-old"] {
            assert_eq!(
                tx.authorization_by_access_token(&AccessToken::new(token))
                    .await
                    .unwrap()
                    .map(|a| a.id),
                Some(auth.id.clone()),
                "{name}: {token}"
            );
        }
        assert!(
            tx.authorization_by_auth_state(&ams_protocol::AuthState::new("state-a"))
                .await
                .unwrap()
                .is_some()
        );
        let order = tx.order_by_reference("REF").await.unwrap().expect("order");
        assert_eq!((order.refunded, order.version), (100, 3), "{name}");
        let attempt = tx
            .attempt_by_payment_request_id(&ams_protocol::PaymentRequestId::new("prid-1"))
            .await
            .unwrap()
            .expect("attempt");
        assert_eq!(attempt.request_body.expose(), r#"{"pay":2}"#, "{name}");
        let refund = tx
            .refund_by_refund_request_id(&ams_protocol::RefundRequestId::new("rrid-1"))
            .await
            .unwrap()
            .expect("refund");
        assert_eq!(refund.request_body.expose(), r#"{"refund":2}"#);
        assert!(
            tx.job_of(&JobKind::Refund(RefundId::new("re-1")))
                .await
                .unwrap()
                .is_some(),
            "{name}"
        );
        assert_eq!(
            tx.attention_of(&Subject::Order(OrderId::new("order-1")))
                .await
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            tx.idempotency("k-1").await.unwrap().map(|k| k.resource),
            Some("order-1".to_owned())
        );
        // The list indexes serve the migrated rows too.
        assert_eq!(
            tx.list_orders(
                &autodebit_domain::ports::OrderFilter {
                    authorization_id: Some(AuthorizationId::new("auth-a")),
                    ..Default::default()
                },
                &autodebit_domain::ports::PageRequest {
                    after: None,
                    limit: 10
                },
            )
            .await
            .unwrap()
            .len(),
            1
        );
        drop(tx);
        assert_eq!(store.events_after(0, 10).await.unwrap().len(), 1, "{name}");
        assert_eq!(
            store.inbox().await.unwrap()[0].body.expose(),
            r#"{"notify":2}"#
        );
        let claimed = store.claim_jobs(&claim("w", T0, 60_000, 10)).await.unwrap();
        assert_eq!(claimed.len(), 1, "{name}");

        // Another merchant sees none of it, and may use the same names.
        let m1 = store.for_merchant("m1").unwrap();
        assert!(m1.authorizations().await.unwrap().is_empty(), "{name}");
        assert!(m1.inbox().await.unwrap().is_empty());
        let mut tx = m1.begin().await.unwrap();
        tx.insert_authorization(&authorization("auth-m1", "tok-m1"))
            .await
            .unwrap();
        let mut same = self::order("order-m1", "auth-m1");
        same.reference = "REF".into();
        tx.insert_order(&same).await.unwrap();
        assert!(
            tx.insert_idempotency(&autodebit_domain::model::IdempotencyRecord {
                key: "k-1".into(),
                fingerprint: "fp".into(),
                resource: "order-m1".into(),
                created_at: T0,
            })
            .await
            .unwrap(),
            "{name}"
        );
        tx.commit().await.unwrap();

        // The schema is whole: foreign keys and (SQLite) STRICT tables kept.
        match name {
            "sqlite" => {
                assert_eq!(db.raw_sql("PRAGMA foreign_key_check"), "", "{name}");
                assert_eq!(db.raw_sql("PRAGMA integrity_check").trim(), "ok");
                assert_eq!(
                    db.raw_sql(
                        "SELECT group_concat(name) FROM pragma_table_list \
                         WHERE schema = 'main' AND type = 'table' AND strict = 0 \
                         AND name NOT IN ('_sqlx_migrations', 'sqlite_sequence', \
                         'sqlite_schema', 'sqlite_temp_schema')"
                    )
                    .trim(),
                    "",
                    "every table STRICT"
                );
                assert_eq!(
                    db.raw_sql(
                        "SELECT (SELECT count(*) FROM pragma_foreign_key_list('orders')) || ',' || \
                         (SELECT count(*) FROM pragma_foreign_key_list('payment_attempts')) || ',' || \
                         (SELECT count(*) FROM pragma_foreign_key_list('refunds')) || ',' || \
                         (SELECT count(*) FROM pragma_foreign_key_list('customs_declarations'))"
                    )
                    .trim(),
                    "1,1,1,1"
                );
            }
            _ => assert_eq!(
                db.raw_sql(
                    "SELECT count(*) FROM information_schema.table_constraints \
                     WHERE constraint_type = 'FOREIGN KEY' AND table_schema = current_schema()"
                )
                .trim(),
                "4",
                "{name}"
            ),
        }
        db.cleanup().await;
    }
}

#[tokio::test]
async fn ready_means_reachable_and_migrated() {
    for db in backends().await {
        let name = db.name();
        db.store.ready().await.expect("a migrated store is ready");
        // A merchant's handle asks the same database.
        db.store.for_merchant("m1").unwrap().ready().await.unwrap();
        // A migration missing (an older release's database, a restore) is not ready.
        db.raw_sql("DELETE FROM _sqlx_migrations WHERE version = 3");
        let err = db.store.ready().await.unwrap_err().to_string();
        assert!(
            err.contains("lacks migrations [3]") && err.contains("autodebit migrate"),
            "{name}: {err}"
        );
        // Nor is a store whose database cannot be reached.
        db.store.close().await;
        let err = db.store.ready().await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{name}: {err}");
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_remote_postgres_without_a_verified_certificate_is_refused_before_connecting() {
    let keys = || Keyring::parse(&Keyring::generate_entry(1).unwrap()).unwrap();
    // `.invalid` never resolves: were a connection tried, this would be a connect error.
    for url in [
        "postgres://app:hunter2@db.example.invalid/autodebit",
        "postgres://app:hunter2@db.example.invalid/autodebit?sslmode=require",
        "postgresql://app:hunter2@192.0.2.7:5432/autodebit?sslmode=prefer",
    ] {
        let err = SqlStore::open(StoreOptions::new(url), keys())
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, OpenError::Tls(_)), "{url}: {text}");
        assert!(
            text.contains("sslmode=verify-full")
                && text.contains("sslrootcert=FILE")
                && text.contains("allow_unverified_tls(true)"),
            "{text}"
        );
        assert!(!text.contains("hunter2"), "{text}");
        let err = SqlStore::migrate_database(StoreOptions::new(url))
            .await
            .unwrap_err();
        assert!(matches!(err, OpenError::Tls(_)), "migrate: {err}");
    }
    // The opt-out lets it through to connecting (which then fails: nothing is there).
    let err = SqlStore::open(
        StoreOptions::new("postgres://app@db.example.invalid/x")
            .allow_unverified_tls(true)
            .busy_timeout(std::time::Duration::from_secs(1)),
        keys(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, OpenError::Connect(_)), "{err}");
}

#[tokio::test]
async fn diagnostics_report_the_ssl_mode() {
    for db in backends().await {
        let d = db.store.diagnostics().await.unwrap();
        match db.name() {
            "sqlite" => assert_eq!((d.ssl_mode, d.ssl_in_use), (None, None)),
            name => {
                let mode = d.ssl_mode.expect("a mode");
                assert!(
                    [
                        "disable",
                        "allow",
                        "prefer",
                        "require",
                        "verify-ca",
                        "verify-full"
                    ]
                    .contains(&mode.as_str()),
                    "{name}: {mode}"
                );
                assert!(d.ssl_in_use.is_some(), "{name}");
            }
        }
        db.cleanup().await;
    }
}
