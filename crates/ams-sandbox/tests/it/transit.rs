//! Requests still in transit: the `hold` fault (no answer, no effect until released), releases by
//! the clock (handle, control API, a later gateway call, real time) and on demand, each landing as
//! a fresh arrival at the moment of its release; and what a cancel that overtook its pay does to
//! that pay (`OvertakenPay`), through the builder, the handle and the control API.

use ams_protocol::Api;
use ams_sandbox::{ClockUpdate, EntryKind, FaultAction, FaultRule, OvertakenPay};
use serde_json::json;

use crate::support::*;

/// Holds the next call of `api` with this request id for `ms` of sandbox time.
fn held_for(api: Api, request_id: &str, ms: u64) -> FaultRule {
    FaultRule::new(api, FaultAction::Hold { ms }).for_request(request_id)
}

/// The request ids held now, in release order.
fn held_ids(fx: &Fixture) -> Vec<String> {
    fx.sandbox
        .held()
        .into_iter()
        .map(|h| h.request_id.unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn a_held_pay_lands_as_a_fresh_arrival_when_the_clock_reaches_its_due_time() {
    let fx = Fixture::new().await;
    let t0 = freeze_at(&fx.sandbox, "2024-06-01T12:00:00+08:00");
    fx.sandbox.add_fault(held_for(Api::Pay, "transit", 5_000));
    let lost = fx.try_pay("transit", 1_000).await;
    assert!(lost.is_err(), "an answer came back: {lost:?}");
    let held = fx.sandbox.held();
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(
        (held[0].api, held[0].request_id.as_deref()),
        (Api::Pay, Some("transit"))
    );
    assert_eq!((held[0].held_at_ms, held[0].due_ms), (t0, t0 + 5_000));
    assert_eq!(held[0].due, "2024-06-01T12:00:05+08:00");
    assert_eq!(held[0].client_id, CLIENT_ID);

    // In transit, nothing happened (the rule's `process: true` does not apply to a hold).
    assert_eq!(fx.debits("transit"), 0);
    assert_eq!(fx.inquiry("transit").await.result_code(), "ORDER_NOT_EXIST");
    fx.sandbox.advance_clock_ms(4_999);
    assert_eq!(fx.sandbox.held().len(), 1);
    assert_eq!(fx.debits("transit"), 0);

    // Due: it lands before advance_clock_ms returns, at the time of its release.
    fx.sandbox.advance_clock_ms(1);
    assert!(fx.sandbox.held().is_empty());
    let ledger = fx.sandbox.ledger(Some("transit"), None);
    assert_eq!(ledger.debits, 1);
    assert_eq!(ledger.entries[0].at_ms, t0 + 5_000);
    let inquiry = fx.inquiry("transit").await;
    assert_eq!(inquiry.json["paymentStatus"], "SUCCESS", "{}", inquiry.body);
    assert_eq!(
        inquiry.str("paymentCreateTime"),
        "2024-06-01T12:00:05+08:00"
    );

    // The merchant's retry of the unanswered pay finds it done, once.
    let retry = fx.pay("transit", 1_000).await;
    assert_eq!(retry.result_code(), "SUCCESS");
    assert_eq!(retry.str("paymentId"), inquiry.str("paymentId"));
    assert_eq!(fx.debits("transit"), 1);
    assert_eq!(fx.balance(), 9_000);
}

#[tokio::test]
async fn by_default_a_cancel_that_overtakes_its_pay_finds_nothing_and_the_pay_still_debits() {
    let fx = Fixture::new().await;
    assert_eq!(fx.sandbox.settings().overtaken_pay, OvertakenPay::Debits);
    fx.sandbox
        .add_fault(held_for(Api::Pay, "overtaken", 60_000));
    assert!(fx.try_pay("overtaken", 2_500).await.is_err());
    let cancel = fx.cancel("overtaken").await;
    assert_eq!(
        (cancel.result_status(), cancel.result_code()),
        ("F", "ORDER_NOT_EXIST")
    );

    let released = fx.sandbox.release_held();
    assert_eq!(released.len(), 1, "{released:?}");
    assert_eq!(released[0].request_id.as_deref(), Some("overtaken"));
    assert!(fx.sandbox.held().is_empty());
    assert_eq!(fx.debits("overtaken"), 1);
    assert_eq!(fx.balance(), 7_500);
    assert_eq!(
        fx.inquiry("overtaken").await.json["paymentStatus"],
        "SUCCESS"
    );

    // Only the merchant's next cancel gives the money back.
    assert_eq!(fx.cancel("overtaken").await.result_code(), "SUCCESS");
    assert_eq!(fx.balance(), 10_000);
    let ledger = fx.sandbox.ledger(Some("overtaken"), None);
    assert_eq!((ledger.debits, ledger.credits), (1, 1));
}

#[tokio::test]
async fn when_closed_an_overtaken_pay_is_answered_order_is_closed_and_moves_no_money() {
    let merchant = MerchantEndpoint::start().await;
    let fx = Fixture::start(builder().overtaken_pay(OvertakenPay::Closed)).await;
    fx.sandbox
        .set_merchant_settings(CLIENT_ID, merchant.settings())
        .expect("merchant");
    fx.sandbox
        .add_fault(held_for(Api::Pay, "closed-id", 60_000));
    assert!(fx.try_pay("closed-id", 2_500).await.is_err());
    assert_eq!(
        fx.cancel("closed-id").await.result_code(),
        "ORDER_NOT_EXIST"
    );

    assert_eq!(fx.sandbox.release_held().len(), 1);
    assert_eq!(fx.debits("closed-id"), 0);
    assert_eq!(fx.balance(), 10_000);
    let inquiry = fx.inquiry("closed-id").await;
    assert_eq!(inquiry.json["paymentStatus"], "FAIL", "{}", inquiry.body);
    assert_eq!(inquiry.json["paymentResultCode"], "ORDER_IS_CLOSED");

    // The retry gets the same final answer; the failure is notified like any failed pay.
    let retry = fx.pay("closed-id", 2_500).await;
    assert_eq!(
        (retry.result_status(), retry.result_code()),
        ("F", "ORDER_IS_CLOSED")
    );
    let got = merchant.wait_for(1).await;
    let notify = got[0].json();
    assert_eq!(notify["paymentRequestId"], "closed-id");
    assert_eq!(notify["result"]["resultStatus"], "F");
    assert_eq!(notify["result"]["resultCode"], "ORDER_IS_CLOSED");
    assert_eq!(fx.debits("closed-id"), 0);

    // Only the cancelled id is closed.
    assert_eq!(fx.pay("other", 1_000).await.result_code(), "SUCCESS");
    assert_eq!(fx.balance(), 9_000);
}

#[tokio::test]
async fn the_overtaken_pay_setting_is_read_and_changed_through_the_control_api_and_the_handle() {
    let fx = Fixture::new().await;
    let control = Control::new(&fx.sandbox);
    let (status, got) = control.get("/sandbox/settings").await;
    assert_eq!(
        (status, got),
        (
            200,
            json!({ "overtaken_pay": "debits", "unsigned_refusals": false, "no_resend": false, "silent_unbind_wallets": [], "customs_receipt_delay_ms": 60_000, "registration_review_delay_ms": 60_000, "refunds_in_process": false, "refund_process_delay_ms": 60_000, "payment_pending_delay_ms": 60_000, "apply_token_checks_user": true })
        )
    );
    let (status, got) = control
        .put("/sandbox/settings", &json!({ "overtaken_pay": "closed" }))
        .await;
    assert_eq!(
        (status, got),
        (
            200,
            json!({ "overtaken_pay": "closed", "unsigned_refusals": false, "no_resend": false, "silent_unbind_wallets": [], "customs_receipt_delay_ms": 60_000, "registration_review_delay_ms": 60_000, "refunds_in_process": false, "refund_process_delay_ms": 60_000, "payment_pending_delay_ms": 60_000, "apply_token_checks_user": true })
        )
    );
    assert_eq!(fx.sandbox.settings().overtaken_pay, OvertakenPay::Closed);

    // In force at once: the pay a cancel overtook is closed (here it simply comes later).
    assert_eq!(fx.cancel("late-pay").await.result_code(), "ORDER_NOT_EXIST");
    assert_eq!(
        fx.pay("late-pay", 1_000).await.result_code(),
        "ORDER_IS_CLOSED"
    );

    fx.sandbox.set_overtaken_pay(OvertakenPay::Debits);
    let (_, got) = control.get("/sandbox/settings").await;
    assert_eq!(
        got,
        json!({ "overtaken_pay": "debits", "unsigned_refusals": false, "no_resend": false, "silent_unbind_wallets": [], "customs_receipt_delay_ms": 60_000, "registration_review_delay_ms": 60_000, "refunds_in_process": false, "refund_process_delay_ms": 60_000, "payment_pending_delay_ms": 60_000, "apply_token_checks_user": true })
    );
    assert_eq!(
        fx.cancel("later-pay").await.result_code(),
        "ORDER_NOT_EXIST"
    );
    assert_eq!(fx.pay("later-pay", 1_000).await.result_code(), "SUCCESS");
    assert_eq!((fx.debits("late-pay"), fx.debits("later-pay")), (0, 1));

    for bad in [
        json!({ "overtaken_pay": "refunds" }),
        json!({ "overtaken": "closed" }),
    ] {
        let (status, body) = control.put("/sandbox/settings", &bad).await;
        assert_eq!(status, 400, "{bad}");
        assert!(body["error"].is_string(), "{body}");
    }
    assert_eq!(fx.sandbox.settings().overtaken_pay, OvertakenPay::Debits);
}

#[tokio::test]
async fn a_gateway_call_after_the_due_time_first_lands_what_is_due_in_due_order() {
    let fx = Fixture::new().await;
    let t0 = freeze_at(&fx.sandbox, "2024-06-01T12:00:00+08:00");
    fx.sandbox
        .add_fault(held_for(Api::Pay, "due-second", 3_000));
    fx.sandbox.add_fault(held_for(Api::Pay, "due-first", 1_000));
    fx.sandbox.add_fault(held_for(Api::Pay, "not-yet", 10_000));
    for id in ["due-second", "due-first", "not-yet"] {
        assert!(fx.try_pay(id, 1_000).await.is_err(), "{id}");
    }
    assert_eq!(held_ids(&fx), ["due-first", "due-second", "not-yet"]);

    // Moved straight on the SandboxClock (not through the handle), a frozen clock releases nothing
    // by itself: what is due waits for the next gateway call.
    fx.sandbox.clock().advance_ms(5_000);
    assert_eq!(fx.sandbox.held().len(), 3);
    assert_eq!(fx.sandbox.ledger(None, Some(ALICE)).debits, 0);

    // The cancel arrives after two were due: they land first, in due order, so it finds its pay.
    let cancel = fx.cancel("due-first").await;
    assert_eq!(cancel.result_code(), "SUCCESS", "{}", cancel.body);
    let ledger = fx.sandbox.ledger(None, Some(ALICE));
    let lines: Vec<(&str, EntryKind, i64)> = ledger
        .entries
        .iter()
        .map(|e| (e.payment_request_id.as_str(), e.kind, e.at_ms))
        .collect();
    assert_eq!(
        lines,
        [
            ("due-first", EntryKind::Debit, t0 + 5_000),
            ("due-second", EntryKind::Debit, t0 + 5_000),
            ("due-first", EntryKind::Credit, t0 + 5_000),
        ]
    );
    assert_eq!(held_ids(&fx), ["not-yet"]);
    assert_eq!(fx.balance(), 9_000);
}

#[tokio::test]
async fn a_held_pay_released_after_its_payment_expiry_time_is_closed() {
    let fx = Fixture::new().await;
    let t0 = freeze_at(&fx.sandbox, "2024-06-01T12:00:00+08:00");
    let expiring = |id: &str| {
        let mut body = pay_body(id, &usd(1_000), &fx.access);
        body["paymentExpiryTime"] = json!(ams(t0 + 30_000));
        body
    };
    fx.sandbox.add_fault(held_for(Api::Pay, "stale", 45_000));
    fx.sandbox.add_fault(held_for(Api::Pay, "fresh", 20_000));
    for id in ["stale", "fresh"] {
        assert!(
            fx.client.try_call(Api::Pay, &expiring(id)).await.is_err(),
            "{id}"
        );
    }
    let set = |unix_ms: i64| {
        fx.sandbox
            .update_clock(&ClockUpdate {
                set: Some(ams(unix_ms)),
                ..ClockUpdate::default()
            })
            .expect("clock set");
    };

    // Landing before its expiry, a held pay debits.
    set(t0 + 20_000);
    assert_eq!(held_ids(&fx), ["stale"]);
    assert_eq!(fx.debits("fresh"), 1);

    // Landing after it, it takes no effect: recorded failed, with the same answer on retry.
    set(t0 + 45_000);
    assert!(fx.sandbox.held().is_empty());
    assert_eq!(fx.debits("stale"), 0);
    let inquiry = fx.inquiry("stale").await;
    assert_eq!(inquiry.json["paymentStatus"], "FAIL", "{}", inquiry.body);
    assert_eq!(inquiry.json["paymentResultCode"], "ORDER_IS_CLOSED");
    let retry = fx.client.call(Api::Pay, &expiring("stale")).await;
    assert_eq!(
        (retry.result_status(), retry.result_code()),
        ("F", "ORDER_IS_CLOSED")
    );
    assert_eq!(fx.debits("stale"), 0);
    assert_eq!(fx.balance(), 9_000);
}

#[tokio::test]
async fn a_held_request_lands_in_real_time_while_the_clock_runs() {
    let fx = Fixture::new().await;
    assert!(!fx.sandbox.clock().is_frozen());
    fx.sandbox.add_fault(held_for(Api::Pay, "realtime", 200));
    assert!(fx.try_pay("realtime", 1_000).await.is_err());
    eventually("the held pay to land", || fx.debits("realtime") == 1).await;
    assert!(fx.sandbox.held().is_empty());
    assert_eq!(fx.balance(), 9_000);
}

#[tokio::test]
async fn held_requests_are_listed_without_secrets_and_released_over_the_control_api() {
    let fx = Fixture::new().await;
    let control = Control::new(&fx.sandbox);
    let t0 = freeze_at(&fx.sandbox, "2024-06-01T12:00:00+08:00");
    for rule in [
        json!({ "api": "pay", "request_id": "via-http", "action": { "kind": "hold", "ms": 1_000 } }),
        json!({ "api": "applyToken", "action": { "kind": "hold", "ms": 60_000 } }),
    ] {
        let (status, body) = control.post("/sandbox/faults", &rule).await;
        assert_eq!(status, 201, "{body}");
    }
    assert!(fx.try_pay("via-http", 1_000).await.is_err());
    let refresh = fx
        .client
        .try_call(Api::ApplyToken, &refresh_body(&fx.refresh))
        .await;
    assert!(refresh.is_err(), "{refresh:?}");

    let (status, held) = control.get("/sandbox/held").await;
    assert_eq!(status, 200);
    assert_eq!(
        held,
        json!([
            {
                "seq": 1, "api": "pay", "client_id": CLIENT_ID, "request_id": "via-http",
                "held_at_ms": t0, "due_ms": t0 + 1_000, "due": "2024-06-01T12:00:01+08:00"
            },
            {
                "seq": 2, "api": "applyToken", "client_id": CLIENT_ID,
                "held_at_ms": t0, "due_ms": t0 + 60_000, "due": "2024-06-01T12:01:00+08:00"
            }
        ])
    );
    let text = held.to_string();
    assert!(
        !text.contains(&fx.refresh) && !text.contains(&fx.access),
        "{text}"
    );

    // Removing the rules does not deliver what is already in transit.
    let (status, _) = control.delete("/sandbox/faults").await;
    assert_eq!(status, 204);
    assert_eq!(fx.sandbox.held().len(), 2);

    // Moving the clock over HTTP lands what became due before it answers.
    let (status, _) = control
        .post("/sandbox/clock", &json!({ "advance_ms": 1_000 }))
        .await;
    assert_eq!(status, 200);
    assert_eq!(fx.debits("via-http"), 1);
    assert_eq!(fx.sandbox.held().len(), 1);

    // An explicit release lands the rest, due or not.
    let (status, released) = control.post("/sandbox/held/release", &json!({})).await;
    assert_eq!(status, 200, "{released}");
    assert_eq!(released["released"].as_array().map(Vec::len), Some(1));
    assert_eq!(released["released"][0]["api"], "applyToken");
    assert_eq!(control.get("/sandbox/held").await.1, json!([]));
    // The refresh took effect: the old refresh token is used up.
    let again = fx
        .client
        .call(Api::ApplyToken, &refresh_body(&fx.refresh))
        .await;
    assert_eq!(
        again.result_code(),
        "INVALID_REFRESH_TOKEN",
        "{}",
        again.body
    );
}
