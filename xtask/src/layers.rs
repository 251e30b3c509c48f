//! The layer rule, checked over `cargo metadata`: which workspace crate may depend on which, and which
//! crate alone may use a reserved third-party crate (`reqwest`, `sqlx`, `axum`, `rsa`).
//!
//! The rules live in two tables at the top of this file, [`CRATES`] and [`RESERVED`]; a new crate is
//! added there, once. `deny.toml`'s `[bans]` wrappers say the same thing for the whole graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// Where a workspace crate sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    /// A layer. Normal and build dependencies point strictly below it; dev-dependencies below or level.
    Layer(u8),
    /// Outside the layers (automation, end-to-end tests): it may depend on anything, nothing may depend on it.
    Outside,
}

/// Every workspace crate and its place (architecture.md, "Crates"). Add new crates here.
const CRATES: &[(&str, Place)] = &[
    ("ams-protocol", Place::Layer(0)),
    ("ams-signing", Place::Layer(0)),
    ("ams-client", Place::Layer(1)),
    ("ams-sandbox", Place::Layer(1)),
    ("autodebit-domain", Place::Layer(2)),
    ("autodebit-store", Place::Layer(3)),
    ("autodebit-server", Place::Layer(4)),
    ("xtask", Place::Outside),
    ("autodebit-tests", Place::Outside),
];

/// A third-party crate that only some workspace crates may depend on directly.
#[derive(Debug)]
struct Reserved {
    /// The third-party crate.
    name: &'static str,
    /// Workspace crates that may depend on it (any kind).
    users: &'static [&'static str],
    /// Workspace crates that may depend on it as a dev-dependency only.
    dev_users: &'static [&'static str],
}

/// Reserved third-party crates (architecture.md, "may use"). Keep in step with `deny.toml`'s wrappers.
const RESERVED: &[Reserved] = &[
    Reserved {
        name: "reqwest",
        users: &["ams-client", "ams-sandbox", "autodebit-server"],
        dev_users: &["autodebit-tests"],
    },
    Reserved {
        name: "sqlx",
        users: &["autodebit-store"],
        dev_users: &[],
    },
    Reserved {
        name: "axum",
        users: &["ams-sandbox", "autodebit-server"],
        dev_users: &["autodebit-tests"],
    },
    Reserved {
        name: "rsa",
        users: &["ams-signing"],
        dev_users: &[],
    },
];

fn place_of(name: &str) -> Option<Place> {
    CRATES
        .iter()
        .find(|(krate, _)| *krate == name)
        .map(|&(_, place)| place)
}

/// Runs `cargo metadata` in `root` and fails with every violation of the rules.
pub(crate) fn run(root: &Path) -> Result<usize> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(root)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .context("could not run `cargo metadata`")?;
    if !output.status.success() {
        bail!(
            "`cargo metadata` failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let metadata: Value =
        serde_json::from_slice(&output.stdout).context("`cargo metadata` printed invalid JSON")?;
    let crates = workspace_packages(&metadata)?.len();
    let violations = check(&metadata)?;
    if !violations.is_empty() {
        bail!("layer rule violated:\n  {}", violations.join("\n  "));
    }
    Ok(crates)
}

/// The workspace members of a `cargo metadata` document, by name.
fn workspace_packages(metadata: &Value) -> Result<BTreeMap<&str, &Value>> {
    let members: BTreeSet<&str> = metadata["workspace_members"]
        .as_array()
        .context("metadata has no `workspace_members` array")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let packages = metadata["packages"]
        .as_array()
        .context("metadata has no `packages` array")?;
    let mut workspace = BTreeMap::new();
    for package in packages {
        let id = package["id"].as_str().context("a package has no `id`")?;
        if members.contains(id) {
            let name = package["name"]
                .as_str()
                .context("a package has no `name`")?;
            workspace.insert(name, package);
        }
    }
    Ok(workspace)
}

/// Checks a `cargo metadata --format-version 1` document; returns the violations, sorted (empty when clean).
pub(crate) fn check(metadata: &Value) -> Result<Vec<String>> {
    let workspace = workspace_packages(metadata)?;
    let mut violations = BTreeSet::new();
    for (&name, package) in &workspace {
        let from = place_of(name);
        if from.is_none() {
            violations.insert(format!(
                "{name}: workspace crate is not in the layer table; add it to the layer table \
                 (`CRATES` in xtask/src/layers.rs)"
            ));
        }
        let dependencies = package["dependencies"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        for dependency in dependencies {
            let dep = dependency["name"]
                .as_str()
                .context("a dependency has no `name`")?;
            let kind = dependency["kind"].as_str().unwrap_or("normal");
            let internal =
                workspace.contains_key(dep) && dependency.get("path").is_some_and(Value::is_string);
            let edge = format!("{name} -> {dep} ({kind})");
            if internal {
                // An unknown crate on either end is reported once, as itself.
                let (Some(from), Some(to)) = (from, place_of(dep)) else {
                    continue;
                };
                if let Some(rule) = layer_rule(from, to, kind, dep) {
                    violations.insert(format!("{edge}: {rule}"));
                }
            } else if let Some(reserved) = RESERVED.iter().find(|r| r.name == dep) {
                let allowed = reserved.users.contains(&name)
                    || (kind == "dev" && reserved.dev_users.contains(&name));
                if !allowed {
                    let mut rule = format!("{dep} is reserved to {}", reserved.users.join(", "));
                    if !reserved.dev_users.is_empty() {
                        rule += &format!(
                            " (and dev-dependencies of {})",
                            reserved.dev_users.join(", ")
                        );
                    }
                    violations.insert(format!("{edge}: {rule}"));
                }
            }
        }
    }
    Ok(violations.into_iter().collect())
}

/// The rule an edge `from -> to` of `kind` breaks, if any.
fn layer_rule(from: Place, to: Place, kind: &str, to_name: &str) -> Option<String> {
    match (from, to) {
        (_, Place::Outside) => Some(format!(
            "nothing may depend on {to_name} (it is outside the layers)"
        )),
        (Place::Outside, Place::Layer(_)) => None,
        (Place::Layer(from), Place::Layer(to)) if kind == "dev" => (to > from)
            .then(|| format!("layer {from} may only dev-depend on layers at or below {from}")),
        (Place::Layer(from), Place::Layer(to)) => {
            (to >= from).then(|| format!("layer {from} may only depend on layers below {from}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::{CRATES, check};

    /// A dependency entry as `cargo metadata` writes it; workspace crates carry a `path`.
    fn dep(name: &str, kind: Option<&str>) -> Value {
        let internal =
            name.starts_with("ams-") || name.starts_with("autodebit-") || name == "xtask";
        let mut value = json!({
            "name": name,
            "source": if internal { Value::Null } else { json!("registry+https://github.com/rust-lang/crates.io-index") },
            "req": "*",
            "kind": kind,
            "rename": null,
            "optional": false,
            "uses_default_features": true,
            "features": [],
            "target": null,
            "registry": null,
        });
        if internal {
            value["path"] = json!(format!("/work/main/crates/{name}"));
        }
        value
    }

    /// Metadata of a workspace whose members are `(name, dependencies)`.
    fn metadata(packages: &[(&str, Vec<Value>)]) -> Value {
        let id = |name: &str| format!("path+file:///work/main/crates/{name}#0.0.0");
        json!({
            "packages": packages
                .iter()
                .map(|(name, deps)| json!({ "name": name, "version": "0.0.0", "id": id(name), "dependencies": deps }))
                .collect::<Vec<_>>(),
            "workspace_members": packages.iter().map(|(name, _)| id(name)).collect::<Vec<_>>(),
            "resolve": null,
            "workspace_root": "/work/main",
            "version": 1,
        })
    }

    /// The intended graph: every crate in the table, each using what architecture.md allows it.
    fn clean() -> Vec<(&'static str, Vec<Value>)> {
        vec![
            (
                "ams-protocol",
                vec![dep("serde", None), dep("serde_json", None)],
            ),
            (
                "ams-signing",
                vec![
                    dep("rsa", None),
                    dep("sha2", None),
                    dep("proptest", Some("dev")),
                ],
            ),
            (
                "ams-client",
                vec![
                    dep("ams-protocol", None),
                    dep("ams-signing", None),
                    dep("reqwest", None),
                ],
            ),
            (
                "ams-sandbox",
                vec![
                    dep("ams-protocol", None),
                    dep("ams-signing", None),
                    dep("axum", None),
                    dep("reqwest", None),
                ],
            ),
            (
                "autodebit-domain",
                vec![dep("ams-protocol", None), dep("ams-client", None)],
            ),
            (
                "autodebit-store",
                vec![dep("autodebit-domain", None), dep("sqlx", None)],
            ),
            (
                "autodebit-server",
                vec![
                    dep("autodebit-store", None),
                    dep("autodebit-domain", None),
                    dep("axum", None),
                    dep("reqwest", None),
                    dep("ams-sandbox", Some("dev")),
                ],
            ),
            ("xtask", vec![dep("anyhow", None), dep("serde_json", None)]),
            (
                "autodebit-tests",
                vec![
                    dep("autodebit-server", Some("dev")),
                    dep("ams-sandbox", Some("dev")),
                    dep("reqwest", Some("dev")),
                    dep("axum", Some("dev")),
                ],
            ),
        ]
    }

    /// The clean graph with `extra` added to the dependencies of `krate` (a crate added if new).
    fn with(krate: &'static str, extra: Value) -> Value {
        let mut packages = clean();
        match packages.iter_mut().find(|(name, _)| *name == krate) {
            Some((_, deps)) => deps.push(extra),
            None => packages.push((krate, vec![extra])),
        }
        metadata(&packages)
    }

    #[test]
    fn clean_graph_passes() {
        assert_eq!(check(&metadata(&clean())).unwrap(), Vec::<String>::new());
        assert_eq!(
            clean().len(),
            CRATES.len(),
            "the clean graph covers the whole table"
        );
    }

    #[test]
    fn upward_edge_fails() {
        let violations = check(&with("ams-protocol", dep("ams-client", None))).unwrap();
        assert_eq!(
            violations,
            ["ams-protocol -> ams-client (normal): layer 0 may only depend on layers below 0"]
        );
    }

    #[test]
    fn upward_dev_edge_fails() {
        let violations = check(&with(
            "autodebit-domain",
            dep("autodebit-store", Some("dev")),
        ))
        .unwrap();
        assert_eq!(
            violations,
            [
                "autodebit-domain -> autodebit-store (dev): layer 2 may only dev-depend on layers at or below 2"
            ]
        );
    }

    #[test]
    fn same_layer_normal_and_build_edges_fail() {
        let violations = check(&with("ams-client", dep("ams-sandbox", None))).unwrap();
        assert_eq!(
            violations,
            ["ams-client -> ams-sandbox (normal): layer 1 may only depend on layers below 1"]
        );
        let violations = check(&with("ams-signing", dep("ams-protocol", Some("build")))).unwrap();
        assert_eq!(
            violations,
            ["ams-signing -> ams-protocol (build): layer 0 may only depend on layers below 0"]
        );
    }

    #[test]
    fn same_layer_dev_edge_passes() {
        assert_eq!(
            check(&with("ams-client", dep("ams-sandbox", Some("dev")))).unwrap(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn reserved_crate_used_by_the_wrong_crate_fails() {
        let violations = check(&with("autodebit-domain", dep("sqlx", None))).unwrap();
        assert_eq!(
            violations,
            ["autodebit-domain -> sqlx (normal): sqlx is reserved to autodebit-store"]
        );
        // A dev-dependency is no way around it either, except for the end-to-end tests' exemption.
        let violations = check(&with("ams-protocol", dep("rsa", Some("dev")))).unwrap();
        assert_eq!(
            violations,
            ["ams-protocol -> rsa (dev): rsa is reserved to ams-signing"]
        );
        let violations = check(&with("autodebit-tests", dep("reqwest", None))).unwrap();
        assert_eq!(
            violations,
            [
                "autodebit-tests -> reqwest (normal): reqwest is reserved to ams-client, ams-sandbox, \
                 autodebit-server (and dev-dependencies of autodebit-tests)"
            ]
        );
    }

    #[test]
    fn unknown_workspace_crate_fails() {
        let violations = check(&with("autodebit-webhooks", dep("ams-protocol", None))).unwrap();
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert!(
            violations[0]
                .starts_with("autodebit-webhooks: workspace crate is not in the layer table")
        );
        assert!(violations[0].contains("add it to the layer table"));
    }

    #[test]
    fn nothing_may_depend_on_crates_outside_the_layers() {
        let violations = check(&with(
            "autodebit-server",
            dep("autodebit-tests", Some("dev")),
        ))
        .unwrap();
        assert_eq!(
            violations,
            [
                "autodebit-server -> autodebit-tests (dev): nothing may depend on autodebit-tests (it is outside the layers)"
            ]
        );
    }

    #[test]
    fn malformed_metadata_is_an_error() {
        assert!(check(&json!({ "packages": [] })).is_err());
    }

    #[test]
    fn this_workspace_passes() {
        let crates = super::run(&crate::project_root()).unwrap();
        assert!(crates >= 3, "only {crates} workspace crates found");
    }
}
