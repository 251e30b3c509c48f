//! Project automation, run as `cargo xtask <command>` (an alias in `.cargo/config.toml`).
//!
//! - `ci`: exactly what CI runs (`.ci/run` calls it), in order, stopping at the first failure;
//!   `--skip-deny` leaves out cargo-deny for quick local loops.
//! - `long [CASES]`: the long runs CI leaves out (the domain's property test, 4096 cases by default;
//!   the merchant API fuzzed with 1000 examples per operation).
//! - `layers`: the layer rule over `cargo metadata` (see `layers.rs`).
//! - `tidy`: checks over the source tree (see `tidy.rs`); also run as ordinary tests of this crate.
//! - `deny`: cargo-deny's bans, licences and sources, and advisories where a database is present.
//! - `api [--bless]`: the published crates' public API against the committed lists (see `api.rs`).
#![allow(
    clippy::print_stdout,
    reason = "a command-line tool: printing is how it reports"
)]

mod api;
mod ci;
mod layers;
mod tidy;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  ci [--skip-deny]  run exactly what CI runs, in order, stopping at the first failure
  long [CASES]      the long runs CI leaves out: the domain's property test with CASES random
                    cases (default 4096) on every store backend, and the merchant API
                    fuzzed with 1000 examples per operation
  layers            check the layer rule over `cargo metadata`
  tidy              check the source tree (doc comments, whitespace, manifests, deny.toml, vectors)
  deny              run cargo-deny (bans, licenses, sources; advisories when a database is present)
  api [--bless]     check the public API of ams-protocol, ams-signing and ams-client against
                    crates/*/public-api.txt (--bless writes them, for a change that is meant)
  help              print this";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<()> {
    let root = project_root();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["ci"] => ci::run(&root, ci::Deny::Run),
        ["ci", "--skip-deny"] => ci::run(&root, ci::Deny::Skip),
        ["long"] => ci::long(&root, 4096),
        ["long", cases] => ci::long(
            &root,
            cases
                .parse()
                .map_err(|_| anyhow::anyhow!("CASES must be a positive number, not {cases:?}"))?,
        ),
        ["layers"] => ci::layers(&root),
        ["tidy"] => ci::tidy(&root),
        ["deny"] => ci::deny(&root),
        ["api"] => api::run(&root, api::Mode::Check),
        ["api", "--bless"] => api::run(&root, api::Mode::Bless),
        ["help" | "--help" | "-h"] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => bail!("unknown arguments {args:?}\n\n{USAGE}"),
    }
}

/// The workspace root: the folder above this crate's.
fn project_root() -> PathBuf {
    let manifest_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .expect("xtask sits one level below the workspace root")
        .to_path_buf()
}
