//! A gateway call once admitted: its parsed, validated request, the ids fault rules match on, and
//! the dispatch into the world. The gateway runs a call at once; a held call (a request still in
//! transit) is kept by the world and run when it is released.

use ams_protocol::{
    Api, ApplyTokenRequest, CancelRequest, ConsultRequest, DeclareRequest,
    InquiryDeclarationRequestsRequest, InquiryPaymentRequest, InquiryRefundRequest,
    InquiryRegistrationInfoRequest, InquiryRegistrationStatusRequest, PayRequest, RefundRequest,
    RegistrationRequest, ResultCode, RevokeRequest,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::validate;
use crate::world::World;

/// Parses the body; the error names the offending field by its path (e.g.
/// `paymentAmount.value: amount value "-5" is negative`), as `PARAM_ILLEGAL` must.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    axum::Json::<T>::from_bytes(body)
        .map(|axum::Json(value)| value)
        .map_err(|e| {
            let text = e.body_text();
            let detail = text
                .strip_prefix("Failed to deserialize the JSON body into the target type: ")
                .unwrap_or(&text);
            format!("illegal request body: {detail}")
        })
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| r#"{"result":{"resultCode":"UNKNOWN_EXCEPTION","resultStatus":"U","resultMessage":"serialisation failed"}}"#.to_owned())
}

/// Where the sandbox wallet's pages live, for answers that send the user there: the consent page
/// (`consult`'s `normalUrl`) and the payment page (a [`crate::PaymentMode::NeedsUser`] `pay`'s
/// `normalUrl`). Kept with a held call, so it answers as it would have on arrival.
#[derive(Clone, Debug)]
pub(crate) struct WalletUrls {
    /// The consent page's prefix: `{base}/sandbox/wallet/consent`.
    pub(crate) consent: String,
    /// The payment page's prefix: `{base}/sandbox/wallet/payments`.
    pub(crate) payments: String,
}

impl WalletUrls {
    /// The pages of a sandbox listening at `base_url` (e.g. `http://127.0.0.1:4242`).
    pub(crate) fn new(base_url: &str) -> Self {
        Self {
            consent: format!("{base_url}/sandbox/wallet/consent"),
            payments: format!("{base_url}/sandbox/wallet/payments"),
        }
    }
}

/// A parsed, validated request, ready for the world.
pub(crate) enum Call {
    Consult(Box<ConsultRequest>),
    ApplyToken(ApplyTokenRequest),
    Revoke(RevokeRequest),
    Pay(Box<PayRequest>),
    InquiryPayment(InquiryPaymentRequest),
    Cancel(CancelRequest),
    Refund(RefundRequest),
    InquiryRefund(InquiryRefundRequest),
    Declare(Box<DeclareRequest>),
    InquiryDeclarationRequests(InquiryDeclarationRequestsRequest),
    Registration(Box<RegistrationRequest>),
    InquiryRegistrationStatus(InquiryRegistrationStatusRequest),
    InquiryRegistrationInfo(InquiryRegistrationInfoRequest),
}

impl Call {
    /// Parses and validates a body for `api` at sandbox time `now`; a refusal is the result code
    /// (`PARAM_ILLEGAL`, `NO_INTERFACE_DEF`) and its message.
    pub(crate) fn parse(api: Api, body: &[u8], now: i64) -> Result<Self, (ResultCode, String)> {
        let illegal = |e: String| (ResultCode::ParamIllegal, e);
        Ok(match api {
            Api::Consult => {
                let r: ConsultRequest = parse(body).map_err(illegal)?;
                validate::consult(&r).map_err(illegal)?;
                Call::Consult(Box::new(r))
            }
            Api::ApplyToken => {
                let r: ApplyTokenRequest = parse(body).map_err(illegal)?;
                validate::apply_token(&r).map_err(illegal)?;
                Call::ApplyToken(r)
            }
            Api::Revoke => {
                let r: RevokeRequest = parse(body).map_err(illegal)?;
                validate::documented(&r).map_err(illegal)?;
                Call::Revoke(r)
            }
            Api::Pay => {
                let r: PayRequest = parse(body).map_err(illegal)?;
                validate::pay(&r, now).map_err(illegal)?;
                Call::Pay(Box::new(r))
            }
            Api::InquiryPayment => {
                let r: InquiryPaymentRequest = parse(body).map_err(illegal)?;
                validate::documented(&r).map_err(illegal)?;
                Call::InquiryPayment(r)
            }
            Api::Cancel => {
                let r: CancelRequest = parse(body).map_err(illegal)?;
                validate::documented(&r).map_err(illegal)?;
                Call::Cancel(r)
            }
            Api::Refund => {
                let r: RefundRequest = parse(body).map_err(illegal)?;
                validate::documented(&r).map_err(illegal)?;
                Call::Refund(r)
            }
            Api::InquiryRefund => {
                let r: InquiryRefundRequest = parse(body).map_err(illegal)?;
                validate::documented(&r).map_err(illegal)?;
                Call::InquiryRefund(r)
            }
            Api::Declare => {
                let r: DeclareRequest = parse(body).map_err(illegal)?;
                validate::documented(&r).map_err(illegal)?;
                Call::Declare(Box::new(r))
            }
            Api::InquiryDeclarationRequests => {
                let r: InquiryDeclarationRequestsRequest = parse(body).map_err(illegal)?;
                validate::documented(&r).map_err(illegal)?;
                Call::InquiryDeclarationRequests(r)
            }
            Api::Registration => {
                let r: RegistrationRequest = parse(body).map_err(illegal)?;
                validate::documented(&r).map_err(illegal)?;
                Call::Registration(Box::new(r))
            }
            Api::InquiryRegistrationStatus => {
                let r: InquiryRegistrationStatusRequest = parse(body).map_err(illegal)?;
                validate::documented(&r).map_err(illegal)?;
                Call::InquiryRegistrationStatus(r)
            }
            Api::InquiryRegistrationInfo => {
                let r: InquiryRegistrationInfoRequest = parse(body).map_err(illegal)?;
                validate::documented(&r).map_err(illegal)?;
                Call::InquiryRegistrationInfo(r)
            }
            _ => {
                return Err((
                    ResultCode::NoInterfaceDef,
                    "The API is not defined.".to_owned(),
                ));
            }
        })
    }

    /// The API this call is for.
    pub(crate) fn api(&self) -> Api {
        match self {
            Call::Consult(_) => Api::Consult,
            Call::ApplyToken(_) => Api::ApplyToken,
            Call::Revoke(_) => Api::Revoke,
            Call::Pay(_) => Api::Pay,
            Call::InquiryPayment(_) => Api::InquiryPayment,
            Call::Cancel(_) => Api::Cancel,
            Call::Refund(_) => Api::Refund,
            Call::InquiryRefund(_) => Api::InquiryRefund,
            Call::Declare(_) => Api::Declare,
            Call::InquiryDeclarationRequests(_) => Api::InquiryDeclarationRequests,
            Call::Registration(_) => Api::Registration,
            Call::InquiryRegistrationStatus(_) => Api::InquiryRegistrationStatus,
            Call::InquiryRegistrationInfo(_) => Api::InquiryRegistrationInfo,
        }
    }

    /// The id fault rules match on (for applyToken and revoke a secret: the auth code, refresh
    /// token or access token).
    pub(crate) fn request_id(&self) -> Option<String> {
        match self {
            Call::ApplyToken(r) => r
                .auth_code
                .as_ref()
                .map(|c| c.expose_secret().to_owned())
                .or_else(|| {
                    r.refresh_token
                        .as_ref()
                        .map(|t| t.expose_secret().to_owned())
                }),
            Call::Revoke(r) => Some(r.access_token.expose_secret().to_owned()),
            _ => self.public_id(),
        }
    }

    /// The id that may be shown (the control API's list of held requests): never a code or token.
    pub(crate) fn public_id(&self) -> Option<String> {
        match self {
            Call::Consult(r) => Some(r.auth_state.as_str().to_owned()),
            Call::ApplyToken(_) | Call::Revoke(_) => None,
            Call::Pay(r) => Some(r.payment_request_id.as_str().to_owned()),
            Call::InquiryPayment(r) => r
                .payment_request_id
                .as_ref()
                .map(|i| i.as_str().to_owned())
                .or_else(|| r.payment_id.as_ref().map(|i| i.as_str().to_owned())),
            Call::Cancel(r) => r
                .payment_request_id
                .as_ref()
                .map(|i| i.as_str().to_owned())
                .or_else(|| r.payment_id.as_ref().map(|i| i.as_str().to_owned())),
            Call::Refund(r) => Some(r.refund_request_id.as_str().to_owned()),
            Call::InquiryRefund(r) => r
                .refund_request_id
                .as_ref()
                .map(|i| i.as_str().to_owned())
                .or_else(|| r.refund_id.as_ref().map(|i| i.as_str().to_owned())),
            Call::Declare(r) => Some(r.declaration_request_id.as_str().to_owned()),
            Call::InquiryDeclarationRequests(r) => Some(
                r.declaration_request_ids
                    .iter()
                    .map(|i| i.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            Call::Registration(r) => Some(r.registration_request_id.as_str().to_owned()),
            Call::InquiryRegistrationStatus(r) => r
                .registration_request_id
                .as_ref()
                .map(|i| i.as_str().to_owned())
                .or_else(|| r.reference_merchant_id.clone())
                .or_else(|| r.reference_store_id.clone()),
            Call::InquiryRegistrationInfo(r) => Some(r.reference_merchant_id.clone()),
        }
    }

    /// Runs the call against the world at sandbox time `now` and returns the response body.
    /// What was due by `now` happens first ([`World::sweep`]: expiries, customs' receipts, ended
    /// registration reviews), so the call sees the world as of `now`.
    pub(crate) fn apply(
        &self,
        world: &mut World,
        client_id: &str,
        wallet: &WalletUrls,
        now: i64,
    ) -> String {
        world.sweep(now);
        match self {
            Call::Consult(r) => to_json(&world.consult(client_id, r, &wallet.consent, now)),
            Call::ApplyToken(r) => to_json(&world.apply_token(client_id, r, now)),
            Call::Revoke(r) => to_json(&world.revoke(client_id, r, now)),
            Call::Pay(r) => to_json(&world.pay(client_id, r, &wallet.payments, now)),
            Call::InquiryPayment(r) => to_json(&world.inquiry_payment(client_id, r)),
            Call::Cancel(r) => to_json(&world.cancel(client_id, r, now)),
            Call::Refund(r) => to_json(&world.refund(client_id, r, now)),
            Call::InquiryRefund(r) => to_json(&world.inquiry_refund(client_id, r)),
            Call::Declare(r) => to_json(&world.declare(client_id, r, now)),
            Call::InquiryDeclarationRequests(r) => {
                to_json(&world.inquiry_declarations(client_id, r))
            }
            Call::Registration(r) => to_json(&world.register(client_id, r, now)),
            Call::InquiryRegistrationStatus(r) => {
                to_json(&world.inquiry_registration_status(client_id, r))
            }
            Call::InquiryRegistrationInfo(r) => {
                to_json(&world.inquiry_registration_info(client_id, r))
            }
        }
    }
}
