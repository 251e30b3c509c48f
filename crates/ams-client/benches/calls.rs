//! Calls per second against the in-process sandbox: `inquiryPayment` end to end — serialise, sign
//! (RSA-2048), HTTP/1.1 over loopback, the sandbox verifying, answering and signing, then the client
//! verifying the answer and parsing it — one at a time, and 16 in flight.
//!
//! Run with `cargo bench -p ams-client --bench calls`. Client and sandbox share one multi-thread
//! Tokio runtime (one worker per core), so the figures are what one machine does playing both sides;
//! each side's RSA signature dominates.

use std::hint::black_box;

use ams_protocol::{Amount, Currency, CustomerBelongsTo, InquiryPaymentRequest, PaymentStatus};
use ams_sandbox::UserSpec;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokio::task::JoinSet;

// Binding and charging the wallet is the example's code.
#[allow(dead_code, reason = "only the example's setup steps are used here")]
#[path = "../examples/bind_and_charge.rs"]
mod bind_and_charge;

/// Calls in flight in the concurrent variant.
const IN_FLIGHT: u64 = 16;
const PAYMENT_REQUEST_ID: &str = "PAY_BENCH_0001";

fn calls(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (sandbox, client) = runtime.block_on(async {
        let sandbox = bind_and_charge::start_sandbox().await.expect("sandbox");
        let user = "bench@example.com";
        sandbox
            .create_user(UserSpec::new(
                user,
                CustomerBelongsTo::AlipayCn,
                vec![Amount::new(Currency::USD, 10_000)],
            ))
            .expect("user");
        let client = bind_and_charge::client_for(&sandbox).expect("client");
        let token = bind_and_charge::bind(&client, user, &mut std::io::sink())
            .await
            .expect("bind");
        bind_and_charge::charge(
            &client,
            &token,
            PAYMENT_REQUEST_ID,
            Amount::new(Currency::USD, 1_000),
            &mut std::io::sink(),
        )
        .await
        .expect("pay");
        (sandbox, client)
    });
    let inquiry = InquiryPaymentRequest::by_payment_request_id(PAYMENT_REQUEST_ID);
    let first = runtime
        .block_on(client.execute(&inquiry))
        .expect("inquiryPayment");
    assert_eq!(
        first.into_response().payment_status,
        Some(PaymentStatus::Success)
    );

    let mut group = c.benchmark_group("inquiryPayment");
    group.throughput(Throughput::Elements(1));
    group.bench_function("sequential", |b| {
        b.iter(|| {
            let outcome = runtime
                .block_on(client.execute(black_box(&inquiry)))
                .expect("an answer");
            assert!(outcome.is_success());
        });
    });
    group.throughput(Throughput::Elements(IN_FLIGHT));
    group.bench_function(format!("concurrent_{IN_FLIGHT}"), |b| {
        b.iter(|| {
            runtime.block_on(async {
                let mut calls = JoinSet::new();
                for _ in 0..IN_FLIGHT {
                    let client = client.clone();
                    let inquiry = inquiry.clone();
                    calls.spawn(async move { client.execute(&inquiry).await });
                }
                while let Some(done) = calls.join_next().await {
                    assert!(done.expect("task").expect("an answer").is_success());
                }
            });
        });
    });
    group.finish();
    drop(sandbox);
}

criterion_group!(benches, calls);
criterion_main!(benches);
