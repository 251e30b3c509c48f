//! Every public flow's future can be spawned on a multi-threaded runtime (`Send + 'static` once
//! its inputs are owned): the server runs them from request handlers and workers. This does not
//! compile when a flow holds something that is not `Send` across an `.await`, or when the compiler
//! cannot prove it (as it could not for futures built on async closures).

use std::sync::Arc;

use ams_protocol::{Amount, AuthCode, AuthState, Currency};
use autodebit_domain::model::{AttentionId, AuthorizationId, Body, OrderId, RefundId};
use autodebit_domain::ports::RawNotification;
use autodebit_domain::services::Context;
use autodebit_domain::services::authorizations::{Authorizations, StartAuthorization};
use autodebit_domain::services::jobs::Jobs;
use autodebit_domain::services::notifications::Notifications;
use autodebit_domain::services::operator::Operator;
use autodebit_domain::services::payments::{ChargeCommand, Payments, RetryCommand};
use autodebit_domain::services::refunds::{RefundCommand, Refunds};
use autodebit_domain::testing::{InMemoryStore, ManualClock, ScriptedGateway};

fn spawnable<F: std::future::Future + Send + 'static>(_: F) {}

#[test]
fn every_flow_can_be_spawned() {
    let ctx = Context::new(
        Arc::new(InMemoryStore::new()),
        Arc::new(ScriptedGateway::new()),
        Arc::new(ManualClock::new(0)),
    );
    let order = OrderId::new("pay_1");
    let usd = Amount::new(Currency::USD, 1);
    let (p, c) = (Payments::new(ctx.clone()), ctx.clone());
    spawnable(async move {
        let _ = p
            .charge(ChargeCommand {
                idempotency_key: "k".into(),
                authorization_id: AuthorizationId::new("a"),
                reference: "r".into(),
                description: "d".into(),
                amount: usd,
                return_url: None,
            })
            .await;
        let _ = p
            .retry(RetryCommand {
                idempotency_key: "k".into(),
                order_id: OrderId::new("o"),
            })
            .await;
        let _ = p.cancel(&OrderId::new("o")).await;
        let _ = p.payment(&OrderId::new("o")).await;
        drop(c);
    });
    let jobs = Jobs::new(ctx.clone());
    spawnable(async move {
        let _ = jobs.run_due().await;
    });
    let notifications = Notifications::new(ctx.clone());
    spawnable(async move {
        let raw = RawNotification {
            path: "/n".into(),
            headers: Vec::new(),
            body: Body::new("{}"),
        };
        let _ = notifications.receive(&raw).await;
    });
    let auths = Authorizations::new(ctx.clone());
    spawnable(async move {
        let _ = auths
            .start(StartAuthorization {
                customer_id: "c".into(),
                wallet: ams_protocol::CustomerBelongsTo::AlipayCn,
                terminal: ams_protocol::TerminalType::Web,
                os: None,
                return_url: "https://m.example".into(),
                secondary_merchant: None,
            })
            .await;
        let _ = auths
            .complete_with_code(&AuthState::new("s"), &AuthCode::new("c"))
            .await;
        let _ = auths.decline(&AuthState::new("s")).await;
        let _ = auths.revoke(&AuthorizationId::new("a")).await;
    });
    let refunds = Refunds::new(ctx.clone());
    spawnable(async move {
        let _ = refunds
            .refund(RefundCommand {
                idempotency_key: "k".into(),
                order_id: order,
                amount: usd,
                reason: None,
            })
            .await;
        let _ = refunds.refund_view(&RefundId::new("r")).await;
    });
    let operator = Operator::new(ctx);
    spawnable(async move {
        let _ = operator.attention(None, 10).await;
        let _ = operator.inquire_now(&OrderId::new("o")).await;
        let _ = operator.inquire_refund_now(&RefundId::new("r")).await;
        let _ = operator.retry_cancel(&OrderId::new("o")).await;
        let _ = operator.resolve(&AttentionId::new("x"), "done").await;
    });
}
