//! The control API over HTTP: the endpoint list, the clock (read, advance, set, freeze), fault
//! rules (add, list with counters, clear), merchant settings and switches, the ledger and the
//! notification log. (Held requests and sandbox settings: `transit`.)

use ams_protocol::Api;
use ams_sandbox::ClockUpdate;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn get_sandbox_lists_every_endpoint() {
    let sandbox = sandbox_with_user(ALICE).await;
    let (status, body) = Control::new(&sandbox).get("/sandbox").await;
    assert_eq!(status, 200);
    let routes: Vec<&str> = body["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .map(|e| e["route"].as_str().expect("route"))
        .collect();
    for route in [
        "GET /sandbox",
        "GET /sandbox/users",
        "POST /sandbox/users",
        "PATCH /sandbox/users/{login}",
        "POST /sandbox/users/{login}/unbind",
        "PUT /sandbox/merchants/{client_id}",
        "GET /sandbox/clock",
        "POST /sandbox/clock",
        "POST /sandbox/faults",
        "DELETE /sandbox/faults",
        "POST /sandbox/notification-faults",
        "GET /sandbox/notifications",
        "POST /sandbox/payments/{payment_request_id}/complete",
        "GET /sandbox/settings",
        "PUT /sandbox/settings",
        "GET /sandbox/held",
        "POST /sandbox/held/release",
    ] {
        assert!(routes.contains(&route), "{route} missing from {routes:?}");
    }
    assert!(routes.iter().any(|r| r.starts_with("GET /sandbox/ledger")));
    assert_eq!(routes.len(), ams_sandbox::control::ENDPOINTS.len());
    assert!(body["endpoints"][0]["what"].is_string());
}

#[tokio::test]
async fn the_clock_is_read_set_frozen_advanced_and_thawed_over_http() {
    let sandbox = sandbox_with_user(ALICE).await;
    let control = Control::new(&sandbox);
    let (status, clock) = control.get("/sandbox/clock").await;
    assert_eq!(status, 200);
    assert_eq!(clock["frozen"], false);
    assert!(clock["unix_ms"].as_i64().expect("unix_ms") > at("2024-01-01T00:00:00Z"));

    let (status, clock) = control
        .post(
            "/sandbox/clock",
            &json!({ "set": "2024-03-01T23:59:00+08:00", "frozen": true }),
        )
        .await;
    assert_eq!(status, 200, "{clock}");
    assert_eq!(
        clock,
        json!({ "unix_ms": at("2024-03-01T23:59:00+08:00"), "now": "2024-03-01T23:59:00+08:00", "frozen": true })
    );
    assert_eq!(sandbox.clock().now_ms(), at("2024-03-01T23:59:00+08:00"));

    let (_, clock) = control
        .post("/sandbox/clock", &json!({ "advance_ms": 90_000 }))
        .await;
    assert_eq!(clock["now"], "2024-03-02T00:00:30+08:00");
    let (_, clock) = control.get("/sandbox/clock").await;
    assert_eq!(
        clock["now"], "2024-03-02T00:00:30+08:00",
        "frozen: it stays"
    );

    // Set and advance apply in order.
    let (_, clock) = control
        .post(
            "/sandbox/clock",
            &json!({ "set": "2024-01-01T00:00:00Z", "advance_ms": 1_000 }),
        )
        .await;
    assert_eq!(clock["now"], "2024-01-01T08:00:01+08:00");

    let (_, clock) = control
        .post("/sandbox/clock", &json!({ "frozen": false }))
        .await;
    assert_eq!(clock["frozen"], false);
    let thawed = clock["unix_ms"].as_i64().expect("unix_ms");
    assert!(thawed >= at("2024-01-01T00:00:01Z"));
    assert!(
        thawed < at("2024-01-01T00:01:00Z"),
        "it runs on from where it stood"
    );

    for bad in [
        json!({ "set": "yesterday" }),
        json!({ "advance": 5 }),
        json!({ "frozen": "yes" }),
    ] {
        let (status, body) = control.post("/sandbox/clock", &bad).await;
        assert_eq!(status, 400, "{bad}");
        assert!(body["error"].is_string(), "{body}");
    }
}

#[tokio::test]
async fn set_and_freeze_in_one_update_freezes_exactly_at_the_time_set() {
    let sandbox = sandbox_with_user(ALICE).await;
    for i in 0..2_000 {
        sandbox
            .update_clock(&ClockUpdate {
                frozen: Some(false),
                ..ClockUpdate::default()
            })
            .expect("thaw");
        let view = sandbox
            .update_clock(&ClockUpdate {
                set: Some("2024-03-01T23:59:00+08:00".to_owned()),
                frozen: Some(true),
                ..ClockUpdate::default()
            })
            .expect("set");
        assert_eq!(
            view.unix_ms,
            at("2024-03-01T23:59:00+08:00"),
            "attempt {i}: frozen {} ms off",
            view.unix_ms - at("2024-03-01T23:59:00+08:00")
        );
    }
}

#[tokio::test]
async fn faults_are_added_listed_and_cleared_over_http() {
    let fx = Fixture::new().await;
    let control = Control::new(&fx.sandbox);
    let (status, body) = control
        .post(
            "/sandbox/faults",
            &json!({
                "api": "pay",
                "request_id": "over-http",
                "process": false,
                "action": { "kind": "unknown", "code": "UNKNOWN_EXCEPTION" }
            }),
        )
        .await;
    assert_eq!((status, body), (201, json!({ "id": 1 })));
    let (status, _) = control
        .post(
            "/sandbox/faults",
            &json!({ "api": "inquiryPayment", "times": null, "action": { "kind": "delay", "ms": 1 } }),
        )
        .await;
    assert_eq!(status, 201);

    let answer = fx.pay("over-http", 100).await;
    assert_eq!(answer.result_code(), "UNKNOWN_EXCEPTION");
    assert_eq!(
        fx.inquiry("over-http").await.result_code(),
        "ORDER_NOT_EXIST"
    );
    let (status, list) = control.get("/sandbox/faults").await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().map(Vec::len), Some(2), "{list}");
    assert_eq!(list[0]["rule"]["api"], "pay");
    assert_eq!(list[0]["rule"]["action"]["kind"], "unknown");
    assert_eq!(
        (list[0]["seen"].clone(), list[0]["fired"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(list[1]["rule"]["times"], serde_json::Value::Null);
    assert_eq!(list[1]["fired"], 1);

    let (status, _) = control.delete("/sandbox/faults").await;
    assert_eq!(status, 204);
    let (_, list) = control.get("/sandbox/faults").await;
    assert_eq!(list, json!([]));
    assert_eq!(fx.pay("over-http", 100).await.result_code(), "SUCCESS");

    for bad in [
        json!({ "api": "payy", "action": { "kind": "drop" } }),
        json!({ "api": "pay", "action": { "kind": "explode" } }),
        json!({ "api": "pay" }),
    ] {
        let (status, body) = control.post("/sandbox/faults", &bad).await;
        assert_eq!(status, 400, "{bad}");
        assert!(body["error"].is_string(), "{body}");
    }
    let (status, _) = control
        .post(
            "/sandbox/notification-faults",
            &json!({ "action": { "kind": "sometimes" } }),
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn merchant_settings_ledger_and_notifications_over_http() {
    let merchant = MerchantEndpoint::start().await;
    let fx = Fixture::new().await;
    let control = Control::new(&fx.sandbox);
    let settings = json!({
        "name": "Shop over HTTP",
        "payment_notify_url": merchant.url("/http/payment"),
    });
    let (status, _) = control
        .put(&format!("/sandbox/merchants/{CLIENT_ID}"), &settings)
        .await;
    assert_eq!(status, 200);
    let (status, got) = control
        .get(&format!("/sandbox/merchants/{CLIENT_ID}"))
        .await;
    assert_eq!((status, got), (200, settings));
    let (status, _) = control
        .put("/sandbox/merchants/SANDBOX_NOBODY", &json!({ "name": "x" }))
        .await;
    assert_eq!(status, 404);
    let (status, _) = control.get("/sandbox/merchants/SANDBOX_NOBODY").await;
    assert_eq!(status, 404);

    // The consent page shows the name.
    let consult = fx
        .client
        .call(
            Api::Consult,
            &consult_body("named", "https://merchant.example/r"),
        )
        .await;
    let html = reqwest::get(consult.str("normalUrl"))
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(html.contains("Shop over HTTP"), "{html}");

    fx.pay("over-http", 2_000).await;
    merchant.wait_for(1).await;
    let (status, ledger) = control
        .get("/sandbox/ledger?payment_request_id=over-http")
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (ledger["debits"].clone(), ledger["credits"].clone()),
        (json!(1), json!(0))
    );
    assert_eq!(ledger["entries"][0]["kind"], "debit");
    assert_eq!(ledger["entries"][0]["amount"]["value"], "2000");
    let (_, by_user) = control.get(&format!("/sandbox/ledger?user={ALICE}")).await;
    assert_eq!(by_user["debits"], 1);
    let (_, nobody) = control.get("/sandbox/ledger?user=nobody").await;
    assert_eq!(nobody["entries"], json!([]));

    let log = wait_log(&fx.sandbox, "delivered", |log| {
        log.first()
            .is_some_and(|r| r.state == ams_sandbox::DeliveryState::Delivered)
    })
    .await;
    let (status, notifications) = control.get("/sandbox/notifications").await;
    assert_eq!(status, 200);
    assert_eq!(notifications[0]["notification"], "payment");
    assert_eq!(notifications[0]["state"], "delivered");
    assert_eq!(notifications[0]["request_id"], "over-http");
    assert_eq!(
        notifications[0]["url"],
        merchant.url("/http/payment").as_str()
    );
    assert_eq!(notifications[0]["body"], log[0].body.as_str());
    assert_eq!(notifications[0]["attempts"][0]["acknowledged"], true);
}

#[tokio::test]
async fn the_token_created_switch_is_a_merchant_setting_over_http_and_in_the_builder() {
    let merchant = MerchantEndpoint::start().await;
    let fx = Fixture::new().await;
    let control = Control::new(&fx.sandbox);
    let path = format!("/sandbox/merchants/{CLIENT_ID}");
    let types = |sandbox: &ams_sandbox::SandboxHandle| -> Vec<String> {
        sandbox
            .notifications()
            .iter()
            .map(|n| {
                let body: serde_json::Value = serde_json::from_str(&n.body).expect("JSON");
                body["authorizationNotifyType"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    };

    let on =
        json!({ "authorization_notify_url": merchant.url("/auth"), "notify_token_created": true });
    assert_eq!(control.put(&path, &on).await, (200, on.clone()));
    let (status, got) = control.get(&path).await;
    assert_eq!((status, &got), (200, &on));
    let view: ams_sandbox::MerchantView = serde_json::from_value(got).expect("a MerchantView");
    assert!(view.notify_token_created);
    assert_eq!(Some(view), fx.sandbox.merchant(CLIENT_ID));
    bind(&fx.client, ALICE, "switch-on").await;
    assert_eq!(types(&fx.sandbox), ["AUTHCODE_CREATED", "TOKEN_CREATED"]);

    // A PUT replaces everything: without the switch it is off (and not shown).
    let off = json!({ "authorization_notify_url": merchant.url("/auth") });
    assert_eq!(control.put(&path, &off).await, (200, off.clone()));
    assert_eq!(control.get(&path).await, (200, off));
    bind(&fx.client, ALICE, "switch-off").await;
    assert_eq!(
        types(&fx.sandbox),
        ["AUTHCODE_CREATED", "TOKEN_CREATED", "AUTHCODE_CREATED"]
    );
    for bad in [
        json!({ "notify_token_created": "yes" }),
        json!({ "notify_token_creatd": true }),
    ] {
        let (status, body) = control.put(&path, &bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }

    // The builder sets it at start, for registered merchants only.
    let started = builder()
        .notify_token_created(CLIENT_ID, true)
        .start_local()
        .await
        .expect("starts");
    assert!(
        started
            .merchant(CLIENT_ID)
            .expect("merchant")
            .notify_token_created
    );
    let refused = builder()
        .notify_token_created("SANDBOX_NOBODY", true)
        .start_local()
        .await
        .expect_err("an unknown merchant is refused");
    assert!(refused.to_string().contains("SANDBOX_NOBODY"), "{refused}");
}
