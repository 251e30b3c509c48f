//! The service endpoints, which need no API key: `/healthz`, `/readyz` (the database reachable and
//! every migration applied), `/metrics` (Prometheus text, with the server's counters: requests,
//! jobs, notifications applied and refused by cause, Alipay's calls by API and outcome, attempts
//! created, unknown and resolved with the time it took; and the
//! gauges read at the scrape: payments by state, the job queue, attention), `/openapi.json` (what
//! `autodebit_server::http::openapi_json()` generates, byte for byte); and the routes around
//! them: `/v1/sandbox` in sandbox mode only, unknown routes and methods as problems.

use ams_protocol::Api;
use ams_sandbox::{FaultAction, FaultRule};
use serde_json::Value;

use super::{Srv, server_test};

/// The sum of the samples of `name` whose labels contain `label` (e.g. `cause="unsigned"`).
fn metric(text: &str, name: &str, label: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter(|l| l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn metrics(s: &Srv) -> String {
    let res = s.raw(reqwest::Method::GET, "/metrics", &[], "").await;
    assert_eq!(res.status, 200);
    assert!(
        res.content_type().starts_with("text/plain"),
        "{}",
        res.content_type()
    );
    res.text
}

server_test! {
    async fn health_readiness_and_the_openapi_document(db) {
        let s = Srv::start(&db).await;
        let none: &[(&str, &str)] = &[];
        let health = s.raw(reqwest::Method::GET, "/healthz", none, "").await;
        assert_eq!((health.status, &health.body), (200, &serde_json::json!({"status": "ok"})));
        let ready = s.raw(reqwest::Method::GET, "/readyz", none, "").await;
        assert_eq!((ready.status, &ready.body), (200, &serde_json::json!({"status": "ready"})));
        assert!(ready.headers.get("x-request-id").is_some(), "every answer has a request id");

        let doc = s.raw(reqwest::Method::GET, "/openapi.json", none, "").await;
        assert_eq!(doc.status, 200);
        assert_eq!(doc.content_type(), "application/json");
        assert_eq!(doc.text, autodebit_server::http::openapi_json(), "served as generated");
        let paths = doc.body["paths"].as_object().expect("paths");
        for path in ["/v1/payments", "/v1/payments/{id}/refunds", "/v1/authorizations", "/v1/refunds/{id}", "/v1/attention"] {
            assert!(paths.contains_key(path), "{path} in {:?}", paths.keys().collect::<Vec<_>>());
        }
        assert!(!paths.keys().any(|p| p.starts_with("/alipay")), "Alipay's routes are not ours to document");

        // The merchant API needs the key; the service endpoints do not.
        let anonymous = s.raw(reqwest::Method::GET, "/v1/payments", none, "").await;
        assert_eq!((anonymous.status, anonymous.content_type()), (401, "application/problem+json"));
        let sandbox = s.get("/v1/sandbox").await;
        assert_eq!(sandbox.str("sandbox_url"), s.sandbox().base_url());
        assert_eq!(sandbox.str("demo_user"), super::DEMO_USER);

        // Unknown routes and methods are problems too.
        let missing = s.get("/v1/nothing").await;
        assert_eq!((missing.status, missing.content_type(), missing.str("code")), (404, "application/problem+json", "route_not_found"));
        let method = s.send(reqwest::Method::DELETE, "/v1/payments", None, None).await;
        assert_eq!((method.status, method.str("code")), (405, "method_not_allowed"), "{}", method.body);

        // Not ready: a migration the build needs is not applied (then it is again).
        s.sql("UPDATE _sqlx_migrations SET success = false WHERE version = (SELECT max(version) FROM _sqlx_migrations)");
        let unready = s.raw(reqwest::Method::GET, "/readyz", none, "").await;
        assert_eq!((unready.status, unready.str("status")), (503, "not_ready"), "{}", unready.text);
        assert!(!unready.text.contains("_sqlx"), "no internals: {}", unready.text);
        assert_eq!(s.raw(reqwest::Method::GET, "/healthz", none, "").await.status, 200, "alive all the same");
        s.sql("UPDATE _sqlx_migrations SET success = true");
        assert_eq!(s.raw(reqwest::Method::GET, "/readyz", none, "").await.status, 200);
    }
}

server_test! {
    async fn metrics_count_requests_jobs_and_notifications(db) {
        let s = Srv::start(&db).await;
        let before = metrics(&s).await;
        let auth = s.bind().await;
        s.skip_payment_notifications();
        s.fault(FaultRule::new(Api::Pay, FaultAction::Drop));
        let res = s.charge(&auth, "m-1", 100).await;
        s.drive(&format!("/v1/payments/{}", res.str("id")), |p| p["status"] == "succeeded").await;
        // Refused notifications, by cause.
        let unsigned = s.raw(reqwest::Method::POST, "/alipay/default/notify/payments", &[("content-type", "application/json")], "{}").await;
        assert_eq!(unsigned.status, 401);
        let binary = s.raw(reqwest::Method::POST, "/alipay/default/notify/payments", &[], vec![0xff_u8]).await;
        assert_eq!(binary.status, 400);
        // Counters move when the work is done (a job's, after its run): read until they have.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        let after = loop {
            let after = metrics(&s).await;
            let grew = |name: &str, label: &str| metric(&after, name, label) - metric(&before, name, label);
            let done = grew("autodebit_jobs_run_total", "merchant=\"default\"") >= 1.0
                && grew("autodebit_notifications_total", "outcome=\"applied\"") >= 1.0;
            if done || tokio::time::Instant::now() >= deadline {
                break after;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        };
        let grew = |name: &str, label: &str| metric(&after, name, label) - metric(&before, name, label);
        assert!(grew("autodebit_http_requests_total", "path=\"/v1/payments\"") >= 1.0, "{after}");
        assert!(grew("autodebit_http_requests_total", "status=\"201\"") >= 2.0, "{after}");
        assert!(grew("autodebit_jobs_run_total", "merchant=\"default\"") >= 1.0, "{after}");
        assert!(grew("autodebit_notifications_total", "outcome=\"applied\"") >= 1.0, "the AUTHCODE_CREATED: {after}");
        assert_eq!(grew("autodebit_notifications_refused_total", "cause=\"unsigned\""), 1.0, "{after}");
        assert_eq!(grew("autodebit_notifications_refused_total", "cause=\"not_utf8\""), 1.0, "{after}");
        assert!(after.contains("autodebit_http_request_duration_seconds"), "{after}");
        // Alipay's calls by API and outcome: the dropped pay was an unknown outcome, the inquiry
        // that resolved it a success; their latency too.
        assert_eq!(grew("autodebit_alipay_calls_total", "api=\"pay\",outcome=\"unknown\""), 1.0, "{after}");
        assert!(grew("autodebit_alipay_calls_total", "api=\"inquiryPayment\",outcome=\"success\"") >= 1.0, "{after}");
        assert!(grew("autodebit_alipay_calls_total", "api=\"applyToken\",outcome=\"success\"") >= 1.0, "{after}");
        assert!(after.contains("autodebit_alipay_call_duration_seconds"), "{after}");
        // What the commits changed: one attempt, its outcome unknown once, resolved as paid after
        // at least one inquiry (the share of unknown outcomes and the time to resolve come from
        // these).
        assert_eq!(grew("autodebit_payment_attempts_total", "merchant=\"default\""), 1.0, "{after}");
        assert_eq!(grew("autodebit_payment_outcomes_unknown_total", "merchant=\"default\""), 1.0, "{after}");
        assert_eq!(grew("autodebit_payments_resolved_total", "outcome=\"succeeded\",was_unknown=\"true\""), 1.0, "{after}");
        assert_eq!(grew("autodebit_payment_resolve_seconds_count", "outcome=\"succeeded\",was_unknown=\"true\""), 1.0, "{after}");
        assert_eq!(grew("autodebit_payment_resolve_seconds_bucket", "was_unknown=\"true\",le=\"+Inf\""), 1.0, "{after}");
        assert!(grew("autodebit_payment_inquiries_sum", "outcome=\"succeeded\"") >= 1.0, "{after}");
        // Gauges read from this server's database at the scrape: every payment state listed.
        assert_eq!(metric(&after, "autodebit_payments", "state=\"succeeded\""), 1.0, "{after}");
        assert_eq!(metric(&after, "autodebit_payments", "state=\"pending\""), 0.0, "{after}");
        assert!(after.contains("autodebit_payments{merchant=\"default\",state=\"fully_refunded\"} 0"), "{after}");
        assert_eq!(metric(&after, "autodebit_jobs_dead", "merchant=\"default\""), 0.0, "{after}");
        assert_eq!(metric(&after, "autodebit_attention_open", "merchant=\"default\""), 0.0, "{after}");
        assert!(after.contains("autodebit_jobs_due{") && after.contains("autodebit_jobs_lag_seconds{"), "{after}");
        // No secret and no query string in the labels.
        assert!(!after.contains(&s.key) && !after.contains("authCode"), "{after}");
        s.settle().await;
    }
}

server_test! {
    async fn gateway_mode_has_no_sandbox_route(db) {
        let mut s = Srv::gateway(&db).await;
        assert!(s.server().sandbox().is_none() && s.server().dev_api_key().is_none());
        let res = s.get("/v1/sandbox").await;
        assert_eq!((res.status, res.content_type()), (404, "application/problem+json"), "{}", res.body);
        let ready = s.get("/readyz").await;
        assert_eq!(ready.status, 200);
        let doc: Value = s.get("/openapi.json").await.body;
        assert!(doc["paths"].get("/v1/payments").is_some());
        // And it works: a binding and a charge against the separately started sandbox.
        let auth = s.bind().await;
        let paid = s.charge(&auth, "gw-1", 1_000).await;
        assert_eq!(paid.str("status"), "succeeded", "{}", paid.body);
        // Started again on the same database, it still knows its merchant's key and payments.
        s.restart().await;
        assert_eq!(s.get("/readyz").await.status, 200);
        assert_eq!(s.get(&format!("/v1/payments/{}", paid.str("id"))).await.body["status"], "succeeded");
        s.settle().await;
    }
}
