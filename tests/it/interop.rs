//! Interoperability with the official Python SDK (global-open-sdk-python 1.7.1 from PyPI), both
//! directions, on freshly generated random cases: keys in several formats, non-ASCII and CRLF
//! bodies, sandbox paths, epoch-ms and ISO request times.
//!
//! The SDK runs from the virtualenv of [`crate::python`]. The random seed is printed;
//! `INTEROP_SEED=<n>` replays a run.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use ams_signing::{
    Backend, GeneratedKeyPair, KeyVersion, PrivateKey, PublicKey, SignatureHeader, SignedContent,
};
use serde_json::{Value, json};

use crate::python::sdk_python;

const CASES_PER_DIRECTION: usize = 48;

/// The SDK, behind `tests/interop/sdk_oracle.py`, one JSON line per question.
struct Oracle {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Oracle {
    fn start() -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("interop")
            .join("sdk_oracle.py");
        let mut child = Command::new(sdk_python())
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the SDK oracle");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        Self {
            child,
            stdin,
            stdout,
        }
    }

    fn ask(&mut self, question: &Value) -> Value {
        writeln!(self.stdin, "{question}").expect("write to oracle");
        self.stdin.flush().expect("flush");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read from oracle");
        let answer: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("oracle said {line:?}: {e}"));
        assert!(
            answer.get("fatal").is_none(),
            "oracle failed on {question}: {answer}"
        );
        answer
    }
}

impl Drop for Oracle {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A small deterministic generator (xorshift64*), seeded per run.
struct Rng(u64);

impl Rng {
    fn seeded() -> (Self, u64) {
        use std::hash::{BuildHasher as _, Hasher as _};
        let seed = std::env::var("INTEROP_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                // RandomState is keyed from the OS's randomness: a fresh seed each run, no extra crate.
                std::collections::hash_map::RandomState::new()
                    .build_hasher()
                    .finish()
                    | 1
            });
        (Self(seed), seed)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const PATHS: &[&str] = &[
    "/ams/api/v1/authorizations/consult",
    "/ams/sandbox/api/v1/authorizations/consult",
    "/ams/api/v1/authorizations/applyToken",
    "/ams/sandbox/api/v1/authorizations/applyToken",
    "/ams/api/v1/authorizations/revoke",
    "/ams/api/v1/payments/pay",
    "/ams/sandbox/api/v1/payments/pay",
    "/ams/api/v1/payments/inquiryPayment",
    "/ams/sandbox/api/v1/payments/cancel",
    "/ams/api/v1/payments/refund",
    "/ams/sandbox/api/v1/payments/inquiryRefund",
    "/payNotify",
];

const FRAGMENTS: &[&str] = &[
    "{\"paymentRequestId\":\"",
    "\"}",
    "\r\n",
    "\n   ",
    "Caf\u{e9} ",
    "\u{5496}\u{5561}",
    "\u{1F600}",
    "\\u00e9",
    "\t",
    " ",
    "\"value\":\"1000\"",
    "%2B+/=",
    "\u{0E01}\u{0E32}\u{0E41}\u{0E1F}",
    "&<>",
];

struct Case {
    path: String,
    client_id: String,
    time: String,
    body: String,
}

fn random_case(rng: &mut Rng) -> Case {
    let path = (*rng.pick(PATHS)).to_owned();
    let client_id = if rng.below(2) == 0 {
        format!("SANDBOX_5X{:014}", rng.next() % 100_000_000_000_000)
    } else {
        format!("5Y{:014}", rng.next() % 100_000_000_000_000)
    };
    let time = match rng.below(4) {
        0 => (1_600_000_000_000 + rng.next() % 200_000_000_000).to_string(),
        1 => format!(
            "2024-{:02}-{:02}T{:02}:00:00+00:00",
            1 + rng.below(12),
            1 + rng.below(28),
            rng.below(24)
        ),
        2 => format!("2025-03-0{}T08:00:00+0800", 1 + rng.below(9)),
        _ => format!("2026-11-21T19:{:02}:00.0000000Z", rng.below(60)),
    };
    let pieces = rng.below(12);
    let body: String = (0..pieces).map(|_| *rng.pick(FRAGMENTS)).collect();
    Case {
        path,
        client_id,
        time,
        body,
    }
}

/// One generated key pair, with the encodings handed to each side.
struct Keys {
    pair: GeneratedKeyPair,
}

impl Keys {
    /// The private key as the SDK is given it (it takes PKCS#8 or PKCS#1 base64, or PKCS#1 PEM).
    fn private_for_sdk(&self, rng: &mut Rng) -> String {
        let wrap = |b64: String| {
            b64.as_bytes()
                .chunks(64)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join("\n")
        };
        match rng.below(4) {
            0 => self.pair.private_pkcs8_base64(),
            1 => wrap(self.pair.private_pkcs8_base64()),
            2 => self.pair.private_pkcs1_base64(),
            _ => self.pair.private_pkcs1_pem(),
        }
    }

    /// The public key as the SDK is given it (SPKI base64, one line or wrapped, or PEM).
    fn public_for_sdk(&self, rng: &mut Rng) -> String {
        match rng.below(3) {
            0 => self.pair.public_key().to_base64(),
            1 => self
                .pair
                .public_key()
                .to_pem()
                .lines()
                .filter(|l| !l.starts_with("-----"))
                .collect::<Vec<_>>()
                .join("\n"),
            _ => self.pair.public_key().to_pem(),
        }
    }

    /// Our side loads the key from yet another encoding, on a randomly chosen backend.
    fn private_for_us(&self, rng: &mut Rng) -> PrivateKey {
        let text = match rng.below(3) {
            0 => self.pair.private_pkcs8_pem(),
            1 => self.pair.private_pkcs1_pem(),
            _ => self.pair.private_pkcs8_base64(),
        };
        PrivateKey::from_text_with(*rng.pick(Backend::available()), &text)
            .expect("our private key loads")
    }

    fn public_for_us(&self, rng: &mut Rng) -> PublicKey {
        let text = if rng.below(2) == 0 {
            self.pair.public_key().to_pem()
        } else {
            self.pair.public_key().to_base64()
        };
        PublicKey::from_text_with(*rng.pick(Backend::available()), &text)
            .expect("our public key loads")
    }
}

fn tampered(body: &str) -> String {
    format!("{body} ")
}

#[test]
fn the_official_python_sdk_and_ams_signing_accept_each_others_signatures() {
    let (mut rng, seed) = Rng::seeded();
    eprintln!("interop seed: {seed} (INTEROP_SEED={seed} replays this run)");
    let mut oracle = Oracle::start();
    let version = oracle.ask(&json!({"op": "version"}));
    assert_eq!(version["version"], "1.7.1", "the SDK under test");

    let keys: Vec<Keys> = (0..3)
        .map(|_| Keys {
            pair: GeneratedKeyPair::generate(Backend::default(), 2048).expect("generate"),
        })
        .collect();

    // Direction 1: we sign, the SDK verifies (signature_tool.verify and webhook_tool.check_signature).
    for i in 0..CASES_PER_DIRECTION {
        let case = random_case(&mut rng);
        let key = rng.pick(&keys);
        let ours = key.private_for_us(&mut rng);
        let version = KeyVersion::new(1 + rng.below(3) as u32);
        let header = ours
            .sign(
                &SignedContent::request(
                    &case.path,
                    &case.client_id,
                    &case.time,
                    case.body.as_bytes(),
                ),
                version,
            )
            .expect("sign");
        let public = key.public_for_sdk(&mut rng);
        let question = |op: &str, signature: String, body: &str| {
            json!({
                "op": op, "path": case.path, "client_id": case.client_id, "time": case.time,
                "body": body, "signature": signature, "public_key": public,
            })
        };
        let verdict = oracle.ask(&question(
            "verify",
            header.signature_urlencoded(),
            &case.body,
        ));
        assert_eq!(
            verdict["valid"], true,
            "case {i} (seed {seed}): SDK refused our signature: {verdict}"
        );
        let verdict = oracle.ask(&question(
            "check_notification",
            header.to_string(),
            &case.body,
        ));
        assert_eq!(
            verdict["valid"], true,
            "case {i} (seed {seed}): SDK refused our header: {verdict}"
        );
        // The control: the same signature over a changed body must be refused by the SDK.
        let verdict = oracle.ask(&question(
            "verify",
            header.signature_urlencoded(),
            &tampered(&case.body),
        ));
        assert_eq!(
            verdict["valid"], false,
            "case {i} (seed {seed}): SDK accepted a tampered body"
        );
    }

    // Direction 2: the SDK signs, we verify.
    for i in 0..CASES_PER_DIRECTION {
        let case = random_case(&mut rng);
        let key = rng.pick(&keys);
        let answer = oracle.ask(&json!({
            "op": "sign", "path": case.path, "client_id": case.client_id, "time": case.time,
            "body": case.body, "private_key": key.private_for_sdk(&mut rng),
        }));
        let signature = answer["signature"]
            .as_str()
            .expect("SDK returns a signature");
        let header_text = format!("algorithm=RSA256,keyVersion=1,signature={signature}");
        let header: SignatureHeader = header_text.parse().expect("the SDK's signature parses");
        let public = key.public_for_us(&mut rng);
        let content = SignedContent::request(
            &case.path,
            &case.client_id,
            &case.time,
            case.body.as_bytes(),
        );
        public.verify(&content, &header).unwrap_or_else(|e| {
            panic!("case {i} (seed {seed}): we refused the SDK's signature: {e}")
        });
        // Byte for byte: PKCS#1 v1.5 is deterministic, so our signature must equal the SDK's.
        let ours = key
            .private_for_us(&mut rng)
            .sign(&content, KeyVersion::DEFAULT)
            .expect("sign");
        assert_eq!(
            ours.signature_urlencoded(),
            signature,
            "case {i} (seed {seed})"
        );
        let body = tampered(&case.body);
        let changed =
            SignedContent::request(&case.path, &case.client_id, &case.time, body.as_bytes());
        assert!(
            public.verify(&changed, &header).is_err(),
            "case {i} (seed {seed}): tampered body accepted"
        );
    }
}
