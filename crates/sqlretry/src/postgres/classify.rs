//! PostgreSQL errors classified by SQLSTATE, and the error a [`PgStore`](super::PgStore) returns.
//!
//! | SQLSTATE | name | class |
//! | --- | --- | --- |
//! | 40001 | serialization_failure | retryable: the whole transaction runs again |
//! | 40P01 | deadlock_detected | retryable: the whole transaction runs again |
//! | 55P03 | lock_not_available (`lock_timeout`, `NOWAIT`) | retryable |
//! | class 08, 57P01–57P03 | connection lost, server shutting down | retryable on a fresh connection — unless COMMIT was in flight: then [`PgError::CommitOutcomeUnknown`], not retried |
//! | 40003 at COMMIT (CockroachDB) | statement_completion_unknown | [`PgError::CommitOutcomeUnknown`] |
//! | everything else (23505, 42601, …) | | permanent, returned with its code, message and detail |

use std::fmt;
use std::time::Duration;

use tokio_postgres::error::SqlState;

use crate::classify::{Class, Classify};

/// The class of one SQLSTATE (connection loss included: it is only seen before COMMIT here; a
/// loss during COMMIT is [`PgError::CommitOutcomeUnknown`]).
#[must_use]
pub fn classify_sqlstate(code: &SqlState) -> Class {
    if *code == SqlState::T_R_SERIALIZATION_FAILURE
        || *code == SqlState::T_R_DEADLOCK_DETECTED
        || *code == SqlState::LOCK_NOT_AVAILABLE
        || is_connection_sqlstate(code)
    {
        Class::RETRYABLE
    } else {
        Class::Permanent
    }
}

/// Class 08 (connection exception) and 57P01–57P03 (admin shutdown, crash shutdown, cannot
/// connect now): the connection is gone or going.
#[must_use]
pub fn is_connection_sqlstate(code: &SqlState) -> bool {
    code.code().starts_with("08")
        || *code == SqlState::ADMIN_SHUTDOWN
        || *code == SqlState::CRASH_SHUTDOWN
        || *code == SqlState::CANNOT_CONNECT_NOW
}

/// Whether `error` means the connection is lost: closed, an I/O error, or a connection SQLSTATE.
#[must_use]
pub fn is_connection_loss(error: &tokio_postgres::Error) -> bool {
    if error.is_closed() {
        return true;
    }
    match error.code() {
        Some(code) => is_connection_sqlstate(code),
        // No SQLSTATE: an I/O error on the socket (reset, EOF) is a lost connection; anything else
        // without a code (a type conversion, a row count) comes from the client and is permanent.
        None => std::error::Error::source(error).is_some_and(|s| s.is::<std::io::Error>()),
    }
}

/// By SQLSTATE (see the module's table); a lost connection is retryable.
impl Classify for tokio_postgres::Error {
    fn classify(&self) -> Class {
        match self.code() {
            Some(code) => classify_sqlstate(code),
            None if is_connection_loss(self) => Class::RETRYABLE,
            None => Class::Permanent,
        }
    }
}

/// What a [`PgStore`](super::PgStore) write can fail with; the original PostgreSQL error is kept.
#[derive(Debug)]
#[non_exhaustive]
pub enum PgError {
    /// An error from the server or the connection before COMMIT was sent (or COMMIT refused with a
    /// SQLSTATE, e.g. 40001): the transaction did not commit. Classified by SQLSTATE.
    Postgres(tokio_postgres::Error),
    /// The connection was lost (or the deadline passed) while COMMIT was in flight: the transaction
    /// may or may not have committed. Never retried blindly; a write made idempotent
    /// ([`PgStore::write_idempotent`](super::PgStore::write_idempotent)) resolves it.
    /// Holds the connection's error, or `None` when the deadline passed during COMMIT.
    CommitOutcomeUnknown(Option<tokio_postgres::Error>),
    /// The call's deadline passed while waiting (for a pooled connection, or for a statement)
    /// before COMMIT was sent: nothing was committed. Retryable; the policy's deadline stops it.
    TimedOut {
        /// What was being waited for.
        waiting_for: &'static str,
        /// How long was waited.
        waited: Duration,
    },
    /// The pool could not hand out a connection (it could not connect, or it is closed).
    Pool(deadpool_postgres::PoolError),
    /// [`BlockingPgStore`](super::BlockingPgStore) was called from inside an async runtime, where
    /// blocking would stall the runtime's thread: use [`PgStore`](super::PgStore) there. Nothing
    /// was attempted.
    InsideAsyncRuntime,
    /// [`BlockingPgStore`](super::BlockingPgStore) could not start its runtime.
    Runtime(std::io::Error),
}

impl PgError {
    /// The SQLSTATE of the original error, if the server sent one.
    #[must_use]
    pub fn code(&self) -> Option<&SqlState> {
        self.postgres_error().and_then(tokio_postgres::Error::code)
    }

    /// The server's error (code, message, detail, hint…), if there was one.
    #[must_use]
    pub fn as_db_error(&self) -> Option<&tokio_postgres::error::DbError> {
        self.postgres_error().and_then(tokio_postgres::Error::as_db_error)
    }

    /// The driver's error behind this one (directly, through the pool, or at COMMIT), if any.
    fn postgres_error(&self) -> Option<&tokio_postgres::Error> {
        match self {
            PgError::Postgres(e)
            | PgError::CommitOutcomeUnknown(Some(e))
            | PgError::Pool(deadpool_postgres::PoolError::Backend(e)) => Some(e),
            PgError::CommitOutcomeUnknown(None)
            | PgError::TimedOut { .. }
            | PgError::Pool(_)
            | PgError::InsideAsyncRuntime
            | PgError::Runtime(_) => None,
        }
    }

    /// `true` for [`PgError::CommitOutcomeUnknown`].
    #[must_use]
    pub fn is_commit_outcome_unknown(&self) -> bool {
        matches!(self, PgError::CommitOutcomeUnknown(_))
    }
}

impl From<tokio_postgres::Error> for PgError {
    fn from(error: tokio_postgres::Error) -> Self {
        PgError::Postgres(error)
    }
}

impl fmt::Display for PgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PgError::Postgres(e) => write_pg(f, e),
            PgError::CommitOutcomeUnknown(Some(e)) => {
                f.write_str("commit outcome unknown (connection lost during COMMIT): ")?;
                write_pg(f, e)
            }
            PgError::CommitOutcomeUnknown(None) => {
                f.write_str("commit outcome unknown (the deadline passed during COMMIT)")
            }
            PgError::TimedOut { waiting_for, waited } => {
                write!(f, "deadline passed after {waited:.1?} waiting for {waiting_for}")
            }
            PgError::Pool(e) => write!(f, "connection pool: {e}"),
            PgError::InsideAsyncRuntime => f.write_str(
                "BlockingPgStore called from inside an async runtime (it would block the runtime's thread): use PgStore there",
            ),
            PgError::Runtime(e) => write!(f, "starting BlockingPgStore's runtime: {e}"),
        }
    }
}

/// The message with its SQLSTATE and detail (tokio-postgres' own Display says only "db error").
fn write_pg(f: &mut fmt::Formatter<'_>, error: &tokio_postgres::Error) -> fmt::Result {
    match error.as_db_error() {
        Some(db) => {
            write!(f, "{} {}: {}", db.severity(), db.code().code(), db.message())?;
            if let Some(detail) = db.detail() {
                write!(f, " (detail: {detail})")?;
            }
            Ok(())
        }
        None => write!(f, "{error}"),
    }
}

impl std::error::Error for PgError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PgError::Postgres(e) | PgError::CommitOutcomeUnknown(Some(e)) => Some(e),
            PgError::Pool(e) => Some(e),
            PgError::Runtime(e) => Some(e),
            PgError::CommitOutcomeUnknown(None) | PgError::TimedOut { .. } | PgError::InsideAsyncRuntime => {
                None
            }
        }
    }
}

/// [`PgError::CommitOutcomeUnknown`] is permanent (retrying could apply the write twice); a pool
/// timeout or a failed connect is retryable; the rest by SQLSTATE.
impl Classify for PgError {
    fn classify(&self) -> Class {
        match self {
            PgError::Postgres(e) => e.classify(),
            PgError::CommitOutcomeUnknown(_) => Class::Permanent,
            PgError::TimedOut { .. } => Class::RETRYABLE,
            PgError::Pool(deadpool_postgres::PoolError::Backend(e)) => {
                if is_connection_loss(e) || e.code().is_none() { Class::RETRYABLE } else { e.classify() }
            }
            PgError::Pool(deadpool_postgres::PoolError::Timeout(_)) => Class::RETRYABLE,
            PgError::Pool(_) | PgError::InsideAsyncRuntime | PgError::Runtime(_) => Class::Permanent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflicts_and_lock_waits_are_retryable() {
        for code in ["40001", "40P01", "55P03"] {
            assert_eq!(classify_sqlstate(&SqlState::from_code(code)), Class::RETRYABLE, "{code}");
        }
    }

    #[test]
    fn connection_states_are_retryable_and_recognised() {
        for code in ["08000", "08003", "08006", "08001", "57P01", "57P02", "57P03"] {
            let state = SqlState::from_code(code);
            assert!(is_connection_sqlstate(&state), "{code}");
            assert_eq!(classify_sqlstate(&state), Class::RETRYABLE, "{code}");
        }
        assert!(!is_connection_sqlstate(&SqlState::from_code("57014")), "query_canceled is not");
    }

    #[test]
    fn everything_else_is_permanent() {
        for code in ["23505", "23503", "42601", "42P01", "22012", "57014", "25P02", "40002", "XX000"] {
            assert_eq!(classify_sqlstate(&SqlState::from_code(code)), Class::Permanent, "{code}");
        }
    }

    #[test]
    fn a_timed_out_wait_before_commit_is_retryable() {
        let e = PgError::TimedOut { waiting_for: "a connection", waited: Duration::from_millis(5) };
        assert!(e.classify().is_retryable());
        assert_eq!(e.code(), None);
        assert_eq!(e.to_string(), "deadline passed after 5.0ms waiting for a connection");
    }
}
