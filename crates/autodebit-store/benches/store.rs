//! State transitions and job claims per second, on SQLite (a file in a temporary directory) and,
//! when `AUTODEBIT_TEST_DATABASE_URL` names a server, on PostgreSQL (a fresh schema).
//!
//! Run with `cargo bench -p autodebit-store --bench store`. Every commit is durable: SQLite
//! `synchronous=FULL` (an fsync of the WAL per commit), PostgreSQL `synchronous_commit=on`.
//!
//! - `transition`: one unit of work as the flows write it: read an attempt, compare-and-set it to
//!   a new state, schedule its job (an upsert at commit) and push the event the change creates,
//!   commit. Sequential, and 16 units of work in flight on different attempts.
//! - `claim`: take one due job under a lease (`claim_jobs` with limit 1) from a queue 10,000 deep
//!   (only the claim is timed); and `claim_and_complete`: take one and complete it in its own unit
//!   of work, as a worker does.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ams_protocol::{
    Amount, AuthState, Currency, CustomerBelongsTo, PaymentRequestId, TerminalType,
};
use autodebit_domain::lifecycle::attempt::AttemptState;
use autodebit_domain::lifecycle::authorization::AuthorizationState;
use autodebit_domain::lifecycle::order::OrderState;
use autodebit_domain::model::{
    AttemptId, Authorization, AuthorizationId, Body, Event, EventKind, Job, JobKind, LeaseToken,
    Order, OrderId, PaymentAttempt,
};
use autodebit_domain::ports::{Claim, Store};
use autodebit_store::{Keyring, SqlStore, StoreOptions};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tokio::runtime::Runtime;
use tokio::task::JoinSet;

const T0: i64 = 1_704_067_200_000;
const IN_FLIGHT: usize = 16;

struct Target {
    name: &'static str,
    store: SqlStore,
    _dir: Option<tempfile::TempDir>,
    /// PostgreSQL: the URL and the schema to drop afterwards.
    schema: Option<(String, String)>,
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Some((url, schema)) = &self.schema {
            let _ = std::process::Command::new("psql")
                .args(["--no-psqlrc", "-q", "--dbname", url, "-c"])
                .arg(format!(
                    "SET lock_timeout = '2s'; DROP SCHEMA IF EXISTS {schema} CASCADE"
                ))
                .output();
        }
    }
}

fn suffix() -> String {
    Keyring::generate_entry(0)
        .expect("random")
        .chars()
        .skip(2)
        .filter(char::is_ascii_alphanumeric)
        .take(12)
        .collect::<String>()
        .to_ascii_lowercase()
}

fn targets(runtime: &Runtime) -> Vec<Target> {
    let keys = || Keyring::parse(&Keyring::generate_entry(1).expect("key")).expect("keys");
    let mut out = Vec::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = runtime
        .block_on(SqlStore::open(StoreOptions::new(url), keys()))
        .expect("sqlite");
    out.push(Target {
        name: "sqlite",
        store,
        _dir: Some(dir),
        schema: None,
    });
    match std::env::var("AUTODEBIT_TEST_DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => {
            let schema = format!("autodebit_bench_{}", suffix());
            let options = StoreOptions::new(url.clone())
                .schema(schema.clone())
                .max_connections(u32::try_from(IN_FLIGHT).expect("small"));
            let store = runtime
                .block_on(SqlStore::open(options, keys()))
                .expect("postgres");
            out.push(Target {
                name: "postgres",
                store,
                _dir: None,
                schema: Some((url, schema)),
            });
        }
        _ => eprintln!("AUTODEBIT_TEST_DATABASE_URL is not set: PostgreSQL not measured"),
    }
    out
}

fn attempt(n: usize) -> PaymentAttempt {
    PaymentAttempt {
        id: AttemptId::new(format!("attempt-{n}")),
        order_id: OrderId::new("order-1"),
        payment_request_id: PaymentRequestId::new(format!("prid-{n}")),
        request_body: Body::new(format!(
            r#"{{"paymentRequestId":"prid-{n}","paymentMethod":{{"paymentMethodType":"ALIPAY_CN","paymentMethodId":"281010033AB2F588D14B43238637264FCA5A0001"}},"paymentAmount":{{"currency":"USD","value":"1000"}}}}"#
        )),
        amount: Amount::new(Currency::USD, 1_000),
        state: AttemptState::Sent,
        payment_id: None,
        result_code: None,
        inquiries: 0,
        late_success: false,
        wallet_action: None,
        cancel_reason: None,
        cancel_started_at: None,
        expires_at: T0 + 60_000,
        version: 0,
        created_at: T0,
        updated_at: T0,
    }
}

async fn seed(store: &SqlStore) {
    let mut tx = store.begin().await.expect("begin");
    tx.insert_authorization(&Authorization {
        id: AuthorizationId::new("auth-1"),
        customer_id: "cust-1".into(),
        wallet: CustomerBelongsTo::AlipayCn,
        terminal_type: TerminalType::Web,
        os_type: None,
        return_url: "https://merchant.example/done".into(),
        secondary_merchant: None,
        auth_state: AuthState::new("state-1"),
        auth_url: None,
        qr_code: None,
        state: AuthorizationState::Active,
        token: None,
        pending_auth_code: None,
        tries: 0,
        stray_token: None,
        consent_expires_at: None,
        user_login_id: None,
        failure: None,
        version: 0,
        created_at: T0,
        updated_at: T0,
    })
    .await
    .expect("authorization");
    tx.insert_order(&Order {
        id: OrderId::new("order-1"),
        authorization_id: AuthorizationId::new("auth-1"),
        reference: "ref-1".into(),
        description: "bench".into(),
        amount: Amount::new(Currency::USD, 1_000),
        state: OrderState::Pending,
        refunded: 0,
        return_url: None,
        version: 0,
        created_at: T0,
        updated_at: T0,
    })
    .await
    .expect("order");
    for n in 0..IN_FLIGHT {
        tx.insert_attempt(&attempt(n)).await.expect("attempt");
    }
    tx.commit().await.expect("commit");
}

/// One state change with the job and the event it creates.
async fn transition(store: &SqlStore, n: usize) {
    let id = AttemptId::new(format!("attempt-{n}"));
    let mut tx = store.begin().await.expect("begin");
    let mut a = tx.attempt(&id).await.expect("read").expect("exists");
    a.state = if a.state == AttemptState::Sent {
        AttemptState::Unknown
    } else {
        AttemptState::Sent
    };
    a.updated_at += 1;
    assert!(tx.update_attempt(&a).await.expect("update"), "uncontended");
    tx.schedule_job(JobKind::Payment(id.clone()), a.updated_at + 3_000)
        .await
        .expect("job");
    tx.push_event(&Event {
        kind: EventKind::OperatorAttention,
        subject: id.to_string(),
        detail: None,
        at: a.updated_at,
    })
    .await
    .expect("event");
    tx.commit().await.expect("commit");
}

/// Queue subjects, numbered across the whole run: one job per subject.
static QUEUED: AtomicU64 = AtomicU64::new(0);

async fn fill_queue(store: &SqlStore, jobs: u64) {
    let mut left = jobs;
    while left > 0 {
        let mut tx = store.begin().await.expect("begin");
        for _ in 0..left.min(1_000) {
            let n = QUEUED.fetch_add(1, Ordering::Relaxed);
            tx.schedule_job(JobKind::Payment(AttemptId::new(format!("q{n}"))), T0)
                .await
                .expect("schedule");
        }
        tx.commit().await.expect("commit");
        left = left.saturating_sub(1_000);
    }
}

fn claim(token: &str, now: i64, limit: u32) -> Claim {
    Claim {
        now,
        token: LeaseToken::new(token),
        lease_ms: 3_600_000,
        limit,
        max_attempts: u32::MAX,
    }
}

async fn complete(store: &SqlStore, jobs: &[Job], token: &str) {
    let mut tx = store.begin().await.expect("begin");
    for job in jobs {
        assert!(
            tx.complete_job(&job.id, &LeaseToken::new(token))
                .await
                .expect("complete")
        );
    }
    tx.commit().await.expect("commit");
}

/// Takes every job left (whenever due) and completes it.
async fn drain(store: &SqlStore) {
    loop {
        let jobs = store
            .claim_jobs(&claim("drain", T0 + 1_000_000_000_000, 1_000))
            .await
            .expect("claim");
        if jobs.is_empty() {
            break;
        }
        complete(store, &jobs, "drain").await;
    }
}

#[allow(
    clippy::disallowed_methods,
    reason = "a benchmark measures wall-clock time"
)]
fn timed<F: std::future::Future<Output = ()>>(runtime: &Runtime, work: F) -> Duration {
    let started = std::time::Instant::now();
    runtime.block_on(work);
    started.elapsed()
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let targets = targets(&runtime);
    for target in &targets {
        runtime.block_on(seed(&target.store));
    }

    let mut group = c.benchmark_group("transition");
    group.measurement_time(Duration::from_secs(8));
    for target in &targets {
        let store = &target.store;
        group.throughput(Throughput::Elements(1));
        group.bench_function(BenchmarkId::new("sequential", target.name), |b| {
            b.iter(|| runtime.block_on(transition(black_box(store), 0)));
        });
        group.throughput(Throughput::Elements(IN_FLIGHT as u64));
        group.bench_function(
            BenchmarkId::new(format!("concurrent_{IN_FLIGHT}"), target.name),
            |b| {
                b.iter(|| {
                    runtime.block_on(async {
                        let mut set = JoinSet::new();
                        for n in 0..IN_FLIGHT {
                            let store = store.clone();
                            set.spawn(async move { transition(&store, n).await });
                        }
                        while let Some(done) = set.join_next().await {
                            done.expect("task");
                        }
                    });
                });
            },
        );
        runtime.block_on(drain(store));
    }
    group.finish();

    let mut group = c.benchmark_group("jobs");
    group.measurement_time(Duration::from_secs(8));
    group.throughput(Throughput::Elements(1));
    for target in &targets {
        let store = &target.store;
        // A deep queue: 10,000 due jobs behind the ones claimed.
        runtime.block_on(fill_queue(store, 10_000));
        group.bench_function(BenchmarkId::new("claim", target.name), |b| {
            b.iter_custom(|iters| {
                runtime.block_on(fill_queue(store, iters));
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    // Only the claim is timed; the job is then completed, untimed, so leased
                    // jobs do not pile up in front of the queue (a worker completes its jobs).
                    let mut claimed = Vec::new();
                    total += timed(&runtime, async {
                        claimed = store
                            .claim_jobs(&claim("bench", T0, 1))
                            .await
                            .expect("claim");
                    });
                    assert_eq!(claimed.len(), 1);
                    runtime.block_on(complete(store, &claimed, "bench"));
                }
                total
            });
        });
        group.bench_function(BenchmarkId::new("claim_and_complete", target.name), |b| {
            b.iter_custom(|iters| {
                runtime.block_on(fill_queue(store, iters));
                timed(&runtime, async {
                    for _ in 0..iters {
                        let jobs = store
                            .claim_jobs(&claim("worker", T0, 1))
                            .await
                            .expect("claim");
                        assert_eq!(jobs.len(), 1);
                        complete(store, &jobs, "worker").await;
                    }
                })
            });
        });
        runtime.block_on(drain(store));
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
