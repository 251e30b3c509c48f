//! Wallet users: created and changed through the handle and through the control API, with a
//! wallet, balances per currency, limits and a status that the next pay obeys.

use ams_protocol::{Amount, Api, Currency, CustomerBelongsTo};
use ams_sandbox::{AccountStatus, PaymentMode, UserSpec, UserUpdate};
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn users_are_created_and_updated_through_the_handle() {
    let sandbox = sandbox_with_user(ALICE).await;
    let mut spec = UserSpec::new(
        "bob@example.com",
        CustomerBelongsTo::Gcash,
        vec![Amount::new(Currency::PHP, 50_000), usd(700)],
    );
    spec.per_payment_limit = Some(usd(500));
    spec.max_payments = Some(3);
    spec.payment_mode = PaymentMode::Processing;
    let view = sandbox.create_user(spec.clone()).expect("created");
    assert_eq!(view.payments_made, 0);
    assert_eq!(view.spec.wallet, CustomerBelongsTo::Gcash);
    assert_eq!(
        balance_in(&sandbox, "bob@example.com", Currency::PHP),
        50_000
    );
    assert_eq!(balance_in(&sandbox, "bob@example.com", Currency::USD), 700);
    assert_eq!(
        sandbox
            .user("bob@example.com")
            .expect("bob")
            .spec
            .max_payments,
        Some(3)
    );

    // Duplicates and nonsense are refused.
    assert!(sandbox.create_user(spec).is_err(), "duplicate login");
    assert!(
        sandbox
            .create_user(UserSpec::new("", CustomerBelongsTo::AlipayCn, vec![]))
            .is_err()
    );
    assert!(
        sandbox
            .create_user(UserSpec::new(
                "twice@example.com",
                CustomerBelongsTo::AlipayCn,
                vec![usd(1), usd(2)]
            ))
            .is_err(),
        "two balances in one currency"
    );

    // An update replaces what it names and keeps the rest.
    let updated = sandbox
        .update_user(
            "bob@example.com",
            UserUpdate {
                balances: vec![usd(900), Amount::new(Currency::EUR, 10)],
                status: Some(AccountStatus::Abnormal),
                risk_reject: Some(true),
                ..UserUpdate::default()
            },
        )
        .expect("updated");
    assert_eq!(updated.spec.status, AccountStatus::Abnormal);
    assert!(updated.spec.risk_reject);
    assert_eq!(updated.spec.per_payment_limit, Some(usd(500)));
    assert_eq!(updated.spec.payment_mode, PaymentMode::Processing);
    assert_eq!(balance_in(&sandbox, "bob@example.com", Currency::USD), 900);
    assert_eq!(balance_in(&sandbox, "bob@example.com", Currency::EUR), 10);
    assert_eq!(
        balance_in(&sandbox, "bob@example.com", Currency::PHP),
        50_000
    );
    assert!(
        sandbox
            .update_user("nobody@example.com", UserUpdate::default())
            .is_err()
    );
    assert!(sandbox.user("nobody@example.com").is_none());
}

#[tokio::test]
async fn users_are_created_and_updated_through_the_control_api_and_pays_obey() {
    let fx = Fixture::new().await;
    let control = Control::new(&fx.sandbox);
    let (status, created) = control
        .post(
            "/sandbox/users",
            &json!({
                "login_id": "carol@example.com",
                "wallet": "ALIPAY_CN",
                "balances": [{ "currency": "USD", "value": "3000" }],
                "max_payments": 1
            }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["login_id"], "carol@example.com");
    assert_eq!(created["status"], "normal");
    assert_eq!(created["payments_made"], 0);
    let (status, body) = control
        .post(
            "/sandbox/users",
            &json!({ "login_id": "carol@example.com", "wallet": "ALIPAY_CN" }),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = control
        .post(
            "/sandbox/users",
            &json!({ "login_id": "x", "wallet": "ALIPAY_CN", "colour": "red" }),
        )
        .await;
    assert_eq!(status, 400, "unknown fields are refused");

    let (status, users) = control.get("/sandbox/users").await;
    assert_eq!(status, 200);
    let logins: Vec<&str> = users
        .as_array()
        .expect("array")
        .iter()
        .map(|u| u["login_id"].as_str().expect("login"))
        .collect();
    assert_eq!(logins, [ALICE, "carol@example.com"]);

    // Carol binds and pays once; her count limit then refuses the next.
    let (carol, _) = bind(&fx.client, "carol@example.com", "carol").await;
    let client = &fx.client;
    let pay = |id: &'static str, minor: u64| {
        let body = pay_body(id, &usd(minor), &carol);
        async move { client.call(Api::Pay, &body).await }
    };
    assert_eq!(pay("carol-1", 1_000).await.result_code(), "SUCCESS");
    assert_eq!(
        pay("carol-2", 1_000).await.result_code(),
        "PAYMENT_COUNT_EXCEED_LIMIT"
    );
    let (status, carol_view) = control.get("/sandbox/users/carol@example.com").await;
    assert_eq!(status, 200);
    assert_eq!(carol_view["payments_made"], 1);
    assert_eq!(carol_view["balances"][0]["value"], "2000");

    // PATCH: lift the count, add a per-payment limit, then close the account.
    let (status, patched) = control
        .patch(
            "/sandbox/users/carol@example.com",
            &json!({ "max_payments": 10, "per_payment_limit": { "currency": "USD", "value": "500" } }),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["max_payments"], 10);
    assert_eq!(
        pay("carol-3", 501).await.result_code(),
        "USER_AMOUNT_EXCEED_LIMIT"
    );
    assert_eq!(pay("carol-4", 500).await.result_code(), "SUCCESS");
    let (status, _) = control
        .patch(
            "/sandbox/users/carol@example.com",
            &json!({ "status": "abnormal" }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        pay("carol-5", 100).await.result_code(),
        "USER_STATUS_ABNORMAL"
    );
    control
        .patch(
            "/sandbox/users/carol@example.com",
            &json!({ "status": "closed" }),
        )
        .await;
    assert_eq!(pay("carol-6", 100).await.result_code(), "USER_NOT_EXIST");
    control
        .patch(
            "/sandbox/users/carol@example.com",
            &json!({ "status": "normal", "risk_reject": true }),
        )
        .await;
    assert_eq!(pay("carol-7", 100).await.result_code(), "RISK_REJECT");
    control
        .patch(
            "/sandbox/users/carol@example.com",
            &json!({ "risk_reject": false, "balances": [{ "currency": "USD", "value": "50" }] }),
        )
        .await;
    assert_eq!(
        pay("carol-8", 100).await.result_code(),
        "USER_BALANCE_NOT_ENOUGH"
    );
    assert_eq!(pay("carol-9", 50).await.result_code(), "SUCCESS");
    assert_eq!(usd_balance(&fx.sandbox, "carol@example.com"), 0);

    let (status, _) = control.get("/sandbox/users/nobody@example.com").await;
    assert_eq!(status, 404);
    let (status, _) = control
        .patch(
            "/sandbox/users/nobody@example.com",
            &json!({ "risk_reject": true }),
        )
        .await;
    assert_eq!(status, 404);
    // Alice was never touched.
    assert_eq!(fx.balance(), 10_000);
}

#[tokio::test]
async fn a_user_of_another_wallet_cannot_agree_to_an_alipay_cn_consent() {
    let sandbox = sandbox_with_user(ALICE).await;
    sandbox
        .create_user(UserSpec::new(
            "gina@example.com",
            CustomerBelongsTo::Gcash,
            vec![Amount::new(Currency::PHP, 100)],
        ))
        .expect("gina");
    let client = TestClient::new(&sandbox);
    let consult = client
        .call(
            Api::Consult,
            &consult_body("wallets", "https://merchant.example/r"),
        )
        .await;
    let url = consult.str("normalUrl");
    let page = reqwest::get(&url)
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(page.contains(ALICE));
    assert!(
        !page.contains("gina@example.com"),
        "only ALIPAY_CN users are offered"
    );
    let (status, _) = consent(&url, "gina@example.com", "agree").await;
    assert_eq!(status, 400);
    // The link is still usable by the right user.
    let (status, location) = consent(&url, ALICE, "agree").await;
    assert_eq!(status, 303);
    assert!(query_param(&location, "authCode").is_some());
}
