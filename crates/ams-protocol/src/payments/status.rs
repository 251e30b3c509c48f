//! Status enums of payments and transactions.

use crate::macros::wire_enum;

wire_enum! {
    /// `paymentStatus` of inquiryPayment (returned when its `result` is S).
    pub enum PaymentStatus {
        /// Paid.
        Success = "SUCCESS",
        /// Failed (final).
        Fail = "FAIL",
        /// Still processing.
        Processing = "PROCESSING",
        /// Cancelled.
        Cancelled = "CANCELLED",
        /// Paid, waiting for the final result (added May 2022).
        Pending = "PENDING",
    }
}

wire_enum! {
    /// `transactionStatus` of a transaction record, also the type the SDKs give inquiryRefund's
    /// `refundStatus` (SDK `TransactionStatusType`).
    pub enum TransactionStatus {
        /// Succeeded.
        Success = "SUCCESS",
        /// Failed.
        Fail = "FAIL",
        /// Still processing.
        Processing = "PROCESSING",
        /// Cancelled.
        Cancelled = "CANCELLED",
        /// Waiting for the final result.
        Pending = "PENDING",
    }
}

wire_enum! {
    /// `transactionType` of a transaction record (SDK `TransactionType`).
    pub enum TransactionType {
        /// A payment.
        Payment = "PAYMENT",
        /// A refund.
        Refund = "REFUND",
        /// A capture.
        Capture = "CAPTURE",
        /// A cancellation.
        Cancel = "CANCEL",
        /// An authorization.
        Authorization = "AUTHORIZATION",
        /// A void.
        Void = "VOID",
    }
}
