//! `pay` — `POST /ams/api/v1/payments/pay` with `productCode=AGREEMENT_PAYMENT`: debit the user with the
//! access token.

use serde::{Deserialize, Serialize};

use crate::api::{Api, ams_api};
use crate::common::amount::Amount;
use crate::common::datetime::AmsDateTime;
use crate::common::env::Env;
use crate::common::ids::{PaymentId, PaymentMethodId, PaymentRequestId};
use crate::common::order::Order;
use crate::common::payment_method::PaymentMethod;
use crate::common::psp::PspCustomerInfo;
use crate::common::quote::Quote;
use crate::common::result::AmsResult;
use crate::common::settlement::SettlementStrategy;
use crate::common::wallet::CustomerBelongsTo;
use crate::macros::{optional_setters, wire_enum};

wire_enum! {
    /// `productCode` (SDK `ProductCodeType`).
    pub enum ProductCode {
        /// Cashier payment (user pays on a checkout page).
        CashierPayment = "CASHIER_PAYMENT",
        /// Agreement payment: Auto Debit / tokenized payment.
        AgreementPayment = "AGREEMENT_PAYMENT",
        /// In-store payment.
        InStorePayment = "IN_STORE_PAYMENT",
    }
}

/// pay request body. Its `Debug` is safe: `paymentMethodId` (the access token) is redacted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PayRequest {
    /// `productCode`: `AGREEMENT_PAYMENT` for Auto Debit.
    pub product_code: ProductCode,
    /// `paymentRequestId` (max 64): the idempotency key; reuse it on every retry.
    pub payment_request_id: PaymentRequestId,
    /// `order`.
    pub order: Order,
    /// `paymentAmount`.
    pub payment_amount: Amount,
    /// `paymentMethod`: wallet + access token.
    pub payment_method: PaymentMethod,
    /// `paymentExpiryTime`: for Auto Debit less than one minute ahead (default: 1 minute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_expiry_time: Option<AmsDateTime>,
    /// `paymentNotifyUrl` (max 2048): overrides the Dashboard setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_notify_url: Option<String>,
    /// `paymentRedirectUrl` (max 2048).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_redirect_url: Option<String>,
    /// `settlementStrategy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settlement_strategy: Option<SettlementStrategy>,
    /// `env` (required since Jan 2022).
    pub env: Env,
    /// `merchantRegion` (2 letters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_region: Option<String>,
    /// `userRegion` (2 letters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_region: Option<String>,
    /// `appId` (max 32): required when `terminalType` is `MINI_APP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    /// `merchantAccountId` (max 32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_account_id: Option<String>,
    /// `extendInfo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extend_info: Option<String>,
    /// `creditPayPlan` (SDK union; other products), kept as raw JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit_pay_plan: Option<serde_json::Value>,
}

impl PayRequest {
    /// A pay request with the required fields, for any product code.
    #[must_use]
    pub fn new(
        product_code: ProductCode,
        payment_request_id: impl Into<PaymentRequestId>,
        order: Order,
        payment_amount: Amount,
        payment_method: PaymentMethod,
        env: Env,
    ) -> Self {
        PayRequest {
            product_code,
            payment_request_id: payment_request_id.into(),
            order,
            payment_amount,
            payment_method,
            payment_expiry_time: None,
            payment_notify_url: None,
            payment_redirect_url: None,
            settlement_strategy: None,
            env,
            merchant_region: None,
            user_region: None,
            app_id: None,
            merchant_account_id: None,
            extend_info: None,
            credit_pay_plan: None,
        }
    }

    /// An Auto Debit payment: `AGREEMENT_PAYMENT` debiting `payment_amount` from `wallet` with the
    /// access token (`paymentMethodId`).
    #[must_use]
    pub fn agreement_payment(
        payment_request_id: impl Into<PaymentRequestId>,
        order: Order,
        payment_amount: Amount,
        wallet: CustomerBelongsTo,
        access_token: impl Into<PaymentMethodId>,
        env: Env,
    ) -> Self {
        PayRequest::new(
            ProductCode::AgreementPayment,
            payment_request_id,
            order,
            payment_amount,
            PaymentMethod::agreement(wallet, access_token),
            env,
        )
    }
}

optional_setters!(PayRequest {
    with_payment_expiry_time => payment_expiry_time: AmsDateTime,
    with_payment_notify_url => payment_notify_url: String,
    with_payment_redirect_url => payment_redirect_url: String,
    with_settlement_strategy => settlement_strategy: SettlementStrategy,
    with_merchant_region => merchant_region: String,
    with_user_region => user_region: String,
    with_app_id => app_id: String,
    with_merchant_account_id => merchant_account_id: String,
    with_extend_info => extend_info: String,
});

/// pay response body.
///
/// `S` + `SUCCESS` = paid; `F` = failed (final); `U` + `PAYMENT_IN_PROCESS` = in progress (wait for
/// notifyPayment or inquire); other `U` = unknown (retry with the same `paymentRequestId`, or inquire).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PayResponse {
    /// `result`.
    pub result: AmsResult,
    /// `paymentRequestId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_request_id: Option<PaymentRequestId>,
    /// `paymentId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<PaymentId>,
    /// `paymentAmount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_amount: Option<Amount>,
    /// `paymentCreateTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_create_time: Option<AmsDateTime>,
    /// `paymentTime`: when the payment succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_time: Option<AmsDateTime>,
    /// `actualPaymentAmount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual_payment_amount: Option<Amount>,
    /// `paymentQuote`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_quote: Option<Quote>,
    /// `pspCustomerInfo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psp_customer_info: Option<PspCustomerInfo>,
    /// `grossSettlementAmount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gross_settlement_amount: Option<Amount>,
    /// `settlementQuote`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settlement_quote: Option<Quote>,
    /// `schemeUrl`: with `PAYMENT_IN_PROCESS` when the wallet needs the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme_url: Option<String>,
    /// `applinkUrl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applink_url: Option<String>,
    /// `normalUrl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normal_url: Option<String>,
    /// `appIdentifier`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_identifier: Option<String>,
    /// `paymentResultInfo` (method-specific), kept as raw JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_result_info: Option<serde_json::Value>,
    /// `extendInfo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extend_info: Option<String>,
}

impl PayResponse {
    /// A response with only `result` (what F/U answers carry).
    #[must_use]
    pub fn new(result: AmsResult) -> Self {
        PayResponse {
            result,
            payment_request_id: None,
            payment_id: None,
            payment_amount: None,
            payment_create_time: None,
            payment_time: None,
            actual_payment_amount: None,
            payment_quote: None,
            psp_customer_info: None,
            gross_settlement_amount: None,
            settlement_quote: None,
            scheme_url: None,
            applink_url: None,
            normal_url: None,
            app_identifier: None,
            payment_result_info: None,
            extend_info: None,
        }
    }
}

optional_setters!(PayResponse {
    with_payment_request_id => payment_request_id: PaymentRequestId,
    with_payment_id => payment_id: PaymentId,
    with_payment_amount => payment_amount: Amount,
    with_payment_create_time => payment_create_time: AmsDateTime,
    with_payment_time => payment_time: AmsDateTime,
    with_psp_customer_info => psp_customer_info: PspCustomerInfo,
    with_normal_url => normal_url: String,
    with_extend_info => extend_info: String,
});

ams_api!(PayRequest => PayResponse, Api::Pay);
