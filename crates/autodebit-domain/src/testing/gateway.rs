//! [`ScriptedGateway`]: Alipay answering from queues of scripted replies, recording every call.

use std::collections::VecDeque;
use std::sync::Mutex;

use ams_protocol::{
    Api, ApplyTokenRequest, ApplyTokenResponse, CancelRequest, CancelResponse, ConsultRequest,
    ConsultResponse, DeclareResponse, InquiryDeclarationRequestsRequest,
    InquiryDeclarationRequestsResponse, InquiryPaymentRequest, InquiryPaymentResponse,
    InquiryRefundRequest, InquiryRefundResponse, InquiryRegistrationInfoRequest,
    InquiryRegistrationInfoResponse, InquiryRegistrationStatusRequest,
    InquiryRegistrationStatusResponse, PayRequest, PayResponse, RefundRequest, RefundResponse,
    RegistrationResponse, RevokeRequest, RevokeResponse,
};
use async_trait::async_trait;

use super::lock;
use crate::ports::{Gateway, Reply};

/// One call the [`ScriptedGateway`] received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayCall {
    /// Which API.
    pub api: Api,
    /// The request body as JSON (for `pay` and `refund`, the exact body passed in).
    pub body: String,
}

#[derive(Debug, Default)]
struct Script {
    consult: VecDeque<Reply<ConsultResponse>>,
    apply_token: VecDeque<Reply<ApplyTokenResponse>>,
    revoke: VecDeque<Reply<RevokeResponse>>,
    pay: VecDeque<Reply<PayResponse>>,
    inquiry_payment: VecDeque<Reply<InquiryPaymentResponse>>,
    cancel: VecDeque<Reply<CancelResponse>>,
    refund: VecDeque<Reply<RefundResponse>>,
    inquiry_refund: VecDeque<Reply<InquiryRefundResponse>>,
    declare: VecDeque<Reply<DeclareResponse>>,
    inquiry_declaration: VecDeque<Reply<InquiryDeclarationRequestsResponse>>,
    registration: VecDeque<Reply<RegistrationResponse>>,
    inquiry_registration: VecDeque<Reply<InquiryRegistrationStatusResponse>>,
    inquiry_registration_info: VecDeque<Reply<InquiryRegistrationInfoResponse>>,
    calls: Vec<GatewayCall>,
}

/// A [`Gateway`] that answers each API from its own queue of scripted replies, in order, and
/// records every call. An API with an empty queue answers [`Reply::NotSent`] (nothing happened),
/// so a test that forgot to script a call sees it fail safe.
#[derive(Debug, Default)]
pub struct ScriptedGateway {
    script: Mutex<Script>,
}

macro_rules! scripted {
    ($(#[$doc:meta])* $push:ident, $field:ident, $t:ty) => {
        $(#[$doc])*
        pub fn $push(&self, reply: Reply<$t>) -> &Self {
            lock(&self.script).$field.push_back(reply);
            self
        }
    };
}

impl ScriptedGateway {
    /// A gateway with nothing scripted.
    pub fn new() -> Self {
        Self::default()
    }

    scripted!(
        /// Queues a `consult` reply.
        push_consult, consult, ConsultResponse
    );
    scripted!(
        /// Queues an `applyToken` reply.
        push_apply_token, apply_token, ApplyTokenResponse
    );
    scripted!(
        /// Queues a `revoke` reply.
        push_revoke, revoke, RevokeResponse
    );
    scripted!(
        /// Queues a `pay` reply.
        push_pay, pay, PayResponse
    );
    scripted!(
        /// Queues an `inquiryPayment` reply.
        push_inquiry_payment, inquiry_payment, InquiryPaymentResponse
    );
    scripted!(
        /// Queues a `cancel` reply.
        push_cancel, cancel, CancelResponse
    );
    scripted!(
        /// Queues a `refund` reply.
        push_refund, refund, RefundResponse
    );
    scripted!(
        /// Queues an `inquiryRefund` reply.
        push_inquiry_refund, inquiry_refund, InquiryRefundResponse
    );
    scripted!(
        /// Queues a `declare` reply.
        push_declare, declare, DeclareResponse
    );
    scripted!(
        /// Queues an `inquiryDeclarationRequests` reply.
        push_inquiry_declaration, inquiry_declaration, InquiryDeclarationRequestsResponse
    );
    scripted!(
        /// Queues a `registration` reply.
        push_registration, registration, RegistrationResponse
    );
    scripted!(
        /// Queues an `inquiryRegistrationStatus` reply.
        push_inquiry_registration, inquiry_registration, InquiryRegistrationStatusResponse
    );
    scripted!(
        /// Queues an `inquiryRegistrationInfo` reply.
        push_inquiry_registration_info, inquiry_registration_info, InquiryRegistrationInfoResponse
    );

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<GatewayCall> {
        lock(&self.script).calls.clone()
    }

    /// The calls of one API, in order.
    pub fn calls_of(&self, api: Api) -> Vec<GatewayCall> {
        self.calls().into_iter().filter(|c| c.api == api).collect()
    }

    /// How many replies are still queued, over every API.
    pub fn pending(&self) -> usize {
        let s = lock(&self.script);
        s.consult.len()
            + s.apply_token.len()
            + s.revoke.len()
            + s.pay.len()
            + s.inquiry_payment.len()
            + s.cancel.len()
            + s.refund.len()
            + s.inquiry_refund.len()
            + s.declare.len()
            + s.inquiry_declaration.len()
            + s.registration.len()
            + s.inquiry_registration.len()
            + s.inquiry_registration_info.len()
    }

    fn next<T>(
        &self,
        api: Api,
        body: String,
        pick: impl FnOnce(&mut Script) -> Option<Reply<T>>,
    ) -> Reply<T> {
        let mut script = lock(&self.script);
        script.calls.push(GatewayCall { api, body });
        pick(&mut script).unwrap_or_else(|| Reply::NotSent {
            detail: format!("ScriptedGateway: no reply scripted for {}", api.name()),
        })
    }
}

/// A request as the JSON it would be sent as (the request types always serialise).
macro_rules! request_json {
    ($request:expr) => {
        serde_json::to_string($request).expect("a request serialises")
    };
}

#[async_trait]
impl Gateway for ScriptedGateway {
    async fn consult(&self, request: &ConsultRequest) -> Reply<ConsultResponse> {
        self.next(Api::Consult, request_json!(request), |s| {
            s.consult.pop_front()
        })
    }

    async fn apply_token(&self, request: &ApplyTokenRequest) -> Reply<ApplyTokenResponse> {
        self.next(Api::ApplyToken, request_json!(request), |s| {
            s.apply_token.pop_front()
        })
    }

    async fn revoke(&self, request: &RevokeRequest) -> Reply<RevokeResponse> {
        self.next(Api::Revoke, request_json!(request), |s| {
            s.revoke.pop_front()
        })
    }

    async fn pay(&self, body: &str) -> Reply<PayResponse> {
        let reply = self.next(Api::Pay, body.to_owned(), |s| s.pay.pop_front());
        let asked = serde_json::from_str::<PayRequest>(body)
            .ok()
            .map(|r| r.payment_request_id);
        echo(reply, |r| {
            if r.payment_request_id.is_none() {
                r.payment_request_id.clone_from(&asked);
            }
        })
    }

    async fn inquiry_payment(
        &self,
        request: &InquiryPaymentRequest,
    ) -> Reply<InquiryPaymentResponse> {
        let reply = self.next(Api::InquiryPayment, request_json!(request), |s| {
            s.inquiry_payment.pop_front()
        });
        echo(reply, |r| {
            if r.payment_request_id.is_none() && r.payment_status.is_some() {
                r.payment_request_id.clone_from(&request.payment_request_id);
            }
        })
    }

    async fn cancel(&self, request: &CancelRequest) -> Reply<CancelResponse> {
        let reply = self.next(Api::Cancel, request_json!(request), |s| {
            s.cancel.pop_front()
        });
        echo(reply, |r| {
            if r.payment_request_id.is_none() && r.result.status() == &ams_protocol::ResultStatus::S
            {
                r.payment_request_id.clone_from(&request.payment_request_id);
            }
        })
    }

    async fn refund(&self, body: &str) -> Reply<RefundResponse> {
        let reply = self.next(Api::Refund, body.to_owned(), |s| s.refund.pop_front());
        let asked = serde_json::from_str::<RefundRequest>(body)
            .ok()
            .map(|r| r.refund_request_id);
        echo(reply, |r| {
            if r.refund_request_id.is_none() {
                r.refund_request_id.clone_from(&asked);
            }
        })
    }

    async fn inquiry_refund(&self, request: &InquiryRefundRequest) -> Reply<InquiryRefundResponse> {
        let reply = self.next(Api::InquiryRefund, request_json!(request), |s| {
            s.inquiry_refund.pop_front()
        });
        echo(reply, |r| {
            if r.refund_request_id.is_none() && r.refund_status.is_some() {
                r.refund_request_id.clone_from(&request.refund_request_id);
            }
        })
    }

    async fn declare(&self, body: &str) -> Reply<DeclareResponse> {
        self.next(Api::Declare, body.to_owned(), |s| s.declare.pop_front())
    }

    async fn inquiry_declaration_requests(
        &self,
        request: &InquiryDeclarationRequestsRequest,
    ) -> Reply<InquiryDeclarationRequestsResponse> {
        self.next(
            Api::InquiryDeclarationRequests,
            request_json!(request),
            |s| s.inquiry_declaration.pop_front(),
        )
    }

    async fn registration(&self, body: &str) -> Reply<RegistrationResponse> {
        self.next(Api::Registration, body.to_owned(), |s| {
            s.registration.pop_front()
        })
    }

    async fn inquiry_registration_status(
        &self,
        request: &InquiryRegistrationStatusRequest,
    ) -> Reply<InquiryRegistrationStatusResponse> {
        self.next(
            Api::InquiryRegistrationStatus,
            request_json!(request),
            |s| s.inquiry_registration.pop_front(),
        )
    }

    async fn inquiry_registration_info(
        &self,
        request: &InquiryRegistrationInfoRequest,
    ) -> Reply<InquiryRegistrationInfoResponse> {
        self.next(Api::InquiryRegistrationInfo, request_json!(request), |s| {
            s.inquiry_registration_info.pop_front()
        })
    }
}

/// Alipay echoes the request's id in its answers: a scripted answer that names none gets the
/// request's (a test that wants a mismatch names another one explicitly).
fn echo<T>(reply: Reply<T>, fill: impl FnOnce(&mut T)) -> Reply<T> {
    match reply {
        Reply::Success(mut r) => {
            fill(&mut r);
            Reply::Success(r)
        }
        Reply::Failed(mut r) => {
            fill(&mut r);
            Reply::Failed(r)
        }
        Reply::Unknown {
            response: Some(mut r),
            detail,
        } => {
            fill(&mut r);
            Reply::Unknown {
                response: Some(r),
                detail,
            }
        }
        other => other,
    }
}
