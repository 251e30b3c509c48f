//! Auto Debit done right once: the lifecycles, the result-code decisions and the flows.
//!
//! This crate is the heart of the product. It holds what the seed documents ask of every merchant —
//! the authorization and token lifecycle, payment attempts resolved by inquiry, cancel,
//! confirmation and, past the cancel window, refund; refunds; notifications verified and applied
//! exactly once; request ids that are unique and never sequential — as plain code over ports, so no
//! merchant has to hand-roll it again. It depends on `ams-protocol` and no transport, runtime or
//! database: the adapters (`autodebit-alipay` over `ams-client`, `autodebit-store` over sqlx) live
//! above it, and `cargo xtask layers` checks its whole dependency tree.
//!
//! - [`lifecycle`]: closed enums with one transition function each ([`lifecycle::authorization`],
//!   [`lifecycle::attempt`], [`lifecycle::order`], [`lifecycle::refund`]).
//! - [`decision`]: the table from (API, result status, result code) to what to do.
//! - [`services`]: the flows, over a [`services::Context`] of ports, and the job runner.
//! - [`ports`]: the gateway, the notification verifier, the store (a unit of work over
//!   repositories, one job per subject, attention items, the inbox and the outbox), the clock and
//!   the random source.
//! - [`model`]: the records the flows keep; [`request_ids`]: seed 004's request ids.
//! - `testing` (feature `test-util`): an in-memory store, a manual clock, a scripted gateway, the
//!   store contract any store runs.
//!
//! The public API carries no IO types (no sqlx, axum or reqwest).
//!
//! # The flows
//!
//! **Bind a wallet** ([`services::authorizations`]). `start` makes an unguessable `authState`,
//! calls `consult`, stores the authorization and returns the URL (or Scan to Bind's QR value) for
//! the user. The auth code comes back with the redirect or with `AUTHCODE_CREATED`; the first one
//! is stored with the authorization's job and exchanged (`applyToken`) under the job's lease, the
//! second does nothing. The job then keeps the token alive, expires what waits too long, and
//! revokes a token Alipay issued that we do not hold; `revoke` and `TOKEN_CANCELED` end it.
//!
//! **Charge** ([`services::payments`]). One unit of work checks the merchant's idempotency key, the
//! reference (one order per reference, at most one attempt not final), and that the authorization
//! is `active`, and stores the order and a payment attempt with a fresh `paymentRequestId` and its
//! exact `pay` body. The attempt moves to `Sent` in a committed unit of work **before** `pay`
//! leaves. `S` → succeeded; `F` → failed (an invalid token makes the authorization invalid); `U`,
//! no answer, or `REPEAT_REQ_INCONSISTENT` → `inquiryPayment` every 3 s, up to 20 times, then
//! `cancel` (same `paymentRequestId`), retried every 5–10 s for 60 s and then with growing waits
//! until the cancel window (00:15 UTC+8 the day after the payment) closes; a cancel answered
//! `ORDER_NOT_EXIST` before the payment's expiry proves nothing; a cancel that cannot be done →
//! the payment is inquired until final, and refunded if it was paid.
//!
//! **Notifications** ([`services::notifications`]). Taken only as raw bytes and verified by the
//! port before anything is believed; stored in the inbox under a deduplication key in the unit of
//! work that applies them; a payment notification whose amount or currency differs is refused and
//! flagged; the rest goes through the same transitions as answers and inquiries.
//!
//! **Refund** ([`services::refunds`]). Its own `refundRequestId` and exact body; never more than
//! paid minus what is refunded or being refunded, never beside a cancel; `U` or no answer → the
//! same bytes again every 5–10 s for 60 s, then `inquiryRefund` until it settles.
//!
//! **Jobs** ([`services::jobs`]). Every piece of future work is a job written with the state change
//! that needs it, one per subject, claimed in due order under a lease token of its own, renewed
//! right before each call to Alipay; a crash at any point leaves a job that finishes the work; a
//! job that keeps failing, or cannot be read, is set aside for a person and the rest go on.
//!
//! **People** ([`services::operator`]). What needs a person is an attention item saying what is
//! wrong, what was tried, and what can be done (inquire now, retry the cancel, refund, resolve).
//! No path waits on a person to keep the money right.
//!
//! # Invariants
//!
//! - No call to Alipay without a committed intent, and no sent call without a durable job that
//!   resolves it; no call under a lease that could not be renewed.
//! - Nothing is charged on an authorization that is not `active` (checked when the attempt is
//!   stored and again when it is sent).
//! - One `paymentRequestId` per attempt, never reused, always with the same bytes. A new attempt of
//!   an order gets a new id, and only when every earlier one is failed or cancelled.
//! - An unknown outcome is never treated as failed; "no such payment" is believed only after the
//!   payment's expiry (plus a margin) has passed; nothing that is not final is left without a job.
//! - Every answer is bound to its request (`paymentRequestId`/`refundRequestId`, amount, currency)
//!   before it is applied.
//! - Every state change is a compare-and-set; a lost race re-reads and re-applies the event, so a
//!   notification and an inquiry racing apply a result once. A final state never moves backwards.
//! - A fact that contradicts the state is never applied: it is flagged for a person.
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
//! use ams_protocol::{Amount, Currency, PaymentStatus};
//! use autodebit_domain::model::AuthorizationId;
//! use autodebit_domain::services::Context;
//! use autodebit_domain::services::jobs::Jobs;
//! use autodebit_domain::services::payments::{ChargeCommand, Payments, Status};
//! use autodebit_domain::testing::{InMemoryStore, ManualClock, ScriptedGateway, replies, seed};
//!
//! # tokio_test_block_on(async {
//! let now = 1_709_258_400_000;
//! let (store, gateway, clock) = (InMemoryStore::new(), Arc::new(ScriptedGateway::new()), ManualClock::new(now));
//! seed::insert(&store, &seed::active_authorization("auth_1", "tok", now)).await.unwrap();
//! let ctx = Context::new(Arc::new(store.clone()), gateway.clone(), Arc::new(clock.clone()));
//! let amount = Amount::new(Currency::USD, 1_000);
//! gateway.push_pay(replies::lost());
//! gateway.push_inquiry_payment(replies::inquiry(PaymentStatus::Success, "pid-1", amount));
//!
//! let payments = Payments::new(ctx.clone());
//! let charged = payments
//!     .charge(ChargeCommand {
//!         idempotency_key: "order-42".into(),
//!         authorization_id: AuthorizationId::new("auth_1"),
//!         reference: "order-42".into(),
//!         description: "Monthly plan".into(),
//!         amount,
//!         return_url: None,
//!     })
//!     .await
//!     .unwrap();
//! assert_eq!(charged.status(), Status::Processing); // never "failed"
//!
//! clock.advance(3_000); // the first inquiry is due
//! Jobs::new(ctx).run_due().await.unwrap();
//! assert_eq!(payments.payment(&charged.order.id).await.unwrap().status(), Status::Succeeded);
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! # }
//! ```

pub mod decision;
pub mod lifecycle;
pub mod model;
pub mod ports;
pub mod request_ids;
pub mod services;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
