//! Fail closed: an answer that is not provably Alipay's, for our request, is never a result.

use ams_client::{AlipayPublicKeys, BadResponseKind, Error, KeyVersion, VerificationError};
use ams_signing::VerifyErrorKind;

use crate::support::*;

/// Calls `pay` against a stub answering with `spoil(Answer)` and returns the verification error.
async fn rejected_by(spoil: fn(&mut Answer)) -> (VerificationError, Error) {
    let stub = Stub::start(move |_, request| {
        let mut answer = Answer::to(request, PAY_S);
        spoil(&mut answer);
        answer.reply()
    })
    .await;
    let error = client(&stub.url())
        .execute(&pay_request())
        .await
        .expect_err("a spoiled answer must not be a result");
    let Error::BadResponse(bad) = &error else {
        panic!("expected BadResponse, got {error:?}")
    };
    let BadResponseKind::Verification(verification) = bad.kind() else {
        panic!("expected a verification failure, got {bad:?}")
    };
    assert!(error.is_outcome_unknown());
    (verification.clone(), error)
}

#[tokio::test]
async fn an_unsigned_answer_is_refused() {
    let (e, error) = rejected_by(|a| a.signed = false).await;
    assert_eq!(e, VerificationError::Unsigned);
    // The raw body is kept for diagnosis.
    assert_eq!(
        error.bad_response().unwrap().body().bytes(),
        PAY_S.as_bytes()
    );
    let (e, _) = rejected_by(|a| a.raw_signature = Some(String::new())).await;
    assert_eq!(e, VerificationError::Unsigned);
}

#[tokio::test]
async fn a_missing_response_time_or_client_id_is_refused() {
    let (e, _) = rejected_by(|a| a.response_time = None).await;
    assert_eq!(
        e,
        VerificationError::MissingTime {
            header: "response-time"
        }
    );
    let (e, _) = rejected_by(|a| a.client_id = None).await;
    assert_eq!(e, VerificationError::MissingClientId);
}

#[tokio::test]
async fn an_answer_for_another_client_id_is_refused() {
    // Correctly signed, but for someone else.
    let (e, _) = rejected_by(|a| a.client_id = Some("5X99999999999999".into())).await;
    assert_eq!(
        e,
        VerificationError::ClientIdMismatch {
            expected: CLIENT_ID.into(),
            received: "5X99999999999999".into()
        }
    );
}

#[tokio::test]
async fn a_tampered_body_is_refused_with_the_diagnosis() {
    let (e, error) = rejected_by(|a| {
        a.signed_body = Some(a.body.clone());
        a.body = PAY_S.replace("\"S\"", "\"F\"").into_bytes();
    })
    .await;
    let verify = e.verify_error().unwrap();
    assert_eq!(verify.kind(), &VerifyErrorKind::Mismatch);
    let checked = verify.checked();
    assert_eq!(checked.request_line, "POST /ams/api/v1/payments/pay");
    assert_eq!(checked.client_id, CLIENT_ID);
    assert_eq!(checked.time, RESPONSE_TIME);
    assert_eq!(checked.key_fingerprint, alipay_public().fingerprint());
    assert_eq!(error.verify_error(), Some(verify));
    // The body kept is the one received (the tampered one).
    assert!(
        error
            .bad_response()
            .unwrap()
            .body()
            .bytes()
            .windows(3)
            .any(|w| w == b"\"F\"")
    );
}

#[tokio::test]
async fn an_answer_signed_over_another_path_is_refused() {
    let (e, _) = rejected_by(|a| a.path = "/ams/api/v1/payments/cancel".into()).await;
    assert_eq!(
        e.verify_error().map(|v| v.kind()),
        Some(&VerifyErrorKind::Mismatch)
    );
}

#[tokio::test]
async fn an_answer_signed_by_the_wrong_key_is_refused() {
    // The classic mistake: the merchant's own key where Alipay's should be.
    let (e, _) = rejected_by(|a| a.key = &MERCHANT_KEY).await;
    assert!(matches!(
        e,
        VerificationError::Signature {
            key_version: KeyVersion::DEFAULT,
            ..
        }
    ));
    assert_eq!(e.verify_error().unwrap().kind(), &VerifyErrorKind::Mismatch);
}

#[tokio::test]
async fn an_unknown_key_version_is_refused_naming_the_known_ones() {
    let (e, _) = rejected_by(|a| a.key_version = Some(7)).await;
    assert_eq!(
        e,
        VerificationError::UnknownKeyVersion {
            received: KeyVersion::new(7),
            known: vec![KeyVersion::new(1)],
        }
    );
    let text = e.to_string();
    assert!(
        text.contains("keyVersion 7") && text.contains("1 is"),
        "{text}"
    );
}

#[tokio::test]
async fn a_malformed_signature_header_is_refused() {
    let (e, _) =
        rejected_by(|a| a.raw_signature = Some("algorithm=RSA256,keyVersion=1".into())).await;
    assert!(
        matches!(e, VerificationError::MalformedSignatureHeader(_)),
        "{e:?}"
    );
    let (e, _) = rejected_by(|a| {
        a.raw_signature = Some("algorithm=RSA256,keyVersion=1,signature=AAAA".into());
    })
    .await;
    assert!(
        matches!(
            e.verify_error().map(|v| v.kind()),
            Some(VerifyErrorKind::Malformed { .. })
        ),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_header_without_key_version_uses_the_default_key() {
    let stub = Stub::start(|_, request| {
        let mut answer = Answer::to(request, PAY_S);
        answer.key_version = None;
        answer.reply()
    })
    .await;
    assert!(
        client(&stub.url())
            .execute(&pay_request())
            .await
            .unwrap()
            .is_success()
    );
}

#[tokio::test]
async fn two_alipay_keys_during_a_rotation_each_verify_by_version() {
    // Version 1: the simulated Alipay key. Version 2: a new key (here the other test key pair).
    let stub = Stub::start(|i, request| {
        let mut answer = Answer::to(request, PAY_S);
        match i {
            0 => {}
            1 => {
                answer.key = &MERCHANT_KEY;
                answer.key_version = Some(2);
            }
            2 => {
                // Signed with the v1 key but claiming v2.
                answer.key_version = Some(2);
            }
            _ => answer.key_version = Some(3),
        }
        answer.reply()
    })
    .await;
    let client = ams_client::AmsClient::builder()
        .gateway(ams_client::Gateway::url(&stub.url()).unwrap())
        .client_id(CLIENT_ID)
        .merchant_key(
            ams_client::PrivateKey::from_text(MERCHANT_PRIVATE_PEM).unwrap(),
            KeyVersion::DEFAULT,
        )
        .alipay_public_keys(
            AlipayPublicKeys::new(KeyVersion::new(1), alipay_public())
                .with(KeyVersion::new(2), merchant_public()),
        )
        .clock(manual_clock())
        .build()
        .unwrap();

    assert!(client.execute(&pay_request()).await.unwrap().is_success());
    assert!(client.execute(&pay_request()).await.unwrap().is_success());
    let wrong_pair = client.execute(&pay_request()).await.unwrap_err();
    assert_eq!(
        wrong_pair.verify_error().map(|v| v.kind()),
        Some(&VerifyErrorKind::Mismatch)
    );
    let unknown = client.execute(&pay_request()).await.unwrap_err();
    assert_eq!(
        unknown.bad_response().and_then(|b| b.verification()),
        Some(&VerificationError::UnknownKeyVersion {
            received: KeyVersion::new(3),
            known: vec![KeyVersion::new(1), KeyVersion::new(2)],
        })
    );
}
