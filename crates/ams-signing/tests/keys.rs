//! Key loading: every encoding merchants hold keys in, and a clear error for every wrong one.

use ams_signing::{
    Backend, KeyError, KeyFormat, KeyRole, KeyVersion, PrivateKey, PublicKey, SignedContent,
};

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/ams-vectors");
const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys");

fn vector(name: &str) -> String {
    std::fs::read_to_string(format!("{VECTORS}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{KEYS}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The body of a PEM file: base64 wrapped at 64 columns, no armour.
fn pem_body(pem: &str) -> String {
    pem.lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_encoding_of_the_merchant_key_loads_to_the_same_key() {
    for backend in Backend::available() {
        let public = PublicKey::from_text_with(*backend, &vector("merchant_public_spki.b64.txt"))
            .expect("spki b64");
        assert_eq!(public.bits(), 2048);
        let pkcs8_pem = vector("merchant_private_pkcs8.pem");
        let pkcs1_pem = vector("merchant_private_pkcs1.pem");
        let private_texts = [
            vector("merchant_private_pkcs8.b64.txt"),
            pkcs8_pem.clone(),
            pkcs1_pem.clone(),
            vector("merchant_private_pkcs1.b64.txt"),
            pem_body(&pkcs8_pem),
            pem_body(&pkcs1_pem),
            // Pasted from JSON or an environment variable, with literal \n escapes.
            pkcs8_pem.replace('\n', "\\n"),
            // CRLF line endings and surrounding blank lines.
            format!("\r\n{}\r\n", pkcs1_pem.replace('\n', "\r\n")),
            // The Python SDK's habit: a PKCS#8 body inside "RSA PRIVATE KEY" armour.
            format!(
                "-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----",
                vector("merchant_private_pkcs8.b64.txt").trim()
            ),
        ];
        for (i, text) in private_texts.iter().enumerate() {
            let key = PrivateKey::from_text_with(*backend, text)
                .unwrap_or_else(|e| panic!("variant {i}: {e}"));
            assert_eq!(key.public_key(), &public, "variant {i} on {backend}");
            assert_eq!(key.fingerprint(), public.fingerprint());
        }
        let public_texts = [
            vector("merchant_public_spki.pem"),
            pem_body(&vector("merchant_public_spki.pem")),
            fixture("merchant_public_pkcs1.pem"),
        ];
        for (i, text) in public_texts.iter().enumerate() {
            let key = PublicKey::from_text_with(*backend, text)
                .unwrap_or_else(|e| panic!("public variant {i}: {e}"));
            assert_eq!(key, public, "public variant {i} on {backend}");
        }
    }
}

#[test]
fn fingerprint_is_the_sha256_of_the_spki_der() {
    let public = PublicKey::from_text(&vector("merchant_public_spki.pem")).expect("loads");
    assert!(public.fingerprint().starts_with("sha256:"));
    assert_eq!(public.fingerprint().len(), "sha256:".len() + 64);
    // Exported forms load back to the same key.
    assert_eq!(
        public.to_base64(),
        vector("merchant_public_spki.b64.txt").trim()
    );
    assert_eq!(public.to_pem(), vector("merchant_public_spki.pem"));
}

fn private_err(text: &str) -> KeyError {
    PrivateKey::from_text(text).expect_err("must be refused")
}

fn public_err(text: &str) -> KeyError {
    PublicKey::from_text(text).expect_err("must be refused")
}

#[test]
fn a_public_key_given_as_the_private_key_says_so() {
    for text in [
        vector("merchant_public_spki.b64.txt"),
        vector("alipay_sim_public_spki.pem"),
    ] {
        let err = private_err(&text);
        assert_eq!(
            err,
            KeyError::WrongRole {
                expected: KeyRole::Private,
                found: KeyFormat::Spki
            }
        );
        let msg = err.to_string();
        assert!(msg.contains("expected an RSA private key"), "{msg}");
        assert!(
            msg.contains("found an X.509 SubjectPublicKeyInfo public key"),
            "{msg}"
        );
    }
    let err = private_err(&fixture("merchant_public_pkcs1.pem"));
    assert_eq!(
        err,
        KeyError::WrongRole {
            expected: KeyRole::Private,
            found: KeyFormat::Pkcs1Public
        }
    );
}

#[test]
fn a_private_key_given_as_the_public_key_says_so() {
    for (file, found) in [
        ("merchant_private_pkcs8.b64.txt", KeyFormat::Pkcs8),
        ("merchant_private_pkcs1.pem", KeyFormat::Pkcs1Private),
    ] {
        let err = public_err(&vector(file));
        assert_eq!(
            err,
            KeyError::WrongRole {
                expected: KeyRole::Public,
                found
            },
            "{file}"
        );
        let msg = err.to_string();
        assert!(msg.contains("expected an RSA public key"), "{msg}");
        assert!(msg.contains("this is a private key"), "{msg}");
    }
}

#[test]
fn other_algorithms_certificates_small_and_encrypted_keys_are_explained() {
    let err = public_err(&fixture("ec_public_spki.b64.txt"));
    assert!(
        matches!(&err, KeyError::NotRsa { algorithm, .. } if algorithm == "EC"),
        "{err:?}"
    );
    assert!(err.to_string().contains("another algorithm (EC)"));

    let err = private_err(&fixture("ec_private_pkcs8.b64.txt"));
    assert!(
        matches!(
            &err,
            KeyError::NotRsa {
                expected: KeyRole::Private,
                ..
            }
        ),
        "{err:?}"
    );

    let err = public_err(&fixture("rsa_certificate.pem"));
    assert!(
        matches!(
            &err,
            KeyError::Unusable {
                found: KeyFormat::Certificate,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("openssl x509"), "{err}");
    let err = private_err(&fixture("rsa_certificate.pem"));
    assert!(
        matches!(
            &err,
            KeyError::WrongRole {
                found: KeyFormat::Certificate,
                ..
            }
        ),
        "{err:?}"
    );

    let err = public_err(&fixture("rsa1024_public_spki.b64.txt"));
    assert_eq!(err, KeyError::BadSize { bits: 1024 });
    assert!(err.to_string().contains("1024 bits"));

    let err = private_err(&fixture("encrypted_pkcs8.pem"));
    assert!(
        matches!(
            &err,
            KeyError::Unusable {
                found: KeyFormat::EncryptedPkcs8,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn text_that_is_not_a_key_is_explained() {
    assert_eq!(
        private_err("  \n"),
        KeyError::Empty {
            expected: KeyRole::Private
        }
    );
    let msg = private_err("/etc/keys/merchant.pem").to_string();
    assert!(msg.contains("looks like a file path"), "{msg}");
    let msg = public_err(&"ab".repeat(64)).to_string();
    assert!(msg.contains("looks like hex"), "{msg}");
    let msg = public_err("not a key at all!").to_string();
    assert!(msg.contains("neither PEM nor base64"), "{msg}");
    let msg = public_err("aGVsbG8gd29ybGQ=").to_string();
    assert!(
        msg.contains("11 bytes that are not a DER key structure"),
        "{msg}"
    );
    let msg = public_err("-----BEGIN PUBLIC KEY-----\nAAAA\n").to_string();
    assert!(
        msg.contains("no matching \"-----END PUBLIC KEY-----\""),
        "{msg}"
    );
}

#[test]
fn debug_never_shows_key_material() {
    let pkcs8 = vector("merchant_private_pkcs8.b64.txt");
    let key = PrivateKey::from_text(&pkcs8).expect("loads");
    let shown = format!("{key:?}");
    assert!(shown.contains("public_fingerprint"), "{shown}");
    assert!(!shown.contains(&pkcs8.trim()[40..80]), "{shown}");

    let pair =
        ams_signing::GeneratedKeyPair::generate(Backend::default(), 2048).expect("generates");
    let shown = format!("{pair:?}");
    assert!(
        !shown.contains(&pair.private_pkcs8_base64()[40..80]),
        "{shown}"
    );
}

#[test]
fn generated_keys_export_in_every_form_and_reload() {
    for backend in Backend::available() {
        let pair = ams_signing::GeneratedKeyPair::generate(*backend, 2048).expect("generates");
        let fingerprint = pair.public_key().fingerprint().to_owned();
        assert!(
            pair.private_pkcs8_pem()
                .starts_with("-----BEGIN PRIVATE KEY-----\n")
        );
        assert!(!pair.private_pkcs8_base64().contains('\n'));
        assert!(
            pair.private_pkcs1_pem()
                .starts_with("-----BEGIN RSA PRIVATE KEY-----\n")
        );
        for text in [
            pair.private_pkcs8_pem(),
            pair.private_pkcs8_base64(),
            pair.private_pkcs1_pem(),
            pair.private_pkcs1_base64(),
        ] {
            assert_eq!(
                PrivateKey::from_text(&text).expect("reloads").fingerprint(),
                fingerprint
            );
        }
        for text in [pair.public_key().to_pem(), pair.public_key().to_base64()] {
            assert_eq!(
                PublicKey::from_text(&text).expect("reloads").fingerprint(),
                fingerprint
            );
        }
    }
    assert!(ams_signing::GeneratedKeyPair::generate(Backend::default(), 1024).is_err());
}

#[test]
fn generated_keys_move_to_their_users_without_pem() {
    for backend in Backend::available() {
        let pair = ams_signing::GeneratedKeyPair::generate(*backend, 2048).expect("generates");
        let public = pair.public_key().clone();
        assert_eq!(&public, pair.public_key());
        assert_eq!(public.backend(), *backend);
        let private = pair.into_private_key();
        assert_eq!(private.fingerprint(), public.fingerprint());
        assert_eq!(private.backend(), *backend);

        // The clone verifies what the moved private key signs, and refuses another key's.
        let content = SignedContent::request("/ams/api/v1/payments/pay", "C", "1", b"{}");
        let header = private.sign(&content, KeyVersion::DEFAULT).expect("signs");
        public.verify(&content, &header).expect("verifies");
        let other = ams_signing::GeneratedKeyPair::generate(*backend, 2048).expect("generates");
        assert!(
            other
                .public_key()
                .clone()
                .verify(&content, &header)
                .is_err()
        );
    }
}
