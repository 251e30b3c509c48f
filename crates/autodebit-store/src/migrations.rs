//! The schema, one numbered migration list per backend, embedded in the binary. A migration is
//! never edited once released: sqlx records each one's checksum and refuses a database whose
//! applied migrations differ from these.

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

use crate::Backend;

/// (version, description, SQLite text, PostgreSQL text).
const MIGRATIONS: &[(i64, &str, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../migrations/sqlite/0001_init.sql"),
        include_str!("../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "one job per subject",
        include_str!("../migrations/sqlite/0002_one_job_per_subject.sql"),
        include_str!("../migrations/postgres/0002_one_job_per_subject.sql"),
    ),
    (
        3,
        "merchants",
        include_str!("../migrations/sqlite/0003_merchants.sql"),
        include_str!("../migrations/postgres/0003_merchants.sql"),
    ),
    (
        4,
        "webhooks",
        include_str!("../migrations/sqlite/0004_webhooks.sql"),
        include_str!("../migrations/postgres/0004_webhooks.sql"),
    ),
    (
        5,
        "webhook endpoints",
        include_str!("../migrations/sqlite/0005_webhook_endpoints.sql"),
        include_str!("../migrations/postgres/0005_webhook_endpoints.sql"),
    ),
    (
        6,
        "customs declarations",
        include_str!("../migrations/sqlite/0006_customs_declarations.sql"),
        include_str!("../migrations/postgres/0006_customs_declarations.sql"),
    ),
    (
        7,
        "agent tokens",
        include_str!("../migrations/sqlite/0007_agent_tokens.sql"),
        include_str!("../migrations/postgres/0007_agent_tokens.sql"),
    ),
    (
        8,
        "secondary merchant",
        include_str!("../migrations/sqlite/0008_secondary_merchant.sql"),
        include_str!("../migrations/postgres/0008_secondary_merchant.sql"),
    ),
    (
        9,
        "secondary merchant registrations",
        include_str!("../migrations/sqlite/0009_secondary_merchant_registrations.sql"),
        include_str!("../migrations/postgres/0009_secondary_merchant_registrations.sql"),
    ),
    (
        10,
        "wallet action",
        include_str!("../migrations/sqlite/0010_wallet_action.sql"),
        include_str!("../migrations/postgres/0010_wallet_action.sql"),
    ),
];

/// The migrator for `backend`.
pub(crate) fn migrator(backend: Backend) -> Migrator {
    let migrations = MIGRATIONS
        .iter()
        .map(|&(version, description, sqlite, postgres)| {
            let sql = match backend {
                Backend::Sqlite => sqlite,
                Backend::Postgres => postgres,
            };
            Migration::new(
                version,
                Cow::Borrowed(description),
                MigrationType::Simple,
                sql.into_sql_str(),
                false,
            )
        })
        .collect();
    Migrator::with_migrations(migrations)
}

/// Every migration version this build knows, in order.
pub(crate) fn versions(_backend: Backend) -> Vec<i64> {
    MIGRATIONS.iter().map(|m| m.0).collect()
}
