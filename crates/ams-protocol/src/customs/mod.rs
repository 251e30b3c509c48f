//! Customs declaration (China customs only, digest §9.3–9.4): `declare` and
//! `inquiryDeclarationRequests`, with their objects and the customs-code table.
//!
//! Their request types implement [`AmsRequest`](crate::AmsRequest) (with the [`Api`](crate::Api)
//! variant and response type) and [`Validate`](crate::Validate), as the core APIs' do.
//!
//! # Example
//!
//! ```
//! use ams_protocol::{
//!     Amount, Currency, CustomsInfo, CustomsOffice, DeclareRequest, DeclareResponse, AmsRequest, Api, request_path,
//!     MerchantCustomsInfo, Rule, Validate,
//! };
//!
//! let request = DeclareRequest::new(
//!     "decl_0001",
//!     "20211117194010800100188180203227785",
//!     Amount::new(Currency::CNY, 100), // CNY 1.00
//!     CustomsInfo::for_office(CustomsOffice::Shanghai),
//!     MerchantCustomsInfo::new("demo_code", "demo_name"),
//! );
//! request.validate()?; // the documented field rules, before sending
//! assert_eq!(
//!     request_path(DeclareRequest::API, "SANDBOX_5X00000000000000"),
//!     "/ams/sandbox/api/v1/customs/declare"
//! );
//! let body = serde_json::to_string(&request)?;
//! assert!(body.contains(r#""customs":{"customsCode":"SHANGHAI_CBT","region":"CN"}"#));
//! assert!(body.contains(r#""splitOrder":false"#)); // always sent, as a JSON boolean
//!
//! // A split order needs its sub-order id; the check names the field.
//! let mut split = request.clone();
//! split.split_order = true;
//! let err = split.validate().unwrap_err();
//! assert_eq!(err.field(), "suborderId");
//! assert_eq!(err.rule(), &Rule::RequiredWhen("splitOrder is true"));
//! assert_eq!(err.to_string(), "suborderId is required when splitOrder is true");
//!
//! // Go, Java, PHP and .NET write `subOrderId` and may send `splitOrder` as a string: both are read.
//! let received: DeclareRequest = serde_json::from_str(
//!     r#"{"declarationRequestId":"decl_0002","paymentId":"2021111719401080010018818020322778",
//!         "declarationAmount":{"currency":"CNY","value":"50"},
//!         "customs":{"customsCode":"ZONGSHU","region":"CN"},
//!         "merchantCustomsInfo":{"merchantCustomsCode":"c","merchantCustomsName":"n"},
//!         "splitOrder":"true","subOrderId":"SUB_1"}"#,
//! )?;
//! assert!(received.split_order);
//! assert_eq!(received.suborder_id.as_deref(), Some("SUB_1"));
//!
//! let response: <DeclareRequest as AmsRequest>::Response = serde_json::from_str(
//!     r#"{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"Success"}}"#,
//! )?;
//! let _: DeclareResponse = response;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod declare;
pub mod inquiry_declaration;
pub mod model;
