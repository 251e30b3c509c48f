//! The layer rule, checked over `cargo metadata`: which workspace crate may depend on which, and which
//! crate alone may use a reserved third-party crate (`reqwest`, `sqlx`, `axum`, `rsa`).
//!
//! The rules live in three tables at the top of this file, [`CRATES`], [`RESERVED`] and [`PURE`]; a
//! new crate is added there, once. `deny.toml`'s `[bans]` wrappers say the same thing for the whole
//! graph. [`PURE`] is checked over the whole resolved graph, not only direct edges: a crate listed
//! there must not reach the named crates through any chain of normal or build dependencies.

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
    ("autodebit-alipay", Place::Layer(3)),
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

/// Crates whose whole normal/build dependency tree must hold none of the named crates: the domain
/// is a pure core (no transport, runtime, database or TLS), whatever its dependencies pull in.
const PURE: &[(&str, &[&str])] = &[(
    "autodebit-domain",
    &[
        "ams-client",
        "ams-sandbox",
        "reqwest",
        "hyper",
        "tokio",
        "axum",
        "sqlx",
        "rustls",
        "aws-lc-sys",
    ],
)];

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
    let mut violations = check(&metadata)?;
    let output = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(root)
        .args(["metadata", "--format-version", "1", "--locked"])
        .output()
        .context("could not run `cargo metadata` for the resolved graph")?;
    if !output.status.success() {
        bail!(
            "`cargo metadata --locked` failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let resolved: Value =
        serde_json::from_slice(&output.stdout).context("`cargo metadata` printed invalid JSON")?;
    violations.extend(check_pure(&resolved)?);
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

/// Checks the [`PURE`] rule over a resolved `cargo metadata` document (with dependencies): for each
/// listed crate, the chain to every forbidden crate it reaches through normal or build dependencies.
pub(crate) fn check_pure(metadata: &Value) -> Result<Vec<String>> {
    let packages = metadata["packages"]
        .as_array()
        .context("metadata has no `packages` array")?;
    let name_of: BTreeMap<&str, &str> = packages
        .iter()
        .filter_map(|p| Some((p["id"].as_str()?, p["name"].as_str()?)))
        .collect();
    let nodes = metadata["resolve"]["nodes"]
        .as_array()
        .context("metadata has no resolved graph (`resolve.nodes`)")?;
    // Normal and build edges only: dev-dependencies do not reach a crate's users.
    let mut edges: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for node in nodes {
        let id = node["id"].as_str().context("a node has no `id`")?;
        let deps = node["deps"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        for dep in deps {
            let kinds = dep["dep_kinds"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            let shipped = kinds
                .iter()
                .any(|k| matches!(k["kind"].as_str(), None | Some("build")));
            if shipped && let Some(to) = dep["pkg"].as_str() {
                edges.entry(id).or_default().push(to);
            }
        }
    }
    let mut violations = Vec::new();
    for (krate, forbidden) in PURE {
        let Some(start) = name_of
            .iter()
            .find(|(_, name)| *name == krate)
            .map(|(id, _)| *id)
        else {
            continue;
        };
        // Breadth first, remembering how each crate was reached, to name the chain.
        let mut parent: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        let mut seen = BTreeSet::from([start]);
        while let Some(id) = queue.pop_front() {
            for &next in edges.get(id).map(Vec::as_slice).unwrap_or_default() {
                if seen.insert(next) {
                    parent.insert(next, id);
                    queue.push_back(next);
                }
            }
        }
        for id in &seen {
            let name = name_of.get(id).copied().unwrap_or(id);
            if forbidden.contains(&name) {
                let mut chain = vec![name];
                let mut at = *id;
                while let Some(&up) = parent.get(at) {
                    chain.push(name_of.get(up).copied().unwrap_or(up));
                    at = up;
                }
                chain.reverse();
                violations.push(format!(
                    "{krate} reaches {name} ({}): {krate} must stay free of {}",
                    chain.join(" -> "),
                    forbidden.join(", ")
                ));
            }
        }
    }
    violations.sort();
    Ok(violations)
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
            ("autodebit-domain", vec![dep("ams-protocol", None)]),
            (
                "autodebit-store",
                vec![dep("autodebit-domain", None), dep("sqlx", None)],
            ),
            (
                "autodebit-alipay",
                vec![dep("autodebit-domain", None), dep("ams-client", None)],
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

    /// One crate of a resolved graph and its dependencies `(name, kind)`, kind `None` for normal.
    type Node<'a> = (&'a str, &'a [(&'a str, Option<&'a str>)]);

    /// A resolved graph.
    fn resolved(nodes: &[Node<'_>]) -> Value {
        let id = |name: &str| format!("{name} 0.0.0");
        json!({
            "packages": nodes.iter().map(|(name, _)| json!({ "name": name, "id": id(name) })).collect::<Vec<_>>(),
            "resolve": { "nodes": nodes.iter().map(|(name, deps)| json!({
                "id": id(name),
                "deps": deps.iter().map(|(dep, kind)| json!({
                    "pkg": id(dep),
                    "dep_kinds": [{ "kind": kind, "target": null }],
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>() },
        })
    }

    #[test]
    fn the_pure_core_is_checked_through_its_whole_tree() {
        let clean = resolved(&[
            (
                "autodebit-domain",
                &[
                    ("ams-protocol", None),
                    ("proptest", Some("dev")),
                    ("tokio", Some("dev")),
                ],
            ),
            ("ams-protocol", &[("serde", None)]),
            ("serde", &[]),
            ("proptest", &[]),
            ("tokio", &[]),
        ]);
        assert_eq!(super::check_pure(&clean).unwrap(), Vec::<String>::new());
        let planted = resolved(&[
            (
                "autodebit-domain",
                &[("ams-protocol", None), ("helper", None)],
            ),
            ("ams-protocol", &[("serde", None)]),
            ("helper", &[("ams-client", Some("build"))]),
            ("ams-client", &[("reqwest", None)]),
            ("reqwest", &[("tokio", None)]),
            ("serde", &[]),
            ("tokio", &[]),
        ]);
        let violations = super::check_pure(&planted).unwrap();
        assert_eq!(violations.len(), 3, "{violations:?}");
        assert!(
            violations.iter().any(|v| v.starts_with(
                "autodebit-domain reaches tokio (autodebit-domain -> helper -> ams-client -> reqwest -> tokio)"
            )),
            "{violations:?}"
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
