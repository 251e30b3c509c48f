//! The store suite: every test runs against SQLite (always) and PostgreSQL (when
//! `AUTODEBIT_TEST_DATABASE_URL` names a server; `cargo xtask ci` points it at 127.0.0.1:5432), each
//! on a fresh database file or schema.

mod concurrency;
mod crash;
mod encryption;
mod flows;
mod migrations;
mod port;
mod support;
