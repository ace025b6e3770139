//! The accept loop, in place of `axum::serve` because the service needs what it lacks: TLS, a
//! header-read timeout, a cap on open connections (503 past it), and a drain that ends. On stop
//! it closes the listener, lets each HTTP connection finish the request it is in (then close),
//! and at the drain deadline cuts whatever is left, so that no client can keep the process alive.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Response, StatusCode, header};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::limits::{Limits, OpenConnections};

/// What the loop serves and how.
pub struct Listener {
    /// The bound socket.
    pub tcp: TcpListener,
    /// TLS, when configured.
    pub tls: Option<TlsAcceptor>,
    /// Timeouts and the connection cap.
    pub limits: Limits,
    /// Open connections (shared with the WebSocket handler).
    pub open: Arc<OpenConnections>,
}

/// Serves `app` until `stopping` turns true; then drains HTTP connections until `drain_timeout`
/// has passed since the stop and cuts the rest. Returns when the stop happened and how many
/// connections were cut.
pub async fn serve(
    listener: Listener,
    app: Router,
    mut stopping: watch::Receiver<bool>,
    drain_timeout: Duration,
) -> (Instant, usize) {
    let Listener { tcp, tls, limits, open } = listener;
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    let http = Arc::new(http);
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = tcp.accept() => accepted,
            _ = stopping.wait_for(|s| *s) => break,
        };
        while connections.try_join_next().is_some() {}
        let (stream, _peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let guard = open.try_open();
        let (http, app, tls, stop) = (Arc::clone(&http), app.clone(), tls.clone(), stopping.clone());
        let handshake = limits.header_read_timeout;
        connections.spawn(async move {
            let busy = guard.is_none();
            match tls {
                Some(tls) => match tokio::time::timeout(handshake, tls.accept(stream)).await {
                    Ok(Ok(stream)) => one(stream, &http, app, stop, busy).await,
                    Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!("TLS handshake not finished in time"),
                },
                None => one(stream, &http, app, stop, busy).await,
            }
            drop(guard);
        });
    }
    drop(tcp);
    let stopped = Instant::now();
    let deadline = stopped + drain_timeout;
    while !connections.is_empty() {
        match tokio::time::timeout_at(deadline.into(), connections.join_next()).await {
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let cut = connections.len();
    connections.abort_all();
    while connections.join_next().await.is_some() {}
    (stopped, cut)
}

/// Serves one connection: the app, or when over the cap a single 503 and close.
async fn one<I>(
    io: I,
    http: &hyper::server::conn::http1::Builder,
    app: Router,
    mut stopping: watch::Receiver<bool>,
    busy: bool,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    if busy {
        let service = hyper::service::service_fn(|_| async { Ok::<_, std::convert::Infallible>(full()) });
        let mut once = http.clone();
        once.keep_alive(false);
        let _ = once.serve_connection(TokioIo::new(io), service).await;
        return;
    }
    let conn = http.serve_connection(TokioIo::new(io), TowerToHyperService::new(app)).with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = async { let _ = stopping.wait_for(|s| *s).await; } => {
            // Finish the request in progress (if any), then close; an idle connection closes now.
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

fn full() -> Response<Body> {
    let mut answer = Response::new(Body::from(r#"{"error":"too many open connections; retry"}"#));
    *answer.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    answer.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    answer.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    answer
}
