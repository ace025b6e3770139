//! Batched ingest (spec 002): fire-and-forget appends of rows, flushed by the writer thread in
//! batches by size or interval, each batch one transaction under its own retry policy; a batch that
//! exhausts it goes to the dead-letter store.

use std::marker::PhantomData;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use super::core::{Owner, Shared};
use super::error::AppendError;
use super::options::IngestOptions;
use crate::deadline::Deadline;

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

/// The rows' SQL values. A row whose `values` panics cannot be written nor kept (there is nothing
/// to store): it is counted lost, logged at error level, and the batch goes on without it — the
/// panic never reaches the writer thread.
fn values_of<R: Row>(shared: &Shared, batch: Vec<R>) -> Vec<Vec<rusqlite::types::Value>> {
    let mut rows = Vec::with_capacity(batch.len());
    for row in &batch {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| row.values())) {
            Ok(values) => rows.push(values),
            Err(_) => {
                shared.metrics.lost(1);
                tracing::error!(writer = %shared.metrics.name(), row_type = R::TYPE_NAME, "a row's values() panicked: that row is LOST (counted in rows_lost)");
            }
        }
    }
    rows
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

/// An ingest lane as the writer thread sees it (object safe: one writer, many row types).
pub(crate) trait Lane: Send + Sync {
    /// When this lane wants a flush; `None` when empty.
    fn due(&self) -> Option<Instant>;
    /// Writes the batches that are due (all of them when `all`).
    fn flush(&self, shared: &Shared, all: bool);
    /// Refuses further appends.
    fn close(&self);
}

struct Buffer<R> {
    rows: Vec<R>,
    oldest: Option<Instant>,
    closed: bool,
}

pub(crate) struct RowLane<R> {
    config: IngestOptions,
    buffer: Mutex<Buffer<R>>,
    space: Condvar,
}

impl<R> RowLane<R> {
    fn lock(&self) -> MutexGuard<'_, Buffer<R>> {
        self.buffer.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<R: Row> RowLane<R> {
    /// Takes the next batch if one is due.
    fn next_batch(&self, all: bool) -> Option<(Vec<R>, usize)> {
        let mut buf = self.lock();
        let size = self.config.batch_size;
        let due = buf.oldest.is_some_and(|t| t.elapsed() >= self.config.interval);
        if buf.rows.is_empty() || !(all || due || buf.rows.len() >= size) {
            return None;
        }
        let batch = if buf.rows.len() <= size {
            buf.oldest = None;
            std::mem::take(&mut buf.rows)
        } else {
            let rest = buf.rows.split_off(size);
            std::mem::replace(&mut buf.rows, rest)
        };
        let left = buf.rows.len();
        drop(buf);
        self.space.notify_all();
        Some((batch, left))
    }

    fn write(&self, shared: &Shared, batch: Vec<R>) {
        let rows = values_of(shared, batch);
        if rows.is_empty() {
            return;
        }
        let n = rows.len() as u64;
        let result = if shared.queue.is_abandoned() {
            None
        } else {
            let deadline = Deadline::from_policy(&self.config.policy, Instant::now());
            Some(shared.transact(&self.config.policy, deadline, "ingest batch", |conn| {
                insert_values(conn, R::INSERT_SQL, &rows).map(|()| ((), true))
            }))
        };
        let error = match result {
            Some(Ok(())) => return shared.metrics.committed(0, n),
            Some(Err(error)) => {
                shared.metrics.batch_failed(error.inner(), 0);
                error.to_string()
            }
            None => "abandoned: the writer was dropped before the batch could be written".to_owned(),
        };
        // Counted (dead-lettered or lost) and logged there; nobody waits for this batch.
        let _ = shared.dead_letter(R::TYPE_NAME, R::INSERT_SQL, &rows, &error);
    }
}

impl<R: Row> Lane for RowLane<R> {
    fn due(&self) -> Option<Instant> {
        let buf = self.lock();
        if buf.rows.len() >= self.config.batch_size {
            return Some(Instant::now());
        }
        buf.oldest.map(|t| t + self.config.interval)
    }

    fn flush(&self, shared: &Shared, all: bool) {
        while let Some((batch, left)) = self.next_batch(all) {
            shared.metrics.set_buffered(left);
            self.write(shared, batch);
        }
    }

    fn close(&self) {
        self.lock().closed = true;
        self.space.notify_all();
    }
}

/// A handle for appending rows of type `R`; cloneable and `Send`. Appends return as soon as the
/// row is buffered; the writer thread commits it within the interval. Rows whose batch fails
/// after its retries are kept in the dead-letter store ([`Writer::replay`](super::Writer::replay)).
///
/// Holding an `Ingest` keeps the writer running, like a [`Writer`](super::Writer) handle.
pub struct Ingest<R> {
    lane: Arc<RowLane<R>>,
    shared: Arc<Shared>,
    _owner: Arc<Owner>,
    _row: PhantomData<fn(R)>,
}

impl<R> Clone for Ingest<R> {
    fn clone(&self) -> Self {
        Ingest {
            lane: Arc::clone(&self.lane),
            shared: Arc::clone(&self.shared),
            _owner: Arc::clone(&self._owner),
            _row: PhantomData,
        }
    }
}

impl<R> std::fmt::Debug for Ingest<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest")
            .field("writer", &self.shared.metrics.name())
            .field("config", &self.lane.config)
            .finish()
    }
}

impl<R: Row> Ingest<R> {
    pub(crate) fn new(shared: Arc<Shared>, owner: Arc<Owner>, config: IngestOptions) -> Self {
        let lane = Arc::new(RowLane {
            buffer: Mutex::new(Buffer {
                rows: Vec::with_capacity(config.batch_size),
                oldest: None,
                closed: false,
            }),
            space: Condvar::new(),
            config,
        });
        shared.add_lane(Arc::clone(&lane) as Arc<dyn Lane>);
        Ingest { lane, shared, _owner: owner, _row: PhantomData }
    }

    /// Buffers `row`, blocking while the buffer is full — at most the ingest policy's deadline,
    /// like every wait.
    ///
    /// # Errors
    ///
    /// [`AppendError::Closed`] (with the row) once the writer is shut down,
    /// [`AppendError::Full`] when the buffer stayed full until the deadline.
    pub fn append(&self, row: R) -> Result<(), AppendError<R>> {
        self.push(row, true)
    }

    /// Buffers `row` if there is room.
    ///
    /// # Errors
    ///
    /// [`AppendError::Full`] when the buffer is full, [`AppendError::Closed`] once the writer is
    /// shut down; either way the row is handed back.
    pub fn try_append(&self, row: R) -> Result<(), AppendError<R>> {
        self.push(row, false)
    }

    fn push(&self, row: R, block: bool) -> Result<(), AppendError<R>> {
        let capacity = self.lane.config.capacity();
        let mut buf = self.lane.lock();
        let mut deadline = None;
        while !buf.closed && buf.rows.len() >= capacity {
            if !block {
                return Err(AppendError::Full(row));
            }
            let now = Instant::now();
            let deadline =
                *deadline.get_or_insert_with(|| Deadline::from_policy(&self.lane.config.policy, now));
            buf = match deadline.remaining(now) {
                None => self.lane.space.wait(buf).unwrap_or_else(PoisonError::into_inner),
                Some(left) if left.is_zero() => return Err(AppendError::Full(row)),
                Some(left) => {
                    self.lane.space.wait_timeout(buf, left).unwrap_or_else(PoisonError::into_inner).0
                }
            };
        }
        if buf.closed {
            return Err(AppendError::Closed(row));
        }
        buf.rows.push(row);
        let len = buf.rows.len();
        if len == 1 {
            buf.oldest = Some(Instant::now());
        }
        drop(buf);
        // A full batch; or a first row, after which the writer thread (perhaps waiting with no
        // flush due at all) must look again at when this lane wants its flush.
        if len == 1 || len.is_multiple_of(self.lane.config.batch_size) {
            self.shared.queue.wake_lanes();
        }
        Ok(())
    }
}
