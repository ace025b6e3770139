//! Checkpoint starvation through the Store's own writes: the watch runs after its commits, no
//! caller asks. (Its own process: `tests/wal_watch.rs` asserts on the watch's log lines, and a
//! tracing callsite first hit with no subscriber in the same process would stay silent there.)
#![allow(missing_docs, clippy::unwrap_used)]

use rusqlite::Connection;

const LIMIT: u64 = 256 * 1024;

#[test]
fn the_store_itself_brings_a_starved_wal_back_under_its_limit_once_the_reader_lets_go() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store-starved.db");
    let store = sqlretry::sqlite::Store::open_with(
        &path,
        sqlretry::sqlite::StoreOptions::default().with_wal_limit(LIMIT),
    )
    .unwrap();
    store.write(|tx| tx.execute_batch("CREATE TABLE t (x BLOB)")).unwrap();
    let wal = || std::fs::metadata(dir.path().join("store-starved.db-wal")).map_or(0, |m| m.len());
    let reader = Connection::open(&path).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let _: i64 = reader.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
    for _ in 0..600 {
        store.write(|tx| tx.execute("INSERT INTO t VALUES (zeroblob(1024))", [])).unwrap();
    }
    assert!(wal() > LIMIT, "the reader kept the WAL from being checkpointed: {} bytes", wal());
    reader.execute_batch("COMMIT").unwrap();
    for _ in 0..128 {
        store.write(|tx| tx.execute("INSERT INTO t VALUES (zeroblob(16))", [])).unwrap();
    }
    assert!(wal() <= LIMIT, "WAL still {} bytes after the reader let go", wal());
}
