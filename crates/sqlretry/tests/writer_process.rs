//! The writer against other OS processes: a second process holding the write lock, and SIGKILL of
//! a writer process mid-load. Child processes are this test binary re-executed with a role
//! (`writer_common::ROLE`), running the `child` test; parent and child synchronize through
//! stdin/stdout lines, not sleeps.
#![allow(clippy::unwrap_used)]

mod writer_common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use sqlretry::RetryPolicy;
use sqlretry::backoff::ConstantBuilder;
use sqlretry::sqlite::ConnectionProfile;
use sqlretry::writer::{DeadLetterStore, IngestOptions, WriteError, Writer, WriterOptions};
use writer_common::{ChildProcess, DB, ROLE, Tick, count, tick, wait_for_parent, writer};

/// The child side. Does nothing in a normal test run.
#[test]
fn child() {
    let (Ok(role), Ok(db)) = (std::env::var(ROLE), std::env::var(DB)) else { return };
    let db = PathBuf::from(db);
    match role.as_str() {
        "lock" => {
            // Holds the write lock (BEGIN EXCLUSIVE) until the parent says "release".
            let conn = rusqlite::Connection::open(&db).unwrap();
            conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
            println!("locked");
            wait_for_parent();
            conn.execute_batch("COMMIT").unwrap();
            println!("released");
        }
        "load" => {
            // Four producers writing through one Writer; each acknowledged id is printed.
            let writer = Writer::open(&db).unwrap();
            println!("ready");
            let producers: Vec<_> = (0..4_i64)
                .map(|p| {
                    let writer = writer.clone();
                    std::thread::spawn(move || {
                        for i in 0.. {
                            let id = p * 1_000_000_000 + i;
                            writer
                                .submit(move |tx| {
                                    // Three rows and a counter per request: all or nothing.
                                    for part in 0..3 {
                                        tx.execute(
                                            "INSERT INTO items (id, part, v) VALUES (?1, ?2, 'x')",
                                            [id * 3 + part, part],
                                        )?;
                                    }
                                    tx.execute("UPDATE meta SET n = n + 1 WHERE k = 'requests'", [])
                                })
                                .unwrap();
                            println!("ack {id}");
                        }
                    })
                })
                .collect();
            for p in producers {
                p.join().unwrap();
            }
        }
        other => panic!("unknown role {other}"),
    }
}

fn constant_policy(max_attempts: u32) -> RetryPolicy {
    RetryPolicy::builder()
        .max_attempts(max_attempts)
        .backoff(ConstantBuilder::default().with_delay(Duration::from_millis(5)))
        .build()
        .unwrap()
}

/// No busy handler; retries every 5 ms for up to 5 s.
fn patient_config() -> WriterOptions {
    WriterOptions::default()
        .with_profile(ConnectionProfile::default().with_busy_timeout(Duration::ZERO))
        .with_write_policy(constant_policy(1000))
}

#[test]
fn a_group_waits_for_another_process_holding_the_lock_then_commits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("held.db");
    let config = patient_config();
    let writer = writer(&path, config);
    let mut locker = ChildProcess::spawn("child", "lock", &path);
    locker.expect_line("locked");
    let submitters: Vec<_> = (0..4_i64)
        .map(|i| {
            let writer = writer.clone();
            std::thread::spawn(move || {
                writer.submit(move |tx| tx.execute("INSERT INTO items (id, v) VALUES (?1, 'x')", [i]))
            })
        })
        .collect();
    // The group is retrying against the lock, not failing.
    while writer.metrics().retries_total < 3 {
        std::thread::yield_now();
    }
    assert!(submitters.iter().all(|s| !s.is_finished()));
    locker.tell("release");
    locker.expect_line("released");
    for s in submitters {
        assert_eq!(s.join().unwrap().unwrap(), 1);
    }
    assert!(locker.child.wait().unwrap().success());
    let m = writer.shutdown().unwrap();
    assert_eq!(count(&path, "SELECT count(*) FROM items"), 4);
    assert_eq!((m.requests_failed, m.batch_failures), (0, 0));
}

#[test]
fn past_the_policy_batches_are_dead_lettered_and_replay_restores_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dead.db");
    let config = WriterOptions::default()
        .with_profile(ConnectionProfile::default().with_busy_timeout(Duration::from_millis(20)))
        .with_write_policy(RetryPolicy::builder().max_attempts(2).build().unwrap())
        .with_alert_threshold(1);
    let writer = writer(&path, config.clone());
    let ingest = writer.ingest::<Tick>(IngestOptions::default()); // batch_writes: 3 attempts
    let mut locker = ChildProcess::spawn("child", "lock", &path);
    locker.expect_line("locked");
    for i in 0..1200 {
        ingest.append(tick(i)).unwrap();
    }
    // A request past its policy fails with the lock's code and leaves nothing behind.
    let err = writer.submit(|tx| tx.execute("INSERT INTO items (id, v) VALUES (1, 'x')", [])).unwrap_err();
    assert!(matches!(err, WriteError::NotCommitted(_)), "{err}");
    assert_eq!(err.extended_code().map(|c| c & 0xff), Some(5));
    assert_eq!(err.attempts(), 2);
    drop(ingest);
    let m = writer.shutdown().unwrap(); // flushes the buffered rows: all fail against the lock
    assert_eq!((m.rows_written, m.rows_dead_lettered, m.rows_lost), (0, 1200, 0), "{m:?}");
    assert_eq!(m.batch_failures, 4); // three ingest batches of ≤500 rows and the request's group
    assert_eq!(m.alerts, 3); // failures 2, 3 and 4 are past the threshold of 1
    assert!(m.last_batch_error.as_deref().unwrap().contains("locked"), "{m:?}");
    assert!(m.last_batch_error_at.is_some());
    assert!(m.batch_success_rate.unwrap() < 1.0);
    assert!(m.retries_total > 3 * 2, "{m:?}"); // 2 retries per ingest batch, 1 for the group
    let store = DeadLetterStore::open(DeadLetterStore::path_beside(&path)).unwrap();
    assert_eq!(store.rows(Some("tick")).unwrap(), 1200);
    assert_eq!(store.list(None).unwrap().len(), 3);
    drop(store);

    locker.tell("release");
    locker.expect_line("released");
    assert!(locker.child.wait().unwrap().success());

    let writer = Writer::open_with(&path, config).unwrap();
    let report = writer.replay::<Tick>().unwrap();
    assert_eq!((report.batches, report.rows, report.rows_left), (3, 1200, 0));
    assert!(report.refused.is_empty(), "{report:?}");
    assert_eq!(count(&path, "SELECT count(*) FROM ticks"), 1200);
    // Replaying again finds nothing; rows are not duplicated either way (natural key).
    assert_eq!(writer.replay::<Tick>().unwrap().rows, 0);
    assert_eq!(writer.replay_all().unwrap().rows, 0);
    assert_eq!(writer.metrics().rows_replayed, 1200);
    writer.shutdown().unwrap();
    assert_eq!(count(&path, "SELECT count(*) FROM ticks"), 1200);
    let store = DeadLetterStore::open(DeadLetterStore::path_beside(&path)).unwrap();
    assert_eq!(store.rows(None).unwrap(), 0);
}

#[test]
fn dropping_the_writer_while_another_process_holds_the_lock_is_bounded_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stuck.db");
    let config = patient_config().with_drop_timeout(Duration::from_millis(300));
    let writer = writer(&path, config);
    let ingest = writer.ingest::<Tick>(IngestOptions::default().with_policy(constant_policy(100)));
    let mut locker = ChildProcess::spawn("child", "lock", &path);
    locker.expect_line("locked");
    for i in 0..700 {
        ingest.append(tick(i)).unwrap();
    }
    drop(ingest);
    let started = std::time::Instant::now();
    drop(writer);
    // The drop timeout, plus at most the in-flight batch's policy (100 × 5 ms).
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    locker.tell("release");
    locker.expect_line("released");
    assert!(locker.child.wait().unwrap().success());
    let written = count(&path, "SELECT count(*) FROM ticks");
    let store = DeadLetterStore::open(DeadLetterStore::path_beside(&path)).unwrap();
    // Nothing could be written while the lock was held: every row is in the dead-letter store.
    assert_eq!((written, store.rows(Some("tick")).unwrap()), (0, 700));
}

#[test]
fn sigkill_mid_load_leaves_an_intact_file_with_every_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("killed.db");
    writer(&path, WriterOptions::default()).shutdown().unwrap();
    let mut child = ChildProcess::spawn("child", "load", &path);
    child.expect_line("ready");
    let mut acked = BTreeSet::new();
    for line in child.lines.by_ref() {
        if let Some(id) = line.unwrap().strip_prefix("ack ") {
            acked.insert(id.parse::<i64>().unwrap());
            if acked.len() == 3000 {
                break;
            }
        }
    }
    child.child.kill().unwrap(); // SIGKILL
    child.child.wait().unwrap();
    // Acknowledgements printed before the kill may still be in the pipe.
    for line in child.lines.by_ref() {
        if let Some(id) = line.unwrap().strip_prefix("ack ") {
            acked.insert(id.parse::<i64>().unwrap());
        }
    }
    let conn = rusqlite::Connection::open(&path).unwrap();
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    let requests: BTreeSet<i64> = conn
        .prepare("SELECT id / 3 FROM items GROUP BY id / 3")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(
        acked.is_subset(&requests),
        "acknowledged but missing: {:?}",
        acked.difference(&requests).take(5).collect::<Vec<_>>()
    );
    // No partial request, and the counter agrees with the rows: whole transactions only.
    let partial: i64 = conn
        .query_row(
            "SELECT count(*) FROM (SELECT id / 3 FROM items GROUP BY id / 3 HAVING count(*) <> 3)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(partial, 0);
    let counter: i64 = conn.query_row("SELECT n FROM meta WHERE k = 'requests'", [], |r| r.get(0)).unwrap();
    assert_eq!(counter, requests.len() as i64);
    assert!(requests.len() >= acked.len());
}
