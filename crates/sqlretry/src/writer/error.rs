//! What a write through the [`Writer`](super::Writer) can fail with.

use crate::StopReason;

/// Why a request submitted to a [`Writer`](super::Writer) did not commit.
///
/// A request's result arrives only after its transaction committed (or definitely did not):
/// `Ok` means the request's changes are durable in the file (under the connection's `synchronous`
/// setting); every `Err` means none of them are.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The request's own closure failed with a permanent error (a constraint, bad SQL). Its
    /// savepoint was rolled back; the other requests of its group committed. The error is the
    /// closure's, unchanged.
    #[error("request rejected and rolled back alone: {0}")]
    Rejected(#[source] rusqlite::Error),
    /// The request's closure panicked. It was rolled back alone, like a rejected request; the
    /// panic did not reach the thread that ran the group.
    #[error("the request's closure panicked; rolled back alone")]
    RequestPanicked,
    /// The group's transaction could not commit within the retry policy (the file stayed locked by
    /// another process, the disk failed). Every request of the group gets this error.
    #[error("group transaction not committed ({reason} after {attempts} attempt(s)): {message}")]
    GroupFailed {
        /// SQLite's extended result code of the last error, when it was an SQLite error.
        extended_code: Option<i32>,
        /// The last error, as text.
        message: String,
        /// How many times the group's transaction ran.
        attempts: u32,
        /// Why the retry loop stopped.
        reason: StopReason,
    },
    /// The writer was shut down (or its thread ended) before the request was taken.
    #[error("the writer is shut down")]
    Closed,
    /// [`Writer::try_submit`](super::Writer::try_submit) found the queue full.
    #[error("the writer's queue is full")]
    Full,
    /// The writer's thread panicked (reported by [`Writer::shutdown`](super::Writer::shutdown)).
    #[error("the writer thread panicked")]
    Panicked,
}

impl WriteError {
    /// A request that the deadline ended before its transaction ran: `error` (SQLITE_BUSY naming
    /// what was waited for), no attempt made.
    pub(crate) fn from_timeout(error: rusqlite::Error) -> Self {
        WriteError::GroupFailed {
            extended_code: crate::sqlite::extended_code(&error),
            message: error.to_string(),
            attempts: 0,
            reason: StopReason::DeadlineExceeded,
        }
    }

    pub(crate) fn group_failed(error: &crate::RetryError<rusqlite::Error>) -> Self {
        WriteError::GroupFailed {
            extended_code: crate::sqlite::extended_code(error.inner()),
            message: error.inner().to_string(),
            attempts: error.attempts(),
            reason: error.reason(),
        }
    }
}

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
