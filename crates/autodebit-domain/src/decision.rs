//! The result-code decision table: (API, result status, result code) → what to do.
//!
//! One table, read top to bottom, first match wins. It is data, so the documentation below is
//! generated from it ([`table_markdown`]) and a test keeps the two equal.
//!
#![doc = include_str!("../DECISIONS.md")]

use std::fmt;

use ams_protocol::{Api, ResultCode, ResultStatus};

/// What to do after an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Decision {
    /// The call did what was asked.
    Succeeded,
    /// Final failure; show the reason to the merchant. Nothing was charged (for `pay`).
    FailedForGood,
    /// Send the identical request again (same request id, same parameters, re-signed).
    RetrySame,
    /// The payment's outcome is unknown: resolve it with `inquiryPayment` (then cancel).
    Inquire,
    /// The token or code cannot be used: the user must authorize again (a new `consult`).
    Reauthorize,
    /// Cancel the payment (same `paymentRequestId`).
    Cancel,
    /// Nothing automatic will fix it (configuration, contract, or a bug): flag for an operator.
    /// For `pay`, an `F` answer still means nothing was charged.
    AskOperator,
}

impl Decision {
    /// A short name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::FailedForGood => "failed for good",
            Self::RetrySame => "retry the same request",
            Self::Inquire => "inquire",
            Self::Reauthorize => "re-authorize",
            Self::Cancel => "cancel",
            Self::AskOperator => "ask an operator",
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which APIs a row applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Apis {
    Any,
    One(Api),
}

/// Which result statuses a row applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    S,
    F,
    /// `U`, and any status Alipay may add later (never treat the unknown as failed).
    U,
}

/// One row of the table.
#[derive(Clone, Copy, Debug)]
struct Row {
    api: Apis,
    status: Status,
    /// `None` matches every code.
    code: Option<&'static str>,
    decision: Decision,
    why: &'static str,
}

const fn row(
    api: Apis,
    status: Status,
    code: Option<&'static str>,
    decision: Decision,
    why: &'static str,
) -> Row {
    Row {
        api,
        status,
        code,
        decision,
        why,
    }
}

use Apis::{Any, One};
use Decision::{AskOperator, Cancel, FailedForGood, Inquire, Reauthorize, RetrySame, Succeeded};
use Status::{F, S, U};

/// Codes that say the merchant's setup (keys, client id, contract) is wrong: no retry fixes them.
const SETUP_CODES: [&str; 14] = [
    "INVALID_SIGNATURE",
    "KEY_NOT_FOUND",
    "UNKNOWN_CLIENT",
    "CLIENT_INVALID",
    "ACCESS_DENIED",
    "CLIENT_FORBIDDEN_ACCESS_API",
    "INVALID_CLIENT_STATUS",
    "MERCHANT_NOT_REGISTERED",
    "INVALID_MERCHANT_STATUS",
    "MERCHANT_KYB_NOT_QUALIFIED",
    "PAYMENT_NOT_QUALIFIED",
    "INVALID_API",
    "NO_INTERFACE_DEF",
    "INVALID_CONTRACT",
];

const TABLE: &[Row] = &[
    row(
        Any,
        S,
        None,
        Succeeded,
        "the call did what was asked (for inquiries: read the status it carries)",
    ),
    row(
        Any,
        U,
        Some("REQUEST_TRAFFIC_EXCEED_LIMIT"),
        RetrySame,
        "rate limited: the same request later",
    ),
    row(
        One(Api::Pay),
        U,
        None,
        Inquire,
        "in process or unknown: inquire on a schedule, then cancel",
    ),
    row(
        One(Api::InquiryPayment),
        U,
        None,
        Inquire,
        "the inquiry itself is unknown: inquire again",
    ),
    row(
        Any,
        U,
        None,
        RetrySame,
        "unknown: call again with the same request",
    ),
    row(
        Any,
        F,
        Some("PARAM_ILLEGAL"),
        AskOperator,
        "our request was invalid: a bug or bad input; nothing happened",
    ),
    row(
        Any,
        F,
        Some("REPEAT_REQ_INCONSISTENT"),
        Inquire,
        "the id was used before with other parameters: the first request may have taken effect, so find out, never call it failed",
    ),
    // Setup codes come next; see SETUP_CODES (rendered as one row in the docs).
    row(
        One(Api::Pay),
        F,
        Some("INVALID_ACCESS_TOKEN"),
        Reauthorize,
        "the token is expired, revoked or unknown",
    ),
    row(
        One(Api::Pay),
        F,
        Some("USER_NOT_EXIST"),
        Reauthorize,
        "the wallet account is gone",
    ),
    row(
        One(Api::Pay),
        F,
        Some("USER_BALANCE_NOT_ENOUGH"),
        FailedForGood,
        "the user's balance is not enough",
    ),
    row(
        One(Api::Pay),
        F,
        Some("USER_AMOUNT_EXCEED_LIMIT"),
        FailedForGood,
        "the amount is above the user's limit",
    ),
    row(
        One(Api::Pay),
        F,
        Some("PAYMENT_COUNT_EXCEED_LIMIT"),
        FailedForGood,
        "the user's payment count limit is reached",
    ),
    row(
        One(Api::Pay),
        F,
        Some("USER_STATUS_ABNORMAL"),
        FailedForGood,
        "the user's wallet account is restricted",
    ),
    row(
        One(Api::Pay),
        F,
        Some("RISK_REJECT"),
        FailedForGood,
        "refused by risk control",
    ),
    row(
        One(Api::Pay),
        F,
        Some("CURRENCY_NOT_SUPPORT"),
        FailedForGood,
        "the currency is not supported for this user",
    ),
    row(
        One(Api::Pay),
        F,
        Some("USER_PAYMENT_VERIFICATION_FAILED"),
        FailedForGood,
        "the user failed verification",
    ),
    row(
        One(Api::Pay),
        F,
        Some("ORDER_IS_CLOSED"),
        FailedForGood,
        "the payment expired or was closed",
    ),
    row(
        One(Api::Pay),
        F,
        None,
        FailedForGood,
        "F is final: nothing was charged",
    ),
    row(
        One(Api::ApplyToken),
        F,
        None,
        Reauthorize,
        "the code or refresh token cannot be used: consult again",
    ),
    row(
        One(Api::Consult),
        F,
        Some("NO_PAY_OPTIONS"),
        FailedForGood,
        "the wallet is not available to this merchant",
    ),
    row(
        One(Api::Consult),
        F,
        None,
        FailedForGood,
        "consult failed: try again later with a new authState",
    ),
    row(
        One(Api::Revoke),
        F,
        Some("INVALID_ACCESS_TOKEN"),
        Succeeded,
        "the token is already gone",
    ),
    row(
        One(Api::Revoke),
        F,
        None,
        AskOperator,
        "the token could not be revoked",
    ),
    row(
        One(Api::InquiryPayment),
        F,
        Some("ORDER_NOT_EXIST"),
        Inquire,
        "not found yet: keep inquiring, then cancel",
    ),
    row(
        One(Api::InquiryPayment),
        F,
        Some("INVALID_AMOUNT"),
        Inquire,
        "added in December 2023 with no meaning given: it says nothing of the payment (the inquiry carries no amount), so never read as failed; keep inquiring, then cancel",
    ),
    row(
        One(Api::InquiryPayment),
        F,
        None,
        Inquire,
        "the inquiry failed: keep inquiring, then cancel",
    ),
    row(
        One(Api::Cancel),
        F,
        Some("ORDER_NOT_EXIST"),
        Inquire,
        "no such payment yet: the pay may still be in transit; cancel again until its expiry (plus a margin) has passed, then confirm by inquiry",
    ),
    row(
        One(Api::Cancel),
        F,
        Some("CANCEL_WINDOW_EXCEED"),
        Inquire,
        "too late to cancel: inquire until final, and refund it if it was paid",
    ),
    row(
        One(Api::Cancel),
        F,
        None,
        AskOperator,
        "the cancel was refused: inquire until final, refund it if it was paid, and tell a person",
    ),
    row(
        One(Api::Refund),
        F,
        Some("REFUND_IN_PROCESS"),
        RetrySame,
        "in process: the same request later, or inquire",
    ),
    row(
        One(Api::Refund),
        F,
        None,
        FailedForGood,
        "refused (amount, window, order state or method)",
    ),
    row(
        One(Api::InquiryRefund),
        F,
        Some("ORDER_NOT_EXIST"),
        RetrySame,
        "Alipay has no such refund: send the same refund again",
    ),
    row(
        One(Api::InquiryRefund),
        F,
        None,
        RetrySame,
        "the inquiry failed: inquire again",
    ),
];

fn status_of(status: &ResultStatus) -> Status {
    match status {
        ResultStatus::S => S,
        ResultStatus::F => F,
        // U, and any status a future Alipay adds: never treat the unknown as failed.
        _ => U,
    }
}

fn matches(row: &Row, api: Api, status: Status, code: &str) -> bool {
    let api_ok = match row.api {
        Any => true,
        One(a) => a == api,
    };
    api_ok && row.status == status && row.code.is_none_or(|c| c == code)
}

/// The decision for an answer of `api` with this status and code, and why.
pub fn decide(api: Api, status: &ResultStatus, code: &ResultCode) -> (Decision, &'static str) {
    let status = status_of(status);
    let code = code.as_str();
    if status == F && SETUP_CODES.contains(&code) {
        return (
            AskOperator,
            "the merchant's setup is wrong (keys, client id, gateway or contract)",
        );
    }
    TABLE
        .iter()
        .find(|r| matches(r, api, status, code))
        .map_or((AskOperator, "no rule matched"), |r| (r.decision, r.why))
}

/// What an `inquiryPayment` that succeeded says about the payment.
pub fn decide_payment_status(
    status: &ams_protocol::PaymentStatus,
    inquiries_left: u32,
) -> Decision {
    use ams_protocol::PaymentStatus as P;
    match status {
        P::Success => Succeeded,
        P::Fail => FailedForGood,
        // CANCELLED: settled, nothing charged; the attempt is recorded as cancelled.
        P::Cancelled => Succeeded,
        _ if inquiries_left == 0 => Cancel,
        _ => Inquire,
    }
}

/// The rules the flows apply around the table, where an answer's meaning depends on time or on
/// what is under way. Each is the reading of the seeds that cannot lose or double money.
pub const RULES: &str = r#"## Rules around the table

These are applied by the flows (`services::payments`, `services::refunds`, `services::jobs`), because
what an answer means there depends on time or on what else is under way. Where the seeds can be
read two ways, the reading below is the one that cannot lose or double money.

**`ORDER_NOT_EXIST` proves nothing while a `pay` can still land.** A `cancel` (or an inquiry)
answered `ORDER_NOT_EXIST` may have overtaken its `pay`, still in transit or queued; seed 004's
store-and-forward queue sends the cancel only *after* the original transaction exists, and the
sandbox's default is that an overtaken `pay` still debits. Every `pay` carries a `paymentExpiryTime`
(55 s); a `pay` that reaches Alipay after it is closed. So until that time plus a margin for clock
skew (`expiry_margin_ms`, 5 min) has passed, "no such payment" is *not yet*: the cancel is sent
again on its schedule. After it, the payment is confirmed by inquiry, and "no such payment" then
settles it as cancelled (or failed, if no cancel was wanted) with nothing charged
(`NOT_FOUND_AFTER_EXPIRY`).

**A cancel is never given up; past its window, refund instead.** Seed 004: cancel what stays
unknown; retry the cancel "periodically or when the network recovers … until success"; past the
window (00:15 UTC+8 on T+1), use `refund`. The cancel is sent every 5–10 s for 60 s, then with
growing waits (up to 30 min) until the window closes; a person is told after the first minute.
Past the window, or when Alipay refuses the cancel, the payment is inquired with growing waits
until Alipay says it is final (`Confirming`): failed or cancelled settles it; paid makes the order
paid and refunds it in full at once, with its own `refundRequestId` (`RefundOrigin::CancelTooLate`),
whoever wanted the cancel (the merchant, or the rule that cancels what stays unknown).

**A reported success is a fact about the past; an inquiry is the present.** `pay` S and a success
notification say the payment succeeded *when they were made*: a cancel sent since may have
reversed it. While a cancel is, or was, under way (`CancelRequested`, `Confirming`), they settle
nothing and only make the cancel or the inquiry run at once (seed 004: after a cancel, go by its
result). An inquiry's `SUCCESS` is the current status and is applied.

**An answer is applied only to its own request.** A verified answer whose `paymentRequestId` /
`refundRequestId`, amount or currency differs from what was asked is not applied: it is flagged,
and the payment or refund stays unknown until an inquiry settles it. `REPEAT_REQ_INCONSISTENT`
means the id was used before: the first request may have worked, so it is inquired, never failed.

**One business order, one live attempt.** The merchant's reference is unique. An order is paid
again (a new attempt, a new `paymentRequestId`) only when every earlier attempt is failed or
cancelled; while one is not final the answer is a conflict that names it.

**A job runs once: leases are tokens, renewed before every call.** Every claim gets a fresh lease
token (never the worker's name). Before a job runs, its lease is renewed for a whole lease; right
before each call to Alipay it is renewed for the call and its guard (`reply_timeout_ms`, which must
exceed the client's timeout `max_call_ms` by at least a second); a call is never made on a lease
that could not be renewed. The single-use auth code and the refresh token are sent only so. A
call's result is kept even if the lease was lost meanwhile; only the job is left to its new
holder. A job taken `job_max_attempts` times in a row without finishing, or whose row cannot be
read, is set aside with an attention item; the others go on.

**`PENDING` is paid, not unknown.** `inquiryPayment` answering `PENDING` (and `notifyPayment`
`PAYMENT_PENDING`) says the user completed the payment and Alipay has its final result to give. Seed
004's "cancel what stays unknown after the inquiries" does not apply: cancelling would undo a
completed sale. A `PENDING` payment is inquired with growing waits (`confirm_every_*`) until Alipay
settles it, a person is told once it has lasted `attention_after_ms` (`payment_pending`), and
Alipay's `paymentId` is kept from the first answer that carries it, so the money can be matched.

**Refunds end.** A refund whose sends surely never left (`NotSent`), `refund_max_not_sent` times in
a row and never once maybe sent, fails as `NOT_SENT` (nothing happened at Alipay) and a person is
told. `inquiryRefund` answering `ORDER_NOT_EXIST` sends the same bytes again.

**Tokens.** The refresh is due before the earlier of the access and refresh tokens' expiries; with
no refresh token, the authorization needs the user when the access token expires. A
`TOKEN_CANCELED` naming a token rotated since still ends the authorization. An authorization that
waits for the user longer than `consent_timeout_ms` expires; one left consulting by a crash fails
(`CONSULT_INTERRUPTED`) and can be restarted. An exchange refused after an earlier try went
unanswered may have left a token at Alipay: a person is told, and a token Alipay reports with
`TOKEN_CREATED` that the authorization does not hold is revoked. What the merchant is shown of a
failure is a code, Alipay's or one of ours (`CONSULT_UNANSWERED`, `EXCHANGE_UNKNOWN`,
`REFRESH_UNKNOWN`), never the transport's diagnosis (that goes to the server's log).
"#;

/// The table as Markdown, the form the crate documents it in.
pub fn table_markdown() -> String {
    let mut out =
        String::from("| API | status | result code | decision | why |\n|---|---|---|---|---|\n");
    let api_name = |a: Apis| match a {
        Any => "any".to_owned(),
        One(api) => format!("`{}`", api.name()),
    };
    let status_name = |s: Status| match s {
        S => "S",
        F => "F",
        U => "U (or unrecognised)",
    };
    for (i, r) in TABLE.iter().enumerate() {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            api_name(r.api),
            status_name(r.status),
            r.code
                .map_or_else(|| "any other".to_owned(), |c| format!("`{c}`")),
            r.decision,
            r.why
        ));
        if i == 6 {
            out.push_str(&format!(
                "| any | F | {} | {} | the merchant's setup is wrong (keys, client id, gateway or contract) |\n",
                SETUP_CODES.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", "),
                AskOperator
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(api: Api, status: ResultStatus, code: &str) -> Decision {
        decide(api, &status, &ResultCode::from(code)).0
    }

    #[test]
    fn the_documented_table_is_the_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/DECISIONS.md");
        let doc = std::fs::read_to_string(path).expect("DECISIONS.md");
        let generated = format!(
            "# Decisions\n\nFirst match wins. Generated from `src/decision.rs` (`table_markdown`, \
             `RULES`); `UPDATE_EXPECT=1 cargo test -p autodebit-domain decision` rewrites it.\n\n{}\n{}",
            table_markdown(),
            RULES
        );
        if std::env::var_os("UPDATE_EXPECT").is_some() {
            std::fs::write(path, &generated).expect("write DECISIONS.md");
            return;
        }
        assert_eq!(
            doc, generated,
            "DECISIONS.md is stale: run with UPDATE_EXPECT=1"
        );
    }

    #[test]
    fn pay_outcomes() {
        assert_eq!(d(Api::Pay, ResultStatus::S, "SUCCESS"), Succeeded);
        assert_eq!(d(Api::Pay, ResultStatus::U, "PAYMENT_IN_PROCESS"), Inquire);
        assert_eq!(d(Api::Pay, ResultStatus::U, "UNKNOWN_EXCEPTION"), Inquire);
        assert_eq!(
            d(Api::Pay, ResultStatus::Unknown("W".into()), "WHATEVER"),
            Inquire
        );
        assert_eq!(
            d(Api::Pay, ResultStatus::F, "USER_BALANCE_NOT_ENOUGH"),
            FailedForGood
        );
        assert_eq!(
            d(Api::Pay, ResultStatus::F, "INVALID_ACCESS_TOKEN"),
            Reauthorize
        );
        assert_eq!(
            d(Api::Pay, ResultStatus::F, "INVALID_SIGNATURE"),
            AskOperator
        );
        assert_eq!(
            d(Api::Pay, ResultStatus::F, "REPEAT_REQ_INCONSISTENT"),
            Inquire
        );
        assert_eq!(
            d(Api::Refund, ResultStatus::F, "REPEAT_REQ_INCONSISTENT"),
            Inquire
        );
        assert_eq!(d(Api::Pay, ResultStatus::F, "A_NEW_CODE"), FailedForGood);
    }

    #[test]
    fn cancel_refund_and_inquiries() {
        assert_eq!(
            d(Api::Cancel, ResultStatus::U, "UNKNOWN_EXCEPTION"),
            RetrySame
        );
        assert_eq!(
            d(Api::Cancel, ResultStatus::F, "CANCEL_WINDOW_EXCEED"),
            Inquire
        );
        assert_eq!(d(Api::Cancel, ResultStatus::F, "ORDER_NOT_EXIST"), Inquire);
        assert_eq!(
            d(Api::Cancel, ResultStatus::F, "ORDER_STATUS_INVALID"),
            AskOperator
        );
        assert_eq!(
            d(Api::Refund, ResultStatus::U, "UNKNOWN_EXCEPTION"),
            RetrySame
        );
        assert_eq!(
            d(Api::Refund, ResultStatus::F, "REFUND_AMOUNT_EXCEED"),
            FailedForGood
        );
        assert_eq!(
            d(Api::InquiryPayment, ResultStatus::F, "ORDER_NOT_EXIST"),
            Inquire
        );
        assert_eq!(
            d(Api::InquiryPayment, ResultStatus::F, "INVALID_AMOUNT"),
            Inquire
        );
        assert_eq!(
            d(Api::InquiryRefund, ResultStatus::F, "ORDER_NOT_EXIST"),
            RetrySame
        );
        assert_eq!(
            d(Api::ApplyToken, ResultStatus::F, "INVALID_AUTHCODE"),
            Reauthorize
        );
        assert_eq!(
            d(Api::Revoke, ResultStatus::F, "INVALID_ACCESS_TOKEN"),
            Succeeded
        );
        assert_eq!(
            d(
                Api::Consult,
                ResultStatus::U,
                "REQUEST_TRAFFIC_EXCEED_LIMIT"
            ),
            RetrySame
        );
    }

    #[test]
    fn inquiry_status_runs_out_into_cancel() {
        use ams_protocol::PaymentStatus as P;
        assert_eq!(decide_payment_status(&P::Processing, 3), Inquire);
        assert_eq!(decide_payment_status(&P::Processing, 0), Cancel);
        assert_eq!(decide_payment_status(&P::Success, 0), Succeeded);
        assert_eq!(decide_payment_status(&P::Fail, 5), FailedForGood);
    }

    #[test]
    fn every_row_is_reachable() {
        // A row shadowed by an earlier, wider row would never decide anything.
        for (i, r) in TABLE.iter().enumerate() {
            let Some(code) = r.code else { continue };
            let api = match r.api {
                One(a) => a,
                Any => Api::Pay,
            };
            let status = match r.status {
                S => ResultStatus::S,
                F => ResultStatus::F,
                U => ResultStatus::U,
            };
            let first = TABLE
                .iter()
                .position(|other| matches(other, api, r.status, code))
                .expect("the row matches itself");
            assert_eq!(first, i, "row {i} ({code}) is shadowed by row {first}");
            assert_eq!(decide(api, &status, &ResultCode::from(code)).0, r.decision);
        }
    }
}
