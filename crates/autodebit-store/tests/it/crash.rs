//! A process killed with SIGKILL in the middle of a unit of work leaves the database consistent:
//! every committed unit of work whole, the interrupted one absent, the database usable.
//!
//! The parent re-runs this test binary as a child (`child_process_entry_point`, with the database
//! named in an environment variable), reads its progress from stdout and kills it.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

use autodebit_domain::model::{AttemptId, AuthorizationId, Event, EventKind, OrderId};
use autodebit_domain::ports::Store;
use autodebit_store::{Keyring, SqlStore, StoreOptions};

use crate::support::*;

const CHILD_ENV: &str = "AUTODEBIT_STORE_CRASH_CHILD";

/// One unit of work of the workload: an authorization, an order, an attempt, a job and an event,
/// all numbered `n`. Returns the open unit of work, uncommitted.
async fn unit(store: &SqlStore, n: u32) -> Box<dyn autodebit_domain::ports::Tx> {
    let mut tx = store.begin().await.unwrap();
    stage_payment(&mut *tx, n).await;
    tx.schedule_job(payment_job(&format!("attempt-{n}")), T0)
        .await
        .unwrap();
    tx.push_event(&Event {
        kind: EventKind::PaymentSucceeded,
        subject: format!("order-{n}"),
        detail: None,
        at: T0,
    })
    .await
    .unwrap();
    tx
}

/// How many whole units are stored; panics on a partial one.
async fn whole_units(store: &SqlStore, up_to: u32) -> Vec<u32> {
    let jobs = store.jobs().await.unwrap();
    let events = store.events_after(0, 100_000).await.unwrap();
    let mut whole = Vec::new();
    for n in 0..up_to {
        let mut tx = store.begin().await.unwrap();
        let parts = [
            tx.authorization(&AuthorizationId::new(format!("auth-{n}")))
                .await
                .unwrap()
                .is_some(),
            tx.order(&OrderId::new(format!("order-{n}")))
                .await
                .unwrap()
                .is_some(),
            tx.attempt(&AttemptId::new(format!("attempt-{n}")))
                .await
                .unwrap()
                .is_some(),
            jobs.iter()
                .any(|j| j.kind == payment_job(&format!("attempt-{n}"))),
            events
                .iter()
                .any(|(_, e)| e.subject == format!("order-{n}")),
        ];
        drop(tx);
        assert!(
            parts.iter().all(|p| *p) || parts.iter().all(|p| !*p),
            "unit {n} is partly stored: {parts:?}"
        );
        if parts[0] {
            whole.push(n);
        }
    }
    whole
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").unwrap();
    out.flush().unwrap();
}

/// The child: commits units of work, reporting each, then (when told to hold) opens one more,
/// says so and waits to be killed. Run directly (no environment variable), it runs the workload
/// briefly in-process and checks what the parent checks.
#[tokio::test]
async fn child_process_entry_point() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        let db = Db::sqlite().await;
        for n in 0..3 {
            unit(&db.store, n).await.commit().await.unwrap();
        }
        drop(unit(&db.store, 3).await);
        assert_eq!(whole_units(&db.store, 5).await, vec![0, 1, 2]);
        return;
    };
    let mut parts = spec.splitn(4, '|');
    let (url, schema, keys, hold) = (
        parts.next().unwrap().to_owned(),
        parts.next().unwrap().to_owned(),
        parts.next().unwrap().to_owned(),
        parts.next().unwrap() == "hold",
    );
    let mut options = StoreOptions::new(url);
    if !schema.is_empty() {
        options = options.schema(schema);
    }
    let store = SqlStore::open(options, Keyring::parse(&keys).unwrap())
        .await
        .unwrap();
    let mut n = 0;
    loop {
        if hold && n == 20 {
            let _open = unit(&store, n).await;
            say(&format!("holding {n}"));
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
            unreachable!("the parent kills this process");
        }
        unit(&store, n).await.commit().await.unwrap();
        say(&format!("committed {n}"));
        n += 1;
    }
}

fn spawn_child(db: &Db, hold: bool) -> Child {
    let (url, schema) = db.location();
    Command::new(std::env::current_exe().unwrap())
        .args([
            "crash::child_process_entry_point",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(
            CHILD_ENV,
            format!(
                "{url}|{schema}|{}|{}",
                db.keys,
                if hold { "hold" } else { "run" }
            ),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Reads the child's progress until `stop` says to kill it; returns the last committed unit.
fn kill_when(child: &mut Child, stop: impl Fn(&str) -> bool) -> Option<u32> {
    let stdout = child.stdout.take().unwrap();
    let mut committed = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("committed ") {
            committed = Some(n.parse().unwrap());
        }
        if stop(&line) {
            // SIGKILL: no destructor, no rollback, no goodbye to the server.
            child.kill().unwrap();
            child.wait().unwrap();
            return committed;
        }
    }
    panic!("the child ended before it was killed: {:?}", child.wait());
}

async fn check_after_kill(db: &Db, committed: u32, interrupted: Option<u32>) {
    let name = db.name();
    // A fresh process's view of the database.
    let store = db.reopen(&db.keys).await;
    let whole = whole_units(&store, committed + 50).await;
    assert!(
        (0..=committed).all(|n| whole.contains(&n)),
        "{name}: every unit reported committed is there: {whole:?}"
    );
    if let Some(n) = interrupted {
        assert!(
            !whole.contains(&n),
            "{name}: the interrupted unit {n} is absent"
        );
    }
    if name == "sqlite" {
        let d = store.diagnostics().await.unwrap();
        assert_eq!(d.integrity.as_deref(), Some("ok"), "{name}");
    }
    // The database takes writes again (the dead process's locks are gone).
    unit(&store, 1_000_000).await.commit().await.unwrap();
    store.close().await;
}

#[tokio::test]
async fn sigkill_in_the_middle_of_a_unit_of_work_leaves_the_database_consistent() {
    for db in backends().await {
        let mut child = spawn_child(&db, true);
        let committed = kill_when(&mut child, |line| line.starts_with("holding "))
            .expect("units committed before the held one");
        assert_eq!(committed, 19);
        check_after_kill(&db, committed, Some(20)).await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn sigkill_at_an_arbitrary_moment_leaves_the_database_consistent() {
    for db in backends().await {
        let mut child = spawn_child(&db, false);
        // Killed while it keeps committing: most likely inside a unit of work.
        let committed = kill_when(&mut child, |line| line == "committed 30").unwrap();
        check_after_kill(&db, committed, None).await;
        db.cleanup().await;
    }
}
