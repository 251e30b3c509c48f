//! What the wallet's pages (the consent page, the payment page) share: the HTML skeleton and the
//! page that says why nothing can be done.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::util::html_escape;

/// A whole HTML document with this title (escaped) and body (already HTML).
pub(crate) fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title></head>\n<body>\n{body}\n</body></html>\n",
        html_escape(title)
    )
}

/// A "Sandbox wallet" page with one paragraph of `text` (escaped) whose element id is `id`,
/// answered with `status`.
pub(crate) fn message(status: StatusCode, id: &str, text: &str) -> Response {
    let body = page(
        "Sandbox wallet",
        &format!(
            "<h1>Sandbox wallet</h1>\n<p id=\"{}\">{}</p>",
            html_escape(id),
            html_escape(text)
        ),
    );
    (status, Html(body)).into_response()
}
