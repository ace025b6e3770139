//! Hard limits, so that no client can hold the service: how long a request's headers and body
//! may take to arrive, how long a WebSocket may stay silent, how many connections may be open.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The limits' values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A request's headers (and a TLS handshake) must arrive within this.
    pub header_read_timeout: Duration,
    /// A request's whole body must arrive within this (408 otherwise).
    pub body_read_timeout: Duration,
    /// A WebSocket with no frame for half of this is pinged; with none for all of it, closed.
    pub ws_idle_timeout: Duration,
    /// Open connections (HTTP and WebSocket); past it a new one is answered 503 and closed.
    pub max_connections: usize,
}

/// The chunk a WebSocket connection reads into (its read buffer while idle).
pub const WS_READ_BUFFER: usize = 8 * 1024;

/// The body-read middleware's state: the time allowed and the largest body.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit {
    /// Time allowed for the whole body.
    pub timeout: Duration,
    /// Largest body, bytes.
    pub max: usize,
}

/// Reads the whole body within `timeout` before the handler runs: 408 when it is late, 413 when
/// it is larger than `max`, both in the JSON error shape. A client that sends a `Content-Length`
/// and then stops can no longer hold a request open.
pub async fn read_body(State(limit): State<BodyLimit>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    match tokio::time::timeout(limit.timeout, axum::body::to_bytes(body, limit.max)).await {
        Ok(Ok(bytes)) => next.run(Request::from_parts(parts, Body::from(bytes))).await,
        Ok(Err(e)) => {
            // http-body-util's LengthLimitError, boxed inside axum's error.
            let too_large = e.to_string().contains("length limit");
            let (status, error) = if too_large {
                (StatusCode::PAYLOAD_TOO_LARGE, format!("body larger than {} bytes", limit.max))
            } else {
                (StatusCode::BAD_REQUEST, format!("body unreadable: {e}"))
            };
            (status, axum::Json(json!({"error": error, "field": "body"}))).into_response()
        }
        Err(_) => {
            let error = format!("body not received within {:?}", limit.timeout);
            (StatusCode::REQUEST_TIMEOUT, axum::Json(json!({"error": error, "field": "body"})))
                .into_response()
        }
    }
}

/// Open connections against the cap, mirrored in the `sqlretry_serve_connections_open` gauge.
#[derive(Debug)]
pub struct OpenConnections {
    open: AtomicUsize,
    max: usize,
}

/// One open connection; closing it (drop) counts it out.
#[derive(Debug)]
pub struct OpenGuard(Arc<OpenConnections>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        let now = self.0.open.fetch_sub(1, Ordering::AcqRel) - 1;
        metrics::gauge!("sqlretry_serve_connections_open").set(now as f64);
    }
}

impl OpenConnections {
    /// At most `max` connections.
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(OpenConnections { open: AtomicUsize::new(0), max })
    }

    /// Counts a new connection in, unless `max` are open.
    pub fn try_open(self: &Arc<Self>) -> Option<OpenGuard> {
        let taken =
            self.open.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.max).then_some(n + 1));
        let n = taken.ok()?;
        metrics::gauge!("sqlretry_serve_connections_open").set((n + 1) as f64);
        Some(OpenGuard(Arc::clone(self)))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_counts_in_and_out() {
        let c = OpenConnections::new(2);
        let a = c.try_open().unwrap();
        let _b = c.try_open().unwrap();
        assert!(c.try_open().is_none());
        drop(a);
        assert!(c.try_open().is_some());
    }
}
