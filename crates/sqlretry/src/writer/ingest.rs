//! Batched ingest: fire-and-forget appends of rows, flushed by the writer thread in
//! batches by size or interval, each batch one transaction under its own retry policy; a batch that
//! exhausts it goes to the dead-letter store.

use std::marker::PhantomData;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use super::dead_lettering::DeadLetters;
use super::error::AppendError;
use super::options::IngestOptions;
use super::row::{Row, insert_values};
use crate::deadline::Deadline;
use crate::group_commit::{Background, Engine, GroupCommit};

/// The rows' SQL values. A row whose `values` panics cannot be written nor kept (there is nothing
/// to store): it is counted lost, logged at error level, and the batch goes on without it — the
/// panic never reaches the writer thread.
fn values_of<R: Row>(engine: &Engine, batch: Vec<R>) -> Vec<Vec<rusqlite::types::Value>> {
    let mut rows = Vec::with_capacity(batch.len());
    for row in &batch {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| row.values())) {
            Ok(values) => rows.push(values),
            Err(_) => {
                engine.metrics.lost(1, &format!("a {} row's values() panicked", R::TYPE_NAME));
                tracing::error!(writer = %engine.metrics.name(), row_type = R::TYPE_NAME, "a row's values() panicked: that row is LOST (counted in rows_lost)");
            }
        }
    }
    rows
}

struct Buffer<R> {
    rows: Vec<R>,
    oldest: Option<Instant>,
    closed: bool,
}

/// One ingest lane: rows of one type, buffered until their batch is due; run by the engine's
/// thread as [`Background`] work.
pub(crate) struct RowLane<R> {
    config: IngestOptions,
    dead_letters: Arc<DeadLetters>,
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

    fn write(&self, engine: &Engine, batch: Vec<R>) {
        let rows = values_of(engine, batch);
        if rows.is_empty() {
            return;
        }
        let n = rows.len() as u64;
        let result = if engine.queue.is_abandoned() {
            None
        } else {
            let deadline = Deadline::from_policy(&self.config.policy, Instant::now());
            Some(engine.transact(&self.config.policy, deadline, "ingest batch", |conn| {
                insert_values(conn, R::INSERT_SQL, &rows).map(|()| ((), true))
            }))
        };
        let error = match result {
            Some(Ok(())) => return engine.metrics.batch_written(n),
            Some(Err(error)) => {
                engine.metrics.batch_failed(error.inner(), 0);
                error.to_string()
            }
            None => "abandoned: the writer was dropped before the batch could be written".to_owned(),
        };
        // Counted (dead-lettered or lost) and logged there; nobody waits for this batch.
        let _ = self.dead_letters.keep(engine, R::TYPE_NAME, R::INSERT_SQL, &rows, &error);
    }
}

impl<R: Row> Background for RowLane<R> {
    fn due(&self) -> Option<Instant> {
        let buf = self.lock();
        if buf.rows.len() >= self.config.batch_size {
            return Some(Instant::now());
        }
        buf.oldest.map(|t| t + self.config.interval)
    }

    fn run(&self, engine: &Engine, all: bool) {
        while let Some((batch, left)) = self.next_batch(all) {
            engine.metrics.set_buffered(left);
            self.write(engine, batch);
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
    /// The writer's engine: this handle keeps it running.
    group: GroupCommit,
    _row: PhantomData<fn(R)>,
}

impl<R> Clone for Ingest<R> {
    fn clone(&self) -> Self {
        Ingest { lane: Arc::clone(&self.lane), group: self.group.clone(), _row: PhantomData }
    }
}

impl<R> std::fmt::Debug for Ingest<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest")
            .field("writer", &self.group.engine.metrics.name())
            .field("config", &self.lane.config)
            .finish()
    }
}

impl<R: Row> Ingest<R> {
    pub(crate) fn new(group: GroupCommit, dead_letters: Arc<DeadLetters>, config: IngestOptions) -> Self {
        let lane = Arc::new(RowLane {
            dead_letters,
            buffer: Mutex::new(Buffer {
                rows: Vec::with_capacity(config.batch_size),
                oldest: None,
                closed: false,
            }),
            space: Condvar::new(),
            config,
        });
        group.engine.add_background(Arc::clone(&lane) as Arc<dyn Background>);
        Ingest { lane, group, _row: PhantomData }
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
            self.group.engine.queue.wake_background();
        }
        Ok(())
    }
}
