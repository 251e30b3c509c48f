//! `autodebit sandbox` as a process: the contract's flags, development keys, and a signed answer.

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

/// Starts the command on an ephemeral port and reads stderr until it says where it listens.
fn start(args: &[&str], cwd: &Path) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_autodebit"))
        .arg("sandbox")
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
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
