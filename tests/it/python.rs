//! Python tools from PyPI, each in a virtualenv of its own under the target directory, built on
//! first use with pinned versions (PyPI must be reachable then) and shared by the tests that run
//! it: the official SDK (global-open-sdk-python 1.7.1) and Schemathesis
//! (`tests/fuzz/requirements.txt`, for [`crate::server`]'s fuzz test).
//!
//! `AUTODEBIT_PYTHON` names another interpreter to build them from.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

const SDK: &str = "global-open-sdk-python==1.7.1";

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

/// Tests in this process build virtualenvs one at a time.
static BUILD: Mutex<()> = Mutex::new(());

/// The python of the virtualenv `name` under the target directory, creating it and running
/// `pip install <install…>` in it if needed. Concurrent test processes each build their own copy
/// and the first rename wins, so none sees a half-built one; tests within one process wait for
/// the first to finish. A change of what is installed needs a new `name`.
pub(crate) fn venv_python(name: &str, install: &[&str]) -> PathBuf {
    let _building = BUILD
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
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
        Command::new(staging.join("bin").join("python"))
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(install),
        &format!("pip install {}", install.join(" ")),
    );
    if std::fs::rename(&staging, &venv).is_err() {
        // Another process finished first; use its copy.
        let _ = std::fs::remove_dir_all(&staging);
    }
    assert!(
        python.exists(),
        "the virtualenv at {} has no python",
        venv.display()
    );
    python
}

/// The python of the SDK's virtualenv.
pub(crate) fn sdk_python() -> PathBuf {
    venv_python("global-open-sdk-python-1.7.1", &[SDK])
}
