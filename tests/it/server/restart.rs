//! Graceful shutdown and restart, in gateway mode (the sandbox, Alipay's side, outlives the
//! server): requests under way finish; what is processing at shutdown (a payment, a refund) is
//! resolved by the server started again on the same database; jobs a worker had taken but not
//! started are given back at shutdown, so the next server takes them at once (not when their
//! leases would have ended).

use std::time::Duration;

use ams_protocol::Api;
use ams_sandbox::{FaultAction, FaultRule};
use serde_json::{Value, json};

use super::{DEMO_USER, Srv, prid, server_test};

fn settled(p: &Value) -> bool {
    p["status"] != "processing"
}

server_test! {
    async fn what_is_processing_at_shutdown_is_resolved_after_a_restart(db) {
        let mut s = Srv::gateway(&db).await;
        let auth = s.bind().await;
        s.skip_payment_notifications();
        s.sandbox().add_notification_fault(
            ams_sandbox::NotificationFaultRule::new(
                Some(ams_sandbox::NotificationKind::Refund),
                ams_sandbox::NotificationFaultAction::Skip,
            )
            .times(None),
        );
        let paid = s.charge(&auth, "rs-0", 2_000).await;
        assert_eq!(paid.str("status"), "succeeded");
        // A payment and a refund whose answers were lost after they took effect.
        s.fault(FaultRule::new(Api::Pay, FaultAction::Drop));
        let pending = s.charge(&auth, "rs-1", 1_000).await;
        assert_eq!(pending.str("status"), "processing");
        s.fault(FaultRule::new(Api::Refund, FaultAction::Http500));
        let refund = s.post(&format!("/v1/payments/{}/refunds", paid.str("id")), "rs-0-re", json!({"amount": 500})).await;
        assert_eq!(refund.str("status"), "processing", "{}", refund.body);

        let stopped = s.stop().await;
        assert!(stopped.requests_drained && stopped.workers_stopped, "{stopped:?}");
        let down = reqwest::Client::new().get(format!("{}/healthz", s.url())).send().await;
        assert!(down.is_err(), "nothing listens after shutdown");
        // Alipay goes on meanwhile.
        s.advance(60_000);

        s.start_again().await;
        assert_eq!(s.get("/readyz").await.status, 200);
        let done = s.drive(&format!("/v1/payments/{}", pending.str("id")), settled).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        let done = s.drive(&format!("/v1/refunds/{}", refund.str("id")), settled).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        assert_eq!(s.ledger(&prid(&pending.body, 0)), (1, 0));
        assert_eq!(s.ledger(&prid(&paid.body, 0)), (1, 1));
        // The API key and the authorization survive: charging goes on.
        let more = s.charge(&auth, "rs-2", 300).await;
        assert_eq!(more.str("status"), "succeeded", "{}", more.body);
        s.settle().await;
        assert_eq!(s.balance(), 100_000 - 2_000 + 500 - 1_000 - 300);
    }
}

server_test! {
    async fn jobs_taken_but_not_started_are_given_back_and_taken_at_once(db) {
        let mut s = Srv::gateway_with(&db, |c| c.workers.count = 1).await;
        let auth = s.bind().await;
        s.skip_payment_notifications();
        s.fault(FaultRule::new(Api::Pay, FaultAction::Drop).times(Some(2)));
        let a = s.charge(&auth, "gb-a", 100).await;
        let b = s.charge(&auth, "gb-b", 200).await;
        assert_eq!((a.str("status"), b.str("status")), ("processing", "processing"));
        let (pa, pb) = (prid(&a.body, 0), prid(&b.body, 0));
        // Count each payment's inquiries; the first inquiry (of either) answers late, keeping the
        // worker busy with one job while it holds the other.
        let (ca, cb) = (s.count_calls(Api::InquiryPayment, &pa).await, s.count_calls(Api::InquiryPayment, &pb).await);
        s.fault(FaultRule::new(Api::InquiryPayment, FaultAction::Delay { ms: 1_500 }));
        // Both inquiries fall due at once: one worker takes both.
        s.advance(3_000);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let jobs = s.jobs().await;
            let leased = jobs.iter().filter(|j| j.lease.is_some() && matches!(j.kind, autodebit_domain::model::JobKind::Payment(_))).count();
            if leased == 2 {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "never taken together: {jobs:?}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let stopped = s.stop().await;
        assert!(stopped.workers_stopped, "{stopped:?}");
        // The worker finished the job it was running and did not start the other.
        let counts = s.fault_counts().await;
        let (seen_a, seen_b) = (counts[ca].0, counts[cb].0);
        assert_eq!(seen_a + seen_b, 1, "one inquiry before shutdown: {counts:?}");
        let (ran, given_back) = if seen_a == 1 { (&a, &b) } else { (&b, &a) };

        // The next server takes the job given back at once: the clock does not move (a lease
        // left to end would hold it for a minute of sandbox time).
        s.start_again().await;
        let done = s.until(&format!("/v1/payments/{}", given_back.str("id")), settled).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        let done = s.until(&format!("/v1/payments/{}", ran.str("id")), settled).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        s.settle().await;
        assert_eq!(s.sandbox().ledger(None, Some(DEMO_USER)).debits, 2);
    }
}

server_test! {
    async fn a_request_under_way_finishes_before_the_server_stops(db) {
        let mut s = Srv::gateway(&db).await;
        let auth = s.bind().await;
        // The pay takes effect at once and is answered 4 s later (the grace is 10 s).
        s.fault(FaultRule::new(Api::Pay, FaultAction::Delay { ms: 4_000 }));
        let api = s.api.clone();
        let charge = tokio::spawn(async move { api.charge(&auth, "uw-1", 450).await });
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while s.sandbox().ledger(None, Some(DEMO_USER)).debits == 0 {
            assert!(tokio::time::Instant::now() < deadline, "the pay never arrived");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(!charge.is_finished());
        let stopped = s.stop().await;
        assert!(stopped.requests_drained, "{stopped:?}");
        let res = charge.await.unwrap();
        assert_eq!((res.status, res.str("status")), (201, "succeeded"), "{}", res.body);
        s.start_again().await;
        let payment = s.get(&format!("/v1/payments/{}", res.str("id"))).await.body;
        assert_eq!(payment["status"], "succeeded");
        s.settle().await;
    }
}
