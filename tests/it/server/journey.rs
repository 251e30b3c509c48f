//! The merchant's journey over the API: bind the demo wallet through the consent page, charge,
//! refund, cancel, revoke, authorize again; idempotency rules and races; one merchant never sees
//! another's resources.

use serde_json::json;

use super::{Srv, server_test};

server_test! {
    async fn bind_charge_refund_cancel_revoke_and_authorize_again(db) {
        let s = Srv::start(&db).await;
        let auth = s.bind().await;
        let body = s.get(&format!("/v1/authorizations/{auth}")).await.body;
        assert_eq!(body["status"], "active");
        assert!(body.get("access_token").is_none() && !body.to_string().contains("token\":\"2"), "no token leaves the server");

        // Charge, then refund part of it.
        let before = s.balance();
        let paid = s.charge(&auth, "pay-1", 1_000).await;
        assert_eq!((paid.status, paid.str("status")), (201, "succeeded"), "{}", paid.body);
        let pay = paid.str("id").to_owned();
        let prid = paid.body["attempts"][0]["payment_request_id"].as_str().unwrap().to_owned();
        assert_eq!(s.ledger(&prid), (1, 0));
        assert_eq!(s.balance(), before - 1_000);
        let refund = s.post(&format!("/v1/payments/{pay}/refunds"), "re-1", json!({"amount": 300})).await;
        assert_eq!((refund.status, refund.str("status")), (201, "succeeded"), "{}", refund.body);
        let payment = s.get(&format!("/v1/payments/{pay}")).await.body;
        assert_eq!(payment["amount_refunded"], 300);
        assert_eq!(s.balance(), before - 700);
        let too_much = s.post(&format!("/v1/payments/{pay}/refunds"), "re-2", json!({"amount": 701})).await;
        assert_eq!((too_much.status, too_much.str("code"), too_much.str("param")), (400, "amount_exceeds_refundable", "/amount"));
        let listed = s.get(&format!("/v1/payments/{pay}/refunds")).await.body;
        assert_eq!(listed["data"].as_array().unwrap().len(), 1);

        // A paid payment is refunded, not cancelled.
        let cancel = s.post(&format!("/v1/payments/{pay}/cancel"), "cancel-1", json!({})).await;
        assert_eq!((cancel.status, cancel.str("code")), (409, "refund_instead"), "{}", cancel.body);

        // A payment left processing by the wallet is cancelled: nothing charged.
        let mut unanswered = ams_sandbox::FaultRule::new(
            ams_protocol::Api::Pay,
            ams_sandbox::FaultAction::Answer { status: ams_sandbox::AnswerStatus::U, code: "PAYMENT_IN_PROCESS".into() },
        );
        unanswered.process = false;
        s.sandbox().add_fault(unanswered);
        let pending = s.charge(&auth, "pay-2", 500).await;
        assert_eq!((pending.status, pending.str("status")), (201, "processing"), "{}", pending.body);
        let pending_id = pending.str("id").to_owned();
        let cancelled = s.post(&format!("/v1/payments/{pending_id}/cancel"), "cancel-2", json!({})).await;
        assert_eq!(cancelled.status, 200, "{}", cancelled.body);
        let prid2 = pending.body["attempts"][0]["payment_request_id"].as_str().unwrap().to_owned();
        // The cancel is settled once the pay's expiry has passed (it could still land before).
        s.advance(6 * 60_000);
        let done = s.until(&format!("/v1/payments/{pending_id}"), |p| p["status"] != "processing").await;
        assert_eq!(done["status"], "cancelled", "{done}");
        let (debits, credits) = s.ledger(&prid2);
        assert_eq!(debits, credits, "whatever was debited was returned");

        // Revoke; a charge is then refused; authorize again.
        let revoked = s.post(&format!("/v1/authorizations/{auth}/revoke"), "revoke-1", json!({})).await;
        assert_eq!((revoked.status, revoked.str("status")), (200, "revoked"), "{}", revoked.body);
        let refused = s.charge(&auth, "pay-3", 100).await;
        assert_eq!((refused.status, refused.str("code")), (409, "authorization_not_active"));
        let again = s.post(&format!("/v1/authorizations/{auth}/reauthorize"), "again-1", json!({})).await;
        assert_eq!((again.status, again.str("status")), (201, "awaiting_user"), "{}", again.body);
        assert_ne!(again.str("id"), auth);
        let back = s.agree(again.str("auth_url")).await;
        let target = s.come_back(&back).await;
        assert!(target.ends_with("status=active"), "{target}");
    }
}

server_test! {
    async fn idempotency_keys_replay_refuse_and_serialise(db) {
        let s = Srv::start(&db).await;
        let auth = s.bind().await;
        let first = s.charge(&auth, "k-1", 100).await;
        assert_eq!(first.status, 201);
        let again = s.charge(&auth, "k-1", 100).await;
        assert_eq!(again.status, 201);
        assert_eq!(again.headers.get("idempotent-replayed").map(|v| v.to_str().unwrap()), Some("true"));
        assert_eq!(again.body, first.body, "the first answer, byte for byte");
        let other = s.post("/v1/payments", "k-1", json!({"authorization_id": auth, "amount": 101, "currency": "USD", "reference": "order-k-1", "description": "Monthly plan"})).await;
        assert_eq!((other.status, other.str("code")), (422, "idempotency_key_reused"));
        let missing = s.send(reqwest::Method::POST, "/v1/payments", None, Some(&json!({}))).await;
        assert_eq!((missing.status, missing.str("code")), (400, "idempotency_key_missing"));

        // The same key sent concurrently: one payment, one debit.
        let before = s.balance();
        let body = json!({"authorization_id": auth, "amount": 250, "currency": "USD", "reference": "order-race", "description": "Monthly plan"});
        let mut sends = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (api, body) = (s.api.clone(), body.clone());
            sends.spawn(async move { api.post("/v1/payments", "race", body).await });
        }
        let answers = sends.join_all().await;
        let created: Vec<_> = answers.iter().filter(|r| r.status == 201).collect();
        assert!(!created.is_empty());
        for r in &answers {
            assert!(matches!(r.status, 201 | 409), "{} {}", r.status, r.body);
            if r.status == 409 {
                assert_eq!(r.str("code"), "idempotency_key_in_use");
            }
        }
        let ids: std::collections::BTreeSet<_> = created.iter().map(|r| r.str("id").to_owned()).collect();
        assert_eq!(ids.len(), 1, "one resource");
        let list = s.get("/v1/payments?reference=order-race").await.body;
        assert_eq!(list["data"].as_array().unwrap().len(), 1);
        assert_eq!(s.balance(), before - 250, "one debit");
    }
}

server_test! {
    async fn a_key_never_sees_another_merchants_resources(db) {
        let s = Srv::with(&db, |c| {
            c.merchants.insert("default".into(), Default::default());
            let hash: String = autodebit_server::http::auth::hash_key("sk_test_other")
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            c.merchants.insert("other".into(), autodebit_server::config::MerchantConfig {
                api_key_sha256: vec![autodebit_server::config::Secret::new(hash)],
                ..Default::default()
            });
        })
        .await;
        let auth = s.bind().await;
        let paid = s.charge(&auth, "iso-1", 100).await;
        let pay = paid.str("id").to_owned();
        let other = s.as_key("sk_test_other");
        for path in [format!("/v1/payments/{pay}"), format!("/v1/authorizations/{auth}")] {
            let res = other.get(&path).await;
            assert_eq!(res.status, 404, "{path}: {}", res.body);
        }
        let list = other.get("/v1/payments").await.body;
        assert_eq!(list["data"].as_array().unwrap().len(), 0);
        // Events too: the default merchant's are not the other's.
        let events = s.get("/v1/events").await.body;
        let first = events["data"][0]["id"].as_str().expect("an event").to_owned();
        assert_eq!(other.get(&format!("/v1/events/{first}")).await.status, 404);
        assert_eq!(other.get("/v1/events").await.body["data"].as_array().unwrap().len(), 0);
        let refund = other.post(&format!("/v1/payments/{pay}/refunds"), "x", json!({"amount": 1})).await;
        assert_eq!(refund.status, 404);
        // The same reference and idempotency key are the other merchant's own.
        let unknown = other.charge(&auth, "iso-1", 100).await;
        assert_eq!(unknown.status, 404, "{}", unknown.body);
        let wrong = s.as_key("sk_test_nobody");
        let res = wrong.get("/v1/payments").await;
        assert_eq!(res.status, 401);
        assert_eq!(res.headers.get("www-authenticate").unwrap(), "Bearer");
    }
}
