//! The HTTP/1.1 server: hyper per connection, so a fault can close a connection without answering.
//!
//! axum's own `serve` cannot drop one connection on demand; here every request carries a
//! [`ConnectionControl`] that ends its connection (the socket closes with no response written), which
//! is what "the merchant sent `pay`, Alipay committed, and the answer never came" looks like.
//!
//! A client has the header-read timeout to send a request's headers (an idle keep-alive connection
//! closes after it too), so a connection that never finishes its headers does not stay open.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tower::ServiceExt as _;

/// Lets a handler close the connection its request came on.
#[derive(Clone, Debug)]
pub(crate) struct ConnectionControl {
    drop: Arc<Notify>,
}

impl ConnectionControl {
    /// Closes the connection without writing a response.
    pub(crate) fn drop_connection(&self) {
        self.drop.notify_one();
    }
}

/// Accepts connections until `shutdown` turns true.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    header_read_timeout: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => break,
        };
        let Ok((stream, _peer)) = accepted else {
            continue;
        };
        let router = router.clone();
        let mut shutdown = shutdown.clone();
        connections.spawn(async move {
            let control = ConnectionControl {
                drop: Arc::new(Notify::new()),
            };
            let drop_signal = control.drop.clone();
            let service =
                hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                    request.extensions_mut().insert(control.clone());
                    router.clone().oneshot(request.map(axum::body::Body::new))
                });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_read_timeout)
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                _ = drop_signal.notified() => {}
                _ = shutdown.changed() => {}
            }
        });
        // Reap finished connections so the set does not grow without bound.
        while connections.try_join_next().is_some() {}
    }
    connections.abort_all();
}
