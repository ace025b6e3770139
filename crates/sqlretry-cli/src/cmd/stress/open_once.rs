//! A value opened on first use and shared afterwards: the one `Store` or `Writer` of a process,
//! shared by its worker threads.

use std::sync::{Mutex, PoisonError};

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
