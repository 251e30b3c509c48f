//! APIs modelled here but not yet in the [`Api`](crate::Api) catalogue: customs declaration,
//! secondary-merchant registration (protocol digest §9).
//!
//! Until they get `Api` variants, each request type implements [`Endpoint`], which ties it to its
//! production path, its documented name and its response type, and requires the documented field
//! checks ([`Validate`]). [`Endpoint::request_path`] applies the same sandbox rule as
//! [`request_path`](crate::request_path).

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::{AmsResponse, is_sandbox_client_id, sandbox_path};
use crate::check::Validate;

/// A request body of an AMS API that is not (yet) an [`Api`](crate::Api) variant.
pub trait Endpoint: Serialize + DeserializeOwned + Validate {
    /// The response body type.
    type Response: Serialize + DeserializeOwned + AmsResponse;
    /// The production path, e.g. `/ams/api/v1/customs/declare`.
    const PATH: &'static str;
    /// The API's name as the docs write it, e.g. `declare`.
    const NAME: &'static str;

    /// The path to request (and sign) as `client_id`: the sandbox path (`/ams/sandbox/api/…`) when the
    /// client id starts with `SANDBOX_`, the production path otherwise.
    #[must_use]
    fn request_path(client_id: &str) -> String {
        if is_sandbox_client_id(client_id) {
            sandbox_path(Self::PATH)
        } else {
            Self::PATH.to_owned()
        }
    }
}

/// Implements [`AmsResponse`] for a response type and [`Endpoint`] for its request type.
macro_rules! endpoint {
    ($req:ty => $resp:ty, $path:expr, $name:literal) => {
        impl $crate::endpoint::Endpoint for $req {
            type Response = $resp;
            const PATH: &'static str = $path;
            const NAME: &'static str = $name;
        }

        impl $crate::api::AmsResponse for $resp {
            fn result(&self) -> &$crate::common::result::AmsResult {
                &self.result
            }
        }
    };
}

pub(crate) use endpoint;
