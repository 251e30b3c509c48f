//! The domain's store contract (`autodebit_domain::testing::contract::run_all`, the checks the
//! in-memory store passes) on each backend, every check on a fresh database.

use std::sync::{Arc, Mutex, PoisonError};

use autodebit_domain::ports::Store;
use autodebit_domain::testing::contract::run_all;

use crate::support::*;

/// Runs the contract on fresh databases from `place`, then closes them (a PostgreSQL schema is
/// dropped with its [`Db`], also when a check panics).
async fn contract_on(place: impl Fn() -> Place + Clone + Send + 'static) {
    let made: Arc<Mutex<Vec<Db>>> = Arc::default();
    let kept = made.clone();
    run_all(move || {
        let kept = kept.clone();
        let place = place.clone();
        async move {
            let db = Db::on(place()).await;
            let store: Arc<dyn Store> = Arc::new(db.store.clone());
            kept.lock().unwrap_or_else(PoisonError::into_inner).push(db);
            store
        }
    })
    .await;
    let dbs: Vec<Db> = std::mem::take(&mut *made.lock().unwrap_or_else(PoisonError::into_inner));
    assert!(!dbs.is_empty(), "the checks asked for fresh databases");
    for db in dbs {
        db.cleanup().await;
    }
}

#[tokio::test]
async fn the_domain_store_contract_holds_on_sqlite() {
    contract_on(Place::sqlite).await;
}

#[tokio::test]
async fn the_domain_store_contract_holds_on_postgres() {
    let Some(url) = postgres_url() else {
        eprintln!("AUTODEBIT_TEST_DATABASE_URL is not set: PostgreSQL not tested");
        return;
    };
    contract_on(move || Place::postgres(&url)).await;
}
