//! Gateway faults, every rule: `unknown` with and without processing, `answer` (a chosen F or U
//! result, with and without processing), `delay`, `drop` (the committed-but-unanswered pay,
//! retried), `http500`, `unsigned`, `bad_signature`, and the rule's `skip`, `times` and
//! `request_id` matching. (`hold` has its own module, `transit`.)

use std::time::Duration;

use ams_protocol::Api;
use ams_sandbox::{AnswerStatus, FaultAction, FaultRule};
use ams_signing::{SignatureHeader, SignedContent};
use serde_json::json;

use crate::support::*;

fn unknown(code: &str) -> FaultAction {
    FaultAction::Unknown {
        code: code.to_owned(),
    }
}

#[tokio::test]
async fn an_unknown_fault_after_processing_hides_a_committed_payment() {
    for code in ["PAYMENT_IN_PROCESS", "UNKNOWN_EXCEPTION"] {
        let fx = Fixture::new().await;
        fx.sandbox
            .add_fault(FaultRule::new(Api::Pay, unknown(code)).process(true));
        let answer = fx.pay("u-done", 1_000).await;
        assert_eq!(
            (answer.result_status(), answer.result_code()),
            ("U", code),
            "{}",
            answer.body
        );
        // The debit happened: the inquiry says SUCCESS.
        assert_eq!(fx.debits("u-done"), 1, "{code}");
        let inquiry = fx.inquiry("u-done").await;
        assert_eq!(inquiry.json["paymentStatus"], "SUCCESS", "{code}");
        // The retry returns the same S without a second debit.
        let retry = fx.pay("u-done", 1_000).await;
        assert_eq!(retry.result_code(), "SUCCESS");
        assert_eq!(retry.str("paymentId"), inquiry.str("paymentId"));
        assert_eq!(fx.debits("u-done"), 1);
        assert_eq!(fx.balance(), 9_000);
    }
}

#[tokio::test]
async fn an_unknown_fault_without_processing_changes_nothing() {
    for code in ["PAYMENT_IN_PROCESS", "UNKNOWN_EXCEPTION"] {
        let fx = Fixture::new().await;
        fx.sandbox
            .add_fault(FaultRule::new(Api::Pay, unknown(code)).process(false));
        let before = fx.snapshot();
        let answer = fx.pay("u-none", 1_000).await;
        assert_eq!((answer.result_status(), answer.result_code()), ("U", code));
        assert_eq!(fx.snapshot(), before, "{code}");
        assert_eq!(
            fx.inquiry("u-none").await.result_code(),
            "ORDER_NOT_EXIST",
            "{code}"
        );
        // The retry does the work, once.
        assert_eq!(fx.pay("u-none", 1_000).await.result_code(), "SUCCESS");
        assert_eq!(fx.debits("u-none"), 1);
    }
}

fn answer_with(status: AnswerStatus, code: &str) -> FaultAction {
    FaultAction::Answer {
        status,
        code: code.to_owned(),
    }
}

/// The answer holds `result` and nothing else.
fn assert_result_only(answer: &Answer, status: &str, code: &str) {
    assert_eq!(answer.status, 200);
    assert_eq!(
        (answer.result_status(), answer.result_code()),
        (status, code),
        "{}",
        answer.body
    );
    let fields: Vec<&String> = answer.json.as_object().expect("object").keys().collect();
    assert_eq!(fields, ["result"], "{}", answer.body);
}

#[tokio::test]
async fn an_answer_fault_without_processing_answers_that_result_and_changes_nothing() {
    let fx = Fixture::new().await;
    fx.pay("refused-cancel", 1_000).await;
    fx.sandbox.add_fault(
        FaultRule::new(
            Api::Cancel,
            answer_with(AnswerStatus::F, "ORDER_STATUS_INVALID"),
        )
        .process(false),
    );
    let before = fx.snapshot();
    // `cancel` verifies the signature: the answer is signed.
    let cancel = fx.cancel("refused-cancel").await;
    assert_result_only(&cancel, "F", "ORDER_STATUS_INVALID");
    assert_eq!(fx.snapshot(), before);
    assert_eq!(
        fx.inquiry("refused-cancel").await.json["paymentStatus"],
        "SUCCESS"
    );
    // Fired once: the next cancel is processed.
    assert_eq!(fx.cancel("refused-cancel").await.result_code(), "SUCCESS");
    assert_eq!(fx.balance(), 10_000);
}

#[tokio::test]
async fn an_answer_fault_after_processing_hides_a_committed_debit() {
    let fx = Fixture::new().await;
    fx.sandbox.add_fault(FaultRule::new(
        Api::Pay,
        answer_with(AnswerStatus::F, "REPEAT_REQ_INCONSISTENT"),
    ));
    let answer = fx.pay("said-failed", 1_000).await;
    assert_result_only(&answer, "F", "REPEAT_REQ_INCONSISTENT");
    // The debit happened whatever the answer said.
    assert_eq!(fx.debits("said-failed"), 1);
    let inquiry = fx.inquiry("said-failed").await;
    assert_eq!(inquiry.json["paymentStatus"], "SUCCESS");
    let retry = fx.pay("said-failed", 1_000).await;
    assert_eq!(retry.result_code(), "SUCCESS");
    assert_eq!(retry.str("paymentId"), inquiry.str("paymentId"));
    assert_eq!(fx.debits("said-failed"), 1);
    assert_eq!(fx.balance(), 9_000);
}

#[tokio::test]
async fn an_answer_fault_is_set_over_http_with_status_f_or_u_only() {
    let fx = Fixture::new().await;
    let control = Control::new(&fx.sandbox);
    let (status, body) = control
        .post(
            "/sandbox/faults",
            &json!({
                "api": "inquiryPayment",
                "process": false,
                "action": { "kind": "answer", "status": "U", "code": "REQUEST_TRAFFIC_EXCEED_LIMIT" }
            }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    fx.pay("busy", 100).await;
    assert_result_only(
        &fx.inquiry("busy").await,
        "U",
        "REQUEST_TRAFFIC_EXCEED_LIMIT",
    );
    assert_eq!(fx.inquiry("busy").await.json["paymentStatus"], "SUCCESS");
    for bad in [
        json!({ "api": "pay", "action": { "kind": "answer", "status": "S", "code": "SUCCESS" } }),
        json!({ "api": "pay", "action": { "kind": "answer", "status": "F" } }),
    ] {
        let (status, body) = control.post("/sandbox/faults", &bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
}

#[tokio::test]
async fn a_delay_fault_holds_the_answer() {
    let fx = Fixture::new().await;
    fx.pay("slow", 1_000).await;
    fx.sandbox.add_fault(FaultRule::new(
        Api::InquiryPayment,
        FaultAction::Delay { ms: 300 },
    ));
    let started = tokio::time::Instant::now();
    let answer = fx.inquiry("slow").await;
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(300),
        "answered after {elapsed:?}"
    );
    // The answer itself is the real, signed one.
    assert_eq!(answer.json["paymentStatus"], "SUCCESS");
}

#[tokio::test]
async fn a_dropped_pay_commits_once_and_its_retry_returns_the_same_success() {
    let fx = Fixture::new().await;
    fx.sandbox
        .add_fault(FaultRule::new(Api::Pay, FaultAction::Drop));
    let lost = fx
        .client
        .try_call(Api::Pay, &pay_body("dropped", &usd(2_000), &fx.access))
        .await;
    assert!(lost.is_err(), "an answer came back: {lost:?}");
    // Committed exactly once.
    assert_eq!(fx.debits("dropped"), 1);
    assert_eq!(fx.balance(), 8_000);
    let retry = fx.pay("dropped", 2_000).await;
    assert_eq!(
        (retry.result_status(), retry.result_code()),
        ("S", "SUCCESS")
    );
    let ledger = fx.sandbox.ledger(Some("dropped"), None);
    assert_eq!(ledger.debits, 1);
    assert_eq!(retry.str("paymentId"), ledger.entries[0].payment_id);
    assert_eq!(fx.balance(), 8_000);
}

#[tokio::test]
async fn the_second_pay_for_a_request_id_times_out_after_committing_and_the_ledger_shows_one_debit()
{
    let fx = Fixture::new().await;
    // Through the control API, as a test in another language would.
    let (status, _) = Control::new(&fx.sandbox)
        .post(
            "/sandbox/faults",
            &json!({ "api": "pay", "request_id": "showcase", "skip": 1, "action": { "kind": "drop" } }),
        )
        .await;
    assert_eq!(status, 201);
    let first = fx.pay("showcase", 1_500).await;
    assert_eq!(first.result_code(), "SUCCESS");
    let second = fx
        .client
        .try_call(Api::Pay, &pay_body("showcase", &usd(1_500), &fx.access))
        .await;
    assert!(second.is_err(), "{second:?}");
    let (status, ledger) = Control::new(&fx.sandbox)
        .get("/sandbox/ledger?payment_request_id=showcase")
        .await;
    assert_eq!(status, 200);
    assert_eq!(ledger["debits"], 1, "{ledger}");
    assert_eq!(ledger["entries"][0]["user"], ALICE);
    let third = fx.pay("showcase", 1_500).await;
    assert_eq!(third.str("paymentId"), first.str("paymentId"));
    assert_eq!(fx.debits("showcase"), 1);
    assert_eq!(fx.balance(), 8_500);
}

#[tokio::test]
async fn a_dropped_refund_commits_once() {
    let fx = Fixture::new().await;
    let paid = fx.pay("refund-drop", 3_000).await.str("paymentId");
    fx.sandbox
        .add_fault(FaultRule::new(Api::Refund, FaultAction::Drop).for_request("r-drop"));
    let body = refund_body("r-drop", &paid, &usd(1_000));
    assert!(fx.client.try_call(Api::Refund, &body).await.is_err());
    let retry = fx.client.call(Api::Refund, &body).await;
    assert_eq!(retry.result_code(), "SUCCESS", "{}", retry.body);
    assert_eq!(fx.sandbox.ledger(Some("refund-drop"), None).credits, 1);
    assert_eq!(fx.balance(), 8_000);
}

#[tokio::test]
async fn an_http_500_answers_nothing_signed() {
    for process in [true, false] {
        let fx = Fixture::new().await;
        fx.sandbox
            .add_fault(FaultRule::new(Api::Pay, FaultAction::Http500).process(process));
        let path = Api::Pay.path();
        let answer = fx
            .client
            .call_raw(
                path,
                &pay_body("five-hundred", &usd(1_000), &fx.access).to_string(),
            )
            .await;
        assert_eq!(answer.status, 500);
        assert!(answer.body.is_empty(), "{}", answer.body);
        assert!(answer.headers.get("signature").is_none());
        assert_eq!(fx.debits("five-hundred"), u32::from(process));
        let retry = fx.pay("five-hundred", 1_000).await;
        assert_eq!(retry.result_code(), "SUCCESS");
        assert_eq!(fx.debits("five-hundred"), 1);
    }
}

#[tokio::test]
async fn an_unsigned_fault_answers_without_a_signature_header() {
    let fx = Fixture::new().await;
    fx.sandbox
        .add_fault(FaultRule::new(Api::Pay, FaultAction::Unsigned));
    let answer = fx
        .client
        .call_raw(
            Api::Pay.path(),
            &pay_body("unsigned", &usd(1_000), &fx.access).to_string(),
        )
        .await;
    assert_eq!(answer.status, 200);
    assert!(
        answer.headers.get("signature").is_none(),
        "{:?}",
        answer.headers
    );
    assert!(answer.headers.get("response-time").is_some());
    assert_eq!(
        answer.result_code(),
        "SUCCESS",
        "the body is the real answer"
    );
    assert_eq!(fx.debits("unsigned"), 1);
    // The next answer is signed again.
    fx.pay("unsigned", 1_000).await;
}

#[tokio::test]
async fn a_bad_signature_fault_answers_with_a_signature_that_does_not_verify() {
    let fx = Fixture::new().await;
    fx.sandbox.add_fault(FaultRule::new(
        Api::InquiryPayment,
        FaultAction::BadSignature,
    ));
    fx.pay("bad-sig", 1_000).await;
    let path = Api::InquiryPayment.path();
    let answer = fx
        .client
        .call_raw(path, &json!({ "paymentRequestId": "bad-sig" }).to_string())
        .await;
    assert_eq!(answer.status, 200);
    let header: SignatureHeader = answer
        .headers
        .get("signature")
        .and_then(|v| v.to_str().ok())
        .expect("a signature header is present")
        .parse()
        .expect("well-formed");
    let get = |name: &str| {
        answer
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .expect(name)
            .to_owned()
    };
    let (client_id, time) = (get("client-id"), get("response-time"));
    let content = SignedContent::response(path, &client_id, &time, answer.body.as_bytes());
    assert!(
        fx.client.alipay.verify(&content, &header).is_err(),
        "the signature must not verify with Alipay's key"
    );
    assert_eq!(answer.json["paymentStatus"], "SUCCESS");
    // The rule fired once: the next inquiry verifies.
    fx.inquiry("bad-sig").await;
}

#[tokio::test]
async fn skip_and_times_count_matching_calls() {
    let fx = Fixture::new().await;
    fx.pay("counted", 100).await;
    fx.sandbox.add_fault(
        FaultRule::new(Api::InquiryPayment, FaultAction::Http500)
            .skip(2)
            .times(Some(2)),
    );
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let answer = fx
            .client
            .call_raw(
                Api::InquiryPayment.path(),
                &json!({ "paymentRequestId": "counted" }).to_string(),
            )
            .await;
        statuses.push(answer.status);
    }
    assert_eq!(statuses, [200, 200, 500, 500, 200, 200]);
    // Other APIs do not count.
    fx.pay("counted", 100).await;
    let (_, faults) = Control::new(&fx.sandbox).get("/sandbox/faults").await;
    assert_eq!(faults[0]["seen"], 6, "{faults}");
    assert_eq!(faults[0]["fired"], 2, "{faults}");
}

#[tokio::test]
async fn a_rule_without_a_limit_fires_until_cleared() {
    let fx = Fixture::new().await;
    fx.sandbox.add_fault(
        FaultRule::new(Api::Consult, unknown("UNKNOWN_EXCEPTION"))
            .times(None)
            .process(false),
    );
    for _ in 0..3 {
        let answer = fx
            .client
            .call(
                Api::Consult,
                &consult_body("always", "https://merchant.example/r"),
            )
            .await;
        assert_eq!(answer.result_code(), "UNKNOWN_EXCEPTION");
        assert!(answer.json["normalUrl"].is_null());
    }
    fx.sandbox.clear_faults();
    let answer = fx
        .client
        .call(
            Api::Consult,
            &consult_body("always", "https://merchant.example/r"),
        )
        .await;
    assert_eq!(answer.result_code(), "SUCCESS");
}

#[tokio::test]
async fn a_rule_for_a_request_id_spares_other_requests() {
    let fx = Fixture::new().await;
    fx.sandbox
        .add_fault(FaultRule::new(Api::Pay, FaultAction::Http500).for_request("target"));
    fx.sandbox.add_fault(
        FaultRule::new(Api::Refund, unknown("UNKNOWN_EXCEPTION")).for_request("r-target"),
    );
    assert_eq!(fx.pay("bystander", 100).await.result_code(), "SUCCESS");
    let hit = fx
        .client
        .call_raw(
            Api::Pay.path(),
            &pay_body("target", &usd(100), &fx.access).to_string(),
        )
        .await;
    assert_eq!(hit.status, 500);
    let paid = fx.inquiry("bystander").await.str("paymentId");
    let spared = fx
        .client
        .call(Api::Refund, &refund_body("r-other", &paid, &usd(10)))
        .await;
    assert_eq!(spared.result_code(), "SUCCESS");
    let hit = fx
        .client
        .call(Api::Refund, &refund_body("r-target", &paid, &usd(10)))
        .await;
    assert_eq!(hit.result_code(), "UNKNOWN_EXCEPTION");
}
