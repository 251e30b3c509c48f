//! Alipay's notifications to the server: duplicated ones are applied once, reordered ones each
//! settle their own payment, dropped ones are made up for by inquiry, late ones change nothing, a
//! success notified before the `pay` answer comes back settles the payment once; and what is not
//! Alipay's (an unsigned, mis-signed, tampered, misrouted or stale notification POSTed straight to
//! the server) gets no acknowledgement (401), is not stored, and changes nothing, except that a
//! stale one, genuinely signed, makes the server inquire at once.

use std::time::Duration;

use ams_protocol::Api;
use ams_protocol::notify::{ACK_FAILURE_BODY, ACK_SUCCESS_BODY};
use ams_sandbox::{
    DeliveryState, FaultAction, FaultRule, NotificationFaultAction, NotificationFaultRule,
    NotificationKind, NotificationRecord,
};
use ams_signing::{Backend, GeneratedKeyPair, KeyVersion, PrivateKey, SignedContent, Signer};
use serde_json::{Value, json};

use super::{DEMO_USER, GATEWAY_CLIENT_ID, Srv, prid, server_test};

fn payment_notifications(s: &Srv, prid: &str) -> Vec<NotificationRecord> {
    s.sandbox()
        .notifications()
        .into_iter()
        .filter(|n| n.notification == NotificationKind::Payment && n.request_id == prid)
        .collect()
}

fn succeeded(p: &Value) -> bool {
    p["status"] == "succeeded"
}

/// Inbox entries whose key names `id`.
async fn inbox_of(s: &Srv, id: &str) -> usize {
    s.store()
        .inbox()
        .await
        .unwrap()
        .iter()
        .filter(|e| e.dedup_key.contains(id))
        .count()
}

fn sign(key_pem: &str, path: &str, client_id: &str, time: &str, body: &str) -> String {
    let signer = Signer::new(PrivateKey::from_text(key_pem).unwrap(), KeyVersion::DEFAULT);
    signer
        .sign(&SignedContent::notification(
            path,
            client_id,
            time,
            body.as_bytes(),
        ))
        .unwrap()
        .to_string()
}

/// Headers as sent: `(name, value)`.
type Headers = Vec<(String, String)>;

async fn notify(
    s: &Srv,
    path: &str,
    headers: &[(String, String)],
    body: impl Into<reqwest::Body>,
) -> super::Resp {
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    s.api.raw(reqwest::Method::POST, path, &headers, body).await
}

fn ams_time(ms: i64) -> String {
    ams_protocol::AmsDateTime::from_unix_millis(ms, 8 * 60)
        .unwrap()
        .as_str()
        .to_owned()
}

server_test! {
    async fn duplicated_notifications_are_applied_once(db) {
        let s = Srv::start(&db).await;
        s.sandbox().add_notification_fault(
            NotificationFaultRule::new(None, NotificationFaultAction::Duplicate).times(None),
        );
        // The wallet's AUTHCODE_CREATED, twice; the user never comes back.
        let auth = s.start_binding("dup-bind").await;
        let auth_id = auth["id"].as_str().unwrap().to_owned();
        s.agree(auth["auth_url"].as_str().unwrap()).await;
        s.until(&format!("/v1/authorizations/{auth_id}"), |a| a["status"] == "active").await;
        // A pay whose answer is lost: the notification (twice) settles it, no clock moves.
        s.fault(FaultRule::new(Api::Pay, FaultAction::Drop));
        let res = s.charge(&auth_id, "dup-1", 1_000).await;
        let (id, prid) = (res.str("id").to_owned(), prid(&res.body, 0));
        s.until(&format!("/v1/payments/{id}"), succeeded).await;
        // A refund whose answer is lost: the same.
        s.fault(FaultRule::new(Api::Refund, FaultAction::Drop));
        let refund = s.post(&format!("/v1/payments/{id}/refunds"), "dup-re", json!({"amount": 400})).await;
        assert_eq!(refund.status, 201, "{}", refund.body);
        let refund_id = refund.str("id").to_owned();
        s.until(&format!("/v1/refunds/{refund_id}"), succeeded).await;
        let rrid = refund.str("refund_request_id").to_owned();

        let log = s.sandbox().wait_for_notifications(Duration::from_secs(5), |log| {
            log.iter().all(|n| n.state == DeliveryState::Delivered && n.attempts.len() == 2)
        }).await;
        assert!(log.len() >= 3, "{log:?}");
        for n in &log {
            assert_eq!(n.attempts.len(), 2, "sent twice: {n:?}");
            assert!(n.attempts.iter().all(|a| a.acknowledged), "both acknowledged: {n:?}");
        }
        assert_eq!(inbox_of(&s, &prid).await, 1, "applied (and stored) once");
        assert_eq!(inbox_of(&s, &rrid).await, 1);
        assert_eq!(inbox_of(&s, &auth_id).await, 1);
        assert_eq!(s.ledger(&prid), (1, 1));
        let payment = s.get(&format!("/v1/payments/{id}")).await.body;
        assert_eq!(payment["amount_refunded"], 400);
        assert!(!payment["needs_attention"].as_bool().unwrap(), "{payment}");
        s.settle().await;
    }
}

server_test! {
    async fn reordered_notifications_each_settle_their_own_payment(db) {
        let s = Srv::start(&db).await;
        let auth = s.bind().await;
        // The first payment's notification is held until the next one has been sent.
        s.sandbox().add_notification_fault(NotificationFaultRule::new(
            Some(NotificationKind::Payment),
            NotificationFaultAction::Reorder,
        ));
        s.fault(FaultRule::new(Api::Pay, FaultAction::Drop).times(Some(2)));
        let first = s.charge(&auth, "reorder-1", 100).await;
        assert_eq!(first.str("status"), "processing");
        let first_prid = prid(&first.body, 0);
        assert_eq!(payment_notifications(&s, &first_prid)[0].state, DeliveryState::Held);
        let second = s.charge(&auth, "reorder-2", 200).await;
        for res in [&first, &second] {
            s.until(&format!("/v1/payments/{}", res.str("id")), succeeded).await;
        }
        let first_note = &payment_notifications(&s, &first_prid)[0];
        let second_note = &payment_notifications(&s, &prid(&second.body, 0))[0];
        assert_eq!((first_note.state, second_note.state), (DeliveryState::Delivered, DeliveryState::Delivered));
        assert!(first_note.seq < second_note.seq, "raised first, delivered second");
        assert_eq!((s.ledger(&first_prid), s.ledger(&prid(&second.body, 0))), ((1, 0), (1, 0)));
        s.settle().await;
    }
}

server_test! {
    async fn dropped_notifications_are_made_up_by_inquiry_and_late_ones_change_nothing(db) {
        let s = Srv::start(&db).await;
        let auth = s.bind().await;
        // Never notified, answer lost: only inquiries can tell.
        s.sandbox().add_notification_fault(NotificationFaultRule::new(
            Some(NotificationKind::Payment),
            NotificationFaultAction::Skip,
        ));
        s.fault(FaultRule::new(Api::Pay, FaultAction::Drop));
        let skipped = s.charge(&auth, "drop-1", 300).await;
        let path = format!("/v1/payments/{}", skipped.str("id"));
        assert_eq!(payment_notifications(&s, &prid(&skipped.body, 0))[0].state, DeliveryState::Skipped);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(s.get(&path).await.body["status"], "processing", "nothing else tells");
        let done = s.drive(&path, succeeded).await;
        assert_eq!(done["attempts"][0]["status"], "succeeded");

        // Notified a minute late: the inquiry settles it first; the notification, when it comes,
        // is acknowledged and changes nothing.
        s.sandbox().add_notification_fault(NotificationFaultRule::new(
            Some(NotificationKind::Payment),
            NotificationFaultAction::Delay { ms: 60_000 },
        ));
        s.fault(FaultRule::new(Api::Pay, FaultAction::Drop));
        let late = s.charge(&auth, "drop-2", 400).await;
        let late_prid = prid(&late.body, 0);
        let path = format!("/v1/payments/{}", late.str("id"));
        let settled = s.drive(&path, succeeded).await;
        assert_eq!(payment_notifications(&s, &late_prid)[0].state, DeliveryState::Pending);
        s.advance(60_000);
        let log = s.sandbox().wait_for_notifications(Duration::from_secs(5), |log| {
            log.iter().any(|n| n.request_id == late_prid && n.state == DeliveryState::Delivered)
        }).await;
        assert!(log.iter().any(|n| n.request_id == late_prid && n.state == DeliveryState::Delivered), "{log:?}");
        let after = s.get(&path).await.body;
        assert_eq!((&after["status"], &after["attempts"], &after["needs_attention"]), (&settled["status"], &settled["attempts"], &json!(false)));
        assert_eq!(s.ledger(&late_prid), (1, 0));

        // A refund never notified and answered late: sent again, then settled, credited once.
        s.sandbox().add_notification_fault(NotificationFaultRule::new(
            Some(NotificationKind::Refund),
            NotificationFaultAction::Skip,
        ));
        s.fault(FaultRule::new(Api::Refund, FaultAction::Http500));
        let refund = s.post(&format!("/v1/payments/{}/refunds", late.str("id")), "drop-re", json!({"amount": 400})).await;
        assert_eq!(refund.str("status"), "processing", "{}", refund.body);
        s.drive(&format!("/v1/refunds/{}", refund.str("id")), succeeded).await;
        assert_eq!(s.ledger(&late_prid), (1, 1));
        s.settle().await;
    }
}

server_test! {
    async fn a_success_notified_before_the_pay_answer_settles_the_payment_once(db) {
        let s = Srv::start(&db).await;
        let auth = s.bind().await;
        // The pay takes effect and is notified at once; its answer comes 6 s later (within the
        // client's 10 s, and long after the notification even on a loaded machine).
        s.fault(FaultRule::new(Api::Pay, FaultAction::Delay { ms: 6_000 }));
        let api = s.api.clone();
        let auth2 = auth.clone();
        let charge = tokio::spawn(async move { api.charge(&auth2, "early-1", 900).await });
        let log = s.sandbox().wait_for_notifications(Duration::from_secs(5), |log| {
            log.iter().any(|n| n.notification == NotificationKind::Payment && n.state == DeliveryState::Delivered)
        }).await;
        assert!(log.iter().any(|n| n.notification == NotificationKind::Payment && n.state == DeliveryState::Delivered), "{log:?}");
        assert!(!charge.is_finished(), "the notification came first");
        let listed = s.get("/v1/payments?reference=order-early-1").await.body;
        assert_eq!(listed["data"][0]["status"], "succeeded", "the notification settled it: {listed}");
        let res = charge.await.unwrap();
        assert_eq!((res.status, res.str("status")), (201, "succeeded"), "{}", res.body);
        assert!(!res.body["needs_attention"].as_bool().unwrap(), "the answer agrees: {}", res.body);
        assert_eq!(s.ledger(&prid(&res.body, 0)), (1, 0));
        assert_eq!(inbox_of(&s, &prid(&res.body, 0)).await, 1);
        s.settle().await;
    }
}

server_test! {
    async fn tampered_or_forged_notifications_get_no_acknowledgement_and_change_nothing(db) {
        let s = Srv::start(&db).await;
        let auth = s.bind().await;
        let paid = s.charge(&auth, "genuine-1", 1_000).await;
        let paid_prid = prid(&paid.body, 0);
        // A payment whose pay never took effect: a forged success would be believed money.
        s.fault(FaultRule::new(Api::Pay, FaultAction::Drop).process(false));
        let pending = s.charge(&auth, "pending-1", 1_000).await;
        let pending_prid = prid(&pending.body, 0);
        let pending_path = format!("/v1/payments/{}", pending.str("id"));

        // The genuine notification as the server received it (headers and body), once it has,
        // and every other one the sandbox sent so far (different URLs are served at once: the
        // authorization's may land after the payment's), so the inbox counted below is settled.
        s.sandbox()
            .wait_for_notifications(Duration::from_secs(5), |log| {
                log.iter().any(|n| n.request_id == paid_prid && n.state == DeliveryState::Delivered)
                    && log.iter().all(|n| n.state == DeliveryState::Delivered)
            })
            .await;
        let genuine = s.store().inbox().await.unwrap().into_iter()
            .find(|e| e.dedup_key.contains(&paid_prid))
            .expect("the success notification was received");
        let headers: Vec<(String, String)> = genuine.headers.iter()
            .filter(|(n, _)| matches!(n.as_str(), "content-type" | "client-id" | "request-time" | "signature"))
            .cloned()
            .collect();
        let header = |name: &str| headers.iter().find(|(n, _)| n == name).unwrap().1.clone();
        let with = |name: &str, value: Option<String>| -> Vec<(String, String)> {
            let mut h: Vec<_> = headers.iter().filter(|(n, _)| n != name).cloned().collect();
            if let Some(v) = value {
                h.push((name.to_owned(), v));
            }
            h
        };
        let body = genuine.body.expose().to_owned();
        let path = "/alipay/default/notify/payments";
        let inbox_before = s.store().inbox().await.unwrap().len();

        // The genuine one again: acknowledged, a duplicate.
        let again = notify(&s, path, &headers, body.clone()).await;
        assert_eq!((again.status, again.text.as_str()), (200, ACK_SUCCESS_BODY));

        let other_key = GeneratedKeyPair::generate(Backend::default(), 2048).unwrap().private_pkcs8_pem();
        let (time, client) = (header("request-time"), header("client-id"));
        let forged_body = body.replace(&paid_prid, &pending_prid);
        assert_ne!(forged_body, body);
        let cases: Vec<(&str, Headers, String, &str, u16)> = vec![
            ("tampered: another payment, the genuine signature", headers.clone(), forged_body.clone(), path, 401),
            ("tampered amount", headers.clone(), body.replace("\"1000\"", "\"100000\""), path, 401),
            ("unsigned", with("signature", None), forged_body.clone(), path, 401),
            ("a malformed signature", with("signature", Some("algorithm=RSA256,keyVersion=1,signature=AAAA".into())), forged_body.clone(), path, 401),
            ("signed by another key", with("signature", Some(sign(&other_key, path, &client, &time, &forged_body))), forged_body.clone(), path, 401),
            ("another client", with("client-id", Some("SOMEONE_ELSE".into())), body.clone(), path, 401),
            ("no request-time", with("request-time", None), body.clone(), path, 401),
            ("signed for another path", headers.clone(), body.clone(), "/alipay/default/notify/refunds", 401),
            ("not a notification", with("signature", Some(sign(&other_key, path, &client, &time, "{}"))), "{}".into(), path, 401),
            ("no such merchant", headers.clone(), body.clone(), "/alipay/nobody/notify/payments", 404),
            ("no such kind", headers.clone(), body.clone(), "/alipay/default/notify/whatever", 404),
        ];
        assert!(body.contains("\"1000\""), "{body}");
        for (what, headers, body, path, status) in cases {
            let res = notify(&s, path, &headers, body).await;
            assert_eq!(res.status, status, "{what}: {}", res.text);
            assert_ne!(res.text, ACK_SUCCESS_BODY, "{what}: never acknowledged");
            if status == 401 {
                assert_eq!(res.text, ACK_FAILURE_BODY, "{what}");
            }
        }
        let not_utf8 = notify(&s, path, &headers, vec![0xff_u8, 0xfe, 0x00]).await;
        assert_eq!((not_utf8.status, not_utf8.text.as_str()), (400, ACK_FAILURE_BODY));

        // Nothing was stored or changed.
        assert_eq!(s.store().inbox().await.unwrap().len(), inbox_before);
        let still = s.get(&pending_path).await.body;
        assert_eq!(still["status"], "processing", "{still}");
        assert!(!still["needs_attention"].as_bool().unwrap());
        assert_eq!(s.ledger(&pending_prid), (0, 0));
        let paid_now = s.get(&format!("/v1/payments/{}", paid.str("id"))).await.body;
        assert_eq!((paid_now["status"].as_str(), paid_now["amount_refunded"].as_u64()), (Some("succeeded"), Some(0)));
        // Refusals are counted by cause.
        let metrics = s.api.raw(reqwest::Method::GET, "/metrics", &[], "").await.text;
        for cause in ["bad_signature", "unsigned", "not_utf8"] {
            assert!(metrics.lines().any(|l| l.starts_with("autodebit_notifications_refused_total") && l.contains(&format!("cause=\"{cause}\""))), "{cause}:\n{metrics}");
        }
        s.settle().await;
    }
}

server_test! {
    async fn a_stale_but_genuine_notification_is_not_applied_but_inquired_at_once(db) {
        // Gateway mode: the test holds Alipay's key and signs as Alipay would.
        let s = Srv::gateway(&db).await;
        let key = s.external.as_ref().unwrap().alipay_private_pem.clone();
        let auth = s.bind().await;
        s.skip_payment_notifications();
        s.fault(FaultRule::new(Api::Pay, FaultAction::Drop));
        let res = s.charge(&auth, "stale-1", 1_100).await;
        assert_eq!(res.str("status"), "processing", "{}", res.body);
        let prid = prid(&res.body, 0);
        let body = payment_notifications(&s, &prid)[0].body.clone();
        let path = "/alipay/default/notify/payments";
        let stale_time = ams_time(s.now_ms() - 10 * 60_000);
        let signature = sign(&key, path, GATEWAY_CLIENT_ID, &stale_time, &body);
        let stale = s.api.raw(reqwest::Method::POST, path, &[
            ("content-type", "application/json; charset=UTF-8"),
            ("client-id", GATEWAY_CLIENT_ID),
            ("request-time", &stale_time),
            ("signature", &signature),
        ], body.clone()).await;
        assert_eq!(stale.status, 401, "{}", stale.text);
        assert_eq!(inbox_of(&s, &prid).await, 0, "not stored");
        // Not applied, but the payment is inquired now (its job moved up): no clock moves.
        let done = s.until(&format!("/v1/payments/{}", res.str("id")), succeeded).await;
        assert_eq!(done["attempts"][0]["status"], "succeeded");
        assert_eq!(inbox_of(&s, &prid).await, 0, "settled by the inquiry");
        // The same body, fresh and signed: acknowledged and stored (it changes nothing now).
        let now = ams_time(s.now_ms());
        let signature = sign(&key, path, GATEWAY_CLIENT_ID, &now, &body);
        let fresh = s.api.raw(reqwest::Method::POST, path, &[
            ("content-type", "application/json; charset=UTF-8"),
            ("client-id", GATEWAY_CLIENT_ID),
            ("request-time", &now),
            ("signature", &signature),
        ], body).await;
        assert_eq!((fresh.status, fresh.text.as_str()), (200, ACK_SUCCESS_BODY));
        assert_eq!(inbox_of(&s, &prid).await, 1);
        assert_eq!(s.balance(), 100_000 - 1_100);
        assert_eq!(s.sandbox().ledger(None, Some(DEMO_USER)).debits, 1);
        s.settle().await;
    }
}
