//! What goes on the wire: path, headers, body bytes, signature.

use ams_client::{AmsClient, Gateway, KeyVersion, Outcome, PrivateKey};
use ams_protocol::{
    Amount, CancelRequest, Currency, InquiryPaymentRequest, InquiryRefundRequest, PayResponse,
    RefundRequest,
};

use crate::support::*;

#[tokio::test]
async fn the_request_on_the_wire() {
    let stub = Stub::answering(PAY_S).await;
    let clock = manual_clock();
    let client = builder(&stub.url(), &clock)
        .agent_token("AGENT_TOKEN_0123456789")
        .user_agent("autodebit-tests/1.0")
        .build()
        .unwrap();
    let request = pay_request();

    let outcome = client.execute(&request).await.unwrap();

    let Outcome::Success(response) = outcome else {
        panic!("expected success, got {outcome:?}")
    };
    let response: PayResponse = response;
    assert_eq!(
        response.payment_id.as_ref().map(|id| id.as_str()),
        Some("20240101194010800100188000000001")
    );
    assert_eq!(
        response.payment_amount,
        Some(Amount::new(Currency::USD, 1000))
    );

    let requests = stub.requests();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.target, "/ams/api/v1/payments/pay");
    assert_eq!(
        sent.header("content-type"),
        Some("application/json; charset=UTF-8")
    );
    assert_eq!(sent.header_count("content-type"), 1);
    assert_eq!(sent.header("client-id"), Some(CLIENT_ID));
    assert_eq!(sent.header("request-time"), Some(T0.to_string().as_str()));
    assert_eq!(sent.header("agent-token"), Some("AGENT_TOKEN_0123456789"));
    assert_eq!(sent.header("user-agent"), Some("autodebit-tests/1.0"));
    // The body is exactly the serialised request (with the real token: it must reach Alipay).
    assert_eq!(sent.body, serde_json::to_vec(&request).unwrap());
    assert!(String::from_utf8_lossy(&sent.body).contains(ACCESS_TOKEN));
    // The signature covers exactly what was sent, with the merchant key, version 1.
    let signature = sent.header("signature").unwrap();
    assert!(
        signature.starts_with("algorithm=RSA256,keyVersion=1,signature="),
        "{signature}"
    );
    sent.verify_with_merchant_key().unwrap();
}

#[tokio::test]
async fn a_sandbox_client_id_uses_the_sandbox_path_and_signs_it() {
    let stub = Stub::answering(PAY_S).await;
    let client = AmsClient::builder()
        .gateway(Gateway::url(&stub.url()).unwrap())
        .client_id(SANDBOX_CLIENT_ID)
        .merchant_key(
            PrivateKey::from_text(MERCHANT_PRIVATE_PEM).unwrap(),
            KeyVersion::DEFAULT,
        )
        .alipay_public_key(alipay_public())
        .clock(manual_clock())
        .build()
        .unwrap();
    assert_eq!(
        client.path(ams_protocol::Api::Pay),
        "/ams/sandbox/api/v1/payments/pay"
    );

    let outcome = client.execute(&pay_request()).await.unwrap();
    assert!(outcome.is_success());

    let sent = &stub.requests()[0];
    assert_eq!(sent.target, "/ams/sandbox/api/v1/payments/pay");
    assert_eq!(sent.header("client-id"), Some(SANDBOX_CLIENT_ID));
    sent.verify_with_merchant_key().unwrap();
}

#[tokio::test]
async fn no_agent_token_header_unless_configured() {
    let stub = Stub::answering(PAY_S).await;
    client(&stub.url()).execute(&pay_request()).await.unwrap();
    let sent = &stub.requests()[0];
    assert_eq!(sent.header("agent-token"), None);
    assert_eq!(
        sent.header("user-agent"),
        Some(ams_client::DEFAULT_USER_AGENT)
    );
}

#[tokio::test]
async fn each_api_goes_to_its_path() {
    let stub = Stub::answering(
        r#"{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"}}"#,
    )
    .await;
    let client = client(&stub.url());
    client
        .execute(&CancelRequest::by_payment_request_id("PAY_1"))
        .await
        .unwrap();
    client
        .execute(&RefundRequest::new(
            "REFUND_1",
            "2024X",
            Amount::new(Currency::USD, 100),
        ))
        .await
        .unwrap();
    client
        .execute(&InquiryPaymentRequest::by_payment_request_id("PAY_1"))
        .await
        .unwrap();
    client
        .execute(&InquiryRefundRequest::by_refund_request_id("REFUND_1"))
        .await
        .unwrap();
    let targets: Vec<String> = stub.requests().into_iter().map(|r| r.target).collect();
    assert_eq!(
        targets,
        [
            "/ams/api/v1/payments/cancel",
            "/ams/api/v1/payments/refund",
            "/ams/api/v1/payments/inquiryPayment",
            "/ams/api/v1/payments/inquiryRefund",
        ]
    );
    for sent in stub.requests() {
        sent.verify_with_merchant_key().unwrap();
    }
}

#[tokio::test]
async fn sequential_calls_reuse_one_connection() {
    let stub = Stub::answering(PAY_S).await;
    let client = client(&stub.url());
    let clone = client.clone();
    for _ in 0..3 {
        client.execute(&pay_request()).await.unwrap();
        clone.execute(&pay_request()).await.unwrap();
    }
    assert_eq!(stub.requests().len(), 6);
    assert_eq!(stub.connections(), 1);
}

#[tokio::test]
async fn one_client_can_be_shared_between_tasks() {
    let stub = Stub::answering(PAY_S).await;
    let client = client(&stub.url());
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            client.execute(&pay_request()).await.unwrap().is_success()
        }));
    }
    for task in tasks {
        assert!(task.await.unwrap());
    }
    assert_eq!(stub.requests().len(), 4);
}

/// One ISV deployment acting for several merchants: one client, a handle per merchant's agent
/// token, each call carrying its own; the builder's token stays on the original handle.
#[tokio::test]
async fn each_handle_sends_its_own_agent_token() {
    let stub = Stub::answering(PAY_S).await;
    let clock = manual_clock();
    let client = builder(&stub.url(), &clock)
        .agent_token("AGENT_OF_SHOP_A")
        .build()
        .unwrap();
    let shop_b = client.with_agent_token("AGENT_OF_SHOP_B").unwrap();
    let itself = client.without_agent_token();
    client.execute(&pay_request()).await.unwrap();
    shop_b.execute(&pay_request()).await.unwrap();
    itself.execute(&pay_request()).await.unwrap();
    let sent: Vec<Option<String>> = stub
        .requests()
        .iter()
        .map(|r| r.header("agent-token").map(str::to_owned))
        .collect();
    assert_eq!(
        sent,
        [
            Some("AGENT_OF_SHOP_A".to_owned()),
            Some("AGENT_OF_SHOP_B".to_owned()),
            None
        ]
    );
    // A token that cannot be a header value is refused, and no handle shows a token in Debug.
    assert!(client.with_agent_token("two words").is_err());
    assert!(client.with_agent_token("").is_err());
    let shown = format!("{shop_b:?}");
    assert!(!shown.contains("AGENT_OF_SHOP_B"), "{shown}");
}
