//! "Write these rows or dead-letter them": rows of one type written as one request in the next
//! group transaction and acknowledged after `COMMIT`, or — when the transaction gave up after its
//! retries — kept in the dead-letter store under the same retries and metrics as an ingest batch.
//! The acknowledged counterpart of [`Ingest`](super::Ingest): a service that answers its clients
//! only after a commit (a tick store acknowledging a message) and must never drop what it took.

use std::sync::Arc;

use rusqlite::Connection;
use rusqlite::types::Value;

use super::error::WriterError;
use super::handle::Writer;
use super::row::Row;
use crate::sqlite::write_error::WriteError;

/// Rows of one type to write together: the type's name, its `INSERT` (one parameter per value)
/// and each row's values. Unlike [`Row`], the statement may be built at run time (columns from a
/// configuration).
///
/// # Examples
///
/// ```
/// use sqlretry::writer::Rows;
///
/// let rows = Rows::new("tick", "INSERT OR IGNORE INTO ticks (symbol, ts) VALUES (?1, ?2)", vec![
///     vec![String::from("EURUSD").into(), 1_i64.into()],
///     vec![String::from("EURUSD").into(), 2_i64.into()],
/// ]);
/// assert_eq!(rows.len(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct Rows {
    row_type: Arc<str>,
    insert_sql: Arc<str>,
    values: Arc<Vec<Vec<Value>>>,
}

impl Rows {
    /// Rows named `row_type`, written with `insert_sql` (which should start with `INSERT`, so that
    /// a dead letter of them can be replayed; `INSERT OR IGNORE` on a unique key makes a rerun
    /// store each row once).
    #[must_use]
    pub fn new(
        row_type: impl Into<Arc<str>>,
        insert_sql: impl Into<Arc<str>>,
        values: Vec<Vec<Value>>,
    ) -> Self {
        Rows { row_type: row_type.into(), insert_sql: insert_sql.into(), values: Arc::new(values) }
    }

    /// Rows of a [`Row`] type: its name, its statement, their values.
    ///
    /// # Examples
    ///
    /// ```
    /// use sqlretry::writer::{Row, Rows};
    ///
    /// struct Tick(i64);
    /// impl Row for Tick {
    ///     const TYPE_NAME: &'static str = "tick";
    ///     const INSERT_SQL: &'static str = "INSERT OR IGNORE INTO ticks (ts) VALUES (?1)";
    ///     fn values(&self) -> Vec<rusqlite::types::Value> { vec![self.0.into()] }
    /// }
    /// assert_eq!(Rows::of(&[Tick(1), Tick(2)]).len(), 2);
    /// ```
    #[must_use]
    pub fn of<R: Row>(rows: &[R]) -> Self {
        Rows::new(R::TYPE_NAME, R::INSERT_SQL, rows.iter().map(Row::values).collect())
    }

    /// How many rows.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(sqlretry::writer::Rows::new("t", "INSERT INTO t (x) VALUES (?1)", Vec::new()).is_empty());
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The request that inserts them; returns the rows changed (duplicates ignored count 0).
    fn request(&self) -> impl FnMut(&Connection) -> rusqlite::Result<usize> + Send + 'static {
        let (sql, values) = (Arc::clone(&self.insert_sql), Arc::clone(&self.values));
        move |tx: &Connection| {
            let mut stmt = tx.prepare_cached(&sql)?;
            let mut changed = 0;
            for row in values.iter() {
                changed += stmt.execute(rusqlite::params_from_iter(row))?;
            }
            Ok(changed)
        }
    }
}

/// Why [`Writer::write_rows`] did not commit its rows, and where they are.
///
/// # Examples
///
/// ```
/// use sqlretry::writer::{NotWritten, Rows, Writer};
///
/// let dir = tempfile::tempdir()?;
/// let writer = Writer::open(dir.path().join("app.db"))?;
/// // No such table: the statement fails for good, and the rows are kept, not dropped.
/// let rows = Rows::new("tick", "INSERT INTO ticks (x) VALUES (?1)", vec![vec![1_i64.into()]]);
/// match writer.write_rows(rows) {
///     Err(NotWritten::DeadLettered { id, .. }) => assert!(id > 0),
///     other => panic!("{other:?}"),
/// }
/// assert_eq!(writer.metrics().rows_dead_lettered, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotWritten {
    /// Not committed; kept in the dead-letter store (durable), to be replayed.
    #[error("not committed ({error}); kept as dead letter {id}")]
    DeadLettered {
        /// Why the transaction did not commit.
        error: WriteError,
        /// The dead letter's id.
        id: i64,
    },
    /// Not committed, and the dead-letter store refused them too under the writer's policy: they
    /// are counted in `rows_lost` and the writer reports itself unhealthy.
    #[error("not committed ({error}) and the dead-letter store failed too ({store_error}): rows LOST")]
    Lost {
        /// Why the transaction did not commit.
        error: WriteError,
        /// Why the dead-letter store refused them (boxed: rare, and large).
        store_error: Box<WriterError>,
    },
}

impl Writer {
    /// Writes `rows` as one request in the next group transaction and returns the number of rows
    /// it changed (rows an `INSERT OR IGNORE` found already there count 0) once that transaction
    /// committed. If it did not commit — the retries were exhausted, the statement failed, the
    /// writer is shut down — the rows are kept in the dead-letter store (its append retried under
    /// the writer's policy, counted in `rows_dead_lettered`) before this returns, or counted lost
    /// if even that failed. Nothing is dropped without being counted and logged.
    ///
    /// # Errors
    ///
    /// [`NotWritten`] saying where the rows are.
    ///
    /// # Examples
    ///
    /// ```
    /// use sqlretry::writer::{Rows, Writer};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let writer = Writer::open(dir.path().join("ticks.db"))?;
    /// writer.submit(|tx| tx.execute_batch("CREATE TABLE ticks (id TEXT PRIMARY KEY, price REAL)"))?;
    /// let sql = "INSERT OR IGNORE INTO ticks (id, price) VALUES (?1, ?2)";
    /// let rows = || Rows::new("tick", sql, vec![vec![String::from("a").into(), 1.5.into()], vec![String::from("b").into(), 1.6.into()]]);
    /// assert_eq!(writer.write_rows(rows())?, 2);
    /// assert_eq!(writer.write_rows(rows())?, 0); // a resend: nothing new
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_rows(&self, rows: Rows) -> Result<usize, NotWritten> {
        match self.submit(rows.request()) {
            Ok(changed) => Ok(changed),
            Err(error) => Err(self.keep(&rows, error)),
        }
    }

    /// As [`write_rows`](Writer::write_rows), for async code: waits for the commit without
    /// blocking the runtime; a dead-letter append (rare, and retried with sleeps) runs on tokio's
    /// blocking pool, so this must be awaited inside a tokio runtime.
    ///
    /// # Errors
    ///
    /// As [`write_rows`](Writer::write_rows).
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// use sqlretry::writer::{Rows, Writer};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let writer = Writer::open(dir.path().join("app.db"))?;
    /// writer.submit(|tx| tx.execute_batch("CREATE TABLE t (x INTEGER UNIQUE)"))?;
    /// let rows = Rows::new("t", "INSERT OR IGNORE INTO t (x) VALUES (?1)", vec![vec![1_i64.into()]]);
    /// assert_eq!(writer.write_rows_async(rows).await?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    #[cfg(feature = "tokio")]
    pub async fn write_rows_async(&self, rows: Rows) -> Result<usize, NotWritten> {
        let error = match self.submit_async(rows.request()).await {
            Ok(changed) => return Ok(changed),
            Err(error) => error,
        };
        let writer = self.clone();
        let kept = tokio::task::spawn_blocking(move || writer.keep(&rows, error)).await;
        Err(kept.unwrap_or_else(|_| NotWritten::Lost {
            error: WriteError::Panicked,
            store_error: Box::new(WriterError::Write(WriteError::Panicked)),
        }))
    }
}

impl Writer {
    /// Keeps rows that did not commit in the dead-letter store (counted there, dead-lettered or
    /// lost).
    fn keep(&self, rows: &Rows, error: WriteError) -> NotWritten {
        let kept = self.dead_letters().keep(
            self.engine(),
            &rows.row_type,
            &rows.insert_sql,
            &rows.values,
            &error.to_string(),
        );
        match kept {
            Ok(id) => NotWritten::DeadLettered { error, id },
            Err(store_error) => NotWritten::Lost { error, store_error: Box::new(store_error) },
        }
    }
}
