//! SQLite result codes as reports show them: the library's own table (`sqlretry::sqlite`), never
//! the message text.

use sqlretry::Classify;
use sqlretry::sqlite::{code_name, extended_code};

/// The name used for an error that carries no SQLite result code (e.g. a type conversion).
pub const NOT_SQLITE: &str = "NOT_SQLITE";

/// The name of a rusqlite error's extended result code (`SQLITE_BUSY_SNAPSHOT`), or [`NOT_SQLITE`].
/// A code the table does not know keeps its number (`SQLITE_UNKNOWN_10245`).
pub fn error_name(error: &rusqlite::Error) -> String {
    match extended_code(error) {
        Some(code) if code_name(code) == "SQLITE_UNKNOWN" => format!("SQLITE_UNKNOWN_{code}"),
        Some(code) => code_name(code).to_owned(),
        None => NOT_SQLITE.to_owned(),
    }
}

/// Whether an error is a lock conflict (SQLITE_BUSY or SQLITE_LOCKED, any extended code): what
/// the `seed-retry` strategy's hand-written retry retries.
pub fn is_busy_or_locked(error: &rusqlite::Error) -> bool {
    error.classify().is_retryable()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_classifies_by_code() {
        let busy = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(517), None);
        assert!(is_busy_or_locked(&busy));
        assert_eq!(error_name(&busy), "SQLITE_BUSY_SNAPSHOT");
        let constraint = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(2067), None);
        assert!(!is_busy_or_locked(&constraint));
        assert_eq!(error_name(&constraint), "SQLITE_CONSTRAINT_UNIQUE");
        assert_eq!(error_name(&rusqlite::Error::QueryReturnedNoRows), NOT_SQLITE);
        let odd = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(5 | (40 << 8)), None);
        assert_eq!(error_name(&odd), "SQLITE_UNKNOWN_10245");
    }
}
