//! Integration tests of the AMS client: against stub gateways on 127.0.0.1 (see `support`), and
//! against the in-process ams-sandbox (see `sandbox`).

mod config;
mod field_rules;
mod notifications;
mod outcomes;
mod retry;
mod sandbox;
mod stored_body;
mod support;
mod transport;
mod verification;
mod wire;
