//! [`Row`]: a row type for batched ingest and its values, and how rows are inserted (by ingest,
//! by [`Writer::insert`](super::Writer::insert) and by replay).

/// A row type for batched ingest: its name, its insert statement and its values.
///
/// The insert should be `INSERT OR IGNORE` on a natural key (a `UNIQUE` constraint), so that a
/// batch written twice — a retry after an ambiguous failure, a [`replay`](super::Writer::replay_all)
/// — stores each row once. The statement is prepared once per connection (`prepare_cached`) and
/// executed with [`values`](Row::values) for every row.
///
/// Because a row is only its values, a dead-lettered batch is self-describing: the store keeps
/// `TYPE_NAME`, `INSERT_SQL` and each row's values, and any program — the `sqlretry dead-letters`
/// command included — can write it back without this type.
///
/// # Examples
///
/// ```
/// use rusqlite::types::Value;
/// use sqlretry::writer::Row;
///
/// struct Tick { symbol: String, ts_ms: i64, bid: f64, ask: f64 }
///
/// impl Row for Tick {
///     const TYPE_NAME: &'static str = "tick";
///     const INSERT_SQL: &'static str =
///         "INSERT OR IGNORE INTO ticks (symbol, ts_ms, bid, ask) VALUES (?1, ?2, ?3, ?4)";
///     fn values(&self) -> Vec<Value> {
///         vec![self.symbol.clone().into(), self.ts_ms.into(), self.bid.into(), self.ask.into()]
///     }
/// }
/// ```
pub trait Row: Send + 'static {
    /// A stable name for the type, stored with its dead letters.
    const TYPE_NAME: &'static str;
    /// The insert statement, `INSERT OR IGNORE` on the natural key; it must start with `INSERT`
    /// (replay refuses anything else).
    const INSERT_SQL: &'static str;
    /// This row's values for [`INSERT_SQL`](Row::INSERT_SQL)'s parameters, in order.
    fn values(&self) -> Vec<rusqlite::types::Value>;
}

/// Executes `sql` (cached) once per row of `rows` in the open transaction.
pub(crate) fn insert_values(
    tx: &rusqlite::Connection,
    sql: &str,
    rows: &[Vec<rusqlite::types::Value>],
) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(sql)?;
    for row in rows {
        stmt.execute(rusqlite::params_from_iter(row))?;
    }
    Ok(())
}
