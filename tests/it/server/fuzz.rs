//! The merchant API against Schemathesis 4.32.5, the property-based tester for OpenAPI (from
//! PyPI; every package pinned in `tests/fuzz/requirements.txt` and installed into a virtualenv
//! under the target directory on first use, by [`crate::python`]). It generates requests from the
//! server's own `/openapi.json`, valid and malformed, in each of its phases: the document's
//! examples, the boundary values of every constraint, random fuzzing, and stateful sequences along
//! the links it infers between operations. Every check is on:
//!
//! - never a 5xx (a handler's panic is answered 500, so never a panic either);
//! - every status, content type and header documented for the operation, and every body valid
//!   against the schema documented for its status;
//! - a schema-valid request accepted (2xx, or 404/409 for what the state decides), a malformed
//!   one refused with a 4xx;
//! - no API key, or a missing required header, refused; an undocumented method answered 405 with
//!   `Allow`.
//!
//! Before it runs, the test binds the demo wallet, charges it, refunds part of it and makes a
//! payment that needs a person, so that generated requests reach real resources too: their ids
//! are dictionaries that path ids and references are drawn from (`tests/fuzz/schemathesis.toml`,
//! which says what the document cannot; its hooks in `tests/fuzz/hooks.py`).
//!
//! A failure prints Schemathesis's report: each failing check with the answer and a `curl` that
//! reproduces the request (against `autodebit serve` in sandbox mode, after the same set-up; the
//! API key is shown as `[Filtered]`).
//!
//! The default run is derandomized (the same requests every run) with [`DEFAULT_EXAMPLES`]
//! examples per operation (about 1,500 requests, some 20 s). `AUTODEBIT_FUZZ_EXAMPLES=<n>` runs
//! `n` per operation instead, with a random seed (printed) unless `AUTODEBIT_FUZZ_SEED=<seed>`
//! gives one, which replays that run. A run is stopped after `AUTODEBIT_FUZZ_TIMEOUT_SECS`
//! (default [`DEFAULT_TIMEOUT_SECS`], or 2 s per example when that is longer).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use ams_protocol::Api;
use ams_sandbox::{
    AnswerStatus, FaultAction, FaultRule, NotificationFaultAction, NotificationFaultRule,
    NotificationKind,
};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::{Db, Srv};
use crate::python::venv_python;

/// Examples per operation and phase in the default run.
const DEFAULT_EXAMPLES: u64 = 30;
/// How long the default run may take.
const DEFAULT_TIMEOUT_SECS: u64 = 300;

/// The pinned requirements; the virtualenv's name carries their hash, so a change builds a new one.
const REQUIREMENTS: &str = include_str!("../../fuzz/requirements.txt");

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// FNV-1a, 64 bits: names the virtualenv after what it holds.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn schemathesis_python() -> PathBuf {
    let requirements = fuzz_dir().join("requirements.txt");
    venv_python(
        &format!("schemathesis-4.32.5-{:016x}", fnv1a(REQUIREMENTS)),
        &["-r", requirements.to_str().expect("a UTF-8 path")],
    )
}

/// How much to run, from the environment.
#[derive(Debug)]
struct Settings {
    examples: u64,
    /// `None`: derandomized.
    seed: Option<u64>,
    timeout: Duration,
}

fn env_number(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a number")),
    )
}

fn settings() -> Settings {
    let examples = env_number("AUTODEBIT_FUZZ_EXAMPLES");
    let seed = env_number("AUTODEBIT_FUZZ_SEED").or_else(|| {
        examples.map(|_| {
            let mut bytes = [0u8; 4];
            getrandom::fill(&mut bytes).expect("random");
            u64::from(u32::from_le_bytes(bytes))
        })
    });
    let examples = examples.unwrap_or(DEFAULT_EXAMPLES).max(1);
    let timeout = env_number("AUTODEBIT_FUZZ_TIMEOUT_SECS")
        .unwrap_or_else(|| DEFAULT_TIMEOUT_SECS.max(examples.saturating_mul(2)));
    Settings {
        examples,
        seed,
        timeout: Duration::from_secs(timeout),
    }
}

/// Ids of what the server holds before the run, by dictionary.
#[derive(Debug, Default)]
struct Seeded {
    authorizations: Vec<String>,
    payments: Vec<String>,
    refunds: Vec<String>,
}

fn id(body: &Value) -> String {
    body["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {body}"))
        .to_owned()
}

/// An active authorization and one awaiting the user; a paid payment with a partial refund; a
/// failed payment that needs a person (Alipay answered F, then its notification says it was
/// paid).
async fn seed(s: &Srv) -> Seeded {
    let mut seeded = Seeded::default();
    let active = s.bind().await;
    let awaiting = s.start_binding("fuzz-seed-awaiting").await;
    seeded
        .authorizations
        .extend([active.clone(), id(&awaiting)]);

    let paid = s.charge(&active, "fuzz-seed-paid", 5_000).await;
    assert_eq!(paid.status, 201, "{}", paid.body);
    let paid = id(&paid.body);
    let refund = s
        .post(
            &format!("/v1/payments/{paid}/refunds"),
            "fuzz-seed-refund",
            json!({"amount": 1_000, "reason": "seed"}),
        )
        .await;
    assert_eq!(refund.status, 201, "{}", refund.body);
    seeded.refunds.push(id(&refund.body));

    s.sandbox()
        .add_notification_fault(NotificationFaultRule::new(
            Some(NotificationKind::Payment),
            NotificationFaultAction::Delay { ms: 10_000 },
        ));
    s.sandbox().add_fault(FaultRule::new(
        Api::Pay,
        FaultAction::Answer {
            status: AnswerStatus::F,
            code: "RISK_REJECT".into(),
        },
    ));
    let flagged = s.charge(&active, "fuzz-seed-flagged", 600).await;
    assert_eq!(flagged.status, 201, "{}", flagged.body);
    let flagged = id(&flagged.body);
    s.advance(10_000);
    s.until(&format!("/v1/payments/{flagged}"), |p| {
        p["needs_attention"] == true
    })
    .await;
    s.sandbox().clear_faults();
    seeded.payments.extend([paid, flagged]);
    seeded
}

/// Writes one libFuzzer-style dictionary (a quoted value a line).
fn write_dictionary(dir: &Path, name: &str, ids: &[String]) {
    let text: String = ids.iter().map(|id| format!("\"{id}\"\n")).collect();
    std::fs::write(dir.join(format!("{name}.dict")), text).expect("write a dictionary");
}

/// Runs Schemathesis on `server`'s document from `dir`; returns whether it passed and its report.
fn run_schemathesis(
    python: &Path,
    dir: &Path,
    server: &str,
    key: &str,
    settings: &Settings,
) -> (bool, String) {
    let report = dir.join("report.txt");
    let out = std::fs::File::create(&report).expect("report file");
    let err = out.try_clone().expect("report file");
    let mut cmd = Command::new(python);
    cmd.args(["-m", "schemathesis.cli", "--config-file"])
        .arg(dir.join("schemathesis.toml"))
        .args(["run", &format!("{server}/openapi.json"), "--no-color"])
        .args(["--max-examples", &settings.examples.to_string()]);
    match settings.seed {
        Some(seed) => cmd.args(["--seed", &seed.to_string()]),
        None => cmd.arg("--generation-deterministic"),
    };
    cmd.current_dir(dir)
        .env("AUTODEBIT_FUZZ_API_KEY", key)
        .env("AUTODEBIT_FUZZ_HOOKS", fuzz_dir().join("hooks.py"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONHASHSEED", "0")
        .env("COLUMNS", "120")
        .env("NO_COLOR", "1")
        .env("NO_PROXY", "*");
    for proxy in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"] {
        cmd.env_remove(proxy).env_remove(proxy.to_ascii_lowercase());
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("start schemathesis");
    let started = Instant::now();
    let passed = loop {
        if let Some(status) = child.try_wait().expect("wait for schemathesis") {
            break Some(status.success());
        }
        if started.elapsed() > settings.timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut text = std::fs::read_to_string(&report).unwrap_or_default();
    match passed {
        Some(passed) => (passed, text),
        None => {
            text.push_str(&format!(
                "\n(stopped after {} s: AUTODEBIT_FUZZ_TIMEOUT_SECS gives it longer)\n",
                settings.timeout.as_secs()
            ));
            (false, text)
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_and_malformed_requests_get_documented_answers() {
    let settings = settings();
    let python = tokio::task::spawn_blocking(schemathesis_python)
        .await
        .expect("the virtualenv");
    let s = Srv::start(&Db::Sqlite).await;
    let seeded = seed(&s).await;

    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(
        fuzz_dir().join("schemathesis.toml"),
        dir.path().join("schemathesis.toml"),
    )
    .expect("copy the configuration");
    write_dictionary(dir.path(), "authorizations", &seeded.authorizations);
    write_dictionary(dir.path(), "payments", &seeded.payments);
    write_dictionary(dir.path(), "refunds", &seeded.refunds);

    let what = format!(
        "{} examples per operation, {}",
        settings.examples,
        settings
            .seed
            .map_or_else(|| "derandomized".to_owned(), |seed| format!("seed {seed}"))
    );
    let started = Instant::now();
    let (dir_path, url, key) = (dir.path().to_owned(), s.url(), s.key.clone());
    let (passed, report) = tokio::task::spawn_blocking(move || {
        run_schemathesis(&python, &dir_path, &url, &key, &settings)
    })
    .await
    .expect("schemathesis ran");
    println!(
        "schemathesis: {what}, {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        passed,
        "Schemathesis found problems ({what}; the requests are to replay against `autodebit serve` in sandbox mode, AUTODEBIT_FUZZ_SEED with as many AUTODEBIT_FUZZ_EXAMPLES replays a seeded run):\n\n{report}"
    );
    // The phases, the warnings and the summary.
    let summary = report.find(" ✅  Examples").map_or("", |at| &report[at..]);
    println!("{summary}");
}
