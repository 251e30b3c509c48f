//! The records the flows keep: authorizations with their tokens, orders, payment attempts (with the
//! exact request sent, since Alipay's idempotency compares it), refunds, customs declarations,
//! secondary-merchant registrations, jobs, events, items that need a person, the notification inbox and merchant idempotency keys.
//!
//! Plain data: no serde, no database derives. The store crate owns the mapping to rows. Alipay's ids
//! are the protocol's types ([`PaymentRequestId`], [`PaymentId`], [`RefundRequestId`],
//! [`AlipayRefundId`], [`AuthState`]); our own ids are the newtypes below.

use std::fmt;

use ams_protocol::{
    AccessToken, Amount, AuthCode, CustomerBelongsTo, DeclarationRecord, DeclareResponse, OsType,
    PspRegistrationResult, RefreshToken, RegistrationResult, RegistrationStatus, TerminalType,
};
pub use ams_protocol::{
    AuthState, DeclarationRequestId, PaymentId, PaymentRequestId, RefundRequestId,
    RegistrationRequestId,
};

/// Alipay's `refundId` (the protocol's `RefundId`; ours is [`RefundId`]).
pub type AlipayRefundId = ams_protocol::RefundId;

use crate::lifecycle::attempt::AttemptState;
use crate::lifecycle::authorization::AuthorizationState;
use crate::lifecycle::declaration::DeclarationState;
use crate::lifecycle::order::OrderState;
use crate::lifecycle::refund::RefundState;
use crate::lifecycle::registration::RegistrationState;

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
    /// Our id for an authorization (`auth_…`).
    AuthorizationId
);
local_id!(
    /// Our id for an order, which the merchant sees as a payment (`pay_…`).
    OrderId
);
local_id!(
    /// Our id for a payment attempt (`att_…`).
    AttemptId
);
local_id!(
    /// Our id for a refund (`re_…`).
    RefundId
);
local_id!(
    /// Our id for a customs declaration (`cd_…`).
    DeclarationId
);
local_id!(
    /// Our id for a secondary merchant's registration (`smr_…`).
    RegistrationId
);
local_id!(
    /// A job's id.
    JobId
);
local_id!(
    /// An attention item's id.
    AttentionId
);
local_id!(
    /// The token of one claim of a job: whoever holds it holds the job. A new one for every claim,
    /// so two workers (even with the same name) never share a lease.
    LeaseToken
);

/// A request or notification body kept byte for byte. It can hold an access token or an auth code,
/// so its `Debug` shows only its length; the store encrypts it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Body(String);

impl Body {
    /// Wraps the exact text.
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The exact text (a secret: never log it).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Body(<{} bytes>)", self.0.len())
    }
}

/// The tokens of an active authorization. Secrets: `Debug` is redacted by the ams-protocol types.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenSet {
    /// The access token (the `paymentMethodId` of every charge).
    pub access_token: AccessToken,
    /// When the access token stops working (`Millis::MAX`: Alipay gave no expiry).
    pub access_expires_at: Millis,
    /// The refresh token, when the wallet issues one.
    pub refresh_token: Option<RefreshToken>,
    /// When the refresh token stops working.
    pub refresh_expires_at: Option<Millis>,
}

/// A user's authorization of the merchant in a wallet.
///
/// `Debug` hides the `authState` (a capability: whoever has it can complete or decline the
/// authorization) and every token.
#[derive(Clone, PartialEq, Eq)]
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
    /// The secondary merchant the user authorized (`authClientId`), whose
    /// `referenceMerchantId` every payment of this authorization carries.
    pub secondary_merchant: Option<String>,
    /// The current unguessable `authState` (a new one for each consult). Never logged.
    pub auth_state: AuthState,
    /// The URL the user must open, once consult answered with one.
    pub auth_url: Option<String>,
    /// Scan to Bind: the value to show as a QR code, once consult answered with one.
    pub qr_code: Option<String>,
    /// Where it stands.
    pub state: AuthorizationState,
    /// The tokens, once active.
    pub token: Option<TokenSet>,
    /// The auth code received (redirect or `AUTHCODE_CREATED`) and not yet exchanged, kept so the
    /// authorization's job can retry `applyToken` after a crash or an unknown answer. A secret.
    pub pending_auth_code: Option<AuthCode>,
    /// Calls made for the step under way (an exchange or a revoke), counted before each call
    /// leaves; from zero when the state moves. An exchange refused after an earlier try that may
    /// have reached Alipay may have left a token we never received.
    pub tries: u32,
    /// A token Alipay told us it issued for this authorization (`TOKEN_CREATED`) that we do not
    /// hold: the authorization's job revokes it, so no token is left live at Alipay unknown to us.
    pub stray_token: Option<AccessToken>,
    /// When the user's consent link stops being waited for.
    pub consent_expires_at: Option<Millis>,
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

impl fmt::Debug for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorization")
            .field("id", &self.id)
            .field("customer_id", &self.customer_id)
            .field("wallet", &self.wallet)
            .field("terminal_type", &self.terminal_type)
            .field("secondary_merchant", &self.secondary_merchant)
            .field("state", &self.state)
            .field("auth_state", &"<redacted>")
            .field("token", &self.token)
            .field("pending_auth_code", &self.pending_auth_code)
            .field("stray_token", &self.stray_token)
            .field("failure", &self.failure)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// A business order to be paid with an authorization: what the merchant sees as a payment. It has
/// one or more attempts, at most one of them not final.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Order {
    /// Our id.
    pub id: OrderId,
    /// The authorization charged.
    pub authorization_id: AuthorizationId,
    /// The merchant's order reference (`referenceOrderId`): unique, one order per reference.
    pub reference: String,
    /// What it is for (`orderDescription`).
    pub description: String,
    /// How much.
    pub amount: Amount,
    /// Where it stands.
    pub state: OrderState,
    /// What has been refunded so far, in the order's currency.
    pub refunded: u64,
    /// Where the wallet sends the user back after a payment it needed them for (every attempt's
    /// `paymentRedirectUrl`).
    pub return_url: Option<String>,
    /// Compare-and-set version.
    pub version: u64,
    /// Created at.
    pub created_at: Millis,
    /// Last changed at.
    pub updated_at: Millis,
}

/// Who wants a payment cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CancelReason {
    /// The merchant asked.
    Merchant,
    /// The inquiries ran out without a result (seed 004: cancel what stays unknown).
    Unresolved,
}

impl CancelReason {
    /// The reason's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Merchant => "merchant",
            Self::Unresolved => "unresolved",
        }
    }

    /// The reason with this name.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Merchant, Self::Unresolved]
            .into_iter()
            .find(|r| r.name() == name)
    }
}

/// One `pay` request: its id and the exact body sent (a retry resends these bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentAttempt {
    /// Our id.
    pub id: AttemptId,
    /// The order it pays.
    pub order_id: OrderId,
    /// `paymentRequestId`: unique, never sequential, never reused for another attempt.
    pub payment_request_id: PaymentRequestId,
    /// The exact `pay` body, as sent and re-sent. Holds the access token: the store encrypts it.
    pub request_body: Body,
    /// The amount (also inside the body), for checks without parsing.
    pub amount: Amount,
    /// Where it stands.
    pub state: AttemptState,
    /// Alipay's `paymentId`, once known.
    pub payment_id: Option<PaymentId>,
    /// The last result code that mattered (a failure reason, or why it is cancelled).
    pub result_code: Option<String>,
    /// Inquiries made so far.
    pub inquiries: u32,
    /// Whether a success arrived after the attempt was cancelled by a `cancel` S (which returned
    /// that money).
    pub late_success: bool,
    /// Why a cancel was asked for, once one was.
    pub cancel_reason: Option<CancelReason>,
    /// When the cancel started (its first try): the retry schedule is measured from here.
    pub cancel_started_at: Option<Millis>,
    /// The attempt's `paymentExpiryTime`: after it (plus a margin for clock skew), a `pay` that
    /// has not reached Alipay can no longer debit.
    pub expires_at: Millis,
    /// Where the wallet needs its user before it can finish the payment, when `pay` said so.
    pub wallet_action: Option<WalletAction>,
    /// Compare-and-set version.
    pub version: u64,
    /// Created at.
    pub created_at: Millis,
    /// Last changed at.
    pub updated_at: Millis,
}

/// The wallet needs its user before it can finish a payment: `pay` answered `PAYMENT_IN_PROCESS`
/// with where to send them (digest §3.4). The user completes it there before the attempt's
/// expiry, or the payment fails (an unanswered one is cancelled as any unknown payment). Nothing
/// here moves money: the pages are the wallet's, and the user signs in there.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WalletAction {
    /// `normalUrl`: a web page (the only one a web integration uses).
    pub normal_url: Option<String>,
    /// `schemeUrl`: opens the wallet app.
    pub scheme_url: Option<String>,
    /// `applinkUrl`: opens the wallet app, or a web page without it.
    pub applink_url: Option<String>,
    /// `appIdentifier`: the wallet app's Android package.
    pub app_identifier: Option<String>,
}

impl WalletAction {
    /// What a `pay` answer asks of the user, if it names anywhere to send them.
    pub fn of_pay(response: &ams_protocol::PayResponse) -> Option<Self> {
        let action = Self {
            normal_url: response.normal_url.clone(),
            scheme_url: response.scheme_url.clone(),
            applink_url: response.applink_url.clone(),
            app_identifier: response.app_identifier.clone(),
        };
        (action.normal_url.is_some() || action.scheme_url.is_some() || action.applink_url.is_some())
            .then_some(action)
    }
}

/// Why a refund exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RefundOrigin {
    /// The merchant asked.
    Merchant,
    /// A cancel was wanted but could not be done in time, and the payment turned out paid: the
    /// refund returns the money instead (seed 004: past the cancel window, refund).
    CancelTooLate,
}

impl RefundOrigin {
    /// The origin's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Merchant => "merchant",
            Self::CancelTooLate => "cancel_too_late",
        }
    }

    /// The origin with this name.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Merchant, Self::CancelTooLate]
            .into_iter()
            .find(|r| r.name() == name)
    }
}

/// A refund of (part of) a paid order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refund {
    /// Our id.
    pub id: RefundId,
    /// The order refunded.
    pub order_id: OrderId,
    /// `refundRequestId`.
    pub refund_request_id: RefundRequestId,
    /// The exact `refund` body, as sent and re-sent.
    pub request_body: Body,
    /// How much.
    pub amount: Amount,
    /// Why it exists.
    pub origin: RefundOrigin,
    /// Where it stands.
    pub state: RefundState,
    /// Alipay's `refundId`, once known.
    pub alipay_refund_id: Option<AlipayRefundId>,
    /// The last result code that mattered.
    pub result_code: Option<String>,
    /// Sends so far.
    pub sends: u32,
    /// Sends in a row that surely never left (a refund that can never be sent ends as failed).
    pub not_sent: u32,
    /// Whether any send may have reached Alipay.
    pub maybe_sent: bool,
    /// When the first send that may have reached Alipay left: the same request is retried for a
    /// bounded time from here, then inquired.
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

/// A customs declaration of a paid order (China customs only, digest §9.3): one
/// `declarationRequestId`, sent, re-sent when its changeable fields change, and followed until
/// customs answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Declaration {
    /// Our id.
    pub id: DeclarationId,
    /// The order declared.
    pub order_id: OrderId,
    /// `declarationRequestId`: the same for every send and re-send of this declaration.
    pub declaration_request_id: DeclarationRequestId,
    /// The exact `declare` body, as sent and sent again. It holds the buyer's certificate number
    /// (personal data), so it is a [`Body`]: redacted in `Debug`, encrypted by the store.
    pub request_body: Body,
    /// How much is declared (counts toward the payment's cap while not refused).
    pub amount: Amount,
    /// The customs office's code (`customs.customsCode`).
    pub customs_code: String,
    /// Where it stands.
    pub state: DeclarationState,
    /// The last result code that mattered (a refusal's, or `NOT_SENT`).
    pub result_code: Option<String>,
    /// Alipay's message with that code.
    pub result_message: Option<String>,
    /// Alipay's last successful `declare` answer (customs' payment and order numbers, the identity
    /// check, clearing details once the receipt is back).
    pub accepted: Option<DeclareResponse>,
    /// The last record `inquiryDeclarationRequests` gave for it (customs' status and answer).
    pub record: Option<DeclarationRecord>,
    /// Sends so far (first send, retries and re-sends).
    pub sends: u32,
    /// `inquiryDeclarationRequests` calls so far.
    pub inquiries: u32,
    /// When the last send that may have reached Alipay left (a re-send of changed fields is taken
    /// by Alipay only more than five minutes after the previous call).
    pub last_sent_at: Option<Millis>,
    /// When the current round (first send, or the latest re-send) started: retries and inquiries
    /// back off from here, and a person is told when it takes long.
    pub round_started_at: Millis,
    /// Compare-and-set version.
    pub version: u64,
    /// Created at.
    pub created_at: Millis,
    /// Last changed at.
    pub updated_at: Millis,
}

impl Declaration {
    /// Whether customs has answered (the record carries its result code or return time).
    pub fn customs_answered(&self) -> bool {
        self.record.as_ref().is_some_and(|r| {
            r.customs_declaration_result_code.is_some()
                || r.customs_declaration_return_time.is_some()
        })
    }
}

/// A secondary merchant's registration with Alipay (digest §9.5–9.8; deprecated by Alipay for online
/// payments since August 2022): one `registrationRequestId`, sent until Alipay answers, then
/// followed until the wallets' review ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    /// Our id.
    pub id: RegistrationId,
    /// The secondary merchant (`merchantInfo.referenceMerchantId`).
    pub reference_merchant_id: String,
    /// `registrationRequestId`: the same for every send.
    pub registration_request_id: RegistrationRequestId,
    /// The exact `registration` body, as sent and sent again. It holds the merchant's registration
    /// numbers and contacts, so it is a [`Body`]: redacted in `Debug`, encrypted by the store.
    pub request_body: Body,
    /// Where the request stands with Alipay.
    pub state: RegistrationState,
    /// The last result code that mattered (a refusal's, or `NOT_SENT`).
    pub result_code: Option<String>,
    /// Alipay's message with that code.
    pub result_message: Option<String>,
    /// The overall review result, as last read (inquiry or notification).
    pub review: Option<RegistrationResult>,
    /// Each wallet's review result, as last read.
    pub wallets: Vec<PspRegistrationResult>,
    /// Sends so far.
    pub sends: u32,
    /// `inquiryRegistrationStatus` calls so far.
    pub inquiries: u32,
    /// When the current wait (for Alipay's answer, then for the review) started: retries and
    /// inquiries back off from here, and a person is told when it takes long.
    pub round_started_at: Millis,
    /// Compare-and-set version.
    pub version: u64,
    /// Created at.
    pub created_at: Millis,
    /// Last changed at.
    pub updated_at: Millis,
}

impl Registration {
    /// Whether the wallets' review has ended: the overall status is one Alipay documents as an
    /// end (`COMPLETED`, or a wallet-style `APPROVED`/`REJECTED`). `PENDING`, no status, and any
    /// value Alipay adds later count as not ended: the inquiries go on and a person is told when
    /// it takes long, rather than a registration shown finished that is not.
    pub fn reviewed(&self) -> bool {
        self.state == RegistrationState::Accepted
            && self.review.as_ref().is_some_and(|r| {
                matches!(
                    r.registration_status,
                    Some(
                        RegistrationStatus::Completed
                            | RegistrationStatus::Approved
                            | RegistrationStatus::Rejected
                    )
                )
            })
    }
}

/// Future work, durable: written with the state change that needs it. One job per subject at most;
/// what it does is read from the subject's state when it runs (send, inquire, cancel, refresh, …).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobKind {
    /// Move a payment attempt on: send it, inquire it, cancel it, confirm it.
    Payment(AttemptId),
    /// Move a refund on: send it, send it again, inquire it.
    Refund(RefundId),
    /// Move an authorization on: recover an interrupted consult, expire a consent nobody gave,
    /// exchange a code, refresh or expire a token, revoke.
    Authorization(AuthorizationId),
    /// Move a customs declaration on: send it, send it again, read customs' answer.
    Declaration(DeclarationId),
    /// Move a registration on: send it, send it again, read the wallets' review.
    Registration(RegistrationId),
}

impl JobKind {
    /// The kind's name, as stored.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Payment(_) => "payment",
            Self::Refund(_) => "refund",
            Self::Authorization(_) => "authorization",
            Self::Declaration(_) => "declaration",
            Self::Registration(_) => "registration",
        }
    }

    /// The id of its subject.
    pub fn subject(&self) -> &str {
        match self {
            Self::Payment(id) => id.as_str(),
            Self::Refund(id) => id.as_str(),
            Self::Authorization(id) => id.as_str(),
            Self::Declaration(id) => id.as_str(),
            Self::Registration(id) => id.as_str(),
        }
    }

    /// The kind with this name and subject.
    pub fn from_parts(name: &str, subject: &str) -> Option<Self> {
        match name {
            "payment" => Some(Self::Payment(AttemptId::new(subject))),
            "refund" => Some(Self::Refund(RefundId::new(subject))),
            "authorization" => Some(Self::Authorization(AuthorizationId::new(subject))),
            "declaration" => Some(Self::Declaration(DeclarationId::new(subject))),
            "registration" => Some(Self::Registration(RegistrationId::new(subject))),
            _ => None,
        }
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name(), self.subject())
    }
}

/// Who holds a job, until when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobLease {
    /// The claim's token.
    pub token: LeaseToken,
    /// Until when the lease holds.
    pub until: Millis,
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
    /// How many times in a row it was taken without finishing (a run that ends by rescheduling
    /// counts as finished). Past the maximum, it is set aside as a dead letter.
    pub attempts: u32,
    /// The lease, while held.
    pub lease: Option<JobLease>,
}

/// Something the merchant's own systems must hear about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// The user authorized: the token is active.
    AuthorizationActive,
    /// The authorization needs the user again (refresh failed, token expired or rejected).
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
    /// The wallet needs the user before it can finish a payment: send them to the payment's
    /// `next_action` (once per attempt).
    PaymentActionRequired,
    /// A refund succeeded.
    RefundSucceeded,
    /// A refund was refused.
    RefundFailed,
    /// Something needs a person: the subject and the reason say what (an attention item).
    OperatorAttention,
    /// A webhook endpoint answered no delivery for days and was disabled: its events wait until
    /// it is enabled again (subject: the endpoint).
    WebhookEndpointDisabled,
    /// Alipay accepted a customs declaration (sent or re-sent); customs' answer comes later.
    CustomsDeclarationAccepted,
    /// Alipay refused a customs declaration (the detail is its result code).
    CustomsDeclarationFailed,
    /// Customs answered a declaration (the detail is customs' result code).
    CustomsDeclarationCompleted,
    /// Alipay accepted a secondary merchant's registration; the wallets' review comes later.
    SecondaryMerchantAccepted,
    /// Alipay refused a secondary merchant's registration (the detail is its result code).
    SecondaryMerchantFailed,
    /// The wallets' review of a secondary merchant ended (the detail is the overall status).
    SecondaryMerchantReviewed,
}

impl EventKind {
    /// Every kind.
    pub const ALL: [EventKind; 18] = [
        Self::AuthorizationActive,
        Self::AuthorizationNeedsReauthorization,
        Self::AuthorizationEnded,
        Self::AuthorizationFailed,
        Self::PaymentSucceeded,
        Self::PaymentFailed,
        Self::PaymentCancelled,
        Self::RefundSucceeded,
        Self::RefundFailed,
        Self::OperatorAttention,
        Self::WebhookEndpointDisabled,
        Self::CustomsDeclarationAccepted,
        Self::CustomsDeclarationFailed,
        Self::CustomsDeclarationCompleted,
        Self::SecondaryMerchantAccepted,
        Self::SecondaryMerchantFailed,
        Self::SecondaryMerchantReviewed,
        Self::PaymentActionRequired,
    ];

    /// The kind with this name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

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
            Self::PaymentActionRequired => "payment.action_required",
            Self::RefundSucceeded => "refund.succeeded",
            Self::RefundFailed => "refund.failed",
            Self::OperatorAttention => "operator.attention",
            Self::WebhookEndpointDisabled => "webhook_endpoint.disabled",
            Self::CustomsDeclarationAccepted => "customs_declaration.accepted",
            Self::CustomsDeclarationFailed => "customs_declaration.failed",
            Self::CustomsDeclarationCompleted => "customs_declaration.completed",
            Self::SecondaryMerchantAccepted => "secondary_merchant.accepted",
            Self::SecondaryMerchantFailed => "secondary_merchant.failed",
            Self::SecondaryMerchantReviewed => "secondary_merchant.reviewed",
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

impl Event {
    /// An event about `subject` at `at`.
    pub fn new(
        kind: EventKind,
        subject: impl fmt::Display,
        detail: Option<String>,
        at: Millis,
    ) -> Self {
        Self {
            kind,
            subject: subject.to_string(),
            detail,
            at,
        }
    }
}

/// What an attention item is about.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    /// An authorization.
    Authorization(AuthorizationId),
    /// An order (the merchant's payment) and its attempts.
    Order(OrderId),
    /// A refund.
    Refund(RefundId),
    /// A customs declaration.
    Declaration(DeclarationId),
    /// A secondary merchant's registration.
    Registration(RegistrationId),
    /// A job that was set aside.
    Job(JobId),
    /// A notification (by its inbox key, or the id it names).
    Notification(String),
}

impl Subject {
    /// The kind of subject, as stored.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Authorization(_) => "authorization",
            Self::Order(_) => "order",
            Self::Refund(_) => "refund",
            Self::Declaration(_) => "declaration",
            Self::Registration(_) => "registration",
            Self::Job(_) => "job",
            Self::Notification(_) => "notification",
        }
    }

    /// The subject's id.
    pub fn id(&self) -> &str {
        match self {
            Self::Authorization(id) => id.as_str(),
            Self::Order(id) => id.as_str(),
            Self::Refund(id) => id.as_str(),
            Self::Declaration(id) => id.as_str(),
            Self::Registration(id) => id.as_str(),
            Self::Job(id) => id.as_str(),
            Self::Notification(id) => id,
        }
    }

    /// The subject of this kind and id.
    pub fn from_parts(kind: &str, id: &str) -> Option<Self> {
        match kind {
            "authorization" => Some(Self::Authorization(AuthorizationId::new(id))),
            "order" => Some(Self::Order(OrderId::new(id))),
            "refund" => Some(Self::Refund(RefundId::new(id))),
            "declaration" => Some(Self::Declaration(DeclarationId::new(id))),
            "registration" => Some(Self::Registration(RegistrationId::new(id))),
            "job" => Some(Self::Job(JobId::new(id))),
            "notification" => Some(Self::Notification(id.to_owned())),
            _ => None,
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind(), self.id())
    }
}

/// What a person can do about an attention item (each is an operation of
/// [`crate::services::operator::Operator`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OperatorAction {
    /// Ask Alipay now where the payment or refund stands, and apply what it says.
    InquireNow,
    /// Send the cancel again now.
    RetryCancel,
    /// Refund the order (what is left of it).
    Refund,
    /// Close the item with a reason (after acting outside the system, e.g. with Alipay's support).
    Resolve,
}

impl OperatorAction {
    /// The action's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::InquireNow => "inquire_now",
            Self::RetryCancel => "retry_cancel",
            Self::Refund => "refund",
            Self::Resolve => "resolve",
        }
    }

    /// Every action.
    pub const ALL: [OperatorAction; 4] = [
        Self::InquireNow,
        Self::RetryCancel,
        Self::Refund,
        Self::Resolve,
    ];

    /// The action with this name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// How an attention item was closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution {
    /// When.
    pub at: Millis,
    /// Why (the person's reason, or what settled it on its own).
    pub reason: String,
}

/// Something a person must look at: what is wrong, what was tried, what they can do. At most one
/// open item per subject and code; raising it again updates it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttentionItem {
    /// Its id.
    pub id: AttentionId,
    /// What it is about.
    pub subject: Subject,
    /// A stable, machine-readable code (`payment_unresolved`, `cancel_refused`, …).
    pub code: String,
    /// What is wrong.
    pub reason: String,
    /// What the system tried (and is still trying, if anything).
    pub tried: String,
    /// What a person can do.
    pub actions: Vec<OperatorAction>,
    /// When it was raised first.
    pub opened_at: Millis,
    /// When it was raised or updated last.
    pub updated_at: Millis,
    /// How it was closed, once it was.
    pub resolution: Option<Resolution>,
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
    pub body: Body,
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
    /// What the command created (an authorization, order, attempt or refund id).
    pub resource: String,
    /// When.
    pub created_at: Millis,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_reach_debug() {
        let body = Body::new(r#"{"paymentMethodId":"tok-secret"}"#);
        assert_eq!(format!("{body:?}"), "Body(<32 bytes>)");
        let auth = Authorization {
            id: AuthorizationId::new("auth_1"),
            customer_id: "c".into(),
            wallet: CustomerBelongsTo::AlipayCn,
            terminal_type: TerminalType::Web,
            os_type: None,
            return_url: "https://m.example".into(),
            secondary_merchant: None,
            auth_state: AuthState::new("state-capability"),
            auth_url: None,
            qr_code: None,
            state: AuthorizationState::Active,
            token: Some(TokenSet {
                access_token: AccessToken::new("tok-secret"),
                access_expires_at: 1,
                refresh_token: Some(RefreshToken::new("ref-secret")),
                refresh_expires_at: None,
            }),
            pending_auth_code: Some(AuthCode::new("code-secret")),
            tries: 0,
            stray_token: Some(AccessToken::new("stray-secret")),
            consent_expires_at: None,
            user_login_id: None,
            failure: None,
            version: 0,
            created_at: 0,
            updated_at: 0,
        };
        let shown = format!("{auth:?}");
        for secret in [
            "state-capability",
            "tok-secret",
            "ref-secret",
            "code-secret",
            "stray-secret",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
    }

    #[test]
    fn names_round_trip() {
        for kind in [
            JobKind::Payment(AttemptId::new("a")),
            JobKind::Refund(RefundId::new("r")),
            JobKind::Authorization(AuthorizationId::new("z")),
        ] {
            assert_eq!(JobKind::from_parts(kind.name(), kind.subject()), Some(kind));
        }
        for action in OperatorAction::ALL {
            assert_eq!(OperatorAction::from_name(action.name()), Some(action));
        }
        let subject = Subject::Order(OrderId::new("pay_1"));
        assert_eq!(
            Subject::from_parts(subject.kind(), subject.id()),
            Some(subject)
        );
    }
}
