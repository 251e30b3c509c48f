//! The whole journey over HTTP: consult → consent → applyToken → pay → notification → refund →
//! revoke, with every answer and notification signature checked.

use ams_protocol::Api;
use ams_sandbox::{DeliveryState, EntryKind, NotificationKind};
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn consult_consent_apply_token_pay_notify_refund_revoke() {
    let merchant = MerchantEndpoint::start().await;
    let sandbox = sandbox_with_user("alice@example.com").await;
    sandbox
        .set_merchant_settings(CLIENT_ID, merchant.settings())
        .expect("merchant known");
    let client = TestClient::new(&sandbox);

    // consult → the wallet's consent page → redirect with authCode and authState.
    let consult = client
        .call(
            Api::Consult,
            &consult_body("state-001", "https://merchant.example/authorized?from=app"),
        )
        .await;
    assert_eq!(
        (consult.result_status(), consult.result_code()),
        ("S", "SUCCESS")
    );
    let url = consult.str("normalUrl");
    assert!(url.starts_with(sandbox.base_url()), "{url}");
    // Scan to Bind: the QR value leads to the same page.
    assert_eq!(
        consult.json["authCodeForm"]["codeDetails"][0]["codeValue"],
        url.as_str()
    );
    let (status, location) = consent(&url, "alice@example.com", "agree").await;
    assert_eq!(status, 303);
    assert!(
        location.starts_with("https://merchant.example/authorized?from=app&authCode="),
        "{location}"
    );
    assert_eq!(
        query_param(&location, "authState").as_deref(),
        Some("state-001")
    );
    let code = query_param(&location, "authCode").expect("authCode");

    // The wallet also tells the merchant (AUTHCODE_CREATED), signed over the notify path.
    let got = merchant.wait_for(1).await;
    assert_eq!(got[0].path, "/notify/authorization");
    assert_notification_signed(sandbox.alipay_public_key(), &got[0]);
    assert_eq!(got[0].json()["authorizationNotifyType"], "AUTHCODE_CREATED");
    assert_eq!(got[0].json()["authCode"], code.as_str());
    assert_eq!(got[0].json()["authState"], "state-001");

    // The link is single-use.
    let again = reqwest::get(&url).await.expect("get");
    assert_eq!(again.status().as_u16(), 410);

    // applyToken: the code works once.
    let apply = json!({ "grantType": "AUTHORIZATION_CODE", "customerBelongsTo": "ALIPAY_CN", "authCode": code });
    let token = client.call(Api::ApplyToken, &apply).await;
    assert_eq!(token.result_status(), "S", "{}", token.body);
    let access = token.str("accessToken");
    assert!(token.json["accessTokenExpiryTime"].is_string());
    assert!(token.json["refreshToken"].is_string());
    let reused = client.call(Api::ApplyToken, &apply).await;
    assert_eq!(
        (reused.result_status(), reused.result_code()),
        ("F", "INVALID_AUTHCODE")
    );

    // pay: S, the user is debited once, the merchant is told.
    let pay = client
        .call(Api::Pay, &pay_body("pay-001", &usd(2_500), &access))
        .await;
    assert_eq!(
        (pay.result_status(), pay.result_code()),
        ("S", "SUCCESS"),
        "{}",
        pay.body
    );
    let payment_id = pay.str("paymentId");
    assert_eq!(
        sandbox
            .user("alice@example.com")
            .expect("user")
            .spec
            .balances[0],
        usd(7_500)
    );
    let got = merchant.wait_for(2).await;
    let notify = got[1].json();
    assert_eq!(got[1].path, "/notify/payment");
    assert_notification_signed(sandbox.alipay_public_key(), &got[1]);
    assert_eq!(notify["notifyType"], "PAYMENT_RESULT");
    assert_eq!(notify["paymentRequestId"], "pay-001");
    assert_eq!(notify["paymentId"], payment_id.as_str());
    assert_eq!(notify["paymentAmount"]["value"], "2500");

    // refund part of it.
    let refund = client
        .call(
            Api::Refund,
            &json!({ "refundRequestId": "refund-001", "paymentId": payment_id, "refundAmount": { "currency": "USD", "value": "1000" } }),
        )
        .await;
    assert_eq!(refund.result_status(), "S", "{}", refund.body);
    let got = merchant.wait_for(3).await;
    assert_eq!(got[2].json()["refundStatus"], "SUCCESS");
    assert_eq!(got[2].json()["refundRequestId"], "refund-001");
    let inquiry = client
        .call(
            Api::InquiryRefund,
            &json!({ "refundRequestId": "refund-001" }),
        )
        .await;
    assert_eq!(inquiry.json["refundStatus"], "SUCCESS");

    // revoke: the token stops working.
    let revoke = client
        .call(Api::Revoke, &json!({ "accessToken": access }))
        .await;
    assert_eq!(revoke.result_status(), "S");
    // The merchant hears of it too (TOKEN_CANCELED is sent for merchant and wallet cancellations).
    let got = merchant.wait_for(4).await;
    assert_eq!(got[3].json()["authorizationNotifyType"], "TOKEN_CANCELED");
    assert_eq!(got[3].json()["accessToken"], access.as_str());
    let pay = client
        .call(Api::Pay, &pay_body("pay-002", &usd(100), &access))
        .await;
    assert_eq!(
        (pay.result_status(), pay.result_code()),
        ("F", "INVALID_ACCESS_TOKEN")
    );

    // The ledger: one debit, one credit, balance 85.00.
    let ledger = sandbox.ledger(None, Some("alice@example.com"));
    assert_eq!((ledger.debits, ledger.credits), (1, 1));
    assert_eq!(ledger.entries[0].kind, EntryKind::Debit);
    assert_eq!(
        sandbox
            .user("alice@example.com")
            .expect("user")
            .spec
            .balances[0],
        usd(8_500)
    );
    let log = sandbox
        .wait_for_notifications(std::time::Duration::from_secs(5), |log| {
            log.iter().all(|n| n.state == DeliveryState::Delivered)
        })
        .await;
    let kinds: Vec<NotificationKind> = log.iter().map(|n| n.notification).collect();
    assert_eq!(
        kinds,
        [
            NotificationKind::Authorization,
            NotificationKind::Payment,
            NotificationKind::Refund,
            NotificationKind::Authorization,
            NotificationKind::Payment
        ]
    );
    assert!(
        log.iter().all(|n| n.state == DeliveryState::Delivered),
        "{log:?}"
    );
}
