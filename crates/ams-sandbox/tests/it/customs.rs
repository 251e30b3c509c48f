//! Customs declaration (digest §9.3–9.4): declare on a paid payment, the declared total, one
//! declaration per customs, idempotency and the 5-minute re-transmission rules, customs' receipt
//! arriving after the configured delay (or a rejection), and inquiryDeclarationRequests.

use ams_protocol::Api;
use ams_sandbox::{
    AnswerStatus, ClockUpdate, Completion, CustomsRejection, FaultAction, FaultRule,
    MerchantSettings, PaymentMode, SandboxSettings,
};
use serde_json::{Value, json};

use crate::support::*;

const MINUTE_MS: i64 = 60_000;
const FIVE_MINUTES_MS: i64 = 5 * MINUTE_MS;

/// A declare body for `minor` US cents of `payment_id` at ZONGSHU, whole order, with a certificate.
fn declare_body(id: &str, payment_id: &str, minor: u64) -> Value {
    json!({
        "declarationRequestId": id,
        "paymentId": payment_id,
        "declarationAmount": { "currency": "USD", "value": minor.to_string() },
        "customs": { "customsCode": "ZONGSHU", "region": "CN" },
        "merchantCustomsInfo": { "merchantCustomsCode": "demo_code", "merchantCustomsName": "demo_name" },
        "splitOrder": false,
        "buyerCertificate": {
            "certificateType": "ID_CARD",
            "certificateNo": "110101199001011234",
            "holderName": { "firstName": "F", "lastName": "L", "fullName": "F L" }
        }
    })
}

/// The same body as one part of a split order.
fn split(mut body: Value, suborder: &str) -> Value {
    body["splitOrder"] = json!(true);
    body["suborderId"] = json!(suborder);
    body
}

/// The same body at another customs office.
fn at_customs(mut body: Value, code: &str) -> Value {
    body["customs"]["customsCode"] = json!(code);
    body
}

/// Freezes the clock where it is; returns the time.
fn freeze(fx: &Fixture) -> i64 {
    fx.sandbox
        .update_clock(&ClockUpdate {
            frozen: Some(true),
            ..ClockUpdate::default()
        })
        .expect("clock frozen")
        .unix_ms
}

/// A bound, frozen fixture with a successful payment of `minor` cents; returns its paymentId.
async fn paid_fixture(minor: u64) -> (Fixture, String) {
    let fx = Fixture::new().await;
    freeze(&fx);
    let payment_id = pay(&fx, "customs-pay", minor).await;
    (fx, payment_id)
}

async fn pay(fx: &Fixture, payment_request_id: &str, minor: u64) -> String {
    let paid = fx.pay(payment_request_id, minor).await;
    assert_eq!(paid.result_code(), "SUCCESS", "{}", paid.body);
    paid.str("paymentId")
}

async fn declare(fx: &Fixture, body: &Value) -> Answer {
    fx.client.call(Api::Declare, body).await
}

async fn inquire(fx: &Fixture, ids: &[&str]) -> Answer {
    fx.client
        .call(
            Api::InquiryDeclarationRequests,
            &json!({ "declarationRequestIds": ids }),
        )
        .await
}

/// The record of `id` in an inquiry about it alone.
async fn record(fx: &Fixture, id: &str) -> Value {
    let answer = inquire(fx, &[id]).await;
    assert_eq!(answer.result_code(), "SUCCESS", "{}", answer.body);
    let records = answer.json["declarationRecords"]
        .as_array()
        .unwrap_or_else(|| panic!("no records: {}", answer.body));
    assert_eq!(records.len(), 1, "{}", answer.body);
    records[0].clone()
}

fn code(answer: &Answer) -> (&str, &str) {
    (answer.result_status(), answer.result_code())
}

#[tokio::test]
async fn a_paid_payment_is_declared_and_customs_answers_after_the_delay() {
    let (fx, payment_id) = paid_fixture(1_000).await;
    let declared_at = fx.sandbox.clock().now_ms();
    let first = declare(&fx, &declare_body("decl-1", &payment_id, 1_000)).await;
    assert_eq!(code(&first), ("S", "SUCCESS"), "{}", first.body);
    let customs_payment_id = first.str("customsPaymentId");
    let customs_order_id = first.str("customsOrderId");
    assert_ne!(customs_payment_id, customs_order_id);
    assert_eq!(first.json["identityCheckResult"], "CHECK_PASSED");
    // Customs' receipt is not back: no clearing fields yet.
    for field in [
        "clearingChannel",
        "clearingTransactionId",
        "customsProviderRegistrationId",
    ] {
        assert!(first.json.get(field).is_none(), "{field}: {}", first.body);
    }

    let processing = record(&fx, "decl-1").await;
    assert_eq!(
        processing,
        json!({
            "declarationRequestId": "decl-1",
            "customsPaymentId": customs_payment_id,
            "customsOrderId": customs_order_id,
            "customs": { "customsCode": "ZONGSHU", "region": "CN" },
            "merchantCustomsInfo": { "merchantCustomsCode": "demo_code", "merchantCustomsName": "demo_name" },
            "declarationAmount": { "currency": "USD", "value": "1000" },
            "splitOrder": false,
            "declarationRequestStatus": "PROCESSING",
            "lastModifiedTime": ams(declared_at),
        })
    );

    // One millisecond before the default minute: still processing.
    fx.sandbox.advance_clock_ms(MINUTE_MS - 1);
    assert_eq!(
        record(&fx, "decl-1").await["declarationRequestStatus"],
        "PROCESSING"
    );
    fx.sandbox.advance_clock_ms(1);
    let back = record(&fx, "decl-1").await;
    assert_eq!(back["declarationRequestStatus"], "SUCCESS", "{back}");
    assert_eq!(back["customsDeclarationResultCode"], "2");
    assert!(back["customsDeclarationResultDesc"].is_string(), "{back}");
    assert_eq!(
        back["customsDeclarationReturnTime"],
        ams(declared_at + MINUTE_MS)
    );
    assert_eq!(back["lastModifiedTime"], ams(declared_at + MINUTE_MS));

    // The same declare again: the same ids, now with the clearing fields.
    let again = declare(&fx, &declare_body("decl-1", &payment_id, 1_000)).await;
    assert_eq!(code(&again), ("S", "SUCCESS"), "{}", again.body);
    assert_eq!(again.str("customsPaymentId"), customs_payment_id);
    assert_eq!(again.str("customsOrderId"), customs_order_id);
    assert_eq!(again.json["identityCheckResult"], "CHECK_PASSED");
    assert_eq!(again.json["clearingChannel"], "OTHER");
    assert_eq!(again.json["customsProviderRegistrationId"], "31222699S7");
    assert!(!again.str("clearingTransactionId").is_empty());
}

#[tokio::test]
async fn an_identical_retry_gets_the_same_answer_and_declares_nothing_more() {
    let (fx, payment_id) = paid_fixture(1_000).await;
    let body = declare_body("decl-retry", &payment_id, 600);
    let first = declare(&fx, &body).await;
    assert_eq!(code(&first), ("S", "SUCCESS"));
    fx.sandbox.advance_clock_ms(10_000);
    let second = declare(&fx, &body).await;
    assert_eq!(second.body, first.body);
    // Only one share of 600 is declared: 400 more fit, 401 would not.
    let other = at_customs(declare_body("decl-other", &payment_id, 401), "SHANGHAI_CBT");
    assert_eq!(
        code(&declare(&fx, &other).await),
        ("F", "TOTAL_DECLARATION_AMOUNT_EXCEED")
    );
    let other = at_customs(declare_body("decl-other", &payment_id, 400), "SHANGHAI_CBT");
    assert_eq!(code(&declare(&fx, &other).await), ("S", "SUCCESS"));
}

#[tokio::test]
async fn the_customs_receipt_delay_is_a_setting() {
    let (fx, payment_id) = paid_fixture(1_000).await;
    fx.sandbox.set_settings(SandboxSettings {
        customs_receipt_delay_ms: 5_000,
        ..SandboxSettings::default()
    });
    declare(&fx, &declare_body("decl-fast", &payment_id, 1_000)).await;
    fx.sandbox.advance_clock_ms(4_999);
    assert_eq!(
        record(&fx, "decl-fast").await["declarationRequestStatus"],
        "PROCESSING"
    );
    fx.sandbox.advance_clock_ms(1);
    assert_eq!(
        record(&fx, "decl-fast").await["declarationRequestStatus"],
        "SUCCESS"
    );
}

#[tokio::test]
async fn the_identity_check_follows_the_certificate_and_the_setting() {
    let (fx, payment_id) = paid_fixture(1_000).await;
    let mut without = declare_body("decl-no-cert", &payment_id, 100);
    without
        .as_object_mut()
        .expect("object")
        .remove("buyerCertificate");
    let answer = declare(&fx, &without).await;
    assert_eq!(code(&answer), ("S", "SUCCESS"));
    assert!(
        answer.json.get("identityCheckResult").is_none(),
        "{}",
        answer.body
    );

    fx.sandbox
        .set_merchant_settings(
            CLIENT_ID,
            MerchantSettings {
                customs_identity_check_fails: true,
                ..MerchantSettings::default()
            },
        )
        .expect("settings");
    let other = at_customs(declare_body("decl-other-buyer", &payment_id, 100), "NINGBO");
    let answer = declare(&fx, &other).await;
    assert_eq!(code(&answer), ("S", "SUCCESS"));
    assert_eq!(answer.json["identityCheckResult"], "CHECK_NOT_PASSED");
}

#[tokio::test]
async fn an_unknown_or_foreign_payment_is_order_not_exist_and_the_refusal_keeps_nothing() {
    let fx =
        Fixture::start(builder().merchant("SANDBOX_5X00000000000099", merchant_public())).await;
    freeze(&fx);
    let answer = declare(&fx, &declare_body("decl-1", "no-such-payment", 100)).await;
    assert_eq!(code(&answer), ("F", "ORDER_NOT_EXIST"));
    // Nothing was kept: the id is unknown, and the same id declares the right payment.
    assert_eq!(
        inquire(&fx, &["decl-1"]).await.json["declarationRequestsNotFound"],
        json!(["decl-1"])
    );
    let payment_id = pay(&fx, "p-1", 1_000).await;

    // Another merchant cannot declare it, nor see the declaration.
    let mut other = TestClient::new(&fx.sandbox);
    other.client_id = "SANDBOX_5X00000000000099".to_owned();
    let foreign = other
        .call(Api::Declare, &declare_body("decl-1", &payment_id, 100))
        .await;
    assert_eq!(code(&foreign), ("F", "ORDER_NOT_EXIST"));

    assert_eq!(
        code(&declare(&fx, &declare_body("decl-1", &payment_id, 100)).await),
        ("S", "SUCCESS")
    );
    let seen = other
        .call(
            Api::InquiryDeclarationRequests,
            &json!({ "declarationRequestIds": ["decl-1"] }),
        )
        .await;
    assert_eq!(seen.json["declarationRequestsNotFound"], json!(["decl-1"]));
    assert!(
        seen.json.get("declarationRecords").is_none(),
        "{}",
        seen.body
    );
}

#[tokio::test]
async fn only_a_successful_payment_can_be_declared() {
    let fx = Fixture::new().await;
    freeze(&fx);
    // A payment left processing, then completed.
    fx.set_payment_mode(PaymentMode::Processing);
    let processing = fx.pay("slow", 1_000).await;
    assert_eq!(processing.result_code(), "PAYMENT_IN_PROCESS");
    let slow_id = processing.str("paymentId");
    let body = declare_body("decl-slow", &slow_id, 1_000);
    assert_eq!(
        code(&declare(&fx, &body).await),
        ("F", "ORDER_STATUS_INVALID")
    );
    fx.sandbox
        .complete_payment("slow", Completion::Success)
        .expect("completed");
    // "Wait, then declare": the same id now succeeds.
    assert_eq!(code(&declare(&fx, &body).await), ("S", "SUCCESS"));

    // A cancelled payment.
    fx.set_payment_mode(PaymentMode::Instant);
    let cancelled_id = pay(&fx, "to-cancel", 500).await;
    assert_eq!(fx.cancel("to-cancel").await.result_code(), "SUCCESS");
    assert_eq!(
        code(&declare(&fx, &declare_body("decl-cancelled", &cancelled_id, 500)).await),
        ("F", "ORDER_STATUS_INVALID")
    );
}

#[tokio::test]
async fn the_amount_must_be_in_the_payments_currency_and_positive() {
    let (fx, payment_id) = paid_fixture(1_000).await;
    let mut cny = declare_body("decl-cny", &payment_id, 100);
    cny["declarationAmount"]["currency"] = json!("CNY");
    let answer = declare(&fx, &cny).await;
    assert_eq!(code(&answer), ("F", "PARAM_ILLEGAL"));
    assert!(
        answer.message().contains("declarationAmount.currency"),
        "{}",
        answer.body
    );
    let answer = declare(&fx, &declare_body("decl-zero", &payment_id, 0)).await;
    assert_eq!(code(&answer), ("F", "PARAM_ILLEGAL"));
    assert!(
        answer.message().contains("declarationAmount.value"),
        "{}",
        answer.body
    );
    assert_eq!(
        inquire(&fx, &["decl-cny", "decl-zero"]).await.json["declarationRequestsNotFound"],
        json!(["decl-cny", "decl-zero"])
    );
}

#[tokio::test]
async fn the_declared_shares_cannot_exceed_the_payment() {
    let (fx, payment_id) = paid_fixture(1_000).await;
    let part = |id: &str, minor: u64, sub: &str| split(declare_body(id, &payment_id, minor), sub);
    assert_eq!(
        code(&declare(&fx, &part("part-a", 600, "SUB-A")).await),
        ("S", "SUCCESS")
    );
    assert_eq!(
        code(&declare(&fx, &part("part-b", 401, "SUB-B")).await),
        ("F", "TOTAL_DECLARATION_AMOUNT_EXCEED")
    );
    assert_eq!(
        code(&declare(&fx, &part("part-b", 400, "SUB-B")).await),
        ("S", "SUCCESS")
    );
    assert_eq!(
        code(&declare(&fx, &part("part-c", 1, "SUB-C")).await),
        ("F", "TOTAL_DECLARATION_AMOUNT_EXCEED")
    );
    // A refund does not lower the cap ("the payment's total"), nor raise it.
    let refund = fx
        .client
        .call(
            Api::Refund,
            &refund_body("customs-refund", &payment_id, &usd(500)),
        )
        .await;
    assert_eq!(refund.result_code(), "SUCCESS");
    assert_eq!(
        code(&declare(&fx, &part("part-c", 1, "SUB-C")).await),
        ("F", "TOTAL_DECLARATION_AMOUNT_EXCEED")
    );
}

#[tokio::test]
async fn a_second_declaration_at_the_same_customs_is_duplicated_unless_both_are_split_parts() {
    let (fx, payment_id) = paid_fixture(1_000).await;
    let whole = declare_body("whole", &payment_id, 300);
    assert_eq!(code(&declare(&fx, &whole).await), ("S", "SUCCESS"));
    // Another id, same payment, same customs: refused whatever the amount or the split flag.
    for body in [
        declare_body("again", &payment_id, 100),
        split(declare_body("again", &payment_id, 100), "SUB-1"),
    ] {
        assert_eq!(
            code(&declare(&fx, &body).await),
            ("F", "DUPLICATED_DECLARATIONS"),
            "{body}"
        );
    }
    // Another customs office is another declaration.
    assert_eq!(
        code(
            &declare(
                &fx,
                &at_customs(declare_body("shanghai", &payment_id, 300), "SHANGHAI_CBT")
            )
            .await
        ),
        ("S", "SUCCESS")
    );
    // Split parts at one office: distinct sub-orders pass, the same sub-order is a duplicate.
    let ningbo =
        |id: &str, sub: &str| at_customs(split(declare_body(id, &payment_id, 100), sub), "NINGBO");
    assert_eq!(
        code(&declare(&fx, &ningbo("nb-1", "SUB-1")).await),
        ("S", "SUCCESS")
    );
    assert_eq!(
        code(&declare(&fx, &ningbo("nb-2", "SUB-2")).await),
        ("S", "SUCCESS")
    );
    assert_eq!(
        code(&declare(&fx, &ningbo("nb-3", "SUB-2")).await),
        ("F", "DUPLICATED_DECLARATIONS")
    );
}

#[tokio::test]
async fn changes_within_five_minutes_are_refused_and_change_nothing() {
    let (fx, payment_id) = paid_fixture(1_000).await;
    let body = declare_body("decl-1", &payment_id, 600);
    assert_eq!(code(&declare(&fx, &body).await), ("S", "SUCCESS"));
    let before = record(&fx, "decl-1").await;

    fx.sandbox.advance_clock_ms(MINUTE_MS);
    let mut amount = body.clone();
    amount["declarationAmount"]["value"] = json!("500");
    assert_eq!(
        code(&declare(&fx, &amount).await),
        ("F", "REPEAT_REQ_INCONSISTENT")
    );
    let mut currency = body.clone();
    currency["declarationAmount"]["currency"] = json!("CNY");
    assert_eq!(
        code(&declare(&fx, &currency).await),
        ("F", "REPEAT_REQ_INCONSISTENT")
    );
    let mut name = body.clone();
    name["merchantCustomsInfo"]["merchantCustomsName"] = json!("another name");
    assert_eq!(
        code(&declare(&fx, &name).await),
        ("F", "CONTEXT_INCONSISTENT")
    );
    // Still the first declaration (its receipt came back meanwhile).
    let after = record(&fx, "decl-1").await;
    for field in [
        "declarationAmount",
        "merchantCustomsInfo",
        "customsPaymentId",
    ] {
        assert_eq!(after[field], before[field], "{field}");
    }
}

#[tokio::test]
async fn a_field_outside_the_seven_never_changes() {
    let (fx, payment_id) = paid_fixture(1_000).await;
    let other_payment = pay(&fx, "other-pay", 1_000).await;
    let body = declare_body("decl-1", &payment_id, 600);
    assert_eq!(code(&declare(&fx, &body).await), ("S", "SUCCESS"));
    type Change = fn(&mut Value, &str);
    let changes: [(&str, Change); 5] = [
        ("paymentId", |b, other| b["paymentId"] = json!(other)),
        ("customs.region", |b, _| {
            b["customs"]["region"] = json!("HK")
        }),
        ("splitOrder", |b, _| {
            b["splitOrder"] = json!(true);
            b["suborderId"] = json!("SUB-1");
        }),
        ("certificateType", |b, _| {
            b["buyerCertificate"]["certificateType"] = json!("PASSPORT");
        }),
        ("holderName.firstName", |b, _| {
            b["buyerCertificate"]["holderName"]["firstName"] = json!("G");
        }),
    ];
    for (what, change) in changes {
        // Each attempt comes more than five minutes after the previous call.
        fx.sandbox.advance_clock_ms(FIVE_MINUTES_MS + 1);
        let mut changed = body.clone();
        change(&mut changed, &other_payment);
        let answer = declare(&fx, &changed).await;
        assert_eq!(
            code(&answer),
            ("F", "CONTEXT_INCONSISTENT"),
            "{what}: {}",
            answer.body
        );
    }
    assert_eq!(
        record(&fx, "decl-1").await["declarationAmount"]["value"],
        "600"
    );
}

#[tokio::test]
async fn a_retransmission_after_five_minutes_replaces_the_share_and_goes_to_customs_again() {
    let (fx, payment_id) = paid_fixture(1_000).await;
    let body = declare_body("decl-1", &payment_id, 600);
    let first = declare(&fx, &body).await;
    assert_eq!(code(&first), ("S", "SUCCESS"));
    fx.sandbox.advance_clock_ms(FIVE_MINUTES_MS + 1);
    assert_eq!(
        record(&fx, "decl-1").await["declarationRequestStatus"],
        "SUCCESS"
    );

    // All seven fields changed, the amount to 900 of 1000.
    let mut resent = body.clone();
    resent["declarationAmount"]["value"] = json!("900");
    resent["merchantCustomsInfo"] =
        json!({ "merchantCustomsCode": "code-2", "merchantCustomsName": "name-2" });
    resent["customs"]["customsCode"] = json!("SHANGHAI_CBT");
    resent["suborderId"] = json!("SUB-X");
    resent["buyerCertificate"]["certificateNo"] = json!("220101199001011234");
    resent["buyerCertificate"]["holderName"]["fullName"] = json!("F M L");
    let retransmitted_at = fx.sandbox.clock().now_ms();
    let answer = declare(&fx, &resent).await;
    // Answered as the first success was (the receipt is pending again: no clearing fields).
    assert_eq!(answer.body, first.body);
    let record_now = record(&fx, "decl-1").await;
    assert_eq!(record_now["declarationAmount"]["value"], "900");
    assert_eq!(
        record_now["merchantCustomsInfo"]["merchantCustomsName"],
        "name-2"
    );
    assert_eq!(record_now["customs"]["customsCode"], "SHANGHAI_CBT");
    assert_eq!(record_now["declarationRequestStatus"], "PROCESSING");
    assert_eq!(record_now["lastModifiedTime"], ams(retransmitted_at));
    assert!(
        record_now.get("customsDeclarationResultCode").is_none(),
        "{record_now}"
    );

    // The 900 replaced the 600: 100 more fit at another office, 101 would not.
    let other = |minor| at_customs(declare_body("decl-2", &payment_id, minor), "NINGBO");
    assert_eq!(
        code(&declare(&fx, &other(101)).await),
        ("F", "TOTAL_DECLARATION_AMOUNT_EXCEED")
    );
    assert_eq!(code(&declare(&fx, &other(100)).await), ("S", "SUCCESS"));
    // A re-transmission must still fit.
    fx.sandbox.advance_clock_ms(FIVE_MINUTES_MS + 1);
    let mut too_much = resent.clone();
    too_much["declarationAmount"]["value"] = json!("901");
    assert_eq!(
        code(&declare(&fx, &too_much).await),
        ("F", "TOTAL_DECLARATION_AMOUNT_EXCEED")
    );
    // Nor may it move to an office where the payment is already declared.
    fx.sandbox.advance_clock_ms(FIVE_MINUTES_MS + 1);
    let ningbo = at_customs(resent.clone(), "NINGBO");
    assert_eq!(
        code(&declare(&fx, &ningbo).await),
        ("F", "DUPLICATED_DECLARATIONS")
    );
    assert_eq!(
        record(&fx, "decl-1").await["declarationAmount"]["value"],
        "900"
    );
}

#[tokio::test]
async fn the_five_minutes_count_from_the_previous_call_refused_ones_included() {
    let (fx, payment_id) = paid_fixture(1_000).await;
    let body = declare_body("decl-1", &payment_id, 600);
    assert_eq!(code(&declare(&fx, &body).await), ("S", "SUCCESS"));
    let mut changed = body.clone();
    changed["declarationAmount"]["value"] = json!("700");
    // Exactly five minutes is not "more than five minutes".
    fx.sandbox.advance_clock_ms(FIVE_MINUTES_MS);
    assert_eq!(
        code(&declare(&fx, &changed).await),
        ("F", "REPEAT_REQ_INCONSISTENT")
    );
    // More than five minutes after the first call, but not after the refused one.
    fx.sandbox.advance_clock_ms(1);
    assert_eq!(
        code(&declare(&fx, &changed).await),
        ("F", "REPEAT_REQ_INCONSISTENT")
    );
    fx.sandbox.advance_clock_ms(FIVE_MINUTES_MS + 1);
    assert_eq!(code(&declare(&fx, &changed).await), ("S", "SUCCESS"));
    assert_eq!(
        record(&fx, "decl-1").await["declarationAmount"]["value"],
        "700"
    );
}

#[tokio::test]
async fn customs_can_reject_a_declaration_in_process_or_over_http() {
    let (fx, payment_id) = paid_fixture(1_000).await;
    fx.sandbox
        .set_merchant_settings(
            CLIENT_ID,
            MerchantSettings {
                customs_rejections: vec![CustomsRejection::new(
                    "decl-rejected",
                    "100",
                    "The order number does not match.",
                )],
                ..MerchantSettings::default()
            },
        )
        .expect("settings");
    let body = declare_body("decl-rejected", &payment_id, 500);
    assert_eq!(code(&declare(&fx, &body).await), ("S", "SUCCESS"));
    fx.sandbox.advance_clock_ms(MINUTE_MS);
    let rejected = record(&fx, "decl-rejected").await;
    assert_eq!(rejected["declarationRequestStatus"], "FAIL", "{rejected}");
    assert_eq!(rejected["customsDeclarationResultCode"], "100");
    assert_eq!(
        rejected["customsDeclarationResultDesc"],
        "The order number does not match."
    );
    // No clearing fields for a rejected declaration.
    let again = declare(&fx, &body).await;
    assert_eq!(code(&again), ("S", "SUCCESS"));
    assert!(
        again.json.get("clearingChannel").is_none(),
        "{}",
        again.body
    );

    // The same through the control API, set after the declaration.
    let other = at_customs(declare_body("decl-http", &payment_id, 500), "NINGBO");
    assert_eq!(code(&declare(&fx, &other).await), ("S", "SUCCESS"));
    let (status, view) = Control::new(&fx.sandbox)
        .put(
            &format!("/sandbox/merchants/{CLIENT_ID}"),
            &json!({ "customs_rejections": [
                { "declaration_request_id": "decl-http", "code": "3", "desc": "rejected over HTTP" }
            ] }),
        )
        .await;
    assert_eq!(status, 200, "{view}");
    fx.sandbox.advance_clock_ms(MINUTE_MS);
    let rejected = record(&fx, "decl-http").await;
    assert_eq!(
        (
            &rejected["declarationRequestStatus"],
            &rejected["customsDeclarationResultCode"]
        ),
        (&json!("FAIL"), &json!("3"))
    );
}

#[tokio::test]
async fn a_merchant_not_registered_for_customs_cannot_declare() {
    let (fx, payment_id) = paid_fixture(1_000).await;
    let (status, _) = Control::new(&fx.sandbox)
        .put(
            &format!("/sandbox/merchants/{CLIENT_ID}"),
            &json!({ "customs_registered": false }),
        )
        .await;
    assert_eq!(status, 200);
    let answer = declare(&fx, &declare_body("decl-1", &payment_id, 100)).await;
    assert_eq!(code(&answer), ("F", "MERCHANT_NOT_REGISTERED"));
    assert_eq!(
        inquire(&fx, &["decl-1"]).await.json["declarationRequestsNotFound"],
        json!(["decl-1"])
    );
    fx.sandbox
        .set_merchant_settings(CLIENT_ID, MerchantSettings::default())
        .expect("settings");
    assert_eq!(
        code(&declare(&fx, &declare_body("decl-1", &payment_id, 100)).await),
        ("S", "SUCCESS")
    );
}

#[tokio::test]
async fn an_inquiry_answers_s_with_the_known_records_and_the_unknown_ids() {
    let (fx, payment_id) = paid_fixture(1_000).await;
    declare(&fx, &declare_body("known", &payment_id, 100)).await;
    let answer = inquire(&fx, &["unknown-1", "known", "unknown-2", "known"]).await;
    assert_eq!(code(&answer), ("S", "SUCCESS"), "{}", answer.body);
    assert_eq!(
        answer.json["declarationRequestsNotFound"],
        json!(["unknown-1", "unknown-2"])
    );
    let records = answer.json["declarationRecords"]
        .as_array()
        .expect("records");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["declarationRequestId"], "known");
    // splitOrder is a JSON boolean.
    assert_eq!(records[0]["splitOrder"], json!(false));

    let all_unknown = inquire(&fx, &["nope"]).await;
    assert_eq!(code(&all_unknown), ("S", "SUCCESS"));
    assert_eq!(
        all_unknown.json["declarationRequestsNotFound"],
        json!(["nope"])
    );
    assert!(all_unknown.json.get("declarationRecords").is_none());

    let eleven: Vec<String> = (0..11).map(|i| format!("id-{i}")).collect();
    let eleven: Vec<&str> = eleven.iter().map(String::as_str).collect();
    let refused = inquire(&fx, &eleven).await;
    assert_eq!(code(&refused), ("F", "PARAM_ILLEGAL"));
    assert!(
        refused.message().contains("declarationRequestIds"),
        "{}",
        refused.body
    );
    let refused = inquire(&fx, &[]).await;
    assert_eq!(code(&refused), ("F", "PARAM_ILLEGAL"));
    let too_long = "x".repeat(33);
    let refused = inquire(&fx, &[too_long.as_str()]).await;
    assert_eq!(code(&refused), ("F", "PARAM_ILLEGAL"));
    assert!(
        refused.message().contains("declarationRequestIds[0]"),
        "{}",
        refused.body
    );
}

#[tokio::test]
async fn the_sdks_spellings_are_read_and_split_orders_need_a_sub_order() {
    let (fx, payment_id) = paid_fixture(1_000).await;
    // Python and Go drop splitOrder=false: a missing splitOrder is false.
    let mut missing = declare_body("no-split-flag", &payment_id, 100);
    missing
        .as_object_mut()
        .expect("object")
        .remove("splitOrder");
    assert_eq!(code(&declare(&fx, &missing).await), ("S", "SUCCESS"));
    assert_eq!(
        record(&fx, "no-split-flag").await["splitOrder"],
        json!(false)
    );
    // Java, Go, PHP and .NET write subOrderId; some send splitOrder as a string.
    let mut java = at_customs(declare_body("java-split", &payment_id, 100), "NINGBO");
    java["splitOrder"] = json!("true");
    java["subOrderId"] = json!("SUB-J");
    assert_eq!(code(&declare(&fx, &java).await), ("S", "SUCCESS"));
    assert_eq!(record(&fx, "java-split").await["splitOrder"], json!(true));
    // A split order without its sub-order id, an id over 32 characters: PARAM_ILLEGAL, named.
    let mut no_sub = at_customs(declare_body("no-sub", &payment_id, 100), "SHANGHAI_CBT");
    no_sub["splitOrder"] = json!(true);
    let answer = declare(&fx, &no_sub).await;
    assert_eq!(code(&answer), ("F", "PARAM_ILLEGAL"));
    assert!(answer.message().contains("suborderId"), "{}", answer.body);
    let long_id = "d".repeat(33);
    let answer = declare(&fx, &declare_body(&long_id, &payment_id, 100)).await;
    assert_eq!(code(&answer), ("F", "PARAM_ILLEGAL"));
    assert!(
        answer.message().contains("declarationRequestId"),
        "{}",
        answer.body
    );
}

#[tokio::test]
async fn fault_rules_match_declarations_by_their_id() {
    let (fx, payment_id) = paid_fixture(1_000).await;
    fx.sandbox.add_fault(
        FaultRule::new(
            Api::Declare,
            FaultAction::Answer {
                status: AnswerStatus::F,
                code: "RISK_REJECT".into(),
            },
        )
        .for_request("decl-risky")
        .process(false),
    );
    // Another id is not matched.
    assert_eq!(
        code(&declare(&fx, &declare_body("decl-fine", &payment_id, 100)).await),
        ("S", "SUCCESS")
    );
    let risky = at_customs(declare_body("decl-risky", &payment_id, 100), "NINGBO");
    assert_eq!(code(&declare(&fx, &risky).await), ("F", "RISK_REJECT"));
    assert_eq!(
        inquire(&fx, &["decl-risky"]).await.json["declarationRequestsNotFound"],
        json!(["decl-risky"])
    );

    // Held in transit: listed by its id, declared when released.
    fx.sandbox.add_fault(
        FaultRule::new(Api::Declare, FaultAction::Hold { ms: 1_000 }).for_request("decl-risky"),
    );
    assert!(fx.client.try_call(Api::Declare, &risky).await.is_err());
    let held = fx.sandbox.held();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].request_id.as_deref(), Some("decl-risky"));
    fx.sandbox.advance_clock_ms(1_000);
    assert_eq!(
        record(&fx, "decl-risky").await["declarationRequestStatus"],
        "PROCESSING"
    );

    // inquiryDeclarationRequests is matched by its ids joined with commas.
    fx.sandbox.add_fault(
        FaultRule::new(
            Api::InquiryDeclarationRequests,
            FaultAction::Unknown {
                code: "UNKNOWN_EXCEPTION".into(),
            },
        )
        .for_request("decl-fine,decl-risky"),
    );
    assert_eq!(
        code(&inquire(&fx, &["decl-fine", "decl-risky"]).await),
        ("U", "UNKNOWN_EXCEPTION")
    );
}
