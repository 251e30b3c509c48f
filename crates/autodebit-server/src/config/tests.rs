//! The configuration's loading, layering and checks.

use std::io::Write as _;

use super::*;

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new()
        .suffix(".toml")
        .tempfile()
        .expect("temp file");
    f.write_all(text.as_bytes()).expect("write");
    f
}

fn env(vars: &[(&str, &str)]) -> Environment {
    vars.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The example's merchant section, uncommented: a complete gateway configuration.
fn example_with_merchant() -> String {
    let mut out = String::new();
    let mut in_merchant = false;
    for line in EXAMPLE.lines() {
        if line.starts_with("# [merchants.shop]") {
            in_merchant = true;
        }
        if in_merchant {
            let line = line.strip_prefix("# ").unwrap_or(line);
            // Nested comments stay comments.
            if !line.starts_with("# ") {
                out.push_str(line);
                out.push('\n');
            }
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[test]
fn no_configuration_is_sandbox_mode_and_checks() {
    let config = Config::load(None, &Environment::new()).unwrap();
    assert!(config.embedded_sandbox());
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(config.database.url.expose(), "sqlite://autodebit.db");
    config.check().unwrap();
}

#[test]
fn the_example_is_the_defaults_and_checks() {
    let f = file(EXAMPLE);
    let config = Config::load(Some(f.path()), &Environment::new()).unwrap();
    config.check().unwrap();
    let defaults = Config::default();
    assert_eq!(
        config.redacted(),
        defaults.redacted(),
        "the example shows the defaults"
    );
}

#[test]
fn the_example_merchant_is_a_complete_gateway_configuration() {
    let f = file(&example_with_merchant());
    let config = Config::load(Some(f.path()), &Environment::new()).unwrap();
    assert!(
        !config.embedded_sandbox(),
        "a gateway turns the sandbox off"
    );
    let shop = &config.merchants["shop"];
    assert_eq!(shop.gateway.as_deref(), Some("asia_accelerated"));
    assert_eq!(shop.alipay_public_key_files.len(), 1);
    config.check().unwrap();
}

#[test]
fn the_environment_wins_over_the_file() {
    let f = file("[server]\nlisten = \"127.0.0.1:9000\"\n[workers]\ncount = 3\n");
    let config = Config::load(
        Some(f.path()),
        &env(&[
            ("AUTODEBIT_SERVER__LISTEN", "127.0.0.1:9100"),
            ("AUTODEBIT_TOKEN_KEYS", "1:AAAA"),
            (
                "AUTODEBIT_DATABASE_URL",
                "postgres://app@db.internal/autodebit",
            ),
            (
                "AUTODEBIT_DEV_API_KEY",
                "not a setting, read by sandbox mode",
            ),
            ("AUTODEBIT_MERCHANTS__SHOP__CLIENT_ID", "5X00000000000001"),
        ]),
    )
    .unwrap();
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:9100");
    assert_eq!(
        config.workers.count, 3,
        "the file's value stays where no variable sets it"
    );
    assert_eq!(
        config.database.token_keys.as_ref().unwrap().expose(),
        "1:AAAA"
    );
    assert_eq!(
        config.database.url.expose(),
        "postgres://app@db.internal/autodebit"
    );
    assert_eq!(
        config.merchants["shop"].client_id.as_deref(),
        Some("5X00000000000001")
    );
}

#[test]
fn unknown_settings_are_named_with_where_they_came_from() {
    let f = file("[server]\nlisen = \"127.0.0.1:9000\"\n");
    let err = Config::load(Some(f.path()), &Environment::new()).unwrap_err();
    assert!(err.problem.contains("lisen"), "{err}");
    assert!(
        err.problem.contains(&f.path().display().to_string()),
        "{err}"
    );
    let err = Config::load(None, &env(&[("AUTODEBIT_WORKERS__COUNTS", "2")])).unwrap_err();
    assert!(err.problem.contains("counts"), "{err}");
    let err = Config::load(None, &env(&[("AUTODEBIT_LISTEN", "1")])).unwrap_err();
    assert_eq!(err.setting, "AUTODEBIT_LISTEN");
    let err = Config::load(None, &env(&[("AUTODEBIT_WORKERS__COUNT", "many")])).unwrap_err();
    assert_eq!(err.setting, "workers.count", "{err}");
    let missing = Config::load(
        Some(Path::new("/nonexistent/autodebit.toml")),
        &Environment::new(),
    )
    .unwrap_err();
    assert_eq!(missing.setting, "--config");
}

#[test]
fn schedule_settings_are_validated_by_name() {
    let f = file("[schedule]\nmax_inquiries = 30\n");
    let config = Config::load(Some(f.path()), &Environment::new()).unwrap();
    let err = config.check().unwrap_err();
    assert_eq!(err.setting, "schedule.max_inquiries", "{err}");
    let f = file("[schedule]\npayment_expiry_ms = 61000\n");
    let err = Config::load(Some(f.path()), &Environment::new())
        .unwrap()
        .check()
        .unwrap_err();
    assert_eq!(err.setting, "schedule.payment_expiry_ms", "{err}");
    let f = file("[alipay]\ncall_timeout_ms = 40000\n");
    let err = Config::load(Some(f.path()), &Environment::new())
        .unwrap()
        .check()
        .unwrap_err();
    assert_eq!(
        err.setting, "schedule.reply_timeout_ms",
        "the leases follow the client's timeouts: {err}"
    );
    let f = file(
        "[alipay]\ncall_timeout_ms = 20000\n[schedule]\nreply_timeout_ms = 21000\nlease_ms = 40000\n",
    );
    let config = Config::load(Some(f.path()), &Environment::new()).unwrap();
    config.check().unwrap();
    assert_eq!(config.schedule().unwrap().max_call_ms, 20_000);
}

#[test]
fn a_gateway_refuses_the_embedded_sandbox() {
    let f = file(&format!(
        "{}\n",
        example_with_merchant().replace("# embedded = true", "embedded = true")
    ));
    let err = Config::load(Some(f.path()), &Environment::new())
        .unwrap()
        .check()
        .unwrap_err();
    assert_eq!(err.setting, "merchants.shop.gateway", "{err}");
}

#[test]
fn urls_that_carry_users_or_notifications_need_https_outside_loopback() {
    for (url, ok) in [
        ("https://pay.shop.example", true),
        ("http://127.0.0.1:8080", true),
        ("http://localhost:8080", true),
        ("http://[::1]:8080", true),
        ("http://pay.shop.example", false),
        ("ftp://pay.shop.example", false),
        ("https://pay.shop.example/?x=1", false),
    ] {
        let f = file(&format!("[server]\npublic_url = \"{url}\"\n"));
        let result = Config::load(Some(f.path()), &Environment::new())
            .unwrap()
            .check();
        assert_eq!(result.is_ok(), ok, "{url}: {result:?}");
    }
    let f = file("[server]\nlisten = \"0.0.0.0:8080\"\n");
    let err = Config::load(Some(f.path()), &Environment::new())
        .unwrap()
        .check()
        .unwrap_err();
    assert_eq!(err.setting, "server.public_url");
    let f = file("[api]\nreturn_url_origins = [\"http://shop.example\"]\n");
    let err = Config::load(Some(f.path()), &Environment::new())
        .unwrap()
        .check()
        .unwrap_err();
    assert_eq!(err.setting, "api.return_url_origins[0]");
}

#[test]
fn a_merchant_without_what_it_needs_is_named() {
    let complete = example_with_merchant();
    for (remove, setting) in [
        ("client_id = ", "merchants.shop.client_id"),
        ("private_key_file = ", "merchants.shop.private_key_file"),
        (
            "alipay_public_key_files = ",
            "merchants.shop.alipay_public_key_files",
        ),
        ("api_key_sha256_file = ", "merchants.shop.api_key_sha256"),
    ] {
        let text: String = complete
            .lines()
            .filter(|l| !l.starts_with(remove))
            .map(|l| format!("{l}\n"))
            .collect();
        let f = file(&text);
        let err = Config::load(Some(f.path()), &Environment::new())
            .unwrap()
            .check()
            .unwrap_err();
        assert_eq!(err.setting, setting, "{err}");
    }
    let f = file("[merchants.Shop]\n");
    let err = Config::load(Some(f.path()), &Environment::new())
        .unwrap()
        .check()
        .unwrap_err();
    assert_eq!(err.setting, "merchants.Shop", "{err}");
}

#[test]
fn secrets_never_show() {
    let hash = "a".repeat(64);
    let config = Config::load(
        None,
        &env(&[
            ("AUTODEBIT_TOKEN_KEYS", "1:c2VjcmV0LXRva2VuLWtleQ=="),
            (
                "AUTODEBIT_DATABASE_URL",
                "postgres://app:hunter2@db.internal/x",
            ),
            (
                "AUTODEBIT_MERCHANTS__SHOP__PRIVATE_KEY",
                "-----BEGIN PRIVATE KEY-----",
            ),
            ("AUTODEBIT_MERCHANTS__SHOP__AGENT_TOKEN", "agent-secret"),
            (
                "AUTODEBIT_MERCHANTS__SHOP__API_KEY_SHA256",
                &format!("[\"{hash}\"]"),
            ),
        ]),
    )
    .unwrap();
    assert_eq!(config.merchants["shop"].api_key_sha256.len(), 1);
    for shown in [config.redacted(), format!("{config:?}")] {
        for secret in [
            "c2VjcmV0",
            "hunter2",
            "BEGIN PRIVATE",
            "agent-secret",
            &hash,
        ] {
            assert!(!shown.contains(secret), "{secret} shown in {shown}");
        }
        assert!(shown.contains("<redacted>"));
    }
}

#[test]
fn an_auth_client_id_names_one_merchant() {
    let f = file(
        "[merchants.a]\nauth_client_id = \"SANDBOX_AUTH\"\n[merchants.b]\nauth_client_id = \"SANDBOX_OTHER\"\n",
    );
    let config = Config::load(Some(f.path()), &Environment::new()).unwrap();
    config.check().unwrap();
    assert_eq!(
        config.merchants["b"].auth_client_id.as_deref(),
        Some("SANDBOX_OTHER")
    );
    let f = file(
        "[merchants.a]\nauth_client_id = \"SANDBOX_AUTH\"\n[merchants.b]\nauth_client_id = \"SANDBOX_AUTH\"\n",
    );
    let err = Config::load(Some(f.path()), &Environment::new())
        .unwrap()
        .check()
        .unwrap_err();
    assert_eq!(err.setting, "merchants.b.auth_client_id", "{err}");
    assert!(err.problem.contains("merchants.a.auth_client_id"), "{err}");
    for bad in ["", "has space", &"x".repeat(65)] {
        let f = file(&format!("[merchants.a]\nauth_client_id = \"{bad}\"\n"));
        let err = Config::load(Some(f.path()), &Environment::new())
            .unwrap()
            .check()
            .unwrap_err();
        assert_eq!(err.setting, "merchants.a.auth_client_id", "{bad:?}: {err}");
    }
}
