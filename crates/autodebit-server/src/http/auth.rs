//! API keys: `Authorization: Bearer <key>`. Keys are configured by their SHA-256, and the hash of
//! the key presented is compared with every configured one in constant time. The key's merchant
//! is put in the request's extensions as a [`Tenant`]; a handler sees only that merchant's
//! resources (another merchant's are simply not found). Anything else is 401 with
//! `WWW-Authenticate: Bearer`; the key itself is never logged.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::state::{AppState, KeyHash, Tenant};

/// The SHA-256 of an API key.
pub fn hash_key(key: &str) -> KeyHash {
    Sha256::digest(key.as_bytes()).into()
}

/// Parses a configured hash (`sha256:` prefix optional, hex).
pub fn parse_hash(text: &str) -> Option<KeyHash> {
    let hex = text.trim();
    let hex = hex.strip_prefix("sha256:").unwrap_or(hex);
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The merchant whose key this is, comparing with every configured hash.
fn merchant_of<'a>(keys: &'a [(KeyHash, String)], presented: &KeyHash) -> Option<&'a str> {
    let mut found = None;
    for (hash, merchant) in keys {
        if bool::from(hash.ct_eq(presented)) {
            found = Some(merchant.as_str());
        }
    }
    found
}

/// Middleware: authenticates the request and puts its [`Tenant`] in the extensions.
pub async fn require_api_key(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return ApiError::unauthorized("an API key is required: Authorization: Bearer <key>")
            .into_response();
    };
    let key = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|k| !k.is_empty());
    let Some(key) = key else {
        return ApiError::unauthorized("the Authorization header must be: Bearer <key>")
            .into_response();
    };
    let tenant = merchant_of(&state.shared().api_keys, &hash_key(key))
        .and_then(|id| state.tenant(id))
        .cloned();
    let Some(tenant) = tenant else {
        metrics::counter!("autodebit_api_unauthorized_total").increment(1);
        return ApiError::unauthorized("the API key is not valid").into_response();
    };
    tracing::Span::current().record("merchant", tenant.id());
    req.extensions_mut().insert::<Tenant>(tenant);
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_parse_and_match_only_their_key() {
        let hash = hash_key("sk_test_1");
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(parse_hash(&hex), Some(hash));
        assert_eq!(parse_hash(&format!("sha256:{hex}")), Some(hash));
        assert_eq!(parse_hash("abc"), None);
        assert_eq!(parse_hash(&"zz".repeat(32)), None);
        let keys = vec![
            (hash, "m1".to_owned()),
            (hash_key("sk_test_2"), "m2".to_owned()),
        ];
        assert_eq!(merchant_of(&keys, &hash_key("sk_test_2")), Some("m2"));
        assert_eq!(merchant_of(&keys, &hash_key("sk_test_3")), None);
    }
}
