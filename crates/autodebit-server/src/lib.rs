//! The `autodebit` binary's library: the command line today; the server, its configuration and
//! its routes as the project grows (see ARCHITECTURE.md).
//!
//! The command forms under [`cli`] are a contract that scripts outside the project rely on.

pub mod cli;
