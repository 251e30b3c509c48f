//! Sign and verify throughput per backend, on a realistic `pay` request (RSA-2048).
//!
//! Run with `cargo bench -p ams-signing --all-features`; BENCHMARKS.md records the figures beside
//! `openssl speed rsa2048` on the same machine.

use std::hint::black_box;

use ams_signing::{Backend, KeyVersion, PrivateKey, PublicKey, SignatureHeader, SignedContent};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const PRIVATE: &str = include_str!("../../../testdata/ams-vectors/merchant_private_pkcs8.b64.txt");
const PUBLIC: &str = include_str!("../../../testdata/ams-vectors/merchant_public_spki.b64.txt");

const PATH: &str = "/ams/api/v1/payments/pay";
const CLIENT_ID: &str = "5X00000000000000";
const TIME: &str = "1685599933871";
const BODY: &str = r#"{"productCode":"AGREEMENT_PAYMENT","paymentRequestId":"pay_20240101_0001_9f8e7d6c5b4a","order":{"referenceOrderId":"order_0001","orderDescription":"Monthly subscription","orderAmount":{"currency":"USD","value":"1000"}},"paymentAmount":{"currency":"USD","value":"1000"},"paymentMethod":{"paymentMethodType":"ALIPAY_CN","paymentMethodId":"28100103_20215703001538122119"},"env":{"terminalType":"APP","osType":"ANDROID"},"settlementStrategy":{"settlementCurrency":"USD"},"paymentNotifyUrl":"https://merchant.example/notify/payment"}"#;

fn signing(c: &mut Criterion) {
    let content = SignedContent::request(PATH, CLIENT_ID, TIME, BODY.as_bytes());
    let mut group = c.benchmark_group("rsa2048");
    group.throughput(Throughput::Elements(1));
    for backend in Backend::available() {
        let private = PrivateKey::from_text_with(*backend, PRIVATE).expect("private key");
        let public = PublicKey::from_text_with(*backend, PUBLIC).expect("public key");
        let header: SignatureHeader = private.sign(&content, KeyVersion::DEFAULT).expect("sign");

        group.bench_function(format!("sign/{backend}"), |b| {
            b.iter(|| {
                private
                    .sign(black_box(&content), KeyVersion::DEFAULT)
                    .expect("sign")
            });
        });
        group.bench_function(format!("verify/{backend}"), |b| {
            b.iter(|| {
                public
                    .verify(black_box(&content), black_box(&header))
                    .expect("verify")
            });
        });
    }
    // Parsing the header a response or notification carries, then verifying it: the whole check.
    let header_text = PrivateKey::from_text(PRIVATE)
        .expect("key")
        .sign(&content, KeyVersion::DEFAULT)
        .expect("sign")
        .to_string();
    let public = PublicKey::from_text(PUBLIC).expect("public key");
    group.bench_function(
        format!("parse_header_and_verify/{}", Backend::default()),
        |b| {
            b.iter(|| {
                let header: SignatureHeader = black_box(&header_text).parse().expect("header");
                public.verify(&content, &header).expect("verify");
            });
        },
    );
    group.finish();
}

criterion_group!(benches, signing);
criterion_main!(benches);
