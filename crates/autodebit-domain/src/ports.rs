//! The ports the flows run over: the gateway to Alipay, the store, the clock and the source of
//! request ids. Small traits (`async-trait`, used as `Arc<dyn Port>`), with no framework types.

use std::fmt;

use ams_protocol::{
    ApplyTokenRequest, ApplyTokenResponse, CancelRequest, CancelResponse, ConsultRequest,
    ConsultResponse, InquiryPaymentRequest, InquiryPaymentResponse, InquiryRefundRequest,
    InquiryRefundResponse, PayResponse, RefundResponse, RevokeRequest, RevokeResponse,
};
use async_trait::async_trait;

use crate::model::{
    Authorization, AuthorizationId, Event, IdempotencyRecord, InboxEntry, Job, JobId, JobKind,
    Millis, Order, OrderId, PaymentAttempt, Refund, RefundId,
};

/// Time, in Unix milliseconds. Nothing in the domain reads the system clock.
pub trait Clock: Send + Sync {
    /// Now.
    fn now_ms(&self) -> Millis;
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

/// Alipay, as the flows see it. Implemented for `ams_client::AmsClient` (`crate::gateway`) and by
/// test doubles. `pay` and `refund` take the exact body to send, so a retry resends the same bytes.
#[async_trait]
pub trait Gateway: Send + Sync {
    /// `consult`.
    async fn consult(&self, request: &ConsultRequest) -> Reply<ConsultResponse>;
    /// `applyToken`.
    async fn apply_token(&self, request: &ApplyTokenRequest) -> Reply<ApplyTokenResponse>;
    /// `revoke`.
    async fn revoke(&self, request: &RevokeRequest) -> Reply<RevokeResponse>;
    /// `pay`, with the exact JSON body stored on the attempt.
    async fn pay(&self, body: &str) -> Reply<PayResponse>;
    /// `inquiryPayment`.
    async fn inquiry_payment(
        &self,
        request: &InquiryPaymentRequest,
    ) -> Reply<InquiryPaymentResponse>;
    /// `cancel` (one attempt; the flows own the retry schedule).
    async fn cancel(&self, request: &CancelRequest) -> Reply<CancelResponse>;
    /// `refund`, with the exact JSON body stored on the refund.
    async fn refund(&self, body: &str) -> Reply<RefundResponse>;
    /// `inquiryRefund`.
    async fn inquiry_refund(&self, request: &InquiryRefundRequest) -> Reply<InquiryRefundResponse>;
}

/// A store failure. Opaque: the store crate keeps its driver's error inside.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached or failed; the whole unit of work is rolled back.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A uniqueness rule was broken (an id or key already exists).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Stored data could not be read back (corruption, a newer schema, a missing key).
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// A value cannot be stored as given (out of the column's range); nothing was written.
    #[error("rejected: {0}")]
    Rejected(String),
}

/// The store: a unit of work per use.
#[async_trait]
pub trait Store: Send + Sync {
    /// Starts a unit of work. Nothing it writes is visible to others until [`Tx::commit`]; dropping
    /// it without committing rolls everything back.
    async fn begin(&self) -> Result<Box<dyn Tx>, StoreError>;

    /// Takes up to `limit` due jobs (`due_at <= now`, not leased or lease expired) in due order,
    /// leasing each to `worker` until `now + lease_ms`. A job is held by one worker at a time.
    async fn claim_jobs(
        &self,
        now: Millis,
        worker: &str,
        lease_ms: Millis,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError>;
}

/// One unit of work: reads, compare-and-set writes, jobs, events, inbox and idempotency records,
/// committed together.
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
        auth_state: &str,
    ) -> Result<Option<Authorization>, StoreError>;
    /// The authorization holding this access token (for `TOKEN_CANCELED`).
    async fn authorization_by_access_token(
        &mut self,
        access_token: &str,
    ) -> Result<Option<Authorization>, StoreError>;
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

    /// An order by id.
    async fn order(&mut self, id: &OrderId) -> Result<Option<Order>, StoreError>;
    /// Inserts a new order.
    async fn insert_order(&mut self, order: &Order) -> Result<(), StoreError>;
    /// Compare-and-set update, as [`Tx::update_authorization`].
    async fn update_order(&mut self, order: &Order) -> Result<bool, StoreError>;

    /// An attempt by id.
    async fn attempt(
        &mut self,
        id: &crate::model::AttemptId,
    ) -> Result<Option<PaymentAttempt>, StoreError>;
    /// The attempt with this `paymentRequestId`.
    async fn attempt_by_payment_request_id(
        &mut self,
        id: &str,
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
    async fn refund_by_refund_request_id(&mut self, id: &str)
    -> Result<Option<Refund>, StoreError>;
    /// Every refund of an order.
    async fn refunds_of_order(&mut self, order: &OrderId) -> Result<Vec<Refund>, StoreError>;
    /// Inserts a new refund.
    async fn insert_refund(&mut self, refund: &Refund) -> Result<(), StoreError>;
    /// Compare-and-set update.
    async fn update_refund(&mut self, refund: &Refund) -> Result<bool, StoreError>;

    /// Schedules work.
    async fn enqueue_job(&mut self, kind: JobKind, due_at: Millis) -> Result<JobId, StoreError>;
    /// Removes a finished job (only if `worker` still holds its lease).
    async fn complete_job(&mut self, id: &JobId, worker: &str) -> Result<bool, StoreError>;
    /// Moves a job to a later due time and releases its lease (only if `worker` holds it).
    async fn reschedule_job(
        &mut self,
        id: &JobId,
        worker: &str,
        due_at: Millis,
    ) -> Result<bool, StoreError>;

    /// Removes every job of this kind, leased or not: the work it stood for is done or superseded
    /// (a worker still running one finds its lease gone and drops its own unit of work). Returns how
    /// many it removed (as seen now; the removal applies to what is stored at commit).
    async fn remove_jobs(&mut self, kind: &JobKind) -> Result<usize, StoreError>;

    /// Appends an event to the outbox.
    async fn push_event(&mut self, event: &Event) -> Result<(), StoreError>;

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

/// Where request ids come from: unique, never sequential (seed 004).
pub trait RequestIds: Send + Sync {
    /// A new `paymentRequestId` for a payment of `amount_minor` on `terminal`.
    fn payment_request_id(&self, now: Millis, terminal: &str, amount_minor: u64) -> String;
    /// A new `refundRequestId`.
    fn refund_request_id(&self, now: Millis) -> String;
    /// A new unguessable `authState`.
    fn auth_state(&self, now: Millis) -> String;
    /// A new local id (authorizations, orders, attempts, refunds).
    fn local_id(&self, prefix: &str) -> String;
}

impl fmt::Debug for dyn Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Store")
    }
}
