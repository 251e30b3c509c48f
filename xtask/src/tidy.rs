//! Tidy checks over the source tree, run by `cargo xtask tidy` and as ordinary tests of this crate.
//!
//! TOML is read line by line on purpose (no TOML parser): the files checked are ours and simple.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

/// Folders never walked into.
const SKIPPED_DIRS: &[&str] = &["target", ".git", ".venv", "__pycache__"];
/// Extensions whose files must be free of trailing whitespace and tab indentation.
const TEXT_EXTENSIONS: &[&str] = &["rs", "toml", "md", "py", "sh"];
/// Files without such an extension that are checked all the same (relative to the root, `/`-separated).
const TEXT_FILES: &[&str] = &[".ci/run"];
/// Prefixes of internal crates, which members take through `x.workspace = true`.
const INTERNAL_PREFIXES: &[&str] = &["ams-", "autodebit-"];
/// The copy of the protocol vectors, and where it is copied from (relative to the root).
const VECTORS_COPY: &str = "testdata/ams-vectors";
const VECTORS_SOURCE: &str = "../shared/protocol/vectors";

/// One thing wrong, at a place in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// The file, relative to the workspace root.
    path: PathBuf,
    /// The 1-based line, when the failure has one.
    line: Option<usize>,
    message: String,
}

impl Failure {
    fn new(path: &Path, line: Option<usize>, message: impl Into<String>) -> Self {
        Self {
            path: path.to_path_buf(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.path.display(), self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

/// Runs every check under `root`; fails listing every failure. Returns how many files were walked.
pub(crate) fn run(root: &Path) -> Result<usize> {
    let files = walk(root)?;
    let failures = check_all(root, &files)?;
    if !failures.is_empty() {
        let list: Vec<String> = failures.iter().map(ToString::to_string).collect();
        bail!(
            "tidy found {} problem(s):\n  {}",
            failures.len(),
            list.join("\n  ")
        );
    }
    Ok(files.len())
}

fn check_all(root: &Path, files: &[PathBuf]) -> Result<Vec<Failure>> {
    let mut failures = doc_comments(root, files)?;
    failures.extend(whitespace(root, files)?);
    failures.extend(manifests(root)?);
    failures.extend(deny_reasons(root)?);
    failures.extend(vectors(root)?);
    Ok(failures)
}

/// Every file under `root`, relative to it, sorted, skipping [`SKIPPED_DIRS`] and symbolic links.
fn walk(root: &Path) -> Result<Vec<PathBuf>> {
    fn visit(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        for entry in fs::read_dir(root.join(dir))? {
            let entry = entry?;
            let kind = entry.file_type()?;
            let name = entry.file_name();
            let path = dir.join(&name);
            if kind.is_dir() {
                if !SKIPPED_DIRS.iter().any(|skipped| name == *skipped) {
                    visit(root, &path, out)?;
                }
            } else if kind.is_file() {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    visit(root, Path::new(""), &mut files)?;
    files.sort();
    Ok(files)
}

fn has_extension(path: &Path, extensions: &[&str]) -> bool {
    path.extension()
        .and_then(|ext| ext.to_str())
        .is_some_and(|ext| extensions.contains(&ext))
}

fn read(root: &Path, path: &Path) -> Result<String> {
    fs::read_to_string(root.join(path)).map_err(|err| anyhow::anyhow!("{}: {err}", path.display()))
}

/// Every `.rs` file starts with a `//!` comment.
fn doc_comments(root: &Path, files: &[PathBuf]) -> Result<Vec<Failure>> {
    let mut failures = Vec::new();
    for path in files.iter().filter(|path| has_extension(path, &["rs"])) {
        failures.extend(check_doc_comment(path, &read(root, path)?));
    }
    Ok(failures)
}

fn check_doc_comment(path: &Path, text: &str) -> Option<Failure> {
    (!text.starts_with("//!")).then(|| {
        Failure::new(
            path,
            Some(1),
            "a Rust file must start with a `//!` comment saying what it is for",
        )
    })
}

/// No trailing whitespace, no tab indentation.
fn whitespace(root: &Path, files: &[PathBuf]) -> Result<Vec<Failure>> {
    let mut failures = Vec::new();
    for path in files {
        let named = TEXT_FILES.iter().any(|file| Path::new(file) == path);
        if named || has_extension(path, TEXT_EXTENSIONS) {
            failures.extend(check_whitespace(path, &read(root, path)?));
        }
    }
    Ok(failures)
}

fn check_whitespace(path: &Path, text: &str) -> Vec<Failure> {
    let mut failures = Vec::new();
    for (index, line) in text.split('\n').enumerate() {
        if line.ends_with([' ', '\t', '\r']) {
            failures.push(Failure::new(path, Some(index + 1), "trailing whitespace"));
        }
        let indent = &line[..line.len() - line.trim_start().len()];
        if indent.contains('\t') {
            failures.push(Failure::new(path, Some(index + 1), "tab indentation"));
        }
    }
    failures
}

/// Member manifests inherit edition and lints, and take internal crates through the workspace.
fn manifests(root: &Path) -> Result<Vec<Failure>> {
    let root_manifest = Path::new("Cargo.toml");
    let mut failures = Vec::new();
    let members = member_manifests(root, &read(root, root_manifest)?)?;
    if members.is_empty() {
        failures.push(Failure::new(
            root_manifest,
            None,
            "no workspace members found",
        ));
    }
    for manifest in members {
        failures.extend(check_member_manifest(&manifest, &read(root, &manifest)?));
    }
    Ok(failures)
}

/// The members' manifests, from the root manifest's `members = [...]` (a trailing `/*` is expanded).
fn member_manifests(root: &Path, root_manifest: &str) -> Result<Vec<PathBuf>> {
    let mut manifests = Vec::new();
    let mut section = String::new();
    for line in root_manifest.lines().map(strip_comment) {
        if let Some(name) = section_name(line) {
            section = name;
        } else if section == "workspace" && key_of(line) == Some("members") {
            for member in quoted_strings(line) {
                if let Some(parent) = member.strip_suffix("/*") {
                    for entry in fs::read_dir(root.join(parent))? {
                        let dir = Path::new(parent).join(entry?.file_name());
                        if root.join(&dir).join("Cargo.toml").is_file() {
                            manifests.push(dir.join("Cargo.toml"));
                        }
                    }
                } else {
                    manifests.push(Path::new(&member).join("Cargo.toml"));
                }
            }
        }
    }
    manifests.sort();
    Ok(manifests)
}

fn check_member_manifest(path: &Path, text: &str) -> Vec<Failure> {
    let mut failures = Vec::new();
    let mut section = String::new();
    // Whether `[package]` names an edition at all, and whether `[lints]` says `workspace = true`.
    let (mut edition, mut lints) = (false, false);
    // A dependency written as its own table, `[dependencies.x]`: its name, header line, and whether it
    // said `workspace = true`.
    let mut table: Option<(String, usize, bool)> = None;
    let close_table = |table: &mut Option<(String, usize, bool)>, failures: &mut Vec<Failure>| {
        if let Some((name, line, workspace)) = table.take()
            && is_internal(&name)
            && !workspace
        {
            failures.push(Failure::new(path, Some(line), internal_message(&name)));
        }
    };
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let line = strip_comment(line);
        if let Some(name) = section_name(line) {
            close_table(&mut table, &mut failures);
            if let Some(Some(dependency)) = dependency_section(&name) {
                table = Some((dependency.to_owned(), number, false));
            }
            section = name;
            continue;
        }
        let Some(key) = key_of(line) else { continue };
        let value = value_of(line);
        match (section.as_str(), dependency_section(&section)) {
            ("package", _) if key == "edition" || key.starts_with("edition.") => {
                edition = true;
                if !is_workspace_inherited(key, value, "edition") {
                    failures.push(Failure::new(
                        path,
                        Some(number),
                        "write `edition.workspace = true`",
                    ));
                }
            }
            ("lints", _) if key == "workspace" => lints = value == "true",
            (_, Some(Some(_))) => {
                if key == "path" {
                    failures.push(Failure::new(path, Some(number), path_message()));
                }
                if key == "workspace"
                    && value == "true"
                    && let Some(table) = &mut table
                {
                    table.2 = true;
                }
            }
            (_, Some(None)) => {
                let name = key.split('.').next().unwrap_or(key).trim_matches('"');
                let fields = if let Some(field) = key
                    .strip_prefix(name)
                    .and_then(|rest| rest.strip_prefix('.'))
                {
                    vec![(field.to_owned(), value.to_owned())]
                } else if value.starts_with('{') {
                    inline_table(value)
                } else {
                    Vec::new() // `x = "1.0"`: a plain version.
                };
                let field = |wanted: &str| {
                    fields
                        .iter()
                        .find(|(key, _)| key == wanted)
                        .map(|(_, value)| value.as_str())
                };
                if field("path").is_some() {
                    failures.push(Failure::new(path, Some(number), path_message()));
                }
                let package = field("package").map(|value| value.trim_matches('"'));
                if (is_internal(name) || package.is_some_and(is_internal))
                    && field("workspace") != Some("true")
                {
                    failures.push(Failure::new(path, Some(number), internal_message(name)));
                }
            }
            _ => {}
        }
    }
    close_table(&mut table, &mut failures);
    if !edition {
        failures.push(Failure::new(
            path,
            None,
            "`[package]` must inherit `edition.workspace = true`",
        ));
    }
    if !lints {
        failures.push(Failure::new(
            path,
            None,
            "must declare `[lints] workspace = true`",
        ));
    }
    failures
}

fn is_internal(name: &str) -> bool {
    INTERNAL_PREFIXES
        .iter()
        .any(|prefix| name.starts_with(prefix))
}

fn internal_message(name: &str) -> String {
    format!("internal crate `{name}` must be declared as `{name}.workspace = true`")
}

fn path_message() -> &'static str {
    "`path` dependency in a member; declare it in the root `[workspace.dependencies]` and write `x.workspace = true`"
}

/// `edition.workspace = true` or `edition = { workspace = true }`.
fn is_workspace_inherited(key: &str, value: &str, field: &str) -> bool {
    (key == format!("{field}.workspace") && value == "true")
        || (key == field
            && inline_table(value)
                .iter()
                .any(|(key, value)| key == "workspace" && value == "true"))
}

/// For a section name: `Some(None)` for a list of dependencies (`dependencies`, `dev-dependencies`,
/// `build-dependencies`, also under `target.'cfg(..)'`), `Some(Some(x))` for one dependency's own table
/// (`[dependencies.x]`), `None` otherwise.
fn dependency_section(section: &str) -> Option<Option<&str>> {
    for kind in ["dependencies", "dev-dependencies", "build-dependencies"] {
        if section == kind
            || (section.starts_with("target.") && section.ends_with(&format!(".{kind}")))
        {
            return Some(None);
        }
        let prefix = format!("{kind}.");
        if let Some(name) = section.strip_prefix(&prefix) {
            return Some(Some(name.trim_matches('"')));
        }
        let infix = format!(".{kind}.");
        if let (true, Some(at)) = (section.starts_with("target."), section.rfind(&infix)) {
            return Some(Some(section[at + infix.len()..].trim_matches('"')));
        }
    }
    None
}

/// Everything before a `#` that is outside a string.
fn strip_comment(line: &str) -> &str {
    let mut in_string = None;
    for (at, c) in line.char_indices() {
        match (c, in_string) {
            ('"' | '\'', None) => in_string = Some(c),
            (c, Some(quote)) if c == quote => in_string = None,
            ('#', None) => return line[..at].trim_end(),
            _ => {}
        }
    }
    line.trim_end()
}

/// `[name]` or `[[name]]` → `name` (spaces around dots removed).
fn section_name(line: &str) -> Option<String> {
    let line = line.trim();
    let inner = line.strip_prefix("[[").and_then(|l| l.strip_suffix("]]"));
    let inner = inner.or_else(|| line.strip_prefix('[').and_then(|l| l.strip_suffix(']')))?;
    Some(
        inner
            .split('.')
            .map(str::trim)
            .collect::<Vec<_>>()
            .join("."),
    )
}

/// The key of a `key = value` line (a dotted key comes back whole, e.g. `serde.workspace`).
fn key_of(line: &str) -> Option<&str> {
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.\"".contains(c));
    plain.then_some(key)
}

fn value_of(line: &str) -> &str {
    line.split_once('=').map_or("", |(_, value)| value.trim())
}

/// The strings quoted with `"` on a line.
fn quoted_strings(line: &str) -> Vec<String> {
    line.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The top-level `key = value` pairs of a one-line inline table `{ a = 1, b = "x, y" }`.
fn inline_table(value: &str) -> Vec<(String, String)> {
    let Some(inner) = value
        .trim()
        .strip_prefix('{')
        .and_then(|v| v.trim_end().strip_suffix('}'))
    else {
        return Vec::new();
    };
    let mut parts = Vec::new();
    let (mut depth, mut in_string, mut start) = (0_i32, false, 0);
    for (at, c) in inner.char_indices() {
        match c {
            '"' => in_string = !in_string,
            '[' | '{' if !in_string => depth += 1,
            ']' | '}' if !in_string => depth -= 1,
            ',' if !in_string && depth == 0 => {
                parts.push(&inner[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter_map(|part| part.split_once('='))
        .map(|(key, value)| {
            (
                key.trim().trim_matches('"').to_owned(),
                value.trim().to_owned(),
            )
        })
        .collect()
}

/// Every `ignore` entry in `deny.toml`'s `[advisories]` says why.
fn deny_reasons(root: &Path) -> Result<Vec<Failure>> {
    let path = Path::new("deny.toml");
    if !root.join(path).is_file() {
        return Ok(vec![Failure::new(
            path,
            None,
            "missing (the licence, source and layer rules live there)",
        )]);
    }
    Ok(check_deny_reasons(path, &read(root, path)?))
}

fn check_deny_reasons(path: &Path, text: &str) -> Vec<Failure> {
    let mut failures = Vec::new();
    let mut section = String::new();
    // Inside `ignore = [ ... ]`: the bracket depth, and the entry being read (its first line, its text).
    let mut depth = 0_i32;
    let mut entry: Option<(usize, String)> = None;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let line = strip_comment(line);
        let mut rest = line;
        if depth == 0 {
            if let Some(name) = section_name(line) {
                section = name;
                continue;
            }
            if section != "advisories" || key_of(line) != Some("ignore") {
                continue;
            }
            rest = value_of(line);
        }
        let mut in_string = false;
        for c in rest.chars() {
            let top = depth == 1 && entry.is_none();
            match c {
                '"' => in_string = !in_string,
                '[' if !in_string => depth += 1,
                ']' if !in_string => depth -= 1,
                '{' if !in_string && top => {
                    entry = Some((number, String::new()));
                    continue;
                }
                '}' if !in_string && entry.is_some() => {
                    if let Some((line, text)) = entry.take() {
                        let reason = inline_table(&format!("{{{text}}}"))
                            .into_iter()
                            .find(|(key, _)| key == "reason")
                            .is_some_and(|(_, value)| !value.trim_matches('"').trim().is_empty());
                        if !reason {
                            failures.push(Failure::new(
                                path,
                                Some(line),
                                "advisory ignore without a `reason`",
                            ));
                        }
                    }
                    continue;
                }
                _ => {}
            }
            if let Some((_, text)) = &mut entry {
                text.push(c);
            } else if c == '"' && in_string && depth == 1 {
                failures.push(Failure::new(
                    path,
                    Some(number),
                    "advisory ignore without a `reason`: write `{ id = \"...\", reason = \"...\" }`",
                ));
            }
        }
        if let Some((_, text)) = &mut entry {
            text.push(' ');
        }
    }
    failures
}

/// `testdata/ams-vectors/` is a file-for-file copy of `../shared/protocol/vectors/`, when that exists.
fn vectors(root: &Path) -> Result<Vec<Failure>> {
    let source = root.join(VECTORS_SOURCE);
    if !source.is_dir() {
        return Ok(Vec::new());
    }
    let copy = Path::new(VECTORS_COPY);
    let mut failures = Vec::new();
    let source_files = walk(&source)?;
    let copy_files = if root.join(copy).is_dir() {
        walk(&root.join(copy))?
    } else {
        Vec::new()
    };
    for file in &source_files {
        let path = copy.join(file);
        if !copy_files.contains(file) {
            failures.push(Failure::new(
                &path,
                None,
                format!("missing: copy it from {VECTORS_SOURCE}/"),
            ));
            continue;
        }
        let (want, have) = (fs::read(source.join(file))?, fs::read(root.join(&path))?);
        if want != have {
            let line = first_differing_line(&want, &have);
            failures.push(Failure::new(
                &path,
                Some(line),
                format!("differs from {VECTORS_SOURCE}/"),
            ));
        }
    }
    for file in copy_files
        .iter()
        .filter(|file| !source_files.contains(file))
    {
        failures.push(Failure::new(
            &copy.join(file),
            None,
            format!("not in {VECTORS_SOURCE}/: remove it there or add it here"),
        ));
    }
    Ok(failures)
}

fn first_differing_line(a: &[u8], b: &[u8]) -> usize {
    let same = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    1 + a[..same].iter().filter(|&&byte| byte == b'\n').count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        crate::project_root()
    }

    fn assert_clean(failures: Result<Vec<Failure>>) {
        let failures: Vec<String> = failures.unwrap().iter().map(ToString::to_string).collect();
        assert!(failures.is_empty(), "tidy:\n  {}", failures.join("\n  "));
    }

    // The real tree: each check is its own test, so a failure names it.

    #[test]
    fn rust_files_start_with_doc_comment() {
        assert_clean(doc_comments(&root(), &walk(&root()).unwrap()));
    }

    #[test]
    fn no_trailing_whitespace_or_tabs() {
        assert_clean(whitespace(&root(), &walk(&root()).unwrap()));
    }

    #[test]
    fn member_manifests_inherit_from_the_workspace() {
        assert_clean(manifests(&root()));
    }

    #[test]
    fn deny_ignores_have_reasons() {
        assert_clean(deny_reasons(&root()));
    }

    #[test]
    fn vectors_match_their_source() {
        assert_clean(vectors(&root()));
    }

    // The checks themselves, on made-up input.

    fn messages(failures: &[Failure]) -> Vec<String> {
        failures.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn walk_skips_build_and_vcs_folders() {
        let files = walk(&root()).unwrap();
        assert!(files.contains(&PathBuf::from("xtask/src/tidy.rs")));
        assert!(
            files
                .iter()
                .all(|file| !file.starts_with("target") && !file.starts_with(".git"))
        );
    }

    #[test]
    fn doc_comment_must_come_first() {
        let path = Path::new("a.rs");
        assert_eq!(check_doc_comment(path, "//! Hi.\nfn main() {}\n"), None);
        assert_eq!(
            check_doc_comment(path, "\n//! Hi.\n").map(|f| f.line),
            Some(Some(1))
        );
        assert!(check_doc_comment(path, "// Hi.\n").is_some());
        assert!(check_doc_comment(path, "").is_some());
    }

    #[test]
    fn whitespace_failures_name_the_line() {
        let text = "ok\ntrailing \n\tindented\n  \tmixed\ncrlf\r\nin\tside is fine\n";
        assert_eq!(
            messages(&check_whitespace(Path::new("x.md"), text)),
            [
                "x.md:2: trailing whitespace",
                "x.md:3: tab indentation",
                "x.md:4: tab indentation",
                "x.md:5: trailing whitespace",
            ]
        );
    }

    const GOOD_MANIFEST: &str = r#"[package]
name = "ams-client"
edition.workspace = true

[lib]
path = "lib.rs"

[dependencies]
ams-protocol.workspace = true
ams-signing = { workspace = true, features = ["rust-crypto"] } # a comment
serde = { version = "1", features = ["derive"] }

[target.'cfg(unix)'.dev-dependencies]
autodebit-domain.workspace = true

[dependencies.autodebit-store]
workspace = true
optional = true

[lints]
workspace = true
"#;

    #[test]
    fn good_member_manifest_passes() {
        assert_eq!(
            messages(&check_member_manifest(
                Path::new("m/Cargo.toml"),
                GOOD_MANIFEST
            )),
            Vec::<String>::new()
        );
    }

    #[test]
    fn bad_member_manifest_fails_at_each_line() {
        let text = r#"[package]
name = "ams-client"
edition = "2024"

[dependencies]
ams-protocol = { path = "../ams-protocol", version = "0.0.0" }
ams-signing = "0.0.0"
local = { path = "../local" }
renamed = { package = "autodebit-domain", version = "0.0.0" }

[dev-dependencies.autodebit-store]
path = "../autodebit-store"

[lints.rust]
unsafe_code = "forbid"
"#;
        assert_eq!(
            messages(&check_member_manifest(Path::new("m/Cargo.toml"), text)),
            [
                "m/Cargo.toml:3: write `edition.workspace = true`",
                format!("m/Cargo.toml:6: {}", path_message()).as_str(),
                "m/Cargo.toml:6: internal crate `ams-protocol` must be declared as `ams-protocol.workspace = true`",
                "m/Cargo.toml:7: internal crate `ams-signing` must be declared as `ams-signing.workspace = true`",
                format!("m/Cargo.toml:8: {}", path_message()).as_str(),
                "m/Cargo.toml:9: internal crate `renamed` must be declared as `renamed.workspace = true`",
                format!("m/Cargo.toml:12: {}", path_message()).as_str(),
                "m/Cargo.toml:11: internal crate `autodebit-store` must be declared as `autodebit-store.workspace = true`",
                "m/Cargo.toml: must declare `[lints] workspace = true`",
            ]
        );
    }

    #[test]
    fn members_are_found_from_the_root_manifest() {
        let root = root();
        let manifests =
            member_manifests(&root, &read(&root, Path::new("Cargo.toml")).unwrap()).unwrap();
        assert!(
            manifests.contains(&PathBuf::from("xtask/Cargo.toml")),
            "{manifests:?}"
        );
        assert!(
            manifests.contains(&PathBuf::from("crates/ams-protocol/Cargo.toml")),
            "{manifests:?}"
        );
    }

    #[test]
    fn deny_ignores_need_a_reason() {
        let text = r#"[graph]
all-features = true

[advisories]
ignore = [
  { id = "RUSTSEC-2023-0071", reason = "explained" },
  "RUSTSEC-2020-0001",
  { id = "RUSTSEC-2020-0002" },
  { id = "RUSTSEC-2020-0003", reason = "" },
  { id = "RUSTSEC-2020-0004", reason = "a, b [c] {d}" }, "RUSTSEC-2020-0005",
]

[bans]
deny = [{ name = "openssl" }]
"#;
        assert_eq!(
            messages(&check_deny_reasons(Path::new("deny.toml"), text)),
            [
                "deny.toml:7: advisory ignore without a `reason`: write `{ id = \"...\", reason = \"...\" }`",
                "deny.toml:8: advisory ignore without a `reason`",
                "deny.toml:9: advisory ignore without a `reason`",
                "deny.toml:10: advisory ignore without a `reason`: write `{ id = \"...\", reason = \"...\" }`",
            ]
        );
        let one_line = "[advisories]\nignore = [{ id = \"A\", reason = \"why\" }, \"B\"]\n";
        assert_eq!(
            check_deny_reasons(Path::new("deny.toml"), one_line).len(),
            1
        );
    }

    #[test]
    fn differing_line_is_found() {
        assert_eq!(first_differing_line(b"a\nb\nc\n", b"a\nb\nx\n"), 3);
        assert_eq!(first_differing_line(b"a\n", b"a\nmore\n"), 2);
    }
}
