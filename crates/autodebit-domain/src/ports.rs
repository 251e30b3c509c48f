//! The ports the flows run over: the gateway to Alipay, the notification verifier, the store, the
//! clock and the random source. Small traits (`async-trait`, used as `Arc<dyn Port>`), with no
//! framework types: the adapters (`autodebit-alipay`, `autodebit-store`) live above this crate.

use std::fmt;

use ams_protocol::{
    AccessToken, ApplyTokenRequest, ApplyTokenResponse, AuthState, CancelRequest, CancelResponse,
    ConsultRequest, ConsultResponse, DeclareResponse, InquiryDeclarationRequestsRequest,
    InquiryDeclarationRequestsResponse, InquiryPaymentRequest, InquiryPaymentResponse,
    InquiryRefundRequest, InquiryRefundResponse, InquiryRegistrationInfoRequest,
    InquiryRegistrationInfoResponse, InquiryRegistrationStatusRequest,
    InquiryRegistrationStatusResponse, Notification, PayResponse, PaymentRequestId,
    RefundRequestId, RefundResponse, RegistrationResponse, RevokeRequest, RevokeResponse,
};
use async_trait::async_trait;

use crate::lifecycle::authorization::AuthorizationState;
use crate::lifecycle::order::OrderState;
use crate::model::{
    AttemptId, AttentionId, AttentionItem, Authorization, AuthorizationId, Body, Declaration,
    DeclarationId, DeclarationRequestId, Event, IdempotencyRecord, InboxEntry, Job, JobId, JobKind,
    LeaseToken, Millis, Order, OrderId, PaymentAttempt, Refund, RefundId, Registration,
    RegistrationId, RegistrationRequestId, Resolution, Subject,
};

/// Time, in Unix milliseconds. Nothing in the domain reads the system clock.
pub trait Clock: Send + Sync {
    /// Now.
    fn now_ms(&self) -> Millis;
}

/// The random source failed: no id, `authState` or lease can be made from it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the random source failed: {0}")]
pub struct RandomError(pub String);

/// Where unguessable bytes come from. The domain never falls back to anything weaker: a failure is
/// an error, never a zeroed `authState` or a sequential id.
pub trait Random: Send + Sync {
    /// Fills `buf` with random bytes.
    ///
    /// # Errors
    /// [`RandomError`] when the source cannot deliver.
    fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError>;
}

/// What came back from a call to Alipay, as the flows need it.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply<T> {
    /// `S`.
    Success(T),
    /// `F`: final.
    Failed(T),
    /// `U`, an unrecognised status, a timeout, a lost or unverifiable answer: the request may have
    /// taken effect. Never treat this as failed.
    Unknown {
        /// The answer, when one was read and verified (`U`).
        response: Option<T>,
        /// What happened, for logs and operators.
        detail: String,
    },
    /// The request surely never reached Alipay (build, sign, connection refused). Safe to send
    /// again with the same id.
    NotSent {
        /// What happened.
        detail: String,
    },
}

impl<T> Reply<T> {
    /// The verified answer, when there is one (`S`, `F`, and `U` when it was read).
    pub fn response(&self) -> Option<&T> {
        match self {
            Reply::Success(r) | Reply::Failed(r) => Some(r),
            Reply::Unknown { response, .. } => response.as_ref(),
            Reply::NotSent { .. } => None,
        }
    }
}

/// Alipay, as the flows see it. Implemented over `ams_client::AmsClient` by `autodebit-alipay`,
/// and by test doubles. `pay` and `refund` take the exact body to send, so a retry resends the
/// same bytes. No method has a default: a wrapper must say what it does with every call (a
/// default once made a wrapper answer "not sent" for registrations without anyone noticing).
#[async_trait]
pub trait Gateway: Send + Sync {
    /// `consult`.
    async fn consult(&self, request: &ConsultRequest) -> Reply<ConsultResponse>;
    /// `applyToken`.
    async fn apply_token(&self, request: &ApplyTokenRequest) -> Reply<ApplyTokenResponse>;
    /// `revoke`.
    async fn revoke(&self, request: &RevokeRequest) -> Reply<RevokeResponse>;
    /// `pay`, with the exact JSON body stored on the attempt, sent byte for byte.
    async fn pay(&self, body: &str) -> Reply<PayResponse>;
    /// `inquiryPayment`.
    async fn inquiry_payment(
        &self,
        request: &InquiryPaymentRequest,
    ) -> Reply<InquiryPaymentResponse>;
    /// `cancel` (one attempt; the flows own the retry schedule).
    async fn cancel(&self, request: &CancelRequest) -> Reply<CancelResponse>;
    /// `refund`, with the exact JSON body stored on the refund, sent byte for byte.
    async fn refund(&self, body: &str) -> Reply<RefundResponse>;
    /// `inquiryRefund`.
    async fn inquiry_refund(&self, request: &InquiryRefundRequest) -> Reply<InquiryRefundResponse>;

    /// `declare` (customs, China only), with the exact JSON body stored on the declaration, sent
    /// byte for byte. A gateway without customs declarations answers [`Reply::NotSent`]: nothing
    /// reaches Alipay, and the declaration waits (its job goes on, a person is told).
    async fn declare(&self, body: &str) -> Reply<DeclareResponse>;
    /// `inquiryDeclarationRequests`. Without customs declarations: [`Reply::NotSent`].
    async fn inquiry_declaration_requests(
        &self,
        request: &InquiryDeclarationRequestsRequest,
    ) -> Reply<InquiryDeclarationRequestsResponse>;
    /// `registration` (a secondary merchant), with the exact JSON body stored on the
    /// registration, sent byte for byte. A gateway without registrations answers
    /// [`Reply::NotSent`]: nothing reaches Alipay, and the registration waits (its job goes on, a
    /// person is told).
    async fn registration(&self, body: &str) -> Reply<RegistrationResponse>;
    /// `inquiryRegistrationStatus`. Without registrations: [`Reply::NotSent`].
    async fn inquiry_registration_status(
        &self,
        request: &InquiryRegistrationStatusRequest,
    ) -> Reply<InquiryRegistrationStatusResponse>;
    /// `inquiryRegistrationInfo` (what Alipay holds of a registered secondary merchant). Without
    /// registrations: [`Reply::NotSent`].
    async fn inquiry_registration_info(
        &self,
        request: &InquiryRegistrationInfoRequest,
    ) -> Reply<InquiryRegistrationInfoResponse>;
}

/// A notification as it arrived: the path it was posted to, its headers and its raw body. The
/// domain takes nothing else from Alipay's side: what it applies is what the
/// [`NotificationVerifier`] verified over these bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct RawNotification {
    /// The path it arrived on, as received (what Alipay signed).
    pub path: String,
    /// Its headers, names and values as received.
    pub headers: Vec<(String, String)>,
    /// The raw body, byte for byte.
    pub body: Body,
}

impl fmt::Debug for RawNotification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawNotification")
            .field("path", &self.path)
            .field("headers", &self.headers.len())
            .field("body", &self.body)
            .finish()
    }
}

/// Why a notification was not believed (stable names, to count refusals by cause).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RefusalCause {
    /// No signature, or a malformed one.
    Unsigned,
    /// The signature does not verify with Alipay's key.
    BadSignature,
    /// The `client-id` is missing or not ours, or a key version is unknown.
    WrongClient,
    /// A header is missing or malformed.
    BadHeaders,
    /// The body is not a notification.
    BadBody,
    /// Signed by Alipay, but sent outside the skew window (stale or replayed).
    Stale,
}

impl RefusalCause {
    /// The cause's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Unsigned => "unsigned",
            Self::BadSignature => "bad_signature",
            Self::WrongClient => "wrong_client",
            Self::BadHeaders => "bad_headers",
            Self::BadBody => "bad_body",
            Self::Stale => "stale",
        }
    }
}

/// What the verifier found.
#[derive(Clone, Debug, PartialEq)]
pub enum Verification {
    /// Signed by Alipay for us, fresh, parsed.
    Verified(Notification),
    /// Signed by Alipay for us, but sent outside the skew window (stale or replayed): not applied,
    /// but what it names is inquired at once.
    Stale(Notification),
    /// Not believed; nothing in it is used.
    Refused {
        /// Why.
        cause: RefusalCause,
        /// The verifier's diagnosis (never the body).
        detail: String,
    },
}

/// Checks a notification's signature over the exact bytes received, and its freshness, before
/// anything in it is parsed or believed.
pub trait NotificationVerifier: Send + Sync {
    /// Verifies and parses `raw`.
    fn verify(&self, raw: &RawNotification) -> Verification;
}

/// A store failure. Opaque: the store crate keeps its driver's error inside.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store cannot be reached or failed; the whole unit of work is rolled back.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A uniqueness rule was broken, or a compare-and-set or lease checked at commit no longer
    /// holds: nothing was written; read again and re-apply.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Stored data could not be read back (corruption, a newer schema, a missing key).
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// A value cannot be stored as given (out of the column's range); nothing was written.
    #[error("rejected: {0}")]
    Rejected(String),
}

/// A claim of due jobs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// Now: jobs due at or before it, not leased or with an expired lease, are taken.
    pub now: Millis,
    /// The claim's lease token (fresh for every claim).
    pub token: LeaseToken,
    /// How long the lease holds.
    pub lease_ms: Millis,
    /// At most this many jobs.
    pub limit: u32,
    /// A job already taken this many times in a row without finishing is not run again: it is set
    /// aside as a dead letter.
    pub max_attempts: u32,
}

/// Which part of a list to read: newest first (by creation time, then id, both descending), the
/// items after `after` (a cursor: the id of the last item of the page before), at most `limit`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// The cursor; `None` for the first page. A cursor naming no item of the list reads as an
    /// empty page (services check cursors before they read).
    pub after: Option<String>,
    /// At most this many items.
    pub limit: u32,
}

/// Which authorizations to list; every field set must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthorizationFilter {
    /// The merchant's customer.
    pub customer_id: Option<String>,
    /// Any of these states (empty: any state).
    pub states: Vec<AuthorizationState>,
}

/// Which orders (payments) to list; every field set must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrderFilter {
    /// The merchant's reference.
    pub reference: Option<String>,
    /// Charged on this authorization.
    pub authorization_id: Option<AuthorizationId>,
    /// Any of these states (empty: any state).
    pub states: Vec<OrderState>,
}

/// The store: a unit of work per use, and the job queue.
#[async_trait]
pub trait Store: Send + Sync {
    /// Starts a unit of work. Nothing it writes is visible to others until [`Tx::commit`]; dropping
    /// it without committing rolls everything back.
    async fn begin(&self) -> Result<Box<dyn Tx>, StoreError>;

    /// Takes up to `claim.limit` due jobs in due order, leasing each to `claim.token` until
    /// `now + lease_ms` and counting the attempt. A job is held by one lease at a time.
    ///
    /// In the same transaction, a job that has reached `max_attempts`, or whose row cannot be read
    /// (a kind from a newer version, a corrupt value), is set aside: never claimed again (until it
    /// is scheduled anew), with an attention item and an `OperatorAttention` event
    /// ([`crate::services::jobs::dead_letter`] builds both). The other jobs are claimed as usual.
    async fn claim_jobs(&self, claim: &Claim) -> Result<Vec<Job>, StoreError>;

    /// Takes the job of `kind`, due or not (the merchant's request runs its own job at once),
    /// unless another lease holds it or it is set aside. `None` when it cannot be taken.
    async fn claim_job(
        &self,
        kind: &JobKind,
        now: Millis,
        token: &LeaseToken,
        lease_ms: Millis,
    ) -> Result<Option<Job>, StoreError>;

    /// Extends a held lease to `until`, right before a call that must not happen twice. False when
    /// the lease is no longer held (then the call must not be made).
    async fn renew_lease(
        &self,
        id: &JobId,
        token: &LeaseToken,
        until: Millis,
    ) -> Result<bool, StoreError>;

    /// Gives back a lease that was not used (a worker stopping before it ran the job): the job is
    /// due as before, free for any worker, and the take is not counted toward `max_attempts`.
    /// False when the lease is no longer held (nothing changes).
    async fn release_lease(&self, id: &JobId, token: &LeaseToken) -> Result<bool, StoreError>;

    /// Open attention items, oldest first: at most `limit`, after the item `after` (a cursor).
    async fn open_attention(
        &self,
        after: Option<&AttentionId>,
        limit: u32,
    ) -> Result<Vec<AttentionItem>, StoreError>;
}

/// One unit of work: reads, compare-and-set writes, jobs, events, attention items, the inbox and
/// idempotency records, committed together.
#[async_trait]
pub trait Tx: Send {
    /// An authorization by id.
    async fn authorization(
        &mut self,
        id: &AuthorizationId,
    ) -> Result<Option<Authorization>, StoreError>;
    /// The authorization whose current `authState` this is.
    async fn authorization_by_auth_state(
        &mut self,
        auth_state: &AuthState,
    ) -> Result<Option<Authorization>, StoreError>;
    /// The authorization that holds, or held before a refresh rotated it, this access token (for
    /// `TOKEN_CANCELED`, which may name a token rotated since).
    async fn authorization_by_access_token(
        &mut self,
        access_token: &AccessToken,
    ) -> Result<Option<Authorization>, StoreError>;
    /// Authorizations matching `filter`, a page of them (see [`PageRequest`]).
    async fn list_authorizations(
        &mut self,
        filter: &AuthorizationFilter,
        page: &PageRequest,
    ) -> Result<Vec<Authorization>, StoreError>;
    /// Inserts a new authorization (version 0).
    async fn insert_authorization(
        &mut self,
        authorization: &Authorization,
    ) -> Result<(), StoreError>;
    /// Writes `authorization` if the stored version equals `authorization.version`, storing it with
    /// version + 1. Returns whether it was written (false: someone else changed it first).
    async fn update_authorization(
        &mut self,
        authorization: &Authorization,
    ) -> Result<bool, StoreError>;
    /// Remembers that `access_token` belonged to `authorization` after a refresh replaced it, so a
    /// late `TOKEN_CANCELED` naming it still finds the authorization (the store may keep only a
    /// keyed hash of it).
    async fn retire_access_token(
        &mut self,
        authorization: &AuthorizationId,
        access_token: &AccessToken,
    ) -> Result<(), StoreError>;

    /// An order by id.
    async fn order(&mut self, id: &OrderId) -> Result<Option<Order>, StoreError>;
    /// Orders matching `filter`, a page of them (see [`PageRequest`]).
    async fn list_orders(
        &mut self,
        filter: &OrderFilter,
        page: &PageRequest,
    ) -> Result<Vec<Order>, StoreError>;
    /// The order with this merchant reference.
    async fn order_by_reference(&mut self, reference: &str) -> Result<Option<Order>, StoreError>;
    /// Inserts a new order. [`StoreError::Conflict`] when its id or reference exists (the unit of
    /// work stays usable).
    async fn insert_order(&mut self, order: &Order) -> Result<(), StoreError>;
    /// Compare-and-set update, as [`Tx::update_authorization`].
    async fn update_order(&mut self, order: &Order) -> Result<bool, StoreError>;

    /// An attempt by id.
    async fn attempt(&mut self, id: &AttemptId) -> Result<Option<PaymentAttempt>, StoreError>;
    /// The attempt with this `paymentRequestId`.
    async fn attempt_by_payment_request_id(
        &mut self,
        id: &PaymentRequestId,
    ) -> Result<Option<PaymentAttempt>, StoreError>;
    /// Every attempt of an order, oldest first.
    async fn attempts_of_order(
        &mut self,
        order: &OrderId,
    ) -> Result<Vec<PaymentAttempt>, StoreError>;
    /// Inserts a new attempt.
    async fn insert_attempt(&mut self, attempt: &PaymentAttempt) -> Result<(), StoreError>;
    /// Compare-and-set update.
    async fn update_attempt(&mut self, attempt: &PaymentAttempt) -> Result<bool, StoreError>;

    /// A refund by id.
    async fn refund(&mut self, id: &RefundId) -> Result<Option<Refund>, StoreError>;
    /// The refund with this `refundRequestId`.
    async fn refund_by_refund_request_id(
        &mut self,
        id: &RefundRequestId,
    ) -> Result<Option<Refund>, StoreError>;
    /// Every refund of an order, oldest first.
    async fn refunds_of_order(&mut self, order: &OrderId) -> Result<Vec<Refund>, StoreError>;
    /// Inserts a new refund.
    async fn insert_refund(&mut self, refund: &Refund) -> Result<(), StoreError>;
    /// Compare-and-set update.
    async fn update_refund(&mut self, refund: &Refund) -> Result<bool, StoreError>;

    /// A customs declaration by id.
    async fn declaration(&mut self, id: &DeclarationId) -> Result<Option<Declaration>, StoreError>;
    /// The declaration with this `declarationRequestId`.
    async fn declaration_by_request_id(
        &mut self,
        id: &DeclarationRequestId,
    ) -> Result<Option<Declaration>, StoreError>;
    /// Every declaration of an order, oldest first.
    async fn declarations_of_order(
        &mut self,
        order: &OrderId,
    ) -> Result<Vec<Declaration>, StoreError>;
    /// Inserts a new declaration. [`StoreError::Conflict`] when its id or `declarationRequestId`
    /// exists.
    async fn insert_declaration(&mut self, declaration: &Declaration) -> Result<(), StoreError>;
    /// Compare-and-set update.
    async fn update_declaration(&mut self, declaration: &Declaration) -> Result<bool, StoreError>;

    /// A secondary merchant's registration by id.
    async fn registration(
        &mut self,
        id: &RegistrationId,
    ) -> Result<Option<Registration>, StoreError>;
    /// The registration with this `registrationRequestId`.
    async fn registration_by_request_id(
        &mut self,
        id: &RegistrationRequestId,
    ) -> Result<Option<Registration>, StoreError>;
    /// Every registration, or those of secondary merchant `reference`, newest first (by creation,
    /// then id).
    async fn registrations(
        &mut self,
        reference: Option<&str>,
    ) -> Result<Vec<Registration>, StoreError>;
    /// A page of the registrations (of secondary merchant `reference`, when given) in the same
    /// order: those after the registration `page.after` names (none when it names none), at most
    /// `page.limit`.
    async fn list_registrations(
        &mut self,
        reference: Option<&str>,
        page: &PageRequest,
    ) -> Result<Vec<Registration>, StoreError>;
    /// Inserts a new registration. [`StoreError::Conflict`] when its id or
    /// `registrationRequestId` exists.
    async fn insert_registration(&mut self, registration: &Registration) -> Result<(), StoreError>;
    /// Compare-and-set update.
    async fn update_registration(
        &mut self,
        registration: &Registration,
    ) -> Result<bool, StoreError>;

    /// Makes sure the job `kind` runs no later than `due_at`: creates it if there is none; moves an
    /// idle one earlier (never later); brings back one that was set aside (its attempts counted
    /// from zero); and for one that a worker holds, remembers the time so that when the holder
    /// lets go (completes or reschedules it) it is due no later than that. Applied at commit.
    async fn schedule_job(&mut self, kind: JobKind, due_at: Millis) -> Result<(), StoreError>;
    /// The job of `kind`, if there is one (for views and checks).
    async fn job_of(&mut self, kind: &JobKind) -> Result<Option<Job>, StoreError>;
    /// Ends a job the lease `token` holds: removed, or, when a schedule came in while it was held,
    /// kept and due then. False when the lease is not held now; at commit the lease is checked
    /// again and a lost one makes the commit a [`StoreError::Conflict`].
    async fn complete_job(&mut self, id: &JobId, token: &LeaseToken) -> Result<bool, StoreError>;
    /// Lets a held job go, due at `due_at` (or earlier, if a schedule asked for earlier while it
    /// was held); its attempts start again from zero. Lease checks as [`Tx::complete_job`].
    async fn reschedule_job(
        &mut self,
        id: &JobId,
        token: &LeaseToken,
        due_at: Millis,
    ) -> Result<bool, StoreError>;

    /// Appends an event to the outbox.
    async fn push_event(&mut self, event: &Event) -> Result<(), StoreError>;

    /// Raises an attention item: opens it, or, when an open one with the same subject and code
    /// exists, updates its reason, what was tried, its actions and `updated_at`. Returns whether
    /// it was newly opened.
    async fn raise_attention(&mut self, item: &AttentionItem) -> Result<bool, StoreError>;
    /// Closes the open items of `subject` (only those with `code`, when given). Returns how many.
    async fn resolve_attention(
        &mut self,
        subject: &Subject,
        code: Option<&str>,
        resolution: &Resolution,
    ) -> Result<usize, StoreError>;
    /// The open items of `subject`.
    async fn attention_of(&mut self, subject: &Subject) -> Result<Vec<AttentionItem>, StoreError>;
    /// An item by id, open or closed.
    async fn attention(&mut self, id: &AttentionId) -> Result<Option<AttentionItem>, StoreError>;

    /// Stores a received notification unless one with the same key is there. Returns whether it
    /// is new.
    async fn inbox_insert(&mut self, entry: &InboxEntry) -> Result<bool, StoreError>;

    /// The idempotency record for a merchant key.
    async fn idempotency(&mut self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError>;
    /// Stores an idempotency record; false when the key exists.
    async fn insert_idempotency(&mut self, record: &IdempotencyRecord) -> Result<bool, StoreError>;

    /// Makes everything visible at once.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when a compare-and-set, a lease or a uniqueness rule checked during
    /// the unit of work no longer holds (an optimistic store re-checks them here): nothing was
    /// written, and the caller starts a new unit of work and re-applies its change.
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

impl fmt::Debug for dyn Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Store")
    }
}
