//! The Store under real contention: another OS process holding the write lock, the deferred
//! read-then-write failure, constraint violations, the optimistic write.
//!
//! Length: one test binary so that the child-process harness (this binary re-run as the process
//! holding the lock) is built once; each test is short and names its scenario.
#![allow(missing_docs, clippy::unwrap_used)]

use std::io::Read;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use sqlretry::backoff::ConstantBuilder;
use sqlretry::sqlite::{
    ConnectionProfile, Outcome, SkipReason, Store, StoreOptions, code_name, extended_code,
};
use sqlretry::{RetryPolicy, StopReason};

const ROLE: &str = "SQLRETRY_TEST_LOCK_HOLDER";

/// Not a test of its own: the "lock holder" role of a second process. Opens the file, takes
/// BEGIN EXCLUSIVE, prints "locked", holds the lock until a line arrives on stdin, then commits.
#[test]
fn lock_holder_role() {
    let Ok(path) = std::env::var(ROLE) else { return };
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
    println!("locked");
    std::io::stdout().flush().unwrap();
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    conn.execute_batch("COMMIT").unwrap();
}

struct Holder {
    child: Child,
    stdin: ChildStdin,
    out: BufReader<ChildStdout>,
}

impl Holder {
    /// Starts a second process that holds SQLite's write lock on `path` until released.
    fn start(path: &Path) -> Holder {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "lock_holder_role", "--nocapture", "--test-threads=1"])
            .env(ROLE, path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while !line.trim_end().ends_with("locked") {
            line.clear();
            assert!(out.read_line(&mut line).unwrap() > 0, "the lock holder exited early");
        }
        Holder { child, stdin, out }
    }

    fn release(mut self) {
        writeln!(self.stdin, "release").unwrap();
        self.out.read_to_end(&mut Vec::new()).unwrap();
        assert!(self.child.wait().unwrap().success());
    }
}

fn table(store: &Store) {
    store
        .write(|tx| tx.execute_batch("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)"))
        .unwrap();
}

/// A store on a new file whose table `t` holds one row.
fn store_with_row(v: &str) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("t.db")).unwrap();
    table(&store);
    store.write(|tx| tx.execute("INSERT INTO t (v) VALUES (?1)", [v])).unwrap();
    (dir, store)
}

fn count(path: &Path) -> i64 {
    Connection::open(path).unwrap().query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap()
}

fn fast_policy(attempts: u32) -> RetryPolicy {
    RetryPolicy::builder()
        .max_attempts(attempts)
        .backoff(ConstantBuilder::default().with_delay(Duration::from_millis(10)))
        .build()
        .unwrap()
}

#[test]
fn a_write_waits_for_another_process_holding_the_lock_briefly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("brief.db");
    let store = Store::open(&path).unwrap();
    table(&store);
    let holder = Holder::start(&path);
    let started = Instant::now();
    std::thread::scope(|s| {
        let writer = s.spawn(|| store.write(|tx| tx.execute("INSERT INTO t (v) VALUES ('after')", [])));
        std::thread::sleep(Duration::from_millis(150));
        assert!(!writer.is_finished(), "the write must wait while the other process holds the lock");
        holder.release();
        assert_eq!(writer.join().unwrap().unwrap(), 1);
    });
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(count(&path), 1);
}

#[test]
fn held_past_the_policy_the_original_busy_after_exactly_the_attempts_and_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("held.db");
    let profile = ConnectionProfile::default().with_busy_timeout(Duration::from_millis(20));
    let store = Store::open_with(
        &path,
        StoreOptions::default().with_profile(profile).with_write_policy(fast_policy(3)),
    )
    .unwrap();
    table(&store);
    let holder = Holder::start(&path);

    let mut ran = 0;
    let err = store
        .write(|tx| {
            ran += 1;
            tx.execute("INSERT INTO t (v) VALUES ('never')", [])
        })
        .unwrap_err();
    assert_eq!(err.attempts(), 3);
    assert_eq!(err.reason(), Some(StopReason::AttemptsExhausted));
    assert_eq!(err.extended_code(), Some(5), "{}", err);
    assert_eq!(code_name(5), "SQLITE_BUSY");
    assert_eq!(ran, 0, "BEGIN IMMEDIATE never got the lock, so the closure never ran");

    // However busy_timeout and the retries stack, the deadline bounds the whole wait.
    let long_wait = ConnectionProfile::default(); // busy_timeout = 5 s
    let deadline =
        RetryPolicy::store_writes().to_builder().deadline(Duration::from_millis(300)).build().unwrap();
    let bounded =
        Store::open_with(&path, StoreOptions::default().with_profile(long_wait).with_write_policy(deadline))
            .unwrap();
    let started = Instant::now();
    let err = bounded.write(|tx| tx.execute("INSERT INTO t (v) VALUES ('never')", [])).unwrap_err();
    let waited = started.elapsed();
    assert!(waited < Duration::from_millis(450), "waited {waited:?} past a 300 ms deadline");
    assert_eq!(err.reason(), Some(StopReason::DeadlineExceeded), "{err}");
    assert_eq!(err.extended_code(), Some(5));

    holder.release();
    assert_eq!(count(&path), 0, "nothing of the failed writes is in the table");
}

#[test]
fn a_constraint_violation_is_attempted_once_and_returned_unchanged() {
    let (_dir, store) = store_with_row("x");
    let mut ran = 0;
    let err = store
        .write(|tx| {
            ran += 1;
            tx.execute("INSERT INTO t (v) VALUES ('y')", [])?;
            tx.execute("INSERT INTO t (v) VALUES ('x')", [])
        })
        .unwrap_err();
    assert_eq!((ran, err.attempts(), err.reason()), (1, 1, Some(StopReason::Permanent)));
    assert_eq!(err.extended_code().map(code_name), Some("SQLITE_CONSTRAINT_UNIQUE"));
    assert_eq!(count(store.path()), 1, "the 'y' of the failed transaction was rolled back");
}

/// SELECT the counter, INSERT a row, UPDATE the counter.
fn read_then_write(tx: &Connection) -> rusqlite::Result<()> {
    let n: i64 = tx.query_row("SELECT value FROM counter", [], |r| r.get(0))?;
    tx.execute("INSERT INTO t (v) VALUES (?1)", [format!("{n}-{:?}", std::thread::current().id())])?;
    tx.execute("UPDATE counter SET value = value + 1", [])?;
    Ok(())
}

fn counter_db(dir: &Path, name: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    let conn = ConnectionProfile::default().open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE);
         CREATE TABLE counter (value INTEGER NOT NULL); INSERT INTO counter VALUES (0);",
    )
    .unwrap();
    path
}

#[test]
fn deferred_read_then_write_fails_at_once_in_plain_rusqlite_but_not_through_the_store() {
    const THREADS: usize = 8;
    const OPS: usize = 150;
    let dir = tempfile::tempdir().unwrap();

    // Plain rusqlite, busy_timeout = 5000, deferred transactions.
    let plain = counter_db(dir.path(), "plain.db");
    let failures: Vec<(i32, Duration)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| {
                    let mut conn = ConnectionProfile::default().open(&plain).unwrap();
                    let mut failures = Vec::new();
                    for _ in 0..OPS {
                        let started = Instant::now();
                        let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred).unwrap();
                        if let Err(e) = read_then_write(&tx).and_then(|()| tx.commit()) {
                            failures.push((extended_code(&e).unwrap(), started.elapsed()));
                        }
                    }
                    failures
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert!(!failures.is_empty(), "plain deferred transactions should have failed");
    for (code, took) in &failures {
        assert_eq!(code & 0xFF, 5, "{}", code_name(*code));
        assert!(*took < Duration::from_secs(1), "failed at once ({took:?}), not after busy_timeout = 5 s");
    }

    // The same workload through the Store: one Store (one connection) per thread, so the threads
    // contend for SQLite's own lock too.
    let through = counter_db(dir.path(), "store.db");
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                let store = Store::open(&through).unwrap();
                for _ in 0..OPS {
                    store.write(read_then_write).unwrap();
                }
            });
        }
    });
    let conn = Connection::open(&through).unwrap();
    let (rows, counter): (i64, i64) = conn
        .query_row("SELECT (SELECT count(*) FROM t), (SELECT value FROM counter)", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((rows, counter), ((THREADS * OPS) as i64, (THREADS * OPS) as i64));
    eprintln!("plain deferred: {} of {} failed; Store: 0 failed", failures.len(), THREADS * OPS);
}

#[test]
fn reads_are_not_blocked_by_a_writer() {
    let (_dir, store) = store_with_row("a");
    let writer = Connection::open(store.path()).unwrap();
    writer.execute_batch("BEGIN IMMEDIATE; INSERT INTO t (v) VALUES ('b')").unwrap();
    let started = Instant::now();
    let n: i64 = store.read(|c| c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))).unwrap();
    assert_eq!(n, 1, "the committed snapshot");
    assert!(started.elapsed() < Duration::from_millis(500));
    writer.execute_batch("COMMIT").unwrap();
    let err = store.read(|c| c.execute("DELETE FROM t", [])).unwrap_err();
    assert_eq!(extended_code(err.inner()).map(|c| c & 0xFF), Some(8), "read connections are query_only");
}

#[test]
fn lock_hold_times_are_recorded_and_a_slow_hold_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(
        dir.path().join("h.db"),
        StoreOptions::default().with_slow_lock_hold(Duration::from_millis(20)),
    )
    .unwrap();
    table(&store);
    // Counted from here: on a loaded machine even the schema's transaction may pass 20 ms.
    let before = store.lock_hold().snapshot();
    store
        .write(|tx| {
            std::thread::sleep(Duration::from_millis(30));
            tx.execute("INSERT INTO t (v) VALUES ('slow')", [])
        })
        .unwrap();
    let s = store.lock_hold().snapshot();
    assert_eq!((s.count - before.count, s.slow - before.slow), (1, 1));
    assert!(s.max >= Duration::from_millis(30));
}

/// Captures what `tracing` logs while `f` runs.
fn logs(f: impl FnOnce()) -> String {
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let sink = buf.clone();
    let subscriber = tracing_subscriber::fmt().with_writer(move || sink.clone()).with_ansi(false).finish();
    tracing::subscriber::with_default(subscriber, f);
    String::from_utf8(buf.0.lock().unwrap().clone()).unwrap()
}

#[test]
fn optimistic_write_skips_a_changed_or_deleted_entry_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("o.db")).unwrap();
    store
        .write(|tx| {
            tx.execute_batch(
                "CREATE TABLE entries (id INTEGER PRIMARY KEY, parsed TEXT, version INTEGER NOT NULL);
                 INSERT INTO entries VALUES (1, NULL, 1), (2, NULL, 1);",
            )
        })
        .unwrap();
    let version_of = |id: i64| {
        move |tx: &rusqlite::Connection| {
            tx.query_row("SELECT version FROM entries WHERE id = ?1", [id], |r| r.get(0)).optional()
        }
    };
    let parsed = |id: i64| {
        move |tx: &rusqlite::Connection| {
            tx.execute("UPDATE entries SET parsed = 'p', version = version + 1 WHERE id = ?1", [id])
        }
    };

    // Entry 1 is changed by someone else during the slow work.
    store.write(|tx| tx.execute("UPDATE entries SET version = 7 WHERE id = 1", [])).unwrap();
    let mut outcome = None;
    let log = logs(|| outcome = Some(store.write_if_version(1, version_of(1), parsed(1)).unwrap()));
    assert_eq!(
        outcome.take().unwrap(),
        Outcome::Skipped { reason: SkipReason::Changed { expected: 1, found: 7 } }
    );
    assert!(log.contains("WARN") && log.contains("optimistic write skipped"), "{log}");

    // Entry 2 is deleted during the slow work.
    store.write(|tx| tx.execute("DELETE FROM entries WHERE id = 2", [])).unwrap();
    let log = logs(|| outcome = Some(store.write_if_version(1, version_of(2), parsed(2)).unwrap()));
    assert_eq!(outcome.take().unwrap(), Outcome::Skipped { reason: SkipReason::Deleted });
    assert!(log.contains("WARN") && log.contains("deleted"), "{log}");

    let parsed_rows: i64 = store
        .read(|c| c.query_row("SELECT count(*) FROM entries WHERE parsed IS NOT NULL", [], |r| r.get(0)))
        .unwrap();
    assert_eq!(parsed_rows, 0, "nothing was written");
    // Unchanged: written.
    assert!(store.write_if_version(7, version_of(1), parsed(1)).unwrap().is_written());
}

/// Not a test of its own: a second process writing through `Store::write_grouped` with 4 threads
/// (`SQLRETRY_TEST_GROUPED_WRITER` = `path|first id|writes per thread`); prints each acknowledged
/// id, then "done".
#[test]
fn grouped_writer_role() {
    let Ok(spec) = std::env::var("SQLRETRY_TEST_GROUPED_WRITER") else { return };
    let parts: Vec<&str> = spec.split('|').collect();
    let (path, first, per): (&str, i64, i64) =
        (parts[0], parts[1].parse().unwrap(), parts[2].parse().unwrap());
    let store = Store::open(path).unwrap();
    let acked = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..4 {
            let (store, acked) = (store.clone(), &acked);
            s.spawn(move || {
                for i in 0..per {
                    let id = first + t * per + i;
                    store
                        .write_grouped(move |tx| tx.execute("INSERT INTO t (id, v) VALUES (?1, ?1)", [id]))
                        .unwrap();
                    acked.lock().unwrap().push(id);
                }
            });
        }
    });
    let mut out = std::io::stdout().lock();
    writeln!(out).unwrap(); // the test harness's "test … " line has no end of line yet
    for id in acked.into_inner().unwrap() {
        writeln!(out, "{id}").unwrap();
    }
    writeln!(out, "done").unwrap();
}

/// Holds the store's write turn (a `Store::write` whose closure waits) until `open`, so that
/// grouped writes queue up behind it.
fn hold_turn<'s>(
    s: &'s std::thread::Scope<'s, '_>,
    store: &'s Store,
) -> (std::sync::mpsc::Sender<()>, std::thread::ScopedJoinHandle<'s, ()>) {
    let (entered_tx, entered) = std::sync::mpsc::channel();
    let (open_tx, open) = std::sync::mpsc::channel::<()>();
    let open = Mutex::new(open);
    let gate = s.spawn(move || {
        store
            .write(|_| {
                let _ = entered_tx.send(());
                let _ = open.lock().unwrap().recv();
                Ok(())
            })
            .unwrap();
    });
    entered.recv().unwrap();
    (open_tx, gate)
}

fn wait_for_grouped(store: &Store, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.grouped_waiting() < n {
        assert!(Instant::now() < deadline, "only {} of {n} grouped writes queued", store.grouped_waiting());
        std::thread::yield_now();
    }
}

#[test]
fn grouped_writes_share_transactions_and_each_is_acknowledged_after_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grouped.db");
    let store = Store::open(&path).unwrap();
    table(&store);
    let (threads, per) = (16_i64, 200_i64);
    std::thread::scope(|s| {
        for t in 0..threads {
            let (store, path) = (store.clone(), &path);
            s.spawn(move || {
                let reader = Connection::open(path).unwrap();
                for i in 0..per {
                    let id = t * per + i;
                    let got = store
                        .write_grouped(move |tx| {
                            tx.execute(
                                "INSERT INTO t (id, v) VALUES (?1, ?2)",
                                rusqlite::params![id, id.to_string()],
                            )?;
                            Ok(id)
                        })
                        .unwrap();
                    assert_eq!(got, id);
                    let seen: i64 =
                        reader.query_row("SELECT count(*) FROM t WHERE id = ?1", [id], |r| r.get(0)).unwrap();
                    assert_eq!(seen, 1, "acknowledged id {id} not visible to another connection");
                }
            });
        }
    });
    assert_eq!(count(&path), threads * per);
    let transactions = store.lock_hold().snapshot().count;
    assert!(
        transactions < (threads * per) as u64,
        "no group shared a transaction: {transactions} transactions"
    );
    assert_eq!(store.grouped_waiting(), 0);
}

#[test]
fn a_grouped_constraint_violation_or_panic_fails_alone_while_its_group_commits() {
    let (_dir, store) = store_with_row("taken");
    let before = store.lock_hold().snapshot().count;
    let results: Vec<_> = std::thread::scope(|s| {
        let (open, gate) = hold_turn(s, &store);
        let writers: Vec<_> = (1..=9_i64)
            .map(|n| {
                let writer = store.clone();
                let w = s.spawn(move || {
                    writer.write_grouped(move |tx| {
                        // Each writes a row first: a rejected member's row must vanish too.
                        tx.execute("INSERT INTO t (id, v) VALUES (?1, NULL)", [1000 + n])?;
                        match n {
                            4 => tx.execute("INSERT INTO t (id, v) VALUES (?1, 'taken')", [10 + n]), // UNIQUE
                            7 => panic!("a closure that panics"),
                            _ => tx.execute("INSERT INTO t (id, v) VALUES (?1, ?1)", [10 + n]),
                        }
                    })
                });
                // Queued in order, so that the first is the leader and the group holds all nine.
                wait_for_grouped(&store, n as usize);
                w
            })
            .collect();
        open.send(()).unwrap();
        gate.join().unwrap();
        writers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    for (i, result) in results.iter().enumerate() {
        let n = i + 1;
        match (n, result) {
            (4, Err(e)) => {
                assert_eq!((e.attempts(), e.reason()), (1, Some(StopReason::Permanent)));
                assert_eq!(e.extended_code().map(code_name), Some("SQLITE_CONSTRAINT_UNIQUE"));
            }
            (7, Err(e)) => {
                assert_eq!(e.reason(), Some(StopReason::Permanent));
                assert!(e.to_string().contains("panicked"), "{e}");
            }
            (_, Ok(1)) => {}
            (n, other) => panic!("write {n}: {other:?}"),
        }
    }
    let conn = Connection::open(store.path()).unwrap();
    let ids: Vec<i64> = conn
        .prepare("SELECT id FROM t WHERE id > 1000 ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        ids,
        [1001, 1002, 1003, 1005, 1006, 1008, 1009],
        "the rejected members' first rows were rolled back"
    );
    assert_eq!(count(store.path()), 1 + 7 + 7);
    // The gate's transaction, then the nine in one.
    assert_eq!(store.lock_hold().snapshot().count - before, 2);
}

#[test]
fn grouped_writes_wait_for_another_process_and_past_the_policy_each_gets_the_original_busy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grouped-held.db");
    let profile = ConnectionProfile::default().with_busy_timeout(Duration::from_millis(20));
    let store = Store::open_with(
        &path,
        StoreOptions::default().with_profile(profile).with_write_policy(fast_policy(3)),
    )
    .unwrap();
    table(&store);

    // Held past the policy: every member of the group fails with the original SQLITE_BUSY after
    // exactly the policy's attempts, and nothing is written.
    let holder = Holder::start(&path);
    let runs = Arc::new(Mutex::new(0));
    let results: Vec<_> = std::thread::scope(|s| {
        let writers: Vec<_> = (0..4)
            .map(|n| {
                let (store, runs) = (store.clone(), Arc::clone(&runs));
                s.spawn(move || {
                    store.write_grouped(move |tx| {
                        *runs.lock().unwrap() += 1;
                        tx.execute("INSERT INTO t (v) VALUES (?1)", [n])
                    })
                })
            })
            .collect();
        writers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    for result in results {
        let err = result.unwrap_err();
        assert_eq!((err.attempts(), err.reason()), (3, Some(StopReason::AttemptsExhausted)), "{err}");
        assert_eq!(err.extended_code(), Some(5), "{err}");
    }
    assert_eq!(*runs.lock().unwrap(), 0, "BEGIN IMMEDIATE never got the lock, so no closure ran");

    // Held briefly: the grouped writes wait and succeed.
    let patient = Store::open(&path).unwrap();
    std::thread::scope(|s| {
        let writers: Vec<_> = (0..4)
            .map(|n| {
                let store = patient.clone();
                s.spawn(move || {
                    store.write_grouped(move |tx| tx.execute("INSERT INTO t (v) VALUES (?1)", [n]))
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(150));
        assert!(writers.iter().all(|w| !w.is_finished()), "the writes must wait while the lock is held");
        holder.release();
        for w in writers {
            assert_eq!(w.join().unwrap().unwrap(), 1);
        }
    });
    assert_eq!(count(&path), 4);
}

#[test]
fn grouped_writes_from_four_processes_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grouped-procs.db");
    table(&Store::open(&path).unwrap());
    let per = 150;
    let children: Vec<_> = (0..4_i64)
        .map(|p| {
            Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "grouped_writer_role", "--nocapture", "--test-threads=1"])
                .env("SQLRETRY_TEST_GROUPED_WRITER", format!("{}|{}|{per}", path.display(), p * 10_000))
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut acked = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.lines().any(|l| l == "done"), "{text}");
        acked.extend(text.lines().filter_map(|l| l.parse::<i64>().ok()));
    }
    assert_eq!(acked.len(), 4 * 4 * per as usize);
    let conn = Connection::open(&path).unwrap();
    let mut stored: Vec<i64> = conn
        .prepare("SELECT id FROM t")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    acked.sort_unstable();
    stored.sort_unstable();
    assert_eq!(stored, acked, "every acknowledged write is in the file, and nothing else");
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
}

/// A retryable error in the middle of a group rolls the whole group back and runs every member
/// again: nothing is half-applied, and each member's last run is what commits.
#[test]
fn a_retryable_error_inside_a_group_reruns_the_whole_group() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(
        dir.path().join("rerun.db"),
        StoreOptions::default().with_write_policy(fast_policy(3)),
    )
    .unwrap();
    table(&store);
    let runs: Arc<Vec<std::sync::atomic::AtomicU32>> = Arc::new((0..3).map(|_| Default::default()).collect());
    let results: Vec<_> = std::thread::scope(|s| {
        let (open, gate) = hold_turn(s, &store);
        let writers: Vec<_> = (0..3_usize)
            .map(|n| {
                let (writer, runs) = (store.clone(), Arc::clone(&runs));
                let w = s.spawn(move || {
                    writer.write_grouped(move |tx| {
                        let run = runs[n].fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                        tx.execute("INSERT INTO t (v) VALUES (?1)", [format!("{n}")])?;
                        if n == 1 && run == 1 {
                            // As another connection's lock would: retryable, after a statement ran.
                            return Err(rusqlite::Error::SqliteFailure(
                                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                                None,
                            ));
                        }
                        Ok(run)
                    })
                });
                wait_for_grouped(&store, n + 1);
                w
            })
            .collect();
        open.send(()).unwrap();
        gate.join().unwrap();
        writers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    // Member 0 ran before the error, so it runs again; member 2 never ran in the failed attempt.
    let got: Vec<u32> = results.into_iter().map(Result::unwrap).collect();
    assert_eq!(got, [2, 2, 1]);
    let conn = Connection::open(store.path()).unwrap();
    let vs: Vec<String> = conn
        .prepare("SELECT v FROM t ORDER BY v")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(vs, ["0", "1", "2"], "each member's row once: the failed attempt was rolled back whole");
    assert_eq!(store.write_stats().snapshot().retries, 1, "{:?}", store.write_stats().snapshot());
}

/// Permanent errors — a value over SQLITE_MAX_LENGTH (SQLITE_TOOBIG), a schema mismatch (a column
/// the table lacks: SQLITE_ERROR), a constraint violation — through `Store::write` and inside a
/// `Store::write_grouped` group: one attempt, only that write fails, SQLite's original error kept.
#[test]
fn permanent_errors_alone_or_inside_a_group_are_attempted_once_with_the_original_error() {
    let (_dir, store) = store_with_row("taken");
    let bad = |n: i64, tx: &Connection| match n {
        // zeroblob(2e9) is over SQLite's 1e9-byte limit, without allocating it.
        1 => tx.execute("INSERT INTO t (id, v) VALUES (-1, zeroblob(2000000000))", []),
        3 => tx.execute("INSERT INTO t (id, v, missing) VALUES (-3, 'x', 1)", []),
        5 => tx.execute("INSERT INTO t (id, v) VALUES (-5, 'taken')", []),
        _ => tx.execute("INSERT INTO t (id, v) VALUES (?1, ?1)", [n]),
    };
    let want = |n: i64| match n {
        1 => "SQLITE_TOOBIG",
        3 => "SQLITE_ERROR",
        _ => "SQLITE_CONSTRAINT_UNIQUE",
    };
    for n in [1, 3, 5] {
        let mut ran = 0;
        let err = store
            .write(|tx| {
                ran += 1;
                bad(n, tx)
            })
            .unwrap_err();
        assert_eq!((ran, err.attempts(), err.reason()), (1, 1, Some(StopReason::Permanent)), "{err}");
        assert_eq!(err.extended_code().map(code_name), Some(want(n)), "{err}");
    }
    let runs: Arc<Vec<std::sync::atomic::AtomicU32>> = Arc::new((0..6).map(|_| Default::default()).collect());
    let results: Vec<_> = std::thread::scope(|s| {
        let (open, gate) = hold_turn(s, &store);
        let writers: Vec<_> = (0..6_i64)
            .map(|n| {
                let (writer, runs) = (store.clone(), Arc::clone(&runs));
                let w = s.spawn(move || {
                    writer.write_grouped(move |tx| {
                        runs[n as usize].fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        tx.execute("INSERT INTO t (id, v) VALUES (?1, NULL)", [1000 + n])?;
                        bad(n, tx)
                    })
                });
                wait_for_grouped(&store, n as usize + 1);
                w
            })
            .collect();
        open.send(()).unwrap();
        gate.join().unwrap();
        writers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    for (n, result) in (0_i64..).zip(&results) {
        match (n, result) {
            (1 | 3 | 5, Err(e)) => {
                assert_eq!((e.attempts(), e.reason()), (1, Some(StopReason::Permanent)), "{e}");
                assert_eq!(e.extended_code().map(code_name), Some(want(n)), "{e}");
            }
            (0 | 2 | 4, Ok(1)) => {}
            (n, other) => panic!("write {n}: {other:?}"),
        }
    }
    let runs: Vec<u32> = runs.iter().map(|r| r.load(std::sync::atomic::Ordering::SeqCst)).collect();
    // The failing writes ran once. Member 0 ran before the group's first rejection, so it ran
    // again in the same transaction, this time in its own savepoint (group.rs: `run_members`).
    assert_eq!(runs, [2, 1, 1, 1, 1, 1], "nothing was retried");
    let conn = Connection::open(store.path()).unwrap();
    let ids: Vec<i64> = conn
        .prepare("SELECT id FROM t WHERE id >= 0 AND id <> 1 ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(ids, [0, 2, 4, 1000, 1002, 1004], "the failed writes left nothing");
}
