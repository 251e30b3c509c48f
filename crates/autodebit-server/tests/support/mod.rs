//! What the tests that run the real binary share: `autodebit serve` as a process.

#![allow(dead_code, reason = "each test binary uses part of it")]

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// `autodebit serve` running as a process in an empty folder, its stderr read on a thread.
pub(crate) struct Serve {
    pub(crate) child: std::process::Child,
    /// Where it listens (`http://127.0.0.1:PORT`).
    pub(crate) url: String,
    /// What it printed before it listened.
    pub(crate) banner: String,
    /// Its stderr after that, line by line.
    pub(crate) lines: mpsc::Receiver<String>,
    /// Its working folder (the SQLite file is there).
    pub(crate) dir: tempfile::TempDir,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `autodebit serve --listen 127.0.0.1:0 ARGS` in an empty folder with no `AUTODEBIT_*`
/// variable but `env` (the server reads every one as a setting), and waits until it listens.
pub(crate) fn serve(args: &[&str], env: &[(&str, &str)]) -> Serve {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut command = Command::new(env!("CARGO_BIN_EXE_autodebit"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AUTODEBIT_") {
            command.env_remove(name);
        }
    }
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .env_remove("RUST_LOG");
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("autodebit serve starts");
    // Read stderr on a thread (so the server never blocks on a full pipe); hand over its lines.
    let stderr = child.stderr.take().expect("stderr");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut banner = Vec::new();
    let url = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("the server said where it listens: {banner:#?}"));
        if let Some(url) = line.strip_prefix("autodebit serve: listening on ") {
            break url.to_owned();
        }
        banner.push(line);
    };
    Serve {
        child,
        url,
        banner: banner.join("\n"),
        lines,
        dir,
    }
}
