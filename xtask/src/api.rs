//! `cargo xtask api [--bless]`: the public API of the crates other teams take alone
//! (`ams-protocol`, `ams-signing`, `ams-client`), one item per line as rustdoc's JSON describes it
//! (read by the `public-api` crate, as `cargo public-api` does), compared with the committed
//! `crates/<name>/public-api.txt`. A difference fails the check and is shown line by line: an
//! item removed or changed is a breaking change for whoever depends on the crate, so it must be
//! meant, with the version bumped accordingly, and the list written again with `--bless`.
//!
//! rustdoc's JSON output is unstable: the stable toolchain makes it with `RUSTC_BOOTSTRAP=1`, as
//! cargo-semver-checks and cargo-public-api do, and `public-api` is pinned to the JSON format of
//! this toolchain (57, Rust 1.95). A toolchain with another format is refused with rustdoc's
//! message; moving to it means moving the pin in `xtask/Cargo.toml`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The crates published for others, checked.
pub(crate) const CRATES: [&str; 3] = ["ams-protocol", "ams-signing", "ams-client"];

/// Whether `api` writes the lists or checks them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Compare with the committed lists.
    Check,
    /// Write the lists (the change is meant).
    Bless,
}

/// Lists each crate's public API and checks (or writes) it.
pub(crate) fn run(root: &Path, mode: Mode) -> Result<()> {
    rustdoc_json(root)?;
    let mut changed = Vec::new();
    for krate in CRATES {
        let listed = list(root, krate)?;
        let file = root.join("crates").join(krate).join("public-api.txt");
        match mode {
            Mode::Bless => {
                std::fs::write(&file, &listed)
                    .with_context(|| format!("write {}", file.display()))?;
                println!("api: wrote {}", file.display());
            }
            Mode::Check => {
                let committed = std::fs::read_to_string(&file).unwrap_or_default();
                let diff = difference(&committed, &listed);
                if diff.is_empty() {
                    println!("api: {krate} unchanged ({} items)", listed.lines().count());
                } else {
                    println!("api: {krate}'s public API differs from {}:", file.display());
                    for line in &diff {
                        println!("  {line}");
                    }
                    changed.push(krate);
                }
            }
        }
    }
    if !changed.is_empty() {
        bail!(
            "the public API of {} changed: a removed or changed item breaks whoever depends on it; \
             if that is meant, bump the version as semver says and run `cargo xtask api --bless`",
            changed.join(", ")
        );
    }
    Ok(())
}

/// rustdoc's JSON of the three crates, in one build (their dependencies' features unified, as a
/// program using them all would have them), in a target directory of its own: `RUSTC_BOOTSTRAP`
/// changes what some build scripts detect (proc-macro2's), and sharing the main one would rebuild
/// every proc macro after each switch.
fn rustdoc_json(root: &Path) -> Result<()> {
    let mut args = vec!["doc", "--no-deps", "--locked"];
    for krate in CRATES {
        args.extend(["-p", krate]);
    }
    super::ci::cargo_with(
        root,
        &args,
        &[
            ("RUSTC_BOOTSTRAP", "1"),
            ("RUSTDOCFLAGS", "-Z unstable-options --output-format json"),
            ("CARGO_TARGET_DIR", &target_dir(root).to_string_lossy()),
        ],
    )
}

/// The public API of `krate` from its rustdoc JSON, one item per line, sorted.
fn list(root: &Path, krate: &str) -> Result<String> {
    let json = target_dir(root)
        .join("doc")
        .join(format!("{}.json", krate.replace('-', "_")));
    let api = public_api::Builder::from_rustdoc_json(&json)
        .omit_blanket_impls(true)
        .build()
        .with_context(|| format!("read the public API of {krate} from {}", json.display()))?;
    Ok(api.to_string())
}

/// Where the JSON is built: `api/` in cargo's target directory.
fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), PathBuf::from)
        .join("api")
}

/// The lines only one side has: `- item` (committed, gone) and `+ item` (new), sorted.
pub(crate) fn difference(committed: &str, listed: &str) -> Vec<String> {
    let before: BTreeSet<&str> = committed.lines().collect();
    let after: BTreeSet<&str> = listed.lines().collect();
    let mut out: Vec<String> = before
        .difference(&after)
        .map(|line| format!("- {line}"))
        .collect();
    out.extend(after.difference(&before).map(|line| format!("+ {line}")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_removed_or_added_item_is_shown_and_the_same_list_is_not() {
        let before = "pub fn a::f()\npub struct a::S\n";
        assert!(difference(before, before).is_empty());
        assert_eq!(
            difference(before, "pub fn a::f(x: u8)\npub struct a::S\n"),
            ["- pub fn a::f()", "+ pub fn a::f(x: u8)"]
        );
    }
}
