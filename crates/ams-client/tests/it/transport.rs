//! Transport failures say whether the request may have reached Alipay; timeouts and proxies are
//! configurable.

use std::time::Duration;

use ams_client::{AmsClient, Error, Gateway, KeyVersion, MaybeSentKind, NotSentKind, PrivateKey};
use ams_protocol::Api;

use crate::support::*;

#[tokio::test]
async fn connection_refused_is_not_sent() {
    let port = closed_port().await;
    let error = client(&format!("http://127.0.0.1:{port}"))
        .execute(&pay_request())
        .await
        .unwrap_err();
    let Error::NotSent(not_sent) = &error else {
        panic!("expected NotSent, got {error:?}")
    };
    assert_eq!(not_sent.kind(), &NotSentKind::ConnectionRefused);
    assert!(!error.is_outcome_unknown());
    assert_eq!(error.status(), None);
}

#[tokio::test]
async fn an_unresolvable_host_is_not_sent() {
    let client = AmsClient::builder()
        .gateway(Gateway::url("https://ams-client-test.invalid").unwrap())
        .client_id(CLIENT_ID)
        .merchant_key(
            PrivateKey::from_text(MERCHANT_PRIVATE_PEM).unwrap(),
            KeyVersion::DEFAULT,
        )
        .alipay_public_key(alipay_public())
        .no_proxy()
        .connect_timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let error = client.execute(&pay_request()).await.unwrap_err();
    let Error::NotSent(not_sent) = &error else {
        panic!("expected NotSent, got {error:?}")
    };
    assert!(
        matches!(
            not_sent.kind(),
            NotSentKind::Dns | NotSentKind::ConnectTimeout | NotSentKind::Unreachable
        ),
        "{not_sent:?}"
    );
}

#[tokio::test]
async fn a_connection_closed_after_the_request_is_maybe_sent() {
    let stub = Stub::start(|_, _| Reply::Close).await;
    let error = client(&stub.url())
        .execute(&pay_request())
        .await
        .unwrap_err();
    let Error::MaybeSent(maybe) = &error else {
        panic!("expected MaybeSent, got {error:?}")
    };
    assert_eq!(maybe.kind(), &MaybeSentKind::ConnectionClosed);
    assert!(error.is_outcome_unknown());
    // The request was received in full.
    assert_eq!(stub.requests().len(), 1);
}

#[tokio::test]
async fn an_answer_cut_short_is_maybe_sent() {
    let stub = Stub::start(|_, _| {
        Reply::RawThenClose(b"HTTP/1.1 200 OK\r\ncontent-length: 500\r\n\r\n{\"result\":".to_vec())
    })
    .await;
    let error = client(&stub.url())
        .execute(&pay_request())
        .await
        .unwrap_err();
    let Error::MaybeSent(maybe) = &error else {
        panic!("expected MaybeSent, got {error:?}")
    };
    assert_eq!(maybe.kind(), &MaybeSentKind::IncompleteResponse);
    assert_eq!(maybe.status().map(|s| s.as_u16()), Some(200));
}

#[tokio::test]
async fn a_slow_answer_is_a_maybe_sent_timeout() {
    let stub = Stub::start(|_, _| Reply::Hang(Duration::from_secs(2))).await;
    let client = builder(&stub.url(), &manual_clock())
        .call_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let error = client.execute(&pay_request()).await.unwrap_err();
    let Error::MaybeSent(maybe) = &error else {
        panic!("expected MaybeSent, got {error:?}")
    };
    assert_eq!(maybe.kind(), &MaybeSentKind::Timeout);
    assert_eq!(stub.requests().len(), 1);
}

#[tokio::test]
async fn a_per_api_timeout_beats_the_default() {
    // Default short, pay long: a 600 ms answer arrives.
    let stub = Stub::start(|_, request| {
        Reply::Delay(Duration::from_millis(600), Box::new(answer(request, PAY_S)))
    })
    .await;
    let client = builder(&stub.url(), &manual_clock())
        .call_timeout(Duration::from_millis(200))
        .api_timeout(Api::Pay, Duration::from_secs(5))
        .build()
        .unwrap();
    assert_eq!(client.timeout_for(Api::Pay), Duration::from_secs(5));
    assert_eq!(client.timeout_for(Api::Cancel), Duration::from_millis(200));
    assert!(client.execute(&pay_request()).await.unwrap().is_success());

    // Default long, pay short: the same answer is too late.
    let stub = Stub::start(|_, request| {
        Reply::Delay(Duration::from_secs(2), Box::new(answer(request, PAY_S)))
    })
    .await;
    let client = builder(&stub.url(), &manual_clock())
        .call_timeout(Duration::from_secs(30))
        .api_timeout(Api::Pay, Duration::from_millis(200))
        .build()
        .unwrap();
    let error = client.execute(&pay_request()).await.unwrap_err();
    assert!(
        matches!(&error, Error::MaybeSent(m) if m.kind() == &MaybeSentKind::Timeout),
        "{error:?}"
    );
}

/// The APIs Alipay says to call again when no result comes back within 3 seconds.
const CALL_AGAIN_APIS: [Api; 3] = [Api::InquiryPayment, Api::Cancel, Api::Refund];

#[test]
fn inquiry_cancel_and_refund_default_to_three_seconds() {
    assert_eq!(
        ams_client::DEFAULT_CALL_AGAIN_TIMEOUT,
        Duration::from_secs(3)
    );
    assert_eq!(ams_client::DEFAULT_CALL_TIMEOUT, Duration::from_secs(10));
    let client = client("http://127.0.0.1:9");
    for api in Api::ALL {
        let expected = if CALL_AGAIN_APIS.contains(&api) {
            Duration::from_secs(3)
        } else {
            Duration::from_secs(10)
        };
        assert_eq!(client.timeout_for(api), expected, "{api}");
        assert_eq!(ams_client::default_timeout_for(api), expected, "{api}");
    }
}

#[test]
fn an_explicit_call_timeout_sets_every_api_without_its_own() {
    let client = builder("http://127.0.0.1:9", &manual_clock())
        .call_timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    for api in Api::ALL {
        // Including inquiryPayment, cancel and refund: their 3 s default gives way too.
        assert_eq!(client.timeout_for(api), Duration::from_secs(20), "{api}");
    }
}

#[test]
fn an_api_timeout_wins_over_the_call_timeout_and_the_default() {
    let over = |builder: crate::sandbox::Builder| {
        builder
            .api_timeout(Api::Refund, Duration::from_secs(7))
            .api_timeout(Api::Pay, Duration::from_secs(1))
    };
    // Without a call timeout: the two set, the others at their defaults.
    let client = over(builder("http://127.0.0.1:9", &manual_clock()))
        .build()
        .unwrap();
    assert_eq!(client.timeout_for(Api::Refund), Duration::from_secs(7));
    assert_eq!(client.timeout_for(Api::Pay), Duration::from_secs(1));
    assert_eq!(client.timeout_for(Api::Cancel), Duration::from_secs(3));
    assert_eq!(
        client.timeout_for(Api::InquiryPayment),
        Duration::from_secs(3)
    );
    assert_eq!(client.timeout_for(Api::Consult), Duration::from_secs(10));

    // With a call timeout, given before or after: the two set, every other API at 20 s.
    let before =
        over(builder("http://127.0.0.1:9", &manual_clock()).call_timeout(Duration::from_secs(20)))
            .build()
            .unwrap();
    let after = over(builder("http://127.0.0.1:9", &manual_clock()))
        .call_timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    for client in [before, after] {
        for api in Api::ALL {
            let expected = match api {
                Api::Refund => Duration::from_secs(7),
                Api::Pay => Duration::from_secs(1),
                _ => Duration::from_secs(20),
            };
            assert_eq!(client.timeout_for(api), expected, "{api}");
        }
    }
}

#[tokio::test]
async fn requests_go_through_the_configured_proxy() {
    // The "gateway" is a port where nothing answers; the proxy is the stub, which answers for it.
    let gateway = Stub::start(|_, request| answer(request, PAY_S)).await;
    let proxy = Stub::start(|_, request| answer(request, PAY_S)).await;
    let client = builder(&gateway.url(), &manual_clock())
        .proxy(proxy.url())
        .build()
        .unwrap();

    let outcome = client.execute(&pay_request()).await.unwrap();
    assert!(outcome.is_success());

    assert!(gateway.requests().is_empty());
    let through_proxy = proxy.requests();
    assert_eq!(through_proxy.len(), 1);
    // Absolute form: the proxy is told where the request is going.
    assert_eq!(
        through_proxy[0].target,
        format!("{}/ams/api/v1/payments/pay", gateway.url())
    );
    assert_eq!(
        through_proxy[0].header("host"),
        Some(gateway.addr.to_string().as_str())
    );
    through_proxy[0].verify_with_merchant_key().unwrap();
}

#[test]
fn the_call_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let client = client("http://127.0.0.1:9");
    let request = pay_request();
    let future = client.execute(&request);
    assert_send(&future);
}
