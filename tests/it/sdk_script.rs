//! What the official Python SDK's interop tests share: the signing vectors, running a script of
//! `tests/interop/` with its configuration on stdin, and reading its output (one JSON line per step).

use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};

use serde_json::Value;

use crate::python::sdk_python;

/// A file of `testdata/ams-vectors` (keys and signatures made by the official SDK).
pub(crate) fn vector(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/ams-vectors")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs `tests/interop/<script>` with the SDK's interpreter, `config` as JSON on stdin: its exit
/// status, stdout and stderr.
pub(crate) fn run_script(script: &str, config: &Value) -> (ExitStatus, String, String) {
    use std::io::Write as _;
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("interop")
        .join(script);
    let mut child = Command::new(sdk_python())
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {script}: {e}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(config.to_string().as_bytes())
        .expect("write the config");
    let output = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("{script} runs: {e}"));
    (
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// [`run_script`] on a blocking thread, so that a sandbox serving on this runtime answers it.
pub(crate) async fn run_script_blocking(
    script: &'static str,
    config: Value,
) -> (ExitStatus, String, String) {
    tokio::task::spawn_blocking(move || run_script(script, &config))
        .await
        .expect("the script's thread")
}

/// `stdout` and `stderr` together, to show when a check fails.
pub(crate) fn transcript(stdout: &str, stderr: &str) -> String {
    format!("stdout:\n{stdout}\nstderr:\n{stderr}")
}

/// A script's output, one JSON line per step.
pub(crate) struct Steps {
    pub(crate) lines: Vec<Value>,
    pub(crate) transcript: String,
}

impl Steps {
    /// Every line of `stdout` as JSON (`transcript` is shown when one is not).
    pub(crate) fn parse(stdout: &str, transcript: String) -> Self {
        let lines = stdout
            .lines()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}\n{transcript}"))
            })
            .collect();
        Self { lines, transcript }
    }

    /// The steps of a run of `script` that must have succeeded.
    pub(crate) fn of_success(
        script: &str,
        (status, stdout, stderr): (ExitStatus, String, String),
    ) -> Self {
        let transcript = transcript(&stdout, &stderr);
        assert!(
            status.success(),
            "{script} failed ({status}):\n{transcript}"
        );
        Self::parse(&stdout, transcript)
    }

    /// Checks that the steps ran exactly as `expected`, in order.
    pub(crate) fn assert_names(&self, expected: &[&str]) {
        let names: Vec<&str> = self
            .lines
            .iter()
            .map(|line| line["step"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(names, expected, "{}", self.transcript);
    }

    /// The line of `step`.
    pub(crate) fn get(&self, step: &str) -> &Value {
        self.lines
            .iter()
            .find(|line| line["step"] == step)
            .unwrap_or_else(|| panic!("no {step} step in:\n{}", self.transcript))
    }

    /// The raw response body of an SDK call, after checking the SDK's response class read the same
    /// result from it.
    pub(crate) fn response(&self, step: &str) -> &Value {
        let line = self.get(step);
        let body = &line["response"];
        assert_eq!(
            (
                &line["sdk_result"]["resultStatus"],
                &line["sdk_result"]["resultCode"]
            ),
            (
                &body["result"]["resultStatus"],
                &body["result"]["resultCode"]
            ),
            "{step}: the SDK's response class read another result: {line}"
        );
        body
    }

    /// `(resultStatus, resultCode)` of an SDK call's raw response.
    pub(crate) fn result(&self, step: &str) -> (&str, &str) {
        let result = &self.get(step)["response"]["result"];
        (
            result["resultStatus"].as_str().unwrap_or_default(),
            result["resultCode"].as_str().unwrap_or_default(),
        )
    }

    /// The response of an SDK call that must have succeeded with `S`/`SUCCESS`.
    pub(crate) fn success(&self, step: &str) -> &Value {
        let body = self.response(step);
        assert_eq!(self.result(step), ("S", "SUCCESS"), "{step}: {body}");
        body
    }

    /// As [`Steps::success`], read from the raw body only (for the calls whose SDK response class
    /// cannot read the body).
    pub(crate) fn raw_success(&self, step: &str) -> &Value {
        let body = &self.get(step)["response"];
        assert_eq!(self.result(step), ("S", "SUCCESS"), "{step}: {body}");
        body
    }

    /// The fields the SDK's response class read (`sdk_fields`).
    pub(crate) fn fields(&self, step: &str) -> &Value {
        &self.get(step)["sdk_fields"]
    }
}
