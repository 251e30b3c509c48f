//! Refunds over the server: an unknown answer is sent again with the same bytes, then inquired,
//! and credits once whether or not the first send took effect; every lost or unbelievable answer
//! ends the same way; a refusal fails the refund and gives its amount back; a refund of a payment
//! that is not paid (cancelled, failed, processing, being cancelled) is refused; the refunds of a
//! payment never add up to more than was paid, also when many are asked at once with different
//! keys, and also counting those still processing; and a refund is answered with the outcome of
//! its own first send (no worker takes it first).

use ams_protocol::Api;
use ams_sandbox::{AnswerStatus, FaultAction, FaultRule};
use serde_json::{Value, json};

use super::{Srv, prid, server_test};

fn answer(status: AnswerStatus, code: &str) -> FaultAction {
    FaultAction::Answer {
        status,
        code: code.into(),
    }
}

fn settled(r: &Value) -> bool {
    r["status"] != "processing"
}

/// Refunds are told by their answers and inquiries only.
fn skip_refund_notifications(s: &Srv) {
    s.sandbox().add_notification_fault(
        ams_sandbox::NotificationFaultRule::new(
            Some(ams_sandbox::NotificationKind::Refund),
            ams_sandbox::NotificationFaultAction::Skip,
        )
        .times(None),
    );
}

async fn refund(s: &Srv, pay: &str, key: &str, amount: u64) -> super::Resp {
    s.post(
        &format!("/v1/payments/{pay}/refunds"),
        key,
        json!({"amount": amount, "reason": "test"}),
    )
    .await
}

server_test! {
    async fn unknown_refund_answers_are_sent_again_then_inquired_and_credit_once(db) {
        let s = Srv::with(&db, |c| c.alipay.call_again_timeout_ms = 2_000).await;
        let auth = s.bind().await;
        skip_refund_notifications(&s);
        let paid = s.charge(&auth, "ru-1", 10_000).await;
        let pay = paid.str("id").to_owned();

        // U every time for the whole burst: after 60 s the refund is inquired, and the inquiry
        // finds it (the first send took effect).
        s.fault(FaultRule::new(Api::Refund, answer(AnswerStatus::U, "UNKNOWN_EXCEPTION")).times(None));
        let first = refund(&s, &pay, "ru-1-a", 1_000).await;
        assert_eq!((first.status, first.str("status")), (201, "processing"), "{}", first.body);
        let rrid = first.str("refund_request_id").to_owned();
        assert_eq!(s.credits(&rrid), 1);
        let done = s.drive(&format!("/v1/refunds/{}", first.str("id")), settled).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        assert!(s.fired().await[0] >= 2, "sent again with the same bytes");
        assert_eq!(s.credits(&rrid), 1, "credited once");
        s.sandbox().clear_faults();
        skip_refund_notifications(&s);

        // U three times without taking effect: sent again until it does, credited once.
        s.fault(FaultRule::new(Api::Refund, answer(AnswerStatus::U, "UNKNOWN_EXCEPTION")).times(Some(3)).process(false));
        let second = refund(&s, &pay, "ru-1-b", 2_000).await;
        assert_eq!(second.str("status"), "processing");
        let rrid = second.str("refund_request_id").to_owned();
        assert_eq!(s.credits(&rrid), 0);
        let done = s.drive(&format!("/v1/refunds/{}", second.str("id")), settled).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        assert_eq!(s.credits(&rrid), 1);

        // The whole burst unanswered and never taken: the inquiry finds no such refund; the same
        // bytes go again.
        s.sandbox().clear_faults();
        skip_refund_notifications(&s);
        s.fault(FaultRule::new(Api::Refund, answer(AnswerStatus::U, "UNKNOWN_EXCEPTION")).times(Some(20)).process(false));
        let third = refund(&s, &pay, "ru-1-c", 3_000).await;
        let rrid = third.str("refund_request_id").to_owned();
        let done = s.drive(&format!("/v1/refunds/{}", third.str("id")), settled).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        assert_eq!(s.credits(&rrid), 1);

        // Every kind of lost answer, after the refund took effect.
        s.sandbox().clear_faults();
        skip_refund_notifications(&s);
        let mut pending = Vec::new();
        for (n, action) in [FaultAction::Drop, FaultAction::Http500, FaultAction::Unsigned, FaultAction::BadSignature, FaultAction::Delay { ms: 2_600 }, answer(AnswerStatus::F, "REFUND_IN_PROCESS")]
            .into_iter()
            .enumerate()
        {
            s.fault(FaultRule::new(Api::Refund, action.clone()));
            let res = refund(&s, &pay, &format!("ru-lost-{n}"), 100).await;
            assert_eq!(res.str("status"), "processing", "{action:?}: {}", res.body);
            pending.push((action, res.str("id").to_owned(), res.str("refund_request_id").to_owned()));
        }
        for (action, id, rrid) in &pending {
            let done = s.drive(&format!("/v1/refunds/{id}"), settled).await;
            assert_eq!(done["status"], "succeeded", "{action:?}: {done}");
            assert_eq!(s.credits(rrid), 1, "{action:?}");
        }
        let payment = s.get(&format!("/v1/payments/{pay}")).await.body;
        assert_eq!(payment["amount_refunded"], 6_600);
        s.settle().await;
    }
}

server_test! {
    async fn a_refused_refund_fails_and_gives_its_amount_back(db) {
        let s = Srv::start(&db).await;
        let auth = s.bind().await;
        let paid = s.charge(&auth, "rf-1", 1_000).await;
        let pay = paid.str("id").to_owned();
        s.fault_unprocessed(Api::Refund, answer(AnswerStatus::F, "REFUND_WINDOW_EXCEED"));
        let refused = refund(&s, &pay, "rf-1-a", 1_000).await;
        assert_eq!((refused.status, refused.str("status")), (201, "failed"), "{}", refused.body);
        assert_eq!(refused.body["failure"]["code"], "REFUND_WINDOW_EXCEED");
        assert_eq!(s.credits(refused.str("refund_request_id")), 0);
        let payment = s.get(&format!("/v1/payments/{pay}")).await.body;
        assert_eq!((payment["status"].as_str(), payment["amount_refunded"].as_u64()), (Some("succeeded"), Some(0)));
        // The whole amount can be refunded again.
        let full = refund(&s, &pay, "rf-1-b", 1_000).await;
        assert_eq!(full.str("status"), "succeeded", "{}", full.body);
        let over = refund(&s, &pay, "rf-1-c", 1).await;
        assert_eq!((over.status, over.str("code"), over.str("param")), (400, "amount_exceeds_refundable", "/amount"));
        // The same key replays the first answer, even now.
        let replay = refund(&s, &pay, "rf-1-a", 1_000).await;
        assert_eq!((replay.status, &replay.body), (201, &refused.body));
        s.settle().await;
    }
}

server_test! {
    async fn only_paid_payments_are_refunded(db) {
        let s = Srv::start(&db).await;
        let auth = s.bind().await;
        let not_refundable = |res: &super::Resp, what: &str| {
            assert_eq!((res.status, res.str("code")), (409, "payment_not_refundable"), "{what}: {}", res.body);
        };
        // Cancelled after it was paid: the cancel returned the money; a refund is refused.
        let paid = s.charge(&auth, "np-1", 1_000).await;
        let cancelled = s.post(&format!("/v1/payments/{}/cancel", paid.str("id")), "np-1-c", json!({})).await;
        assert_eq!(cancelled.str("status"), "cancelled", "{}", cancelled.body);
        not_refundable(&refund(&s, paid.str("id"), "np-1-re", 1_000).await, "cancelled");
        assert_eq!(s.ledger(&prid(&paid.body, 0)), (1, 1));

        // Processing, then being cancelled, then cancelled with nothing charged.
        s.fault_unprocessed(Api::Pay, answer(AnswerStatus::U, "UNKNOWN_EXCEPTION"));
        let pending = s.charge(&auth, "np-2", 1_000).await;
        assert_eq!(pending.str("status"), "processing");
        not_refundable(&refund(&s, pending.str("id"), "np-2-re", 1).await, "processing");
        let cancelling = s.post(&format!("/v1/payments/{}/cancel", pending.str("id")), "np-2-c", json!({})).await;
        assert_eq!(cancelling.str("status"), "processing", "{}", cancelling.body);
        not_refundable(&refund(&s, pending.str("id"), "np-2-re2", 1).await, "being cancelled");
        let done = s.drive(&format!("/v1/payments/{}", pending.str("id")), |p| p["status"] != "processing").await;
        assert_eq!(done["status"], "cancelled", "{done}");
        not_refundable(&refund(&s, pending.str("id"), "np-2-re3", 1).await, "cancelled unpaid");

        // Failed.
        s.fault_unprocessed(Api::Pay, answer(AnswerStatus::F, "RISK_REJECT"));
        let failed = s.charge(&auth, "np-3", 1_000).await;
        assert_eq!(failed.str("status"), "failed");
        not_refundable(&refund(&s, failed.str("id"), "np-3-re", 1).await, "failed");

        // A payment that is not there.
        let missing = refund(&s, "pay_nothing", "np-4-re", 1).await;
        assert_eq!(missing.status, 404);
        s.settle().await;
    }
}

server_test! {
    async fn concurrent_refunds_never_exceed_what_was_paid(db) {
        let s = Srv::start(&db).await;
        let auth = s.bind().await;
        let paid = s.charge(&auth, "cc-1", 1_000).await;
        assert_eq!(paid.str("status"), "succeeded", "{}", paid.body);
        let pay = paid.str("id").to_owned();
        // Ten refunds of 300 at once, each with its own key: at most three fit.
        let mut sends = tokio::task::JoinSet::new();
        for n in 0..10 {
            let (api, pay) = (s.api.clone(), pay.clone());
            sends.spawn(async move {
                api.post(&format!("/v1/payments/{pay}/refunds"), &format!("cc-1-{n}"), json!({"amount": 300})).await
            });
        }
        let answers = sends.join_all().await;
        let mut created = 0;
        for r in &answers {
            match r.status {
                201 => created += 1,
                400 => assert_eq!((r.str("code"), r.str("param")), ("amount_exceeds_refundable", "/amount")),
                409 => assert_eq!(r.str("code"), "concurrent_update", "{}", r.body),
                _ => panic!("{} {}", r.status, r.body),
            }
        }
        let summary: Vec<(u16, &Value)> = answers.iter().map(|r| (r.status, r.body.get("status").unwrap_or(&r.body["code"]))).collect();
        assert!((1..=3).contains(&created), "{created} created: {summary:?}");
        let refunds = s.all(&format!("/v1/payments/{pay}/refunds")).await;
        assert_eq!(refunds.len(), created);
        let total: u64 = refunds.iter().map(|r| r["amount"].as_u64().unwrap()).sum();
        assert!(total <= 1_000);
        assert_eq!(s.get(&format!("/v1/payments/{pay}")).await.body["amount_refunded"], total);

        // Refunds still processing count too: 600 unknown leaves 400, whatever is asked at once.
        let paid = s.charge(&auth, "cc-2", 1_000).await;
        assert_eq!(paid.str("status"), "succeeded", "{}", paid.body);
        let pay = paid.str("id").to_owned();
        s.fault_unprocessed(Api::Refund, FaultAction::Http500);
        let pending = refund(&s, &pay, "cc-2-a", 600).await;
        assert_eq!(pending.str("status"), "processing");
        let mut sends = tokio::task::JoinSet::new();
        for n in 0..6 {
            let (api, pay) = (s.api.clone(), pay.clone());
            sends.spawn(async move {
                api.post(&format!("/v1/payments/{pay}/refunds"), &format!("cc-2-{n}"), json!({"amount": 250})).await
            });
        }
        let answers = sends.join_all().await;
        let created: Vec<_> = answers.iter().filter(|r| r.status == 201).collect();
        let summary: Vec<(u16, &Value)> = answers.iter().map(|r| (r.status, r.body.get("status").unwrap_or(&r.body["code"]))).collect();
        assert_eq!(created.len(), 1, "only one 250 fits in 400: {summary:?}");
        assert!(answers.iter().all(|r| r.status < 500), "{summary:?}");
        s.settle().await;
        let payment = s.get(&format!("/v1/payments/{pay}")).await.body;
        assert_eq!(payment["amount_refunded"], 850);
        // And the balance agrees: 1,000 + 1,000 paid, refunded what the API says.
        let first_refunded = s.get(&format!("/v1/payments/{}", answers_first_pay(&s).await)).await.body["amount_refunded"].as_u64().unwrap();
        assert_eq!(s.balance(), 100_000 - 2_000 + 850 + first_refunded);
    }
}

async fn answers_first_pay(s: &Srv) -> String {
    s.get("/v1/payments?reference=order-cc-1").await.body["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

server_test! {
    async fn a_refund_answers_with_the_outcome_of_its_first_send(db) {
        // Many workers looking for due jobs all the time: none of them takes a refund the request
        // is about to send itself, so the answer says how that send went.
        let s = Srv::with(&db, |c| {
            c.workers.count = 8;
            c.workers.idle_poll_max_ms = 10;
        })
        .await;
        let auth = s.bind().await;
        let paid = s.charge(&auth, "first-1", 5_000).await;
        let pay = paid.str("id").to_owned();
        for n in 0..40 {
            let res = refund(&s, &pay, &format!("first-1-{n}"), 100).await;
            assert_eq!((res.status, res.str("status")), (201, "succeeded"), "refund {n}: {}", res.body);
        }
        s.settle().await;
    }
}
