//! The BASELINE.md workload: each operation a read-then-write transaction on one file in WAL mode,
//! synchronous=NORMAL — SELECT a counter, INSERT a ~100-byte row, UPDATE the counter.

use std::path::Path;

/// The schema (WAL and synchronous are set per connection by each strategy).
pub const SCHEMA: &str = "PRAGMA journal_mode = WAL;
    CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL);
    INSERT OR IGNORE INTO counter VALUES (1, 0);
    CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, v TEXT NOT NULL);";

/// A ~100-byte payload.
pub const PAYLOAD: &str =
    "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnop";

/// The pragmas every connection of every strategy gets.
pub const PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;";

/// Creates the schema on a fresh file.
pub fn create(path: &Path) {
    let conn = rusqlite::Connection::open(path).expect("open");
    conn.execute_batch(SCHEMA).expect("schema");
}

/// A plain rusqlite connection: WAL, synchronous=NORMAL, rusqlite's default busy_timeout (5 s).
pub fn open(path: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).expect("open");
    conn.execute_batch(PRAGMAS).expect("pragmas");
    conn
}

/// One operation's statements, inside a transaction the caller began.
pub fn op(tx: &rusqlite::Connection) -> rusqlite::Result<()> {
    let n: i64 = tx.prepare_cached("SELECT n FROM counter WHERE id = 1")?.query_row([], |r| r.get(0))?;
    tx.prepare_cached("INSERT INTO items (v) VALUES (?1)")?.execute([PAYLOAD])?;
    tx.prepare_cached("UPDATE counter SET n = ?1 WHERE id = 1")?.execute([n + 1])?;
    Ok(())
}

/// One operation in `BEGIN IMMEDIATE … COMMIT` (rusqlite's transaction, no retry of its own).
pub fn op_immediate(conn: &mut rusqlite::Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    op(&tx)?;
    tx.commit()
}

/// The counter and the row count on `path`: equal to the committed operations, or a write was lost.
pub fn committed(path: &Path) -> (i64, i64) {
    let conn = rusqlite::Connection::open(path).expect("open");
    let n = conn.query_row("SELECT n FROM counter WHERE id = 1", [], |r| r.get(0)).expect("counter");
    let rows = conn.query_row("SELECT count(*) FROM items", [], |r| r.get(0)).expect("rows");
    (n, rows)
}

/// One operation through sqlx, in a transaction begun by `begin` (`BEGIN` or `BEGIN IMMEDIATE`).
pub async fn op_sqlx(pool: &sqlx::SqlitePool, immediate: bool) -> Result<(), sqlx::Error> {
    let mut tx = if immediate { pool.begin_with("BEGIN IMMEDIATE").await? } else { pool.begin().await? };
    let (n,): (i64,) = sqlx::query_as("SELECT n FROM counter WHERE id = 1").fetch_one(&mut *tx).await?;
    sqlx::query("INSERT INTO items (v) VALUES (?1)").bind(PAYLOAD).execute(&mut *tx).await?;
    sqlx::query("UPDATE counter SET n = ?1 WHERE id = 1").bind(n + 1).execute(&mut *tx).await?;
    tx.commit().await
}
