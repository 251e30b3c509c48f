//! Secondary-merchant registration (digest §9.5–9.8): `registration`, `inquiryRegistrationStatus`,
//! `inquiryRegistrationInfo`, and the `notifyRegistrationStatus` SPI. Deprecated by Alipay for online
//! payments since August 2022; an optional module.
//!
//! These APIs are not yet [`Api`](crate::Api) variants; their request types implement
//! [`Endpoint`](crate::Endpoint) and [`Validate`](crate::Validate).

pub mod inquiry_registration_info;
pub mod inquiry_registration_status;
pub mod model;
pub mod notify_registration_status;
pub mod registration;
