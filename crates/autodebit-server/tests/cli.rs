//! The `autodebit` command's contract: forms, outputs and exit codes that scripts rely on.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/ams-vectors");

fn vector_file(name: &str) -> PathBuf {
    Path::new(VECTORS).join(name)
}

fn autodebit() -> Command {
    Command::cargo_bin("autodebit").expect("binary built")
}

fn request_cases() -> Vec<Value> {
    let text = std::fs::read_to_string(vector_file("request_vectors.json")).expect("vectors");
    let json: Value = serde_json::from_str(&text).expect("json");
    json["cases"].as_array().expect("cases").clone()
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} missing"))
}

fn stdout_of(output: &std::process::Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("utf-8 stdout")
}

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("utf-8 stderr")
}

#[test]
fn sign_reproduces_every_sdk_signature_from_a_file_and_from_stdin() {
    let dir = tempfile::tempdir().expect("tempdir");
    for case in request_cases() {
        let req = &case["request"];
        let expected = str_of(req, "signature_header");
        let key_version = expected
            .split(',')
            .find_map(|p| p.strip_prefix("keyVersion="))
            .expect("keyVersion");
        let body_path = dir.path().join("body.json");
        std::fs::write(&body_path, str_of(req, "body")).expect("write body");
        for (key_file, body_arg, stdin) in [
            (
                "merchant_private_pkcs8.b64.txt",
                body_path.to_str().expect("utf-8 path"),
                None,
            ),
            (
                "merchant_private_pkcs1.pem",
                "-",
                Some(str_of(req, "body").to_owned()),
            ),
        ] {
            let mut cmd = autodebit();
            cmd.args(["sign", "--private-key"])
                .arg(vector_file(key_file))
                .args(["--client-id", str_of(req, "client_id")])
                .args(["--request-time", str_of(req, "request_time")])
                .args(["--path", str_of(req, "path_signed")])
                .args(["--key-version", key_version])
                .args(["--body-file", body_arg]);
            if let Some(input) = stdin {
                cmd.write_stdin(input);
            }
            let output = cmd.output().expect("runs");
            assert!(
                output.status.success(),
                "{}: {}",
                str_of(&case, "name"),
                stderr_of(&output)
            );
            assert_eq!(
                stdout_of(&output),
                format!("{expected}\n"),
                "{}",
                str_of(&case, "name")
            );
        }
    }
}

#[test]
fn key_version_defaults_to_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let body = dir.path().join("b");
    std::fs::write(&body, "{}").expect("write");
    let output = autodebit()
        .args(["sign", "--private-key"])
        .arg(vector_file("merchant_private_pkcs8.pem"))
        .args([
            "--client-id",
            "C",
            "--request-time",
            "1",
            "--path",
            "/p",
            "--body-file",
        ])
        .arg(&body)
        .output()
        .expect("runs");
    assert!(output.status.success());
    assert!(stdout_of(&output).starts_with("algorithm=RSA256,keyVersion=1,signature="));
}

/// Runs `verify` for a vector case's response, with optional changes.
fn verify_response(case: &Value, key: &Path, body: &str, signature: &str) -> std::process::Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let body_path = dir.path().join("response.json");
    std::fs::write(&body_path, body).expect("write body");
    let resp = &case["response"];
    autodebit()
        .args(["verify", "--public-key"])
        .arg(key)
        .args([
            "--client-id",
            resp["headers"]["client-id"].as_str().expect("client-id"),
        ])
        .args([
            "--time",
            resp["headers"]["response-time"].as_str().expect("time"),
        ])
        .args(["--path", str_of(&case["request"], "path_signed")])
        .arg("--body-file")
        .arg(&body_path)
        .args(["--signature", signature])
        .output()
        .expect("runs")
}

#[test]
fn verify_exits_0_for_every_genuine_response_and_1_when_anything_changed() {
    let alipay = vector_file("alipay_sim_public_spki.b64.txt");
    let merchant = vector_file("merchant_public_spki.pem");
    for case in request_cases().iter().filter(|c| !c["response"].is_null()) {
        let name = str_of(case, "name");
        let resp = &case["response"];
        let body = str_of(resp, "body");
        let header = resp["headers"]["signature"].as_str().expect("signature");

        let ok = verify_response(case, &alipay, body, header);
        assert_eq!(ok.status.code(), Some(0), "{name}: {}", stderr_of(&ok));

        // The signature alone (as the Python SDK passes it) is accepted too.
        let ok = verify_response(case, &alipay, body, str_of(resp, "signature_urlencoded"));
        assert_eq!(ok.status.code(), Some(0), "{name}: {}", stderr_of(&ok));

        let tampered = verify_response(case, &alipay, &format!("{body} "), header);
        assert_eq!(tampered.status.code(), Some(1), "{name}");
        assert!(
            stderr_of(&tampered).contains("signature does not match"),
            "{name}"
        );

        let wrong_key = verify_response(case, &merchant, body, header);
        assert_eq!(wrong_key.status.code(), Some(1), "{name}");
        assert!(
            stderr_of(&wrong_key).contains("sha256:"),
            "the key fingerprint is reported"
        );
    }
}

#[test]
fn verify_exits_2_on_bad_input_with_the_reason() {
    let case = &request_cases()[0];
    let resp = &case["response"];
    let body = str_of(resp, "body");
    let header = resp["headers"]["signature"].as_str().expect("signature");

    let private_as_public = verify_response(
        case,
        &vector_file("alipay_sim_private_pkcs8.pem"),
        body,
        header,
    );
    assert_eq!(private_as_public.status.code(), Some(2));
    assert!(stderr_of(&private_as_public).contains("found a PKCS#8 private key"));

    let missing = verify_response(case, Path::new("/nonexistent/key.pem"), body, header);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr_of(&missing).contains("cannot read public key file /nonexistent/key.pem"));

    let malformed = verify_response(
        case,
        &vector_file("alipay_sim_public_spki.pem"),
        body,
        "algorithm=RSA256,keyVersion=1",
    );
    assert_eq!(malformed.status.code(), Some(2));
    assert!(stderr_of(&malformed).contains("malformed Signature header"));

    let not_a_key = verify_response(case, &vector_file("request_vectors.json"), body, header);
    assert_eq!(not_a_key.status.code(), Some(2));
    assert!(stderr_of(&not_a_key).contains("expected an RSA public key"));

    let usage = autodebit()
        .args(["verify", "--public-key", "x"])
        .output()
        .expect("runs");
    assert_eq!(
        usage.status.code(),
        Some(2),
        "missing arguments are bad input"
    );
}

#[test]
fn sign_exits_2_when_given_a_public_key() {
    let output = autodebit()
        .args(["sign", "--private-key"])
        .arg(vector_file("merchant_public_spki.b64.txt"))
        .args([
            "--client-id",
            "C",
            "--request-time",
            "1",
            "--path",
            "/p",
            "--body-file",
            "-",
        ])
        .write_stdin("{}")
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let err = stderr_of(&output);
    assert!(err.contains("expected an RSA private key"), "{err}");
    assert!(
        err.contains("found an X.509 SubjectPublicKeyInfo public key"),
        "{err}"
    );
    assert!(stdout_of(&output).is_empty());
}

#[test]
fn keys_generate_writes_four_files_that_sign_and_verify() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("keys");
    let output = autodebit()
        .args(["keys", "generate", "--out"])
        .arg(&out)
        .output()
        .expect("runs");
    assert!(output.status.success(), "{}", stderr_of(&output));
    let listed: Vec<PathBuf> = stdout_of(&output).lines().map(PathBuf::from).collect();
    let names: Vec<String> = listed
        .iter()
        .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "merchant_private_pkcs8.pem",
            "merchant_private_pkcs8.b64.txt",
            "merchant_public_spki.pem",
            "merchant_public_spki.b64.txt"
        ]
    );
    for path in &listed {
        assert!(path.starts_with(&out), "{}", path.display());
    }
    let text = |name: &str| std::fs::read_to_string(out.join(name)).expect("written");
    assert!(text("merchant_private_pkcs8.pem").starts_with("-----BEGIN PRIVATE KEY-----\n"));
    assert!(text("merchant_public_spki.pem").starts_with("-----BEGIN PUBLIC KEY-----\n"));
    assert_eq!(
        text("merchant_private_pkcs8.b64.txt")
            .trim()
            .lines()
            .count(),
        1
    );
    assert_eq!(
        text("merchant_public_spki.b64.txt").trim().lines().count(),
        1
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |name: &str| {
            std::fs::metadata(out.join(name))
                .expect("meta")
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode("merchant_private_pkcs8.pem"), 0o600);
        assert_eq!(mode("merchant_private_pkcs8.b64.txt"), 0o600);
    }

    // The pair works: sign with each private form, verify with each public form.
    let body = dir.path().join("body");
    std::fs::write(&body, "{\"x\":\"caf\u{e9}\"}\r\n").expect("write");
    for private in [
        "merchant_private_pkcs8.pem",
        "merchant_private_pkcs8.b64.txt",
    ] {
        let signed = autodebit()
            .args(["sign", "--private-key"])
            .arg(out.join(private))
            .args([
                "--client-id",
                "SANDBOX_1",
                "--request-time",
                "2024-01-01T00:00:00+00:00",
            ])
            .args(["--path", "/ams/sandbox/api/v1/payments/pay", "--body-file"])
            .arg(&body)
            .output()
            .expect("runs");
        assert!(signed.status.success());
        let header = stdout_of(&signed).trim().to_owned();
        for public in ["merchant_public_spki.pem", "merchant_public_spki.b64.txt"] {
            let verified = autodebit()
                .args(["verify", "--public-key"])
                .arg(out.join(public))
                .args([
                    "--client-id",
                    "SANDBOX_1",
                    "--time",
                    "2024-01-01T00:00:00+00:00",
                ])
                .args(["--path", "/ams/sandbox/api/v1/payments/pay", "--body-file"])
                .arg(&body)
                .args(["--signature", &header])
                .output()
                .expect("runs");
            assert_eq!(verified.status.code(), Some(0), "{}", stderr_of(&verified));
        }
    }
}

#[test]
fn keys_generate_never_overwrites_and_leaves_nothing_half_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let existing = dir.path().join("merchant_public_spki.pem");
    std::fs::write(&existing, "keep me").expect("write");
    let output = autodebit()
        .args(["keys", "generate", "--out"])
        .arg(dir.path())
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr_of(&output).contains("refusing to overwrite"));
    assert_eq!(std::fs::read_to_string(&existing).expect("kept"), "keep me");
    let files: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
    assert_eq!(files.len(), 1, "no other file was written");
}

#[test]
fn config_example_is_a_valid_configuration_and_check_names_what_is_wrong() {
    let dir = tempfile::tempdir().expect("tempdir");
    let example = autodebit()
        .args(["config", "example"])
        .output()
        .expect("runs");
    assert!(example.status.success());
    let file = dir.path().join("autodebit.toml");
    std::fs::write(&file, &example.stdout).expect("write");
    let check = autodebit()
        .args(["config", "check", "--config"])
        .arg(&file)
        .env_remove("AUTODEBIT_DATABASE_URL")
        .env_remove("AUTODEBIT_TOKEN_KEYS")
        .env("AUTODEBIT_WORKERS__COUNT", "3")
        .output()
        .expect("runs");
    assert!(check.status.success(), "{}", stderr_of(&check));
    let effective = stdout_of(&check);
    assert!(
        effective.contains("count = 3"),
        "the environment wins: {effective}"
    );
    assert!(stderr_of(&check).contains("sandbox mode"));

    std::fs::write(&file, "[schedule]\nmax_inquiries = 40\n").expect("write");
    let bad = autodebit()
        .args(["config", "check", "--config"])
        .arg(&file)
        .env_remove("AUTODEBIT_DATABASE_URL")
        .env_remove("AUTODEBIT_TOKEN_KEYS")
        .output()
        .expect("runs");
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr_of(&bad).contains("schedule.max_inquiries"),
        "{}",
        stderr_of(&bad)
    );

    let secret = autodebit()
        .args(["config", "check"])
        .env(
            "AUTODEBIT_DATABASE_URL",
            "postgres://app:hunter2@db.internal/autodebit",
        )
        .env(
            "AUTODEBIT_TOKEN_KEYS",
            "1:c2VjcmV0LWtleS1tYXRlcmlhbC0wMTIzNDU2Nzg5MDE=",
        )
        .output()
        .expect("runs");
    assert!(secret.status.success(), "{}", stderr_of(&secret));
    let shown = stdout_of(&secret) + &stderr_of(&secret);
    assert!(
        !shown.contains("hunter2") && !shown.contains("c2VjcmV0"),
        "{shown}"
    );
    assert!(
        shown.contains("postgres://app:***@db.internal/autodebit"),
        "{shown}"
    );
}

#[test]
fn webhook_secret_prints_a_new_whsec_secret() {
    let run = || {
        let out = autodebit()
            .args(["keys", "webhook-secret"])
            .output()
            .expect("runs");
        assert!(out.status.success());
        stdout_of(&out).trim().to_owned()
    };
    let (a, b) = (run(), run());
    assert_ne!(a, b, "a new one each time");
    for secret in [a, b] {
        assert!(secret.starts_with("whsec_"), "{secret}");
        secret
            .parse::<autodebit_server::webhooks::WebhookSecret>()
            .expect("a secret the server reads");
    }
}

#[test]
fn api_key_prints_a_key_and_the_hash_to_configure() {
    let out = autodebit()
        .args(["keys", "api-key"])
        .output()
        .expect("runs");
    assert!(out.status.success());
    let text = stdout_of(&out);
    let key = text
        .lines()
        .find_map(|l| l.strip_prefix("api_key = "))
        .expect("the key");
    let hash = text
        .lines()
        .find_map(|l| l.strip_prefix("api_key_sha256 = "))
        .expect("the hash");
    assert!(key.starts_with("sk_live_") && key.len() > 40);
    assert_eq!(
        hash,
        autodebit_server::http::auth::hash_key(key)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
}
