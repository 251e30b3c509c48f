//! Notifications: where they go (the request's URL, else the dashboard's, else nowhere), how they
//! are signed, Alipay's retry schedule on the sandbox clock until the exact acknowledgement (or
//! GaveUp), and the notification faults: skip, duplicate, delay and reorder.

use ams_protocol::Api;
use ams_sandbox::{
    ALIPAY_RETRY_INTERVALS_MS, DeliveryState, NotificationFaultAction, NotificationFaultRule,
    NotificationKind, NotificationRecord,
};
use serde_json::json;

use crate::support::*;

async fn with_merchant() -> (Fixture, MerchantEndpoint) {
    let merchant = MerchantEndpoint::start().await;
    let fx = Fixture::new().await;
    fx.sandbox
        .set_merchant_settings(CLIENT_ID, merchant.settings())
        .expect("merchant");
    (fx, merchant)
}

fn record<'a>(log: &'a [NotificationRecord], request_id: &str) -> &'a NotificationRecord {
    log.iter()
        .find(|n| n.request_id == request_id)
        .unwrap_or_else(|| panic!("no notification about {request_id}: {log:#?}"))
}

fn request_ids(received: &[Received]) -> Vec<String> {
    received
        .iter()
        .map(|r| {
            let j = r.json();
            j["paymentRequestId"]
                .as_str()
                .or_else(|| j["refundRequestId"].as_str())
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn notifications_go_to_the_requests_url_else_the_dashboards_and_are_signed() {
    let (fx, merchant) = with_merchant().await;
    let mut with_url = pay_body("n-req", &usd(1_000), &fx.access);
    with_url["paymentNotifyUrl"] = json!(merchant.url("/from-request/pay"));
    let paid = fx.client.call(Api::Pay, &with_url).await.str("paymentId");
    merchant.wait_for(1).await;
    fx.pay("n-dash", 1_000).await;
    merchant.wait_for(2).await;
    let mut refund = refund_body("n-refund-req", &paid, &usd(100));
    refund["refundNotifyUrl"] = json!(merchant.url("/from-request/refund"));
    assert_eq!(
        fx.client.call(Api::Refund, &refund).await.result_code(),
        "SUCCESS"
    );
    merchant.wait_for(3).await;
    let refund = refund_body("n-refund-dash", &paid, &usd(100));
    assert_eq!(
        fx.client.call(Api::Refund, &refund).await.result_code(),
        "SUCCESS"
    );
    let got = merchant.wait_for(4).await;

    let paths: Vec<&str> = got.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/from-request/pay",
            "/notify/payment",
            "/from-request/refund",
            "/notify/refund"
        ]
    );
    for received in &got {
        assert_notification_signed(fx.sandbox.alipay_public_key(), received);
        let header = |name: &str| {
            received
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(header("client-id"), CLIENT_ID);
        assert!(header("content-type").starts_with("application/json"));
        assert!(header("signature").starts_with("algorithm=RSA256,keyVersion=1,signature="));
    }
    let pay = got[0].json();
    assert_eq!(pay["notifyType"], "PAYMENT_RESULT");
    assert_eq!(pay["paymentRequestId"], "n-req");
    assert_eq!(pay["paymentId"], paid.as_str());
    assert_eq!(pay["result"]["resultCode"], "SUCCESS");
    assert!(pay["paymentCreateTime"].is_string());
    let refund = got[2].json();
    assert_eq!(refund["notifyType"], "REFUND_RESULT");
    assert_eq!(refund["refundStatus"], "SUCCESS");
    assert_eq!(refund["refundRequestId"], "n-refund-req");
    assert_eq!(refund["refundAmount"]["value"], "100");
    // A failed payment is notified too, with its code.
    fx.pay("n-fail", 1_000_000).await;
    let got = merchant.wait_for(5).await;
    assert_eq!(
        got[4].json()["result"]["resultCode"],
        "USER_BALANCE_NOT_ENOUGH"
    );
    assert_eq!(got[4].json()["result"]["resultStatus"], "F");
}

#[tokio::test]
async fn without_any_notify_url_nothing_is_sent() {
    let fx = Fixture::new().await;
    let paid = fx.pay("silent", 1_000).await.str("paymentId");
    let refund = refund_body("silent-refund", &paid, &usd(100));
    assert_eq!(
        fx.client.call(Api::Refund, &refund).await.result_code(),
        "SUCCESS"
    );
    assert!(
        fx.sandbox.notifications().is_empty(),
        "{:?}",
        fx.sandbox.notifications()
    );
}

/// Waits until the notification about `request_id` has made `n` attempts and has settled (its next
/// attempt is in the future, or it is final), so the clock can be moved safely.
async fn settled(fx: &Fixture, request_id: &str, n: usize) -> NotificationRecord {
    let now = fx.sandbox.clock().now_ms();
    let log = wait_log(
        &fx.sandbox,
        &format!("{n} attempts of {request_id}"),
        |log| {
            log.iter().any(|r| {
                r.request_id == request_id
                    && r.attempts.len() >= n
                    && (r.state != DeliveryState::Pending
                        || r.next_attempt_ms.is_some_and(|t| t > now))
            })
        },
    )
    .await;
    record(&log, request_id).clone()
}

#[tokio::test]
async fn an_unacknowledged_notification_follows_alipays_schedule_then_gives_up() {
    let (fx, merchant) = with_merchant().await;
    merchant.refuse_next(u32::MAX);
    let t0 = freeze_at(&fx.sandbox, "2024-06-01T12:00:00+08:00");
    fx.pay("sched", 1_000).await;

    // The first attempt, then one retry per interval: 0 s, 2 min, 10 min, 10 min, 1 h, 2 h, 6 h, 15 h.
    let (minute, hour) = (60_000, 3_600_000);
    let schedule = [
        0,
        2 * minute,
        10 * minute,
        10 * minute,
        hour,
        2 * hour,
        6 * hour,
        15 * hour,
    ];
    assert_eq!(ALIPAY_RETRY_INTERVALS_MS, schedule);
    let mut expected = vec![t0];
    for interval in schedule {
        expected.push(expected[expected.len() - 1] + interval);
    }
    assert_eq!(expected.len(), 9);
    for (i, &when) in expected.iter().enumerate() {
        let now = fx.sandbox.clock().now_ms();
        fx.sandbox.advance_clock_ms(when - now);
        settled(&fx, "sched", i + 1).await;
    }
    let r = settled(&fx, "sched", 9).await;
    let times: Vec<i64> = r.attempts.iter().map(|a| a.at_ms).collect();
    assert_eq!(times, expected);
    assert_eq!(r.state, DeliveryState::GaveUp);
    assert_eq!(r.next_attempt_ms, None);
    assert!(
        r.attempts
            .iter()
            .all(|a| !a.acknowledged && a.http_status == Some(200))
    );

    // The merchant saw nine identical, signed copies, each stamped with its attempt time.
    let got = merchant.received();
    assert_eq!(got.len(), 9);
    for (received, &when) in got.iter().zip(&expected) {
        assert_notification_signed(fx.sandbox.alipay_public_key(), received);
        assert_eq!(received.body, got[0].body);
        assert_eq!(
            received
                .headers
                .get("request-time")
                .and_then(|v| v.to_str().ok()),
            Some(ams(when).as_str())
        );
    }
    // Nothing more, however long we wait on the sandbox clock.
    fx.sandbox.advance_clock_ms(7 * 24 * 3_600_000);
    fx.pay("sched-after", 100).await;
    settled(&fx, "sched-after", 1).await;
    assert_eq!(
        record(&fx.sandbox.notifications(), "sched").attempts.len(),
        9
    );
}

#[tokio::test]
async fn the_acknowledgement_on_the_third_attempt_stops_the_retries() {
    let (fx, merchant) = with_merchant().await;
    merchant.refuse_next(2);
    let t0 = freeze_at(&fx.sandbox, "2024-06-01T12:00:00+08:00");
    fx.pay("third", 1_000).await;
    let r = settled(&fx, "third", 2).await;
    assert_eq!(r.next_attempt_ms, Some(t0 + 2 * 60_000));
    fx.sandbox.advance_clock_ms(2 * 60_000);
    let r = settled(&fx, "third", 3).await;
    assert_eq!(r.state, DeliveryState::Delivered);
    let acks: Vec<bool> = r.attempts.iter().map(|a| a.acknowledged).collect();
    assert_eq!(acks, [false, false, true]);
    // Later, nothing more is sent for it.
    fx.sandbox.advance_clock_ms(24 * 3_600_000);
    fx.pay("third-after", 100).await;
    settled(&fx, "third-after", 1).await;
    assert_eq!(
        record(&fx.sandbox.notifications(), "third").attempts.len(),
        3
    );
    assert_eq!(
        request_ids(&merchant.received()),
        ["third", "third", "third", "third-after"]
    );
}

#[tokio::test]
async fn a_zero_schedule_factor_runs_every_retry_at_once() {
    let merchant = MerchantEndpoint::start().await;
    let fx = Fixture::start(builder().notify_schedule_factor(0.0)).await;
    fx.sandbox
        .set_merchant_settings(CLIENT_ID, merchant.settings())
        .expect("merchant");
    merchant.refuse_next(u32::MAX);
    fx.pay("fast", 1_000).await;
    let log = wait_log(&fx.sandbox, "give up", |log| {
        log.iter().any(|r| r.state == DeliveryState::GaveUp)
    })
    .await;
    assert_eq!(record(&log, "fast").attempts.len(), 9);
    assert_eq!(merchant.received().len(), 9);
}

#[tokio::test]
async fn a_skip_fault_never_sends_the_notification() {
    let (fx, merchant) = with_merchant().await;
    fx.sandbox.add_notification_fault(
        NotificationFaultRule::new(
            Some(NotificationKind::Payment),
            NotificationFaultAction::Skip,
        )
        .for_request("skipped"),
    );
    // The rule matches neither a refund nor another payment.
    let paid = fx.pay("not-skipped", 1_000).await.str("paymentId");
    fx.client
        .call(Api::Refund, &refund_body("skipped", &paid, &usd(100)))
        .await;
    fx.pay("skipped", 1_000).await;
    fx.pay("after-skipped", 1_000).await;
    let got = merchant.wait_for(3).await;
    assert_eq!(
        request_ids(&got),
        ["not-skipped", "skipped", "after-skipped"]
    );
    assert_eq!(got[1].path, "/notify/refund");
    let log = fx.sandbox.notifications();
    let skipped = log
        .iter()
        .find(|r| r.request_id == "skipped" && r.notification == NotificationKind::Payment)
        .expect("the skipped notification is logged");
    assert_eq!(skipped.state, DeliveryState::Skipped);
    assert!(skipped.attempts.is_empty());
    assert_eq!(skipped.next_attempt_ms, None);
}

#[tokio::test]
async fn a_duplicate_fault_delivers_the_notification_twice() {
    let (fx, merchant) = with_merchant().await;
    // Through the control API this time.
    let (status, _) = Control::new(&fx.sandbox)
        .post(
            "/sandbox/notification-faults",
            &json!({ "notification": "payment", "action": { "kind": "duplicate" } }),
        )
        .await;
    assert_eq!(status, 201);
    fx.pay("twice", 1_000).await;
    fx.pay("once", 1_000).await;
    let got = merchant.wait_for(3).await;
    assert_eq!(request_ids(&got), ["twice", "twice", "once"]);
    assert_eq!(got[0].body, got[1].body);
    let log = wait_log(&fx.sandbox, "delivered", |log| {
        log.iter().all(|r| r.state == DeliveryState::Delivered)
    })
    .await;
    assert_eq!(record(&log, "twice").attempts.len(), 2);
    assert_eq!(record(&log, "once").attempts.len(), 1);
}

#[tokio::test]
async fn a_delay_fault_holds_the_first_attempt_for_sandbox_time() {
    let (fx, merchant) = with_merchant().await;
    let t0 = freeze_at(&fx.sandbox, "2024-06-01T12:00:00+08:00");
    fx.sandbox.add_notification_fault(
        NotificationFaultRule::new(None, NotificationFaultAction::Delay { ms: 5_000 })
            .for_request("late"),
    );
    fx.pay("late", 1_000).await;
    let held = record(&fx.sandbox.notifications(), "late").clone();
    assert_eq!(
        (held.state, held.next_attempt_ms),
        (DeliveryState::Pending, Some(t0 + 5_000))
    );

    // 1 ms short: a later notification goes out, the delayed one does not.
    fx.sandbox.advance_clock_ms(4_999);
    fx.pay("prompt", 1_000).await;
    assert_eq!(request_ids(&merchant.wait_for(1).await), ["prompt"]);
    assert!(
        record(&fx.sandbox.notifications(), "late")
            .attempts
            .is_empty()
    );

    fx.sandbox.advance_clock_ms(1);
    let got = merchant.wait_for(2).await;
    assert_eq!(request_ids(&got), ["prompt", "late"]);
    let r = settled(&fx, "late", 1).await;
    assert_eq!(r.attempts[0].at_ms, t0 + 5_000);
    assert_eq!(r.state, DeliveryState::Delivered);
}

#[tokio::test]
async fn a_reorder_fault_sends_the_notification_after_the_next_one() {
    let (fx, merchant) = with_merchant().await;
    freeze_at(&fx.sandbox, "2024-06-01T12:00:00+08:00");
    fx.sandbox.add_notification_fault(
        NotificationFaultRule::new(
            Some(NotificationKind::Payment),
            NotificationFaultAction::Reorder,
        )
        .for_request("first"),
    );
    fx.pay("first", 1_000).await;
    assert_eq!(
        record(&fx.sandbox.notifications(), "first").state,
        DeliveryState::Held
    );
    fx.pay("second", 1_000).await;
    let got = merchant.wait_for(2).await;
    assert_eq!(request_ids(&got), ["second", "first"]);
    let log = wait_log(&fx.sandbox, "both delivered", |log| {
        log.len() == 2 && log.iter().all(|r| r.state == DeliveryState::Delivered)
    })
    .await;
    assert!(record(&log, "first").attempts[0].at_ms >= record(&log, "second").attempts[0].at_ms);
}

/// A merchant endpoint that takes the connection and never answers holds back only its own
/// notifications: another URL's arrive meanwhile.
#[tokio::test]
async fn an_endpoint_that_hangs_holds_back_no_other() {
    let (fx, merchant) = with_merchant().await;
    let hanging = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let hanging_url = format!("http://{}/hangs", hanging.local_addr().expect("addr"));
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = held.clone();
    let _acceptor = tokio::spawn(async move {
        while let Ok((stream, _)) = hanging.accept().await {
            // Read nothing, answer nothing: the connection stays open.
            keep.lock().expect("lock").push(stream);
        }
    });
    let mut body = pay_body("hang-pay", &usd(1_000), &fx.access);
    body["paymentNotifyUrl"] = json!(hanging_url);
    assert_eq!(
        fx.client.call(Api::Pay, &body).await.result_code(),
        "SUCCESS"
    );
    // The hanging endpoint has its notification's connection; then a payment to the dashboard URL.
    for _ in 0..400 {
        if !held.lock().expect("lock").is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(
        held.lock().expect("lock").len(),
        1,
        "the hanging endpoint was called"
    );
    fx.pay("hang-other", 500).await;
    // Arrives while the first is still waiting for its answer (the notify timeout is 10 s).
    let got = merchant.wait_for(1).await;
    assert_eq!(request_ids(&got), ["hang-other"]);
    let log = fx.sandbox.notifications();
    assert!(
        record(&log, "hang-pay").attempts.is_empty(),
        "still under way: {log:#?}"
    );
}

/// Alipay's own sandbox does not send a notification again (digest §4): with `no_resend`, one try
/// and no more.
#[tokio::test]
async fn with_no_resend_an_unacknowledged_notification_is_tried_once() {
    let (fx, merchant) = with_merchant().await;
    let mut settings = fx.sandbox.settings();
    settings.no_resend = true;
    fx.sandbox.set_settings(settings);
    merchant.refuse_next(1);
    fx.pay("once", 1_000).await;
    merchant.wait_for(1).await;
    let mut log = fx.sandbox.notifications();
    for _ in 0..400 {
        if record(&log, "once").state == DeliveryState::GaveUp {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        log = fx.sandbox.notifications();
    }
    let once = record(&log, "once");
    assert_eq!(
        (once.state, once.attempts.len(), once.next_attempt_ms),
        (DeliveryState::GaveUp, 1, None)
    );
    fx.sandbox.advance_clock_ms(3_600_000);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(merchant.received().len(), 1, "not sent again");
}
