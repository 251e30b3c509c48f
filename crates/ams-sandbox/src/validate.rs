//! Request validation: required fields, lengths, enum values and amounts, per the digest's field
//! tables. A violation becomes `PARAM_ILLEGAL` with a message naming the field; the request then
//! changes nothing.

use ams_protocol::{
    Amount, ApplyTokenRequest, CancelRequest, ConsultRequest, Currency, CustomerBelongsTo,
    GrantType, InquiryPaymentRequest, InquiryRefundRequest, OsType, PayRequest, PaymentId,
    PaymentRequestId, ProductCode, RefundRequest, RevokeRequest, TerminalType,
};

use crate::world::{max_expiry_ms, parse_time};

/// A field that breaks the rules, and how.
pub(crate) type Violation = String;

fn max_len(field: &str, value: &str, max: usize) -> Result<(), Violation> {
    if value.chars().count() > max {
        return Err(format!("{field} is longer than {max} characters"));
    }
    Ok(())
}

fn required(field: &str, value: &str, max: usize) -> Result<(), Violation> {
    if value.trim().is_empty() {
        return Err(format!("{field} is required"));
    }
    max_len(field, value, max)
}

fn optional(field: &str, value: Option<&str>, max: usize) -> Result<(), Violation> {
    value.map_or(Ok(()), |v| max_len(field, v, max))
}

fn url(field: &str, value: &str, max: usize) -> Result<(), Violation> {
    required(field, value, max)?;
    if !(value.starts_with("https://") || value.starts_with("http://")) {
        return Err(format!("{field} must be an http(s) URL"));
    }
    Ok(())
}

fn optional_url(field: &str, value: Option<&str>, max: usize) -> Result<(), Violation> {
    value.map_or(Ok(()), |v| url(field, v, max))
}

fn wallet(field: &str, value: &CustomerBelongsTo) -> Result<(), Violation> {
    if !value.is_known() {
        return Err(format!(
            "{field} {:?} is not a supported payment method",
            value.as_str()
        ));
    }
    Ok(())
}

fn amount(field: &str, value: &Amount) -> Result<(), Violation> {
    if value.is_zero() {
        return Err(format!("{field}.value must be greater than 0"));
    }
    if value.currency == Currency::IDR && !value.minor_units().is_multiple_of(100) {
        return Err(format!("{field}.value in IDR must end in 00"));
    }
    Ok(())
}

fn region(field: &str, value: Option<&str>) -> Result<(), Violation> {
    match value {
        Some(v) if v.len() != 2 || !v.bytes().all(|b| b.is_ascii_uppercase()) => {
            Err(format!("{field} must be a 2-letter country code"))
        }
        _ => Ok(()),
    }
}

pub(crate) fn consult(req: &ConsultRequest) -> Result<(), Violation> {
    wallet("customerBelongsTo", &req.customer_belongs_to)?;
    max_len("customerBelongsTo", req.customer_belongs_to.as_str(), 64)?;
    optional("authClientId", req.auth_client_id.as_deref(), 64)?;
    url("authRedirectUrl", &req.auth_redirect_url, 1024)?;
    if req.scopes.is_empty() || req.scopes.len() > 4 {
        return Err("scopes must hold 1 to 4 values".into());
    }
    if let Some(scope) = req.scopes.iter().find(|s| !s.is_known()) {
        return Err(format!("scopes has an unknown value {:?}", scope.as_str()));
    }
    required("authState", req.auth_state.as_str(), 256)?;
    if !req.terminal_type.is_known() {
        return Err(format!(
            "terminalType {:?} is not WEB, WAP, APP or MINI_APP",
            req.terminal_type.as_str()
        ));
    }
    let needs_os = matches!(
        req.terminal_type,
        TerminalType::App | TerminalType::Wap | TerminalType::MiniApp
    );
    match &req.os_type {
        None if needs_os => {
            return Err("osType is required when terminalType is APP, WAP or MINI_APP".into());
        }
        Some(os) if !os.is_known() => {
            return Err(format!("osType {:?} is not IOS or ANDROID", os.as_str()));
        }
        Some(OsType::Unknown(_)) | Some(_) | None => {}
    }
    optional("osVersion", req.os_version.as_deref(), 16)?;
    region("merchantRegion", req.merchant_region.as_deref())?;
    optional("merchantAccountId", req.merchant_account_id.as_deref(), 64)?;
    optional_url("authNotifyUrl", req.auth_notify_url.as_deref(), 2048)?;
    Ok(())
}

pub(crate) fn apply_token(req: &ApplyTokenRequest) -> Result<(), Violation> {
    wallet("customerBelongsTo", &req.customer_belongs_to)?;
    match req.grant_type {
        GrantType::AuthorizationCode => {
            let code = req
                .auth_code
                .as_ref()
                .map(|c| c.expose_secret())
                .unwrap_or_default();
            if code.is_empty() {
                return Err("authCode is required when grantType is AUTHORIZATION_CODE".into());
            }
            max_len("authCode", code, 128)?;
        }
        GrantType::RefreshToken => {
            let token = req
                .refresh_token
                .as_ref()
                .map(|c| c.expose_secret())
                .unwrap_or_default();
            if token.is_empty() {
                return Err("refreshToken is required when grantType is REFRESH_TOKEN".into());
            }
            max_len("refreshToken", token, 128)?;
        }
        _ => {
            return Err(format!(
                "grantType {:?} is not AUTHORIZATION_CODE or REFRESH_TOKEN",
                req.grant_type.as_str()
            ));
        }
    }
    region("merchantRegion", req.merchant_region.as_deref())?;
    optional("merchantAccountId", req.merchant_account_id.as_deref(), 64)?;
    Ok(())
}

pub(crate) fn revoke(req: &RevokeRequest) -> Result<(), Violation> {
    required("accessToken", req.access_token.expose_secret(), 128)?;
    optional("merchantAccountId", req.merchant_account_id.as_deref(), 64)
}

pub(crate) fn pay(req: &PayRequest, now_ms: i64) -> Result<(), Violation> {
    if req.product_code != ProductCode::AgreementPayment {
        return Err(format!(
            "productCode {:?}: the sandbox serves Auto Debit (AGREEMENT_PAYMENT) only",
            req.product_code.as_str()
        ));
    }
    required("paymentRequestId", req.payment_request_id.as_str(), 64)?;
    required(
        "order.referenceOrderId",
        req.order.reference_order_id.as_str(),
        64,
    )?;
    required("order.orderDescription", &req.order.order_description, 256)?;
    amount("order.orderAmount", &req.order.order_amount)?;
    amount("paymentAmount", &req.payment_amount)?;
    wallet(
        "paymentMethod.paymentMethodType",
        &req.payment_method.payment_method_type,
    )?;
    let method_id = req
        .payment_method
        .payment_method_id
        .as_ref()
        .map(|m| m.expose_secret())
        .unwrap_or_default();
    if method_id.is_empty() {
        return Err("paymentMethod.paymentMethodId (the access token) is required".into());
    }
    max_len("paymentMethod.paymentMethodId", method_id, 128)?;
    if !req.env.terminal_type.is_known() {
        return Err(format!(
            "env.terminalType {:?} is not WEB, WAP, APP or MINI_APP",
            req.env.terminal_type.as_str()
        ));
    }
    if req.env.terminal_type == TerminalType::MiniApp
        && req.app_id.as_deref().is_none_or(str::is_empty)
    {
        return Err("appId is required when env.terminalType is MINI_APP".into());
    }
    optional("appId", req.app_id.as_deref(), 32)?;
    if let Some(expiry) = &req.payment_expiry_time {
        let at = parse_time(expiry).map_err(|e| format!("paymentExpiryTime: {e}"))?;
        // "Can only be set to less than 1 minute" (digest §3.4): a minute exactly is refused.
        if at >= max_expiry_ms(now_ms) {
            return Err(
                "paymentExpiryTime must be less than one minute after the request (Auto Debit)"
                    .into(),
            );
        }
        // A time already past is not illegal: the payment expired before it arrived, and the
        // world answers it ORDER_IS_CLOSED (recorded as failed).
    }
    optional_url("paymentNotifyUrl", req.payment_notify_url.as_deref(), 2048)?;
    optional(
        "paymentRedirectUrl",
        req.payment_redirect_url.as_deref(),
        2048,
    )?;
    region("merchantRegion", req.merchant_region.as_deref())?;
    region("userRegion", req.user_region.as_deref())?;
    optional("merchantAccountId", req.merchant_account_id.as_deref(), 32)?;
    Ok(())
}

fn one_of(a: Option<&str>, a_name: &str, b: Option<&str>, b_name: &str) -> Result<(), Violation> {
    if a.is_none_or(str::is_empty) && b.is_none_or(str::is_empty) {
        return Err(format!("{a_name} or {b_name} is required"));
    }
    optional(a_name, a, 64)?;
    optional(b_name, b, 64)
}

/// inquiryPayment and cancel name a payment the same way: `paymentId` or `paymentRequestId`.
fn payment_reference(
    payment_id: Option<&PaymentId>,
    payment_request_id: Option<&PaymentRequestId>,
    merchant_account_id: Option<&str>,
) -> Result<(), Violation> {
    one_of(
        payment_id.map(PaymentId::as_str),
        "paymentId",
        payment_request_id.map(PaymentRequestId::as_str),
        "paymentRequestId",
    )?;
    optional("merchantAccountId", merchant_account_id, 32)
}

pub(crate) fn inquiry_payment(req: &InquiryPaymentRequest) -> Result<(), Violation> {
    payment_reference(
        req.payment_id.as_ref(),
        req.payment_request_id.as_ref(),
        req.merchant_account_id.as_deref(),
    )
}

pub(crate) fn cancel(req: &CancelRequest) -> Result<(), Violation> {
    payment_reference(
        req.payment_id.as_ref(),
        req.payment_request_id.as_ref(),
        req.merchant_account_id.as_deref(),
    )
}

pub(crate) fn refund(req: &RefundRequest) -> Result<(), Violation> {
    required("refundRequestId", req.refund_request_id.as_str(), 64)?;
    required("paymentId", req.payment_id.as_str(), 64)?;
    optional(
        "referenceRefundId",
        req.reference_refund_id.as_ref().map(|i| i.as_str()),
        64,
    )?;
    amount("refundAmount", &req.refund_amount)?;
    optional("refundReason", req.refund_reason.as_deref(), 256)?;
    optional_url("refundNotifyUrl", req.refund_notify_url.as_deref(), 1024)?;
    Ok(())
}

pub(crate) fn inquiry_refund(req: &InquiryRefundRequest) -> Result<(), Violation> {
    one_of(
        req.refund_id.as_ref().map(|i| i.as_str()),
        "refundId",
        req.refund_request_id.as_ref().map(|i| i.as_str()),
        "refundRequestId",
    )?;
    optional("merchantAccountId", req.merchant_account_id.as_deref(), 32)
}
