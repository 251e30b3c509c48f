//! Test doubles for the ports (feature `test-util`): an [`InMemoryStore`] that behaves like the real
//! store (units of work committed atomically, compare-and-set on versions, unique request ids and
//! keys, leased jobs), a [`ManualClock`] and a [`ScriptedGateway`] that answers from queues and
//! records every call. With them the flows run in unit tests, with no network and no database.
//!
//! [`replies`] builds the answers a test scripts.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ams_protocol::{
    Api, ApplyTokenRequest, ApplyTokenResponse, CancelRequest, CancelResponse, ConsultRequest,
    ConsultResponse, InquiryPaymentRequest, InquiryPaymentResponse, InquiryRefundRequest,
    InquiryRefundResponse, PayResponse, RefundResponse, RevokeRequest, RevokeResponse,
};
use async_trait::async_trait;

use crate::model::{
    AttemptId, Authorization, AuthorizationId, Event, IdempotencyRecord, InboxEntry, Job, JobId,
    JobKind, Millis, Order, OrderId, PaymentAttempt, Refund, RefundId,
};
use crate::ports::{Clock, Gateway, Reply, Store, StoreError, Tx};

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A clock that moves only when told. Clones share the same time.
#[derive(Clone, Debug)]
pub struct ManualClock {
    now: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock showing `now_ms`.
    pub fn new(now_ms: Millis) -> Self {
        Self {
            now: Arc::new(AtomicI64::new(now_ms)),
        }
    }

    /// Sets the time.
    pub fn set(&self, now_ms: Millis) {
        self.now.store(now_ms, Ordering::SeqCst);
    }

    /// Moves the time forward by `ms`.
    pub fn advance(&self, ms: Millis) {
        self.now.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> Millis {
        self.now.load(Ordering::SeqCst)
    }
}

/// A record kept under compare-and-set.
trait Record: Clone {
    type Key: Ord + Clone + std::fmt::Display;
    fn key(&self) -> Self::Key;
    fn version(&self) -> u64;
    fn set_version(&mut self, version: u64);
}

macro_rules! record {
    ($t:ty, $k:ty) => {
        impl Record for $t {
            type Key = $k;
            fn key(&self) -> $k {
                self.id.clone()
            }
            fn version(&self) -> u64 {
                self.version
            }
            fn set_version(&mut self, version: u64) {
                self.version = version;
            }
        }
    };
}

record!(Authorization, AuthorizationId);
record!(Order, OrderId);
record!(PaymentAttempt, AttemptId);
record!(Refund, RefundId);

/// What is committed.
#[derive(Clone, Debug, Default)]
struct Data {
    authorizations: BTreeMap<AuthorizationId, Authorization>,
    orders: BTreeMap<OrderId, Order>,
    attempts: BTreeMap<AttemptId, PaymentAttempt>,
    refunds: BTreeMap<RefundId, Refund>,
    jobs: BTreeMap<JobId, Job>,
    events: Vec<Event>,
    inbox: BTreeMap<String, InboxEntry>,
    idempotency: BTreeMap<String, IdempotencyRecord>,
}

#[derive(Debug, Default)]
struct Shared {
    data: Data,
    next_job: u64,
    commits: u64,
    /// The commit this many commits from now fails (1: the next one).
    fail_commit_in: Option<u32>,
}

/// An in-memory [`Store`]: the reference behaviour the SQL store must match.
///
/// A unit of work reads what is committed plus its own writes, and buffers every write. Updates are
/// compare-and-set on `version` (checked when called, against what the unit of work sees) and
/// re-checked at commit with every uniqueness rule and job lease, under one lock; if one no longer
/// holds, the commit fails with [`StoreError::Conflict`] and writes nothing. Dropping a unit of
/// work writes nothing. Jobs are claimed in due order, leased, and claimable again once the lease
/// has expired.
///
/// Clones share the same data. [`InMemoryStore::fail_commit_in`] makes a later commit fail, to
/// simulate a crash at that point of a flow.
#[derive(Clone, Debug, Default)]
pub struct InMemoryStore {
    shared: Arc<Mutex<Shared>>,
}

impl InMemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn shared(&self) -> MutexGuard<'_, Shared> {
        lock(&self.shared)
    }

    /// Makes the `n`-th commit from now fail with [`StoreError::Unavailable`], writing nothing, as
    /// if the process died just before it (1: the next commit). `0` clears it.
    pub fn fail_commit_in(&self, n: u32) {
        self.shared().fail_commit_in = (n > 0).then_some(n);
    }

    /// How many units of work were committed.
    pub fn commits(&self) -> u64 {
        self.shared().commits
    }

    /// Every authorization.
    pub fn authorizations(&self) -> Vec<Authorization> {
        self.shared()
            .data
            .authorizations
            .values()
            .cloned()
            .collect()
    }

    /// Every order.
    pub fn orders(&self) -> Vec<Order> {
        self.shared().data.orders.values().cloned().collect()
    }

    /// Every payment attempt, by creation time.
    pub fn attempts(&self) -> Vec<PaymentAttempt> {
        let mut all: Vec<_> = self.shared().data.attempts.values().cloned().collect();
        all.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        all
    }

    /// Every refund.
    pub fn refunds(&self) -> Vec<Refund> {
        self.shared().data.refunds.values().cloned().collect()
    }

    /// Every pending job, in due order.
    pub fn jobs(&self) -> Vec<Job> {
        let mut all: Vec<_> = self.shared().data.jobs.values().cloned().collect();
        all.sort_by(|a, b| (a.due_at, &a.id).cmp(&(b.due_at, &b.id)));
        all
    }

    /// The outbox, in order.
    pub fn events(&self) -> Vec<Event> {
        self.shared().data.events.clone()
    }

    /// The notification inbox.
    pub fn inbox(&self) -> Vec<InboxEntry> {
        self.shared().data.inbox.values().cloned().collect()
    }

    /// The idempotency records.
    pub fn idempotency_records(&self) -> Vec<IdempotencyRecord> {
        self.shared().data.idempotency.values().cloned().collect()
    }
}

/// A write waiting for commit: the version it was based on (`None`: inserted here) and the value.
#[derive(Clone, Debug)]
struct Slot<R> {
    base: Option<u64>,
    value: R,
}

type Staged<R> = BTreeMap<<R as Record>::Key, Slot<R>>;

fn visible<R: Record>(
    committed: &BTreeMap<R::Key, R>,
    staged: &Staged<R>,
    key: &R::Key,
) -> Option<R> {
    staged
        .get(key)
        .map(|slot| slot.value.clone())
        .or_else(|| committed.get(key).cloned())
}

fn all_visible<R: Record>(committed: &BTreeMap<R::Key, R>, staged: &Staged<R>) -> Vec<R> {
    let mut merged: BTreeMap<R::Key, R> = committed.clone();
    for (key, slot) in staged {
        merged.insert(key.clone(), slot.value.clone());
    }
    merged.into_values().collect()
}

fn stage_insert<R: Record>(
    committed: &BTreeMap<R::Key, R>,
    staged: &mut Staged<R>,
    record: &R,
    unique: impl Fn(&R, &R) -> bool,
) -> Result<(), StoreError> {
    let key = record.key();
    if visible(committed, staged, &key).is_some() {
        return Err(StoreError::Conflict(format!("{key} exists")));
    }
    if all_visible(committed, staged)
        .iter()
        .any(|other| unique(other, record))
    {
        return Err(StoreError::Conflict(format!(
            "a unique field of {key} is taken"
        )));
    }
    let mut value = record.clone();
    value.set_version(0);
    staged.insert(key, Slot { base: None, value });
    Ok(())
}

fn stage_update<R: Record>(
    committed: &BTreeMap<R::Key, R>,
    staged: &mut Staged<R>,
    record: &R,
) -> bool {
    let key = record.key();
    let Some(current) = visible(committed, staged, &key) else {
        return false;
    };
    if current.version() != record.version() {
        return false;
    }
    let base = match staged.get(&key) {
        Some(slot) => slot.base,
        None => Some(current.version()),
    };
    let mut value = record.clone();
    value.set_version(record.version() + 1);
    staged.insert(key, Slot { base, value });
    true
}

fn validate<R: Record>(
    committed: &BTreeMap<R::Key, R>,
    staged: &Staged<R>,
    unique: impl Fn(&R, &R) -> bool,
) -> Result<(), StoreError> {
    for (key, slot) in staged {
        match (slot.base, committed.get(key)) {
            (None, None) => {
                let clash = committed.values().any(|other| unique(other, &slot.value));
                if clash {
                    return Err(StoreError::Conflict(format!(
                        "a unique field of {key} was taken meanwhile"
                    )));
                }
            }
            (None, Some(_)) => {
                return Err(StoreError::Conflict(format!(
                    "{key} was inserted meanwhile"
                )));
            }
            (Some(base), Some(current)) if current.version() == base => {}
            (Some(_), _) => {
                return Err(StoreError::Conflict(format!("{key} was changed meanwhile")));
            }
        }
    }
    Ok(())
}

fn apply<R: Record>(committed: &mut BTreeMap<R::Key, R>, staged: Staged<R>) {
    for (key, slot) in staged {
        committed.insert(key, slot.value);
    }
}

fn same_auth_state(a: &Authorization, b: &Authorization) -> bool {
    a.id != b.id && a.auth_state == b.auth_state
}

fn same_payment_request_id(a: &PaymentAttempt, b: &PaymentAttempt) -> bool {
    a.id != b.id && a.payment_request_id == b.payment_request_id
}

fn same_refund_request_id(a: &Refund, b: &Refund) -> bool {
    a.id != b.id && a.refund_request_id == b.refund_request_id
}

fn never<R>(_: &R, _: &R) -> bool {
    false
}

#[derive(Clone, Debug)]
enum JobOp {
    Enqueue(Job),
    Complete {
        id: JobId,
        worker: String,
    },
    Reschedule {
        id: JobId,
        worker: String,
        due_at: Millis,
    },
    Remove(JobKind),
}

#[derive(Debug, Default)]
struct Writes {
    authorizations: Staged<Authorization>,
    orders: Staged<Order>,
    attempts: Staged<PaymentAttempt>,
    refunds: Staged<Refund>,
    jobs: Vec<JobOp>,
    events: Vec<Event>,
    inbox: Vec<InboxEntry>,
    idempotency: Vec<IdempotencyRecord>,
}

/// A unit of work on an [`InMemoryStore`].
#[derive(Debug)]
struct MemTx {
    shared: Arc<Mutex<Shared>>,
    writes: Writes,
}

#[async_trait]
impl Store for InMemoryStore {
    async fn begin(&self) -> Result<Box<dyn Tx>, StoreError> {
        Ok(Box::new(MemTx {
            shared: self.shared.clone(),
            writes: Writes::default(),
        }))
    }

    async fn claim_jobs(
        &self,
        now: Millis,
        worker: &str,
        lease_ms: Millis,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        let mut shared = self.shared();
        let mut due: Vec<&mut Job> = shared
            .data
            .jobs
            .values_mut()
            .filter(|j| j.due_at <= now && j.lease_until.is_none_or(|until| until <= now))
            .collect();
        due.sort_by(|a, b| (a.due_at, &a.id).cmp(&(b.due_at, &b.id)));
        let mut claimed = Vec::new();
        for job in due
            .into_iter()
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
        {
            job.lease_holder = Some(worker.to_owned());
            job.lease_until = Some(now + lease_ms);
            job.attempts += 1;
            claimed.push(job.clone());
        }
        Ok(claimed)
    }
}

impl MemTx {
    fn job_held_by(data: &Data, id: &JobId, worker: &str) -> bool {
        data.jobs
            .get(id)
            .is_some_and(|job| job.lease_holder.as_deref() == Some(worker))
    }
}

#[async_trait]
impl Tx for MemTx {
    async fn authorization(
        &mut self,
        id: &AuthorizationId,
    ) -> Result<Option<Authorization>, StoreError> {
        let shared = lock(&self.shared);
        Ok(visible(
            &shared.data.authorizations,
            &self.writes.authorizations,
            id,
        ))
    }

    async fn authorization_by_auth_state(
        &mut self,
        auth_state: &str,
    ) -> Result<Option<Authorization>, StoreError> {
        let shared = lock(&self.shared);
        Ok(
            all_visible(&shared.data.authorizations, &self.writes.authorizations)
                .into_iter()
                .find(|a| a.auth_state == auth_state),
        )
    }

    async fn authorization_by_access_token(
        &mut self,
        access_token: &str,
    ) -> Result<Option<Authorization>, StoreError> {
        let shared = lock(&self.shared);
        Ok(
            all_visible(&shared.data.authorizations, &self.writes.authorizations)
                .into_iter()
                .find(|a| {
                    a.token
                        .as_ref()
                        .is_some_and(|t| t.access_token.expose_secret() == access_token)
                }),
        )
    }

    async fn insert_authorization(
        &mut self,
        authorization: &Authorization,
    ) -> Result<(), StoreError> {
        let shared = lock(&self.shared);
        stage_insert(
            &shared.data.authorizations,
            &mut self.writes.authorizations,
            authorization,
            same_auth_state,
        )
    }

    async fn update_authorization(
        &mut self,
        authorization: &Authorization,
    ) -> Result<bool, StoreError> {
        let shared = lock(&self.shared);
        Ok(stage_update(
            &shared.data.authorizations,
            &mut self.writes.authorizations,
            authorization,
        ))
    }

    async fn order(&mut self, id: &OrderId) -> Result<Option<Order>, StoreError> {
        let shared = lock(&self.shared);
        Ok(visible(&shared.data.orders, &self.writes.orders, id))
    }

    async fn insert_order(&mut self, order: &Order) -> Result<(), StoreError> {
        let shared = lock(&self.shared);
        stage_insert(&shared.data.orders, &mut self.writes.orders, order, never)
    }

    async fn update_order(&mut self, order: &Order) -> Result<bool, StoreError> {
        let shared = lock(&self.shared);
        Ok(stage_update(
            &shared.data.orders,
            &mut self.writes.orders,
            order,
        ))
    }

    async fn attempt(&mut self, id: &AttemptId) -> Result<Option<PaymentAttempt>, StoreError> {
        let shared = lock(&self.shared);
        Ok(visible(&shared.data.attempts, &self.writes.attempts, id))
    }

    async fn attempt_by_payment_request_id(
        &mut self,
        id: &str,
    ) -> Result<Option<PaymentAttempt>, StoreError> {
        let shared = lock(&self.shared);
        Ok(all_visible(&shared.data.attempts, &self.writes.attempts)
            .into_iter()
            .find(|a| a.payment_request_id == id))
    }

    async fn attempts_of_order(
        &mut self,
        order: &OrderId,
    ) -> Result<Vec<PaymentAttempt>, StoreError> {
        let shared = lock(&self.shared);
        let mut of: Vec<_> = all_visible(&shared.data.attempts, &self.writes.attempts)
            .into_iter()
            .filter(|a| &a.order_id == order)
            .collect();
        of.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(of)
    }

    async fn insert_attempt(&mut self, attempt: &PaymentAttempt) -> Result<(), StoreError> {
        let shared = lock(&self.shared);
        stage_insert(
            &shared.data.attempts,
            &mut self.writes.attempts,
            attempt,
            same_payment_request_id,
        )
    }

    async fn update_attempt(&mut self, attempt: &PaymentAttempt) -> Result<bool, StoreError> {
        let shared = lock(&self.shared);
        Ok(stage_update(
            &shared.data.attempts,
            &mut self.writes.attempts,
            attempt,
        ))
    }

    async fn refund(&mut self, id: &RefundId) -> Result<Option<Refund>, StoreError> {
        let shared = lock(&self.shared);
        Ok(visible(&shared.data.refunds, &self.writes.refunds, id))
    }

    async fn refund_by_refund_request_id(
        &mut self,
        id: &str,
    ) -> Result<Option<Refund>, StoreError> {
        let shared = lock(&self.shared);
        Ok(all_visible(&shared.data.refunds, &self.writes.refunds)
            .into_iter()
            .find(|r| r.refund_request_id == id))
    }

    async fn refunds_of_order(&mut self, order: &OrderId) -> Result<Vec<Refund>, StoreError> {
        let shared = lock(&self.shared);
        let mut of: Vec<_> = all_visible(&shared.data.refunds, &self.writes.refunds)
            .into_iter()
            .filter(|r| &r.order_id == order)
            .collect();
        of.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(of)
    }

    async fn insert_refund(&mut self, refund: &Refund) -> Result<(), StoreError> {
        let shared = lock(&self.shared);
        stage_insert(
            &shared.data.refunds,
            &mut self.writes.refunds,
            refund,
            same_refund_request_id,
        )
    }

    async fn update_refund(&mut self, refund: &Refund) -> Result<bool, StoreError> {
        let shared = lock(&self.shared);
        Ok(stage_update(
            &shared.data.refunds,
            &mut self.writes.refunds,
            refund,
        ))
    }

    async fn enqueue_job(&mut self, kind: JobKind, due_at: Millis) -> Result<JobId, StoreError> {
        let mut shared = lock(&self.shared);
        shared.next_job += 1;
        let id = JobId::new(format!("job-{:08}", shared.next_job));
        self.writes.jobs.push(JobOp::Enqueue(Job {
            id: id.clone(),
            kind,
            due_at,
            attempts: 0,
            lease_holder: None,
            lease_until: None,
        }));
        Ok(id)
    }

    async fn complete_job(&mut self, id: &JobId, worker: &str) -> Result<bool, StoreError> {
        let shared = lock(&self.shared);
        let held = Self::job_held_by(&shared.data, id, worker);
        if held {
            self.writes.jobs.push(JobOp::Complete {
                id: id.clone(),
                worker: worker.to_owned(),
            });
        }
        Ok(held)
    }

    async fn reschedule_job(
        &mut self,
        id: &JobId,
        worker: &str,
        due_at: Millis,
    ) -> Result<bool, StoreError> {
        let shared = lock(&self.shared);
        let held = Self::job_held_by(&shared.data, id, worker);
        if held {
            self.writes.jobs.push(JobOp::Reschedule {
                id: id.clone(),
                worker: worker.to_owned(),
                due_at,
            });
        }
        Ok(held)
    }

    async fn remove_jobs(&mut self, kind: &JobKind) -> Result<usize, StoreError> {
        let shared = lock(&self.shared);
        let count = shared
            .data
            .jobs
            .values()
            .filter(|j| &j.kind == kind)
            .count();
        self.writes.jobs.push(JobOp::Remove(kind.clone()));
        Ok(count)
    }

    async fn push_event(&mut self, event: &Event) -> Result<(), StoreError> {
        self.writes.events.push(event.clone());
        Ok(())
    }

    async fn inbox_insert(&mut self, entry: &InboxEntry) -> Result<bool, StoreError> {
        let shared = lock(&self.shared);
        let taken = shared.data.inbox.contains_key(&entry.dedup_key)
            || self
                .writes
                .inbox
                .iter()
                .any(|e| e.dedup_key == entry.dedup_key);
        if !taken {
            self.writes.inbox.push(entry.clone());
        }
        Ok(!taken)
    }

    async fn idempotency(&mut self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        let shared = lock(&self.shared);
        Ok(self
            .writes
            .idempotency
            .iter()
            .find(|r| r.key == key)
            .cloned()
            .or_else(|| shared.data.idempotency.get(key).cloned()))
    }

    async fn insert_idempotency(&mut self, record: &IdempotencyRecord) -> Result<bool, StoreError> {
        let shared = lock(&self.shared);
        let taken = shared.data.idempotency.contains_key(&record.key)
            || self.writes.idempotency.iter().any(|r| r.key == record.key);
        if !taken {
            self.writes.idempotency.push(record.clone());
        }
        Ok(!taken)
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        let MemTx { shared, writes } = *self;
        let mut shared = lock(&shared);
        if let Some(n) = shared.fail_commit_in {
            if n <= 1 {
                shared.fail_commit_in = None;
                return Err(StoreError::Unavailable(
                    "simulated crash before commit".into(),
                ));
            }
            shared.fail_commit_in = Some(n - 1);
        }
        let data = &shared.data;
        validate(
            &data.authorizations,
            &writes.authorizations,
            same_auth_state,
        )?;
        validate(&data.orders, &writes.orders, never)?;
        validate(&data.attempts, &writes.attempts, same_payment_request_id)?;
        validate(&data.refunds, &writes.refunds, same_refund_request_id)?;
        if let Some(entry) = writes
            .inbox
            .iter()
            .find(|e| data.inbox.contains_key(&e.dedup_key))
        {
            return Err(StoreError::Conflict(format!(
                "inbox key {} stored meanwhile",
                entry.dedup_key
            )));
        }
        if let Some(record) = writes
            .idempotency
            .iter()
            .find(|r| data.idempotency.contains_key(&r.key))
        {
            return Err(StoreError::Conflict(format!(
                "idempotency key {} stored meanwhile",
                record.key
            )));
        }
        // Every lease this unit of work relied on must still be held; then the job operations
        // apply in order (a job removed earlier in the same unit of work stays removed).
        for op in &writes.jobs {
            if let JobOp::Complete { id, worker } | JobOp::Reschedule { id, worker, .. } = op
                && !Self::job_held_by(data, id, worker)
            {
                return Err(StoreError::Conflict(format!(
                    "{id} is no longer leased to {worker}"
                )));
            }
        }
        let mut jobs = data.jobs.clone();
        for op in writes.jobs {
            match op {
                JobOp::Enqueue(job) => {
                    jobs.insert(job.id.clone(), job);
                }
                JobOp::Complete { id, .. } => {
                    jobs.remove(&id);
                }
                JobOp::Reschedule { id, due_at, .. } => {
                    if let Some(job) = jobs.get_mut(&id) {
                        job.due_at = due_at;
                        job.lease_holder = None;
                        job.lease_until = None;
                    }
                }
                JobOp::Remove(kind) => jobs.retain(|_, j| j.kind != kind),
            }
        }
        let data = &mut shared.data;
        apply(&mut data.authorizations, writes.authorizations);
        apply(&mut data.orders, writes.orders);
        apply(&mut data.attempts, writes.attempts);
        apply(&mut data.refunds, writes.refunds);
        data.jobs = jobs;
        data.events.extend(writes.events);
        for entry in writes.inbox {
            data.inbox.insert(entry.dedup_key.clone(), entry);
        }
        for record in writes.idempotency {
            data.idempotency.insert(record.key.clone(), record);
        }
        shared.commits += 1;
        Ok(())
    }
}

/// One call the [`ScriptedGateway`] received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayCall {
    /// Which API.
    pub api: Api,
    /// The request body as JSON (for `pay` and `refund`, the exact body passed in).
    pub body: String,
}

#[derive(Debug, Default)]
struct Script {
    consult: VecDeque<Reply<ConsultResponse>>,
    apply_token: VecDeque<Reply<ApplyTokenResponse>>,
    revoke: VecDeque<Reply<RevokeResponse>>,
    pay: VecDeque<Reply<PayResponse>>,
    inquiry_payment: VecDeque<Reply<InquiryPaymentResponse>>,
    cancel: VecDeque<Reply<CancelResponse>>,
    refund: VecDeque<Reply<RefundResponse>>,
    inquiry_refund: VecDeque<Reply<InquiryRefundResponse>>,
    calls: Vec<GatewayCall>,
}

/// A [`Gateway`] that answers each API from its own queue of scripted replies, in order, and
/// records every call. An API with an empty queue answers [`Reply::NotSent`] (nothing happened),
/// so a test that forgot to script a call sees it fail safe.
#[derive(Debug, Default)]
pub struct ScriptedGateway {
    script: Mutex<Script>,
}

macro_rules! scripted {
    ($(#[$doc:meta])* $push:ident, $field:ident, $t:ty) => {
        $(#[$doc])*
        pub fn $push(&self, reply: Reply<$t>) -> &Self {
            lock(&self.script).$field.push_back(reply);
            self
        }
    };
}

impl ScriptedGateway {
    /// A gateway with nothing scripted.
    pub fn new() -> Self {
        Self::default()
    }

    scripted!(
        /// Queues a `consult` reply.
        push_consult, consult, ConsultResponse
    );
    scripted!(
        /// Queues an `applyToken` reply.
        push_apply_token, apply_token, ApplyTokenResponse
    );
    scripted!(
        /// Queues a `revoke` reply.
        push_revoke, revoke, RevokeResponse
    );
    scripted!(
        /// Queues a `pay` reply.
        push_pay, pay, PayResponse
    );
    scripted!(
        /// Queues an `inquiryPayment` reply.
        push_inquiry_payment, inquiry_payment, InquiryPaymentResponse
    );
    scripted!(
        /// Queues a `cancel` reply.
        push_cancel, cancel, CancelResponse
    );
    scripted!(
        /// Queues a `refund` reply.
        push_refund, refund, RefundResponse
    );
    scripted!(
        /// Queues an `inquiryRefund` reply.
        push_inquiry_refund, inquiry_refund, InquiryRefundResponse
    );

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<GatewayCall> {
        lock(&self.script).calls.clone()
    }

    /// The calls of one API, in order.
    pub fn calls_of(&self, api: Api) -> Vec<GatewayCall> {
        self.calls().into_iter().filter(|c| c.api == api).collect()
    }

    /// How many replies are still queued, over every API.
    pub fn pending(&self) -> usize {
        let s = lock(&self.script);
        s.consult.len()
            + s.apply_token.len()
            + s.revoke.len()
            + s.pay.len()
            + s.inquiry_payment.len()
            + s.cancel.len()
            + s.refund.len()
            + s.inquiry_refund.len()
    }

    fn next<T>(
        &self,
        api: Api,
        body: String,
        pick: impl FnOnce(&mut Script) -> Option<Reply<T>>,
    ) -> Reply<T> {
        let mut script = lock(&self.script);
        script.calls.push(GatewayCall { api, body });
        pick(&mut script).unwrap_or_else(|| Reply::NotSent {
            detail: format!("ScriptedGateway: no reply scripted for {}", api.name()),
        })
    }
}

macro_rules! json {
    ($value:expr) => {
        serde_json::to_string($value).unwrap_or_default()
    };
}

#[async_trait]
impl Gateway for ScriptedGateway {
    async fn consult(&self, request: &ConsultRequest) -> Reply<ConsultResponse> {
        self.next(Api::Consult, json!(request), |s| s.consult.pop_front())
    }

    async fn apply_token(&self, request: &ApplyTokenRequest) -> Reply<ApplyTokenResponse> {
        self.next(Api::ApplyToken, json!(request), |s| {
            s.apply_token.pop_front()
        })
    }

    async fn revoke(&self, request: &RevokeRequest) -> Reply<RevokeResponse> {
        self.next(Api::Revoke, json!(request), |s| s.revoke.pop_front())
    }

    async fn pay(&self, body: &str) -> Reply<PayResponse> {
        self.next(Api::Pay, body.to_owned(), |s| s.pay.pop_front())
    }

    async fn inquiry_payment(
        &self,
        request: &InquiryPaymentRequest,
    ) -> Reply<InquiryPaymentResponse> {
        self.next(Api::InquiryPayment, json!(request), |s| {
            s.inquiry_payment.pop_front()
        })
    }

    async fn cancel(&self, request: &CancelRequest) -> Reply<CancelResponse> {
        self.next(Api::Cancel, json!(request), |s| s.cancel.pop_front())
    }

    async fn refund(&self, body: &str) -> Reply<RefundResponse> {
        self.next(Api::Refund, body.to_owned(), |s| s.refund.pop_front())
    }

    async fn inquiry_refund(&self, request: &InquiryRefundRequest) -> Reply<InquiryRefundResponse> {
        self.next(Api::InquiryRefund, json!(request), |s| {
            s.inquiry_refund.pop_front()
        })
    }
}

/// Builders for the replies a test scripts.
pub mod replies {
    use ams_protocol::{
        AccessToken, Amount, AmsDateTime, AmsResult, ApplyTokenResponse, CancelResponse,
        ConsultResponse, InquiryPaymentResponse, InquiryRefundResponse, PayResponse, PaymentStatus,
        RefreshToken, RefundResponse, ResultCode, ResultStatus, RevokeResponse, TransactionStatus,
    };

    use crate::model::Millis;
    use crate::ports::Reply;

    /// A `result` with this status and code.
    pub fn result(status: ResultStatus, code: &str) -> AmsResult {
        AmsResult::new(ResultCode::from(code), status, code)
    }

    /// No answer: a timeout or a lost connection after sending.
    pub fn lost<T>() -> Reply<T> {
        Reply::Unknown {
            response: None,
            detail: "no answer (scripted)".into(),
        }
    }

    /// The request surely did not leave.
    pub fn not_sent<T>() -> Reply<T> {
        Reply::NotSent {
            detail: "connection refused (scripted)".into(),
        }
    }

    fn datetime(ms: Millis) -> AmsDateTime {
        AmsDateTime::from_unix_millis(ms, 8 * 60)
            .unwrap_or_else(|_| AmsDateTime::new("2024-01-01T00:00:00+08:00"))
    }

    /// `pay` S.
    pub fn pay_success(
        payment_request_id: &str,
        payment_id: &str,
        amount: Amount,
    ) -> Reply<PayResponse> {
        Reply::Success(
            PayResponse::new(AmsResult::success())
                .with_payment_request_id(payment_request_id)
                .with_payment_id(payment_id)
                .with_payment_amount(amount),
        )
    }

    /// `pay` F with this code.
    pub fn pay_failed(code: &str) -> Reply<PayResponse> {
        Reply::Failed(PayResponse::new(result(ResultStatus::F, code)))
    }

    /// `pay` U with this code (e.g. `PAYMENT_IN_PROCESS`).
    pub fn pay_unknown(code: &str) -> Reply<PayResponse> {
        Reply::Unknown {
            response: Some(PayResponse::new(result(ResultStatus::U, code))),
            detail: "Alipay answered U".into(),
        }
    }

    /// `inquiryPayment` S carrying this payment status.
    pub fn inquiry(
        status: PaymentStatus,
        payment_id: &str,
        amount: Amount,
    ) -> Reply<InquiryPaymentResponse> {
        Reply::Success(
            InquiryPaymentResponse::new(AmsResult::success())
                .with_payment_status(status)
                .with_payment_id(payment_id)
                .with_payment_amount(amount),
        )
    }

    /// `inquiryPayment` F (e.g. `ORDER_NOT_EXIST`).
    pub fn inquiry_failed(code: &str) -> Reply<InquiryPaymentResponse> {
        Reply::Failed(InquiryPaymentResponse::new(result(ResultStatus::F, code)))
    }

    /// `inquiryPayment` U.
    pub fn inquiry_unknown() -> Reply<InquiryPaymentResponse> {
        Reply::Unknown {
            response: Some(InquiryPaymentResponse::new(result(
                ResultStatus::U,
                "UNKNOWN_EXCEPTION",
            ))),
            detail: "Alipay answered U".into(),
        }
    }

    /// `cancel` S.
    pub fn cancel_success() -> Reply<CancelResponse> {
        Reply::Success(CancelResponse::new(AmsResult::success()))
    }

    /// `cancel` F with this code (e.g. `CANCEL_WINDOW_EXCEED`).
    pub fn cancel_failed(code: &str) -> Reply<CancelResponse> {
        Reply::Failed(CancelResponse::new(result(ResultStatus::F, code)))
    }

    /// `cancel` U.
    pub fn cancel_unknown() -> Reply<CancelResponse> {
        Reply::Unknown {
            response: Some(CancelResponse::new(result(
                ResultStatus::U,
                "UNKNOWN_EXCEPTION",
            ))),
            detail: "Alipay answered U".into(),
        }
    }

    /// `refund` S.
    pub fn refund_success(
        refund_request_id: &str,
        refund_id: &str,
        amount: Amount,
    ) -> Reply<RefundResponse> {
        Reply::Success(
            RefundResponse::new(AmsResult::success())
                .with_refund_request_id(refund_request_id)
                .with_refund_id(refund_id)
                .with_refund_amount(amount),
        )
    }

    /// `refund` F with this code.
    pub fn refund_failed(code: &str) -> Reply<RefundResponse> {
        Reply::Failed(RefundResponse::new(result(ResultStatus::F, code)))
    }

    /// `refund` U.
    pub fn refund_unknown() -> Reply<RefundResponse> {
        Reply::Unknown {
            response: Some(RefundResponse::new(result(
                ResultStatus::U,
                "UNKNOWN_EXCEPTION",
            ))),
            detail: "Alipay answered U".into(),
        }
    }

    /// `inquiryRefund` S carrying this refund status.
    pub fn inquiry_refund(
        status: TransactionStatus,
        refund_id: &str,
    ) -> Reply<InquiryRefundResponse> {
        Reply::Success(
            InquiryRefundResponse::new(AmsResult::success())
                .with_refund_status(status)
                .with_refund_id(refund_id),
        )
    }

    /// `consult` S with this URL as `normalUrl`.
    pub fn consult_success(url: &str) -> Reply<ConsultResponse> {
        Reply::Success(ConsultResponse::new(AmsResult::success()).with_normal_url(url))
    }

    /// `consult` F.
    pub fn consult_failed(code: &str) -> Reply<ConsultResponse> {
        Reply::Failed(ConsultResponse::new(result(ResultStatus::F, code)))
    }

    /// `applyToken` S with these tokens and expiry times.
    pub fn token(
        access: &str,
        access_expires_at: Millis,
        refresh: Option<(&str, Millis)>,
    ) -> Reply<ApplyTokenResponse> {
        let mut response = ApplyTokenResponse::new(AmsResult::success())
            .with_access_token(AccessToken::new(access))
            .with_access_token_expiry_time(datetime(access_expires_at))
            .with_user_login_id("a***@example.com");
        if let Some((token, expires)) = refresh {
            response = response
                .with_refresh_token(RefreshToken::new(token))
                .with_refresh_token_expiry_time(datetime(expires));
        }
        Reply::Success(response)
    }

    /// `applyToken` F with this code.
    pub fn token_failed(code: &str) -> Reply<ApplyTokenResponse> {
        Reply::Failed(ApplyTokenResponse::new(result(ResultStatus::F, code)))
    }

    /// `revoke` S.
    pub fn revoke_success() -> Reply<RevokeResponse> {
        Reply::Success(RevokeResponse::new(AmsResult::success()))
    }
}

#[cfg(test)]
mod tests {
    use ams_protocol::{Amount, Currency};

    use super::*;
    use crate::lifecycle::attempt::AttemptState;

    fn attempt(id: &str, prid: &str) -> PaymentAttempt {
        PaymentAttempt {
            id: AttemptId::new(id),
            order_id: OrderId::new("o1"),
            payment_request_id: prid.into(),
            request_body: "{}".into(),
            amount: Amount::new(Currency::USD, 100),
            state: AttemptState::Created,
            payment_id: None,
            result_code: None,
            inquiries: 0,
            late_success: false,
            cancel_started_at: None,
            expires_at: 0,
            version: 0,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn block<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    #[test]
    fn writes_are_invisible_until_commit_and_lost_on_drop() {
        block(async {
            let store = InMemoryStore::new();
            let mut tx = store.begin().await.unwrap();
            tx.insert_attempt(&attempt("a1", "p1")).await.unwrap();
            assert!(
                tx.attempt(&AttemptId::new("a1")).await.unwrap().is_some(),
                "reads its own writes"
            );
            let mut other = store.begin().await.unwrap();
            assert!(
                other
                    .attempt(&AttemptId::new("a1"))
                    .await
                    .unwrap()
                    .is_none()
            );
            drop(tx);
            assert!(store.attempts().is_empty());
            let mut tx = store.begin().await.unwrap();
            tx.insert_attempt(&attempt("a1", "p1")).await.unwrap();
            tx.commit().await.unwrap();
            assert_eq!(store.attempts().len(), 1);
        });
    }

    #[test]
    fn updates_are_compare_and_set_and_rechecked_at_commit() {
        block(async {
            let store = InMemoryStore::new();
            let mut tx = store.begin().await.unwrap();
            tx.insert_attempt(&attempt("a1", "p1")).await.unwrap();
            tx.commit().await.unwrap();
            let read = store.attempts().pop().unwrap();
            let (mut a, mut b) = (store.begin().await.unwrap(), store.begin().await.unwrap());
            let mut sent = read.clone();
            sent.state = AttemptState::Sent;
            assert!(a.update_attempt(&sent).await.unwrap());
            assert!(
                b.update_attempt(&sent).await.unwrap(),
                "b does not see a's uncommitted write"
            );
            a.commit().await.unwrap();
            assert!(
                matches!(b.commit().await, Err(StoreError::Conflict(_))),
                "the loser's commit fails"
            );
            let now = store.attempts().pop().unwrap();
            assert_eq!((now.state, now.version), (AttemptState::Sent, 1));
            let mut c = store.begin().await.unwrap();
            assert!(
                !c.update_attempt(&read).await.unwrap(),
                "a stale version is refused"
            );
        });
    }

    #[test]
    fn request_ids_and_keys_are_unique() {
        block(async {
            let store = InMemoryStore::new();
            let mut tx = store.begin().await.unwrap();
            tx.insert_attempt(&attempt("a1", "p1")).await.unwrap();
            assert!(tx.insert_attempt(&attempt("a2", "p1")).await.is_err());
            tx.commit().await.unwrap();
            let (mut a, mut b) = (store.begin().await.unwrap(), store.begin().await.unwrap());
            a.insert_attempt(&attempt("a3", "p3")).await.unwrap();
            b.insert_attempt(&attempt("a4", "p3")).await.unwrap();
            a.commit().await.unwrap();
            assert!(b.commit().await.is_err());
            let entry = InboxEntry {
                dedup_key: "k".into(),
                path: "/".into(),
                headers: Vec::new(),
                body: "{}".into(),
                received_at: 0,
            };
            let mut tx = store.begin().await.unwrap();
            assert!(tx.inbox_insert(&entry).await.unwrap());
            assert!(!tx.inbox_insert(&entry).await.unwrap());
            tx.commit().await.unwrap();
            let mut tx = store.begin().await.unwrap();
            assert!(!tx.inbox_insert(&entry).await.unwrap());
        });
    }

    #[test]
    fn jobs_are_claimed_in_due_order_with_leases() {
        block(async {
            let store = InMemoryStore::new();
            let mut tx = store.begin().await.unwrap();
            let late = tx
                .enqueue_job(JobKind::ResolvePayment(AttemptId::new("a")), 200)
                .await
                .unwrap();
            let early = tx
                .enqueue_job(JobKind::CancelPayment(AttemptId::new("b")), 100)
                .await
                .unwrap();
            tx.enqueue_job(JobKind::SendPayment(AttemptId::new("c")), 1_000)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            let claimed = store.claim_jobs(500, "w1", 50, 10).await.unwrap();
            assert_eq!(
                claimed.iter().map(|j| j.id.clone()).collect::<Vec<_>>(),
                vec![early.clone(), late.clone()]
            );
            assert!(
                store
                    .claim_jobs(520, "w2", 50, 10)
                    .await
                    .unwrap()
                    .is_empty(),
                "leased"
            );
            let again = store.claim_jobs(550, "w2", 50, 10).await.unwrap();
            assert_eq!(again.len(), 2, "an expired lease is claimable again");
            assert_eq!(again[0].attempts, 2);
            let mut tx = store.begin().await.unwrap();
            assert!(!tx.complete_job(&early, "w1").await.unwrap(), "w1 lost it");
            assert!(tx.complete_job(&early, "w2").await.unwrap());
            assert!(tx.reschedule_job(&late, "w2", 900).await.unwrap());
            tx.commit().await.unwrap();
            let jobs = store.jobs();
            assert_eq!(jobs.len(), 2);
            assert_eq!((jobs[0].due_at, jobs[0].lease_holder.clone()), (900, None));
            let mut tx = store.begin().await.unwrap();
            tx.remove_jobs(&JobKind::ResolvePayment(AttemptId::new("a")))
                .await
                .unwrap();
            tx.commit().await.unwrap();
            assert_eq!(store.jobs().len(), 1);
        });
    }

    #[test]
    fn a_simulated_crash_writes_nothing() {
        block(async {
            let store = InMemoryStore::new();
            store.fail_commit_in(1);
            let mut tx = store.begin().await.unwrap();
            tx.insert_attempt(&attempt("a1", "p1")).await.unwrap();
            assert!(matches!(tx.commit().await, Err(StoreError::Unavailable(_))));
            assert!(store.attempts().is_empty());
        });
    }
}
