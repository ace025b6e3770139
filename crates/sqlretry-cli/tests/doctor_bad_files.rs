//! `sqlretry doctor` on bad files (random bytes, a truncated file, a damaged header, a damaged page
//! deep in the file): each is reported naming the file and SQLite's code, with exit 1 (never a
//! panic, which would exit 101), and the file is left as it was. And a WAL over its limit.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rusqlite::Connection;

fn doctor(path: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sqlretry"))
        .args(["doctor", path.to_str().expect("utf-8")])
        .output()
        .expect("the binary runs")
}

/// A checkpointed WAL database of about 80 pages.
fn good_db(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let conn = Connection::open(&path).expect("open");
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
         INSERT INTO t SELECT i, zeroblob(100) FROM n;
         PRAGMA wal_checkpoint(TRUNCATE);",
    )
    .expect("fill");
    path
}

fn overwrite(path: &Path, at: u64, bytes: &[u8]) {
    let mut file = std::fs::OpenOptions::new().write(true).open(path).expect("open");
    file.seek(SeekFrom::Start(at)).expect("seek");
    file.write_all(bytes).expect("write");
}

/// Runs doctor on `path`: exit 1, the path and each of `words` in its output; the file unchanged.
fn reported(path: &Path, words: &[&str]) {
    let before = std::fs::read(path).expect("read");
    let out = doctor(path);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains(&path.display().to_string()), "{text}");
    for word in words {
        assert!(text.contains(word), "{word:?} missing from {text}");
    }
    assert_eq!(std::fs::read(path).expect("read"), before, "doctor changed the file");
}

#[test]
fn doctor_reports_random_bytes_as_not_a_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("random.db");
    let bytes: Vec<u8> = (0..8192_u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(&path, bytes).expect("write");
    reported(&path, &["SQLITE_NOTADB"]);
}

#[test]
fn doctor_reports_a_truncated_file_and_a_damaged_header() {
    let dir = tempfile::tempdir().expect("tempdir");
    let truncated = good_db(dir.path(), "truncated.db");
    let len = std::fs::metadata(&truncated).expect("meta").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&truncated)
        .expect("open")
        .set_len(len / 2)
        .expect("truncate");
    reported(&truncated, &["SQLITE_CORRUPT"]);

    let page_size = good_db(dir.path(), "page-size.db");
    overwrite(&page_size, 16, &[0, 3]);
    reported(&page_size, &["SQLITE_NOTADB"]);
}

#[test]
fn doctor_reports_a_damaged_page_deep_in_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = good_db(dir.path(), "page.db");
    // A leaf page of the table, filled with garbage: the header is fine, quick_check is not.
    overwrite(&path, 40 * 4096, &[0xA5; 4096]);
    reported(&path, &[]);
}

#[test]
fn doctor_reports_a_wal_over_its_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("starved.db");
    let writer = Connection::open(&path).expect("open");
    writer
        .execute_batch(
            "PRAGMA journal_mode = WAL; CREATE TABLE t (v BLOB); INSERT INTO t VALUES (zeroblob(10));",
        )
        .expect("schema");
    // A reader holds its snapshot while 400 KB are written: the WAL cannot be checkpointed.
    let reader = Connection::open(&path).expect("open");
    reader.execute_batch("BEGIN; SELECT count(*) FROM t;").expect("snapshot");
    for _ in 0..50 {
        writer.execute("INSERT INTO t VALUES (zeroblob(8000))", []).expect("insert");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_sqlretry"))
        .args(["doctor", "--json", "--wal-limit", "65536", path.to_str().expect("utf-8")])
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(d["wal_limit_bytes"], 65536);
    assert!(d["wal_bytes"].as_u64().expect("wal_bytes") > 65536, "{d}");
    let warnings = d["warnings"].as_array().expect("warnings");
    assert!(warnings.iter().any(|w| w.as_str().is_some_and(|w| w.contains("limit 65536"))), "{d}");
    drop(reader);
}
