//! Shared test helpers: JSON round trip with a key-path diff, fixture loading.

use std::any::type_name;
use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Differences between two JSON values, one line per differing key path (`$.order.orderAmount.value`).
pub(crate) fn json_diff(expected: &Value, actual: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk("$", expected, actual, &mut out);
    out
}

fn walk(path: &str, expected: &Value, actual: &Value, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (key, ev) in e {
                let p = format!("{path}.{key}");
                match a.get(key) {
                    Some(av) => walk(&p, ev, av, out),
                    None => out.push(format!("{p}: missing (expected {ev})")),
                }
            }
            for (key, av) in a {
                if !e.contains_key(key) {
                    out.push(format!("{path}.{key}: unexpected (got {av})"));
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                out.push(format!(
                    "{path}: array length {} expected, got {}",
                    e.len(),
                    a.len()
                ));
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                walk(&format!("{path}[{i}]"), ev, av, out);
            }
        }
        _ if expected == actual => {}
        _ => out.push(format!("{path}: expected {expected}, got {actual}")),
    }
}

/// Parses `body` as `T`, serialises it back and requires the same JSON value (reporting differing key
/// paths), then requires that re-parsing the output gives an equal `T`.
pub(crate) fn round_trip<T>(label: &str, body: &str) -> T
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let original: Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{label}: not JSON: {e}"));
    let parsed: T = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("{label}: does not parse as {}: {e}", type_name::<T>()));
    let back = serde_json::to_value(&parsed).unwrap();
    let diffs = json_diff(&original, &back);
    assert!(
        diffs.is_empty(),
        "{label}: {} does not round-trip:\n  {}",
        type_name::<T>(),
        diffs.join("\n  ")
    );
    let again: T = serde_json::from_value(back).unwrap();
    assert_eq!(again, parsed, "{label}: re-parse differs");
    parsed
}

/// Reads a file under `testdata/ams-vectors/`.
pub(crate) fn vector_file(name: &str) -> Value {
    let path = format!(
        "{}/{name}",
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/ams-vectors")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// Reads a file under `tests/fixtures/digest/` verbatim.
pub(crate) fn digest_fixture(name: &str) -> String {
    let path = format!(
        "{}/{name}",
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/digest")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn json_diff_reports_key_paths() {
    let a: Value = serde_json::json!({"a": {"b": [1, {"c": "x"}]}, "d": 1, "e": null});
    let b: Value = serde_json::json!({"a": {"b": [1, {"c": "y"}]}, "f": 2, "e": null});
    assert_eq!(
        json_diff(&a, &b),
        [
            r#"$.a.b[1].c: expected "x", got "y""#,
            "$.d: missing (expected 1)",
            "$.f: unexpected (got 2)",
        ]
    );
    assert!(json_diff(&a, &a).is_empty());
    let short: Value = serde_json::json!([1]);
    let long: Value = serde_json::json!([1, 2]);
    assert_eq!(
        json_diff(&short, &long),
        ["$: array length 1 expected, got 2"]
    );
}
