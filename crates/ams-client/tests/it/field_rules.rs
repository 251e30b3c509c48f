//! A request that breaks a documented field rule of its API is refused before anything is sent
//! (`NotSentKind::InvalidField`, the field named), by `execute` and by `execute_body` alike, for the
//! core APIs and the addendum's.

use std::error::Error as _;

use ams_client::{AttemptClass, Error, NotSentKind, RetryPolicy};
use ams_protocol::{
    Amount, Currency, CustomsInfo, CustomsOffice, DeclareRequest, InquiryPaymentRequest,
    InquiryRegistrationStatusRequest, MerchantCustomsInfo, PayRequest, RefundRequest,
};

use crate::support::*;

const ANY_S: &str =
    r#"{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"}}"#;

/// Asserts a local `InvalidField` refusal whose sources name `field`, and nothing of `secret`.
#[track_caller]
fn refused(error: &Error, field: &str, secret: &str) {
    let Error::NotSent(not_sent) = error else {
        panic!("expected NotSent, got {error:?}")
    };
    assert_eq!(not_sent.kind(), &NotSentKind::InvalidField);
    assert!(!error.is_outcome_unknown());
    assert_eq!(error.class(), AttemptClass::LocalError);
    let source = error
        .source()
        .and_then(|e| e.source())
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(source.starts_with(field), "{source}");
    let shown = format!("{error} {error:?}");
    assert!(shown.contains(field), "{shown}");
    assert!(!shown.contains(secret), "{shown}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_request_breaking_a_field_rule_is_never_sent() {
    let stub = Stub::answering(ANY_S).await;
    let client = client(&stub.url());

    // Core API: a refund of nothing.
    let refund = RefundRequest::new("R_1", "2024X", Amount::new(Currency::USD, 0));
    let error = client.execute(&refund).await.unwrap_err();
    refused(&error, "refundAmount.value must be greater than 0", "R_1");

    // Core API: an inquiry naming no payment.
    let inquiry = InquiryPaymentRequest::by_payment_id("");
    let error = client.execute(&inquiry).await.unwrap_err();
    refused(&error, "paymentId or paymentRequestId is required", "2024X");

    // Addendum API: a declaration id longer than 32 characters.
    let declare = DeclareRequest::new(
        "D".repeat(33),
        "2024X",
        Amount::new(Currency::CNY, 100),
        CustomsInfo::for_office(CustomsOffice::Shanghai),
        MerchantCustomsInfo::new("code", "name"),
    );
    let error = client.execute(&declare).await.unwrap_err();
    refused(
        &error,
        "declarationRequestId must be 1 to 32 characters long",
        "2024X",
    );

    // Addendum API: a status inquiry naming nothing.
    let error = client
        .execute(&InquiryRegistrationStatusRequest::default())
        .await
        .unwrap_err();
    refused(&error, "referenceMerchantId", "x");

    // A stored body that parses but breaks a rule: the token in it is never shown.
    let stored = format!(
        r#"{{"productCode":"AGREEMENT_PAYMENT","paymentRequestId":"PAY_1",
        "order":{{"referenceOrderId":"O_1","orderDescription":"d",
                  "orderAmount":{{"currency":"USD","value":"100"}}}},
        "paymentAmount":{{"currency":"USD","value":"100"}},
        "paymentMethod":{{"paymentMethodType":"ALIPAY_CN","paymentMethodId":"{ACCESS_TOKEN}"}},
        "env":{{"terminalType":"MINI_APP"}}}}"#
    );
    let error = client
        .execute_body::<PayRequest>(stored, RetryPolicy::Never)
        .await
        .unwrap_err();
    refused(
        &error,
        "appId is required when env.terminalType is MINI_APP",
        ACCESS_TOKEN,
    );

    assert!(stub.requests().is_empty(), "nothing reached the gateway");

    // The same client sends a valid request.
    let valid = InquiryPaymentRequest::by_payment_id("2024X");
    client.execute(&valid).await.unwrap();
    assert_eq!(stub.requests().len(), 1);
}
