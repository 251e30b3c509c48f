//! The business id of a request, for logs: `paymentRequestId`, `refundRequestId`, `paymentId`,
//! `refundId`, `declarationRequestId`, `registrationRequestId`, `referenceMerchantId`.
//!
//! Never a secret: requests identified only by a secret have no request id here — `applyToken`
//! (an auth code or refresh token), `revoke` (the access token) and `consult`, whose `authState`
//! is a bearer capability (whoever holds it can complete or decline the authorization it names),
//! so it is never written into a span or a log line.

use ams_protocol::{
    ApplyTokenRequest, CancelRequest, ConsultRequest, DeclareRequest,
    InquiryDeclarationRequestsRequest, InquiryPaymentRequest, InquiryRefundRequest,
    InquiryRegistrationInfoRequest, InquiryRegistrationStatusRequest, PayRequest, RefundRequest,
    RegistrationRequest, RevokeRequest,
};

/// A request's business identifier, written into the call's tracing span.
///
/// Implemented for every request type of `ams-protocol`; implement it for a new request type to use
/// it with [`AmsClient::execute`](crate::AmsClient::execute).
pub trait RequestId {
    /// The id, if the request has one that is safe to log.
    fn request_id(&self) -> Option<&str>;
}

impl RequestId for ConsultRequest {
    /// None: the request is identified by its `authState`, which completes or declines the
    /// authorization and so is a secret.
    fn request_id(&self) -> Option<&str> {
        None
    }
}

impl RequestId for ApplyTokenRequest {
    /// None: the request is identified by an auth code or refresh token, both secrets.
    fn request_id(&self) -> Option<&str> {
        None
    }
}

impl RequestId for RevokeRequest {
    /// None: the request is identified by the access token, a secret.
    fn request_id(&self) -> Option<&str> {
        None
    }
}

impl RequestId for PayRequest {
    /// `paymentRequestId`.
    fn request_id(&self) -> Option<&str> {
        Some(self.payment_request_id.as_str())
    }
}

impl RequestId for InquiryPaymentRequest {
    /// `paymentRequestId`, else `paymentId`.
    fn request_id(&self) -> Option<&str> {
        self.payment_request_id
            .as_ref()
            .map(|id| id.as_str())
            .or_else(|| self.payment_id.as_ref().map(|id| id.as_str()))
    }
}

impl RequestId for CancelRequest {
    /// `paymentRequestId`, else `paymentId`.
    fn request_id(&self) -> Option<&str> {
        self.payment_request_id
            .as_ref()
            .map(|id| id.as_str())
            .or_else(|| self.payment_id.as_ref().map(|id| id.as_str()))
    }
}

impl RequestId for RefundRequest {
    /// `refundRequestId`.
    fn request_id(&self) -> Option<&str> {
        Some(self.refund_request_id.as_str())
    }
}

impl RequestId for InquiryRefundRequest {
    /// `refundRequestId`, else `refundId`.
    fn request_id(&self) -> Option<&str> {
        self.refund_request_id
            .as_ref()
            .map(|id| id.as_str())
            .or_else(|| self.refund_id.as_ref().map(|id| id.as_str()))
    }
}

impl RequestId for DeclareRequest {
    /// `declarationRequestId`.
    fn request_id(&self) -> Option<&str> {
        Some(self.declaration_request_id.as_str())
    }
}

impl RequestId for InquiryDeclarationRequestsRequest {
    /// The first `declarationRequestIds` entry.
    fn request_id(&self) -> Option<&str> {
        self.declaration_request_ids.first().map(|id| id.as_str())
    }
}

impl RequestId for RegistrationRequest {
    /// `registrationRequestId`.
    fn request_id(&self) -> Option<&str> {
        Some(self.registration_request_id.as_str())
    }
}

impl RequestId for InquiryRegistrationStatusRequest {
    /// `registrationRequestId`, else `referenceMerchantId`, else `referenceStoreId`.
    fn request_id(&self) -> Option<&str> {
        self.registration_request_id
            .as_ref()
            .map(|id| id.as_str())
            .or(self.reference_merchant_id.as_deref())
            .or(self.reference_store_id.as_deref())
    }
}

impl RequestId for InquiryRegistrationInfoRequest {
    /// `referenceMerchantId`.
    fn request_id(&self) -> Option<&str> {
        Some(self.reference_merchant_id.as_str())
    }
}

impl<T: RequestId + ?Sized> RequestId for &T {
    fn request_id(&self) -> Option<&str> {
        (**self).request_id()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ams_protocol::{
        AccessToken, Amount, AuthState, Currency, CustomerBelongsTo, Env, GrantType, Order,
        PaymentId, Scope, TerminalType,
    };

    #[test]
    fn ids_per_request_type() {
        let amount = Amount::new(Currency::USD, 100);
        let token = AccessToken::new("secret-token");
        let pay = PayRequest::agreement_payment(
            "PAY_1",
            Order::new("O_1", "x", amount),
            amount,
            CustomerBelongsTo::AlipayCn,
            &token,
            Env::new(TerminalType::Web),
        );
        assert_eq!(pay.request_id(), Some("PAY_1"));
        assert_eq!(
            CancelRequest::by_payment_request_id("PAY_1").request_id(),
            Some("PAY_1")
        );
        assert_eq!(
            CancelRequest::by_payment_id(PaymentId::new("2024X")).request_id(),
            Some("2024X")
        );
        assert_eq!(
            InquiryPaymentRequest::by_payment_id("2024X").request_id(),
            Some("2024X")
        );
        assert_eq!(
            InquiryRefundRequest::by_refund_request_id("R_1").request_id(),
            Some("R_1")
        );
        assert_eq!(
            RefundRequest::new("R_1", "2024X", amount).request_id(),
            Some("R_1")
        );
        assert_eq!(RevokeRequest::new(token.clone()).request_id(), None);
        assert_eq!(
            ApplyTokenRequest::new(GrantType::AuthorizationCode, CustomerBelongsTo::AlipayCn)
                .request_id(),
            None
        );
        let consult = ConsultRequest::new(
            CustomerBelongsTo::AlipayCn,
            "https://m.example/back",
            vec![Scope::AgreementPay],
            AuthState::new("STATE_1"),
            TerminalType::Web,
        );
        assert_eq!(consult.request_id(), None);
        assert_eq!(RequestId::request_id(&&consult), None);
        // The blanket impl for references forwards.
        assert_eq!(RequestId::request_id(&&pay), Some("PAY_1"));
    }
}
