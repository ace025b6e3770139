//! Classification of [`rusqlite::Error`] by SQLite result code, never by message text.
//!
//! SQLite reports a *primary* result code (the low 8 bits) and, with extended codes on (rusqlite turns
//! them on for every connection), an *extended* code that says more: `517` is SQLITE_BUSY_SNAPSHOT,
//! whose primary code is `517 & 0xFF = 5`, SQLITE_BUSY. Matching `5` or the text
//! "database is locked" misses the extended codes; matching the primary code catches them all.
//!
//! The table of which codes are retryable is in the [`sqlite`](super) module's docs.
//!
//! [`code_name`] names any primary or extended code, for logs and reports.

use crate::classify::{Class, Classify};

/// SQLITE_BUSY (5).
pub const SQLITE_BUSY: i32 = 5;
/// SQLITE_LOCKED (6).
pub const SQLITE_LOCKED: i32 = 6;

/// The extended result codes that are retryable: every code whose primary code is SQLITE_BUSY or
/// SQLITE_LOCKED.
pub const RETRYABLE_CODES: [i32; 7] = [5, 261, 517, 773, 6, 262, 518];

/// Retryable for the busy and locked families (primary code 5 or 6); permanent otherwise.
///
/// # Examples
///
/// ```
/// use rusqlite::{Connection, ErrorCode};
/// use sqlretry::{Class, Classify};
///
/// let conn = Connection::open_in_memory()?;
/// conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY)")?;
/// conn.execute("INSERT INTO t VALUES (1)", [])?;
/// let dup = conn.execute("INSERT INTO t VALUES (1)", []).unwrap_err();
/// assert_eq!(dup.sqlite_error_code(), Some(ErrorCode::ConstraintViolation));
/// assert_eq!(dup.classify(), Class::Permanent);
///
/// let busy = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(517), None);
/// assert!(busy.classify().is_retryable());
/// # Ok::<(), rusqlite::Error>(())
/// ```
impl Classify for rusqlite::Error {
    fn classify(&self) -> Class {
        extended_code(self).map_or(Class::Permanent, classify_code)
    }
}

/// The class of an extended (or primary) result code: retryable when its primary code is
/// SQLITE_BUSY or SQLITE_LOCKED.
///
/// # Examples
///
/// ```
/// use sqlretry::{Class, sqlite::classify_code};
///
/// assert!(classify_code(773).is_retryable()); // SQLITE_BUSY_TIMEOUT
/// assert_eq!(classify_code(2067), Class::Permanent); // SQLITE_CONSTRAINT_UNIQUE
/// ```
#[must_use]
pub const fn classify_code(extended: i32) -> Class {
    match extended & 0xFF {
        SQLITE_BUSY | SQLITE_LOCKED => Class::RETRYABLE,
        _ => Class::Permanent,
    }
}

/// The extended result code of an error from SQLite, `None` for errors that did not come from a
/// SQLite call (type conversions, invalid parameters, ...).
///
/// # Examples
///
/// ```
/// use sqlretry::sqlite::{code_name, extended_code};
///
/// let conn = rusqlite::Connection::open_in_memory()?;
/// let err = conn.execute("INSERT INTO missing VALUES (1)", []).unwrap_err();
/// assert_eq!(extended_code(&err).map(code_name), Some("SQLITE_ERROR"));
/// assert_eq!(extended_code(&rusqlite::Error::QueryReturnedNoRows), None);
/// # Ok::<(), rusqlite::Error>(())
/// ```
#[must_use]
pub fn extended_code(error: &rusqlite::Error) -> Option<i32> {
    match error {
        rusqlite::Error::SqliteFailure(failure, _) => Some(failure.extended_code),
        _ => None,
    }
}

/// The name of a primary or extended SQLite result code (`517` → `"SQLITE_BUSY_SNAPSHOT"`), or
/// `"SQLITE_UNKNOWN"` for a code SQLite does not define.
///
/// # Examples
///
/// ```
/// use sqlretry::sqlite::code_name;
///
/// assert_eq!(code_name(5), "SQLITE_BUSY");
/// assert_eq!(code_name(517), "SQLITE_BUSY_SNAPSHOT");
/// assert_eq!(code_name(2067), "SQLITE_CONSTRAINT_UNIQUE");
/// assert_eq!(code_name(12345), "SQLITE_UNKNOWN");
/// ```
#[must_use]
pub fn code_name(extended: i32) -> &'static str {
    CODE_NAMES
        .binary_search_by_key(&extended, |(code, _)| *code)
        .map_or("SQLITE_UNKNOWN", |index| CODE_NAMES[index].1)
}

/// Every result code of SQLite 3.45+, sorted by code (checked by a unit test).
const CODE_NAMES: &[(i32, &str)] = &[
    (0, "SQLITE_OK"),
    (1, "SQLITE_ERROR"),
    (2, "SQLITE_INTERNAL"),
    (3, "SQLITE_PERM"),
    (4, "SQLITE_ABORT"),
    (5, "SQLITE_BUSY"),
    (6, "SQLITE_LOCKED"),
    (7, "SQLITE_NOMEM"),
    (8, "SQLITE_READONLY"),
    (9, "SQLITE_INTERRUPT"),
    (10, "SQLITE_IOERR"),
    (11, "SQLITE_CORRUPT"),
    (12, "SQLITE_NOTFOUND"),
    (13, "SQLITE_FULL"),
    (14, "SQLITE_CANTOPEN"),
    (15, "SQLITE_PROTOCOL"),
    (16, "SQLITE_EMPTY"),
    (17, "SQLITE_SCHEMA"),
    (18, "SQLITE_TOOBIG"),
    (19, "SQLITE_CONSTRAINT"),
    (20, "SQLITE_MISMATCH"),
    (21, "SQLITE_MISUSE"),
    (22, "SQLITE_NOLFS"),
    (23, "SQLITE_AUTH"),
    (24, "SQLITE_FORMAT"),
    (25, "SQLITE_RANGE"),
    (26, "SQLITE_NOTADB"),
    (27, "SQLITE_NOTICE"),
    (28, "SQLITE_WARNING"),
    (100, "SQLITE_ROW"),
    (101, "SQLITE_DONE"),
    (256, "SQLITE_OK_LOAD_PERMANENTLY"),
    (257, "SQLITE_ERROR_MISSING_COLLSEQ"),
    (261, "SQLITE_BUSY_RECOVERY"),
    (262, "SQLITE_LOCKED_SHAREDCACHE"),
    (264, "SQLITE_READONLY_RECOVERY"),
    (266, "SQLITE_IOERR_READ"),
    (267, "SQLITE_CORRUPT_VTAB"),
    (270, "SQLITE_CANTOPEN_NOTEMPDIR"),
    (275, "SQLITE_CONSTRAINT_CHECK"),
    (279, "SQLITE_AUTH_USER"),
    (283, "SQLITE_NOTICE_RECOVER_WAL"),
    (284, "SQLITE_WARNING_AUTOINDEX"),
    (512, "SQLITE_OK_SYMLINK"),
    (513, "SQLITE_ERROR_RETRY"),
    (516, "SQLITE_ABORT_ROLLBACK"),
    (517, "SQLITE_BUSY_SNAPSHOT"),
    (518, "SQLITE_LOCKED_VTAB"),
    (520, "SQLITE_READONLY_CANTLOCK"),
    (522, "SQLITE_IOERR_SHORT_READ"),
    (523, "SQLITE_CORRUPT_SEQUENCE"),
    (526, "SQLITE_CANTOPEN_ISDIR"),
    (531, "SQLITE_CONSTRAINT_COMMITHOOK"),
    (539, "SQLITE_NOTICE_RECOVER_ROLLBACK"),
    (769, "SQLITE_ERROR_SNAPSHOT"),
    (773, "SQLITE_BUSY_TIMEOUT"),
    (776, "SQLITE_READONLY_ROLLBACK"),
    (778, "SQLITE_IOERR_WRITE"),
    (779, "SQLITE_CORRUPT_INDEX"),
    (782, "SQLITE_CANTOPEN_FULLPATH"),
    (787, "SQLITE_CONSTRAINT_FOREIGNKEY"),
    (795, "SQLITE_NOTICE_RBU"),
    (1025, "SQLITE_ERROR_RESERVESIZE"),
    (1032, "SQLITE_READONLY_DBMOVED"),
    (1034, "SQLITE_IOERR_FSYNC"),
    (1038, "SQLITE_CANTOPEN_CONVPATH"),
    (1043, "SQLITE_CONSTRAINT_FUNCTION"),
    (1281, "SQLITE_ERROR_KEY"),
    (1288, "SQLITE_READONLY_CANTINIT"),
    (1290, "SQLITE_IOERR_DIR_FSYNC"),
    (1294, "SQLITE_CANTOPEN_DIRTYWAL"),
    (1299, "SQLITE_CONSTRAINT_NOTNULL"),
    (1537, "SQLITE_ERROR_UNABLE"),
    (1544, "SQLITE_READONLY_DIRECTORY"),
    (1546, "SQLITE_IOERR_TRUNCATE"),
    (1550, "SQLITE_CANTOPEN_SYMLINK"),
    (1555, "SQLITE_CONSTRAINT_PRIMARYKEY"),
    (1802, "SQLITE_IOERR_FSTAT"),
    (1811, "SQLITE_CONSTRAINT_TRIGGER"),
    (2058, "SQLITE_IOERR_UNLOCK"),
    (2067, "SQLITE_CONSTRAINT_UNIQUE"),
    (2314, "SQLITE_IOERR_RDLOCK"),
    (2323, "SQLITE_CONSTRAINT_VTAB"),
    (2570, "SQLITE_IOERR_DELETE"),
    (2579, "SQLITE_CONSTRAINT_ROWID"),
    (2826, "SQLITE_IOERR_BLOCKED"),
    (2835, "SQLITE_CONSTRAINT_PINNED"),
    (3082, "SQLITE_IOERR_NOMEM"),
    (3091, "SQLITE_CONSTRAINT_DATATYPE"),
    (3338, "SQLITE_IOERR_ACCESS"),
    (3594, "SQLITE_IOERR_CHECKRESERVEDLOCK"),
    (3850, "SQLITE_IOERR_LOCK"),
    (4106, "SQLITE_IOERR_CLOSE"),
    (4362, "SQLITE_IOERR_DIR_CLOSE"),
    (4618, "SQLITE_IOERR_SHMOPEN"),
    (4874, "SQLITE_IOERR_SHMSIZE"),
    (5130, "SQLITE_IOERR_SHMLOCK"),
    (5386, "SQLITE_IOERR_SHMMAP"),
    (5642, "SQLITE_IOERR_SEEK"),
    (5898, "SQLITE_IOERR_DELETE_NOENT"),
    (6154, "SQLITE_IOERR_MMAP"),
    (6410, "SQLITE_IOERR_GETTEMPPATH"),
    (6666, "SQLITE_IOERR_CONVPATH"),
    (6922, "SQLITE_IOERR_VNODE"),
    (7178, "SQLITE_IOERR_AUTH"),
    (7434, "SQLITE_IOERR_BEGIN_ATOMIC"),
    (7690, "SQLITE_IOERR_COMMIT_ATOMIC"),
    (7946, "SQLITE_IOERR_ROLLBACK_ATOMIC"),
    (8202, "SQLITE_IOERR_DATA"),
    (8458, "SQLITE_IOERR_CORRUPTFS"),
    (8714, "SQLITE_IOERR_IN_PAGE"),
    (8970, "SQLITE_IOERR_BADKEY"),
    (9226, "SQLITE_IOERR_CODEC"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::ffi;

    fn failure(code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(ffi::Error::new(code), None)
    }

    #[test]
    fn the_table_is_sorted_and_names_are_unique() {
        assert!(CODE_NAMES.windows(2).all(|w| w[0].0 < w[1].0));
        let mut names: Vec<_> = CODE_NAMES.iter().map(|(_, n)| *n).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CODE_NAMES.len());
    }

    #[test]
    fn every_named_code_is_classified_by_its_primary_code() {
        for &(code, name) in CODE_NAMES {
            let retryable = RETRYABLE_CODES.contains(&code);
            assert_eq!(failure(code).classify().is_retryable(), retryable, "{code} {name}");
            let family = code_name(code & 0xFF);
            assert!(name.starts_with(family), "{name} is not in the {family} family");
            assert_eq!(
                retryable,
                family == "SQLITE_BUSY" || family == "SQLITE_LOCKED",
                "{name} is retryable exactly when its family is BUSY or LOCKED"
            );
        }
    }

    #[test]
    fn the_issue_table() {
        for code in [5, 261, 517, 773, 6, 262, 518] {
            assert_eq!(failure(code).classify(), Class::RETRYABLE, "{}", code_name(code));
        }
        for code in [19, 2067, 787, 1299, 1555, 20, 1, 8, 11, 26, 13, 10, 266, 14, 4, 9, 17, 21] {
            assert_eq!(failure(code).classify(), Class::Permanent, "{}", code_name(code));
        }
        // An unknown extended code in the busy family is still busy.
        assert!(failure(5 | (9 << 8)).classify().is_retryable());
    }

    #[test]
    fn errors_that_are_not_sqlite_failures_are_permanent() {
        assert_eq!(rusqlite::Error::QueryReturnedNoRows.classify(), Class::Permanent);
        assert_eq!(rusqlite::Error::InvalidParameterName("x".into()).classify(), Class::Permanent);
        assert_eq!(extended_code(&rusqlite::Error::QueryReturnedNoRows), None);
    }

    #[test]
    fn names() {
        assert_eq!(code_name(0), "SQLITE_OK");
        assert_eq!(code_name(261), "SQLITE_BUSY_RECOVERY");
        assert_eq!(code_name(773), "SQLITE_BUSY_TIMEOUT");
        assert_eq!(code_name(262), "SQLITE_LOCKED_SHAREDCACHE");
        assert_eq!(code_name(518), "SQLITE_LOCKED_VTAB");
        assert_eq!(code_name(9226), "SQLITE_IOERR_CODEC");
        assert_eq!(code_name(-1), "SQLITE_UNKNOWN");
    }
}
