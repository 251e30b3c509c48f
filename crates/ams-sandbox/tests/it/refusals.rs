//! Refusals before the world is touched: `PARAM_ILLEGAL` naming the field (a representative set per
//! API), `NO_INTERFACE_DEF`, `INVALID_SIGNATURE`, `UNKNOWN_CLIENT`, `KEY_NOT_FOUND` — each answer
//! signed, and each refused request changing nothing (ledger, balances, payments, codes, tokens).

use ams_protocol::Api;
use ams_signing::KeyVersion;
use serde_json::{Value, json};

use crate::support::*;

/// Sets (`Some`) or removes (`None`) the value at a `/`-separated path of a JSON object.
fn with(mut body: Value, path: &str, value: Option<Value>) -> Value {
    let mut parts: Vec<&str> = path.split('/').collect();
    let last = parts.pop().expect("path");
    let mut node = &mut body;
    for part in parts {
        node = node.get_mut(part).unwrap_or_else(|| panic!("no {part}"));
    }
    let object = node.as_object_mut().expect("object");
    match value {
        Some(v) => {
            object.insert(last.to_owned(), v);
        }
        None => {
            object.remove(last);
        }
    }
    body
}

fn long(n: usize) -> Value {
    Value::String("x".repeat(n))
}

/// Asserts a signed `F`/`PARAM_ILLEGAL` answer whose message names `field`.
fn assert_param_illegal(answer: &Answer, field: &str, case: &str) {
    assert_eq!(
        (answer.status, answer.result_status(), answer.result_code()),
        (200, "F", "PARAM_ILLEGAL"),
        "{case}: {}",
        answer.body
    );
    assert!(
        answer.message().contains(field),
        "{case}: the message {:?} does not name {field}",
        answer.message()
    );
}

#[tokio::test]
async fn param_illegal_names_the_field_and_a_refused_pay_changes_nothing() {
    let fx = Fixture::new().await;
    let now = freeze_at(&fx.sandbox, "2024-05-01T10:00:00+08:00");
    let base = pay_body("refused-pay", &usd(1_000), &fx.access);
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "missing paymentRequestId",
            with(base.clone(), "paymentRequestId", None),
            "paymentRequestId",
        ),
        (
            "paymentRequestId of 65 characters",
            with(base.clone(), "paymentRequestId", Some(long(65))),
            "paymentRequestId",
        ),
        (
            "unknown productCode",
            with(base.clone(), "productCode", Some(json!("MAGIC_PAYMENT"))),
            "productCode",
        ),
        (
            "zero amount",
            with(base.clone(), "paymentAmount/value", Some(json!("0"))),
            "paymentAmount",
        ),
        (
            "negative amount",
            with(base.clone(), "paymentAmount/value", Some(json!("-100"))),
            "paymentAmount",
        ),
        (
            "decimal amount",
            with(base.clone(), "paymentAmount/value", Some(json!("10.50"))),
            "paymentAmount",
        ),
        (
            "non-numeric amount",
            with(base.clone(), "paymentAmount/value", Some(json!("ten"))),
            "paymentAmount",
        ),
        (
            "float amount",
            with(base.clone(), "paymentAmount/value", Some(json!(1.5))),
            "paymentAmount",
        ),
        (
            "unknown currency",
            with(base.clone(), "paymentAmount/currency", Some(json!("XYZ"))),
            "paymentAmount",
        ),
        (
            "negative order amount",
            with(base.clone(), "order/orderAmount/value", Some(json!("-1"))),
            "orderAmount",
        ),
        (
            "missing access token",
            with(base.clone(), "paymentMethod/paymentMethodId", None),
            "paymentMethodId",
        ),
        (
            "unknown wallet",
            with(
                base.clone(),
                "paymentMethod/paymentMethodType",
                Some(json!("NOWALLET")),
            ),
            "paymentMethodType",
        ),
        (
            "unknown terminalType",
            with(base.clone(), "env/terminalType", Some(json!("FRIDGE"))),
            "terminalType",
        ),
        ("missing env", with(base.clone(), "env", None), "env"),
        (
            "paymentExpiryTime more than a minute ahead",
            with(
                base.clone(),
                "paymentExpiryTime",
                Some(json!(ams(now + 61_000))),
            ),
            "paymentExpiryTime",
        ),
        (
            // "can only be set to less than 1 minute" (digest §3.4): a minute exactly is too long.
            "paymentExpiryTime exactly a minute ahead",
            with(
                base.clone(),
                "paymentExpiryTime",
                Some(json!(ams(now + 60_000))),
            ),
            "paymentExpiryTime",
        ),
        (
            "paymentNotifyUrl not a URL",
            with(
                base.clone(),
                "paymentNotifyUrl",
                Some(json!("ftp://merchant.example/n")),
            ),
            "paymentNotifyUrl",
        ),
    ];
    let before = fx.snapshot();
    for (case, body, field) in &cases {
        let answer = fx.client.call(Api::Pay, body).await;
        assert_param_illegal(&answer, field, case);
        assert_eq!(fx.snapshot(), before, "{case} changed the sandbox");
        let inquiry = fx.inquiry("refused-pay").await;
        assert_eq!(inquiry.result_code(), "ORDER_NOT_EXIST", "{case}");
    }
    // Just under a minute ahead is allowed, and the refused id was never burned.
    let ok = fx
        .client
        .call(
            Api::Pay,
            &with(base, "paymentExpiryTime", Some(json!(ams(now + 59_000)))),
        )
        .await;
    assert_eq!(ok.result_code(), "SUCCESS", "{}", ok.body);
    assert_eq!(fx.debits("refused-pay"), 1);
    assert_eq!(fx.balance(), 9_000);
}

#[tokio::test]
async fn param_illegal_on_consult_apply_token_and_revoke_names_the_field() {
    let fx = Fixture::new().await;
    let consult = consult_body("state", "https://merchant.example/r");
    let app = with(consult.clone(), "terminalType", Some(json!("APP")));
    let cases: Vec<(Api, &str, Value, &str)> = vec![
        (
            Api::Consult,
            "missing authRedirectUrl",
            with(consult.clone(), "authRedirectUrl", None),
            "authRedirectUrl",
        ),
        (
            Api::Consult,
            "authState of 257 characters",
            with(consult.clone(), "authState", Some(long(257))),
            "authState",
        ),
        (
            Api::Consult,
            "unknown terminalType",
            with(consult.clone(), "terminalType", Some(json!("FRIDGE"))),
            "terminalType",
        ),
        (Api::Consult, "APP without osType", app.clone(), "osType"),
        (
            Api::Consult,
            "unknown osType",
            with(app, "osType", Some(json!("BEOS"))),
            "osType",
        ),
        (
            Api::Consult,
            "unknown scope",
            with(
                consult.clone(),
                "scopes",
                Some(json!(["AGREEMENT_PAY", "EVERYTHING"])),
            ),
            "scopes",
        ),
        (
            Api::Consult,
            "five scopes",
            with(
                consult.clone(),
                "scopes",
                Some(json!([
                    "AGREEMENT_PAY",
                    "BASE_USER_INFO",
                    "USER_INFO",
                    "USER_LOGIN_ID",
                    "HASH_LOGIN_ID"
                ])),
            ),
            "scopes",
        ),
        (
            Api::Consult,
            "unknown wallet",
            with(consult, "customerBelongsTo", Some(json!("NOWALLET"))),
            "customerBelongsTo",
        ),
        (
            Api::ApplyToken,
            "AUTHORIZATION_CODE without authCode",
            json!({ "grantType": "AUTHORIZATION_CODE", "customerBelongsTo": "ALIPAY_CN" }),
            "authCode",
        ),
        (
            Api::ApplyToken,
            "REFRESH_TOKEN without refreshToken",
            json!({ "grantType": "REFRESH_TOKEN", "customerBelongsTo": "ALIPAY_CN" }),
            "refreshToken",
        ),
        (
            Api::ApplyToken,
            "unknown grantType",
            json!({ "grantType": "PASSWORD", "customerBelongsTo": "ALIPAY_CN", "authCode": "c" }),
            "grantType",
        ),
        (
            Api::ApplyToken,
            "authCode of 129 characters",
            with(apply_code_body("c"), "authCode", Some(long(129))),
            "authCode",
        ),
        (
            Api::ApplyToken,
            "missing customerBelongsTo",
            with(apply_code_body("c"), "customerBelongsTo", None),
            "customerBelongsTo",
        ),
        (Api::Revoke, "missing accessToken", json!({}), "accessToken"),
        (
            Api::Revoke,
            "accessToken of 129 characters",
            json!({ "accessToken": long(129) }),
            "accessToken",
        ),
    ];
    let before = fx.snapshot();
    for (api, case, body, field) in &cases {
        let answer = fx.client.call(*api, body).await;
        assert_param_illegal(&answer, field, case);
    }
    assert_eq!(fx.snapshot(), before);

    // A refused revoke of the real token leaves it working.
    let refused = fx
        .client
        .call(
            Api::Revoke,
            &json!({ "accessToken": fx.access, "merchantAccountId": long(65) }),
        )
        .await;
    assert_param_illegal(&refused, "merchantAccountId", "long merchantAccountId");
    assert_eq!(
        fx.pay("after-refused-revoke", 100).await.result_code(),
        "SUCCESS"
    );

    // A refused applyToken does not consume the auth code.
    let consult = fx
        .client
        .call(
            Api::Consult,
            &consult_body("code-kept", "https://merchant.example/r"),
        )
        .await;
    let (_, location) = consent(&consult.str("normalUrl"), ALICE, "agree").await;
    let code = query_param(&location, "authCode").expect("code");
    let refused = fx
        .client
        .call(
            Api::ApplyToken,
            &with(apply_code_body(&code), "merchantRegion", Some(json!("usa"))),
        )
        .await;
    assert_param_illegal(&refused, "merchantRegion", "lowercase merchantRegion");
    let token = fx
        .client
        .call(Api::ApplyToken, &apply_code_body(&code))
        .await;
    assert_eq!(token.result_code(), "SUCCESS", "{}", token.body);
}

#[tokio::test]
async fn param_illegal_on_inquiry_cancel_refund_and_inquiry_refund_names_the_field() {
    let fx = Fixture::new().await;
    let pay = fx.pay("paid", 4_000).await;
    let payment_id = pay.str("paymentId");
    let refund = refund_body("refund-1", &payment_id, &usd(1_000));
    let cases: Vec<(Api, &str, Value, &str)> = vec![
        (
            Api::InquiryPayment,
            "neither id",
            json!({}),
            "paymentRequestId",
        ),
        (
            Api::InquiryPayment,
            "paymentId of 65 characters",
            json!({ "paymentId": long(65) }),
            "paymentId",
        ),
        (
            Api::InquiryPayment,
            "merchantAccountId of 33 characters",
            json!({ "paymentRequestId": "paid", "merchantAccountId": long(33) }),
            "merchantAccountId",
        ),
        (Api::Cancel, "neither id", json!({}), "paymentId"),
        (
            Api::Cancel,
            "paymentRequestId of 65 characters",
            json!({ "paymentRequestId": long(65) }),
            "paymentRequestId",
        ),
        (
            Api::Cancel,
            "merchantAccountId of 33 characters on a real payment",
            json!({ "paymentRequestId": "paid", "merchantAccountId": long(33) }),
            "merchantAccountId",
        ),
        (
            Api::Refund,
            "missing refundRequestId",
            with(refund.clone(), "refundRequestId", None),
            "refundRequestId",
        ),
        (
            Api::Refund,
            "refundRequestId of 65 characters",
            with(refund.clone(), "refundRequestId", Some(long(65))),
            "refundRequestId",
        ),
        (
            Api::Refund,
            "missing paymentId",
            with(refund.clone(), "paymentId", None),
            "paymentId",
        ),
        (
            Api::Refund,
            "zero refund",
            with(refund.clone(), "refundAmount/value", Some(json!("0"))),
            "refundAmount",
        ),
        (
            Api::Refund,
            "negative refund",
            with(refund.clone(), "refundAmount/value", Some(json!("-5"))),
            "refundAmount",
        ),
        (
            Api::Refund,
            "non-integer refund",
            with(refund.clone(), "refundAmount/value", Some(json!("1e3"))),
            "refundAmount",
        ),
        (
            Api::Refund,
            "refundReason of 257 characters",
            with(refund.clone(), "refundReason", Some(long(257))),
            "refundReason",
        ),
        (
            Api::Refund,
            "refundNotifyUrl not a URL",
            with(refund.clone(), "refundNotifyUrl", Some(json!("merchant"))),
            "refundNotifyUrl",
        ),
        (Api::InquiryRefund, "neither id", json!({}), "refundId"),
        (
            Api::InquiryRefund,
            "refundRequestId of 65 characters",
            json!({ "refundRequestId": long(65) }),
            "refundRequestId",
        ),
    ];
    let before = fx.snapshot();
    for (api, case, body, field) in &cases {
        let answer = fx.client.call(*api, body).await;
        assert_param_illegal(&answer, field, case);
        assert_eq!(fx.snapshot(), before, "{api} {case} changed the sandbox");
    }
    // Nothing was cancelled or refunded.
    let inquiry = fx.inquiry("paid").await;
    assert_eq!(inquiry.json["paymentStatus"], "SUCCESS");
    assert!(inquiry.json["transactions"].is_null(), "{}", inquiry.body);
    let refund_inquiry = fx
        .client
        .call(
            Api::InquiryRefund,
            &json!({ "refundRequestId": "refund-1" }),
        )
        .await;
    assert_eq!(refund_inquiry.result_code(), "ORDER_NOT_EXIST");
    assert_eq!(fx.balance(), 6_000);
}

#[tokio::test]
async fn unknown_paths_answer_no_interface_def_signed() {
    let fx = Fixture::new().await;
    for path in [
        "/ams/api/v1/payments/payy",
        "/ams/api/v2/payments/pay",
        "/ams/sandbox/api/v1/authorizations/unbind",
        "/ams/api/v1/payments/pay/",
    ] {
        let answer = fx
            .client
            .call_path(path, &pay_body("nowhere", &usd(100), &fx.access))
            .await;
        assert_eq!(
            (answer.status, answer.result_status(), answer.result_code()),
            (200, "F", "NO_INTERFACE_DEF"),
            "{path}: {}",
            answer.body
        );
    }
    assert_eq!(fx.inquiry("nowhere").await.result_code(), "ORDER_NOT_EXIST");
    assert_eq!(fx.sandbox.ledger(None, None).debits, 0);
}

/// Sends a pay for `id` with exactly these headers and checks the signed refusal.
async fn refused_pay(
    fx: &Fixture,
    id: &str,
    body: &str,
    headers: &[(String, String)],
    code: &str,
) -> Answer {
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let path = Api::Pay.path();
    let answer = fx.client.send(path, body, &headers).await.expect("answer");
    fx.client.assert_signed(path, &answer);
    assert_eq!(
        (answer.status, answer.result_status(), answer.result_code()),
        (200, "F", code),
        "{id}: {}",
        answer.body
    );
    answer
}

fn without(headers: &[(String, String)], name: &str) -> Vec<(String, String)> {
    headers.iter().filter(|(n, _)| n != name).cloned().collect()
}

fn replaced(headers: &[(String, String)], name: &str, value: &str) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(n, v)| {
            if n == name {
                (n.clone(), value.to_owned())
            } else {
                (n.clone(), v.clone())
            }
        })
        .collect()
}

#[tokio::test]
async fn bad_signatures_unknown_clients_and_key_versions_are_refused_and_change_nothing() {
    let fx = Fixture::new().await;
    let path = Api::Pay.path();
    let before = fx.snapshot();
    let body = |id: &str| pay_body(id, &usd(1_000), &fx.access).to_string();

    // Signed with the wrong key (Alipay's, not the merchant's).
    let mut wrong_key = TestClient::new(&fx.sandbox);
    wrong_key.key = alipay_key();
    let b = body("wrong-key");
    let headers = wrong_key.signed_headers(path, &b, KeyVersion::DEFAULT);
    refused_pay(&fx, "wrong-key", &b, &headers, "INVALID_SIGNATURE").await;

    // Signed over one body, another sent (one more cent).
    let signed = body("tampered");
    let headers = fx.client.signed_headers(path, &signed, KeyVersion::DEFAULT);
    let sent = pay_body("tampered", &usd(1_001), &fx.access).to_string();
    refused_pay(&fx, "tampered", &sent, &headers, "INVALID_SIGNATURE").await;

    // Signed over another request-time than the one sent.
    let b = body("other-time");
    let headers = fx.client.signed_headers(path, &b, KeyVersion::DEFAULT);
    let headers = replaced(&headers, "request-time", "1700000000001");
    refused_pay(&fx, "other-time", &b, &headers, "INVALID_SIGNATURE").await;

    // No signature header at all, and one that does not parse.
    let b = body("unsigned");
    let headers = fx.client.signed_headers(path, &b, KeyVersion::DEFAULT);
    let answer = refused_pay(
        &fx,
        "unsigned",
        &b,
        &without(&headers, "signature"),
        "INVALID_SIGNATURE",
    )
    .await;
    assert!(answer.message().contains("signature"), "{}", answer.body);
    refused_pay(
        &fx,
        "unsigned",
        &b,
        &replaced(&headers, "signature", "garbage"),
        "INVALID_SIGNATURE",
    )
    .await;

    // An unknown client id (the answer echoes it and is still signed), and none at all.
    let mut stranger = TestClient::new(&fx.sandbox);
    stranger.client_id = "SANDBOX_UNKNOWN0000000000".to_owned();
    let b = body("stranger");
    let headers = stranger.signed_headers(path, &b, KeyVersion::DEFAULT);
    let answer = refused_pay(&fx, "stranger", &b, &headers, "UNKNOWN_CLIENT").await;
    assert_eq!(
        answer
            .headers
            .get("client-id")
            .and_then(|v| v.to_str().ok()),
        Some("SANDBOX_UNKNOWN0000000000")
    );
    let headers = fx.client.signed_headers(path, &b, KeyVersion::DEFAULT);
    refused_pay(
        &fx,
        "stranger",
        &b,
        &without(&headers, "client-id"),
        "UNKNOWN_CLIENT",
    )
    .await;

    // A keyVersion the merchant never registered.
    let b = body("key-v2");
    let headers = fx.client.signed_headers(path, &b, KeyVersion::new(2));
    refused_pay(&fx, "key-v2", &b, &headers, "KEY_NOT_FOUND").await;

    assert_eq!(fx.snapshot(), before);
    for id in [
        "wrong-key",
        "tampered",
        "other-time",
        "unsigned",
        "stranger",
        "key-v2",
    ] {
        assert_eq!(
            fx.inquiry(id).await.result_code(),
            "ORDER_NOT_EXIST",
            "{id}"
        );
    }
    assert_eq!(fx.balance(), 10_000);
}

#[tokio::test]
async fn a_second_key_version_is_used_when_the_header_names_it() {
    let fx = Fixture::start(builder().merchant_key(
        CLIENT_ID,
        KeyVersion::new(2),
        ams_signing::PublicKey::from_text(&vector("alipay_sim_public_spki.pem")).expect("key"),
    ))
    .await;
    let path = Api::Pay.path();
    let b = pay_body("v2", &usd(100), &fx.access).to_string();
    // Version 2 is registered with another key: the merchant key under keyVersion=2 fails ...
    let headers = fx.client.signed_headers(path, &b, KeyVersion::new(2));
    refused_pay(&fx, "v2", &b, &headers, "INVALID_SIGNATURE").await;
    // ... and the key registered as version 2 succeeds.
    let mut other = TestClient::new(&fx.sandbox);
    other.key = alipay_key();
    let headers = other.signed_headers(path, &b, KeyVersion::new(2));
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let answer = fx.client.send(path, &b, &headers).await.expect("answer");
    fx.client.assert_signed(path, &answer);
    assert_eq!(answer.result_code(), "SUCCESS", "{}", answer.body);
}

#[tokio::test]
async fn a_signature_without_a_key_version_is_checked_against_the_latest_one() {
    let fx = Fixture::start(builder().merchant_key(
        CLIENT_ID,
        KeyVersion::new(2),
        ams_signing::PublicKey::from_text(&vector("alipay_sim_public_spki.pem")).expect("key"),
    ))
    .await;
    let path = Api::Pay.path();
    let b = pay_body("no-version", &usd(100), &fx.access).to_string();
    let without_version = |headers: Vec<(String, String)>| -> Vec<(String, String)> {
        headers
            .into_iter()
            .map(|(n, v)| {
                let v = if n == "signature" {
                    v.split(',')
                        .filter(|part| !part.starts_with("keyVersion="))
                        .collect::<Vec<_>>()
                        .join(",")
                } else {
                    v
                };
                (n, v)
            })
            .collect()
    };
    // Signed with the key of version 1, no keyVersion: checked against version 2, refused.
    let headers = without_version(fx.client.signed_headers(path, &b, KeyVersion::DEFAULT));
    assert!(
        headers
            .iter()
            .any(|(n, v)| n == "signature" && !v.contains("keyVersion"))
    );
    refused_pay(&fx, "no-version", &b, &headers, "INVALID_SIGNATURE").await;
    // Signed with the key registered as version 2, no keyVersion: taken.
    let mut other = TestClient::new(&fx.sandbox);
    other.key = alipay_key();
    let headers = without_version(other.signed_headers(path, &b, KeyVersion::new(2)));
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let answer = fx.client.send(path, &b, &headers).await.expect("answer");
    fx.client.assert_signed(path, &answer);
    assert_eq!(answer.result_code(), "SUCCESS", "{}", answer.body);
}

/// Digest §2.7: a refusal "may be unsigned". With `unsigned_refusals` the sandbox answers them
/// so; what reaches the world is still signed.
#[tokio::test]
async fn refusals_can_be_answered_unsigned_as_alipay_may() {
    let fx = Fixture::new().await;
    let mut settings = fx.sandbox.settings();
    settings.unsigned_refusals = true;
    fx.sandbox.set_settings(settings);
    let path = Api::InquiryPayment.path();
    let body = json!({ "paymentRequestId": "x" }).to_string();
    let headers = [
        ("client-id", CLIENT_ID),
        ("request-time", "1700000000000"),
        (
            "signature",
            "algorithm=RSA256,keyVersion=1,signature=bm90LWEtc2lnbmF0dXJl",
        ),
        ("content-type", "application/json; charset=UTF-8"),
    ];
    let refused = fx.client.send(path, &body, &headers).await.expect("answer");
    assert_eq!(
        refused.result_code(),
        "INVALID_SIGNATURE",
        "{}",
        refused.body
    );
    assert!(
        refused.headers.get("signature").is_none(),
        "unsigned: {:?}",
        refused.headers
    );
    // A call that is admitted is answered signed as ever.
    let answered = fx
        .client
        .call(Api::InquiryPayment, &json!({ "paymentRequestId": "x" }))
        .await;
    fx.client.assert_signed(path, &answered);
    assert_eq!(answered.result_code(), "ORDER_NOT_EXIST");
}
