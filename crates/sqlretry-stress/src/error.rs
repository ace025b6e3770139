//! The harness's error type: why a stress run stopped before it could report.

use std::path::Path;

/// Why a stress run stopped.
///
/// # Examples
///
/// ```
/// use sqlretry_stress::StressError;
///
/// let err = StressError::usage("--db", "cannot switch x.db to WAL");
/// assert!(err.is_usage());
/// assert_eq!(err.to_string(), "--db: cannot switch x.db to WAL");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StressError {
    /// A setting is wrong (the command exits 2). Nothing was measured.
    #[error("{flag}: {message}")]
    Usage {
        /// The flag at fault, as the user would type it (`--db`).
        flag: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// Setting the file up, verifying it afterwards, or writing the chart failed: what was being
    /// done (with the file, for file system errors), and the SQLite or I/O error.
    #[error("{context}: {source}")]
    Setup {
        /// What was being done.
        context: String,
        /// The SQLite or I/O error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A worker (thread, task or process) failed or reported something unreadable, or the
    /// PostgreSQL server could not be reached or set up.
    #[error("worker process: {0}")]
    Worker(String),
}

impl StressError {
    /// A usage error naming `flag`.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = sqlretry_stress::StressError::usage("--order", "not a valid work order");
    /// assert!(err.is_usage());
    /// ```
    pub fn usage(flag: &'static str, message: impl Into<String>) -> Self {
        Self::Usage { flag, message: message.into() }
    }

    /// Wraps a SQLite error with what was being done.
    pub(crate) fn sqlite(context: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> Self {
        let context = context.into();
        move |source| Self::Setup { context, source: Box::new(source) }
    }

    /// Wraps an I/O error with what was being done to which file.
    pub(crate) fn io(context: &str, path: &Path) -> impl FnOnce(std::io::Error) -> Self {
        let context = format!("{context} ({})", path.display());
        move |source| Self::Setup { context, source: Box::new(source) }
    }

    /// Whether the error is bad usage (a wrong setting) rather than a failure while running.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = sqlretry_stress::StressError::Worker("a worker thread panicked".to_owned());
    /// assert!(!err.is_usage());
    /// ```
    pub fn is_usage(&self) -> bool {
        matches!(self, Self::Usage { .. })
    }
}
