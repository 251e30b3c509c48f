//! Extractors whose rejections are problem details: a JSON body (`application/json` only,
//! unknown fields refused, the failing field named as a JSON pointer) and a query string.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A JSON body.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if !json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be JSON, with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    "the body is larger than the server accepts",
                )
            } else {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", e.body_text())
            }
        })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Parses a JSON body, naming the failing field.
///
/// # Errors
/// 400 `invalid_request` with the field as a JSON pointer, or `invalid_json`.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // No text field takes a NUL character (PostgreSQL cannot even store one): refused here, with
    // the field, rather than failing in the database.
    if bytes.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000"))
        && let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes)
        && let Some(pointer) = nul_in(&value, String::new())
    {
        return Err(ApiError::invalid(
            pointer.clone(),
            format!("{pointer}: a NUL character is not accepted"),
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let pointer = pointer_of(e.path());
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("the body is not valid JSON: {inner}"),
            )
        } else if let Some(field) = missing_field(&inner.to_string()) {
            // A required field is absent: the error sits on the object, the fault on the field.
            let pointer = format!("{pointer}/{}", field.replace('~', "~0").replace('/', "~1"));
            ApiError::invalid(pointer.clone(), format!("{pointer}: {inner}"))
        } else if pointer.is_empty() {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                inner.to_string(),
            )
        } else {
            ApiError::invalid(pointer.clone(), format!("{pointer}: {inner}"))
        }
    })?;
    de.end().map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    Ok(value)
}

/// Where in `value` a string (or a key) holds a NUL character, as a JSON pointer.
fn nul_in(value: &serde_json::Value, at: String) -> Option<String> {
    let escape = |key: &str| key.replace('~', "~0").replace('/', "~1");
    match value {
        serde_json::Value::String(text) => text.contains('\0').then_some(at),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_in(item, format!("{at}/{i}"))),
        serde_json::Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            let here = format!("{at}/{}", escape(key));
            if key.contains('\0') {
                Some(here)
            } else {
                nul_in(item, here)
            }
        }),
        _ => None,
    }
}

/// The field serde names in "missing field `name`".
fn missing_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")?
        .split('`')
        .next()
        .filter(|f| !f.is_empty())
}

/// serde_path_to_error's path as a JSON pointer (`/amount`, `/items/0`).
fn pointer_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("/{index}")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                out.push('/');
                out.push_str(&key.replace('~', "~0").replace('/', "~1"));
            }
            Segment::Unknown => {}
        }
    }
    out
}

/// A query string.
#[derive(Debug)]
pub struct QueryParams<T>(pub T);

impl<S, T> FromRequestParts<S> for QueryParams<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded_deserializer(query);
        de.map(QueryParams)
    }
}

fn serde_urlencoded_deserializer<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let uri = format!("/?{query}").parse().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "the query string is malformed",
        )
    })?;
    // As in bodies: no parameter takes a NUL character.
    if let Ok(pairs) = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&uri)
        && let Some((name, _)) = pairs
            .0
            .iter()
            .find(|(name, value)| name.contains('\0') || value.contains('\0'))
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "a NUL character is not accepted",
        )
        .param(name.replace('\0', "")));
    }
    axum::extract::Query::<T>::try_from_uri(&uri)
        .map(|q| q.0)
        .map_err(|e| {
            let text = e.body_text();
            // "Failed to deserialize query string: limit: invalid digit found in string": the
            // parameter is the path before the reason; failing that, the first name in backticks.
            let reason = text
                .strip_prefix("Failed to deserialize query string: ")
                .unwrap_or(&text);
            let param = reason
                .split_once(": ")
                .map(|(name, _)| name)
                .filter(|name| {
                    !name.is_empty()
                        && name.chars().all(|c| {
                            c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']')
                        })
                })
                .or_else(|| text.split('`').nth(1))
                .map(str::to_owned)
                .filter(|p| !p.is_empty());
            let error = ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", text);
            match param {
                Some(p) => error.param(p),
                None => error,
            }
        })
}
