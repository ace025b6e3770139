//! The HTTP routes: `POST /api/ticks` (JSON array or NDJSON, answered after commit),
//! `GET /api/tick-stats`, `GET /metrics`, `GET /healthz`, `GET /readyz`, `/ws/ticks`, and the
//! read endpoints (`reads/`).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use super::ingest::Outcome;
use super::state::AppState;
use super::tick::BadInput;

/// The service's router.
pub fn router(state: Arc<AppState>) -> Router {
    let limit = state.config.max_body;
    Router::new()
        .route("/api/ticks", post(post_ticks))
        .route("/api/tick-stats", get(tick_stats))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/ws/ticks", get(super::ws::upgrade))
        .merge(super::reads::router(Arc::clone(&state.reads)))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// A 400 answer naming the field.
pub fn bad_request(bad: &BadInput) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(json!({"error": bad.error, "field": bad.field}))).into_response()
}

fn unavailable(message: &str) -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, [(header::RETRY_AFTER, "1")], axum::Json(json!({"error": message})))
        .into_response()
}

/// A body axum could not read (over `max_body`: 413) in the JSON shape of the other 4xx answers.
fn unreadable_body(rejection: &BytesRejection) -> Response {
    (rejection.status(), axum::Json(json!({"error": rejection.body_text(), "field": "body"}))).into_response()
}

/// Counts a refused body (`messages_rejected`) and answers `answer`.
fn refused(state: &AppState, answer: Response) -> Response {
    super::stats::TickCounters::add(&state.ticks.counters().rejected, "sqlretry_serve_rejected_total", 1);
    answer
}

async fn post_ticks(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if state.is_stopping() {
        return unavailable("shutting down");
    }
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return refused(&state, unreadable_body(&rejection)),
    };
    let parsed = std::str::from_utf8(&body)
        .map_err(|e| BadInput { field: "body".into(), error: format!("not UTF-8: {e}") })
        .and_then(|text| {
            let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
            if content_type.contains("ndjson") || content_type.contains("jsonl") {
                state.parser.parse_ndjson(text)
            } else {
                state.parser.parse_message(text, false)
            }
        });
    let ticks = match parsed {
        Ok(ticks) => ticks,
        Err(bad) => return refused(&state, bad_request(&bad)),
    };
    let Ok(_permit) = Arc::clone(&state.inflight).try_acquire_owned() else {
        super::stats::TickCounters::add(&state.ticks.counters().busy, "sqlretry_serve_busy_total", 1);
        return unavailable("ingest is full; retry");
    };
    let n = ticks.len();
    match state.ticks.write(ticks).await {
        Outcome::Committed { new, duplicates } => {
            axum::Json(json!({"ticks": n, "new": new, "duplicates": duplicates})).into_response()
        }
        Outcome::DeadLettered(e) | Outcome::Failed(e) => {
            (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({"error": e}))).into_response()
        }
    }
}

async fn tick_stats(State(state): State<Arc<AppState>>) -> Response {
    axum::Json(state.tick_stats()).into_response()
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.prometheus.render()).into_response()
}

/// Ready when not draining and a probe transaction commits within 2 s.
async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.is_stopping() {
        return unavailable("shutting down");
    }
    let probe = state.ticks.writer().submit_async(|tx| tx.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)));
    match tokio::time::timeout(Duration::from_secs(2), probe).await {
        Ok(Ok(_)) => "ready\n".into_response(),
        Ok(Err(e)) => unavailable(&format!("the writer cannot commit: {e}")),
        Err(_) => unavailable("the writer did not commit a probe within 2 s"),
    }
}
