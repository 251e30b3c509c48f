//! Building the client, and keeping its secrets out of `Debug` and logs.

use ams_client::{AmsClient, BuildError, Gateway, KeyVersion, PrivateKey, RetryPolicy};
use ams_protocol::Api;

use crate::support::*;

const AGENT_TOKEN: &str = "AGENT_TOKEN_SECRET_0123456789abcdef0123456789ab";

/// Slices of the private key's encodings that must never appear in output.
fn key_fragments() -> Vec<String> {
    let b64: String = MERCHANT_PRIVATE_B64.split_whitespace().collect();
    let mut fragments: Vec<String> = (0..b64.len().saturating_sub(24))
        .step_by(97)
        .map(|i| b64[i..i + 24].to_owned())
        .collect();
    for line in MERCHANT_PRIVATE_PEM
        .lines()
        .filter(|l| !l.starts_with("-----"))
    {
        fragments.push(line[..line.len().min(24)].to_owned());
    }
    fragments
}

fn assert_no_secrets(text: &str) {
    for fragment in key_fragments() {
        assert!(!text.contains(&fragment), "private key material in: {text}");
    }
    assert!(!text.contains(AGENT_TOKEN), "agent token in: {text}");
    assert!(!text.contains(ACCESS_TOKEN), "access token in: {text}");
}

#[test]
fn debug_shows_no_private_key_and_no_agent_token() {
    let builder = builder("http://127.0.0.1:9", &manual_clock())
        .agent_token(AGENT_TOKEN)
        .proxy("http://proxyuser:proxypass@127.0.0.1:3128");
    let shown_builder = format!("{builder:?}");
    let client = builder.build().unwrap();
    let shown = format!("{client:?}");
    for text in [&shown_builder, &shown] {
        assert_no_secrets(text);
        assert!(!text.contains("proxypass"), "{text}");
        assert!(text.contains("redacted"), "{text}");
        // What is useful stays: the public fingerprint of the key, the client id.
        assert!(
            text.contains(
                PrivateKey::from_text(MERCHANT_PRIVATE_PEM)
                    .unwrap()
                    .fingerprint()
            ),
            "{text}"
        );
        assert!(text.contains(CLIENT_ID), "{text}");
    }
    assert!(shown.contains("http://127.0.0.1:9"), "{shown}");
    let verifier = format!("{:?}", client.notification_verifier());
    assert!(
        verifier.contains(CLIENT_ID)
            && verifier.contains(&alipay_public().fingerprint().to_owned())
    );
}

#[test]
fn plain_http_is_refused_unless_loopback() {
    let error = Gateway::url("http://open-sea-global.alipay.com").unwrap_err();
    assert!(matches!(error, BuildError::InsecureGateway { .. }));
    let text = error.to_string();
    assert!(
        text.contains("loopback") && text.contains("127.0.0.0/8") && text.contains("::1"),
        "{text}"
    );
    for ok in [
        "http://127.0.0.1:8080",
        "http://127.9.9.9:1",
        "http://[::1]:8080",
        "http://localhost:8080",
        "https://open-sea-global.alipay.com",
    ] {
        assert!(Gateway::url(ok).is_ok(), "{ok}");
    }
}

#[test]
fn bad_settings_are_build_errors() {
    let bad_client_id = AmsClient::builder()
        .gateway(Gateway::AsiaAccelerated)
        .client_id("5X 0000")
        .merchant_key(
            PrivateKey::from_text(MERCHANT_PRIVATE_PEM).unwrap(),
            KeyVersion::DEFAULT,
        )
        .alipay_public_key(alipay_public())
        .build()
        .unwrap_err();
    assert!(matches!(bad_client_id, BuildError::InvalidClientId { .. }));

    let bad_token = builder("http://127.0.0.1:9", &manual_clock())
        .agent_token("line\nbreak-SECRET")
        .build()
        .unwrap_err();
    assert!(matches!(bad_token, BuildError::InvalidAgentToken));
    assert!(!format!("{bad_token} {bad_token:?}").contains("SECRET"));

    let bad_proxy = builder("http://127.0.0.1:9", &manual_clock())
        .proxy("not a proxy url")
        .build()
        .unwrap_err();
    assert!(
        matches!(bad_proxy, BuildError::InvalidProxy(_)),
        "{bad_proxy:?}"
    );

    let bad_cert = builder("http://127.0.0.1:9", &manual_clock())
        .add_root_certificate_pem(
            b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n".to_vec(),
        )
        .build();
    assert!(bad_cert.is_err());
}

#[test]
fn accessors_report_the_configuration() {
    let client = builder("http://127.0.0.1:9", &manual_clock())
        .build()
        .unwrap();
    assert_eq!(client.client_id(), CLIENT_ID);
    assert_eq!(client.gateway().origin(), "http://127.0.0.1:9");
    assert_eq!(client.path(Api::Refund), "/ams/api/v1/payments/refund");
    assert_eq!(
        client.timeout_for(Api::Pay),
        ams_client::DEFAULT_CALL_TIMEOUT
    );
    assert_eq!(
        client.retry_policy_for(Api::Cancel),
        RetryPolicy::SAME_REQUEST_60S
    );
    assert_eq!(client.retry_policy_for(Api::Pay), RetryPolicy::Never);
}

#[tokio::test(flavor = "current_thread")]
async fn calls_are_traced_without_secrets() {
    let (captured, _guard) = capture_logs();

    let stub = Stub::start(|i, request| {
        let body = match i {
            0 => PAY_S,
            1 => ANY_U,
            _ => CANCEL_S,
        };
        answer(request, body)
    })
    .await;
    let client = builder(&stub.url(), &manual_clock())
        .agent_token(AGENT_TOKEN)
        .build()
        .unwrap();
    client.execute(&pay_request()).await.unwrap();
    client
        .execute(&ams_protocol::CancelRequest::by_payment_request_id(
            "PAY_20240101_0001",
        ))
        .await
        .unwrap();

    let logs = captured.text();
    assert!(logs.contains("ams_call"), "{logs}");
    assert!(
        logs.contains("api=\"pay\"") || logs.contains("api=pay"),
        "{logs}"
    );
    assert!(logs.contains("PAY_20240101_0001"), "{logs}");
    assert!(logs.contains("ams_attempt"), "{logs}");
    assert!(logs.contains("attempts=2"), "{logs}");
    assert!(
        logs.contains("success") && logs.contains("unknown"),
        "{logs}"
    );
    assert!(logs.contains("duration_ms"), "{logs}");
    assert_no_secrets(&logs);
}
