//! Who may use the control API and the consent page: the `Host` check (DNS rebinding), the
//! `Origin` check (cross-origin pages), JSON-only state changes (no form posts), the optional
//! control token; and the rest of the sandbox's hardening: absurd clock moves, a notifier that
//! follows no redirect and reads a bounded answer, and the header-read timeout.

use std::net::SocketAddr;
use std::time::Duration;

use ams_protocol::Api;
use ams_sandbox::{ClockUpdate, DeliveryState, SandboxClock, SandboxHandle};
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::support::*;

/// One request on a fresh connection, written exactly as given (`Connection: close` added).
async fn send(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> RawResponse {
    let mut request = format!("{method} {target} HTTP/1.1\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    raw_http(addr, request.as_bytes()).await
}

fn json_body(raw: &RawResponse) -> Value {
    serde_json::from_str(&raw.body).unwrap_or_else(|e| panic!("not JSON ({e}): {raw:?}"))
}

/// The `Host` a client connecting by address sends.
fn own_host(sandbox: &SandboxHandle) -> String {
    sandbox.addr().to_string()
}

#[tokio::test]
async fn a_request_naming_a_foreign_host_is_refused_and_changes_nothing() {
    let sandbox = sandbox_with_user(ALICE).await;
    let port = sandbox.addr().port();
    // What a page at http://rebind.attacker.example:PORT sends once its name resolves to 127.0.0.1.
    let foreign = format!("rebind.attacker.example:{port}");
    let read = send(
        sandbox.addr(),
        "GET",
        "/sandbox/notifications",
        &[("Host", &foreign)],
        "",
    )
    .await;
    assert_eq!(read.status(), 403, "{read:?}");
    let error = json_body(&read)["error"]
        .as_str()
        .expect("an error")
        .to_owned();
    assert!(error.contains("rebind.attacker.example"), "{error}");
    assert!(error.contains(&format!("127.0.0.1:{port}")), "{error}");
    assert!(error.contains("DNS rebinding"), "{error}");

    let create = send(
        sandbox.addr(),
        "POST",
        "/sandbox/users",
        &[("Host", &foreign), ("Content-Type", "application/json")],
        &json!({ "login_id": "mallory@example.com", "wallet": "ALIPAY_CN", "balances": [{"currency": "USD", "value": "99999"}] }).to_string(),
    )
    .await;
    assert_eq!(create.status(), 403, "{create:?}");
    assert!(sandbox.user("mallory@example.com").is_none());

    let clock_before = sandbox.clock().now_ms();
    let moved = send(
        sandbox.addr(),
        "POST",
        "/sandbox/clock",
        &[("Host", &foreign), ("Content-Type", "application/json")],
        &json!({ "advance_ms": 86_400_000 }).to_string(),
    )
    .await;
    assert_eq!(moved.status(), 403, "{moved:?}");
    assert!(sandbox.clock().now_ms() < clock_before + 3_600_000);

    // The sandbox's own port under another name, another port, no Host at all: refused too.
    for host in [
        format!("localhost:{}", port.wrapping_add(1)),
        "localhost".to_owned(),
    ] {
        let raw = send(sandbox.addr(), "GET", "/sandbox", &[("Host", &host)], "").await;
        assert_eq!(raw.status(), 403, "{host}: {raw:?}");
    }
    let raw = send(sandbox.addr(), "GET", "/sandbox", &[], "").await;
    assert_eq!(raw.status(), 403, "{raw:?}");
    assert!(
        json_body(&raw)["error"]
            .as_str()
            .expect("error")
            .contains("no Host")
    );
    // An absolute-form target naming another host is refused whatever the Host header says.
    let raw = send(
        sandbox.addr(),
        "GET",
        "http://rebind.attacker.example/sandbox/users",
        &[("Host", &own_host(&sandbox))],
        "",
    )
    .await;
    assert_eq!(raw.status(), 403, "{raw:?}");
}

#[tokio::test]
async fn the_bound_address_localhost_and_configured_names_are_accepted() {
    let sandbox = builder()
        .allowed_host("Sandbox.Test:8089")
        .allowed_host("sandbox.test")
        .start_local()
        .await
        .expect("starts");
    let port = sandbox.addr().port();
    for host in [
        own_host(&sandbox),
        format!("localhost:{port}"),
        format!("LOCALHOST:{port}"),
        "sandbox.test:8089".to_owned(),
        "sandbox.test".to_owned(),
        "sandbox.test:80".to_owned(),
    ] {
        let raw = send(
            sandbox.addr(),
            "GET",
            "/sandbox/users",
            &[("Host", &host)],
            "",
        )
        .await;
        assert_eq!(raw.status(), 200, "{host}: {raw:?}");
    }
    let raw = send(
        sandbox.addr(),
        "GET",
        "/sandbox/users",
        &[("Host", "sandbox.test:8090")],
        "",
    )
    .await;
    assert_eq!(raw.status(), 403, "{raw:?}");

    let refused = builder()
        .allowed_host("bad host name")
        .start_local()
        .await
        .expect_err("an invalid allowed host fails the start");
    assert!(refused.to_string().contains("bad host name"), "{refused}");
}

#[tokio::test]
async fn a_request_from_a_foreign_origin_is_refused() {
    let sandbox = sandbox_with_user(ALICE).await;
    let host = own_host(&sandbox);
    for origin in ["https://attacker.example", "null", "http://localhost:1"] {
        let raw = send(
            sandbox.addr(),
            "GET",
            "/sandbox/notifications",
            &[("Host", &host), ("Origin", origin)],
            "",
        )
        .await;
        assert_eq!(raw.status(), 403, "{origin}: {raw:?}");
        let error = json_body(&raw)["error"].as_str().expect("error").to_owned();
        assert!(error.contains(origin), "{error}");
        assert!(!raw.body.contains("authCode"));
    }
    let raw = send(
        sandbox.addr(),
        "POST",
        "/sandbox/held/release",
        &[
            ("Host", &host),
            ("Origin", "https://attacker.example"),
            ("Content-Type", "application/json"),
        ],
        "",
    )
    .await;
    assert_eq!(raw.status(), 403, "{raw:?}");
    // The sandbox's own origin (a page it served) is fine.
    let own = format!("http://{host}");
    let raw = send(
        sandbox.addr(),
        "GET",
        "/sandbox/users",
        &[("Host", &host), ("Origin", &own)],
        "",
    )
    .await;
    assert_eq!(raw.status(), 200, "{raw:?}");
}

#[tokio::test]
async fn a_form_post_or_a_state_change_without_json_is_refused() {
    let sandbox = sandbox_with_user(ALICE).await;
    let host = own_host(&sandbox);
    sandbox.add_fault(
        serde_json::from_value(json!({ "api": "pay", "action": { "kind": "http500" } }))
            .expect("rule"),
    );
    // What an HTML form can send: urlencoded, multipart, and text/plain (whose body can look like
    // JSON). None reaches the control API.
    let user = json!({ "login_id": "mallory@example.com", "wallet": "ALIPAY_CN", "balances": [] })
        .to_string();
    for (content_type, body) in [
        (
            "application/x-www-form-urlencoded",
            "login_id=mallory%40example.com&wallet=ALIPAY_CN",
        ),
        (
            "multipart/form-data; boundary=x",
            "--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nb\r\n--x--\r\n",
        ),
        ("text/plain", user.as_str()),
    ] {
        let raw = send(
            sandbox.addr(),
            "POST",
            "/sandbox/users",
            &[("Host", &host), ("Content-Type", content_type)],
            body,
        )
        .await;
        assert_eq!(raw.status(), 403, "{content_type}: {raw:?}");
        let error = json_body(&raw)["error"].as_str().expect("error").to_owned();
        assert!(error.contains("Content-Type: application/json"), "{error}");
        assert!(error.contains(content_type), "{error}");
    }
    assert!(sandbox.user("mallory@example.com").is_none());
    // Bodiless state changes need it too: an empty form post cannot clear the faults, and a
    // DELETE without it is refused.
    let raw = send(
        sandbox.addr(),
        "POST",
        "/sandbox/held/release",
        &[
            ("Host", &host),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        "",
    )
    .await;
    assert_eq!(raw.status(), 403, "{raw:?}");
    let raw = send(
        sandbox.addr(),
        "DELETE",
        "/sandbox/faults",
        &[("Host", &host)],
        "",
    )
    .await;
    assert_eq!(raw.status(), 403, "{raw:?}");
    assert!(
        json_body(&raw)["error"]
            .as_str()
            .expect("error")
            .contains("(got none)")
    );
    let (status, faults) = Control::new(&sandbox).get("/sandbox/faults").await;
    assert_eq!(status, 200);
    assert_eq!(faults.as_array().map(Vec::len), Some(1), "{faults}");

    // With JSON declared, an empty body is fine where the endpoint takes none.
    let raw = send(
        sandbox.addr(),
        "DELETE",
        "/sandbox/faults",
        &[
            ("Host", &host),
            ("Content-Type", "application/json; charset=utf-8"),
        ],
        "",
    )
    .await;
    assert_eq!(raw.status(), 204, "{raw:?}");
    let raw = send(
        sandbox.addr(),
        "POST",
        &format!("/sandbox/users/{ALICE}/unbind"),
        &[("Host", &host), ("Content-Type", "application/json")],
        "",
    )
    .await;
    assert_eq!(raw.status(), 200, "{raw:?}");
    assert_eq!(json_body(&raw)["tokens_cancelled"], 0);
    let raw = send(
        sandbox.addr(),
        "POST",
        &format!("/sandbox/users/{ALICE}/unbind"),
        &[("Host", &host), ("Content-Type", "application/json")],
        "{\"client\": 1}",
    )
    .await;
    assert_eq!(raw.status(), 400, "{raw:?}");
    assert!(
        json_body(&raw)["error"]
            .as_str()
            .expect("error")
            .contains("client_id")
    );
}

/// A consult whose consent link the test opens; returns the link.
async fn consent_link(client: &TestClient, auth_state: &str) -> String {
    let consult = client
        .call(
            Api::Consult,
            &consult_body(auth_state, "https://merchant.example/authorized"),
        )
        .await;
    assert_eq!(consult.result_status(), "S", "{}", consult.body);
    consult.str("normalUrl")
}

#[tokio::test]
async fn the_consent_page_still_works_from_a_browser_and_refuses_foreign_hosts_and_origins() {
    let sandbox = sandbox_with_user(ALICE).await;
    let client = TestClient::new(&sandbox);
    let host = own_host(&sandbox);
    let link = consent_link(&client, "browser-state").await;
    let path = link
        .strip_prefix(sandbox.base_url())
        .expect("the link is on the sandbox")
        .to_owned();
    let browser = [
        ("Host", host.as_str()),
        (
            "User-Agent",
            "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
        ),
        ("Accept", "text/html,application/xhtml+xml"),
        ("Sec-Fetch-Site", "cross-site"),
        ("Sec-Fetch-Mode", "navigate"),
        ("Sec-Fetch-Dest", "document"),
    ];
    // Rebinding the consent page is refused; a foreign page posting the form is refused.
    let rebound = send(
        sandbox.addr(),
        "GET",
        &path,
        &[("Host", "rebind.attacker.example")],
        "",
    )
    .await;
    assert_eq!(rebound.status(), 403, "{rebound:?}");
    assert!(
        rebound.body.contains("rebind.attacker.example"),
        "{rebound:?}"
    );
    let form = format!("decision=agree&user={}", form_escape(ALICE));
    let mut foreign = browser.to_vec();
    foreign.extend([
        ("Origin", "https://attacker.example"),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ]);
    let forged = send(sandbox.addr(), "POST", &path, &foreign, &form).await;
    assert_eq!(forged.status(), 403, "{forged:?}");

    // The browser: a navigation (no Origin), then its own form posted from the page.
    let page = send(sandbox.addr(), "GET", &path, &browser, "").await;
    assert_eq!(page.status(), 200, "{page:?}");
    assert!(page.body.contains("<form method=\"post\""), "{}", page.body);
    let own = format!("http://{host}");
    let mut posting = browser.to_vec();
    posting[3] = ("Sec-Fetch-Site", "same-origin");
    posting.extend([
        ("Origin", own.as_str()),
        ("Referer", link.as_str()),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ]);
    let decided = send(sandbox.addr(), "POST", &path, &posting, &form).await;
    assert_eq!(decided.status(), 303, "{decided:?}");
    let location = decided
        .head
        .lines()
        .find_map(|l| l.strip_prefix("location: "))
        .expect("a redirect");
    assert!(
        location.starts_with("https://merchant.example/authorized?"),
        "{location}"
    );
    assert!(query_param(location, "authCode").is_some(), "{location}");
}

#[tokio::test]
async fn the_control_token_is_required_when_set_and_only_on_the_control_api() {
    let token = "ctl-0123456789abcdef";
    let sandbox = builder()
        .control_token(token)
        .user(ams_sandbox::UserSpec::new(
            ALICE,
            ams_protocol::CustomerBelongsTo::AlipayCn,
            vec![usd(10_000)],
        ))
        .start_local()
        .await
        .expect("starts");
    let host = own_host(&sandbox);
    let bearer = format!("Bearer {token}");
    let lower = format!("bearer {token}");

    let missing = send(
        sandbox.addr(),
        "GET",
        "/sandbox/users",
        &[("Host", &host)],
        "",
    )
    .await;
    assert_eq!(missing.status(), 401, "{missing:?}");
    assert!(
        missing
            .head
            .to_ascii_lowercase()
            .contains("www-authenticate: bearer"),
        "{missing:?}"
    );
    assert!(
        json_body(&missing)["error"]
            .as_str()
            .expect("error")
            .contains("Authorization: Bearer")
    );
    for wrong in [
        format!("Bearer {token}x"),
        "Bearer ctl-0123456789abcdeF".to_owned(),
        format!("Basic {token}"),
        token.to_owned(),
        "Bearer ".to_owned(),
    ] {
        let raw = send(
            sandbox.addr(),
            "GET",
            "/sandbox/users",
            &[("Host", &host), ("Authorization", &wrong)],
            "",
        )
        .await;
        assert_eq!(raw.status(), 401, "{wrong}: {raw:?}");
        assert!(
            !raw.body.contains(token),
            "the token is never echoed: {raw:?}"
        );
    }
    let create = send(
        sandbox.addr(),
        "POST",
        "/sandbox/users",
        &[("Host", &host), ("Content-Type", "application/json")],
        &json!({ "login_id": "mallory@example.com", "wallet": "ALIPAY_CN", "balances": [] })
            .to_string(),
    )
    .await;
    assert_eq!(create.status(), 401, "{create:?}");
    assert!(sandbox.user("mallory@example.com").is_none());

    for authorization in [&bearer, &lower] {
        let raw = send(
            sandbox.addr(),
            "GET",
            "/sandbox/users",
            &[("Host", &host), ("Authorization", authorization)],
            "",
        )
        .await;
        assert_eq!(raw.status(), 200, "{raw:?}");
        assert!(raw.body.contains(ALICE), "{raw:?}");
    }
    // The token does not replace the other checks.
    let raw = send(
        sandbox.addr(),
        "GET",
        "/sandbox/users",
        &[
            ("Host", "rebind.attacker.example"),
            ("Authorization", &bearer),
        ],
        "",
    )
    .await;
    assert_eq!(raw.status(), 403, "{raw:?}");

    // The gateway and the consent page do not need it: a whole binding works without it.
    let client = TestClient::new(&sandbox);
    let (access, _) = bind(&client, ALICE, "token-state").await;
    let paid = client
        .call(Api::Pay, &pay_body("tok-pay-1", &usd(1_000), &access))
        .await;
    assert_eq!(paid.result_code(), "SUCCESS", "{}", paid.body);
    // The handle is in-process and unaffected.
    assert_eq!(sandbox.ledger(Some("tok-pay-1"), None).debits, 1);
    sandbox.advance_clock_ms(1_000);
    assert_eq!(
        sandbox.user(ALICE).map(|u| u.spec.login_id),
        Some(ALICE.to_owned())
    );

    for bad in ["", "two words", "line\n"] {
        let refused = builder()
            .control_token(bad)
            .start_local()
            .await
            .expect_err("an unusable token fails the start");
        assert!(refused.to_string().contains("control token"), "{refused}");
    }
    assert!(!format!("{:?}", builder().control_token(token)).contains(token));
}

#[tokio::test]
async fn the_handle_keeps_working_with_every_guard_on() {
    let sandbox = builder()
        .control_token("handle-token")
        .start_local()
        .await
        .expect("starts");
    let alice = sandbox
        .create_user(ams_sandbox::UserSpec::new(
            ALICE,
            ams_protocol::CustomerBelongsTo::AlipayCn,
            vec![usd(5_000)],
        ))
        .expect("created");
    assert_eq!(alice.spec.login_id, ALICE);
    let view = sandbox
        .update_clock(&ClockUpdate {
            set: Some("2030-06-01T12:00:00+08:00".to_owned()),
            advance_ms: Some(60_000),
            frozen: Some(true),
        })
        .expect("moved");
    assert_eq!(view.now, "2030-06-01T12:01:00+08:00");
    sandbox.clear_faults();
    assert!(sandbox.release_held().is_empty());
    assert!(sandbox.notifications().is_empty());
    assert_eq!(sandbox.ledger(None, Some(ALICE)).debits, 0);
    assert_eq!(sandbox.unbind(ALICE, None), Ok(0));
}

#[tokio::test]
async fn absurd_clock_moves_are_refused_over_http_and_stop_at_the_range_through_the_handle() {
    let fx = Fixture::new().await;
    let control = Control::new(&fx.sandbox);
    let now = freeze_at(&fx.sandbox, "2030-01-01T00:00:00Z");
    for update in [
        json!({ "advance_ms": i64::MAX }),
        json!({ "advance_ms": i64::MIN }),
        json!({ "advance_ms": -now - 1 }),
        json!({ "set": "9999-06-01T00:00:00+08:00" }),
        json!({ "set": "1969-12-31T23:59:59Z" }),
        json!({ "set": "9998-12-31T00:00:00+08:00", "advance_ms": 172_800_000 }),
    ] {
        let (status, body) = control.post("/sandbox/clock", &update).await;
        assert_eq!(status, 400, "{update}: {body}");
        let error = body["error"].as_str().expect("error");
        assert!(error.contains("out of range"), "{error}");
        assert!(error.contains("9999-01-01T08:00:00+08:00"), "{error}");
        assert_eq!(
            fx.sandbox.clock().now_ms(),
            now,
            "a refused move changes nothing"
        );
    }
    let err = fx
        .sandbox
        .update_clock(&ClockUpdate {
            advance_ms: Some(i64::MAX),
            ..ClockUpdate::default()
        })
        .expect_err("refused");
    assert!(err.to_string().contains("out of range"), "{err}");

    // Through the handle a move stops at the end of the range; the sandbox keeps working there:
    // lifetimes and retry intervals are added to the latest time without overflowing (which, in
    // a debug build, used to panic and kill the notifier).
    let merchant = MerchantEndpoint::start().await;
    merchant.refuse_next(2);
    fx.sandbox.advance_clock_ms(i64::MAX);
    assert_eq!(fx.sandbox.clock().now_ms(), SandboxClock::LATEST_MS);
    let client = TestClient::new(&fx.sandbox);
    let (access, _) = bind(&client, ALICE, "late-state").await;
    let pay = |id: &str| {
        let mut body = pay_body(id, &usd(100), &access);
        body["paymentNotifyUrl"] = json!(merchant.url("/late"));
        body
    };
    let paid = client.call(Api::Pay, &pay("late-pay")).await;
    assert_eq!(paid.result_code(), "SUCCESS", "{}", paid.body);
    // Refused twice (at once, then again at +0 s): the next try is due 2 minutes after the end.
    let log = wait_log(&fx.sandbox, "two refused attempts", |log| {
        log.iter().any(|n| {
            n.request_id == "late-pay" && n.attempts.len() == 2 && n.next_attempt_ms.is_some()
        })
    })
    .await;
    let record = log
        .iter()
        .find(|n| n.request_id == "late-pay")
        .expect("record");
    assert_eq!(
        record.next_attempt_ms,
        Some(SandboxClock::LATEST_MS + 120_000),
        "{record:#?}"
    );
    // The notifier is alive: the next payment's notification is delivered.
    let paid = client.call(Api::Pay, &pay("late-pay-2")).await;
    assert_eq!(paid.result_code(), "SUCCESS", "{}", paid.body);
    wait_log(&fx.sandbox, "the second notification delivered", |log| {
        log.iter()
            .any(|n| n.request_id == "late-pay-2" && n.state == DeliveryState::Delivered)
    })
    .await;
    let (status, clock) = control.get("/sandbox/clock").await;
    assert_eq!(status, 200);
    assert_eq!(clock["now"], "9999-01-01T08:00:00+08:00");
}

/// A merchant endpoint that redirects every notification to `/landing`, and records what lands.
async fn redirecting_merchant() -> (String, std::sync::Arc<std::sync::Mutex<u32>>) {
    let landed = std::sync::Arc::new(std::sync::Mutex::new(0_u32));
    let seen = landed.clone();
    let app = Router::new()
        .route(
            "/notify",
            post(|| async {
                (
                    StatusCode::TEMPORARY_REDIRECT,
                    [(header::LOCATION, "/landing")],
                )
                    .into_response()
            }),
        )
        .route(
            "/landing",
            post(move || {
                let seen = seen.clone();
                async move {
                    *seen.lock().expect("lock") += 1;
                    ams_protocol::ACK_SUCCESS_BODY
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, landed)
}

#[tokio::test]
async fn the_notifier_follows_no_redirect() {
    let (base, landed) = redirecting_merchant().await;
    let fx = Fixture::new().await;
    let mut body = pay_body("redirected", &usd(100), &fx.access);
    body["paymentNotifyUrl"] = json!(format!("{base}/notify"));
    assert_eq!(
        fx.client.call(Api::Pay, &body).await.result_code(),
        "SUCCESS"
    );
    let log = wait_log(&fx.sandbox, "two attempts", |log| {
        log.iter()
            .any(|n| n.request_id == "redirected" && n.attempts.len() >= 2)
    })
    .await;
    let record = log
        .iter()
        .find(|n| n.request_id == "redirected")
        .expect("record");
    for attempt in &record.attempts {
        assert_eq!(attempt.http_status, Some(307), "{record:#?}");
        assert!(!attempt.acknowledged);
    }
    assert_eq!(record.state, DeliveryState::Pending);
    assert_eq!(
        *landed.lock().expect("lock"),
        0,
        "the redirect target saw nothing"
    );
}

/// A merchant endpoint on a raw socket that answers every notification with `answer`.
async fn raw_merchant(answer: Vec<u8>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut buf = vec![0_u8; 16 * 1024];
                let mut got = Vec::new();
                // Read the head and whatever body came with it; the notifier waits for the answer.
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = stream.write_all(&answer).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    base
}

/// The acknowledgement preceded by `padding` bytes of JSON whitespace: still the same JSON value.
fn padded_ack(padding: usize) -> String {
    format!("{}{}", " ".repeat(padding), ams_protocol::ACK_SUCCESS_BODY)
}

async fn first_attempt(fx: &Fixture, base: &str, id: &str) -> ams_sandbox::DeliveryAttempt {
    let mut body = pay_body(id, &usd(100), &fx.access);
    body["paymentNotifyUrl"] = json!(format!("{base}/notify"));
    assert_eq!(
        fx.client.call(Api::Pay, &body).await.result_code(),
        "SUCCESS"
    );
    let log = wait_log(&fx.sandbox, "an attempt", |log| {
        log.iter()
            .any(|n| n.request_id == id && !n.attempts.is_empty())
    })
    .await;
    log.iter()
        .find(|n| n.request_id == id)
        .and_then(|n| n.attempts.first().cloned())
        .expect("an attempt")
}

#[tokio::test]
async fn the_notifier_reads_a_bounded_answer() {
    let fx = Fixture::new().await;
    // A small padded acknowledgement is still the acknowledgement.
    let small = padded_ack(1_000);
    let base = raw_merchant(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{small}",
            small.len()
        )
        .into_bytes(),
    )
    .await;
    let attempt = first_attempt(&fx, &base, "small-answer").await;
    assert!(attempt.acknowledged, "{attempt:?}");

    // Announced too long: not read.
    let big = padded_ack(200_000);
    let base = raw_merchant(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{big}",
            big.len()
        )
        .into_bytes(),
    )
    .await;
    let attempt = first_attempt(&fx, &base, "long-answer").await;
    assert!(!attempt.acknowledged, "{attempt:?}");
    assert_eq!(attempt.http_status, Some(200));
    let error = attempt.error.expect("an error");
    assert!(error.contains("longer than 65536 bytes"), "{error}");

    // Chunked, with no length announced: read up to the bound, then given up.
    let mut chunked =
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for _ in 0..20 {
        chunked.extend_from_slice(format!("{:x}\r\n{}\r\n", 8192, " ".repeat(8192)).as_bytes());
    }
    let ack = ams_protocol::ACK_SUCCESS_BODY;
    chunked.extend_from_slice(format!("{:x}\r\n{ack}\r\n0\r\n\r\n", ack.len()).as_bytes());
    let base = raw_merchant(chunked).await;
    let attempt = first_attempt(&fx, &base, "chunked-answer").await;
    assert!(!attempt.acknowledged, "{attempt:?}");
    let error = attempt.error.expect("an error");
    assert!(error.contains("longer than 65536 bytes"), "{error}");
}

#[tokio::test]
async fn a_connection_that_never_finishes_its_headers_is_closed() {
    let sandbox = builder()
        .header_read_timeout(Duration::from_millis(200))
        .start_local()
        .await
        .expect("starts");
    let started = tokio::time::Instant::now();
    let mut stream = tokio::net::TcpStream::connect(sandbox.addr())
        .await
        .expect("connect");
    stream
        .write_all(format!("GET /sandbox HTTP/1.1\r\nHost: {}\r\n", sandbox.addr()).as_bytes())
        .await
        .expect("write");
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest))
        .await
        .expect("the sandbox closes the connection")
        .ok();
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "{:?}",
        started.elapsed()
    );
    // A complete request is still answered.
    let raw = send(
        sandbox.addr(),
        "GET",
        "/sandbox",
        &[("Host", &own_host(&sandbox))],
        "",
    )
    .await;
    assert_eq!(raw.status(), 200, "{raw:?}");
}
