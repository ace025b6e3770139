//! [`WriteTx`]: one `BEGIN IMMEDIATE … COMMIT` on a store's write connection, with SQLite's write
//! lock waited for by polling, and a rollback on drop unless committed.
//!
//! BEGIN, COMMIT and ROLLBACK are prepared once and cached on the connection: a small write
//! transaction costs a few microseconds, and parsing those three statements again on every write
//! would be a measurable part of it.

use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::classify::Classify;

/// Sleeps between polls of `BEGIN IMMEDIATE`: 50 µs, 100 µs, then 200 µs. A poll costs a few
/// microseconds; polling often keeps the wait for a lock released by another process short.
const POLL: [Duration; 3] =
    [Duration::from_micros(50), Duration::from_micros(100), Duration::from_micros(200)];

/// An open write transaction; rolled back on drop unless [`WriteTx::commit`] succeeded.
pub(crate) struct WriteTx<'c> {
    conn: &'c Connection,
    open: bool,
}

impl<'c> WriteTx<'c> {
    /// `BEGIN IMMEDIATE`, polled while SQLite's write lock is held elsewhere, until `wait_until`;
    /// then the last SQLITE_BUSY is returned.
    pub(crate) fn begin(conn: &'c Connection, wait_until: Instant) -> rusqlite::Result<WriteTx<'c>> {
        if !conn.is_autocommit() {
            // A closure left a transaction open by hand; start from a clean state.
            conn.prepare_cached("ROLLBACK")?.execute([])?;
        }
        let mut polls = POLL.iter().chain(std::iter::repeat(&POLL[POLL.len() - 1]));
        loop {
            match conn.prepare_cached("BEGIN IMMEDIATE")?.execute([]) {
                Ok(_) => return Ok(WriteTx { conn, open: true }),
                Err(e) if e.classify().is_retryable() => {
                    let pause = *polls.next().unwrap_or(&POLL[0]);
                    if Instant::now() + pause > wait_until {
                        return Err(e);
                    }
                    std::thread::sleep(pause);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The connection, inside the transaction.
    pub(crate) fn conn(&self) -> &'c Connection {
        self.conn
    }

    /// `COMMIT`. On an error (SQLITE_BUSY at COMMIT included) the transaction is rolled back when
    /// `self` is dropped.
    pub(crate) fn commit(mut self) -> rusqlite::Result<()> {
        self.conn.prepare_cached("COMMIT")?.execute([])?;
        self.open = false;
        Ok(())
    }
}

impl Drop for WriteTx<'_> {
    fn drop(&mut self) {
        if self.open && !self.conn.is_autocommit() {
            let rollback = self.conn.prepare_cached("ROLLBACK").and_then(|mut s| s.execute([]));
            if let Err(error) = rollback {
                tracing::warn!(%error, "cannot roll back a failed write transaction");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolls_back_unless_committed() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (x)").unwrap();
        let far = Instant::now() + Duration::from_secs(1);
        {
            let tx = WriteTx::begin(&conn, far).unwrap();
            tx.conn().execute("INSERT INTO t VALUES (1)", []).unwrap();
        }
        let tx = WriteTx::begin(&conn, far).unwrap();
        tx.conn().execute("INSERT INTO t VALUES (2)", []).unwrap();
        tx.commit().unwrap();
        let xs: Vec<i64> = conn
            .prepare("SELECT x FROM t")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(xs, [2]);
        assert!(conn.is_autocommit());
    }
}
