//! Payments that need the user (digest §3.4: `PAYMENT_IN_PROCESS` "e.g. when the wallet needs user
//! interaction", with `schemeUrl` / `applinkUrl` / `normalUrl` / `appIdentifier`): a user in
//! `PaymentMode::NeedsUser`, the URLs on the first answer and every identical retry while the
//! payment waits, and the wallet's payment page where the user pays or declines; the payment's
//! expiry and a merchant's cancel close that page. Time moves only with the sandbox clock.

use ams_protocol::Api;
use ams_sandbox::{Completion, PaymentMode, UserUpdate};
use serde_json::{Value, json};

use crate::support::*;

/// Where the merchant sends the user back after the payment page.
const REDIRECT: &str = "https://merchant.example/paid?order=42";

/// Alice in `needs_user` mode (set over the control API, as a test in another language would),
/// the merchant named "Test Merchant" with its notifications to an endpoint, the clock frozen.
async fn needs_user_fixture() -> (Fixture, MerchantEndpoint) {
    payment_mode_fixture(Fixture::new().await, "needs_user").await
}

/// A pay body for Alice's token from `terminal`, with `paymentRedirectUrl` when given.
fn body(fx: &Fixture, id: &str, minor: u64, terminal: &str, redirect: Option<&str>) -> Value {
    let mut body = pay_body(id, &usd(minor), &fx.access);
    body["env"]["terminalType"] = json!(terminal);
    if let Some(url) = redirect {
        body["paymentRedirectUrl"] = json!(url);
    }
    body
}

/// The four URL fields of a pay answer, `None` where absent.
fn urls(answer: &Answer) -> [Option<String>; 4] {
    ["normalUrl", "schemeUrl", "applinkUrl", "appIdentifier"]
        .map(|field| answer.json[field].as_str().map(str::to_owned))
}

/// The payment page of `payment_id` on this sandbox.
fn page_url(fx: &Fixture, payment_id: &str) -> String {
    format!(
        "{}/sandbox/wallet/payments/{payment_id}",
        fx.sandbox.base_url()
    )
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// GETs the page like a browser: status and HTML.
async fn open(url: &str) -> (u16, String) {
    let response = browser().get(url).send().await.expect("page answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("html"))
}

/// POSTs the page's form: status, `Location` if any, HTML.
async fn decide(url: &str, decision: &str) -> (u16, Option<String>, String) {
    let response = browser()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("decision={}", form_escape(decision)))
        .send()
        .await
        .expect("decision posted");
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, location, response.text().await.expect("html"))
}

/// Waits until the merchant endpoint received the payment notification of `payment_request_id`
/// and returns its body (checked signed).
async fn delivered(fx: &Fixture, merchant: &MerchantEndpoint, payment_request_id: &str) -> Value {
    let mut found = None;
    for n in 1..=10 {
        let got = merchant.wait_for(n).await;
        if let Some(r) = got.iter().find(|r| {
            r.path == "/notify/payment" && r.json()["paymentRequestId"] == payment_request_id
        }) {
            assert_notification_signed(fx.sandbox.alipay_public_key(), r);
            found = Some(r.json());
            break;
        }
    }
    found.unwrap_or_else(|| panic!("no notification for {payment_request_id}"))
}

#[tokio::test]
async fn a_payment_that_needs_the_user_carries_the_wallet_urls_and_is_paid_when_the_user_confirms()
{
    let (fx, merchant) = needs_user_fixture().await;

    // From an app: U / PAYMENT_IN_PROCESS with the four URLs.
    let app = body(&fx, "nu-app", 1_234, "APP", Some(REDIRECT));
    let pay = fx.client.call(Api::Pay, &app).await;
    assert_eq!(
        (pay.result_status(), pay.result_code()),
        ("U", "PAYMENT_IN_PROCESS"),
        "{}",
        pay.body
    );
    let payment_id = pay.str("paymentId");
    let normal = page_url(&fx, &payment_id);
    assert_eq!(
        urls(&pay),
        [
            Some(normal.clone()),
            Some(format!("alipay-sandbox://pay?payment={payment_id}")),
            Some(format!("{normal}?applink=1")),
            Some("com.example.sandbox.wallet".to_owned()),
        ],
        "{}",
        pay.body
    );
    // An identical retry gets the stored answer, URLs included.
    let retry = fx.client.call(Api::Pay, &app).await;
    assert_eq!(retry.result_code(), "PAYMENT_IN_PROCESS");
    assert_eq!(retry.str("paymentId"), payment_id);
    assert_eq!(urls(&retry), urls(&pay), "{}", retry.body);

    // From the web: the normalUrl alone.
    let web = body(&fx, "nu-web", 500, "WEB", None);
    let web_pay = fx.client.call(Api::Pay, &web).await;
    assert_eq!(web_pay.result_code(), "PAYMENT_IN_PROCESS");
    let web_id = web_pay.str("paymentId");
    assert_eq!(
        urls(&web_pay),
        [Some(page_url(&fx, &web_id)), None, None, None],
        "{}",
        web_pay.body
    );
    assert_eq!(urls(&fx.client.call(Api::Pay, &web).await), urls(&web_pay));

    // Nothing is debited or notified while it waits for the user.
    assert_eq!(
        fx.inquiry("nu-app").await.json["paymentStatus"],
        "PROCESSING"
    );
    assert_eq!((fx.debits("nu-app"), fx.debits("nu-web")), (0, 0));
    assert_eq!(fx.balance(), 10_000);
    assert!(payment_notifications(&fx, "nu-app").is_empty());

    // The page the URL names shows the merchant and the amount.
    let (status, html) = open(&normal).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("<strong id=\"merchant\">Test Merchant</strong>"),
        "{html}"
    );
    assert!(
        html.contains("<strong id=\"amount\">12.34 USD</strong>"),
        "{html}"
    );
    assert!(
        html.contains("value=\"pay\"") && html.contains("value=\"decline\""),
        "{html}"
    );

    // The user pays: back to the merchant's paymentRedirectUrl, as given.
    let (status, location, _) = decide(&normal, "pay").await;
    assert_eq!((status, location.as_deref()), (303, Some(REDIRECT)));
    let inquiry = fx.inquiry("nu-app").await;
    assert_eq!(inquiry.json["paymentStatus"], "SUCCESS", "{}", inquiry.body);
    assert_eq!(fx.debits("nu-app"), 1);
    assert_eq!(fx.balance(), 10_000 - 1_234);
    let notified = payment_notifications(&fx, "nu-app");
    assert_eq!(notified.len(), 1, "{notified:?}");
    assert_eq!(notified[0]["notifyType"], "PAYMENT_RESULT");
    assert_eq!(notified[0]["result"]["resultCode"], "SUCCESS");
    assert_eq!(notified[0]["paymentId"], payment_id.as_str());
    let sent = delivered(&fx, &merchant, "nu-app").await;
    assert_eq!(
        (&sent["notifyType"], &sent["result"]["resultStatus"]),
        (&json!("PAYMENT_RESULT"), &json!("S"))
    );

    // Final now: the retry answers S without a URL, and the page is gone.
    let after = fx.client.call(Api::Pay, &app).await;
    assert_eq!(
        (after.result_status(), after.result_code()),
        ("S", "SUCCESS"),
        "{}",
        after.body
    );
    assert_eq!(urls(&after), [None, None, None, None], "{}", after.body);
    let (status, html) = open(&normal).await;
    assert_eq!(status, 410, "{html}");
    assert!(html.contains("already completed"), "{html}");
    let (status, _, _) = decide(&normal, "pay").await;
    assert_eq!(status, 410);
    assert_eq!(fx.debits("nu-app"), 1, "never debited twice");

    // Without a paymentRedirectUrl the page says how it ended.
    let (status, location, html) = decide(&page_url(&fx, &web_id), "pay").await;
    assert_eq!((status, location), (200, None), "{html}");
    assert!(html.contains("id=\"result\""), "{html}");
    assert!(html.contains("you paid"), "{html}");
    assert_eq!(fx.debits("nu-web"), 1);
    assert_eq!(fx.balance(), 10_000 - 1_234 - 500);
}

#[tokio::test]
async fn a_payment_that_needs_the_user_fails_when_declined_or_left_until_its_expiry() {
    let (fx, merchant) = needs_user_fixture().await;

    // Declined.
    let pay = fx.pay("nu-decline", 2_000).await;
    assert_eq!(pay.result_code(), "PAYMENT_IN_PROCESS");
    let url = pay.str("normalUrl");
    let (status, _, html) = decide(&url, "maybe").await;
    assert_eq!(status, 400, "{html}");
    assert!(html.contains("maybe"), "names what it got: {html}");
    assert_eq!(
        fx.inquiry("nu-decline").await.json["paymentStatus"],
        "PROCESSING"
    );
    let (status, location, html) = decide(&url, "decline").await;
    assert_eq!((status, location), (200, None), "{html}");
    assert!(
        html.contains("id=\"result\"") && html.contains("declined"),
        "{html}"
    );
    let inquiry = fx.inquiry("nu-decline").await;
    assert_eq!(inquiry.json["paymentStatus"], "FAIL", "{}", inquiry.body);
    assert_eq!(inquiry.json["paymentResultCode"], "PROCESS_FAIL");
    let notified = payment_notifications(&fx, "nu-decline");
    assert_eq!(notified.len(), 1, "{notified:?}");
    assert_eq!(notified[0]["notifyType"], "PAYMENT_RESULT");
    assert_eq!(
        (
            &notified[0]["result"]["resultStatus"],
            &notified[0]["result"]["resultCode"]
        ),
        (&json!("F"), &json!("PROCESS_FAIL"))
    );
    let sent = delivered(&fx, &merchant, "nu-decline").await;
    assert_eq!(sent["result"]["resultStatus"], "F");
    let retry = fx.pay("nu-decline", 2_000).await;
    assert_eq!(
        (retry.result_status(), retry.result_code()),
        ("F", "PROCESS_FAIL")
    );
    assert_eq!(urls(&retry), [None, None, None, None], "{}", retry.body);
    assert_eq!(open(&url).await.0, 410);
    assert_eq!(
        decide(&url, "pay").await.0,
        410,
        "a late pay changes nothing"
    );
    assert_eq!(fx.debits("nu-decline"), 0);

    // Left alone: open until its expiry (a minute), closed just after.
    let pay = fx.pay("nu-expire", 3_000).await;
    let url = pay.str("normalUrl");
    fx.sandbox.advance_clock_ms(60_000);
    assert_eq!(open(&url).await.0, 200, "open up to its expiry");
    assert_eq!(
        urls(&fx.pay("nu-expire", 3_000).await)[0].as_deref(),
        Some(url.as_str())
    );
    fx.sandbox.advance_clock_ms(1);
    let inquiry = fx.inquiry("nu-expire").await;
    assert_eq!(inquiry.json["paymentStatus"], "FAIL", "{}", inquiry.body);
    assert_eq!(inquiry.json["paymentResultCode"], "ORDER_IS_CLOSED");
    let (status, html) = open(&url).await;
    assert_eq!(status, 410, "{html}");
    assert!(html.contains("expired"), "{html}");
    assert_eq!(decide(&url, "pay").await.0, 410);
    assert_eq!(
        urls(&fx.pay("nu-expire", 3_000).await),
        [None, None, None, None]
    );
    let notified = payment_notifications(&fx, "nu-expire");
    assert_eq!(notified.len(), 1, "{notified:?}");
    assert_eq!(notified[0]["result"]["resultCode"], "ORDER_IS_CLOSED");

    assert_eq!(fx.sandbox.ledger(None, Some(ALICE)).debits, 0);
    assert_eq!(fx.balance(), 10_000);
}

/// The page sweeps the expiry itself: a payment whose expiry passed is closed the moment the user
/// posts, even if nothing looked at it since the clock moved.
#[tokio::test]
async fn a_late_confirmation_after_the_expiry_pays_nothing() {
    let (fx, _merchant) = needs_user_fixture().await;
    let pay = fx.pay("nu-late", 1_000).await;
    let url = pay.str("normalUrl");
    fx.sandbox.clock().advance_ms(60_001); // straight on the clock: nothing swept yet
    let (status, _, html) = decide(&url, "pay").await;
    assert_eq!(status, 410, "{html}");
    assert!(html.contains("expired"), "{html}");
    assert_eq!(
        fx.inquiry("nu-late").await.json["paymentResultCode"],
        "ORDER_IS_CLOSED"
    );
    assert_eq!(fx.debits("nu-late"), 0);
    assert_eq!(fx.balance(), 10_000);
}

#[tokio::test]
async fn a_cancel_while_the_payment_waits_for_the_user_closes_its_page() {
    let (fx, _merchant) = needs_user_fixture().await;
    let pay = fx
        .client
        .call(
            Api::Pay,
            &body(&fx, "nu-cancel", 4_000, "WAP", Some(REDIRECT)),
        )
        .await;
    assert_eq!(pay.result_code(), "PAYMENT_IN_PROCESS");
    assert!(
        pay.json["schemeUrl"].is_string(),
        "WAP gets the app URLs: {}",
        pay.body
    );
    let url = pay.str("normalUrl");
    assert_eq!(open(&url).await.0, 200);

    let cancel = fx.cancel("nu-cancel").await;
    assert_eq!(cancel.result_code(), "SUCCESS", "{}", cancel.body);
    let (status, html) = open(&url).await;
    assert_eq!(status, 410, "{html}");
    assert!(html.contains("cancelled"), "{html}");
    let (status, location, _) = decide(&url, "pay").await;
    assert_eq!((status, location), (410, None), "no redirect, nothing paid");
    assert_eq!(
        fx.inquiry("nu-cancel").await.json["paymentStatus"],
        "CANCELLED"
    );
    let retry = fx
        .client
        .call(
            Api::Pay,
            &body(&fx, "nu-cancel", 4_000, "WAP", Some(REDIRECT)),
        )
        .await;
    assert_eq!(retry.result_code(), "ORDER_IS_CLOSED");
    assert_eq!(urls(&retry), [None, None, None, None], "{}", retry.body);
    let ledger = fx.sandbox.ledger(Some("nu-cancel"), None);
    assert_eq!((ledger.debits, ledger.credits), (0, 0));
    assert_eq!(fx.balance(), 10_000);
    assert!(payment_notifications(&fx, "nu-cancel").is_empty());
}

/// The balance is checked when the user pays, as a processing payment's is when completed: a
/// refused check fails the payment with its code, and the merchant is still sent back.
#[tokio::test]
async fn paying_on_the_page_without_enough_balance_fails_the_payment() {
    let (fx, _merchant) = needs_user_fixture().await;
    let pay = fx
        .client
        .call(Api::Pay, &body(&fx, "nu-poor", 50_000, "WEB", None))
        .await;
    assert_eq!(
        pay.result_code(),
        "PAYMENT_IN_PROCESS",
        "not checked at acceptance"
    );
    let (status, _, html) = decide(&pay.str("normalUrl"), "pay").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("USER_BALANCE_NOT_ENOUGH"), "{html}");
    let inquiry = fx.inquiry("nu-poor").await;
    assert_eq!(inquiry.json["paymentStatus"], "FAIL");
    assert_eq!(inquiry.json["paymentResultCode"], "USER_BALANCE_NOT_ENOUGH");
    assert_eq!(fx.debits("nu-poor"), 0);
    assert_eq!(fx.balance(), 10_000);

    // Refused at acceptance (the account's setup): F, no URL, no page.
    fx.sandbox
        .update_user(
            ALICE,
            UserUpdate {
                risk_reject: Some(true),
                ..UserUpdate::default()
            },
        )
        .expect("risky");
    let refused = fx.pay("nu-risk", 100).await;
    assert_eq!(
        (refused.result_status(), refused.result_code()),
        ("F", "RISK_REJECT")
    );
    assert_eq!(urls(&refused), [None, None, None, None]);
    let refused_id = fx.inquiry("nu-risk").await.str("paymentId");
    assert_eq!(open(&page_url(&fx, &refused_id)).await.0, 404);
}

/// Only a payment that needs the user has a page: a processing one (a slow wallet that needs
/// nobody) answers without URLs and its would-be page is 404, and the control API still completes
/// either kind.
#[tokio::test]
async fn only_a_payment_that_needs_the_user_has_a_payment_page() {
    let (fx, _merchant) = needs_user_fixture().await;
    fx.set_payment_mode(PaymentMode::Processing);
    let pay = fx
        .client
        .call(
            Api::Pay,
            &body(&fx, "proc-app", 1_000, "APP", Some(REDIRECT)),
        )
        .await;
    assert_eq!(pay.result_code(), "PAYMENT_IN_PROCESS");
    assert_eq!(urls(&pay), [None, None, None, None], "{}", pay.body);
    let url = page_url(&fx, &pay.str("paymentId"));
    let (status, html) = open(&url).await;
    assert_eq!(status, 404, "{html}");
    assert_eq!(decide(&url, "pay").await.0, 404);
    assert_eq!(fx.debits("proc-app"), 0);
    assert_eq!(
        open(&page_url(&fx, "20240601000000000000000000000000"))
            .await
            .0,
        404
    );

    // A needs-user payment can still be completed through the control API; its page closes.
    fx.set_payment_mode(PaymentMode::NeedsUser);
    let pay = fx.pay("nu-control", 700).await;
    let url = pay.str("normalUrl");
    fx.sandbox
        .complete_payment("nu-control", Completion::Success)
        .expect("completes");
    assert_eq!(open(&url).await.0, 410);
    assert_eq!(decide(&url, "pay").await.0, 410);
    assert_eq!(fx.debits("nu-control"), 1);
    assert_eq!(fx.balance(), 10_000 - 700);
}

/// The page is the user's browser's: it needs no control token, and, like the consent page, it
/// refuses a post from another origin.
#[tokio::test]
async fn the_payment_page_needs_no_control_token_and_refuses_foreign_origins() {
    let fx = Fixture::start(builder().control_token("page-token")).await;
    fx.set_payment_mode(PaymentMode::NeedsUser);
    let pay = fx.pay("nu-token", 900).await;
    let url = pay.str("normalUrl");
    assert_eq!(open(&url).await.0, 200, "no token needed");
    let foreign = browser()
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", "https://attacker.example")
        .body("decision=pay")
        .send()
        .await
        .expect("answers");
    assert_eq!(foreign.status().as_u16(), 403);
    assert_eq!(fx.debits("nu-token"), 0);
    let (status, _, html) = decide(&url, "pay").await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(fx.debits("nu-token"), 1);
}
