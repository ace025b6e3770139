//! The idempotency key of a write: its table, and recording it as the transaction's first
//! statement (see `idempotent.rs` for why).

use tokio_postgres::Transaction;

/// The table holding committed keys (in the connection's `search_path`).
pub const IDEMPOTENCY_TABLE: &str = "sqlretry_idempotency";

/// Records `key` in the open transaction: `true` if it was new, `false` if a transaction with
/// this key already committed (then the body must not run again).
pub(crate) async fn record(tx: &Transaction<'_>, key: &str) -> Result<bool, tokio_postgres::Error> {
    let sql = format!("INSERT INTO {IDEMPOTENCY_TABLE} (key) VALUES ($1) ON CONFLICT (key) DO NOTHING");
    Ok(tx.execute(&sql, &[&key]).await? == 1)
}
