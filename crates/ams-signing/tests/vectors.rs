//! The official Python SDK's vectors (testdata/ams-vectors), reproduced byte for byte on every
//! backend and from every encoding of the keys.

use ams_signing::{
    Backend, KeyVersion, PrivateKey, PublicKey, SignatureHeader, SignedContent, VerifyErrorKind,
};
use serde_json::Value;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/ams-vectors");

fn read(name: &str) -> String {
    std::fs::read_to_string(format!("{VECTORS}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn json(name: &str) -> Value {
    serde_json::from_str(&read(name)).expect("vector file is JSON")
}

fn s<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for key in path {
        cur = &cur[*key];
    }
    cur.as_str()
        .unwrap_or_else(|| panic!("{path:?} is not a string"))
}

const MERCHANT_PRIVATE_FILES: &[&str] = &[
    "merchant_private_pkcs8.b64.txt",
    "merchant_private_pkcs8.pem",
    "merchant_private_pkcs1.pem",
    "merchant_private_pkcs1.b64.txt",
];

#[test]
fn content_to_sign_matches_every_request_and_response() {
    let vectors = json("request_vectors.json");
    let cases = vectors["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 10);
    for case in cases {
        let name = s(case, &["name"]);
        let req = &case["request"];
        let content = SignedContent::request(
            s(req, &["path_signed"]),
            s(req, &["client_id"]),
            s(req, &["request_time"]),
            s(req, &["body"]).as_bytes(),
        );
        assert_eq!(
            content.to_bytes(),
            s(req, &["content_to_sign"]).as_bytes(),
            "{name}: request content"
        );
        // The docs example was signed alone: no exchange was recorded for it.
        let resp = &case["response"];
        if resp.is_null() {
            continue;
        }
        let content = SignedContent::response(
            s(req, &["path_signed"]),
            s(resp, &["headers", "client-id"]),
            s(resp, &["headers", "response-time"]),
            s(resp, &["body"]).as_bytes(),
        );
        assert_eq!(
            content.to_bytes(),
            s(resp, &["content_to_verify"]).as_bytes(),
            "{name}: response content"
        );
    }
}

#[test]
fn every_request_signature_is_reproduced_byte_for_byte() {
    let vectors = json("request_vectors.json");
    for backend in Backend::available() {
        for file in MERCHANT_PRIVATE_FILES {
            let key = PrivateKey::from_text_with(*backend, &read(file))
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            for case in vectors["cases"].as_array().expect("cases") {
                let name = s(case, &["name"]);
                let req = &case["request"];
                let recorded: SignatureHeader = s(req, &["signature_header"])
                    .parse()
                    .expect("recorded header");
                let content = SignedContent::request(
                    s(req, &["path_signed"]),
                    s(req, &["client_id"]),
                    s(req, &["request_time"]),
                    s(req, &["body"]).as_bytes(),
                );
                let version = recorded.key_version().expect("SDK writes keyVersion");
                let header = key.sign(&content, version).expect("signs");
                assert_eq!(
                    header.to_string(),
                    s(req, &["signature_header"]),
                    "{name} on {backend} from {file}"
                );
                if !req["headers_sent_by_sdk"].is_null() {
                    assert_eq!(
                        header.to_string(),
                        s(req, &["headers_sent_by_sdk", "Signature"])
                    );
                }
                assert_eq!(
                    header.signature_urlencoded(),
                    s(req, &["signature_urlencoded"])
                );
                assert_eq!(header.signature_base64(), s(req, &["signature_base64"]));
            }
        }
    }
}

#[test]
fn key_version_two_is_written_as_the_sdk_writes_it() {
    let vectors = json("request_vectors.json");
    let case = vectors["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|c| c["name"] == "applyToken_refresh_token_agent_token_keyversion2")
        .expect("case present");
    let header = s(case, &["request", "signature_header"]);
    assert!(header.starts_with("algorithm=RSA256,keyVersion=2,signature="));
    let parsed: SignatureHeader = header.parse().expect("parses");
    assert_eq!(parsed.key_version(), Some(KeyVersion::new(2)));
}

#[test]
fn every_request_verifies_with_the_merchant_public_key_and_every_response_with_alipays() {
    let vectors = json("request_vectors.json");
    for backend in Backend::available() {
        let merchant = PublicKey::from_text_with(*backend, &read("merchant_public_spki.b64.txt"))
            .expect("merchant key");
        let alipay = PublicKey::from_text_with(*backend, &read("alipay_sim_public_spki.pem"))
            .expect("alipay key");
        for case in vectors["cases"].as_array().expect("cases") {
            let name = s(case, &["name"]);
            let req = &case["request"];
            let path = s(req, &["path_signed"]);
            let request = SignedContent::request(
                path,
                s(req, &["client_id"]),
                s(req, &["request_time"]),
                s(req, &["body"]).as_bytes(),
            );
            let header: SignatureHeader = s(req, &["signature_header"]).parse().expect("header");
            merchant
                .verify(&request, &header)
                .unwrap_or_else(|e| panic!("{name} request: {e}"));

            let resp = &case["response"];
            if resp.is_null() {
                continue;
            }
            let response = SignedContent::response(
                path,
                s(resp, &["headers", "client-id"]),
                s(resp, &["headers", "response-time"]),
                s(resp, &["body"]).as_bytes(),
            );
            let header: SignatureHeader =
                s(resp, &["headers", "signature"]).parse().expect("header");
            alipay
                .verify(&response, &header)
                .unwrap_or_else(|e| panic!("{name} response: {e}"));
            // The other party's key is the classic mistake: it must not verify.
            let err = merchant
                .verify(&response, &header)
                .expect_err("merchant key must not verify Alipay's response");
            assert_eq!(err.kind(), &VerifyErrorKind::Mismatch);
        }
    }
}

#[test]
fn the_notification_verifies_and_the_tampered_one_is_refused() {
    let vectors = json("notification_vectors.json");
    let n = &vectors["cases"][0]["notification"];
    let body = s(n, &["body"]);
    let header: SignatureHeader = s(n, &["headers", "signature"]).parse().expect("header");
    for backend in Backend::available() {
        let alipay = PublicKey::from_text_with(*backend, &read("alipay_sim_public_spki.b64.txt"))
            .expect("key");
        let content = SignedContent::notification(
            s(n, &["merchant_notify_path"]),
            s(n, &["headers", "client-id"]),
            s(n, &["headers", "request-time"]),
            body.as_bytes(),
        );
        assert_eq!(content.to_bytes(), s(n, &["content_to_verify"]).as_bytes());
        alipay
            .verify(&content, &header)
            .expect("genuine notification verifies");

        // The vector's own tampering: one trailing space added to the body.
        let tampered_body = format!("{body} ");
        let tampered = SignedContent::notification(
            s(n, &["merchant_notify_path"]),
            s(n, &["headers", "client-id"]),
            s(n, &["headers", "request-time"]),
            tampered_body.as_bytes(),
        );
        let err = alipay
            .verify(&tampered, &header)
            .expect_err("tampered body must fail");
        assert_eq!(err.kind(), &VerifyErrorKind::Mismatch);
        // The report names what was checked, so the two cases can be told apart.
        assert_eq!(err.checked().content_sha256, tampered.sha256_hex());
        assert_ne!(err.checked().content_sha256, content.sha256_hex());
        assert_eq!(err.checked().key_fingerprint, alipay.fingerprint());
        assert_eq!(err.checked().body_len, tampered_body.len());
        let text = err.to_string();
        assert!(text.contains(alipay.fingerprint()), "{text}");
        assert!(text.contains("POST /payNotify"), "{text}");
        assert!(
            !text.contains("PAY_20240101_0001"),
            "the body must not be echoed: {text}"
        );

        // A notification verified against another path (the merchant's notify URL moved) fails too.
        let wrong_path = SignedContent::notification(
            "/notify",
            s(n, &["headers", "client-id"]),
            s(n, &["headers", "request-time"]),
            body.as_bytes(),
        );
        assert!(alipay.verify(&wrong_path, &header).is_err());
    }
}

#[test]
fn backends_agree_on_freshly_generated_keys() {
    let backends = Backend::available();
    for generator in backends {
        let pair = ams_signing::GeneratedKeyPair::generate(*generator, 2048).expect("generates");
        let content = SignedContent::request(
            "/ams/api/v1/payments/pay",
            "SANDBOX_X",
            "1700000000000",
            "{}".as_bytes(),
        );
        let reference = pair
            .private_key()
            .sign(&content, KeyVersion::DEFAULT)
            .expect("signs")
            .to_string();
        for other in backends {
            let private =
                PrivateKey::from_text_with(*other, &pair.private_pkcs8_pem()).expect("reloads");
            let again = private
                .sign(&content, KeyVersion::DEFAULT)
                .expect("signs")
                .to_string();
            assert_eq!(again, reference, "{generator} key signed on {other}");
            let public =
                PublicKey::from_text_with(*other, &pair.public_key().to_base64()).expect("public");
            public
                .verify(&content, &reference.parse().expect("header"))
                .expect("verifies");
            assert_eq!(public.fingerprint(), pair.private_key().fingerprint());
        }
    }
}
