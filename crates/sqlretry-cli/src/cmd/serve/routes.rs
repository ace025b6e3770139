//! The HTTP routes: `POST /api/ticks` (JSON array or NDJSON, answered after commit),
//! `GET /api/tick-stats`, `GET /metrics`, `GET /healthz`, `GET /readyz`, `/ws/ticks`, and the
//! read endpoints (`reads/`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Router, middleware};
use serde_json::json;

use super::auth::{self, Guard, Scope};
use super::ingest::Outcome;
use super::limits::{self, BodyLimit};
use super::protection::Protection;
use super::state::AppState;
use super::tick::BadInput;
use super::{content_type, origin};

/// The service's router. Guards are put where the routes are assembled, one group per scope:
/// ingest (token scope `ingest`, browser `Origin` checked, JSON bodies only, read in time), reads
/// and figures (`read`), and the probes (open: orchestrators call them without tokens).
pub fn router(state: Arc<AppState>, guards: &Protection) -> Router {
    let limit = state.config.max_body;
    let body = BodyLimit { timeout: guards.limits.body_read_timeout, max: limit };
    let ingest = Router::new()
        .route(
            "/api/ticks",
            post(post_ticks)
                .layer(middleware::from_fn_with_state(body, limits::read_body))
                .layer(middleware::from_fn(content_type::require_json)),
        )
        .route("/ws/ticks", get(super::ws::upgrade))
        .layer(middleware::from_fn_with_state(guards.origins.clone(), origin::check))
        .layer(middleware::from_fn_with_state(Guard::new(&guards.tokens, Scope::Ingest), auth::require));
    let read = Router::new()
        .route("/api/tick-stats", get(tick_stats))
        .route("/metrics", get(metrics))
        .layer(middleware::from_fn_with_state(Guard::new(&guards.tokens, Scope::Read), auth::require));
    let reads = super::reads::router(Arc::clone(&state.reads))
        .layer(middleware::from_fn_with_state(Guard::new(&guards.tokens, Scope::Read), auth::require));
    let probes = Router::new().route("/healthz", get(|| async { "ok\n" })).route("/readyz", get(readyz));
    Router::new()
        .merge(ingest)
        .merge(read)
        .merge(reads)
        .merge(probes)
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
        // 503 as on the WebSocket: the ticks are kept, not written; the same body may be sent
        // again later (Retry-After). 500 stays for ticks neither written nor kept.
        Outcome::DeadLettered(e) => unavailable(&e),
        Outcome::Failed(e) => {
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

/// Ready, or 503 with the reason (see `readiness`).
async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    match super::readiness::check(&state).await {
        Ok(()) => "ready\n".into_response(),
        Err(reason) => unavailable(&reason),
    }
}
