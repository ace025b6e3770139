//! The read endpoints, on their own read-only connections (WAL: reads never block ingest):
//! `GET /api/ticks` (a page of one symbol's ticks, JSON / NDJSON / CSV, streamed),
//! `GET /api/candles` (OHLC per interval) and `GET /api/symbols`. Bad parameters get 400 naming
//! the parameter, in the service's one JSON error shape.
//!
//! Their [`router`] carries its own state, so the service merges it beside the ingest routes and
//! may wrap it in a layer of its own (a read scope, say) without the handlers knowing.

mod candles;
mod params;
mod pool;
mod symbols;
mod ticks;

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use self::pool::ReadError;
pub use self::pool::ReadPool;
use super::model::Model;
use super::timestamp::TimeUnit;

/// What the read handlers share.
#[derive(Debug)]
pub struct ReadState {
    /// The read connections.
    pub pool: Arc<ReadPool>,
    /// The stored columns.
    pub model: Arc<Model>,
    /// The unit of integer `from`/`to`.
    pub unit: TimeUnit,
    /// `limit` when absent.
    pub default_limit: usize,
    /// The largest `limit`.
    pub max_limit: usize,
}

/// The read routes, with their state; merge into the service's router (any outer state).
pub fn router<S: Clone + Send + Sync + 'static>(state: Arc<ReadState>) -> Router<S> {
    Router::new()
        .route("/api/ticks", get(ticks::get))
        .route("/api/candles", get(candles::get))
        .route("/api/symbols", get(symbols::get))
        .with_state(state)
}

/// A read that could not run: 503 when no connection came free, else 500.
fn failed(error: &ReadError) -> Response {
    match error {
        ReadError::Busy => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(axum::http::header::RETRY_AFTER, "1")],
            axum::Json(json!({"error": "every read connection is busy; retry"})),
        )
            .into_response(),
        ReadError::Sqlite(e) => {
            tracing::error!(error = %e, "a read failed");
            (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({"error": format!("the read failed: {e}")})))
                .into_response()
        }
    }
}
