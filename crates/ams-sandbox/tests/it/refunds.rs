//! refund and inquiryRefund: partial and full refunds capped at what was paid, idempotency on
//! refundRequestId, refusals on cancelled, failed and processing payments, the refund window.

use ams_protocol::{Amount, Api, Currency};
use ams_sandbox::{EntryKind, EntryReason, Lifetimes, PaymentMode, UserUpdate};
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
    fx.sandbox
        .update_user(
            ALICE,
            UserUpdate {
                payment_mode: Some(PaymentMode::Processing),
                ..UserUpdate::default()
            },
        )
        .expect("processing");
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
