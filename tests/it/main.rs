//! End-to-end tests of the whole system, one binary with a module per feature.
//!
//! Alipay is always played by `ams-sandbox` on loopback or by the official SDK run locally; the
//! real gateway is never called.

mod domain;
mod interop;
mod python;
mod sdk_addendum;
mod sdk_sandbox;
mod sdk_script;
mod server;
