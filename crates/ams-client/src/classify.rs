//! Classifying transport failures: *not sent* or *maybe sent*.
//!
//! The rule is conservative. A failure is "not sent" only when the connection to the gateway was
//! never established — the host did not resolve, the connection was refused or unreachable, the
//! connect timeout fired, or the TLS handshake failed — because only then can no byte of the request
//! have reached Alipay. Every other failure, including any connect-phase error whose cause cannot be
//! identified, is "maybe sent".
//!
//! The decision itself ([`classify`]) is a pure function over [`TransportFacts`], so it is unit
//! tested without a network; [`TransportFacts::of`] reads the facts off a reqwest error.

use std::error::Error as StdError;
use std::io;

use crate::error::{MaybeSentKind, NotSentKind};

/// When in the call the failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Connecting, writing the request, or waiting for the response head.
    Send,
    /// Reading the response body (the response head had arrived).
    ReadBody,
}

/// What is known about a transport failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TransportFacts {
    pub(crate) phase: Phase,
    /// The request could not be built (reqwest `is_builder`).
    pub(crate) builder: bool,
    /// The failure came from the connector (TCP connect, TLS handshake, proxy tunnel).
    pub(crate) connect: bool,
    /// Name resolution failed.
    pub(crate) dns: bool,
    /// A timeout fired.
    pub(crate) timeout: bool,
    /// Every `io::ErrorKind` found along the source chain.
    pub(crate) io_kinds: Vec<io::ErrorKind>,
    /// The chain says the connection was closed before the answer was complete (hyper's
    /// `IncompleteMessage`, recognised by its message since hyper's types are not ours to name).
    /// Only refines the label: such a failure is "maybe sent" either way.
    pub(crate) closed_early: bool,
}

/// The verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Classified {
    NotSent(NotSentKind),
    MaybeSent(MaybeSentKind),
}

impl TransportFacts {
    /// Reads the facts off a reqwest error.
    pub(crate) fn of(error: &reqwest::Error, phase: Phase) -> Self {
        let mut io_kinds = Vec::new();
        let mut closed_early = false;
        let mut source: Option<&(dyn StdError + 'static)> = error.source();
        while let Some(err) = source {
            if let Some(io) = err.downcast_ref::<io::Error>() {
                io_kinds.push(io.kind());
            }
            closed_early |= err
                .to_string()
                .contains("connection closed before message completed");
            source = err.source();
        }
        Self {
            phase,
            builder: error.is_builder(),
            connect: error.is_connect(),
            dns: error.is_dns(),
            timeout: error.is_timeout(),
            io_kinds,
            closed_early,
        }
    }

    fn has(&self, kinds: &[io::ErrorKind]) -> bool {
        self.io_kinds.iter().any(|k| kinds.contains(k))
    }
}

/// Not sent only when the connection provably never existed; maybe sent otherwise.
pub(crate) fn classify(facts: &TransportFacts) -> Classified {
    use io::ErrorKind as K;
    if facts.builder {
        return Classified::NotSent(NotSentKind::InvalidRequest);
    }
    if facts.phase == Phase::ReadBody {
        return Classified::MaybeSent(if facts.timeout {
            MaybeSentKind::Timeout
        } else {
            MaybeSentKind::IncompleteResponse
        });
    }
    if facts.connect {
        if facts.dns {
            return Classified::NotSent(NotSentKind::Dns);
        }
        if facts.has(&[K::ConnectionRefused]) {
            return Classified::NotSent(NotSentKind::ConnectionRefused);
        }
        if facts.has(&[
            K::NetworkUnreachable,
            K::HostUnreachable,
            K::AddrNotAvailable,
            K::NetworkDown,
        ]) {
            return Classified::NotSent(NotSentKind::Unreachable);
        }
        if facts.timeout {
            return Classified::NotSent(NotSentKind::ConnectTimeout);
        }
        // rustls reports handshake failures (bad certificate, protocol) as InvalidData.
        if facts.has(&[K::InvalidData]) {
            return Classified::NotSent(NotSentKind::Tls);
        }
        return Classified::MaybeSent(MaybeSentKind::Transport);
    }
    if facts.timeout {
        return Classified::MaybeSent(MaybeSentKind::Timeout);
    }
    if facts.closed_early
        || facts.has(&[
            K::ConnectionReset,
            K::ConnectionAborted,
            K::BrokenPipe,
            K::UnexpectedEof,
        ])
    {
        return Classified::MaybeSent(MaybeSentKind::ConnectionClosed);
    }
    Classified::MaybeSent(MaybeSentKind::Transport)
}

#[cfg(test)]
mod tests {
    use super::*;
    use io::ErrorKind as K;

    fn facts(phase: Phase) -> TransportFacts {
        TransportFacts {
            phase,
            builder: false,
            connect: false,
            dns: false,
            timeout: false,
            io_kinds: Vec::new(),
            closed_early: false,
        }
    }

    fn connect_with(kinds: &[K]) -> TransportFacts {
        TransportFacts {
            connect: true,
            io_kinds: kinds.to_vec(),
            ..facts(Phase::Send)
        }
    }

    #[test]
    fn never_connected_is_not_sent() {
        let dns = TransportFacts {
            dns: true,
            ..connect_with(&[])
        };
        assert_eq!(classify(&dns), Classified::NotSent(NotSentKind::Dns));
        assert_eq!(
            classify(&connect_with(&[K::ConnectionRefused])),
            Classified::NotSent(NotSentKind::ConnectionRefused)
        );
        assert_eq!(
            classify(&connect_with(&[K::Other, K::HostUnreachable])),
            Classified::NotSent(NotSentKind::Unreachable)
        );
        let connect_timeout = TransportFacts {
            timeout: true,
            ..connect_with(&[K::TimedOut])
        };
        assert_eq!(
            classify(&connect_timeout),
            Classified::NotSent(NotSentKind::ConnectTimeout)
        );
        assert_eq!(
            classify(&connect_with(&[K::InvalidData])),
            Classified::NotSent(NotSentKind::Tls)
        );
        let builder = TransportFacts {
            builder: true,
            ..facts(Phase::Send)
        };
        assert_eq!(
            classify(&builder),
            Classified::NotSent(NotSentKind::InvalidRequest)
        );
    }

    #[test]
    fn unidentified_connect_errors_are_maybe_sent() {
        assert_eq!(
            classify(&connect_with(&[])),
            Classified::MaybeSent(MaybeSentKind::Transport)
        );
        assert_eq!(
            classify(&connect_with(&[K::Other])),
            Classified::MaybeSent(MaybeSentKind::Transport)
        );
    }

    #[test]
    fn after_connecting_is_maybe_sent() {
        let total_timeout = TransportFacts {
            timeout: true,
            ..facts(Phase::Send)
        };
        assert_eq!(
            classify(&total_timeout),
            Classified::MaybeSent(MaybeSentKind::Timeout)
        );
        for kind in [
            K::ConnectionReset,
            K::ConnectionAborted,
            K::BrokenPipe,
            K::UnexpectedEof,
        ] {
            let reset = TransportFacts {
                io_kinds: vec![kind],
                ..facts(Phase::Send)
            };
            assert_eq!(
                classify(&reset),
                Classified::MaybeSent(MaybeSentKind::ConnectionClosed),
                "{kind:?}"
            );
        }
        // A refused-looking io error outside the connector is not trusted.
        let odd = TransportFacts {
            io_kinds: vec![K::ConnectionRefused],
            ..facts(Phase::Send)
        };
        assert_eq!(
            classify(&odd),
            Classified::MaybeSent(MaybeSentKind::Transport)
        );
        assert_eq!(
            classify(&facts(Phase::Send)),
            Classified::MaybeSent(MaybeSentKind::Transport)
        );
        let closed = TransportFacts {
            closed_early: true,
            ..facts(Phase::Send)
        };
        assert_eq!(
            classify(&closed),
            Classified::MaybeSent(MaybeSentKind::ConnectionClosed)
        );
    }

    #[test]
    fn body_errors_are_maybe_sent() {
        assert_eq!(
            classify(&facts(Phase::ReadBody)),
            Classified::MaybeSent(MaybeSentKind::IncompleteResponse)
        );
        let slow = TransportFacts {
            timeout: true,
            ..facts(Phase::ReadBody)
        };
        assert_eq!(
            classify(&slow),
            Classified::MaybeSent(MaybeSentKind::Timeout)
        );
        // Even a connect-looking error while reading the body: the request was answered.
        let weird = TransportFacts {
            connect: true,
            io_kinds: vec![K::ConnectionRefused],
            ..facts(Phase::ReadBody)
        };
        assert_eq!(
            classify(&weird),
            Classified::MaybeSent(MaybeSentKind::IncompleteResponse)
        );
    }
}
