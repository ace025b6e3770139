//! [`Writer`]: the cloneable handle — submit (sync, async, try), ingest, replay, metrics, shutdown.
//!
//! Length: more than half of this file is documentation with runnable examples, one per way of
//! writing (submit, try, enqueue, async, insert, ingest, replay); each method is a few lines over
//! the group-commit engine (`group_commit/handle.rs`).

use std::path::Path;
use std::sync::Arc;

use rusqlite::Connection;

use super::dead_letter::{self, DeadLetterStore, ReplayReport};
use super::dead_lettering::DeadLetters;
use super::error::WriterError;
use super::ingest::Ingest;
use super::options::{IngestOptions, WriterOptions};
use super::row::Row;
use crate::group_commit::{GroupCommit, Pending, WriterMetricsSnapshot};
use crate::sqlite::write_error::WriteError;
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
    group: GroupCommit,
    dead_letters: Arc<DeadLetters>,
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

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("path", &self.group.engine.path)
            .field("options", &self.group.engine.options)
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
    pub fn open_with(path: impl AsRef<Path>, options: WriterOptions) -> Result<Writer, WriterError> {
        let path = path.as_ref();
        let side = Arc::new(WriteSide::open(path, &options.write_side)?);
        let policy = options.write_side.write_policy().clone();
        let dead_letters = Arc::new(DeadLetters::beside(path.to_path_buf(), policy.clone()));
        let group = GroupCommit::start(side, policy, options.group).map_err(WriterError::Spawn)?;
        Ok(Writer { group, dead_letters })
    }

    /// The database file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.group.engine.path
    }

    /// The dead-letter file beside the database (it exists once a batch was dead-lettered).
    #[must_use]
    pub fn dead_letter_path(&self) -> std::path::PathBuf {
        DeadLetterStore::path_beside(&self.group.engine.path)
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
        self.group.submit(f, true)
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
        self.group.submit(f, false)
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
        self.group.enqueue(f)
    }

    /// Queues `f` (leading its group when `lead` is the group size and the writer is idle).
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
        self.group.submit_async(f).await
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

    /// A batched-ingest lane for rows of type `R`: appends are buffered and flushed by
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
        Ingest::new(self.group.clone(), Arc::clone(&self.dead_letters), config)
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
        dead_letter::replay(&self.group, self.path(), None)
    }

    /// As [`replay_all`](Writer::replay_all), for the dead letters of row type `R` only (those
    /// whose stored name is `R::TYPE_NAME`); each is still written with its stored `INSERT`.
    ///
    /// # Errors
    ///
    /// As [`replay_all`](Writer::replay_all).
    pub fn replay<R: Row>(&self) -> Result<ReplayReport, WriterError> {
        dead_letter::replay(&self.group, self.path(), Some(R::TYPE_NAME))
    }

    /// A snapshot of the writer's metrics.
    #[must_use]
    pub fn metrics(&self) -> WriterMetricsSnapshot {
        self.group.metrics()
    }

    /// Whether the writer is healthy *now*: its thread runs, and no row was lost (a row whose
    /// `values` panicked, a batch the dead-letter store refused too) within its last few
    /// committed transactions ([`WriterOptions::with_health_window`], 16 by default) — so it
    /// recovers once writes commit again. For a readiness check (`/readyz`); also the gauge
    /// `sqlretry_writer_healthy` and [`WriterMetricsSnapshot::healthy`].
    /// [`Writer::health_reason`] says why not.
    ///
    /// # Examples
    ///
    /// ```
    /// use sqlretry::writer::Writer;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let writer = Writer::open(dir.path().join("app.db"))?;
    /// assert!(writer.is_healthy());
    /// writer.shutdown()?;
    /// assert_eq!(writer.health_reason().as_deref(), Some("the writer is shut down"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn is_healthy(&self) -> bool {
        self.group.health().is_none()
    }

    /// Why the writer is not healthy, readable (`None` when it is; see [`Writer::is_healthy`]):
    /// e.g. `"1 row(s) lost: a tick row's values() panicked (3 of 16 transactions committed
    /// since)"`, `"the writer thread ended"`, `"the writer is shut down"`.
    ///
    /// # Examples
    ///
    /// ```
    /// use sqlretry::writer::Writer;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let writer = Writer::open(dir.path().join("app.db"))?;
    /// assert_eq!(writer.health_reason(), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn health_reason(&self) -> Option<String> {
        self.group.health()
    }

    /// The engine this writer runs on (for the writer's other files).
    pub(super) fn engine(&self) -> &crate::group_commit::Engine {
        &self.group.engine
    }

    /// The dead-letter store beside the database (for the writer's other files).
    pub(super) fn dead_letters(&self) -> &DeadLetters {
        &self.dead_letters
    }

    /// Stops intake (for every clone), runs everything queued, flushes every ingest buffer,
    /// commits, and joins the writer thread. Later submits fail with [`WriteError::Closed`].
    /// Idempotent.
    ///
    /// # Errors
    ///
    /// [`WriteError::Panicked`] if the writer thread panicked.
    pub fn shutdown(&self) -> Result<WriterMetricsSnapshot, WriteError> {
        self.group.shutdown()?;
        Ok(self.metrics())
    }
}
