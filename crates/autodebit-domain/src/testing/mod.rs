//! Test doubles for the ports (feature `test-util`), one per file:
//!
//! - [`InMemoryStore`] (`store.rs`): behaves like the real store (units of work committed
//!   atomically, compare-and-set on versions, unique ids, request ids, references and keys, one
//!   leased job per subject, attention items);
//! - [`ManualClock`] (`clock.rs`);
//! - [`ScriptedGateway`] (`gateway.rs`) answering from queues of [`replies`] and recording every
//!   call;
//! - [`UncheckedVerifier`] (`verifier.rs`) for tests whose subject is not the signature;
//! - [`contract`]: the store port's contract as checks any store runs (the in-memory store in this
//!   crate's tests, SQLite and PostgreSQL in the store crate's);
//! - [`seed`]: records a test starts from.
//!
//! With them the flows run in unit tests, with no network and no database.

mod clock;
pub mod contract;
mod gateway;
pub mod replies;
pub mod seed;
mod store;
mod verifier;

use std::sync::{Mutex, MutexGuard, PoisonError};

pub use clock::ManualClock;
pub use gateway::{GatewayCall, ScriptedGateway};
pub use store::InMemoryStore;
pub use verifier::{UncheckedVerifier, raw};

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
