//! `GET /api/symbols`: each symbol with its first and last timestamp and its count of ticks.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::ReadState;

/// Every symbol stored, in order.
pub async fn get(State(state): State<Arc<ReadState>>) -> Response {
    let listed = state
        .pool
        .run(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT symbol, MIN(ts), MAX(ts), COUNT(*) FROM ticks GROUP BY symbol ORDER BY symbol",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(json!({"symbol": r.get::<_, String>(0)?, "first_ts": r.get::<_, i64>(1)?,
                          "last_ts": r.get::<_, i64>(2)?, "count": r.get::<_, i64>(3)?}))
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await;
    match listed {
        Ok(symbols) => axum::Json(json!({"symbols": symbols})).into_response(),
        Err(e) => super::failed(&e),
    }
}
