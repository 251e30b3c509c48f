//! The server's Standard Webhooks signatures, verified by the specification's own Rust library
//! (`standardwebhooks`), as a merchant's receiver would verify them: with either of two secrets
//! during a rotation; and refused when the body, the id or the time was changed, or the secret
//! is another.

#![allow(clippy::unwrap_used, reason = "tests")]

use autodebit_server::webhooks::{SignedHeaders, WebhookSecret};
use http::{HeaderMap, HeaderValue};
use standardwebhooks::Webhook;

/// The system's time: the reference library checks a message's age against it.
#[allow(
    clippy::disallowed_methods,
    reason = "the receiver's clock is the system's"
)]
fn now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

fn header_map(headers: &SignedHeaders) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in headers.pairs() {
        map.insert(name, HeaderValue::from_str(value).unwrap());
    }
    map
}

#[test]
fn the_reference_library_verifies_what_the_server_signs() {
    let (old, new) = (
        WebhookSecret::generate().unwrap(),
        WebhookSecret::generate().unwrap(),
    );
    let body = br#"{"id":"evt_0000000000000001","object":"event","type":"payment.succeeded"}"#;
    let headers = SignedHeaders::new(
        &[new.clone(), old.clone()],
        "evt_0000000000000001",
        now(),
        body,
    );
    let map = header_map(&headers);
    for secret in [&old, &new] {
        let receiver = Webhook::new(&secret.expose()).unwrap();
        receiver
            .verify(body, &map)
            .expect("verifies with either secret");
    }

    let receiver = Webhook::new(&new.expose()).unwrap();
    assert!(
        receiver
            .verify(br#"{"id":"evt_0000000000000002"}"#, &map)
            .is_err(),
        "another body"
    );
    let mut other_id = map.clone();
    other_id.insert(
        "webhook-id",
        HeaderValue::from_static("evt_0000000000000002"),
    );
    assert!(receiver.verify(body, &other_id).is_err(), "another id");
    let mut other_time = map.clone();
    other_time.insert(
        "webhook-timestamp",
        HeaderValue::from_str(&(now() - 1).to_string()).unwrap(),
    );
    assert!(receiver.verify(body, &other_time).is_err(), "another time");
    let stranger = Webhook::new(&WebhookSecret::generate().unwrap().expose()).unwrap();
    assert!(stranger.verify(body, &map).is_err(), "another secret");
    // Old messages are refused by the receiver's tolerance (five minutes).
    let stale = header_map(&SignedHeaders::new(
        std::slice::from_ref(&new),
        "evt_0000000000000001",
        now() - 3_600,
        body,
    ));
    assert!(receiver.verify(body, &stale).is_err(), "an hour old");
}

#[test]
fn the_reference_library_signs_as_the_server_does() {
    let secret = WebhookSecret::generate().unwrap();
    let theirs = Webhook::new(&secret.expose()).unwrap();
    let at = now();
    assert_eq!(
        theirs.sign("evt_7", at, b"{}").unwrap(),
        secret.sign("evt_7", at, b"{}")
    );
}
