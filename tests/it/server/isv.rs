//! The ISV's agent tokens over the server and the sandbox: a merchant authorises the ISV, Alipay
//! sends the token to `POST /alipay/isv/notify`, the server keeps it and its next call sends it (a
//! sandbox that requires the latest token refuses the calls made without it); an authorisation
//! naming no configured merchant is not acknowledged; a forged notification stores nothing.

use std::time::Duration;

use ams_protocol::notify::{ACK_FAILURE_BODY, ACK_SUCCESS_BODY};
use ams_sandbox::{DeliveryState, NotificationRecord};
use ams_signing::{Backend, GeneratedKeyPair, KeyVersion, SignedContent};

use super::{GATEWAY_CLIENT_ID, Srv, server_test};

const SHOP: &str = "SANDBOX_AUTH_SHOP";

/// The ISV authorization notifications naming `auth_client_id`, once `done` holds for them.
async fn isv_notifications(
    s: &Srv,
    auth_client_id: &str,
    done: impl Fn(&[&NotificationRecord]) -> bool,
) -> Vec<NotificationRecord> {
    let mine = |log: &[NotificationRecord]| -> Vec<NotificationRecord> {
        log.iter()
            .filter(|r| r.request_id == auth_client_id)
            .cloned()
            .collect()
    };
    let log = s
        .sandbox()
        .wait_for_notifications(Duration::from_secs(10), |log| {
            done(
                &log.iter()
                    .filter(|r| r.request_id == auth_client_id)
                    .collect::<Vec<_>>(),
            )
        })
        .await;
    mine(&log)
}

async fn stored_token(s: &Srv) -> Option<String> {
    s.store()
        .agent_token()
        .await
        .expect("read")
        .map(|r| r.token.expose_secret().to_owned())
}

server_test! {
    async fn the_isv_authorization_notification_brings_the_token_the_next_calls_send(db) {
        let s = Srv::gateway_with(&db, |c| {
            c.merchants.get_mut("default").expect("default").auth_client_id = Some(SHOP.into());
        })
        .await;
        let auth = s.bind().await;
        // From now on the sandbox requires the latest token issued to the ISV.
        let sandbox = s.sandbox();
        let mut settings = sandbox.merchant(GATEWAY_CLIENT_ID).expect("merchant").settings;
        settings.require_agent_token = true;
        sandbox.set_merchant_settings(GATEWAY_CLIENT_ID, settings).expect("settings");

        let refused = s.charge(&auth, "isv-0", 1_000).await;
        assert_eq!(refused.str("status"), "failed", "{}", refused.body);
        assert!(refused.text.contains("ACCESS_DENIED"), "{}", refused.body);
        assert_eq!(refused.body["failure"]["code"], "ACCESS_DENIED", "{}", refused.body);
        let prid = refused.body["attempts"][0]["payment_request_id"].as_str().expect("attempt");
        assert_eq!(s.ledger(prid), (0, 0), "nothing debited");

        let url = format!("{}/alipay/isv/notify", s.url());
        let first = sandbox.authorize_isv(GATEWAY_CLIENT_ID, SHOP, &url).expect("authorised");
        let log = isv_notifications(&s, SHOP, |r| r.len() == 1 && r[0].state == DeliveryState::Delivered).await;
        assert_eq!(log[0].state, DeliveryState::Delivered, "acknowledged: {log:?}");
        assert_eq!(stored_token(&s).await.as_deref(), Some(first.as_str()));
        let paid = s.charge(&auth, "isv-1", 1_000).await;
        assert_eq!(paid.str("status"), "succeeded", "{}", paid.body);

        // The merchant authorises again: the first token is superseded, the next call sends the new one.
        let second = sandbox.authorize_isv(GATEWAY_CLIENT_ID, SHOP, &url).expect("authorised");
        isv_notifications(&s, SHOP, |r| r.len() == 2 && r[1].state == DeliveryState::Delivered).await;
        assert_eq!(stored_token(&s).await.as_deref(), Some(second.as_str()));
        let paid = s.charge(&auth, "isv-2", 1_000).await;
        assert_eq!(paid.str("status"), "succeeded", "{}", paid.body);
        assert!(!paid.text.contains(&second) && !paid.text.contains(&first), "never echoed");

        // A merchant no configuration names: not acknowledged (Alipay sends it again), nothing kept.
        sandbox.authorize_isv(GATEWAY_CLIENT_ID, "SANDBOX_AUTH_NOBODY", &url).expect("authorised");
        let log = isv_notifications(&s, "SANDBOX_AUTH_NOBODY", |r| r.len() == 1 && r[0].attempts.len() == 2).await;
        assert_eq!(log[0].state, DeliveryState::Pending, "{log:?}");
        assert!(log[0].attempts.iter().all(|a| !a.acknowledged), "{log:?}");
        assert_eq!(stored_token(&s).await.as_deref(), Some(second.as_str()));
    }
}

server_test! {
    async fn a_forged_isv_authorization_is_refused_and_stores_nothing(db) {
        let s = Srv::gateway_with(&db, |c| {
            c.merchants.get_mut("default").expect("default").auth_client_id = Some(SHOP.into());
        })
        .await;
        let body = format!(
            r#"{{"clientId":"{GATEWAY_CLIENT_ID}","authClientId":"{SHOP}","authTime":"{}","accessToken":"{}","accessTokenExpiryTime":"","customerId":"2188000000000000"}}"#,
            s.now_ms(),
            "F".repeat(48)
        );
        let send = |key: &ams_signing::PrivateKey| {
            let time = s.now_ms().to_string();
            let signature = key
                .sign(
                    &SignedContent::notification("/alipay/isv/notify", GATEWAY_CLIENT_ID, &time, body.as_bytes()),
                    KeyVersion::DEFAULT,
                )
                .expect("signs")
                .to_string();
            (time, signature)
        };
        // Signed, but not with Alipay's key.
        let forger = GeneratedKeyPair::generate(Backend::default(), 2048).expect("key");
        let (time, signature) = send(forger.private_key());
        let headers = [
            ("content-type", "application/json; charset=UTF-8"),
            ("client-id", GATEWAY_CLIENT_ID),
            ("request-time", time.as_str()),
            ("signature", signature.as_str()),
        ];
        let forged = s.raw(reqwest::Method::POST, "/alipay/isv/notify", &headers, body.clone()).await;
        assert_eq!((forged.status, forged.text.as_str()), (401, ACK_FAILURE_BODY));
        assert!(!forged.text.contains(&"F".repeat(48)));
        assert_eq!(stored_token(&s).await, None, "nothing stored");

        // The same bytes signed with Alipay's key are believed.
        let alipay = ams_signing::PrivateKey::from_text(&s.external.as_ref().expect("gateway mode").alipay_private_pem).expect("key");
        let (time, signature) = send(&alipay);
        let headers = [
            ("content-type", "application/json; charset=UTF-8"),
            ("client-id", GATEWAY_CLIENT_ID),
            ("request-time", time.as_str()),
            ("signature", signature.as_str()),
        ];
        let genuine = s.raw(reqwest::Method::POST, "/alipay/isv/notify", &headers, body.clone()).await;
        assert_eq!((genuine.status, genuine.text.as_str()), (200, ACK_SUCCESS_BODY));
        assert_eq!(stored_token(&s).await, Some("F".repeat(48)));
    }
}
