//! The gateway's transport: every API (the eight Auto Debit ones, customs declaration and
//! secondary-merchant registration) under both path prefixes, absolute-form request targets,
//! header names in any case, tolerated SDK header quirks, and the shape of the signed answer
//! (lowercase `client-id`, `response-time`, `signature`, the signature third and URL-encoded).

use ams_protocol::Api;
use ams_signing::{KeyVersion, SignatureHeader, SignedContent};
use serde_json::{Value, json};

use crate::support::*;

/// A body for each API that a fresh, bound sandbox answers with a known result code.
fn probe(api: Api, fx: &Fixture) -> (Value, &'static str, &'static str) {
    match api {
        Api::Consult => (
            consult_body("probe", "https://merchant.example/r"),
            "S",
            "SUCCESS",
        ),
        Api::ApplyToken => (apply_code_body("NO-SUCH-CODE"), "F", "INVALID_AUTHCODE"),
        Api::Revoke => (
            json!({ "accessToken": "NO-SUCH-TOKEN" }),
            "F",
            "INVALID_ACCESS_TOKEN",
        ),
        Api::Pay => (pay_body("probe-pay", &usd(100), &fx.access), "S", "SUCCESS"),
        Api::InquiryPayment => (
            json!({ "paymentRequestId": "no-such-payment" }),
            "F",
            "ORDER_NOT_EXIST",
        ),
        Api::Cancel => (
            json!({ "paymentRequestId": "no-such-payment" }),
            "F",
            "ORDER_NOT_EXIST",
        ),
        Api::Refund => (
            refund_body("no-such-refund", "no-such-payment", &usd(100)),
            "F",
            "ORDER_NOT_EXIST",
        ),
        Api::InquiryRefund => (
            json!({ "refundRequestId": "no-such-refund" }),
            "F",
            "ORDER_NOT_EXIST",
        ),
        Api::Declare => (
            json!({
                "declarationRequestId": "probe-declaration",
                "paymentId": "no-such-payment",
                "declarationAmount": { "currency": "USD", "value": "100" },
                "customs": { "customsCode": "ZONGSHU", "region": "CN" },
                "merchantCustomsInfo": { "merchantCustomsCode": "c", "merchantCustomsName": "n" },
                "splitOrder": false
            }),
            "F",
            "ORDER_NOT_EXIST",
        ),
        Api::InquiryDeclarationRequests => (
            json!({ "declarationRequestIds": ["no-such-declaration"] }),
            "S",
            "SUCCESS",
        ),
        // Both rounds send the same registration: the second gets the first's answer.
        Api::Registration => (
            json!({
                "registrationRequestId": "probe-registration",
                "merchantInfo": { "referenceMerchantId": "probe-sub-merchant" },
                "productCodes": ["AGREEMENT_PAYMENT"]
            }),
            "S",
            "SUCCESS",
        ),
        Api::InquiryRegistrationStatus => (
            json!({ "referenceMerchantId": "no-such-sub-merchant" }),
            "F",
            "RECORD_NOT_FOUND",
        ),
        Api::InquiryRegistrationInfo => (
            json!({ "referenceMerchantId": "no-such-sub-merchant" }),
            "F",
            "RECORD_NOT_FOUND",
        ),
        other => panic!("unexpected api {other}"),
    }
}

#[tokio::test]
async fn every_api_answers_under_both_prefixes() {
    let mut fx = Fixture::new().await;
    for sandbox_paths in [false, true] {
        fx.client.sandbox_paths = sandbox_paths;
        for api in Api::ALL {
            let (body, status, code) = probe(api, &fx);
            // `call` signs over the path it sends to and verifies the answer over the same path.
            let answer = fx.client.call(api, &body).await;
            assert_eq!(answer.status, 200, "{api} at {}", fx.client.path(api));
            assert_eq!(
                (answer.result_status(), answer.result_code()),
                (status, code),
                "{api} at {}: {}",
                fx.client.path(api),
                answer.body
            );
        }
    }
    // The two pays carried the same request id: one debit, the second answer was the first's.
    assert_eq!(fx.debits("probe-pay"), 1);
}

#[tokio::test]
async fn the_signature_covers_the_path_actually_received() {
    let fx = Fixture::new().await;
    let body = json!({ "paymentRequestId": "x" }).to_string();
    // Signed over the production path, sent to the sandbox path.
    let headers = fx
        .client
        .signed_headers(Api::InquiryPayment.path(), &body, KeyVersion::DEFAULT);
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let sandbox_path = Api::InquiryPayment.sandbox_path();
    let answer = fx
        .client
        .send(&sandbox_path, &body, &headers)
        .await
        .expect("answer");
    fx.client.assert_signed(&sandbox_path, &answer);
    assert_eq!(
        (answer.result_status(), answer.result_code()),
        ("F", "INVALID_SIGNATURE")
    );
}

fn raw_request(target: &str, header_lines: &[String], body: &str) -> Vec<u8> {
    let mut request = format!("POST {target} HTTP/1.1\r\n");
    for line in header_lines {
        request.push_str(line);
        request.push_str("\r\n");
    }
    request.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    request.into_bytes()
}

/// Verifies a raw answer's signature over `path` and returns its parsed body.
fn verify_raw(fx: &Fixture, path: &str, raw: &RawResponse) -> Value {
    let signature = raw.header_exact("signature").expect("lowercase signature");
    let client_id = raw.header_exact("client-id").expect("lowercase client-id");
    let time = raw
        .header_exact("response-time")
        .expect("lowercase response-time");
    let header: SignatureHeader = signature.parse().expect("signature parses");
    fx.client
        .alipay
        .verify(
            &SignedContent::response(path, &client_id, &time, raw.body.as_bytes()),
            &header,
        )
        .expect("the raw answer verifies over the path");
    serde_json::from_str(&raw.body).expect("JSON body")
}

#[tokio::test]
async fn absolute_form_request_target_is_routed_on_its_path_and_answered_with_lowercase_headers() {
    let fx = Fixture::new().await;
    let pay = fx.pay("abs-001", 1_000).await;
    assert_eq!(pay.result_code(), "SUCCESS", "{}", pay.body);

    let path = Api::InquiryPayment.path();
    let body = json!({ "paymentRequestId": "abs-001" }).to_string();
    let signed = fx.client.signed_headers(path, &body, KeyVersion::DEFAULT);
    let mut lines = vec![
        "Host: open-sea-global.alipay.com".to_owned(),
        "Content-Type: application/json; charset=UTF-8".to_owned(),
    ];
    lines.extend(signed.iter().map(|(n, v)| format!("{n}: {v}")));
    let request = raw_request(
        "http://open-sea-global.alipay.com/ams/api/v1/payments/inquiryPayment",
        &lines,
        &body,
    );
    let raw = raw_http(fx.sandbox.addr(), &request).await;
    assert_eq!(raw.status(), 200, "{raw:?}");

    // The response head, byte for byte: lowercase names, as the Python SDK requires.
    for name in ["client-id", "response-time", "signature"] {
        assert!(
            raw.head.contains(&format!("\r\n{name}: ")),
            "{name} is not written in lowercase: {}",
            raw.head
        );
    }
    assert_eq!(
        raw.header_exact("client-id").as_deref(),
        Some(CLIENT_ID),
        "the request's client id is echoed"
    );
    let time = raw.header_exact("response-time").expect("response-time");
    assert!(
        ams_protocol::AmsDateTime::new(time.clone())
            .unix_millis()
            .is_ok(),
        "response-time {time:?} is an ISO 8601 datetime"
    );
    let json = verify_raw(&fx, path, &raw);
    assert_eq!(json["result"]["resultCode"], "SUCCESS", "{json}");
    assert_eq!(json["paymentStatus"], "SUCCESS", "routed to inquiryPayment");
    assert_eq!(json["paymentRequestId"], "abs-001");
}

#[tokio::test]
async fn header_names_in_any_case_a_doubled_content_type_and_an_empty_agent_token_are_accepted() {
    let fx = Fixture::new().await;
    let path = Api::Consult.path();
    let body = consult_body("any-case", "https://merchant.example/r").to_string();
    let signed = fx.client.signed_headers(path, &body, KeyVersion::DEFAULT);
    let value = |name: &str| {
        signed
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .expect("signed header")
    };
    // What the Go SDK sends: Content-Type twice, an empty agent-token, extra headers.
    let lines = vec![
        format!("Host: {}", fx.sandbox.addr()),
        "Content-Type: application/json".to_owned(),
        "Content-Type: application/json; charset=UTF-8".to_owned(),
        format!("Client-Id: {}", value("client-id")),
        format!("REQUEST-TIME: {}", value("request-time")),
        format!("Signature: {}", value("signature")),
        "Key-Version: 1".to_owned(),
        "SDK-VERSION: global-open-sdk-go".to_owned(),
        "Agent-Token: ".to_owned(),
    ];
    let raw = raw_http(fx.sandbox.addr(), &raw_request(path, &lines, &body)).await;
    assert_eq!(raw.status(), 200, "{raw:?}");
    let json = verify_raw(&fx, path, &raw);
    assert_eq!(json["result"]["resultCode"], "SUCCESS", "{json}");
    assert!(json["normalUrl"].is_string(), "{json}");
}

#[tokio::test]
async fn the_answer_signature_is_third_and_url_encoded_on_successes_and_failures() {
    let fx = Fixture::new().await;
    let success = fx.pay("sig-001", 500).await;
    let failure = fx.inquiry("no-such-payment").await;
    let refusal = fx
        .client
        .call(Api::Pay, &json!({ "paymentRequestId": "only-this" }))
        .await;
    assert_eq!(success.result_status(), "S");
    assert_eq!(failure.result_status(), "F");
    assert_eq!(refusal.result_code(), "PARAM_ILLEGAL");
    for answer in [&success, &failure, &refusal] {
        let value = answer
            .headers
            .get("signature")
            .and_then(|v| v.to_str().ok())
            .expect("signature header");
        let parts: Vec<&str> = value.split(',').collect();
        assert_eq!(parts.len(), 3, "{value}");
        assert_eq!(parts[0], "algorithm=RSA256");
        assert_eq!(parts[1], "keyVersion=1");
        let signature = parts[2]
            .strip_prefix("signature=")
            .expect("the signature is third");
        assert!(!signature.is_empty());
        assert!(
            signature
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'%'),
            "raw base64 characters left in {signature}"
        );
        assert_eq!(
            answer
                .headers
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/json; charset=UTF-8")
        );
    }
}

#[tokio::test]
async fn a_request_signature_with_lowercase_percent_escapes_verifies() {
    // .NET's HttpUtility.UrlEncode writes %2b, %2f, %3d.
    let fx = Fixture::new().await;
    let path = Api::Consult.path();
    let body = consult_body("dotnet", "https://merchant.example/r").to_string();
    let headers: Vec<(String, String)> = fx
        .client
        .signed_headers(path, &body, KeyVersion::DEFAULT)
        .into_iter()
        .map(|(n, v)| {
            if n == "signature" {
                let lower = v
                    .replace("%2B", "%2b")
                    .replace("%2F", "%2f")
                    .replace("%3D", "%3d");
                (n, lower.replace(',', ", "))
            } else {
                (n, v)
            }
        })
        .collect();
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let answer = fx.client.send(path, &body, &headers).await.expect("answer");
    fx.client.assert_signed(path, &answer);
    assert_eq!(answer.result_code(), "SUCCESS", "{}", answer.body);
}

#[tokio::test]
async fn a_query_string_and_non_ascii_bytes_are_signed_as_received() {
    let fx = Fixture::new().await;
    // The URI signed is path plus query; the answer is signed over the same URI.
    let path = format!("{}?trace=1", Api::Consult.path());
    let answer = fx
        .client
        .call_path(&path, &consult_body("query", "https://merchant.example/r"))
        .await;
    assert_eq!(answer.result_code(), "SUCCESS", "{}", answer.body);

    // Raw UTF-8 (as Java sends it), 256 characters but more bytes: within the limit, and verified
    // over the exact bytes.
    let mut body = pay_body("non-ascii", &usd(100), &fx.access);
    body["order"]["orderDescription"] = json!("咖".repeat(256));
    let text = serde_json::to_string(&body).expect("json");
    assert!(text.contains('咖'), "sent unescaped");
    let answer = fx.client.call_raw(Api::Pay.path(), &text).await;
    fx.client.assert_signed(Api::Pay.path(), &answer);
    assert_eq!(answer.result_code(), "SUCCESS", "{}", answer.body);
    body["paymentRequestId"] = json!("non-ascii-long");
    body["order"]["orderDescription"] = json!("咖".repeat(257));
    let answer = fx.client.call(Api::Pay, &body).await;
    assert_eq!(answer.result_code(), "PARAM_ILLEGAL");
    assert!(
        answer.message().contains("orderDescription"),
        "{}",
        answer.body
    );
}

#[tokio::test]
async fn checks_run_in_the_gateways_order() {
    let fx = Fixture::new().await;
    let good = pay_body("order", &usd(100), &fx.access).to_string();
    let signed = fx
        .client
        .signed_headers(Api::Pay.path(), &good, KeyVersion::DEFAULT);
    let header = |name: &str| {
        signed
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .expect("header")
    };
    let send = |path: &'static str, body: String, headers: Vec<(&'static str, String)>| {
        let client = &fx.client;
        async move {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            let answer = client.send(path, &body, &headers).await.expect("answer");
            client.assert_signed(path, &answer);
            (answer.result_code().to_owned(), answer.message().to_owned())
        }
    };
    // An unknown path wins over everything, even with no headers at all.
    let (code, _) = send("/ams/api/v1/payments/nothing", "{".into(), vec![]).await;
    assert_eq!(code, "NO_INTERFACE_DEF");
    // Then the client, before any signature question.
    let (code, _) = send(
        Api::Pay.path(),
        "{".into(),
        vec![("client-id", "SANDBOX_NOBODY".into())],
    )
    .await;
    assert_eq!(code, "UNKNOWN_CLIENT");
    // Then the signature header, then the request time.
    let (code, _) = send(
        Api::Pay.path(),
        good.clone(),
        vec![("client-id", header("client-id"))],
    )
    .await;
    assert_eq!(code, "INVALID_SIGNATURE");
    let (code, message) = send(
        Api::Pay.path(),
        good.clone(),
        vec![
            ("client-id", header("client-id")),
            ("signature", header("signature")),
        ],
    )
    .await;
    assert_eq!(code, "PARAM_ILLEGAL");
    assert!(message.contains("request-time"), "{message}");
    // Then the signature itself, before the body is read: a broken body signed by someone else.
    let (code, _) = send(
        Api::Pay.path(),
        "not json".into(),
        vec![
            ("client-id", header("client-id")),
            ("request-time", header("request-time")),
            ("signature", header("signature")),
        ],
    )
    .await;
    assert_eq!(code, "INVALID_SIGNATURE");
    // A broken body, properly signed: PARAM_ILLEGAL.
    let broken = fx.client.call_raw(Api::Pay.path(), "not json").await;
    fx.client.assert_signed(Api::Pay.path(), &broken);
    assert_eq!(broken.result_code(), "PARAM_ILLEGAL");
    assert_eq!(fx.sandbox.ledger(None, None).debits, 0);
}

#[tokio::test]
async fn only_post_and_only_json_are_taken_and_the_refusals_are_signed() {
    let fx = Fixture::new().await;
    let path = Api::InquiryPayment.path();
    let body = json!({ "paymentRequestId": "x" }).to_string();
    let signed = fx.client.signed_headers(path, &body, KeyVersion::DEFAULT);
    let value = |name: &str| {
        signed
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .expect("signed header")
    };
    let lines = |content_type: Option<&str>| {
        let mut lines = vec![
            format!("Host: {}", fx.sandbox.addr()),
            format!("client-id: {}", value("client-id")),
            format!("request-time: {}", value("request-time")),
            format!("signature: {}", value("signature")),
        ];
        if let Some(content_type) = content_type {
            lines.push(format!("Content-Type: {content_type}"));
        }
        lines
    };
    let json_type = Some("application/json; charset=UTF-8");
    // The same signed request, as it should be: taken.
    let raw = raw_http(
        fx.sandbox.addr(),
        &raw_request(path, &lines(json_type), &body),
    )
    .await;
    let taken = verify_raw(&fx, path, &raw);
    assert_eq!(taken["result"]["resultCode"], "ORDER_NOT_EXIST", "{taken}");
    // Another method: METHOD_NOT_SUPPORTED, F, signed.
    for method in ["GET", "PUT"] {
        let request = String::from_utf8(raw_request(path, &lines(json_type), &body))
            .expect("text")
            .replacen("POST", method, 1);
        let raw = raw_http(fx.sandbox.addr(), request.as_bytes()).await;
        let refused = verify_raw(&fx, path, &raw);
        assert_eq!(
            (
                &refused["result"]["resultCode"],
                &refused["result"]["resultStatus"]
            ),
            (&json!("METHOD_NOT_SUPPORTED"), &json!("F")),
            "{method}: {refused}"
        );
    }
    // Another content type, or none: MEDIA_TYPE_NOT_ACCEPTABLE, F, signed.
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/json; charset=GBK"),
        None,
    ] {
        let raw = raw_http(
            fx.sandbox.addr(),
            &raw_request(path, &lines(content_type), &body),
        )
        .await;
        let refused = verify_raw(&fx, path, &raw);
        assert_eq!(
            (
                &refused["result"]["resultCode"],
                &refused["result"]["resultStatus"]
            ),
            (&json!("MEDIA_TYPE_NOT_ACCEPTABLE"), &json!("F")),
            "{content_type:?}: {refused}"
        );
    }
    // An unknown path still wins over the method.
    let request = String::from_utf8(raw_request(
        "/ams/api/v1/payments/nothing",
        &lines(None),
        "{}",
    ))
    .expect("text")
    .replacen("POST", "GET", 1);
    let raw = raw_http(fx.sandbox.addr(), request.as_bytes()).await;
    let refused = verify_raw(&fx, "/ams/api/v1/payments/nothing", &raw);
    assert_eq!(
        refused["result"]["resultCode"], "NO_INTERFACE_DEF",
        "{refused}"
    );
}
