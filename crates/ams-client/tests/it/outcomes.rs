//! Verified answers become typed outcomes; unusable answers become errors that keep the evidence.

use ams_client::{BadResponseKind, Error, MaybeSentKind, Outcome, RetryPolicy, VerificationError};
use ams_protocol::{CancelRequest, ResultCode};

use crate::support::*;

#[tokio::test]
async fn s_f_u_and_unknown_statuses() {
    let stub = Stub::start(|i, request| {
        let body = match i {
            0 => CANCEL_S,
            1 => CANCEL_F,
            2 => ANY_U,
            _ => r#"{"result":{"resultCode":"SOMETHING_NEW","resultStatus":"P","resultMessage":"?"}}"#,
        };
        answer(request, body)
    })
    .await;
    let client = client(&stub.url());
    let cancel = CancelRequest::by_payment_request_id("PAY_20240101_0001");
    let once = |c: &ams_client::AmsClient| {
        let c = c.clone();
        let cancel = cancel.clone();
        async move { c.execute_with_policy(&cancel, RetryPolicy::Never).await }
    };

    let Outcome::Success(done) = once(&client).await.unwrap() else {
        panic!("expected S")
    };
    assert_eq!(
        done.cancel_time.as_ref().map(|t| t.as_str()),
        Some("2024-01-01T00:01:00+00:00")
    );

    let Outcome::Failed(refused) = once(&client).await.unwrap() else {
        panic!("expected F")
    };
    assert_eq!(refused.result.code(), &ResultCode::CancelWindowExceed);

    let unknown = once(&client).await.unwrap();
    assert!(unknown.is_unknown());
    assert_eq!(unknown.result().code(), &ResultCode::UnknownException);

    // An unrecognised status is unknown, never failed.
    let odd = once(&client).await.unwrap();
    assert!(odd.is_unknown(), "{odd:?}");
    assert_eq!(odd.result().status().as_str(), "P");
}

#[tokio::test]
async fn http_500_without_a_verifiable_body_is_maybe_sent() {
    let stub = Stub::start(|_, _| Reply::Http {
        status: 500,
        headers: vec![],
        body: b"<html>Internal Server Error</html>".to_vec(),
    })
    .await;
    let error = client(&stub.url())
        .execute(&pay_request())
        .await
        .unwrap_err();
    let Error::MaybeSent(maybe) = &error else {
        panic!("expected MaybeSent, got {error:?}")
    };
    assert_eq!(maybe.kind(), &MaybeSentKind::HttpStatus);
    assert_eq!(maybe.status().map(|s| s.as_u16()), Some(500));
    let rejected = maybe.rejected().unwrap();
    assert_eq!(rejected.verification(), Some(&VerificationError::Unsigned));
    assert_eq!(
        rejected.body().bytes(),
        b"<html>Internal Server Error</html>"
    );
    assert!(error.is_outcome_unknown());
    assert_eq!(error.status().map(|s| s.as_u16()), Some(500));
}

#[tokio::test]
async fn a_signed_answer_is_believed_whatever_the_http_status() {
    let stub = Stub::start(|_, request| {
        let mut reply = Answer::to(request, CANCEL_F);
        reply.status = 500;
        reply.reply()
    })
    .await;
    let outcome = client(&stub.url())
        .execute(&CancelRequest::by_payment_request_id("PAY_1"))
        .await
        .unwrap();
    assert!(outcome.is_failed());
}

#[tokio::test]
async fn a_signed_body_that_is_not_json_is_a_bad_response_keeping_the_body() {
    let stub = Stub::start(|_, request| answer(request, "<html>gateway says hi</html>")).await;
    let error = client(&stub.url())
        .execute(&pay_request())
        .await
        .unwrap_err();
    let Error::BadResponse(bad) = &error else {
        panic!("expected BadResponse, got {error:?}")
    };
    assert!(matches!(bad.kind(), BadResponseKind::NotJson(_)));
    assert_eq!(bad.body().bytes(), b"<html>gateway says hi</html>");
    assert_eq!(bad.status().as_u16(), 200);
    assert!(error.is_outcome_unknown());
}

#[tokio::test]
async fn json_without_result_or_of_the_wrong_shape_is_a_bad_response() {
    let stub = Stub::start(|i, request| {
        let body = if i == 0 {
            r#"{"paymentId":"1"}"#
        } else {
            r#"{"result":{"resultCode":"SUCCESS","resultStatus":"S"},"paymentAmount":"ten dollars"}"#
        };
        answer(request, body)
    })
    .await;
    let client = client(&stub.url());

    let error = client.execute(&pay_request()).await.unwrap_err();
    let bad = error.bad_response().unwrap();
    assert!(
        matches!(bad.kind(), BadResponseKind::MissingResult),
        "{bad:?}"
    );

    let error = client.execute(&pay_request()).await.unwrap_err();
    let bad = error.bad_response().unwrap();
    assert!(matches!(bad.kind(), BadResponseKind::Schema(_)), "{bad:?}");
    // The (signed) result is kept for diagnosis; the call is still an unknown outcome.
    assert!(bad.result().unwrap().is_success());
    assert!(matches!(error, Error::BadResponse(_)));
}

#[tokio::test]
async fn an_oversized_answer_is_a_bad_response() {
    static BIG: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            r#"{{"result":{{"resultCode":"SUCCESS","resultStatus":"S"}},"extendInfo":"{}"}}"#,
            "x".repeat(200_000)
        )
    });
    let stub = Stub::start(|_, request| answer(request, &BIG)).await;
    let client = builder(&stub.url(), &manual_clock())
        .max_response_bytes(100_000)
        .build()
        .unwrap();
    let error = client.execute(&pay_request()).await.unwrap_err();
    let bad = error.bad_response().unwrap();
    assert!(
        matches!(bad.kind(), BadResponseKind::TooLarge { limit: 100_000 }),
        "{bad:?}"
    );
    assert_eq!(bad.body().bytes().len(), ams_client::KEPT_BODY_BYTES);
    assert!(bad.body().is_truncated());
}
