//! The dead-letter store: ingest batches that exhausted their retries, kept durably beside the
//! database so that nothing is dropped, and replayable.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rusqlite::{Connection, params};

/// One dead-lettered batch.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct DeadLetter {
    /// Its id in the store (never reused).
    pub id: i64,
    /// The row type's [`Row::TYPE_NAME`](super::Row::TYPE_NAME).
    pub row_type: String,
    /// How many rows the batch holds.
    pub rows: u64,
    /// The rows, as a JSON array.
    pub payload: String,
    /// The error that made the batch give up.
    pub error: String,
    /// When (RFC 3339, UTC).
    pub failed_at: String,
}

/// A durable store of dead-lettered batches: a separate SQLite file (by default
/// `<db>.deadletter.sqlite`), rollback journal with `synchronous=FULL`, so an appended batch is on
/// disk when [`append`](DeadLetterStore::append) returns.
///
/// # Examples
///
/// ```
/// use sqlretry::writer::DeadLetterStore;
///
/// let dir = tempfile::tempdir()?;
/// let path = DeadLetterStore::path_beside(dir.path().join("ticks.db"));
/// assert!(path.ends_with("ticks.db.deadletter.sqlite"));
/// let mut store = DeadLetterStore::open(&path)?;
/// let id = store.append("tick", r#"[{"symbol":"EURUSD"}]"#, 1, "database is locked")?;
/// assert_eq!(store.rows(Some("tick"))?, 1);
/// assert_eq!(store.list(None)?[0].id, id);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct DeadLetterStore {
    conn: Connection,
    path: PathBuf,
}

impl DeadLetterStore {
    /// The dead-letter file beside database `db`: `<db>.deadletter.sqlite`.
    #[must_use]
    pub fn path_beside(db: impl AsRef<Path>) -> PathBuf {
        let mut name = db.as_ref().as_os_str().to_owned();
        name.push(".deadletter.sqlite");
        PathBuf::from(name)
    }

    /// Opens (creating if needed) the store at `path`.
    ///
    /// # Errors
    ///
    /// The SQLite error if the file cannot be opened, configured or given its table.
    pub fn open(path: impl AsRef<Path>) -> rusqlite::Result<Self> {
        let path = path.as_ref().to_path_buf();
        let conn = Connection::open(&path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS dead_letters (
                 id        INTEGER PRIMARY KEY AUTOINCREMENT,
                 row_type  TEXT    NOT NULL,
                 rows      INTEGER NOT NULL,
                 payload   TEXT    NOT NULL,
                 error     TEXT    NOT NULL,
                 failed_at TEXT    NOT NULL
             );
             CREATE INDEX IF NOT EXISTS dead_letters_by_type ON dead_letters (row_type, id);",
        )?;
        Ok(DeadLetterStore { conn, path })
    }

    /// The store's file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one batch and returns its id; durable (fsynced) when this returns `Ok`.
    ///
    /// # Errors
    ///
    /// The SQLite error if the batch could not be stored.
    pub fn append(&mut self, row_type: &str, payload: &str, rows: u64, error: &str) -> rusqlite::Result<i64> {
        let at = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
        self.conn.execute(
            "INSERT INTO dead_letters (row_type, rows, payload, error, failed_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![row_type, i64::try_from(rows).unwrap_or(i64::MAX), payload, error, at],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Every batch kept, oldest first; only those of `row_type` when given.
    ///
    /// # Errors
    ///
    /// The SQLite error if the store cannot be read.
    pub fn list(&self, row_type: Option<&str>) -> rusqlite::Result<Vec<DeadLetter>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, row_type, rows, payload, error, failed_at FROM dead_letters
             WHERE ?1 IS NULL OR row_type = ?1 ORDER BY id",
        )?;
        stmt.query_map([row_type], |r| {
            Ok(DeadLetter {
                id: r.get(0)?,
                row_type: r.get(1)?,
                rows: r.get::<_, i64>(2)?.unsigned_abs(),
                payload: r.get(3)?,
                error: r.get(4)?,
                failed_at: r.get(5)?,
            })
        })?
        .collect()
    }

    /// How many rows are kept (of `row_type` when given).
    ///
    /// # Errors
    ///
    /// The SQLite error if the store cannot be read.
    pub fn rows(&self, row_type: Option<&str>) -> rusqlite::Result<u64> {
        self.conn.query_row(
            "SELECT COALESCE(SUM(rows), 0) FROM dead_letters WHERE ?1 IS NULL OR row_type = ?1",
            [row_type],
            |r| r.get::<_, i64>(0).map(i64::unsigned_abs),
        )
    }

    /// Removes the batch `id` (after its rows were written back); `true` if it was there.
    ///
    /// # Errors
    ///
    /// The SQLite error if the store cannot be written.
    pub fn remove(&mut self, id: i64) -> rusqlite::Result<bool> {
        Ok(self.conn.execute("DELETE FROM dead_letters WHERE id = ?1", [id])? == 1)
    }
}

/// What [`Writer::replay`](super::Writer::replay) wrote back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ReplayReport {
    /// Dead-lettered batches written back and removed from the store.
    pub batches: u64,
    /// Rows in them.
    pub rows: u64,
}

/// Writes back every dead-lettered batch of `R` through `writer`, one transaction per batch, and
/// removes each batch from the store only after its transaction committed.
pub(crate) fn replay<R: super::Row>(writer: &super::Writer) -> Result<ReplayReport, super::WriterError> {
    let path = DeadLetterStore::path_beside(writer.path());
    let mut report = ReplayReport::default();
    if !path.exists() {
        return Ok(report);
    }
    let mut store = DeadLetterStore::open(&path)?;
    for letter in store.list(Some(R::TYPE_NAME))? {
        let rows: Vec<R> = serde_json::from_str(&letter.payload)?;
        writer.submit(move |tx| super::ingest::insert_rows(tx, &rows))?;
        if store.remove(letter.id)? {
            report.batches += 1;
            report.rows += letter.rows;
            writer.shared_metrics().replayed(letter.rows);
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_list_and_remove_exactly_one_batch() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = DeadLetterStore::open(DeadLetterStore::path_beside(dir.path().join("x.db"))).unwrap();
        let a = store.append("tick", "[1,2]", 2, "busy").unwrap();
        let b = store.append("other", "[3]", 1, "busy").unwrap();
        assert_eq!((store.rows(None).unwrap(), store.rows(Some("tick")).unwrap()), (3, 2));
        assert!(store.remove(a).unwrap());
        assert!(!store.remove(a).unwrap());
        let left = store.list(None).unwrap();
        assert_eq!(left.iter().map(|d| d.id).collect::<Vec<_>>(), vec![b]);
        // Ids are never reused after a removal.
        assert!(store.append("tick", "[4]", 1, "busy").unwrap() > b);
        let sync: i64 = store.conn.query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap();
        assert_eq!(sync, 2); // FULL
    }
}
