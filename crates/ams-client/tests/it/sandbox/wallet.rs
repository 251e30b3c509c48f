//! The sandbox wallet helpers of `ams_client::testing`: agree, decline, and a refusal that says why.

use ams_client::testing::{sandbox_wallet_agree, sandbox_wallet_decline};
use ams_protocol::{ApplyTokenRequest, ConsultRequest, CustomerBelongsTo, Scope, TerminalType};

use super::{ALICE, Fixture, REDIRECT};

/// A fresh consent page for `auth_state`.
async fn consent_page(f: &Fixture, auth_state: &str) -> String {
    let consult = ConsultRequest::new(
        CustomerBelongsTo::AlipayCn,
        REDIRECT,
        vec![Scope::AgreementPay],
        auth_state,
        TerminalType::Web,
    );
    f.success(&consult).await.normal_url.expect("normalUrl")
}

#[tokio::test]
async fn agreeing_gives_an_auth_code_that_apply_token_takes() {
    let f = Fixture::start().await;
    let page = consent_page(&f, "STATE_WALLET_1").await;
    let redirect = sandbox_wallet_agree(&page, ALICE).await.unwrap();
    assert!(
        redirect.location.starts_with(REDIRECT),
        "{}",
        redirect.location
    );
    assert_eq!(redirect.auth_state.as_deref(), Some("STATE_WALLET_1"));
    assert_eq!(redirect.error_code, None);
    // Debug shows neither the code nor the state, not even inside the URL.
    let code = redirect.auth_code.clone().expect("an auth code");
    let shown = format!("{redirect:?}");
    assert!(!shown.contains(code.expose_secret()), "{shown}");
    assert!(!shown.contains("STATE_WALLET_1"), "{shown}");
    assert!(shown.contains(REDIRECT), "{shown}");
    let applied = f
        .success(&ApplyTokenRequest::authorization_code(
            CustomerBelongsTo::AlipayCn,
            code,
        ))
        .await;
    assert!(applied.access_token.is_some());

    // The link is single-use: a second answer is refused with the page's reason.
    let again = sandbox_wallet_agree(&page, ALICE).await.unwrap_err();
    assert!(
        again
            .to_string()
            .starts_with("the consent page answered HTTP 410"),
        "{again}"
    );
}

#[tokio::test]
async fn declining_gives_the_state_and_an_error_code() {
    let f = Fixture::start().await;
    let page = consent_page(&f, "STATE_WALLET_2").await;
    let redirect = sandbox_wallet_decline(&page, ALICE).await.unwrap();
    assert_eq!(redirect.auth_code, None);
    assert_eq!(redirect.auth_state.as_deref(), Some("STATE_WALLET_2"));
    assert_eq!(redirect.error_code.as_deref(), Some("USER_CANCELLED"));
}

#[tokio::test]
async fn an_unknown_user_is_refused_with_the_pages_reason() {
    let f = Fixture::start().await;
    let page = consent_page(&f, "STATE_WALLET_3").await;
    let error = sandbox_wallet_agree(&page, "nobody@example.com")
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(
        text.starts_with("the consent page answered HTTP 400"),
        "{text}"
    );
    assert!(text.contains("nobody@example.com"), "{text}");

    // Nothing listening: the transport error is named, and kept as the source.
    let error = sandbox_wallet_agree("http://127.0.0.1:9/sandbox/wallet/consent/x", ALICE)
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("the consent page could not be reached: "),
        "{error}"
    );
    assert!(std::error::Error::source(&error).is_some());
}
