//! Test doubles for the client's ports: a [`ManualClock`] whose time only moves when told to (or when
//! the client sleeps on it), so retry schedules and skew windows are tested without real waiting.
//!
//! Always compiled (it has no dependencies of its own) so that other crates' tests — the domain's,
//! the sandbox's — can drive the client with it.
//!
//! Also the user's part of a sandbox journey: [`sandbox_wallet_agree`] and
//! [`sandbox_wallet_decline`] answer the `ams-sandbox` wallet's consent page (the `normalUrl` of
//! a `consult`) as a browser would, and hand back what the wallet redirects to.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use ams_protocol::AuthCode;

use crate::clock::{Clock, Sleep};
use crate::error::TransportError;

#[derive(Debug)]
struct State {
    unix_millis: i64,
    monotonic: Duration,
    sleeps: Vec<Duration>,
}

/// A clock that stands still until advanced. [`Clock::sleep`] returns at once after moving both the
/// wall-clock and the monotonic time forward by the requested duration, and records the duration.
///
/// Clones share the same time, so a test keeps one handle and gives another to the client.
///
/// ```
/// use std::time::Duration;
/// use ams_client::{Clock, testing::ManualClock};
///
/// let clock = ManualClock::at_unix_millis(1_704_067_200_000); // 2024-01-01T00:00:00Z
/// let handle = clock.clone();
/// clock.advance(Duration::from_secs(7));
/// assert_eq!(handle.unix_millis(), 1_704_067_207_000);
/// assert_eq!(handle.monotonic(), Duration::from_secs(7));
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    state: Arc<Mutex<State>>,
}

impl ManualClock {
    /// A clock showing `unix_millis` (milliseconds since the Unix epoch), monotonic time zero.
    #[must_use]
    pub fn at_unix_millis(unix_millis: i64) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                unix_millis,
                monotonic: Duration::ZERO,
                sleeps: Vec::new(),
            })),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves wall-clock and monotonic time forward.
    pub fn advance(&self, by: Duration) {
        let mut state = self.state();
        state.unix_millis = state
            .unix_millis
            .saturating_add(i64::try_from(by.as_millis()).unwrap_or(i64::MAX));
        state.monotonic = state.monotonic.saturating_add(by);
    }

    /// Sets the wall-clock time (monotonic time is unaffected, as with a real clock being adjusted).
    pub fn set_unix_millis(&self, unix_millis: i64) {
        self.state().unix_millis = unix_millis;
    }

    /// Every duration slept on this clock so far, in order.
    #[must_use]
    pub fn sleeps(&self) -> Vec<Duration> {
        self.state().sleeps.clone()
    }
}

impl Clock for ManualClock {
    fn unix_millis(&self) -> i64 {
        self.state().unix_millis
    }

    fn monotonic(&self) -> Duration {
        self.state().monotonic
    }

    fn sleep(&self, duration: Duration) -> Sleep<'_> {
        self.advance(duration);
        self.state().sleeps.push(duration);
        Box::pin(std::future::ready(()))
    }
}

/// Where the sandbox wallet sends the user's browser after the consent page: the merchant's
/// `authRedirectUrl` with `authCode` and `authState` (agreed), or `authState` and
/// `errorCode=USER_CANCELLED` (declined).
///
/// `Debug` shows the redirect without its query, and neither the code nor the state (both are
/// bearer secrets).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WalletRedirect {
    /// The whole redirect URL (the `Location` the consent page answered with). It holds the auth
    /// code in clear: do not log it.
    pub location: String,
    /// `authCode`, when the user agreed: give it to `ApplyTokenRequest::authorization_code`.
    pub auth_code: Option<AuthCode>,
    /// `authState`, as the merchant sent it in `consult`: check it is yours.
    pub auth_state: Option<String>,
    /// `errorCode`, when the user declined (`USER_CANCELLED`).
    pub error_code: Option<String>,
}

impl fmt::Debug for WalletRedirect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = match self.location.split_once('?') {
            Some((base, _)) => format!("{base}?<redacted>"),
            None => self.location.clone(),
        };
        f.debug_struct("WalletRedirect")
            .field("location", &shown)
            .field("auth_code", &self.auth_code)
            .field(
                "auth_state",
                &self.auth_state.as_ref().map(|_| "<redacted>"),
            )
            .field("error_code", &self.error_code)
            .finish()
    }
}

/// Why the sandbox wallet's consent page could not be answered. `Display` says what the page did
/// (its HTTP status and text, e.g. `No sandbox user "nobody@example.com"`).
#[derive(Debug)]
pub struct WalletError {
    message: String,
    source: Option<TransportError>,
}

impl WalletError {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    fn transport(message: &str, error: reqwest::Error) -> Self {
        // The consent URL is a single-use capability: not repeated in messages.
        let error = error.without_url();
        Self {
            message: format!("{message}: {error}"),
            source: Some(TransportError::new(error)),
        }
    }
}

impl fmt::Display for WalletError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for WalletError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Agrees on the `ams-sandbox` wallet's consent page as the sandbox user `user` (a login such as
/// `alice@example.com`), as the user's browser would: `POST decision=agree&user=<login>` to
/// `consent_url` (a `consult`'s `normalUrl`), without following the redirect.
///
/// This is the sandbox's page only (a plain HTML form); Alipay's real wallet is an app or a web
/// page the user operates, and its redirect reaches your `authRedirectUrl`.
///
/// # Errors
/// [`WalletError`] when the page cannot be reached, refuses (an unknown user, a used or expired
/// link), or does not redirect.
pub async fn sandbox_wallet_agree(
    consent_url: &str,
    user: &str,
) -> Result<WalletRedirect, WalletError> {
    sandbox_wallet(consent_url, user, "agree").await
}

/// Declines on the `ams-sandbox` wallet's consent page as `user`; see [`sandbox_wallet_agree`].
/// The redirect carries `authState` and `errorCode=USER_CANCELLED`, no auth code.
///
/// # Errors
/// As [`sandbox_wallet_agree`].
pub async fn sandbox_wallet_decline(
    consent_url: &str,
    user: &str,
) -> Result<WalletRedirect, WalletError> {
    sandbox_wallet(consent_url, user, "decline").await
}

async fn sandbox_wallet(
    consent_url: &str,
    user: &str,
    decision: &str,
) -> Result<WalletRedirect, WalletError> {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .map_err(|e| WalletError::transport("the HTTP client could not be created", e))?;
    let answer = browser
        .post(consent_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("decision={decision}&user={}", form_encode(user)))
        .send()
        .await
        .map_err(|e| WalletError::transport("the consent page could not be reached", e))?;
    let status = answer.status();
    let location = answer
        .headers()
        .get(http::header::LOCATION)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let Some(location) = location.filter(|_| status.is_redirection()) else {
        let text = answer.text().await.unwrap_or_default();
        let text = page_text(&text);
        return Err(WalletError::new(format!(
            "the consent page answered HTTP {status} without a redirect: {text}"
        )));
    };
    let url = reqwest::Url::parse(&location)
        .map_err(|e| WalletError::new(format!("the consent page redirected to a bad URL: {e}")))?;
    let param = |name: &str| {
        url.query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    };
    Ok(WalletRedirect {
        auth_code: param("authCode").map(AuthCode::new),
        auth_state: param("authState"),
        error_code: param("errorCode"),
        location,
    })
}

/// `application/x-www-form-urlencoded` for one value.
fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// An HTML page's text on one line, tags dropped, at most 200 characters.
fn page_text(html: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    let text = words
        .join(" ")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    text.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sleeping_moves_time_and_is_recorded() {
        let clock = ManualClock::at_unix_millis(1_000);
        clock.sleep(Duration::from_millis(1_500)).await;
        clock.sleep(Duration::from_secs(2)).await;
        assert_eq!(clock.unix_millis(), 4_500);
        assert_eq!(clock.monotonic(), Duration::from_millis(3_500));
        assert_eq!(
            clock.sleeps(),
            [Duration::from_millis(1_500), Duration::from_secs(2)]
        );
        clock.set_unix_millis(0);
        assert_eq!(clock.unix_millis(), 0);
        assert_eq!(clock.monotonic(), Duration::from_millis(3_500));
    }

    #[test]
    fn wallet_form_values_are_encoded() {
        assert_eq!(form_encode("alice@example.com"), "alice%40example.com");
        assert_eq!(form_encode("a b&c=d"), "a+b%26c%3Dd");
        assert_eq!(
            page_text("<html><p>No sandbox user\n \"x\"</p></html>"),
            "No sandbox user \"x\""
        );
    }
}
