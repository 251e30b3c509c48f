//! The wallet's consent page: what the user sees after opening the URL from `consult`.
//!
//! A plain HTML form, so a browser or a plain HTTP client can agree or decline: `GET` shows the
//! merchant, the scopes and the wallet's users; `POST` with `decision=agree|decline` and `user=<login>`
//! answers `303 See Other` to `authRedirectUrl?authCode=...&authState=...` (or, declined,
//! `?authState=...&errorCode=USER_CANCELLED`). The link is single-use and expires.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::html::{message, page};
use crate::shared::Shared;
use crate::util::html_escape;
use crate::world::ConsentError;

fn error_page(err: &ConsentError) -> Response {
    let (status, text) = match err {
        ConsentError::NotFound => (
            StatusCode::NOT_FOUND,
            "This authorization link does not exist.".to_owned(),
        ),
        ConsentError::Used => (
            StatusCode::GONE,
            "This authorization link was already used.".to_owned(),
        ),
        ConsentError::Expired => (
            StatusCode::GONE,
            "This authorization link has expired.".to_owned(),
        ),
        ConsentError::UnknownUser(user) => (
            StatusCode::BAD_REQUEST,
            format!("No sandbox user {user:?}."),
        ),
        ConsentError::WrongWallet(user) => (
            StatusCode::BAD_REQUEST,
            format!("The user {user:?} belongs to another wallet."),
        ),
    };
    message(status, "error", &text)
}

/// `GET /sandbox/wallet/consent/{id}`.
pub(crate) async fn show(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let now = shared.clock.now_ms();
    let view = match shared.lock().consent_page(&id, now) {
        Ok(view) => view,
        Err(err) => return error_page(&err),
    };
    let scopes: String = view
        .scopes
        .iter()
        .map(|s| format!("  <li>{}</li>\n", html_escape(s.as_str())))
        .collect();
    let users = if view.users.is_empty() {
        format!(
            "<p id=\"no-users\">No sandbox user has a {} wallet yet: create one with <code>POST /sandbox/users</code>.</p>",
            html_escape(view.wallet.as_str())
        )
    } else {
        let options: String = view
            .users
            .iter()
            .map(|u| format!("<option value=\"{0}\">{0}</option>", html_escape(u)))
            .collect();
        format!("<label>Account <select name=\"user\">{options}</select></label>")
    };
    let body = format!(
        "<h1>{wallet} (sandbox)</h1>\n<p><strong id=\"merchant\">{merchant}</strong> asks to charge your account without asking each time:</p>\n<ul id=\"scopes\">\n{scopes}</ul>\n<form method=\"post\" action=\"/sandbox/wallet/consent/{id}\">\n{users}\n<button type=\"submit\" name=\"decision\" value=\"agree\">Agree</button>\n<button type=\"submit\" name=\"decision\" value=\"decline\">Decline</button>\n</form>",
        wallet = html_escape(view.wallet.as_str()),
        merchant = html_escape(&view.merchant),
        id = html_escape(&id),
    );
    Html(page("Authorize payments (sandbox wallet)", &body)).into_response()
}

/// `POST /sandbox/wallet/consent/{id}`.
pub(crate) async fn decide(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let agree = match form.get("decision").map(String::as_str) {
        Some("agree") => true,
        Some("decline") => false,
        other => {
            let text = format!("decision must be agree or decline, got {other:?}");
            return (
                StatusCode::BAD_REQUEST,
                Html(page("Sandbox wallet", &html_escape(&text))),
            )
                .into_response();
        }
    };
    let user = form.get("user").cloned().unwrap_or_default();
    let now = shared.clock.now_ms();
    let decided = shared.lock().decide_consent(&id, &user, agree, now);
    shared.outbox_signal.notify_one();
    match decided {
        Ok(location) => (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response(),
        Err(err) => error_page(&err),
    }
}
