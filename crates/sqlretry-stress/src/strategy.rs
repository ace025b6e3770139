//! Write strategies: one way of running a write transaction, one instance per worker. One trait,
//! [`Strategy`], over a [`Database`]: the SQLite strategies below and in `store_strategy.rs` /
//! `writer_strategy.rs`, the PostgreSQL ones in `postgres/strategy.rs`.
//!
//! # Adding a strategy
//! A strategy is a [`StrategyKind`] variant plus a type implementing [`Strategy`], opened by
//! [`opener`]. Nothing else in the harness changes: `--strategy all`, the table, JSON,
//! chart and exit code pick it up (`sqlretry`/`grouped`/`writer` are the "sqlretry family" that decides the
//! exit code).
//!
//! - `sqlretry` ([`crate::store_strategy`]): one library `Store` per process, configured by
//!   `--config`/`SQLRETRY_*`, shared by that process's workers; `write` runs `store.write(body)`.
//! - `grouped` ([`crate::store_strategy`]): the same `Store`, `write` runs
//!   `store.write_grouped(body)`: concurrent workers share one transaction (group commit).
//! - `writer` ([`crate::writer_strategy`]): one library `Writer` per process, shut down when the
//!   opener is dropped after every worker has been joined; `write` submits the owned [`TxBody`] and
//!   blocks until its commit is acknowledged; it is the one strategy that pipelines
//!   (`--in-flight`: `Writer::enqueue`), awaits natively (`--mode tasks`: `Writer::submit_async`)
//!   and writes `ticks` through the batched ingest path (`Ingest::append`).
//!
//! In `--mode tasks` every other strategy's blocking write runs on tokio's blocking pool.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use sqlretry::config::Config;

use crate::sqlite_codes;
use crate::store_strategy::StoreOpener;
use crate::strategy_kind::StrategyKind;
use crate::ticks::TickBatch;
use crate::writer_strategy::WriterOpener;

/// How long opening a connection may wait on locks, whatever the strategy: opening reads the
/// schema and may meet a checkpoint or another run's WAL switch, which a busy_timeout of 0 would
/// turn into a failure before the strategy under test ever runs.
const OPEN_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The body of one write transaction: runs on the transaction's connection and returns how many
/// units (rows or version increments) it wrote. It may run more than once when a strategy retries.
///
/// Owned and `'static` so a strategy can hand it to another thread (the Writer's group commit).
pub type TxBody = Arc<dyn Fn(&Connection) -> rusqlite::Result<u64> + Send + Sync>;

/// One operation's write, as the workload prepared it.
pub enum Op {
    /// A transaction body.
    Tx(TxBody),
    /// A batch of ticks: one transaction for most strategies, rows for the Writer's batched ingest.
    Ticks(TickBatch),
}

impl Op {
    /// The operation as one transaction body.
    pub fn into_body(self) -> TxBody {
        match self {
            Op::Tx(body) => body,
            Op::Ticks(batch) => batch.body(),
        }
    }
}

/// A database the harness writes to: what one write is there, what a failed one ends with, and
/// what a strategy reads with outside its transactions. [`Sqlite`] and the PostgreSQL harness's
/// `Postgres` are the two; every strategy of either is a [`Strategy`] over one of them.
pub trait Database: 'static {
    /// One operation's write, as the workload prepared it.
    type Op: Send + 'static;
    /// The error a failed write ends with.
    type Error: NamedError + Send + 'static;
    /// What a strategy reads with outside any transaction.
    type Reader: ?Sized;
}

/// An error a report can count by name: a SQLite extended code name, a SQLSTATE.
pub trait NamedError {
    /// The name failed operations are counted under.
    fn error_name(&self) -> String;
}

impl NamedError for rusqlite::Error {
    fn error_name(&self) -> String {
        sqlite_codes::error_name(self)
    }
}

impl NamedError for String {
    fn error_name(&self) -> String {
        self.clone()
    }
}

/// SQLite: writes are [`Op`]s (transaction bodies or tick batches) on a rusqlite connection.
#[derive(Debug, Clone, Copy)]
pub struct Sqlite;

impl Database for Sqlite {
    type Op = Op;
    type Error = rusqlite::Error;
    type Reader = Connection;
}

/// A write started by [`Strategy::enqueue`]: calling it waits for the write's outcome.
pub type Ticket<D = Sqlite> =
    Box<dyn FnOnce() -> Result<OpOutcome, OpFailure<<D as Database>::Error>> + Send>;

/// A write started by [`Strategy::write_async`], awaited by a tokio task.
pub type WriteFuture<D = Sqlite> =
    Pin<Box<dyn Future<Output = Result<OpOutcome, OpFailure<<D as Database>::Error>>> + Send>>;

/// What one successful write reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpOutcome {
    /// Attempts after the first.
    pub retries: u32,
    /// Units the committed transaction wrote (as returned by the body).
    pub units: u64,
}

/// A failed write: the error the application finally saw, and the retries spent before it.
#[derive(Debug)]
pub struct OpFailure<E = rusqlite::Error> {
    /// The last error.
    pub error: E,
    /// Attempts after the first.
    pub retries: u32,
}

/// One way of writing to database `D`; one instance per worker, each with its own connection (or
/// its share of a library store).
pub trait Strategy<D: Database = Sqlite>: Send {
    /// The strategy's name, as on the command line and in reports.
    fn name(&self) -> &'static str;
    /// What reads outside any transaction use (the `entries` workload's "read the entry").
    fn reader(&self) -> &D::Reader;
    /// Runs `op` as one write and waits until it committed, the way this strategy does.
    ///
    /// # Errors
    /// The error the application sees when the strategy gives up.
    fn write(&mut self, op: D::Op) -> Result<OpOutcome, OpFailure<D::Error>>;

    /// How many of the `requested` writes (`--in-flight`) one worker of this strategy keeps in
    /// flight: 1 unless the strategy can start a write without waiting for the previous one.
    fn in_flight(&self, requested: u32) -> u32 {
        let _ = requested;
        1
    }

    /// Starts `op` and returns a ticket that waits for its outcome. Strategies that cannot
    /// pipeline run the write now (their [`in_flight`](Strategy::in_flight) is 1).
    fn enqueue(&mut self, op: D::Op) -> Ticket<D> {
        let result = self.write(op);
        Box::new(move || result)
    }

    /// The strategy's async write for `op`, which never blocks the runtime; `Err(op)` hands the
    /// operation back when there is none (the caller runs [`write`](Strategy::write) on tokio's
    /// blocking pool instead).
    ///
    /// # Errors
    /// The operation, when the strategy has no async write for it.
    fn write_async(&self, op: D::Op) -> Result<WriteFuture<D>, D::Op> {
        Err(op)
    }
}

/// Opens one [`Strategy`] per worker; shared by the worker threads of one process.
pub trait Opener: Send + Sync {
    /// Opens a strategy instance with its own connection for worker number `worker`.
    ///
    /// # Errors
    /// Opening or configuring the connection failed.
    fn open(&self, worker: u64) -> rusqlite::Result<Box<dyn Strategy>>;
}

/// Settings every strategy may read when it is opened.
#[derive(Debug, Clone)]
pub struct StrategySettings {
    /// The database file.
    pub db: PathBuf,
    /// The library's configuration, read by the library's strategies (the plain ones take none).
    pub config: Config,
}

/// The opener for `kind`, shared by the worker threads of one process.
pub fn opener(kind: StrategyKind, settings: &StrategySettings) -> Arc<dyn Opener> {
    let plain = |busy_timeout: Duration, behavior: TransactionBehavior, retry: Option<SeedRetry>| {
        let opener: Arc<dyn Opener> = Arc::new(PlainOpener {
            name: kind.name(),
            db: settings.db.clone(),
            busy_timeout,
            behavior,
            retry,
        });
        opener
    };
    match kind {
        StrategyKind::None => plain(Duration::ZERO, TransactionBehavior::Deferred, None),
        StrategyKind::BusyTimeout => plain(Duration::from_secs(5), TransactionBehavior::Deferred, None),
        StrategyKind::SeedRetry => {
            plain(Duration::ZERO, TransactionBehavior::Deferred, Some(SeedRetry::HAND_WRITTEN))
        }
        StrategyKind::Immediate => plain(Duration::from_secs(5), TransactionBehavior::Immediate, None),
        StrategyKind::Sqlretry => {
            Arc::new(StoreOpener::new(settings.db.clone(), settings.config.clone(), false))
        }
        StrategyKind::Grouped => {
            Arc::new(StoreOpener::new(settings.db.clone(), settings.config.clone(), true))
        }
        StrategyKind::Writer => Arc::new(WriterOpener::new(settings.db.clone(), settings.config.clone())),
    }
}

/// Opens a connection the way every strategy in this harness does: WAL is verified, synchronous=NORMAL,
/// and `busy_timeout` set last (opening itself waits up to [`OPEN_BUSY_TIMEOUT`] on locks).
///
/// # Errors
/// Opening or a pragma failed, or the file is not in WAL mode.
pub fn open_connection(db: &Path, busy_timeout: Duration) -> rusqlite::Result<Connection> {
    let conn = Connection::open(db)?;
    conn.busy_timeout(OPEN_BUSY_TIMEOUT)?;
    let mode: String = conn.pragma_query_value(None, "journal_mode", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
            Some(format!("journal_mode is {mode}, expected wal")),
        ));
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(busy_timeout)?;
    Ok(conn)
}

/// The `seed-retry` schedule, a typical hand-written retry: attempts and a doubling delay with a cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedRetry {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// Delay before the second attempt.
    pub initial: Duration,
    /// Largest delay.
    pub cap: Duration,
}

impl SeedRetry {
    /// 10 attempts, 10 ms doubling to a 100 ms cap.
    pub const HAND_WRITTEN: SeedRetry =
        SeedRetry { attempts: 10, initial: Duration::from_millis(10), cap: Duration::from_millis(100) };

    /// The delay after failed attempt number `retry` (0-based).
    pub fn delay(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.cap)
    }
}

/// Opens [`PlainStrategy`] instances: plain rusqlite, one transaction behaviour, optional retry.
struct PlainOpener {
    name: &'static str,
    db: PathBuf,
    busy_timeout: Duration,
    behavior: TransactionBehavior,
    retry: Option<SeedRetry>,
}

impl Opener for PlainOpener {
    fn open(&self, _worker: u64) -> rusqlite::Result<Box<dyn Strategy>> {
        let conn = open_connection(&self.db, self.busy_timeout)?;
        Ok(Box::new(PlainStrategy { name: self.name, conn, behavior: self.behavior, retry: self.retry }))
    }
}

/// `none`, `busy-timeout`, `seed-retry` and `immediate`: plain rusqlite transactions.
struct PlainStrategy {
    name: &'static str,
    conn: Connection,
    behavior: TransactionBehavior,
    retry: Option<SeedRetry>,
}

impl PlainStrategy {
    /// One attempt: begin, body, commit. A failed commit rolls back on drop.
    fn attempt(&mut self, body: &TxBody) -> rusqlite::Result<u64> {
        let tx = self.conn.transaction_with_behavior(self.behavior)?;
        let units = body(&tx)?;
        tx.commit()?;
        Ok(units)
    }
}

impl Strategy for PlainStrategy {
    fn name(&self) -> &'static str {
        self.name
    }

    fn reader(&self) -> &Connection {
        &self.conn
    }

    fn write(&mut self, op: Op) -> Result<OpOutcome, OpFailure> {
        let body = op.into_body();
        let mut retries = 0;
        loop {
            match self.attempt(&body) {
                Ok(units) => return Ok(OpOutcome { retries, units }),
                Err(error) => {
                    let retry = self.retry.filter(|r| retries + 1 < r.attempts);
                    match retry {
                        Some(schedule) if sqlite_codes::is_busy_or_locked(&error) => {
                            thread::sleep(schedule.delay(retries));
                            retries += 1;
                        }
                        _ => return Err(OpFailure { error, retries }),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_retry_schedule_doubles_to_cap() {
        let s = SeedRetry::HAND_WRITTEN;
        let delays: Vec<u64> = (0..9).map(|r| s.delay(r).as_millis() as u64).collect();
        assert_eq!(delays, [10, 20, 40, 80, 100, 100, 100, 100, 100]);
        assert_eq!(s.delay(200), Duration::from_millis(100));
    }
}
