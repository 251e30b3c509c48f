//! Authorization: consult's URLs per terminal, the wallet's consent page (merchant, scopes,
//! Agree/Decline), single-use expiring consent links and auth codes, AUTHCODE_CREATED where a notify
//! URL is configured, TOKEN_CREATED when the merchant asks for it, token lifetimes, wallets that
//! issue no refresh tokens, closed or abnormal accounts refused at applyToken, refresh rotation,
//! revoke, and the user unbinding in the wallet (TOKEN_CANCELED).

use ams_protocol::Api;
use ams_protocol::CustomerBelongsTo;
use ams_sandbox::{
    AccountStatus, DeliveryState, Lifetimes, NotificationFaultAction, NotificationFaultRule,
    NotificationKind, SandboxHandle, UserSpec, UserUpdate,
};
use serde_json::json;

use crate::support::*;

const MINUTE: i64 = 60_000;

async fn sandbox_with_alice_and(
    merchant: Option<&MerchantEndpoint>,
) -> (SandboxHandle, TestClient) {
    let sandbox = sandbox_with_user(ALICE).await;
    if let Some(merchant) = merchant {
        sandbox
            .set_merchant_settings(CLIENT_ID, merchant.settings())
            .expect("merchant known");
    }
    let client = TestClient::new(&sandbox);
    (sandbox, client)
}

/// consult, then return the consent URL.
async fn consent_url(client: &TestClient, body: &serde_json::Value) -> String {
    let answer = client.call(Api::Consult, body).await;
    assert_eq!(answer.result_code(), "SUCCESS", "{}", answer.body);
    answer.str("normalUrl")
}

async fn agree(client: &TestClient, state: &str) -> String {
    let url = consent_url(client, &consult_body(state, "https://merchant.example/r")).await;
    let (status, location) = consent(&url, ALICE, "agree").await;
    assert_eq!(status, 303, "{location}");
    query_param(&location, "authCode").expect("authCode")
}

#[tokio::test]
async fn consult_gives_normal_url_scheme_and_applink_urls_for_apps_and_a_qr_code_for_web() {
    let (sandbox, client) = sandbox_with_alice_and(None).await;
    let web = client
        .call(
            Api::Consult,
            &consult_body("web", "https://merchant.example/r"),
        )
        .await;
    let normal = web.str("normalUrl");
    assert!(
        normal.starts_with(&format!("{}/sandbox/wallet/consent/", sandbox.base_url())),
        "{normal}"
    );
    let detail = &web.json["authCodeForm"]["codeDetails"][0];
    assert_eq!(detail["codeValue"], normal.as_str(), "{}", web.body);
    assert_eq!(detail["codeValueType"], "QRCODE", "{}", web.body);
    assert!(detail["displayType"].is_string());

    for terminal in ["APP", "WAP"] {
        let mut body = consult_body(terminal, "https://merchant.example/r");
        body["terminalType"] = json!(terminal);
        body["osType"] = json!("ANDROID");
        let answer = client.call(Api::Consult, &body).await;
        assert_eq!(answer.result_code(), "SUCCESS", "{}", answer.body);
        assert!(answer.json["normalUrl"].is_string(), "{}", answer.body);
        assert!(!answer.str("schemeUrl").is_empty(), "{terminal}");
        assert!(answer.str("applinkUrl").starts_with("http"), "{terminal}");
        assert!(answer.json["authCodeForm"].is_null(), "{}", answer.body);
        // Each consult opens its own link.
        assert_ne!(answer.str("normalUrl"), normal);
    }
}

#[tokio::test]
async fn the_consent_page_shows_the_merchant_the_scopes_and_an_agree_decline_form() {
    let merchant = MerchantEndpoint::start().await;
    let (sandbox, client) = sandbox_with_alice_and(Some(&merchant)).await;
    sandbox
        .create_user(ams_sandbox::UserSpec::new(
            "bob@example.com",
            ams_protocol::CustomerBelongsTo::AlipayCn,
            vec![usd(100)],
        ))
        .expect("bob");
    let mut body = consult_body("page", "https://merchant.example/r");
    body["scopes"] = json!(["AGREEMENT_PAY", "USER_INFO"]);
    let url = consent_url(&client, &body).await;
    let response = reqwest::get(&url).await.expect("page");
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/html")),
        "{:?}",
        response.headers()
    );
    let html = response.text().await.expect("html");
    for needle in [
        "Test Merchant",
        "<li>AGREEMENT_PAY</li>",
        "<li>USER_INFO</li>",
        "<form method=\"post\"",
        "name=\"decision\" value=\"agree\"",
        "name=\"decision\" value=\"decline\"",
        ">Agree<",
        ">Decline<",
        "<option value=\"alice@example.com\">",
        "<option value=\"bob@example.com\">",
    ] {
        assert!(html.contains(needle), "{needle} missing from {html}");
    }
}

#[tokio::test]
async fn agree_redirects_with_a_single_use_code_and_notifies_the_url_from_consult() {
    let merchant = MerchantEndpoint::start().await;
    let (sandbox, client) = sandbox_with_alice_and(Some(&merchant)).await;
    let mut body = consult_body("state-42", "https://merchant.example/back?x=1");
    body["authNotifyUrl"] = json!(merchant.url("/from-consult"));
    let url = consent_url(&client, &body).await;
    let (status, location) = consent(&url, ALICE, "agree").await;
    assert_eq!(status, 303);
    assert!(
        location.starts_with("https://merchant.example/back?x=1&authCode="),
        "{location}"
    );
    assert_eq!(
        query_param(&location, "authState").as_deref(),
        Some("state-42")
    );
    let code = query_param(&location, "authCode").expect("authCode");

    // AUTHCODE_CREATED goes to the consult's authNotifyUrl, not the dashboard's URL.
    let got = merchant.wait_for(1).await;
    assert_eq!(got[0].path, "/from-consult");
    assert_notification_signed(sandbox.alipay_public_key(), &got[0]);
    let notify = got[0].json();
    assert_eq!(notify["authorizationNotifyType"], "AUTHCODE_CREATED");
    assert_eq!(notify["authCode"], code.as_str());
    assert_eq!(notify["authState"], "state-42");
    assert_eq!(notify["result"]["resultStatus"], "S");

    // The link is single-use: the page and the form both answer 410.
    assert_eq!(
        reqwest::get(&url).await.expect("get").status().as_u16(),
        410
    );
    let (again, _) = post_decision(&url, ALICE, "agree").await;
    assert_eq!(again, 410);

    // The code is single-use too.
    let token = client.call(Api::ApplyToken, &apply_code_body(&code)).await;
    assert_eq!(token.result_code(), "SUCCESS", "{}", token.body);
    assert_eq!(token.str("userLoginId"), "al***om");
    let reused = client.call(Api::ApplyToken, &apply_code_body(&code)).await;
    assert_eq!(
        (reused.result_status(), reused.result_code()),
        ("F", "INVALID_AUTHCODE")
    );
    let log = wait_log(&sandbox, "delivery", |log| {
        log.len() == 1 && log[0].state == DeliveryState::Delivered
    })
    .await;
    assert_eq!(log[0].notification, NotificationKind::Authorization);
    assert_eq!(log[0].request_id, "state-42");
}

/// POSTs a decision without first loading the page.
async fn post_decision(url: &str, user: &str, decision: &str) -> (u16, Option<String>) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let response = http
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("decision={decision}&user={}", form_escape(user)))
        .send()
        .await
        .expect("posted");
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (response.status().as_u16(), location)
}

#[tokio::test]
async fn authcode_created_goes_to_the_dashboard_url_or_nowhere() {
    // Dashboard URL only.
    let merchant = MerchantEndpoint::start().await;
    let (_sandbox, client) = sandbox_with_alice_and(Some(&merchant)).await;
    let code = agree(&client, "dash").await;
    let got = merchant.wait_for(1).await;
    assert_eq!(got[0].path, "/notify/authorization");
    assert_eq!(got[0].json()["authCode"], code.as_str());

    // No URL anywhere: nothing is raised (the log is written under the same lock as the redirect).
    let (sandbox, client) = sandbox_with_alice_and(None).await;
    agree(&client, "silent").await;
    assert!(
        sandbox.notifications().is_empty(),
        "{:?}",
        sandbox.notifications()
    );
}

#[tokio::test]
async fn decline_redirects_without_a_code_and_sends_nothing() {
    let merchant = MerchantEndpoint::start().await;
    let (sandbox, client) = sandbox_with_alice_and(Some(&merchant)).await;
    let url = consent_url(
        &client,
        &consult_body("declined", "https://merchant.example/r"),
    )
    .await;
    let (status, location) = consent(&url, "", "decline").await;
    assert_eq!(status, 303);
    assert!(
        location.starts_with("https://merchant.example/r?"),
        "{location}"
    );
    assert_eq!(
        query_param(&location, "authState").as_deref(),
        Some("declined")
    );
    assert_eq!(query_param(&location, "authCode"), None, "{location}");
    assert!(sandbox.notifications().is_empty());
    assert_eq!(
        reqwest::get(&url).await.expect("get").status().as_u16(),
        410
    );
}

#[tokio::test]
async fn a_consent_link_expires() {
    let (sandbox, client) = sandbox_with_alice_and(None).await;
    freeze_at(&sandbox, "2024-06-01T12:00:00+08:00");
    let consent_ms = Lifetimes::default().consent_ms;
    let early = consent_url(
        &client,
        &consult_body("early", "https://merchant.example/r"),
    )
    .await;
    let late = consent_url(&client, &consult_body("late", "https://merchant.example/r")).await;
    sandbox.advance_clock_ms(consent_ms);
    // At the last moment the link still works ...
    let (status, location) = post_decision(&early, ALICE, "agree").await;
    assert_eq!(status, 303, "{location:?}");
    // ... one millisecond later it is gone.
    sandbox.advance_clock_ms(1);
    assert_eq!(
        reqwest::get(&late).await.expect("get").status().as_u16(),
        410
    );
    let (status, location) = post_decision(&late, ALICE, "agree").await;
    assert_eq!((status, location), (410, None));
}

#[tokio::test]
async fn an_auth_code_expires() {
    let (sandbox, client) = sandbox_with_alice_and(None).await;
    freeze_at(&sandbox, "2024-06-01T12:00:00+08:00");
    let code_ms = Lifetimes::default().auth_code_ms;
    let on_time = agree(&client, "on-time").await;
    let too_late = agree(&client, "too-late").await;
    sandbox.advance_clock_ms(code_ms);
    let token = client
        .call(Api::ApplyToken, &apply_code_body(&on_time))
        .await;
    assert_eq!(token.result_code(), "SUCCESS", "{}", token.body);
    sandbox.advance_clock_ms(1);
    let expired = client
        .call(Api::ApplyToken, &apply_code_body(&too_late))
        .await;
    assert_eq!(
        (expired.result_status(), expired.result_code()),
        ("F", "INVALID_AUTHCODE")
    );
}

#[tokio::test]
async fn tokens_carry_the_configured_lifetimes_and_an_expired_access_token_cannot_pay() {
    let lifetimes = Lifetimes {
        access_token_ms: 60 * MINUTE,
        refresh_token_ms: 120 * MINUTE,
        ..Lifetimes::default()
    };
    let sandbox = builder()
        .lifetimes(lifetimes)
        .user(ams_sandbox::UserSpec::new(
            ALICE,
            ams_protocol::CustomerBelongsTo::AlipayCn,
            vec![usd(10_000)],
        ))
        .start_local()
        .await
        .expect("starts");
    let client = TestClient::new(&sandbox);
    let t0 = freeze_at(&sandbox, "2024-06-01T12:00:00+08:00");
    let code = agree(&client, "lifetimes").await;
    let token = client.call(Api::ApplyToken, &apply_code_body(&code)).await;
    assert_eq!(token.str("accessTokenExpiryTime"), ams(t0 + 60 * MINUTE));
    assert_eq!(token.str("refreshTokenExpiryTime"), ams(t0 + 120 * MINUTE));
    let (access, refresh) = (token.str("accessToken"), token.str("refreshToken"));

    // Up to its expiry time the token pays; after it, INVALID_ACCESS_TOKEN.
    sandbox.advance_clock_ms(60 * MINUTE);
    let pay = client
        .call(Api::Pay, &pay_body("in-time", &usd(100), &access))
        .await;
    assert_eq!(pay.result_code(), "SUCCESS", "{}", pay.body);
    sandbox.advance_clock_ms(1_000);
    let pay = client
        .call(Api::Pay, &pay_body("expired", &usd(100), &access))
        .await;
    assert_eq!(
        (pay.result_status(), pay.result_code()),
        ("F", "INVALID_ACCESS_TOKEN")
    );
    assert_eq!(sandbox.ledger(Some("expired"), None).debits, 0);

    // The refresh token still works, and the new pair gets fresh lifetimes from now.
    let t1 = sandbox.clock().now_ms();
    let refreshed = client.call(Api::ApplyToken, &refresh_body(&refresh)).await;
    assert_eq!(refreshed.result_code(), "SUCCESS", "{}", refreshed.body);
    assert_eq!(
        refreshed.str("accessTokenExpiryTime"),
        ams(t1 + 60 * MINUTE)
    );
    assert_eq!(
        refreshed.str("refreshTokenExpiryTime"),
        ams(t1 + 120 * MINUTE)
    );

    // A refresh token past its expiry is refused.
    sandbox.advance_clock_ms(120 * MINUTE + 1_000);
    let stale = client
        .call(
            Api::ApplyToken,
            &refresh_body(&refreshed.str("refreshToken")),
        )
        .await;
    assert_eq!(stale.result_status(), "F", "{}", stale.body);
}

#[tokio::test]
async fn refresh_rotates_both_tokens() {
    let fx = Fixture::new().await;
    let refreshed = fx
        .client
        .call(Api::ApplyToken, &refresh_body(&fx.refresh))
        .await;
    assert_eq!(refreshed.result_code(), "SUCCESS", "{}", refreshed.body);
    let (access, refresh) = (refreshed.str("accessToken"), refreshed.str("refreshToken"));
    assert_ne!(access, fx.access);
    assert_ne!(refresh, fx.refresh);

    // The old pair is dead.
    let old_pay = fx.pay("old-token", 100).await;
    assert_eq!(old_pay.result_code(), "INVALID_ACCESS_TOKEN");
    let old_refresh = fx
        .client
        .call(Api::ApplyToken, &refresh_body(&fx.refresh))
        .await;
    assert_eq!(old_refresh.result_status(), "F", "{}", old_refresh.body);
    assert!(old_refresh.json["accessToken"].is_null());

    // The new pair works.
    let new_pay = fx
        .client
        .call(Api::Pay, &pay_body("new-token", &usd(100), &access))
        .await;
    assert_eq!(new_pay.result_code(), "SUCCESS", "{}", new_pay.body);
    let again = fx
        .client
        .call(Api::ApplyToken, &refresh_body(&refresh))
        .await;
    assert_eq!(again.result_code(), "SUCCESS", "{}", again.body);
    assert_eq!(fx.balance(), 9_900);
}

#[tokio::test]
async fn revoke_invalidates_the_token_and_its_refresh_token_and_is_idempotent() {
    let fx = Fixture::new().await;
    let revoke = json!({ "accessToken": fx.access });
    let first = fx.client.call(Api::Revoke, &revoke).await;
    assert_eq!(
        (first.result_status(), first.result_code()),
        ("S", "SUCCESS")
    );
    let second = fx.client.call(Api::Revoke, &revoke).await;
    assert_eq!(
        (second.result_status(), second.result_code()),
        ("S", "SUCCESS")
    );

    let pay = fx.pay("after-revoke", 100).await;
    assert_eq!(
        (pay.result_status(), pay.result_code()),
        ("F", "INVALID_ACCESS_TOKEN")
    );
    let refresh = fx
        .client
        .call(Api::ApplyToken, &refresh_body(&fx.refresh))
        .await;
    assert_eq!(refresh.result_status(), "F", "{}", refresh.body);
    let unknown = fx
        .client
        .call(
            Api::Revoke,
            &json!({ "accessToken": "28100000NOSUCHTOKEN" }),
        )
        .await;
    assert_eq!(unknown.result_code(), "INVALID_ACCESS_TOKEN");
    assert_eq!(fx.balance(), 10_000);
}

#[tokio::test]
async fn unbinding_in_the_wallet_stops_the_token_and_sends_token_canceled() {
    let merchant = MerchantEndpoint::start().await;
    let fx = Fixture::start(builder()).await;
    fx.sandbox
        .set_merchant_settings(CLIENT_ID, merchant.settings())
        .expect("merchant");

    // Through the handle.
    assert_eq!(
        fx.sandbox.unbind(ALICE, Some(CLIENT_ID)).expect("unbind"),
        1
    );
    let got = merchant.wait_for(1).await;
    assert_eq!(got[0].path, "/notify/authorization");
    assert_notification_signed(fx.sandbox.alipay_public_key(), &got[0]);
    assert_eq!(got[0].json()["authorizationNotifyType"], "TOKEN_CANCELED");
    assert_eq!(got[0].json()["accessToken"], fx.access.as_str());
    assert_eq!(
        fx.pay("unbound", 100).await.result_code(),
        "INVALID_ACCESS_TOKEN"
    );
    let refresh = fx
        .client
        .call(Api::ApplyToken, &refresh_body(&fx.refresh))
        .await;
    assert_eq!(refresh.result_status(), "F");
    // Nothing left to unbind.
    assert_eq!(fx.sandbox.unbind(ALICE, None).expect("unbind"), 0);

    // Through the control API, with a fresh binding.
    let (access, _) = bind(&fx.client, ALICE, "rebind").await;
    let control = Control::new(&fx.sandbox);
    let (status, body) = control
        .post(
            &format!("/sandbox/users/{ALICE}/unbind"),
            &json!({ "client_id": CLIENT_ID }),
        )
        .await;
    assert_eq!((status, body), (200, json!({ "tokens_cancelled": 1 })));
    // AUTHCODE_CREATED of the rebind, then TOKEN_CANCELED.
    let got = merchant.wait_for(3).await;
    let cancelled = got
        .iter()
        .filter(|r| r.json()["authorizationNotifyType"] == "TOKEN_CANCELED")
        .map(|r| {
            r.json()["accessToken"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect::<Vec<_>>();
    assert_eq!(cancelled, [fx.access.clone(), access.clone()]);
    let pay = fx
        .client
        .call(Api::Pay, &pay_body("unbound-2", &usd(100), &access))
        .await;
    assert_eq!(pay.result_code(), "INVALID_ACCESS_TOKEN");
    let (status, _) = control
        .post("/sandbox/users/nobody@example.com/unbind", &json!({}))
        .await;
    assert_eq!(status, 404);
    assert_eq!(fx.balance(), 10_000);
}

#[tokio::test]
async fn token_canceled_goes_to_the_auth_notify_url_the_binding_was_made_with() {
    let merchant = MerchantEndpoint::start().await;
    // No dashboard URL: only the consult names one.
    let (sandbox, client) = sandbox_with_alice_and(None).await;
    let mut body = consult_body("with-url", "https://merchant.example/r");
    body["authNotifyUrl"] = json!(merchant.url("/from-consult"));
    let url = consent_url(&client, &body).await;
    let (_, location) = consent(&url, ALICE, "agree").await;
    let code = query_param(&location, "authCode").expect("code");
    let token = client.call(Api::ApplyToken, &apply_code_body(&code)).await;
    // A token obtained by refreshing keeps the binding's URL.
    let refreshed = client
        .call(Api::ApplyToken, &refresh_body(&token.str("refreshToken")))
        .await;
    let access = refreshed.str("accessToken");
    assert_eq!(sandbox.unbind(ALICE, None).expect("unbind"), 1);
    let got = merchant.wait_for(2).await;
    assert_eq!(got[1].path, "/from-consult");
    assert_eq!(got[1].json()["authorizationNotifyType"], "TOKEN_CANCELED");
    assert_eq!(got[1].json()["accessToken"], access.as_str());
    // A binding made without any URL is unbound silently.
    bind(&client, ALICE, "no-url").await;
    assert_eq!(sandbox.unbind(ALICE, None).expect("unbind"), 1);
    assert_eq!(sandbox.notifications().len(), 2);
}

#[tokio::test]
async fn tokens_and_codes_belong_to_one_merchant() {
    const OTHER: &str = "SANDBOX_OTHER000000000000";
    let sandbox = builder()
        .merchant(
            OTHER,
            ams_signing::PublicKey::from_text(&vector("alipay_sim_public_spki.pem")).expect("key"),
        )
        .user(ams_sandbox::UserSpec::new(
            ALICE,
            ams_protocol::CustomerBelongsTo::AlipayCn,
            vec![usd(10_000)],
        ))
        .start_local()
        .await
        .expect("starts");
    let client = TestClient::new(&sandbox);
    let mut other = TestClient::new(&sandbox);
    other.client_id = OTHER.to_owned();
    other.key = alipay_key();
    let (access, refresh) = bind(&client, ALICE, "mine").await;
    let code = agree(&client, "mine-2").await;

    let pay = other
        .call(Api::Pay, &pay_body("shared-id", &usd(100), &access))
        .await;
    assert_eq!(pay.result_code(), "INVALID_ACCESS_TOKEN");
    assert_eq!(
        other
            .call(Api::ApplyToken, &refresh_body(&refresh))
            .await
            .result_status(),
        "F"
    );
    assert_eq!(
        other
            .call(Api::ApplyToken, &apply_code_body(&code))
            .await
            .result_code(),
        "INVALID_AUTHCODE"
    );
    assert_eq!(
        other
            .call(Api::Revoke, &json!({ "accessToken": access }))
            .await
            .result_code(),
        "INVALID_ACCESS_TOKEN"
    );
    // The same paymentRequestId is a different payment for each merchant.
    let mine = client
        .call(Api::Pay, &pay_body("shared-id", &usd(100), &access))
        .await;
    assert_eq!(mine.result_code(), "SUCCESS", "{}", mine.body);
    let theirs = other
        .call(
            Api::InquiryPayment,
            &json!({ "paymentId": mine.str("paymentId") }),
        )
        .await;
    assert_eq!(theirs.result_code(), "ORDER_NOT_EXIST");
    let theirs = other
        .call(
            Api::InquiryPayment,
            &json!({ "paymentRequestId": "shared-id" }),
        )
        .await;
    assert_eq!(theirs.result_code(), "SUCCESS");
    assert_eq!(
        theirs.json["paymentStatus"], "FAIL",
        "their own failed attempt"
    );
    assert_eq!(sandbox.ledger(Some("shared-id"), None).debits, 1);
}

#[tokio::test]
async fn the_consent_page_escapes_what_it_shows() {
    let (sandbox, client) = sandbox_with_alice_and(None).await;
    sandbox
        .set_merchant_settings(
            CLIENT_ID,
            ams_sandbox::MerchantSettings {
                name: Some("Bob's <Shop> & Co".to_owned()),
                ..ams_sandbox::MerchantSettings::default()
            },
        )
        .expect("merchant");
    let url = consent_url(&client, &consult_body("esc", "https://merchant.example/r")).await;
    let html = reqwest::get(&url)
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(html.contains("Bob&#39;s &lt;Shop&gt; &amp; Co"), "{html}");
    assert!(!html.contains("<Shop>"));
    // Unknown links are 404, not 410.
    let missing = format!("{}/sandbox/wallet/consent/0000", sandbox.base_url());
    assert_eq!(
        reqwest::get(&missing).await.expect("get").status().as_u16(),
        404
    );
}

#[tokio::test]
async fn revoke_sends_token_canceled_once() {
    let merchant = MerchantEndpoint::start().await;
    let fx = Fixture::start(builder()).await;
    fx.sandbox
        .set_merchant_settings(CLIENT_ID, merchant.settings())
        .expect("merchant");
    let revoke = json!({ "accessToken": fx.access });
    assert_eq!(
        fx.client.call(Api::Revoke, &revoke).await.result_status(),
        "S"
    );
    assert_eq!(
        fx.client.call(Api::Revoke, &revoke).await.result_status(),
        "S"
    );
    let got = merchant.wait_for(1).await;
    assert_eq!(got[0].json()["authorizationNotifyType"], "TOKEN_CANCELED");
    assert_eq!(got[0].json()["accessToken"], fx.access.as_str());
    assert_notification_signed(fx.sandbox.alipay_public_key(), &got[0]);
    // The repeated revoke changed nothing and told nobody again.
    let log = fx
        .sandbox
        .wait_for_notifications(std::time::Duration::from_millis(300), |log| log.len() > 1)
        .await;
    let canceled = log
        .iter()
        .filter(|n| n.body.contains("TOKEN_CANCELED"))
        .count();
    assert_eq!(canceled, 1, "{log:?}");
}

#[tokio::test]
async fn token_created_follows_a_code_exchange_when_the_merchant_asks_for_it() {
    let merchant = MerchantEndpoint::start().await;
    let (sandbox, client) = sandbox_with_alice_and(Some(&merchant)).await;
    sandbox
        .set_notify_token_created(CLIENT_ID, true)
        .expect("merchant known");
    assert!(
        sandbox
            .merchant(CLIENT_ID)
            .expect("merchant")
            .notify_token_created
    );
    assert!(
        sandbox
            .set_notify_token_created("SANDBOX_NOBODY", true)
            .is_err()
    );
    let mut body = consult_body("tc-state", "https://merchant.example/r");
    body["authNotifyUrl"] = json!(merchant.url("/from-consult"));
    let url = consent_url(&client, &body).await;
    let (_, location) = consent(&url, ALICE, "agree").await;
    let code = query_param(&location, "authCode").expect("authCode");
    // Notification faults apply to it (matched by authState): deliver it twice.
    sandbox.add_notification_fault(
        NotificationFaultRule::new(
            Some(NotificationKind::Authorization),
            NotificationFaultAction::Duplicate,
        )
        .for_request("tc-state"),
    );
    let token = client.call(Api::ApplyToken, &apply_code_body(&code)).await;
    assert_eq!(token.result_code(), "SUCCESS", "{}", token.body);
    // Raised under the same lock as the answer.
    let log = sandbox.notifications();
    assert_eq!(log.len(), 2, "{log:#?}");
    assert_eq!(
        (log[1].notification, log[1].request_id.as_str()),
        (NotificationKind::Authorization, "tc-state")
    );

    let got = merchant.wait_for(3).await;
    let created: Vec<&Received> = got
        .iter()
        .filter(|r| r.json()["authorizationNotifyType"] == "TOKEN_CREATED")
        .collect();
    assert_eq!(created.len(), 2, "{got:?}");
    for received in created {
        assert_eq!(received.path, "/from-consult");
        assert_notification_signed(sandbox.alipay_public_key(), received);
        let notify = received.json();
        assert_eq!(notify["authState"], "tc-state");
        assert_eq!(notify["accessToken"], token.str("accessToken").as_str());
        assert_eq!(notify["userLoginId"], "al***om");
        assert_eq!(notify["result"]["resultStatus"], "S");
        assert!(notify["authCode"].is_null(), "{notify}");
    }

    // A refresh creates no TOKEN_CREATED.
    let refreshed = client
        .call(Api::ApplyToken, &refresh_body(&token.str("refreshToken")))
        .await;
    assert_eq!(refreshed.result_code(), "SUCCESS", "{}", refreshed.body);
    assert_eq!(sandbox.notifications().len(), 2);
}

#[tokio::test]
async fn a_wallet_without_refresh_tokens_gives_an_access_token_alone() {
    const DANA: &str = "dana@example.com";
    let sandbox = builder()
        .user(
            UserSpec::new(DANA, CustomerBelongsTo::AlipayCn, vec![usd(10_000)])
                .without_refresh_tokens(),
        )
        .start_local()
        .await
        .expect("starts");
    let client = TestClient::new(&sandbox);
    let t0 = freeze_at(&sandbox, "2024-06-01T12:00:00+08:00");
    assert!(!sandbox.user(DANA).expect("dana").spec.issues_refresh_tokens);
    let token = bind_answer(&client, DANA, "no-refresh").await;
    assert_eq!(
        token.str("accessTokenExpiryTime"),
        ams(t0 + Lifetimes::default().access_token_ms)
    );
    for absent in ["refreshToken", "refreshTokenExpiryTime"] {
        assert!(token.json.get(absent).is_none(), "{absent}: {}", token.body);
    }
    let access = token.str("accessToken");
    let pay = client
        .call(Api::Pay, &pay_body("no-refresh-pay", &usd(100), &access))
        .await;
    assert_eq!(pay.result_code(), "SUCCESS", "{}", pay.body);
    // Nothing can refresh the binding.
    let refresh = client.call(Api::ApplyToken, &refresh_body(&access)).await;
    assert_eq!(
        (refresh.result_status(), refresh.result_code()),
        ("F", "INVALID_REFRESH_TOKEN")
    );
}

#[tokio::test]
async fn switching_refresh_tokens_off_applies_to_the_tokens_issued_afterwards() {
    let fx = Fixture::new().await;
    let control = Control::new(&fx.sandbox);
    let (status, user) = control
        .patch(
            &format!("/sandbox/users/{ALICE}"),
            &json!({ "issues_refresh_tokens": false }),
        )
        .await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["issues_refresh_tokens"], false);

    // The refresh token issued before still works once; its replacement comes without one.
    let refreshed = fx
        .client
        .call(Api::ApplyToken, &refresh_body(&fx.refresh))
        .await;
    assert_eq!(refreshed.result_code(), "SUCCESS", "{}", refreshed.body);
    assert!(refreshed.json["accessToken"].is_string());
    assert!(
        refreshed.json["refreshToken"].is_null(),
        "{}",
        refreshed.body
    );
    let fresh_bind = bind_answer(&fx.client, ALICE, "after-switch").await;
    assert!(
        fresh_bind.json["refreshToken"].is_null(),
        "{}",
        fresh_bind.body
    );

    // Switched back on, bindings get refresh tokens again; users made over HTTP take it too.
    fx.sandbox
        .update_user(
            ALICE,
            ams_sandbox::UserUpdate {
                issues_refresh_tokens: Some(true),
                ..ams_sandbox::UserUpdate::default()
            },
        )
        .expect("update");
    let (access, refresh) = bind(&fx.client, ALICE, "switched-back").await;
    assert!(!access.is_empty() && !refresh.is_empty());
    let (status, erin) = control
        .post(
            "/sandbox/users",
            &json!({ "login_id": "erin@example.com", "wallet": "ALIPAY_CN", "issues_refresh_tokens": false }),
        )
        .await;
    assert_eq!(status, 201, "{erin}");
    assert_eq!(erin["issues_refresh_tokens"], false);
    let (_, alice) = control.get(&format!("/sandbox/users/{ALICE}")).await;
    assert_eq!(alice["issues_refresh_tokens"], true);
}

/// Digest §3.1: `NO_PAY_OPTIONS` (F) for a wallet the merchant's contract does not cover.
#[tokio::test]
async fn a_wallet_outside_the_merchants_contract_is_no_pay_options() {
    let (sandbox, client) = sandbox_with_alice_and(None).await;
    sandbox
        .set_merchant_settings(
            CLIENT_ID,
            ams_sandbox::MerchantSettings {
                wallets: vec![ams_protocol::CustomerBelongsTo::AlipayHk],
                ..ams_sandbox::MerchantSettings::default()
            },
        )
        .expect("merchant");
    let refused = client
        .call(
            Api::Consult,
            &consult_body("no-wallet", "https://merchant.example/r"),
        )
        .await;
    assert_eq!(
        (refused.result_status(), refused.result_code()),
        ("F", "NO_PAY_OPTIONS"),
        "{}",
        refused.body
    );
    let mut hk = consult_body("hk-wallet", "https://merchant.example/r");
    hk["customerBelongsTo"] = serde_json::json!("ALIPAY_HK");
    let taken = client.call(Api::Consult, &hk).await;
    assert_eq!(taken.result_code(), "SUCCESS", "{}", taken.body);
}

/// Digest §3.2 (release notes, January 2022): applyToken answers `USER_NOT_EXIST` for a closed
/// wallet account and `USER_STATUS_ABNORMAL` for an abnormal one, both F, for either grant; nothing
/// is issued, and the auth code (or the refresh token) can still be used once the account is
/// normal again.
#[tokio::test]
async fn apply_token_refuses_a_closed_or_abnormal_account() {
    let (sandbox, client) = sandbox_with_alice_and(None).await;
    assert!(sandbox.settings().apply_token_checks_user, "on by default");
    let set_status = |status: AccountStatus| {
        sandbox
            .update_user(
                ALICE,
                UserUpdate {
                    status: Some(status),
                    ..UserUpdate::default()
                },
            )
            .expect("update");
    };
    let code = agree(&client, "closed-state").await;
    let before = snapshot(&sandbox);
    for (status, expected) in [
        (AccountStatus::Closed, "USER_NOT_EXIST"),
        (AccountStatus::Abnormal, "USER_STATUS_ABNORMAL"),
    ] {
        set_status(status);
        let refused = client.call(Api::ApplyToken, &apply_code_body(&code)).await;
        assert_eq!(
            (refused.result_status(), refused.result_code()),
            ("F", expected),
            "{}",
            refused.body
        );
        assert!(refused.json["accessToken"].is_null(), "{}", refused.body);
    }
    set_status(AccountStatus::Normal);
    assert_eq!(
        snapshot(&sandbox),
        before,
        "nothing moved, nothing notified"
    );
    let token = client.call(Api::ApplyToken, &apply_code_body(&code)).await;
    assert_eq!(token.result_code(), "SUCCESS", "{}", token.body);

    // The refresh grant too; the pair refused keeps working.
    let (access, refresh) = (token.str("accessToken"), token.str("refreshToken"));
    for (status, expected) in [
        (AccountStatus::Closed, "USER_NOT_EXIST"),
        (AccountStatus::Abnormal, "USER_STATUS_ABNORMAL"),
    ] {
        set_status(status);
        let refused = client.call(Api::ApplyToken, &refresh_body(&refresh)).await;
        assert_eq!(
            (refused.result_status(), refused.result_code()),
            ("F", expected),
            "{}",
            refused.body
        );
    }
    set_status(AccountStatus::Normal);
    let paid = client
        .call(Api::Pay, &pay_body("after-refusals", &usd(100), &access))
        .await;
    assert_eq!(paid.result_code(), "SUCCESS", "{}", paid.body);
    let refreshed = client.call(Api::ApplyToken, &refresh_body(&refresh)).await;
    assert_eq!(refreshed.result_code(), "SUCCESS", "{}", refreshed.body);
}

/// With `apply_token_checks_user` off, a closed account gets its token and the failure shows only
/// at `pay`, as before January 2022.
#[tokio::test]
async fn without_the_account_check_a_closed_account_gets_a_token_and_pay_refuses() {
    let (sandbox, client) = sandbox_with_alice_and(None).await;
    let control = Control::new(&sandbox);
    let (status, settings) = control
        .put(
            "/sandbox/settings",
            &json!({ "apply_token_checks_user": false }),
        )
        .await;
    assert_eq!(
        (status, &settings["apply_token_checks_user"]),
        (200, &json!(false))
    );
    let code = agree(&client, "unchecked").await;
    sandbox
        .update_user(
            ALICE,
            UserUpdate {
                status: Some(AccountStatus::Closed),
                ..UserUpdate::default()
            },
        )
        .expect("update");
    let token = client.call(Api::ApplyToken, &apply_code_body(&code)).await;
    assert_eq!(token.result_code(), "SUCCESS", "{}", token.body);
    let pay = client
        .call(
            Api::Pay,
            &pay_body("closed-pay", &usd(100), &token.str("accessToken")),
        )
        .await;
    assert_eq!(
        (pay.result_status(), pay.result_code()),
        ("F", "USER_NOT_EXIST")
    );
}
