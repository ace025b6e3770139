//! Workloads: the schema, the rows seeded for a run, one operation, and counting what is really there.
//!
//! Every row carries the run id, so several runs against one file count only their own rows.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use crate::rng::SplitMix64;
use crate::strategy::{Op, OpFailure, Strategy};
use crate::ticks::TickBatch;

/// The kind of operation each worker repeats.
///
/// # Examples
///
/// ```
/// use sqlretry_stress::WorkloadKind;
///
/// assert_eq!(WorkloadKind::Entries.name(), "entries");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum WorkloadKind {
    /// State-store saves: SELECT a counter, INSERT OR REPLACE a key, UPDATE the counter.
    Kv,
    /// Batched tick inserts: INSERT OR IGNORE a batch on (symbol, ts).
    Ticks,
    /// A parser worker: read an entry, slow work outside any transaction, write if unchanged.
    Entries,
}

impl WorkloadKind {
    /// The name on the command line and in reports.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(sqlretry_stress::WorkloadKind::Kv.name(), "kv");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Self::Kv => "kv",
            Self::Ticks => "ticks",
            Self::Entries => "entries",
        }
    }
}

/// A workload with its parameters.
///
/// # Examples
///
/// ```
/// use sqlretry_stress::{Workload, WorkloadKind};
///
/// let ticks = Workload { kind: WorkloadKind::Ticks, batch: 50, work_ms: 1 };
/// assert_eq!(ticks.name(), "ticks");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Workload {
    /// Which workload.
    pub kind: WorkloadKind,
    /// `ticks`: ticks per batch.
    pub batch: u32,
    /// `entries`: slow work outside the transaction, in milliseconds.
    pub work_ms: u64,
}

/// Where one worker is in its run: identifies the rows it writes.
#[derive(Debug)]
pub struct OpContext {
    /// The run's id (every row is tagged with it).
    pub run_id: i64,
    /// Worker number, unique within the run across processes.
    pub worker: u64,
    /// Entries seeded for the run (`entries` workload).
    pub entries: u64,
    /// Index of this operation within the worker.
    pub seq: u64,
    /// The worker's random generator.
    pub rng: SplitMix64,
}

/// The outcome of one operation's steps before its write transaction.
pub enum Prepared {
    /// Write this.
    Write(Op),
    /// A step before the write failed (e.g. the `entries` workload's read).
    Failed(OpFailure),
}

impl Workload {
    /// The name on the command line.
    pub fn name(&self) -> &'static str {
        self.kind.name()
    }

    /// Entries seeded for a run with `workers` writers (`entries` workload; 0 otherwise).
    pub fn entries_for(&self, workers: u64) -> u64 {
        match self.kind {
            WorkloadKind::Entries => (workers * 16).max(64),
            _ => 0,
        }
    }

    /// Creates the tables if missing (idempotent; safe while other runs use the file).
    ///
    /// # Errors
    /// The DDL failed.
    pub fn create_schema(&self, conn: &Connection) -> rusqlite::Result<()> {
        conn.execute_batch(match self.kind {
            WorkloadKind::Kv => {
                "CREATE TABLE IF NOT EXISTS kv (run_id INTEGER NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
                     PRIMARY KEY (run_id, key));
                 CREATE TABLE IF NOT EXISTS kv_counter (run_id INTEGER NOT NULL, writer INTEGER NOT NULL,
                     n INTEGER NOT NULL, PRIMARY KEY (run_id, writer));"
            }
            WorkloadKind::Ticks => {
                "CREATE TABLE IF NOT EXISTS ticks (run_id INTEGER NOT NULL, symbol TEXT NOT NULL,
                     ts INTEGER NOT NULL, bid REAL NOT NULL, ask REAL NOT NULL,
                     PRIMARY KEY (run_id, symbol, ts));"
            }
            WorkloadKind::Entries => {
                "CREATE TABLE IF NOT EXISTS entries (run_id INTEGER NOT NULL, id INTEGER NOT NULL,
                     version INTEGER NOT NULL, result TEXT, PRIMARY KEY (run_id, id));"
            }
        })
    }

    /// Seeds the rows a run needs before its workers start: per-writer counters (`kv`) or the entries.
    ///
    /// # Errors
    /// An insert failed.
    pub fn seed_run(&self, conn: &Connection, run_id: i64, workers: u64) -> rusqlite::Result<()> {
        match self.kind {
            WorkloadKind::Kv => {
                let mut stmt =
                    conn.prepare("INSERT OR IGNORE INTO kv_counter (run_id, writer, n) VALUES (?1, ?2, 0)")?;
                for writer in 0..workers {
                    stmt.execute(params![run_id, to_i64(writer)])?;
                }
            }
            WorkloadKind::Ticks => {}
            WorkloadKind::Entries => {
                let mut stmt = conn.prepare(
                    "INSERT OR IGNORE INTO entries (run_id, id, version, result) VALUES (?1, ?2, 0, NULL)",
                )?;
                for id in 0..self.entries_for(workers) {
                    stmt.execute(params![run_id, to_i64(id)])?;
                }
            }
        }
        Ok(())
    }

    /// Units of this run really in the table: rows (`kv`, `ticks`) or version increments (`entries`).
    ///
    /// # Errors
    /// The query failed.
    pub fn count_units(&self, conn: &Connection, run_id: i64) -> rusqlite::Result<u64> {
        let sql = match self.kind {
            WorkloadKind::Kv => "SELECT COUNT(*) FROM kv WHERE run_id = ?1",
            WorkloadKind::Ticks => "SELECT COUNT(*) FROM ticks WHERE run_id = ?1",
            WorkloadKind::Entries => "SELECT COALESCE(SUM(version), 0) FROM entries WHERE run_id = ?1",
        };
        let n: i64 = conn.query_row(sql, [run_id], |row| row.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Runs an operation's steps before its write transaction and returns the transaction body.
    ///
    /// `entries` reads the entry's version outside any transaction and does its slow work here.
    pub fn prepare(&self, strategy: &dyn Strategy, ctx: &mut OpContext) -> Prepared {
        let run_id = ctx.run_id;
        let worker = to_i64(ctx.worker);
        match self.kind {
            WorkloadKind::Kv => {
                let key = format!("w{}-{}", ctx.worker, ctx.seq);
                let value = ctx.rng.hex(100);
                // Statements are cached per connection, as a real application would do.
                Prepared::Write(Op::Tx(Arc::new(move |conn: &Connection| {
                    let n: i64 = conn
                        .prepare_cached("SELECT n FROM kv_counter WHERE run_id = ?1 AND writer = ?2")?
                        .query_row(params![run_id, worker], |row| row.get(0))?;
                    let rows = conn
                        .prepare_cached("INSERT OR REPLACE INTO kv (run_id, key, value) VALUES (?1, ?2, ?3)")?
                        .execute(params![run_id, key, value])?;
                    conn.prepare_cached("UPDATE kv_counter SET n = ?3 WHERE run_id = ?1 AND writer = ?2")?
                        .execute(params![run_id, worker, n + 1])?;
                    Ok(rows as u64)
                })))
            }
            WorkloadKind::Ticks => {
                let batch = u64::from(self.batch);
                Prepared::Write(Op::Ticks(TickBatch {
                    run_id,
                    symbol: format!("S{}", ctx.worker),
                    first_ts: to_i64(ctx.seq.saturating_mul(batch)),
                    base: (ctx.rng.below(10_000) as f64) / 100.0 + 1.0,
                    len: batch,
                }))
            }
            WorkloadKind::Entries => {
                let id = to_i64(ctx.rng.below(ctx.entries));
                let seen = strategy
                    .reader()
                    .query_row(
                        "SELECT version FROM entries WHERE run_id = ?1 AND id = ?2",
                        params![run_id, id],
                        |row| row.get::<_, i64>(0),
                    )
                    .optional();
                let seen = match seen {
                    Ok(Some(version)) => version,
                    Ok(None) => return Prepared::Write(Op::Tx(Arc::new(|_: &Connection| Ok(0)))),
                    Err(error) => return Prepared::Failed(OpFailure { error, retries: 0 }),
                };
                // The slow work (a parser's model call, say) happens outside any transaction.
                thread::sleep(Duration::from_millis(self.work_ms));
                let result = format!("parsed by worker {worker} op {}", ctx.seq);
                Prepared::Write(Op::Tx(Arc::new(move |conn: &Connection| {
                    let now: Option<i64> = conn
                        .query_row(
                            "SELECT version FROM entries WHERE run_id = ?1 AND id = ?2",
                            params![run_id, id],
                            |row| row.get(0),
                        )
                        .optional()?;
                    if now != Some(seen) {
                        // Changed or deleted meanwhile: skip the write, no error: the entry is someone else's now.
                        tracing::debug!(id, seen, ?now, "entry changed during slow work; write skipped");
                        return Ok(0);
                    }
                    let rows = conn.execute(
                        "UPDATE entries SET version = version + 1, result = ?3
                         WHERE run_id = ?1 AND id = ?2 AND version = ?4",
                        params![run_id, id, result, seen],
                    )?;
                    Ok(rows as u64)
                })))
            }
        }
    }
}

/// Converts a count to SQLite's integer type, saturating (counts here never come near `i64::MAX`).
fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_seed_and_count_on_memory_db() {
        let conn = Connection::open_in_memory().expect("open");
        for kind in [WorkloadKind::Kv, WorkloadKind::Ticks, WorkloadKind::Entries] {
            let w = Workload { kind, batch: 5, work_ms: 0 };
            w.create_schema(&conn).expect("schema");
            w.create_schema(&conn).expect("schema twice");
            w.seed_run(&conn, 42, 2).expect("seed");
            assert_eq!(w.count_units(&conn, 42).expect("count"), 0);
        }
    }
}
