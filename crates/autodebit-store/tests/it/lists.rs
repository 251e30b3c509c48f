//! The port's lists on SQL: newest first by `(created_at, id)` with ids compared byte by byte on
//! both backends (also on a PostgreSQL database whose default collation is linguistic), paged by
//! a cursor without skipping or repeating, per merchant.

use std::process::Command;

use autodebit_domain::lifecycle::authorization::AuthorizationState;
use autodebit_domain::lifecycle::order::OrderState;
use autodebit_domain::model::{AuthorizationId, Millis};
use autodebit_domain::ports::{AuthorizationFilter, OrderFilter, PageRequest, Store};
use autodebit_store::SqlStore;

use crate::support::*;

/// Ids that sort differently byte by byte (upper case before lower case) than by a linguistic
/// collation (case ignored first), all created at the same moment, plus an older and a newer one.
const IDS: [(&str, Millis); 6] = [
    ("auth_a", T0),
    ("auth_B", T0),
    ("Auth_c", T0),
    ("auth-d", T0),
    ("old", T0 - 1),
    ("new", T0 + 1),
];

/// Newest first; at `T0`, ids descending byte by byte.
const EXPECTED: [&str; 6] = ["new", "auth_a", "auth_B", "auth-d", "Auth_c", "old"];

async fn seed(store: &SqlStore) {
    let mut tx = store.begin().await.unwrap();
    for (i, (id, at)) in IDS.iter().enumerate() {
        let mut auth = authorization(id, &format!("tok-{id}"));
        auth.created_at = *at;
        auth.customer_id = if i % 2 == 0 { "cust-even" } else { "cust-odd" }.into();
        if *id == "auth_B" {
            auth.state = AuthorizationState::Expired;
        }
        tx.insert_authorization(&auth).await.unwrap();
        let mut o = order(&format!("o-{id}"), id);
        o.created_at = *at;
        o.state = if i < 3 {
            OrderState::Succeeded
        } else {
            OrderState::Pending
        };
        tx.insert_order(&o).await.unwrap();
    }
    tx.commit().await.unwrap();
}

fn page(after: Option<&str>, limit: u32) -> PageRequest {
    PageRequest {
        after: after.map(str::to_owned),
        limit,
    }
}

async fn ids(
    store: &SqlStore,
    filter: &AuthorizationFilter,
    after: Option<&str>,
    limit: u32,
) -> Vec<String> {
    let mut tx = store.begin().await.unwrap();
    tx.list_authorizations(filter, &page(after, limit))
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.id.to_string())
        .collect()
}

/// Every list check, on one store.
async fn check_lists(store: &SqlStore, name: &str) {
    seed(store).await;
    let all = AuthorizationFilter::default();
    assert_eq!(ids(store, &all, None, 100).await, EXPECTED, "{name}");
    // Pages of two, each after the last item of the one before: every item once, in order.
    let mut walked: Vec<String> = Vec::new();
    loop {
        let next = ids(store, &all, walked.last().map(String::as_str), 2).await;
        if next.is_empty() {
            break;
        }
        assert!(next.len() <= 2, "{name}");
        walked.extend(next);
    }
    assert_eq!(walked, EXPECTED, "{name}: paged");
    assert!(
        ids(store, &all, None, 0).await.is_empty(),
        "{name}: limit 0"
    );
    // Filters, with a cursor that does not match them.
    let even = AuthorizationFilter {
        customer_id: Some("cust-even".into()),
        states: vec![],
    };
    assert_eq!(
        ids(store, &even, Some("auth_B"), 100).await,
        ["Auth_c", "old"],
        "{name}"
    );
    let active = AuthorizationFilter {
        customer_id: None,
        states: vec![AuthorizationState::Active, AuthorizationState::Active],
    };
    assert!(
        !ids(store, &active, None, 100)
            .await
            .contains(&"auth_B".to_owned()),
        "{name}"
    );
    // Orders, by authorization and by state.
    let mut tx = store.begin().await.unwrap();
    let orders = |v: Vec<autodebit_domain::model::Order>| -> Vec<String> {
        v.into_iter().map(|o| o.id.to_string()).collect()
    };
    assert_eq!(
        orders(
            tx.list_orders(&OrderFilter::default(), &page(Some("o-auth_B"), 3))
                .await
                .unwrap()
        ),
        ["o-auth-d", "o-Auth_c", "o-old"],
        "{name}"
    );
    let of_one = OrderFilter {
        authorization_id: Some(AuthorizationId::new("Auth_c")),
        ..OrderFilter::default()
    };
    assert_eq!(
        orders(tx.list_orders(&of_one, &page(None, 10)).await.unwrap()),
        ["o-Auth_c"]
    );
    let pending = OrderFilter {
        reference: None,
        authorization_id: None,
        states: vec![OrderState::Pending],
    };
    assert_eq!(
        orders(tx.list_orders(&pending, &page(None, 10)).await.unwrap()),
        ["o-new", "o-auth-d", "o-old"],
        "{name}"
    );
    drop(tx);
    // Another merchant's list is its own, and a cursor naming one of our rows means nothing there.
    let other = store.for_merchant("other").unwrap();
    assert!(ids(&other, &all, None, 100).await.is_empty(), "{name}");
    let mut tx = other.begin().await.unwrap();
    tx.insert_authorization(&authorization("zz-other", "tok-zz"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(ids(&other, &all, None, 100).await, ["zz-other"], "{name}");
    assert!(
        ids(&other, &all, Some("auth_a"), 100).await.is_empty(),
        "{name}: a cursor of another merchant's row"
    );
    assert_eq!(ids(store, &all, None, 100).await, EXPECTED, "{name}");
}

#[tokio::test]
async fn lists_are_newest_first_with_ids_byte_by_byte_and_page_without_gaps() {
    for db in backends().await {
        let name = db.name();
        check_lists(&db.store, name).await;
        db.cleanup().await;
    }
}

/// A database of its own (dropped when this drops) whose default collation is ICU's root locale,
/// where `'auth_a' < 'auth_B'`.
struct LinguisticDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl LinguisticDatabase {
    fn create(admin_url: &str) -> Option<Self> {
        let (base, query) = match admin_url.split_once('?') {
            Some((base, query)) => (base, format!("?{query}")),
            None => (admin_url, String::new()),
        };
        let (server, _) = base.rsplit_once('/')?;
        let name = format!(
            "autodebit_icu_{}",
            std::process::id() ^ u32::try_from(T0 % 1_000_000).unwrap()
        );
        let psql = |url: &str, sql: &str| {
            Command::new("psql")
                .args(["--no-psqlrc", "-q", "-At", "--dbname", url, "-c", sql])
                .output()
                .expect("psql on PATH")
        };
        psql(
            admin_url,
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        );
        let made = psql(
            admin_url,
            &format!(
                "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C.UTF-8' \
                 LOCALE_PROVIDER icu ICU_LOCALE 'und'"
            ),
        );
        if !made.status.success() {
            eprintln!(
                "no ICU database ({}): the linguistic collation check is skipped",
                String::from_utf8_lossy(&made.stderr).trim()
            );
            return None;
        }
        let db = Self {
            admin_url: admin_url.to_owned(),
            url: format!("{server}/{name}{query}"),
            name,
        };
        let order = psql(&db.url, "SELECT 'auth_a' < 'auth_B'");
        assert_eq!(
            String::from_utf8_lossy(&order.stdout).trim(),
            "t",
            "the database collates linguistically"
        );
        Some(db)
    }
}

impl Drop for LinguisticDatabase {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args(["--no-psqlrc", "-q", "--dbname", &self.admin_url, "-c"])
            .arg(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .output();
    }
}

#[tokio::test]
async fn postgres_lists_ids_byte_by_byte_whatever_the_database_collation() {
    let Some(url) = postgres_url() else {
        eprintln!("AUTODEBIT_TEST_DATABASE_URL is not set: PostgreSQL not tested");
        return;
    };
    let Some(icu) = LinguisticDatabase::create(&url) else {
        return;
    };
    let db = Db::on(Place::postgres(&icu.url)).await;
    check_lists(&db.store, "postgres (ICU und)").await;
    db.cleanup().await;
    drop(icu);
}
