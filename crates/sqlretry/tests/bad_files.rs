//! Bad files at open: a read-only location, random bytes, a truncated file, a damaged header. Each
//! is refused by `Store::open` and `Writer::open` at once (never a panic, a hang or a retry), with
//! SQLite's code and the path, and the file is left as it was.
#![allow(missing_docs, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use rusqlite::Connection;
use sqlretry::sqlite::{OpenError, OpenErrorKind, Store, code_name, extended_code};
use sqlretry::writer::{Writer, WriterError};

/// A real database of about 80 pages in WAL mode, checkpointed (no -wal content left).
fn good_db(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
         INSERT INTO t SELECT i, randomblob(100) FROM n;
         PRAGMA wal_checkpoint(TRUNCATE);",
    )
    .unwrap();
    drop(conn);
    path
}

/// Every file in `dir` with its contents, to show that nothing was created or changed.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap_or_default())
        })
        .collect();
    files.sort();
    files
}

/// Opens `path` with the Store and the Writer: both must refuse with `code`, naming the path,
/// and leave the directory as it was.
fn refused_with(path: &Path, code: &str) {
    let dir = path.parent().unwrap();
    let before = snapshot(dir);
    let err: OpenError = Store::open(path).unwrap_err();
    assert_eq!(err.path(), path);
    let text = err.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
    let got = err.sqlite_error().and_then(extended_code).map(code_name);
    assert_eq!(got, Some(code), "{text}");
    assert!(text.contains(code), "{text}");
    match Writer::open(path) {
        Err(WriterError::Open(err)) => {
            assert_eq!(err.path(), path);
            assert_eq!(err.sqlite_error().and_then(extended_code).map(code_name), Some(code), "{err}");
        }
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("the Writer opened {}", path.display()),
    }
    assert_eq!(snapshot(dir), before, "nothing created or changed");
}

#[test]
fn random_bytes_are_refused_at_open_with_notadb_and_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("random.db");
    // Deterministic "random" bytes (an LCG): no test depends on a lucky draw.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let bytes: Vec<u8> = (0..16_384)
        .map(|_| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (x >> 56) as u8
        })
        .collect();
    std::fs::write(&path, bytes).unwrap();
    refused_with(&path, "SQLITE_NOTADB");
}

#[test]
fn a_truncated_file_is_refused_at_open_with_corrupt_and_the_path() {
    let dir = tempfile::tempdir().unwrap();
    for (name, keep) in [("half.db", None), ("one-page.db", Some(4096 + 100)), ("header-only.db", Some(50))] {
        let path = good_db(dir.path(), name);
        let len = std::fs::metadata(&path).unwrap().len();
        let keep = keep.unwrap_or(len / 2);
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(keep).unwrap();
        refused_with(&path, "SQLITE_CORRUPT");
    }
}

#[test]
fn a_damaged_header_is_refused_at_open_naming_the_path() {
    use std::io::{Seek, SeekFrom, Write};
    let dir = tempfile::tempdir().unwrap();
    let damage = |name: &str, at: u64, bytes: &[u8]| {
        let path = good_db(dir.path(), name);
        let mut file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.seek(SeekFrom::Start(at)).unwrap();
        file.write_all(bytes).unwrap();
        path
    };
    // The magic string, and an impossible page size (3 bytes): not a database.
    refused_with(&damage("magic.db", 0, b"SQLite format 4"), "SQLITE_NOTADB");
    refused_with(&damage("page-size.db", 16, &[0, 3]), "SQLITE_NOTADB");
    // The schema's b-tree page header on page 1, overwritten: corrupt.
    refused_with(&damage("btree.db", 100, &[0xff; 200]), "SQLITE_CORRUPT");
}

#[test]
fn a_read_only_directory_is_refused_at_open_naming_the_path() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("ro");
    std::fs::create_dir(&location).unwrap();
    let existing = good_db(&location, "app.db");
    let missing = location.join("new.db");
    std::fs::set_permissions(&location, std::fs::Permissions::from_mode(0o555)).unwrap();
    let before = snapshot(&location);
    for path in [&existing, &missing] {
        let err = Store::open(path).unwrap_err();
        assert!(matches!(err.kind(), OpenErrorKind::ReadOnlyDirectory(d) if d == &location), "{err}");
        assert_eq!(err.path(), path);
        let text = err.to_string();
        assert!(text.contains(&path.display().to_string()) && text.contains("read-only"), "{text}");
        assert!(matches!(Writer::open(path), Err(WriterError::Open(_))));
    }
    let after = snapshot(&location);
    std::fs::set_permissions(&location, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(after, before, "nothing created or changed");
}
