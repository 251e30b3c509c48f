//! `execute_body` against the sandbox: a `pay` body stored byte for byte (in its own key order,
//! spacing and escapes) is accepted, which the sandbox does only when the signature covers the
//! bytes it received; after a lost answer the very same bytes are sent again and Alipay's
//! idempotency answers the first payment, debiting once.

use ams_client::{Error, MaybeSentKind, NotSentKind, Outcome, RetryPolicy};
use ams_protocol::{AccessToken, Api, PayRequest, RefundRequest};
use ams_sandbox::{FaultAction, FaultRule};

use super::*;

/// A stored `pay` body for `payment_request_id`, as a merchant's database may hold it.
fn stored_pay(payment_request_id: &str, token: &AccessToken) -> String {
    format!(
        "{{\n  \"order\": {{\"orderAmount\": {{\"value\": \"1000\", \"currency\": \"USD\"}},\n    \
         \"orderDescription\": \"Abonnement caf\\u00e9 cr\\u00e8me\", \"referenceOrderId\": \
         \"ORDER_{payment_request_id}\"}},\n  \"paymentMethod\": {{\"paymentMethodType\": \
         \"ALIPAY_CN\", \"paymentMethodId\": \"{}\"}},\n  \"env\": {{\"terminalType\": \"WEB\"}},\n  \
         \"paymentAmount\": {{\"currency\": \"USD\", \"value\": \"1000\"}},\n  \
         \"paymentRequestId\": \"{payment_request_id}\",\n  \"productCode\": \
         \"AGREEMENT_PAYMENT\"\n}}\n",
        token.expose_secret()
    )
}

#[tokio::test]
async fn stored_pay_bytes_are_accepted_and_resent_after_a_lost_answer() {
    let f = Fixture::start().await;
    let token = f.alice_token().await;
    let stored = stored_pay("PAY_STORED_1", &token);
    let parsed: PayRequest = serde_json::from_str(&stored).unwrap();
    assert_ne!(serde_json::to_string(&parsed).unwrap(), stored);
    f.sandbox
        .add_fault(FaultRule::new(Api::Pay, FaultAction::Drop).for_request("PAY_STORED_1"));

    // The first attempt is committed, but its answer is lost.
    let error = f
        .client
        .execute_body::<PayRequest>(stored.clone(), RetryPolicy::Never)
        .await
        .unwrap_err();
    let Error::MaybeSent(maybe) = &error else {
        panic!("expected MaybeSent, got {error:?}")
    };
    assert_eq!(maybe.kind(), &MaybeSentKind::ConnectionClosed);
    assert_eq!(f.debits("PAY_STORED_1"), 1);

    // The same bytes again, freshly signed: the sandbox verifies the signature over the raw
    // body it received, and its idempotency answers the first payment.
    let outcome = f
        .client
        .execute_body::<PayRequest>(stored, RetryPolicy::Never)
        .await
        .unwrap();
    let Outcome::Success(paid) = outcome else {
        panic!("expected S, got {outcome:?}")
    };
    assert_eq!(paid.payment_amount, Some(usd(1_000)));
    assert_eq!(f.debits("PAY_STORED_1"), 1);
    assert_eq!(f.balance(ALICE), usd(9_000));
    assert_eq!(f.inquire("PAY_STORED_1").await.payment_id, paid.payment_id);
}

#[tokio::test]
async fn a_stored_body_of_another_api_is_refused_before_the_sandbox_sees_it() {
    let f = Fixture::start().await;
    let token = f.alice_token().await;
    let stored = stored_pay("PAY_STORED_2", &token);

    // A pay body given as a refund, and a body cut short given as pay.
    let as_refund = f
        .client
        .execute_body::<RefundRequest>(stored.clone(), RetryPolicy::SAME_REQUEST_60S)
        .await;
    let cut_short = f
        .client
        .execute_body::<PayRequest>(stored[..stored.len() / 2].to_owned(), RetryPolicy::Never)
        .await;
    for (result, api) in [
        (as_refund.map(|_| ()), "refund"),
        (cut_short.map(|_| ()), "pay"),
    ] {
        let Err(Error::NotSent(not_sent)) = &result else {
            panic!("expected NotSent, got {result:?}")
        };
        assert_eq!(not_sent.kind(), &NotSentKind::InvalidBody);
        let why = std::error::Error::source(not_sent).unwrap().to_string();
        assert!(
            why.starts_with(&format!("the stored body is not a valid `{api}` request: ")),
            "{why}"
        );
        assert!(!why.contains(token.expose_secret()), "{why}");
    }
    // Nothing happened at the sandbox: no payment, no refund, no wait.
    assert_eq!(f.debits("PAY_STORED_2"), 0);
    assert!(f.clock.sleeps().is_empty());
    let missing = f
        .failed(&ams_protocol::InquiryPaymentRequest::by_payment_request_id(
            "PAY_STORED_2",
        ))
        .await;
    assert_eq!(
        missing.result.code(),
        &ams_protocol::ResultCode::OrderNotExist
    );
}
