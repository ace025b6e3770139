//! What the [`Writer`](super::Writer)'s other operations can fail with (a write's own error is
//! the crate's one [`WriteError`], shared with the [`Store`](crate::sqlite::Store)).

use crate::sqlite::write_error::WriteError;

/// Why a row was not taken by [`Ingest::append`](super::Ingest::append); the row is handed back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppendError<R> {
    /// [`Ingest::try_append`](super::Ingest::try_append) found the buffer full.
    #[error("the ingest buffer is full")]
    Full(R),
    /// The writer is shut down.
    #[error("the writer is shut down")]
    Closed(R),
}

impl<R> AppendError<R> {
    /// The row that was not taken.
    #[must_use]
    pub fn into_row(self) -> R {
        match self {
            AppendError::Full(row) | AppendError::Closed(row) => row,
        }
    }
}

/// Why [`Writer::open`](super::Writer::open) or a dead-letter operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriterError {
    /// Opening the database file failed (the error names the file).
    #[error(transparent)]
    Open(#[from] crate::sqlite::OpenError),
    /// An SQLite call failed (the dead-letter store, replay).
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Starting the writer thread failed.
    #[error("starting the writer thread: {0}")]
    Spawn(#[source] std::io::Error),
    /// A dead letter's rows could not be (de)serialized.
    #[error("dead letter payload: {0}")]
    Payload(#[from] serde_json::Error),
    /// Writing replayed rows through the writer failed.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// A dead letter cannot be replayed (its SQL is not an `INSERT`, its payload is not rows of
    /// SQL values); it is left in the store.
    #[error("dead letter {id} refused: {reason}")]
    Refused {
        /// The dead letter's id.
        id: i64,
        /// Why.
        reason: String,
    },
    /// The dead-letter file could not be created beside the database.
    #[error("dead-letter store {path}: {source}", path = path.display())]
    DeadLetterIo {
        /// The dead-letter file.
        path: std::path::PathBuf,
        /// The file system's error.
        #[source]
        source: std::io::Error,
    },
    /// The dead-letter file exists but its table is not the one this version writes.
    #[error("dead-letter store {path}: {message}", path = path.display())]
    DeadLetterSchema {
        /// The dead-letter file.
        path: std::path::PathBuf,
        /// What is wrong with its table.
        message: String,
    },
}
