//! Integration tests of `ams-protocol`, in one binary: SDK vectors, digest fixtures, behaviour.

mod addendum;
mod behaviour;
mod core_rules;
mod digest_fixtures;
mod support;
mod vectors;
