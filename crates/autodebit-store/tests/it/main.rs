//! The store suite: every test runs against SQLite (always) and PostgreSQL (when
//! `AUTODEBIT_TEST_DATABASE_URL` names a server; `cargo xtask ci` points it at 127.0.0.1:5432), each
//! on a fresh database file or schema. The domain's flows run over this store from the
//! workspace's `tests/` package; here: the port's contract and what only SQL can get wrong.

mod agent_tokens;
mod api_requests;
mod concurrency;
mod contract;
mod crash;
mod encryption;
mod jobs;
mod lists;
mod merchants;
mod migrations;
mod port;
mod support;
