//! SQLite result codes by name: a small table, never matched against message text.
//!
//! Extended codes carry their primary code in the low byte (`extended & 0xFF`); a code missing from the
//! table is named after its primary code with the number appended (`SQLITE_IOERR_4874`).

/// Extended and primary result codes with their SQLite names.
const NAMES: &[(i32, &str)] = &[
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
    (257, "SQLITE_ERROR_MISSING_COLLSEQ"),
    (261, "SQLITE_BUSY_RECOVERY"),
    (262, "SQLITE_LOCKED_SHAREDCACHE"),
    (264, "SQLITE_READONLY_RECOVERY"),
    (266, "SQLITE_IOERR_READ"),
    (267, "SQLITE_CORRUPT_VTAB"),
    (270, "SQLITE_CANTOPEN_NOTEMPDIR"),
    (275, "SQLITE_CONSTRAINT_CHECK"),
    (283, "SQLITE_NOTICE_RECOVER_WAL"),
    (284, "SQLITE_WARNING_AUTOINDEX"),
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
    (1032, "SQLITE_READONLY_DBMOVED"),
    (1034, "SQLITE_IOERR_FSYNC"),
    (1038, "SQLITE_CANTOPEN_CONVPATH"),
    (1043, "SQLITE_CONSTRAINT_FUNCTION"),
    (1288, "SQLITE_READONLY_CANTINIT"),
    (1290, "SQLITE_IOERR_DIR_FSYNC"),
    (1294, "SQLITE_CANTOPEN_DIRTYWAL"),
    (1299, "SQLITE_CONSTRAINT_NOTNULL"),
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
];

/// The name used for an error that carries no SQLite result code (e.g. a type conversion).
pub const NOT_SQLITE: &str = "NOT_SQLITE";

/// The primary result code of an extended one (`extended & 0xFF`).
pub fn primary(extended: i32) -> i32 {
    extended & 0xFF
}

/// SQLite's name for a (primary or extended) result code.
pub fn name(code: i32) -> String {
    if let Some((_, name)) = NAMES.iter().find(|(c, _)| *c == code) {
        return (*name).to_owned();
    }
    match NAMES.iter().find(|(c, _)| *c == primary(code)) {
        Some((_, name)) => format!("{name}_{code}"),
        None => format!("SQLITE_UNKNOWN_{code}"),
    }
}

/// The name of a rusqlite error's extended result code, or [`NOT_SQLITE`] when it has none.
pub fn error_name(error: &rusqlite::Error) -> String {
    match error.sqlite_extended_error_code() {
        Some(code) => name(code),
        None => NOT_SQLITE.to_owned(),
    }
}

/// Whether an error is a lock conflict by its primary code: SQLITE_BUSY (5) or SQLITE_LOCKED (6),
/// with all their extended codes.
pub fn is_busy_or_locked(error: &rusqlite::Error) -> bool {
    matches!(error.sqlite_extended_error_code().map(primary), Some(5 | 6))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_extended_codes() {
        assert_eq!(name(5), "SQLITE_BUSY");
        assert_eq!(name(517), "SQLITE_BUSY_SNAPSHOT");
        assert_eq!(name(261), "SQLITE_BUSY_RECOVERY");
        assert_eq!(name(773), "SQLITE_BUSY_TIMEOUT");
        assert_eq!(name(262), "SQLITE_LOCKED_SHAREDCACHE");
        assert_eq!(name(2067), "SQLITE_CONSTRAINT_UNIQUE");
    }

    #[test]
    fn unknown_extended_code_keeps_its_primary_name() {
        assert_eq!(name(5 | (40 << 8)), "SQLITE_BUSY_10245");
        assert_eq!(name(99), "SQLITE_UNKNOWN_99");
    }

    #[test]
    fn table_is_consistent() {
        for (code, name) in NAMES {
            let primary_name = super::name(primary(*code));
            assert!(name.starts_with(&primary_name), "{code} {name} vs {primary_name}");
        }
    }

    #[test]
    fn classifies_by_code() {
        let busy = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(517), None);
        assert!(is_busy_or_locked(&busy));
        assert_eq!(error_name(&busy), "SQLITE_BUSY_SNAPSHOT");
        let constraint = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(2067), None);
        assert!(!is_busy_or_locked(&constraint));
        assert_eq!(error_name(&rusqlite::Error::QueryReturnedNoRows), NOT_SQLITE);
    }
}
