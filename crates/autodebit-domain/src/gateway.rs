//! The gateway port implemented over `ams_client::AmsClient`: every call goes through the client's
//! signed, fail-closed `execute`, and its outcomes map onto [`Reply`] without losing the one thing
//! the flows need to know: whether the request may have taken effect.

use ams_client::{AmsClient, Error, Outcome, RetryPolicy};
use ams_protocol::{
    AmsRequest, ApplyTokenRequest, ApplyTokenResponse, CancelRequest, CancelResponse,
    ConsultRequest, ConsultResponse, InquiryPaymentRequest, InquiryPaymentResponse,
    InquiryRefundRequest, InquiryRefundResponse, PayRequest, PayResponse, RefundRequest,
    RefundResponse, RevokeRequest, RevokeResponse,
};
use async_trait::async_trait;

use crate::ports::{Gateway, Reply};

/// Maps the client's outcome to a [`Reply`]: `MaybeSent` and `BadResponse` are unknown, never failed.
pub fn reply<T>(result: Result<Outcome<T>, Error>) -> Reply<T> {
    match result {
        Ok(Outcome::Success(response)) => Reply::Success(response),
        Ok(Outcome::Failed(response)) => Reply::Failed(response),
        Ok(Outcome::Unknown(response)) => Reply::Unknown {
            response: Some(response),
            detail: "Alipay answered U".to_owned(),
        },
        Err(error) if error.is_outcome_unknown() => Reply::Unknown {
            response: None,
            detail: error.to_string(),
        },
        Err(error) => Reply::NotSent {
            detail: error.to_string(),
        },
    }
}

/// One call with no client-side retries: the flows own every retry schedule (durably).
async fn once<R>(client: &AmsClient, request: &R) -> Reply<R::Response>
where
    R: AmsRequest + ams_client::RequestId + Sync,
{
    reply(
        client
            .execute_with_policy(request, RetryPolicy::Never)
            .await,
    )
}

#[async_trait]
impl Gateway for AmsClient {
    async fn consult(&self, request: &ConsultRequest) -> Reply<ConsultResponse> {
        once(self, request).await
    }

    async fn apply_token(&self, request: &ApplyTokenRequest) -> Reply<ApplyTokenResponse> {
        once(self, request).await
    }

    async fn revoke(&self, request: &RevokeRequest) -> Reply<RevokeResponse> {
        once(self, request).await
    }

    async fn pay(&self, body: &str) -> Reply<PayResponse> {
        match serde_json::from_str::<PayRequest>(body) {
            Ok(request) => once(self, &request).await,
            Err(e) => Reply::NotSent {
                detail: format!("the stored pay body does not parse: {e}"),
            },
        }
    }

    async fn inquiry_payment(
        &self,
        request: &InquiryPaymentRequest,
    ) -> Reply<InquiryPaymentResponse> {
        once(self, request).await
    }

    async fn cancel(&self, request: &CancelRequest) -> Reply<CancelResponse> {
        once(self, request).await
    }

    async fn refund(&self, body: &str) -> Reply<RefundResponse> {
        match serde_json::from_str::<RefundRequest>(body) {
            Ok(request) => once(self, &request).await,
            Err(e) => Reply::NotSent {
                detail: format!("the stored refund body does not parse: {e}"),
            },
        }
    }

    async fn inquiry_refund(&self, request: &InquiryRefundRequest) -> Reply<InquiryRefundResponse> {
        once(self, request).await
    }
}
