//! The `ticks` workload's operation: a batch of ticks for one symbol, written either as one
//! transaction (every strategy) or row by row through the Writer's batched ingest (`writer`).

use std::sync::Arc;

use rusqlite::types::Value;
use rusqlite::{Connection, params_from_iter};

use crate::strategy::TxBody;

/// One operation of the `ticks` workload: `len` consecutive ticks of `symbol` from `first_ts`.
#[derive(Debug, Clone)]
pub struct TickBatch {
    /// The run id tagging every row.
    pub run_id: i64,
    /// The worker's symbol.
    pub symbol: String,
    /// Timestamp of the first tick (unique per worker and operation).
    pub first_ts: i64,
    /// Bid of the first tick.
    pub base: f64,
    /// Ticks in the batch.
    pub len: u64,
}

/// One tick as a row for the Writer's batched ingest (its insert is the one the transaction uses).
#[derive(Debug, Clone)]
pub struct TickRow {
    values: [Value; 5],
}

impl sqlretry::writer::Row for TickRow {
    const TYPE_NAME: &'static str = "stress-tick";
    const INSERT_SQL: &'static str =
        "INSERT OR IGNORE INTO ticks (run_id, symbol, ts, bid, ask) VALUES (?1, ?2, ?3, ?4, ?5)";
    fn values(&self) -> Vec<Value> {
        self.values.to_vec()
    }
}

impl TickBatch {
    /// The batch's rows, in timestamp order.
    pub fn rows(&self) -> impl Iterator<Item = TickRow> + '_ {
        (0..self.len).map(move |i| {
            let bid = self.base + (i as f64) * 0.01;
            let ts = self.first_ts.saturating_add(i64::try_from(i).unwrap_or(i64::MAX));
            TickRow {
                values: [
                    Value::Integer(self.run_id),
                    Value::Text(self.symbol.clone()),
                    Value::Integer(ts),
                    Value::Real(bid),
                    Value::Real(bid + 0.02),
                ],
            }
        })
    }

    /// The batch as one transaction body: every row inserted with [`TickRow`]'s statement; returns
    /// the rows inserted.
    pub fn body(self) -> TxBody {
        Arc::new(move |conn: &Connection| {
            use sqlretry::writer::Row as _;
            let mut stmt = conn.prepare_cached(TickRow::INSERT_SQL)?;
            let mut rows = 0u64;
            for row in self.rows() {
                rows += stmt.execute(params_from_iter(row.values.iter()))? as u64;
            }
            Ok(rows)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_inserts_the_rows_once() {
        let conn = Connection::open_in_memory().expect("open");
        conn.execute_batch(
            "CREATE TABLE ticks (run_id INTEGER NOT NULL, symbol TEXT NOT NULL, ts INTEGER NOT NULL,
                 bid REAL NOT NULL, ask REAL NOT NULL, PRIMARY KEY (run_id, symbol, ts));",
        )
        .expect("schema");
        let batch = TickBatch { run_id: 7, symbol: "S1".into(), first_ts: 100, base: 1.5, len: 4 };
        assert_eq!(batch.rows().count(), 4);
        let body = batch.body();
        assert_eq!(body(&conn).expect("insert"), 4);
        assert_eq!(body(&conn).expect("again"), 0, "INSERT OR IGNORE on the natural key");
    }
}
