//! A value opened on first use and shared afterwards: the one `Store` or `Writer` of a process,
//! shared by its worker threads.

use std::sync::{Mutex, PoisonError};

use sqlretry::WriteError;

/// Opens its value on the first [`OpenOnce::get_or_open`] and hands out clones afterwards.
pub struct OpenOnce<T> {
    slot: Mutex<Option<T>>,
}

impl<T: Clone> OpenOnce<T> {
    /// Nothing opened yet.
    pub fn new() -> Self {
        OpenOnce { slot: Mutex::new(None) }
    }

    /// The shared value, opened by `open` if this is the first call (a failed open is tried again
    /// by the next call).
    ///
    /// # Errors
    /// What `open` returned.
    pub fn get_or_open(&self, open: impl FnOnce() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(value) = slot.as_ref() {
            return Ok(value.clone());
        }
        let value = open()?;
        *slot = Some(value.clone());
        Ok(value)
    }

    /// Takes the value out (to shut it down), if it was opened.
    pub fn take(&mut self) -> Option<T> {
        self.slot.get_mut().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// A failure outside SQLite (bad configuration, a writer that is shut down) as the rusqlite error
/// the harness reports: SQLITE_MISUSE with the message.
pub fn misuse(message: impl Into<String>) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISUSE),
        Some(message.into()),
    )
}

/// What the application sees of a failed write, as a rusqlite error keeping SQLite's code.
pub fn sqlite_error(error: WriteError) -> rusqlite::Error {
    match error {
        WriteError::Rejected { error, .. } => error,
        WriteError::NotCommitted(failed) => match std::sync::Arc::try_unwrap(failed) {
            Ok(failed) => failed.into_inner(),
            // Shared with the group's other requests: SQLite's failure is plain data (codes and
            // message), so it is copied whole; anything else keeps its text.
            Err(shared) => match shared.inner() {
                rusqlite::Error::SqliteFailure(code, message) => rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(code.extended_code),
                    message.clone(),
                ),
                other => misuse(other.to_string()),
            },
        },
        other => misuse(other.to_string()),
    }
}
