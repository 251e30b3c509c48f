//! The official Python SDK (global-open-sdk-python 1.7.1 from PyPI) in a virtualenv under the
//! target directory, shared by the tests that run it.
//!
//! The virtualenv is built on first use (PyPI must be reachable then); `AUTODEBIT_PYTHON` names
//! another interpreter to build it from.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

const SDK: &str = "global-open-sdk-python==1.7.1";

/// Where the SDK's virtualenv lives; built once per target directory.
fn venv_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("global-open-sdk-python-1.7.1")
}

fn run(cmd: &mut Command, what: &str) {
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Tests in this process build the virtualenv one at a time.
static BUILD: Mutex<()> = Mutex::new(());

/// The virtualenv's python, creating the virtualenv and installing the SDK if needed. Concurrent
/// test processes each build their own copy and the first rename wins, so none sees a half-built
/// one; tests within one process wait for the first to finish.
pub(crate) fn sdk_python() -> PathBuf {
    let _building = BUILD
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let venv = venv_dir();
    let python = venv.join("bin").join("python");
    if python.exists() {
        return python;
    }
    let base_python = std::env::var("AUTODEBIT_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let staging = venv.with_extension(format!("staging-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    run(
        Command::new(&base_python)
            .arg("-m")
            .arg("venv")
            .arg(&staging),
        "python3 -m venv",
    );
    run(
        Command::new(staging.join("bin").join("python")).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            SDK,
        ]),
        "pip install global-open-sdk-python==1.7.1",
    );
    if std::fs::rename(&staging, &venv).is_err() {
        // Another process finished first; use its copy.
        let _ = std::fs::remove_dir_all(&staging);
    }
    assert!(
        python.exists(),
        "the SDK virtualenv at {} has no python",
        venv.display()
    );
    python
}
