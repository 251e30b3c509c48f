//! Customs declarations over the server and the sandbox: off unless the merchant's configuration
//! turns them on; a paid payment declared, accepted by Alipay, followed until customs answers (with
//! its events); the declared total capped by what was paid before anything is sent; a re-send that
//! keeps the id, waits five minutes and changes only what may change.

use ams_protocol::Api;
use ams_sandbox::{FaultAction, FaultRule};
use serde_json::{Value, json};

use super::{Srv, server_test};

fn declaration(amount: Option<u64>) -> Value {
    let mut body = json!({
        "customs_code": "ZONGSHU",
        "merchant_customs_code": "MC001",
        "merchant_customs_name": "Shop",
        "buyer": {"certificate_type": "ID_CARD", "certificate_no": "110101199001011234", "full_name": "Li Lei"},
    });
    if let Some(amount) = amount {
        body["amount"] = json!(amount);
    }
    body
}

server_test! {
    async fn a_paid_payment_is_declared_followed_until_customs_answers_and_resent(db) {
        let s = Srv::with(&db, |c| {
            c.merchants.entry("default".into()).or_default().customs_declarations = true;
        })
        .await;
        let auth = s.bind().await;
        let paid = s.charge(&auth, "cd-1", 10_000).await;
        assert_eq!(paid.str("status"), "succeeded", "{}", paid.body);
        let pay = paid.str("id").to_owned();
        let path = format!("/v1/payments/{pay}/customs_declarations");
        // Counts every `declare` that reaches the sandbox.
        s.fault(FaultRule::new(Api::Declare, FaultAction::Drop).skip(u32::MAX).times(None));
        let sent = || async { s.fault_counts().await[0].0 };

        let created = s.post(&path, "cd-1-a", declaration(Some(6_000))).await;
        assert_eq!((created.status, created.str("status")), (201, "accepted"), "{}", created.body);
        let id = created.str("id").to_owned();
        let drid = created.str("declaration_request_id").to_owned();
        assert!(id.starts_with("cd_"), "{id}");
        assert!(drid.len() <= 32, "{drid}");
        assert_eq!((created.body["amount"].as_u64(), created.str("currency")), (Some(6_000), "USD"));
        assert!(created.body["customs_payment_id"].is_string(), "{}", created.body);
        assert!(!created.body.to_string().contains("110101199001011234"), "the certificate number is never shown");
        // The same key replays it; nothing more is sent.
        let replay = s.post(&path, "cd-1-a", declaration(Some(6_000))).await;
        assert_eq!((replay.status, replay.str("id")), (201, id.as_str()), "{}", replay.body);
        assert_eq!(sent().await, 1);

        // More than was paid is refused before anything is sent.
        let over = s.post(&path, "cd-1-b", declaration(Some(4_001))).await;
        assert_eq!((over.status, over.str("code")), (409, "customs_declaration_refused"), "{}", over.body);
        assert_eq!(sent().await, 1, "nothing sent");

        // Customs answers later: the job reads it.
        let done = s.drive(&format!("/v1/customs_declarations/{id}"), |d| d["status"] == "completed").await;
        assert!(done["customs_result"]["code"].is_string(), "{done}");
        let events = s.get("/v1/events").await.body;
        let kinds: Vec<&str> = events["data"].as_array().unwrap().iter().filter_map(|e| e["type"].as_str()).collect();
        assert!(kinds.contains(&"customs_declaration.accepted"), "{kinds:?}");
        assert!(kinds.contains(&"customs_declaration.completed"), "{kinds:?}");
        let completed = events["data"].as_array().unwrap().iter().find(|e| e["type"] == "customs_declaration.completed").unwrap();
        assert_eq!(completed["data"]["object"]["id"], id.as_str(), "{completed}");

        // A re-send: refused within five minutes of the previous call, then sent with the same id.
        let resend = format!("/v1/customs_declarations/{id}/resend");
        // (Customs answered about a minute after the send: well within the five minutes.)
        let early = s.post(&resend, "cd-1-r1", json!({"amount": 9_000})).await;
        assert_eq!((early.status, early.str("code")), (409, "customs_declaration_refused"), "{}", early.body);
        s.advance(300_001);
        let nothing = s.post(&resend, "cd-1-r2", json!({})).await;
        assert_eq!(nothing.status, 400, "{}", nothing.body);
        let again = s.post(&resend, "cd-1-r3", json!({"amount": 9_000, "merchant_customs_name": "Shop Ltd"})).await;
        assert_eq!((again.status, again.str("status")), (200, "accepted"), "{}", again.body);
        assert_eq!(again.str("declaration_request_id"), drid, "the same id");
        assert_eq!((again.body["amount"].as_u64(), again.body["sends"].as_u64()), (Some(9_000), Some(2)));
        assert_eq!(sent().await, 2);
        let listed = s.get(&path).await;
        assert_eq!(listed.body["data"].as_array().map(Vec::len), Some(1), "{}", listed.body);
    }
}

server_test! {
    async fn customs_declarations_are_off_unless_configured(db) {
        let s = Srv::start(&db).await;
        let auth = s.bind().await;
        let paid = s.charge(&auth, "cd-2", 1_000).await;
        let pay = paid.str("id").to_owned();
        let refused = s.post(&format!("/v1/payments/{pay}/customs_declarations"), "cd-2-a", declaration(None)).await;
        assert_eq!((refused.status, refused.str("code")), (404, "customs_declarations_disabled"), "{}", refused.body);
        assert!(refused.str("detail").contains("customs_declarations = true"), "{}", refused.body);
    }
}
