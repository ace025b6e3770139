//! `sqlite::write_on` on pooled connections (r2d2_sqlite) under real contention: threads of one
//! process, and OS processes (this test binary re-executed with a role, `writer_common::ROLE`,
//! running the `child` test; parent and child synchronize through stdin/stdout lines).
//!
//! Every write is a read-then-write increment of one counter: a lost update, a failed write or a
//! write applied twice shows as a wrong final count.
#![allow(clippy::unwrap_used)]

mod writer_common;

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use r2d2_sqlite::SqliteConnectionManager;
use sqlretry::backoff::ConstantBuilder;
use sqlretry::sqlite::{SQLITE_BUSY, write_on, write_on_until};
use sqlretry::{Deadline, RetryPolicy};
use writer_common::{ChildProcess, DB, ROLE, wait_for_parent};

/// Increments per writer thread.
const INCREMENTS: i64 = 60;
/// Writer threads per child process.
const CHILD_THREADS: i64 = 2;

type Pool = r2d2::Pool<SqliteConnectionManager>;

/// A pool on `path` whose connections wait at most `busy_timeout` for SQLite's lock per attempt.
fn pool(path: &Path, busy_timeout: Duration, size: u32) -> Pool {
    let manager = SqliteConnectionManager::file(path).with_init(move |c| {
        c.busy_timeout(busy_timeout)?;
        c.execute_batch("PRAGMA synchronous = NORMAL")
    });
    r2d2::Pool::builder().max_size(size).connection_timeout(Duration::from_secs(30)).build(manager).unwrap()
}

/// Retries every millisecond, for up to 60 s: contention must cost time, never a write.
fn patient() -> RetryPolicy {
    RetryPolicy::builder()
        .max_attempts(1_000_000)
        .backoff(ConstantBuilder::default().with_delay(Duration::from_millis(1)))
        .deadline(Duration::from_secs(60))
        .build()
        .unwrap()
}

fn create(path: &Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL);
         INSERT INTO counter VALUES (1, 0);",
    )
    .unwrap();
}

fn counter(path: &Path) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("SELECT n FROM counter WHERE id = 1", [], |r| r.get(0)).unwrap()
}

/// `threads` threads, each `INCREMENTS` read-then-write increments through `write_on` on a
/// connection of `pool`, every transaction holding the lock a little (a read, then a write).
fn increment_from_threads(pool: &Pool, threads: i64) {
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                let policy = patient();
                for _ in 0..INCREMENTS {
                    let mut conn = pool.get().unwrap();
                    write_on(&mut conn, &policy, |tx| {
                        let n: i64 = tx.query_row("SELECT n FROM counter WHERE id = 1", [], |r| r.get(0))?;
                        tx.execute("UPDATE counter SET n = ?1 WHERE id = 1", [n + 1])
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
}

/// The child side. Does nothing in a normal test run.
#[test]
fn child() {
    let (Ok(role), Ok(db)) = (std::env::var(ROLE), std::env::var(DB)) else { return };
    let db = PathBuf::from(db);
    match role.as_str() {
        "increment" => {
            let pool = pool(&db, Duration::from_secs(5), 2);
            println!("ready");
            wait_for_parent();
            increment_from_threads(&pool, CHILD_THREADS);
            println!("done");
        }
        "lock" => {
            // Holds the write lock (BEGIN EXCLUSIVE) until the parent says "release".
            let conn = rusqlite::Connection::open(&db).unwrap();
            conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
            println!("locked");
            wait_for_parent();
            conn.execute_batch("COMMIT").unwrap();
            println!("released");
        }
        other => panic!("unknown role {other}"),
    }
}

/// Waits for `child` to exit, at most 60 s (then kills it and fails).
fn exit_ok(child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "child failed: {status}");
            return;
        }
        if Instant::now() >= deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("child did not exit within 60 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn pooled_connections_without_a_busy_handler_lose_no_update() {
    // busy_timeout = 0: every wait for the lock goes through write_on's retry loop.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("threads0.db");
    create(&path);
    increment_from_threads(&pool(&path, Duration::ZERO, 8), 8);
    assert_eq!(counter(&path), 8 * INCREMENTS);
}

#[test]
fn pooled_connections_with_a_busy_timeout_lose_no_update() {
    // busy_timeout = 5 s: every wait for the lock goes through write_on's polled BEGIN.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("threads5.db");
    create(&path);
    let pool = pool(&path, Duration::from_secs(5), 8);
    increment_from_threads(&pool, 8);
    assert_eq!(counter(&path), 8 * INCREMENTS);
    // write_on restored each connection's busy timeout.
    let conn = pool.get().unwrap();
    let millis: i64 = conn.query_row("PRAGMA busy_timeout", [], |r| r.get(0)).unwrap();
    assert_eq!(millis, 5000);
}

#[test]
fn processes_and_threads_increment_one_counter_without_losing_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("processes.db");
    create(&path);
    let mut children: Vec<_> = (0..3).map(|_| ChildProcess::spawn("child", "increment", &path)).collect();
    for child in &mut children {
        child.expect_line("ready");
    }
    for child in &mut children {
        child.tell("go");
    }
    increment_from_threads(&pool(&path, Duration::from_secs(5), 2), 2);
    for child in &mut children {
        child.expect_line("done");
        exit_ok(&mut child.child);
    }
    assert_eq!(counter(&path), (3 * CHILD_THREADS + 2) * INCREMENTS);
}

#[test]
fn another_process_holding_the_lock_costs_a_bounded_wait_then_the_write_commits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("held.db");
    create(&path);
    let mut locker = ChildProcess::spawn("child", "lock", &path);
    locker.expect_line("locked");
    let pool = pool(&path, Duration::from_secs(5), 2);

    // The connection's 5 s busy timeout would wait past the deadline; the deadline wins.
    let started = Instant::now();
    let deadline = Deadline::after(started, Duration::from_millis(200));
    let err = write_on_until(&mut pool.get().unwrap(), &patient(), deadline, |tx| {
        tx.execute("UPDATE counter SET n = n + 1 WHERE id = 1", [])
    })
    .unwrap_err();
    assert_eq!(err.extended_code(), Some(SQLITE_BUSY));
    assert!(started.elapsed() < Duration::from_secs(3), "waited {:?}", started.elapsed());

    // A write that waits while the lock is held commits once the other process lets go.
    let waiting = {
        let pool = pool.clone();
        std::thread::spawn(move || {
            write_on(&mut pool.get().unwrap(), &patient(), |tx| {
                tx.execute("UPDATE counter SET n = n + 1 WHERE id = 1", [])
            })
        })
    };
    locker.tell("release");
    locker.expect_line("released");
    exit_ok(&mut locker.child);
    assert_eq!(waiting.join().unwrap().unwrap(), 1);
    assert_eq!(counter(&path), 1);
}
