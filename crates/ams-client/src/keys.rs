//! Key material the client holds: Alipay's public keys by key version, and the ISV agent token.
//!
//! The merchant's private key is an [`ams_signing::PrivateKey`] (its `Debug` shows only the public
//! fingerprint); it is kept together with its key version in an [`ams_signing::Signer`].

use std::collections::BTreeMap;
use std::fmt;

use ams_signing::{KeyVersion, PublicKey};

use crate::error::VerificationError;

/// Alipay's public keys, by key version: several may be active at once so that Alipay can rotate its
/// key without downtime.
///
/// A response or notification is verified with the key whose version its `Signature` header names.
/// When the header names none, the **default** key is used: the first key given, unless
/// [`with_default`](Self::with_default) says otherwise. A version that is not configured is a
/// verification failure ([`VerificationError::UnknownKeyVersion`]) naming the versions known.
///
/// ```
/// use ams_client::AlipayPublicKeys;
/// use ams_signing::{KeyVersion, PublicKey};
///
/// # let pem = include_str!("../../../testdata/ams-vectors/alipay_sim_public_spki.pem");
/// # let other = include_str!("../../../testdata/ams-vectors/merchant_public_spki.pem");
/// let keys = AlipayPublicKeys::new(KeyVersion::new(1), PublicKey::from_text(pem)?)
///     .with(KeyVersion::new(2), PublicKey::from_text(other)?);
/// assert_eq!(keys.versions().collect::<Vec<_>>(), [KeyVersion::new(1), KeyVersion::new(2)]);
/// assert_eq!(keys.default_version(), KeyVersion::new(1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AlipayPublicKeys {
    keys: BTreeMap<KeyVersion, PublicKey>,
    default: KeyVersion,
}

impl AlipayPublicKeys {
    /// One key, under `version`; it is also the default.
    #[must_use]
    pub fn new(version: KeyVersion, key: PublicKey) -> Self {
        let mut keys = BTreeMap::new();
        keys.insert(version, key);
        Self {
            keys,
            default: version,
        }
    }

    /// One key under version 1 (every SDK's default key version).
    #[must_use]
    pub fn single(key: PublicKey) -> Self {
        Self::new(KeyVersion::DEFAULT, key)
    }

    /// Adds (or replaces) the key for `version`.
    #[must_use]
    pub fn with(mut self, version: KeyVersion, key: PublicKey) -> Self {
        self.keys.insert(version, key);
        self
    }

    /// Makes `version` the key used when a header names no version. Ignored if `version` has no key.
    #[must_use]
    pub fn with_default(mut self, version: KeyVersion) -> Self {
        if self.keys.contains_key(&version) {
            self.default = version;
        }
        self
    }

    /// The configured versions, ascending.
    pub fn versions(&self) -> impl Iterator<Item = KeyVersion> + '_ {
        self.keys.keys().copied()
    }

    /// The version used when a header names none.
    #[must_use]
    pub fn default_version(&self) -> KeyVersion {
        self.default
    }

    /// The key for a header's key version (`None`: the header named none → the default key).
    ///
    /// # Errors
    ///
    /// [`VerificationError::UnknownKeyVersion`] when no key has that version.
    pub fn key_for(
        &self,
        version: Option<KeyVersion>,
    ) -> Result<(KeyVersion, &PublicKey), VerificationError> {
        let version = version.unwrap_or(self.default);
        self.keys
            .get(&version)
            .map(|key| (version, key))
            .ok_or_else(|| VerificationError::UnknownKeyVersion {
                received: version,
                known: self.versions().collect(),
            })
    }
}

impl fmt::Debug for AlipayPublicKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (version, key) in &self.keys {
            map.entry(&version.get(), &key.fingerprint());
        }
        map.finish()?;
        write!(f, " (default keyVersion {})", self.default)
    }
}

/// The ISV `agent-token` (Dashboard-generated, up to 128 characters). A secret: `Debug` is redacted,
/// there is no `Display`, and it is sent only in the `agent-token` header.
#[derive(Clone)]
pub struct AgentToken(String);

impl AgentToken {
    /// Wraps a token.
    #[must_use]
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token itself.
    ///
    /// **Security:** never log or display the returned value.
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AgentToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "AgentToken(<redacted; {} chars>)",
            self.0.chars().count()
        )
    }
}

impl From<String> for AgentToken {
    fn from(token: String) -> Self {
        Self(token)
    }
}

impl From<&str> for AgentToken {
    fn from(token: &str) -> Self {
        Self(token.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALIPAY_PEM: &str =
        include_str!("../../../testdata/ams-vectors/alipay_sim_public_spki.pem");
    const OTHER_PEM: &str = include_str!("../../../testdata/ams-vectors/merchant_public_spki.pem");

    #[test]
    fn lookup_by_version_and_default() {
        let a = PublicKey::from_text(ALIPAY_PEM).unwrap();
        let b = PublicKey::from_text(OTHER_PEM).unwrap();
        let a_fp = a.fingerprint().to_owned();
        let b_fp = b.fingerprint().to_owned();
        let keys = AlipayPublicKeys::new(KeyVersion::new(3), a).with(KeyVersion::new(4), b);
        assert_eq!(keys.key_for(None).unwrap().1.fingerprint(), a_fp);
        assert_eq!(
            keys.key_for(Some(KeyVersion::new(4)))
                .unwrap()
                .1
                .fingerprint(),
            b_fp
        );
        let keys = keys
            .with_default(KeyVersion::new(4))
            .with_default(KeyVersion::new(9));
        assert_eq!(keys.default_version(), KeyVersion::new(4));
        assert_eq!(keys.key_for(None).unwrap().0, KeyVersion::new(4));
        let err = keys.key_for(Some(KeyVersion::new(1))).unwrap_err();
        assert_eq!(
            err,
            VerificationError::UnknownKeyVersion {
                received: KeyVersion::new(1),
                known: vec![KeyVersion::new(3), KeyVersion::new(4)],
            }
        );
        let text = err.to_string();
        assert!(
            text.contains("keyVersion 1") && text.contains("3, 4"),
            "{text}"
        );
        let debug = format!("{keys:?}");
        assert!(
            debug.contains(&a_fp) && debug.contains("default keyVersion 4"),
            "{debug}"
        );
    }

    #[test]
    fn agent_token_is_redacted() {
        let token = AgentToken::new("agent-secret-value");
        assert_eq!(format!("{token:?}"), "AgentToken(<redacted; 18 chars>)");
        assert_eq!(token.expose_secret(), "agent-secret-value");
    }
}
