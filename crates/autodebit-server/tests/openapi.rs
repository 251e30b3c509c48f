//! The checked-in `openapi.json` is the document the code generates; `AUTODEBIT_BLESS=1 cargo test
//! -p autodebit-server --test openapi` rewrites it after a change to the API.

#[test]
fn the_checked_in_openapi_document_is_current() {
    let generated = autodebit_server::http::openapi_json();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
    if std::env::var_os("AUTODEBIT_BLESS").is_some() {
        std::fs::write(path, &generated).expect("write openapi.json");
        return;
    }
    let checked_in = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "crates/autodebit-server/openapi.json is stale: run AUTODEBIT_BLESS=1 cargo test -p autodebit-server --test openapi, and review the diff"
    );
}

#[test]
fn every_operation_is_documented_with_its_errors_and_keys() {
    let doc: serde_json::Value =
        serde_json::from_str(&autodebit_server::http::openapi_json()).expect("JSON");
    let paths = doc["paths"].as_object().expect("paths");
    for expected in [
        "/v1/authorizations",
        "/v1/authorizations/{id}",
        "/v1/authorizations/{id}/revoke",
        "/v1/authorizations/{id}/reauthorize",
        "/v1/payments",
        "/v1/payments/{id}",
        "/v1/payments/{id}/cancel",
        "/v1/payments/{id}/retry",
        "/v1/payments/{id}/inquire",
        "/v1/payments/{id}/retry_cancel",
        "/v1/payments/{id}/resolve",
        "/v1/payments/{id}/refunds",
        "/v1/refunds/{id}",
        "/v1/attention",
        "/v1/attention/{id}/resolve",
        "/v1/sandbox",
        "/v1/events",
        "/v1/events/{id}/redeliver",
        "/v1/webhook_endpoints",
        "/v1/webhook_endpoints/{id}",
        "/v1/webhook_endpoints/{id}/rotate_secret",
        "/v1/stats",
    ] {
        assert!(paths.contains_key(expected), "{expected} is not documented");
    }
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("item") {
            let responses = op["responses"].as_object().expect("responses");
            for status in ["400", "401", "404", "500", "503"] {
                assert!(
                    responses.contains_key(status),
                    "{method} {path}: no {status}"
                );
            }
            assert!(op["security"].is_array(), "{method} {path}: no API key");
            if method == "post" {
                let has_key = op["parameters"].as_array().is_some_and(|ps| {
                    ps.iter()
                        .any(|p| p["name"] == "Idempotency-Key" && p["required"] == true)
                });
                assert!(has_key, "{method} {path}: no Idempotency-Key");
            }
        }
    }
}
