//! Builders for the replies a test scripts for the [`super::ScriptedGateway`].

use ams_protocol::{
    AccessToken, Amount, AmsDateTime, AmsResult, ApplyTokenResponse, CancelResponse,
    ConsultResponse, DeclarationRecord, DeclarationRequestId, DeclareResponse,
    InquiryDeclarationRequestsResponse, InquiryPaymentResponse, InquiryRefundResponse,
    InquiryRegistrationStatusResponse, PayResponse, PaymentStatus, PspRegistrationResult,
    RefreshToken, RefundResponse, RegistrationResponse, RegistrationResult, RegistrationStatus,
    ResultCode, ResultStatus, RevokeResponse, TransactionStatus,
};

use crate::model::Millis;
use crate::ports::Reply;

/// A `result` with this status and code.
pub fn result(status: ResultStatus, code: &str) -> AmsResult {
    AmsResult::new(ResultCode::from(code), status, code)
}

/// No answer: a timeout or a lost connection after sending.
pub fn lost<T>() -> Reply<T> {
    Reply::Unknown {
        response: None,
        detail: "no answer (scripted)".into(),
    }
}

/// The request surely did not leave.
pub fn not_sent<T>() -> Reply<T> {
    Reply::NotSent {
        detail: "connection refused (scripted)".into(),
    }
}

fn datetime(ms: Millis) -> AmsDateTime {
    AmsDateTime::from_unix_millis(ms, 8 * 60)
        .unwrap_or_else(|_| AmsDateTime::new("2024-01-01T00:00:00+08:00"))
}

/// `pay` S (the gateway double echoes the request's `paymentRequestId`).
pub fn pay_success(payment_id: &str, amount: Amount) -> Reply<PayResponse> {
    Reply::Success(
        PayResponse::new(AmsResult::success())
            .with_payment_id(payment_id)
            .with_payment_amount(amount),
    )
}

/// `pay` S naming this `paymentRequestId` (an answer to another request, when it differs).
pub fn pay_success_for(
    payment_request_id: &str,
    payment_id: &str,
    amount: Amount,
) -> Reply<PayResponse> {
    Reply::Success(
        PayResponse::new(AmsResult::success())
            .with_payment_request_id(payment_request_id)
            .with_payment_id(payment_id)
            .with_payment_amount(amount),
    )
}

/// `pay` F with this code.
pub fn pay_failed(code: &str) -> Reply<PayResponse> {
    Reply::Failed(PayResponse::new(result(ResultStatus::F, code)))
}

/// `pay` U with this code (e.g. `PAYMENT_IN_PROCESS`).
pub fn pay_unknown(code: &str) -> Reply<PayResponse> {
    Reply::Unknown {
        response: Some(PayResponse::new(result(ResultStatus::U, code))),
        detail: "Alipay answered U".into(),
    }
}

/// `inquiryPayment` S carrying this payment status.
pub fn inquiry(
    status: PaymentStatus,
    payment_id: &str,
    amount: Amount,
) -> Reply<InquiryPaymentResponse> {
    Reply::Success(
        InquiryPaymentResponse::new(AmsResult::success())
            .with_payment_status(status)
            .with_payment_id(payment_id)
            .with_payment_amount(amount),
    )
}

/// `inquiryPayment` F (e.g. `ORDER_NOT_EXIST`).
pub fn inquiry_failed(code: &str) -> Reply<InquiryPaymentResponse> {
    Reply::Failed(InquiryPaymentResponse::new(result(ResultStatus::F, code)))
}

/// `inquiryPayment` U.
pub fn inquiry_unknown() -> Reply<InquiryPaymentResponse> {
    Reply::Unknown {
        response: Some(InquiryPaymentResponse::new(result(
            ResultStatus::U,
            "UNKNOWN_EXCEPTION",
        ))),
        detail: "Alipay answered U".into(),
    }
}

/// `cancel` S.
pub fn cancel_success() -> Reply<CancelResponse> {
    Reply::Success(CancelResponse::new(AmsResult::success()))
}

/// `cancel` F with this code (e.g. `CANCEL_WINDOW_EXCEED`).
pub fn cancel_failed(code: &str) -> Reply<CancelResponse> {
    Reply::Failed(CancelResponse::new(result(ResultStatus::F, code)))
}

/// `cancel` U.
pub fn cancel_unknown() -> Reply<CancelResponse> {
    Reply::Unknown {
        response: Some(CancelResponse::new(result(
            ResultStatus::U,
            "UNKNOWN_EXCEPTION",
        ))),
        detail: "Alipay answered U".into(),
    }
}

/// `refund` S (the gateway double echoes the request's `refundRequestId`).
pub fn refund_success(refund_id: &str, amount: Amount) -> Reply<RefundResponse> {
    Reply::Success(
        RefundResponse::new(AmsResult::success())
            .with_refund_id(refund_id)
            .with_refund_amount(amount),
    )
}

/// `refund` S naming this `refundRequestId`.
pub fn refund_success_for(
    refund_request_id: &str,
    refund_id: &str,
    amount: Amount,
) -> Reply<RefundResponse> {
    Reply::Success(
        RefundResponse::new(AmsResult::success())
            .with_refund_request_id(refund_request_id)
            .with_refund_id(refund_id)
            .with_refund_amount(amount),
    )
}

/// `refund` F with this code.
pub fn refund_failed(code: &str) -> Reply<RefundResponse> {
    Reply::Failed(RefundResponse::new(result(ResultStatus::F, code)))
}

/// `refund` U.
pub fn refund_unknown() -> Reply<RefundResponse> {
    Reply::Unknown {
        response: Some(RefundResponse::new(result(
            ResultStatus::U,
            "UNKNOWN_EXCEPTION",
        ))),
        detail: "Alipay answered U".into(),
    }
}

/// `inquiryRefund` S carrying this refund status.
pub fn inquiry_refund(status: TransactionStatus, refund_id: &str) -> Reply<InquiryRefundResponse> {
    Reply::Success(
        InquiryRefundResponse::new(AmsResult::success())
            .with_refund_status(status)
            .with_refund_id(refund_id),
    )
}

/// `consult` S with this URL as `normalUrl`.
pub fn consult_success(url: &str) -> Reply<ConsultResponse> {
    Reply::Success(ConsultResponse::new(AmsResult::success()).with_normal_url(url))
}

/// `consult` F.
pub fn consult_failed(code: &str) -> Reply<ConsultResponse> {
    Reply::Failed(ConsultResponse::new(result(ResultStatus::F, code)))
}

/// `applyToken` S with these tokens and expiry times.
pub fn token(
    access: &str,
    access_expires_at: Millis,
    refresh: Option<(&str, Millis)>,
) -> Reply<ApplyTokenResponse> {
    let mut response = ApplyTokenResponse::new(AmsResult::success())
        .with_access_token(AccessToken::new(access))
        .with_access_token_expiry_time(datetime(access_expires_at))
        .with_user_login_id("a***@example.com");
    if let Some((token, expires)) = refresh {
        response = response
            .with_refresh_token(RefreshToken::new(token))
            .with_refresh_token_expiry_time(datetime(expires));
    }
    Reply::Success(response)
}

/// `applyToken` F with this code.
pub fn token_failed(code: &str) -> Reply<ApplyTokenResponse> {
    Reply::Failed(ApplyTokenResponse::new(result(ResultStatus::F, code)))
}

/// `revoke` S.
pub fn revoke_success() -> Reply<RevokeResponse> {
    Reply::Success(RevokeResponse::new(AmsResult::success()))
}

/// `consult` S for Scan to Bind: only an `authCodeForm` with this QR value, no URL.
pub fn consult_qr(code_value: &str) -> Reply<ConsultResponse> {
    use ams_protocol::{AuthCodeForm, CodeDetail, CodeValueType, DisplayType};
    let mut response = ConsultResponse::new(AmsResult::success());
    response.auth_code_form = Some(AuthCodeForm::new(vec![CodeDetail::new(
        code_value,
        CodeValueType::Qrcode,
        DisplayType::BigImage,
    )]));
    Reply::Success(response)
}

/// `inquiryRefund` F (e.g. `ORDER_NOT_EXIST`: Alipay has no such refund).
pub fn inquiry_refund_failed(code: &str) -> Reply<InquiryRefundResponse> {
    Reply::Failed(InquiryRefundResponse::new(result(ResultStatus::F, code)))
}

/// `declare` S with customs' payment and order numbers.
pub fn declare_success(customs_payment_id: &str) -> Reply<DeclareResponse> {
    Reply::Success(
        DeclareResponse::new(AmsResult::success())
            .with_customs_payment_id(customs_payment_id)
            .with_customs_order_id(format!("order-{customs_payment_id}")),
    )
}

/// `declare` F with this code.
pub fn declare_failed(code: &str) -> Reply<DeclareResponse> {
    Reply::Failed(DeclareResponse::new(result(ResultStatus::F, code)))
}

/// `declare` U.
pub fn declare_unknown() -> Reply<DeclareResponse> {
    Reply::Unknown {
        response: Some(DeclareResponse::new(result(
            ResultStatus::U,
            "UNKNOWN_EXCEPTION",
        ))),
        detail: "Alipay answered U".into(),
    }
}

/// `inquiryDeclarationRequests` S with one record for `id`: customs still processing (`None`) or
/// answered with this result code.
pub fn declaration_record(
    id: &DeclarationRequestId,
    customs_code: Option<&str>,
) -> Reply<InquiryDeclarationRequestsResponse> {
    let record = DeclarationRecord::new(id.clone());
    let record = match customs_code {
        None => record.with_declaration_request_status("PROCESSING"),
        Some(code) => record
            .with_declaration_request_status("SUCCESS")
            .with_customs_declaration_result_code(code)
            .with_customs_declaration_return_time(datetime(0)),
    };
    Reply::Success(
        InquiryDeclarationRequestsResponse::new(AmsResult::success())
            .with_declaration_records(vec![record]),
    )
}

/// `registration` S (accepted; the review follows).
pub fn registration_accepted() -> Reply<RegistrationResponse> {
    Reply::Success(RegistrationResponse::new(AmsResult::success()))
}

/// `registration` F with this code.
pub fn registration_failed(code: &str) -> Reply<RegistrationResponse> {
    Reply::Failed(RegistrationResponse::new(result(ResultStatus::F, code)))
}

/// `registration` U.
pub fn registration_unknown() -> Reply<RegistrationResponse> {
    Reply::Unknown {
        response: Some(RegistrationResponse::new(result(
            ResultStatus::U,
            "UNKNOWN_EXCEPTION",
        ))),
        detail: "Alipay answered U".into(),
    }
}

/// `inquiryRegistrationStatus` S: the overall status, and each wallet's (`(pspName, status)`).
pub fn registration_status(
    overall: RegistrationStatus,
    wallets: &[(&str, RegistrationStatus)],
) -> Reply<InquiryRegistrationStatusResponse> {
    let mut response = InquiryRegistrationStatusResponse::new(AmsResult::success())
        .with_registration_result(RegistrationResult::new(overall));
    if !wallets.is_empty() {
        response = response.with_psp_registration_result_list(
            wallets
                .iter()
                .map(|(name, status)| {
                    PspRegistrationResult::new(*name, RegistrationResult::new(status.clone()))
                })
                .collect::<Vec<_>>(),
        );
    }
    Reply::Success(response)
}
