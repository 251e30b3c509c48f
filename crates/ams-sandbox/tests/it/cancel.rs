//! cancel: allowed until 00:15 (UTC+8) of the day after the payment, returning the funds (a ledger
//! credit), idempotent, and `CANCEL_WINDOW_EXCEED` after the window.

use ams_protocol::Api;
use ams_sandbox::{ClockUpdate, Completion, EntryKind, EntryReason, PaymentMode};
use serde_json::json;

use crate::support::*;

/// Moves the frozen clock forward to `text`.
fn advance_to(fx: &Fixture, text: &str) {
    let now = fx.sandbox.clock().now_ms();
    assert!(at(text) >= now, "{text} is in the past");
    fx.sandbox.advance_clock_ms(at(text) - now);
    assert_eq!(fx.sandbox.clock().now_ms(), at(text));
}

/// Sets the clock to `text`; a frozen clock stays frozen.
fn set_clock(fx: &Fixture, text: &str) {
    let view = fx
        .sandbox
        .update_clock(&ClockUpdate {
            set: Some(text.to_owned()),
            ..ClockUpdate::default()
        })
        .expect("clock set");
    assert!(view.frozen, "the clock stays frozen");
    assert_eq!(view.unix_ms, at(text));
}

#[tokio::test]
async fn cancel_returns_the_funds_until_0015_utc8_of_the_next_day() {
    let fx = Fixture::new().await;
    let t0 = freeze_at(&fx.sandbox, "2024-03-01T23:59:00+08:00");
    assert_eq!(
        t0,
        at("2024-03-01T23:59:00+08:00"),
        "frozen exactly where set"
    );
    let a = fx.pay("cancel-a", 1_000).await.str("paymentId");
    fx.pay("cancel-b", 2_000).await;
    fx.pay("cancel-c", 3_000).await;
    assert_eq!(fx.balance(), 4_000);

    // 00:14 the next day (UTC+8): cancelled, money back.
    advance_to(&fx, "2024-03-02T00:14:00+08:00");
    let cancel = fx
        .client
        .call(Api::Cancel, &json!({ "paymentId": a }))
        .await;
    assert_eq!(
        (cancel.result_status(), cancel.result_code()),
        ("S", "SUCCESS"),
        "{}",
        cancel.body
    );
    assert_eq!(cancel.str("paymentId"), a);
    assert_eq!(cancel.str("paymentRequestId"), "cancel-a");
    assert_eq!(cancel.str("cancelTime"), "2024-03-02T00:14:00+08:00");
    assert_eq!(fx.balance(), 5_000);
    let ledger = fx.sandbox.ledger(Some("cancel-a"), Some(ALICE));
    assert_eq!((ledger.debits, ledger.credits), (1, 1));
    let credit = &ledger.entries[1];
    assert_eq!(
        (credit.kind, credit.reason, credit.amount),
        (EntryKind::Credit, EntryReason::Cancel, usd(1_000))
    );

    // Idempotent: by paymentId or paymentRequestId, later too, the same answer and no second credit.
    advance_to(&fx, "2024-03-02T00:14:30+08:00");
    for body in [
        json!({ "paymentId": a }),
        json!({ "paymentRequestId": "cancel-a" }),
    ] {
        let again = fx.client.call(Api::Cancel, &body).await;
        assert_eq!(again.result_code(), "SUCCESS", "{}", again.body);
        assert_eq!(again.str("cancelTime"), "2024-03-02T00:14:00+08:00");
    }
    assert_eq!(fx.sandbox.ledger(Some("cancel-a"), None).credits, 1);
    assert_eq!(fx.balance(), 5_000);
    let inquiry = fx.inquiry("cancel-a").await;
    assert_eq!(inquiry.json["paymentStatus"], "CANCELLED");

    // 00:15:00 exactly is still inside the window.
    advance_to(&fx, "2024-03-02T00:15:00+08:00");
    let c = fx
        .client
        .call(Api::Cancel, &json!({ "paymentRequestId": "cancel-c" }))
        .await;
    assert_eq!(c.result_code(), "SUCCESS", "{}", c.body);
    assert_eq!(fx.balance(), 8_000);

    // 00:16: too late; refund instead. Nothing moves.
    advance_to(&fx, "2024-03-02T00:16:00+08:00");
    let late = fx
        .client
        .call(Api::Cancel, &json!({ "paymentRequestId": "cancel-b" }))
        .await;
    assert_eq!(
        (late.result_status(), late.result_code()),
        ("F", "CANCEL_WINDOW_EXCEED")
    );
    assert_eq!(
        fx.inquiry("cancel-b").await.json["paymentStatus"],
        "SUCCESS"
    );
    assert_eq!(fx.balance(), 8_000);
    assert_eq!(fx.sandbox.ledger(Some("cancel-b"), None).credits, 0);
    // A cancelled payment stays cancelled after the window.
    let after = fx
        .client
        .call(Api::Cancel, &json!({ "paymentId": a }))
        .await;
    assert_eq!(after.result_code(), "SUCCESS");
}

#[tokio::test]
async fn a_payment_made_early_in_the_utc8_day_has_the_same_deadline() {
    let fx = Fixture::new().await;
    // 00:30 on 1 March UTC+8 is still 29 February in UTC: the window still ends 2 March 00:15 UTC+8.
    freeze_at(&fx.sandbox, "2024-03-01T00:30:00+08:00");
    fx.pay("early", 1_000).await;
    set_clock(&fx, "2024-03-02T00:14:59+08:00");
    let ok = fx
        .client
        .call(Api::Cancel, &json!({ "paymentRequestId": "early" }))
        .await;
    assert_eq!(ok.result_code(), "SUCCESS", "{}", ok.body);
    freeze_at(&fx.sandbox, "2024-03-01T00:30:00+08:00");
    fx.pay("early-2", 1_000).await;
    set_clock(&fx, "2024-03-02T00:15:01+08:00");
    let late = fx
        .client
        .call(Api::Cancel, &json!({ "paymentRequestId": "early-2" }))
        .await;
    assert_eq!(late.result_code(), "CANCEL_WINDOW_EXCEED");
}

#[tokio::test]
async fn cancelling_a_processing_payment_moves_no_money_and_ends_it() {
    let fx = Fixture::new().await;
    fx.set_payment_mode(PaymentMode::Processing);
    assert_eq!(
        fx.pay("cancel-proc", 1_000).await.result_code(),
        "PAYMENT_IN_PROCESS"
    );
    let cancel = fx
        .client
        .call(Api::Cancel, &json!({ "paymentRequestId": "cancel-proc" }))
        .await;
    assert_eq!(cancel.result_code(), "SUCCESS", "{}", cancel.body);
    assert_eq!(
        fx.inquiry("cancel-proc").await.json["paymentStatus"],
        "CANCELLED"
    );
    assert!(
        fx.sandbox
            .complete_payment("cancel-proc", Completion::Success)
            .is_err()
    );
    assert_eq!(
        fx.sandbox.ledger(Some("cancel-proc"), None).entries.len(),
        0
    );
    assert_eq!(fx.balance(), 10_000);
    let unknown = fx
        .client
        .call(Api::Cancel, &json!({ "paymentRequestId": "never" }))
        .await;
    assert_eq!(
        (unknown.result_status(), unknown.result_code()),
        ("F", "ORDER_NOT_EXIST")
    );
}
