//! Every API through `execute`, with typed requests and responses: Success outcomes with the fields
//! that matter, and Failed outcomes carrying Alipay's code.

use ams_client::Outcome;
use ams_protocol::{
    Api, ApplyTokenRequest, AuthState, CancelRequest, ConsultRequest, CustomerBelongsTo,
    InquiryPaymentRequest, InquiryRefundRequest, PaymentStatus, RefundRequest, ResultCode,
    ResultStatus, RevokeRequest, Scope, TerminalType, TransactionStatus,
};
use ams_sandbox::EntryKind;

use super::*;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

fn consult(auth_state: &str) -> ConsultRequest {
    ConsultRequest::new(
        CustomerBelongsTo::AlipayCn,
        REDIRECT,
        vec![Scope::AgreementPay],
        AuthState::new(auth_state),
        TerminalType::Web,
    )
}

fn millis(time: Option<&ams_protocol::AmsDateTime>) -> i64 {
    time.expect("a datetime").unix_millis().unwrap()
}

#[tokio::test]
async fn consult_and_bind_on_both_path_forms() {
    for (client_id, path) in [
        (CLIENT_ID, "/ams/api/v1/authorizations/consult"),
        (
            SANDBOX_CLIENT_ID,
            "/ams/sandbox/api/v1/authorizations/consult",
        ),
    ] {
        let f = Fixture::start_with(client_id, |b| b).await;
        // The answer verifies only if the sandbox signed over the path it received: this one.
        assert_eq!(f.client.path(Api::Consult), path);

        let consulted = f.success(&consult("STATE_1")).await;
        assert_eq!(consulted.result.code(), &ResultCode::Success);
        let url = consulted.normal_url.clone().expect("normalUrl");
        assert!(
            url.starts_with(&format!("{}/sandbox/wallet/consent/", f.sandbox.base_url())),
            "{url}"
        );
        // WEB terminal: Scan to Bind, the QR code leads to the same page.
        let form = consulted.auth_code_form.expect("authCodeForm");
        assert_eq!(form.code_details[0].code_value, url);

        // The rest of the binding works on this path form too.
        let code = agree(&url, ALICE, "STATE_1").await;
        let token = f
            .success(&ApplyTokenRequest::authorization_code(
                CustomerBelongsTo::AlipayCn,
                code,
            ))
            .await;
        assert!(token.access_token.is_some(), "{client_id}");
    }
}

#[tokio::test]
async fn an_illegal_consult_fails_with_param_illegal() {
    let f = Fixture::start().await;
    let mut request = consult("STATE_2");
    request.terminal_type = TerminalType::from_wire("TELEVISION");
    let refused = f.failed(&request).await;
    assert_eq!(refused.result.code(), &ResultCode::ParamIllegal);
    assert_eq!(refused.result.status(), &ResultStatus::F);
    let message = refused.result.message().unwrap_or_default();
    assert!(message.contains("terminalType"), "{message}");
}

#[tokio::test]
async fn apply_token_with_an_auth_code_and_with_a_refresh_token() {
    let f = Fixture::start().await;

    // AUTHORIZATION_CODE (through consult and the consent page).
    let consulted = f.success(&consult("STATE_3")).await;
    let code = agree(&consulted.normal_url.unwrap(), ALICE, "STATE_3").await;
    let by_code = ApplyTokenRequest::authorization_code(CustomerBelongsTo::AlipayCn, code);
    let first = f.success(&by_code).await;
    let access = first.access_token.clone().expect("accessToken");
    let refresh = first.refresh_token.clone().expect("refreshToken");
    assert_eq!(
        millis(first.access_token_expiry_time.as_ref()),
        T0 + 30 * DAY_MS
    );
    assert_eq!(
        millis(first.refresh_token_expiry_time.as_ref()),
        T0 + 180 * DAY_MS
    );
    assert_eq!(first.user_login_id.as_deref(), Some("al***om"));
    // The code works once.
    let reused = f.failed(&by_code).await;
    assert_eq!(reused.result.code(), &ResultCode::InvalidAuthcode);
    assert!(reused.access_token.is_none());

    // REFRESH_TOKEN: a new pair; the old access token stops working.
    let by_refresh = ApplyTokenRequest::refresh_token(CustomerBelongsTo::AlipayCn, refresh);
    let second = f.success(&by_refresh).await;
    let renewed = second.access_token.expect("a new accessToken");
    assert_ne!(renewed.expose_secret(), access.expose_secret());
    assert!(second.refresh_token.is_some());

    let old = f
        .pay(&pay("PAY_OLD_TOKEN", usd(100), &access))
        .await
        .unwrap();
    let Outcome::Failed(old) = old else {
        panic!("the rotated token paid: {old:?}")
    };
    assert_eq!(old.result.code(), &ResultCode::InvalidAccessToken);
    assert!(
        f.pay(&pay("PAY_NEW_TOKEN", usd(100), &renewed))
            .await
            .unwrap()
            .is_success()
    );

    // A refresh token is single-use too: an F with a code this crate does not know is still Failed.
    let again = f.failed(&by_refresh).await;
    assert_eq!(again.result.code().as_str(), "INVALID_REFRESH_TOKEN");
}

#[tokio::test]
async fn revoke_ends_the_token() {
    let f = Fixture::start().await;
    let token = f.alice_token().await;
    let revoked = f.success(&RevokeRequest::new(token.clone())).await;
    assert_eq!(revoked.result.code(), &ResultCode::Success);

    let refused = f.pay(&pay("PAY_REVOKED", usd(100), &token)).await.unwrap();
    let Outcome::Failed(refused) = refused else {
        panic!("a revoked token paid: {refused:?}")
    };
    assert_eq!(refused.result.code(), &ResultCode::InvalidAccessToken);
    assert_eq!(f.debits("PAY_REVOKED"), 0);

    let unknown = f
        .failed(&RevokeRequest::new(
            "2810000000000000000000000000000000000000",
        ))
        .await;
    assert_eq!(unknown.result.code(), &ResultCode::InvalidAccessToken);
}

#[tokio::test]
async fn pay_then_inquire_payment() {
    let f = Fixture::start().await;
    let token = f.alice_token().await;

    let paid = f.pay(&pay("PAY_1", usd(2_500), &token)).await.unwrap();
    let Outcome::Success(paid) = paid else {
        panic!("expected S, got {paid:?}")
    };
    assert_eq!(paid.result.code(), &ResultCode::Success);
    assert_eq!(
        paid.payment_request_id.as_ref().map(|id| id.as_str()),
        Some("PAY_1")
    );
    assert_eq!(paid.payment_amount, Some(usd(2_500)));
    assert_eq!(millis(paid.payment_time.as_ref()), T0);
    let payment_id = paid.payment_id.expect("paymentId");
    assert_eq!(f.debits("PAY_1"), 1);
    assert_eq!(f.balance(ALICE), usd(7_500));

    // By paymentRequestId and by paymentId: the same payment, SUCCESS.
    for inquiry in [
        InquiryPaymentRequest::by_payment_request_id("PAY_1"),
        InquiryPaymentRequest::by_payment_id(payment_id.clone()),
    ] {
        let found = f.success(&inquiry).await;
        assert_eq!(found.payment_status, Some(PaymentStatus::Success));
        assert_eq!(found.payment_result_code, Some(ResultCode::Success));
        assert_eq!(found.payment_id.as_ref(), Some(&payment_id));
        assert_eq!(found.payment_amount, Some(usd(2_500)));
        assert_eq!(millis(found.payment_time.as_ref()), T0);
    }

    let missing = f
        .failed(&InquiryPaymentRequest::by_payment_request_id("PAY_NEVER"))
        .await;
    assert_eq!(missing.result.code(), &ResultCode::OrderNotExist);
    assert!(missing.payment_status.is_none());
}

#[tokio::test]
async fn pay_failures_are_failed_outcomes_with_the_code() {
    let f = Fixture::start().await;
    let token = f.alice_token().await;

    // More than the USD 100.00 she has.
    let poor = f
        .pay(&pay("PAY_TOO_MUCH", usd(20_000), &token))
        .await
        .unwrap();
    let Outcome::Failed(poor) = poor else {
        panic!("expected F, got {poor:?}")
    };
    assert_eq!(poor.result.code(), &ResultCode::UserBalanceNotEnough);
    assert_eq!(poor.result.status(), &ResultStatus::F);
    assert_eq!(f.debits("PAY_TOO_MUCH"), 0);

    // The idempotency key reused with another amount.
    assert!(
        f.pay(&pay("PAY_2", usd(1_000), &token))
            .await
            .unwrap()
            .is_success()
    );
    let changed = f.pay(&pay("PAY_2", usd(2_000), &token)).await.unwrap();
    let Outcome::Failed(changed) = changed else {
        panic!("expected F, got {changed:?}")
    };
    assert_eq!(changed.result.code(), &ResultCode::RepeatReqInconsistent);
    // ...while the identical request is answered again, without a second debit.
    let repeated = f.pay(&pay("PAY_2", usd(1_000), &token)).await.unwrap();
    assert!(repeated.is_success(), "{repeated:?}");
    assert_eq!(f.debits("PAY_2"), 1);
    assert_eq!(f.balance(ALICE), usd(9_000));
}

#[tokio::test]
async fn cancel_returns_the_money() {
    let f = Fixture::start().await;
    let token = f.alice_token().await;
    let paid = f.pay(&pay("PAY_3", usd(3_000), &token)).await.unwrap();
    let payment_id = paid.into_response().payment_id.expect("paymentId");

    let cancelled = f
        .success(&CancelRequest::by_payment_request_id("PAY_3"))
        .await;
    assert_eq!(cancelled.payment_id.as_ref(), Some(&payment_id));
    assert_eq!(
        cancelled.payment_request_id.as_ref().map(|id| id.as_str()),
        Some("PAY_3")
    );
    assert_eq!(millis(cancelled.cancel_time.as_ref()), T0);
    let ledger = f.sandbox.ledger(Some("PAY_3"), None);
    assert_eq!((ledger.debits, ledger.credits), (1, 1));
    assert_eq!(ledger.entries[1].kind, EntryKind::Credit);
    assert_eq!(f.balance(ALICE), usd(10_000));
    assert_eq!(
        f.inquire("PAY_3").await.payment_status,
        Some(PaymentStatus::Cancelled)
    );

    // Failed is final: the default cancel policy does not retry it.
    let missing = f
        .failed(&CancelRequest::by_payment_request_id("PAY_NEVER"))
        .await;
    assert_eq!(missing.result.code(), &ResultCode::OrderNotExist);
    assert!(f.clock.sleeps().is_empty());
}

#[tokio::test]
async fn cancel_after_the_window_fails_with_cancel_window_exceed() {
    let f = Fixture::start().await;
    let token = f.alice_token().await;
    assert!(
        f.pay(&pay("PAY_4", usd(1_000), &token))
            .await
            .unwrap()
            .is_success()
    );
    // Paid at 08:00 UTC+8; the window closes at 00:15 UTC+8 the next day.
    f.sandbox.advance_clock_ms(DAY_MS);

    let late = f
        .failed(&CancelRequest::by_payment_request_id("PAY_4"))
        .await;
    assert_eq!(late.result.code(), &ResultCode::CancelWindowExceed);
    assert!(f.clock.sleeps().is_empty());
    let ledger = f.sandbox.ledger(Some("PAY_4"), None);
    assert_eq!((ledger.debits, ledger.credits), (1, 0));
    assert_eq!(
        f.inquire("PAY_4").await.payment_status,
        Some(PaymentStatus::Success)
    );
}

#[tokio::test]
async fn refund_then_inquire_refund() {
    let f = Fixture::start().await;
    let token = f.alice_token().await;
    let paid = f.pay(&pay("PAY_5", usd(2_500), &token)).await.unwrap();
    let payment_id = paid.into_response().payment_id.expect("paymentId");

    let refund = RefundRequest::new("REFUND_1", payment_id.clone(), usd(1_000));
    let refunded = f.success(&refund).await;
    assert_eq!(
        refunded.refund_request_id.as_ref().map(|id| id.as_str()),
        Some("REFUND_1")
    );
    assert_eq!(refunded.payment_id.as_ref(), Some(&payment_id));
    assert_eq!(refunded.refund_amount, Some(usd(1_000)));
    assert_eq!(millis(refunded.refund_time.as_ref()), T0);
    let refund_id = refunded.refund_id.expect("refundId");
    assert_eq!(f.balance(ALICE), usd(8_500));

    for inquiry in [
        InquiryRefundRequest::by_refund_request_id("REFUND_1"),
        InquiryRefundRequest::by_refund_id(refund_id.clone()),
    ] {
        let found = f.success(&inquiry).await;
        assert_eq!(found.refund_status, Some(TransactionStatus::Success));
        assert_eq!(found.refund_id.as_ref(), Some(&refund_id));
        assert_eq!(found.refund_amount, Some(usd(1_000)));
    }

    // The same refundRequestId with another amount; more than what is left; an unknown refund.
    let changed = f
        .failed(&RefundRequest::new(
            "REFUND_1",
            payment_id.clone(),
            usd(500),
        ))
        .await;
    assert_eq!(changed.result.code(), &ResultCode::RepeatReqInconsistent);
    let too_much = f
        .failed(&RefundRequest::new("REFUND_2", payment_id, usd(2_000)))
        .await;
    assert_eq!(too_much.result.code(), &ResultCode::RefundAmountExceed);
    let missing = f
        .failed(&InquiryRefundRequest::by_refund_request_id("REFUND_NEVER"))
        .await;
    assert_eq!(missing.result.code(), &ResultCode::OrderNotExist);

    let ledger = f.sandbox.ledger(Some("PAY_5"), None);
    assert_eq!((ledger.debits, ledger.credits), (1, 1));
    assert!(f.clock.sleeps().is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn consult_never_logs_the_auth_state() {
    // authState completes or declines the authorization it names: a bearer capability.
    const AUTH_STATE: &str = "STATE_BEARER_7f3a9c2e41d8";
    let (captured, _guard) = capture_logs();
    let f = Fixture::start().await;

    let consulted = f.success(&consult(AUTH_STATE)).await;
    assert!(consulted.normal_url.is_some());
    // It did reach the sandbox: the consent page carries it back to the merchant.
    let url = consulted.normal_url.expect("normalUrl");
    let code = agree(&url, ALICE, AUTH_STATE).await;
    assert!(!code.is_empty());

    let logs = captured.text();
    // The call was traced (so the capture works) ...
    assert!(logs.contains("ams_call"), "{logs}");
    assert!(
        logs.contains("api=\"consult\"") || logs.contains("api=consult"),
        "{logs}"
    );
    assert!(
        logs.contains("request_id=\"-\"") || logs.contains("request_id=-"),
        "{logs}"
    );
    assert!(logs.contains("success"), "{logs}");
    // ... and the authState appears nowhere in it.
    assert!(!logs.contains(AUTH_STATE), "authState logged: {logs}");
    assert!(!logs.contains("7f3a9c2e41d8"), "authState logged: {logs}");
}
