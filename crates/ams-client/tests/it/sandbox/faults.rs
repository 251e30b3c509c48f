//! Every gateway fault of the sandbox, seen through the client: `U` answers are `Outcome::Unknown`;
//! timeouts, dropped connections and HTTP 500 are `MaybeSent`; unsigned and mis-signed answers are
//! `BadResponse` — never a result, even when the body inside says S. The sandbox's ledger shows what
//! really happened: with `process: true` the money moved, with `process: false` nothing changed.

use std::time::Duration;

use ams_client::{
    BadResponseKind, Clock as _, Error, MaybeSentKind, Outcome, VerificationError, VerifyError,
};
use ams_protocol::{Api, PaymentStatus, ResultCode, ResultStatus};
use ams_sandbox::{FaultAction, FaultRule};
use ams_signing::VerifyErrorKind;

use super::*;

/// The per-attempt timeout of `pay` in the delay tests; the delay is far longer.
const PAY_TIMEOUT: Duration = Duration::from_millis(750);
const DELAY_MS: u64 = 5_000;

fn fault(payment_request_id: &str, action: FaultAction) -> FaultRule {
    FaultRule::new(Api::Pay, action).for_request(payment_request_id)
}

fn unknown(code: &str) -> FaultAction {
    FaultAction::Unknown {
        code: code.to_owned(),
    }
}

/// The request reached the sandbox and was committed: exactly one debit, and inquiry says SUCCESS.
async fn assert_paid_once(f: &Fixture, payment_request_id: &str) {
    assert_eq!(f.debits(payment_request_id), 1, "{payment_request_id}");
    let found = f.inquire(payment_request_id).await;
    assert_eq!(found.payment_status, Some(PaymentStatus::Success));
}

/// Nothing happened: no debit, and inquiry does not know the payment.
async fn assert_nothing_happened(f: &Fixture, payment_request_id: &str) {
    assert_eq!(f.debits(payment_request_id), 0, "{payment_request_id}");
    let missing = f
        .failed(&ams_protocol::InquiryPaymentRequest::by_payment_request_id(
            payment_request_id,
        ))
        .await;
    assert_eq!(missing.result.code(), &ResultCode::OrderNotExist);
}

#[tokio::test]
async fn unknown_answers_are_unknown_outcomes() {
    let f = Fixture::start().await;
    let token = f.alice_token().await;
    for (id, code) in [
        ("PAY_U_1", ResultCode::PaymentInProcess),
        ("PAY_U_2", ResultCode::UnknownException),
    ] {
        f.sandbox.add_fault(fault(id, unknown(code.as_str())));
        let outcome = f.pay(&pay(id, usd(1_000), &token)).await.unwrap();
        let Outcome::Unknown(answer) = &outcome else {
            panic!("expected Unknown, got {outcome:?}")
        };
        assert_eq!(answer.result.code(), &code);
        assert_eq!(answer.result.status(), &ResultStatus::U);
        // Unknown is not failed: the sandbox took the money, as Alipay may have.
        assert_paid_once(&f, id).await;
    }
    // pay is never retried by default.
    assert!(f.clock.sleeps().is_empty());
    assert_eq!(f.fault_counters().await, [(1, 1), (1, 1)]);
}

#[tokio::test]
async fn a_delay_past_the_call_timeout_is_maybe_sent_and_the_debit_happened() {
    let f = Fixture::start_with(SANDBOX_CLIENT_ID, |b| b.api_timeout(Api::Pay, PAY_TIMEOUT)).await;
    let token = f.alice_token().await;
    f.sandbox
        .add_fault(fault("PAY_SLOW", FaultAction::Delay { ms: DELAY_MS }));

    let error = f
        .pay(&pay("PAY_SLOW", usd(1_000), &token))
        .await
        .unwrap_err();
    let Error::MaybeSent(maybe) = &error else {
        panic!("expected MaybeSent, got {error:?}")
    };
    assert_eq!(maybe.kind(), &MaybeSentKind::Timeout);
    assert!(error.is_outcome_unknown());
    // Committed before the delay: the timeout hid a debit, which inquiry reveals.
    assert_paid_once(&f, "PAY_SLOW").await;
}

#[tokio::test]
async fn a_dropped_connection_after_commit_is_maybe_sent_and_the_retry_does_not_debit_twice() {
    let f = Fixture::start().await;
    let token = f.alice_token().await;
    f.sandbox.add_fault(fault("PAY_DROP", FaultAction::Drop));
    let request = pay("PAY_DROP", usd(1_000), &token);

    let error = f.pay(&request).await.unwrap_err();
    let Error::MaybeSent(maybe) = &error else {
        panic!("expected MaybeSent, got {error:?}")
    };
    assert_eq!(maybe.kind(), &MaybeSentKind::ConnectionClosed);
    assert_eq!(maybe.status(), None);
    assert_eq!(f.debits("PAY_DROP"), 1);

    // The same request again (same paymentRequestId, same body): Alipay's idempotency answers S.
    let retried = f.pay(&request).await.unwrap();
    let Outcome::Success(paid) = retried else {
        panic!("expected S, got {retried:?}")
    };
    assert_eq!(paid.payment_amount, Some(usd(1_000)));
    assert_eq!(f.debits("PAY_DROP"), 1);
    assert_eq!(f.balance(ALICE), usd(9_000));
    assert_eq!(
        f.inquire("PAY_DROP").await.payment_id,
        paid.payment_id,
        "the retry answered the first payment"
    );
}

#[tokio::test]
async fn http_500_is_maybe_sent() {
    let f = Fixture::start().await;
    let token = f.alice_token().await;
    f.sandbox.add_fault(fault("PAY_500", FaultAction::Http500));

    let error = f
        .pay(&pay("PAY_500", usd(1_000), &token))
        .await
        .unwrap_err();
    let Error::MaybeSent(maybe) = &error else {
        panic!("expected MaybeSent, got {error:?}")
    };
    assert_eq!(maybe.kind(), &MaybeSentKind::HttpStatus);
    assert_eq!(error.status().map(|s| s.as_u16()), Some(500));
    // The empty 500 body was checked too, and refused.
    assert_eq!(
        maybe.rejected().and_then(|r| r.verification()),
        Some(&VerificationError::Unsigned)
    );
    assert_paid_once(&f, "PAY_500").await;
}

#[tokio::test]
async fn an_unsigned_answer_is_a_bad_response_never_a_result() {
    let f = Fixture::start().await;
    let token = f.alice_token().await;
    f.sandbox
        .add_fault(fault("PAY_UNSIGNED", FaultAction::Unsigned));

    let error = f
        .pay(&pay("PAY_UNSIGNED", usd(1_000), &token))
        .await
        .unwrap_err();
    let Error::BadResponse(bad) = &error else {
        panic!("expected BadResponse, got {error:?}")
    };
    assert!(matches!(
        bad.kind(),
        BadResponseKind::Verification(VerificationError::Unsigned)
    ));
    assert_eq!(bad.status().as_u16(), 200);
    // The body says S, and it is still not believed.
    let body = String::from_utf8_lossy(bad.body().bytes()).into_owned();
    assert!(body.contains(r#""resultStatus":"S""#), "{body}");
    assert!(error.is_outcome_unknown());
    assert_paid_once(&f, "PAY_UNSIGNED").await;
}

#[tokio::test]
async fn a_bad_signature_is_a_bad_response_with_the_verify_error() {
    let f = Fixture::start().await;
    let token = f.alice_token().await;
    f.sandbox
        .add_fault(fault("PAY_FORGED", FaultAction::BadSignature));

    let error = f
        .pay(&pay("PAY_FORGED", usd(1_000), &token))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::BadResponse(_)), "{error:?}");
    let verify: &VerifyError = error.verify_error().expect("a signature-layer diagnosis");
    assert_eq!(verify.kind(), &VerifyErrorKind::Mismatch);
    let checked = verify.checked();
    assert_eq!(
        checked.request_line,
        "POST /ams/sandbox/api/v1/payments/pay"
    );
    assert_eq!(checked.client_id, SANDBOX_CLIENT_ID);
    assert_eq!(
        checked.key_fingerprint,
        f.sandbox.alipay_public_key().fingerprint()
    );
    assert!(error.is_outcome_unknown());
    assert_paid_once(&f, "PAY_FORGED").await;
}

#[tokio::test]
async fn faults_without_processing_change_nothing() {
    let f = Fixture::start_with(SANDBOX_CLIENT_ID, |b| b.api_timeout(Api::Pay, PAY_TIMEOUT)).await;
    let token = f.alice_token().await;
    let cases = [
        ("PAY_NP_UNKNOWN", unknown("UNKNOWN_EXCEPTION")),
        ("PAY_NP_DELAY", FaultAction::Delay { ms: DELAY_MS }),
        ("PAY_NP_DROP", FaultAction::Drop),
        ("PAY_NP_500", FaultAction::Http500),
        ("PAY_NP_UNSIGNED", FaultAction::Unsigned),
        ("PAY_NP_FORGED", FaultAction::BadSignature),
    ];
    for (id, action) in cases {
        f.sandbox
            .add_fault(fault(id, action.clone()).process(false));
        let request = pay(id, usd(100), &token);
        let result = f.pay(&request).await;
        let as_expected = match (&action, &result) {
            (FaultAction::Unknown { .. }, Ok(Outcome::Unknown(_))) => true,
            (FaultAction::Delay { .. }, Err(Error::MaybeSent(m))) => {
                m.kind() == &MaybeSentKind::Timeout
            }
            (FaultAction::Drop, Err(Error::MaybeSent(m))) => {
                m.kind() == &MaybeSentKind::ConnectionClosed
            }
            (FaultAction::Http500, Err(Error::MaybeSent(m))) => {
                m.kind() == &MaybeSentKind::HttpStatus
            }
            (FaultAction::Unsigned | FaultAction::BadSignature, Err(Error::BadResponse(_))) => true,
            _ => false,
        };
        assert!(as_expected, "{action:?}: {result:?}");
        assert_nothing_happened(&f, id).await;

        // Resolved the way a merchant would: inquiry says it does not exist, so pay again.
        let again = f.pay(&request).await.unwrap();
        assert!(again.is_success(), "{action:?}: {again:?}");
        assert_eq!(f.debits(id), 1, "{action:?}");
    }
    assert_eq!(f.balance(ALICE), usd(10_000 - 6 * 100));
}

#[tokio::test]
async fn an_inquiry_held_past_its_timeout_is_maybe_sent_at_once() {
    // inquiryPayment defaults to 3 s (call again when no result comes within 3 s); a shorter
    // api_timeout replaces it, and a delayed answer ends the call when that timeout fires.
    const INQUIRY_TIMEOUT: Duration = Duration::from_millis(300);
    const HELD_MS: u64 = 1_500;
    let f = Fixture::start_with(SANDBOX_CLIENT_ID, |b| {
        b.api_timeout(Api::InquiryPayment, INQUIRY_TIMEOUT)
    })
    .await;
    assert_eq!(f.client.timeout_for(Api::InquiryPayment), INQUIRY_TIMEOUT);
    assert_eq!(f.client.timeout_for(Api::Cancel), Duration::from_secs(3));
    let token = f.alice_token().await;
    assert!(
        f.pay(&pay("PAY_INQ_SLOW", usd(500), &token))
            .await
            .unwrap()
            .is_success()
    );
    f.sandbox.add_fault(
        FaultRule::new(Api::InquiryPayment, FaultAction::Delay { ms: HELD_MS })
            .for_request("PAY_INQ_SLOW"),
    );

    // Real time, through the crate's system clock: the timeout fires in real time.
    let real = ams_client::SystemClock::new();
    let started = real.monotonic();
    let result = f
        .client
        .execute(&ams_protocol::InquiryPaymentRequest::by_payment_request_id(
            "PAY_INQ_SLOW",
        ))
        .await;
    let waited = real.monotonic().saturating_sub(started);

    let Err(Error::MaybeSent(maybe)) = &result else {
        panic!("expected MaybeSent, got {result:?}")
    };
    assert_eq!(maybe.kind(), &MaybeSentKind::Timeout);
    assert!(
        waited >= INQUIRY_TIMEOUT && waited < Duration::from_millis(HELD_MS),
        "the call took {waited:?}"
    );
    // One attempt (inquiryPayment is not retried by default), and the rule fired on it.
    assert_eq!(f.fault_counters().await, [(1, 1)]);
    assert!(f.clock.sleeps().is_empty());
    // Calling again, as Alipay advises, gets the answer.
    assert_eq!(
        f.inquire("PAY_INQ_SLOW").await.payment_status,
        Some(PaymentStatus::Success)
    );
}
