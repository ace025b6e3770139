//! One deadline per call, on real files and real processes: a foreign connection holding the file,
//! a stopped process holding the writers' lock, a busy COMMIT, user code that panics, a dead-letter
//! store that refuses. Child processes are this test binary re-executed with a role
//! (`writer_common::ROLE`), running the `child` test; parent and child synchronize through
//! stdin/stdout lines and `kill -STOP/-CONT`, not sleeps.
#![allow(clippy::unwrap_used)]

mod writer_common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use sqlretry::sqlite::{ConnectionProfile, JournalMode, Store, StoreOptions};
use sqlretry::writer::{IngestOptions, Row, WriteError, Writer, WriterOptions};
use sqlretry::{RetryPolicy, StopReason};
use writer_common::{ChildProcess, DB, ROLE, count, wait_for_parent, writer};

/// What an upper bound on a real wait allows beyond the deadline: one run of a closure, a last
/// poll, a loaded 2-core machine's scheduling.
const SLACK: Duration = Duration::from_millis(750);

/// The child side. Does nothing in a normal test run.
#[test]
fn child() {
    let (Ok(role), Ok(db)) = (std::env::var(ROLE), std::env::var(DB)) else { return };
    let db = PathBuf::from(db);
    match role.as_str() {
        "hold-writer-lock" => {
            // A Writer whose request holds the writers' lock and SQLite's lock until the parent
            // answers: the parent stops this process meanwhile.
            let writer =
                writer(&db, WriterOptions::default().with_write_policy(patient(Duration::from_secs(60))));
            let id = writer
                .submit(|tx| {
                    tx.execute("INSERT INTO items (id, v) VALUES (1, 'child')", [])?;
                    println!("holding");
                    wait_for_parent();
                    Ok(1)
                })
                .unwrap();
            println!("ack {id}");
            writer.shutdown().unwrap();
        }
        other => panic!("unknown role {other}"),
    }
}

/// Up to 1,000 attempts 5 ms apart, all done by `deadline`: the deadline, not the attempts, ends it.
fn patient(deadline: Duration) -> RetryPolicy {
    RetryPolicy::builder()
        .max_attempts(1_000)
        .backoff(sqlretry::backoff::ConstantBuilder::default().with_delay(Duration::from_millis(5)))
        .deadline(deadline)
        .build()
        .unwrap()
}

/// Another connection holds `BEGIN EXCLUSIVE` on `path` until the returned sender is dropped.
fn hold_exclusive(path: &Path) -> mpsc::Sender<()> {
    let (release, released) = mpsc::channel::<()>();
    let (locked, is_locked) = mpsc::channel();
    let path = path.to_path_buf();
    std::thread::spawn(move || {
        let conn = Connection::open(path).unwrap();
        conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
        locked.send(()).unwrap();
        // Held for 30 s at most, or until the test lets go.
        let _ = released.recv_timeout(Duration::from_secs(30));
        conn.execute_batch("COMMIT").unwrap();
    });
    is_locked.recv().unwrap();
    release
}

#[test]
fn a_default_store_write_against_a_30s_exclusive_holder_ends_within_its_default_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    let store = Store::open(&path).unwrap();
    store.write(|tx| tx.execute_batch("CREATE TABLE t (x)")).unwrap();
    let limit = RetryPolicy::store_writes().deadline().expect("every preset has a finite default deadline");
    let _holder = hold_exclusive(&path);
    let started = Instant::now();
    let err = store.write(|tx| tx.execute("INSERT INTO t VALUES (1)", [])).unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.extended_code(), Some(rusqlite::ffi::SQLITE_BUSY), "{err}");
    assert!(took <= limit + SLACK, "default write waited {took:?}, deadline {limit:?}");
    eprintln!(
        "default Store::write against a 30 s EXCLUSIVE holder gave up after {took:?} (deadline {limit:?})"
    );
}

#[test]
fn a_store_write_with_a_2s_deadline_gives_the_original_busy_after_about_2s() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    let store =
        Store::open_with(&path, StoreOptions::default().with_write_policy(patient(Duration::from_secs(2))))
            .unwrap();
    store.write(|tx| tx.execute_batch("CREATE TABLE t (x)")).unwrap();
    let _holder = hold_exclusive(&path);
    let ran = AtomicU32::new(0);
    let started = Instant::now();
    let err = store
        .write(|tx| {
            ran.fetch_add(1, Ordering::Relaxed);
            tx.execute("INSERT INTO t VALUES (1)", [])
        })
        .unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.extended_code(), Some(rusqlite::ffi::SQLITE_BUSY), "{err}");
    assert_eq!(err.reason(), Some(StopReason::DeadlineExceeded));
    assert_eq!(ran.load(Ordering::Relaxed), 0, "the closure never runs without the lock");
    assert!(took <= Duration::from_secs(2) + SLACK, "{took:?}");
    // Not given up early either: the deadline, not a busy timeout per attempt, ended it.
    assert!(took >= Duration::from_millis(1_900), "{took:?}");
}

#[test]
fn a_writer_submit_against_an_exclusive_holder_ends_within_its_deadline_and_then_commits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    let writer = writer(&path, WriterOptions::default().with_write_policy(patient(Duration::from_secs(1))));
    let holder = hold_exclusive(&path);
    let started = Instant::now();
    let err = writer.submit(|tx| tx.execute("INSERT INTO items (id, v) VALUES (1, 'a')", [])).unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, WriteError::NotCommitted(_)), "{err:?}");
    assert_eq!(err.extended_code(), Some(rusqlite::ffi::SQLITE_BUSY));
    assert_eq!(err.reason(), Some(StopReason::DeadlineExceeded));
    assert!(took <= Duration::from_secs(1) + SLACK, "{took:?}");
    drop(holder);
    let deadline = Instant::now() + Duration::from_secs(10);
    while writer.submit(|tx| tx.execute("INSERT INTO items (id, v) VALUES (1, 'a')", [])).is_err() {
        assert!(Instant::now() < deadline, "the writer never recovered");
    }
    assert_eq!(count(&path, "SELECT count(*) FROM items"), 1);
}

fn signal(child: &std::process::Child, sig: &str) {
    let status = Command::new("kill").args([sig, &child.id().to_string()]).status().unwrap();
    assert!(status.success(), "kill {sig}");
}

#[test]
fn a_stopped_process_holding_the_writers_lock_costs_another_process_a_bounded_wait() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    let mut child = ChildProcess::spawn("child", "hold-writer-lock", &path);
    child.expect_line("holding");
    signal(&child.child, "-STOP");
    // This process's writer: the child holds the writers' lock and SQLite's, and is stopped.
    let mine =
        Writer::open_with(&path, WriterOptions::default().with_write_policy(patient(Duration::from_secs(1))))
            .unwrap();
    let started = Instant::now();
    let err = mine.submit(|tx| tx.execute("INSERT INTO items (id, v) VALUES (2, 'parent')", [])).unwrap_err();
    let took = started.elapsed();
    signal(&child.child, "-CONT");
    assert!(took <= Duration::from_secs(1) + SLACK, "waited {took:?} on a stopped process");
    assert!(matches!(err, WriteError::NotCommitted(_)), "{err:?}");
    assert_eq!(err.extended_code(), Some(rusqlite::ffi::SQLITE_BUSY));
    // Resumed, the child commits its request; then this process's write goes through.
    child.tell("go");
    child.expect_line("ack 1");
    assert!(child.child.wait().unwrap().success());
    mine.submit(|tx| tx.execute("INSERT INTO items (id, v) VALUES (2, 'parent')", [])).unwrap();
    let ids: Vec<i64> = {
        let conn = Connection::open(&path).unwrap();
        let mut stmt = conn.prepare("SELECT id FROM items ORDER BY id").unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    assert_eq!(ids, [1, 2], "both acknowledged writes are there, once each");
}

#[test]
fn a_busy_commit_under_a_rollback_journal_is_retried_whole_and_succeeds_once_the_reader_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    let profile = ConnectionProfile::default().with_journal_mode(JournalMode::Delete);
    let store = Store::open_with(
        &path,
        StoreOptions::default().with_profile(profile).with_write_policy(patient(Duration::from_secs(10))),
    )
    .unwrap();
    store.write(|tx| tx.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (0)")).unwrap();
    // A reader holds SHARED across the writer's COMMIT, which needs EXCLUSIVE: SQLITE_BUSY at COMMIT.
    let reader = Connection::open(&path).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let _: i64 = reader.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
    let runs = Arc::new(AtomicU32::new(0));
    let writing = {
        let (store, runs) = (store.clone(), Arc::clone(&runs));
        std::thread::spawn(move || {
            store.write(|tx| {
                runs.fetch_add(1, Ordering::SeqCst);
                tx.execute("INSERT INTO t VALUES (1)", [])
            })
        })
    };
    // Let go only once the closure has run and its COMMIT was refused at least once.
    while runs.load(Ordering::SeqCst) < 2 {
        std::thread::yield_now();
    }
    reader.execute_batch("COMMIT").unwrap();
    writing.join().unwrap().unwrap();
    assert!(runs.load(Ordering::SeqCst) >= 2, "the whole transaction was re-run");
    assert_eq!(count(&path, "SELECT count(*) FROM t WHERE x = 1"), 1, "written once, not once per run");
}

/// A row whose `values` panics for one `n`.
#[derive(Debug, Clone)]
struct Touchy(i64);

impl Row for Touchy {
    const TYPE_NAME: &'static str = "touchy";
    const INSERT_SQL: &'static str = "INSERT INTO items (id, v) VALUES (?1, 'row')";
    fn values(&self) -> Vec<rusqlite::types::Value> {
        assert!(self.0 != 13, "row 13 refuses to be written");
        vec![self.0.into()]
    }
}

#[test]
fn a_panicking_closure_or_row_fails_alone_and_the_writer_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    let writer = writer(&path, WriterOptions::default());
    let err = writer.submit(|_tx| -> rusqlite::Result<()> { panic!("user code") }).unwrap_err();
    assert!(matches!(err, WriteError::RequestPanicked), "{err:?}");
    writer.submit(|tx| tx.execute("INSERT INTO items (id, v) VALUES (1, 'after closure')", [])).unwrap();
    let err = writer.insert(Touchy(13)).unwrap_err();
    assert!(matches!(err, WriteError::RequestPanicked), "{err:?}");
    assert_eq!(writer.insert(Touchy(2)).unwrap(), 1);
    // In a batch, on the writer thread: the panicking row is counted lost, the others are written.
    let ingest = writer.ingest::<Touchy>(IngestOptions::default().with_batch_size(4));
    for n in [10, 11, 12, 13] {
        ingest.append(Touchy(n)).unwrap();
    }
    drop(ingest);
    writer.submit(|tx| tx.execute("INSERT INTO items (id, v) VALUES (3, 'after batch')", [])).unwrap();
    let m = writer.shutdown().unwrap();
    assert_eq!(m.rows_lost, 1);
    assert_eq!(m.rows_written, 3);
    assert_eq!(count(&path, "SELECT count(*) FROM items"), 6);
}

#[test]
fn a_batch_the_dead_letter_store_refuses_is_counted_lost_and_the_writer_reports_unhealthy_until_writes_commit_again()
 {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    let writer = writer(
        &path,
        WriterOptions::default().with_write_policy(patient(Duration::from_millis(300))).with_health_window(3),
    );
    assert!(writer.is_healthy());
    // The dead-letter file cannot be created: a directory stands in its place.
    std::fs::create_dir(writer.dead_letter_path()).unwrap();
    let holder = hold_exclusive(&path);
    let ingest = writer.ingest::<Touchy>(
        IngestOptions::default().with_batch_size(3).with_policy(patient(Duration::from_millis(200))),
    );
    for n in 20..23 {
        ingest.append(Touchy(n)).unwrap();
    }
    drop(ingest);
    let deadline = Instant::now() + Duration::from_secs(10);
    while writer.metrics().rows_lost < 3 {
        assert!(Instant::now() < deadline, "{:?}", writer.metrics());
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!writer.is_healthy());
    let m = writer.metrics();
    assert!(!m.healthy);
    let reason = writer.health_reason().unwrap();
    assert!(reason.starts_with("3 row(s) lost: the dead-letter store refused a touchy batch"), "{reason}");
    assert_eq!(m.health_reason.as_deref(), Some(reason.as_str()));
    drop(holder);
    // Health says now: the next three committed transactions (the window) make it healthy again.
    writer.submit(|tx| tx.execute_batch("CREATE TABLE probe (n INTEGER)")).unwrap();
    for n in 0..2 {
        assert!(!writer.is_healthy(), "{n}: {:?}", writer.health_reason());
        writer.submit(move |tx| tx.execute("INSERT INTO probe VALUES (?1)", [n])).unwrap();
    }
    assert!(writer.is_healthy(), "{:?}", writer.health_reason());
    assert_eq!(writer.health_reason(), None);
    assert!(writer.metrics().healthy);
    assert_eq!(writer.metrics().rows_lost, 3, "the loss stays counted");
}

#[test]
fn a_lone_row_appended_to_an_idle_writer_is_written_within_its_interval() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    let writer = writer(&path, WriterOptions::default());
    let ingest = writer.ingest::<Touchy>(
        IngestOptions::default().with_batch_size(500).with_interval(Duration::from_millis(20)),
    );
    // The writer thread is idle, with no flush due, when the first row of a batch arrives.
    std::thread::sleep(Duration::from_millis(50));
    ingest.append(Touchy(7)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while writer.metrics().rows_written < 1 {
        assert!(
            Instant::now() < deadline,
            "a partial batch waited past its interval: {:?}",
            writer.metrics()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(count(&path, "SELECT count(*) FROM items WHERE id = 7"), 1);
}
