//! Secondary-merchant registrations over the server and the sandbox: off unless the merchant's
//! configuration turns them on; registered, accepted by Alipay, followed until the wallets' review
//! ends (the sandbox's `notifyRegistrationStatus` reaches the server and is applied), with events;
//! bad input named; a second registration of the same merchant refused by Alipay; and the
//! registered merchant named in an authorization, its consult and its payments, with the sandbox
//! refusing merchants no wallet approved.

use ams_sandbox::{DeliveryState, NotificationKind};
use autodebit_server::config::SANDBOX_CLIENT_ID;
use serde_json::{Value, json};

use super::{Srv, server_test};

const PATH: &str = "/v1/secondary_merchant_registrations";

fn registration(reference: &str) -> Value {
    json!({
        "merchant_info": {
            "referenceMerchantId": reference,
            "merchantDisplayName": "Sub Shop",
            "merchantMCC": "5812",
            "websites": [{ "name": "n", "url": "https://sub.example", "desc": "d" }],
            "merchantAddress": { "region": "HK", "city": "Hong Kong", "address1": "1 Road" },
            "registrationDetail": {
                "legalName": "Sub Shop Ltd",
                "contactInfo": [{ "contactNo": "owner@sub.example", "contactType": "EMAIL" }],
                "registrationType": "ENTERPRISE_REGISTRATION_NO",
                "registrationNo": "12345",
                "businessType": "ENTERPRISE"
            }
        },
        "pass_through_info": "{\"k\":\"v\"}"
    })
}

/// Binds the demo user's wallet for `secondary`: the authorization's id, or the refusal.
async fn bind_for(s: &Srv, key: &str, secondary: &str) -> Result<String, Value> {
    let res = s
        .post(
            "/v1/authorizations",
            key,
            json!({
                "customer_id": "cust-sub", "wallet": "ALIPAY_CN", "terminal_type": "WEB",
                "return_url": format!("{}/healthz", s.url()), "secondary_merchant": secondary,
            }),
        )
        .await;
    if res.status != 201 {
        return Err(res.body);
    }
    assert_eq!(res.body["secondary_merchant"], secondary, "{}", res.body);
    let back = s.agree(res.str("auth_url")).await;
    assert!(s.come_back(&back).await.ends_with("status=active"));
    Ok(res.str("id").to_owned())
}

server_test! {
    async fn a_secondary_merchant_is_registered_reviewed_and_then_paid_for(db) {
        let off = Srv::start(&db).await;
        let res = off.post(PATH, "smr-off", registration("sub_shop_1")).await;
        assert_eq!((res.status, res.str("code")), (404, "secondary_merchant_registration_disabled"), "{}", res.body);
        drop(off);

        let s = Srv::with(&db, |c| {
            c.merchants.entry("default".into()).or_default().secondary_merchant_registration = true;
        })
        .await;
        // Bad input is named, and nothing is stored or sent.
        let mut bad = registration("sub_shop_1");
        bad["merchant_info"]["websites"][0]["url"] = json!("not a url");
        let res = s.post(PATH, "smr-bad", bad).await;
        assert_eq!((res.status, res.str("param")), (400, "/merchant_info"), "{}", res.body);
        assert!(res.str("detail").contains("merchantInfo.websites[0].url"), "{}", res.body);
        let res = s.post(PATH, "smr-bad-2", json!({"merchant_info": "sub_shop_1"})).await;
        assert_eq!((res.status, res.str("param")), (400, "/merchant_info"), "{}", res.body);

        // Registered: Alipay accepts it at once; the review follows.
        let created = s.post(PATH, "smr-1", registration("sub_shop_1")).await;
        assert_eq!((created.status, created.str("status")), (201, "in_review"), "{}", created.body);
        let id = created.str("id").to_owned();
        assert!(id.starts_with("smr_") && created.str("registration_request_id").len() <= 64, "{}", created.body);
        assert!(!created.body.to_string().contains("owner@sub.example"), "the contacts are never shown");
        let replay = s.post(PATH, "smr-1", registration("sub_shop_1")).await;
        assert_eq!((replay.status, replay.str("id")), (201, id.as_str()), "{}", replay.body);

        // The wallets' review ends; Alipay notifies the server, which applies it.
        let done = s.drive(&format!("{PATH}/{id}"), |r| r["status"] == "reviewed").await;
        assert_eq!(done["review_status"], "COMPLETED", "{done}");
        assert!(done["wallets"].as_array().is_some_and(|w| !w.is_empty() && w.iter().all(|w| w["status"] == "APPROVED")), "{done}");
        let notified: Vec<_> = s.sandbox().notifications().into_iter()
            .filter(|n| n.notification == NotificationKind::Registration)
            .collect();
        assert_eq!(notified.len(), 1);
        assert!(notified[0].url.ends_with("/alipay/default/notify/registrations"), "{}", notified[0].url);
        assert_eq!(notified[0].state, DeliveryState::Delivered, "acknowledged: {:?}", notified[0].attempts);
        let events = s.get("/v1/events").await.body;
        let kinds: Vec<&str> = events["data"].as_array().unwrap().iter().filter_map(|e| e["type"].as_str()).collect();
        assert!(kinds.contains(&"secondary_merchant.accepted") && kinds.contains(&"secondary_merchant.reviewed"), "{kinds:?}");
        let reviewed = events["data"].as_array().unwrap().iter().find(|e| e["type"] == "secondary_merchant.reviewed").unwrap();
        assert_eq!(reviewed["data"]["object"]["id"], id.as_str(), "{reviewed}");
        // What Alipay holds of it, asked live (inquiryRegistrationInfo).
        let info = s.get(&format!("{PATH}/{id}/registered_info")).await;
        assert_eq!(info.status, 200, "{}", info.body);
        assert_eq!(info.body["merchant_info"]["referenceMerchantId"], "sub_shop_1", "{}", info.body);
        assert_eq!(info.body["merchant_info"]["merchantMCC"], "5812", "{}", info.body);
        assert_eq!(info.body["product_codes"], json!(["AGREEMENT_PAYMENT"]), "{}", info.body);

        // A second registration of the same merchant: Alipay refuses it, and says why.
        let again = s.post(PATH, "smr-2", registration("sub_shop_1")).await;
        assert_eq!((again.status, again.str("status")), (201, "failed"), "{}", again.body);
        assert_eq!(again.body["failure"]["code"], "REPEAT_REGISTRATION", "{}", again.body);
        let listed = s.get(&format!("{PATH}?reference_merchant_id=sub_shop_1&limit=1")).await.body;
        assert_eq!((listed["data"][0]["id"].as_str(), listed["has_more"].as_bool()), (again.body["id"].as_str(), Some(true)), "newest first: {listed}");
        let rest = s.get(&format!("{PATH}?reference_merchant_id=sub_shop_1&starting_after={}", again.str("id"))).await.body;
        assert_eq!(rest["data"][0]["id"], id.as_str(), "{rest}");
        assert!(s.get(&format!("{PATH}?reference_merchant_id=sub_shop_9")).await.body["data"].as_array().unwrap().is_empty());
        let unknown = s.get(&format!("{PATH}?starting_after=smr_none")).await;
        assert_eq!((unknown.status, unknown.str("param")), (400, "starting_after"), "{}", unknown.body);

        // Alipay now refuses secondary merchants no wallet approved.
        let sandbox = s.sandbox();
        let mut settings = sandbox.merchant(SANDBOX_CLIENT_ID).expect("the server's merchant").settings;
        settings.require_registered_secondary_merchants = true;
        sandbox.set_merchant_settings(SANDBOX_CLIENT_ID, settings).expect("settings");
        let refused = bind_for(&s, "smr-bind-2", "sub_shop_2").await.expect_err("sub_shop_2 is not registered");
        assert!(refused.to_string().contains("MERCHANT_NOT_REGISTERED"), "{refused}");
        // The registered one binds and pays, for it.
        let auth = bind_for(&s, "smr-bind-1", "sub_shop_1").await.expect("registered");
        let paid = s.charge(&auth, "smr-pay-1", 1_500).await;
        assert_eq!(paid.str("status"), "succeeded", "{}", paid.body);
        s.settle().await;
    }
}
