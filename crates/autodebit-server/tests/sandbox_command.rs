//! `autodebit sandbox` as a process: the contract's flags, development keys, a signed answer, and
//! who may reach it: loopback unless `--allow-remote`, the control token, the `Host` check.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ams_signing::{KeyVersion, PrivateKey, PublicKey, SignatureHeader, SignedContent};

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/ams-vectors");

/// A running `autodebit sandbox`, killed on drop.
struct Running {
    child: Child,
    addr: String,
    stderr: Vec<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the command on an ephemeral port of 127.0.0.1 and reads stderr until it says where it
/// listens.
fn start(args: &[&str], cwd: &Path) -> Running {
    let mut command = Command::new(env!("CARGO_BIN_EXE_autodebit"));
    command
        .arg("sandbox")
        .args(["--listen", "127.0.0.1:0"])
        .args(args);
    spawn(command, cwd)
}

/// Runs `command` (an `autodebit sandbox ...`) in `cwd`, without the control token variable
/// unless the command sets it, and reads its banner.
fn spawn(mut command: Command, cwd: &Path) -> Running {
    if !command
        .get_envs()
        .any(|(name, _)| name == "AUTODEBIT_SANDBOX_CONTROL_TOKEN")
    {
        command.env_remove("AUTODEBIT_SANDBOX_CONTROL_TOKEN");
    }
    let mut child = command
        .current_dir(cwd)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut seen = Vec::new();
    let addr = loop {
        let line = lines
            .next()
            .expect("the command printed where it listens")
            .expect("utf-8");
        seen.push(line.clone());
        if let Some(rest) = line.split("is listening on http://").nth(1) {
            break rest.trim().to_owned();
        }
    };
    // Read the rest of the banner (up to the Ctrl-C hint).
    for line in lines.by_ref() {
        let line = line.expect("utf-8");
        let done = line.contains("Ctrl-C");
        seen.push(line);
        if done {
            break;
        }
    }
    // Keep draining stderr (the log): a closed pipe would make the command's logging fail.
    std::thread::spawn(move || lines.for_each(drop));
    Running {
        child,
        addr,
        stderr: seen,
    }
}

/// One HTTP/1.1 exchange with `Connection: close`; returns (head, body).
fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (String, String) {
    let mut stream = TcpStream::connect(addr).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).expect("writes");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("reads");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a response");
    (head.to_owned(), body.to_owned())
}

fn header<'a>(head: &'a str, name: &str) -> &'a str {
    head.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} in {head}"))
}

/// A signed inquiryPayment for an unknown payment: the answer is ORDER_NOT_EXIST, signed.
fn signed_inquiry(
    running: &Running,
    merchant_key: &PrivateKey,
    alipay: &PublicKey,
    client_id: &str,
) -> String {
    let path = "/ams/sandbox/api/v1/payments/inquiryPayment";
    let body = r#"{"paymentRequestId":"nope"}"#;
    let signature = merchant_key
        .sign(
            &SignedContent::request(path, client_id, "1700000000000", body.as_bytes()),
            KeyVersion::DEFAULT,
        )
        .expect("signs")
        .to_string();
    let (head, answer) = http(
        &running.addr,
        "POST",
        path,
        &[
            ("client-id", client_id),
            ("request-time", "1700000000000"),
            ("signature", &signature),
            ("content-type", "application/json"),
        ],
        body,
    );
    let parsed: SignatureHeader = header(&head, "signature").parse().expect("signature");
    let content = SignedContent::response(
        path,
        header(&head, "client-id"),
        header(&head, "response-time"),
        answer.as_bytes(),
    );
    alipay
        .verify(&content, &parsed)
        .expect("the answer is signed with the Alipay key");
    answer
}

#[test]
fn with_the_contract_flags_it_serves_signed_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let merchant_public = format!("{VECTORS}/merchant_public_spki.pem");
    let alipay_private = format!("{VECTORS}/alipay_sim_private_pkcs8.pem");
    let running = start(
        &[
            "--client-id",
            "5X00000000000000",
            "--merchant-public-key",
            &merchant_public,
            "--alipay-private-key",
            &alipay_private,
        ],
        dir.path(),
    );
    let merchant = PrivateKey::from_text(
        &std::fs::read_to_string(format!("{VECTORS}/merchant_private_pkcs8.pem")).expect("key"),
    )
    .expect("key");
    let alipay = PublicKey::from_text(
        &std::fs::read_to_string(format!("{VECTORS}/alipay_sim_public_spki.pem")).expect("key"),
    )
    .expect("key");
    let answer = signed_inquiry(&running, &merchant, &alipay, "5X00000000000000");
    assert!(answer.contains("ORDER_NOT_EXIST"), "{answer}");
    assert!(
        !dir.path().join("sandbox-keys").exists(),
        "no development keys with explicit keys"
    );
    let (_, users) = http(&running.addr, "GET", "/sandbox/users", &[], "");
    assert!(users.contains("demo@sandbox.example"), "{users}");
}

#[test]
fn without_keys_it_generates_development_keys_once_and_says_where() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = dir.path().join("sandbox-keys");
    let fingerprint = {
        let running = start(&[], dir.path());
        let banner = running.stderr.join("\n");
        assert!(
            banner.contains("development keys in sandbox-keys"),
            "{banner}"
        );
        assert!(
            banner.contains("merchant_private_pkcs8.pem")
                && banner.contains("alipay_public_spki.pem"),
            "{banner}"
        );
        let merchant = PrivateKey::from_text(
            &std::fs::read_to_string(keys.join("merchant_private_pkcs8.pem")).expect("written"),
        )
        .expect("key");
        let alipay = PublicKey::from_text(
            &std::fs::read_to_string(keys.join("alipay_public_spki.pem")).expect("written"),
        )
        .expect("key");
        let answer = signed_inquiry(&running, &merchant, &alipay, "SANDBOX_5X00000000000000");
        assert!(answer.contains("ORDER_NOT_EXIST"), "{answer}");
        alipay.fingerprint().to_owned()
    };
    // A second start reuses the same keys.
    let _running = start(&["--no-demo-user"], dir.path());
    let again = PublicKey::from_text(
        &std::fs::read_to_string(keys.join("alipay_public_spki.pem")).expect("kept"),
    )
    .expect("key");
    assert_eq!(again.fingerprint(), fingerprint);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(keys.join("alipay_private_pkcs8.pem"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn a_key_flag_alone_is_bad_input() {
    let output = Command::new(env!("CARGO_BIN_EXE_autodebit"))
        .args(["sandbox", "--merchant-public-key", "x.pem"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--alipay-private-key"));
}

#[test]
fn a_listen_address_beyond_loopback_needs_allow_remote() {
    let dir = tempfile::tempdir().expect("tempdir");
    for listen in ["0.0.0.0:0", "[::]:0", "192.0.2.1:8089"] {
        let output = Command::new(env!("CARGO_BIN_EXE_autodebit"))
            .args(["sandbox", "--listen", listen])
            .current_dir(dir.path())
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{listen}: {stderr}");
        assert!(stderr.contains("is not a loopback address"), "{stderr}");
        assert!(stderr.contains("--allow-remote"), "{stderr}");
        assert!(stderr.contains("control API"), "{stderr}");
    }
    assert!(
        !dir.path().join("sandbox-keys").exists(),
        "refused before anything is written"
    );
}

#[test]
fn allow_remote_without_a_token_warns_loudly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut command = Command::new(env!("CARGO_BIN_EXE_autodebit"));
    command.args([
        "sandbox",
        "--listen",
        "0.0.0.0:0",
        "--allow-remote",
        "--no-demo-user",
    ]);
    let running = spawn(command, dir.path());
    let banner = running.stderr.join("\n");
    assert!(banner.contains("WARNING"), "{banner}");
    assert!(banner.contains("NO CONTROL TOKEN"), "{banner}");
    assert!(banner.contains("--control-token-file"), "{banner}");
    // Bound to every interface, it still answers on loopback under the loopback names.
    let port = running.addr.rsplit(':').next().expect("a port").to_owned();
    let loopback = format!("127.0.0.1:{port}");
    let (head, _) = http(&loopback, "GET", "/sandbox/users", &[], "");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
}

/// The control token's checks, on a running command.
fn assert_token_enforced(running: &Running, token: &str) {
    let banner = running.stderr.join("\n");
    assert!(
        !banner.contains(token),
        "the token is never printed: {banner}"
    );
    assert!(banner.contains("Authorization: Bearer"), "{banner}");
    let (head, body) = http(&running.addr, "GET", "/sandbox/users", &[], "");
    assert!(head.starts_with("HTTP/1.1 401"), "{head}\n{body}");
    assert!(!body.contains(token), "{body}");
    let wrong = format!("Bearer {token}-not");
    let (head, _) = http(
        &running.addr,
        "GET",
        "/sandbox/users",
        &[("Authorization", &wrong)],
        "",
    );
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    let bearer = format!("Bearer {token}");
    let (head, body) = http(
        &running.addr,
        "GET",
        "/sandbox/users",
        &[("Authorization", &bearer)],
        "",
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(body.contains("demo@sandbox.example"), "{body}");
}

#[test]
fn the_control_token_comes_from_a_file_or_the_environment_and_is_never_printed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = "file-token-7f3a9c2e5b1d";
    let file = dir.path().join("control-token");
    std::fs::write(&file, format!("{token}\n")).expect("written");
    let file_arg = file.to_str().expect("utf-8 path");
    let running = start(&["--control-token-file", file_arg], dir.path());
    assert_token_enforced(&running, token);
    drop(running);

    let token = "env-token-41c8e0d2a6f9";
    let mut command = Command::new(env!("CARGO_BIN_EXE_autodebit"));
    command
        .args(["sandbox", "--listen", "127.0.0.1:0"])
        .env("AUTODEBIT_SANDBOX_CONTROL_TOKEN", token);
    let running = spawn(command, dir.path());
    assert_token_enforced(&running, token);

    // An empty or unusable token file is bad input.
    std::fs::write(&file, "\n").expect("written");
    let output = Command::new(env!("CARGO_BIN_EXE_autodebit"))
        .args([
            "sandbox",
            "--listen",
            "127.0.0.1:0",
            "--control-token-file",
            file_arg,
        ])
        .current_dir(dir.path())
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("is empty"));
    std::fs::write(&file, "two words\n").expect("written");
    let output = Command::new(env!("CARGO_BIN_EXE_autodebit"))
        .args([
            "sandbox",
            "--listen",
            "127.0.0.1:0",
            "--control-token-file",
            file_arg,
        ])
        .current_dir(dir.path())
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("printable ASCII"), "{stderr}");
    assert!(!stderr.contains("two words"), "{stderr}");
}

#[test]
fn the_control_api_answers_only_to_its_own_host_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = start(&["--allowed-host", "sandbox.test:8089"], dir.path());
    let port = running.addr.rsplit(':').next().expect("a port").to_owned();
    let localhost = format!("localhost:{port}");
    for (host, status) in [
        ("rebind.attacker.example", "403"),
        (localhost.as_str(), "200"),
        ("sandbox.test:8089", "200"),
    ] {
        let (head, body) = raw_host(&running.addr, host, "/sandbox/users");
        assert!(
            head.starts_with(&format!("HTTP/1.1 {status}")),
            "{host}: {head}\n{body}"
        );
    }
}

/// A GET with the given `Host` header.
fn raw_host(addr: &str, host: &str, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(addr).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("writes");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("reads");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a response");
    (head.to_owned(), body.to_owned())
}

/// `autodebit call` against a running sandbox: the answer printed and verified, and the exit code
/// telling S, F, unknown and not sent apart.
#[test]
fn call_sends_one_signed_request_and_exits_by_its_outcome() {
    let dir = tempfile::tempdir().expect("tempdir");
    let client_id = "SANDBOX_5X00000000000001";
    let running = start(
        &[
            "--client-id",
            client_id,
            "--merchant-public-key",
            &format!("{VECTORS}/merchant_public_spki.pem"),
            "--alipay-private-key",
            &format!("{VECTORS}/alipay_sim_private_pkcs8.pem"),
        ],
        dir.path(),
    );
    let body = dir.path().join("body.json");
    let call = |api: &str, json: &str, alipay_key: &str| {
        std::fs::write(&body, json).expect("body written");
        let out = Command::new(env!("CARGO_BIN_EXE_autodebit"))
            .args(["call", api, "--body"])
            .arg(&body)
            .args(["--gateway", &format!("http://{}", running.addr)])
            .args(["--client-id", client_id])
            .args([
                "--private-key",
                &format!("{VECTORS}/merchant_private_pkcs8.pem"),
            ])
            .args(["--alipay-public-key", &format!("{VECTORS}/{alipay_key}")])
            .output()
            .expect("runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // S: consult answers an authorization URL.
    let consult = r#"{"customerBelongsTo":"ALIPAY_CN","authRedirectUrl":"https://merchant.example/back","scopes":["AGREEMENT_PAY"],"authState":"call-1","terminalType":"WEB"}"#;
    let (code, out, err) = call("consult", consult, "alipay_sim_public_spki.pem");
    assert_eq!(code, Some(0), "{out}\n{err}");
    let answer: serde_json::Value = serde_json::from_str(&out).expect("JSON on stdout");
    assert_eq!(answer["result"]["resultCode"], "SUCCESS", "{out}");
    assert!(answer["normalUrl"].is_string(), "{out}");
    assert!(err.contains("consult: result S SUCCESS"), "{err}");
    // F: exit 1, the answer still printed.
    let (code, out, err) = call(
        "inquiryPayment",
        r#"{"paymentRequestId":"nope"}"#,
        "alipay_sim_public_spki.pem",
    );
    assert_eq!(code, Some(1), "{out}\n{err}");
    assert!(
        out.contains("ORDER_NOT_EXIST") && err.contains("result F ORDER_NOT_EXIST"),
        "{out}\n{err}"
    );
    // An answer that does not verify (the wrong key for Alipay): the outcome is unknown, exit 3.
    let (code, out, err) = call(
        "inquiryPayment",
        r#"{"paymentRequestId":"nope"}"#,
        "merchant_public_spki.pem",
    );
    assert_eq!(code, Some(3), "{out}\n{err}");
    assert!(
        out.is_empty() && err.contains("outcome unknown"),
        "{out}\n{err}"
    );
    // Not a valid request of the API: nothing sent, exit 2; an unknown API too.
    let (code, _, err) = call("inquiryPayment", "{", "alipay_sim_public_spki.pem");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("not sent"), "{err}");
    let (code, _, err) = call("payy", "{}", "alipay_sim_public_spki.pem");
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("unknown API") && err.contains("inquiryRefund"),
        "{err}"
    );
}
