//! Signing per the [Standard Webhooks](https://www.standardwebhooks.com) specification, so a
//! merchant's receiver verifies what this server sends with any of that specification's libraries:
//!
//! - `webhook-id`: the message's id (the event's `evt_…`, the same in every retry, so a receiver
//!   deduplicates by it);
//! - `webhook-timestamp`: seconds since the Unix epoch;
//! - `webhook-signature`: `v1,<base64 of HMAC-SHA256 over "id.timestamp.body">`, one per secret,
//!   separated by spaces, so two secrets can be valid at once during a rotation.
//!
//! Secrets are written `whsec_<base64 of the key bytes>`; their `Debug` never shows the key.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// The prefix of a secret's text.
pub const SECRET_PREFIX: &str = "whsec_";

/// A signing secret.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

/// Why a secret's text was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    /// Not `whsec_…`.
    #[error("a webhook secret starts with `whsec_`")]
    Prefix,
    /// Not base64 after the prefix.
    #[error("a webhook secret is `whsec_` and base64 (standard alphabet, padded)")]
    Base64,
    /// Too short or too long.
    #[error("a webhook secret holds 24 to 64 bytes, not {0}")]
    Length(usize),
}

impl WebhookSecret {
    /// A new random secret of 32 bytes.
    ///
    /// # Errors
    /// The system's random source failed.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut key = vec![0u8; 32];
        getrandom::fill(&mut key)?;
        Ok(Self(key))
    }

    /// The secret as the merchant configures it: `whsec_…`. Shown once, when it is made.
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.0))
    }

    /// `v1,<base64 signature>` of `id.timestamp.body` with this secret.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.0);
        let mut context = hmac::Context::with_key(&key);
        context.update(id.as_bytes());
        context.update(b".");
        context.update(timestamp.to_string().as_bytes());
        context.update(b".");
        context.update(body);
        format!("v1,{}", STANDARD.encode(context.sign().as_ref()))
    }
}

impl FromStr for WebhookSecret {
    type Err = SecretError;

    fn from_str(text: &str) -> Result<Self, SecretError> {
        let encoded = text
            .trim()
            .strip_prefix(SECRET_PREFIX)
            .ok_or(SecretError::Prefix)?;
        let key = STANDARD.decode(encoded).map_err(|_| SecretError::Base64)?;
        if !(24..=64).contains(&key.len()) {
            return Err(SecretError::Length(key.len()));
        }
        Ok(Self(key))
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

/// The three headers of one delivery, signed with every secret in `secrets` (the newest first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedHeaders {
    /// `webhook-id`.
    pub id: String,
    /// `webhook-timestamp`.
    pub timestamp: String,
    /// `webhook-signature`.
    pub signature: String,
}

impl SignedHeaders {
    /// Signs `body` as message `id` sent at `timestamp` (Unix seconds).
    pub fn new(secrets: &[WebhookSecret], id: &str, timestamp: i64, body: &[u8]) -> Self {
        let signature = secrets
            .iter()
            .map(|s| s.sign(id, timestamp, body))
            .collect::<Vec<_>>()
            .join(" ");
        Self {
            id: id.to_owned(),
            timestamp: timestamp.to_string(),
            signature,
        }
    }

    /// As `(name, value)` pairs.
    pub fn pairs(&self) -> [(&'static str, &str); 3] {
        [
            ("webhook-id", self.id.as_str()),
            ("webhook-timestamp", self.timestamp.as_str()),
            ("webhook-signature", self.signature.as_str()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specifications_example_signs_as_published() {
        // The example of the Standard Webhooks reference implementations' tests.
        let secret: WebhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse().unwrap();
        assert_eq!(
            secret.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_are_checked_and_never_shown() {
        assert_eq!(
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse::<WebhookSecret>(),
            Err(SecretError::Prefix)
        );
        assert_eq!(
            "whsec_not base64!".parse::<WebhookSecret>(),
            Err(SecretError::Base64)
        );
        assert_eq!(
            "whsec_AAAA".parse::<WebhookSecret>(),
            Err(SecretError::Length(3))
        );
        let secret = WebhookSecret::generate().unwrap();
        let text = secret.expose();
        assert_eq!(text.parse::<WebhookSecret>().unwrap(), secret, "round trip");
        assert!(!format!("{secret:?}").contains(&text[SECRET_PREFIX.len()..]));
        assert_ne!(WebhookSecret::generate().unwrap(), secret);
    }

    #[test]
    fn two_secrets_sign_twice() {
        let (a, b) = (
            WebhookSecret::generate().unwrap(),
            WebhookSecret::generate().unwrap(),
        );
        let headers = SignedHeaders::new(&[a.clone(), b.clone()], "evt_1", 10, b"{}");
        assert_eq!(
            headers.signature,
            format!(
                "{} {}",
                a.sign("evt_1", 10, b"{}"),
                b.sign("evt_1", 10, b"{}")
            )
        );
        assert_ne!(
            a.sign("evt_1", 10, b"{}"),
            a.sign("evt_1", 11, b"{}"),
            "the time is signed"
        );
        assert_ne!(
            a.sign("evt_1", 10, b"{}"),
            a.sign("evt_2", 10, b"{}"),
            "the id is signed"
        );
    }
}
