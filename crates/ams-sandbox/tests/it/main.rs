//! ams-sandbox's integration tests: one binary, a module per feature.

mod access;
mod auth;
mod cancel;
mod control;
mod customs;
mod faults;
mod gateway;
mod isv;
mod journey;
mod needs_user;
mod notifications;
mod payments;
mod refunds;
mod refusals;
mod registration;
mod support;
mod transit;
mod wallet;
