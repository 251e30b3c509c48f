//! `autodebit admin …`: an operator's commands at a shell, over the same database as a running
//! `autodebit serve` (the same configuration: `--config FILE` and the `AUTODEBIT_*` variables).
//!
//! - `attention [--limit N] [--json]`: the open attention items, oldest first: a table, or one
//!   JSON object per line.
//! - `inquire ID` (`pay_…` or `re_…`), `retry-cancel PAYMENT_ID`, `refund PAYMENT_ID --amount
//!   MINOR_UNITS --reference REF [--reason TEXT]`: write the intent (the state change and the job,
//!   due now, in one unit of work) and print where the resource stands. They never call Alipay:
//!   the server's workers do, under their job leases (in sandbox mode only the server holds the
//!   sandbox's keys). `--wait SECS` polls the database until the job has run, or exits 1.
//! - `resolve ATTENTION_ID --reason TEXT`: closes an item.
//! - `redeliver EVENT_ID`, `redeliver --failed [--since RFC3339 | --hours N]`: makes webhook
//!   deliveries pending again (the bulk form with a progress bar on a terminal).
//!
//! Bad input (an unknown id, a resource in the wrong state, a bad amount) exits 2 with the reason
//! and writes nothing.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ams_protocol::{
    Amount, AmsDateTime, ApplyTokenRequest, ApplyTokenResponse, CancelRequest, CancelResponse,
    ConsultRequest, ConsultResponse, DeclareResponse, InquiryDeclarationRequestsRequest,
    InquiryDeclarationRequestsResponse, InquiryPaymentRequest, InquiryPaymentResponse,
    InquiryRefundRequest, InquiryRefundResponse, InquiryRegistrationInfoRequest,
    InquiryRegistrationInfoResponse, InquiryRegistrationStatusRequest,
    InquiryRegistrationStatusResponse, PayResponse, RefundResponse, RegistrationResponse,
    RevokeRequest, RevokeResponse,
};
use async_trait::async_trait;
use autodebit_alipay::ClientClock;
use autodebit_domain::model::{AttentionId, AttentionItem, JobKind, Millis, OrderId, RefundId};
use autodebit_domain::ports::{Gateway, Reply};
use autodebit_domain::services::payments::{PaymentView, Payments};
use autodebit_domain::services::refunds::{RefundCommand, RefundView};
use autodebit_domain::services::{Context, Error, Settings, operator::Operator};
use autodebit_store::SqlStore;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use super::Failure;
use crate::config::{Config, DEFAULT_MERCHANT, process_environment};
use crate::http::alipay::notify_path;
use crate::http::v1::events::{event_id, seq_of};

/// The line a queued operation ends with.
const QUEUED: &str = "queued: a running server's workers send it";
/// How often `--wait` reads the database.
const POLL: Duration = Duration::from_millis(200);

/// Arguments of `autodebit admin`.
#[derive(Debug, Args)]
pub(crate) struct AdminArgs {
    /// The configuration file (TOML), as for `autodebit serve`; AUTODEBIT_* variables override it.
    #[arg(long, value_name = "FILE", global = true)]
    config: Option<PathBuf>,
    /// The merchant [default: the first configured merchant, `default` in sandbox mode].
    #[arg(long, value_name = "ID", global = true)]
    merchant: Option<String>,
    /// The database (overrides database.url and database.url_file).
    #[arg(long, value_name = "URL", global = true)]
    database: Option<String>,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// List the open attention items, oldest first.
    Attention {
        /// At most this many.
        #[arg(long, value_name = "N", default_value_t = 100)]
        limit: u32,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Ask Alipay again where a payment (`pay_…`) or refund (`re_…`) stands: its job, due now.
    Inquire {
        /// `pay_…` or `re_…`.
        id: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Send a payment's cancel again (or cancel again one being confirmed after a refused cancel).
    RetryCancel {
        /// `pay_…`.
        payment_id: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Refund (part of) a paid payment; once per reference.
    Refund {
        /// `pay_…`.
        payment_id: String,
        /// How much, in minor units of the payment's currency (250 is USD 2.50).
        #[arg(long, value_name = "MINOR_UNITS")]
        amount: u64,
        /// Your reference for this refund: the same reference again finds the same refund.
        #[arg(long, value_name = "REF")]
        reference: String,
        /// Why (sent to Alipay as `refundReason`, at most 256 characters).
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Close an attention item with a reason.
    Resolve {
        /// `atn_…`.
        attention_id: String,
        /// Why it is resolved.
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
    /// Send an event's webhooks again (`evt_…`), or every delivery that failed for good.
    Redeliver {
        /// `evt_…`.
        #[arg(required_unless_present = "failed", conflicts_with = "failed")]
        event_id: Option<String>,
        /// Every event with a delivery that failed for good.
        #[arg(long)]
        failed: bool,
        /// Only deliveries that failed at or after this time (RFC 3339).
        #[arg(
            long,
            value_name = "RFC3339",
            requires = "failed",
            conflicts_with = "hours"
        )]
        since: Option<String>,
        /// Only deliveries that failed in the last N hours.
        #[arg(long, value_name = "N", requires = "failed")]
        hours: Option<u32>,
    },
}

#[derive(Debug, Args)]
struct WaitArgs {
    /// Wait up to SECS for a running server to carry it out (exit 1 if it does not).
    #[arg(long, value_name = "SECS")]
    wait: Option<u64>,
}

/// A gateway that never calls Alipay: the admin commands only queue work. Were a flow to reach
/// it, the call surely did not leave.
#[derive(Debug)]
struct NoCalls;

fn not_sent<T>() -> Reply<T> {
    Reply::NotSent {
        detail: "the admin commands never call Alipay".into(),
    }
}

#[async_trait]
impl Gateway for NoCalls {
    async fn consult(&self, _: &ConsultRequest) -> Reply<ConsultResponse> {
        not_sent()
    }
    async fn apply_token(&self, _: &ApplyTokenRequest) -> Reply<ApplyTokenResponse> {
        not_sent()
    }
    async fn revoke(&self, _: &RevokeRequest) -> Reply<RevokeResponse> {
        not_sent()
    }
    async fn pay(&self, _: &str) -> Reply<PayResponse> {
        not_sent()
    }
    async fn inquiry_payment(&self, _: &InquiryPaymentRequest) -> Reply<InquiryPaymentResponse> {
        not_sent()
    }
    async fn cancel(&self, _: &CancelRequest) -> Reply<CancelResponse> {
        not_sent()
    }
    async fn refund(&self, _: &str) -> Reply<RefundResponse> {
        not_sent()
    }
    async fn inquiry_refund(&self, _: &InquiryRefundRequest) -> Reply<InquiryRefundResponse> {
        not_sent()
    }
    async fn declare(&self, _: &str) -> Reply<DeclareResponse> {
        not_sent()
    }
    async fn inquiry_declaration_requests(
        &self,
        _: &InquiryDeclarationRequestsRequest,
    ) -> Reply<InquiryDeclarationRequestsResponse> {
        not_sent()
    }
    async fn registration(&self, _: &str) -> Reply<RegistrationResponse> {
        not_sent()
    }
    async fn inquiry_registration_status(
        &self,
        _: &InquiryRegistrationStatusRequest,
    ) -> Reply<InquiryRegistrationStatusResponse> {
        not_sent()
    }
    async fn inquiry_registration_info(
        &self,
        _: &InquiryRegistrationInfoRequest,
    ) -> Reply<InquiryRegistrationInfoResponse> {
        not_sent()
    }
}

/// The merchant's store and the domain over it.
struct Admin {
    store: SqlStore,
    ctx: Context,
    merchant: String,
}

impl Admin {
    fn operator(&self) -> Operator {
        Operator::new(self.ctx.clone())
    }
}

/// `autodebit admin …`.
pub(crate) fn run(args: &AdminArgs) -> Result<(), Failure> {
    let mut config = Config::load(args.config.as_deref(), &process_environment())
        .map_err(|e| Failure::bad_input(format!("configuration: {e}")))?;
    if let Some(url) = &args.database {
        config.database.url = crate::config::DatabaseUrl::new(url.clone());
        config.database.url_file = None;
    }
    config
        .check()
        .map_err(|e| Failure::bad_input(format!("configuration: {e}")))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::invalid(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async {
        let admin = open(&config, args.merchant.as_deref()).await?;
        let result = command(&admin, &args.command).await;
        admin.store.close().await;
        result
    })
}

/// The merchant `wanted` (or the first configured one) over the configured store.
async fn open(config: &Config, wanted: Option<&str>) -> Result<Admin, Failure> {
    let merchants: Vec<&str> = if config.merchants.is_empty() && config.embedded_sandbox() {
        vec![DEFAULT_MERCHANT]
    } else {
        config.merchants.keys().map(String::as_str).collect()
    };
    let merchant = match wanted {
        Some(id) if merchants.contains(&id) => id.to_owned(),
        Some(id) => {
            return Err(Failure::bad_input(format!(
                "no merchant {id:?} in the configuration (configured: {})",
                merchants.join(", ")
            )));
        }
        None => merchants
            .first()
            .map(|m| (*m).to_owned())
            .ok_or_else(|| Failure::bad_input("no merchant in the configuration"))?,
    };
    // An operator in the wrong directory must not get a new, empty database (and key) there.
    let url = config.database.url.expose();
    if config.database.url_file.is_none()
        && let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        && !std::path::Path::new(path.split('?').next().unwrap_or(path)).exists()
    {
        return Err(Failure::bad_input(format!(
            "no database at {path}: run this where `autodebit serve` runs, or pass --config or \
             --database"
        )));
    }
    let store = crate::runtime::open_store(config)
        .await
        .map_err(|e| Failure::bad_input(e.to_string()))?;
    let scoped = store
        .for_merchant(&merchant)
        .map_err(|e| Failure::bad_input(e.to_string()))?;
    let schedule = config
        .schedule()
        .map_err(|e| Failure::bad_input(format!("schedule.{}: {}", e.setting, e.problem)))?;
    // A refund's body names the server's notify URL, as the server itself would write it. With
    // a listener on port 0 and no public URL nobody can know it: Alipay then uses the Dashboard's.
    let public_url = match &config.server.public_url {
        Some(url) => Some(url.trim_end_matches('/').to_owned()),
        None if config.server.listen.port() != 0 => {
            Some(format!("http://{}", config.server.listen))
        }
        None => None,
    };
    let settings = Settings {
        refund_notify_url: public_url
            .map(|url| format!("{url}{}", notify_path(&merchant, "refunds"))),
        ..Settings::default()
    };
    let clock = ClientClock::new(Arc::new(ams_client::SystemClock::new()));
    let ctx = Context::new(Arc::new(scoped.clone()), Arc::new(NoCalls), Arc::new(clock))
        .with_schedule(schedule)
        .with_settings(settings);
    Ok(Admin {
        store: scoped,
        ctx,
        merchant,
    })
}

/// A domain error: the input's fault (exit 2, nothing written) or the system's (exit 1).
fn failure(e: Error) -> Failure {
    match e {
        Error::NotFound { .. }
        | Error::Invalid { .. }
        | Error::IdempotencyConflict { .. }
        | Error::NotCancellable { .. }
        | Error::NotRefundable { .. }
        | Error::RefundTooLarge { .. }
        | Error::ReferenceInUse { .. }
        | Error::AttemptInProgress { .. }
        | Error::AlreadyPaid { .. }
        | Error::NotChargeable { .. } => Failure::bad_input(e.to_string()),
        other => Failure::invalid(other.to_string()),
    }
}

fn store_failure(e: autodebit_domain::ports::StoreError) -> Failure {
    Failure::invalid(e.to_string())
}

async fn command(admin: &Admin, command: &AdminCommand) -> Result<(), Failure> {
    match command {
        AdminCommand::Attention { limit, json } => attention(admin, *limit, *json).await,
        AdminCommand::Inquire { id, wait } => inquire(admin, id, wait.wait).await,
        AdminCommand::RetryCancel { payment_id, wait } => {
            let id = payment(payment_id)?;
            let view = admin
                .operator()
                .queue_retry_cancel(&id)
                .await
                .map_err(failure)?;
            println!("{}", describe_payment(&view));
            println!("{QUEUED}");
            wait_payment(admin, &view, wait.wait).await
        }
        AdminCommand::Refund {
            payment_id,
            amount,
            reference,
            reason,
            wait,
        } => {
            refund(
                admin,
                payment_id,
                *amount,
                reference,
                reason.clone(),
                wait.wait,
            )
            .await
        }
        AdminCommand::Resolve {
            attention_id,
            reason,
        } => {
            let item = admin
                .operator()
                .resolve(&AttentionId::new(attention_id.as_str()), reason)
                .await
                .map_err(failure)?;
            let why = item.resolution.map(|r| r.reason).unwrap_or_default();
            println!(
                "{} ({}, {}) resolved: {why}",
                item.id, item.subject, item.code
            );
            Ok(())
        }
        AdminCommand::Redeliver {
            event_id,
            failed,
            since,
            hours,
        } => match (event_id, failed) {
            (Some(id), _) => redeliver_one(admin, id).await,
            (None, _) => redeliver_failed(admin, since.as_deref(), *hours).await,
        },
    }
}

fn payment(id: &str) -> Result<OrderId, Failure> {
    if id.starts_with("pay_") {
        Ok(OrderId::new(id))
    } else {
        Err(Failure::bad_input(format!(
            "{id:?} is not a payment id (pay_…)"
        )))
    }
}

fn rfc3339(ms: Millis) -> String {
    AmsDateTime::from_unix_millis(ms, 0)
        .map(AmsDateTime::into_inner)
        .unwrap_or_else(|_| ms.to_string())
}

async fn attention(admin: &Admin, limit: u32, json: bool) -> Result<(), Failure> {
    let items = admin
        .operator()
        .attention(None, limit)
        .await
        .map_err(failure)?;
    if json {
        for item in &items {
            println!("{}", item_json(item));
        }
        return Ok(());
    }
    if items.is_empty() {
        println!("nothing needs attention (merchant {})", admin.merchant);
        return Ok(());
    }
    let rows: Vec<[String; 6]> = items
        .iter()
        .map(|i| {
            [
                i.id.to_string(),
                i.subject.to_string(),
                i.code.clone(),
                rfc3339(i.opened_at),
                actions(i).join(","),
                format!("{} | tried: {}", i.reason, i.tried),
            ]
        })
        .collect();
    let header = ["ID", "SUBJECT", "CODE", "OPENED", "ACTIONS", "WHAT / TRIED"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[&str]| {
        let mut out = String::new();
        for (n, cell) in cells.iter().enumerate() {
            if n + 1 == cells.len() {
                out.push_str(cell);
            } else {
                let _ = write!(out, "{cell:<w$}  ", w = widths[n]);
            }
        }
        out
    };
    println!("{}", line(&header));
    for row in &rows {
        println!("{}", line(&row.each_ref().map(String::as_str)));
    }
    println!(
        "{} open item{} (merchant {})",
        items.len(),
        if items.len() == 1 { "" } else { "s" },
        admin.merchant
    );
    Ok(())
}

fn actions(item: &AttentionItem) -> Vec<&'static str> {
    item.actions.iter().map(|a| a.name()).collect()
}

fn item_json(item: &AttentionItem) -> serde_json::Value {
    serde_json::json!({
        "id": item.id.as_str(),
        "subject": {"kind": item.subject.kind(), "id": item.subject.id()},
        "code": item.code,
        "reason": item.reason,
        "tried": item.tried,
        "actions": actions(item),
        "opened_at": rfc3339(item.opened_at),
        "updated_at": rfc3339(item.updated_at),
    })
}

fn describe_payment(view: &PaymentView) -> String {
    let latest = view.latest();
    format!(
        "payment {}: {} (order {}, attempt {} {}, {} refunded)",
        view.order.id,
        view.status().name(),
        view.order.state.name(),
        latest.id,
        latest.state.name(),
        Amount::new(view.order.amount.currency, view.order.refunded),
    )
}

fn describe_refund(view: &RefundView) -> String {
    format!(
        "refund {} of payment {}: {} {}{}",
        view.refund.id,
        view.refund.order_id,
        view.refund.amount,
        view.refund.state.name(),
        view.refund
            .result_code
            .as_deref()
            .map(|c| format!(" ({c})"))
            .unwrap_or_default(),
    )
}

async fn inquire(admin: &Admin, id: &str, wait: Option<u64>) -> Result<(), Failure> {
    if id.starts_with("re_") {
        let view = admin
            .operator()
            .queue_inquire_refund(&RefundId::new(id))
            .await
            .map_err(failure)?;
        println!("{}", describe_refund(&view));
        if view.refund.state.is_final() {
            println!("final: nothing to inquire");
            return Ok(());
        }
        println!("{QUEUED}");
        return wait_refund(admin, &view, wait).await;
    }
    let order = payment(id).map_err(|_| {
        Failure::bad_input(format!(
            "{id:?} is neither a payment id (pay_…) nor a refund id (re_…)"
        ))
    })?;
    let view = admin
        .operator()
        .queue_inquire(&order)
        .await
        .map_err(failure)?;
    println!("{}", describe_payment(&view));
    if view.latest().state.is_final() {
        println!("final: nothing to inquire");
        return Ok(());
    }
    println!("{QUEUED}");
    wait_payment(admin, &view, wait).await
}

async fn refund(
    admin: &Admin,
    payment_id: &str,
    amount: u64,
    reference: &str,
    reason: Option<String>,
    wait: Option<u64>,
) -> Result<(), Failure> {
    let order_id = payment(payment_id)?;
    if amount == 0 {
        return Err(Failure::bad_input("--amount must be more than zero"));
    }
    if reference.trim().is_empty() {
        return Err(Failure::bad_input("--reference must not be empty"));
    }
    let paid = Payments::new(admin.ctx.clone())
        .payment(&order_id)
        .await
        .map_err(failure)?;
    let view = admin
        .operator()
        .queue_refund(RefundCommand {
            // The operator's references are apart from the merchant API's Idempotency-Keys.
            idempotency_key: format!("admin:{reference}"),
            order_id,
            amount: Amount::new(paid.order.amount.currency, amount),
            reason,
        })
        .await
        .map_err(failure)?;
    println!("{}", describe_refund(&view));
    if view.replayed {
        println!("already requested with reference {reference:?}: nothing new queued");
    }
    if view.refund.state.is_final() {
        return Ok(());
    }
    if !view.replayed {
        println!("{QUEUED}");
    }
    wait_refund(admin, &view, wait).await
}

/// When the job `kind` is due, if there is one.
async fn job_due(admin: &Admin, kind: &JobKind) -> Result<Option<(Millis, bool)>, Failure> {
    let jobs = admin.store.jobs().await.map_err(store_failure)?;
    Ok(jobs
        .iter()
        .find(|j| &j.kind == kind)
        .map(|j| (j.due_at, j.lease.is_some())))
}

/// Waits until the job `kind`, just made due, has run: it is gone, or idle and due later than
/// both now and when it was due after the command (a job a worker held when it was queued runs
/// once more first).
async fn job_run(admin: &Admin, kind: &JobKind) -> Result<(), Failure> {
    let mut after = admin.ctx.now();
    if let Some((due, _)) = job_due(admin, kind).await? {
        after = after.max(due);
    }
    loop {
        match job_due(admin, kind).await? {
            None => return Ok(()),
            Some((due, false)) if due > after => return Ok(()),
            Some(_) => tokio::time::sleep(POLL).await,
        }
    }
}

fn timed_out(secs: u64) -> Failure {
    Failure::invalid(format!(
        "not carried out within {secs} s: the job is still due (is `autodebit serve` running on \
         this database? it stays queued)"
    ))
}

async fn wait_payment(
    admin: &Admin,
    before: &PaymentView,
    wait: Option<u64>,
) -> Result<(), Failure> {
    let Some(secs) = wait else { return Ok(()) };
    let kind = JobKind::Payment(before.latest().id.clone());
    tokio::time::timeout(Duration::from_secs(secs), job_run(admin, &kind))
        .await
        .map_err(|_| timed_out(secs))??;
    let done = Payments::new(admin.ctx.clone())
        .payment(&before.order.id)
        .await
        .map_err(failure)?;
    println!("done: {}", describe_payment(&done));
    Ok(())
}

async fn wait_refund(admin: &Admin, before: &RefundView, wait: Option<u64>) -> Result<(), Failure> {
    let Some(secs) = wait else { return Ok(()) };
    let kind = JobKind::Refund(before.refund.id.clone());
    tokio::time::timeout(Duration::from_secs(secs), job_run(admin, &kind))
        .await
        .map_err(|_| timed_out(secs))??;
    let done = autodebit_domain::services::refunds::Refunds::new(admin.ctx.clone())
        .refund_view(&before.refund.id)
        .await
        .map_err(failure)?;
    println!("done: {}", describe_refund(&done));
    Ok(())
}

async fn redeliver_one(admin: &Admin, id: &str) -> Result<(), Failure> {
    let missing = || {
        Failure::bad_input(format!(
            "no event {id:?} (event ids look like evt_0000000000000042)"
        ))
    };
    let seq = seq_of(id).ok_or_else(missing)?;
    admin
        .store
        .event(seq)
        .await
        .map_err(store_failure)?
        .ok_or_else(missing)?;
    let n = admin
        .store
        .redeliver_webhooks(seq, admin.ctx.now())
        .await
        .map_err(store_failure)?;
    if n == 0 {
        println!("{id}: no delivery to send again (none made yet, or all still pending)");
    } else {
        println!(
            "{id}: {n} deliver{} pending again, due now",
            if n == 1 { "y" } else { "ies" }
        );
    }
    Ok(())
}

async fn redeliver_failed(
    admin: &Admin,
    since: Option<&str>,
    hours: Option<u32>,
) -> Result<(), Failure> {
    let now = admin.ctx.now();
    let since = match (since, hours) {
        (Some(text), _) => AmsDateTime::new(text)
            .unix_millis()
            .map_err(|e| Failure::bad_input(format!("--since: {e}")))?,
        (None, Some(h)) => now - i64::from(h) * 3_600_000,
        (None, None) => 0,
    };
    let events = admin
        .store
        .failed_webhook_events(since)
        .await
        .map_err(store_failure)?;
    let bar = ProgressBar::new(events.len() as u64);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} events {msg}") {
        bar.set_style(style);
    }
    let mut deliveries = 0;
    for seq in &events {
        bar.set_message(event_id(*seq));
        deliveries += admin
            .store
            .redeliver_webhooks(*seq, now)
            .await
            .map_err(store_failure)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    println!(
        "{deliveries} failed deliver{} of {} event{} pending again, due now (failed since {})",
        if deliveries == 1 { "y" } else { "ies" },
        events.len(),
        if events.len() == 1 { "" } else { "s" },
        rfc3339(since)
    );
    Ok(())
}
