//! Events sent to the merchant's webhook endpoint, signed per Standard Webhooks and verified here
//! with the specification's reference library, as a receiver would: each event once per change
//! from the receiver's side (its id is `webhook-id`, the same in every try), one resource's events
//! in order, a failing endpoint tried again with every try kept, `redeliver`, and two servers
//! sending each event once.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use autodebit_server::config::{MerchantConfig, Secret, WebhookEndpointConfig};
use autodebit_server::webhooks::WebhookSecret;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};
use standardwebhooks::Webhook;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Srv, server_test};

/// What the receiver got: `(webhook-id, the event's type, subject)`, verified.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Got {
    id: String,
    kind: String,
    subject: String,
}

/// A merchant's receiver on loopback: checks every message with the reference library and
/// answers with the status it is told.
#[derive(Clone)]
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Got>>>,
    status: Arc<Mutex<u16>>,
    secret: Arc<Mutex<String>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!(
            "http://{}/hooks/autodebit",
            listener.local_addr().expect("addr")
        );
        let secret = WebhookSecret::generate().expect("secret").expose();
        let receiver = Receiver {
            url,
            got: Arc::default(),
            status: Arc::new(Mutex::new(200)),
            secret: Arc::new(Mutex::new(secret)),
        };
        let r = receiver.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let r = r.clone();
                tokio::spawn(async move {
                    let (head, body) = read_request(&mut stream).await;
                    let status = r.take(&head, &body);
                    let answer = format!(
                        "HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                    );
                    let _ = stream.write_all(answer.as_bytes()).await;
                });
            }
        });
        receiver
    }

    /// Verifies and records one message; the status to answer.
    fn take(&self, head: &str, body: &[u8]) -> u16 {
        let mut headers = HeaderMap::new();
        for line in head.lines().skip(1) {
            if let Some((name, value)) = line.split_once(':') {
                headers.insert(
                    HeaderName::from_bytes(name.trim().as_bytes()).expect("name"),
                    HeaderValue::from_str(value.trim()).expect("value"),
                );
            }
        }
        let secret = self.secret.lock().unwrap().clone();
        Webhook::new(&secret)
            .expect("secret")
            .verify(body, &headers)
            .expect("the reference library verifies every message");
        assert_eq!(headers["content-type"], "application/json");
        let event: Value = serde_json::from_slice(body).expect("json");
        let id = headers["webhook-id"].to_str().expect("id").to_owned();
        assert_eq!(event["id"], id.as_str(), "webhook-id is the event's id");
        self.got.lock().unwrap().push(Got {
            id,
            kind: event["type"].as_str().expect("type").to_owned(),
            subject: event["subject"].as_str().expect("subject").to_owned(),
        });
        *self.status.lock().unwrap()
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    fn answer(&self, status: u16) {
        *self.status.lock().unwrap() = status;
    }

    /// Verifies what comes next with `secret`.
    fn verify_with(&self, secret: &str) {
        *self.secret.lock().unwrap() = secret.to_owned();
    }

    fn config(&self) -> WebhookEndpointConfig {
        WebhookEndpointConfig {
            url: self.url.clone(),
            secrets: vec![Secret::new(self.secret.lock().unwrap().clone())],
            secrets_file: None,
        }
    }

    /// Waits (real time, bounded) until `n` messages came.
    async fn wait_for(&self, n: usize) -> Vec<Got> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.got();
            if got.len() >= n {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{n} messages never came: {got:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn read_request(stream: &mut tokio::net::TcpStream) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "the request ended early");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().expect("length"))
                })
                .unwrap_or(0);
            let mut body = buf[end + 4..].to_vec();
            while body.len() < length {
                let n = stream.read(&mut chunk).await.expect("read");
                assert!(n > 0, "the body ended early");
                body.extend_from_slice(&chunk[..n]);
            }
            return (head, body);
        }
    }
}

fn with_endpoint(receiver: &Receiver) -> impl FnOnce(&mut autodebit_server::config::Config) {
    let hook = receiver.config();
    move |c| {
        c.merchants.insert(
            "default".into(),
            MerchantConfig {
                webhooks: vec![hook],
                ..MerchantConfig::default()
            },
        );
    }
}

server_test! {
    async fn events_reach_the_endpoint_signed_in_order_and_again_until_taken(db) {
        let receiver = Receiver::start().await;
        let s = Srv::with(&db, with_endpoint(&receiver)).await;
        let auth = s.bind().await;
        let paid = s.charge(&auth, "wh-1", 1_000).await;
        assert_eq!(paid.str("status"), "succeeded", "{}", paid.body);
        let pay = paid.str("id").to_owned();
        let got = receiver.wait_for(2).await;
        assert_eq!(
            got.iter().map(|g| (g.kind.as_str(), g.subject.as_str())).collect::<Vec<_>>(),
            [("authorization.active", auth.as_str()), ("payment.succeeded", pay.as_str())]
        );

        // The endpoint fails: the refund's event is tried, kept pending with its try, and
        // tried again 5 s (± 10 %) later.
        receiver.answer(500);
        let refund = s.post(&format!("/v1/payments/{pay}/refunds"), "wh-1-re", json!({"amount": 300})).await;
        assert_eq!(refund.str("status"), "succeeded", "{}", refund.body);
        let got = receiver.wait_for(3).await;
        let refunded = got[2].clone();
        assert_eq!(refunded.kind, "refund.succeeded");
        let path = format!("/v1/events/{}", refunded.id);
        let event = s.until(&path, |e: &Value| e["deliveries"][0]["attempts"].as_array().is_some_and(|a| a.len() == 1)).await;
        let delivery = &event["deliveries"][0];
        assert_eq!((delivery["endpoint"].as_str(), delivery["status"].as_str()), (Some(autodebit_server::delivery::config_endpoint_id(&receiver.url).as_str()), Some("pending")), "{event}");
        assert_eq!(delivery["attempts"][0]["http_status"], 500);
        assert_eq!(delivery["attempts"][0]["answer"], "ok");
        assert!(delivery["next_attempt_at"].is_string());
        receiver.answer(200);
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(receiver.got().len(), 3, "not before its time");
        s.advance(5_600);
        let got = receiver.wait_for(4).await;
        assert_eq!(got[3], refunded, "the same event, the same id");
        let event = s.until(&path, |e: &Value| e["deliveries"][0]["status"] == "delivered").await;
        let attempts = event["deliveries"][0]["attempts"].as_array().unwrap().clone();
        assert_eq!(attempts.iter().map(|a| a["http_status"].as_u64()).collect::<Vec<_>>(), [Some(500), Some(200)]);
        assert_eq!(event["deliveries"][0]["next_attempt_at"], Value::Null);

        // Redelivered on demand: the same id once more.
        let again = s.post(&format!("{path}/redeliver"), "wh-redeliver", json!({})).await;
        assert_eq!(again.status, 200, "{}", again.body);
        let got = receiver.wait_for(5).await;
        assert_eq!(got[4], refunded);

        // One resource's events in order: while payment.succeeded of a new payment is refused,
        // its payment.cancelled waits behind it.
        receiver.answer(503);
        let second = s.charge(&auth, "wh-2", 700).await;
        let second_id = second.str("id").to_owned();
        receiver.wait_for(6).await;
        let cancelled = s.post(&format!("/v1/payments/{second_id}/cancel"), "wh-2-c", json!({})).await;
        assert_eq!(cancelled.str("status"), "cancelled", "{}", cancelled.body);
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(receiver.got().len(), 6, "the cancel's event waits for the payment's");
        receiver.answer(200);
        s.advance(5_600);
        let got = receiver.wait_for(8).await;
        let tail: Vec<(&str, &str)> = got[5..].iter().map(|g| (g.kind.as_str(), g.subject.as_str())).collect();
        assert_eq!(tail, [("payment.succeeded", second_id.as_str()), ("payment.succeeded", second_id.as_str()), ("payment.cancelled", second_id.as_str())]);
        s.settle().await;
    }
}

server_test! {
    async fn two_servers_send_each_event_once_and_a_restart_loses_none(db) {
        let receiver = Receiver::start().await;
        let hook = receiver.config();
        let mut s = Srv::gateway_with(&db, move |c| {
            c.merchants.get_mut("default").expect("the gateway merchant").webhooks = vec![hook];
        })
        .await;
        let other = s.another().await;
        let auth = s.bind().await;
        for n in 0..3 {
            let paid = s.charge(&auth, &format!("wr-{n}"), 100 + n).await;
            assert_eq!(paid.str("status"), "succeeded", "{}", paid.body);
        }
        let got = receiver.wait_for(4).await;
        // Both servers look for work every half second: give them a few rounds.
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let got_now = receiver.got();
        assert_eq!(got_now, got, "each event once");
        let mut ids: Vec<&str> = got.iter().map(|g| g.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 4);

        // Refused, then both servers stop; the server started again sends it when it is due.
        receiver.answer(500);
        let paid = s.charge(&auth, "wr-late", 900).await;
        let late = receiver.wait_for(5).await[4].clone();
        assert_eq!((late.kind.as_str(), late.subject.as_str()), ("payment.succeeded", paid.str("id")));
        other.shutdown().await;
        s.stop().await;
        receiver.answer(200);
        s.start_again().await;
        s.advance(5_600);
        let got = receiver.wait_for(6).await;
        assert_eq!(got[5], late, "the same event, once more");
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        assert_eq!(receiver.got().len(), 6);
        s.settle().await;
    }
}

/// `autodebit_webhook_endpoints_disabled_total` in a scrape (the process's: both backends' runs).
fn disabled_count(metrics: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix("autodebit_webhook_endpoints_disabled_total{merchant=\"default\"} ")
        })
        .map_or(0, |n| n.trim().parse().expect("a count"))
}

/// How many tries the first delivery of event `path` has had.
async fn tries(s: &Srv, path: &str) -> usize {
    let event = s.get(path).await;
    event.body["deliveries"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| d["attempts"].as_array().map_or(0, Vec::len))
        .max()
        .unwrap_or(0)
}

server_test! {
    async fn endpoints_made_through_the_api_sign_with_their_secret_rotate_and_are_disabled_when_failing(db) {
        let configured = Receiver::start().await;
        let s = Srv::with(&db, with_endpoint(&configured)).await;
        let managed = Receiver::start().await;
        let disabled_before = disabled_count(&s.raw(reqwest::Method::GET, "/metrics", &[], "").await.text);
        let made = s.post("/v1/webhook_endpoints", "we-1", json!({"url": managed.url, "description": "billing"})).await;
        assert_eq!(made.status, 201, "{}", made.body);
        let id = made.str("id").to_owned();
        let first_secret = made.str("secret").to_owned();
        assert!(id.starts_with("we_") && first_secret.starts_with("whsec_"), "{}", made.body);
        managed.verify_with(&first_secret);
        // Replayed with its key: the same answer (kept sealed, shown again only to that retry).
        let replay = s.post("/v1/webhook_endpoints", "we-1", json!({"url": managed.url, "description": "billing"})).await;
        assert_eq!((replay.status, replay.str("id"), replay.str("secret")), (201, id.as_str(), first_secret.as_str()));
        // Bad input is named.
        let bad = s.post("/v1/webhook_endpoints", "we-bad", json!({"url": "ftp://example.com/x"})).await;
        assert_eq!((bad.status, bad.str("param")), (400, "/url"), "{}", bad.body);
        let twice = s.post("/v1/webhook_endpoints", "we-twice", json!({"url": managed.url})).await;
        assert_eq!((twice.status, twice.str("code")), (409, "endpoint_exists"), "{}", twice.body);

        // Both listed; a secret is never shown again.
        let list = s.get("/v1/webhook_endpoints").await;
        let data = list.body["data"].as_array().expect("data").clone();
        let sources: Vec<(&str, &str)> = data.iter().map(|e| (e["source"].as_str().unwrap(), e["status"].as_str().unwrap())).collect();
        assert_eq!(sources, [("config", "enabled"), ("api", "enabled")], "{}", list.body);
        assert!(data.iter().all(|e| e.get("secret").is_none()), "{}", list.body);
        let config_id = data[0]["id"].as_str().unwrap().to_owned();
        let gone = s.send(reqwest::Method::DELETE, &format!("/v1/webhook_endpoints/{config_id}"), None, None).await;
        assert_eq!((gone.status, gone.str("code")), (409, "endpoint_in_configuration"), "{}", gone.body);

        // Events reach both, each signed with its own secret.
        let auth = s.bind().await;
        let paid = s.charge(&auth, "we-pay-1", 500).await;
        assert_eq!(paid.str("status"), "succeeded", "{}", paid.body);
        assert_eq!(managed.wait_for(2).await.iter().map(|g| g.kind.as_str()).collect::<Vec<_>>(), ["authorization.active", "payment.succeeded"]);
        configured.wait_for(2).await;

        // Rotation: the new secret once; for a day both sign, so a receiver still on the old one
        // verifies, and one on the new one too.
        let rotated = s.post(&format!("/v1/webhook_endpoints/{id}/rotate_secret"), "we-rot", json!({})).await;
        assert_eq!(rotated.status, 200, "{}", rotated.body);
        let second_secret = rotated.str("secret").to_owned();
        assert_ne!(second_secret, first_secret);
        s.charge(&auth, "we-pay-2", 501).await;
        managed.wait_for(3).await;
        managed.verify_with(&second_secret);
        s.charge(&auth, "we-pay-3", 502).await;
        managed.wait_for(4).await;

        // The endpoint fails every try for three days: disabled, with an event the other endpoint
        // hears, a metric and its reason; never silently.
        managed.answer(500);
        let failing = s.charge(&auth, "we-pay-4", 503).await;
        let failing_event = managed.wait_for(5).await[4].clone();
        assert_eq!((failing_event.kind.as_str(), failing_event.subject.as_str()), ("payment.succeeded", failing.str("id")));
        let path = format!("/v1/events/{}", failing_event.id);
        // Tried again a day (± 10 %) later each time; disabled at the first try after three days
        // of failures, and not before.
        let mut seen = 1;
        loop {
            let endpoint = s.until(&format!("/v1/webhook_endpoints/{id}"), |e: &Value| e["failing_since"].is_string()).await;
            if endpoint["status"] == "disabled" {
                break;
            }
            assert!(seen < 4, "still enabled after {seen} tries over three days: {endpoint}");
            s.advance(95_040_000);
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while tries(&s, &path).await <= seen {
                if tokio::time::Instant::now() >= deadline {
                    let event = s.get(&path).await;
                    panic!("try {} never came: {}", seen + 1, event.body);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            seen = tries(&s, &path).await;
        }
        assert_eq!(seen, 4, "the fourth try, 79 hours after the first, disables it");
        let endpoint = s.until(&format!("/v1/webhook_endpoints/{id}"), |e: &Value| e["status"] == "disabled").await;
        assert!(endpoint["disabled_reason"].as_str().is_some_and(|r| r.contains("HTTP 500")), "{endpoint}");
        let events = s.get("/v1/events?type=webhook_endpoint.disabled").await;
        let disabled = events.body["data"].as_array().expect("data").clone();
        assert_eq!(disabled.len(), 1, "{}", events.body);
        assert_eq!((disabled[0]["subject"].as_str(), disabled[0]["data"]["object"]["status"].as_str()), (Some(id.as_str()), Some("disabled")));
        let heard = configured.wait_for(6).await;
        assert!(heard.iter().any(|g| g.kind == "webhook_endpoint.disabled" && g.subject == id), "{heard:?}");
        let metrics = s.raw(reqwest::Method::GET, "/metrics", &[], "").await.text;
        assert_eq!(disabled_count(&metrics) - disabled_before, 1, "{metrics}");

        // While disabled its events wait; enabled again, they come, in order.
        managed.answer(200);
        let waiting = s.charge(&auth, "we-pay-5", 504).await;
        let before = managed.got().len();
        tokio::time::sleep(Duration::from_millis(1_200)).await;
        assert_eq!(managed.got().len(), before, "nothing is sent to a disabled endpoint");
        let enabled = s.post(&format!("/v1/webhook_endpoints/{id}/enable"), "we-on", json!({})).await;
        assert_eq!((enabled.str("status"), &enabled.body["failing_since"]), ("enabled", &Value::Null), "{}", enabled.body);
        let got = managed.wait_for(before + 2).await;
        let tail: Vec<(&str, &str)> = got[before..].iter().map(|g| (g.kind.as_str(), g.subject.as_str())).collect();
        assert!(tail.contains(&("payment.succeeded", waiting.str("id"))), "{tail:?}");
        assert!(tail.contains(&("webhook_endpoint.disabled", id.as_str())), "{tail:?}");

        // Deleted: listed no more, sent nothing more.
        let deleted = s.send(reqwest::Method::DELETE, &format!("/v1/webhook_endpoints/{id}"), None, None).await;
        assert_eq!((deleted.status, deleted.str("status")), (200, "removed"), "{}", deleted.body);
        let list = s.get("/v1/webhook_endpoints").await;
        assert_eq!(list.body["data"].as_array().map(Vec::len), Some(1), "{}", list.body);
        s.settle().await;
    }
}

server_test! {
    async fn outside_sandbox_mode_an_api_endpoint_reaches_public_addresses_only(db) {
        let s = Srv::gateway(&db).await;
        // An address literal that is not public is refused at once.
        for url in ["https://127.0.0.1/hook", "https://[::1]/hook", "https://10.1.2.3/hook", "https://169.254.169.254/latest", "https://[::ffff:192.168.0.1]/x"] {
            let refused = s.post("/v1/webhook_endpoints", &format!("we-{url}"), json!({"url": url})).await;
            assert_eq!((refused.status, refused.str("param")), (400, "/url"), "{url}: {}", refused.body);
            assert!(refused.str("detail").contains("public"), "{}", refused.body);
        }
        // A name is checked when it is resolved, on every try: `localhost` resolves to loopback
        // only, so nothing is sent and the try says why.
        let made = s.post("/v1/webhook_endpoints", "we-local", json!({"url": "https://localhost:9/hook"})).await;
        assert_eq!(made.status, 201, "{}", made.body);
        let auth = s.bind().await;
        let events = s.get(&format!("/v1/events?subject={auth}")).await.body;
        let path = format!("/v1/events/{}", events["data"][0]["id"].as_str().expect("an event"));
        let event = s.until(&path, |e: &Value| e["deliveries"][0]["attempts"].as_array().is_some_and(|a| !a.is_empty())).await;
        let attempt = &event["deliveries"][0]["attempts"][0];
        assert_eq!(attempt["http_status"], Value::Null, "{event}");
        assert!(attempt["answer"].as_str().unwrap_or_default().contains("no public address"), "{event}");
    }
}
