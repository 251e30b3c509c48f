//! `cancel` — `POST /ams/api/v1/payments/cancel`: cancel a payment whose result has not come back
//! (full cancellation only, within the contract's window).

use serde::{Deserialize, Serialize};

use crate::api::{Api, ams_api};
use crate::common::datetime::AmsDateTime;
use crate::common::ids::{PaymentId, PaymentRequestId};
use crate::common::result::AmsResult;
use crate::macros::optional_setters;

/// The last moment a payment created at `created_unix_millis` can be cancelled under Auto Debit's
/// contract: 00:15 (UTC+8) on the day after its creation day in UTC+8 (digest §3.6). Past it,
/// Alipay answers `CANCEL_WINDOW_EXCEED` and the money can only come back by a refund.
#[must_use]
pub fn cancel_deadline_millis(created_unix_millis: i64) -> i64 {
    const MINUTE: i64 = 60_000;
    const DAY: i64 = 24 * 60 * MINUTE;
    const UTC8: i64 = 8 * 60 * MINUTE;
    let local = created_unix_millis.saturating_add(UTC8);
    let day_start_local = local.div_euclid(DAY) * DAY;
    day_start_local
        .saturating_add(DAY + 15 * MINUTE)
        .saturating_sub(UTC8)
}

/// cancel request body: `paymentId` or `paymentRequestId` (not both absent; `paymentId` wins).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CancelRequest {
    /// `paymentId` (max 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<PaymentId>,
    /// `paymentRequestId` (max 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_request_id: Option<PaymentRequestId>,
    /// `merchantAccountId` (max 32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_account_id: Option<String>,
}

impl CancelRequest {
    /// Cancel by the merchant's `paymentRequestId`.
    #[must_use]
    pub fn by_payment_request_id(id: impl Into<PaymentRequestId>) -> Self {
        CancelRequest {
            payment_id: None,
            payment_request_id: Some(id.into()),
            merchant_account_id: None,
        }
    }

    /// Cancel by Alipay's `paymentId`.
    #[must_use]
    pub fn by_payment_id(id: impl Into<PaymentId>) -> Self {
        CancelRequest {
            payment_id: Some(id.into()),
            payment_request_id: None,
            merchant_account_id: None,
        }
    }
}

optional_setters!(CancelRequest {
    with_payment_id => payment_id: PaymentId,
    with_payment_request_id => payment_request_id: PaymentRequestId,
    with_merchant_account_id => merchant_account_id: String,
});

/// cancel response body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CancelResponse {
    /// `result`.
    pub result: AmsResult,
    /// `paymentId` (on S).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<PaymentId>,
    /// `paymentRequestId` (on S).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_request_id: Option<PaymentRequestId>,
    /// `cancelTime`: when the cancellation completed (on S).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_time: Option<AmsDateTime>,
}

impl CancelResponse {
    /// A response with only `result`.
    #[must_use]
    pub fn new(result: AmsResult) -> Self {
        CancelResponse {
            result,
            payment_id: None,
            payment_request_id: None,
            cancel_time: None,
        }
    }
}

optional_setters!(CancelResponse {
    with_payment_id => payment_id: PaymentId,
    with_payment_request_id => payment_request_id: PaymentRequestId,
    with_cancel_time => cancel_time: AmsDateTime,
});

ams_api!(CancelRequest => CancelResponse, Api::Cancel);

#[cfg(test)]
mod window_tests {
    use super::cancel_deadline_millis;

    #[test]
    fn the_cancel_window_closes_at_0015_utc8_the_next_day() {
        // 2024-01-01T23:59:00+08:00 → 2024-01-02T00:15:00+08:00.
        assert_eq!(cancel_deadline_millis(1_704_124_740_000), 1_704_125_700_000);
        // 2024-01-01T00:00:00+08:00 → 2024-01-02T00:15:00+08:00.
        assert_eq!(cancel_deadline_millis(1_704_038_400_000), 1_704_125_700_000);
        // 23:59 UTC on 1 March is already 2 March in UTC+8.
        let at = |text: &str| crate::AmsDateTime::new(text).unix_millis().expect("a time");
        assert_eq!(
            cancel_deadline_millis(at("2024-03-01T23:59:00+00:00")),
            at("2024-03-03T00:15:00+08:00")
        );
        // 2024-01-02T00:14:59+08:00 → 2024-01-03T00:15:00+08:00 (a new UTC+8 day).
        assert_eq!(
            cancel_deadline_millis(1_704_125_699_000),
            1_704_125_700_000 + 86_400_000
        );
    }
}
