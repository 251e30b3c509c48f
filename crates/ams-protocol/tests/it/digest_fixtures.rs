//! Every sample body printed in the protocol digest (`tests/fixtures/digest/`) parses into its type,
//! round-trips, and carries the values that matter.

use ams_protocol::{
    ACK_FAILURE_BODY, ACK_SUCCESS_BODY, Amount, AmsResult, ApplyTokenRequest,
    AuthorizationNotifyType, ConsultResponse, Currency, CustomerBelongsTo, GrantType,
    InquiryPaymentResponse, Notification, NotificationAck, PaymentStatus, RefundResponse,
    ResultCode, ResultStatus, RevokeRequest, RevokeResponse,
};

use crate::support::{digest_fixture, round_trip};

fn fixture<T>(name: &str) -> T
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    round_trip(name, &digest_fixture(name))
}

#[test]
fn consult_response_sample() {
    let r: ConsultResponse = fixture("consult_response.json");
    assert!(r.result.is_success());
    assert_eq!(r.result.result_code, ResultCode::Success);
    assert!(
        r.normal_url
            .as_deref()
            .unwrap()
            .starts_with("https://openauth.")
    );
    assert_eq!(r.scheme_url, None);
}

#[test]
fn apply_token_request_sample() {
    let r: ApplyTokenRequest = fixture("apply_token_request.json");
    assert_eq!(r.grant_type, GrantType::AuthorizationCode);
    assert_eq!(r.customer_belongs_to, CustomerBelongsTo::AlipayCn);
    assert_eq!(
        r.auth_code.as_ref().unwrap().expose_secret(),
        "3AB2F588D14B43238637264FCA5AAF35"
    );
    assert_eq!(
        r,
        ApplyTokenRequest::authorization_code(
            CustomerBelongsTo::AlipayCn,
            "3AB2F588D14B43238637264FCA5AAF35"
        )
    );
}

#[test]
fn revoke_samples() {
    let req: RevokeRequest = fixture("revoke_request.json");
    assert_eq!(
        req.access_token.expose_secret(),
        "281010033AB2F588D14B43238637264FCA5Axxxx"
    );
    let resp: RevokeResponse = fixture("revoke_response.json");
    assert!(resp.result.is_success());
    assert_eq!(resp.result.message(), Some("Success"));
}

#[test]
fn refund_response_sample() {
    let r: RefundResponse = fixture("refund_response.json");
    assert!(r.result.is_success());
    assert_eq!(r.refund_amount, Some(Amount::new(Currency::USD, 100)));
    let time = r.refund_time.as_ref().unwrap();
    assert_eq!(time.as_str(), "2020-10-10T12:01:01+08:30");
    assert_eq!(time.offset_minutes().unwrap(), 510);
    assert_eq!(time.unix_millis().unwrap(), 1_602_300_661_000);
}

#[test]
fn notify_authorization_token_canceled_sample() {
    let n: Notification = fixture("notify_authorization_token_canceled.json");
    let Notification::Authorization(auth) = n else {
        panic!("expected notifyAuthorization, got {}", n.kind_name())
    };
    assert_eq!(
        auth.authorization_notify_type,
        AuthorizationNotifyType::TokenCanceled
    );
    assert!(auth.authorization_notify_type.is_known());
    assert_eq!(
        auth.access_token.as_ref().unwrap().expose_secret(),
        "28100103_20215703001538122119"
    );
    assert!(auth.result.is_success());
    assert_eq!(auth.auth_code, None);
}

#[test]
fn legacy_inquiry_payment_samples() {
    let f: InquiryPaymentResponse = fixture("inquiry_payment_legacy_f.json");
    assert_eq!(f.result.result_status, ResultStatus::F);
    assert_eq!(f.result.result_code, ResultCode::ProcessFail);
    assert_eq!(f.payment_status, None);

    let s: InquiryPaymentResponse = fixture("inquiry_payment_legacy_s_fail.json");
    assert!(s.result.is_success(), "the inquiry itself succeeded");
    assert_eq!(s.payment_status, Some(PaymentStatus::Fail));
    assert_eq!(s.payment_result_code, Some(ResultCode::UnknownException));

    let ok: InquiryPaymentResponse = fixture("inquiry_payment_legacy_s_success.json");
    assert_eq!(ok.payment_status, Some(PaymentStatus::Success));
    assert_eq!(
        ok.payment_amount,
        Some(Amount::parse("MOP", "100").unwrap())
    );
    assert_eq!(ok.payment_amount.unwrap().to_string(), "MOP 1.00");
    let quote = ok.payment_quote.as_ref().unwrap();
    assert_eq!(quote.quote_currency_pair.as_deref(), Some("446/156"));
    assert_eq!(
        quote.quote_price.as_ref().unwrap().to_decimal_string(),
        "0.88156063"
    );
    assert_eq!(
        ok.payment_time.as_ref().unwrap().offset_minutes().unwrap(),
        -420
    );
}

#[test]
fn legacy_notify_payment_sample() {
    let n: Notification = fixture("notify_payment_legacy.json");
    let Notification::Payment(p) = n else {
        panic!("expected notifyPayment, got {}", n.kind_name())
    };
    assert!(p.notify_type.is_known());
    assert_eq!(p.payment_amount, Amount::new(Currency::JPY, 200));
    assert_eq!(p.payment_amount.to_string(), "JPY 200");
    let created = p.payment_create_time.as_ref().unwrap();
    assert_eq!(created.offset_minutes().unwrap(), -480);
    assert_eq!(
        p.payment_time.as_ref().unwrap().unix_millis().unwrap() - created.unix_millis().unwrap(),
        52_000
    );
}

#[test]
fn amount_and_result_samples() {
    let a: Amount = fixture("amount.json");
    assert_eq!(a, Amount::new(Currency::USD, 1000));
    assert_eq!(a.minor_units(), 1000);
    let r: AmsResult = fixture("result.json");
    assert_eq!(r, AmsResult::success());
}

#[test]
fn ack_samples_are_exact_bytes() {
    let ok = digest_fixture("ack_success.json");
    assert_eq!(ok, ACK_SUCCESS_BODY);
    let ack: NotificationAck = round_trip("ack_success.json", &ok);
    assert_eq!(serde_json::to_string(&ack).unwrap(), ok);
    assert_eq!(ack, NotificationAck::success());

    let fail = digest_fixture("ack_failure.json");
    assert_eq!(fail, ACK_FAILURE_BODY);
    let ack: NotificationAck = round_trip("ack_failure.json", &fail);
    assert_eq!(serde_json::to_string(&ack).unwrap(), fail);
    assert_eq!(ack.result.result_status, ResultStatus::U);
    assert!(ack.result.is_unknown());
}
