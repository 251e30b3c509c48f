//! The merchant API under `/v1` (see `merchant-api.md`): every route needs an API key, every
//! `POST` an `Idempotency-Key`.

pub mod attention;
pub mod authorizations;
pub mod customs;
pub mod events;
pub mod payments;
pub mod refunds;
pub mod registrations;
pub mod sandbox;
pub mod stats;
pub mod webhook_endpoints;

use axum::http::StatusCode;

use super::error::ApiError;

/// The largest amount accepted, in minor units: the largest integer a JSON number holds exactly
/// (2^53 − 1), so no client rounds it.
pub const MAX_AMOUNT: u64 = 9_007_199_254_740_991;

/// The page size when none is asked for.
pub const DEFAULT_LIMIT: u32 = 20;

/// The page size asked for, or the default.
pub fn limit_of(limit: Option<u32>) -> u32 {
    limit.unwrap_or(DEFAULT_LIMIT)
}

/// The page size asked for, or the default, checked: 1 to 100.
///
/// # Errors
/// 400 naming `limit`.
pub fn checked_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    let limit = limit_of(limit);
    if (1..=100).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::invalid("limit", "limit must be 1 to 100"))
    }
}

/// One page of a list read whole and oldest first (a payment's refunds or customs declarations,
/// the secondary-merchant registrations): newest first, after the item `query.starting_after` names
/// (`what` says what it must name), at most `query.limit`.
pub fn page_of_children<T, B: utoipa::ToSchema>(
    mut items: Vec<T>,
    query: &crate::http::dto::PageQuery,
    what: &str,
    id_of: impl Fn(&T) -> &str,
    body: impl Fn(&T) -> B,
) -> Result<crate::http::dto::List<B>, ApiError> {
    let limit = usize::try_from(checked_limit(query.limit)?).unwrap_or(usize::MAX);
    items.reverse();
    let start = match &query.starting_after {
        None => 0,
        Some(after) => {
            items
                .iter()
                .position(|item| id_of(item) == after)
                .ok_or_else(|| ApiError::invalid("starting_after", format!("names no {what}")))?
                + 1
        }
    };
    let rest: Vec<_> = items.iter().skip(start).collect();
    let has_more = rest.len() > limit;
    Ok(crate::http::dto::List::new(
        rest.into_iter().take(limit).map(body).collect(),
        has_more,
    ))
}

/// A domain field of a request body, as a JSON pointer.
pub fn body_param(field: &str) -> Option<String> {
    match field {
        "customer_id" | "return_url" | "reference" | "description" | "amount" | "currency"
        | "reason" | "authorization_id" | "url" | "secondary_merchant" => Some(format!("/{field}")),
        "authorization" => Some("/authorization_id".into()),
        _ => None,
    }
}

/// A domain field of a query, by its parameter name.
pub fn query_param(field: &str) -> Option<String> {
    match field {
        "limit" | "starting_after" => Some(field.to_owned()),
        _ => None,
    }
}

/// A resolution's reason: 1 to 1000 characters.
///
/// # Errors
/// 400 naming `/reason`.
pub fn check_reason(reason: &str) -> Result<(), ApiError> {
    let n = reason.trim().chars().count();
    if n == 0 || reason.chars().count() > 1000 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "reason must have 1 to 1000 characters",
        )
        .param("/reason"));
    }
    Ok(())
}
