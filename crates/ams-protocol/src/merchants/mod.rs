//! Secondary-merchant registration (digest §9.5–9.8): `registration`, `inquiryRegistrationStatus`,
//! `inquiryRegistrationInfo`, and the `notifyRegistrationStatus` SPI. Deprecated by Alipay for online
//! payments since August 2022; an optional module.
//!
//! Their request types implement [`AmsRequest`](crate::AmsRequest) (with the [`Api`](crate::Api)
//! variant and response type) and [`Validate`](crate::Validate), as the core APIs' do.

pub mod inquiry_registration_info;
pub mod inquiry_registration_status;
pub mod model;
pub mod notify_registration_status;
pub mod registration;
