//! The core APIs' documented field rules (`Validate`): each rule fails on its field, a valid request
//! passes, and values this crate does not know are not refused (forward compatibility).

use ams_protocol::{
    AccessToken, Amount, ApplyTokenRequest, AuthCode, CancelRequest, ConsultRequest, Currency,
    CustomerBelongsTo, Env, GrantType, InquiryPaymentRequest, InquiryRefundRequest, Order,
    PayRequest, RefundRequest, RevokeRequest, Rule, Scope, TerminalType, Validate,
};

#[track_caller]
fn fails(request: &impl Validate, field: &str, rule: Rule) {
    let err = request.validate().expect_err(field);
    assert_eq!((err.field(), err.rule()), (field, &rule), "{err}");
}

fn consult() -> ConsultRequest {
    ConsultRequest::new(
        CustomerBelongsTo::AlipayCn,
        "https://merchant.example/back",
        vec![Scope::AgreementPay],
        "STATE_1",
        TerminalType::Web,
    )
}

fn pay(amount: Amount) -> PayRequest {
    PayRequest::agreement_payment(
        "PAY_1",
        Order::new("ORDER_1", "Monthly", amount),
        amount,
        CustomerBelongsTo::AlipayCn,
        AccessToken::new("token"),
        Env::new(TerminalType::Web),
    )
}

#[test]
fn consult_rules() {
    consult().validate().unwrap();
    let mut r = consult();
    r.scopes.clear();
    fails(&r, "scopes", Rule::MinItems(1));
    let mut r = consult();
    r.scopes = vec![Scope::AgreementPay; 5];
    fails(&r, "scopes", Rule::MaxItems(4));
    let mut r = consult();
    r.auth_redirect_url = "merchant.example/back".into();
    fails(&r, "authRedirectUrl", Rule::Url);
    let mut r = consult();
    r.terminal_type = TerminalType::App;
    fails(
        &r,
        "osType",
        Rule::RequiredWhen("terminalType is APP, WAP or MINI_APP"),
    );
    let mut r = consult();
    r.merchant_region = Some("usa".into());
    fails(
        &r,
        "merchantRegion",
        Rule::Invalid("must be a 2-letter country code"),
    );
    let mut r = consult();
    r.auth_state = "s".repeat(257).into();
    fails(&r, "authState", Rule::MaxChars(256));
    // A wallet, scope or terminal type added by Alipay later is the receiver's to judge.
    let mut r = consult();
    r.customer_belongs_to = CustomerBelongsTo::from_wire("NEW_WALLET");
    r.scopes = vec![Scope::from_wire("NEW_SCOPE")];
    r.terminal_type = TerminalType::from_wire("TELEVISION");
    r.validate().unwrap();
}

#[test]
fn apply_token_and_revoke_rules() {
    let mut r = ApplyTokenRequest::new(GrantType::AuthorizationCode, CustomerBelongsTo::AlipayCn);
    fails(
        &r,
        "authCode",
        Rule::RequiredWhen("grantType is AUTHORIZATION_CODE"),
    );
    r.auth_code = Some(AuthCode::new("c".repeat(129)));
    fails(&r, "authCode", Rule::MaxChars(128));
    r.auth_code = Some(AuthCode::new("code"));
    r.validate().unwrap();
    let r = ApplyTokenRequest::new(GrantType::RefreshToken, CustomerBelongsTo::AlipayCn);
    fails(
        &r,
        "refreshToken",
        Rule::RequiredWhen("grantType is REFRESH_TOKEN"),
    );
    fails(
        &RevokeRequest::new(AccessToken::new(" ")),
        "accessToken",
        Rule::Required,
    );
    RevokeRequest::new(AccessToken::new("t"))
        .validate()
        .unwrap();
}

#[test]
fn pay_rules() {
    pay(Amount::new(Currency::USD, 100)).validate().unwrap();
    fails(
        &pay(Amount::new(Currency::USD, 0)),
        "order.orderAmount.value",
        Rule::Invalid("must be greater than 0"),
    );
    fails(
        &pay(Amount::new(Currency::IDR, 150)),
        "order.orderAmount.value",
        Rule::Invalid("must end in 00 in IDR"),
    );
    let mut r = pay(Amount::new(Currency::USD, 100));
    r.payment_request_id = "p".repeat(65).into();
    fails(&r, "paymentRequestId", Rule::MaxChars(64));
    let mut r = pay(Amount::new(Currency::USD, 100));
    r.payment_method.payment_method_id = None;
    fails(&r, "paymentMethod.paymentMethodId", Rule::Required);
    let mut r = pay(Amount::new(Currency::USD, 100));
    r.env = Env::new(TerminalType::MiniApp);
    fails(
        &r,
        "appId",
        Rule::RequiredWhen("env.terminalType is MINI_APP"),
    );
    let mut r = pay(Amount::new(Currency::USD, 100));
    r.payment_notify_url = Some("ftp://x".into());
    fails(&r, "paymentNotifyUrl", Rule::Url);
}

#[test]
fn inquiry_cancel_refund_rules() {
    fails(
        &InquiryPaymentRequest::by_payment_id(""),
        "paymentId",
        Rule::AtLeastOneOf(&["paymentRequestId"]),
    );
    InquiryPaymentRequest::by_payment_request_id("PAY_1")
        .validate()
        .unwrap();
    fails(
        &CancelRequest::by_payment_request_id(" "),
        "paymentId",
        Rule::AtLeastOneOf(&["paymentRequestId"]),
    );
    fails(
        &InquiryRefundRequest::by_refund_request_id(""),
        "refundId",
        Rule::AtLeastOneOf(&["refundRequestId"]),
    );
    fails(
        &RefundRequest::new("R_1", "2024X", Amount::new(Currency::USD, 0)),
        "refundAmount.value",
        Rule::Invalid("must be greater than 0"),
    );
    fails(
        &RefundRequest::new("", "2024X", Amount::new(Currency::USD, 1)),
        "refundRequestId",
        Rule::Required,
    );
    let mut r = RefundRequest::new("R_1", "2024X", Amount::new(Currency::USD, 1));
    r.refund_reason = Some("r".repeat(257));
    fails(&r, "refundReason", Rule::MaxChars(256));
    r.refund_reason = None;
    r.validate().unwrap();
}
