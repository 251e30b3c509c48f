//! Cross-cutting behaviour: secrets never reach `Debug`, unknown JSON fields are tolerated, every wire
//! enum is forward compatible, required fields are enforced by serde.

use ams_protocol::{
    AccessToken, Amount, AmsRequest, Api, ApplyTokenRequest, ApplyTokenResponse,
    AuthorizationNotifyType, CancelRequest, CancelResponse, CodeValueType, ConsultRequest,
    ConsultResponse, Currency, CustomerBelongsTo, DisplayType, Env, GrantType,
    InquiryPaymentRequest, InquiryPaymentResponse, InquiryRefundRequest, InquiryRefundResponse,
    Notification, NotifyAuthorization, NotifyPayment, NotifyRefund, Order, OsType, PayRequest,
    PayResponse, PaymentNotifyType, PaymentStatus, ProductCode, RefundNotifyType, RefundRequest,
    RefundResponse, RefundStatus, ResultCode, ResultStatus, RevokeRequest, RevokeResponse, Scope,
    TerminalType, TransactionStatus, TransactionType,
};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

const TOKEN: &str = "281010033AB2F588D14B43238637264FCA5A0001";
const REFRESH: &str = "2810100334F62CBC577F468AAC87CFC6C9410001";
const CODE: &str = "3AB2F588D14B43238637264FCA5AAF35";

fn sample_pay() -> PayRequest {
    let amount = Amount::new(Currency::USD, 1000);
    PayRequest::agreement_payment(
        "PAY_1",
        Order::new("ORDER_1", "desc", amount),
        amount,
        CustomerBelongsTo::AlipayCn,
        AccessToken::new(TOKEN),
        Env::new(TerminalType::Web),
    )
}

#[test]
fn secrets_are_absent_from_debug_of_whole_structs() {
    let pay = sample_pay();
    let debug = format!("{pay:?}");
    assert!(!debug.contains(TOKEN), "{debug}");
    assert!(!debug.contains("2810100"), "{debug}");
    assert!(debug.contains("PaymentMethodId(<redacted; 40 chars>)"));
    // ...while the wire form carries the real value.
    assert!(serde_json::to_string(&pay).unwrap().contains(TOKEN));

    let resp: ApplyTokenResponse = serde_json::from_value(json!({
        "result": {"resultCode": "SUCCESS", "resultStatus": "S", "resultMessage": "success."},
        "accessToken": TOKEN,
        "accessTokenExpiryTime": "2024-07-01T00:00:00+00:00",
        "refreshToken": REFRESH,
        "refreshTokenExpiryTime": "2025-01-01T00:00:00+00:00"
    }))
    .unwrap();
    let debug = format!("{resp:?} {resp:#?}");
    assert!(
        !debug.contains(TOKEN) && !debug.contains(REFRESH),
        "{debug}"
    );
    assert!(
        debug.contains("2024-07-01T00:00:00+00:00"),
        "non-secrets stay visible"
    );

    let others = [
        format!(
            "{:?}",
            ApplyTokenRequest::authorization_code(CustomerBelongsTo::AlipayCn, CODE)
        ),
        format!(
            "{:?}",
            ApplyTokenRequest::refresh_token(CustomerBelongsTo::Gcash, REFRESH)
        ),
        format!("{:?}", RevokeRequest::new(TOKEN)),
        format!(
            "{:?}",
            NotifyAuthorization::new(
                AuthorizationNotifyType::AuthcodeCreated,
                ams_protocol::AmsResult::success()
            )
            .with_auth_code(CODE)
            .with_access_token(TOKEN)
        ),
    ];
    for d in others {
        assert!(
            !d.contains(TOKEN) && !d.contains(REFRESH) && !d.contains(CODE),
            "{d}"
        );
        assert!(d.contains("<redacted;"), "{d}");
    }
}

/// Adds an unknown field at the top level and inside every nested object, then parses.
fn with_extra_fields(mut v: Value) -> Value {
    fn add(v: &mut Value) {
        match v {
            Value::Object(map) => {
                for child in map.values_mut() {
                    add(child);
                }
                map.insert("someFutureField".into(), json!({"nested": [1, "x"]}));
            }
            Value::Array(items) => items.iter_mut().for_each(add),
            _ => {}
        }
    }
    add(&mut v);
    v
}

fn tolerates_extra<T: DeserializeOwned + serde::Serialize + PartialEq + std::fmt::Debug>(
    body: Value,
) {
    let plain: T = serde_json::from_value(body.clone()).unwrap();
    let extra = with_extra_fields(body);
    let parsed: T = serde_json::from_value(extra)
        .unwrap_or_else(|e| panic!("{}: {e}", std::any::type_name::<T>()));
    assert_eq!(parsed, plain, "{}", std::any::type_name::<T>());
}

#[test]
fn unknown_json_fields_are_tolerated_everywhere() {
    let result = json!({"resultCode": "SUCCESS", "resultStatus": "S", "resultMessage": "ok"});
    let usd = json!({"currency": "USD", "value": "1000"});
    let quote = json!({"quoteId": "Q", "quotePrice": 1.5, "guaranteed": true});
    tolerates_extra::<PayRequest>(
        serde_json::to_value(
            sample_pay()
                .with_payment_expiry_time("2024-01-01T00:01:00+00:00")
                .with_app_id("app"),
        )
        .unwrap(),
    );
    tolerates_extra::<PayResponse>(json!({
        "result": result, "paymentAmount": usd, "paymentQuote": quote,
        "pspCustomerInfo": {"pspName": "ALIPAY_CN"}, "paymentTime": "2024-01-01T00:00:06+00:00"
    }));
    tolerates_extra::<ConsultRequest>(json!({
        "customerBelongsTo": "GCASH", "authRedirectUrl": "https://m.example/r",
        "scopes": ["AGREEMENT_PAY"], "authState": "S1", "terminalType": "WEB",
        "authMetaData": {"accountHolderName": "A"}, "env": {"terminalType": "WEB"}
    }));
    tolerates_extra::<ConsultResponse>(json!({
        "result": result, "normalUrl": "https://x",
        "authCodeForm": {"codeDetails": [
            {"codeValueType": "QRCODE", "codeValue": "https://qr", "displayType": "BIGIMAGE"}
        ]}
    }));
    tolerates_extra::<ApplyTokenRequest>(json!({
        "grantType": "AUTHORIZATION_CODE", "customerBelongsTo": "ALIPAY_CN", "authCode": CODE
    }));
    tolerates_extra::<ApplyTokenResponse>(json!({"result": result, "accessToken": TOKEN}));
    tolerates_extra::<RevokeRequest>(json!({"accessToken": TOKEN}));
    tolerates_extra::<RevokeResponse>(json!({"result": result}));
    tolerates_extra::<InquiryPaymentRequest>(json!({"paymentId": "P"}));
    tolerates_extra::<InquiryPaymentResponse>(json!({
        "result": result, "paymentStatus": "PENDING",
        "transactions": [{"transactionType": "REFUND", "transactionStatus": "SUCCESS",
                          "transactionAmount": usd, "transactionResult": result}]
    }));
    tolerates_extra::<CancelRequest>(json!({"paymentRequestId": "R"}));
    tolerates_extra::<CancelResponse>(json!({
        "result": result, "cancelTime": "2024-01-01T00:00:00+08:00"
    }));
    tolerates_extra::<RefundRequest>(json!({
        "refundRequestId": "R", "paymentId": "P", "refundAmount": usd
    }));
    tolerates_extra::<RefundResponse>(json!({"result": result, "refundAmount": usd}));
    tolerates_extra::<InquiryRefundRequest>(json!({"refundId": "R"}));
    tolerates_extra::<InquiryRefundResponse>(json!({"result": result, "refundStatus": "FAIL"}));
    tolerates_extra::<NotifyPayment>(json!({
        "notifyType": "PAYMENT_PENDING", "result": result, "paymentRequestId": "R",
        "paymentId": "P", "paymentAmount": usd
    }));
    tolerates_extra::<NotifyRefund>(json!({
        "notifyType": "REFUND_RESULT", "result": result, "refundStatus": "SUCCESS",
        "refundRequestId": "R", "refundId": "F", "refundAmount": usd
    }));
    tolerates_extra::<NotifyAuthorization>(json!({
        "authorizationNotifyType": "AUTHCODE_CREATED", "authCode": CODE, "authState": "S",
        "result": result
    }));
    tolerates_extra::<Notification>(json!({
        "notifyType": "PAYMENT_RESULT", "result": result, "paymentRequestId": "R",
        "paymentId": "P", "paymentAmount": usd
    }));
}

#[test]
fn required_fields_are_reported_as_missing() {
    let pay = serde_json::to_value(sample_pay()).unwrap();
    for field in [
        "productCode",
        "paymentRequestId",
        "order",
        "paymentAmount",
        "paymentMethod",
        "env",
    ] {
        let mut body = pay.clone();
        body.as_object_mut().unwrap().remove(field);
        let err = serde_json::from_value::<PayRequest>(body).unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("missing field `{field}`")),
            "{err}"
        );
    }
    let err = serde_json::from_value::<PayRequest>(json!({})).unwrap_err();
    assert!(err.to_string().contains("missing field"), "{err}");
    let err =
        serde_json::from_value::<RefundRequest>(json!({"refundRequestId": "R", "paymentId": "P"}))
            .unwrap_err();
    assert!(
        err.to_string().contains("missing field `refundAmount`"),
        "{err}"
    );
    let err = serde_json::from_value::<PayResponse>(json!({"paymentId": "P"})).unwrap_err();
    assert!(err.to_string().contains("missing field `result`"), "{err}");
    // Only `result` is required in a response (F/U answers carry nothing else).
    let only_result = json!({"result": {"resultCode": "PARAM_ILLEGAL", "resultStatus": "F"}});
    let r: PayResponse = serde_json::from_value(only_result).unwrap();
    assert!(r.result.is_failure());
}

#[test]
fn bad_amounts_in_bodies_are_clear_errors() {
    let mut body = serde_json::to_value(sample_pay()).unwrap();
    body["paymentAmount"]["value"] = json!("10.50");
    let err = serde_json::from_value::<PayRequest>(body.clone()).unwrap_err();
    assert!(
        err.to_string()
            .contains(r#"amount value "10.50" is not an integer number of minor units"#),
        "{err}"
    );
    body["paymentAmount"] = json!({"currency": "XYZ", "value": "1"});
    let err = serde_json::from_value::<PayRequest>(body).unwrap_err();
    assert!(
        err.to_string()
            .contains(r#"currency "XYZ" is not an ISO 4217 code"#),
        "{err}"
    );
}

/// Every known value round-trips through serde, `Display` and `FromStr`; an unknown value becomes
/// `Unknown` and serialises back to the same string.
macro_rules! check_wire_enum {
    ($($t:ty),* $(,)?) => {$({
        for v in <$t>::KNOWN {
            let json = serde_json::to_string(v).unwrap();
            assert_eq!(json, format!("\"{}\"", v.as_str()));
            assert_eq!(&serde_json::from_str::<$t>(&json).unwrap(), v);
            assert_eq!(&v.to_string().parse::<$t>().unwrap(), v);
            assert_eq!(&<$t>::from(v.as_str().to_owned()), v);
            assert!(v.is_known());
        }
        let unknown: $t = serde_json::from_str("\"SOMETHING_NEW_2030\"").unwrap();
        assert!(!unknown.is_known(), "{}", stringify!($t));
        assert_eq!(unknown.as_str(), "SOMETHING_NEW_2030");
        assert_eq!(serde_json::to_string(&unknown).unwrap(), "\"SOMETHING_NEW_2030\"");
        assert_eq!(unknown, "SOMETHING_NEW_2030".parse::<$t>().unwrap());
        // Wire values are case-sensitive.
        if let Some(first) = <$t>::KNOWN.first() {
            let lower = first.as_str().to_lowercase();
            if lower != first.as_str() {
                assert!(!<$t>::from(lower.as_str()).is_known());
            }
        }
        // Not a string: a type error, not a panic.
        assert!(serde_json::from_str::<$t>("1").is_err());
    })*};
}

#[test]
fn every_wire_enum_is_forward_compatible() {
    check_wire_enum!(
        ResultStatus,
        ResultCode,
        CustomerBelongsTo,
        TerminalType,
        OsType,
        Scope,
        GrantType,
        ProductCode,
        PaymentStatus,
        TransactionStatus,
        TransactionType,
        RefundStatus,
        PaymentNotifyType,
        AuthorizationNotifyType,
        RefundNotifyType,
        DisplayType,
        CodeValueType,
    );
}

#[test]
fn unknown_enum_values_inside_bodies_round_trip() {
    let body = json!({
        "result": {"resultCode": "NEW_CODE", "resultStatus": "S"},
        "paymentStatus": "NEW_STATUS",
        "paymentResultCode": "NEW_PAYMENT_CODE"
    });
    let r: InquiryPaymentResponse = serde_json::from_value(body.clone()).unwrap();
    assert_eq!(
        r.payment_status,
        Some(PaymentStatus::Unknown("NEW_STATUS".into()))
    );
    assert!(!r.result.result_code.is_known());
    assert_eq!(serde_json::to_value(&r).unwrap(), body);
}

#[test]
fn request_types_are_tied_to_their_api() {
    fn api_of<R: AmsRequest>() -> Api {
        R::API
    }
    let pairs = [
        (api_of::<ConsultRequest>(), Api::Consult),
        (api_of::<ApplyTokenRequest>(), Api::ApplyToken),
        (api_of::<RevokeRequest>(), Api::Revoke),
        (api_of::<PayRequest>(), Api::Pay),
        (api_of::<InquiryPaymentRequest>(), Api::InquiryPayment),
        (api_of::<CancelRequest>(), Api::Cancel),
        (api_of::<RefundRequest>(), Api::Refund),
        (api_of::<InquiryRefundRequest>(), Api::InquiryRefund),
    ];
    for (got, want) in pairs {
        assert_eq!(got, want);
        assert_eq!(Api::from_path(got.path()), Some(want));
    }
    assert_eq!(
        ams_protocol::request_path(RefundRequest::API, "SANDBOX_1"),
        "/ams/sandbox/api/v1/payments/refund"
    );
    // The response type is fixed by the request type.
    let resp: <RevokeRequest as AmsRequest>::Response = serde_json::from_value(json!({
        "result": {"resultCode": "SUCCESS", "resultStatus": "S"}
    }))
    .unwrap();
    assert!(ams_protocol::AmsResponse::result(&resp).is_success());
    let _: &ResultCode = resp.result.code();
}
