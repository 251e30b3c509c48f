//! Property tests: sign then verify round-trips; any changed byte of path, client id, time or body
//! fails, on every backend.

use std::sync::OnceLock;

use ams_signing::{
    Backend, KeyVersion, PrivateKey, PublicKey, SignatureHeader, SignedContent, VerifyErrorKind,
};
use proptest::prelude::*;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/ams-vectors");

struct Keys {
    pairs: Vec<(PrivateKey, PublicKey)>,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let private = std::fs::read_to_string(format!("{VECTORS}/merchant_private_pkcs8.b64.txt"))
            .expect("key");
        let public = std::fs::read_to_string(format!("{VECTORS}/merchant_public_spki.b64.txt"))
            .expect("key");
        Keys {
            pairs: Backend::available()
                .iter()
                .map(|b| {
                    (
                        PrivateKey::from_text_with(*b, &private).expect("private"),
                        PublicKey::from_text_with(*b, &public).expect("public"),
                    )
                })
                .collect(),
        }
    })
}

#[derive(Clone, Debug)]
struct Message {
    path: String,
    client_id: String,
    time: String,
    body: Vec<u8>,
}

fn message() -> impl Strategy<Value = Message> {
    (
        prop_oneof![
            Just("/ams/api/v1/payments/pay".to_owned()),
            Just("/ams/sandbox/api/v1/authorizations/consult".to_owned()),
            "/[a-zA-Z0-9/_?=&.-]{0,40}",
        ],
        "[A-Z0-9_]{1,24}",
        prop_oneof![
            (0u64..=4_102_444_800_000).prop_map(|ms| ms.to_string()),
            Just("2024-01-01T00:00:00+00:00".to_owned()),
            Just("2024-01-01T08:00:00+0800".to_owned()),
            Just("2024-01-01T00:00:00.0000000Z".to_owned()),
        ],
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..256),
            "\\PC{0,64}".prop_map(String::into_bytes),
            Just(b"{\r\n  \"caf\xc3\xa9\": \"\xe5\x92\x96\xe5\x95\xa1\"\r\n}".to_vec()),
        ],
    )
        .prop_map(|(path, client_id, time, body)| Message {
            path,
            client_id,
            time,
            body,
        })
}

impl Message {
    fn content(&self) -> SignedContent<'_> {
        SignedContent::request(&self.path, &self.client_id, &self.time, &self.body)
    }
}

/// Changes one byte (or appends one) of the chosen field, keeping strings valid UTF-8.
fn mutate(msg: &Message, field: usize, index: usize, replacement: char) -> Message {
    fn edit(s: &str, index: usize, replacement: char) -> String {
        let chars: Vec<char> = s.chars().collect();
        if chars.is_empty() {
            return replacement.to_string();
        }
        let i = index % chars.len();
        let mut out: Vec<char> = chars.clone();
        out[i] = if chars[i] == replacement {
            '~'
        } else {
            replacement
        };
        out.into_iter().collect()
    }
    let mut out = msg.clone();
    match field % 4 {
        0 => out.path = edit(&msg.path, index, replacement),
        1 => out.client_id = edit(&msg.client_id, index, replacement),
        2 => out.time = edit(&msg.time, index, replacement),
        _ => {
            if msg.body.is_empty() {
                out.body.push(b' ');
            } else {
                let i = index % msg.body.len();
                out.body[i] ^= 0x01;
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn sign_then_verify_round_trips(msg in message(), version in 1u32..10) {
        for (private, public) in &keys().pairs {
            let header = private.sign(&msg.content(), KeyVersion::new(version)).expect("signs");
            let reparsed: SignatureHeader = header.to_string().parse().expect("header parses back");
            prop_assert_eq!(&reparsed, &header);
            prop_assert!(public.verify(&msg.content(), &reparsed).is_ok());
        }
    }

    #[test]
    fn any_changed_byte_fails(msg in message(), field in 0usize..4, index in any::<usize>(), c in proptest::char::range('!', '~')) {
        let changed = mutate(&msg, field, index, c);
        prop_assume!(changed.content().to_bytes() != msg.content().to_bytes());
        for (private, public) in &keys().pairs {
            let header = private.sign(&msg.content(), KeyVersion::DEFAULT).expect("signs");
            let err = public.verify(&changed.content(), &header).expect_err("a changed field must fail");
            prop_assert_eq!(err.kind(), &VerifyErrorKind::Mismatch);
            prop_assert_eq!(&err.checked().content_sha256, &changed.content().sha256_hex());
        }
    }

    #[test]
    fn any_changed_signature_byte_fails(msg in message(), index in 0usize..256, bit in 0u8..8) {
        let (private, public) = &keys().pairs[0];
        let header = private.sign(&msg.content(), KeyVersion::DEFAULT).expect("signs");
        let mut raw = header.signature_bytes().expect("decodes");
        raw[index] ^= 1 << bit;
        let forged = SignatureHeader::new(header.algorithm().clone(), KeyVersion::DEFAULT, &raw);
        prop_assert!(public.verify(&msg.content(), &forged).is_err());
    }
}

#[test]
fn a_truncated_signature_is_reported_as_malformed() {
    let (private, public) = &keys().pairs[0];
    let content = SignedContent::request("/p", "c", "t", b"{}");
    let header = private.sign(&content, KeyVersion::DEFAULT).expect("signs");
    let raw = header.signature_bytes().expect("decodes");
    let short = SignatureHeader::new(header.algorithm().clone(), KeyVersion::DEFAULT, &raw[..200]);
    let err = public.verify(&content, &short).expect_err("too short");
    assert!(
        matches!(err.kind(), VerifyErrorKind::Malformed { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("200 bytes; a 2048-bit key makes 256-byte signatures"),
        "{err}"
    );
}

#[test]
fn an_unsupported_algorithm_is_refused() {
    let (private, public) = &keys().pairs[0];
    let content = SignedContent::request("/p", "c", "t", b"{}");
    let header = private.sign(&content, KeyVersion::DEFAULT).expect("signs");
    let ecc: SignatureHeader = header
        .to_string()
        .replace("RSA256", "ECC224")
        .parse()
        .expect("parses");
    let err = public
        .verify(&content, &ecc)
        .expect_err("unknown algorithm");
    assert_eq!(err.kind(), &VerifyErrorKind::UnsupportedAlgorithm);
}
