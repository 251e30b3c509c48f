//! Alipay's calls measured: a [`Gateway`] in front of the real one that counts every call and
//! times it, by merchant, API and outcome (`success`, `failed`, `unknown`, `not_sent`), so the
//! share of unknown outcomes, inquiries per payment and Alipay's latency can be read off
//! `/metrics`:
//!
//! - `autodebit_alipay_calls_total{merchant, api, outcome}`
//! - `autodebit_alipay_call_duration_seconds{merchant, api, outcome}`
//!
//! Nothing of a request or an answer is recorded but those labels.

use std::sync::Arc;
use std::time::Instant;

use ams_protocol::{
    ApplyTokenRequest, ApplyTokenResponse, CancelRequest, CancelResponse, ConsultRequest,
    ConsultResponse, InquiryPaymentRequest, InquiryPaymentResponse, InquiryRefundRequest,
    InquiryRefundResponse, PayResponse, RefundResponse, RevokeRequest, RevokeResponse,
};
use async_trait::async_trait;
use autodebit_domain::ports::{Gateway, Reply};

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
        let outcome = match reply {
            Reply::Success(_) => "success",
            Reply::Failed(_) => "failed",
            Reply::Unknown { .. } => "unknown",
            Reply::NotSent { .. } => "not_sent",
        };
        let labels = [
            ("merchant", self.merchant.clone()),
            ("api", api.to_owned()),
            ("outcome", outcome.to_owned()),
        ];
        metrics::counter!("autodebit_alipay_calls_total", &labels).increment(1);
        metrics::histogram!("autodebit_alipay_call_duration_seconds", &labels)
            .record(started.elapsed().as_secs_f64());
    }
}

/// Calls `$inner.$method($arg)`, records it under `$api`, and hands the reply back.
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
        measured!(self, "applyToken", apply_token(request))
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
}
