//! The documented field rules of the core Auto Debit APIs (digest §3): `consult`, `applyToken`,
//! `revoke`, `pay`, `inquiryPayment`, `cancel`, `refund`, `inquiryRefund`.
//!
//! Only rules that need nothing but the body are here: required and conditional fields, lengths,
//! list sizes, amounts, the form of regions and URLs. Whether an enum value is one this crate knows
//! is not checked: the wire enums are forward compatible, so a caller can send a value Alipay added
//! after this crate was published. A rule that needs the time of receipt (a `pay`'s
//! `paymentExpiryTime` less than a minute after the request) or the receiver's scope (the wallets and
//! terminal types it serves) is the receiver's to check.

use super::{Checked, FieldError, Rule, Validate, optional_max, required, required_max, url};
use crate::auth::apply_token::{ApplyTokenRequest, GrantType};
use crate::auth::consult::ConsultRequest;
use crate::auth::revoke::RevokeRequest;
use crate::common::amount::Amount;
use crate::common::currency::Currency;
use crate::common::env::TerminalType;
use crate::common::ids::{PaymentId, PaymentRequestId};
use crate::common::wallet::CustomerBelongsTo;
use crate::payments::cancel::CancelRequest;
use crate::payments::inquiry_payment::InquiryPaymentRequest;
use crate::payments::inquiry_refund::InquiryRefundRequest;
use crate::payments::pay::PayRequest;
use crate::payments::refund::RefundRequest;

fn optional_url(field: &str, value: Option<&str>, max: usize) -> Checked {
    value.map_or(Ok(()), |v| url(field, v, max))
}

/// A wallet (`customerBelongsTo`, `paymentMethodType`): required, at most 64 characters.
fn wallet(field: &str, value: &CustomerBelongsTo) -> Checked {
    required_max(field, value.as_str(), 64)
}

/// An amount to take or return: more than zero, and in IDR a whole hundred (digest §3.4).
fn amount(field: &'static str, value: &Amount) -> Checked {
    if value.is_zero() {
        return Err(FieldError::new(
            format!("{field}.value"),
            Rule::Invalid("must be greater than 0"),
        ));
    }
    if value.currency == Currency::IDR && !value.minor_units().is_multiple_of(100) {
        return Err(FieldError::new(
            format!("{field}.value"),
            Rule::Invalid("must end in 00 in IDR"),
        ));
    }
    Ok(())
}

/// A region: two uppercase letters (ISO 3166-1 alpha-2).
fn region(field: &str, value: Option<&str>) -> Checked {
    match value {
        Some(v) if v.len() != 2 || !v.bytes().all(|b| b.is_ascii_uppercase()) => Err(
            FieldError::new(field, Rule::Invalid("must be a 2-letter country code")),
        ),
        _ => Ok(()),
    }
}

/// One of two references must be given (`b_name` is the other's, as a one-item list for
/// [`Rule::AtLeastOneOf`]); both are at most 64 characters.
fn one_of(
    a: Option<&str>,
    a_name: &str,
    b: Option<&str>,
    b_name: &'static [&'static str; 1],
) -> Checked {
    if a.is_none_or(|v| v.trim().is_empty()) && b.is_none_or(|v| v.trim().is_empty()) {
        return Err(FieldError::new(a_name, Rule::AtLeastOneOf(b_name)));
    }
    optional_max(a_name, a, 64)?;
    optional_max(b_name[0], b, 64)
}

impl Validate for ConsultRequest {
    fn validate(&self) -> Checked {
        wallet("customerBelongsTo", &self.customer_belongs_to)?;
        optional_max("authClientId", self.auth_client_id.as_deref(), 64)?;
        url("authRedirectUrl", &self.auth_redirect_url, 1024)?;
        if self.scopes.is_empty() {
            return Err(FieldError::new("scopes", Rule::MinItems(1)));
        }
        if self.scopes.len() > 4 {
            return Err(FieldError::new("scopes", Rule::MaxItems(4)));
        }
        required_max("authState", self.auth_state.as_str(), 256)?;
        required("terminalType", self.terminal_type.as_str())?;
        let needs_os = matches!(
            self.terminal_type,
            TerminalType::App | TerminalType::Wap | TerminalType::MiniApp
        );
        if needs_os && self.os_type.is_none() {
            return Err(FieldError::new(
                "osType",
                Rule::RequiredWhen("terminalType is APP, WAP or MINI_APP"),
            ));
        }
        optional_max("osVersion", self.os_version.as_deref(), 16)?;
        region("merchantRegion", self.merchant_region.as_deref())?;
        optional_max("merchantAccountId", self.merchant_account_id.as_deref(), 64)?;
        optional_url("authNotifyUrl", self.auth_notify_url.as_deref(), 2048)
    }
}

impl Validate for ApplyTokenRequest {
    fn validate(&self) -> Checked {
        wallet("customerBelongsTo", &self.customer_belongs_to)?;
        match self.grant_type {
            GrantType::AuthorizationCode => {
                let code = self.auth_code.as_ref().map(|c| c.expose_secret());
                if code.is_none_or(str::is_empty) {
                    return Err(FieldError::new(
                        "authCode",
                        Rule::RequiredWhen("grantType is AUTHORIZATION_CODE"),
                    ));
                }
                optional_max("authCode", code, 128)?;
            }
            GrantType::RefreshToken => {
                let token = self.refresh_token.as_ref().map(|t| t.expose_secret());
                if token.is_none_or(str::is_empty) {
                    return Err(FieldError::new(
                        "refreshToken",
                        Rule::RequiredWhen("grantType is REFRESH_TOKEN"),
                    ));
                }
                optional_max("refreshToken", token, 128)?;
            }
            // A grant type this crate does not know: its rules are the receiver's.
            _ => {}
        }
        region("merchantRegion", self.merchant_region.as_deref())?;
        optional_max("merchantAccountId", self.merchant_account_id.as_deref(), 64)
    }
}

impl Validate for RevokeRequest {
    fn validate(&self) -> Checked {
        required_max("accessToken", self.access_token.expose_secret(), 128)?;
        optional_max("merchantAccountId", self.merchant_account_id.as_deref(), 64)
    }
}

impl Validate for PayRequest {
    fn validate(&self) -> Checked {
        required_max("paymentRequestId", self.payment_request_id.as_str(), 64)?;
        required_max(
            "order.referenceOrderId",
            self.order.reference_order_id.as_str(),
            64,
        )?;
        required_max("order.orderDescription", &self.order.order_description, 256)?;
        amount("order.orderAmount", &self.order.order_amount)?;
        amount("paymentAmount", &self.payment_amount)?;
        wallet(
            "paymentMethod.paymentMethodType",
            &self.payment_method.payment_method_type,
        )?;
        let method_id = self
            .payment_method
            .payment_method_id
            .as_ref()
            .map(|m| m.expose_secret());
        if method_id.is_none_or(str::is_empty) {
            return Err(FieldError::new(
                "paymentMethod.paymentMethodId",
                Rule::Required,
            ));
        }
        optional_max("paymentMethod.paymentMethodId", method_id, 128)?;
        required("env.terminalType", self.env.terminal_type.as_str())?;
        if self.env.terminal_type == TerminalType::MiniApp
            && self.app_id.as_deref().is_none_or(str::is_empty)
        {
            return Err(FieldError::new(
                "appId",
                Rule::RequiredWhen("env.terminalType is MINI_APP"),
            ));
        }
        optional_max("appId", self.app_id.as_deref(), 32)?;
        optional_url("paymentNotifyUrl", self.payment_notify_url.as_deref(), 2048)?;
        optional_max(
            "paymentRedirectUrl",
            self.payment_redirect_url.as_deref(),
            2048,
        )?;
        region("merchantRegion", self.merchant_region.as_deref())?;
        region("userRegion", self.user_region.as_deref())?;
        optional_max("merchantAccountId", self.merchant_account_id.as_deref(), 32)
    }
}

/// `inquiryPayment` and `cancel` name a payment the same way: `paymentId` or `paymentRequestId`.
fn payment_reference(
    payment_id: Option<&PaymentId>,
    payment_request_id: Option<&PaymentRequestId>,
    merchant_account_id: Option<&str>,
) -> Checked {
    one_of(
        payment_id.map(PaymentId::as_str),
        "paymentId",
        payment_request_id.map(PaymentRequestId::as_str),
        &["paymentRequestId"],
    )?;
    optional_max("merchantAccountId", merchant_account_id, 32)
}

impl Validate for InquiryPaymentRequest {
    fn validate(&self) -> Checked {
        payment_reference(
            self.payment_id.as_ref(),
            self.payment_request_id.as_ref(),
            self.merchant_account_id.as_deref(),
        )
    }
}

impl Validate for CancelRequest {
    fn validate(&self) -> Checked {
        payment_reference(
            self.payment_id.as_ref(),
            self.payment_request_id.as_ref(),
            self.merchant_account_id.as_deref(),
        )
    }
}

impl Validate for RefundRequest {
    fn validate(&self) -> Checked {
        required_max("refundRequestId", self.refund_request_id.as_str(), 64)?;
        required_max("paymentId", self.payment_id.as_str(), 64)?;
        optional_max(
            "referenceRefundId",
            self.reference_refund_id.as_ref().map(|i| i.as_str()),
            64,
        )?;
        amount("refundAmount", &self.refund_amount)?;
        optional_max("refundReason", self.refund_reason.as_deref(), 256)?;
        optional_url("refundNotifyUrl", self.refund_notify_url.as_deref(), 1024)
    }
}

impl Validate for InquiryRefundRequest {
    fn validate(&self) -> Checked {
        one_of(
            self.refund_id.as_ref().map(|i| i.as_str()),
            "refundId",
            self.refund_request_id.as_ref().map(|i| i.as_str()),
            &["refundRequestId"],
        )?;
        optional_max("merchantAccountId", self.merchant_account_id.as_deref(), 32)
    }
}
