//! The receiver's own request rules. The documented field rules (required, conditional, lengths,
//! enum values, amounts) are `ams_protocol`'s [`Validate`], shared with the client, which refuses such a
//! request before sending it; what stays here needs the time of receipt or is the sandbox's scope. A
//! violation becomes `PARAM_ILLEGAL` with a message naming the field; the request then changes
//! nothing.

use ams_protocol::{
    AmsRequest, ApplyTokenRequest, ConsultRequest, CustomerBelongsTo, PayRequest, ProductCode,
    TerminalType,
};

use crate::world::{max_expiry_ms, parse_time};

/// A field that breaks the rules, and how.
pub(crate) type Violation = String;

/// The documented field rules of any request.
pub(crate) fn documented<R: AmsRequest>(req: &R) -> Result<(), Violation> {
    req.validate().map_err(|e| e.to_string())
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

fn terminal_type(field: &str, value: &TerminalType) -> Result<(), Violation> {
    if !value.is_known() {
        return Err(format!(
            "{field} {:?} is not WEB, WAP, APP or MINI_APP",
            value.as_str()
        ));
    }
    Ok(())
}

/// `consult`: the documented rules, then the values the sandbox serves (wallets, scopes, terminal
/// and OS types it knows).
pub(crate) fn consult(req: &ConsultRequest) -> Result<(), Violation> {
    documented(req)?;
    wallet("customerBelongsTo", &req.customer_belongs_to)?;
    if let Some(scope) = req.scopes.iter().find(|s| !s.is_known()) {
        return Err(format!("scopes has an unknown value {:?}", scope.as_str()));
    }
    terminal_type("terminalType", &req.terminal_type)?;
    if let Some(os) = req.os_type.as_ref().filter(|os| !os.is_known()) {
        return Err(format!("osType {:?} is not IOS or ANDROID", os.as_str()));
    }
    Ok(())
}

/// `applyToken`: the documented rules, then the wallet and grant type.
pub(crate) fn apply_token(req: &ApplyTokenRequest) -> Result<(), Violation> {
    documented(req)?;
    wallet("customerBelongsTo", &req.customer_belongs_to)?;
    if !req.grant_type.is_known() {
        return Err(format!(
            "grantType {:?} is not AUTHORIZATION_CODE or REFRESH_TOKEN",
            req.grant_type.as_str()
        ));
    }
    Ok(())
}

/// `pay`: the documented rules, then what needs the time of receipt and the sandbox's scope.
pub(crate) fn pay(req: &PayRequest, now_ms: i64) -> Result<(), Violation> {
    if req.product_code != ProductCode::AgreementPayment {
        return Err(format!(
            "productCode {:?}: the sandbox serves Auto Debit (AGREEMENT_PAYMENT) only",
            req.product_code.as_str()
        ));
    }
    documented(req)?;
    wallet(
        "paymentMethod.paymentMethodType",
        &req.payment_method.payment_method_type,
    )?;
    terminal_type("env.terminalType", &req.env.terminal_type)?;
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
    Ok(())
}
