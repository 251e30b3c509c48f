//! The store port's contract ([`autodebit_domain::testing::contract`]) on the in-memory store, the
//! reference every other store matches.

use std::sync::Arc;

use autodebit_domain::ports::Store;
use autodebit_domain::testing::{InMemoryStore, contract};

#[tokio::test]
async fn the_in_memory_store_keeps_the_contract() {
    contract::run_all(|| async { Arc::new(InMemoryStore::new()) as Arc<dyn Store> }).await;
}
