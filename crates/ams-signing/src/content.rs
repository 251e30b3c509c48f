//! The content to sign: `<METHOD> <URI>\n<client-id>.<time>.<body>`.
//!
//! Requests, responses and notifications are signed over the same layout; only where the fields come
//! from differs (digest §2.1). Every field is used byte for byte: the time is the exact header string,
//! the body the exact bytes on the wire. Never re-serialise JSON before signing or verifying.

use sha2::{Digest, Sha256};

/// The HTTP method every AMS call and notification uses.
pub const METHOD_POST: &str = "POST";

/// The fields a signature covers, borrowed from the message being signed or checked.
///
/// ```
/// use ams_signing::SignedContent;
///
/// let content = SignedContent::request("/ams/api/v1/payments/pay", "5X00000000000000", "1685599933871", b"{}");
/// assert_eq!(content.to_bytes(), b"POST /ams/api/v1/payments/pay\n5X00000000000000.1685599933871.{}");
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SignedContent<'a> {
    method: &'a str,
    uri: &'a str,
    client_id: &'a str,
    time: &'a str,
    body: &'a [u8],
}

impl<'a> SignedContent<'a> {
    /// A request from the merchant to Alipay: the path actually requested (with the
    /// `/ams/sandbox/api` prefix when sandboxed), the `client-id` and `request-time` headers, the body.
    pub fn request(
        path: &'a str,
        client_id: &'a str,
        request_time: &'a str,
        body: &'a [u8],
    ) -> Self {
        Self::new(METHOD_POST, path, client_id, request_time, body)
    }

    /// Alipay's response: the path of the request it answers, the `client-id` and `response-time`
    /// response headers, and the exact response body.
    pub fn response(
        path: &'a str,
        client_id: &'a str,
        response_time: &'a str,
        body: &'a [u8],
    ) -> Self {
        Self::new(METHOD_POST, path, client_id, response_time, body)
    }

    /// A notification from Alipay: the path of the merchant's notify URL (domain excluded), the
    /// notification's `client-id` and `request-time` headers, and its exact body.
    pub fn notification(
        notify_path: &'a str,
        client_id: &'a str,
        request_time: &'a str,
        body: &'a [u8],
    ) -> Self {
        Self::new(METHOD_POST, notify_path, client_id, request_time, body)
    }

    /// Any method; AMS only ever uses `POST`.
    pub fn new(
        method: &'a str,
        uri: &'a str,
        client_id: &'a str,
        time: &'a str,
        body: &'a [u8],
    ) -> Self {
        Self {
            method,
            uri,
            client_id,
            time,
            body,
        }
    }

    /// The HTTP method.
    pub fn method(&self) -> &'a str {
        self.method
    }

    /// The URI: path and query, no scheme or host.
    pub fn uri(&self) -> &'a str {
        self.uri
    }

    /// The client id, exactly as in the header.
    pub fn client_id(&self) -> &'a str {
        self.client_id
    }

    /// The request or response time, exactly as in the header.
    pub fn time(&self) -> &'a str {
        self.time
    }

    /// The body bytes.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The number of bytes [`Self::to_bytes`] produces.
    pub fn len(&self) -> usize {
        self.method.len()
            + 1
            + self.uri.len()
            + 1
            + self.client_id.len()
            + 1
            + self.time.len()
            + 1
            + self.body.len()
    }

    /// Whether the content is empty (it never is: the separators are always there).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The exact bytes that are signed.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        out.extend_from_slice(self.method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.uri.as_bytes());
        out.push(b'\n');
        out.extend_from_slice(self.client_id.as_bytes());
        out.push(b'.');
        out.extend_from_slice(self.time.as_bytes());
        out.push(b'.');
        out.extend_from_slice(self.body);
        out
    }

    /// Lowercase hex SHA-256 of [`Self::to_bytes`]: what a verification error reports, so a merchant
    /// can compare it with the signer's without either side printing the body.
    pub fn sha256_hex(&self) -> String {
        hex(&Sha256::digest(self.to_bytes()))
    }
}

/// The body may hold personal data: `Debug` shows its length and hash, never its bytes.
impl std::fmt::Debug for SignedContent<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedContent")
            .field("method", &self.method)
            .field("uri", &self.uri)
            .field("client_id", &self.client_id)
            .field("time", &self.time)
            .field("body_len", &self.body.len())
            .field("sha256", &self.sha256_hex())
            .finish()
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_exact() {
        let c = SignedContent::response("/p", "c", "t", "é\r\n".as_bytes());
        assert_eq!(c.to_bytes(), "POST /p\nc.t.é\r\n".as_bytes());
        assert_eq!(c.len(), c.to_bytes().len());
    }

    #[test]
    fn debug_hides_the_body() {
        let c = SignedContent::request("/p", "c", "t", b"secret-token-value");
        let shown = format!("{c:?}");
        assert!(!shown.contains("secret-token-value"), "{shown}");
        assert!(shown.contains("body_len: 18"), "{shown}");
    }
}
