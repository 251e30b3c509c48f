//! Notifications: the Python SDK's vector verifies; every kind of forgery or staleness is refused
//! with its own error.

use std::time::Duration;

use ams_client::{
    ACK_SUCCESS_BODY, AlipayPublicKeys, KeyVersion, NotificationError, NotificationVerifier,
    VerificationError, testing::ManualClock,
};
use ams_protocol::{Notification, PaymentNotifyType};
use ams_signing::{SignedContent, VerifyErrorKind};
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::support::*;

/// 2024-01-01T00:00:07Z, the vector's request-time.
const VECTOR_TIME: i64 = 1_704_067_207_000;

struct Vector {
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
    ack: String,
}

fn vector() -> Vector {
    let json: serde_json::Value = serde_json::from_str(NOTIFICATION_VECTORS).unwrap();
    let n = &json["cases"][0]["notification"];
    let mut headers = HeaderMap::new();
    for (name, value) in n["headers"].as_object().unwrap() {
        headers.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value.as_str().unwrap()).unwrap(),
        );
    }
    Vector {
        path: n["merchant_notify_path"].as_str().unwrap().to_owned(),
        headers,
        body: n["body"].as_str().unwrap().as_bytes().to_vec(),
        ack: n["merchant_ack_body"].as_str().unwrap().to_owned(),
    }
}

fn verifier_at(unix_millis: i64) -> NotificationVerifier {
    NotificationVerifier::new(CLIENT_ID, AlipayPublicKeys::single(alipay_public()))
        .with_clock(ManualClock::at_unix_millis(unix_millis))
}

fn verification_error(
    result: Result<impl std::fmt::Debug, NotificationError>,
) -> VerificationError {
    match result {
        Err(NotificationError::Verification(e)) => e,
        other => panic!("expected a verification failure, got {other:?}"),
    }
}

#[test]
fn the_sdk_vector_verifies_and_parses() {
    let v = vector();
    let verified = verifier_at(VECTOR_TIME + 30_000)
        .verify(&v.path, &v.headers, &v.body)
        .unwrap();
    assert_eq!(verified.request_time(), "2024-01-01T00:00:07+00:00");
    assert_eq!(verified.request_time_millis(), VECTOR_TIME);
    assert_eq!(verified.key_version(), KeyVersion::DEFAULT);
    let Notification::Payment(payment) = verified.notification() else {
        panic!("expected notifyPayment, got {:?}", verified.notification())
    };
    assert_eq!(payment.notify_type, PaymentNotifyType::PaymentResult);
    assert_eq!(payment.payment_request_id.as_str(), "PAY_20240101_0001");
    assert!(payment.result.is_success());
    // The acknowledgement is byte for byte the SDK's.
    assert_eq!(verified.ack_body(), v.ack);
    assert_eq!(ACK_SUCCESS_BODY, v.ack);
}

#[test]
fn header_names_are_case_insensitive() {
    let v = vector();
    let mut shouting = HeaderMap::new();
    for (name, value) in &v.headers {
        let upper = name.as_str().to_ascii_uppercase();
        shouting.insert(
            HeaderName::from_bytes(upper.as_bytes()).unwrap(),
            value.clone(),
        );
    }
    assert!(
        verifier_at(VECTOR_TIME)
            .verify(&v.path, &shouting, &v.body)
            .is_ok()
    );
}

#[test]
fn a_tampered_body_is_refused() {
    let v = vector();
    let mut body = v.body.clone();
    body.push(b' '); // the vector's own negative case
    let e = verification_error(verifier_at(VECTOR_TIME).verify(&v.path, &v.headers, &body));
    let verify = e.verify_error().unwrap();
    assert_eq!(verify.kind(), &VerifyErrorKind::Mismatch);
    assert_eq!(verify.checked().request_line, "POST /payNotify");
    assert_eq!(verify.checked().body_len, v.body.len() + 1);
}

#[test]
fn a_wrong_path_is_refused() {
    let v = vector();
    let e =
        verification_error(verifier_at(VECTOR_TIME).verify("/refundNotify", &v.headers, &v.body));
    let verify = e.verify_error().unwrap();
    assert_eq!(verify.kind(), &VerifyErrorKind::Mismatch);
    // The diagnosis names the path that was checked.
    assert_eq!(verify.checked().request_line, "POST /refundNotify");
}

#[test]
fn a_notification_for_another_client_is_refused() {
    let v = vector();
    let verifier = NotificationVerifier::new(
        "5X00000000000001",
        AlipayPublicKeys::single(alipay_public()),
    )
    .with_clock(ManualClock::at_unix_millis(VECTOR_TIME));
    let e = verification_error(verifier.verify(&v.path, &v.headers, &v.body));
    assert_eq!(
        e,
        VerificationError::ClientIdMismatch {
            expected: "5X00000000000001".into(),
            received: CLIENT_ID.into(),
        }
    );
}

#[test]
fn missing_headers_are_refused() {
    let v = vector();
    let verifier = verifier_at(VECTOR_TIME);
    let mut headers = v.headers.clone();
    headers.remove("signature");
    assert_eq!(
        verification_error(verifier.verify(&v.path, &headers, &v.body)),
        VerificationError::Unsigned
    );
    let mut headers = v.headers.clone();
    headers.remove("request-time");
    assert_eq!(
        verification_error(verifier.verify(&v.path, &headers, &v.body)),
        VerificationError::MissingTime {
            header: "request-time"
        }
    );
    let mut headers = v.headers.clone();
    headers.remove("client-id");
    assert_eq!(
        verification_error(verifier.verify(&v.path, &headers, &v.body)),
        VerificationError::MissingClientId
    );
}

#[test]
fn a_notification_signed_by_another_key_is_refused() {
    let v = vector();
    let verifier =
        NotificationVerifier::new(CLIENT_ID, AlipayPublicKeys::single(merchant_public()))
            .with_clock(ManualClock::at_unix_millis(VECTOR_TIME));
    let e = verification_error(verifier.verify(&v.path, &v.headers, &v.body));
    assert_eq!(e.verify_error().unwrap().kind(), &VerifyErrorKind::Mismatch);
}

#[test]
fn refusals_say_why_in_their_message() {
    let v = vector();
    // Verified with the wrong key: the message carries the signature layer's diagnosis.
    let wrong_key =
        NotificationVerifier::new(CLIENT_ID, AlipayPublicKeys::single(merchant_public()))
            .with_clock(ManualClock::at_unix_millis(VECTOR_TIME));
    let text = wrong_key
        .verify(&v.path, &v.headers, &v.body)
        .unwrap_err()
        .to_string();
    assert!(
        text.starts_with(
            "the notification failed verification: the signature does not verify with Alipay's \
             public key (keyVersion 1): signature does not match: checked RSA256 with public key "
        ),
        "{text}"
    );
    assert!(text.contains(merchant_public().fingerprint()), "{text}");
    assert!(text.contains(&format!("over `POST {}`", v.path)), "{text}");

    // Another path than the one signed: the request line checked is in the message.
    let text = verifier_at(VECTOR_TIME)
        .verify("/elsewhere", &v.headers, &v.body)
        .unwrap_err()
        .to_string();
    assert!(text.contains("over `POST /elsewhere`"), "{text}");

    // No signature at all.
    let mut unsigned = v.headers.clone();
    unsigned.remove("signature");
    let text = verifier_at(VECTOR_TIME)
        .verify(&v.path, &unsigned, &v.body)
        .unwrap_err()
        .to_string();
    assert_eq!(
        text,
        "the notification failed verification: the message is unsigned (no `signature` header)"
    );
}

#[test]
fn a_skew_window_below_a_second_is_shown_as_it_is() {
    let v = vector();
    let error = verifier_at(VECTOR_TIME + 2)
        .with_skew_window(Some(Duration::from_millis(1)))
        .verify(&v.path, &v.headers, &v.body)
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "the notification's request-time 2024-01-01T00:00:07+00:00 is 2 ms away from now, \
         outside the 1 ms window"
    );
}

#[test]
fn a_time_outside_the_skew_window_is_refused_but_kept_for_inquiry() {
    let v = vector();
    for now in [VECTOR_TIME + 6 * 60_000, VECTOR_TIME - 6 * 60_000] {
        let error = verifier_at(now)
            .verify(&v.path, &v.headers, &v.body)
            .unwrap_err();
        let NotificationError::OutsideSkewWindow(stale) = &error else {
            panic!("expected OutsideSkewWindow, got {error:?}")
        };
        assert_eq!(stale.window, Duration::from_secs(300));
        assert_eq!(stale.request_time, "2024-01-01T00:00:07+00:00");
        assert_eq!(stale.now_millis, now);
        assert!(matches!(stale.notification, Some(Notification::Payment(_))));
        assert!(error.verification().is_none());
    }
    // Just inside the window, and with the check switched off.
    assert!(
        verifier_at(VECTOR_TIME + 5 * 60_000)
            .verify(&v.path, &v.headers, &v.body)
            .is_ok()
    );
    assert!(
        verifier_at(VECTOR_TIME + 3_600_000)
            .with_skew_window(None)
            .verify(&v.path, &v.headers, &v.body)
            .is_ok()
    );
    assert!(
        verifier_at(VECTOR_TIME + 60_000)
            .with_skew_window(Some(Duration::from_secs(30)))
            .verify(&v.path, &v.headers, &v.body)
            .is_err()
    );
}

/// A notification signed now by the simulated Alipay key.
fn signed_notification(time: &str, body: &str) -> HeaderMap {
    let content = SignedContent::notification("/authNotify", CLIENT_ID, time, body.as_bytes());
    let signature = ALIPAY_KEY.sign(&content, KeyVersion::DEFAULT).unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("client-id", HeaderValue::from_static(CLIENT_ID));
    headers.insert("request-time", HeaderValue::from_str(time).unwrap());
    headers.insert(
        "signature",
        HeaderValue::from_str(&signature.to_string()).unwrap(),
    );
    headers
}

const TOKEN_CANCELED: &str = r#"{"authorizationNotifyType":"TOKEN_CANCELED","accessToken":"28100103_20215703001538122119","result":{"resultCode":"SUCCESS","resultMessage":"success.","resultStatus":"S"}}"#;

#[test]
fn epoch_millisecond_request_times_are_accepted() {
    let headers = signed_notification(&T0.to_string(), TOKEN_CANCELED);
    let verified = verifier_at(T0 + 1_000)
        .verify("/authNotify", &headers, TOKEN_CANCELED.as_bytes())
        .unwrap();
    assert_eq!(verified.request_time_millis(), T0);
    assert!(matches!(
        verified.into_notification(),
        Notification::Authorization(_)
    ));
}

#[test]
fn an_unreadable_request_time_or_body_is_refused() {
    let headers = signed_notification("last tuesday", TOKEN_CANCELED);
    let error = verifier_at(T0)
        .verify("/authNotify", &headers, TOKEN_CANCELED.as_bytes())
        .unwrap_err();
    assert!(
        matches!(error, NotificationError::InvalidRequestTime { .. }),
        "{error:?}"
    );

    let garbage = r#"{"notifyType":"PAYMENT_RESULT"}"#;
    let headers = signed_notification(&T0.to_string(), garbage);
    let error = verifier_at(T0)
        .verify("/authNotify", &headers, garbage.as_bytes())
        .unwrap_err();
    assert!(matches!(error, NotificationError::Body(_)), "{error:?}");
}

#[test]
fn the_clients_verifier_shares_its_id_keys_and_clock() {
    let v = vector();
    let clock = ManualClock::at_unix_millis(VECTOR_TIME);
    let client = builder("http://127.0.0.1:9", &clock).build().unwrap();
    let verifier = client.notification_verifier();
    assert!(verifier.verify(&v.path, &v.headers, &v.body).is_ok());
    clock.advance(Duration::from_secs(301));
    assert!(matches!(
        verifier.verify(&v.path, &v.headers, &v.body),
        Err(NotificationError::OutsideSkewWindow(_))
    ));
}
