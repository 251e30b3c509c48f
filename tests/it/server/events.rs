//! `/v1/events`: every state change that matters is an event, listed newest first, each with a
//! stable id and the resource as it is when read; filters, pages and bad queries.

use serde_json::{Value, json};

use super::{Srv, server_test};

fn types(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|e| e["type"].as_str().expect("type").to_owned())
        .collect()
}

server_test! {
    async fn events_list_what_happened_with_the_resource_as_it_is_now(db) {
        let s = Srv::start(&db).await;
        let auth = s.bind().await;
        let paid = s.charge(&auth, "ev-1", 1_000).await;
        assert_eq!(paid.str("status"), "succeeded", "{}", paid.body);
        let pay = paid.str("id").to_owned();
        let refund = s.post(&format!("/v1/payments/{pay}/refunds"), "ev-1-re", json!({"amount": 400})).await;
        assert_eq!(refund.str("status"), "succeeded", "{}", refund.body);
        let re = refund.str("id").to_owned();

        let all = s.get("/v1/events").await;
        assert_eq!(all.status, 200, "{}", all.body);
        assert_eq!(types(&all.body), ["refund.succeeded", "payment.succeeded", "authorization.active"], "{}", all.body);
        assert_eq!(all.body["has_more"], false);
        let [refunded, succeeded, active] = [0, 1, 2].map(|i| all.body["data"][i].clone());
        assert_eq!((refunded["subject"].as_str(), succeeded["subject"].as_str(), active["subject"].as_str()), (Some(re.as_str()), Some(pay.as_str()), Some(auth.as_str())));
        // The resource as it is now: the payment event shows the refund that came after it.
        assert_eq!(succeeded["data"]["object"]["id"], pay.as_str());
        assert_eq!(succeeded["data"]["object"]["amount_refunded"], 400, "{succeeded}");
        assert_eq!(refunded["data"]["object"]["status"], "succeeded");
        assert_eq!(active["data"]["object"]["status"], "active");
        for e in [&refunded, &succeeded, &active] {
            assert_eq!(e["object"], "event");
            assert!(e["id"].as_str().unwrap().starts_with("evt_"), "{e}");
            assert!(e["created_at"].as_str().unwrap().ends_with('Z'), "{e}");
            // One event by its id is the same event.
            let mut one = s.get(&format!("/v1/events/{}", e["id"].as_str().unwrap())).await;
            let deliveries = one.body.as_object_mut().unwrap().remove("deliveries");
            assert_eq!((one.status, &one.body), (200, e));
            assert_eq!(deliveries, Some(json!([])), "no endpoint configured, no delivery");
        }
        // Ids are stable: read again, the same.
        assert_eq!(s.get("/v1/events").await.body["data"][2]["id"], active["id"]);

        // Filters and pages.
        let by_type = s.get("/v1/events?type=payment.succeeded").await.body;
        assert_eq!(types(&by_type), ["payment.succeeded"]);
        let by_subject = s.get(&format!("/v1/events?subject={auth}")).await.body;
        assert_eq!(types(&by_subject), ["authorization.active"]);
        let first = s.get("/v1/events?limit=1").await.body;
        assert_eq!((types(&first), &first["has_more"]), (vec!["refund.succeeded".to_owned()], &json!(true)));
        let next = s.get(&format!("/v1/events?limit=2&starting_after={}", refunded["id"].as_str().unwrap())).await.body;
        assert_eq!(types(&next), ["payment.succeeded", "authorization.active"]);
        assert_eq!(next["has_more"], false);

        // Bad queries are problems naming the parameter; an unknown id is not found.
        for (query, param) in [("type=payment.maybe", "type"), ("limit=0", "limit"), ("starting_after=evt_9999999999999999", "starting_after"), ("starting_after=pay_1", "starting_after")] {
            let res = s.get(&format!("/v1/events?{query}")).await;
            assert_eq!((res.status, res.str("param")), (400, param), "{query}: {}", res.body);
        }
        for id in ["evt_9999999999999999", "evt_1", "nothing"] {
            let res = s.get(&format!("/v1/events/{id}")).await;
            assert_eq!((res.status, res.str("code")), (404, "resource_missing"), "{id}: {}", res.body);
        }
        s.settle().await;
    }
}
