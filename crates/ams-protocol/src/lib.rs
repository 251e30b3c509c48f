//! Wire types of Alipay's global AMS open API, starting with the **Auto Debit** product
//! (authorization + agreement payments).
//!
//! The crate is data only: serde types for request bodies, response bodies, notification bodies and
//! the notification acknowledgement, plus the path catalogue. It knows nothing about HTTP, signing,
//! clocks or storage, and needs no network to test.
//!
//! * [`AmsRequest`] ties each request type to its [`Api`] (path) and its response type; every response
//!   implements [`AmsResponse`] (it carries an [`AmsResult`]).
//! * [`request_path`] applies the SDKs' sandbox rule (client id `SANDBOX_…` → `/ams/sandbox/api/…`);
//!   [`Api::from_path`] recognises both forms.
//! * Wire enums ([`ResultCode`], [`CustomerBelongsTo`], [`PaymentStatus`], …) are forward compatible:
//!   unknown strings parse into `Unknown(String)` and serialise back unchanged.
//! * Money is [`Amount`]: an ISO 4217 [`Currency`] and integer [`MinorUnits`], never a float.
//! * Tokens and auth codes ([`AccessToken`], [`RefreshToken`], [`AuthCode`], [`PaymentMethodId`]) have
//!   a redacted `Debug`, so request and response structs can be logged with `{:?}`.
//! * Datetimes ([`AmsDateTime`]) keep the exact wire string and parse on demand.
//!
//! Modules are organised by API family ([`auth`], [`payments`]) over shared objects ([`common`]), so
//! other AMS products can be added beside them.
//!
//! To send these bodies, sign them and check the answers, use `ams-client` (async, over HTTPS) or
//! `ams-signing` with your own HTTP stack.
//!
//! # Example
//!
//! Build an Auto Debit `pay` request and read its response:
//!
//! ```
//! use ams_protocol::{
//!     AccessToken, AmsRequest, AmsResponse, Amount, Api, Currency, CustomerBelongsTo, Env, Order,
//!     PayRequest, PayResponse, ResultCode, SettlementStrategy, TerminalType, request_path,
//! };
//!
//! // The token came from applyToken; its Debug output is redacted.
//! let token = AccessToken::new("281010033AB2F588D14B43238637264FCA5A0001");
//! let amount = Amount::new(Currency::USD, 1000); // USD 10.00
//!
//! let request = PayRequest::agreement_payment(
//!     "PAY_20240101_0001", // paymentRequestId: the idempotency key, reused to retry
//!     // The order as a whole: its orderAmount ...
//!     Order::new("ORDER_20240101_0001", "Monthly subscription", amount),
//!     amount, // ... and paymentAmount, what this payment takes (the same, for one charge per order)
//!     CustomerBelongsTo::AlipayCn,
//!     &token,
//!     Env::new(TerminalType::Web),
//! )
//! .with_payment_notify_url("https://www.merchant.example/payNotify")
//! .with_settlement_strategy(SettlementStrategy::new(Currency::USD));
//!
//! // Where to send it, and the exact body.
//! assert_eq!(<PayRequest as AmsRequest>::API, Api::Pay);
//! assert_eq!(request_path(PayRequest::API, "5X00000000000000"), "/ams/api/v1/payments/pay");
//! assert_eq!(
//!     request_path(PayRequest::API, "SANDBOX_5X00000000000000"),
//!     "/ams/sandbox/api/v1/payments/pay"
//! );
//! let body = serde_json::to_string(&request)?;
//! assert!(body.starts_with(r#"{"productCode":"AGREEMENT_PAYMENT","paymentRequestId":"PAY_20240101_0001""#));
//! assert!(body.contains(r#""paymentAmount":{"currency":"USD","value":"1000"}"#));
//! assert!(body.contains(token.expose_secret())); // the real token goes on the wire...
//! assert!(!format!("{request:?}").contains(token.expose_secret())); // ...but never into logs
//!
//! // Parse what came back.
//! let raw = r#"{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success."},
//!     "paymentRequestId":"PAY_20240101_0001","paymentId":"20240101194010800100188000000001",
//!     "paymentAmount":{"currency":"USD","value":"1000"},
//!     "paymentCreateTime":"2024-01-01T00:00:05+00:00","paymentTime":"2024-01-01T00:00:06+00:00"}"#;
//! let response: <PayRequest as AmsRequest>::Response = serde_json::from_str(raw)?;
//! let response: PayResponse = response;
//! assert!(response.result().is_success());
//! assert_eq!(response.result().code(), &ResultCode::Success);
//! assert_eq!(response.payment_amount, Some(amount));
//! assert_eq!(
//!     response.payment_time.as_ref().map(|t| t.unix_millis()).transpose()?,
//!     Some(1_704_067_206_000)
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
// The README's example runs as a doctest too, so it cannot rot.
#![cfg_attr(doctest, doc = include_str!("../README.md"))]

mod lenient;
mod macros;

pub mod api;
pub mod auth;
pub mod check;
pub mod common;
pub mod customs;
pub mod isv;
pub mod merchants;
pub mod notify;
pub mod notify_extra;
pub mod payments;

pub use api::{
    AmsRequest, AmsResponse, Api, is_sandbox_client_id, is_sandbox_path, request_path, sandbox_path,
};
pub use auth::apply_token::{ApplyTokenRequest, ApplyTokenResponse, GrantType};
pub use auth::consult::{
    AuthCodeForm, AuthMetaData, CodeDetail, CodeValueType, ConsultRequest, ConsultResponse,
    DisplayType, Scope,
};
pub use auth::notify_authorization::{AuthorizationNotifyType, NotifyAuthorization};
pub use auth::revoke::{RevokeRequest, RevokeResponse};
pub use check::{FieldError, Rule, Validate};
pub use common::amount::{Amount, AmountError, AmountErrorKind, MinorUnits};
pub use common::currency::Currency;
pub use common::datetime::{AmsDateTime, DateTimeError, ParsedDateTime};
pub use common::env::{BrowserInfo, Env, OsType, TerminalType};
pub use common::ids::{
    AccessToken, AuthCode, AuthState, PaymentId, PaymentMethodId, PaymentRequestId,
    ReferenceOrderId, ReferenceRefundId, RefreshToken, RefundId, RefundRequestId,
};
pub use common::order::{Address, Buyer, Goods, Merchant, Order, Shipping, Store, UserName};
pub use common::payment_method::PaymentMethod;
pub use common::psp::PspCustomerInfo;
pub use common::quote::{Quote, QuotePrice};
pub use common::result::{AmsResult, ResultCode, ResultStatus};
pub use common::settlement::SettlementStrategy;
pub use common::wallet::CustomerBelongsTo;
pub use customs::declare::{DeclareRequest, DeclareResponse};
pub use customs::inquiry_declaration::{
    DeclarationRecord, InquiryDeclarationRequestsRequest, InquiryDeclarationRequestsResponse,
    MAX_DECLARATION_REQUEST_IDS,
};
pub use customs::model::{
    Certificate, CertificateType, ClearingChannel, CustomsCode, CustomsInfo, CustomsOffice,
    DeclarationRequestId, IdentityCheckResult, MerchantCustomsInfo,
};
pub use isv::{AgentToken, IsvAuthorizationNotification};
pub use merchants::inquiry_registration_info::{
    InquiryRegistrationInfoRequest, InquiryRegistrationInfoResponse,
};
pub use merchants::inquiry_registration_status::{
    InquiryRegistrationStatusRequest, InquiryRegistrationStatusResponse,
};
pub use merchants::model::{
    Attachment, AttachmentType, BusinessType, ContactInfo, ContactType, Logo,
    MerchantRegistrationInfo, PspRegistrationResult, RegistrationDetail, RegistrationRequestId,
    RegistrationResult, RegistrationStatus, RegistrationType, WebSite,
};
pub use merchants::notify_registration_status::{
    NOTIFY_REGISTRATION_STATUS_NAME, NotifyRegistrationStatus,
};
pub use merchants::registration::{RegistrationRequest, RegistrationResponse};
pub use notify::{ACK_FAILURE_BODY, ACK_SUCCESS_BODY, Notification, NotificationAck};
pub use notify_extra::ExtraNotification;
pub use payments::cancel::{CancelRequest, CancelResponse, cancel_deadline_millis};
pub use payments::inquiry_payment::{InquiryPaymentRequest, InquiryPaymentResponse, Transaction};
pub use payments::inquiry_refund::{InquiryRefundRequest, InquiryRefundResponse};
pub use payments::notify_payment::{NotifyPayment, PaymentNotifyType};
pub use payments::notify_refund::{NotifyRefund, RefundNotifyType, RefundStatus};
pub use payments::pay::{PayRequest, PayResponse, ProductCode};
pub use payments::refund::{RefundRequest, RefundResponse};
pub use payments::status::{PaymentStatus, TransactionStatus, TransactionType};
