//! [`WriteError`]: the one error of every SQLite write — [`Store::write`](super::Store::write) and
//! its `_with`/`_until`/`_grouped`/`_async` forms, [`write_on`](super::write_on), and the
//! [`Writer`](crate::writer::Writer)'s `submit`/`insert` forms.
//!
//! One type for every path, so that a caller matches one error whichever way it wrote: the
//! group-commit engine's own cases (`Closed`, `Full`, `Panicked`) are cases of it rather than a
//! second error wrapping this one; a single-caller write never returns them.

use std::sync::Arc;

use crate::error::{RetryError, StopReason};

/// Why a write did not commit.
///
/// A write's result arrives only after its transaction committed (or definitely did not): `Ok`
/// means its changes are durable in the file (under the connection's `synchronous` setting);
/// every `Err` means none of them are.
///
/// SQLite's error is kept whole, never flattened to a code and a string: it is the error's
/// [`source()`](std::error::Error::source) and [`WriteError::sqlite_error`] gives it with its codes
/// ([`WriteError::extended_code`]). [`WriteError::NotCommitted`] also says how the retry loop
/// ended (attempts, time, [`StopReason`]).
///
/// # Examples
///
/// ```
/// use sqlretry::sqlite::Store;
/// use sqlretry::{StopReason, WriteError};
///
/// let dir = tempfile::tempdir()?;
/// let store = Store::open(dir.path().join("app.db"))?;
/// store.write(|tx| tx.execute_batch("CREATE TABLE t (v TEXT NOT NULL)"))?;
///
/// let err = store.write(|tx| tx.execute("INSERT INTO t VALUES (NULL)", [])).unwrap_err();
/// assert!(matches!(err, WriteError::Rejected { attempts: 1, .. }));
/// assert_eq!(err.extended_code(), Some(rusqlite::ffi::SQLITE_CONSTRAINT_NOTNULL));
/// assert_eq!(err.reason(), Some(StopReason::Permanent));
/// // The original rusqlite error is the source.
/// let source = std::error::Error::source(&err).and_then(|s| s.downcast_ref::<rusqlite::Error>());
/// assert!(source.is_some());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum WriteError {
    /// The write's own closure failed with a permanent error (a constraint, bad SQL): the error
    /// unchanged, not retried. Its changes were rolled back — alone, when it shared a group
    /// transaction: the group's other writes committed.
    Rejected {
        /// The closure's error, unchanged.
        error: rusqlite::Error,
        /// How many times the closure ran (the last run failed; earlier ones were retried after a
        /// retryable error in them or around them).
        attempts: u32,
    },
    /// The transaction did not commit: SQLite's last error (the file stayed locked past the
    /// deadline, a full disk, a busy `COMMIT` the policy ran out on), with the attempts, the time
    /// and why the retry loop stopped. Every request of a failed group gets the same one (hence
    /// the `Arc`); a request whose deadline passed while it was queued gets SQLITE_BUSY with no
    /// attempt.
    NotCommitted(Arc<RetryError<rusqlite::Error>>),
    /// The write's closure panicked. Its changes were rolled back alone, like a rejected write;
    /// the panic did not reach the thread that ran the transaction.
    RequestPanicked,
    /// Group commit only (a [`Writer`](crate::writer::Writer), a store's grouped writes): the
    /// engine was shut down (or its thread ended) before the request was taken.
    Closed,
    /// Group commit only: [`Writer::try_submit`](crate::writer::Writer::try_submit) found the
    /// queue full.
    Full,
    /// Group commit only: the engine's thread panicked (reported by
    /// [`Writer::shutdown`](crate::writer::Writer::shutdown)).
    Panicked,
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteError::Rejected { error, .. } => write!(f, "write rejected and rolled back: {error}"),
            WriteError::NotCommitted(failed) => write!(f, "transaction not committed: {failed}"),
            WriteError::RequestPanicked => f.write_str("the write's closure panicked; rolled back alone"),
            WriteError::Closed => f.write_str("the writer is shut down"),
            WriteError::Full => f.write_str("the writer's queue is full"),
            WriteError::Panicked => f.write_str("the writer thread panicked"),
        }
    }
}

/// Written by hand (not with `thiserror`) so that the source of both SQLite variants is the
/// `rusqlite::Error` itself, one `downcast_ref` away, not the retry loop's wrapper.
impl std::error::Error for WriteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.sqlite_error().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl WriteError {
    /// SQLite's error (or the closure's), unchanged, when there is one.
    #[must_use]
    pub fn sqlite_error(&self) -> Option<&rusqlite::Error> {
        match self {
            WriteError::Rejected { error, .. } => Some(error),
            WriteError::NotCommitted(failed) => Some(failed.inner()),
            _ => None,
        }
    }

    /// SQLite's extended result code of [`sqlite_error`](WriteError::sqlite_error), when it is an
    /// SQLite failure (e.g. `SQLITE_BUSY_SNAPSHOT`, `SQLITE_CONSTRAINT_UNIQUE`).
    #[must_use]
    pub fn extended_code(&self) -> Option<i32> {
        self.sqlite_error().and_then(super::extended_code)
    }

    /// How the retry loop ended, for [`WriteError::NotCommitted`].
    #[must_use]
    pub fn retry_error(&self) -> Option<&RetryError<rusqlite::Error>> {
        match self {
            WriteError::NotCommitted(failed) => Some(failed),
            _ => None,
        }
    }

    /// Why the write stopped: [`StopReason::Permanent`] for a rejected write, the retry loop's
    /// reason for one not committed; `None` when no transaction ran for it (shut down, full).
    #[must_use]
    pub fn reason(&self) -> Option<StopReason> {
        match self {
            WriteError::Rejected { .. } | WriteError::RequestPanicked => Some(StopReason::Permanent),
            WriteError::NotCommitted(failed) => Some(failed.reason()),
            _ => None,
        }
    }

    /// How many times the write's transaction ran (0 when it never did).
    #[must_use]
    pub fn attempts(&self) -> u32 {
        match self {
            WriteError::NotCommitted(failed) => failed.attempts(),
            WriteError::Rejected { attempts, .. } => *attempts,
            WriteError::RequestPanicked => 1,
            _ => 0,
        }
    }

    /// The transaction gave up (the retry loop's error, shared by a group's requests).
    pub(crate) fn not_committed(error: RetryError<rusqlite::Error>) -> Self {
        WriteError::NotCommitted(Arc::new(error))
    }

    /// A write that the deadline ended before its transaction ran: `error` (SQLITE_BUSY naming
    /// what was waited for), no attempt made.
    pub(crate) fn timed_out(error: rusqlite::Error, elapsed: std::time::Duration) -> Self {
        Self::not_committed(RetryError::new(error, 0, elapsed, StopReason::DeadlineExceeded))
    }
}

/// Whether a write's last attempt failed in its own closure (then a permanent error is
/// [`WriteError::Rejected`]) or around it — `BEGIN`, `COMMIT`, the waits (then the write is
/// [`WriteError::NotCommitted`]).
#[derive(Debug, Default)]
pub(crate) struct Origin(std::cell::Cell<bool>);

impl Origin {
    /// Marks the start of an attempt.
    pub(crate) fn attempt(&self) {
        self.0.set(false);
    }

    /// Passes the closure's result through, noting whether it failed.
    pub(crate) fn body<T>(&self, result: rusqlite::Result<T>) -> rusqlite::Result<T> {
        self.0.set(result.is_err());
        result
    }

    /// The retry loop's outcome as the write's.
    pub(crate) fn outcome<T>(&self, result: Result<T, RetryError<rusqlite::Error>>) -> Result<T, WriteError> {
        result.map_err(|error| {
            if self.0.get() && error.reason() == StopReason::Permanent {
                let attempts = error.attempts();
                WriteError::Rejected { error: error.into_inner(), attempts }
            } else {
                WriteError::not_committed(error)
            }
        })
    }
}
