//! Binding a wallet over the server: the user's consent reaches the server by the wallet's
//! `AUTHCODE_CREATED` notification, by the return page, or both in either order, and the code is
//! exchanged once; Scan to Bind gives a QR value that binds as the URL does; what `consult` and
//! `applyToken` faults do (a refusal or no answer from `consult` is a failed authorization and a
//! problem; an exchange without an answer is tried again; an exchange whose answer was lost ends
//! failed, and the token Alipay issued for it is revoked); the user unbinding in the wallet.

use ams_protocol::Api;
use ams_sandbox::{
    AnswerStatus, DeliveryState, FaultAction, FaultRule, NotificationFaultAction,
    NotificationFaultRule, NotificationKind, NotificationRecord,
};
use serde_json::{Value, json};

use super::{DEMO_USER, Srv, server_test};

/// The authorization notifications sent so far whose body names `what`
/// (`AUTHCODE_CREATED`, `TOKEN_CREATED`, `TOKEN_CANCELED`).
fn auth_notifications(s: &Srv, what: &str) -> Vec<NotificationRecord> {
    s.sandbox()
        .notifications()
        .into_iter()
        .filter(|n| n.notification == NotificationKind::Authorization && n.body.contains(what))
        .collect()
}

fn is_status(status: &'static str) -> impl Fn(&Value) -> bool {
    move |a| a["status"] == status
}

server_test! {
    async fn authcode_created_alone_completes_a_binding_and_the_return_page_after_it_agrees(db) {
        let s = Srv::start(&db).await;
        let auth = s.start_binding("bind-n-1").await;
        let id = auth["id"].as_str().unwrap().to_owned();
        // The user consents; the browser never follows the wallet's redirect (yet).
        let back = s.agree(auth["auth_url"].as_str().unwrap()).await;
        let path = format!("/v1/authorizations/{id}");
        let active = s.until(&path, is_status("active")).await;
        assert!(active["user_login_id"].is_string() && active["access_token_expires_at"].is_string(), "{active}");
        assert!(active["auth_url"].is_null() && active["qr_code"].is_null(), "{active}");
        // The binding is active before the server answers the notification; the wallet records
        // the acknowledgement when the answer arrives.
        s.sandbox()
            .wait_for_notifications(std::time::Duration::from_secs(5), |log| {
                log.iter().any(|n| n.body.contains("AUTHCODE_CREATED") && n.state == DeliveryState::Delivered)
            })
            .await;
        let sent = auth_notifications(&s, "AUTHCODE_CREATED");
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].state, DeliveryState::Delivered, "acknowledged on its first attempt: {:?}", sent[0]);
        assert_eq!(sent[0].attempts.len(), 1, "{:?}", sent[0]);
        assert!(sent[0].url.ends_with("/alipay/default/notify/authorizations"), "{}", sent[0].url);

        // Charging works on it.
        let paid = s.charge(&id, "n-pay-1", 700).await;
        assert_eq!((paid.status, paid.str("status")), (201, "succeeded"), "{}", paid.body);

        // The user comes back afterwards: the used code changes nothing; the user lands on the
        // merchant's page, told the binding is active.
        let target = s.come_back(&back).await;
        assert!(target.contains(&format!("authorization_id={id}")) && target.ends_with("status=active"), "{target}");
        let after = s.get(&path).await.body;
        assert_eq!(after["access_token_expires_at"], active["access_token_expires_at"], "the token was not exchanged twice");
        assert_eq!(after["status"], "active");
        assert!(s.get("/v1/attention").await.body["data"].as_array().unwrap().is_empty(), "nothing for a person");
        s.settle().await;
    }
}

server_test! {
    async fn the_return_page_first_then_authcode_created_changes_nothing(db) {
        let s = Srv::start(&db).await;
        // The wallet's notification is late: the user is back first.
        s.sandbox().add_notification_fault(NotificationFaultRule::new(
            Some(NotificationKind::Authorization),
            NotificationFaultAction::Delay { ms: 30_000 },
        ));
        let auth = s.start_binding("bind-r-1").await;
        let id = auth["id"].as_str().unwrap().to_owned();
        let back = s.agree(auth["auth_url"].as_str().unwrap()).await;
        let target = s.come_back(&back).await;
        assert!(target.ends_with("status=active"), "{target}");
        let path = format!("/v1/authorizations/{id}");
        let active = s.get(&path).await.body;
        assert_eq!(active["status"], "active");
        assert_eq!(auth_notifications(&s, "AUTHCODE_CREATED")[0].state, DeliveryState::Pending);

        // Now the notification lands: acknowledged (so the wallet stops sending it), nothing else.
        s.advance(30_000);
        let log = s
            .sandbox()
            .wait_for_notifications(std::time::Duration::from_secs(5), |log| {
                log.iter().any(|n| n.body.contains("AUTHCODE_CREATED") && n.state == DeliveryState::Delivered)
            })
            .await;
        assert!(log.iter().any(|n| n.body.contains("AUTHCODE_CREATED") && n.state == DeliveryState::Delivered), "{log:?}");
        let after = s.get(&path).await.body;
        assert_eq!(after["status"], "active");
        assert_eq!(after["access_token_expires_at"], active["access_token_expires_at"]);
        // The same user coming back again (a reload) is still told it is active.
        let again = s.come_back(&back).await;
        assert!(again.ends_with("status=active"), "{again}");
        assert!(s.get("/v1/attention").await.body["data"].as_array().unwrap().is_empty());
        s.settle().await;
    }
}

server_test! {
    async fn scan_to_bind_gives_a_qr_value_that_binds(db) {
        let s = Srv::start(&db).await;
        let auth = s.start_binding("bind-qr-1").await;
        let id = auth["id"].as_str().unwrap().to_owned();
        assert_eq!(auth["terminal_type"], "WEB");
        let qr = auth["qr_code"].as_str().expect("WEB gives a QR value").to_owned();
        assert!(qr.starts_with(&format!("{}/sandbox/wallet/consent/", s.sandbox().base_url())), "{qr}");
        // The user scans the value with the wallet app and agrees there.
        let back = s.agree(&qr).await;
        let target = s.come_back(&back).await;
        assert!(target.contains(&format!("authorization_id={id}")) && target.ends_with("status=active"), "{target}");
        let active = s.get(&format!("/v1/authorizations/{id}")).await.body;
        assert_eq!(active["status"], "active");
        assert!(active["qr_code"].is_null(), "the QR value is shown only while awaiting the user");
        let paid = s.charge(&id, "qr-pay-1", 250).await;
        assert_eq!(paid.str("status"), "succeeded", "{}", paid.body);

        // A mobile browser gets a URL to open, no QR value. (For a secondary merchant: named back.)
        let wap = s.post("/v1/authorizations", "bind-wap-1", json!({
            "customer_id": "cust-2", "wallet": "ALIPAY_CN", "terminal_type": "WAP", "os_type": "IOS",
            "return_url": format!("{}/healthz", s.url()), "secondary_merchant": "sub_shop_9",
        })).await;
        assert_eq!(wap.status, 201, "{}", wap.body);
        assert!(wap.body["qr_code"].is_null() && wap.body["auth_url"].is_string(), "{}", wap.body);
        assert_eq!(wap.body["os_type"], "IOS");
        assert_eq!(wap.body["secondary_merchant"], "sub_shop_9");
        assert!(active["secondary_merchant"].is_null());
        let long = s.post("/v1/authorizations", "bind-wap-2", json!({
            "customer_id": "cust-2", "wallet": "ALIPAY_CN", "terminal_type": "WEB",
            "return_url": format!("{}/healthz", s.url()), "secondary_merchant": "x".repeat(65),
        })).await;
        assert_eq!((long.status, long.str("param")), (400, "/secondary_merchant"), "{}", long.body);
        s.settle().await;
    }
}

server_test! {
    async fn a_declined_consent_ends_the_binding_and_another_can_start(db) {
        let s = Srv::start(&db).await;
        let auth = s.start_binding("bind-d-1").await;
        let id = auth["id"].as_str().unwrap().to_owned();
        let url = auth["auth_url"].as_str().unwrap();
        let res = s.http.post(url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("decision=decline&user=demo%40sandbox.example")
            .send().await.unwrap();
        assert_eq!(res.status().as_u16(), 303);
        let back = res.headers()["location"].to_str().unwrap().to_owned();
        let target = s.come_back(&back).await;
        assert!(target.ends_with("status=declined"), "{target}");
        let refused = s.charge(&id, "d-pay-1", 100).await;
        assert_eq!((refused.status, refused.str("code")), (409, "authorization_not_active"));
        let again = s.post(&format!("/v1/authorizations/{id}/reauthorize"), "bind-d-2", json!({})).await;
        assert_eq!(again.status, 201, "{}", again.body);
        let back = s.agree(again.str("auth_url")).await;
        assert!(s.come_back(&back).await.ends_with("status=active"));
        s.settle().await;
    }
}

server_test! {
    async fn consult_refused_or_unanswered_is_a_problem_and_a_failed_authorization(db) {
        let s = Srv::with(&db, |c| c.alipay.call_timeout_ms = 2_000).await;
        let body = json!({
            "customer_id": "cust-c", "wallet": "ALIPAY_CN", "terminal_type": "WEB",
            "return_url": format!("{}/healthz", s.url()),
        });
        // No answer (HTTP 500, a dropped connection, a signature that does not verify, too
        // slow), or a `U` ("call again": C5): 503, not kept by the idempotency key, so the same
        // request can be sent again.
        for (n, action) in [
            FaultAction::Http500,
            FaultAction::Drop,
            FaultAction::BadSignature,
            FaultAction::Unsigned,
            FaultAction::Delay { ms: 2_600 },
            FaultAction::Answer { status: AnswerStatus::U, code: "REQUEST_TRAFFIC_EXCEED_LIMIT".into() },
            FaultAction::Unknown { code: "UNKNOWN_EXCEPTION".into() },
        ]
        .into_iter()
        .enumerate()
        {
            s.fault(FaultRule::new(Api::Consult, action.clone()));
            let key = format!("consult-{n}");
            let res = s.post("/v1/authorizations", &key, body.clone()).await;
            assert_eq!((res.status, res.str("code")), (503, "alipay_unavailable"), "{action:?}: {}", res.body);
            assert_eq!(res.content_type(), "application/problem+json");
            assert_eq!(res.headers.get("retry-after").unwrap(), "1");
            assert!(!res.text.contains("consult") || !res.text.contains("http://"), "no internals: {}", res.text);
            let again = s.post("/v1/authorizations", &key, body.clone()).await;
            assert_eq!((again.status, again.str("status")), (201, "awaiting_user"), "{action:?}: {}", again.body);
        }
        // A refusal: 422 with Alipay's code; the same key replays it.
        s.fault(FaultRule::new(Api::Consult, FaultAction::Answer { status: AnswerStatus::F, code: "NO_PAY_OPTIONS".into() }));
        let refused = s.post("/v1/authorizations", "consult-f", body.clone()).await;
        assert_eq!((refused.status, refused.str("code"), refused.str("alipay_result_code")), (422, "alipay_refused", "NO_PAY_OPTIONS"), "{}", refused.body);
        let replayed = s.post("/v1/authorizations", "consult-f", body.clone()).await;
        assert_eq!((replayed.status, &replayed.body), (422, &refused.body));
        // Each failed one is kept as failed; the retries each made a usable one.
        let all = s.all("/v1/authorizations?customer_id=cust-c").await;
        let count = |status: &str| all.iter().filter(|a| a["status"] == status).count();
        assert_eq!((count("failed"), count("awaiting_user")), (8, 7), "{all:?}");
        // A failure shows a code and what it means, never the transport's diagnosis.
        let mut codes: Vec<&str> = all.iter().filter_map(|a| a["failure"]["code"].as_str()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes, ["CONSULT_UNANSWERED", "NO_PAY_OPTIONS"], "{all:?}");
        assert!(all.iter().all(|a| !a.to_string().contains("/ams/")), "no internals: {all:?}");
        s.settle().await;
    }
}

server_test! {
    async fn an_exchange_without_an_answer_is_tried_again(db) {
        let s = Srv::start(&db).await;
        // applyToken does not take effect and the server hears nothing back, twice; then Alipay
        // says the authorization is still being processed (AUTH_IN_PROCESS, U: call again).
        s.fault(FaultRule::new(Api::ApplyToken, FaultAction::Http500).process(false));
        s.fault(FaultRule::new(Api::ApplyToken, FaultAction::Drop).process(false));
        s.fault(
            FaultRule::new(
                Api::ApplyToken,
                FaultAction::Answer { status: AnswerStatus::U, code: "AUTH_IN_PROCESS".into() },
            )
            .process(false),
        );
        let auth = s.start_binding("bind-x-1").await;
        let id = auth["id"].as_str().unwrap().to_owned();
        // The user never comes back: the notification gives the code; the job tries again.
        s.agree(auth["auth_url"].as_str().unwrap()).await;
        let path = format!("/v1/authorizations/{id}");
        s.until(&path, |_| auth_notifications(&s, "AUTHCODE_CREATED").iter().any(|n| n.state == DeliveryState::Delivered)).await;
        assert_eq!(s.get(&path).await.body["status"], "awaiting_user", "still exchanging");
        let active = s.drive(&path, is_status("active")).await;
        assert!(active["failure"].is_null(), "{active}");
        let paid = s.charge(&id, "x-pay-1", 300).await;
        assert_eq!(paid.str("status"), "succeeded");
        s.settle().await;
    }
}

server_test! {
    async fn an_exchange_whose_answer_was_lost_fails_and_the_token_issued_is_revoked(db) {
        let s = Srv::start(&db).await;
        s.sandbox().set_notify_token_created(autodebit_server::config::SANDBOX_CLIENT_ID, true).unwrap();
        // applyToken issues a token, but the answer never reaches the server; the code is then
        // used, so the retry is refused.
        s.fault(FaultRule::new(Api::ApplyToken, FaultAction::Drop));
        let auth = s.start_binding("bind-l-1").await;
        let id = auth["id"].as_str().unwrap().to_owned();
        let back = s.agree(auth["auth_url"].as_str().unwrap()).await;
        let path = format!("/v1/authorizations/{id}");
        let failed = s.drive(&path, is_status("failed")).await;
        assert_eq!(failed["failure"]["code"], "INVALID_AUTHCODE", "{failed}");
        let attention = s.all("/v1/attention").await;
        assert!(attention.iter().any(|a| a["code"] == "exchange_answer_lost" && a["subject_id"] == id.as_str()), "{attention:?}");
        // Alipay told the server about the token it issued (TOKEN_CREATED); the server, which
        // does not hold it, revokes it, and Alipay confirms with TOKEN_CANCELED.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while auth_notifications(&s, "TOKEN_CANCELED").is_empty() {
            assert!(tokio::time::Instant::now() < deadline, "the stray token was never revoked: {:?}\n{:?}", s.sandbox().notifications(), s.jobs().await);
            s.step().await;
        }
        assert_eq!(s.get(&path).await.body["status"], "failed");
        let refused = s.charge(&id, "l-pay-1", 100).await;
        assert_eq!(refused.status, 409);
        // The user coming back is told it failed; binding again works.
        assert!(s.come_back(&back).await.ends_with("status=failed"));
        let again = s.post(&format!("/v1/authorizations/{id}/reauthorize"), "bind-l-2", json!({})).await;
        assert_eq!(again.status, 201, "{}", again.body);
        let back = s.agree(again.str("auth_url")).await;
        assert!(s.come_back(&back).await.ends_with("status=active"));
        s.settle().await;
    }
}

server_test! {
    async fn the_user_unbinding_in_the_wallet_ends_the_authorization(db) {
        let s = Srv::start(&db).await;
        let id = s.bind().await;
        let paid = s.charge(&id, "u-pay-1", 400).await;
        assert_eq!(paid.str("status"), "succeeded");
        assert_eq!(s.sandbox().unbind(DEMO_USER, None).unwrap(), 1);
        let path = format!("/v1/authorizations/{id}");
        let revoked = s.until(&path, is_status("revoked")).await;
        assert_eq!(revoked["revoked_by"], "user", "{revoked}");
        let refused = s.charge(&id, "u-pay-2", 100).await;
        assert_eq!((refused.status, refused.str("code")), (409, "authorization_not_active"));
        // A refund of what was paid still works: it needs the payment, not the token.
        let pay = paid.str("id");
        let refund = s.post(&format!("/v1/payments/{pay}/refunds"), "u-re-1", json!({"amount": 400})).await;
        assert_eq!(refund.str("status"), "succeeded", "{}", refund.body);
        s.settle().await;
    }
}

server_test! {
    async fn a_wallet_that_unbinds_silently_is_found_out_by_the_next_charge(db) {
        let s = Srv::start(&db).await;
        // Not every wallet sends TOKEN_CANCELED (digest §4.1): this one does not.
        let mut settings = s.sandbox().settings();
        settings.silent_unbind_wallets = vec![ams_protocol::CustomerBelongsTo::AlipayCn];
        s.sandbox().set_settings(settings);
        let id = s.bind().await;
        assert_eq!(s.sandbox().unbind(DEMO_USER, None).unwrap(), 1);
        let path = format!("/v1/authorizations/{id}");
        assert!(auth_notifications(&s, "TOKEN_CANCELED").is_empty(), "told nothing");
        assert_eq!(s.get(&path).await.body["status"], "active", "the server cannot know yet");
        // The next charge meets INVALID_ACCESS_TOKEN: nothing is charged, and the authorization
        // is no longer taken for active.
        let refused = s.charge(&id, "silent-pay-1", 100).await;
        let payment = s.drive(&format!("/v1/payments/{}", refused.str("id")), |p| p["status"] != "processing" && p["status"] != "pending").await;
        assert_eq!(payment["status"], "failed", "{payment}");
        assert_eq!(s.sandbox().ledger(Some(payment["attempts"][0]["payment_request_id"].as_str().unwrap()), None).entries.len(), 0, "nothing debited");
        let auth = s.until(&path, |a| a["status"] != "active").await;
        assert!(matches!(auth["status"].as_str(), Some("needs_reauthorization" | "revoked")), "{auth}");
        let again = s.charge(&id, "silent-pay-2", 100).await;
        assert_eq!((again.status, again.str("code")), (409, "authorization_not_active"), "{}", again.body);
        s.settle().await;
    }
}

server_test! {
    async fn a_charge_right_after_binding_is_not_undercut_by_a_refresh(db) {
        // The return page and AUTHCODE_CREATED both carry the code; the one that comes second
        // helps the exchange along if it is still running. Found done, that help must not
        // refresh the token: the refresh would rotate it under a charge being made with it, and
        // Alipay would refuse that charge (INVALID_ACCESS_TOKEN). A race: under load it was
        // seen about once in twenty runs of this loop (before the fix).
        let s = Srv::start(&db).await;
        // A rule that never fires counts every applyToken.
        s.fault(FaultRule::new(Api::ApplyToken, FaultAction::Drop).skip(u32::MAX).times(None));
        let exchanges = s.fault_counts().await.len() - 1;
        for n in 0..6 {
            let auth = s.bind().await;
            let res = s.charge(&auth, &format!("rb-{n}"), 100).await;
            assert_eq!(res.str("status"), "succeeded", "charge {n}: {}", res.body);
        }
        let counts = s.fault_counts().await;
        assert_eq!(counts[exchanges].0, 6, "one applyToken a binding, no refresh: {counts:?}");
    }
}
