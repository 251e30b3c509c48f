//! Retries: the identical body, re-signed with a fresh request-time, on a controlled clock.

use std::time::Duration;

use ams_client::{Clock, Error, RetryPolicy};
use ams_protocol::{Amount, Api, CancelRequest, Currency, RefundRequest};

use crate::support::*;

fn cancel() -> CancelRequest {
    CancelRequest::by_payment_request_id("PAY_20240101_0001")
}

fn assert_within_interval(sleeps: &[Duration]) {
    for wait in sleeps {
        assert!(
            *wait >= Duration::from_secs(5) && *wait <= Duration::from_secs(10),
            "{sleeps:?}"
        );
    }
}

#[tokio::test]
async fn cancel_retries_u_until_s_with_the_same_body_and_fresh_times() {
    let stub =
        Stub::start(|i, request| answer(request, if i < 2 { ANY_U } else { CANCEL_S })).await;
    let clock = manual_clock();
    let client = builder(&stub.url(), &clock).build().unwrap();

    let outcome = client.execute(&cancel()).await.unwrap();
    assert!(outcome.is_success(), "{outcome:?}");

    let requests = stub.requests();
    assert_eq!(requests.len(), 3);
    let sleeps = clock.sleeps();
    assert_eq!(sleeps.len(), 2);
    assert_within_interval(&sleeps);

    let expected_body = serde_json::to_vec(&cancel()).unwrap();
    let mut times = Vec::new();
    for sent in &requests {
        assert_eq!(sent.body, expected_body);
        sent.verify_with_merchant_key().unwrap();
        times.push(sent.header("request-time").unwrap().to_owned());
    }
    // Each attempt carries the clock's time when it was signed.
    let t1 = T0 + i64::try_from(sleeps[0].as_millis()).unwrap();
    let t2 = t1 + i64::try_from(sleeps[1].as_millis()).unwrap();
    assert_eq!(times, [T0.to_string(), t1.to_string(), t2.to_string()]);
    assert!(times[0] != times[1] && times[1] != times[2]);
    // Different times, so different signatures over the same body.
    assert_ne!(
        requests[0].header("signature"),
        requests[1].header("signature")
    );
}

#[tokio::test]
async fn cancel_stops_at_once_on_f() {
    let stub = Stub::answering(CANCEL_F).await;
    let clock = manual_clock();
    let client = builder(&stub.url(), &clock).build().unwrap();
    assert!(client.execute(&cancel()).await.unwrap().is_failed());
    assert_eq!(stub.requests().len(), 1);
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn the_retry_window_ends_after_60_seconds_of_controlled_time() {
    let stub = Stub::answering(ANY_U).await;
    let clock = manual_clock();
    let client = builder(&stub.url(), &clock).build().unwrap();

    let outcome = client.execute(&cancel()).await.unwrap();
    assert!(outcome.is_unknown());

    let sleeps = clock.sleeps();
    let attempts = stub.requests().len();
    assert_eq!(attempts, sleeps.len() + 1);
    assert_within_interval(&sleeps);
    let waited: Duration = sleeps.iter().sum();
    // Every attempt started within 60 s of the first; one more wait would have left the window.
    assert!(waited <= Duration::from_secs(60), "{sleeps:?}");
    assert!(waited > Duration::from_secs(50), "{sleeps:?}");
    assert!((7..=13).contains(&attempts), "{attempts}");
    assert_eq!(clock.monotonic(), waited);
}

#[tokio::test]
async fn cancel_retries_after_a_connection_lost_and_a_rejected_answer() {
    let stub = Stub::start(|i, request| match i {
        0 => Reply::Close,
        1 => {
            let mut unsigned = Answer::to(request, CANCEL_S);
            unsigned.signed = false;
            unsigned.reply()
        }
        _ => answer(request, CANCEL_S),
    })
    .await;
    let clock = manual_clock();
    let client = builder(&stub.url(), &clock).build().unwrap();
    assert!(client.execute(&cancel()).await.unwrap().is_success());
    assert_eq!(stub.requests().len(), 3);
    assert_eq!(clock.sleeps().len(), 2);
}

#[tokio::test]
async fn refund_retries_by_default_too() {
    let stub = Stub::start(|i, request| {
        answer(
            request,
            if i == 0 {
                ANY_U
            } else {
                r#"{"result":{"resultCode":"SUCCESS","resultStatus":"S"},"refundRequestId":"REFUND_1","refundId":"R1"}"#
            },
        )
    })
    .await;
    let client = builder(&stub.url(), &manual_clock()).build().unwrap();
    let refund = RefundRequest::new("REFUND_1", "2024X", Amount::new(Currency::USD, 100));
    assert!(client.execute(&refund).await.unwrap().is_success());
    let requests = stub.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].body, requests[1].body);
}

#[tokio::test]
async fn pay_is_not_retried_unless_asked() {
    let stub = Stub::start(|i, request| match i {
        0 => answer(request, ANY_U),
        1 => Reply::Close,
        _ => answer(request, PAY_S),
    })
    .await;
    let clock = manual_clock();
    let client = builder(&stub.url(), &clock).build().unwrap();
    assert_eq!(client.retry_policy_for(Api::Pay), RetryPolicy::Never);

    assert!(client.execute(&pay_request()).await.unwrap().is_unknown());
    assert_eq!(stub.requests().len(), 1);
    let error = client.execute(&pay_request()).await.unwrap_err();
    assert!(matches!(error, Error::MaybeSent(_)), "{error:?}");
    assert_eq!(stub.requests().len(), 2);
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn pay_retries_when_the_caller_asks() {
    let stub = Stub::start(|i, request| answer(request, if i == 0 { ANY_U } else { PAY_S })).await;
    let clock = manual_clock();
    let client = builder(&stub.url(), &clock).build().unwrap();
    let outcome = client
        .execute_with_policy(&pay_request(), RetryPolicy::SAME_REQUEST_60S)
        .await
        .unwrap();
    assert!(outcome.is_success());
    let requests = stub.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].body, requests[1].body);
    assert_ne!(
        requests[0].header("request-time"),
        requests[1].header("request-time")
    );
}

#[tokio::test]
async fn the_default_policy_can_be_overridden_per_api() {
    let stub = Stub::answering(ANY_U).await;
    let policy = RetryPolicy::SameRequest {
        for_at_most: Duration::from_secs(3),
        interval: (Duration::from_secs(1), Duration::from_secs(1)),
    };
    let clock = manual_clock();
    let client = builder(&stub.url(), &clock)
        .retry_policy(Api::Cancel, RetryPolicy::Never)
        .retry_policy(Api::InquiryPayment, policy)
        .build()
        .unwrap();
    assert!(client.execute(&cancel()).await.unwrap().is_unknown());
    assert_eq!(stub.requests().len(), 1);

    let inquiry = ams_protocol::InquiryPaymentRequest::by_payment_request_id("PAY_1");
    assert!(client.execute(&inquiry).await.unwrap().is_unknown());
    // At 0, 1, 2 and 3 s.
    assert_eq!(stub.requests().len(), 5);
    assert_eq!(clock.sleeps(), [Duration::from_secs(1); 3]);
}
