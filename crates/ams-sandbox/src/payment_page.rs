//! The wallet's payment page: where the user confirms a payment that needs them
//! ([`crate::PaymentMode::NeedsUser`]), opened from the `normalUrl` of its `pay` answer.
//!
//! A plain HTML form, as the consent page: `GET /sandbox/wallet/payments/{paymentId}` shows the
//! merchant and the amount; `POST` to the same path with `decision=pay|decline` ends the payment
//! as a completion through the control API does (pay: debited, with the balance and limit checks
//! of that moment, a refused check failing it with its code; decline: failed with
//! `PROCESS_FAIL`), the result notified. It then answers `303 See Other` to the pay request's
//! `paymentRedirectUrl`, or, without one, a page saying how it ended. A payment that is final
//! (paid, failed, cancelled) or whose expiry passed answers `410 Gone`; one that never waited for
//! the user (unknown, instant, pending, processing without the user, refused on arrival) `404`.

use std::collections::HashMap;
use std::sync::Arc;

use ams_protocol::Amount;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::html::{message, page};
use crate::shared::Shared;
use crate::util::html_escape;
use crate::world::PaymentPageError;

fn error_page(err: &PaymentPageError) -> Response {
    let (status, text) = match err {
        PaymentPageError::NotFound => (
            StatusCode::NOT_FOUND,
            "No payment waits for you in the wallet at this link (unknown, or the wallet \
             handles it without you).",
        ),
        PaymentPageError::Completed { paid: true } => (
            StatusCode::GONE,
            "This payment was already completed: it is paid.",
        ),
        PaymentPageError::Completed { paid: false } => (
            StatusCode::GONE,
            "This payment was already completed: it failed.",
        ),
        PaymentPageError::Expired => (
            StatusCode::GONE,
            "This payment has expired: it was not confirmed in time.",
        ),
        PaymentPageError::Cancelled => (
            StatusCode::GONE,
            "This payment was cancelled by the merchant.",
        ),
    };
    message(status, "error", text)
}

/// `12.34 USD`: the value with the currency's decimals (as [`Amount`]'s `Display` writes it), then
/// the code.
fn show_amount(amount: Amount) -> String {
    let shown = amount.to_string();
    match shown.split_once(' ') {
        Some((code, value)) => format!("{value} {code}"),
        None => shown,
    }
}

/// `GET /sandbox/wallet/payments/{paymentId}`.
pub(crate) async fn show(
    State(shared): State<Arc<Shared>>,
    Path(payment_id): Path<String>,
) -> Response {
    let now = shared.clock.now_ms();
    // Looking may fail an expired payment (and notify it), as any call that reads the clock.
    let view = shared.lock().payment_page(&payment_id, now);
    shared.outbox_signal.notify_one();
    let view = match view {
        Ok(view) => view,
        Err(err) => return error_page(&err),
    };
    let body = format!(
        "<h1>{wallet} (sandbox)</h1>\n<p><strong id=\"merchant\">{merchant}</strong> asks you to confirm a payment of <strong id=\"amount\">{amount}</strong>.</p>\n<form method=\"post\" action=\"/sandbox/wallet/payments/{id}\">\n<button type=\"submit\" name=\"decision\" value=\"pay\">Pay</button>\n<button type=\"submit\" name=\"decision\" value=\"decline\">Decline</button>\n</form>",
        wallet = html_escape(view.wallet.as_str()),
        merchant = html_escape(&view.merchant),
        amount = html_escape(&show_amount(view.amount)),
        id = html_escape(&payment_id),
    );
    Html(page("Confirm the payment (sandbox wallet)", &body)).into_response()
}

/// `POST /sandbox/wallet/payments/{paymentId}`.
pub(crate) async fn decide(
    State(shared): State<Arc<Shared>>,
    Path(payment_id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let pay = match form.get("decision").map(String::as_str) {
        Some("pay") => true,
        Some("decline") => false,
        other => {
            let text = format!("decision must be pay or decline, got {other:?}");
            return message(StatusCode::BAD_REQUEST, "error", &text);
        }
    };
    let now = shared.clock.now_ms();
    let decided = shared.lock().decide_payment(&payment_id, pay, now);
    shared.outbox_signal.notify_one();
    let decision = match decided {
        Ok(decision) => decision,
        Err(err) => return error_page(&err),
    };
    if let Some(location) = decision.redirect_url {
        return (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response();
    }
    let text = match (pay, decision.failure) {
        (_, None) => "The payment was completed: you paid.".to_owned(),
        (false, Some(_)) => "You declined the payment: it failed.".to_owned(),
        (true, Some(code)) => format!("The payment could not be made: {}.", code.as_str()),
    };
    message(StatusCode::OK, "result", &text)
}

#[cfg(test)]
mod tests {
    use super::show_amount;
    use ams_protocol::{Amount, Currency};

    #[test]
    fn amounts_use_the_currencys_decimals() {
        assert_eq!(show_amount(Amount::new(Currency::USD, 1_234)), "12.34 USD");
        assert_eq!(show_amount(Amount::new(Currency::USD, 5)), "0.05 USD");
        assert_eq!(show_amount(Amount::new(Currency::JPY, 1_000)), "1000 JPY");
    }
}
