//! Just enough DER to tell key formats apart and to wrap PKCS#1 keys.
//!
//! Key loading must say *what it found* when a key is in the wrong format or role (the most common
//! integration mistake), so the structure is sniffed here before any backend sees it. Nothing here
//! does cryptography; the backends parse the normalised DER again with their own, audited parsers.

use std::fmt;

const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_NULL: u8 = 0x05;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;

/// DER of the OID 1.2.840.113549.1.1.1 (rsaEncryption), without tag and length.
const OID_RSA_ENCRYPTION: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01];

/// One TLV element.
#[derive(Clone, Copy)]
struct Tlv<'a> {
    tag: u8,
    value: &'a [u8],
}

/// Reads consecutive TLV elements from a byte slice.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(input: &'a [u8]) -> Self {
        Self { rest: input }
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn next(&mut self) -> Option<Tlv<'a>> {
        let (&tag, rest) = self.rest.split_first()?;
        let (&first_len, mut rest) = rest.split_first()?;
        let len = if first_len < 0x80 {
            usize::from(first_len)
        } else {
            let n = usize::from(first_len & 0x7F);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let (len_bytes, after) = rest.split_at(n);
            rest = after;
            len_bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
        };
        if rest.len() < len {
            return None;
        }
        let (value, after) = rest.split_at(len);
        self.rest = after;
        Some(Tlv { tag, value })
    }

    /// All remaining elements, or `None` when any of them is malformed.
    fn all(mut self) -> Option<Vec<Tlv<'a>>> {
        let mut out = Vec::new();
        while !self.is_empty() {
            out.push(self.next()?);
        }
        Some(out)
    }
}

/// The public-key algorithm named by an AlgorithmIdentifier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum KeyAlgorithm {
    Rsa,
    /// Any other algorithm, by a human-readable name where we know it.
    Other(String),
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rsa => f.write_str("RSA"),
            Self::Other(name) => f.write_str(name),
        }
    }
}

/// What a DER blob turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DerKind {
    /// PKCS#8 PrivateKeyInfo.
    Pkcs8 { algorithm: KeyAlgorithm },
    /// PKCS#8 EncryptedPrivateKeyInfo.
    EncryptedPkcs8,
    /// PKCS#1 RSAPrivateKey.
    Pkcs1Private,
    /// X.509 SubjectPublicKeyInfo.
    Spki { algorithm: KeyAlgorithm },
    /// PKCS#1 RSAPublicKey.
    Pkcs1Public,
    /// An X.509 certificate.
    Certificate,
}

fn algorithm_of(alg_id: Tlv<'_>) -> KeyAlgorithm {
    let oid = Reader::new(alg_id.value)
        .next()
        .filter(|t| t.tag == TAG_OID)
        .map(|t| t.value);
    match oid {
        Some(OID_RSA_ENCRYPTION) => KeyAlgorithm::Rsa,
        // 1.2.840.113549.1.1.10 RSASSA-PSS
        Some([0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0A]) => KeyAlgorithm::Other(
            "RSASSA-PSS (an RSA key restricted to PSS; AMS uses PKCS#1 v1.5)".into(),
        ),
        // 1.2.840.10045.2.1 id-ecPublicKey
        Some([0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01]) => KeyAlgorithm::Other("EC".into()),
        // 1.3.101.112
        Some([0x2B, 0x65, 0x70]) => KeyAlgorithm::Other("Ed25519".into()),
        // 1.2.840.10040.4.1
        Some([0x2A, 0x86, 0x48, 0xCE, 0x38, 0x04, 0x01]) => KeyAlgorithm::Other("DSA".into()),
        Some(other) => KeyAlgorithm::Other(format!(
            "an unsupported algorithm (OID bytes {})",
            hex(other)
        )),
        None => KeyAlgorithm::Other("an unreadable algorithm identifier".into()),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Classifies a DER blob, or `None` when it is not one of the key structures we know.
pub(crate) fn classify(der: &[u8]) -> Option<DerKind> {
    let mut top = Reader::new(der);
    let outer = top.next().filter(|t| t.tag == TAG_SEQUENCE)?;
    if !top.is_empty() {
        return None;
    }
    let items = Reader::new(outer.value).all()?;
    let tags: Vec<u8> = items.iter().map(|t| t.tag).collect();
    match tags.as_slice() {
        [TAG_INTEGER, TAG_SEQUENCE, TAG_OCTET_STRING, ..] => Some(DerKind::Pkcs8 {
            algorithm: algorithm_of(items[1]),
        }),
        [TAG_SEQUENCE, TAG_OCTET_STRING] => Some(DerKind::EncryptedPkcs8),
        [TAG_SEQUENCE, TAG_BIT_STRING] => Some(DerKind::Spki {
            algorithm: algorithm_of(items[0]),
        }),
        [TAG_SEQUENCE, TAG_SEQUENCE, TAG_BIT_STRING] => Some(DerKind::Certificate),
        [TAG_INTEGER, TAG_INTEGER] => Some(DerKind::Pkcs1Public),
        ints if ints.len() >= 9 && ints.iter().take(9).all(|&t| t == TAG_INTEGER) => {
            Some(DerKind::Pkcs1Private)
        }
        _ => None,
    }
}

/// The RSA modulus size in bits of a PKCS#1 RSAPublicKey or RSAPrivateKey.
pub(crate) fn pkcs1_modulus_bits(pkcs1: &[u8]) -> Option<usize> {
    let seq = Reader::new(pkcs1)
        .next()
        .filter(|t| t.tag == TAG_SEQUENCE)?;
    let mut items = Reader::new(seq.value);
    let mut first = items.next()?;
    if first.tag != TAG_INTEGER {
        return None;
    }
    // RSAPrivateKey starts with a version INTEGER (0 or 1); RSAPublicKey starts with the modulus.
    if first.value.len() == 1 {
        first = items.next().filter(|t| t.tag == TAG_INTEGER)?;
    }
    let modulus = first.value;
    let significant = modulus.iter().position(|&b| b != 0)?;
    let top = modulus[significant];
    Some((modulus.len() - significant - 1) * 8 + (8 - top.leading_zeros() as usize))
}

/// The PKCS#1 RSAPublicKey (modulus and exponent) of a PKCS#1 RSAPrivateKey.
pub(crate) fn pkcs1_private_to_public(pkcs1: &[u8]) -> Option<Vec<u8>> {
    let seq = Reader::new(pkcs1)
        .next()
        .filter(|t| t.tag == TAG_SEQUENCE)?;
    let mut items = Reader::new(seq.value);
    let _version = items.next().filter(|t| t.tag == TAG_INTEGER)?;
    let modulus = items.next().filter(|t| t.tag == TAG_INTEGER)?;
    let exponent = items.next().filter(|t| t.tag == TAG_INTEGER)?;
    let mut ints = Vec::with_capacity(modulus.value.len() + exponent.value.len() + 12);
    push_tlv(&mut ints, TAG_INTEGER, modulus.value);
    push_tlv(&mut ints, TAG_INTEGER, exponent.value);
    let mut out = Vec::with_capacity(ints.len() + 4);
    push_tlv(&mut out, TAG_SEQUENCE, &ints);
    Some(out)
}

/// The PKCS#1 key inside a PKCS#8 PrivateKeyInfo (the OCTET STRING's content).
pub(crate) fn pkcs8_inner(pkcs8: &[u8]) -> Option<&[u8]> {
    let seq = Reader::new(pkcs8)
        .next()
        .filter(|t| t.tag == TAG_SEQUENCE)?;
    let items = Reader::new(seq.value).all()?;
    items
        .get(2)
        .filter(|t| t.tag == TAG_OCTET_STRING)
        .map(|t| t.value)
}

/// The PKCS#1 key inside a SubjectPublicKeyInfo (the BIT STRING's content after the unused-bits byte).
pub(crate) fn spki_inner(spki: &[u8]) -> Option<&[u8]> {
    let seq = Reader::new(spki).next().filter(|t| t.tag == TAG_SEQUENCE)?;
    let items = Reader::new(seq.value).all()?;
    let bits = items.get(1).filter(|t| t.tag == TAG_BIT_STRING)?;
    match bits.value.split_first() {
        Some((0, key)) => Some(key),
        _ => None,
    }
}

fn push_tlv(out: &mut Vec<u8>, tag: u8, value: &[u8]) {
    out.push(tag);
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes
            .iter()
            .position(|&b| b != 0)
            .unwrap_or(bytes.len() - 1);
        let significant = &bytes[skip..];
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(value);
}

fn rsa_algorithm_identifier() -> Vec<u8> {
    let mut inner = Vec::with_capacity(13);
    push_tlv(&mut inner, TAG_OID, OID_RSA_ENCRYPTION);
    push_tlv(&mut inner, TAG_NULL, &[]);
    let mut out = Vec::with_capacity(15);
    push_tlv(&mut out, TAG_SEQUENCE, &inner);
    out
}

/// Wraps a PKCS#1 RSAPrivateKey into a PKCS#8 PrivateKeyInfo.
pub(crate) fn pkcs1_private_to_pkcs8(pkcs1: &[u8]) -> Vec<u8> {
    let mut inner = Vec::with_capacity(pkcs1.len() + 32);
    push_tlv(&mut inner, TAG_INTEGER, &[0]);
    inner.extend_from_slice(&rsa_algorithm_identifier());
    push_tlv(&mut inner, TAG_OCTET_STRING, pkcs1);
    let mut out = Vec::with_capacity(inner.len() + 4);
    push_tlv(&mut out, TAG_SEQUENCE, &inner);
    out
}

/// Wraps a PKCS#1 RSAPublicKey into an X.509 SubjectPublicKeyInfo.
pub(crate) fn pkcs1_public_to_spki(pkcs1: &[u8]) -> Vec<u8> {
    let mut bits = Vec::with_capacity(pkcs1.len() + 1);
    bits.push(0);
    bits.extend_from_slice(pkcs1);
    let mut inner = rsa_algorithm_identifier();
    push_tlv(&mut inner, TAG_BIT_STRING, &bits);
    let mut out = Vec::with_capacity(inner.len() + 4);
    push_tlv(&mut out, TAG_SEQUENCE, &inner);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_truncated_and_trailing_input() {
        assert_eq!(classify(&[]), None);
        assert_eq!(classify(&[0x30, 0x05, 0x02, 0x01]), None);
        assert_eq!(classify(&[0x30, 0x03, 0x02, 0x01, 0x00, 0xFF]), None);
    }

    #[test]
    fn wraps_round_trip() {
        // A tiny fake RSAPublicKey: SEQUENCE { INTEGER 0x00C1.., INTEGER 65537 }.
        let mut ints = Vec::new();
        push_tlv(&mut ints, TAG_INTEGER, &[0x00, 0xC1, 0x02, 0x03]);
        push_tlv(&mut ints, TAG_INTEGER, &[0x01, 0x00, 0x01]);
        let mut pkcs1 = Vec::new();
        push_tlv(&mut pkcs1, TAG_SEQUENCE, &ints);
        assert_eq!(classify(&pkcs1), Some(DerKind::Pkcs1Public));
        assert_eq!(pkcs1_modulus_bits(&pkcs1), Some(24));
        let spki = pkcs1_public_to_spki(&pkcs1);
        assert_eq!(
            classify(&spki),
            Some(DerKind::Spki {
                algorithm: KeyAlgorithm::Rsa
            })
        );
        assert_eq!(spki_inner(&spki), Some(pkcs1.as_slice()));
    }

    #[test]
    fn long_lengths_are_encoded_minimally() {
        let value = vec![7u8; 300];
        let mut out = Vec::new();
        push_tlv(&mut out, TAG_OCTET_STRING, &value);
        assert_eq!(&out[..4], &[TAG_OCTET_STRING, 0x82, 0x01, 0x2C]);
        let tlv = Reader::new(&out).next().expect("parses");
        assert_eq!(tlv.value.len(), 300);
    }
}
