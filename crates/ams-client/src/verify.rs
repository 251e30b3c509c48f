//! Fail-closed verification of a message signed by Alipay (a response, or a notification): the
//! `signature`, `client-id` and time headers must all be present, the client id must be ours, the
//! key version must be one we hold, and the signature must verify over the exact bytes received.

use ams_signing::{KeyVersion, SignatureHeader, SignedContent};
use http::HeaderMap;

use crate::error::VerificationError;
use crate::keys::AlipayPublicKeys;

/// `signature`.
pub(crate) const SIGNATURE: &str = "signature";
/// `client-id`.
pub(crate) const CLIENT_ID: &str = "client-id";
/// `request-time` (requests and notifications).
pub(crate) const REQUEST_TIME: &str = "request-time";
/// `response-time` (responses).
pub(crate) const RESPONSE_TIME: &str = "response-time";

/// Which kind of signed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signed {
    /// Alipay's response to our request: time in `response-time`.
    Response,
    /// Alipay's notification to us: time in `request-time`.
    Notification,
}

/// The header values a verified message carried.
#[derive(Debug)]
pub(crate) struct VerifiedHeaders<'h> {
    pub(crate) time: &'h str,
    pub(crate) key_version: KeyVersion,
}

/// The first value of a header; `Ok(None)` when absent or empty.
fn header<'h>(
    headers: &'h HeaderMap,
    name: &'static str,
) -> Result<Option<&'h str>, VerificationError> {
    match headers.get(name) {
        None => Ok(None),
        Some(value) => {
            let text = value
                .to_str()
                .map_err(|_| VerificationError::InvalidHeaderValue { header: name })?;
            Ok((!text.trim().is_empty()).then_some(text))
        }
    }
}

/// Verifies a signed message. `path` is the request path (responses) or the notify path
/// (notifications); `body` the exact bytes received.
pub(crate) fn verify_signed<'h>(
    kind: Signed,
    headers: &'h HeaderMap,
    path: &str,
    body: &[u8],
    our_client_id: &str,
    keys: &AlipayPublicKeys,
) -> Result<VerifiedHeaders<'h>, VerificationError> {
    let time_header = match kind {
        Signed::Response => RESPONSE_TIME,
        Signed::Notification => REQUEST_TIME,
    };
    let signature = header(headers, SIGNATURE)?.ok_or(VerificationError::Unsigned)?;
    let time = header(headers, time_header)?.ok_or(VerificationError::MissingTime {
        header: time_header,
    })?;
    let client_id = header(headers, CLIENT_ID)?.ok_or(VerificationError::MissingClientId)?;
    if client_id != our_client_id {
        return Err(VerificationError::ClientIdMismatch {
            expected: our_client_id.to_owned(),
            received: client_id.to_owned(),
        });
    }
    let signature: SignatureHeader = signature
        .parse()
        .map_err(VerificationError::MalformedSignatureHeader)?;
    let (key_version, key) = keys.key_for(signature.key_version())?;
    let content = match kind {
        Signed::Response => SignedContent::response(path, client_id, time, body),
        Signed::Notification => SignedContent::notification(path, client_id, time, body),
    };
    key.verify(&content, &signature)
        .map_err(|source| VerificationError::Signature {
            key_version,
            source,
        })?;
    Ok(VerifiedHeaders { time, key_version })
}
