//! `autodebit serve`: binds the listener, builds the runtime, serves the routes and runs the
//! workers, until asked to stop. [`start`] returns a [`RunningServer`] (tests run it in-process);
//! [`RunningServer::shutdown`] stops taking requests, lets those under way finish (bounded by
//! `server.shutdown_grace_ms`), stops the workers (jobs taken but not started are given back),
//! and closes the database.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ams_sandbox::SandboxHandle;
use autodebit_store::SqlStore;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::http::{self, Tenant};
use crate::runtime::{self, Options, StartError};
use crate::workers::{WorkerSettings, Workers};

/// A server running in this process.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    public_url: String,
    sandbox: Option<Arc<SandboxHandle>>,
    dev_api_key: Option<String>,
    dev_api_key_generated: bool,
    tenants: Vec<Tenant>,
    store: SqlStore,
    stop: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
    workers: Workers,
    grace: Duration,
}

/// Starts the server described by `config`.
///
/// # Errors
/// A wrong setting, an unreadable secret, the database, the sandbox or the listener.
pub async fn start(config: &Config, options: Options) -> Result<RunningServer, StartError> {
    config.check()?;
    let listener = TcpListener::bind(config.server.listen)
        .await
        .map_err(|error| StartError::Listen {
            addr: config.server.listen,
            error,
        })?;
    let addr = listener.local_addr().map_err(|error| StartError::Listen {
        addr: config.server.listen,
        error,
    })?;
    let public_url = config
        .server
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"))
        .trim_end_matches('/')
        .to_owned();
    let runtime = runtime::build(config, &public_url, options).await?;
    let app = http::app(runtime.state.clone());
    let workers = Workers::start(
        runtime.tenants.clone(),
        &WorkerSettings {
            count: config.workers.count,
            idle_min: Duration::from_millis(10),
            idle_max: Duration::from_millis(config.workers.idle_poll_max_ms),
            idempotency_retention: Duration::from_secs(
                config.api.idempotency_retention_hours * 3_600,
            ),
            webhooks_to_private_addresses: runtime.state.shared().sandbox.is_some(),
        },
        runtime.wake.clone(),
    );
    let stop = CancellationToken::new();
    let serve = axum::serve(listener, app).with_graceful_shutdown(stop.clone().cancelled_owned());
    let task = tokio::spawn(async move { serve.await });
    Ok(RunningServer {
        addr,
        public_url,
        sandbox: runtime.sandbox,
        dev_api_key: runtime.dev_api_key,
        dev_api_key_generated: runtime.dev_api_key_generated,
        tenants: runtime.tenants,
        store: runtime.store,
        stop,
        task,
        workers,
        grace: Duration::from_millis(config.server.shutdown_grace_ms),
    })
}

/// How a shutdown went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stopped {
    /// The requests under way finished within the grace period.
    pub requests_drained: bool,
    /// The workers stopped within the grace period.
    pub workers_stopped: bool,
}

impl RunningServer {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How Alipay and browsers reach it (`http://127.0.0.1:PORT` by default).
    pub fn url(&self) -> &str {
        &self.public_url
    }

    /// How many jobs this server's workers ran to the end so far.
    pub fn jobs_done(&self) -> u64 {
        self.workers.jobs_done()
    }

    /// The embedded sandbox, in sandbox mode.
    pub fn sandbox(&self) -> Option<&SandboxHandle> {
        self.sandbox.as_deref()
    }

    /// The development API key, in sandbox mode.
    pub fn dev_api_key(&self) -> Option<&str> {
        self.dev_api_key.as_deref()
    }

    /// The merchants served.
    pub fn tenants(&self) -> &[Tenant] {
        &self.tenants
    }

    /// The database.
    pub fn store(&self) -> &SqlStore {
        &self.store
    }

    /// The sandbox-mode banner: loud, with the URLs and a first curl line.
    pub fn banner(&self) -> String {
        let mut out = String::new();
        let rule = "=".repeat(78);
        let url = &self.public_url;
        match &self.sandbox {
            Some(sandbox) => {
                out.push_str(&format!("{rule}\n"));
                out.push_str(
                    "  SANDBOX MODE: Alipay and the wallet are simulated; no real money moves.\n",
                );
                out.push_str(&format!("{rule}\n"));
                out.push_str(&format!(
                    "  merchant API   {url}/v1   (OpenAPI: {url}/openapi.json)\n"
                ));
                // A key chosen through the environment is known already: never echo it.
                let shown = match (&self.dev_api_key, self.dev_api_key_generated) {
                    (Some(key), true) => {
                        out.push_str(&format!(
                            "  API key        {key}   (generated for this run; set AUTODEBIT_DEV_API_KEY to choose it)\n"
                        ));
                        key.clone()
                    }
                    _ => {
                        out.push_str("  API key        the value of AUTODEBIT_DEV_API_KEY\n");
                        "$AUTODEBIT_DEV_API_KEY".to_owned()
                    }
                };
                // The console takes the key from the URL fragment (never sent to the server),
                // only when it is the generated one this banner prints anyway.
                if self.dev_api_key_generated {
                    out.push_str(&format!("  console        {url}/console#key={shown}\n"));
                } else {
                    out.push_str(&format!(
                        "  console        {url}/console   (it asks for the API key)\n"
                    ));
                }
                out.push_str(&format!(
                    "  sandbox        {}   (control API: {}/sandbox)\n",
                    sandbox.base_url(),
                    sandbox.base_url()
                ));
                out.push_str(&format!(
                    "  demo user      {}   (ALIPAY_CN, USD 1,000.00, CNY 10,000.00)\n",
                    runtime::DEMO_USER
                ));
                out.push_str("  Start by binding the demo wallet:\n");
                out.push_str(&format!(
                    "    curl -s {url}/v1/authorizations -H \"Authorization: Bearer {shown}\" -H 'Idempotency-Key: bind-1' \\\n      -H 'Content-Type: application/json' \\\n      -d '{{\"customer_id\":\"cust-1\",\"wallet\":\"ALIPAY_CN\",\"terminal_type\":\"WEB\",\"return_url\":\"{url}/healthz\"}}'\n"
                ));
                out.push_str(&format!("{rule}\n"));
            }
            None => {
                out.push_str(&format!(
                    "autodebit serve: {} merchant(s) on {url} (OpenAPI: {url}/openapi.json)\n",
                    self.tenants.len()
                ));
            }
        }
        out
    }

    /// Stops: no new requests, those under way finish (bounded), the workers stop (jobs taken but
    /// not started are given back), the database is closed.
    pub async fn shutdown(self) -> Stopped {
        self.stop.cancel();
        let mut task = self.task;
        let requests_drained = match tokio::time::timeout(self.grace, &mut task).await {
            Ok(_) => true,
            Err(_) => {
                task.abort();
                false
            }
        };
        let workers_stopped = self.workers.stop(self.grace).await;
        self.store.close().await;
        drop(self.sandbox);
        Stopped {
            requests_drained,
            workers_stopped,
        }
    }
}

/// Waits for SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
