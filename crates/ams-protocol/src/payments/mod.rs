//! Payment APIs used by Auto Debit: pay, inquiryPayment, cancel, refund, inquiryRefund, and the
//! notifyPayment / notifyRefund SPIs.

pub mod cancel;
pub mod inquiry_payment;
pub mod inquiry_refund;
pub mod notify_payment;
pub mod notify_refund;
pub mod pay;
pub mod refund;
pub mod status;
