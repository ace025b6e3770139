//! Write strategies: one way of running a write transaction, one instance per worker thread.
//!
//! # Adding a strategy
//! A strategy is a [`StrategyKind`] variant plus a type implementing [`Strategy`], opened by
//! [`StrategyKind::opener`]. Nothing else in the harness changes: `--strategy all`, the table, JSON,
//! chart and exit code pick it up (`sqlretry`/`grouped`/`writer` are the "sqlretry family" that decides the
//! exit code).
//!
//! - `sqlretry` ([`super::store_strategy`]): one library `Store` per process, configured by
//!   `--config`/`SQLRETRY_*`, shared by that process's workers; `write` runs `store.write(body)`.
//! - `grouped` ([`super::store_strategy`]): the same `Store`, `write` runs
//!   `store.write_grouped(body)`: concurrent workers share one transaction (group commit).
//! - `writer` ([`super::writer_strategy`]): one library `Writer` per process, shut down when the
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

use super::store_strategy::StoreOpener;
use super::ticks::TickBatch;
use super::writer_strategy::WriterOpener;
use crate::args::{ModeArg, StrategyArg, WorkloadArg};
use crate::sqlite_codes;

/// How long opening a connection may wait on locks, whatever the strategy (DESIGN.md §3.9).
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

/// A write started by [`Strategy::enqueue`]: calling it waits for the write's outcome.
pub type Ticket = Box<dyn FnOnce() -> Result<OpOutcome, OpFailure> + Send>;

/// A write started by [`Strategy::write_async`], awaited by a tokio task.
pub type WriteFuture = Pin<Box<dyn Future<Output = Result<OpOutcome, OpFailure>> + Send>>;

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
pub struct OpFailure {
    /// The last error.
    pub error: rusqlite::Error,
    /// Attempts after the first.
    pub retries: u32,
}

/// One way of writing; one instance per worker thread, each with its own connection.
pub trait Strategy: Send {
    /// The strategy's name, as on the command line.
    fn name(&self) -> &'static str;
    /// A connection for reads outside any transaction (spec 004's "read the entry").
    fn reader(&self) -> &Connection;
    /// Runs `op` as one write and waits until it committed, the way this strategy does.
    ///
    /// # Errors
    /// The error the application sees when the strategy gives up.
    fn write(&mut self, op: Op) -> Result<OpOutcome, OpFailure>;

    /// How many of the `requested` writes (`--in-flight`) one worker of this strategy keeps in
    /// flight: 1 unless the strategy can start a write without waiting for the previous one.
    fn in_flight(&self, requested: u32) -> u32 {
        let _ = requested;
        1
    }

    /// Starts `op` and returns a ticket that waits for its outcome. Strategies that cannot
    /// pipeline run the write now (their [`in_flight`](Strategy::in_flight) is 1).
    fn enqueue(&mut self, op: Op) -> Ticket {
        let result = self.write(op);
        Box::new(move || result)
    }

    /// The library's async write for `op`, which never blocks the runtime; `Err(op)` hands the
    /// operation back when there is none (the caller runs [`write`](Strategy::write) on tokio's
    /// blocking pool instead).
    ///
    /// # Errors
    /// The operation, when the strategy has no async write for it.
    fn write_async(&self, op: Op) -> Result<WriteFuture, Op> {
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

/// The strategies the `stress` command knows about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum StrategyKind {
    /// busy_timeout 0, deferred BEGIN, no retry.
    None,
    /// busy_timeout 5000 ms, deferred BEGIN, no retry.
    BusyTimeout,
    /// Spec 000: up to 10 attempts, 10 ms doubling to 100 ms, deferred BEGIN, busy_timeout 0.
    SeedRetry,
    /// busy_timeout 5000 ms, BEGIN IMMEDIATE, no retry.
    Immediate,
    /// The library's Store (BEGIN IMMEDIATE, whole-transaction retry).
    Sqlretry,
    /// The library's Store, grouped writes (group commit on the callers' threads).
    Grouped,
    /// The library's Writer (group commit).
    Writer,
}

/// Settings every strategy may read when it is opened.
#[derive(Debug, Clone)]
pub struct StrategySettings {
    /// The database file.
    pub db: PathBuf,
    /// `--config FILE.toml`, read by the library's strategies (with `SQLRETRY_*` over it).
    pub config: Option<PathBuf>,
}

impl StrategyKind {
    /// Every strategy, in the order `--strategy all` runs them.
    pub const ALL: [StrategyKind; 7] = [
        StrategyKind::None,
        StrategyKind::BusyTimeout,
        StrategyKind::SeedRetry,
        StrategyKind::Immediate,
        StrategyKind::Sqlretry,
        StrategyKind::Grouped,
        StrategyKind::Writer,
    ];

    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::BusyTimeout => "busy-timeout",
            Self::SeedRetry => "seed-retry",
            Self::Immediate => "immediate",
            Self::Sqlretry => "sqlretry",
            Self::Grouped => "grouped",
            Self::Writer => "writer",
        }
    }

    /// Whether the strategy is one of the library's own: these decide the exit code.
    pub fn is_sqlretry_family(self) -> bool {
        matches!(self, Self::Sqlretry | Self::Grouped | Self::Writer)
    }

    /// What one operation of this strategy calls in a run (the `api` JSON field).
    pub fn api(self, workload: WorkloadArg, mode: ModeArg, in_flight: u32) -> String {
        let tasks = mode == ModeArg::Tasks;
        let call = match self {
            Self::None | Self::BusyTimeout | Self::SeedRetry => "BEGIN DEFERRED",
            Self::Immediate => "BEGIN IMMEDIATE",
            Self::Sqlretry => "Store::write",
            Self::Grouped => "Store::write_grouped",
            Self::Writer if workload == WorkloadArg::Ticks => "Ingest::append",
            Self::Writer if tasks => return "Writer::submit_async".to_owned(),
            Self::Writer if in_flight > 1 => "Writer::enqueue",
            Self::Writer => "Writer::submit",
        };
        if tasks { format!("{call} via spawn_blocking") } else { call.to_owned() }
    }

    /// The strategies `--strategy` selects.
    pub fn selected(arg: StrategyArg) -> Vec<StrategyKind> {
        match arg {
            StrategyArg::All => Self::ALL.to_vec(),
            StrategyArg::One(kind) => vec![kind],
        }
    }

    /// The opener for this strategy, shared by the worker threads of one process.
    pub fn opener(self, settings: &StrategySettings) -> Arc<dyn Opener> {
        if let Some(config) = &settings.config {
            // The plain strategies take no configuration; the library's strategies read it.
            tracing::debug!(strategy = self.name(), config = %config.display(), "opening with --config");
        }
        let plain = |busy_timeout: Duration, behavior: TransactionBehavior, retry: Option<SeedRetry>| {
            let opener: Arc<dyn Opener> = Arc::new(PlainOpener {
                name: self.name(),
                db: settings.db.clone(),
                busy_timeout,
                behavior,
                retry,
            });
            opener
        };
        match self {
            Self::None => plain(Duration::ZERO, TransactionBehavior::Deferred, None),
            Self::BusyTimeout => plain(Duration::from_secs(5), TransactionBehavior::Deferred, None),
            Self::SeedRetry => {
                plain(Duration::ZERO, TransactionBehavior::Deferred, Some(SeedRetry::SPEC_000))
            }
            Self::Immediate => plain(Duration::from_secs(5), TransactionBehavior::Immediate, None),
            Self::Sqlretry => Arc::new(StoreOpener::new(settings.db.clone(), settings.config.clone(), false)),
            Self::Grouped => Arc::new(StoreOpener::new(settings.db.clone(), settings.config.clone(), true)),
            Self::Writer => Arc::new(WriterOpener::new(settings.db.clone(), settings.config.clone())),
        }
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

/// Spec 000's retry schedule: attempts and a doubling delay with a cap.
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
    pub const SPEC_000: SeedRetry =
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
        let s = SeedRetry::SPEC_000;
        let delays: Vec<u64> = (0..9).map(|r| s.delay(r).as_millis() as u64).collect();
        assert_eq!(delays, [10, 20, 40, 80, 100, 100, 100, 100, 100]);
        assert_eq!(s.delay(200), Duration::from_millis(100));
    }

    #[test]
    fn all_runs_every_strategy_in_order() {
        assert_eq!(StrategyKind::selected(StrategyArg::All), StrategyKind::ALL.to_vec());
        assert_eq!(
            StrategyKind::selected(StrategyArg::One(StrategyKind::Writer)),
            vec![StrategyKind::Writer]
        );
    }
}
