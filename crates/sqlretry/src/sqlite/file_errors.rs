//! Errors about the database *file* (the disk is full, an I/O error, damage, read-only) name the
//! file: SQLite's own message ("database or disk is full") does not say which of a process's
//! databases it is about. The codes are kept unchanged, so classification and
//! [`extended_code`](super::extended_code) see the original error.

use rusqlite::ffi;

/// Primary result codes that are about the file rather than the statement or the data.
const FILE_CODES: [i32; 7] = [
    ffi::SQLITE_PERM,
    ffi::SQLITE_READONLY,
    ffi::SQLITE_IOERR,
    ffi::SQLITE_CORRUPT,
    ffi::SQLITE_FULL,
    ffi::SQLITE_CANTOPEN,
    ffi::SQLITE_NOTADB,
];

/// `error` with the path of `conn`'s main database appended to its message when it is about the
/// file (SQLITE_FULL, SQLITE_IOERR_*, SQLITE_CORRUPT_*, SQLITE_READONLY_*, …); any other error,
/// or one that already names the file, is returned unchanged. The result codes are never changed.
pub(crate) fn name_file(conn: &rusqlite::Connection, error: rusqlite::Error) -> rusqlite::Error {
    match (error, conn.path()) {
        (rusqlite::Error::SqliteFailure(code, message), Some(path))
            if !path.is_empty() && FILE_CODES.contains(&(code.extended_code & 0xff)) =>
        {
            let text = message.unwrap_or_else(|| code.to_string());
            let text = if text.contains(path) { text } else { format!("{text} (file {path})") };
            rusqlite::Error::SqliteFailure(code, Some(text))
        }
        (error, _) => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(code: i32, message: Option<&str>) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(ffi::Error::new(code), message.map(str::to_owned))
    }

    #[test]
    fn file_errors_name_the_file_and_keep_their_codes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("named.db");
        let conn = rusqlite::Connection::open(&path).unwrap();
        let shown = path.display().to_string();
        let full = name_file(&conn, failure(ffi::SQLITE_FULL, None));
        assert!(full.to_string().contains(&shown), "{full}");
        assert_eq!(super::super::extended_code(&full), Some(ffi::SQLITE_FULL));
        let ioerr = name_file(&conn, failure(ffi::SQLITE_IOERR_WRITE, Some("disk I/O error")));
        assert_eq!(ioerr.to_string(), format!("disk I/O error (file {shown})"));
        assert_eq!(super::super::extended_code(&ioerr), Some(ffi::SQLITE_IOERR_WRITE));
        // Named once only.
        assert_eq!(name_file(&conn, ioerr).to_string(), format!("disk I/O error (file {shown})"));
        // Errors about the statement or the data are the caller's own: unchanged.
        let constraint = name_file(&conn, failure(ffi::SQLITE_CONSTRAINT_UNIQUE, Some("UNIQUE")));
        assert_eq!(constraint.to_string(), "UNIQUE");
        let in_memory = rusqlite::Connection::open_in_memory().unwrap();
        assert_eq!(name_file(&in_memory, failure(ffi::SQLITE_FULL, Some("full"))).to_string(), "full");
    }
}
