//! The API catalogue: each request type is tied to its [`Api`] (path) and its response type through
//! [`AmsRequest`]; the SDKs' sandbox path rule is [`request_path`].

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::check::Validate;
use crate::common::result::AmsResult;

/// Production path prefix of every AMS API.
pub const PRODUCTION_PREFIX: &str = "/ams/api";
/// Sandbox path prefix (same hosts, different path).
pub const SANDBOX_PREFIX: &str = "/ams/sandbox/api";
/// Client ids starting with this prefix are sandbox clients.
pub const SANDBOX_CLIENT_ID_PREFIX: &str = "SANDBOX_";

/// The APIs this crate models: Auto Debit's core (authorization and agreement payment) and the rest
/// of its API table (customs declaration, secondary-merchant registration; digest §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Api {
    /// `authorizations/consult`: get the authorization URL.
    Consult,
    /// `authorizations/applyToken`: exchange an auth code (or refresh token) for an access token.
    ApplyToken,
    /// `authorizations/revoke`: invalidate an access token.
    Revoke,
    /// `payments/pay` with `AGREEMENT_PAYMENT`.
    Pay,
    /// `payments/inquiryPayment`.
    InquiryPayment,
    /// `payments/cancel`.
    Cancel,
    /// `payments/refund`.
    Refund,
    /// `payments/inquiryRefund`.
    InquiryRefund,
    /// `customs/declare`: send a paid payment to Chinese customs (China only).
    Declare,
    /// `customs/inquiryDeclarationRequests`: the customs outcome of up to 10 declarations.
    InquiryDeclarationRequests,
    /// `merchants/registration`: register a secondary merchant (deprecated by Alipay for online
    /// payments since August 2022).
    Registration,
    /// `merchants/inquiryRegistrationStatus`: a registration's status, overall and per wallet.
    InquiryRegistrationStatus,
    /// `merchants/inquiryRegistrationInfo`: the merchant information last registered.
    InquiryRegistrationInfo,
}

impl Api {
    /// Every API, in the digest's order (the core eight, then §9's five).
    pub const ALL: [Api; 13] = [
        Api::Consult,
        Api::ApplyToken,
        Api::Revoke,
        Api::Pay,
        Api::InquiryPayment,
        Api::Cancel,
        Api::Refund,
        Api::InquiryRefund,
        Api::Declare,
        Api::InquiryDeclarationRequests,
        Api::Registration,
        Api::InquiryRegistrationStatus,
        Api::InquiryRegistrationInfo,
    ];

    /// The core Auto Debit APIs: authorization and agreement payment (digest §3).
    pub const CORE: [Api; 8] = [
        Api::Consult,
        Api::ApplyToken,
        Api::Revoke,
        Api::Pay,
        Api::InquiryPayment,
        Api::Cancel,
        Api::Refund,
        Api::InquiryRefund,
    ];

    /// The production path, e.g. `/ams/api/v1/payments/pay`.
    #[must_use]
    pub const fn path(self) -> &'static str {
        match self {
            Api::Consult => "/ams/api/v1/authorizations/consult",
            Api::ApplyToken => "/ams/api/v1/authorizations/applyToken",
            Api::Revoke => "/ams/api/v1/authorizations/revoke",
            Api::Pay => "/ams/api/v1/payments/pay",
            Api::InquiryPayment => "/ams/api/v1/payments/inquiryPayment",
            Api::Cancel => "/ams/api/v1/payments/cancel",
            Api::Refund => "/ams/api/v1/payments/refund",
            Api::InquiryRefund => "/ams/api/v1/payments/inquiryRefund",
            Api::Declare => "/ams/api/v1/customs/declare",
            Api::InquiryDeclarationRequests => "/ams/api/v1/customs/inquiryDeclarationRequests",
            Api::Registration => "/ams/api/v1/merchants/registration",
            Api::InquiryRegistrationStatus => "/ams/api/v1/merchants/inquiryRegistrationStatus",
            Api::InquiryRegistrationInfo => "/ams/api/v1/merchants/inquiryRegistrationInfo",
        }
    }

    /// The sandbox path, e.g. `/ams/sandbox/api/v1/payments/pay`.
    #[must_use]
    pub fn sandbox_path(self) -> String {
        sandbox_path(self.path())
    }

    /// The API's name as the docs write it (`consult`, `applyToken`, `inquiryPayment`, ...).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Api::Consult => "consult",
            Api::ApplyToken => "applyToken",
            Api::Revoke => "revoke",
            Api::Pay => "pay",
            Api::InquiryPayment => "inquiryPayment",
            Api::Cancel => "cancel",
            Api::Refund => "refund",
            Api::InquiryRefund => "inquiryRefund",
            Api::Declare => "declare",
            Api::InquiryDeclarationRequests => "inquiryDeclarationRequests",
            Api::Registration => "registration",
            Api::InquiryRegistrationStatus => "inquiryRegistrationStatus",
            Api::InquiryRegistrationInfo => "inquiryRegistrationInfo",
        }
    }

    /// Recognises a request path, production (`/ams/api/v1/...`) or sandbox (`/ams/sandbox/api/v1/...`).
    /// The match is exact: no query string, no trailing slash.
    #[must_use]
    pub fn from_path(path: &str) -> Option<Api> {
        let rest = path
            .strip_prefix(SANDBOX_PREFIX)
            .or_else(|| path.strip_prefix(PRODUCTION_PREFIX))?;
        Api::ALL
            .into_iter()
            .find(|api| api.path().strip_prefix(PRODUCTION_PREFIX) == Some(rest))
    }
}

impl fmt::Display for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `true` when `client_id` designates a sandbox client (starts with `SANDBOX_`).
#[must_use]
pub fn is_sandbox_client_id(client_id: &str) -> bool {
    client_id.starts_with(SANDBOX_CLIENT_ID_PREFIX)
}

/// `true` when `path` is a sandbox path (starts with `/ams/sandbox/api`).
#[must_use]
pub fn is_sandbox_path(path: &str) -> bool {
    path.starts_with(SANDBOX_PREFIX)
}

/// The SDKs' sandbox rewrite: replaces the **first** occurrence of `/ams/api` with `/ams/sandbox/api`
/// (Java `replaceFirst`; .NET replaces all occurrences, which differs only for odd paths).
#[must_use]
pub fn sandbox_path(path: &str) -> String {
    path.replacen(PRODUCTION_PREFIX, SANDBOX_PREFIX, 1)
}

/// The path to request (and sign) for `api` as `client_id`: the sandbox path when the client id starts
/// with `SANDBOX_`, the production path otherwise.
///
/// ```
/// use ams_protocol::{Api, request_path};
///
/// assert_eq!(request_path(Api::Pay, "5X00000000000000"), "/ams/api/v1/payments/pay");
/// assert_eq!(request_path(Api::Pay, "SANDBOX_5X00000000000000"), "/ams/sandbox/api/v1/payments/pay");
/// ```
#[must_use]
pub fn request_path(api: Api, client_id: &str) -> String {
    if is_sandbox_client_id(client_id) {
        sandbox_path(api.path())
    } else {
        api.path().to_owned()
    }
}

/// A request body of one AMS API: knows its [`Api`] (hence path), its response type and its documented
/// field rules ([`Validate`]), so a client can refuse a bad request before sending it and a simulator
/// can check the same rules on receipt.
///
/// A transport crate can offer one generic `execute<R: AmsRequest>(&R) -> R::Response`.
pub trait AmsRequest: Serialize + Validate {
    /// The response body type.
    type Response: DeserializeOwned + AmsResponse;
    /// The API this request calls.
    const API: Api;
}

/// A response body: always carries a `result`.
pub trait AmsResponse {
    /// The `result` object.
    fn result(&self) -> &AmsResult;
}

/// Implements [`AmsRequest`] and [`AmsResponse`] for a request/response pair.
macro_rules! ams_api {
    ($req:ty => $resp:ty, $api:expr) => {
        impl $crate::api::AmsRequest for $req {
            type Response = $resp;
            const API: $crate::api::Api = $api;
        }

        impl $crate::api::AmsResponse for $resp {
            fn result(&self) -> &$crate::common::result::AmsResult {
                &self.result
            }
        }
    };
}

pub(crate) use ams_api;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_the_production_paths() {
        let paths: Vec<_> = Api::ALL.iter().map(|a| a.path()).collect();
        assert_eq!(
            paths,
            [
                "/ams/api/v1/authorizations/consult",
                "/ams/api/v1/authorizations/applyToken",
                "/ams/api/v1/authorizations/revoke",
                "/ams/api/v1/payments/pay",
                "/ams/api/v1/payments/inquiryPayment",
                "/ams/api/v1/payments/cancel",
                "/ams/api/v1/payments/refund",
                "/ams/api/v1/payments/inquiryRefund",
                "/ams/api/v1/customs/declare",
                "/ams/api/v1/customs/inquiryDeclarationRequests",
                "/ams/api/v1/merchants/registration",
                "/ams/api/v1/merchants/inquiryRegistrationStatus",
                "/ams/api/v1/merchants/inquiryRegistrationInfo",
            ]
        );
        assert!(Api::CORE.iter().all(|api| Api::ALL.contains(api)));
        for api in Api::ALL {
            assert!(api.path().ends_with(api.name()), "{api}");
        }
    }

    #[test]
    fn from_path_accepts_both_prefixes() {
        for api in Api::ALL {
            assert_eq!(Api::from_path(api.path()), Some(api));
            assert_eq!(Api::from_path(&api.sandbox_path()), Some(api));
            assert!(is_sandbox_path(&api.sandbox_path()));
            assert!(!is_sandbox_path(api.path()));
        }
        assert_eq!(
            Api::from_path("/ams/sandbox/api/v1/authorizations/consult"),
            Some(Api::Consult)
        );
        for bad in [
            "",
            "/",
            "/ams/api",
            "/ams/api/v1/payments/capture",
            "/ams/api/v1/payments/pay/",
            "/ams/api/v1/payments/pay?x=1",
            "/ams/api/v2/payments/pay",
            "/ams/api/v1/payments/Pay",
            "ams/api/v1/payments/pay",
            "/ams/sandbox/sandbox/api/v1/payments/pay",
            "/ams/sandbox/api/ams/api/v1/payments/pay",
            "https://open-sea-global.alipay.com/ams/api/v1/payments/pay",
        ] {
            assert_eq!(Api::from_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn sandbox_rule_follows_the_client_id_prefix() {
        assert_eq!(
            request_path(Api::Consult, "SANDBOX_5X00000000000000"),
            "/ams/sandbox/api/v1/authorizations/consult"
        );
        assert_eq!(
            request_path(Api::Consult, "5X00000000000000"),
            "/ams/api/v1/authorizations/consult"
        );
        // Only a prefix counts, and it is case-sensitive.
        assert_eq!(request_path(Api::Pay, "X_SANDBOX_1"), Api::Pay.path());
        assert_eq!(request_path(Api::Pay, "sandbox_1"), Api::Pay.path());
        assert_eq!(request_path(Api::Pay, "SANDBOX"), Api::Pay.path());
        assert!(is_sandbox_client_id("SANDBOX_"));
        // Only the first occurrence is replaced.
        assert_eq!(
            sandbox_path("/ams/api/v1/x/ams/api"),
            "/ams/sandbox/api/v1/x/ams/api"
        );
        assert_eq!(sandbox_path("/other"), "/other");
    }
}
