//! The README's first run, as a newcomer does it: `autodebit serve` with no configuration (sandbox
//! mode) in an empty folder, then every line of the README's walkthrough, run by bash against it;
//! then SIGTERM, and the server stops cleanly. The README's set-up block names exactly the two
//! commands this and CI run. And with trace logging as JSON, no log line carries the API key, an
//! auth code, an `authState` or a token.

mod support;

use std::process::Command;
use std::time::Duration;

use support::{Serve, serve};

const README: &str = include_str!("../../../README.md");

fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("{start} in the README"))
        + start.len();
    let to = from
        + text[from..]
            .find(end)
            .unwrap_or_else(|| panic!("{end} in the README"));
    &text[from..to]
}

/// The walkthrough's shell code (the fenced block between the markers).
fn walkthrough() -> String {
    let block = between(
        README,
        "<!-- walkthrough:start -->",
        "<!-- walkthrough:end -->",
    );
    between(block, "```bash\n", "```").to_owned()
}

#[test]
fn the_set_up_block_has_exactly_the_two_commands() {
    let set_up = between(README, "## Set up", "\n## ");
    let block = between(set_up, "```sh\n", "```");
    let commands: Vec<&str> = block
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(
        commands,
        ["cargo run --bin autodebit -- serve", "cargo xtask ci"]
    );
}

/// Runs the README's walkthrough against `url` with `key`; returns its output lines.
fn walk(url: &str, key: &str, cwd: &std::path::Path) -> Vec<String> {
    let run = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &walkthrough()])
        .env("AUTODEBIT", url)
        .env("KEY", key)
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("all_proxy")
        .env_remove("ALL_PROXY")
        .current_dir(cwd)
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "the walkthrough failed:\n{stdout}\n{stderr}"
    );
    stdout.lines().map(str::to_owned).collect()
}

/// Sends SIGTERM and checks the server stops cleanly; returns what it logged meanwhile.
fn stop(mut server: Serve) -> Vec<String> {
    let pid = server.child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = server.child.wait().expect("the server exits");
    assert!(status.success(), "{status:?}");
    let mut tail = Vec::new();
    while let Ok(line) = server.lines.recv_timeout(Duration::from_secs(5)) {
        tail.push(line);
    }
    tail
}

#[test]
fn a_newcomer_binds_the_demo_wallet_and_charges_it_with_curl() {
    let server = serve(&[], &[]);
    assert!(server.banner.contains("SANDBOX MODE"), "{}", server.banner);
    let key = server
        .banner
        .lines()
        .find_map(|l| l.trim().strip_prefix("API key"))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the generated API key is printed")
        .to_owned();
    assert!(key.starts_with("sk_sandbox_"), "{}", server.banner);
    assert!(
        server.dir.path().join("autodebit.db").exists(),
        "SQLite in ./autodebit.db"
    );

    let lines = walk(&server.url, &key, server.dir.path());
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with(&format!("{}/healthz?authorization_id=auth_", server.url))
            && lines[0].ends_with("&status=active"),
        "the user came back bound: {lines:?}"
    );
    let last: Vec<&str> = lines[1].split(' ').collect();
    assert!(last[0].starts_with("pay_"), "{lines:?}");
    assert_eq!(&last[1..], ["succeeded", "250"], "{lines:?}");

    // SIGTERM: the server stops taking requests and exits cleanly.
    let tail = stop(server);
    assert!(
        tail.iter().any(|l| l == "autodebit serve: stopped"),
        "{tail:#?}"
    );
}

/// The values in the sandbox's notifications that are secrets: auth codes, `authState`s, tokens.
fn secrets_sent_by_the_sandbox(url: &str, key: &str) -> Vec<String> {
    let curl = |args: &[&str]| {
        let out = Command::new("curl")
            .args(["-sf"])
            .args(args)
            .output()
            .expect("curl");
        assert!(out.status.success(), "curl {args:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let sandbox: serde_json::Value = serde_json::from_str(&curl(&[
        &format!("{url}/v1/sandbox"),
        "-H",
        &format!("Authorization: Bearer {key}"),
    ]))
    .expect("json");
    let sandbox_url = sandbox["sandbox_url"].as_str().expect("sandbox_url");
    let notifications = curl(&[&format!("{sandbox_url}/sandbox/notifications")]);
    let mut out = Vec::new();
    for field in ["authCode", "authState", "accessToken", "refreshToken"] {
        let pattern = format!("\\\"{field}\\\":\\\"");
        for part in notifications.split(&pattern).skip(1) {
            if let Some(value) = part.split('\\').next().filter(|v| v.len() >= 8) {
                out.push(value.to_owned());
            }
        }
    }
    out
}

#[test]
fn logs_carry_no_secret_even_at_trace_level() {
    let key = "sk_test_log_secrecy_0123456789";
    let server = serve(
        &["--log-format", "json"],
        &[("AUTODEBIT_DEV_API_KEY", key), ("RUST_LOG", "trace")],
    );
    assert!(
        !server.banner.contains(key),
        "a key from the environment is not echoed"
    );
    walk(&server.url, key, server.dir.path());
    let secrets = secrets_sent_by_the_sandbox(&server.url, key);
    assert!(
        secrets.len() >= 2,
        "the sandbox sent an auth code and an authState: {secrets:?}"
    );
    let logs = stop(server);
    assert!(
        logs.len() > 50,
        "trace logging was on: {} lines",
        logs.len()
    );
    for line in &logs {
        if line.starts_with("autodebit serve: ") {
            continue;
        }
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "not a JSON log line: {line}"
        );
        assert!(!line.contains(key), "the API key was logged: {line}");
        for secret in &secrets {
            assert!(
                !line.contains(secret.as_str()),
                "a secret was logged: {line}"
            );
        }
    }
}
