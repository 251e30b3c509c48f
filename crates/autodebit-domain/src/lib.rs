//! Auto Debit done right once: the lifecycles, the result-code decisions and the flows.
//!
//! This crate is the heart of the product. It holds what the seed documents ask of every merchant —
//! the authorization and token lifecycle, payment attempts resolved by inquiry then cancel, refunds,
//! notifications applied exactly once, request ids that are unique and never sequential — as plain
//! code over ports, so no merchant has to hand-roll it again.
//!
//! - [`lifecycle`]: closed enums with one transition function each ([`lifecycle::authorization`],
//!   [`lifecycle::attempt`], [`lifecycle::order`], [`lifecycle::refund`]).
//! - [`decision`]: the table from (API, result status, result code) to what to do.
//! - [`services`]: the flows, over a [`services::Context`] of ports.
//! - [`ports`]: the gateway (implemented for `ams_client::AmsClient` in [`gateway`]), the store (a
//!   unit of work over repositories, jobs, the inbox and the outbox), the clock, request ids.
//! - [`model`]: the records the flows keep; [`request_ids`]: seed 004's request ids.
//! - `testing` (feature `test-util`): an in-memory store, a manual clock and a scripted gateway.
//!
//! The public API carries no IO types (no sqlx, axum or reqwest).
//!
//! # The flows
//!
//! **Bind a wallet** ([`services::authorizations`]). `start` makes an unguessable `authState`,
//! calls `consult`, stores the authorization and returns the URL for the user. The auth code comes
//! back with the redirect or with `AUTHCODE_CREATED`; the first one is stored with an
//! `ExchangeCode` job and exchanged (`applyToken`), the second does nothing. A failed authorization
//! is restarted as a new one with a new `authState`. A `RefreshToken` job refreshes the access token
//! before it expires (or marks the authorization *needs re-authorization*); `revoke` and
//! `TOKEN_CANCELED` end it.
//!
//! **Charge** ([`services::payments`]). One unit of work checks the merchant's idempotency key and
//! that the authorization is `active`, and stores the order and a payment attempt with a fresh
//! `paymentRequestId` and its exact `pay` body. The attempt moves to `Sent`, with a job to resolve
//! it, in a committed unit of work **before** `pay` leaves. `S` → succeeded; `F` → failed (an
//! invalid token makes the authorization invalid); `U` or no answer → `inquiryPayment` every 3 s,
//! up to 20 times, then `cancel` (same `paymentRequestId`), retried every 5–10 s for 60 s inside the
//! cancel window (00:15 UTC+8 the day after the payment), then an operator; surely not sent → sent
//! again with the same body.
//!
//! **Notifications** ([`services::notifications`]). Stored in the inbox under a deduplication key
//! in the unit of work that applies them; a payment notification whose amount or currency differs
//! is refused and flagged; the rest goes through the same transitions as answers and inquiries.
//!
//! **Refund** ([`services::refunds`]). Its own `refundRequestId` and exact body; never more than
//! paid minus what is refunded or being refunded; `U` or no answer → the same body again every
//! 5–10 s for 60 s, then `inquiryRefund`, then an operator.
//!
//! **Jobs** ([`services::payments::Payments::run_due_jobs`]). Every piece of future work is a job
//! written with the state change that needs it, claimed in due order under a lease; a crash at any
//! point leaves a job that finishes the work.
//!
//! # Invariants
//!
//! - No call to Alipay without a committed intent, and no sent call without a durable job that
//!   resolves it.
//! - Nothing is charged on an authorization that is not `active` (checked when the attempt is
//!   stored and again when it is sent).
//! - One `paymentRequestId` per attempt, never reused, always with the same body; a retry resends
//!   those bytes. A new attempt gets a new id.
//! - An unknown outcome is never treated as failed: it is inquired, then cancelled.
//! - Every state change is a compare-and-set; a lost race re-reads and re-applies the event, so a
//!   notification and an inquiry racing apply a result once. A final state never moves backwards;
//!   a success after a cancel is recorded (`late_success`), never a second success.
//! - A fact that contradicts the state is never applied: it is flagged for an operator.
//! - The same merchant idempotency key with the same parameters returns the same resource; with
//!   other parameters it is refused.
//!
//! # Example
//!
//! Charging with the test doubles (feature `test-util`), the answer lost, resolved by inquiry:
//!
//! ```
//! # #[cfg(feature = "test-util")]
//! # {
//! use std::sync::Arc;
//!
//! use ams_protocol::{AccessToken, Amount, Currency, CustomerBelongsTo, PaymentStatus, TerminalType};
//! use autodebit_domain::lifecycle::attempt::AttemptState;
//! use autodebit_domain::lifecycle::authorization::AuthorizationState;
//! use autodebit_domain::model::{Authorization, AuthorizationId, TokenSet};
//! use autodebit_domain::ports::Store;
//! use autodebit_domain::services::Context;
//! use autodebit_domain::services::payments::{ChargeCommand, Payments};
//! use autodebit_domain::testing::{InMemoryStore, ManualClock, ScriptedGateway, replies};
//!
//! # tokio_test_block_on(async {
//! let now = 1_709_258_400_000;
//! let (store, gateway, clock) = (InMemoryStore::new(), Arc::new(ScriptedGateway::new()), ManualClock::new(now));
//! let ctx = Context::new(Arc::new(store.clone()), gateway.clone(), Arc::new(clock.clone()));
//! # let mut tx = store.begin().await.unwrap();
//! # tx.insert_authorization(&Authorization {
//! #     id: AuthorizationId::new("auth-1"), customer_id: "c".into(), wallet: CustomerBelongsTo::AlipayCn,
//! #     terminal_type: TerminalType::Web, os_type: None, return_url: "https://m.example".into(),
//! #     auth_state: "s".into(), auth_url: None, state: AuthorizationState::Active,
//! #     token: Some(TokenSet { access_token: AccessToken::new("tok"), access_expires_at: now + 86_400_000,
//! #         refresh_token: None, refresh_expires_at: None }),
//! #     pending_auth_code: None, user_login_id: None, failure: None, version: 0, created_at: now, updated_at: now,
//! # }).await.unwrap();
//! # tx.commit().await.unwrap();
//! let amount = Amount::new(Currency::USD, 1_000);
//! gateway.push_pay(replies::lost());
//! gateway.push_inquiry_payment(replies::inquiry(PaymentStatus::Success, "pid-1", amount));
//!
//! let payments = Payments::new(ctx);
//! let charged = payments
//!     .charge(ChargeCommand {
//!         idempotency_key: "order-42".into(),
//!         authorization_id: AuthorizationId::new("auth-1"),
//!         reference: "order-42".into(),
//!         description: "Monthly plan".into(),
//!         amount,
//!     })
//!     .await
//!     .unwrap();
//! assert_eq!(charged.attempt_state, AttemptState::Unknown); // never "failed"
//!
//! clock.advance(3_000); // the first inquiry is due
//! payments.run_due_jobs("worker-1", now + 3_000).await.unwrap();
//! assert_eq!(payments.status(&charged.order_id).await.unwrap().attempt_state, AttemptState::Succeeded);
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! # }
//! ```

pub mod decision;
pub mod gateway;
pub mod lifecycle;
pub mod model;
pub mod ports;
pub mod request_ids;
pub mod services;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
