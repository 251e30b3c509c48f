//! The `autodebit` binary's library: the command line ([`cli`]), the server `autodebit serve`
//! ([`serve`]) with its configuration ([`config`]), what it builds from it ([`runtime`]), its
//! routes ([`http`]) and its workers ([`workers`]). The binary is thin: all behaviour is in the
//! libraries below; this crate translates HTTP, files and the command line to their calls.
//!
//! The command forms under [`cli`] and the merchant API under `/v1` are contracts that programs
//! outside the project rely on.

pub mod agent_tokens;
pub mod cli;
pub mod config;
pub mod console;
pub mod delivery;
pub mod http;
pub mod metered;
pub mod runtime;
pub mod serve;
pub mod webhooks;
pub mod workers;
