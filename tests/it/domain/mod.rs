//! The domain's flows, end to end over the ports: against the scripted gateway (`flows`,
//! `money`), against a model of Alipay with random faults (`properties`), and against the sandbox
//! through the real client (`sandbox`). Each runs over every store backend the machine offers:
//! in memory always, SQLite always, PostgreSQL when `AUTODEBIT_TEST_DATABASE_URL` names one.

mod customs;
mod flows;
mod money;
mod properties;
mod registrations;
mod sandbox;

use std::sync::{Arc, Mutex};

use ams_protocol::{
    AccessToken, Amount, AmsResult, Api, AuthorizationNotifyType, Currency, Notification,
    NotifyAuthorization, NotifyPayment, NotifyRefund, PayRequest, PayResponse, PaymentNotifyType,
    RefundStatus,
};
use async_trait::async_trait;
use autodebit_domain::lifecycle::attempt::AttemptState;
use autodebit_domain::lifecycle::authorization::AuthorizationState;
use autodebit_domain::model::{
    AttentionItem, Authorization, AuthorizationId, Event, EventKind, Job, Millis, OrderId,
};
use autodebit_domain::ports::{Clock, Gateway, Reply, Store};
use autodebit_domain::services::authorizations::Authorizations;
use autodebit_domain::services::jobs::{JobReport, Jobs};
use autodebit_domain::services::notifications::{Notifications, Receipt};
use autodebit_domain::services::operator::Operator;
use autodebit_domain::services::payments::{ChargeCommand, PaymentView, Payments};
use autodebit_domain::services::refunds::Refunds;
use autodebit_domain::services::{Context, Error, Schedule};
use autodebit_domain::testing::{
    InMemoryStore, ManualClock, ScriptedGateway, UncheckedVerifier, raw, seed,
};
use autodebit_store::{Keyring, SqlStore, StoreOptions};

/// 2024-01-01T08:00:00+08:00.
pub(crate) const T0: Millis = 1_704_067_200_000;
pub(crate) const DAY: Millis = 86_400_000;

pub(crate) fn usd(minor: u64) -> Amount {
    Amount::new(Currency::USD, minor)
}

/// A store to run the flows over, with what a test reads besides the port.
#[derive(Clone)]
pub(crate) enum Backend {
    Memory(InMemoryStore),
    Sql(Arc<SqlBackend>),
}

/// A SQL store on a fresh database of its own: a SQLite file in a temporary directory, or a schema
/// on the PostgreSQL server named by `AUTODEBIT_TEST_DATABASE_URL` (dropped with it).
pub(crate) struct SqlBackend {
    store: Arc<SqlStore>,
    name: &'static str,
    url: String,
    schema: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for SqlBackend {
    fn drop(&mut self) {
        if let Some(schema) = &self.schema {
            let _ = std::process::Command::new("psql")
                .args(["--no-psqlrc", "-q", "--dbname", &self.url, "-c"])
                .arg(format!(
                    "SET lock_timeout = '2s'; DROP SCHEMA IF EXISTS {schema} CASCADE"
                ))
                .output();
        }
    }
}

/// The PostgreSQL server the suites also run on, if any (`AUTODEBIT_TEST_DATABASE_URL`; an empty
/// value means none).
fn postgres_url() -> Option<String> {
    std::env::var("AUTODEBIT_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
}

impl SqlBackend {
    async fn open(name: &'static str) -> SqlBackend {
        let keys = Keyring::parse(&Keyring::generate_entry(1).unwrap()).unwrap();
        let (url, schema, dir) = match name {
            "sqlite" => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("autodebit.db").display());
                (url, None, Some(dir))
            }
            _ => {
                let suffix: String = Keyring::generate_entry(0)
                    .unwrap()
                    .chars()
                    .skip(2)
                    .filter(char::is_ascii_alphanumeric)
                    .take(16)
                    .collect::<String>()
                    .to_ascii_lowercase();
                let url = postgres_url().expect("a PostgreSQL URL");
                (url, Some(format!("autodebit_flows_{suffix}")), None)
            }
        };
        let mut options = StoreOptions::new(&url);
        if let Some(schema) = &schema {
            options = options.schema(schema);
        }
        let store = SqlStore::open(options, keys)
            .await
            .expect("the store opens");
        SqlBackend {
            store: Arc::new(store),
            name,
            url,
            schema,
            _dir: dir,
        }
    }
}

impl Backend {
    /// Every backend this machine offers, each fresh: in memory, SQLite, and PostgreSQL when
    /// `AUTODEBIT_TEST_DATABASE_URL` names a server.
    pub(crate) async fn all() -> Vec<Backend> {
        let mut all = vec![
            Backend::Memory(InMemoryStore::new()),
            Backend::Sql(Arc::new(SqlBackend::open("sqlite").await)),
        ];
        if postgres_url().is_some() {
            all.push(Backend::Sql(Arc::new(SqlBackend::open("postgres").await)));
        }
        all
    }

    /// A new, empty backend of the same kind.
    pub(crate) async fn fresh(&self) -> Backend {
        match self {
            Backend::Memory(_) => Backend::Memory(InMemoryStore::new()),
            Backend::Sql(sql) => Backend::Sql(Arc::new(SqlBackend::open(sql.name).await)),
        }
    }

    pub(crate) fn name(&self) -> &'static str {
        match self {
            Backend::Memory(_) => "memory",
            Backend::Sql(sql) => sql.name,
        }
    }

    pub(crate) fn store(&self) -> Arc<dyn Store> {
        match self {
            Backend::Memory(store) => Arc::new(store.clone()),
            Backend::Sql(sql) => sql.store.clone(),
        }
    }

    /// The outbox.
    pub(crate) async fn events(&self) -> Vec<Event> {
        match self {
            Backend::Memory(store) => store.events(),
            Backend::Sql(sql) => sql
                .store
                .events_after(0, 100_000)
                .await
                .unwrap()
                .into_iter()
                .map(|(_, e)| e)
                .collect(),
        }
    }

    /// Jobs that will run, in due order.
    pub(crate) async fn jobs(&self) -> Vec<Job> {
        match self {
            Backend::Memory(store) => store.jobs(),
            Backend::Sql(sql) => sql.store.jobs().await.unwrap(),
        }
    }

    /// The in-memory store, for what only it can do (fail a commit on purpose).
    pub(crate) fn memory(&self) -> Option<&InMemoryStore> {
        match self {
            Backend::Memory(store) => Some(store),
            Backend::Sql(_) => None,
        }
    }
}

/// When a job can next be taken: when it is due, and not before a lease on it ends.
pub(crate) fn runnable_at(job: &Job) -> Millis {
    job.lease
        .as_ref()
        .map_or(job.due_at, |l| job.due_at.max(l.until))
}

/// Records the attempt's committed state at the moment `pay` is called.
struct Observing {
    inner: Arc<ScriptedGateway>,
    store: Arc<dyn Store>,
    states_at_pay: Arc<Mutex<Vec<AttemptState>>>,
}

#[async_trait]
impl Gateway for Observing {
    async fn consult(
        &self,
        r: &ams_protocol::ConsultRequest,
    ) -> Reply<ams_protocol::ConsultResponse> {
        self.inner.consult(r).await
    }
    async fn apply_token(
        &self,
        r: &ams_protocol::ApplyTokenRequest,
    ) -> Reply<ams_protocol::ApplyTokenResponse> {
        self.inner.apply_token(r).await
    }
    async fn revoke(&self, r: &ams_protocol::RevokeRequest) -> Reply<ams_protocol::RevokeResponse> {
        self.inner.revoke(r).await
    }
    async fn pay(&self, body: &str) -> Reply<PayResponse> {
        let prid = serde_json::from_str::<PayRequest>(body)
            .expect("pay body")
            .payment_request_id;
        let mut tx = self.store.begin().await.expect("begin");
        let state = tx
            .attempt_by_payment_request_id(&prid)
            .await
            .expect("read")
            .map(|a| a.state)
            .expect("the attempt is committed before pay");
        drop(tx);
        self.states_at_pay.lock().unwrap().push(state);
        self.inner.pay(body).await
    }
    async fn inquiry_payment(
        &self,
        r: &ams_protocol::InquiryPaymentRequest,
    ) -> Reply<ams_protocol::InquiryPaymentResponse> {
        self.inner.inquiry_payment(r).await
    }
    async fn cancel(&self, r: &ams_protocol::CancelRequest) -> Reply<ams_protocol::CancelResponse> {
        self.inner.cancel(r).await
    }
    async fn refund(&self, body: &str) -> Reply<ams_protocol::RefundResponse> {
        self.inner.refund(body).await
    }
    async fn inquiry_refund(
        &self,
        r: &ams_protocol::InquiryRefundRequest,
    ) -> Reply<ams_protocol::InquiryRefundResponse> {
        self.inner.inquiry_refund(r).await
    }
    async fn declare(&self, body: &str) -> Reply<ams_protocol::DeclareResponse> {
        self.inner.declare(body).await
    }
    async fn inquiry_declaration_requests(
        &self,
        r: &ams_protocol::InquiryDeclarationRequestsRequest,
    ) -> Reply<ams_protocol::InquiryDeclarationRequestsResponse> {
        self.inner.inquiry_declaration_requests(r).await
    }
    async fn registration(&self, body: &str) -> Reply<ams_protocol::RegistrationResponse> {
        self.inner.registration(body).await
    }
    async fn inquiry_registration_status(
        &self,
        r: &ams_protocol::InquiryRegistrationStatusRequest,
    ) -> Reply<ams_protocol::InquiryRegistrationStatusResponse> {
        self.inner.inquiry_registration_status(r).await
    }
    async fn inquiry_registration_info(
        &self,
        r: &ams_protocol::InquiryRegistrationInfoRequest,
    ) -> Reply<ams_protocol::InquiryRegistrationInfoResponse> {
        self.inner.inquiry_registration_info(r).await
    }
}

/// The flows over one backend, the scripted gateway and a manual clock.
pub(crate) struct H {
    pub(crate) backend: Backend,
    pub(crate) gw: Arc<ScriptedGateway>,
    pub(crate) clock: ManualClock,
    pub(crate) ctx: Context,
    pub(crate) states_at_pay: Arc<Mutex<Vec<AttemptState>>>,
}

impl H {
    pub(crate) fn new(backend: Backend) -> Self {
        Self::at(backend, T0, Schedule::default())
    }

    pub(crate) fn at(backend: Backend, now: Millis, schedule: Schedule) -> Self {
        let store = backend.store();
        let gw = Arc::new(ScriptedGateway::new());
        let states_at_pay = Arc::new(Mutex::new(Vec::new()));
        let observing = Arc::new(Observing {
            inner: gw.clone(),
            store: store.clone(),
            states_at_pay: states_at_pay.clone(),
        });
        let clock = ManualClock::new(now);
        let ctx = Context::new(store, observing, Arc::new(clock.clone()))
            .with_verifier(Arc::new(UncheckedVerifier))
            .with_schedule(schedule);
        Self {
            backend,
            gw,
            clock,
            ctx,
            states_at_pay,
        }
    }

    pub(crate) fn payments(&self) -> Payments {
        Payments::new(self.ctx.clone())
    }

    pub(crate) fn notifications(&self) -> Notifications {
        Notifications::new(self.ctx.clone())
    }

    pub(crate) fn refunds(&self) -> Refunds {
        Refunds::new(self.ctx.clone())
    }

    pub(crate) fn authorizations(&self) -> Authorizations {
        Authorizations::new(self.ctx.clone())
    }

    pub(crate) fn customs(&self) -> autodebit_domain::services::customs::Customs {
        autodebit_domain::services::customs::Customs::new(self.ctx.clone())
    }

    pub(crate) fn registrations(&self) -> autodebit_domain::services::registrations::Registrations {
        autodebit_domain::services::registrations::Registrations::new(self.ctx.clone())
    }

    pub(crate) fn operator(&self) -> Operator {
        Operator::new(self.ctx.clone())
    }

    pub(crate) fn store(&self) -> Arc<dyn Store> {
        self.ctx.store.clone()
    }

    /// Stores an authorization in `state` holding `tok-1` (and a refresh token).
    pub(crate) async fn auth_in(&self, state: AuthorizationState) -> AuthorizationId {
        let now = self.clock.now_ms();
        let mut tx = self.store().begin().await.unwrap();
        let mut n = 1;
        while tx
            .authorization(&AuthorizationId::new(format!("auth_{n}")))
            .await
            .unwrap()
            .is_some()
        {
            n += 1;
        }
        drop(tx);
        let mut auth: Authorization =
            seed::active_authorization(&format!("auth_{n}"), "tok-1", now);
        auth.state = state;
        seed::insert(&*self.store(), &auth).await.unwrap();
        auth.id
    }

    pub(crate) async fn active(&self) -> AuthorizationId {
        self.auth_in(AuthorizationState::Active).await
    }

    pub(crate) async fn charge(
        &self,
        auth: &AuthorizationId,
        key: &str,
        minor: u64,
    ) -> Result<PaymentView, Error> {
        self.payments()
            .charge(ChargeCommand {
                idempotency_key: key.into(),
                authorization_id: auth.clone(),
                reference: format!("order-{key}"),
                description: "Monthly plan".into(),
                amount: usd(minor),
                return_url: None,
            })
            .await
    }

    /// Runs the due jobs; every job must end well.
    pub(crate) async fn run(&self) -> JobReport {
        let report = Jobs::new(self.ctx.clone()).run_due().await.unwrap();
        assert!(report.failed.is_empty(), "{report:?}");
        report
    }

    pub(crate) async fn advance(&self, ms: Millis) -> JobReport {
        self.clock.advance(ms);
        self.run().await
    }

    /// Moves the clock to the next due job and runs it, until none is left or `until` is reached.
    /// Returns how many runs it took.
    pub(crate) async fn drain(&self, until: Millis) -> usize {
        let mut runs = 0;
        loop {
            let Some(next) = self.backend.jobs().await.iter().map(runnable_at).min() else {
                return runs;
            };
            if next > until {
                return runs;
            }
            self.clock.set(next.max(self.clock.now_ms()));
            self.run().await;
            runs += 1;
            assert!(runs < 10_000, "the jobs never settle");
        }
    }

    pub(crate) async fn payment(&self, order: &OrderId) -> PaymentView {
        self.payments().payment(order).await.unwrap()
    }

    pub(crate) async fn authorization(&self, id: &AuthorizationId) -> Authorization {
        self.authorizations().authorization(id).await.unwrap()
    }

    pub(crate) async fn events(&self, kind: EventKind) -> usize {
        self.backend
            .events()
            .await
            .iter()
            .filter(|e| e.kind == kind)
            .count()
    }

    pub(crate) async fn jobs(&self) -> Vec<Job> {
        self.backend.jobs().await
    }

    pub(crate) async fn attention(&self) -> Vec<AttentionItem> {
        self.store().open_attention(None, 1_000).await.unwrap()
    }

    pub(crate) fn calls(&self, api: Api) -> usize {
        self.gw.calls_of(api).len()
    }

    pub(crate) fn bodies(&self, api: Api) -> Vec<String> {
        self.gw.calls_of(api).into_iter().map(|c| c.body).collect()
    }

    pub(crate) async fn notify(&self, notification: &Notification) -> Result<Receipt, Error> {
        self.notifications().receive(&raw(notification)).await
    }
}

/// A test run once per backend (the backend named on stderr, so a failure says which):
/// `backend_test! { async fn name(b) { … } }`, or `backend_test! { multi_thread async fn … }`.
macro_rules! backend_test {
    (async fn $name:ident($b:ident) $body:block) => {
        #[tokio::test]
        async fn $name() {
            for $b in $crate::domain::Backend::all().await {
                eprintln!("-- on the {} store", $b.name());
                $body
            }
        }
    };
    (multi_thread async fn $name:ident($b:ident) $body:block) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            for $b in $crate::domain::Backend::all().await {
                eprintln!("-- on the {} store", $b.name());
                $body
            }
        }
    };
}
pub(crate) use backend_test;

pub(crate) fn payment_notification(prid: &str, result: AmsResult, amount: Amount) -> Notification {
    Notification::Payment(Box::new(NotifyPayment::new(
        PaymentNotifyType::PaymentResult,
        result,
        prid,
        "pid-1",
        amount,
    )))
}

pub(crate) fn refund_notification(rrid: &str, amount: Amount) -> Notification {
    Notification::Refund(Box::new(NotifyRefund::new(
        AmsResult::success(),
        RefundStatus::Success,
        rrid,
        "rid-1",
        amount,
    )))
}

pub(crate) fn token_canceled(token: &str) -> Notification {
    Notification::Authorization(Box::new(
        NotifyAuthorization::new(AuthorizationNotifyType::TokenCanceled, AmsResult::success())
            .with_access_token(AccessToken::new(token))
            .with_reason("user unbound"),
    ))
}

pub(crate) fn authcode_created(auth_state: &str, code: &str) -> Notification {
    Notification::Authorization(Box::new(
        NotifyAuthorization::new(
            AuthorizationNotifyType::AuthcodeCreated,
            AmsResult::success(),
        )
        .with_auth_state(auth_state)
        .with_auth_code(ams_protocol::AuthCode::new(code)),
    ))
}
