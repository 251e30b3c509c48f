//! `execute_body`: a stored request body goes on the wire byte for byte, signed over exactly those
//! bytes on every attempt; a body that is not a valid request of its API is never sent.

use std::error::Error as _;

use ams_client::{AttemptClass, Error, NotSentKind, Outcome, RetryPolicy};
use ams_protocol::{PayRequest, PayResponse, RefundRequest};
use bytes::Bytes;

use crate::support::*;

/// A `pay` body as a merchant may have stored it: keys in another order than the client writes
/// them, indentation and spaces, a `\u00e9` escape, and a final newline. Parsing and re-serialising
/// it gives different bytes.
fn stored_pay() -> String {
    format!(
        r#"{{
  "env": {{ "terminalType": "WEB" }},
  "paymentRequestId": "PAY_20240101_0001",
  "productCode": "AGREEMENT_PAYMENT",
  "paymentMethod": {{ "paymentMethodId": "{ACCESS_TOKEN}", "paymentMethodType": "ALIPAY_CN" }},
  "paymentAmount": {{ "value": "1000", "currency": "USD" }},
  "order": {{
    "orderDescription": "Abonnement mensuel caf\u00e9",
    "referenceOrderId": "ORDER_20240101_0001",
    "orderAmount": {{ "currency": "USD", "value": "1000" }}
  }}
}}
"#
    )
}

/// A `refund` body in the same spirit.
const STORED_REFUND: &str = "{\"refundAmount\":{\"value\":\"100\",\"currency\":\"USD\"},  \"paymentId\":\"2024X\",\n\"refundRequestId\":\"REFUND_1\", \"refundReason\":\"r\\u00e9clamation\"}";

const ANY_S: &str =
    r#"{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"}}"#;

/// An error and all its sources, `a: b: c`.
fn chain(error: &Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(err) = source {
        text.push_str(": ");
        text.push_str(&err.to_string());
        source = err.source();
    }
    text
}

#[test]
fn the_stored_bodies_differ_from_their_reserialisation() {
    // The premise of the tests below: sending a re-serialised request would change the bytes.
    let pay = stored_pay();
    let parsed: PayRequest = serde_json::from_str(&pay).unwrap();
    assert_eq!(parsed.order.order_description, "Abonnement mensuel café");
    assert_ne!(serde_json::to_string(&parsed).unwrap(), pay);
    let refund: RefundRequest = serde_json::from_str(STORED_REFUND).unwrap();
    assert_ne!(serde_json::to_string(&refund).unwrap(), STORED_REFUND);
}

#[tokio::test]
async fn a_stored_body_goes_on_the_wire_byte_for_byte() {
    let stub = Stub::answering(PAY_S).await;
    let client = client(&stub.url());
    let stored = stored_pay();

    let outcome = client
        .execute_body::<PayRequest>(stored.clone(), RetryPolicy::Never)
        .await
        .unwrap();

    let Outcome::Success(paid) = outcome else {
        panic!("expected success, got {outcome:?}")
    };
    let paid: PayResponse = paid;
    assert_eq!(
        paid.payment_id.as_ref().map(|id| id.as_str()),
        Some("20240101194010800100188000000001")
    );
    let requests = stub.requests();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.target, "/ams/api/v1/payments/pay");
    assert_eq!(
        sent.header("content-type"),
        Some("application/json; charset=UTF-8")
    );
    assert_eq!(sent.header("request-time"), Some(T0.to_string().as_str()));
    // Exactly the stored bytes: order, whitespace, the escape and the final newline.
    assert_eq!(sent.body, stored.as_bytes());
    // The signature covers those bytes, and would not cover the re-serialised request.
    sent.verify_with_merchant_key().unwrap();
    let mut reserialised = sent.clone();
    reserialised.body =
        serde_json::to_vec(&serde_json::from_str::<PayRequest>(&stored).unwrap()).unwrap();
    assert!(reserialised.verify_with_merchant_key().is_err());
}

#[tokio::test]
async fn every_attempt_resends_the_same_bytes_with_a_fresh_request_time() {
    let stub = Stub::start(|i, request| answer(request, if i == 0 { ANY_U } else { ANY_S })).await;
    let clock = manual_clock();
    let client = builder(&stub.url(), &clock).build().unwrap();

    let outcome = client
        .execute_body::<RefundRequest>(
            Bytes::from_static(STORED_REFUND.as_bytes()),
            RetryPolicy::SAME_REQUEST_60S,
        )
        .await
        .unwrap();

    assert!(outcome.is_success(), "{outcome:?}");
    let requests = stub.requests();
    assert_eq!(requests.len(), 2);
    let sleeps = clock.sleeps();
    assert_eq!(sleeps.len(), 1);
    let times: Vec<i64> = requests
        .iter()
        .map(|r| r.header("request-time").unwrap().parse().unwrap())
        .collect();
    let waited = i64::try_from(sleeps[0].as_millis()).unwrap();
    assert_eq!(times, [T0, T0 + waited]);
    for sent in &requests {
        assert_eq!(sent.target, "/ams/api/v1/payments/refund");
        assert_eq!(sent.body, STORED_REFUND.as_bytes());
        sent.verify_with_merchant_key().unwrap();
    }
    assert_ne!(
        requests[0].header("signature"),
        requests[1].header("signature")
    );
}

#[tokio::test]
async fn a_body_that_is_not_a_valid_request_is_never_sent() {
    let stub = Stub::answering(PAY_S).await;
    let client = client(&stub.url());
    let stored = stored_pay();
    let truncated = stored[..stored.len() - 5].to_owned();
    assert!(truncated.contains(ACCESS_TOKEN));
    let token_in_the_wrong_place = format!(
        r#"{{"productCode":"AGREEMENT_PAYMENT","paymentRequestId":"PAY_1","paymentMethod":"{ACCESS_TOKEN}"}}"#
    );
    let amount_holding_the_token = stored.replace(
        r#""value": "1000""#,
        &format!(r#""value": "{ACCESS_TOKEN}""#),
    );
    assert!(amount_holding_the_token.matches(ACCESS_TOKEN).count() > 1);
    let as_pay: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "it is not valid JSON"),
        (
            "not JSON",
            b"PAY_20240101_0001".to_vec(),
            "it is not valid JSON",
        ),
        ("cut short", truncated.into_bytes(), "it is not valid JSON"),
        (
            "null",
            b"null".to_vec(),
            "invalid type: null, expected struct PayRequest",
        ),
        (
            "an empty array",
            b"[]".to_vec(),
            "invalid length 0, expected struct PayRequest",
        ),
        (
            "a refund body",
            STORED_REFUND.as_bytes().to_vec(),
            "missing field `productCode`",
        ),
        (
            "a token where an object belongs",
            token_in_the_wrong_place.into_bytes(),
            "invalid type: string, expected struct PaymentMethod",
        ),
        (
            "a token as an amount",
            amount_holding_the_token.into_bytes(),
            "a field's value is not valid for its type",
        ),
    ];
    for (case, body, why) in as_pay {
        let error = client
            .execute_body::<PayRequest>(body, RetryPolicy::SAME_REQUEST_60S)
            .await
            .unwrap_err();
        check_not_sent(&error, "pay", why, case);
    }
    // A pay body is not a refund request either.
    let error = client
        .execute_body::<RefundRequest>(stored_pay(), RetryPolicy::SAME_REQUEST_60S)
        .await
        .unwrap_err();
    check_not_sent(
        &error,
        "refund",
        "missing field `refundRequestId`",
        "a pay body",
    );

    assert!(stub.requests().is_empty());
    assert_eq!(stub.connections(), 0, "nothing may reach the gateway");
}

fn check_not_sent(error: &Error, api: &str, why: &str, case: &str) {
    let Error::NotSent(not_sent) = error else {
        panic!("{case}: expected NotSent, got {error:?}")
    };
    assert_eq!(not_sent.kind(), &NotSentKind::InvalidBody, "{case}");
    assert!(!error.is_outcome_unknown(), "{case}");
    assert_eq!(error.class(), AttemptClass::LocalError, "{case}");
    let text = chain(error);
    assert!(
        text.contains(&format!(
            "the stored body is not a valid `{api}` request: {why}"
        )),
        "{case}: {text}"
    );
    let debug = format!("{error:?}");
    for shown in [&text, &debug] {
        assert!(
            !shown.contains(ACCESS_TOKEN),
            "{case}: the body is quoted: {shown}"
        );
        assert!(!shown.contains("PAY_20240101_0001"), "{case}: {shown}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn the_call_span_names_the_stored_request_and_no_secret() {
    let (captured, _guard) = capture_logs();
    let stub = Stub::answering(PAY_S).await;
    let client = client(&stub.url());
    client
        .execute_body::<PayRequest>(stored_pay(), RetryPolicy::Never)
        .await
        .unwrap();
    let refused = client
        .execute_body::<PayRequest>(STORED_REFUND, RetryPolicy::Never)
        .await;
    assert!(refused.is_err());

    let logs = captured.text();
    assert!(logs.contains("ams_call"), "{logs}");
    assert!(
        logs.contains("api=\"pay\"") || logs.contains("api=pay"),
        "{logs}"
    );
    // The request id comes from the parsed body.
    assert!(logs.contains("PAY_20240101_0001"), "{logs}");
    assert!(logs.contains("success"), "{logs}");
    // The refused body is reported, without being quoted.
    assert!(
        logs.contains("the stored body is not a valid `pay` request"),
        "{logs}"
    );
    assert!(!logs.contains("REFUND_1"), "{logs}");
    assert!(!logs.contains(ACCESS_TOKEN), "{logs}");
}

#[test]
fn the_call_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let client = client("http://127.0.0.1:9");
    let future = client.execute_body::<PayRequest>(stored_pay().into_bytes(), RetryPolicy::Never);
    assert_send(&future);
}
