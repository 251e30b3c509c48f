//! [`InMemoryStore`]: the store port in memory, the reference behaviour the SQL store matches.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use ams_protocol::{
    AccessToken, AuthState, DeclarationRequestId, PaymentRequestId, RefundRequestId,
    RegistrationRequestId,
};
use async_trait::async_trait;

use super::lock;
use crate::model::{
    AttemptId, AttentionId, AttentionItem, Authorization, AuthorizationId, Declaration,
    DeclarationId, Event, IdempotencyRecord, InboxEntry, Job, JobId, JobKind, JobLease, LeaseToken,
    Millis, Order, OrderId, PaymentAttempt, Refund, RefundId, Registration, RegistrationId,
    Resolution, Subject,
};
use crate::ports::{AuthorizationFilter, Claim, OrderFilter, PageRequest, Store, StoreError, Tx};
use crate::services::jobs::{dead_letter, exhausted};

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
record!(Declaration, DeclarationId);
record!(Registration, RegistrationId);

/// A job as kept here: the port's view plus what the store tracks beside it.
#[derive(Clone, Debug)]
struct StoredJob {
    job: Job,
    /// A schedule that came in while the job was held: applied when the holder lets go.
    rerun_at: Option<Millis>,
    /// Why it was set aside, if it was.
    dead: Option<String>,
}

/// What is committed.
#[derive(Clone, Debug, Default)]
struct Data {
    authorizations: BTreeMap<AuthorizationId, Authorization>,
    /// Access tokens rotated away, with the authorization that held them.
    retired_tokens: BTreeMap<String, AuthorizationId>,
    orders: BTreeMap<OrderId, Order>,
    attempts: BTreeMap<AttemptId, PaymentAttempt>,
    refunds: BTreeMap<RefundId, Refund>,
    declarations: BTreeMap<DeclarationId, Declaration>,
    registrations: BTreeMap<RegistrationId, Registration>,
    jobs: BTreeMap<JobId, StoredJob>,
    events: Vec<Event>,
    attention: Vec<AttentionItem>,
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
/// A unit of work reads what is committed plus its own writes, and buffers every write. Updates
/// are compare-and-set on `version` (checked when called, against what the unit of work sees) and
/// re-checked at commit with every uniqueness rule (ids, `authState`, `paymentRequestId`,
/// `refundRequestId`, order reference) and job lease, under one lock; if one no longer holds, the
/// commit fails with [`StoreError::Conflict`] and writes nothing. Dropping a unit of work writes
/// nothing. Job changes are staged and applied at commit in order; one job per subject.
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

    /// Every refund, by creation time.
    pub fn refunds(&self) -> Vec<Refund> {
        let mut all: Vec<_> = self.shared().data.refunds.values().cloned().collect();
        all.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        all
    }

    /// Every customs declaration, by creation time.
    pub fn declarations(&self) -> Vec<Declaration> {
        let mut all: Vec<_> = self.shared().data.declarations.values().cloned().collect();
        all.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        all
    }

    /// Every secondary-merchant registration, by creation time.
    pub fn registrations(&self) -> Vec<Registration> {
        let mut all: Vec<_> = self.shared().data.registrations.values().cloned().collect();
        all.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        all
    }

    /// Every job that will run (not set aside), in due order.
    pub fn jobs(&self) -> Vec<Job> {
        let mut all: Vec<_> = self
            .shared()
            .data
            .jobs
            .values()
            .filter(|j| j.dead.is_none())
            .map(|j| j.job.clone())
            .collect();
        all.sort_by(|a, b| (a.due_at, &a.id).cmp(&(b.due_at, &b.id)));
        all
    }

    /// Jobs set aside as dead letters, with why.
    pub fn dead_jobs(&self) -> Vec<(Job, String)> {
        self.shared()
            .data
            .jobs
            .values()
            .filter_map(|j| j.dead.clone().map(|why| (j.job.clone(), why)))
            .collect()
    }

    /// The outbox, in order.
    pub fn events(&self) -> Vec<Event> {
        self.shared().data.events.clone()
    }

    /// Every attention item, open or closed, in the order raised.
    pub fn attention_items(&self) -> Vec<AttentionItem> {
        self.shared().data.attention.clone()
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

/// A page of `all` (see [`PageRequest`]): newest first by `created` then key, after the cursor
/// (placed among all records, matching or not), the matching ones, at most `limit`.
fn page_of<R: Record>(
    mut all: Vec<R>,
    created: impl Fn(&R) -> Millis,
    matches: impl Fn(&R) -> bool,
    page: &PageRequest,
) -> Vec<R> {
    all.sort_by_key(|r| std::cmp::Reverse((created(r), r.key())));
    let start = match &page.after {
        None => 0,
        Some(after) => match all.iter().position(|r| r.key().to_string() == *after) {
            Some(at) => at + 1,
            None => return Vec::new(),
        },
    };
    all.into_iter()
        .skip(start)
        .filter(|r| matches(r))
        .take(usize::try_from(page.limit).unwrap_or(usize::MAX))
        .collect()
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

fn same_reference(a: &Order, b: &Order) -> bool {
    a.id != b.id && a.reference == b.reference
}

fn same_payment_request_id(a: &PaymentAttempt, b: &PaymentAttempt) -> bool {
    a.id != b.id && a.payment_request_id == b.payment_request_id
}

fn same_refund_request_id(a: &Refund, b: &Refund) -> bool {
    a.id != b.id && a.refund_request_id == b.refund_request_id
}

fn same_declaration_request_id(a: &Declaration, b: &Declaration) -> bool {
    a.id != b.id && a.declaration_request_id == b.declaration_request_id
}

fn same_registration_request_id(a: &Registration, b: &Registration) -> bool {
    a.id != b.id && a.registration_request_id == b.registration_request_id
}

#[derive(Clone, Debug)]
enum JobOp {
    Schedule(JobKind, Millis),
    Complete(JobId, LeaseToken),
    Reschedule(JobId, LeaseToken, Millis),
}

#[derive(Clone, Debug)]
enum AttentionOp {
    Raise(AttentionItem),
    Resolve(Subject, Option<String>, Resolution),
}

#[derive(Debug, Default)]
struct Writes {
    authorizations: Staged<Authorization>,
    retired_tokens: Vec<(String, AuthorizationId)>,
    orders: Staged<Order>,
    attempts: Staged<PaymentAttempt>,
    refunds: Staged<Refund>,
    declarations: Staged<Declaration>,
    registrations: Staged<Registration>,
    jobs: Vec<JobOp>,
    events: Vec<Event>,
    attention: Vec<AttentionOp>,
    inbox: Vec<InboxEntry>,
    idempotency: Vec<IdempotencyRecord>,
}

/// A unit of work on an [`InMemoryStore`].
#[derive(Debug)]
struct MemTx {
    shared: Arc<Mutex<Shared>>,
    writes: Writes,
}

fn held_by(data: &Data, id: &JobId, token: &LeaseToken) -> bool {
    data.jobs
        .get(id)
        .and_then(|j| j.job.lease.as_ref())
        .is_some_and(|lease| &lease.token == token)
}

fn job_of_kind<'a>(jobs: &'a BTreeMap<JobId, StoredJob>, kind: &JobKind) -> Option<&'a StoredJob> {
    jobs.values().find(|j| &j.job.kind == kind)
}

/// Applies the job operations of one unit of work to `jobs`.
fn apply_jobs(shared: &mut Shared, jobs: &mut BTreeMap<JobId, StoredJob>, ops: Vec<JobOp>) {
    for op in ops {
        match op {
            JobOp::Schedule(kind, due_at) => {
                let existing = jobs
                    .values()
                    .find(|j| j.job.kind == kind)
                    .map(|j| j.job.id.clone());
                match existing.and_then(|id| jobs.get_mut(&id)) {
                    None => {
                        shared.next_job += 1;
                        let id = JobId::new(format!("job-{:08}", shared.next_job));
                        jobs.insert(
                            id.clone(),
                            StoredJob {
                                job: Job {
                                    id,
                                    kind,
                                    due_at,
                                    attempts: 0,
                                    lease: None,
                                },
                                rerun_at: None,
                                dead: None,
                            },
                        );
                    }
                    Some(stored) if stored.dead.is_some() => {
                        stored.dead = None;
                        stored.job.attempts = 0;
                        stored.job.lease = None;
                        stored.job.due_at = due_at;
                    }
                    Some(stored) if stored.job.lease.is_some() => {
                        stored.rerun_at = Some(stored.rerun_at.map_or(due_at, |r| r.min(due_at)));
                    }
                    Some(stored) => stored.job.due_at = stored.job.due_at.min(due_at),
                }
            }
            JobOp::Complete(id, _) => {
                if let Some(stored) = jobs.get_mut(&id) {
                    match stored.rerun_at.take() {
                        Some(due_at) => {
                            stored.job.due_at = due_at;
                            stored.job.lease = None;
                            stored.job.attempts = 0;
                        }
                        None => {
                            jobs.remove(&id);
                        }
                    }
                }
            }
            JobOp::Reschedule(id, _, due_at) => {
                if let Some(stored) = jobs.get_mut(&id) {
                    let rerun = stored.rerun_at.take();
                    stored.job.due_at = rerun.map_or(due_at, |r| r.min(due_at));
                    stored.job.lease = None;
                    stored.job.attempts = 0;
                }
            }
        }
    }
}

fn raise_into(items: &mut Vec<AttentionItem>, item: &AttentionItem) -> bool {
    match items
        .iter_mut()
        .find(|i| i.resolution.is_none() && i.subject == item.subject && i.code == item.code)
    {
        Some(open) => {
            open.reason.clone_from(&item.reason);
            open.tried.clone_from(&item.tried);
            open.actions.clone_from(&item.actions);
            open.updated_at = item.updated_at;
            false
        }
        None => {
            items.push(item.clone());
            true
        }
    }
}

fn resolve_in(
    items: &mut [AttentionItem],
    subject: &Subject,
    code: Option<&str>,
    resolution: &Resolution,
) -> usize {
    let mut closed = 0;
    for item in items.iter_mut().filter(|i| {
        i.resolution.is_none() && &i.subject == subject && code.is_none_or(|c| c == i.code)
    }) {
        item.resolution = Some(resolution.clone());
        closed += 1;
    }
    closed
}

impl MemTx {
    /// The attention items as this unit of work sees them.
    fn attention_view(&self, data: &Data) -> Vec<AttentionItem> {
        let mut items = data.attention.clone();
        for op in &self.writes.attention {
            match op {
                AttentionOp::Raise(item) => {
                    raise_into(&mut items, item);
                }
                AttentionOp::Resolve(subject, code, resolution) => {
                    resolve_in(&mut items, subject, code.as_deref(), resolution);
                }
            }
        }
        items
    }
}

#[async_trait]
impl Store for InMemoryStore {
    async fn begin(&self) -> Result<Box<dyn Tx>, StoreError> {
        Ok(Box::new(MemTx {
            shared: self.shared.clone(),
            writes: Writes::default(),
        }))
    }

    async fn claim_jobs(&self, claim: &Claim) -> Result<Vec<Job>, StoreError> {
        let mut shared = self.shared();
        let now = claim.now;
        let mut due: Vec<JobId> = shared
            .data
            .jobs
            .values()
            .filter(|j| {
                j.dead.is_none()
                    && j.job.due_at <= now
                    && j.job.lease.as_ref().is_none_or(|l| l.until <= now)
            })
            .map(|j| (j.job.due_at, j.job.id.clone()))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .map(|(_, id)| id)
            .collect();
        due.reverse();
        let mut claimed = Vec::new();
        let limit = usize::try_from(claim.limit).unwrap_or(usize::MAX);
        while claimed.len() < limit {
            let Some(id) = due.pop() else { break };
            let Some(stored) = shared.data.jobs.get_mut(&id) else {
                continue;
            };
            if exhausted(&stored.job, claim.max_attempts) {
                let why = format!(
                    "taken {} times in a row without finishing",
                    stored.job.attempts
                );
                stored.dead = Some(why.clone());
                stored.job.lease = None;
                let (item, event) = dead_letter(&id, &stored.job.kind.to_string(), &why, now);
                raise_into(&mut shared.data.attention, &item);
                shared.data.events.push(event);
                continue;
            }
            stored.job.lease = Some(JobLease {
                token: claim.token.clone(),
                until: now + claim.lease_ms,
            });
            stored.job.attempts += 1;
            stored.rerun_at = None;
            claimed.push(stored.job.clone());
        }
        Ok(claimed)
    }

    async fn claim_job(
        &self,
        kind: &JobKind,
        now: Millis,
        token: &LeaseToken,
        lease_ms: Millis,
    ) -> Result<Option<Job>, StoreError> {
        let mut shared = self.shared();
        let Some(id) = job_of_kind(&shared.data.jobs, kind).map(|j| j.job.id.clone()) else {
            return Ok(None);
        };
        let Some(stored) = shared.data.jobs.get_mut(&id) else {
            return Ok(None);
        };
        if stored.dead.is_some() || stored.job.lease.as_ref().is_some_and(|l| l.until > now) {
            return Ok(None);
        }
        stored.job.lease = Some(JobLease {
            token: token.clone(),
            until: now + lease_ms,
        });
        stored.job.attempts += 1;
        stored.rerun_at = None;
        Ok(Some(stored.job.clone()))
    }

    async fn renew_lease(
        &self,
        id: &JobId,
        token: &LeaseToken,
        until: Millis,
    ) -> Result<bool, StoreError> {
        let mut shared = self.shared();
        match shared
            .data
            .jobs
            .get_mut(id)
            .and_then(|j| j.job.lease.as_mut())
        {
            Some(lease) if &lease.token == token => {
                lease.until = until;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn release_lease(&self, id: &JobId, token: &LeaseToken) -> Result<bool, StoreError> {
        let mut shared = self.shared();
        let Some(stored) = shared.data.jobs.get_mut(id) else {
            return Ok(false);
        };
        if stored.job.lease.as_ref().is_none_or(|l| &l.token != token) {
            return Ok(false);
        }
        stored.job.lease = None;
        stored.job.attempts = stored.job.attempts.saturating_sub(1);
        if let Some(rerun) = stored.rerun_at.take() {
            stored.job.due_at = stored.job.due_at.min(rerun);
        }
        Ok(true)
    }

    async fn open_attention(
        &self,
        after: Option<&AttentionId>,
        limit: u32,
    ) -> Result<Vec<AttentionItem>, StoreError> {
        let shared = self.shared();
        let open = shared
            .data
            .attention
            .iter()
            .filter(|i| i.resolution.is_none());
        let skip = after
            .and_then(|after| {
                shared
                    .data
                    .attention
                    .iter()
                    .filter(|i| i.resolution.is_none())
                    .position(|i| &i.id == after)
            })
            .map_or(0, |p| p + 1);
        Ok(open
            .skip(skip)
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .cloned()
            .collect())
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

    async fn list_authorizations(
        &mut self,
        filter: &AuthorizationFilter,
        page: &PageRequest,
    ) -> Result<Vec<Authorization>, StoreError> {
        let shared = lock(&self.shared);
        Ok(page_of(
            all_visible(&shared.data.authorizations, &self.writes.authorizations),
            |a| a.created_at,
            |a| {
                filter
                    .customer_id
                    .as_ref()
                    .is_none_or(|c| &a.customer_id == c)
                    && (filter.states.is_empty() || filter.states.contains(&a.state))
            },
            page,
        ))
    }

    async fn authorization_by_auth_state(
        &mut self,
        auth_state: &AuthState,
    ) -> Result<Option<Authorization>, StoreError> {
        let shared = lock(&self.shared);
        Ok(
            all_visible(&shared.data.authorizations, &self.writes.authorizations)
                .into_iter()
                .find(|a| &a.auth_state == auth_state),
        )
    }

    async fn authorization_by_access_token(
        &mut self,
        access_token: &AccessToken,
    ) -> Result<Option<Authorization>, StoreError> {
        let shared = lock(&self.shared);
        let all = all_visible(&shared.data.authorizations, &self.writes.authorizations);
        if let Some(current) = all.iter().find(|a| {
            a.token
                .as_ref()
                .is_some_and(|t| t.access_token == *access_token)
        }) {
            return Ok(Some(current.clone()));
        }
        let retired = self
            .writes
            .retired_tokens
            .iter()
            .find(|(t, _)| t == access_token.expose_secret())
            .map(|(_, id)| id.clone())
            .or_else(|| {
                shared
                    .data
                    .retired_tokens
                    .get(access_token.expose_secret())
                    .cloned()
            });
        Ok(retired.and_then(|id| all.into_iter().find(|a| a.id == id)))
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

    async fn retire_access_token(
        &mut self,
        authorization: &AuthorizationId,
        access_token: &AccessToken,
    ) -> Result<(), StoreError> {
        self.writes.retired_tokens.push((
            access_token.expose_secret().to_owned(),
            authorization.clone(),
        ));
        Ok(())
    }

    async fn order(&mut self, id: &OrderId) -> Result<Option<Order>, StoreError> {
        let shared = lock(&self.shared);
        Ok(visible(&shared.data.orders, &self.writes.orders, id))
    }

    async fn list_orders(
        &mut self,
        filter: &OrderFilter,
        page: &PageRequest,
    ) -> Result<Vec<Order>, StoreError> {
        let shared = lock(&self.shared);
        Ok(page_of(
            all_visible(&shared.data.orders, &self.writes.orders),
            |o| o.created_at,
            |o| {
                filter.reference.as_ref().is_none_or(|r| &o.reference == r)
                    && filter
                        .authorization_id
                        .as_ref()
                        .is_none_or(|a| &o.authorization_id == a)
                    && (filter.states.is_empty() || filter.states.contains(&o.state))
            },
            page,
        ))
    }

    async fn order_by_reference(&mut self, reference: &str) -> Result<Option<Order>, StoreError> {
        let shared = lock(&self.shared);
        Ok(all_visible(&shared.data.orders, &self.writes.orders)
            .into_iter()
            .find(|o| o.reference == reference))
    }

    async fn insert_order(&mut self, order: &Order) -> Result<(), StoreError> {
        let shared = lock(&self.shared);
        stage_insert(
            &shared.data.orders,
            &mut self.writes.orders,
            order,
            same_reference,
        )
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
        id: &PaymentRequestId,
    ) -> Result<Option<PaymentAttempt>, StoreError> {
        let shared = lock(&self.shared);
        Ok(all_visible(&shared.data.attempts, &self.writes.attempts)
            .into_iter()
            .find(|a| &a.payment_request_id == id))
    }

    async fn attempts_of_order(
        &mut self,
        order: &OrderId,
    ) -> Result<Vec<PaymentAttempt>, StoreError> {
        let shared = lock(&self.shared);
        let mut all: Vec<_> = all_visible(&shared.data.attempts, &self.writes.attempts)
            .into_iter()
            .filter(|a| &a.order_id == order)
            .collect();
        all.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(all)
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
        id: &RefundRequestId,
    ) -> Result<Option<Refund>, StoreError> {
        let shared = lock(&self.shared);
        Ok(all_visible(&shared.data.refunds, &self.writes.refunds)
            .into_iter()
            .find(|r| &r.refund_request_id == id))
    }

    async fn refunds_of_order(&mut self, order: &OrderId) -> Result<Vec<Refund>, StoreError> {
        let shared = lock(&self.shared);
        let mut all: Vec<_> = all_visible(&shared.data.refunds, &self.writes.refunds)
            .into_iter()
            .filter(|r| &r.order_id == order)
            .collect();
        all.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(all)
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

    async fn declaration(&mut self, id: &DeclarationId) -> Result<Option<Declaration>, StoreError> {
        let shared = lock(&self.shared);
        Ok(visible(
            &shared.data.declarations,
            &self.writes.declarations,
            id,
        ))
    }

    async fn declaration_by_request_id(
        &mut self,
        id: &DeclarationRequestId,
    ) -> Result<Option<Declaration>, StoreError> {
        let shared = lock(&self.shared);
        Ok(
            all_visible(&shared.data.declarations, &self.writes.declarations)
                .into_iter()
                .find(|d| &d.declaration_request_id == id),
        )
    }

    async fn declarations_of_order(
        &mut self,
        order: &OrderId,
    ) -> Result<Vec<Declaration>, StoreError> {
        let shared = lock(&self.shared);
        let mut all: Vec<_> = all_visible(&shared.data.declarations, &self.writes.declarations)
            .into_iter()
            .filter(|d| &d.order_id == order)
            .collect();
        all.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(all)
    }

    async fn insert_declaration(&mut self, declaration: &Declaration) -> Result<(), StoreError> {
        let shared = lock(&self.shared);
        stage_insert(
            &shared.data.declarations,
            &mut self.writes.declarations,
            declaration,
            same_declaration_request_id,
        )
    }

    async fn update_declaration(&mut self, declaration: &Declaration) -> Result<bool, StoreError> {
        let shared = lock(&self.shared);
        Ok(stage_update(
            &shared.data.declarations,
            &mut self.writes.declarations,
            declaration,
        ))
    }

    async fn registration(
        &mut self,
        id: &RegistrationId,
    ) -> Result<Option<Registration>, StoreError> {
        let shared = lock(&self.shared);
        Ok(visible(
            &shared.data.registrations,
            &self.writes.registrations,
            id,
        ))
    }

    async fn registration_by_request_id(
        &mut self,
        id: &RegistrationRequestId,
    ) -> Result<Option<Registration>, StoreError> {
        let shared = lock(&self.shared);
        Ok(
            all_visible(&shared.data.registrations, &self.writes.registrations)
                .into_iter()
                .find(|r| &r.registration_request_id == id),
        )
    }

    async fn registrations(
        &mut self,
        reference: Option<&str>,
    ) -> Result<Vec<Registration>, StoreError> {
        let shared = lock(&self.shared);
        let mut all: Vec<_> = all_visible(&shared.data.registrations, &self.writes.registrations)
            .into_iter()
            .filter(|r| reference.is_none_or(|m| r.reference_merchant_id == m))
            .collect();
        all.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
        Ok(all)
    }

    async fn list_registrations(
        &mut self,
        reference: Option<&str>,
        page: &PageRequest,
    ) -> Result<Vec<Registration>, StoreError> {
        let shared = lock(&self.shared);
        Ok(page_of(
            all_visible(&shared.data.registrations, &self.writes.registrations),
            |r| r.created_at,
            |r| reference.is_none_or(|m| r.reference_merchant_id == m),
            page,
        ))
    }

    async fn insert_registration(&mut self, registration: &Registration) -> Result<(), StoreError> {
        let shared = lock(&self.shared);
        stage_insert(
            &shared.data.registrations,
            &mut self.writes.registrations,
            registration,
            same_registration_request_id,
        )
    }

    async fn update_registration(
        &mut self,
        registration: &Registration,
    ) -> Result<bool, StoreError> {
        let shared = lock(&self.shared);
        Ok(stage_update(
            &shared.data.registrations,
            &mut self.writes.registrations,
            registration,
        ))
    }

    async fn schedule_job(&mut self, kind: JobKind, due_at: Millis) -> Result<(), StoreError> {
        self.writes.jobs.push(JobOp::Schedule(kind, due_at));
        Ok(())
    }

    async fn job_of(&mut self, kind: &JobKind) -> Result<Option<Job>, StoreError> {
        let shared = lock(&self.shared);
        Ok(job_of_kind(&shared.data.jobs, kind)
            .filter(|j| j.dead.is_none())
            .map(|j| j.job.clone()))
    }

    async fn complete_job(&mut self, id: &JobId, token: &LeaseToken) -> Result<bool, StoreError> {
        let shared = lock(&self.shared);
        let held = held_by(&shared.data, id, token);
        if held {
            self.writes
                .jobs
                .push(JobOp::Complete(id.clone(), token.clone()));
        }
        Ok(held)
    }

    async fn reschedule_job(
        &mut self,
        id: &JobId,
        token: &LeaseToken,
        due_at: Millis,
    ) -> Result<bool, StoreError> {
        let shared = lock(&self.shared);
        let held = held_by(&shared.data, id, token);
        if held {
            self.writes
                .jobs
                .push(JobOp::Reschedule(id.clone(), token.clone(), due_at));
        }
        Ok(held)
    }

    async fn push_event(&mut self, event: &Event) -> Result<(), StoreError> {
        self.writes.events.push(event.clone());
        Ok(())
    }

    async fn raise_attention(&mut self, item: &AttentionItem) -> Result<bool, StoreError> {
        let shared = lock(&self.shared);
        let opened = !self
            .attention_view(&shared.data)
            .iter()
            .any(|i| i.resolution.is_none() && i.subject == item.subject && i.code == item.code);
        drop(shared);
        self.writes.attention.push(AttentionOp::Raise(item.clone()));
        Ok(opened)
    }

    async fn resolve_attention(
        &mut self,
        subject: &Subject,
        code: Option<&str>,
        resolution: &Resolution,
    ) -> Result<usize, StoreError> {
        let shared = lock(&self.shared);
        let open = self
            .attention_view(&shared.data)
            .iter()
            .filter(|i| {
                i.resolution.is_none() && &i.subject == subject && code.is_none_or(|c| c == i.code)
            })
            .count();
        drop(shared);
        self.writes.attention.push(AttentionOp::Resolve(
            subject.clone(),
            code.map(str::to_owned),
            resolution.clone(),
        ));
        Ok(open)
    }

    async fn attention_of(&mut self, subject: &Subject) -> Result<Vec<AttentionItem>, StoreError> {
        let shared = lock(&self.shared);
        Ok(self
            .attention_view(&shared.data)
            .into_iter()
            .filter(|i| i.resolution.is_none() && &i.subject == subject)
            .collect())
    }

    async fn attention(&mut self, id: &AttentionId) -> Result<Option<AttentionItem>, StoreError> {
        let shared = lock(&self.shared);
        Ok(self
            .attention_view(&shared.data)
            .into_iter()
            .find(|i| &i.id == id))
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
        validate(&data.orders, &writes.orders, same_reference)?;
        validate(&data.attempts, &writes.attempts, same_payment_request_id)?;
        validate(&data.refunds, &writes.refunds, same_refund_request_id)?;
        validate(
            &data.declarations,
            &writes.declarations,
            same_declaration_request_id,
        )?;
        validate(
            &data.registrations,
            &writes.registrations,
            same_registration_request_id,
        )?;
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
        // Every lease this unit of work relied on must still be held.
        for op in &writes.jobs {
            if let JobOp::Complete(id, token) | JobOp::Reschedule(id, token, _) = op
                && !held_by(data, id, token)
            {
                return Err(StoreError::Conflict(format!(
                    "{id} is no longer held by this lease"
                )));
            }
        }
        let mut jobs = data.jobs.clone();
        apply_jobs(&mut shared, &mut jobs, writes.jobs);
        let data = &mut shared.data;
        data.jobs = jobs;
        apply(&mut data.authorizations, writes.authorizations);
        for (token, id) in writes.retired_tokens {
            data.retired_tokens.insert(token, id);
        }
        apply(&mut data.orders, writes.orders);
        apply(&mut data.attempts, writes.attempts);
        apply(&mut data.refunds, writes.refunds);
        apply(&mut data.declarations, writes.declarations);
        apply(&mut data.registrations, writes.registrations);
        data.events.extend(writes.events);
        for op in writes.attention {
            match op {
                AttentionOp::Raise(item) => {
                    raise_into(&mut data.attention, &item);
                }
                AttentionOp::Resolve(subject, code, resolution) => {
                    resolve_in(&mut data.attention, &subject, code.as_deref(), &resolution);
                }
            }
        }
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
