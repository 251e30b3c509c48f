//! Several `autodebit serve` processes on one database share the work: jobs are taken under
//! leases, so each due job runs once, on whichever server's worker takes it first, and every
//! server takes a part. Gateway mode: both servers talk to the test's sandbox and read its clock.

use ams_protocol::Api;
use ams_sandbox::{FaultAction, FaultRule};
use serde_json::Value;

use super::{DEMO_USER, Srv, prid, server_test};

server_test! {
    async fn two_servers_on_one_database_share_the_jobs_and_run_each_once(db) {
        const PAYMENTS: usize = 6;
        let s = Srv::gateway_with(&db, |c| {
            c.workers.count = 1;
            // One job per take, so a busy worker leaves the rest to the other server.
            c.schedule.batch = Some(1);
        })
        .await;
        let auth = s.bind().await;
        s.skip_payment_notifications();
        s.fault(FaultRule::new(Api::Pay, FaultAction::Drop).times(Some(PAYMENTS as u32)));
        let mut payments = Vec::new();
        for n in 0..PAYMENTS {
            let p = s.charge(&auth, &format!("rp-{n}"), 100 + n as u64).await;
            assert_eq!(p.str("status"), "processing", "{}", p.body);
            payments.push(p.body);
        }
        let mut counters = Vec::new();
        for p in &payments {
            counters.push(s.count_calls(Api::InquiryPayment, &prid(p, 0)).await);
        }
        // Each inquiry keeps its worker busy for a while.
        s.fault(FaultRule::new(Api::InquiryPayment, FaultAction::Delay { ms: 300 }).times(None));

        let other = s.another().await;
        let before = (s.server().jobs_done(), other.jobs_done());
        // Every payment's first inquiry falls due at once.
        s.advance(3_000);
        for p in &payments {
            let id = p["id"].as_str().expect("id");
            let done = s
                .until(&format!("/v1/payments/{id}"), |p: &Value| p["status"] != "processing")
                .await;
            assert_eq!(done["status"], "succeeded", "{done}");
        }
        let ran = (
            s.server().jobs_done() - before.0,
            other.jobs_done() - before.1,
        );
        assert!(ran.0 > 0 && ran.1 > 0, "both servers took jobs: {ran:?}");
        // Each payment was inquired once: no job ran on both servers.
        let counts = s.fault_counts().await;
        for (p, at) in payments.iter().zip(&counters) {
            assert_eq!(counts[*at].0, 1, "inquiries of {}", prid(p, 0));
        }
        let stopped = other.shutdown().await;
        assert!(stopped.workers_stopped, "{stopped:?}");
        s.settle().await;
        assert_eq!(s.sandbox().ledger(None, Some(DEMO_USER)).debits, PAYMENTS as u32);
    }
}
