//! Secondary-merchant registration (digest §9.5–9.8): acceptance, idempotency on
//! `registrationRequestId`, `REPEAT_REGISTRATION`, the review ending after the configured delay with
//! `notifyRegistrationStatus`, the two inquiries, and the setting that makes consult and pay refuse
//! an unregistered secondary merchant.

use ams_protocol::{Api, CustomerBelongsTo};
use ams_sandbox::{
    ClockUpdate, DeliveryState, MerchantSettings, NotificationFaultAction, NotificationFaultRule,
    NotificationKind, RegistrationRejection, SandboxSettings,
};
use serde_json::{Value, json};

use crate::support::*;

const MINUTE_MS: i64 = 60_000;

/// A registration body shaped like the Python SDK's (digest §9.5.5).
fn registration_body(id: &str, reference: &str, notify_url: Option<&str>) -> Value {
    let mut body = json!({
        "productCodes": ["AGREEMENT_PAYMENT"],
        "registrationRequestId": id,
        "merchantInfo": {
            "referenceMerchantId": reference,
            "merchantDisplayName": "Shop",
            "merchantMCC": "5812",
            "logo": { "logoName": "Shop", "logoUrl": "https://merchant.example/logo.png" },
            "websites": [{ "name": "n", "url": "https://merchant.example", "desc": "d" }],
            "merchantAddress": { "region": "HK", "city": "Hong Kong", "address1": "1 Road" },
            "registrationDetail": {
                "legalName": "Shop Ltd",
                "contactInfo": [{ "contactNo": "a@b.c", "contactType": "EMAIL" }],
                "registrationType": "ENTERPRISE_REGISTRATION_NO",
                "registrationNo": "12345",
                "businessType": "ENTERPRISE",
                "registrationEffectiveDate": "2020-01-01T12:08:55+08:00"
            }
        },
        "passThroughInfo": "{\"k\":\"v\"}"
    });
    if let Some(url) = notify_url {
        body["registrationNotifyURL"] = json!(url);
    }
    body
}

fn freeze(fx: &Fixture) -> i64 {
    fx.sandbox
        .update_clock(&ClockUpdate {
            frozen: Some(true),
            ..ClockUpdate::default()
        })
        .expect("clock frozen")
        .unix_ms
}

async fn frozen() -> Fixture {
    let fx = Fixture::new().await;
    freeze(&fx);
    fx
}

async fn register(fx: &Fixture, body: &Value) -> Answer {
    fx.client.call(Api::Registration, body).await
}

async fn status(fx: &Fixture, body: Value) -> Answer {
    fx.client.call(Api::InquiryRegistrationStatus, &body).await
}

async fn info(fx: &Fixture, reference: &str) -> Answer {
    fx.client
        .call(
            Api::InquiryRegistrationInfo,
            &json!({ "referenceMerchantId": reference }),
        )
        .await
}

fn code(answer: &Answer) -> (&str, &str) {
    (answer.result_status(), answer.result_code())
}

/// The per-wallet results of a completed registration: `(pspName, status, rejectReasons)`.
fn wallets(body: &Value) -> Vec<(String, String, Option<String>)> {
    body["pspRegistrationResultList"]
        .as_array()
        .unwrap_or_else(|| panic!("no pspRegistrationResultList in {body}"))
        .iter()
        .map(|p| {
            (
                p["pspName"].as_str().unwrap_or_default().to_owned(),
                p["registrationResult"]["registrationStatus"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                p["registrationResult"]["rejectReasons"]
                    .as_str()
                    .map(str::to_owned),
            )
        })
        .collect()
}

fn approved(wallet: &str) -> (String, String, Option<String>) {
    (wallet.to_owned(), "APPROVED".to_owned(), None)
}

#[tokio::test]
async fn a_registration_is_accepted_pending_then_completed_and_notified() {
    let merchant = MerchantEndpoint::start().await;
    let fx = frozen().await;
    let body = registration_body(
        "reg-1",
        "sub-1",
        Some(&merchant.url("/notify/registration")),
    );
    let accepted = register(&fx, &body).await;
    assert_eq!(code(&accepted), ("S", "SUCCESS"), "{}", accepted.body);
    assert_eq!(accepted.json["passThroughInfo"], "{\"k\":\"v\"}");

    let pending = status(&fx, json!({ "registrationRequestId": "reg-1" })).await;
    assert_eq!(code(&pending), ("S", "SUCCESS"));
    assert_eq!(
        pending.json["registrationResult"],
        json!({ "registrationStatus": "PENDING" })
    );
    assert!(pending.json.get("pspRegistrationResultList").is_none());
    // Nothing approved yet: only the acceptance result.
    let nothing_yet = info(&fx, "sub-1").await;
    assert_eq!(code(&nothing_yet), ("S", "SUCCESS"));
    assert!(
        nothing_yet.json.get("merchantInfo").is_none(),
        "{}",
        nothing_yet.body
    );
    assert!(nothing_yet.json.get("productCodes").is_none());

    // The review ends a minute later (the default), not before.
    fx.sandbox.advance_clock_ms(MINUTE_MS - 1);
    assert_eq!(
        status(&fx, json!({ "registrationRequestId": "reg-1" }))
            .await
            .json["registrationResult"]["registrationStatus"],
        "PENDING"
    );
    assert!(fx.sandbox.notifications().is_empty());
    fx.sandbox.advance_clock_ms(1);
    let got = merchant.wait_for(1).await;
    assert_eq!(got[0].path, "/notify/registration");
    assert_notification_signed(fx.sandbox.alipay_public_key(), &got[0]);
    let notified = got[0].json();
    assert!(notified.get("result").is_none(), "{notified}");
    assert_eq!(notified["registrationRequestId"], "reg-1");
    assert_eq!(notified["referenceMerchantId"], "sub-1");
    assert_eq!(
        notified["registrationResult"],
        json!({ "registrationStatus": "COMPLETED" })
    );
    assert_eq!(
        wallets(&notified),
        [approved("ALIPAY_CN"), approved("ALIPAY_HK")]
    );
    let log = wait_log(
        &fx.sandbox,
        "the registration notification delivered",
        |log| log.iter().any(|n| n.state == DeliveryState::Delivered),
    )
    .await;
    assert_eq!(log[0].notification, NotificationKind::Registration);
    assert_eq!(log[0].request_id, "reg-1");

    let completed = status(&fx, json!({ "registrationRequestId": "reg-1" })).await;
    assert_eq!(
        completed.json["registrationResult"]["registrationStatus"],
        "COMPLETED"
    );
    assert_eq!(
        wallets(&completed.json),
        [approved("ALIPAY_CN"), approved("ALIPAY_HK")]
    );
    let registered = info(&fx, "sub-1").await;
    assert_eq!(code(&registered), ("S", "SUCCESS"));
    assert_eq!(registered.json["merchantInfo"], body["merchantInfo"]);
    assert_eq!(
        registered.json["productCodes"],
        json!(["AGREEMENT_PAYMENT"])
    );
}

#[tokio::test]
async fn the_review_delay_and_the_reviewing_wallets_are_settings() {
    let fx = frozen().await;
    fx.sandbox.set_settings(SandboxSettings {
        registration_review_delay_ms: 10_000,
        ..SandboxSettings::default()
    });
    fx.sandbox
        .set_merchant_settings(
            CLIENT_ID,
            MerchantSettings {
                wallets: vec![CustomerBelongsTo::Gcash],
                ..MerchantSettings::default()
            },
        )
        .expect("settings");
    assert_eq!(
        code(&register(&fx, &registration_body("reg-1", "sub-1", None)).await),
        ("S", "SUCCESS")
    );
    fx.sandbox.advance_clock_ms(9_999);
    let by_merchant = json!({ "referenceMerchantId": "sub-1" });
    assert_eq!(
        status(&fx, by_merchant.clone()).await.json["registrationResult"]["registrationStatus"],
        "PENDING"
    );
    fx.sandbox.advance_clock_ms(1);
    let done = status(&fx, by_merchant).await;
    assert_eq!(
        done.json["registrationResult"]["registrationStatus"],
        "COMPLETED"
    );
    assert_eq!(wallets(&done.json), [approved("GCASH")]);
    // No registrationNotifyURL: no notification (no dashboard fallback is documented).
    assert!(fx.sandbox.notifications().is_empty());
}

#[tokio::test]
async fn the_notify_url_is_read_in_both_spellings_and_notification_faults_apply() {
    let merchant = MerchantEndpoint::start().await;
    let fx = frozen().await;
    let mut body = registration_body("reg-url", "sub-url", None);
    body["registrationNotifyUrl"] = json!(merchant.url("/older/spelling"));
    assert_eq!(code(&register(&fx, &body).await), ("S", "SUCCESS"));
    // The notification of another registration is skipped by a fault matching its id.
    fx.sandbox.add_notification_fault(
        NotificationFaultRule::new(
            Some(NotificationKind::Registration),
            NotificationFaultAction::Skip,
        )
        .for_request("reg-skipped"),
    );
    let skipped = registration_body(
        "reg-skipped",
        "sub-skipped",
        Some(&merchant.url("/skipped")),
    );
    assert_eq!(code(&register(&fx, &skipped).await), ("S", "SUCCESS"));
    merchant.refuse_next(1);
    fx.sandbox.advance_clock_ms(MINUTE_MS);
    // Refused once, sent again (the schedule's first retry is immediate).
    let got = merchant.wait_for(2).await;
    assert!(got.iter().all(|r| r.path == "/older/spelling"), "{got:?}");
    let log = wait_log(&fx.sandbox, "delivered and skipped", |log| {
        log.iter().any(|n| n.state == DeliveryState::Delivered)
            && log.iter().any(|n| n.state == DeliveryState::Skipped)
    })
    .await;
    let skipped = log
        .iter()
        .find(|n| n.request_id == "reg-skipped")
        .expect("logged");
    assert_eq!(skipped.state, DeliveryState::Skipped);
}

#[tokio::test]
async fn the_same_id_gets_the_same_answer_and_another_body_is_repeat_req_inconsistent() {
    let fx = frozen().await;
    let body = registration_body("reg-1", "sub-1", None);
    let first = register(&fx, &body).await;
    assert_eq!(code(&first), ("S", "SUCCESS"));
    let again = register(&fx, &body).await;
    assert_eq!(again.body, first.body);
    let mut other = body.clone();
    other["passThroughInfo"] = json!("{\"k\":\"w\"}");
    let refused = register(&fx, &other).await;
    assert_eq!(code(&refused), ("F", "REPEAT_REQ_INCONSISTENT"));
    assert!(
        refused.json.get("passThroughInfo").is_none(),
        "{}",
        refused.body
    );
    // The stored registration is unchanged.
    assert_eq!(register(&fx, &body).await.body, first.body);
}

#[tokio::test]
async fn a_second_registration_of_a_pending_or_approved_merchant_is_repeat_registration() {
    let fx = frozen().await;
    assert_eq!(
        code(&register(&fx, &registration_body("reg-1", "sub-1", None)).await),
        ("S", "SUCCESS")
    );
    // Pending.
    let second = registration_body("reg-2", "sub-1", None);
    assert_eq!(
        code(&register(&fx, &second).await),
        ("F", "REPEAT_REGISTRATION")
    );
    // Approved.
    fx.sandbox.advance_clock_ms(MINUTE_MS);
    assert_eq!(
        code(&register(&fx, &registration_body("reg-3", "sub-1", None)).await),
        ("F", "REPEAT_REGISTRATION")
    );
    // A refusal is kept for its id, and the refused id is no registration.
    assert_eq!(
        code(&register(&fx, &second).await),
        ("F", "REPEAT_REGISTRATION")
    );
    assert_eq!(
        code(&status(&fx, json!({ "registrationRequestId": "reg-2" })).await),
        ("F", "RECORD_NOT_FOUND")
    );
    // Another secondary merchant is another registration.
    assert_eq!(
        code(&register(&fx, &registration_body("reg-4", "sub-2", None)).await),
        ("S", "SUCCESS")
    );
}

#[tokio::test]
async fn a_rejected_merchant_may_register_again_and_one_approving_wallet_is_enough() {
    let fx = frozen().await;
    fx.sandbox
        .set_merchant_settings(
            CLIENT_ID,
            MerchantSettings {
                registration_rejections: vec![
                    RegistrationRejection::new("sub-rejected", "The website is unreachable."),
                    RegistrationRejection::new("sub-mixed", "Not in Hong Kong.")
                        .by_wallet(CustomerBelongsTo::AlipayHk),
                ],
                ..MerchantSettings::default()
            },
        )
        .expect("settings");
    for (id, reference) in [("reg-r1", "sub-rejected"), ("reg-m1", "sub-mixed")] {
        assert_eq!(
            code(&register(&fx, &registration_body(id, reference, None)).await),
            ("S", "SUCCESS")
        );
    }
    fx.sandbox.advance_clock_ms(MINUTE_MS);
    let rejected = status(&fx, json!({ "referenceMerchantId": "sub-rejected" })).await;
    assert_eq!(
        rejected.json["registrationResult"]["registrationStatus"],
        "COMPLETED"
    );
    let reason = Some("The website is unreachable.".to_owned());
    assert_eq!(
        wallets(&rejected.json),
        [
            (
                "ALIPAY_CN".to_owned(),
                "REJECTED".to_owned(),
                reason.clone()
            ),
            ("ALIPAY_HK".to_owned(), "REJECTED".to_owned(), reason),
        ]
    );
    let mixed = status(&fx, json!({ "referenceMerchantId": "sub-mixed" })).await;
    assert_eq!(
        wallets(&mixed.json),
        [
            approved("ALIPAY_CN"),
            (
                "ALIPAY_HK".to_owned(),
                "REJECTED".to_owned(),
                Some("Not in Hong Kong.".to_owned())
            ),
        ]
    );
    // Never approved: only the acceptance result. Approved by one wallet: the information.
    assert!(
        info(&fx, "sub-rejected")
            .await
            .json
            .get("merchantInfo")
            .is_none()
    );
    assert_eq!(
        info(&fx, "sub-mixed").await.json["merchantInfo"]["referenceMerchantId"],
        "sub-mixed"
    );
    assert_eq!(
        code(&register(&fx, &registration_body("reg-m2", "sub-mixed", None)).await),
        ("F", "REPEAT_REGISTRATION")
    );

    // Rejected everywhere: a corrected registration is accepted, and it becomes the latest.
    fx.sandbox
        .set_merchant_settings(CLIENT_ID, MerchantSettings::default())
        .expect("settings");
    let mut corrected = registration_body("reg-r2", "sub-rejected", None);
    corrected["merchantInfo"]["merchantDisplayName"] = json!("Shop (corrected)");
    assert_eq!(code(&register(&fx, &corrected).await), ("S", "SUCCESS"));
    assert_eq!(
        status(&fx, json!({ "referenceMerchantId": "sub-rejected" }))
            .await
            .json["registrationResult"]["registrationStatus"],
        "PENDING"
    );
    // The first one is still found by its id.
    assert_eq!(
        wallets(
            &status(&fx, json!({ "registrationRequestId": "reg-r1" }))
                .await
                .json
        )[0]
        .1,
        "REJECTED"
    );
    fx.sandbox.advance_clock_ms(MINUTE_MS);
    let registered = info(&fx, "sub-rejected").await;
    assert_eq!(
        registered.json["merchantInfo"]["merchantDisplayName"],
        "Shop (corrected)"
    );
}

#[tokio::test]
async fn status_inquiries_that_find_nothing_are_record_not_found() {
    let fx = frozen().await;
    assert_eq!(
        code(&register(&fx, &registration_body("reg-1", "sub-1", None)).await),
        ("S", "SUCCESS")
    );
    for body in [
        json!({ "registrationRequestId": "no-such-registration" }),
        json!({ "referenceMerchantId": "no-such-merchant" }),
        json!({ "registrationRequestId": "reg-1", "referenceMerchantId": "another-merchant" }),
        json!({ "referenceStoreId": "store-1" }),
    ] {
        let answer = status(&fx, body.clone()).await;
        assert_eq!(code(&answer), ("F", "RECORD_NOT_FOUND"), "{body}");
    }
    assert_eq!(
        code(
            &status(
                &fx,
                json!({ "registrationRequestId": "reg-1", "referenceMerchantId": "sub-1" })
            )
            .await
        ),
        ("S", "SUCCESS")
    );
    let answer = status(&fx, json!({})).await;
    assert_eq!(code(&answer), ("F", "PARAM_ILLEGAL"));
    assert!(
        answer.message().contains("referenceMerchantId"),
        "{}",
        answer.body
    );
    assert_eq!(
        code(&info(&fx, "no-such-merchant").await),
        ("F", "RECORD_NOT_FOUND")
    );
    let answer = info(&fx, "").await;
    assert_eq!(code(&answer), ("F", "PARAM_ILLEGAL"));
}

#[tokio::test]
async fn registrations_are_per_client_id() {
    let other_id = "SANDBOX_5X00000000000099";
    let fx = Fixture::start(builder().merchant(other_id, merchant_public())).await;
    freeze(&fx);
    assert_eq!(
        code(&register(&fx, &registration_body("reg-1", "sub-1", None)).await),
        ("S", "SUCCESS")
    );
    let mut other = TestClient::new(&fx.sandbox);
    other.client_id = other_id.to_owned();
    let answer = other
        .call(
            Api::InquiryRegistrationStatus,
            &json!({ "registrationRequestId": "reg-1" }),
        )
        .await;
    assert_eq!(code(&answer), ("F", "RECORD_NOT_FOUND"));
    let answer = other
        .call(
            Api::Registration,
            &registration_body("reg-1", "sub-1", None),
        )
        .await;
    assert_eq!(code(&answer), ("S", "SUCCESS"));
}

#[tokio::test]
async fn the_documented_field_rules_are_param_illegal() {
    let fx = frozen().await;
    let mut no_products = registration_body("reg-1", "sub-1", None);
    no_products["productCodes"] = json!([]);
    let mut in_store = registration_body("reg-1", "sub-1", None);
    in_store["productCodes"] = json!(["IN_STORE_PAYMENT"]);
    let mut bad_site = registration_body("reg-1", "sub-1", None);
    bad_site["merchantInfo"]["websites"][0]["url"] = json!("not a url");
    let mut no_reference = registration_body("reg-1", "", None);
    no_reference["merchantInfo"]["referenceMerchantId"] = json!("");
    let mut bad_notify = registration_body("reg-1", "sub-1", None);
    bad_notify["registrationNotifyURL"] = json!("ftp://merchant.example");
    for (body, field) in [
        (no_products, "productCodes"),
        (in_store, "storeInfo"),
        (bad_site, "merchantInfo.websites[0].url"),
        (no_reference, "merchantInfo.referenceMerchantId"),
        (bad_notify, "registrationNotifyURL"),
    ] {
        let answer = register(&fx, &body).await;
        assert_eq!(code(&answer), ("F", "PARAM_ILLEGAL"), "{field}");
        assert!(answer.message().contains(field), "{field}: {}", answer.body);
    }
    // None of them was kept: the id is free.
    assert_eq!(
        code(&register(&fx, &registration_body("reg-1", "sub-1", None)).await),
        ("S", "SUCCESS")
    );
}

#[tokio::test]
async fn secondary_merchants_must_be_approved_when_the_setting_says_so() {
    let fx = frozen().await;
    let consult = |state: &str| {
        let mut body = consult_body(state, "https://merchant.example/authorized");
        body["authClientId"] = json!("sub-1");
        body
    };
    let pay_for = |id: &str, reference: Option<&str>| {
        let mut body = pay_body(id, &usd(1_000), &fx.access);
        if let Some(reference) = reference {
            body["order"]["merchant"] = json!({ "referenceMerchantId": reference });
        }
        body
    };
    // Off by default: an unregistered secondary merchant goes through.
    assert_eq!(
        fx.client
            .call(Api::Consult, &consult("off"))
            .await
            .result_code(),
        "SUCCESS"
    );
    assert_eq!(
        fx.client
            .call(Api::Pay, &pay_for("pay-off", Some("sub-1")))
            .await
            .result_code(),
        "SUCCESS"
    );

    let (status_code, _) = Control::new(&fx.sandbox)
        .put(
            &format!("/sandbox/merchants/{CLIENT_ID}"),
            &json!({ "require_registered_secondary_merchants": true }),
        )
        .await;
    assert_eq!(status_code, 200);
    let before = fx.snapshot();
    let refused = fx.client.call(Api::Consult, &consult("on")).await;
    assert_eq!(code(&refused), ("F", "MERCHANT_NOT_REGISTERED"));
    let refused = fx
        .client
        .call(Api::Pay, &pay_for("pay-on", Some("sub-1")))
        .await;
    assert_eq!(code(&refused), ("F", "MERCHANT_NOT_REGISTERED"));
    assert_eq!(refused.json["paymentRequestId"], "pay-on");
    // Nothing happened: no debit, no payment, no notification.
    assert_eq!(fx.snapshot(), before);
    assert_eq!(fx.inquiry("pay-on").await.result_code(), "ORDER_NOT_EXIST");
    // A pay that names no secondary merchant is not concerned.
    assert_eq!(
        fx.client
            .call(Api::Pay, &pay_for("pay-direct", None))
            .await
            .result_code(),
        "SUCCESS"
    );

    // Pending is not enough; approved by a wallet is.
    assert_eq!(
        code(&register(&fx, &registration_body("reg-1", "sub-1", None)).await),
        ("S", "SUCCESS")
    );
    assert_eq!(
        fx.client
            .call(Api::Consult, &consult("pending"))
            .await
            .result_code(),
        "MERCHANT_NOT_REGISTERED"
    );
    fx.sandbox.advance_clock_ms(MINUTE_MS);
    assert_eq!(
        fx.client
            .call(Api::Consult, &consult("approved"))
            .await
            .result_code(),
        "SUCCESS"
    );
    let paid = fx
        .client
        .call(Api::Pay, &pay_for("pay-on", Some("sub-1")))
        .await;
    assert_eq!(code(&paid), ("S", "SUCCESS"), "{}", paid.body);
    assert_eq!(fx.debits("pay-on"), 1);
}

#[tokio::test]
async fn the_control_api_sets_the_review_delay_and_the_rejections() {
    let fx = frozen().await;
    let control = Control::new(&fx.sandbox);
    let (status_code, got) = control
        .put(
            "/sandbox/settings",
            &json!({ "registration_review_delay_ms": 1_000, "customs_receipt_delay_ms": 2_000 }),
        )
        .await;
    assert_eq!(status_code, 200, "{got}");
    assert_eq!(fx.sandbox.settings().registration_review_delay_ms, 1_000);
    assert_eq!(fx.sandbox.settings().customs_receipt_delay_ms, 2_000);
    let (status_code, view) = control
        .put(
            &format!("/sandbox/merchants/{CLIENT_ID}"),
            &json!({ "registration_rejections": [
                { "reference_merchant_id": "sub-1", "wallet": "ALIPAY_CN", "reason": "over HTTP" }
            ] }),
        )
        .await;
    assert_eq!(status_code, 200, "{view}");
    assert_eq!(
        view["registration_rejections"][0]["reason"], "over HTTP",
        "{view}"
    );
    register(&fx, &registration_body("reg-1", "sub-1", None)).await;
    fx.sandbox.advance_clock_ms(1_000);
    let done = status(&fx, json!({ "registrationRequestId": "reg-1" })).await;
    assert_eq!(
        wallets(&done.json),
        [
            (
                "ALIPAY_CN".to_owned(),
                "REJECTED".to_owned(),
                Some("over HTTP".to_owned())
            ),
            approved("ALIPAY_HK"),
        ]
    );
}
