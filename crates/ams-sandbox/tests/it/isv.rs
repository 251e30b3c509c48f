//! ISV agent tokens (digest §9.9): a merchant authorises the ISV, the sandbox issues a token and
//! sends the ISV authorization notification, signed and retried like every notification; with
//! `require_agent_token` every call of the ISV must carry the latest token a merchant issued it.

use std::time::Duration;

use ams_protocol::{Api, ExtraNotification};
use ams_sandbox::{ClockUpdate, DeliveryState, MerchantSettings, NotificationKind};
use serde_json::json;

use crate::support::*;

/// Consult with `agent_token` as the `agent-token` header (or none); the answer is checked signed.
async fn consult(client: &TestClient, agent_token: Option<&str>) -> Answer {
    let path = client.path(Api::Consult);
    let body = consult_body("isv-state", "https://merchant.example/back").to_string();
    let mut headers = client.signed_headers(&path, &body, ams_signing::KeyVersion::DEFAULT);
    if let Some(token) = agent_token {
        headers.push(("agent-token".to_owned(), token.to_owned()));
    }
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let answer = client
        .send(&path, &body, &headers)
        .await
        .expect("the sandbox answers");
    client.assert_signed(&path, &answer);
    answer
}

#[tokio::test]
async fn the_isv_authorization_notification_is_signed_and_carries_a_new_token() {
    let sandbox = sandbox_with_user(ALICE).await;
    let now = sandbox
        .update_clock(&ClockUpdate {
            frozen: Some(true),
            ..ClockUpdate::default()
        })
        .expect("frozen")
        .unix_ms;
    let isv = MerchantEndpoint::start().await;
    // Not acknowledged at first: sent again, as every other kind.
    isv.refuse_next(2);
    let token = sandbox
        .authorize_isv(CLIENT_ID, "SANDBOX_AUTH_MERCHANT", &isv.url("/isv/notify"))
        .expect("authorised");
    assert_eq!(token.len(), 48, "the Dashboard's length");
    assert!(token.bytes().all(|b| b.is_ascii_alphanumeric()), "{token}");

    let received = isv.wait_for(1).await;
    let first = &received[0];
    assert_eq!(first.path, "/isv/notify");
    assert_notification_signed(sandbox.alipay_public_key(), first);
    assert_eq!(
        first.headers.get("client-id").and_then(|v| v.to_str().ok()),
        Some(CLIENT_ID)
    );
    let Some(ExtraNotification::IsvAuthorization(parsed)) =
        ExtraNotification::from_json(first.body.as_bytes()).expect("parses")
    else {
        panic!("not an ISV authorization: {}", first.body);
    };
    assert_eq!(parsed.access_token.expose_secret(), token);
    assert_eq!(parsed.client_id.as_deref(), Some(CLIENT_ID));
    assert_eq!(
        parsed.auth_client_id.as_deref(),
        Some("SANDBOX_AUTH_MERCHANT")
    );
    assert_eq!(parsed.auth_time_millis(), Some(now));
    assert!(parsed.customer_id.is_some());

    // Refused twice (the first attempt and the immediate retry): due again on Alipay's schedule.
    let log = sandbox
        .wait_for_notifications(Duration::from_secs(10), |log| log[0].attempts.len() == 2)
        .await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].notification, NotificationKind::IsvAuthorization);
    assert_eq!(log[0].request_id, "SANDBOX_AUTH_MERCHANT");
    assert_eq!(log[0].state, DeliveryState::Pending);
    assert_eq!(log[0].next_attempt_ms, Some(now + 2 * 60_000));
    sandbox.advance_clock_ms(2 * 60_000);
    let received = isv.wait_for(3).await;
    assert_eq!(received[2].body, first.body, "the same notification again");
    assert_notification_signed(sandbox.alipay_public_key(), &received[2]);
    let log = sandbox
        .wait_for_notifications(Duration::from_secs(10), |log| {
            log[0].state == DeliveryState::Delivered
        })
        .await;
    assert_eq!(log[0].state, DeliveryState::Delivered);

    // Over the control API too; a second authorisation gives another token.
    let control = Control::new(&sandbox);
    let (status, body) = control
        .post(
            "/sandbox/isv/authorize",
            &json!({ "client_id": CLIENT_ID, "auth_client_id": "SANDBOX_AUTH_MERCHANT", "notify_url": isv.url("/isv/notify") }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let second = body["agent_token"].as_str().expect("agent_token");
    assert_eq!(second.len(), 48);
    assert_ne!(second, token);
    let (status, body) = control
        .post(
            "/sandbox/isv/authorize",
            &json!({ "client_id": "NOBODY", "auth_client_id": "A", "notify_url": isv.url("/isv/notify") }),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("NOBODY"), "{body}");
    assert!(
        sandbox
            .authorize_isv(CLIENT_ID, "A", "ftp://isv.example")
            .is_err()
    );
}

#[tokio::test]
async fn a_required_agent_token_must_be_the_latest_issued() {
    let sandbox = sandbox_with_user(ALICE).await;
    let client = TestClient::new(&sandbox);
    let isv = MerchantEndpoint::start().await;
    // Off by default: no header needed.
    let answer = consult(&client, None).await;
    assert_eq!(answer.result_status(), "S", "{}", answer.body);

    sandbox
        .set_merchant_settings(
            CLIENT_ID,
            MerchantSettings {
                require_agent_token: true,
                ..MerchantSettings::default()
            },
        )
        .expect("settings");
    let denied = |answer: &Answer| {
        assert_eq!(
            (answer.result_code(), answer.result_status()),
            ("ACCESS_DENIED", "F"),
            "{}",
            answer.body
        );
    };
    denied(&consult(&client, None).await);
    denied(&consult(&client, Some(&"x".repeat(48))).await);

    let first = sandbox
        .authorize_isv(CLIENT_ID, "SANDBOX_AUTH_A", &isv.url("/isv"))
        .expect("authorised");
    let answer = consult(&client, Some(&first)).await;
    assert_eq!(answer.result_status(), "S", "{}", answer.body);

    // The same merchant authorises again: the first token is superseded.
    let second = sandbox
        .authorize_isv(CLIENT_ID, "SANDBOX_AUTH_A", &isv.url("/isv"))
        .expect("authorised");
    denied(&consult(&client, Some(&first)).await);
    let answer = consult(&client, Some(&second)).await;
    assert_eq!(answer.result_status(), "S", "{}", answer.body);

    // Another merchant's authorisation supersedes nothing of the first merchant's.
    let other = sandbox
        .authorize_isv(CLIENT_ID, "SANDBOX_AUTH_B", &isv.url("/isv"))
        .expect("authorised");
    for token in [&second, &other] {
        let answer = consult(&client, Some(token)).await;
        assert_eq!(answer.result_status(), "S", "{}", answer.body);
    }
    // A refused call changed nothing: nothing was recorded for it.
    assert_eq!(isv.wait_for(3).await.len(), 3);
}
