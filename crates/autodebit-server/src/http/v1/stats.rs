//! `GET /v1/stats`: the payments of the last hours, hour by hour: how they ended, how many had an
//! unknown outcome, and how long they took to resolve (the console's charts).

use autodebit_store::HourStats;
use axum::extract::State;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::dto::time;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::QueryParams;
use crate::http::state::{AppState, Tenant};

/// The hours shown when none are asked for.
pub const DEFAULT_HOURS: u32 = 6;

/// The most hours one request may ask for.
pub const MAX_HOURS: u32 = 48;

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_stats))
}

/// `GET /v1/stats`'s query.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// How many whole hours, the current one last: 1 to 48 (default 6).
    #[param(minimum = 1, maximum = 48)]
    pub hours: Option<u32>,
}

/// The payments of the last hours.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct StatsBody {
    /// Always `stats`.
    pub object: &'static str,
    /// When it was read (the server's time).
    pub generated_at: String,
    /// The hours, oldest first; the last holds `generated_at` and so is partial.
    pub hours: Vec<StatsHour>,
}

/// The payments created in one hour. `succeeded + failed + cancelled + unknown + processing =
/// created`. Counts are of payments (business orders), not of attempts.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct StatsHour {
    /// Start of the hour (UTC).
    pub start: String,
    /// Payments created in this hour.
    pub created: u64,
    /// Of those, paid (refunded since or not).
    pub succeeded: u64,
    /// Failed: nothing was charged.
    pub failed: u64,
    /// Cancelled: nothing charged, or the charge returned.
    pub cancelled: u64,
    /// Not final, and the outcome of an attempt is not known now (unknown, being inquired,
    /// being cancelled, being confirmed).
    pub unknown: u64,
    /// Not final, with no attempt of unknown outcome (being sent, or waiting for a retry).
    pub processing: u64,
    /// Whose outcome was unknown at some point (an attempt was inquired, or is unknown now),
    /// whatever they became: the unknown-outcome rate is `ever_unknown / created`.
    pub ever_unknown: u64,
    /// Payments of this hour that reached a final event (`payment.succeeded`, `payment.failed` or
    /// `payment.cancelled`); the times below are over them.
    pub resolved: u64,
    /// Median milliseconds from a payment's creation to its first final event (null when none).
    pub resolve_p50_ms: Option<i64>,
    /// 95th percentile of the same (nearest rank; null when none).
    pub resolve_p95_ms: Option<i64>,
    /// The longest of the same (null when none).
    pub resolve_max_ms: Option<i64>,
}

/// The nearest-rank `p`th percentile of `sorted` (ascending).
fn percentile(sorted: &[i64], p: usize) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len()).div_ceil(100).clamp(1, sorted.len());
    sorted.get(rank - 1).copied()
}

impl From<&HourStats> for StatsHour {
    fn from(h: &HourStats) -> Self {
        Self {
            start: time(h.start),
            created: h.succeeded + h.failed + h.cancelled + h.unknown + h.open,
            succeeded: h.succeeded,
            failed: h.failed,
            cancelled: h.cancelled,
            unknown: h.unknown,
            processing: h.open,
            ever_unknown: h.ever_unknown,
            resolved: u64::try_from(h.resolve_ms.len()).unwrap_or(u64::MAX),
            resolve_p50_ms: percentile(&h.resolve_ms, 50),
            resolve_p95_ms: percentile(&h.resolve_ms, 95),
            resolve_max_ms: h.resolve_ms.last().copied(),
        }
    }
}

/// The payments of the last hours, hour by hour.
#[utoipa::path(
    get,
    path = "/v1/stats",
    tag = "operations",
    params(StatsQuery),
    responses((status = 200, description = "One entry per hour, oldest first", body = StatsBody)),
    security(("api_key" = []))
)]
pub async fn get_stats(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    QueryParams(query): QueryParams<StatsQuery>,
) -> ApiResult<Json<StatsBody>> {
    let hours = query.hours.unwrap_or(DEFAULT_HOURS);
    if !(1..=MAX_HOURS).contains(&hours) {
        return Err(ApiError::invalid("hours", "hours must be 1 to 48"));
    }
    let now = state.now();
    let stats = tenant.store().payment_stats(now, hours).await?;
    Ok(Json(StatsBody {
        object: "stats",
        generated_at: time(now),
        hours: stats.hours.iter().map(StatsHour::from).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentiles_are_nearest_rank() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[7], 95), Some(7));
        let ten: Vec<i64> = (1..=10).collect();
        assert_eq!(percentile(&ten, 50), Some(5));
        assert_eq!(percentile(&ten, 95), Some(10));
        let hundred: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&hundred, 95), Some(95));
    }
}
