//! The one helper of these tests: a stub AMS gateway on 127.0.0.1 speaking raw HTTP/1.1, which
//! records every request byte for byte and answers with whatever the test decides — correctly
//! signed answers, mis-signed ones, slow ones, closed connections.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use ams_client::testing::ManualClock;
use ams_client::{AlipayPublicKeys, AmsClient, ClientBuilder, ClientId, Gateway};
use ams_protocol::{
    AccessToken, Amount, Currency, CustomerBelongsTo, Env, Order, PayRequest, TerminalType,
};
use ams_signing::{KeyVersion, PrivateKey, PublicKey, SignedContent, Signer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub(crate) const CLIENT_ID: &str = "5X00000000000000";
pub(crate) const SANDBOX_CLIENT_ID: &str = "SANDBOX_5X00000000000000";
/// 2024-01-01T00:00:00Z.
pub(crate) const T0: i64 = 1_704_067_200_000;
pub(crate) const RESPONSE_TIME: &str = "2024-01-01T00:00:01+00:00";
pub(crate) const ACCESS_TOKEN: &str = "281010033AB2F588D14B43238637264FCA5A0001";

pub(crate) const MERCHANT_PRIVATE_PEM: &str =
    include_str!("../../../../testdata/ams-vectors/merchant_private_pkcs8.pem");
pub(crate) const MERCHANT_PRIVATE_B64: &str =
    include_str!("../../../../testdata/ams-vectors/merchant_private_pkcs8.b64.txt");
pub(crate) const MERCHANT_PUBLIC_PEM: &str =
    include_str!("../../../../testdata/ams-vectors/merchant_public_spki.pem");
pub(crate) const ALIPAY_PRIVATE_PEM: &str =
    include_str!("../../../../testdata/ams-vectors/alipay_sim_private_pkcs8.pem");
pub(crate) const ALIPAY_PUBLIC_PEM: &str =
    include_str!("../../../../testdata/ams-vectors/alipay_sim_public_spki.pem");
pub(crate) const NOTIFICATION_VECTORS: &str =
    include_str!("../../../../testdata/ams-vectors/notification_vectors.json");

/// The simulated Alipay key (signs answers and notifications).
pub(crate) static ALIPAY_KEY: LazyLock<PrivateKey> =
    LazyLock::new(|| PrivateKey::from_text(ALIPAY_PRIVATE_PEM).unwrap());
/// The merchant's key (signs requests; used as "the wrong key" for answers).
pub(crate) static MERCHANT_KEY: LazyLock<PrivateKey> =
    LazyLock::new(|| PrivateKey::from_text(MERCHANT_PRIVATE_PEM).unwrap());

pub(crate) fn alipay_public() -> PublicKey {
    PublicKey::from_text(ALIPAY_PUBLIC_PEM).unwrap()
}

pub(crate) fn merchant_public() -> PublicKey {
    PublicKey::from_text(MERCHANT_PUBLIC_PEM).unwrap()
}

pub(crate) fn manual_clock() -> ManualClock {
    ManualClock::at_unix_millis(T0)
}

/// A builder with every required setting: our client id, the merchant key (v1), the simulated
/// Alipay public key (v1), and `clock`.
pub(crate) fn builder(
    gateway_url: &str,
    clock: &ManualClock,
) -> ClientBuilder<Gateway, ClientId, Signer, AlipayPublicKeys> {
    AmsClient::builder()
        .gateway(Gateway::url(gateway_url).unwrap())
        .client_id(CLIENT_ID)
        .merchant_key(
            PrivateKey::from_text(MERCHANT_PRIVATE_PEM).unwrap(),
            KeyVersion::DEFAULT,
        )
        .alipay_public_key(alipay_public())
        .clock(clock.clone())
}

pub(crate) fn client(gateway_url: &str) -> AmsClient {
    builder(gateway_url, &manual_clock()).build().unwrap()
}

pub(crate) fn pay_request() -> PayRequest {
    let amount = Amount::new(Currency::USD, 1000);
    PayRequest::agreement_payment(
        "PAY_20240101_0001",
        Order::new("ORDER_20240101_0001", "Monthly subscription", amount),
        amount,
        CustomerBelongsTo::AlipayCn,
        AccessToken::new(ACCESS_TOKEN),
        Env::new(TerminalType::Web),
    )
}

pub(crate) const PAY_S: &str = r#"{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success."},"paymentRequestId":"PAY_20240101_0001","paymentId":"20240101194010800100188000000001","paymentAmount":{"currency":"USD","value":"1000"},"paymentCreateTime":"2024-01-01T00:00:05+00:00","paymentTime":"2024-01-01T00:00:06+00:00"}"#;
pub(crate) const ANY_U: &str = r#"{"result":{"resultCode":"UNKNOWN_EXCEPTION","resultStatus":"U","resultMessage":"try again"}}"#;
pub(crate) const CANCEL_S: &str = r#"{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"},"paymentId":"20240101194010800100188000000001","paymentRequestId":"PAY_20240101_0001","cancelTime":"2024-01-01T00:01:00+00:00"}"#;
pub(crate) const CANCEL_F: &str = r#"{"result":{"resultCode":"CANCEL_WINDOW_EXCEED","resultStatus":"F","resultMessage":"window exceeded"}}"#;

/// One request as received.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub(crate) method: String,
    /// The request target as written on the request line (origin or absolute form).
    pub(crate) target: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Recorded {
    /// The first value of a header (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn header_count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }

    /// The path, also for an absolute-form target.
    pub(crate) fn path(&self) -> &str {
        match self.target.split_once("://") {
            Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
            None => &self.target,
        }
    }

    /// Checks the request's signature with the merchant's public key over what was received.
    pub(crate) fn verify_with_merchant_key(&self) -> Result<(), ams_signing::VerifyError> {
        let header = self
            .header("signature")
            .expect("signature header")
            .parse()
            .expect("well-formed signature header");
        let content = SignedContent::request(
            self.path(),
            self.header("client-id").unwrap(),
            self.header("request-time").unwrap(),
            &self.body,
        );
        merchant_public().verify(&content, &header)
    }
}

/// What the stub does with a request.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    /// Answers with these bytes.
    Http {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Writes these raw bytes, then closes the connection.
    RawThenClose(Vec<u8>),
    /// Closes the connection without answering.
    Close,
    /// Holds the connection for a while without answering, then closes it.
    Hang(Duration),
    /// Waits, then replies.
    Delay(Duration, Box<Reply>),
}

/// A signed answer, built from the request it answers; fields can be spoiled before `reply()`.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    /// The path signed over (the request's, by default).
    pub(crate) path: String,
    /// `client-id` header (the request's, by default); `None` omits it.
    pub(crate) client_id: Option<String>,
    /// `response-time` header; `None` omits it.
    pub(crate) response_time: Option<String>,
    /// The body sent.
    pub(crate) body: Vec<u8>,
    /// The body signed, when it should differ from the one sent.
    pub(crate) signed_body: Option<Vec<u8>>,
    /// Who signs: the Alipay simulator key by default.
    pub(crate) key: &'static LazyLock<PrivateKey>,
    /// `keyVersion` in the header; `None` writes no keyVersion.
    pub(crate) key_version: Option<u32>,
    /// `false` sends no `signature` header at all.
    pub(crate) signed: bool,
    /// A verbatim `signature` header instead of a computed one.
    pub(crate) raw_signature: Option<String>,
}

impl Answer {
    pub(crate) fn to(request: &Recorded, body: &str) -> Answer {
        Answer {
            status: 200,
            path: request.path().to_owned(),
            client_id: request.header("client-id").map(str::to_owned),
            response_time: Some(RESPONSE_TIME.to_owned()),
            body: body.as_bytes().to_vec(),
            signed_body: None,
            key: &ALIPAY_KEY,
            key_version: Some(1),
            signed: true,
            raw_signature: None,
        }
    }

    pub(crate) fn reply(self) -> Reply {
        let mut headers = vec![(
            "content-type".to_owned(),
            "application/json; charset=UTF-8".to_owned(),
        )];
        if let Some(client_id) = &self.client_id {
            headers.push(("client-id".to_owned(), client_id.clone()));
        }
        if let Some(time) = &self.response_time {
            headers.push(("response-time".to_owned(), time.clone()));
        }
        if let Some(raw) = self.raw_signature {
            headers.push(("signature".to_owned(), raw));
        } else if self.signed {
            let signed_body = self.signed_body.as_ref().unwrap_or(&self.body);
            let content = SignedContent::response(
                &self.path,
                self.client_id.as_deref().unwrap_or(""),
                self.response_time.as_deref().unwrap_or(""),
                signed_body,
            );
            let header = self
                .key
                .sign(&content, KeyVersion::new(self.key_version.unwrap_or(1)))
                .unwrap();
            let value = match self.key_version {
                Some(_) => header.to_string(),
                None => format!(
                    "algorithm=RSA256,signature={}",
                    header.signature_urlencoded()
                ),
            };
            headers.push(("signature".to_owned(), value));
        }
        Reply::Http {
            status: self.status,
            headers,
            body: self.body,
        }
    }
}

/// A correctly signed 200 answer.
pub(crate) fn answer(request: &Recorded, body: &str) -> Reply {
    Answer::to(request, body).reply()
}

type Handler = dyn Fn(usize, &Recorded) -> Reply + Send + Sync;

/// The stub gateway. Dropping it stops accepting connections.
pub(crate) struct Stub {
    pub(crate) addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    connections: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Stub {
    /// Starts a stub; `handler` gets the 0-based index of the request and the request.
    pub(crate) async fn start(
        handler: impl Fn(usize, &Recorded) -> Reply + Send + Sync + 'static,
    ) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let counter = Arc::new(AtomicUsize::new(0));
        let recorded = Arc::clone(&requests);
        let connections = Arc::new(AtomicUsize::new(0));
        let accepted = Arc::clone(&connections);
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                accepted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(
                    socket,
                    Arc::clone(&handler),
                    Arc::clone(&recorded),
                    Arc::clone(&counter),
                ));
            }
        });
        Stub {
            addr,
            requests,
            connections,
            task,
        }
    }

    /// Always answers with a correctly signed 200 carrying `body`.
    pub(crate) async fn answering(body: &'static str) -> Stub {
        Stub::start(move |_, request| answer(request, body)).await
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// How many connections were accepted.
    pub(crate) fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

async fn serve(
    mut socket: TcpStream,
    handler: Arc<Handler>,
    requests: Arc<Mutex<Vec<Recorded>>>,
    counter: Arc<AtomicUsize>,
) {
    let mut buffer = Vec::new();
    loop {
        // The request head.
        let head_end = loop {
            if let Some(i) = find(&buffer, b"\r\n\r\n") {
                break i;
            }
            let mut chunk = [0u8; 4096];
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or_default().to_owned();
        let mut parts = request_line.split(' ');
        let method = parts.next().unwrap_or_default().to_owned();
        let target = parts.next().unwrap_or_default().to_owned();
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        // The body.
        let body_start = head_end + 4;
        while buffer.len() < body_start + length {
            let mut chunk = [0u8; 4096];
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        let body = buffer[body_start..body_start + length].to_vec();
        buffer.drain(..body_start + length);

        let recorded = Recorded {
            method,
            target,
            headers,
            body,
        };
        requests.lock().unwrap().push(recorded.clone());
        let index = counter.fetch_add(1, Ordering::SeqCst);
        let mut reply = handler(index, &recorded);
        loop {
            match reply {
                Reply::Delay(wait, next) => {
                    tokio::time::sleep(wait).await;
                    reply = *next;
                }
                Reply::Http {
                    status,
                    headers,
                    body,
                } => {
                    let reason = if status == 200 { "OK" } else { "Status" };
                    let mut out = format!("HTTP/1.1 {status} {reason}\r\n");
                    for (name, value) in headers {
                        out.push_str(&format!("{name}: {value}\r\n"));
                    }
                    out.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
                    let mut bytes = out.into_bytes();
                    bytes.extend_from_slice(&body);
                    if socket.write_all(&bytes).await.is_err() {
                        return;
                    }
                    break;
                }
                Reply::RawThenClose(bytes) => {
                    let _ = socket.write_all(&bytes).await;
                    let _ = socket.shutdown().await;
                    return;
                }
                Reply::Close => return,
                Reply::Hang(wait) => {
                    tokio::time::sleep(wait).await;
                    return;
                }
            }
        }
    }
}

/// A port on 127.0.0.1 where nothing listens.
pub(crate) async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    port
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
pub(crate) struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Everything written so far.
    pub(crate) fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures every `tracing` event and span (TRACE and up, with span fields, closed spans too) on
/// this thread while the guard lives. Use a current-thread runtime so every task is captured.
pub(crate) fn capture_logs() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_writer(move || writer.clone())
        .finish();
    (captured, tracing::subscriber::set_default(subscriber))
}
