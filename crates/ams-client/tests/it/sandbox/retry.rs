//! The retry policy end to end: attempts go to the sandbox, waits go to the manual clock, so a
//! minute of retrying takes no real time; and because every retry resends the identical body,
//! Alipay's idempotency keeps the money moving once.

use std::time::Duration;

use ams_client::{Outcome, RetryPolicy};
use ams_protocol::{Api, CancelRequest, PaymentStatus, RefundRequest};
use ams_sandbox::{FaultAction, FaultRule};

use super::*;

fn assert_waits_within_5_to_10_s(sleeps: &[Duration]) {
    for wait in sleeps {
        assert!(
            (Duration::from_secs(5)..=Duration::from_secs(10)).contains(wait),
            "{sleeps:?}"
        );
    }
}

#[tokio::test]
async fn cancel_succeeds_on_the_third_attempt_after_two_unknowns() {
    let f = Fixture::start().await;
    let token = f.alice_token().await;
    assert!(
        f.pay(&pay("PAY_R_1", usd(4_000), &token))
            .await
            .unwrap()
            .is_success()
    );
    f.sandbox.add_fault(
        FaultRule::new(
            Api::Cancel,
            FaultAction::Unknown {
                code: "UNKNOWN_EXCEPTION".into(),
            },
        )
        .for_request("PAY_R_1")
        .times(Some(2)),
    );

    // The default policy of cancel: same request, every 5–10 s, for up to 60 s.
    assert_eq!(
        f.client.retry_policy_for(Api::Cancel),
        RetryPolicy::SAME_REQUEST_60S
    );
    let outcome = f
        .client
        .execute(&CancelRequest::by_payment_request_id("PAY_R_1"))
        .await
        .unwrap();
    let Outcome::Success(cancelled) = outcome else {
        panic!("expected S, got {outcome:?}")
    };
    assert!(cancelled.cancel_time.is_some());

    // Three attempts reached the sandbox (the rule saw three calls and fired on two), with two
    // waits between them on the manual clock.
    assert_eq!(f.fault_counters().await, [(3, 2)]);
    let sleeps = f.clock.sleeps();
    assert_eq!(sleeps.len(), 2);
    assert_waits_within_5_to_10_s(&sleeps);
    // The money came back once.
    let ledger = f.sandbox.ledger(Some("PAY_R_1"), None);
    assert_eq!((ledger.debits, ledger.credits), (1, 1));
    assert_eq!(f.balance(ALICE), usd(10_000));
    assert_eq!(
        f.inquire("PAY_R_1").await.payment_status,
        Some(PaymentStatus::Cancelled)
    );
}

#[tokio::test]
async fn refund_retries_through_a_dropped_connection_and_an_unsigned_answer() {
    let f = Fixture::start().await;
    let token = f.alice_token().await;
    let paid = f.pay(&pay("PAY_R_2", usd(3_000), &token)).await.unwrap();
    let payment_id = paid.into_response().payment_id.expect("paymentId");
    for action in [FaultAction::Drop, FaultAction::Unsigned] {
        f.sandbox
            .add_fault(FaultRule::new(Api::Refund, action).for_request("REFUND_R_2"));
    }

    let refund = RefundRequest::new("REFUND_R_2", payment_id, usd(1_000));
    let refunded = f.success(&refund).await;
    assert_eq!(refunded.refund_amount, Some(usd(1_000)));
    // Each fault fired once; every attempt was processed, and still one refund credit.
    assert_eq!(f.fault_counters().await, [(3, 1), (2, 1)]);
    assert_eq!(f.clock.sleeps().len(), 2);
    assert_waits_within_5_to_10_s(&f.clock.sleeps());
    let ledger = f.sandbox.ledger(Some("PAY_R_2"), None);
    assert_eq!((ledger.debits, ledger.credits), (1, 1));
    assert_eq!(f.balance(ALICE), usd(8_000));
}

#[tokio::test]
async fn pay_retries_through_a_drop_only_when_asked() {
    let f = Fixture::start().await;
    let token = f.alice_token().await;
    f.sandbox
        .add_fault(FaultRule::new(Api::Pay, FaultAction::Drop).for_request("PAY_R_3"));

    let outcome = f
        .client
        .execute_with_policy(
            &pay("PAY_R_3", usd(1_000), &token),
            RetryPolicy::SAME_REQUEST_60S,
        )
        .await
        .unwrap();
    assert!(outcome.is_success(), "{outcome:?}");
    assert_eq!(f.clock.sleeps().len(), 1);
    assert_eq!(f.debits("PAY_R_3"), 1);
}
