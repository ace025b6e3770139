//! Classification of errors provoked from real SQLite, and bad input at open.
#![allow(missing_docs, clippy::unwrap_used)]

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};
use sqlretry::sqlite::{ConnectionProfile, OpenErrorKind, Store, code_name, extended_code};
use sqlretry::{Class, Classify};

/// Asserts the error's extended code by name and its class.
fn assert_code(err: &rusqlite::Error, name: &str, class: Class) {
    let code = extended_code(err).unwrap_or_else(|| panic!("not a SQLite failure: {err:?}"));
    assert_eq!(code_name(code), name, "{err}");
    assert_eq!(err.classify(), class, "{name}");
}

fn two_connections(dir: &Path) -> (Connection, Connection) {
    let path = dir.join("two.db");
    let profile = ConnectionProfile::default().with_busy_timeout(std::time::Duration::ZERO);
    let a = profile.open(&path).unwrap();
    a.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)").unwrap();
    (a, profile.open(&path).unwrap())
}

#[test]
fn busy_from_a_held_write_lock() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_connections(dir.path());
    a.execute_batch("BEGIN IMMEDIATE").unwrap();
    let err = b.execute_batch("BEGIN IMMEDIATE").unwrap_err();
    assert_code(&err, "SQLITE_BUSY", Class::RETRYABLE);
}

#[test]
fn busy_snapshot_from_a_stale_read_snapshot_upgraded_to_a_write() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, b) = two_connections(dir.path());
    let tx = a.transaction_with_behavior(TransactionBehavior::Deferred).unwrap();
    let _: i64 = tx.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap(); // snapshot taken
    b.execute("INSERT INTO t (v) VALUES ('b')", []).unwrap(); // the snapshot is now stale
    let err = tx.execute("INSERT INTO t (v) VALUES ('a')", []).unwrap_err();
    assert_code(&err, "SQLITE_BUSY_SNAPSHOT", Class::RETRYABLE);
}

#[test]
fn locked_from_drop_table_while_a_statement_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = two_connections(dir.path());
    a.execute_batch("INSERT INTO t (v) VALUES ('1'), ('2')").unwrap();
    let mut stmt = a.prepare("SELECT v FROM t").unwrap();
    let mut rows = stmt.query([]).unwrap();
    assert!(rows.next().unwrap().is_some());
    let err = a.execute_batch("DROP TABLE t").unwrap_err();
    assert_code(&err, "SQLITE_LOCKED", Class::RETRYABLE);
}

#[test]
fn permanent_codes_provoked() {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "PRAGMA foreign_keys = ON;
         CREATE TABLE p (id INTEGER PRIMARY KEY);
         CREATE TABLE c (id INTEGER PRIMARY KEY, p INTEGER REFERENCES p(id), u TEXT UNIQUE,
                         n TEXT NOT NULL DEFAULT '', k INTEGER CHECK (k >= 0));
         INSERT INTO p VALUES (1); INSERT INTO c (id, p, u) VALUES (1, 1, 'x');",
    )
    .unwrap();
    let run = |sql: &str| conn.execute_batch(sql).unwrap_err();
    let permanent = Class::Permanent;
    assert_code(&run("INSERT INTO c (u) VALUES ('x')"), "SQLITE_CONSTRAINT_UNIQUE", permanent);
    assert_code(&run("INSERT INTO c (id) VALUES (1)"), "SQLITE_CONSTRAINT_PRIMARYKEY", permanent);
    assert_code(&run("INSERT INTO c (n) VALUES (NULL)"), "SQLITE_CONSTRAINT_NOTNULL", permanent);
    assert_code(&run("INSERT INTO c (k) VALUES (-1)"), "SQLITE_CONSTRAINT_CHECK", permanent);
    assert_code(&run("INSERT INTO c (p) VALUES (9)"), "SQLITE_CONSTRAINT_FOREIGNKEY", permanent);
    assert_code(&run("INSERT INTO c (id) VALUES ('text')"), "SQLITE_MISMATCH", permanent);
    assert_code(&run("SELECT * FROM missing"), "SQLITE_ERROR", permanent);
    conn.execute_batch("PRAGMA query_only = 1").unwrap();
    assert_code(&run("INSERT INTO p VALUES (2)"), "SQLITE_READONLY", permanent);
}

#[test]
fn not_a_database_is_permanent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("text.db");
    std::fs::write(&path, vec![b'x'; 4096]).unwrap();
    let conn = Connection::open(&path).unwrap();
    let err = conn.query_row("PRAGMA journal_mode", [], |r| r.get::<_, String>(0)).unwrap_err();
    assert_code(&err, "SQLITE_NOTADB", Class::Permanent);
}

/// Every file in `dir`, with its contents.
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

#[test]
fn a_path_in_a_missing_directory_is_refused_naming_the_file_and_nothing_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing").join("app.db");
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err.kind(), OpenErrorKind::MissingDirectory(_)), "{err}");
    assert_eq!(err.path(), path);
    assert!(err.to_string().contains(&path.display().to_string()), "{err}");
    assert!(snapshot(dir.path()).is_empty(), "nothing created");
}

#[test]
fn a_file_that_is_not_a_database_is_refused_naming_the_file_and_left_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.db");
    std::fs::write(&path, "these are notes, not a database\n".repeat(200)).unwrap();
    let before = snapshot(dir.path());
    let err = Store::open(&path).unwrap_err();
    assert!(err.to_string().contains(&path.display().to_string()), "{err}");
    assert!(err.to_string().contains("SQLITE_NOTADB"), "{err}");
    assert_eq!(err.sqlite_error().and_then(extended_code), Some(26));
    assert_eq!(snapshot(dir.path()), before, "nothing created or changed");
}

#[test]
fn a_read_only_file_is_refused_naming_the_file_and_left_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ro.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);").unwrap();
    }
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    perms.set_readonly(true);
    std::fs::set_permissions(&path, perms).unwrap();
    let before = snapshot(dir.path());
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err.kind(), OpenErrorKind::ReadOnly), "{err}");
    assert!(
        err.to_string().contains(&path.display().to_string()) && err.to_string().contains("read-only"),
        "{err}"
    );
    assert_eq!(snapshot(dir.path()), before, "nothing created or changed");
}
