//! The domain's ports to Alipay, over [`ams_client`]: [`AlipayGateway`] (the `Gateway` port) and
//! [`AlipayVerifier`] (the `NotificationVerifier` port).
//!
//! This crate sits above `autodebit-domain` so that the domain holds no transport: its dependency
//! tree has no reqwest, tokio or TLS, and every call to Alipay goes through here.
//!
//! - Every call is made once ([`ams_client::RetryPolicy::Never`]): the domain owns every retry
//!   schedule, durably, in its jobs.
//! - `pay` and `refund` send the stored body byte for byte ([`ams_client::AmsClient::execute_body`]),
//!   so a retry is the exact request Alipay's idempotency compares.
//! - Outcomes keep the one thing the flows need to know: whether the request may have taken
//!   effect. `MaybeSent` and `BadResponse` are [`Reply::Unknown`], never failed; only what surely
//!   never left is [`Reply::NotSent`].
//! - Notifications are verified over the exact bytes and path received, then their freshness is
//!   checked; a stale one comes back as [`Verification::Stale`] so the domain inquires instead of
//!   believing it.
//! - An ISV's `agent-token` can change while running (a merchant authorises the ISV again): an
//!   [`AgentTokenSource`] given to [`AlipayGateway::with_agent_tokens`] is read on every call.
//!
//! ```no_run
//! # async fn demo(client: ams_client::AmsClient) {
//! use std::sync::Arc;
//! use autodebit_alipay::{AlipayGateway, AlipayVerifier};
//!
//! let gateway = Arc::new(AlipayGateway::new(client.clone()));
//! let verifier = Arc::new(AlipayVerifier::new(client.notification_verifier()));
//! // Context::new(store, gateway, clock).with_verifier(verifier) …
//! # let _ = (gateway, verifier);
//! # }
//! ```

use ams_client::{
    AmsClient, Error, NotificationError, NotificationVerifier as ClientVerifier, Outcome,
    RetryPolicy, VerificationError,
};
use ams_protocol::{
    AmsRequest, ApplyTokenRequest, ApplyTokenResponse, CancelRequest, CancelResponse,
    ConsultRequest, ConsultResponse, DeclareRequest, DeclareResponse,
    InquiryDeclarationRequestsRequest, InquiryDeclarationRequestsResponse, InquiryPaymentRequest,
    InquiryPaymentResponse, InquiryRefundRequest, InquiryRefundResponse,
    InquiryRegistrationInfoRequest, InquiryRegistrationInfoResponse,
    InquiryRegistrationStatusRequest, InquiryRegistrationStatusResponse, PayRequest, PayResponse,
    RefundRequest, RefundResponse, RegistrationRequest, RegistrationResponse, RevokeRequest,
    RevokeResponse,
};
use async_trait::async_trait;
use autodebit_domain::ports::{
    Gateway, NotificationVerifier, RawNotification, RefusalCause, Reply, Verification,
};
use http::{HeaderMap, HeaderName, HeaderValue};

mod agent;
pub use agent::AgentTokenSource;

/// Maps the client's outcome to a [`Reply`]: `MaybeSent` and `BadResponse` are unknown, never
/// failed.
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

/// Alipay, as the domain's `Gateway` port, over an [`AmsClient`].
#[derive(Clone, Debug)]
pub struct AlipayGateway {
    client: AmsClient,
    /// Consulted on every call ([`AlipayGateway::with_agent_tokens`]).
    agent: Option<std::sync::Arc<dyn AgentTokenSource>>,
}

impl AlipayGateway {
    /// The port over `client` (its gateway, keys and per-API timeouts: by default 3 s for
    /// `inquiryPayment`, `cancel` and `refund`, seed 004's "no answer within 3 s").
    pub fn new(client: AmsClient) -> Self {
        Self {
            client,
            agent: None,
        }
    }

    /// The client underneath (as configured: without the [`AgentTokenSource`]'s token).
    pub fn client(&self) -> &AmsClient {
        &self.client
    }

    async fn once<R>(&self, request: &R) -> Reply<R::Response>
    where
        R: AmsRequest + ams_client::RequestId + Sync,
    {
        reply(
            self.calling()
                .await
                .execute_with_policy(request, RetryPolicy::Never)
                .await,
        )
    }
}

#[async_trait]
impl Gateway for AlipayGateway {
    async fn consult(&self, request: &ConsultRequest) -> Reply<ConsultResponse> {
        self.once(request).await
    }

    async fn apply_token(&self, request: &ApplyTokenRequest) -> Reply<ApplyTokenResponse> {
        self.once(request).await
    }

    async fn revoke(&self, request: &RevokeRequest) -> Reply<RevokeResponse> {
        self.once(request).await
    }

    async fn pay(&self, body: &str) -> Reply<PayResponse> {
        reply(
            self.calling()
                .await
                .execute_body::<PayRequest>(body.to_owned(), RetryPolicy::Never)
                .await,
        )
    }

    async fn inquiry_payment(
        &self,
        request: &InquiryPaymentRequest,
    ) -> Reply<InquiryPaymentResponse> {
        self.once(request).await
    }

    async fn cancel(&self, request: &CancelRequest) -> Reply<CancelResponse> {
        self.once(request).await
    }

    async fn refund(&self, body: &str) -> Reply<RefundResponse> {
        reply(
            self.calling()
                .await
                .execute_body::<RefundRequest>(body.to_owned(), RetryPolicy::Never)
                .await,
        )
    }

    async fn inquiry_refund(&self, request: &InquiryRefundRequest) -> Reply<InquiryRefundResponse> {
        self.once(request).await
    }

    async fn declare(&self, body: &str) -> Reply<DeclareResponse> {
        reply(
            self.calling()
                .await
                .execute_body::<DeclareRequest>(body.to_owned(), RetryPolicy::Never)
                .await,
        )
    }

    async fn inquiry_declaration_requests(
        &self,
        request: &InquiryDeclarationRequestsRequest,
    ) -> Reply<InquiryDeclarationRequestsResponse> {
        self.once(request).await
    }

    async fn registration(&self, body: &str) -> Reply<RegistrationResponse> {
        reply(
            self.calling()
                .await
                .execute_body::<RegistrationRequest>(body.to_owned(), RetryPolicy::Never)
                .await,
        )
    }

    async fn inquiry_registration_status(
        &self,
        request: &InquiryRegistrationStatusRequest,
    ) -> Reply<InquiryRegistrationStatusResponse> {
        self.once(request).await
    }

    async fn inquiry_registration_info(
        &self,
        request: &InquiryRegistrationInfoRequest,
    ) -> Reply<InquiryRegistrationInfoResponse> {
        self.once(request).await
    }
}

/// Alipay's notifications, verified, as the domain's `NotificationVerifier` port.
#[derive(Clone)]
pub struct AlipayVerifier {
    verifier: ClientVerifier,
}

impl std::fmt::Debug for AlipayVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlipayVerifier")
            .field("skew_window", &self.verifier.skew_window())
            .finish_non_exhaustive()
    }
}

impl AlipayVerifier {
    /// The port over the client's verifier (our client id, Alipay's public keys by version, the
    /// skew window and its clock).
    pub fn new(verifier: ClientVerifier) -> Self {
        Self { verifier }
    }
}

/// The cause of a refusal, by what failed.
fn cause_of(error: &VerificationError) -> RefusalCause {
    match error {
        VerificationError::Unsigned | VerificationError::MalformedSignatureHeader(_) => {
            RefusalCause::Unsigned
        }
        VerificationError::MissingTime { .. } | VerificationError::InvalidHeaderValue { .. } => {
            RefusalCause::BadHeaders
        }
        VerificationError::MissingClientId
        | VerificationError::ClientIdMismatch { .. }
        | VerificationError::UnknownKeyVersion { .. } => RefusalCause::WrongClient,
        _ => RefusalCause::BadSignature,
    }
}

impl NotificationVerifier for AlipayVerifier {
    fn verify(&self, raw: &RawNotification) -> Verification {
        let mut headers = HeaderMap::new();
        for (name, value) in &raw.headers {
            // A header that cannot be one is left out: the signature check then fails closed.
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                headers.append(name, value);
            }
        }
        match self
            .verifier
            .verify(&raw.path, &headers, raw.body.expose().as_bytes())
        {
            Ok(verified) => Verification::Verified(verified.into_notification()),
            Err(NotificationError::OutsideSkewWindow(stale)) => match stale.notification.clone() {
                Some(notification) => Verification::Stale(notification),
                None => Verification::Refused {
                    cause: RefusalCause::Stale,
                    detail: format!(
                        "outside the skew window, and the body is not a notification: {}",
                        NotificationError::OutsideSkewWindow(stale)
                    ),
                },
            },
            Err(NotificationError::Verification(e)) => Verification::Refused {
                cause: cause_of(&e),
                detail: error_chain(&e),
            },
            Err(e @ NotificationError::InvalidRequestTime { .. }) => Verification::Refused {
                cause: RefusalCause::BadHeaders,
                detail: e.to_string(),
            },
            Err(e) => Verification::Refused {
                cause: RefusalCause::BadBody,
                detail: error_chain(&e),
            },
        }
    }
}

/// An error and its sources, `a: b: c` (never a body: the client's errors carry none).
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        out.push_str(": ");
        out.push_str(&e.to_string());
        source = e.source();
    }
    out
}

/// The client's clock as the domain's `Clock` port, so the flows, the signatures and the
/// notification skew window read one time (in production [`ams_client::SystemClock`]; in tests a
/// manual clock the sandbox shares).
#[derive(Clone, Debug)]
pub struct ClientClock(std::sync::Arc<dyn ams_client::Clock>);

impl ClientClock {
    /// The port over `clock`.
    pub fn new(clock: std::sync::Arc<dyn ams_client::Clock>) -> Self {
        Self(clock)
    }
}

impl autodebit_domain::ports::Clock for ClientClock {
    fn now_ms(&self) -> autodebit_domain::model::Millis {
        self.0.unix_millis()
    }
}
