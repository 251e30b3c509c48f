//! `cargo xtask ci`: the exact CI sequence, each step under a `==> step` header, stopping at the first
//! failure (fmt, clippy, layers, tidy, test, feature builds, doc, api, package, deny); and the single steps
//! `layers`, `tidy` and `deny`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::{layers, tidy};

/// Whether `ci` runs cargo-deny.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Deny {
    /// CI's full run.
    Run,
    /// `--skip-deny`, for quick local loops.
    Skip,
}

/// Runs every CI step in order; the first failure stops the run and names its step.
pub(crate) fn run(root: &Path, deny_step: Deny) -> Result<()> {
    step("fmt", || cargo(root, &["fmt", "--all", "--", "--check"]))?;
    step("clippy", || {
        cargo(
            root,
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--all-features",
                "--locked",
                "--",
                "-D",
                "warnings",
            ],
        )
    })?;
    step("layers", || layers(root))?;
    step("tidy", || tidy(root))?;
    step("test", || {
        // The store suite runs on PostgreSQL too: the local server unless told otherwise (an
        // empty value runs it on SQLite only).
        let database = std::env::var(DATABASE_ENV).unwrap_or_else(|_| LOCAL_POSTGRES.to_owned());
        if database.trim().is_empty() {
            println!("({DATABASE_ENV} is empty: the store suite runs on SQLite only)");
        } else {
            println!(
                "(the store suite runs on SQLite and on {})",
                redact(&database)
            );
        }
        let env = [(DATABASE_ENV, database.as_str())];
        if probe(root, &["nextest", "--version"]) {
            cargo_env(
                root,
                &[
                    "nextest",
                    "run",
                    "--workspace",
                    "--all-features",
                    "--locked",
                    "--no-fail-fast",
                ],
                &env,
            )?;
        } else {
            println!("(cargo-nextest is not installed: using cargo test)");
            cargo_env(
                root,
                &["test", "--workspace", "--all-features", "--locked"],
                &env,
            )?;
        }
        // nextest does not run doctests.
        cargo(
            root,
            &["test", "--workspace", "--doc", "--all-features", "--locked"],
        )
    })?;
    step("feature builds", || {
        // The libraries that work without a C compiler: the wire types and the signatures on the
        // pure-Rust backend. (Anything with TLS needs aws-lc through rustls, so the client, the
        // sandbox and the server always build it.) Then the aws-lc backend alone.
        cargo(root, &["check", "-p", "ams-protocol", "--locked"])?;
        cargo(
            root,
            &[
                "check",
                "-p",
                "ams-signing",
                "--no-default-features",
                "--features",
                "rust-crypto",
                "--locked",
            ],
        )?;
        cargo(
            root,
            &[
                "check",
                "-p",
                "ams-signing",
                "--no-default-features",
                "--features",
                "aws-lc",
                "--locked",
            ],
        )
    })?;
    step("doc", || {
        cargo_with(
            root,
            &[
                "doc",
                "--workspace",
                "--no-deps",
                "--all-features",
                "--locked",
            ],
            &[("RUSTDOCFLAGS", "-D warnings")],
        )
    })?;
    step("api", || crate::api::run(root, crate::api::Mode::Check))?;
    step("package", || {
        // The published crates package together (path dependencies become registry ones, READMEs
        // and metadata included). Not verified here: verifying rebuilds every dependency at the
        // newest versions the index offers, minutes on CI's two cores; run it without
        // `--no-verify` before a release.
        cargo(
            root,
            &[
                "package",
                "--no-verify",
                "--allow-dirty",
                "-p",
                "ams-protocol",
                "-p",
                "ams-signing",
                "-p",
                "ams-client",
            ],
        )
    })?;
    match deny_step {
        Deny::Run => step("deny", || deny(root))?,
        Deny::Skip => println!("==> deny: skipped (--skip-deny; CI runs it)"),
    }
    println!("xtask ci: all steps passed");
    Ok(())
}

/// The long runs CI leaves out: the domain's property test with `cases` random cases per
/// backend (in memory; a SQL backend runs a 32nd of them), on SQLite and PostgreSQL.
pub(crate) fn long(root: &Path, cases: u32) -> Result<()> {
    let database = std::env::var(DATABASE_ENV).unwrap_or_else(|_| LOCAL_POSTGRES.to_owned());
    let cases = cases.to_string();
    let env = [
        (DATABASE_ENV, database.as_str()),
        ("AUTODEBIT_PROPTEST_CASES", cases.as_str()),
    ];
    step("long: domain properties", || {
        cargo_env(
            root,
            &[
                "test",
                "-p",
                "autodebit-tests",
                "--release",
                "--locked",
                "--",
                "domain::properties",
            ],
            &env,
        )
    })?;
    step(
        "long: merchant API fuzzing (1000 examples per operation)",
        || {
            cargo_env(
                root,
                &[
                    "test",
                    "-p",
                    "autodebit-tests",
                    "--release",
                    "--locked",
                    "--",
                    "server::fuzz",
                ],
                &[("AUTODEBIT_FUZZ_EXAMPLES", "1000")],
            )
        },
    )?;
    println!("xtask long: all steps passed");
    Ok(())
}

/// The layer rule over `cargo metadata`.
pub(crate) fn layers(root: &Path) -> Result<()> {
    let crates = layers::run(root)?;
    println!("layers: ok ({crates} workspace crates)");
    Ok(())
}

/// The tidy checks over the source tree.
pub(crate) fn tidy(root: &Path) -> Result<()> {
    let files = tidy::run(root)?;
    println!("tidy: ok ({files} files walked)");
    Ok(())
}

/// cargo-deny: installs it if missing; bans, licences and sources always; advisories only from a
/// database already on this machine (it cannot be fetched here).
pub(crate) fn deny(root: &Path) -> Result<()> {
    if !probe(root, &["deny", "--version"]) {
        println!(
            "cargo-deny is not installed: installing it with `cargo install cargo-deny --locked`"
        );
        cargo(root, &["install", "cargo-deny", "--locked"])?;
    }
    cargo(root, &["deny", "--version"])?;
    cargo(
        root,
        &[
            "deny",
            "--all-features",
            "check",
            "bans",
            "licenses",
            "sources",
        ],
    )?;
    match advisory_db() {
        Some(db) => {
            println!("advisories: using the database under {}", db.display());
            cargo(
                root,
                &["deny", "--offline", "--all-features", "check", "advisories"],
            )
        }
        None => {
            println!("advisories: skipped (no advisory database on this machine)");
            Ok(())
        }
    }
}

/// cargo-deny's default `db-path` (deny.toml sets none): `$CARGO_HOME/advisory-dbs`, where
/// `$CARGO_HOME` defaults to `~/.cargo` (checked with cargo-deny 0.20.2, which looks for
/// `~/.cargo/advisory-dbs/advisory-db-3157b0e258782691`): since 0.18 each database is a folder in it
/// named after its URL. A database counts as present when such a folder is not empty.
fn advisory_db() -> Option<PathBuf> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))?;
    let dbs = cargo_home.join("advisory-dbs");
    let present = std::fs::read_dir(&dbs)
        .ok()?
        .filter_map(Result::ok)
        .any(|entry| std::fs::read_dir(entry.path()).is_ok_and(|mut files| files.next().is_some()));
    present.then_some(dbs)
}

/// Where the store suite finds PostgreSQL.
const DATABASE_ENV: &str = "AUTODEBIT_TEST_DATABASE_URL";
/// The server on this kind of machine (trust auth on loopback).
const LOCAL_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A database URL without its password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Runs `cargo <args>` with extra environment variables, not echoed (they may hold secrets).
fn cargo_env(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<()> {
    run_cargo(root, args, env, format!("cargo {}", args.join(" ")))
}

/// Runs one step under its header; a failure names the step.
fn step(name: &str, body: impl FnOnce() -> Result<()>) -> Result<()> {
    println!("==> {name}");
    #[allow(
        clippy::disallowed_methods,
        reason = "xtask times its own steps; it is not library code"
    )]
    let started = std::time::Instant::now();
    let result = body().with_context(|| format!("step `{name}` failed"));
    println!("<== {name}: {:.0} s", started.elapsed().as_secs_f64());
    result
}

fn command(root: &Path, args: &[&str]) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(cargo);
    command.current_dir(root).args(args);
    if std::env::var_os("CI").is_some() {
        command.env("CARGO_TERM_COLOR", "never");
        // A CI build starts from nothing: incremental state would only be written, never reused.
        command.env("CARGO_INCREMENTAL", "0");
    }
    command
}

/// Runs `cargo <args>` with inherited standard streams; fails unless it exits successfully.
fn cargo(root: &Path, args: &[&str]) -> Result<()> {
    cargo_with(root, args, &[])
}

pub(crate) fn cargo_with(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<()> {
    let shown: Vec<String> = env
        .iter()
        .map(|(key, value)| format!("{key}={value:?} "))
        .collect();
    run_cargo(
        root,
        args,
        env,
        format!("{}cargo {}", shown.concat(), args.join(" ")),
    )
}

fn run_cargo(root: &Path, args: &[&str], env: &[(&str, &str)], shown: String) -> Result<()> {
    println!("$ {shown}");
    let status = command(root, args)
        .envs(env.iter().copied())
        .status()
        .with_context(|| format!("could not start `{shown}`"))?;
    if !status.success() {
        bail!("`{shown}` failed: {status}");
    }
    Ok(())
}

/// Whether `cargo <args>` succeeds, its output hidden (to find out what is installed).
fn probe(root: &Path, args: &[&str]) -> bool {
    command(root, args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}
