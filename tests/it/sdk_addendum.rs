//! The official Python SDK (global-open-sdk-python 1.7.1) calls the digest's addendum APIs on
//! `ams-sandbox` with its own request classes: declare and inquiryDeclarationRequests on a payment
//! it made itself, then registration, inquiryRegistrationStatus and inquiryRegistrationInfo; the
//! review's `notifyRegistrationStatus` reaches a loopback endpoint, signed.
//!
//! `tests/interop/sdk_customs_registration.py` builds on `sdk_journey.py` (same transport swap:
//! signing, the `SANDBOX_` path rewrite and response verification are the SDK's own) and moves the
//! sandbox clock through the control API, as a test in another language would.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ams_protocol::{Amount, Currency, CustomerBelongsTo};
use ams_sandbox::{
    CustomsRejection, DeliveryState, MerchantSettings, NotificationKind, Sandbox, SandboxHandle,
    UserSpec,
};
use ams_signing::{PrivateKey, PublicKey, SignatureHeader, SignedContent};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use crate::sdk_script::{Steps, run_script_blocking, vector};

const CLIENT_ID: &str = "SANDBOX_5Y00000000004343";
const USER: &str = "sdk-addendum@example.com";
const PAYMENT: &str = "sdk-addendum-pay-1";
const ACCEPTED: &str = "sdk-decl-accepted";
const REJECTED: &str = "sdk-decl-rejected";
const UNKNOWN: &str = "sdk-decl-unknown";
const REGISTRATION: &str = "sdk-registration-1";
const SUB_MERCHANT: &str = "sdk-sub-merchant-1";
const PASS_THROUGH: &str = r#"{"acquiringCurrency":["CNY"]}"#;

/// One request the notification endpoint received.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    /// Header names in lowercase.
    headers: Vec<(String, String)>,
    body: String,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} header in {self:?}"))
    }
}

/// A loopback endpoint that records each POST and answers the acknowledgement (one request per
/// connection).
struct Endpoint {
    base_url: String,
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Endpoint {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base_url = format!("http://{}", listener.local_addr().expect("address"));
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(receive(stream, log.clone()));
            }
        });
        Self {
            base_url,
            received,
            task,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(mut stream: TcpStream, log: Arc<Mutex<Vec<Received>>>) {
    let mut data = Vec::new();
    let mut buf = [0_u8; 4096];
    let head_end = loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let path = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .unwrap_or_default()
        .to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = data[head_end + 4..].to_vec();
    while body.len() < length {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => body.extend_from_slice(&buf[..n]),
        }
    }
    log.lock().expect("lock").push(Received {
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let ack = ams_protocol::ACK_SUCCESS_BODY;
    let answer = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{ack}",
        ack.len()
    );
    let _ = stream.write_all(answer.as_bytes()).await;
    let _ = stream.shutdown().await;
}

async fn start_sandbox() -> SandboxHandle {
    let merchant_public =
        PublicKey::from_text(&vector("merchant_public_spki.pem")).expect("merchant public key");
    let alipay_key =
        PrivateKey::from_text(&vector("alipay_sim_private_pkcs8.pem")).expect("alipay key");
    Sandbox::builder()
        .merchant(CLIENT_ID, merchant_public)
        .merchant_settings(
            CLIENT_ID,
            MerchantSettings {
                customs_rejections: vec![CustomsRejection::new(
                    REJECTED,
                    "100",
                    "The order does not match (sandbox).",
                )],
                ..MerchantSettings::default()
            },
        )
        .alipay_key(alipay_key)
        .user(UserSpec::new(
            USER,
            CustomerBelongsTo::AlipayCn,
            vec![Amount::new(Currency::CNY, 100_000)],
        ))
        .start_local()
        .await
        .expect("sandbox starts")
}

fn record<'a>(inquiry: &'a Value, id: &str) -> &'a Value {
    inquiry["declarationRecords"]
        .as_array()
        .and_then(|records| records.iter().find(|r| r["declarationRequestId"] == id))
        .unwrap_or_else(|| panic!("no record of {id} in {inquiry}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_official_python_sdk_declares_to_customs_and_registers_a_secondary_merchant() {
    let sandbox = start_sandbox().await;
    let endpoint = Endpoint::start().await;
    let gateway = sandbox.base_url().to_owned();
    let config = json!({
        "gateway_url": gateway,
        "control_url": gateway,
        "client_id": CLIENT_ID,
        "merchant_private_key": vector("merchant_private_pkcs8.b64.txt").trim_end(),
        "alipay_public_key": vector("alipay_sim_public_spki.b64.txt").trim_end(),
        "user": USER,
        "auth_redirect_url": "https://merchant.example/authorized",
        "auth_state": "sdk-addendum-state-1",
        "currency": "CNY",
        "payment": { "request_id": PAYMENT, "value": "2500" },
        "declarations": { "accepted": ACCEPTED, "rejected": REJECTED, "unknown": UNKNOWN },
        "registration": {
            "request_id": REGISTRATION,
            "reference_merchant_id": SUB_MERCHANT,
            "notify_url": format!("{}/notify/registration", endpoint.base_url),
            "pass_through_info": PASS_THROUGH,
            "unknown_merchant": "sdk-no-such-merchant",
        },
    });
    let script = "sdk_customs_registration.py";
    let steps = Steps::of_success(script, run_script_blocking(script, config).await);
    steps.assert_names(&[
        "sdk",
        "consult",
        "consent",
        "applyToken",
        "pay",
        "declare",
        "declare2",
        "inquiryDeclarationRequests",
        "clock",
        "inquiryDeclarationRequests2",
        "declareAgain",
        "registration",
        "registrationAgain",
        "inquiryRegistrationStatus",
        "clock",
        "inquiryRegistrationStatus2",
        "inquiryRegistrationStatusByMerchant",
        "inquiryRegistrationInfo",
        "inquiryRegistrationInfoUnknown",
    ]);
    assert_eq!(steps.get("sdk")["version"], "1.7.1", "the SDK under test");
    // The SDK's own paths, rewritten to the sandbox prefix for a SANDBOX_ client id.
    for (step, path) in [
        ("declare", "/ams/sandbox/api/v1/customs/declare"),
        (
            "inquiryDeclarationRequests",
            "/ams/sandbox/api/v1/customs/inquiryDeclarationRequests",
        ),
        ("registration", "/ams/sandbox/api/v1/merchants/registration"),
        (
            "inquiryRegistrationStatus",
            "/ams/sandbox/api/v1/merchants/inquiryRegistrationStatus",
        ),
        (
            "inquiryRegistrationInfo",
            "/ams/sandbox/api/v1/merchants/inquiryRegistrationInfo",
        ),
    ] {
        assert_eq!(steps.get(step)["url"], format!("{gateway}{path}"), "{step}");
    }
    let payment_id = steps.success("pay")["paymentId"]
        .as_str()
        .expect("paymentId")
        .to_owned();

    // declare: accepted, the receipt not back yet.
    let declared = steps.success("declare");
    let customs_payment_id = declared["customsPaymentId"]
        .as_str()
        .expect("customsPaymentId");
    assert_eq!(
        steps.fields("declare")["customsPaymentId"],
        customs_payment_id
    );
    assert_eq!(
        steps.fields("declare")["identityCheckResult"],
        "CHECK_PASSED"
    );
    assert!(declared.get("clearingChannel").is_none(), "{declared}");
    steps.success("declare2");

    // inquiryDeclarationRequests before customs answered: both processing, the unknown id listed.
    // splitOrder was dropped by the SDK (False) and comes back as the JSON boolean false.
    let processing = steps.raw_success("inquiryDeclarationRequests");
    assert_eq!(processing["declarationRequestsNotFound"], json!([UNKNOWN]));
    for id in [ACCEPTED, REJECTED] {
        let r = record(processing, id);
        assert_eq!(r["declarationRequestStatus"], "PROCESSING", "{r}");
        assert_eq!(r["splitOrder"], json!(false), "{r}");
    }
    let accepted = record(processing, ACCEPTED);
    assert_eq!(
        (
            &accepted["customs"],
            &accepted["declarationAmount"],
            &accepted["customsPaymentId"]
        ),
        (
            &json!({ "customsCode": "ZONGSHU", "region": "CN" }),
            &json!({ "currency": "CNY", "value": "1500" }),
            &json!(customs_payment_id)
        )
    );
    // The documented `customs` member trips the SDK 1.7.1 response class (digest §9.4); the call
    // itself returned the verified body.
    let class_error = steps.get("inquiryDeclarationRequests")["sdk_class_error"]
        .as_str()
        .unwrap_or_else(|| panic!("the SDK class read the records: {}", steps.transcript));
    assert!(class_error.contains("parse_rsp_body"), "{class_error}");

    // A minute later: customs accepted one and rejected the other.
    let answered = steps.raw_success("inquiryDeclarationRequests2");
    let accepted = record(answered, ACCEPTED);
    assert_eq!(
        (
            &accepted["declarationRequestStatus"],
            &accepted["customsDeclarationResultCode"]
        ),
        (&json!("SUCCESS"), &json!("2")),
        "{accepted}"
    );
    let rejected = record(answered, REJECTED);
    assert_eq!(
        (
            &rejected["declarationRequestStatus"],
            &rejected["customsDeclarationResultCode"],
            &rejected["customsDeclarationResultDesc"]
        ),
        (
            &json!("FAIL"),
            &json!("100"),
            &json!("The order does not match (sandbox).")
        ),
        "{rejected}"
    );
    // The same declare again: the same ids, and now the clearing fields, read by the SDK's class.
    let again = steps.success("declareAgain");
    assert_eq!(again["customsPaymentId"], customs_payment_id);
    assert_eq!(steps.fields("declareAgain")["clearingChannel"], "OTHER");
    assert_eq!(
        steps.fields("declareAgain")["customsProviderRegistrationId"],
        "31222699S7"
    );

    // registration: accepted, the same answer for the same request, pending, then completed.
    let registered = steps.success("registration");
    assert_eq!(registered["passThroughInfo"], PASS_THROUGH);
    assert_eq!(
        steps.fields("registration")["passThroughInfo"],
        PASS_THROUGH
    );
    assert_eq!(steps.success("registrationAgain"), registered);
    assert_eq!(
        steps.success("inquiryRegistrationStatus")["registrationResult"],
        json!({ "registrationStatus": "PENDING" })
    );
    let approved = json!([
        { "pspName": "ALIPAY_CN", "registrationResult": { "registrationStatus": "APPROVED" } },
        { "pspName": "ALIPAY_HK", "registrationResult": { "registrationStatus": "APPROVED" } },
    ]);
    for step in [
        "inquiryRegistrationStatus2",
        "inquiryRegistrationStatusByMerchant",
    ] {
        let completed = steps.success(step);
        assert_eq!(
            completed["registrationResult"],
            json!({ "registrationStatus": "COMPLETED" }),
            "{step}"
        );
        assert_eq!(completed["pspRegistrationResultList"], approved, "{step}");
        assert_eq!(
            steps.fields(step)["pspRegistrationResultList"],
            approved,
            "{step}"
        );
    }
    let info = steps.success("inquiryRegistrationInfo");
    assert_eq!(info["merchantInfo"]["referenceMerchantId"], SUB_MERCHANT);
    assert_eq!(info["merchantInfo"]["merchantDisplayName"], "SDK Shop");
    assert_eq!(
        info["merchantInfo"]["registrationDetail"]["contactInfo"],
        json!([{ "contactNo": "shop@merchant.example", "contactType": "EMAIL" }])
    );
    assert_eq!(info["productCodes"], json!(["AGREEMENT_PAYMENT"]));
    assert_eq!(
        steps.fields("inquiryRegistrationInfo")["merchantInfo"],
        info["merchantInfo"]
    );
    steps.response("inquiryRegistrationInfoUnknown");
    assert_eq!(
        steps.result("inquiryRegistrationInfoUnknown"),
        ("F", "RECORD_NOT_FOUND")
    );

    // notifyRegistrationStatus reached the registration's URL, signed by Alipay's key.
    let log = sandbox
        .wait_for_notifications(Duration::from_secs(10), |log| {
            log.iter().any(|n| {
                n.notification == NotificationKind::Registration
                    && n.state == DeliveryState::Delivered
            })
        })
        .await;
    let logged = log
        .iter()
        .find(|n| n.notification == NotificationKind::Registration)
        .unwrap_or_else(|| panic!("no registration notification: {log:#?}"));
    assert_eq!(logged.state, DeliveryState::Delivered, "{logged:#?}");
    assert_eq!(logged.request_id, REGISTRATION);
    let received = endpoint.received();
    assert_eq!(received.len(), 1, "{received:?}");
    let notification = &received[0];
    assert_eq!(notification.path, "/notify/registration");
    let header: SignatureHeader = notification
        .header("signature")
        .parse()
        .expect("signature parses");
    let content = SignedContent::notification(
        &notification.path,
        notification.header("client-id"),
        notification.header("request-time"),
        notification.body.as_bytes(),
    );
    sandbox
        .alipay_public_key()
        .verify(&content, &header)
        .expect("the notification is signed by Alipay's key");
    let body: Value = serde_json::from_str(&notification.body).expect("JSON");
    assert_eq!(
        body,
        json!({
            "registrationRequestId": REGISTRATION,
            "referenceMerchantId": SUB_MERCHANT,
            "registrationResult": { "registrationStatus": "COMPLETED" },
            "pspRegistrationResultList": approved,
        })
    );

    // The money: one debit of CNY 25.00 for the payment the declarations name.
    let ledger = sandbox.ledger(Some(PAYMENT), None);
    assert_eq!((ledger.debits, ledger.credits), (1, 0), "{ledger:?}");
    assert_eq!(ledger.entries[0].payment_id, payment_id);
}
