//! The PostgreSQL transport rule (security review M2): a connection that leaves the machine must
//! verify the server's certificate.
//!
//! sqlx's default `sslmode` is `prefer`: TLS if the server offers it, without checking who the
//! server is, and plaintext if it does not, so anyone on the path can read and change the traffic
//! (sealed tokens, but also every state change and the access-token blind index). At open, before
//! any connection is made, a PostgreSQL address that is not loopback (`127.0.0.0/8`, `::1`,
//! `localhost`) and not a Unix socket is refused unless its `sslmode` is `verify-full` or
//! `verify-ca`, or unless [`crate::StoreOptions::allow_unverified_tls`] says otherwise.
//!
//! The rule reads the options as sqlx will use them, so a host or mode given by `host=`,
//! `hostaddr=` or `sslmode=` in the URL, or by `PGHOST`/`PGHOSTADDR`/`PGSSLMODE`, counts.

use std::net::IpAddr;

use sqlx::postgres::{PgConnectOptions, PgSslMode};

/// How a PostgreSQL connection is made, as far as the rule is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transport<'a> {
    /// A Unix-domain socket (TLS does not apply).
    Socket,
    /// TCP to this host name or address.
    Tcp(&'a str),
}

/// The transport `options` describe.
pub(crate) fn transport(options: &PgConnectOptions) -> Transport<'_> {
    let host = options.get_host();
    if options.get_socket().is_some() || host.starts_with('/') {
        Transport::Socket
    } else {
        Transport::Tcp(host)
    }
}

/// `sslmode`'s name, as a URL spells it.
pub(crate) fn mode_name(mode: PgSslMode) -> &'static str {
    match mode {
        PgSslMode::Disable => "disable",
        PgSslMode::Allow => "allow",
        PgSslMode::Prefer => "prefer",
        PgSslMode::Require => "require",
        PgSslMode::VerifyCa => "verify-ca",
        PgSslMode::VerifyFull => "verify-full",
    }
}

/// The effective mode, for [`crate::Diagnostics`]: the `sslmode` name, or `unix-socket` when TLS
/// does not apply.
pub(crate) fn effective(options: &PgConnectOptions) -> String {
    match transport(options) {
        Transport::Socket => "unix-socket".to_owned(),
        Transport::Tcp(_) => mode_name(options.get_ssl_mode()).to_owned(),
    }
}

/// Whether `host` is this machine: `localhost`, or a loopback address (IPv4 `127.0.0.0/8`, IPv6
/// `::1`, and `::ffff:127.x.y.z`), with or without the brackets a URL puts around IPv6.
pub(crate) fn is_loopback(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    match bare.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_loopback(),
        Ok(IpAddr::V6(v6)) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => false,
    }
}

/// The rule: `Err` with what to do when `transport` leaves the machine without a verified
/// certificate and `allow_unverified` is off.
pub(crate) fn check(
    transport: Transport<'_>,
    mode: PgSslMode,
    allow_unverified: bool,
) -> Result<(), String> {
    let host = match transport {
        Transport::Socket => return Ok(()),
        Transport::Tcp(host) if is_loopback(host) => return Ok(()),
        Transport::Tcp(host) => host,
    };
    if matches!(mode, PgSslMode::VerifyFull | PgSslMode::VerifyCa) || allow_unverified {
        return Ok(());
    }
    Err(format!(
        "PostgreSQL at {host} is not on this machine, and sslmode={} does not verify the \
         server's certificate (the connection can be read or changed on the way, or fall back to \
         plaintext): add `sslmode=verify-full` to the database URL (and `sslrootcert=FILE` when \
         the server's certificate comes from a private CA), or, knowing the risk, open with \
         StoreOptions::allow_unverified_tls(true)",
        mode_name(mode)
    ))
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn rule(url: &str, allow: bool) -> Result<(), String> {
        let options = PgConnectOptions::from_str(url).expect("a URL");
        check(transport(&options), options.get_ssl_mode(), allow)
    }

    #[test]
    fn loopback_names_and_addresses() {
        for host in [
            "localhost",
            "LOCALHOST",
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "[::1]",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "db.internal",
            "10.0.0.5",
            "128.0.0.1",
            "::2",
            "[2001:db8::1]",
            "localhost.example.com",
            "127.0.0.1.nip.io",
            "",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn a_remote_server_needs_a_verified_certificate() {
        for url in [
            "postgres://app@db.internal/autodebit",
            "postgres://app@db.internal/autodebit?sslmode=prefer",
            "postgres://app@db.internal/autodebit?sslmode=require",
            "postgres://app@db.internal/autodebit?sslmode=disable",
            "postgresql://app@10.1.2.3:6432/autodebit?sslmode=allow",
            "postgres://app@[2001:db8::1]/autodebit?sslmode=require",
            // A host given as a parameter counts like one in the authority.
            "postgres://app@localhost/autodebit?host=db.internal",
            "postgres:///autodebit?hostaddr=10.0.0.7&sslmode=require",
        ] {
            let err = rule(url, false).expect_err(url);
            assert!(err.contains("sslmode=verify-full"), "{url}: {err}");
            assert!(err.contains("sslrootcert=FILE"), "{url}: {err}");
            assert!(
                err.contains("StoreOptions::allow_unverified_tls(true)"),
                "{url}: {err}"
            );
            assert!(!err.contains("app@"), "{url}: no credentials in {err}");
            assert_eq!(rule(url, true), Ok(()), "{url}: the opt-out");
        }
        for url in [
            "postgres://app@db.internal/autodebit?sslmode=verify-full",
            "postgres://app@db.internal/autodebit?sslmode=verify-ca&sslrootcert=/etc/ca.pem",
            "postgres://app:pw@10.1.2.3/autodebit?sslmode=verify-full",
        ] {
            assert_eq!(rule(url, false), Ok(()), "{url}");
        }
    }

    #[test]
    fn this_machine_needs_no_certificate() {
        for url in [
            "postgres://postgres@127.0.0.1:5432/test",
            "postgres://postgres@localhost/test?sslmode=disable",
            "postgres://postgres@[::1]:5432/test",
            "postgres://postgres@127.0.0.2/test?sslmode=prefer",
            // Unix sockets: in the authority (percent-encoded) or as a parameter.
            "postgres://%2Fvar%2Frun%2Fpostgresql/test",
            "postgres:///test?host=/var/run/postgresql",
        ] {
            assert_eq!(rule(url, false), Ok(()), "{url}");
        }
        let socket =
            PgConnectOptions::from_str("postgres:///test?host=/var/run/postgresql").unwrap();
        assert_eq!(effective(&socket), "unix-socket");
        let remote =
            PgConnectOptions::from_str("postgres://db.internal/x?sslmode=verify-full").unwrap();
        assert_eq!(effective(&remote), "verify-full");
    }
}
