//! Problem details (RFC 9457) for every bad request: malformed JSON, a wrong or missing content
//! type, unknown fields, amounts that are negative, fractional, strings, zero or too large, a bad
//! currency, wallet, terminal or return URL, a limit out of range, an unknown cursor or filter.
//! Each is a 4xx `application/problem+json` with `type`, `title`, `status`, `detail` and a stable
//! `code`, and `param` (a JSON pointer into the body, or the query parameter's name) when one
//! field is at fault; nothing is created; and no input at all gets a 5xx.

use serde_json::{Value, json};

use super::{Resp, Srv, server_test};

/// Checks the shape of a problem and returns it.
fn problem<'a>(
    res: &'a Resp,
    what: &str,
    status: u16,
    code: &str,
    param: Option<&str>,
) -> &'a Value {
    assert_eq!(res.status, status, "{what}: {} {}", res.status, res.text);
    assert_eq!(res.content_type(), "application/problem+json", "{what}");
    let p = &res.body;
    assert_eq!(p["status"], status, "{what}: {p}");
    assert_eq!(p["code"], code, "{what}: {p}");
    assert_eq!(p["param"].as_str(), param, "{what}: {p}");
    assert!(
        p["type"].as_str().is_some_and(|t| t.ends_with(code)),
        "{what}: {p}"
    );
    assert!(
        p["title"].is_string() && p["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{what}: {p}"
    );
    p
}

fn with(base: &Value, field: &str, value: Value) -> Value {
    let mut body = base.clone();
    match value {
        Value::Null if field.starts_with('-') => {
            body.as_object_mut().unwrap().remove(&field[1..]);
        }
        value => {
            body[field] = value;
        }
    }
    body
}

server_test! {
    async fn bad_bodies_are_problems_naming_the_field(db) {
        let s = Srv::start(&db).await;
        let auth = s.bind().await;
        let pay = json!({"authorization_id": auth, "amount": 1000, "currency": "USD", "reference": "order-p", "description": "Monthly plan"});
        let json_type = [("content-type", "application/json")];
        let mut n = 0;
        let mut key = || { n += 1; format!("problem-{n}") };

        // Not JSON, or not JSON alone.
        let trailing = format!("{pay} x");
        for (what, text) in [("malformed", "{\"amount\": "), ("trailing", trailing.as_str()), ("empty", ""), ("not an object but text", "amount=1")] {
            let k = key();
            let res = s.raw(reqwest::Method::POST, "/v1/payments", &[("authorization", &format!("Bearer {}", s.key)), ("idempotency-key", &k), json_type[0]], text.to_owned()).await;
            problem(&res, what, 400, "invalid_json", None);
        }
        // Not declared as JSON.
        for (what, content_type) in [("text/plain", Some("text/plain")), ("a form", Some("application/x-www-form-urlencoded")), ("none", None)] {
            let k = key();
            let auth_header = format!("Bearer {}", s.key);
            let mut headers = vec![("authorization", auth_header.as_str()), ("idempotency-key", k.as_str())];
            if let Some(t) = content_type {
                headers.push(("content-type", t));
            }
            let res = s.raw(reqwest::Method::POST, "/v1/payments", &headers, pay.to_string()).await;
            problem(&res, what, 415, "unsupported_media_type", None);
        }
        // One field at fault.
        let cases: Vec<(&str, Value, &str)> = vec![
            ("an unknown field", with(&pay, "extra", json!(1)), "/extra"),
            ("a negative amount", with(&pay, "amount", json!(-5)), "/amount"),
            ("a fractional amount", with(&pay, "amount", json!(10.5)), "/amount"),
            ("an amount as text", with(&pay, "amount", json!("1000")), "/amount"),
            ("a zero amount", with(&pay, "amount", json!(0)), "/amount"),
            ("an amount past 2^53", with(&pay, "amount", json!(9_007_199_254_740_992_u64)), "/amount"),
            ("an amount past u64", with(&pay, "amount", json!(1e30)), "/amount"),
            ("no amount", with(&pay, "-amount", Value::Null), "/amount"),
            ("a null amount", with(&pay, "amount", Value::Null), "/amount"),
            ("an unknown currency", with(&pay, "currency", json!("XYZ")), "/currency"),
            ("a short currency", with(&pay, "currency", json!("US")), "/currency"),
            ("a numeric currency", with(&pay, "currency", json!(840)), "/currency"),
            ("no currency", with(&pay, "-currency", Value::Null), "/currency"),
            ("an empty reference", with(&pay, "reference", json!("")), "/reference"),
            ("a long reference", with(&pay, "reference", json!("r".repeat(65))), "/reference"),
            ("an empty description", with(&pay, "description", json!("")), "/description"),
            ("a long description", with(&pay, "description", json!("d".repeat(257))), "/description"),
            ("no authorization", with(&pay, "-authorization_id", Value::Null), "/authorization_id"),
            ("an authorization as a number", with(&pay, "authorization_id", json!(7)), "/authorization_id"),
            ("a plain http return URL", with(&pay, "return_url", json!("http://shop.example/back")), "/return_url"),
            ("a script return URL", with(&pay, "return_url", json!("javascript:alert(1)")), "/return_url"),
            ("a long return URL", with(&pay, "return_url", json!(format!("https://shop.example/{}", "r".repeat(1024)))), "/return_url"),
        ];
        for (what, body, param) in cases {
            let res = s.post("/v1/payments", &key(), body).await;
            problem(&res, what, 400, "invalid_request", Some(param));
        }
        let unknown = s.post("/v1/payments", &key(), with(&pay, "authorization_id", json!("auth_nope"))).await;
        problem(&unknown, "an unknown authorization", 404, "resource_missing", Some("/authorization_id"));
        for (what, body) in [("an array", json!([])), ("null", Value::Null), ("a number", json!(1))] {
            let res = s.post("/v1/payments", &key(), body).await;
            problem(&res, what, 400, "invalid_request", None);
        }
        let huge = json!({"authorization_id": auth, "amount": 1, "currency": "USD", "reference": "r", "description": "d".repeat(70_000)});
        let res = s.post("/v1/payments", &key(), huge).await;
        problem(&res, "a body past the limit", 413, "body_too_large", None);
        let res = s.post("/v1/payments", &"k".repeat(256), pay.clone()).await;
        problem(&res, "a key too long", 400, "idempotency_key_invalid", Some("Idempotency-Key"));

        // Authorizations.
        let bind = json!({"customer_id": "c", "wallet": "ALIPAY_CN", "terminal_type": "WEB", "return_url": "https://shop.example/back"});
        let cases: Vec<(&str, Value, &str)> = vec![
            ("an unknown wallet", with(&bind, "wallet", json!("NOPE")), "/wallet"),
            ("an unknown terminal", with(&bind, "terminal_type", json!("TV")), "/terminal_type"),
            ("an unknown OS", with(&bind, "os_type", json!("BEOS")), "/os_type"),
            ("a plain http return URL", with(&bind, "return_url", json!("http://shop.example/back")), "/return_url"),
            ("a script return URL", with(&bind, "return_url", json!("javascript:alert(1)")), "/return_url"),
            ("an empty customer", with(&bind, "customer_id", json!("")), "/customer_id"),
            ("an unknown field", with(&bind, "scopes", json!(["AGREEMENT_PAY"])), "/scopes"),
            ("no return URL", with(&bind, "-return_url", Value::Null), "/return_url"),
            ("a NUL in the customer", with(&bind, "customer_id", json!("c\u{0}")), "/customer_id"),
            ("a NUL in the return URL", with(&bind, "return_url", json!("https://shop.example/\u{0}")), "/return_url"),
        ];
        for (what, body, param) in cases {
            let res = s.post("/v1/authorizations", &key(), body).await;
            problem(&res, what, 400, "invalid_request", Some(param));
        }

        // Refunds and resolutions.
        let paid = s.charge(&auth, "paid-p", 1_000).await;
        let refunds = format!("/v1/payments/{}/refunds", paid.str("id"));
        let cases: Vec<(&str, Value, &str)> = vec![
            ("a negative refund", json!({"amount": -1}), "/amount"),
            ("a fractional refund", json!({"amount": 1.5}), "/amount"),
            ("a zero refund", json!({"amount": 0}), "/amount"),
            ("no amount", json!({}), "/amount"),
            ("a currency (the payment's is used)", json!({"amount": 1, "currency": "USD"}), "/currency"),
            ("a long reason", json!({"amount": 1, "reason": "r".repeat(257)}), "/reason"),
        ];
        for (what, body, param) in cases {
            let res = s.post(&refunds, &key(), body).await;
            problem(&res, what, 400, "invalid_request", Some(param));
        }
        let res = s.post(&refunds, &key(), json!({"amount": 1_001})).await;
        problem(&res, "more than paid", 400, "amount_exceeds_refundable", Some("/amount"));
        let res = s.post(&format!("/v1/payments/{}/resolve", paid.str("id")), &key(), json!({"reason": " "})).await;
        problem(&res, "an empty reason", 400, "invalid_request", Some("/reason"));

        // Nothing was created by any of it.
        assert_eq!(s.all("/v1/payments").await.len(), 1);
        assert!(s.all(&refunds).await.is_empty());
        assert_eq!(s.all("/v1/authorizations").await.len(), 1);
        s.settle().await;
    }
}

server_test! {
    async fn bad_queries_are_problems_naming_the_parameter(db) {
        let s = Srv::start(&db).await;
        let auth = s.bind().await;
        let paid = s.charge(&auth, "q-1", 100).await;
        let pay = paid.str("id").to_owned();
        for list in ["/v1/payments", "/v1/authorizations", "/v1/attention", &format!("/v1/payments/{pay}/refunds")] {
            // Out of range, or not a number at all.
            for (what, query, code) in [
                ("limit 0", "limit=0", "invalid_request"),
                ("limit 101", "limit=101", "invalid_request"),
                ("a negative limit", "limit=-1", "invalid_query"),
                ("a text limit", "limit=ten", "invalid_query"),
                ("a fractional limit", "limit=1.5", "invalid_query"),
                ("a huge limit", "limit=99999999999", "invalid_query"),
            ] {
                let res = s.get(&format!("{list}?{query}")).await;
                problem(&res, &format!("{list}: {what}"), 400, code, Some("limit"));
            }
            for limit in [1, 100] {
                assert_eq!(s.get(&format!("{list}?limit={limit}")).await.status, 200, "{list}: limit {limit}");
            }
            let res = s.get(&format!("{list}?unknown=1")).await;
            problem(&res, &format!("{list}: an unknown parameter"), 400, "invalid_query", Some("unknown"));
        }
        for (list, cursor) in [("/v1/payments", "pay_nope"), ("/v1/authorizations", "auth_nope"), ("/v1/attention", "atn_nope"), (&format!("/v1/payments/{pay}/refunds"), "re_nope")] {
            let res = s.get(&format!("{list}?starting_after={cursor}")).await;
            problem(&res, &format!("{list}: an unknown cursor"), 400, "invalid_request", Some("starting_after"));
        }
        let res = s.get("/v1/payments?reference=a%00b").await;
        problem(&res, "a NUL in a filter", 400, "invalid_query", Some("reference"));
        let res = s.get("/v1/payments/pay%00x").await;
        problem(&res, "a NUL in an id", 404, "resource_missing", None);
        for (list, what) in [("/v1/payments", "paid"), ("/v1/authorizations", "bound")] {
            let res = s.get(&format!("{list}?status={what}")).await;
            problem(&res, &format!("{list}: an unknown status"), 400, "invalid_request", Some("status"));
        }
        let res = s.get("/v1/payments/pay_nope").await;
        problem(&res, "an unknown payment", 404, "resource_missing", None);
        let res = s.get("/v1/refunds/re_nope").await;
        problem(&res, "an unknown refund", 404, "resource_missing", None);
        s.settle().await;
    }
}

server_test! {
    async fn no_input_gets_a_server_error(db) {
        let s = Srv::start(&db).await;
        let auth = s.bind().await;
        let paid = s.charge(&auth, "x-1", 100).await;
        let pay = paid.str("id").to_owned();
        let paths = [
            "/v1/payments".to_owned(),
            "/v1/authorizations".to_owned(),
            format!("/v1/payments/{pay}/refunds"),
            format!("/v1/payments/{pay}/cancel"),
            format!("/v1/payments/{pay}/retry"),
            format!("/v1/payments/{pay}/resolve"),
            format!("/v1/authorizations/{auth}/revoke"),
            "/v1/attention/atn_nope/resolve".to_owned(),
        ];
        let bodies = [
            "", "{", "}", "[]", "null", "0", "\"\"", "{\"amount\":1e400}", "{\"amount\":-0}",
            "{\"amount\":18446744073709551616}", "{\"a\":{\"b\":{\"c\":[[[[[[]]]]]]}}}",
            "{\"amount\":\"\\u0000\"}", "{\"currency\":\"\\ud800\"}", "\u{feff}{}", "{\"reason\":null}",
            "{\"customer_id\":\"c\",\"wallet\":\"ALIPAY_CN\",\"terminal_type\":\"WEB\",\"return_url\":\"https://a.example/\\u0000\"}",
            "{\"customer_id\":\"c\\u0000\",\"wallet\":\"ALIPAY_CN\",\"terminal_type\":\"WEB\",\"return_url\":\"https://a.example/\"}",
            "{\"amount\":1,\"reason\":\"r\\u0000\"}",
            "{\"reason\":\"r\\u0000\"}",
        ];
        let mut n = 0;
        for path in &paths {
            for body in bodies {
                n += 1;
                let k = format!("fuzz-{n}");
                let auth_header = format!("Bearer {}", s.key);
                let res = s.raw(reqwest::Method::POST, path, &[("authorization", auth_header.as_str()), ("idempotency-key", k.as_str()), ("content-type", "application/json")], body).await;
                assert!((200..500).contains(&res.status), "{path} {body:?}: {} {}", res.status, res.text);
                if res.status >= 400 {
                    assert_eq!(res.content_type(), "application/problem+json", "{path} {body:?}");
                }
            }
        }
        // NUL in a charge's text fields (PostgreSQL cannot store it): refused, never a failure.
        for (field, value) in [("reference", "r\u{0}"), ("description", "d\u{0}"), ("authorization_id", "auth\u{0}"), ("currency", "US\u{0}")] {
            let mut body = serde_json::json!({"authorization_id": auth, "amount": 1, "currency": "USD", "reference": "nul", "description": "d"});
            body[field] = serde_json::json!(value);
            let res = s.post("/v1/payments", &format!("nul-pay-{field}"), body).await;
            assert!((400..500).contains(&res.status), "{field}: {} {}", res.status, res.text);
        }
        for query in ["limit=%FF", "starting_after=%00", "reference=a%00b", "authorization_id=%00", "customer_id=%00", "status=%", "limit=99999999999999999999", "reference=&status=", "authorization_id[]=1"] {
            for list in ["/v1/payments", "/v1/authorizations", "/v1/attention"] {
                let res = s.get(&format!("{list}?{query}")).await;
                assert!((400..500).contains(&res.status) || res.status == 200, "{list}?{query}: {} {}", res.status, res.text);
            }
        }
        // NUL and other odd bytes in path ids: not found, never a failure.
        for path in ["/v1/payments/pay%00x", "/v1/refunds/re%00x", "/v1/authorizations/auth%00x", "/v1/payments/%F0%9F%92%B8", "/v1/payments/pay_x%00/refunds"] {
            let res = s.get(path).await;
            assert!((400..500).contains(&res.status), "{path}: {} {}", res.status, res.text);
            let res = s.post(&format!("{path}/cancel"), &format!("nul-{path}"), serde_json::json!({})).await;
            assert!((400..500).contains(&res.status), "POST {path}/cancel: {} {}", res.status, res.text);
        }
        let res = s.post("/v1/payments/pay%00x/refunds", "nul-refund", serde_json::json!({"amount": 1})).await;
        assert!((400..500).contains(&res.status), "{} {}", res.status, res.text);
        let res = s.post("/v1/authorizations/auth%00x/revoke", "nul-revoke", serde_json::json!({})).await;
        assert!((400..500).contains(&res.status), "{} {}", res.status, res.text);
        // The return page with odd values: a page, never a failure.
        for query in ["authState=%00&authCode=%00", "authState=%00&errorCode=USER_CANCELLED", "authState=x%00"] {
            let res = s.http.get(format!("{}/alipay/default/return?{query}", s.url())).send().await.unwrap();
            assert!(res.status().as_u16() < 500, "{query}: {}", res.status());
        }
        s.settle().await;
    }
}
