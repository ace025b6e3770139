//! The command's error type and how it maps to an exit code.

use std::path::PathBuf;
use std::process::ExitCode;

/// Why a command stopped.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad usage: a flag or value the user gave is wrong (exit 2). Nothing was created.
    #[error("{flag}: {message}")]
    Usage {
        /// The flag or argument at fault, as the user would type it (`--config`).
        flag: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// A database operation outside the measured writes failed (setup, verification).
    #[error("{context}: {source}")]
    Sqlite {
        /// What was being done.
        context: String,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// A file system operation failed.
    #[error("{context} ({path}): {source}", path = path.display())]
    Io {
        /// What was being done.
        context: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The library's Writer or dead-letter store failed.
    #[error("{context}: {source}")]
    Writer {
        /// What was being done.
        context: String,
        /// The library's error.
        #[source]
        source: sqlretry::writer::WriterError,
    },
    /// A worker process failed or reported something unreadable.
    #[error("worker process: {0}")]
    Worker(String),
    /// The stress harness stopped (its usage errors exit 2, like the command's own).
    #[error(transparent)]
    Stress(sqlretry_stress::StressError),
    /// `serve` or `load` failed at run time (a socket, the runtime, a drain past its deadline).
    #[error("{0}")]
    Service(String),
}

impl CliError {
    /// A usage error naming `flag`.
    pub fn usage(flag: &'static str, message: impl Into<String>) -> Self {
        Self::Usage { flag, message: message.into() }
    }

    /// Wraps a SQLite error with what was being done.
    pub fn sqlite(context: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> Self {
        let context = context.into();
        move |source| Self::Sqlite { context, source }
    }

    /// Wraps a Writer or dead-letter store error with what was being done.
    pub fn writer<E: Into<sqlretry::writer::WriterError>>(
        context: impl Into<String>,
    ) -> impl FnOnce(E) -> Self {
        let context = context.into();
        move |source| Self::Writer { context, source: source.into() }
    }

    /// The process exit code for this error: 2 for usage, 1 otherwise.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Self::Usage { .. } => ExitCode::from(2),
            Self::Stress(error) if error.is_usage() => ExitCode::from(2),
            _ => ExitCode::from(1),
        }
    }
}
