//! Secrets at rest: AES-256-GCM with random 96-bit nonces, the associated data binding the table,
//! the column, the row id and the key version, so a ciphertext copied to another row or column does
//! not decrypt. Lookups by token go through a blind index (HMAC-SHA-256), never the plaintext.
//!
//! A [`Keyring`] holds every key version the store can read; the first one encrypts. Each configured
//! key is 32 random bytes from which two sub-keys are derived (HMAC-SHA-256 of fixed labels): one
//! for the AEAD and one for the blind index, so the same bytes never serve two purposes.
//!
//! Sealed values are text, `v<version>.<base64(nonce ‖ ciphertext ‖ tag)>`, so both backends store
//! them in a `TEXT` column and a dump shows which key version wrote each one.

use std::collections::BTreeMap;
use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

/// The length of a configured key, in bytes.
pub const KEY_LEN: usize = 32;

/// What went wrong with a key or a sealed value. Never holds key bytes or plaintext.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The key configuration could not be read.
    #[error("token keys: {0}")]
    Config(String),
    /// A sealed value names a key version the keyring does not have.
    #[error("{0} was sealed with key version {1}, which is not configured")]
    UnknownKey(String, u32),
    /// A sealed value is malformed, was moved from another row or column, or was tampered with.
    #[error("{0} does not decrypt: {1}")]
    Tampered(String, &'static str),
}

struct Key {
    version: u32,
    aead: LessSafeKey,
    lookup: hmac::Key,
}

/// The token encryption keys: every version the store can read, the first one used to write.
/// `Debug` shows only the versions.
pub struct Keyring {
    keys: Vec<Key>,
    by_version: BTreeMap<u32, usize>,
    random: SystemRandom,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current_version())
            .field("versions", &self.versions())
            .finish_non_exhaustive()
    }
}

fn derive(master: &[u8; KEY_LEN], label: &str) -> [u8; 32] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, master);
    let tag = hmac::sign(&key, label.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// The associated data: every part length-prefixed, so no two (table, column, row, scope, version)
/// tuples share an encoding. The scope (the row's merchant, see [`crate::SqlStore::for_merchant`])
/// is a fourth part when there is one; without one the encoding is the one sealed values had
/// before merchants existed, and it cannot equal a scoped one (the parts up to the row's then
/// agree, and what follows differs in length).
fn aad(table: &str, column: &str, row: &str, scope: Option<&str>, version: u32) -> Vec<u8> {
    let mut out = b"autodebit-store/1".to_vec();
    for part in [table, column, row].into_iter().chain(scope) {
        out.extend_from_slice(&(part.len() as u64).to_be_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    out.extend_from_slice(&version.to_be_bytes());
    out
}

impl Keyring {
    /// A keyring from `(version, key)` pairs; the first pair encrypts, all decrypt.
    ///
    /// # Errors
    /// [`CryptoError::Config`] when the list is empty or names a version twice.
    pub fn new(keys: Vec<(u32, [u8; KEY_LEN])>) -> Result<Self, CryptoError> {
        if keys.is_empty() {
            return Err(CryptoError::Config("no key configured".into()));
        }
        let mut by_version = BTreeMap::new();
        let mut built = Vec::with_capacity(keys.len());
        for (index, (version, master)) in keys.into_iter().enumerate() {
            if by_version.insert(version, index).is_some() {
                return Err(CryptoError::Config(format!(
                    "key version {version} is configured twice"
                )));
            }
            let aead = UnboundKey::new(&AES_256_GCM, &derive(&master, "autodebit-store/aead"))
                .map_err(|_| CryptoError::Config("AES-256-GCM rejected the key".into()))?;
            built.push(Key {
                version,
                aead: LessSafeKey::new(aead),
                lookup: hmac::Key::new(
                    hmac::HMAC_SHA256,
                    &derive(&master, "autodebit-store/lookup"),
                ),
            });
        }
        Ok(Self {
            keys: built,
            by_version,
            random: SystemRandom::new(),
        })
    }

    /// Parses the configuration form: comma-separated `<version>:<base64 of 32 bytes>` (standard or
    /// URL-safe alphabet), the first entry the one that encrypts, e.g.
    /// `2:q83v…=,1:3q2+…=`. Whitespace around entries is ignored.
    ///
    /// # Errors
    /// [`CryptoError::Config`] naming the entry (by position and version, never its bytes).
    pub fn parse(config: &str) -> Result<Self, CryptoError> {
        let mut keys = Vec::new();
        for (position, entry) in config
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .enumerate()
        {
            let n = position + 1;
            let Some((version, key)) = entry.split_once(':') else {
                return Err(CryptoError::Config(format!(
                    "entry {n} is not `<version>:<base64 key>`"
                )));
            };
            let version: u32 = version.trim().parse().map_err(|_| {
                CryptoError::Config(format!(
                    "entry {n}: the version must be a non-negative integer"
                ))
            })?;
            let key = key.trim();
            let bytes = STANDARD
                .decode(key)
                .or_else(|_| URL_SAFE_NO_PAD.decode(key.trim_end_matches('=')))
                .map_err(|_| {
                    CryptoError::Config(format!("entry {n} (version {version}) is not base64"))
                })?;
            let master: [u8; KEY_LEN] = bytes.as_slice().try_into().map_err(|_| {
                CryptoError::Config(format!(
                    "entry {n} (version {version}) is {} bytes; a key is {KEY_LEN} random bytes",
                    bytes.len()
                ))
            })?;
            keys.push((version, master));
        }
        Self::new(keys)
    }

    /// A new random key, in the configuration form for `version` (for `autodebit keys` and tests).
    ///
    /// # Errors
    /// [`CryptoError::Config`] when the system's random source fails.
    pub fn generate_entry(version: u32) -> Result<String, CryptoError> {
        let mut key = [0u8; KEY_LEN];
        SystemRandom::new()
            .fill(&mut key)
            .map_err(|_| CryptoError::Config("the system random source failed".into()))?;
        Ok(format!("{version}:{}", STANDARD.encode(key)))
    }

    /// The version that encrypts.
    pub fn current_version(&self) -> u32 {
        self.keys[0].version
    }

    /// Every configured version, the current one first.
    pub fn versions(&self) -> Vec<u32> {
        self.keys.iter().map(|k| k.version).collect()
    }

    fn key(&self, version: u32) -> Option<&Key> {
        self.by_version.get(&version).map(|&i| &self.keys[i])
    }

    /// Encrypts `plaintext` for `table`.`column` of `row` with the current key.
    ///
    /// # Errors
    /// [`CryptoError::Config`] when the random source or the cipher fails.
    pub fn seal(
        &self,
        table: &str,
        column: &str,
        row: &str,
        plaintext: &str,
    ) -> Result<String, CryptoError> {
        self.seal_scoped(table, column, row, None, plaintext)
    }

    /// As [`Keyring::seal`], the associated data also binding `scope` (a merchant) when given.
    pub(crate) fn seal_scoped(
        &self,
        table: &str,
        column: &str,
        row: &str,
        scope: Option<&str>,
        plaintext: &str,
    ) -> Result<String, CryptoError> {
        let key = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .map_err(|_| CryptoError::Config("the system random source failed".into()))?;
        let mut buffer = plaintext.as_bytes().to_vec();
        key.aead
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(table, column, row, scope, key.version)),
                &mut buffer,
            )
            .map_err(|_| CryptoError::Config("AES-256-GCM failed to seal".into()))?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&buffer);
        Ok(format!("v{}.{}", key.version, STANDARD.encode(sealed)))
    }

    /// The key version a sealed value names.
    ///
    /// # Errors
    /// [`CryptoError::Tampered`] when it is not a sealed value.
    pub fn version_of(sealed: &str, what: &str) -> Result<u32, CryptoError> {
        sealed
            .strip_prefix('v')
            .and_then(|rest| rest.split_once('.'))
            .and_then(|(version, _)| version.parse().ok())
            .ok_or_else(|| CryptoError::Tampered(what.to_owned(), "it is not a sealed value"))
    }

    /// Decrypts a value sealed for `table`.`column` of `row`.
    ///
    /// # Errors
    /// [`CryptoError::UnknownKey`] when its key version is not configured; [`CryptoError::Tampered`]
    /// when it is malformed, belongs to another row, column or table, or was changed.
    pub fn open(
        &self,
        table: &str,
        column: &str,
        row: &str,
        sealed: &str,
    ) -> Result<String, CryptoError> {
        self.open_scoped(table, column, row, None, sealed)
    }

    /// As [`Keyring::open`], for a value sealed with [`Keyring::seal_scoped`] under `scope`.
    pub(crate) fn open_scoped(
        &self,
        table: &str,
        column: &str,
        row: &str,
        scope: Option<&str>,
        sealed: &str,
    ) -> Result<String, CryptoError> {
        let what = || match scope {
            None => format!("{table}.{column} of {row}"),
            Some(scope) => format!("{table}.{column} of {row} (merchant {scope})"),
        };
        let version = Self::version_of(sealed, &what())?;
        let key = self
            .key(version)
            .ok_or_else(|| CryptoError::UnknownKey(what(), version))?;
        let (_, body) = sealed
            .split_once('.')
            .ok_or_else(|| CryptoError::Tampered(what(), "it is not a sealed value"))?;
        let bytes = STANDARD
            .decode(body)
            .map_err(|_| CryptoError::Tampered(what(), "it is not base64"))?;
        if bytes.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(CryptoError::Tampered(what(), "it is too short"));
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| CryptoError::Tampered(what(), "its nonce is malformed"))?;
        let mut buffer = ciphertext.to_vec();
        let plain = key
            .aead
            .open_in_place(
                nonce,
                Aad::from(aad(table, column, row, scope, version)),
                &mut buffer,
            )
            .map_err(|_| {
                CryptoError::Tampered(
                    what(),
                    "authentication failed (another row's value, or altered)",
                )
            })?;
        String::from_utf8(plain.to_vec())
            .map_err(|_| CryptoError::Tampered(what(), "its plaintext is not UTF-8"))
    }

    /// The blind index of `value` under the current key: what the lookup column stores.
    pub fn blind_index(&self, purpose: &str, value: &str) -> String {
        Self::index_with(&self.keys[0], purpose, value)
    }

    /// The blind index of `value` under every configured key, the current one first: a lookup
    /// matches rows written before and after a rotation.
    pub fn blind_indexes(&self, purpose: &str, value: &str) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| Self::index_with(k, purpose, value))
            .collect()
    }

    fn index_with(key: &Key, purpose: &str, value: &str) -> String {
        let mut context = hmac::Context::with_key(&key.lookup);
        context.update(&(purpose.len() as u64).to_be_bytes());
        context.update(purpose.as_bytes());
        context.update(value.as_bytes());
        format!(
            "v{}.{}",
            key.version,
            URL_SAFE_NO_PAD.encode(context.sign().as_ref())
        )
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn ring(entries: &[(u32, u8)]) -> Keyring {
        Keyring::new(entries.iter().map(|&(v, b)| (v, [b; KEY_LEN])).collect()).unwrap()
    }

    #[test]
    fn seals_and_opens_in_place_only() {
        let keys = ring(&[(1, 7)]);
        let sealed = keys
            .seal("authorizations", "access_token", "auth-1", "tok")
            .unwrap();
        assert!(sealed.starts_with("v1."), "{sealed}");
        assert!(!sealed.contains("tok"));
        assert_eq!(
            keys.open("authorizations", "access_token", "auth-1", &sealed)
                .unwrap(),
            "tok"
        );
        // The same ciphertext anywhere else does not open.
        for (table, column, row) in [
            ("authorizations", "access_token", "auth-2"),
            ("authorizations", "refresh_token", "auth-1"),
            ("payment_attempts", "access_token", "auth-1"),
        ] {
            let err = keys.open(table, column, row, &sealed).unwrap_err();
            assert!(matches!(err, CryptoError::Tampered(..)), "{err}");
        }
        // A flipped byte does not open either.
        let mut bytes = STANDARD.decode(&sealed[3..]).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let altered = format!("v1.{}", STANDARD.encode(bytes));
        assert!(matches!(
            keys.open("authorizations", "access_token", "auth-1", &altered),
            Err(CryptoError::Tampered(..))
        ));
    }

    #[test]
    fn a_scoped_value_opens_only_in_its_scope() {
        let keys = ring(&[(1, 7)]);
        let plain = keys.seal("inbox", "body", "k", "x").unwrap();
        let scoped = keys
            .seal_scoped("inbox", "body", "k", Some("m1"), "x")
            .unwrap();
        assert_eq!(
            keys.open_scoped("inbox", "body", "k", Some("m1"), &scoped)
                .unwrap(),
            "x"
        );
        // Unscoped is the encoding of before: it opens with `open` and with no scope only.
        assert_eq!(
            keys.open_scoped("inbox", "body", "k", None, &plain)
                .unwrap(),
            "x"
        );
        for (sealed, scope) in [(&plain, Some("m1")), (&scoped, None), (&scoped, Some("m2"))] {
            let err = keys
                .open_scoped("inbox", "body", "k", scope, sealed)
                .unwrap_err();
            assert!(matches!(err, CryptoError::Tampered(..)), "{err}");
        }
        assert!(keys.open("inbox", "body", "k", &scoped).is_err());
        // A scope cannot be smuggled into the row id: the encodings differ in length.
        assert_ne!(
            aad("t", "c", "r", Some("m"), 1),
            aad("t", "c", "r\0\0\0\0\0\0\0\x01m", None, 1)
        );
    }

    #[test]
    fn a_version_relabelled_does_not_open() {
        // Version 2 has the same bytes as version 1: only the AAD tells them apart.
        let keys = ring(&[(2, 7), (1, 7)]);
        let sealed = keys.seal("t", "c", "r", "secret").unwrap();
        let relabelled = sealed.replacen("v2.", "v1.", 1);
        assert!(matches!(
            keys.open("t", "c", "r", &relabelled),
            Err(CryptoError::Tampered(..))
        ));
    }

    #[test]
    fn rotation_reads_old_versions_and_writes_the_current_one() {
        let old = ring(&[(1, 1)]);
        let sealed = old.seal("t", "c", "r", "secret").unwrap();
        let rotated = ring(&[(2, 2), (1, 1)]);
        assert_eq!(rotated.open("t", "c", "r", &sealed).unwrap(), "secret");
        assert!(rotated.seal("t", "c", "r", "x").unwrap().starts_with("v2."));
        let dropped = ring(&[(2, 2)]);
        assert_eq!(
            dropped.open("t", "c", "r", &sealed),
            Err(CryptoError::UnknownKey("t.c of r".into(), 1))
        );
        // Blind indexes: one per version, the current one first.
        let indexes = rotated.blind_indexes("access_token", "tok");
        assert_eq!(indexes[0], rotated.blind_index("access_token", "tok"));
        assert_eq!(indexes[1], old.blind_index("access_token", "tok"));
        assert_ne!(indexes[0], indexes[1]);
        assert_ne!(
            rotated.blind_index("access_token", "tok"),
            rotated.blind_index("refresh_token", "tok")
        );
    }

    #[test]
    fn a_million_nonces_never_repeat() {
        let keys = ring(&[(1, 3)]);
        let mut seen = HashSet::with_capacity(1_000_000);
        for _ in 0..1_000_000 {
            let sealed = keys.seal("t", "c", "r", "").unwrap();
            let bytes = STANDARD.decode(&sealed[3..]).unwrap();
            let nonce: [u8; NONCE_LEN] = bytes[..NONCE_LEN].try_into().unwrap();
            assert!(seen.insert(nonce), "nonce repeated");
        }
    }

    #[test]
    fn configuration_errors_name_the_entry_never_the_key() {
        let good = Keyring::generate_entry(3).unwrap();
        let keys = Keyring::parse(&format!(" {good} , ")).unwrap();
        assert_eq!(keys.versions(), vec![3]);
        let secret = good.split_once(':').unwrap().1.to_owned();
        assert!(!format!("{keys:?}").contains(&secret));
        let cases = [
            ("", "no key configured"),
            ("abc", "entry 1 is not `<version>:<base64 key>`"),
            (
                "x:AAAA",
                "entry 1: the version must be a non-negative integer",
            ),
            ("1:!!!", "entry 1 (version 1) is not base64"),
            (
                "1:AAAA",
                "entry 1 (version 1) is 3 bytes; a key is 32 random bytes",
            ),
        ];
        for (config, expected) in cases {
            let err = Keyring::parse(config).unwrap_err().to_string();
            assert!(err.contains(expected), "{config:?}: {err}");
        }
        let twice = format!("{good},{good}");
        let err = Keyring::parse(&twice).unwrap_err().to_string();
        assert!(err.contains("version 3 is configured twice"), "{err}");
        assert!(!err.contains(&secret));
    }
}
