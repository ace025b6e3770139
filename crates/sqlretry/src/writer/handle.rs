//! [`Writer`]: the cloneable handle — submit (sync, async, try), ingest, replay, metrics, shutdown.
//!
//! Length: more than half of this file is documentation with runnable examples, one per way of
//! writing (submit, try, enqueue, async, insert, ingest, replay); each method is a few lines over
//! the engine in `intake.rs` / `run_group.rs`.

use std::path::Path;
use std::sync::Arc;

use std::time::Instant;

use rusqlite::Connection;

use super::core::{Owner, Shared};
use super::dead_letter::{self, DeadLetterStore, ReplayReport};
use super::error::{WriteError, WriterError};
use super::ingest::{Ingest, Row};
use super::intake::Pushed;
use super::metrics::{WriterMetrics, WriterMetricsSnapshot};
use super::options::{IngestOptions, WriterOptions};
use super::request::{Reply, request};
use crate::deadline::Deadline;
use crate::sqlite::write_side::WriteSide;

/// A handle to the one writer of a database file. Cloneable and `Send`; all clones share one
/// queue, one write connection and one writer thread. See the [module docs](super) for the design.
///
/// # Examples
///
/// ```
/// use sqlretry::writer::{Writer, WriterOptions, WriteError};
///
/// let dir = tempfile::tempdir()?;
/// let writer = Writer::open(dir.path().join("app.db"))?;
/// writer.submit(|tx| tx.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)"))?;
///
/// // The result arrives after the transaction committed.
/// let id = writer.submit(|tx| {
///     tx.execute("INSERT INTO t (v) VALUES ('a')", [])?;
///     Ok(tx.last_insert_rowid())
/// })?;
/// assert_eq!(id, 1);
///
/// // A permanent error fails its own request only.
/// let err = writer.submit(|tx| tx.execute("INSERT INTO t (v) VALUES (NULL)", [])).unwrap_err();
/// assert!(matches!(err, WriteError::Rejected { .. }));
///
/// let metrics = writer.shutdown()?; // drains, commits, joins the thread
/// assert_eq!(metrics.requests_committed, 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Writer {
    shared: Arc<Shared>,
    owner: Arc<Owner>,
}

/// A request inserting `row` with its type's cached `INSERT`; [`WriteError::RequestPanicked`]
/// if the row's `values` panics (caught here, on the caller's thread).
fn insert_row<R: Row>(
    row: &R,
) -> Result<impl FnMut(&Connection) -> rusqlite::Result<usize> + Send + 'static, WriteError> {
    let values = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| row.values()))
        .map_err(|_| WriteError::RequestPanicked)?;
    Ok(move |tx: &Connection| tx.prepare_cached(R::INSERT_SQL)?.execute(rusqlite::params_from_iter(&values)))
}

/// A request queued by [`Writer::enqueue`]: its result, once its group transaction committed.
#[must_use = "a pending write's result says whether it committed"]
#[derive(Debug)]
pub struct Pending<T> {
    rx: std::sync::mpsc::Receiver<Result<T, WriteError>>,
}

impl<T> Pending<T> {
    /// Blocks until the request's transaction committed (or the request failed) and returns its
    /// result, as [`Writer::submit`] would have.
    ///
    /// # Errors
    ///
    /// As [`Writer::submit`].
    pub fn wait(self) -> Result<T, WriteError> {
        // Bounded without a timer of its own: the request's group ends by the request's deadline
        // (a request still queued past it fails unrun), and if the writer thread ends, its guard
        // fails every queued request at once (the sender is then dropped: `Closed`). A timeout here
        // could report a failure for a write that commits a moment later.
        self.rx.recv().unwrap_or(Err(WriteError::Closed))
    }
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("path", &self.shared.path)
            .field("config", &self.shared.config)
            .finish()
    }
}

impl Writer {
    /// Opens `path` with [`WriterOptions::default`] and starts the writer thread
    /// (`sqlretry-writer`). The constructors follow one convention across the crate: `open(path)`
    /// with defaults, `open_with(path, options)` ([`Store`](crate::sqlite::Store) too).
    ///
    /// # Errors
    ///
    /// As [`Writer::open_with`].
    pub fn open(path: impl AsRef<Path>) -> Result<Writer, WriterError> {
        Self::open_with(path, WriterOptions::default())
    }

    /// Opens `path` with the options' [`ConnectionProfile`](crate::sqlite::ConnectionProfile) and
    /// starts the writer thread (`sqlretry-writer`).
    ///
    /// # Errors
    ///
    /// [`WriterError::Open`] if the file cannot be opened and set up, [`WriterError::Spawn`] if
    /// the thread cannot be started.
    pub fn open_with(path: impl AsRef<Path>, config: WriterOptions) -> Result<Writer, WriterError> {
        let (shared, owner) = Owner::start(path.as_ref(), config)?;
        Ok(Writer { shared, owner })
    }

    /// A writer on a [`Store`](crate::sqlite::Store)'s write side (its connection, turns,
    /// writers' lock and lock-hold histogram): the engine of
    /// [`Store::write_grouped`](crate::sqlite::Store::write_grouped).
    pub(crate) fn on_side(side: Arc<WriteSide>, config: WriterOptions) -> Result<Writer, WriterError> {
        let (shared, owner) = Owner::start_on(side, config)?;
        Ok(Writer { shared, owner })
    }

    /// The database file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// The dead-letter file beside the database (it exists once a batch was dead-lettered).
    #[must_use]
    pub fn dead_letter_path(&self) -> std::path::PathBuf {
        DeadLetterStore::path_beside(&self.shared.path)
    }

    /// Runs `f` in the next group transaction and returns its value once that transaction
    /// committed. Blocks while the queue is full. When the writer is idle, the calling thread runs
    /// the group itself (no hand-off); otherwise the group it joins is run by the current leader or
    /// the writer thread.
    ///
    /// `f` is `FnMut` because a retryable error (another process holding the file) re-runs the
    /// whole group: `f` may run more than once, and only the last run's changes and value count.
    /// Keep side effects outside the database out of it.
    ///
    /// # Errors
    ///
    /// [`WriteError::Rejected`] with `f`'s own permanent error (only its savepoint was rolled
    /// back), [`WriteError::NotCommitted`] when the group transaction gave up under the policy
    /// (SQLite's error kept whole, shared by the group's requests),
    /// [`WriteError::Closed`] after shutdown.
    pub fn submit<T, F>(&self, f: F) -> Result<T, WriteError>
    where
        T: Send + 'static,
        F: FnMut(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.submit_sync(f, true)
    }

    /// As [`submit`](Writer::submit), but fails at once with [`WriteError::Full`] when the queue is
    /// full.
    ///
    /// # Errors
    ///
    /// As [`submit`](Writer::submit), and [`WriteError::Full`].
    pub fn try_submit<T, F>(&self, f: F) -> Result<T, WriteError>
    where
        T: Send + 'static,
        F: FnMut(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.submit_sync(f, false)
    }

    fn submit_sync<T, F>(&self, f: F, block: bool) -> Result<T, WriteError>
    where
        T: Send + 'static,
        F: FnMut(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.push(f, block, Some(self.shared.config.max_batch))?.wait()
    }

    /// Queues `f` for the next group and returns at once (after waiting for room while the queue
    /// is full), without waiting for the commit: the [`Pending`] it returns yields `f`'s result
    /// once the transaction committed. The group is always run by the writer thread, never by the
    /// caller.
    ///
    /// This is how one producer keeps several writes in flight (pipelining): it enqueues a window
    /// of requests and waits for the oldest, so that a whole group of its own requests is
    /// acknowledged for one wake-up of its thread instead of one each. Dropping a [`Pending`]
    /// does not cancel its request: it still runs and commits; only its result is discarded.
    ///
    /// # Errors
    ///
    /// [`WriteError::Closed`] after shutdown (the request is not queued). The request's own
    /// outcome comes from [`Pending::wait`].
    ///
    /// # Examples
    ///
    /// ```
    /// use sqlretry::writer::{Writer, WriterOptions};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let writer = Writer::open(dir.path().join("app.db"))?;
    /// writer.submit(|tx| tx.execute_batch("CREATE TABLE t (v INTEGER NOT NULL)"))?;
    ///
    /// let pending: Vec<_> = (0..100)
    ///     .map(|v| writer.enqueue(move |tx| tx.execute("INSERT INTO t (v) VALUES (?1)", [v])))
    ///     .collect::<Result<_, _>>()?;
    /// for p in pending {
    ///     assert_eq!(p.wait()?, 1); // each acknowledged after its transaction committed
    /// }
    /// let metrics = writer.shutdown()?;
    /// assert_eq!(metrics.requests_committed, 101);
    /// assert!(metrics.batches_written < 101); // grouped
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn enqueue<T, F>(&self, f: F) -> Result<Pending<T>, WriteError>
    where
        T: Send + 'static,
        F: FnMut(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.push(f, true, None)
    }

    /// Queues `f` (leading its group when `lead` is the group size and the writer is idle).
    fn push<T, F>(&self, f: F, block: bool, lead: Option<usize>) -> Result<Pending<T>, WriteError>
    where
        T: Send + 'static,
        F: FnMut(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let job = request(f, Reply::Sync(tx), self.deadline());
        if let Pushed::Lead(group) = self.shared.queue.push(job, block, lead, &self.shared.metrics)? {
            self.shared.lead(group);
        }
        Ok(Pending { rx })
    }

    /// As [`submit`](Writer::submit), for async code: waits for room and for the result without
    /// blocking the runtime. The group always runs on the writer thread, never on the runtime.
    ///
    /// # Errors
    ///
    /// As [`submit`](Writer::submit).
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use sqlretry::writer::{Writer, WriterOptions};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let writer = Writer::open(dir.path().join("app.db"))?;
    /// let n = writer.submit_async(|tx| tx.execute_batch("CREATE TABLE t (x)").map(|()| 1)).await?;
    /// assert_eq!(n, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    #[cfg(feature = "tokio")]
    pub async fn submit_async<T, F>(&self, f: F) -> Result<T, WriteError>
    where
        T: Send + 'static,
        F: FnMut(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mut job = request(f, Reply::Async(tx), self.deadline());
        loop {
            let notified = self.shared.queue.space_notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.shared.queue.push_or_return(job, &self.shared.metrics)? {
                Ok(()) => break,
                Err(back) => job = back,
            }
            notified.await;
        }
        rx.await.unwrap_or(Err(WriteError::Closed))
    }

    /// Inserts one row with its type's `INSERT` (a cached statement) in the next group transaction
    /// and returns the number of rows it changed once that transaction committed: 1, or 0 when
    /// `INSERT OR IGNORE` found the row's natural key already there. The acknowledged counterpart
    /// of [`Ingest::append`]; as [`submit`](Writer::submit) otherwise.
    ///
    /// # Errors
    ///
    /// As [`submit`](Writer::submit).
    ///
    /// # Examples
    ///
    /// ```
    /// use sqlretry::writer::{Row, Writer, WriterOptions};
    ///
    /// struct Tick { symbol: String, ts_ms: i64 }
    /// impl Row for Tick {
    ///     const TYPE_NAME: &'static str = "tick";
    ///     const INSERT_SQL: &'static str = "INSERT OR IGNORE INTO ticks (symbol, ts_ms) VALUES (?1, ?2)";
    ///     fn values(&self) -> Vec<rusqlite::types::Value> {
    ///         vec![self.symbol.clone().into(), self.ts_ms.into()]
    ///     }
    /// }
    ///
    /// let dir = tempfile::tempdir()?;
    /// let writer = Writer::open(dir.path().join("ticks.db"))?;
    /// writer.submit(|tx| tx.execute_batch("CREATE TABLE ticks (symbol TEXT, ts_ms INTEGER, UNIQUE (symbol, ts_ms))"))?;
    /// assert_eq!(writer.insert(Tick { symbol: "EURUSD".into(), ts_ms: 1 })?, 1);
    /// assert_eq!(writer.insert(Tick { symbol: "EURUSD".into(), ts_ms: 1 })?, 0); // already there
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn insert<R: Row>(&self, row: R) -> Result<usize, WriteError> {
        self.submit(insert_row(&row)?)
    }

    /// As [`insert`](Writer::insert), for async code (see [`submit_async`](Writer::submit_async)).
    ///
    /// # Errors
    ///
    /// As [`submit`](Writer::submit).
    #[cfg(feature = "tokio")]
    pub async fn insert_async<R: Row>(&self, row: R) -> Result<usize, WriteError> {
        self.submit_async(insert_row(&row)?).await
    }

    /// A batched-ingest lane for rows of type `R` (spec 002): appends are buffered and flushed by
    /// the writer thread in batches of `config.batch_size` or every `config.interval`.
    ///
    /// # Examples
    ///
    /// ```
    /// use sqlretry::writer::{IngestOptions, Row, Writer, WriterOptions};
    ///
    /// struct Tick { symbol: String, ts_ms: i64 }
    /// impl Row for Tick {
    ///     const TYPE_NAME: &'static str = "tick";
    ///     const INSERT_SQL: &'static str = "INSERT OR IGNORE INTO ticks (symbol, ts_ms) VALUES (?1, ?2)";
    ///     fn values(&self) -> Vec<rusqlite::types::Value> {
    ///         vec![self.symbol.clone().into(), self.ts_ms.into()]
    ///     }
    /// }
    ///
    /// let dir = tempfile::tempdir()?;
    /// let writer = Writer::open(dir.path().join("ticks.db"))?;
    /// writer.submit(|tx| tx.execute_batch("CREATE TABLE ticks (symbol TEXT, ts_ms INTEGER, UNIQUE (symbol, ts_ms))"))?;
    /// let ingest = writer.ingest::<Tick>(IngestOptions::default());
    /// for ts_ms in 0..1000 {
    ///     ingest.append(Tick { symbol: "EURUSD".into(), ts_ms }).map_err(|e| e.to_string())?;
    /// }
    /// let metrics = writer.shutdown()?; // flushes what is buffered
    /// assert_eq!((metrics.rows_written, metrics.rows_lost), (1000, 0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn ingest<R: Row>(&self, config: IngestOptions) -> Ingest<R> {
        Ingest::new(Arc::clone(&self.shared), Arc::clone(&self.owner), config)
    }

    /// Writes every dead-lettered batch back into the database, whatever its row type: each
    /// batch in one transaction with its own stored `INSERT` (idempotent: the insert ignores
    /// natural-key duplicates), and removes exactly the batches it wrote from the dead-letter
    /// store. Rows replayed are counted in [`metrics`](Writer::metrics) (`rows_replayed`).
    ///
    /// A batch that cannot be written back by itself — its SQL does not start with `INSERT`, its
    /// payload does not decode, its insert fails with a permanent error (a missing table) — is
    /// refused: listed in [`ReplayReport::refused`] and left in the store; the others go on.
    ///
    /// # Errors
    ///
    /// [`WriterError`] if the store cannot be opened or read, or a batch's transaction could not
    /// commit (the file stayed locked past the policy, the writer is shut down); the batches not
    /// yet written stay in the store.
    ///
    /// # Examples
    ///
    /// ```
    /// use rusqlite::types::Value;
    /// use sqlretry::writer::{DeadLetterStore, Writer, WriterOptions};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let writer = Writer::open(dir.path().join("ticks.db"))?;
    /// writer.submit(|tx| tx.execute_batch("CREATE TABLE ticks (symbol TEXT, ts_ms INTEGER, UNIQUE (symbol, ts_ms))"))?;
    /// let mut store = DeadLetterStore::open(writer.dead_letter_path())?;
    /// let sql = "INSERT OR IGNORE INTO ticks (symbol, ts_ms) VALUES (?1, ?2)";
    /// store.append("tick", sql, &[vec![Value::Text("EURUSD".into()), Value::Integer(7)]], "locked")?;
    /// store.append("oops", "DELETE FROM ticks", &[], "locked")?;
    ///
    /// let report = writer.replay_all()?;
    /// assert_eq!((report.batches, report.rows), (1, 1));
    /// assert_eq!(report.refused.len(), 1); // not an INSERT: refused and kept
    /// assert_eq!((report.batches_left, report.rows_left), (1, 0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn replay_all(&self) -> Result<ReplayReport, WriterError> {
        dead_letter::replay(self, None)
    }

    /// As [`replay_all`](Writer::replay_all), for the dead letters of row type `R` only (those
    /// whose stored name is `R::TYPE_NAME`); each is still written with its stored `INSERT`.
    ///
    /// # Errors
    ///
    /// As [`replay_all`](Writer::replay_all).
    pub fn replay<R: Row>(&self) -> Result<ReplayReport, WriterError> {
        dead_letter::replay(self, Some(R::TYPE_NAME))
    }

    /// A snapshot of the writer's metrics.
    #[must_use]
    pub fn metrics(&self) -> WriterMetricsSnapshot {
        self.shared.metrics.snapshot(self.shared.side.lock_hold())
    }

    /// Whether the writer is healthy: its thread runs and no row was lost (a batch that the
    /// dead-letter store refused too). For a health check (`/readyz`); also the gauge
    /// `sqlretry_writer_healthy` and [`WriterMetricsSnapshot::healthy`].
    #[must_use]
    pub fn is_healthy(&self) -> bool {
        self.shared.metrics.healthy() && !self.owner.thread_finished()
    }

    /// The deadline of a request submitted now: the writer policy's total deadline.
    fn deadline(&self) -> Deadline {
        Deadline::from_policy(&self.shared.config.policy, Instant::now())
    }

    /// What the handles and the thread share (for the writer's other files).
    pub(super) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub(crate) fn shared_metrics(&self) -> &WriterMetrics {
        &self.shared.metrics
    }

    /// Stops intake (for every clone), runs everything queued, flushes every ingest buffer,
    /// commits, and joins the writer thread. Later submits fail with [`WriteError::Closed`].
    /// Idempotent.
    ///
    /// # Errors
    ///
    /// [`WriteError::Panicked`] if the writer thread panicked.
    pub fn shutdown(&self) -> Result<WriterMetricsSnapshot, WriteError> {
        self.owner.shutdown()?;
        Ok(self.metrics())
    }
}
