//! Where requests go: Alipay's regional gateways (digest §1.1), or any origin URL.
//!
//! Sandbox and production share the hosts; only the path differs, and that follows the client id
//! (`SANDBOX_…` → `/ams/sandbox/api/…`, see [`ams_protocol::request_path`]). A custom gateway is an
//! origin only (scheme, host, port): the path is always the AMS path, because it is part of what is
//! signed. Plain `http://` is refused unless the host is a loopback address, which is what a local
//! sandbox needs; TLS is otherwise mandatory and always verified.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::error::BuildError;

/// An AMS gateway.
#[derive(Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Gateway {
    /// North America, `https://open-na.alipay.com`.
    NorthAmerica,
    /// North America, accelerated (recommended), `https://open-na-global.alipay.com`.
    NorthAmericaAccelerated,
    /// Asia, `https://open-sea.alipay.com`.
    Asia,
    /// Asia, accelerated (recommended), `https://open-sea-global.alipay.com`.
    AsiaAccelerated,
    /// Europe, `https://open-de-global.alipay.com` (the normal European host, `open-eu`, serves
    /// in-store payments only; use [`Gateway::url`] for it).
    Europe,
    /// The North American host for US merchants, `https://open.antglobal-us.com`.
    UsMerchants,
    /// Any other origin, validated by [`Gateway::url`].
    Custom(CustomGateway),
}

/// A validated origin (`scheme://host[:port]`), built by [`Gateway::url`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CustomGateway {
    origin: String,
    loopback: bool,
}

impl Gateway {
    /// A gateway at any origin, e.g. `https://open-sea-global.alipay.com` or a local sandbox at
    /// `http://127.0.0.1:8080`.
    ///
    /// # Errors
    ///
    /// [`BuildError::InvalidGateway`] when the text is not an absolute `http`/`https` URL, or carries a
    /// path, query, fragment or credentials; [`BuildError::InsecureGateway`] for a plain `http://` URL
    /// whose host is not loopback (127.0.0.0/8, `::1`, `localhost`).
    ///
    /// ```
    /// use ams_client::Gateway;
    ///
    /// assert!(Gateway::url("https://open-sea-global.alipay.com").is_ok());
    /// assert!(Gateway::url("http://127.0.0.1:8080").is_ok());
    /// let refused = Gateway::url("http://open-sea-global.alipay.com").unwrap_err();
    /// assert!(refused.to_string().contains("loopback"));
    /// ```
    pub fn url(url: &str) -> Result<Gateway, BuildError> {
        let invalid = |reason: &str| BuildError::InvalidGateway {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let parsed = reqwest::Url::parse(url.trim()).map_err(|e| invalid(&e.to_string()))?;
        let scheme = parsed.scheme();
        if scheme != "https" && scheme != "http" {
            return Err(invalid(
                "the scheme must be https (or http for a loopback host)",
            ));
        }
        let Some(host) = parsed.host_str() else {
            return Err(invalid("the URL has no host"));
        };
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(invalid("the URL must not carry credentials"));
        }
        if parsed.path() != "/" && !parsed.path().is_empty() {
            return Err(invalid(
                "the gateway is an origin only (scheme, host, port): the AMS path is part of the \
                 signed content and is always /ams/api/... or /ams/sandbox/api/...",
            ));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(invalid("the URL must not have a query or fragment"));
        }
        let loopback = is_loopback_host(host);
        if scheme == "http" && !loopback {
            return Err(BuildError::InsecureGateway {
                url: url.to_owned(),
            });
        }
        let origin = match parsed.port() {
            Some(port) => format!("{scheme}://{host}:{port}"),
            None => format!("{scheme}://{host}"),
        };
        Ok(Gateway::Custom(CustomGateway { origin, loopback }))
    }

    /// The origin requests are sent to, e.g. `https://open-sea-global.alipay.com`.
    #[must_use]
    pub fn origin(&self) -> &str {
        match self {
            Gateway::NorthAmerica => "https://open-na.alipay.com",
            Gateway::NorthAmericaAccelerated => "https://open-na-global.alipay.com",
            Gateway::Asia => "https://open-sea.alipay.com",
            Gateway::AsiaAccelerated => "https://open-sea-global.alipay.com",
            Gateway::Europe => "https://open-de-global.alipay.com",
            Gateway::UsMerchants => "https://open.antglobal-us.com",
            Gateway::Custom(custom) => &custom.origin,
        }
    }

    /// `true` for a custom gateway on a loopback host (a local sandbox).
    #[must_use]
    pub fn is_loopback(&self) -> bool {
        matches!(self, Gateway::Custom(custom) if custom.loopback)
    }
}

impl fmt::Debug for Gateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Gateway::NorthAmerica => "NorthAmerica",
            Gateway::NorthAmericaAccelerated => "NorthAmericaAccelerated",
            Gateway::Asia => "Asia",
            Gateway::AsiaAccelerated => "AsiaAccelerated",
            Gateway::Europe => "Europe",
            Gateway::UsMerchants => "UsMerchants",
            Gateway::Custom(_) => "Custom",
        };
        write!(f, "{name}({})", self.origin())
    }
}

impl fmt::Debug for CustomGateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin)
    }
}

impl fmt::Display for Gateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.origin())
    }
}

/// `localhost`, 127.0.0.0/8 or `::1` (the host as `Url::host_str` writes it: IPv6 in brackets).
pub(crate) fn is_loopback_host(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback());
    }
    host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_regions_are_the_documented_hosts() {
        assert_eq!(
            Gateway::AsiaAccelerated.origin(),
            "https://open-sea-global.alipay.com"
        );
        assert_eq!(
            Gateway::NorthAmericaAccelerated.to_string(),
            "https://open-na-global.alipay.com"
        );
        assert!(!Gateway::Europe.is_loopback());
        assert_eq!(
            format!("{:?}", Gateway::UsMerchants),
            "UsMerchants(https://open.antglobal-us.com)"
        );
    }

    #[test]
    fn loopback_hosts() {
        for host in ["localhost", "LOCALHOST", "127.0.0.1", "127.1.2.3", "[::1]"] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "example.com",
            "128.0.0.1",
            "[::2]",
            "localhost.example",
            "10.0.0.1",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn custom_urls() {
        let g = Gateway::url("http://127.0.0.1:8080/").unwrap();
        assert_eq!(g.origin(), "http://127.0.0.1:8080");
        assert!(g.is_loopback());
        assert_eq!(
            Gateway::url("http://[::1]:9").unwrap().origin(),
            "http://[::1]:9"
        );
        assert_eq!(
            Gateway::url("http://localhost:1").unwrap().origin(),
            "http://localhost:1"
        );
        assert_eq!(
            Gateway::url("https://open-eu.alipay.com").unwrap().origin(),
            "https://open-eu.alipay.com"
        );
        // The default port is dropped by the URL parser.
        assert_eq!(
            Gateway::url("https://open-eu.alipay.com:443")
                .unwrap()
                .origin(),
            "https://open-eu.alipay.com"
        );

        let insecure = Gateway::url("http://open-sea-global.alipay.com").unwrap_err();
        assert!(matches!(insecure, BuildError::InsecureGateway { .. }));
        let text = insecure.to_string();
        assert!(
            text.contains("loopback") && text.contains("https"),
            "{text}"
        );

        for bad in [
            "open-sea-global.alipay.com",
            "ftp://127.0.0.1",
            "https://open-sea-global.alipay.com/ams/api",
            "https://user:pw@open-sea-global.alipay.com",
            "https://open-sea-global.alipay.com/?x=1",
            "https://open-sea-global.alipay.com/#f",
        ] {
            assert!(
                matches!(Gateway::url(bad), Err(BuildError::InvalidGateway { .. })),
                "{bad}"
            );
        }
    }
}
