//! The console: one web page, served by the server, over the merchant API.
//!
//! `GET /console` is a plain HTML page; `GET /console/assets/{file}` its script and style sheet
//! (embedded in the binary: no build step, no framework, no third-party origin). The page holds
//! no secret: it asks for an API key once (or reads it from the URL fragment `#key=…`, which never
//! reaches a server, and clears it from the address bar), keeps it in the tab's `sessionStorage`,
//! and calls `/v1/…` with it as any client does, with a fresh `Idempotency-Key` on every `POST`.
//!
//! What it shows: in sandbox mode (when `GET /v1/sandbox` answers), a panel to bind the demo
//! wallet (the sandbox's consent page, coming back to the console, or a QR code for Scan to Bind,
//! drawn by the script), charge, refund, cancel, revoke and inject a fault, with the events
//! arriving live; in every mode, the operator's view: payments and authorizations with their
//! timelines, the attention queue with its actions, the webhook deliveries of each event, and
//! charts of the last hours from `GET /v1/stats`.
//!
//! Every answer carries a strict `Content-Security-Policy`: scripts and styles from this origin
//! only (none inline), requests to this origin only, no frames, no forms, no plugins; the script
//! writes text into the page only as text (`textContent`), never as markup.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The page.
pub const PAGE: &str = include_str!("console.html");
/// Its script.
pub const SCRIPT: &str = include_str!("console.js");
/// Its style sheet.
pub const STYLE: &str = include_str!("console.css");

/// The policy every console answer carries.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// The console's routes (no state: the page talks to the API as any client does).
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/console", get(page))
        .route("/console/assets/{file}", get(asset))
}

fn answer(status: StatusCode, content_type: &'static str, body: &'static str) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

async fn page() -> Response {
    answer(StatusCode::OK, "text/html; charset=utf-8", PAGE)
}

async fn asset(Path(file): Path<String>) -> Response {
    match file.as_str() {
        "console.js" => answer(StatusCode::OK, "text/javascript; charset=utf-8", SCRIPT),
        "console.css" => answer(StatusCode::OK, "text/css; charset=utf-8", STYLE),
        _ => answer(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "no such asset\n",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_its_assets_and_has_no_inline_script_or_style() {
        assert!(PAGE.contains("<script src=\"/console/assets/console.js\""));
        assert!(PAGE.contains("href=\"/console/assets/console.css\""));
        assert!(!PAGE.contains("<script>"), "no inline script");
        assert!(!PAGE.contains("style="), "no inline style");
        assert!(!PAGE.contains("onclick"), "no inline handler");
        // The script never parses data as markup.
        assert!(!SCRIPT.contains("innerHTML"), "textContent only");
        assert!(!SCRIPT.contains("eval("));
    }
}
