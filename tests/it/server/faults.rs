//! Every gateway fault on the way of a payment, over the server: `pay` answers lost after the call
//! took effect (dropped connection, HTTP 500, unsigned or mis-signed answers, a delay past the
//! client's timeout, a `U` answer) are resolved by inquiry to one debit; the same faults before
//! the call took effect end unpaid (after the inquiries, the cancel, and the expiry with its
//! margin) and the order can be paid again; a chosen `F` fails with nothing charged, except one
//! that means the first request may have worked; `inquiryPayment` and `cancel` faults only delay
//! the outcome; a `pay` held in transit lands before or after its expiry, and a cancel that
//! overtakes it still ends with the money returned; a merchant's cancel is answered with the
//! outcome of its own first call (no worker takes it first), inside the window, and refused past
//! it. Time moves on the sandbox's clock only.

use ams_protocol::Api;
use ams_sandbox::{AnswerStatus, FaultAction, FaultRule, OvertakenPay};
use serde_json::{Value, json};

use super::{Srv, prid, server_test};

fn answer(status: AnswerStatus, code: &str) -> FaultAction {
    FaultAction::Answer {
        status,
        code: code.into(),
    }
}

/// Every kind of lost or unbelievable answer (the client's timeout is 1 s in these tests).
fn lost_answers() -> Vec<FaultAction> {
    vec![
        FaultAction::Drop,
        FaultAction::Http500,
        FaultAction::Unsigned,
        FaultAction::BadSignature,
        FaultAction::Delay { ms: 2_600 },
        answer(AnswerStatus::U, "UNKNOWN_EXCEPTION"),
        FaultAction::Unknown {
            code: "PAYMENT_IN_PROCESS".into(),
        },
    ]
}

async fn fast_timeouts(db: &super::Db) -> Srv {
    Srv::with(db, |c| {
        // Short, so a test waits little for a call that gets no answer; not so short that a
        // call answered at once times out on a loaded machine.
        c.alipay.call_timeout_ms = 2_000;
        c.alipay.call_again_timeout_ms = 2_000;
    })
    .await
}

fn settled(p: &Value) -> bool {
    p["status"] != "processing"
}

server_test! {
    async fn pay_answers_lost_after_the_pay_took_effect_are_resolved_by_inquiry(db) {
        let s = fast_timeouts(&db).await;
        let auth = s.bind().await;
        s.skip_payment_notifications();
        let mut pending = Vec::new();
        for (n, action) in lost_answers().into_iter().enumerate() {
            s.fault(FaultRule::new(Api::Pay, action.clone()));
            let res = s.charge(&auth, &format!("lost-{n}"), 100 + n as u64).await;
            assert_eq!((res.status, res.str("status")), (201, "processing"), "{action:?}: {}", res.body);
            assert_eq!(s.ledger(&prid(&res.body, 0)), (1, 0), "{action:?}: the pay took effect");
            pending.push((action, res.str("id").to_owned(), prid(&res.body, 0)));
        }
        assert!(s.fired().await.iter().all(|f| *f == 1), "every fault fired once");
        for (action, id, prid) in &pending {
            let done = s.drive(&format!("/v1/payments/{id}"), settled).await;
            assert_eq!(done["status"], "succeeded", "{action:?}: {done}");
            assert!(done["attempts"][0]["payment_id"].is_string());
            assert_eq!(s.ledger(prid), (1, 0), "{action:?}: debited once");
        }
        s.settle().await;
    }
}

server_test! {
    async fn pay_lost_before_it_took_effect_ends_unpaid_and_the_order_is_paid_again(db) {
        let s = fast_timeouts(&db).await;
        let auth = s.bind().await;
        s.skip_payment_notifications();
        let before = s.balance();
        let mut pending = Vec::new();
        for (n, action) in [FaultAction::Drop, FaultAction::Http500, answer(AnswerStatus::U, "UNKNOWN_EXCEPTION")]
            .into_iter()
            .enumerate()
        {
            s.fault(FaultRule::new(Api::Pay, action.clone()).process(false));
            let res = s.charge(&auth, &format!("never-{n}"), 500).await;
            assert_eq!((res.status, res.str("status")), (201, "processing"), "{action:?}: {}", res.body);
            pending.push((action, res.str("id").to_owned(), prid(&res.body, 0)));
        }
        // Inquiries find nothing; the payment is cancelled; "no such payment" is believed only
        // once its expiry and the margin have passed.
        let started = s.now_ms();
        for (action, id, prid) in &pending {
            let done = s.drive(&format!("/v1/payments/{id}"), settled).await;
            assert!(matches!(done["status"].as_str(), Some("cancelled" | "failed")), "{action:?}: {done}");
            assert_eq!(s.ledger(prid), (0, 0), "{action:?}");
        }
        assert!(s.now_ms() - started > 55_000 + 300_000, "not settled before the expiry and its margin");
        assert_eq!(s.balance(), before);
        // The same order, paid again: a new attempt, a new paymentRequestId.
        let (_, id, first) = &pending[0];
        let retried = s.post(&format!("/v1/payments/{id}/retry"), "never-retry", json!({})).await;
        assert_eq!((retried.status, retried.str("status")), (200, "succeeded"), "{}", retried.body);
        assert_eq!(retried.body["attempts"].as_array().unwrap().len(), 2);
        assert_ne!(&prid(&retried.body, 1), first);
        assert_eq!(s.balance(), before - 500);
        s.settle().await;
    }
}

server_test! {
    async fn chosen_f_answers_fail_with_nothing_charged_unless_they_mean_maybe(db) {
        let s = Srv::start(&db).await;
        let auth = s.bind().await;
        let before = s.balance();
        s.fault_unprocessed(Api::Pay, answer(AnswerStatus::F, "USER_BALANCE_NOT_ENOUGH"));
        let failed = s.charge(&auth, "f-1", 800).await;
        assert_eq!((failed.status, failed.str("status")), (201, "failed"), "{}", failed.body);
        assert_eq!(failed.body["failure"]["code"], "USER_BALANCE_NOT_ENOUGH");
        assert_eq!(s.ledger(&prid(&failed.body, 0)), (0, 0));
        // A refund or a cancel of a failed payment is refused.
        let id = failed.str("id");
        let refund = s.post(&format!("/v1/payments/{id}/refunds"), "f-1-re", json!({"amount": 1})).await;
        assert_eq!((refund.status, refund.str("code")), (409, "payment_not_refundable"), "{}", refund.body);
        let cancel = s.post(&format!("/v1/payments/{id}/cancel"), "f-1-cancel", json!({})).await;
        assert_eq!((cancel.status, cancel.str("code")), (409, "payment_not_cancellable"), "{}", cancel.body);

        // REPEAT_REQ_INCONSISTENT: the first request with this id may have worked: inquired,
        // never failed. (Here it did.)
        s.skip_payment_notifications();
        s.fault(FaultRule::new(Api::Pay, answer(AnswerStatus::F, "REPEAT_REQ_INCONSISTENT")));
        let maybe = s.charge(&auth, "f-2", 900).await;
        assert_eq!(maybe.str("status"), "processing", "{}", maybe.body);
        let done = s.drive(&format!("/v1/payments/{}", maybe.str("id")), settled).await;
        assert_eq!(done["status"], "succeeded", "{done}");

        // An invalid token: failed, and the authorization needs the user again.
        s.fault_unprocessed(Api::Pay, answer(AnswerStatus::F, "INVALID_ACCESS_TOKEN"));
        let rejected = s.charge(&auth, "f-3", 100).await;
        assert_eq!(rejected.str("status"), "failed", "{}", rejected.body);
        let a = s.get(&format!("/v1/authorizations/{auth}")).await.body;
        assert_eq!(a["status"], "needs_reauthorization", "{a}");
        assert_eq!(s.charge(&auth, "f-4", 100).await.status, 409);
        assert_eq!(s.balance(), before - 900);
        s.settle().await;
    }
}

server_test! {
    async fn a_signed_failure_after_the_pay_debited_is_shown_to_a_person(db) {
        // Alipay answers F but the pay took effect; its success notification comes later. The
        // answer is believed (F is final), so the contradiction must reach a person, never be
        // silent. (Not audited: by construction the ledger holds a debit the API calls failed;
        // the audit does catch exactly that.)
        let s = Srv::start(&db).await;
        let auth = s.bind().await;
        s.sandbox().add_notification_fault(ams_sandbox::NotificationFaultRule::new(
            Some(ams_sandbox::NotificationKind::Payment),
            ams_sandbox::NotificationFaultAction::Delay { ms: 10_000 },
        ));
        s.fault(FaultRule::new(Api::Pay, answer(AnswerStatus::F, "RISK_REJECT")));
        let res = s.charge(&auth, "lie-1", 600).await;
        assert_eq!(res.str("status"), "failed", "{}", res.body);
        let id = res.str("id").to_owned();
        assert_eq!(s.ledger(&prid(&res.body, 0)), (1, 0));
        assert_eq!(s.get(&format!("/v1/payments/{id}")).await.body["needs_attention"], false);
        s.advance(10_000);
        let flagged = s.until(&format!("/v1/payments/{id}"), |p| p["needs_attention"] == true).await;
        let codes: Vec<&str> = flagged["attention"].as_array().unwrap().iter().map(|a| a["code"].as_str().unwrap()).collect();
        assert!(codes.contains(&"contradiction"), "{flagged}");
        assert_eq!(flagged["status"], "failed", "{flagged}");
        let open = s.all("/v1/attention").await;
        assert!(open.iter().any(|a| a["subject_id"] == id.as_str()), "{open:?}");
    }
}

server_test! {
    async fn inquiry_faults_only_delay_the_outcome(db) {
        let s = fast_timeouts(&db).await;
        let auth = s.bind().await;
        s.skip_payment_notifications();
        s.fault(FaultRule::new(Api::Pay, FaultAction::Drop));
        let res = s.charge(&auth, "inq-1", 1_200).await;
        assert_eq!(res.str("status"), "processing");
        let actions = [
            FaultAction::Drop,
            FaultAction::Http500,
            FaultAction::Unsigned,
            FaultAction::BadSignature,
            FaultAction::Delay { ms: 2_600 },
            answer(AnswerStatus::U, "UNKNOWN_EXCEPTION"),
            answer(AnswerStatus::F, "ORDER_NOT_EXIST"),
            answer(AnswerStatus::F, "SYSTEM_ERROR"),
        ];
        for action in &actions {
            s.fault(FaultRule::new(Api::InquiryPayment, action.clone()));
        }
        let done = s.drive(&format!("/v1/payments/{}", res.str("id")), settled).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        assert!(s.fired().await.iter().all(|f| *f == 1), "every inquiry fault fired: {:?}", s.fired().await);
        assert_eq!(s.ledger(&prid(&res.body, 0)), (1, 0));
        s.settle().await;
    }
}

server_test! {
    async fn cancel_answers_lost_after_it_took_effect_are_sent_again(db) {
        let s = fast_timeouts(&db).await;
        let auth = s.bind().await;
        s.skip_payment_notifications();
        let mut pending = Vec::new();
        for (n, action) in [FaultAction::Drop, FaultAction::Http500, FaultAction::Unsigned, FaultAction::BadSignature, FaultAction::Delay { ms: 2_600 }, answer(AnswerStatus::U, "UNKNOWN_EXCEPTION")]
            .into_iter()
            .enumerate()
        {
            // The pay took effect, its answer is unknown; the merchant cancels; the cancel takes
            // effect and its answer is lost.
            s.fault(FaultRule::new(Api::Pay, answer(AnswerStatus::U, "UNKNOWN_EXCEPTION")));
            let res = s.charge(&auth, &format!("cx-{n}"), 300).await;
            assert_eq!(res.str("status"), "processing");
            let id = res.str("id").to_owned();
            s.fault(FaultRule::new(Api::Cancel, action.clone()));
            let cancel = s.post(&format!("/v1/payments/{id}/cancel"), &format!("cx-{n}-c"), json!({})).await;
            assert_eq!((cancel.status, cancel.str("status")), (200, "processing"), "{action:?}: {}", cancel.body);
            assert_eq!(cancel.body["attempts"][0]["status"], "cancel_requested");
            assert_eq!(s.ledger(&prid(&res.body, 0)), (1, 1), "{action:?}: the cancel took effect");
            pending.push((action, id, prid(&res.body, 0)));
        }
        for (action, id, prid) in &pending {
            let done = s.drive(&format!("/v1/payments/{id}"), settled).await;
            assert_eq!(done["status"], "cancelled", "{action:?}: {done}");
            assert_eq!(s.ledger(prid), (1, 1), "{action:?}: returned once");
        }
        s.settle().await;
    }
}

server_test! {
    async fn a_refused_cancel_of_a_paid_payment_ends_refunded(db) {
        let s = Srv::start(&db).await;
        let auth = s.bind().await;
        s.skip_payment_notifications();
        s.fault(FaultRule::new(Api::Pay, answer(AnswerStatus::U, "UNKNOWN_EXCEPTION")));
        let res = s.charge(&auth, "refused-1", 2_000).await;
        let id = res.str("id").to_owned();
        s.fault_unprocessed(Api::Cancel, answer(AnswerStatus::F, "ORDER_STATUS_INVALID"));
        let cancel = s.post(&format!("/v1/payments/{id}/cancel"), "refused-1-c", json!({})).await;
        assert_eq!(cancel.status, 200, "{}", cancel.body);
        // Alipay refused the cancel: the payment is inquired until final; found paid, it is
        // refunded in full; a person is told.
        let path = format!("/v1/payments/{id}");
        let done = s.drive(&path, |p| p["amount_refunded"] == 2_000).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        let refunds = s.all(&format!("/v1/payments/{id}/refunds")).await;
        assert_eq!(refunds.len(), 1);
        assert_eq!((refunds[0]["origin"].as_str(), refunds[0]["status"].as_str()), (Some("cancel_too_late"), Some("succeeded")));
        // A person was told the cancel was refused; the item closed itself when the payment
        // settled (refunded).
        let items = s.store().attention_items().await.unwrap();
        let refused = items.iter().find(|i| i.code == "cancel_refused").expect("cancel_refused raised");
        assert!(refused.resolution.is_some(), "{refused:?}");
        assert_eq!(s.ledger(&prid(&res.body, 0)), (1, 1));
        s.settle().await;
    }
}

server_test! {
    async fn a_paid_payment_is_cancelled_inside_the_window_and_refunded_after_it(db) {
        let s = Srv::start(&db).await;
        let auth = s.bind().await;
        let paid = s.charge(&auth, "win-1", 1_500).await;
        assert_eq!(paid.str("status"), "succeeded");
        let cancelled = s.post(&format!("/v1/payments/{}/cancel", paid.str("id")), "win-1-c", json!({})).await;
        assert_eq!((cancelled.status, cancelled.str("status")), (200, "cancelled"), "{}", cancelled.body);
        assert_eq!(s.ledger(&prid(&paid.body, 0)), (1, 1));
        // Past 00:15 (UTC+8) the day after, cancelling is refused: refund instead.
        let late = s.charge(&auth, "win-2", 1_500).await;
        s.advance(2 * 24 * 3_600_000);
        let refused = s.post(&format!("/v1/payments/{}/cancel", late.str("id")), "win-2-c", json!({})).await;
        assert_eq!((refused.status, refused.str("code")), (409, "refund_instead"), "{}", refused.body);
        let refund = s.post(&format!("/v1/payments/{}/refunds", late.str("id")), "win-2-re", json!({"amount": 1_500})).await;
        assert_eq!(refund.str("status"), "succeeded", "{}", refund.body);
        s.settle().await;
    }
}

server_test! {
    async fn a_cancel_that_overtakes_its_held_pay_still_returns_the_money(db) {
        let s = Srv::start(&db).await;
        assert_eq!(s.sandbox().settings().overtaken_pay, OvertakenPay::Debits);
        let auth = s.bind().await;
        let before = s.balance();
        // The pay is held in transit for 20 s of sandbox time: the server hears nothing.
        s.fault(FaultRule::new(Api::Pay, FaultAction::Hold { ms: 20_000 }));
        let res = s.charge(&auth, "held-1", 4_000).await;
        assert_eq!(res.str("status"), "processing", "{}", res.body);
        let (id, prid) = (res.str("id").to_owned(), prid(&res.body, 0));
        assert_eq!(s.sandbox().held().len(), 1);
        // The merchant cancels: the cancel reaches Alipay first (ORDER_NOT_EXIST), which proves
        // nothing while the pay can still land.
        let cancel = s.post(&format!("/v1/payments/{id}/cancel"), "held-1-c", json!({})).await;
        assert_eq!((cancel.status, cancel.str("status")), (200, "processing"), "{}", cancel.body);
        assert_eq!(s.ledger(&prid), (0, 0));
        // The pay lands and debits (the sandbox's default).
        s.advance(20_000);
        assert!(s.sandbox().held().is_empty());
        assert_eq!(s.ledger(&prid), (1, 0), "the overtaken pay debited");
        // The cancel, sent again, returns the money.
        let done = s.drive(&format!("/v1/payments/{id}"), settled).await;
        assert_eq!(done["status"], "cancelled", "{done}");
        assert_eq!(s.ledger(&prid), (1, 1));
        assert_eq!(s.balance(), before);
        s.settle().await;
    }
}

server_test! {
    async fn an_overtaken_pay_that_alipay_closes_moves_nothing(db) {
        let s = Srv::start(&db).await;
        s.sandbox().set_overtaken_pay(OvertakenPay::Closed);
        let auth = s.bind().await;
        s.fault(FaultRule::new(Api::Pay, FaultAction::Hold { ms: 20_000 }));
        let res = s.charge(&auth, "closed-1", 4_000).await;
        let (id, prid) = (res.str("id").to_owned(), prid(&res.body, 0));
        let cancel = s.post(&format!("/v1/payments/{id}/cancel"), "closed-1-c", json!({})).await;
        assert_eq!(cancel.status, 200, "{}", cancel.body);
        s.advance(20_000);
        let done = s.drive(&format!("/v1/payments/{id}"), settled).await;
        assert!(matches!(done["status"].as_str(), Some("cancelled" | "failed")), "{done}");
        assert_eq!(s.ledger(&prid), (0, 0));
        s.settle().await;
    }
}

server_test! {
    async fn held_pays_land_before_or_after_their_expiry(db) {
        let s = Srv::start(&db).await;
        let auth = s.bind().await;
        s.skip_payment_notifications();
        // Lands 10 s later, before its expiry: it debits, and an inquiry finds it paid.
        s.fault(FaultRule::new(Api::Pay, FaultAction::Hold { ms: 10_000 }));
        let early = s.charge(&auth, "land-1", 700).await;
        assert_eq!(early.str("status"), "processing");
        // Lands 90 s later, past its 55 s expiry: Alipay closes it, nothing is debited.
        s.fault(FaultRule::new(Api::Pay, FaultAction::Hold { ms: 90_000 }));
        let late = s.charge(&auth, "land-2", 800).await;
        assert_eq!(late.str("status"), "processing");
        let done = s.drive(&format!("/v1/payments/{}", early.str("id")), settled).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        assert_eq!(s.ledger(&prid(&early.body, 0)), (1, 0));
        let done = s.drive(&format!("/v1/payments/{}", late.str("id")), settled).await;
        assert!(matches!(done["status"].as_str(), Some("cancelled" | "failed")), "{done}");
        assert_eq!(s.ledger(&prid(&late.body, 0)), (0, 0));
        assert!(s.sandbox().held().is_empty());
        s.settle().await;
    }
}

server_test! {
    async fn a_cancel_answers_with_the_outcome_of_its_first_call(db) {
        // Many workers looking for due jobs all the time: none of them takes the cancel the
        // request is about to send itself, so the answer says how that call went.
        let s = Srv::with(&db, |c| {
            c.workers.count = 8;
            c.workers.idle_poll_max_ms = 10;
        })
        .await;
        let auth = s.bind().await;
        for n in 0..30 {
            let paid = s.charge(&auth, &format!("cf-{n}"), 100).await;
            assert_eq!(paid.str("status"), "succeeded", "{}", paid.body);
            let cancel = s.post(&format!("/v1/payments/{}/cancel", paid.str("id")), &format!("cf-{n}-c"), json!({})).await;
            assert_eq!((cancel.status, cancel.str("status")), (200, "cancelled"), "cancel {n}: {}", cancel.body);
        }
        s.settle().await;
    }
}
