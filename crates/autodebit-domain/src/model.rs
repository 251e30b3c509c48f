//! The records the flows keep: authorizations with their tokens, orders, payment attempts (with the
//! exact request sent, since Alipay's idempotency compares it), refunds, jobs, events, the
//! notification inbox and merchant idempotency keys.
//!
//! Plain data: no serde, no database derives. The store crate owns the mapping to rows.

use std::fmt;

use ams_protocol::{
    AccessToken, Amount, AuthCode, CustomerBelongsTo, OsType, RefreshToken, TerminalType,
};

use crate::lifecycle::attempt::AttemptState;
use crate::lifecycle::authorization::AuthorizationState;
use crate::lifecycle::order::OrderState;
use crate::lifecycle::refund::RefundState;

/// Unix milliseconds, as every time in the domain.
pub type Millis = i64;

macro_rules! local_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Wraps an id.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The id's text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

local_id!(
    /// Our id for an authorization.
    AuthorizationId
);
local_id!(
    /// Our id for an order.
    OrderId
);
local_id!(
    /// Our id for a payment attempt.
    AttemptId
);
local_id!(
    /// Our id for a refund.
    RefundId
);
local_id!(
    /// A job's id.
    JobId
);

/// The tokens of an active authorization. Secrets: `Debug` is redacted by the ams-protocol types.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenSet {
    /// The access token (the `paymentMethodId` of every charge).
    pub access_token: AccessToken,
    /// When the access token stops working.
    pub access_expires_at: Millis,
    /// The refresh token, when the wallet issues one.
    pub refresh_token: Option<RefreshToken>,
    /// When the refresh token stops working.
    pub refresh_expires_at: Option<Millis>,
}

/// A user's authorization of the merchant in a wallet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorization {
    /// Our id.
    pub id: AuthorizationId,
    /// The merchant's own id for its customer.
    pub customer_id: String,
    /// The wallet.
    pub wallet: CustomerBelongsTo,
    /// The terminal the user authorizes on.
    pub terminal_type: TerminalType,
    /// The user's OS, required for APP, WAP and MINI_APP.
    pub os_type: Option<OsType>,
    /// Where the user goes after the wallet (the merchant's page).
    pub return_url: String,
    /// The current unguessable `authState` (a new one for each consult).
    pub auth_state: String,
    /// The URL the user must open, once consult answered.
    pub auth_url: Option<String>,
    /// Where it stands.
    pub state: AuthorizationState,
    /// The tokens, once active.
    pub token: Option<TokenSet>,
    /// The auth code received (redirect or `AUTHCODE_CREATED`) and not yet exchanged, kept so a
    /// durable `ExchangeCode` job can retry `applyToken` after a crash or an unknown answer.
    /// A secret: its `Debug` is redacted.
    pub pending_auth_code: Option<AuthCode>,
    /// The masked wallet login id, when Alipay returned it.
    pub user_login_id: Option<String>,
    /// Why it failed, when it did (result code or reason).
    pub failure: Option<String>,
    /// Compare-and-set version: every update must name the version it read.
    pub version: u64,
    /// Created at.
    pub created_at: Millis,
    /// Last changed at.
    pub updated_at: Millis,
}

/// A business order to be paid with an authorization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Order {
    /// Our id.
    pub id: OrderId,
    /// The authorization charged.
    pub authorization_id: AuthorizationId,
    /// The merchant's order reference (`referenceOrderId`).
    pub reference: String,
    /// What it is for (`orderDescription`).
    pub description: String,
    /// How much.
    pub amount: Amount,
    /// Where it stands.
    pub state: OrderState,
    /// What has been refunded so far, in the order's currency.
    pub refunded: u64,
    /// Compare-and-set version.
    pub version: u64,
    /// Created at.
    pub created_at: Millis,
    /// Last changed at.
    pub updated_at: Millis,
}

/// One `pay` request: its id and the exact body sent (a retry resends these bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentAttempt {
    /// Our id.
    pub id: AttemptId,
    /// The order it pays.
    pub order_id: OrderId,
    /// `paymentRequestId`: unique, never sequential, never reused for another attempt.
    pub payment_request_id: String,
    /// The exact `pay` body, as sent and re-sent. Holds the access token: the store encrypts it.
    pub request_body: String,
    /// The amount (also inside the body), for checks without parsing.
    pub amount: Amount,
    /// Where it stands.
    pub state: AttemptState,
    /// Alipay's `paymentId`, once known.
    pub payment_id: Option<String>,
    /// The last result code that mattered (a failure reason, or why it needs an operator).
    pub result_code: Option<String>,
    /// Inquiries made so far.
    pub inquiries: u32,
    /// Whether a success arrived after the attempt was cancelled (Alipay refunds it itself).
    pub late_success: bool,
    /// When the cancel started (its first try): cancel is retried for a bounded time from here.
    pub cancel_started_at: Option<Millis>,
    /// When the payment expires at Alipay (after it, an unknown payment cannot turn into a debit).
    pub expires_at: Millis,
    /// Compare-and-set version.
    pub version: u64,
    /// Created at.
    pub created_at: Millis,
    /// Last changed at.
    pub updated_at: Millis,
}

/// A refund of (part of) a paid order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refund {
    /// Our id.
    pub id: RefundId,
    /// The order refunded.
    pub order_id: OrderId,
    /// `refundRequestId`.
    pub refund_request_id: String,
    /// The exact `refund` body, as sent and re-sent.
    pub request_body: String,
    /// How much.
    pub amount: Amount,
    /// Where it stands.
    pub state: RefundState,
    /// Alipay's `refundId`, once known.
    pub refund_id: Option<String>,
    /// The last result code that mattered.
    pub result_code: Option<String>,
    /// Sends so far.
    pub sends: u32,
    /// When the first send left: the same request is retried for a bounded time from here, then
    /// inquired.
    pub first_sent_at: Option<Millis>,
    /// `inquiryRefund` calls so far.
    pub inquiries: u32,
    /// Compare-and-set version.
    pub version: u64,
    /// Created at.
    pub created_at: Millis,
    /// Last changed at.
    pub updated_at: Millis,
}

/// Future work, durable: written with the state change that needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobKind {
    /// Send a stored payment attempt that has not left yet (its first send, or again after a send
    /// that surely did not leave).
    SendPayment(AttemptId),
    /// Resolve an unknown payment: inquire on a schedule, then cancel.
    ResolvePayment(AttemptId),
    /// Cancel a payment (store-and-forward; retried on a schedule inside the cancel window).
    CancelPayment(AttemptId),
    /// Refresh an authorization's access token before it expires.
    RefreshToken(AuthorizationId),
    /// Exchange a received auth code for a token (retried when the answer is unknown).
    ExchangeCode(AuthorizationId),
    /// Revoke a token (retried when the answer is unknown).
    Revoke(AuthorizationId),
    /// Send a refund again, or inquire it.
    ResolveRefund(RefundId),
}

/// A job as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    /// Its id.
    pub id: JobId,
    /// What to do.
    pub kind: JobKind,
    /// When it is due.
    pub due_at: Millis,
    /// How many times it was taken.
    pub attempts: u32,
    /// Who holds it, while leased.
    pub lease_holder: Option<String>,
    /// Until when the lease holds.
    pub lease_until: Option<Millis>,
}

/// Something the merchant's own systems must hear about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// The user authorized: the token is active.
    AuthorizationActive,
    /// The authorization needs the user again (refresh failed, token rejected).
    AuthorizationNeedsReauthorization,
    /// The authorization ended (revoked by the merchant or the user).
    AuthorizationEnded,
    /// The authorization could not be completed (failed, declined, expired).
    AuthorizationFailed,
    /// An order was paid.
    PaymentSucceeded,
    /// An order's attempt failed for good.
    PaymentFailed,
    /// An order was cancelled.
    PaymentCancelled,
    /// A refund succeeded.
    RefundSucceeded,
    /// A refund was refused.
    RefundFailed,
    /// Something needs a person: the subject and the reason say what.
    OperatorAttention,
}

impl EventKind {
    /// The event's name, as the merchant sees it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::AuthorizationActive => "authorization.active",
            Self::AuthorizationNeedsReauthorization => "authorization.needs_reauthorization",
            Self::AuthorizationEnded => "authorization.ended",
            Self::AuthorizationFailed => "authorization.failed",
            Self::PaymentSucceeded => "payment.succeeded",
            Self::PaymentFailed => "payment.failed",
            Self::PaymentCancelled => "payment.cancelled",
            Self::RefundSucceeded => "refund.succeeded",
            Self::RefundFailed => "refund.failed",
            Self::OperatorAttention => "operator.attention",
        }
    }
}

/// An outbox entry, written in the same transaction as the change it reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// The id of what it happened to (authorization, order or refund).
    pub subject: String,
    /// A reason or result code, when there is one.
    pub detail: Option<String>,
    /// When.
    pub at: Millis,
}

/// A notification from Alipay as received, before it is applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboxEntry {
    /// Deduplication key: the same notification delivered twice has the same key.
    pub dedup_key: String,
    /// The path it arrived on.
    pub path: String,
    /// Its HTTP headers, as received (the signature, `client-id`, `request-time`).
    pub headers: Vec<(String, String)>,
    /// The raw body. Holds tokens or auth codes for authorization notifications: the store
    /// encrypts it.
    pub body: String,
    /// When it arrived.
    pub received_at: Millis,
}

/// A merchant command's idempotency record: the request's fingerprint and the stored outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// The merchant's key.
    pub key: String,
    /// A fingerprint of the command's parameters.
    pub fingerprint: String,
    /// What the command created (an authorization, order or refund id).
    pub resource: String,
    /// When.
    pub created_at: Millis,
}
