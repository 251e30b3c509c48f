//! Notifications from the sandbox to a merchant endpoint in the test (a raw TCP stub): verified with
//! the client's `NotificationVerifier` over the path they arrived on, parsed, and acknowledged; the
//! sandbox's log then shows them delivered.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ams_client::{ACK_CONTENT_TYPE, ACK_SUCCESS_BODY, NotificationError, VerifiedNotification};
use ams_protocol::{Notification, PaymentNotifyType, RefundRequest, RefundStatus};
use ams_sandbox::{DeliveryState, NotificationKind, NotificationRecord};
use http::{HeaderMap, HeaderName, HeaderValue};

use super::*;

fn header_map(request: &Recorded) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in &request.headers {
        headers.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    headers
}

/// What the merchant endpoint made of each notification: the path, and the verdict.
type Seen = Arc<Mutex<Vec<(String, Result<VerifiedNotification, String>)>>>;

#[tokio::test]
async fn payment_and_refund_notifications_verify_parse_and_are_acknowledged() {
    let f = Fixture::start().await;

    // The merchant's endpoint: verify over the exact path and bytes, then ack (or refuse).
    let seen: Seen = Arc::default();
    let verifier = f.client.notification_verifier();
    let log = Arc::clone(&seen);
    let endpoint = Stub::start(move |_, request| {
        let verdict = verifier
            .verify(request.path(), &header_map(request), &request.body)
            .map_err(|e| format!("{e:?}"));
        let reply = match &verdict {
            Ok(verified) => Reply::Http {
                status: 200,
                headers: vec![("content-type".into(), ACK_CONTENT_TYPE.into())],
                body: verified.ack_body().as_bytes().to_vec(),
            },
            Err(_) => Reply::Http {
                status: 400,
                headers: Vec::new(),
                body: b"refused".to_vec(),
            },
        };
        log.lock()
            .unwrap()
            .push((request.path().to_owned(), verdict));
        reply
    })
    .await;

    let token = f.alice_token().await;
    let request = pay("PAY_N_1", usd(2_000), &token)
        .with_payment_notify_url(format!("{}/notify/payment", endpoint.url()));
    let paid = f.pay(&request).await.unwrap().into_response();
    let payment_id = paid.payment_id.expect("paymentId");
    let refund = RefundRequest::new("REFUND_N_1", payment_id.clone(), usd(500))
        .with_refund_notify_url(format!("{}/notify/refund", endpoint.url()));
    assert!(f.client.execute(&refund).await.unwrap().is_success());

    let delivered = |log: &[NotificationRecord]| {
        log.len() == 2 && log.iter().all(|n| n.state == DeliveryState::Delivered)
    };
    let log = f
        .sandbox
        .wait_for_notifications(Duration::from_secs(10), delivered)
        .await;
    assert!(delivered(&log), "{log:#?}");
    assert_eq!(
        log.iter().map(|n| n.notification).collect::<Vec<_>>(),
        [NotificationKind::Payment, NotificationKind::Refund]
    );
    for record in &log {
        assert_eq!(record.attempts.len(), 1, "{record:?}");
        assert_eq!(record.attempts[0].http_status, Some(200));
        assert!(record.attempts[0].acknowledged);
    }

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    let (path, verdict) = &seen[0];
    assert_eq!(path, "/notify/payment");
    let verified = verdict.as_ref().expect("the payment notification verifies");
    assert_eq!(verified.request_time_millis(), T0);
    assert_eq!(verified.key_version(), KeyVersion::DEFAULT);
    let Notification::Payment(payment) = verified.notification() else {
        panic!("expected notifyPayment, got {verified:?}")
    };
    assert_eq!(payment.notify_type, PaymentNotifyType::PaymentResult);
    assert!(payment.result.is_success());
    assert_eq!(payment.payment_request_id.as_str(), "PAY_N_1");
    assert_eq!(payment.payment_id, payment_id);
    assert_eq!(payment.payment_amount, usd(2_000));
    assert_eq!(verified.ack_body(), ACK_SUCCESS_BODY);

    let (path, verdict) = &seen[1];
    assert_eq!(path, "/notify/refund");
    let verified = verdict.as_ref().expect("the refund notification verifies");
    let Notification::Refund(refunded) = verified.notification() else {
        panic!("expected notifyRefund, got {verified:?}")
    };
    assert_eq!(refunded.refund_status, RefundStatus::Success);
    assert_eq!(refunded.refund_request_id.as_str(), "REFUND_N_1");
    assert_eq!(refunded.refund_amount, usd(500));
}

#[tokio::test]
async fn a_notification_checked_over_another_path_or_late_is_refused() {
    let f = Fixture::start().await;
    let captured: Arc<Mutex<Vec<Recorded>>> = Arc::default();
    let keep = Arc::clone(&captured);
    let endpoint = Stub::start(move |_, request| {
        keep.lock().unwrap().push(request.clone());
        Reply::Http {
            status: 200,
            headers: Vec::new(),
            body: ACK_SUCCESS_BODY.as_bytes().to_vec(),
        }
    })
    .await;
    let token = f.alice_token().await;
    let request = pay("PAY_N_2", usd(100), &token)
        .with_payment_notify_url(format!("{}/notify/payment", endpoint.url()));
    assert!(f.pay(&request).await.unwrap().is_success());
    f.sandbox
        .wait_for_notifications(Duration::from_secs(10), |log| {
            log.iter().any(|n| n.state == DeliveryState::Delivered)
        })
        .await;
    let received = captured.lock().unwrap()[0].clone();
    let headers = header_map(&received);
    let verifier = f.client.notification_verifier();
    assert!(
        verifier
            .verify(received.path(), &headers, &received.body)
            .is_ok()
    );

    // Signed over the path Alipay called: any other path fails closed.
    let elsewhere = verifier
        .verify("/notify/other", &headers, &received.body)
        .unwrap_err();
    assert!(
        matches!(elsewhere, NotificationError::Verification(_)),
        "{elsewhere:?}"
    );
    // Authentic but outside the 5-minute window of our clock: stale, re-inquire instead.
    f.clock.advance(Duration::from_secs(6 * 60));
    let late = verifier
        .verify(received.path(), &headers, &received.body)
        .unwrap_err();
    let NotificationError::OutsideSkewWindow(stale) = late else {
        panic!("expected a stale notification, got {late:?}")
    };
    assert!(stale.notification.is_some());
}
