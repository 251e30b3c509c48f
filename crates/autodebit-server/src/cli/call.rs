//! `autodebit call API --body FILE`: one AMS call, signed, sent, its answer verified and printed,
//! for an operator debugging against the sandbox or Alipay (as the Stripe and AWS command lines
//! do). The body is sent byte for byte (it must parse as the API's request: nothing is sent
//! otherwise); the answer is printed as JSON on stdout, and the outcome on stderr.
//!
//! Exit codes: 0 when `resultStatus` is S, 1 when F, 3 when the outcome is not known (U, no
//! answer, an answer that does not verify: the call may have taken effect), 2 for bad input
//! (nothing was sent).

use std::path::PathBuf;
use std::time::Duration;

use ams_client::{
    AlipayPublicKeys, AmsClient, CallResult, Error as CallError, KeyVersion, PrivateKey, PublicKey,
    RetryPolicy,
};
use ams_protocol::{
    Api, ApplyTokenRequest, CancelRequest, ConsultRequest, DeclareRequest,
    InquiryDeclarationRequestsRequest, InquiryPaymentRequest, InquiryRefundRequest,
    InquiryRegistrationInfoRequest, InquiryRegistrationStatusRequest, PayRequest, RefundRequest,
    RegistrationRequest, RevokeRequest,
};
use clap::Args;
use serde::Serialize;

use super::{EXIT_UNKNOWN, Failure, InputFile, read_file};

/// Arguments of `autodebit call`.
#[derive(Debug, Args)]
pub(crate) struct CallArgs {
    /// The API, by its docs name: consult, applyToken, revoke, pay, inquiryPayment, cancel,
    /// refund, inquiryRefund.
    #[arg(value_name = "API")]
    api: String,
    /// The request body (JSON), sent byte for byte; `-` reads standard input.
    #[arg(long, value_name = "FILE")]
    body: InputFile,
    /// The gateway: a region (north_america, north_america_accelerated, asia, asia_accelerated,
    /// europe, us_merchants) or a URL (plain http only to loopback, e.g. a local sandbox).
    #[arg(long, value_name = "REGION|URL")]
    gateway: String,
    /// The client id (`SANDBOX_…` ids use the sandbox paths).
    #[arg(long, value_name = "ID")]
    client_id: String,
    /// The merchant's private key (PKCS#8 or PKCS#1, PEM or bare base64).
    #[arg(long, value_name = "FILE")]
    private_key: PathBuf,
    /// Alipay's public key, to verify the answer (PEM or bare base64).
    #[arg(long, value_name = "FILE")]
    alipay_public_key: PathBuf,
    /// The key version written in the signature header.
    #[arg(long, value_name = "N", default_value_t = 1)]
    key_version: u32,
    /// A file holding an ISV's agent token, sent as `agent-token`.
    #[arg(long, value_name = "FILE")]
    agent_token_file: Option<PathBuf>,
    /// How long to wait for the answer, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    timeout: u64,
}

fn key_text(path: &std::path::Path, what: &str) -> Result<String, Failure> {
    String::from_utf8(read_file(path, what)?).map_err(|_| {
        Failure::bad_input(format!(
            "{what} {} is not text (PEM or base64 expected)",
            path.display()
        ))
    })
}

/// What the call came to: the exit code and the JSON to print.
struct Printed {
    code: u8,
    outcome: String,
    json: Option<String>,
}

fn printed<T: Serialize + ams_protocol::AmsResponse>(result: CallResult<T>) -> Printed {
    match result {
        Ok(outcome) => {
            let r = outcome.result();
            let status = r.status().as_str().to_owned();
            let code = match status.as_str() {
                "S" => 0,
                "F" => super::EXIT_INVALID,
                _ => EXIT_UNKNOWN,
            };
            let line = format!(
                "result {status} {}{}",
                r.code().as_str(),
                r.message().map(|m| format!(": {m}")).unwrap_or_default()
            );
            Printed {
                code,
                outcome: line,
                json: serde_json::to_string_pretty(outcome.response()).ok(),
            }
        }
        Err(CallError::NotSent(e)) => Printed {
            code: super::EXIT_BAD_INPUT,
            outcome: format!("not sent: {e}"),
            json: None,
        },
        Err(e) => Printed {
            code: EXIT_UNKNOWN,
            outcome: format!("outcome unknown (the call may have taken effect): {e}"),
            json: None,
        },
    }
}

pub(crate) fn run(args: &CallArgs) -> Result<(), Failure> {
    let api = Api::ALL
        .into_iter()
        .find(|a| a.name().eq_ignore_ascii_case(&args.api))
        .ok_or_else(|| {
            Failure::bad_input(format!(
                "unknown API {:?}: one of {}",
                args.api,
                Api::ALL.map(Api::name).join(", ")
            ))
        })?;
    let body = args.body.read_bytes("request body")?;
    let gateway = crate::runtime::parse_gateway(&args.gateway)
        .map_err(|e| Failure::bad_input(format!("--gateway: {e}")))?;
    let private = PrivateKey::from_text(&key_text(&args.private_key, "private key file")?)
        .map_err(|e| Failure::bad_input(format!("--private-key: {e}")))?;
    let public = PublicKey::from_text(&key_text(&args.alipay_public_key, "public key file")?)
        .map_err(|e| Failure::bad_input(format!("--alipay-public-key: {e}")))?;
    let version = KeyVersion::new(args.key_version);
    let mut builder = AmsClient::builder()
        .gateway(gateway)
        .client_id(args.client_id.clone())
        .merchant_key(private, version)
        .alipay_public_keys(AlipayPublicKeys::single(public))
        .call_timeout(Duration::from_secs(args.timeout.max(1)));
    if let Some(path) = &args.agent_token_file {
        let token = key_text(path, "agent token file")?;
        builder = builder.agent_token(token.trim().to_owned());
    }
    let client = builder
        .build()
        .map_err(|e| Failure::bad_input(e.to_string()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::bad_input(format!("cannot start the runtime: {e}")))?;
    let once = RetryPolicy::Never;
    let done = runtime.block_on(async {
        match api {
            Api::Consult => printed(client.execute_body::<ConsultRequest>(body, once).await),
            Api::ApplyToken => printed(client.execute_body::<ApplyTokenRequest>(body, once).await),
            Api::Revoke => printed(client.execute_body::<RevokeRequest>(body, once).await),
            Api::Pay => printed(client.execute_body::<PayRequest>(body, once).await),
            Api::InquiryPayment => printed(
                client
                    .execute_body::<InquiryPaymentRequest>(body, once)
                    .await,
            ),
            Api::Cancel => printed(client.execute_body::<CancelRequest>(body, once).await),
            Api::Refund => printed(client.execute_body::<RefundRequest>(body, once).await),
            Api::InquiryRefund => printed(
                client
                    .execute_body::<InquiryRefundRequest>(body, once)
                    .await,
            ),
            Api::Declare => printed(client.execute_body::<DeclareRequest>(body, once).await),
            Api::InquiryDeclarationRequests => printed(
                client
                    .execute_body::<InquiryDeclarationRequestsRequest>(body, once)
                    .await,
            ),
            Api::Registration => {
                printed(client.execute_body::<RegistrationRequest>(body, once).await)
            }
            Api::InquiryRegistrationStatus => printed(
                client
                    .execute_body::<InquiryRegistrationStatusRequest>(body, once)
                    .await,
            ),
            Api::InquiryRegistrationInfo => printed(
                client
                    .execute_body::<InquiryRegistrationInfoRequest>(body, once)
                    .await,
            ),
            other => Printed {
                code: super::EXIT_BAD_INPUT,
                outcome: format!("not sent: {other} cannot be called from here yet"),
                json: None,
            },
        }
    });
    if let Some(json) = &done.json {
        println!("{json}");
    }
    eprintln!("{}: {}", api.name(), done.outcome);
    if done.code == 0 {
        Ok(())
    } else {
        Err(Failure::quiet(done.code))
    }
}
