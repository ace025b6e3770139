//! Shared by the compat crates (each includes this file with `#[path]`): one counter on one file,
//! incremented through a peer crate and through sqlretry at the same time. A lost update, a failed
//! write or a write applied twice shows as a wrong final count.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use sqlretry::sqlite::Store;
use sqlretry::{RetryPolicy, Writer};

/// Writer threads on each side.
pub const THREADS: i64 = 4;
/// Increments per thread.
pub const INCREMENTS: i64 = 25;

/// The counter table (idempotent).
pub const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL);
                          INSERT OR IGNORE INTO counter VALUES (1, 0);";

/// Read, then write: the shape that fails under contention unless the transaction began IMMEDIATE
/// (or is retried whole).
pub fn increment(tx: &rusqlite::Connection) -> rusqlite::Result<i64> {
    let n: i64 = tx.query_row("SELECT n FROM counter WHERE id = 1", [], |r| r.get(0))?;
    tx.execute("UPDATE counter SET n = ?1 WHERE id = 1", [n + 1])?;
    Ok(n + 1)
}

/// The policy every write here runs under: patient, bounded.
pub fn policy() -> RetryPolicy {
    RetryPolicy::builder().max_attempts(10_000).deadline(Duration::from_secs(30)).build().unwrap()
}

/// Creates the schema through sqlretry's `Store` (WAL, busy_timeout) and returns the store.
pub fn store(path: &Path) -> Store {
    let store = Store::open(path).unwrap();
    store.write(|tx| tx.execute_batch(SCHEMA)).unwrap();
    store
}

/// A fresh database in a temporary directory (kept while the `TempDir` lives), schema created.
pub fn fresh() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    store(&path);
    (dir, path)
}

/// `THREADS` threads incrementing through sqlretry while the peer writes: `Store::write`,
/// `Store::write_grouped` and `Writer::submit` in turn. Returns the threads to join.
pub fn sqlretry_writers(path: &Path) -> Vec<std::thread::JoinHandle<()>> {
    let store = store(path);
    let writer = Writer::open(path).unwrap();
    (0..THREADS)
        .map(|t| {
            let (store, writer) = (store.clone(), writer.clone());
            std::thread::spawn(move || {
                for i in 0..INCREMENTS {
                    match (t + i) % 3 {
                        0 => store.write(increment).map(drop).unwrap(),
                        1 => store.write_grouped(increment).map(drop).unwrap(),
                        _ => writer.submit(|tx| increment(tx)).map(drop).unwrap(),
                    }
                }
            })
        })
        .collect()
}

/// Joins `threads` and checks the counter: `THREADS` threads on each side.
pub fn finish(path: &Path, threads: Vec<std::thread::JoinHandle<()>>, peer: &str) {
    for t in threads {
        t.join().unwrap();
    }
    let n: i64 =
        store(path).read(|c| c.query_row("SELECT n FROM counter WHERE id = 1", [], |r| r.get(0))).unwrap();
    assert_eq!(n, 2 * THREADS * INCREMENTS, "lost or doubled writes");
    println!("{}: ok, {peer} and sqlretry wrote {n} increments to one file", env!("CARGO_PKG_NAME"));
}
