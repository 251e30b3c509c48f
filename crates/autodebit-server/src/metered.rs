//! Alipay's calls measured: a [`Gateway`] in front of the real one that counts every call and
//! times it, by merchant, API and outcome (`success`, `failed`, `unknown`, `not_sent`), so the
//! share of unknown outcomes, inquiries per payment and Alipay's latency can be read off
//! `/metrics`:
//!
//! - `autodebit_alipay_calls_total{merchant, api, outcome}`
//! - `autodebit_alipay_call_duration_seconds{merchant, api, outcome}`
//! - `autodebit_token_refresh_failures_total{merchant, outcome}`: `applyToken` with a refresh
//!   token that did not succeed (refused, unknown, or not sent)
//!
//! Nothing of a request or an answer is recorded but those labels.
//!
//! [`CommitMetrics`] counts what committed units of work changed (told by the store, once per
//! change, in the process that made it):
//!
//! - `autodebit_payment_attempts_total{merchant}`: attempts created;
//! - `autodebit_payment_outcomes_unknown_total{merchant}`: attempts whose outcome became unknown
//!   (the share of unknown outcomes is the ratio of the two);
//! - `autodebit_payments_resolved_total{merchant, outcome, was_unknown}`;
//! - `autodebit_payment_resolve_seconds{merchant, outcome, was_unknown}` (histogram): from the
//!   attempt's creation to its final state;
//! - `autodebit_payment_inquiries{merchant, outcome}` (histogram): `inquiryPayment` calls per
//!   resolved attempt.

use std::sync::Arc;
use std::time::Instant;

use ams_protocol::{
    ApplyTokenRequest, ApplyTokenResponse, CancelRequest, CancelResponse, ConsultRequest,
    ConsultResponse, DeclareResponse, GrantType, InquiryDeclarationRequestsRequest,
    InquiryDeclarationRequestsResponse, InquiryPaymentRequest, InquiryPaymentResponse,
    InquiryRefundRequest, InquiryRefundResponse, InquiryRegistrationInfoRequest,
    InquiryRegistrationInfoResponse, InquiryRegistrationStatusRequest,
    InquiryRegistrationStatusResponse, PayResponse, RefundResponse, RegistrationResponse,
    RevokeRequest, RevokeResponse,
};
use async_trait::async_trait;
use autodebit_domain::ports::{Gateway, Reply};
use autodebit_store::{CommitObserver, Observed};

/// A [`Gateway`] that measures the one it wraps.
pub struct MeteredGateway {
    inner: Arc<dyn Gateway>,
    merchant: String,
}

impl std::fmt::Debug for MeteredGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeteredGateway")
            .field("merchant", &self.merchant)
            .finish_non_exhaustive()
    }
}

impl MeteredGateway {
    /// Measures `inner`'s calls for `merchant`.
    pub fn new(inner: Arc<dyn Gateway>, merchant: impl Into<String>) -> Self {
        Self {
            inner,
            merchant: merchant.into(),
        }
    }

    fn record<T>(&self, api: &'static str, started: Instant, reply: &Reply<T>) {
        let labels = [
            ("merchant", self.merchant.clone()),
            ("api", api.to_owned()),
            ("outcome", outcome_name(reply).to_owned()),
        ];
        metrics::counter!("autodebit_alipay_calls_total", &labels).increment(1);
        metrics::histogram!("autodebit_alipay_call_duration_seconds", &labels)
            .record(started.elapsed().as_secs_f64());
        // The diagnosis of a call without a settling answer is for the operator, not the merchant's
        // API (it names hosts and key fingerprints; never a secret: the client keeps those out).
        if let Reply::Unknown { detail, .. } | Reply::NotSent { detail } = reply {
            tracing::warn!(merchant = %self.merchant, api, %detail, "no settling answer from Alipay");
        }
    }
}

/// Calls `$inner.$method($arg)`, records it under `$api`, and hands the reply back.
/// The time-to-resolve histogram.
pub const RESOLVE_SECONDS: &str = "autodebit_payment_resolve_seconds";
/// Its buckets: a second to a day (a payment whose outcome is unknown is inquired for minutes,
/// then cancelled or confirmed).
pub const RESOLVE_BUCKETS: [f64; 12] = [
    0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3_600.0, 21_600.0, 86_400.0,
];
/// The inquiries-per-payment histogram.
pub const INQUIRIES: &str = "autodebit_payment_inquiries";
/// Its buckets.
pub const INQUIRY_BUCKETS: [f64; 8] = [0.0, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0];

/// Counts what the store's commits changed.
#[derive(Clone, Copy, Debug, Default)]
pub struct CommitMetrics;

impl CommitObserver for CommitMetrics {
    fn committed(&self, merchant: &str, changes: &[Observed]) {
        for change in changes {
            match change {
                Observed::AttemptCreated => {
                    metrics::counter!("autodebit_payment_attempts_total", "merchant" => merchant.to_owned())
                        .increment(1);
                }
                Observed::AttemptUnknown => {
                    metrics::counter!("autodebit_payment_outcomes_unknown_total", "merchant" => merchant.to_owned())
                        .increment(1);
                }
                Observed::AttemptResolved {
                    state,
                    after_ms,
                    inquiries,
                    was_unknown,
                } => {
                    let labels = [
                        ("merchant", merchant.to_owned()),
                        ("outcome", state.name().to_owned()),
                        ("was_unknown", was_unknown.to_string()),
                    ];
                    metrics::counter!("autodebit_payments_resolved_total", &labels).increment(1);
                    #[allow(
                        clippy::cast_precision_loss,
                        reason = "milliseconds as seconds for a histogram"
                    )]
                    let seconds = *after_ms as f64 / 1000.0;
                    metrics::histogram!(RESOLVE_SECONDS, &labels).record(seconds);
                    metrics::histogram!(INQUIRIES, "merchant" => merchant.to_owned(), "outcome" => state.name())
                        .record(f64::from(*inquiries));
                }
            }
        }
    }
}

/// A reply's outcome, as the metrics label it.
fn outcome_name<T>(reply: &Reply<T>) -> &'static str {
    match reply {
        Reply::Success(_) => "success",
        Reply::Failed(_) => "failed",
        Reply::Unknown { .. } => "unknown",
        Reply::NotSent { .. } => "not_sent",
    }
}

macro_rules! measured {
    ($self:ident, $api:literal, $method:ident($arg:ident)) => {{
        #[allow(
            clippy::disallowed_methods,
            reason = "a call's duration, for metrics only"
        )]
        let started = Instant::now();
        let reply = $self.inner.$method($arg).await;
        $self.record($api, started, &reply);
        reply
    }};
}

#[async_trait]
impl Gateway for MeteredGateway {
    async fn consult(&self, request: &ConsultRequest) -> Reply<ConsultResponse> {
        measured!(self, "consult", consult(request))
    }

    async fn apply_token(&self, request: &ApplyTokenRequest) -> Reply<ApplyTokenResponse> {
        let reply = measured!(self, "applyToken", apply_token(request));
        if request.grant_type == GrantType::RefreshToken && !matches!(reply, Reply::Success(_)) {
            metrics::counter!(
                "autodebit_token_refresh_failures_total",
                "merchant" => self.merchant.clone(),
                "outcome" => outcome_name(&reply),
            )
            .increment(1);
        }
        reply
    }

    async fn revoke(&self, request: &RevokeRequest) -> Reply<RevokeResponse> {
        measured!(self, "revoke", revoke(request))
    }

    async fn pay(&self, body: &str) -> Reply<PayResponse> {
        measured!(self, "pay", pay(body))
    }

    async fn inquiry_payment(
        &self,
        request: &InquiryPaymentRequest,
    ) -> Reply<InquiryPaymentResponse> {
        measured!(self, "inquiryPayment", inquiry_payment(request))
    }

    async fn cancel(&self, request: &CancelRequest) -> Reply<CancelResponse> {
        measured!(self, "cancel", cancel(request))
    }

    async fn refund(&self, body: &str) -> Reply<RefundResponse> {
        measured!(self, "refund", refund(body))
    }

    async fn inquiry_refund(&self, request: &InquiryRefundRequest) -> Reply<InquiryRefundResponse> {
        measured!(self, "inquiryRefund", inquiry_refund(request))
    }

    async fn declare(&self, body: &str) -> Reply<DeclareResponse> {
        measured!(self, "declare", declare(body))
    }

    async fn inquiry_declaration_requests(
        &self,
        request: &InquiryDeclarationRequestsRequest,
    ) -> Reply<InquiryDeclarationRequestsResponse> {
        measured!(
            self,
            "inquiryDeclarationRequests",
            inquiry_declaration_requests(request)
        )
    }

    async fn registration(&self, body: &str) -> Reply<RegistrationResponse> {
        measured!(self, "registration", registration(body))
    }

    async fn inquiry_registration_status(
        &self,
        request: &InquiryRegistrationStatusRequest,
    ) -> Reply<InquiryRegistrationStatusResponse> {
        measured!(
            self,
            "inquiryRegistrationStatus",
            inquiry_registration_status(request)
        )
    }

    async fn inquiry_registration_info(
        &self,
        request: &InquiryRegistrationInfoRequest,
    ) -> Reply<InquiryRegistrationInfoResponse> {
        measured!(
            self,
            "inquiryRegistrationInfo",
            inquiry_registration_info(request)
        )
    }
}

#[cfg(test)]
mod tests {
    use ams_protocol::CustomerBelongsTo;
    use autodebit_domain::lifecycle::attempt::AttemptState;
    use autodebit_domain::testing::{ScriptedGateway, replies};
    use metrics_exporter_prometheus::PrometheusBuilder;

    use super::*;

    /// What `f` records, as `/metrics` would show it.
    fn recorded(f: impl FnOnce()) -> String {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full(RESOLVE_SECONDS.to_owned()),
                &RESOLVE_BUCKETS,
            )
            .expect("buckets")
            .build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, f);
        handle.render()
    }

    #[test]
    fn a_failed_refresh_is_counted_and_a_failed_code_exchange_is_not() {
        let scripted = Arc::new(ScriptedGateway::new());
        scripted.push_apply_token(replies::token_failed("INVALID_REFRESH_TOKEN"));
        scripted.push_apply_token(replies::token_failed("INVALID_AUTHCODE"));
        // The third is not scripted: it is not sent.
        let metered = MeteredGateway::new(scripted, "m1");
        let refresh = ApplyTokenRequest::refresh_token(CustomerBelongsTo::AlipayCn, "rt");
        let exchange = ApplyTokenRequest::authorization_code(CustomerBelongsTo::AlipayCn, "code");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let text = recorded(|| {
            runtime.block_on(async {
                metered.apply_token(&refresh).await;
                metered.apply_token(&exchange).await;
                metered.apply_token(&refresh).await;
            });
        });
        assert!(
            text.contains(
                "autodebit_token_refresh_failures_total{merchant=\"m1\",outcome=\"failed\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "autodebit_token_refresh_failures_total{merchant=\"m1\",outcome=\"not_sent\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "autodebit_alipay_calls_total{merchant=\"m1\",api=\"applyToken\",outcome=\"failed\"} 2"
            ),
            "{text}"
        );
    }

    #[test]
    fn commits_count_attempts_unknown_outcomes_and_time_to_resolve() {
        let text = recorded(|| {
            CommitMetrics.committed(
                "m1",
                &[
                    Observed::AttemptCreated,
                    Observed::AttemptCreated,
                    Observed::AttemptUnknown,
                    Observed::AttemptResolved {
                        state: AttemptState::Succeeded,
                        after_ms: 7_500,
                        inquiries: 2,
                        was_unknown: true,
                    },
                ],
            );
        });
        for line in [
            "autodebit_payment_attempts_total{merchant=\"m1\"} 2",
            "autodebit_payment_outcomes_unknown_total{merchant=\"m1\"} 1",
            "autodebit_payments_resolved_total{merchant=\"m1\",outcome=\"succeeded\",was_unknown=\"true\"} 1",
            // 7.5 s: not under 5 s, under 10 s.
            "autodebit_payment_resolve_seconds_bucket{merchant=\"m1\",outcome=\"succeeded\",was_unknown=\"true\",le=\"5\"} 0",
            "autodebit_payment_resolve_seconds_bucket{merchant=\"m1\",outcome=\"succeeded\",was_unknown=\"true\",le=\"10\"} 1",
            "autodebit_payment_resolve_seconds_sum{merchant=\"m1\",outcome=\"succeeded\",was_unknown=\"true\"} 7.5",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }
}
