//! Every request/response body produced by the official Python SDK (`testdata/ams-vectors`) parses into
//! the type chosen by its signed path and round-trips; the notifyPayment vector parses through
//! `Notification`; the acknowledgement bytes match.

use std::collections::BTreeSet;

use ams_protocol::{
    ACK_SUCCESS_BODY, Amount, AmsRequest, AmsResponse, Api, ApplyTokenRequest, ApplyTokenResponse,
    CancelRequest, CancelResponse, ConsultRequest, ConsultResponse, Currency, CustomerBelongsTo,
    GrantType, InquiryPaymentRequest, InquiryPaymentResponse, InquiryRefundRequest,
    InquiryRefundResponse, Notification, NotificationAck, PayRequest, PayResponse, PaymentStatus,
    ProductCode, RefundRequest, RefundResponse, ResultCode, ResultStatus, RevokeRequest,
    RevokeResponse, Scope, TerminalType, TransactionStatus, request_path,
};
use serde_json::Value;

use crate::support::{round_trip, vector_file};

fn str_at<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("missing string {key}"))
}

/// Checks a response: round trip, known result enums, and the `AmsResponse` trait.
fn check_response<R>(label: &str, body: &str) -> R
where
    R: AmsResponse + serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let resp: R = round_trip(label, body);
    assert!(resp.result().code().is_known(), "{label}");
    assert!(resp.result().status().is_known(), "{label}");
    resp
}

/// Parses the request (and response, if any) of one case with the types `Api` selects, and checks the
/// values that matter.
fn check_case(name: &str, api: Api, body: &str, response: Option<&str>) {
    let label = format!("{name} request");
    match api {
        Api::Consult => {
            let req: ConsultRequest = round_trip(&label, body);
            assert_eq!(req.customer_belongs_to, CustomerBelongsTo::AlipayCn);
            assert_eq!(req.scopes, [Scope::AgreementPay]);
            assert_eq!(req.terminal_type, TerminalType::App);
            assert!(req.os_type.as_ref().is_some_and(|o| o.is_known()));
            if let Some(r) = response {
                let resp: ConsultResponse = check_response(name, r);
                assert!(resp.result.is_success());
                assert!(resp.normal_url.is_some());
            }
        }
        Api::ApplyToken => {
            let req: ApplyTokenRequest = round_trip(&label, body);
            assert!(req.customer_belongs_to.is_known());
            match req.grant_type {
                GrantType::AuthorizationCode => {
                    assert!(req.auth_code.is_some() && req.refresh_token.is_none());
                }
                GrantType::RefreshToken => {
                    assert!(req.refresh_token.is_some() && req.auth_code.is_none());
                }
                ref other => panic!("{name}: grant type {other}"),
            }
            if let Some(r) = response {
                let resp: ApplyTokenResponse = check_response(name, r);
                assert!(resp.access_token.is_some());
                let expiry = resp.access_token_expiry_time.as_ref().unwrap();
                assert!(expiry.unix_millis().unwrap() > 1_704_067_200_000);
            }
        }
        Api::Revoke => {
            let req: RevokeRequest = round_trip(&label, body);
            assert_eq!(req.access_token.char_len(), 40);
            if let Some(r) = response {
                let resp: RevokeResponse = check_response(name, r);
                assert!(resp.result.is_success());
            }
        }
        Api::Pay => {
            let req: PayRequest = round_trip(&label, body);
            assert!(req.product_code.is_known());
            assert!(req.payment_method.payment_method_type.is_known());
            assert!(req.env.terminal_type.is_known());
            assert_eq!(req.order.order_amount, req.payment_amount);
            if req.product_code == ProductCode::AgreementPayment {
                assert_eq!(req.payment_amount, Amount::new(Currency::USD, 1000));
                assert!(req.payment_method.payment_method_id.is_some());
                assert_eq!(req.order.order_description, "Café 咖啡 x1");
            }
            if let Some(r) = response {
                let resp: PayResponse = check_response(name, r);
                assert_eq!(
                    resp.payment_request_id.as_ref(),
                    Some(&req.payment_request_id)
                );
                assert_eq!(resp.payment_amount, Some(req.payment_amount));
            }
        }
        Api::InquiryPayment => {
            let req: InquiryPaymentRequest = round_trip(&label, body);
            assert!(req.payment_request_id.is_some());
            if let Some(r) = response {
                let resp: InquiryPaymentResponse = check_response(name, r);
                assert_eq!(resp.payment_status, Some(PaymentStatus::Success));
            }
        }
        Api::Cancel => {
            let req: CancelRequest = round_trip(&label, body);
            assert!(req.payment_request_id.is_some());
            if let Some(r) = response {
                let resp: CancelResponse = check_response(name, r);
                assert_eq!(resp.result.result_status, ResultStatus::F);
                assert_eq!(resp.result.result_code, ResultCode::CancelWindowExceed);
                assert_eq!(resp.cancel_time, None);
            }
        }
        Api::Refund => {
            let req: RefundRequest = round_trip(&label, body);
            assert_eq!(req.refund_amount, Amount::new(Currency::USD, 500));
            if let Some(r) = response {
                let resp: RefundResponse = check_response(name, r);
                assert_eq!(resp.refund_amount, Some(req.refund_amount));
                assert_eq!(resp.payment_id.as_ref(), Some(&req.payment_id));
            }
        }
        Api::InquiryRefund => {
            let req: InquiryRefundRequest = round_trip(&label, body);
            assert!(req.refund_request_id.is_some());
            if let Some(r) = response {
                let resp: InquiryRefundResponse = check_response(name, r);
                assert_eq!(resp.refund_status, Some(TransactionStatus::Success));
            }
        }
        other => panic!("{name}: no check for {other}"),
    }
}

#[test]
fn every_sdk_request_and_response_round_trips() {
    let vectors = vector_file("request_vectors.json");
    let cases = vectors["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 10);
    let mut apis = BTreeSet::new();
    let mut responses = 0;
    let mut rewrites = 0;
    for case in cases {
        let name = str_at(case, "name");
        let req = &case["request"];
        let path = str_at(req, "path_signed");
        let api = Api::from_path(path).unwrap_or_else(|| panic!("{name}: unknown path {path}"));
        apis.insert(api);
        // Where the SDK client built the path (not for the docs example, signed directly with
        // `signature_tool.sign`), the sandbox rule reproduces the path it signed.
        if req.get("path_before_sandbox_rewrite").is_some() {
            assert_eq!(request_path(api, str_at(req, "client_id")), path, "{name}");
            rewrites += 1;
        }
        let response = case.get("response").map(|r| str_at(r, "body"));
        responses += usize::from(response.is_some());
        check_case(name, api, str_at(req, "body"), response);
    }
    // The vectors cover the core APIs; the addendum's (§9) are covered by `addendum.rs`.
    assert_eq!(
        apis,
        Api::CORE.into_iter().collect(),
        "every core API is covered"
    );
    assert_eq!(responses, 9);
    assert_eq!(rewrites, 9);
}

#[test]
fn sandbox_vector_uses_the_sandbox_path() {
    let vectors = vector_file("request_vectors.json");
    let case = vectors["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "consult_sandbox")
        .unwrap();
    let req = &case["request"];
    assert_eq!(
        str_at(req, "path_before_sandbox_rewrite"),
        ConsultRequest::API.path()
    );
    assert_eq!(
        request_path(ConsultRequest::API, str_at(req, "client_id")),
        str_at(req, "path_signed")
    );
    assert!(ams_protocol::is_sandbox_path(str_at(req, "path_signed")));
}

#[test]
fn builders_reproduce_the_sdk_bodies() {
    let vectors = vector_file("request_vectors.json");
    let body = |name: &str| -> Value {
        let case = vectors["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap();
        serde_json::from_str(str_at(&case["request"], "body")).unwrap()
    };
    fn json<T: serde::Serialize>(value: &T) -> Value {
        serde_json::to_value(value).unwrap()
    }

    let token = ams_protocol::AccessToken::new("281010033AB2F588D14B43238637264FCA5A0001");
    let usd10 = Amount::new(Currency::USD, 1000);
    let pay = PayRequest::agreement_payment(
        "PAY_20240101_0001",
        ams_protocol::Order::new("ORDER_20240101_0001", "Café 咖啡 x1", usd10),
        usd10,
        CustomerBelongsTo::AlipayCn,
        &token,
        ams_protocol::Env::new(TerminalType::Web),
    )
    .with_payment_notify_url("https://www.merchant.example/payNotify")
    .with_settlement_strategy(ams_protocol::SettlementStrategy::new(Currency::USD));
    assert_eq!(json(&pay), body("pay_agreement_payment_nonascii"));

    let consult = ConsultRequest::new(
        CustomerBelongsTo::AlipayCn,
        "https://www.merchant.example/authorizationResult",
        vec![Scope::AgreementPay],
        "STATE_20240101_0001",
        TerminalType::App,
    )
    .with_os_type(ams_protocol::OsType::Android);
    assert_eq!(json(&consult), body("consult_sandbox"));

    let apply = ApplyTokenRequest::authorization_code(
        CustomerBelongsTo::AlipayCn,
        "3AB2F588D14B43238637264FCA5AAF35",
    );
    assert_eq!(json(&apply), body("applyToken_authorization_code"));
    let refresh = ApplyTokenRequest::refresh_token(
        CustomerBelongsTo::Gcash,
        "2810100334F62CBC577F468AAC87CFC6C9410001",
    );
    assert_eq!(
        json(&refresh),
        body("applyToken_refresh_token_agent_token_keyversion2")
    );

    assert_eq!(json(&RevokeRequest::new(token.clone())), body("revoke"));
    assert_eq!(
        json(&RefundRequest::new(
            "REFUND_20240101_0001",
            "20240101194010800100188000000001",
            Amount::new(Currency::USD, 500),
        )),
        body("refund")
    );
    assert_eq!(
        json(&InquiryPaymentRequest::by_payment_request_id(
            "PAY_20240101_0001"
        )),
        body("inquiryPayment")
    );
    assert_eq!(
        json(&CancelRequest::by_payment_request_id("PAY_20240101_0001")),
        body("cancel")
    );
    assert_eq!(
        json(&InquiryRefundRequest::by_refund_request_id(
            "REFUND_20240101_0001"
        )),
        body("inquiryRefund")
    );
}

#[test]
fn pay_uses_the_token_from_apply_token() {
    let vectors = vector_file("request_vectors.json");
    let cases = vectors["cases"].as_array().unwrap();
    let find = |n: &str| cases.iter().find(|c| c["name"] == n).unwrap();
    let apply: ApplyTokenResponse = serde_json::from_str(str_at(
        &find("applyToken_authorization_code")["response"],
        "body",
    ))
    .unwrap();
    let pay: PayRequest = serde_json::from_str(str_at(
        &find("pay_agreement_payment_nonascii")["request"],
        "body",
    ))
    .unwrap();
    let token = apply.access_token.unwrap();
    let method_id = pay.payment_method.payment_method_id.unwrap();
    assert_eq!(method_id.expose_secret(), token.expose_secret());
}

#[test]
fn notification_vector_parses_and_ack_matches_byte_for_byte() {
    let vectors = vector_file("notification_vectors.json");
    let cases = vectors["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 1);
    for case in cases {
        let n = &case["notification"];
        let body = str_at(n, "body");
        let parsed: Notification = round_trip("notifyPayment vector", body);
        let Notification::Payment(payment) = &parsed else {
            panic!("expected notifyPayment, got {}", parsed.kind_name())
        };
        assert_eq!(
            payment.notify_type,
            ams_protocol::PaymentNotifyType::PaymentResult
        );
        assert!(payment.result.is_success());
        assert!(payment.result.result_code.is_known());
        assert_eq!(payment.payment_request_id.as_str(), "PAY_20240101_0001");
        assert_eq!(payment.payment_amount, Amount::new(Currency::USD, 1000));
        assert_eq!(
            payment
                .payment_create_time
                .as_ref()
                .unwrap()
                .unix_millis()
                .unwrap(),
            1_704_067_205_000
        );
        assert_eq!(Notification::from_json(body.as_bytes()).unwrap(), parsed);

        let ack = str_at(n, "merchant_ack_body");
        assert_eq!(ACK_SUCCESS_BODY.as_bytes(), ack.as_bytes());
        assert_eq!(
            serde_json::to_string(&NotificationAck::success())
                .unwrap()
                .as_bytes(),
            ack.as_bytes()
        );
    }
}
