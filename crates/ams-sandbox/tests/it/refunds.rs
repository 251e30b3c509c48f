//! refund and inquiryRefund: partial and full refunds capped at what was paid, idempotency on
//! refundRequestId, refusals on cancelled, failed and processing payments, the refund window, and
//! refunds in process (`REFUND_IN_PROCESS`, `PROCESSING`, then `SUCCESS` or `FAIL`).

use ams_protocol::{Amount, Api, Currency};
use ams_sandbox::{
    EntryKind, EntryReason, Lifetimes, NotificationKind, PaymentMode, SandboxSettings,
};
use serde_json::json;

use crate::support::*;

async fn refund(fx: &Fixture, id: &str, payment_id: &str, minor: u64) -> Answer {
    fx.client
        .call(Api::Refund, &refund_body(id, payment_id, &usd(minor)))
        .await
}

#[tokio::test]
async fn partial_and_full_refunds_are_capped_at_the_amount_paid() {
    let fx = Fixture::new().await;
    let payment_id = fx.pay("to-refund", 5_000).await.str("paymentId");
    assert_eq!(fx.balance(), 5_000);

    let first = refund(&fx, "r-1", &payment_id, 2_000).await;
    assert_eq!(
        (first.result_status(), first.result_code()),
        ("S", "SUCCESS")
    );
    assert_eq!(first.str("refundRequestId"), "r-1");
    assert_eq!(first.str("paymentId"), payment_id);
    assert_eq!(
        first.json["refundAmount"],
        json!({ "currency": "USD", "value": "2000" })
    );
    assert!(!first.str("refundId").is_empty());
    assert!(first.json["refundTime"].is_string());
    assert_eq!(fx.balance(), 7_000);

    let over = refund(&fx, "r-2", &payment_id, 3_001).await;
    assert_eq!(
        (over.result_status(), over.result_code()),
        ("F", "REFUND_AMOUNT_EXCEED")
    );
    assert_eq!(fx.balance(), 7_000);
    let rest = refund(&fx, "r-3", &payment_id, 3_000).await;
    assert_eq!(rest.result_code(), "SUCCESS", "{}", rest.body);
    assert_eq!(fx.balance(), 10_000);
    let nothing_left = refund(&fx, "r-4", &payment_id, 1).await;
    assert_eq!(nothing_left.result_code(), "REFUND_AMOUNT_EXCEED");

    let ledger = fx.sandbox.ledger(Some("to-refund"), Some(ALICE));
    assert_eq!((ledger.debits, ledger.credits), (1, 2));
    let credits: Vec<(EntryReason, Amount, Option<String>)> = ledger
        .entries
        .iter()
        .filter(|e| e.kind == EntryKind::Credit)
        .map(|e| (e.reason, e.amount, e.refund_request_id.clone()))
        .collect();
    assert_eq!(
        credits,
        [
            (EntryReason::Refund, usd(2_000), Some("r-1".to_owned())),
            (EntryReason::Refund, usd(3_000), Some("r-3".to_owned())),
        ]
    );

    // The payment lists its refunds.
    let inquiry = fx.inquiry("to-refund").await;
    assert_eq!(inquiry.json["paymentStatus"], "SUCCESS");
    let transactions = inquiry.json["transactions"]
        .as_array()
        .expect("transactions");
    assert_eq!(transactions.len(), 2, "{}", inquiry.body);
    assert_eq!(transactions[0]["transactionType"], "REFUND");
    assert_eq!(transactions[0]["transactionRequestId"], "r-1");
}

#[tokio::test]
async fn refunds_are_idempotent_on_refund_request_id() {
    let fx = Fixture::new().await;
    let payment_id = fx.pay("idem-refund", 5_000).await.str("paymentId");
    let other_payment = fx.pay("other", 1_000).await.str("paymentId");
    let first = refund(&fx, "r-idem", &payment_id, 1_500).await;
    let again = refund(&fx, "r-idem", &payment_id, 1_500).await;
    assert_eq!(again.result_code(), "SUCCESS");
    for field in ["refundId", "refundTime", "refundAmount", "paymentId"] {
        assert_eq!(first.json[field], again.json[field], "{field}");
    }
    let amount = refund(&fx, "r-idem", &payment_id, 1_600).await;
    assert_eq!(
        (amount.result_status(), amount.result_code()),
        ("F", "REPEAT_REQ_INCONSISTENT")
    );
    let payment = refund(&fx, "r-idem", &other_payment, 1_500).await;
    assert_eq!(payment.result_code(), "REPEAT_REQ_INCONSISTENT");
    let ledger = fx.sandbox.ledger(Some("idem-refund"), None);
    assert_eq!(ledger.credits, 1);
    assert_eq!(fx.sandbox.ledger(Some("other"), None).credits, 0);
    assert_eq!(fx.balance(), 10_000 - 5_000 - 1_000 + 1_500);
}

#[tokio::test]
async fn refunds_are_refused_on_cancelled_failed_processing_and_unknown_payments() {
    let fx = Fixture::new().await;
    let cancelled = fx.pay("refund-cancelled", 1_000).await.str("paymentId");
    let cancel = fx
        .client
        .call(Api::Cancel, &json!({ "paymentId": cancelled }))
        .await;
    assert_eq!(cancel.result_code(), "SUCCESS");
    fx.pay("refund-failed", 1_000_000).await;
    let failed = fx.inquiry("refund-failed").await.str("paymentId");
    fx.set_payment_mode(PaymentMode::Processing);
    let processing = fx.pay("refund-processing", 1_000).await.str("paymentId");
    let before = fx.snapshot();
    for (payment_id, code) in [
        (cancelled.as_str(), "ORDER_IS_CANCELED"),
        (failed.as_str(), "ORDER_STATUS_INVALID"),
        (processing.as_str(), "ORDER_STATUS_INVALID"),
        ("20240101999999999999999999999999", "ORDER_NOT_EXIST"),
    ] {
        let answer = refund(&fx, &format!("r-{code}-{payment_id}"), payment_id, 100).await;
        assert_eq!(
            (answer.result_status(), answer.result_code()),
            ("F", code),
            "{}",
            answer.body
        );
    }
    assert_eq!(fx.snapshot(), before);
    assert_eq!(fx.balance(), 10_000);
}

#[tokio::test]
async fn a_refund_in_another_currency_or_after_the_window_is_refused() {
    let lifetimes = Lifetimes {
        refund_window_ms: 24 * 3_600_000,
        ..Lifetimes::default()
    };
    let fx = Fixture::start(builder().lifetimes(lifetimes)).await;
    freeze_at(&fx.sandbox, "2024-06-01T12:00:00+08:00");
    let payment_id = fx.pay("windowed", 1_000).await.str("paymentId");
    let eur = fx
        .client
        .call(
            Api::Refund,
            &refund_body("r-eur", &payment_id, &Amount::new(Currency::EUR, 100)),
        )
        .await;
    assert_eq!(eur.result_code(), "CURRENCY_NOT_SUPPORT");
    fx.sandbox.advance_clock_ms(24 * 3_600_000);
    assert_eq!(
        refund(&fx, "r-in", &payment_id, 100).await.result_code(),
        "SUCCESS"
    );
    fx.sandbox.advance_clock_ms(1);
    let late = refund(&fx, "r-late", &payment_id, 100).await;
    assert_eq!(
        (late.result_status(), late.result_code()),
        ("F", "REFUND_WINDOW_EXCEED")
    );
    assert_eq!(fx.balance(), 9_100);
}

#[tokio::test]
async fn inquiry_refund_by_refund_id_and_by_refund_request_id() {
    let fx = Fixture::new().await;
    let payment_id = fx.pay("inq-refund", 5_000).await.str("paymentId");
    let done = refund(&fx, "r-inq", &payment_id, 1_234).await;
    let refund_id = done.str("refundId");
    for body in [
        json!({ "refundRequestId": "r-inq" }),
        json!({ "refundId": refund_id }),
        json!({ "refundId": refund_id, "refundRequestId": "ignored" }),
    ] {
        let answer = fx.client.call(Api::InquiryRefund, &body).await;
        assert_eq!(answer.result_code(), "SUCCESS", "{body}: {}", answer.body);
        assert_eq!(answer.json["refundStatus"], "SUCCESS");
        assert_eq!(answer.str("refundId"), refund_id);
        assert_eq!(answer.str("refundRequestId"), "r-inq");
        assert_eq!(answer.json["refundAmount"]["value"], "1234");
        assert_eq!(answer.json["refundTime"], done.json["refundTime"]);
    }
    for body in [
        json!({ "refundRequestId": "r-none" }),
        json!({ "refundId": "2024000000" }),
    ] {
        let answer = fx.client.call(Api::InquiryRefund, &body).await;
        assert_eq!(
            (answer.result_status(), answer.result_code()),
            ("F", "ORDER_NOT_EXIST"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_refused_refund_keeps_its_answer_under_the_same_id() {
    let fx = Fixture::new().await;
    let payment_id = fx.pay("refused-then-same", 5_000).await.str("paymentId");

    // Over the amount paid: refused, and the refusal is final for this refundRequestId (§5.9).
    let over = refund(&fx, "r-over", &payment_id, 6_000).await;
    assert_eq!(
        (over.result_status(), over.result_code()),
        ("F", "REFUND_AMOUNT_EXCEED")
    );
    let again = refund(&fx, "r-over", &payment_id, 6_000).await;
    assert_eq!(
        (again.result_status(), again.result_code()),
        ("F", "REFUND_AMOUNT_EXCEED")
    );
    // The same id with another amount is a different request under a used id.
    let other = refund(&fx, "r-over", &payment_id, 1_000).await;
    assert_eq!(
        (other.result_status(), other.result_code()),
        ("F", "REPEAT_REQ_INCONSISTENT")
    );
    let inquiry = fx
        .client
        .call(Api::InquiryRefund, &json!({ "refundRequestId": "r-over" }))
        .await;
    assert_eq!(inquiry.result_status(), "S");
    assert_eq!(inquiry.json["refundStatus"], "FAIL");
    assert!(inquiry.json["refundTime"].is_null());
    // Nothing moved, and a fresh id still refunds.
    assert_eq!(fx.balance(), 5_000);
    let ok = refund(&fx, "r-ok", &payment_id, 5_000).await;
    assert_eq!(ok.result_status(), "S");
    assert_eq!(fx.balance(), 10_000);
}

/// A sandbox with `refunds_in_process` on (the given delay), its refund notifications sent to a
/// merchant endpoint, and the clock frozen. Alice has paid `payment_request_id` USD 50.00.
async fn in_process(
    delay_ms: u64,
    payment_request_id: &str,
) -> (Fixture, MerchantEndpoint, String) {
    let fx = Fixture::start(builder().settings(SandboxSettings {
        refunds_in_process: true,
        refund_process_delay_ms: delay_ms,
        ..SandboxSettings::default()
    }))
    .await;
    let merchant = MerchantEndpoint::start().await;
    fx.sandbox
        .set_merchant_settings(CLIENT_ID, merchant.settings())
        .expect("merchant");
    freeze_at(&fx.sandbox, "2024-06-01T12:00:00+08:00");
    let paid = fx.pay(payment_request_id, 5_000).await;
    assert_eq!(paid.result_code(), "SUCCESS", "{}", paid.body);
    let payment_id = paid.str("paymentId");
    (fx, merchant, payment_id)
}

async fn inquire_refund(fx: &Fixture, refund_request_id: &str) -> Answer {
    let answer = fx
        .client
        .call(
            Api::InquiryRefund,
            &json!({ "refundRequestId": refund_request_id }),
        )
        .await;
    assert_eq!(answer.result_status(), "S", "{}", answer.body);
    answer
}

/// The notifyRefund bodies the sandbox raised, by refundRequestId.
fn refund_notifications(fx: &Fixture, refund_request_id: &str) -> Vec<serde_json::Value> {
    fx.sandbox
        .notifications()
        .iter()
        .filter(|n| n.notification == NotificationKind::Refund && n.request_id == refund_request_id)
        .map(|n| serde_json::from_str(&n.body).expect("JSON"))
        .collect()
}

/// Digest §3.7 `REFUND_IN_PROCESS`, §3.8 `PROCESSING`, §4.3: a refund that is not final in the
/// call, ending after the delay with one credit and one `notifyRefund`.
#[tokio::test]
async fn a_refund_in_process_is_processing_until_the_delay_then_credits_once_and_is_notified() {
    let (fx, merchant, payment_id) = in_process(30_000, "rip-pay").await;
    let t0 = fx.sandbox.clock().now_ms();
    assert_eq!(fx.balance(), 5_000);

    let first = refund(&fx, "rip-1", &payment_id, 2_000).await;
    assert_eq!(
        (first.result_status(), first.result_code()),
        ("F", "REFUND_IN_PROCESS"),
        "{}",
        first.body
    );
    assert_eq!(fx.balance(), 5_000, "nothing credited yet");
    let processing = inquire_refund(&fx, "rip-1").await;
    assert_eq!(processing.json["refundStatus"], "PROCESSING");
    assert!(
        processing.json["refundTime"].is_null(),
        "{}",
        processing.body
    );
    let refund_id = processing.str("refundId");

    // The identical retry answers the same and credits nothing; another amount is another request.
    let again = refund(&fx, "rip-1", &payment_id, 2_000).await;
    assert_eq!(
        (again.result_status(), again.result_code()),
        ("F", "REFUND_IN_PROCESS")
    );
    assert_eq!(
        refund(&fx, "rip-1", &payment_id, 2_001).await.result_code(),
        "REPEAT_REQ_INCONSISTENT"
    );
    assert_eq!(fx.sandbox.ledger(Some("rip-pay"), None).credits, 0);

    // The refund in process counts against what is left: 3,000 remain, not 5,000.
    assert_eq!(
        refund(&fx, "rip-over", &payment_id, 3_001)
            .await
            .result_code(),
        "REFUND_AMOUNT_EXCEED"
    );
    let rest = refund(&fx, "rip-2", &payment_id, 3_000).await;
    assert_eq!(rest.result_code(), "REFUND_IN_PROCESS", "{}", rest.body);
    let inquiry = fx.inquiry("rip-pay").await;
    let statuses: Vec<&serde_json::Value> = inquiry.json["transactions"]
        .as_array()
        .expect("transactions")
        .iter()
        .map(|t| &t["transactionStatus"])
        .collect();
    assert_eq!(statuses, ["PROCESSING", "PROCESSING"], "{}", inquiry.body);
    // A payment with refunds under way cannot be cancelled.
    assert_eq!(
        fx.cancel("rip-pay").await.result_code(),
        "ORDER_STATUS_INVALID"
    );
    assert!(refund_notifications(&fx, "rip-1").is_empty());

    fx.sandbox.advance_clock_ms(29_999);
    assert_eq!(
        inquire_refund(&fx, "rip-1").await.json["refundStatus"],
        "PROCESSING"
    );
    assert_eq!(fx.balance(), 5_000);

    // The delay passed: credited at that moment, once each, whatever is asked afterwards.
    fx.sandbox.advance_clock_ms(1);
    let credits: Vec<(i64, Option<String>)> = fx
        .sandbox
        .ledger(Some("rip-pay"), None)
        .entries
        .iter()
        .filter(|e| e.kind == EntryKind::Credit)
        .map(|e| (e.at_ms, e.refund_request_id.clone()))
        .collect();
    assert_eq!(
        credits,
        [
            (t0 + 30_000, Some("rip-1".to_owned())),
            (t0 + 30_000, Some("rip-2".to_owned()))
        ]
    );
    assert_eq!(fx.balance(), 10_000);
    let done = inquire_refund(&fx, "rip-1").await;
    assert_eq!(done.json["refundStatus"], "SUCCESS");
    assert_eq!(done.str("refundId"), refund_id);
    assert_eq!(done.str("refundTime"), ams(t0 + 30_000));
    let replay = refund(&fx, "rip-1", &payment_id, 2_000).await;
    assert_eq!(
        (replay.result_status(), replay.result_code()),
        ("S", "SUCCESS")
    );
    assert_eq!(replay.str("refundId"), refund_id);
    assert_eq!(replay.str("refundTime"), ams(t0 + 30_000));
    assert_eq!(
        refund(&fx, "rip-3", &payment_id, 1).await.result_code(),
        "REFUND_AMOUNT_EXCEED"
    );
    let inquiry = fx.inquiry("rip-pay").await;
    assert!(
        inquiry.json["transactions"]
            .as_array()
            .expect("transactions")
            .iter()
            .all(|t| t["transactionStatus"] == "SUCCESS"),
        "{}",
        inquiry.body
    );
    fx.sandbox.advance_clock_ms(3_600_000);
    assert_eq!(fx.sandbox.ledger(Some("rip-pay"), None).credits, 2);

    // One notifyRefund each, SUCCESS, raised when the refund ended and delivered signed.
    let notified = refund_notifications(&fx, "rip-1");
    assert_eq!(notified.len(), 1, "{notified:?}");
    assert_eq!(notified[0]["refundStatus"], "SUCCESS");
    assert_eq!(notified[0]["result"]["resultStatus"], "S");
    assert_eq!(notified[0]["refundId"], refund_id.as_str());
    assert_eq!(notified[0]["refundTime"], ams(t0 + 30_000).as_str());
    let got = merchant.wait_for(3).await;
    let refunds: Vec<&Received> = got.iter().filter(|r| r.path == "/notify/refund").collect();
    assert_eq!(refunds.len(), 2, "{got:?}");
    for received in refunds {
        assert_notification_signed(fx.sandbox.alipay_public_key(), received);
    }
}

/// Digest §3.8 `FAIL`, §4.3 `refundStatus` `FAIL`: a refund in process the test marks fails
/// when it ends: nothing credited, the failure notified, its amount refundable again.
#[tokio::test]
async fn a_refund_in_process_can_end_failed_and_its_amount_is_refundable_again() {
    let (fx, _merchant, payment_id) = in_process(10_000, "ripf-pay").await;
    let t0 = fx.sandbox.clock().now_ms();
    let whole = refund(&fx, "ripf-1", &payment_id, 5_000).await;
    assert_eq!(whole.result_code(), "REFUND_IN_PROCESS", "{}", whole.body);
    assert_eq!(
        refund(&fx, "ripf-over", &payment_id, 1).await.result_code(),
        "REFUND_AMOUNT_EXCEED"
    );
    // Marked after the call, over the control API: read when the refund ends.
    let control = Control::new(&fx.sandbox);
    let mut settings =
        serde_json::to_value(fx.sandbox.merchant(CLIENT_ID).expect("merchant")).expect("JSON");
    settings["refund_failures"] = json!(["ripf-1"]);
    let (status, view) = control
        .put(&format!("/sandbox/merchants/{CLIENT_ID}"), &settings)
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["refund_failures"], json!(["ripf-1"]));

    fx.sandbox.advance_clock_ms(10_000);
    let failed = inquire_refund(&fx, "ripf-1").await;
    assert_eq!(failed.json["refundStatus"], "FAIL", "{}", failed.body);
    assert!(failed.json["refundTime"].is_null());
    assert_eq!(fx.sandbox.ledger(Some("ripf-pay"), None).credits, 0);
    assert_eq!(fx.balance(), 5_000);
    let replay = refund(&fx, "ripf-1", &payment_id, 5_000).await;
    assert_eq!(
        (replay.result_status(), replay.result_code()),
        ("F", "PROCESS_FAIL")
    );
    let notified = refund_notifications(&fx, "ripf-1");
    assert_eq!(notified.len(), 1, "{notified:?}");
    assert_eq!(notified[0]["refundStatus"], "FAIL");
    assert_eq!(notified[0]["result"]["resultStatus"], "F");
    assert!(notified[0]["refundTime"].is_null(), "{}", notified[0]);
    let inquiry = fx.inquiry("ripf-pay").await;
    assert_eq!(
        inquiry.json["transactions"][0]["transactionStatus"], "FAIL",
        "{}",
        inquiry.body
    );

    // The whole amount can be refunded again under a new id, and that one succeeds.
    let again = refund(&fx, "ripf-2", &payment_id, 5_000).await;
    assert_eq!(again.result_code(), "REFUND_IN_PROCESS", "{}", again.body);
    fx.sandbox.advance_clock_ms(10_000);
    assert_eq!(
        inquire_refund(&fx, "ripf-2").await.json["refundStatus"],
        "SUCCESS"
    );
    let ledger = fx.sandbox.ledger(Some("ripf-pay"), None);
    assert_eq!(ledger.credits, 1);
    assert_eq!(
        ledger.entries[1].refund_request_id.as_deref(),
        Some("ripf-2")
    );
    assert_eq!(ledger.entries[1].at_ms, t0 + 20_000);
    assert_eq!(fx.balance(), 10_000);
}

/// The switch and the delay are sandbox settings: read over the control API, in force for the
/// refunds accepted while they are; switched off, refunds are final in the call again.
#[tokio::test]
async fn refunds_in_process_is_a_setting_read_when_the_refund_is_accepted() {
    let fx = Fixture::new().await;
    freeze_at(&fx.sandbox, "2024-06-01T12:00:00+08:00");
    let payment_id = fx.pay("ripset-pay", 5_000).await.str("paymentId");
    assert_eq!(
        refund(&fx, "ripset-0", &payment_id, 100)
            .await
            .result_code(),
        "SUCCESS",
        "off by default"
    );
    let control = Control::new(&fx.sandbox);
    let (status, got) = control
        .put(
            "/sandbox/settings",
            &json!({ "refunds_in_process": true, "refund_process_delay_ms": 5_000 }),
        )
        .await;
    assert_eq!(status, 200, "{got}");
    assert!(fx.sandbox.settings().refunds_in_process);
    assert_eq!(
        refund(&fx, "ripset-1", &payment_id, 100)
            .await
            .result_code(),
        "REFUND_IN_PROCESS"
    );
    // Switched off: the refund already in process keeps its course; new ones are final at once.
    fx.sandbox.set_settings(SandboxSettings::default());
    assert_eq!(
        refund(&fx, "ripset-2", &payment_id, 100)
            .await
            .result_code(),
        "SUCCESS"
    );
    assert_eq!(
        inquire_refund(&fx, "ripset-1").await.json["refundStatus"],
        "PROCESSING"
    );
    fx.sandbox.advance_clock_ms(5_000);
    assert_eq!(
        inquire_refund(&fx, "ripset-1").await.json["refundStatus"],
        "SUCCESS"
    );
    assert_eq!(fx.sandbox.ledger(Some("ripset-pay"), None).credits, 3);
    assert_eq!(fx.balance(), 5_300);
}
