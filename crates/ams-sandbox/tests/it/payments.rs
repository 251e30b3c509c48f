//! pay and inquiryPayment: idempotency on paymentRequestId (§5.9), at most one debit per payment,
//! the failures an account's setup produces, balances per currency, the processing mode (complete
//! through the handle or the control API, or expire), the pending mode (debited at once, `PENDING`,
//! then `SUCCESS`), a pay arriving after its own `paymentExpiryTime` (closed), and inquiry of every
//! status.

use ams_protocol::{Amount, Api, Currency, CustomerBelongsTo};
use ams_sandbox::{
    AccountStatus, Completion, EntryKind, EntryReason, PaymentMode, SandboxSettings, UserSpec,
    UserUpdate,
};
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn the_same_pay_twice_returns_the_same_success_and_debits_once() {
    let fx = Fixture::new().await;
    let first = fx.pay("idem-s", 2_500).await;
    assert_eq!(
        (first.result_status(), first.result_code()),
        ("S", "SUCCESS")
    );
    let second = fx.pay("idem-s", 2_500).await;
    assert_eq!(
        (second.result_status(), second.result_code()),
        ("S", "SUCCESS")
    );
    for field in [
        "paymentId",
        "paymentRequestId",
        "paymentCreateTime",
        "paymentTime",
    ] {
        assert_eq!(first.json[field], second.json[field], "{field}");
    }
    assert_eq!(
        first.json["paymentAmount"],
        json!({ "currency": "USD", "value": "2500" })
    );
    assert_eq!(fx.debits("idem-s"), 1);
    assert_eq!(fx.balance(), 7_500);
    let ledger = fx.sandbox.ledger(Some("idem-s"), Some(ALICE));
    assert_eq!(ledger.entries.len(), 1);
    let entry = &ledger.entries[0];
    assert_eq!(
        (entry.kind, entry.reason),
        (EntryKind::Debit, EntryReason::Payment)
    );
    assert_eq!(entry.amount, usd(2_500));
    assert_eq!(entry.payment_id, first.str("paymentId"));
    assert_eq!(entry.client_id, CLIENT_ID);
}

/// Digest §5.9: a retry of a `pay` gets the stored answer. One sent after the explicit
/// `paymentExpiryTime` of the first has passed must not be judged as a new request (a false F
/// for a payment that was paid).
#[tokio::test]
async fn an_identical_retry_after_the_expiry_gets_the_stored_answer() {
    let fx = Fixture::new().await;
    let t0 = freeze_at(&fx.sandbox, "2024-06-01T12:00:00+08:00");
    let mut body = pay_body("idem-late", &usd(700), &fx.access);
    body["paymentExpiryTime"] = json!(ams(t0 + 50_000));
    let first = fx.client.call(Api::Pay, &body).await;
    assert_eq!(
        (first.result_status(), first.result_code()),
        ("S", "SUCCESS")
    );
    fx.sandbox.advance_clock_ms(120_000);
    let again = fx.client.call(Api::Pay, &body).await;
    assert_eq!(
        (again.result_status(), again.result_code()),
        ("S", "SUCCESS"),
        "{}",
        again.body
    );
    assert_eq!(first.json["paymentId"], again.json["paymentId"]);
    assert_eq!(fx.debits("idem-late"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_retries_of_one_pay_debit_once() {
    let fx = Fixture::new().await;
    let body = pay_body("race", &usd(1_000), &fx.access);
    let call = || fx.client.call(Api::Pay, &body);
    let (a, b, c, d, e, f) = tokio::join!(call(), call(), call(), call(), call(), call());
    let answers = [a, b, c, d, e, f];
    let ids: Vec<String> = answers.iter().map(|a| a.str("paymentId")).collect();
    assert!(answers.iter().all(|a| a.result_code() == "SUCCESS"));
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(fx.debits("race"), 1);
    assert_eq!(fx.balance(), 9_000);
}

#[tokio::test]
async fn a_failed_pay_stays_failed_even_after_a_top_up() {
    let fx = Fixture::new().await;
    let first = fx.pay("idem-f", 20_000).await;
    assert_eq!(
        (first.result_status(), first.result_code()),
        ("F", "USER_BALANCE_NOT_ENOUGH")
    );
    fx.sandbox
        .update_user(
            ALICE,
            UserUpdate {
                balances: vec![usd(50_000)],
                ..UserUpdate::default()
            },
        )
        .expect("top up");
    let second = fx.pay("idem-f", 20_000).await;
    assert_eq!(
        (second.result_status(), second.result_code()),
        ("F", "USER_BALANCE_NOT_ENOUGH")
    );
    assert_eq!(fx.debits("idem-f"), 0);
    assert_eq!(fx.inquiry("idem-f").await.json["paymentStatus"], "FAIL");
    // A new request id is a new payment.
    assert_eq!(fx.pay("idem-f-2", 20_000).await.result_code(), "SUCCESS");
    assert_eq!(fx.balance(), 30_000);
}

#[tokio::test]
async fn a_different_amount_or_token_under_the_same_id_is_repeat_req_inconsistent() {
    let fx = Fixture::new().await;
    assert_eq!(fx.pay("idem-x", 1_000).await.result_code(), "SUCCESS");
    let amount = fx.pay("idem-x", 1_001).await;
    assert_eq!(
        (amount.result_status(), amount.result_code()),
        ("F", "REPEAT_REQ_INCONSISTENT")
    );
    let currency = fx
        .client
        .call(
            Api::Pay,
            &pay_body("idem-x", &Amount::new(Currency::EUR, 1_000), &fx.access),
        )
        .await;
    assert_eq!(currency.result_code(), "REPEAT_REQ_INCONSISTENT");
    // Another valid token of the same user.
    let (other, _) = bind(&fx.client, ALICE, "second-binding").await;
    let token = fx
        .client
        .call(Api::Pay, &pay_body("idem-x", &usd(1_000), &other))
        .await;
    assert_eq!(
        (token.result_status(), token.result_code()),
        ("F", "REPEAT_REQ_INCONSISTENT")
    );
    // The original payment is untouched.
    assert_eq!(fx.pay("idem-x", 1_000).await.result_code(), "SUCCESS");
    assert_eq!(fx.inquiry("idem-x").await.json["paymentStatus"], "SUCCESS");
    assert_eq!(fx.debits("idem-x"), 1);
    assert_eq!(fx.balance(), 9_000);
}

#[tokio::test]
async fn the_accounts_setup_decides_each_failure_and_nothing_is_debited() {
    let fx = Fixture::new().await;
    let reset = UserUpdate {
        status: Some(AccountStatus::Normal),
        risk_reject: Some(false),
        per_payment_limit: Some(usd(u64::MAX / 2)),
        max_payments: Some(u32::MAX),
        ..UserUpdate::default()
    };
    let cases: Vec<(&str, UserUpdate, Amount, Option<&str>)> = vec![
        (
            "USER_BALANCE_NOT_ENOUGH",
            UserUpdate::default(),
            usd(10_001),
            None,
        ),
        (
            "INVALID_ACCESS_TOKEN",
            UserUpdate::default(),
            usd(100),
            Some("2810NOTATOKEN"),
        ),
        (
            "USER_STATUS_ABNORMAL",
            UserUpdate {
                status: Some(AccountStatus::Abnormal),
                ..UserUpdate::default()
            },
            usd(100),
            None,
        ),
        (
            "RISK_REJECT",
            UserUpdate {
                risk_reject: Some(true),
                ..UserUpdate::default()
            },
            usd(100),
            None,
        ),
        (
            "USER_AMOUNT_EXCEED_LIMIT",
            UserUpdate {
                per_payment_limit: Some(usd(500)),
                ..UserUpdate::default()
            },
            usd(501),
            None,
        ),
        (
            "PAYMENT_COUNT_EXCEED_LIMIT",
            UserUpdate {
                max_payments: Some(1),
                ..UserUpdate::default()
            },
            usd(100),
            None,
        ),
        (
            "CURRENCY_NOT_SUPPORT",
            UserUpdate::default(),
            Amount::new(Currency::EUR, 100),
            None,
        ),
        (
            "USER_NOT_EXIST",
            UserUpdate {
                status: Some(AccountStatus::Closed),
                ..UserUpdate::default()
            },
            usd(100),
            None,
        ),
    ];
    // One successful payment first, so the count limit of 1 is reached.
    assert_eq!(fx.pay("first", 100).await.result_code(), "SUCCESS");
    for (code, update, amount, token) in cases {
        fx.sandbox.update_user(ALICE, update).expect("update");
        let before = fx.balance();
        let id = format!("fail-{code}");
        let answer = fx
            .client
            .call(
                Api::Pay,
                &pay_body(&id, &amount, token.unwrap_or(&fx.access)),
            )
            .await;
        assert_eq!(
            (answer.result_status(), answer.result_code()),
            ("F", code),
            "{}",
            answer.body
        );
        assert_eq!(fx.debits(&id), 0, "{code}");
        assert_eq!(fx.balance(), before, "{code}");
        let inquiry = fx.inquiry(&id).await;
        assert_eq!(inquiry.json["paymentStatus"], "FAIL", "{code}");
        assert_eq!(inquiry.json["paymentResultCode"], code);
        fx.sandbox.update_user(ALICE, reset.clone()).expect("reset");
    }
    // The limits are limits, not bans: at the limit the payment goes through.
    fx.sandbox
        .update_user(
            ALICE,
            UserUpdate {
                per_payment_limit: Some(usd(500)),
                ..UserUpdate::default()
            },
        )
        .expect("limit");
    assert_eq!(fx.pay("at-limit", 500).await.result_code(), "SUCCESS");
    assert_eq!(fx.balance(), 10_000 - 100 - 500);
    assert_eq!(fx.sandbox.user(ALICE).expect("alice").payments_made, 2);
}

#[tokio::test]
async fn balances_are_kept_per_currency() {
    let fx = Fixture::start(builder().user(UserSpec::new(
        "bob@example.com",
        CustomerBelongsTo::AlipayCn,
        vec![usd(100), Amount::new(Currency::EUR, 5_000)],
    )))
    .await;
    let (bob, _) = bind(&fx.client, "bob@example.com", "bob").await;
    let eur = fx
        .client
        .call(
            Api::Pay,
            &pay_body("eur", &Amount::new(Currency::EUR, 1_200), &bob),
        )
        .await;
    assert_eq!(eur.result_code(), "SUCCESS", "{}", eur.body);
    assert_eq!(
        balance_in(&fx.sandbox, "bob@example.com", Currency::EUR),
        3_800
    );
    assert_eq!(
        balance_in(&fx.sandbox, "bob@example.com", Currency::USD),
        100
    );
    let usd_pay = fx
        .client
        .call(Api::Pay, &pay_body("usd", &usd(101), &bob))
        .await;
    assert_eq!(usd_pay.result_code(), "USER_BALANCE_NOT_ENOUGH");
    // Alice is untouched by Bob's payments.
    assert_eq!(fx.balance(), 10_000);
}

async fn processing_fixture() -> (Fixture, MerchantEndpoint) {
    let merchant = MerchantEndpoint::start().await;
    let fx = Fixture::new().await;
    fx.sandbox
        .set_merchant_settings(CLIENT_ID, merchant.settings())
        .expect("merchant");
    fx.set_payment_mode(PaymentMode::Processing);
    (fx, merchant)
}

#[tokio::test]
async fn a_processing_payment_completes_through_the_handle_with_a_notification() {
    let (fx, merchant) = processing_fixture().await;
    let pay = fx.pay("proc-1", 3_000).await;
    assert_eq!(
        (pay.result_status(), pay.result_code()),
        ("U", "PAYMENT_IN_PROCESS"),
        "{}",
        pay.body
    );
    let payment_id = pay.str("paymentId");
    let inquiry = fx.inquiry("proc-1").await;
    assert_eq!(inquiry.json["paymentStatus"], "PROCESSING");
    assert_eq!(
        fx.pay("proc-1", 3_000).await.result_code(),
        "PAYMENT_IN_PROCESS"
    );
    assert_eq!(fx.balance(), 10_000);
    assert!(fx.sandbox.notifications().is_empty());

    fx.sandbox
        .complete_payment("proc-1", Completion::Success)
        .expect("completes");
    let got = merchant.wait_for(1).await;
    assert_notification_signed(fx.sandbox.alipay_public_key(), &got[0]);
    let notify = got[0].json();
    assert_eq!(notify["result"]["resultStatus"], "S");
    assert_eq!(notify["paymentId"], payment_id.as_str());
    assert_eq!(fx.inquiry("proc-1").await.json["paymentStatus"], "SUCCESS");
    let retry = fx.pay("proc-1", 3_000).await;
    assert_eq!(
        (retry.result_status(), retry.str("paymentId")),
        ("S", payment_id)
    );
    assert_eq!(fx.debits("proc-1"), 1);
    assert_eq!(fx.balance(), 7_000);
    // Only a processing payment can be completed.
    assert!(
        fx.sandbox
            .complete_payment("proc-1", Completion::Fail)
            .is_err()
    );
}

#[tokio::test]
async fn a_processing_payment_completes_through_the_control_api() {
    let (fx, merchant) = processing_fixture().await;
    let control = Control::new(&fx.sandbox);
    assert_eq!(
        fx.pay("proc-ok", 1_000).await.result_code(),
        "PAYMENT_IN_PROCESS"
    );
    assert_eq!(
        fx.pay("proc-no", 1_000).await.result_code(),
        "PAYMENT_IN_PROCESS"
    );
    let (status, _) = control
        .post(
            "/sandbox/payments/proc-ok/complete",
            &json!({ "outcome": "success" }),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = control
        .post(
            "/sandbox/payments/proc-no/complete",
            &json!({ "outcome": "fail" }),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = control
        .post(
            "/sandbox/payments/proc-no/complete",
            &json!({ "outcome": "success" }),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    let (status, _) = control
        .post(
            "/sandbox/payments/nothing/complete",
            &json!({ "outcome": "success" }),
        )
        .await;
    assert_eq!(status, 409);

    assert_eq!(fx.inquiry("proc-ok").await.json["paymentStatus"], "SUCCESS");
    let failed = fx.inquiry("proc-no").await;
    assert_eq!(failed.json["paymentStatus"], "FAIL");
    let failed_pay = fx.pay("proc-no", 1_000).await;
    assert_eq!(failed_pay.result_status(), "F");
    let got = merchant.wait_for(2).await;
    let outcomes: Vec<(String, String)> = got
        .iter()
        .map(|r| {
            let j = r.json();
            (
                j["paymentRequestId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                j["result"]["resultStatus"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("proc-ok".to_owned(), "S".to_owned()),
            ("proc-no".to_owned(), "F".to_owned())
        ]
    );
    assert_eq!((fx.debits("proc-ok"), fx.debits("proc-no")), (1, 0));
    assert_eq!(fx.balance(), 9_000);
}

#[tokio::test]
async fn a_processing_payment_fails_when_the_clock_passes_its_expiry() {
    let (fx, merchant) = processing_fixture().await;
    let t0 = freeze_at(&fx.sandbox, "2024-06-01T12:00:00+08:00");
    let mut short = pay_body("proc-exp-short", &usd(1_000), &fx.access);
    short["paymentExpiryTime"] = json!(ams(t0 + 30_000));
    assert_eq!(
        fx.client.call(Api::Pay, &short).await.result_code(),
        "PAYMENT_IN_PROCESS"
    );
    assert_eq!(
        fx.pay("proc-exp-default", 1_000).await.result_code(),
        "PAYMENT_IN_PROCESS"
    );

    // At 30 s the short one is still processing; just after, it fails on its own (notified).
    fx.sandbox.advance_clock_ms(30_000);
    assert_eq!(
        fx.inquiry("proc-exp-short").await.json["paymentStatus"],
        "PROCESSING"
    );
    fx.sandbox.advance_clock_ms(1);
    let got = merchant.wait_for(1).await;
    assert_eq!(got[0].json()["paymentRequestId"], "proc-exp-short");
    assert_eq!(got[0].json()["result"]["resultStatus"], "F");
    assert_eq!(
        fx.inquiry("proc-exp-short").await.json["paymentStatus"],
        "FAIL"
    );
    assert_eq!(
        fx.inquiry("proc-exp-default").await.json["paymentStatus"],
        "PROCESSING"
    );

    // The default expiry is one minute.
    fx.sandbox.advance_clock_ms(30_000);
    let inquiry = fx.inquiry("proc-exp-default").await;
    assert_eq!(inquiry.json["paymentStatus"], "FAIL", "{}", inquiry.body);
    assert!(
        fx.sandbox
            .complete_payment("proc-exp-default", Completion::Success)
            .is_err(),
        "an expired payment cannot be completed"
    );
    merchant.wait_for(2).await;
    assert_eq!(fx.sandbox.ledger(None, Some(ALICE)).debits, 0);
    assert_eq!(fx.balance(), 10_000);
}

#[tokio::test]
async fn completing_without_enough_balance_fails_the_payment() {
    let (fx, _merchant) = processing_fixture().await;
    assert_eq!(
        fx.pay("proc-poor", 50_000).await.result_code(),
        "PAYMENT_IN_PROCESS"
    );
    fx.sandbox
        .complete_payment("proc-poor", Completion::Success)
        .expect("completes");
    let inquiry = fx.inquiry("proc-poor").await;
    assert_eq!(inquiry.json["paymentStatus"], "FAIL");
    assert_eq!(inquiry.json["paymentResultCode"], "USER_BALANCE_NOT_ENOUGH");
    assert_eq!(fx.balance(), 10_000);
}

#[tokio::test]
async fn inquiry_reports_every_status_by_payment_id_and_by_request_id() {
    let fx = Fixture::new().await;
    let success = fx.pay("inq-success", 100).await.str("paymentId");
    fx.pay("inq-fail", 1_000_000).await;
    fx.pay("inq-cancelled", 100).await;
    let cancel = fx
        .client
        .call(Api::Cancel, &json!({ "paymentRequestId": "inq-cancelled" }))
        .await;
    assert_eq!(cancel.result_code(), "SUCCESS", "{}", cancel.body);
    fx.set_payment_mode(PaymentMode::Processing);
    fx.pay("inq-processing", 100).await;

    for (id, status) in [
        ("inq-success", "SUCCESS"),
        ("inq-fail", "FAIL"),
        ("inq-cancelled", "CANCELLED"),
        ("inq-processing", "PROCESSING"),
    ] {
        let by_request = fx.inquiry(id).await;
        assert_eq!(
            (by_request.result_status(), by_request.result_code()),
            ("S", "SUCCESS"),
            "the inquiry itself succeeds: {}",
            by_request.body
        );
        assert_eq!(
            by_request.json["paymentStatus"], status,
            "{id}: {}",
            by_request.body
        );
        assert_eq!(by_request.json["paymentRequestId"], id);
        let payment_id = by_request.str("paymentId");
        let by_id = fx
            .client
            .call(Api::InquiryPayment, &json!({ "paymentId": payment_id }))
            .await;
        assert_eq!(by_id.json["paymentStatus"], status, "{id} by paymentId");
        assert_eq!(by_id.json["paymentRequestId"], id);
    }
    assert_eq!(
        fx.inquiry("inq-fail").await.json["paymentResultCode"],
        "USER_BALANCE_NOT_ENOUGH"
    );
    // When both are given, paymentId wins.
    let both = fx
        .client
        .call(
            Api::InquiryPayment,
            &json!({ "paymentId": success, "paymentRequestId": "inq-fail" }),
        )
        .await;
    assert_eq!(both.json["paymentRequestId"], "inq-success");
    for body in [
        json!({ "paymentRequestId": "never-paid" }),
        json!({ "paymentId": "20240101000000000000000000000000" }),
    ] {
        let missing = fx.client.call(Api::InquiryPayment, &body).await;
        assert_eq!(
            (missing.result_status(), missing.result_code()),
            ("F", "ORDER_NOT_EXIST"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn an_expired_payment_cannot_be_completed_even_before_anyone_looks_at_it() {
    let (fx, _merchant) = processing_fixture().await;
    freeze_at(&fx.sandbox, "2024-06-01T12:00:00+08:00");
    assert_eq!(
        fx.pay("proc-late", 1_000).await.result_code(),
        "PAYMENT_IN_PROCESS"
    );
    // Straight from the clock move to the completion: no inquiry, no await in between.
    fx.sandbox.advance_clock_ms(60_001);
    assert!(
        fx.sandbox
            .complete_payment("proc-late", Completion::Success)
            .is_err(),
        "the payment expired before the user confirmed"
    );
    assert_eq!(fx.inquiry("proc-late").await.json["paymentStatus"], "FAIL");
    assert_eq!(fx.debits("proc-late"), 0);
    assert_eq!(fx.balance(), 10_000);
}

#[tokio::test]
async fn a_pay_arriving_at_or_after_its_payment_expiry_time_is_closed_and_recorded_failed() {
    let merchant = MerchantEndpoint::start().await;
    let fx = Fixture::new().await;
    fx.sandbox
        .set_merchant_settings(CLIENT_ID, merchant.settings())
        .expect("merchant");
    let now = freeze_at(&fx.sandbox, "2024-06-01T12:00:00+08:00");
    let expiring = |id: &str, expiry_ms: i64| {
        let mut body = pay_body(id, &usd(1_000), &fx.access);
        body["paymentExpiryTime"] = json!(ams(expiry_ms));
        body
    };
    for (id, expiry) in [("expired-before", now - 1_000), ("expired-now", now)] {
        let answer = fx.client.call(Api::Pay, &expiring(id, expiry)).await;
        assert_eq!(
            (answer.result_status(), answer.result_code()),
            ("F", "ORDER_IS_CLOSED"),
            "{id}: {}",
            answer.body
        );
        let inquiry = fx.inquiry(id).await;
        assert_eq!(inquiry.json["paymentStatus"], "FAIL", "{id}");
        assert_eq!(inquiry.json["paymentResultCode"], "ORDER_IS_CLOSED", "{id}");
        // Recorded: the retry gets the same final answer.
        let retry = fx.client.call(Api::Pay, &expiring(id, expiry)).await;
        assert_eq!(retry.result_code(), "ORDER_IS_CLOSED", "{id}");
        assert_eq!(fx.debits(id), 0, "{id}");
    }
    // Notified as failed pays.
    let got = merchant.wait_for(2).await;
    for received in &got {
        assert_eq!(received.json()["result"]["resultCode"], "ORDER_IS_CLOSED");
    }
    // A second ahead of its expiry (AMS datetimes count whole seconds), a pay goes through.
    let ok = fx
        .client
        .call(Api::Pay, &expiring("in-time", now + 1_000))
        .await;
    assert_eq!(ok.result_code(), "SUCCESS", "{}", ok.body);
    assert_eq!(fx.balance(), 9_000);
}

/// Alice in [`PaymentMode::Pending`] with the given delay, notifications to a merchant endpoint,
/// the clock frozen.
async fn pending_fixture(delay_ms: u64) -> (Fixture, MerchantEndpoint) {
    let fx = Fixture::start(builder().settings(SandboxSettings {
        payment_pending_delay_ms: delay_ms,
        ..SandboxSettings::default()
    }))
    .await;
    payment_mode_fixture(fx, "pending").await
}

/// Digest §3.4 (`PAYMENT_IN_PROCESS`, U), §3.5 (`PENDING`: paid, waiting for the final result),
/// §4.2 (`PAYMENT_PENDING`): the money goes at acceptance while the status says pending; the
/// success comes after the delay, with no second debit, past the payment's one-minute expiry.
#[tokio::test]
async fn a_pending_payment_takes_the_money_at_once_and_succeeds_after_the_delay() {
    let (fx, merchant) = pending_fixture(90_000).await;
    let t0 = fx.sandbox.clock().now_ms();
    let pay = fx.pay("pend-1", 3_000).await;
    assert_eq!(
        (pay.result_status(), pay.result_code()),
        ("U", "PAYMENT_IN_PROCESS"),
        "{}",
        pay.body
    );
    let payment_id = pay.str("paymentId");
    assert!(pay.json["paymentTime"].is_null(), "{}", pay.body);
    assert_eq!(fx.debits("pend-1"), 1, "debited at acceptance");
    assert_eq!(fx.balance(), 7_000);

    let inquiry = fx.inquiry("pend-1").await;
    assert_eq!(inquiry.json["paymentStatus"], "PENDING", "{}", inquiry.body);
    assert_eq!(inquiry.json["paymentResultCode"], "PAYMENT_IN_PROCESS");
    assert!(inquiry.json["paymentTime"].is_null());
    let again = fx.pay("pend-1", 3_000).await;
    assert_eq!(
        (again.result_status(), again.result_code()),
        ("U", "PAYMENT_IN_PROCESS")
    );
    assert_eq!(again.str("paymentId"), payment_id);
    assert_eq!(fx.debits("pend-1"), 1);
    // Not refundable until it is final.
    let early = fx
        .client
        .call(
            Api::Refund,
            &refund_body("pend-1-r", &payment_id, &usd(100)),
        )
        .await;
    assert_eq!(early.result_code(), "ORDER_STATUS_INVALID");

    let pending = payment_notifications(&fx, "pend-1");
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0]["notifyType"], "PAYMENT_PENDING");
    assert_eq!(pending[0]["result"]["resultStatus"], "S");
    assert_eq!(pending[0]["paymentId"], payment_id.as_str());
    assert!(pending[0]["paymentTime"].is_null(), "{}", pending[0]);

    // Past the one-minute expiry it is still pending: it does not expire.
    fx.sandbox.advance_clock_ms(89_999);
    assert_eq!(fx.inquiry("pend-1").await.json["paymentStatus"], "PENDING");

    fx.sandbox.advance_clock_ms(1);
    let done = fx.inquiry("pend-1").await;
    assert_eq!(done.json["paymentStatus"], "SUCCESS", "{}", done.body);
    assert_eq!(done.str("paymentTime"), ams(t0 + 90_000));
    let replay = fx.pay("pend-1", 3_000).await;
    assert_eq!(
        (replay.result_status(), replay.result_code()),
        ("S", "SUCCESS")
    );
    let ledger = fx.sandbox.ledger(Some("pend-1"), None);
    assert_eq!((ledger.debits, ledger.credits), (1, 0));
    assert_eq!(ledger.entries[0].at_ms, t0, "the debit is the acceptance's");
    assert_eq!(fx.balance(), 7_000);
    let notified = payment_notifications(&fx, "pend-1");
    assert_eq!(notified.len(), 2, "{notified:?}");
    assert_eq!(notified[1]["notifyType"], "PAYMENT_RESULT");
    assert_eq!(notified[1]["result"]["resultCode"], "SUCCESS");
    assert_eq!(notified[1]["paymentTime"], ams(t0 + 90_000).as_str());
    let got = merchant.wait_for(2).await;
    let types: Vec<serde_json::Value> = got
        .iter()
        .filter(|r| r.path == "/notify/payment")
        .map(|r| {
            assert_notification_signed(fx.sandbox.alipay_public_key(), r);
            r.json()["notifyType"].clone()
        })
        .collect();
    assert_eq!(types, ["PAYMENT_PENDING", "PAYMENT_RESULT"]);

    // Refundable now, as any paid payment.
    let refund = fx
        .client
        .call(
            Api::Refund,
            &refund_body("pend-1-r2", &payment_id, &usd(3_000)),
        )
        .await;
    assert_eq!(refund.result_code(), "SUCCESS", "{}", refund.body);
    assert_eq!(fx.balance(), 10_000);
}

/// A pending payment is checked as an instant one (the money goes now), and a cancel while it is
/// pending gives the money back: it never succeeds afterwards.
#[tokio::test]
async fn a_pending_payment_is_refused_as_an_instant_one_and_a_cancel_gives_the_money_back() {
    let (fx, _merchant) = pending_fixture(20_000).await;
    let poor = fx.pay("pend-poor", 10_001).await;
    assert_eq!(
        (poor.result_status(), poor.result_code()),
        ("F", "USER_BALANCE_NOT_ENOUGH")
    );
    assert_eq!(fx.debits("pend-poor"), 0);

    let pay = fx.pay("pend-c", 4_000).await;
    assert_eq!(pay.result_code(), "PAYMENT_IN_PROCESS");
    assert_eq!(fx.balance(), 6_000);
    let cancel = fx.cancel("pend-c").await;
    assert_eq!(cancel.result_code(), "SUCCESS", "{}", cancel.body);
    assert_eq!(fx.balance(), 10_000);
    fx.sandbox.advance_clock_ms(3_600_000);
    assert_eq!(
        fx.inquiry("pend-c").await.json["paymentStatus"],
        "CANCELLED"
    );
    let ledger = fx.sandbox.ledger(Some("pend-c"), None);
    assert_eq!((ledger.debits, ledger.credits), (1, 1));
    assert_eq!(ledger.entries[1].reason, EntryReason::Cancel);
    assert_eq!(fx.balance(), 10_000);
    let types: Vec<serde_json::Value> = payment_notifications(&fx, "pend-c")
        .iter()
        .map(|n| n["notifyType"].clone())
        .collect();
    assert_eq!(types, ["PAYMENT_PENDING"], "no result after the cancel");
    assert_eq!(
        fx.pay("pend-c", 4_000).await.result_code(),
        "ORDER_IS_CLOSED"
    );
}
