//! ams-sandbox's integration tests: one binary, a module per feature.

mod journey;
mod support;
