//! The server against the sandbox's harsher settings, where Alipay's documented worst case is
//! harder than the sandbox's default: refunds that are not final in the call
//! (`REFUND_IN_PROCESS`, `PROCESSING`, then `SUCCESS` or `FAIL`), payments that are paid but
//! `PENDING` before they succeed (the money taken at once), payments the wallet needs the user
//! for (`PAYMENT_IN_PROCESS` with the wallet's page), and a binding for a wallet account that is
//! closed or abnormal (`USER_NOT_EXIST` / `USER_STATUS_ABNORMAL` at `applyToken`). In each the
//! money must end right: credited or debited exactly once, or not at all, as the API says.

use ams_sandbox::{
    AccountStatus, NotificationFaultAction, NotificationFaultRule, NotificationKind, PaymentMode,
    SandboxSettings, UserUpdate,
};
use autodebit_server::config::SANDBOX_CLIENT_ID;
use serde_json::{Value, json};

use super::{DEMO_USER, Resp, Srv, prid, server_test};

/// Turns the sandbox's refunds-in-process setting on, each refund ending `delay_ms` of sandbox
/// time after it was accepted.
fn refunds_in_process(s: &Srv, delay_ms: u64) {
    let sandbox = s.sandbox();
    sandbox.set_settings(SandboxSettings {
        refunds_in_process: true,
        refund_process_delay_ms: delay_ms,
        ..sandbox.settings()
    });
}

/// The sandbox fails the refund `rrid` when it leaves `PROCESSING`.
fn fail_refund(s: &Srv, rrid: &str) {
    let sandbox = s.sandbox();
    let mut settings = sandbox
        .merchant(SANDBOX_CLIENT_ID)
        .expect("the server's merchant")
        .settings;
    settings.refund_failures.push(rrid.to_owned());
    sandbox
        .set_merchant_settings(SANDBOX_CLIENT_ID, settings)
        .expect("merchant");
}

fn set_user(s: &Srv, update: UserUpdate) {
    s.sandbox()
        .update_user(DEMO_USER, update)
        .expect("the demo user");
}

async fn refund(s: &Srv, pay: &str, key: &str, amount: u64) -> Resp {
    s.post(
        &format!("/v1/payments/{pay}/refunds"),
        key,
        json!({"amount": amount, "reason": "test"}),
    )
    .await
}

fn settled(v: &Value) -> bool {
    v["status"] != "processing"
}

server_test! {
    async fn a_refund_in_process_ends_succeeded_and_credits_once(db) {
        let s = Srv::start(&db).await;
        let auth = s.bind().await;
        let paid = s.charge(&auth, "hr-ok", 5_000).await;
        assert_eq!(paid.str("status"), "succeeded", "{}", paid.body);
        let pay = paid.str("id").to_owned();
        refunds_in_process(&s, 120_000);

        let first = refund(&s, &pay, "hr-ok-1", 2_000).await;
        assert_eq!((first.status, first.str("status")), (201, "processing"), "{}", first.body);
        let rrid = first.str("refund_request_id").to_owned();
        assert_eq!(s.credits(&rrid), 0, "in process: nothing credited yet");
        // The refund in process counts against what is left: 3,000, not 5,000.
        let over = refund(&s, &pay, "hr-ok-over", 3_001).await;
        assert_eq!((over.status, over.str("code")), (400, "amount_exceeds_refundable"), "{}", over.body);

        let path = format!("/v1/refunds/{}", first.str("id"));
        let done = s.drive(&path, settled).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        assert_eq!(s.credits(&rrid), 1, "credited once");
        let payment = s.get(&format!("/v1/payments/{pay}")).await.body;
        assert_eq!((payment["status"].as_str(), payment["amount_refunded"].as_u64()), (Some("succeeded"), Some(2_000)), "{payment}");

        // Long after, still once (the notifyRefund, the retries and the inquiries changed nothing).
        s.advance(3_600_000);
        s.settle().await;
        assert_eq!(s.credits(&rrid), 1);
        assert_eq!(s.balance(), 100_000 - 5_000 + 2_000);
    }
}

server_test! {
    async fn a_refund_in_process_that_fails_ends_failed_and_its_amount_is_refundable_again(db) {
        let s = Srv::start(&db).await;
        let auth = s.bind().await;
        let paid = s.charge(&auth, "hr-fail", 5_000).await;
        assert_eq!(paid.str("status"), "succeeded", "{}", paid.body);
        let pay = paid.str("id").to_owned();
        refunds_in_process(&s, 120_000);

        let whole = refund(&s, &pay, "hr-fail-1", 5_000).await;
        assert_eq!((whole.status, whole.str("status")), (201, "processing"), "{}", whole.body);
        let rrid = whole.str("refund_request_id").to_owned();
        fail_refund(&s, &rrid);
        // Nothing is left to refund while it is in process.
        let more = refund(&s, &pay, "hr-fail-more", 1).await;
        assert_eq!((more.status, more.str("code")), (400, "amount_exceeds_refundable"), "{}", more.body);

        let path = format!("/v1/refunds/{}", whole.str("id"));
        let done = s.drive(&path, settled).await;
        assert_eq!(done["status"], "failed", "{done}");
        assert_eq!(s.credits(&rrid), 0, "a failed refund credits nothing");
        let payment = s.get(&format!("/v1/payments/{pay}")).await.body;
        assert_eq!((payment["status"].as_str(), payment["amount_refunded"].as_u64()), (Some("succeeded"), Some(0)), "{payment}");

        // The whole amount can be refunded again, and that one succeeds, once.
        let again = refund(&s, &pay, "hr-fail-2", 5_000).await;
        assert_eq!((again.status, again.str("status")), (201, "processing"), "{}", again.body);
        let again_rrid = again.str("refund_request_id").to_owned();
        let done = s.drive(&format!("/v1/refunds/{}", again.str("id")), settled).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        assert_eq!(s.credits(&again_rrid), 1);
        s.advance(3_600_000);
        s.settle().await;
        assert_eq!((s.credits(&rrid), s.credits(&again_rrid)), (0, 1));
        assert_eq!(s.balance(), 100_000);
    }
}

server_test! {
    async fn a_refund_in_process_for_two_days_told_only_by_inquiries_ends_right(db) {
        let s = Srv::start(&db).await;
        let auth = s.bind().await;
        let paid = s.charge(&auth, "hr-long", 5_000).await;
        assert_eq!(paid.str("status"), "succeeded", "{}", paid.body);
        let pay = paid.str("id").to_owned();
        refunds_in_process(&s, 2 * 24 * 3_600_000);
        // No notifyRefund: only the resends and the inquiries tell.
        s.sandbox().add_notification_fault(
            NotificationFaultRule::new(Some(NotificationKind::Refund), NotificationFaultAction::Skip).times(None),
        );
        let ok = refund(&s, &pay, "hr-long-1", 1_000).await;
        let bad = refund(&s, &pay, "hr-long-2", 4_000).await;
        for r in [&ok, &bad] {
            assert_eq!((r.status, r.str("status")), (201, "processing"), "{}", r.body);
        }
        let (ok_rrid, bad_rrid) = (ok.str("refund_request_id").to_owned(), bad.str("refund_request_id").to_owned());
        fail_refund(&s, &bad_rrid);

        // An hour in: still processing, nothing credited, and a person has been told.
        let until = s.now_ms() + 3_600_000;
        while s.now_ms() < until {
            s.step().await;
        }
        for r in [&ok, &bad] {
            let now = s.get(&format!("/v1/refunds/{}", r.str("id"))).await.body;
            assert_eq!(now["status"], "processing", "{now}");
        }
        assert_eq!((s.credits(&ok_rrid), s.credits(&bad_rrid)), (0, 0));
        let attention = s.all("/v1/attention").await;
        for r in [&ok, &bad] {
            assert!(attention.iter().any(|a| a["subject_id"] == r.str("id")), "{attention:?}");
        }
        s.audit().await;

        let done = s.drive(&format!("/v1/refunds/{}", ok.str("id")), settled).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        let done = s.drive(&format!("/v1/refunds/{}", bad.str("id")), settled).await;
        assert_eq!(done["status"], "failed", "{done}");
        s.settle().await;
        assert_eq!((s.credits(&ok_rrid), s.credits(&bad_rrid)), (1, 0));
        let payment = s.get(&format!("/v1/payments/{pay}")).await.body;
        assert_eq!(payment["amount_refunded"], 1_000, "{payment}");
        let attention = s.all("/v1/attention").await;
        for r in [&ok, &bad] {
            assert!(!attention.iter().any(|a| a["subject_id"] == r.str("id")), "settled, so no longer open: {attention:?}");
        }
        assert_eq!(s.balance(), 100_000 - 5_000 + 1_000);
    }
}

server_test! {
    async fn a_pending_payment_ends_succeeded_debited_once_and_is_never_shown_failed(db) {
        let s = Srv::start(&db).await;
        let auth = s.bind().await;
        s.sandbox().set_settings(SandboxSettings {
            payment_pending_delay_ms: 20_000,
            ..s.sandbox().settings()
        });
        set_user(&s, UserUpdate { payment_mode: Some(PaymentMode::Pending), ..UserUpdate::default() });

        let charged = s.charge(&auth, "hp-1", 3_000).await;
        assert_eq!((charged.status, charged.str("status")), (201, "processing"), "{}", charged.body);
        let prid = prid(&charged.body, 0);
        assert_eq!(s.ledger(&prid), (1, 0), "the money is taken while the status says pending");
        let path = format!("/v1/payments/{}", charged.str("id"));
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        let done = loop {
            let now = s.get(&path).await.body;
            match now["status"].as_str() {
                Some("processing") => {}
                Some("succeeded") => break now,
                _ => panic!("a pending payment shown {}: {now}", now["status"]),
            }
            assert!(tokio::time::Instant::now() < deadline, "never succeeded: {now}\n{:?}", s.jobs().await);
            s.step().await;
        };
        assert_eq!(done["amount_refunded"], 0, "{done}");
        assert_eq!(done["attempts"].as_array().map(Vec::len), Some(1), "one attempt: {done}");
        assert_eq!(s.ledger(&prid), (1, 0), "debited once");
        s.advance(3_600_000);
        s.settle().await;
        assert_eq!(s.ledger(&prid), (1, 0));
        assert_eq!(s.balance(), 100_000 - 3_000);

        // And it refunds as any paid payment.
        let back = refund(&s, charged.str("id"), "hp-1-r", 3_000).await;
        assert_eq!((back.status, back.str("status")), (201, "succeeded"), "{}", back.body);
        s.settle().await;
        assert_eq!(s.balance(), 100_000);
    }
}

server_test! {
    async fn a_payment_pending_longer_than_the_inquiries_is_never_cancelled_and_ends_paid(db) {
        let s = Srv::start(&db).await;
        let auth = s.bind().await;
        // Pending for two hours: the server's inquiries run out long before. PENDING is "paid,
        // waiting for the final result": the sale is not undone by a cancel; it is inquired with
        // growing waits and a person is told while it lasts.
        s.sandbox().set_settings(SandboxSettings {
            payment_pending_delay_ms: 2 * 3_600_000,
            ..s.sandbox().settings()
        });
        set_user(&s, UserUpdate { payment_mode: Some(PaymentMode::Pending), ..UserUpdate::default() });
        let charged = s.charge(&auth, "hp-long", 3_000).await;
        assert_eq!((charged.status, charged.str("status")), (201, "processing"), "{}", charged.body);
        let prid = prid(&charged.body, 0);
        assert_eq!(s.ledger(&prid), (1, 0));
        let path = format!("/v1/payments/{}", charged.str("id"));
        let pending_told = s.drive(&path, |p| {
            p["attention"].as_array().is_some_and(|a| a.iter().any(|i| i["code"] == "payment_pending")) || settled(p)
        }).await;
        assert_eq!(pending_told["status"], "processing", "told while it lasts: {pending_told}");
        assert!(pending_told["attempts"][0]["payment_id"].is_string(), "Alipay's paymentId is kept: {pending_told}");
        let done = s.drive(&path, settled).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        assert_eq!(s.ledger(&prid), (1, 0), "debited once, never credited back");
        s.settle().await;
        assert_eq!(s.balance(), 100_000 - 3_000);
    }
}

server_test! {
    async fn binding_a_closed_or_abnormal_account_fails_cleanly(db) {
        let s = Srv::start(&db).await;
        for (n, (status, code)) in [(AccountStatus::Closed, "USER_NOT_EXIST"), (AccountStatus::Abnormal, "USER_STATUS_ABNORMAL")]
            .into_iter()
            .enumerate()
        {
            set_user(&s, UserUpdate { status: Some(status), ..UserUpdate::default() });
            let auth = s.start_binding(&format!("hb-{n}")).await;
            let id = auth["id"].as_str().unwrap().to_owned();
            let back = s.agree(auth["auth_url"].as_str().unwrap()).await;
            // The user comes back with the code, which is exchanged there and then (not by
            // driving the clock, which could pass the code's lifetime before the exchange): told
            // it failed.
            let target = s.come_back(&back).await;
            assert!(target.contains(&format!("authorization_id={id}")) && target.ends_with("status=failed"), "{target}");
            let failed = s.get(&format!("/v1/authorizations/{id}")).await.body;
            assert_eq!(failed["status"], "failed", "{failed}");
            assert_eq!(failed["failure"]["code"], code, "{failed}");
            // It cannot be charged.
            let refused = s.charge(&id, &format!("hb-{n}-pay"), 100).await;
            assert_eq!(refused.status, 409, "{}", refused.body);
            let ledger = s.sandbox().ledger(None, Some(DEMO_USER));
            assert_eq!((ledger.debits as usize, ledger.credits), (n, 0), "only the earlier rounds' charges");

            // Once the account is normal again, binding again works.
            set_user(&s, UserUpdate { status: Some(AccountStatus::Normal), ..UserUpdate::default() });
            let again = s.post(&format!("/v1/authorizations/{id}/reauthorize"), &format!("hb-{n}-re"), json!({})).await;
            assert_eq!(again.status, 201, "{}", again.body);
            let back = s.agree(again.str("auth_url")).await;
            assert!(s.come_back(&back).await.ends_with("status=active"));
            let rebound = again.str("id");
            assert_ne!(rebound, id, "a new authorization");
            let paid = s.charge(rebound, &format!("hb-{n}-pay2"), 100).await;
            assert_eq!(paid.str("status"), "succeeded", "{}", paid.body);
        }
        s.settle().await;
        assert_eq!(s.balance(), 100_000 - 200);
    }
}

/// The user opens the wallet's page for a payment and decides; returns the HTTP status and where
/// the wallet sends them.
async fn decide_in_wallet(s: &Srv, url: &str, decision: &str) -> (u16, Option<String>) {
    let page = s.http.get(url).send().await.expect("wallet page");
    if page.status().as_u16() != 200 {
        return (page.status().as_u16(), None);
    }
    let res = s
        .http
        .post(url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("decision={decision}"))
        .send()
        .await
        .expect("wallet decision");
    let location = res
        .headers()
        .get("location")
        .map(|l| l.to_str().expect("a text location").to_owned());
    (res.status().as_u16(), location)
}

server_test! {
    async fn a_payment_the_wallet_needs_the_user_for_says_where_to_send_them_and_is_paid_once(db) {
        let s = Srv::start(&db).await;
        let auth = s.bind().await;
        set_user(&s, UserUpdate { payment_mode: Some(PaymentMode::NeedsUser), ..UserUpdate::default() });

        // pay answers PAYMENT_IN_PROCESS with the wallet's page: the merchant is told where to
        // send the user, in the answer and in an event; nothing is charged yet.
        // The merchant names where the wallet sends the user back (`paymentRedirectUrl`).
        let back_to = format!("{}/healthz?order=nu-1", s.url());
        let charged = s
            .post("/v1/payments", "nu-1", json!({
                "authorization_id": auth, "amount": 2_000, "currency": "USD",
                "reference": "order-nu-1", "description": "Monthly plan", "return_url": back_to,
            }))
            .await;
        assert_eq!((charged.status, charged.str("status"), charged.str("return_url")), (201, "processing", back_to.as_str()), "{}", charged.body);
        let action = &charged.body["next_action"];
        assert_eq!(action["type"], "redirect_to_wallet", "{}", charged.body);
        let url = action["url"].as_str().expect("the wallet's page").to_owned();
        assert!(url.contains("/sandbox/wallet/payments/"), "{url}");
        assert_eq!(action["expires_at"], charged.body["attempts"][0]["expires_at"]);
        let first_prid = prid(&charged.body, 0);
        assert_eq!(s.ledger(&first_prid), (0, 0), "nothing charged before the user confirms");
        let path = format!("/v1/payments/{}", charged.str("id"));
        let told = s.get("/v1/events?type=payment.action_required").await.body;
        let told = told["data"].as_array().expect("events");
        assert_eq!(told.len(), 1, "{told:?}");
        assert_eq!(told[0]["data"]["object"]["next_action"]["url"], url.as_str());
        // The server's inquiries meanwhile change nothing: still processing, still the same page.
        s.advance(10_000);
        let waiting = s.until(&path, |p| p["attempts"][0]["status"] == "inquiring").await;
        assert_eq!((waiting["status"].as_str(), waiting["next_action"]["url"].as_str()), (Some("processing"), Some(url.as_str())), "{waiting}");

        // The user confirms in the wallet: paid once, and nothing more to do.
        let answered = decide_in_wallet(&s, &url, "pay").await;
        assert_eq!(answered, (303, Some(back_to.clone())), "the wallet sends the user back");
        let paid = s.drive(&path, settled).await;
        assert_eq!(paid["status"], "succeeded", "{paid}");
        assert!(paid["next_action"].is_null(), "{paid}");
        assert_eq!(s.ledger(&first_prid), (1, 0));
        assert_eq!(s.get("/v1/events?type=payment.action_required").await.body["data"].as_array().map(Vec::len), Some(1), "told once");

        // Another the user never completes: it ends without money and stops asking for the user;
        // the page is closed to a user coming back late.
        let left = s.charge(&auth, "nu-2", 1_500).await;
        let left_url = left.body["next_action"]["url"].as_str().expect("the wallet's page").to_owned();
        let left_prid = prid(&left.body, 0);
        let ended = s.drive(&format!("/v1/payments/{}", left.str("id")), settled).await;
        assert!(matches!(ended["status"].as_str(), Some("failed" | "cancelled")), "{ended}");
        assert!(ended["next_action"].is_null(), "{ended}");
        assert_eq!(decide_in_wallet(&s, &left_url, "pay").await, (410, None));
        assert_eq!(s.net(&left_prid), 0, "nothing charged");

        // A third the merchant cancels while the user is away: a late confirmation pays nothing.
        let cancelled = s.charge(&auth, "nu-3", 1_000).await;
        let cancelled_url = cancelled.body["next_action"]["url"].as_str().expect("the wallet's page").to_owned();
        let cancelled_prid = prid(&cancelled.body, 0);
        let path = format!("/v1/payments/{}", cancelled.str("id"));
        let asked = s.post(&format!("{path}/cancel"), "nu-3-cancel", json!({})).await;
        assert_eq!(asked.status, 200, "{}", asked.body);
        assert!(asked.body["next_action"].is_null(), "no page to send the user to once cancelling: {}", asked.body);
        let ended = s.drive(&path, settled).await;
        assert_eq!(ended["status"], "cancelled", "{ended}");
        assert_eq!(decide_in_wallet(&s, &cancelled_url, "pay").await, (410, None));
        assert_eq!(s.net(&cancelled_prid), 0, "nothing charged");

        s.settle().await;
        assert_eq!(s.balance(), 100_000 - 2_000);
    }
}
