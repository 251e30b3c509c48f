//! Bind a wallet and charge it, end to end, against an in-process sandbox.
//!
//! The sandbox (`ams-sandbox`) stands in for Alipay's gateway and the user's wallet. The example:
//!
//! 1. starts it on 127.0.0.1 with our merchant key registered, and creates a wallet user;
//! 2. builds an [`AmsClient`] pointed at it, trusting the key the sandbox signs with;
//! 3. binds the wallet: `consult` → the user agrees on the wallet's consent page → `applyToken`;
//! 4. charges it: `pay`, then `inquiryPayment`;
//!
//! printing each step. Run it with `cargo run -p ams-client --example bind_and_charge`.
//!
//! Against the real Alipay only the client's settings change: a named gateway
//! (`Gateway::AsiaAccelerated`, ...), the client id and keys from Alipay's Dashboard; the consent
//! step is the user's browser or wallet app, which comes back to `authRedirectUrl` with `authCode`.

use std::error::Error;
use std::io::Write;

use ams_client::testing::sandbox_wallet_agree;
use ams_client::{
    AmsClient, Error as CallError, Gateway, KeyVersion, Outcome, PrivateKey, PublicKey,
};
use ams_protocol::{
    AccessToken, Amount, ApplyTokenRequest, ConsultRequest, Currency, CustomerBelongsTo, Env,
    InquiryPaymentRequest, Order, PayRequest, PaymentStatus, Scope, TerminalType,
};
use ams_sandbox::{Sandbox, SandboxHandle, UserSpec};

/// A sandbox client id: `SANDBOX_` sends every call to `/ams/sandbox/api/...`.
const CLIENT_ID: &str = "SANDBOX_5X00000000000000";
/// The merchant's key pair (test vectors; never use these keys for anything real).
const MERCHANT_PRIVATE_PEM: &str =
    include_str!("../../../testdata/ams-vectors/merchant_private_pkcs8.pem");
const MERCHANT_PUBLIC_PEM: &str =
    include_str!("../../../testdata/ams-vectors/merchant_public_spki.pem");
/// The wallet user, and where the wallet sends them back after consent.
const USER: &str = "alice@example.com";
const REDIRECT_URL: &str = "https://merchant.example/authorized";

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    run(&mut std::io::stdout()).await?;
    Ok(())
}

/// How the run ended.
#[derive(Debug)]
#[allow(dead_code, reason = "read by the test that runs this example")]
pub(crate) struct Charged {
    /// Alipay's `paymentId`.
    pub(crate) payment_id: String,
    /// `paymentStatus` from inquiryPayment.
    pub(crate) status: PaymentStatus,
    /// The user's balance afterwards.
    pub(crate) balance: Amount,
    /// How many debits the sandbox's ledger shows for the user.
    pub(crate) debits: u32,
}

/// The whole example; each step is written to `out`.
pub(crate) async fn run(out: &mut impl Write) -> Result<Charged, Box<dyn Error>> {
    let sandbox = start_sandbox().await?;
    writeln!(
        out,
        "1. sandbox: Alipay's stand-in listens at {}, signing with {}",
        sandbox.base_url(),
        sandbox.alipay_public_key().fingerprint()
    )?;

    let balance = Amount::new(Currency::USD, 10_000);
    sandbox.create_user(UserSpec::new(
        USER,
        CustomerBelongsTo::AlipayCn,
        vec![balance],
    ))?;
    writeln!(
        out,
        "2. wallet: {USER} has an ALIPAY_CN wallet holding {balance}"
    )?;

    let client = client_for(&sandbox)?;
    let token = bind(&client, USER, out).await?;

    let amount = Amount::new(Currency::USD, 1_000);
    let payment_id = charge(&client, &token, "PAY_EXAMPLE_0001", amount, out).await?;

    let inquiry = InquiryPaymentRequest::by_payment_request_id("PAY_EXAMPLE_0001");
    let found = client.execute(&inquiry).await?.into_result()?;
    let status = found
        .payment_status
        .ok_or("inquiryPayment: no paymentStatus")?;
    writeln!(
        out,
        "7. inquiryPayment: paymentStatus {}, paymentId {}",
        status.as_str(),
        found.payment_id.as_ref().map_or("-", |id| id.as_str())
    )?;

    let user = sandbox.user(USER).ok_or("the user is gone")?;
    let balance = user.spec.balances[0];
    let debits = sandbox.ledger(None, Some(USER)).debits;
    writeln!(
        out,
        "8. wallet: {USER} now holds {balance}; the ledger shows {debits} debit(s)"
    )?;
    Ok(Charged {
        payment_id,
        status,
        balance,
        debits,
    })
}

/// Starts the sandbox with our merchant registered. It generates Alipay's key pair; a client
/// trusts its public half ([`SandboxHandle::alipay_public_key`]).
pub(crate) async fn start_sandbox() -> Result<SandboxHandle, Box<dyn Error>> {
    Ok(Sandbox::builder()
        .merchant(CLIENT_ID, PublicKey::from_text(MERCHANT_PUBLIC_PEM)?)
        .start_local()
        .await?)
}

/// The client: built once, shared by every call.
pub(crate) fn client_for(sandbox: &SandboxHandle) -> Result<AmsClient, Box<dyn Error>> {
    Ok(AmsClient::builder()
        // A loopback http:// origin is allowed for a local sandbox; anything else must be https.
        .gateway(Gateway::url(sandbox.base_url())?)
        .client_id(CLIENT_ID)
        .merchant_key(
            PrivateKey::from_text(MERCHANT_PRIVATE_PEM)?,
            KeyVersion::DEFAULT,
        )
        // In production: Alipay's public key from the Dashboard.
        .alipay_public_key(PublicKey::from_text(&sandbox.alipay_public_key().to_pem())?)
        .build()?)
}

/// Binds `login`'s wallet: consult, consent, applyToken. Returns the access token.
pub(crate) async fn bind(
    client: &AmsClient,
    login: &str,
    out: &mut impl Write,
) -> Result<AccessToken, Box<dyn Error>> {
    // authState comes back with the redirect: check it there, like a CSRF token.
    let auth_state = "STATE_EXAMPLE_0001";
    let consult = ConsultRequest::new(
        CustomerBelongsTo::AlipayCn,
        REDIRECT_URL,
        vec![Scope::AgreementPay],
        auth_state,
        TerminalType::Web,
    );
    let consulted = client.execute(&consult).await?.into_result()?;
    let consent_url = consulted.normal_url.ok_or("consult: no normalUrl")?;
    writeln!(out, "3. consult: the user is sent to {consent_url}")?;

    // The sandbox's consent page, answered as the user's browser would (a form POST, the redirect
    // not followed). With Alipay, the user's browser comes back to authRedirectUrl.
    let redirect = sandbox_wallet_agree(&consent_url, login).await?;
    if redirect.auth_state.as_deref() != Some(auth_state) {
        return Err("the redirect carries another authState".into());
    }
    let auth_code = redirect.auth_code.ok_or("the user did not agree")?;
    let back_to = redirect.location.split('?').next().unwrap_or_default();
    writeln!(
        out,
        "4. consent: {login} agreed; the wallet redirected to {back_to} with an authCode"
    )?;

    let apply = ApplyTokenRequest::authorization_code(CustomerBelongsTo::AlipayCn, auth_code);
    let token = client.execute(&apply).await?.into_result()?;
    writeln!(
        out,
        "5. applyToken: an access token for {}, valid until {}",
        token.user_login_id.as_deref().unwrap_or("?"),
        token
            .access_token_expiry_time
            .as_ref()
            .map_or("?", |t| t.as_str())
    )?;
    Ok(token.access_token.ok_or("applyToken: no accessToken")?)
}

/// Charges `amount` with the token and says what happened. Returns Alipay's `paymentId`.
pub(crate) async fn charge(
    client: &AmsClient,
    token: &AccessToken,
    payment_request_id: &str,
    amount: Amount,
    out: &mut impl Write,
) -> Result<String, Box<dyn Error>> {
    let request = PayRequest::agreement_payment(
        payment_request_id,
        Order::new(
            format!("ORDER_{payment_request_id}"),
            "Monthly subscription",
            amount,
        ),
        amount,
        CustomerBelongsTo::AlipayCn,
        token,
        Env::new(TerminalType::Web),
    );
    match client.execute(&request).await {
        Ok(Outcome::Success(paid)) => {
            let payment_id = paid.payment_id.ok_or("pay: no paymentId")?;
            writeln!(
                out,
                "6. pay {payment_request_id}: paid {amount}, paymentId {payment_id}"
            )?;
            Ok(payment_id.into_inner())
        }
        Ok(Outcome::Failed(refused)) => {
            Err(format!("pay: refused with {}", refused.result.code().as_str()).into())
        }
        // U, a timeout, a reset, an unverifiable answer: the money may have moved. Never treat
        // these as failed: inquire (and cancel if it stays unknown).
        Ok(Outcome::Unknown(_)) | Err(CallError::MaybeSent(_) | CallError::BadResponse(_)) => {
            writeln!(
                out,
                "6. pay {payment_request_id}: outcome unknown, inquiring"
            )?;
            let inquiry = InquiryPaymentRequest::by_payment_request_id(payment_request_id);
            let found = client.execute(&inquiry).await?.into_result()?;
            Ok(found
                .payment_id
                .ok_or("inquiryPayment: no paymentId")?
                .into_inner())
        }
        // Certainly not sent: nothing happened at Alipay.
        Err(error) => Err(error.into()),
    }
}
