//! The `writer` strategy: the library's [`Writer`] — one writer per file, many callers' requests
//! committed in one transaction (group commit), each acknowledged after its commit.
//!
//! How a worker writes through it:
//! - one write at a time: [`Writer::submit`]; `--in-flight N`: [`Writer::enqueue`], keeping N
//!   [`Pending`](sqlretry::writer::Pending) results and waiting for the oldest;
//! - `--mode tasks`: [`Writer::submit_async`];
//! - the `ticks` workload: the batched ingest path, [`Ingest::append`] of every tick. The library
//!   acknowledges no single append, so an operation is acknowledged once the writer's metrics count
//!   every row appended up to its last one as flushed (written or dead-lettered): the writer
//!   thread flushes the one lane's buffer in append order, one batch at a time. A dead-lettered
//!   row shows as `lost` when the run counts the table.
//!
//! A row appended to an empty buffer while the writer thread is idle does not wake it (the thread
//! wakes when a batch fills or a request arrives), so a partial batch can wait past the flush
//! interval. An operation that has waited one interval (plus [`NUDGE_SLACK`]) for its flush
//! therefore queues an empty request ([`Writer::enqueue`]), after which the thread flushes the
//! buffer when its interval is up.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use sqlretry::config::Config;
use sqlretry::writer::{IngestOptions, WriteError, Writer, WriterOptions};

use crate::open_once::{OpenOnce, misuse, sqlite_error};
use crate::strategy::{Op, OpFailure, OpOutcome, Opener, Strategy, Ticket, WriteFuture, open_connection};
use crate::ticks::{TickBatch, TickRow};

/// The longest an operation waits for its appended ticks to be flushed.
const FLUSH_ACK_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a waiting operation looks at the writer's flushed-row count.
const FLUSH_ACK_POLL: Duration = Duration::from_micros(500);
/// How long past the flush interval an operation waits before it wakes the writer thread.
const NUDGE_SLACK: Duration = Duration::from_millis(20);

/// The process's one writer, its ingest lane for ticks, and the rows appended to that lane so far.
#[derive(Clone)]
struct Shared {
    writer: Writer,
    ingest: sqlretry::writer::Ingest<TickRow>,
    appended: Arc<Mutex<u64>>,
    watch: Arc<FlushWatch>,
    /// The ingest lane's flush interval.
    interval: Duration,
}

/// The writer's flushed-row count as last read, shared by the waiting operations: one of them at a
/// time reads the metrics (a snapshot locks the writer's histograms), the others use its reading.
#[derive(Debug, Default)]
struct FlushWatch {
    seen: AtomicU64,
    reading: Mutex<()>,
}

impl FlushWatch {
    /// Ingest rows the writer has flushed (written, dead-lettered or lost), at least.
    fn flushed(&self, writer: &Writer) -> u64 {
        if let Ok(_reading) = self.reading.try_lock() {
            let m = writer.metrics();
            self.seen.fetch_max(m.rows_written + m.rows_dead_lettered + m.rows_lost, Ordering::Relaxed);
        }
        self.seen.load(Ordering::Relaxed)
    }
}

/// Opens one [`Writer`] per process, shared by its worker threads; it is shut down (drained and
/// joined) when the opener is dropped after every worker finished.
pub struct WriterOpener {
    db: PathBuf,
    config: Config,
    shared: OpenOnce<Shared>,
}

impl WriterOpener {
    /// An opener for `db`, configured by `config` when first used.
    pub fn new(db: PathBuf, config: Config) -> Self {
        WriterOpener { db, config, shared: OpenOnce::new() }
    }

    fn shared(&self) -> rusqlite::Result<Shared> {
        self.shared.get_or_open(|| {
            let config = &self.config;
            let options = WriterOptions::from_config(config).map_err(|e| misuse(e.to_string()))?;
            let ingest = IngestOptions::from_config(config).map_err(|e| misuse(e.to_string()))?;
            let writer = Writer::open_with(&self.db, options).map_err(|e| misuse(e.to_string()))?;
            let interval = ingest.interval();
            let ingest = writer.ingest::<TickRow>(ingest);
            let (appended, watch) = (Arc::new(Mutex::new(0)), Arc::new(FlushWatch::default()));
            Ok(Shared { writer, ingest, appended, watch, interval })
        })
    }
}

impl Drop for WriterOpener {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            drop(shared.ingest);
            if let Err(error) = shared.writer.shutdown() {
                tracing::error!(%error, "shutting the stress writer down");
            }
        }
    }
}

/// A request's result as the harness counts it (group retries belong to the group, counted in the
/// writer's metrics, not per request).
fn outcome(result: Result<u64, WriteError>) -> Result<OpOutcome, OpFailure> {
    result
        .map(|units| OpOutcome { retries: 0, units })
        .map_err(|error| OpFailure { error: sqlite_error(error), retries: 0 })
}

impl Opener for WriterOpener {
    fn open(&self, _worker: u64) -> rusqlite::Result<Box<dyn Strategy>> {
        let shared = self.shared()?;
        let reader = open_connection(&self.db, Duration::from_secs(5))?;
        Ok(Box::new(WriterStrategy { shared, reader }))
    }
}

/// One worker's handle on the shared [`Writer`].
struct WriterStrategy {
    shared: Shared,
    reader: Connection,
}

impl WriterStrategy {
    /// Appends the batch's ticks to the ingest lane; returns how many rows the lane has taken in
    /// all once the last of them is in (the flushed count that acknowledges them).
    fn append(&self, batch: &TickBatch) -> Result<u64, OpFailure> {
        let mut appended = self.shared.appended.lock().unwrap_or_else(PoisonError::into_inner);
        for row in batch.rows() {
            self.shared
                .ingest
                .append(row)
                .map_err(|e| OpFailure { error: misuse(format!("ingest append: {e}")), retries: 0 })?;
            *appended += 1;
        }
        Ok(*appended)
    }
}

/// Waits until the writer has flushed `through` ingest rows, waking the writer thread once per
/// flush interval it waited (see the module docs).
fn flushed(shared: &Shared, through: u64, units: u64) -> Result<OpOutcome, OpFailure> {
    let start = Instant::now();
    let deadline = start + FLUSH_ACK_TIMEOUT;
    let mut nudge_at = start + shared.interval + NUDGE_SLACK;
    loop {
        if shared.watch.flushed(&shared.writer) >= through {
            return Ok(OpOutcome { retries: 0, units });
        }
        let now = Instant::now();
        if now >= nudge_at {
            tracing::debug!(through, "waking the writer thread to flush the ingest buffer");
            // Its outcome does not matter: the empty request only wakes the writer thread.
            let _nudge = shared.writer.enqueue(|_tx| Ok(0u64));
            nudge_at = now + shared.interval + NUDGE_SLACK;
        }
        if now >= deadline {
            let message = format!("ingest rows not flushed within {FLUSH_ACK_TIMEOUT:?}");
            return Err(OpFailure { error: misuse(message), retries: 0 });
        }
        thread::sleep(FLUSH_ACK_POLL);
    }
}

impl Strategy for WriterStrategy {
    fn name(&self) -> &'static str {
        "writer"
    }

    fn reader(&self) -> &Connection {
        &self.reader
    }

    fn write(&mut self, op: Op) -> Result<OpOutcome, OpFailure> {
        match op {
            Op::Ticks(batch) => {
                let through = self.append(&batch)?;
                flushed(&self.shared, through, batch.len)
            }
            Op::Tx(body) => outcome(self.shared.writer.submit(move |tx| body(tx))),
        }
    }

    fn in_flight(&self, requested: u32) -> u32 {
        requested.max(1)
    }

    fn enqueue(&mut self, op: Op) -> Ticket {
        match op {
            Op::Ticks(batch) => match self.append(&batch) {
                Ok(through) => {
                    let shared = self.shared.clone();
                    Box::new(move || flushed(&shared, through, batch.len))
                }
                Err(failure) => Box::new(move || Err(failure)),
            },
            Op::Tx(body) => match self.shared.writer.enqueue(move |tx| body(tx)) {
                Ok(pending) => Box::new(move || outcome(pending.wait())),
                Err(error) => Box::new(move || outcome(Err(error))),
            },
        }
    }

    fn write_async(&self, op: Op) -> Result<WriteFuture, Op> {
        match op {
            Op::Tx(body) => {
                let writer = self.shared.writer.clone();
                Ok(Box::pin(async move { outcome(writer.submit_async(move |tx| body(tx)).await) }))
            }
            ticks @ Op::Ticks(_) => Err(ticks),
        }
    }
}
