//! Group commit in one process: many producers, savepoint isolation, async, backpressure,
//! shutdown and drop draining. Real files, real threads.
//!
//! Length: about thirty short tests sharing one gate/fixture set (tests/writer_common); splitting
//! them would duplicate those helpers' imports without separating ideas.
#![allow(clippy::unwrap_used)]

mod writer_common;

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier, mpsc};
use std::time::{Duration, Instant};

use sqlretry::writer::{AppendError, IngestOptions, WriteError, Writer, WriterOptions};
use writer_common::{count, tick, writer};

fn insert_item(id: i64) -> impl FnMut(&rusqlite::Connection) -> rusqlite::Result<i64> + Send + 'static {
    move |tx| {
        tx.execute("INSERT INTO items (id, v) VALUES (?1, 'x')", [id])?;
        Ok(id)
    }
}

/// Holds the write connection (a running request that waits) until [`Gate::open`], so that the
/// next requests queue up.
struct Gate {
    barrier: Arc<Barrier>,
    thread: std::thread::JoinHandle<()>,
}

impl Gate {
    fn close(writer: &Writer) -> Gate {
        let (entered_tx, entered) = mpsc::channel();
        let barrier = Arc::new(Barrier::new(2));
        let thread = {
            let (writer, barrier) = (writer.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                writer
                    .submit(move |_tx| {
                        let _ = entered_tx.send(());
                        barrier.wait();
                        Ok(())
                    })
                    .unwrap();
            })
        };
        entered.recv().unwrap();
        Gate { barrier, thread }
    }

    fn open(self) {
        self.barrier.wait();
        self.thread.join().unwrap();
    }
}

fn wait_until_queued(writer: &Writer, depth: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while writer.metrics().queue_depth < depth {
        assert!(Instant::now() < deadline, "requests never queued: {:?}", writer.metrics());
        std::thread::yield_now();
    }
}

#[test]
fn many_producers_are_grouped_and_each_acknowledged_after_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("group.db");
    let writer = writer(&path, WriterOptions::default());
    let producers = 16;
    let per = 300;
    let handles: Vec<_> = (0..producers)
        .map(|p| {
            let writer = writer.clone();
            let path = path.clone();
            std::thread::spawn(move || {
                // A second connection reads each acknowledged row: committed, not just queued.
                let reader = rusqlite::Connection::open(&path).unwrap();
                for i in 0..per {
                    let id = writer.submit(insert_item(p * per + i)).unwrap();
                    let seen: i64 = reader
                        .query_row("SELECT count(*) FROM items WHERE id = ?1", [id], |r| r.get(0))
                        .unwrap();
                    assert_eq!(seen, 1, "acknowledged id {id} not visible to another connection");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let m = writer.shutdown().unwrap();
    assert_eq!(count(&path, "SELECT count(*) FROM items"), producers * per);
    assert_eq!(m.requests_committed, (producers * per + 1) as u64);
    // Grouping happened: fewer transactions than requests.
    assert!(m.groups_committed < m.requests_committed, "{m:?}");
    assert_eq!((m.requests_failed, m.batch_failures, m.rows_lost), (0, 0, 0));
}

#[test]
fn a_constraint_violation_fails_alone_while_its_group_commits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("savepoint.db");
    let writer = writer(&path, WriterOptions::default());
    // Hold the connection so that the next requests queue up into one group.
    let gate = Gate::close(&writer);
    let mut handles = Vec::new();
    for id in 1..=9_i64 {
        let writer = writer.clone();
        handles.push(std::thread::spawn(move || {
            writer.submit(move |tx| {
                // Request 5 writes a row, then violates NOT NULL: its first row must vanish too.
                tx.execute("INSERT INTO items (id, v) VALUES (?1, 'ok')", [id * 100])?;
                let v: Option<&str> = if id == 5 { None } else { Some("v") };
                tx.execute("INSERT INTO items (id, v) VALUES (?1, ?2)", rusqlite::params![id, v])?;
                Ok(id)
            })
        }));
    }
    wait_until_queued(&writer, 9);
    gate.open();
    for (i, h) in handles.into_iter().enumerate() {
        let id = i as i64 + 1;
        match h.join().unwrap() {
            Ok(got) => assert_eq!(got, id),
            Err(WriteError::Rejected { error: e, .. }) => {
                assert_eq!(id, 5);
                assert_eq!(sqlretry::sqlite::extended_code(&e), Some(1299)); // SQLITE_CONSTRAINT_NOTNULL
            }
            Err(e) => panic!("request {id}: {e}"),
        }
    }
    let m = writer.shutdown().unwrap();
    assert_eq!(count(&path, "SELECT count(*) FROM items WHERE id < 100"), 8);
    assert_eq!(count(&path, "SELECT count(*) FROM items WHERE id >= 100"), 8);
    assert_eq!(count(&path, "SELECT count(*) FROM items WHERE id IN (5, 500)"), 0);
    assert_eq!(m.requests_rejected, 1);
    // The nine queued requests went into one group (plus the schema and the gate: 3 transactions).
    assert_eq!(m.groups_committed, 3, "{m:?}");
}

/// `enqueue` returns before the commit (here the connection is held, so nothing can commit);
/// each result comes after it, a rejected request fails alone, and a dropped `Pending` still
/// commits.
#[test]
fn enqueued_requests_return_at_once_and_are_acknowledged_after_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("enqueue.db");
    let writer = writer(&path, WriterOptions::default());
    let gate = Gate::close(&writer);
    let (enqueued_tx, enqueued) = mpsc::channel();
    {
        let writer = writer.clone();
        std::thread::spawn(move || {
            let pending: Vec<_> = (1..=50_i64)
                // Request 50 repeats id 7: a primary-key violation, its own request only.
                .map(|id| writer.enqueue(insert_item(if id == 50 { 7 } else { id })).unwrap())
                .collect();
            enqueued_tx.send(pending).unwrap();
        });
    }
    let mut pending = enqueued.recv_timeout(Duration::from_secs(10)).expect("enqueue waited for a commit");
    assert_eq!(writer.metrics().queue_depth, 50);
    assert_eq!(count(&path, "SELECT count(*) FROM items"), 0, "nothing may commit while the gate is held");
    drop(pending.remove(0)); // id 1: its result is discarded, its write is not
    gate.open();
    let reader = rusqlite::Connection::open(&path).unwrap();
    for (i, p) in pending.into_iter().enumerate() {
        let id = i as i64 + 2;
        match p.wait() {
            Ok(got) => {
                assert_eq!(got, id);
                let seen: i64 =
                    reader.query_row("SELECT count(*) FROM items WHERE id = ?1", [id], |r| r.get(0)).unwrap();
                assert_eq!(seen, 1, "acknowledged id {id} not committed");
            }
            Err(WriteError::Rejected { error: e, .. }) => {
                assert_eq!(id, 50);
                assert_eq!(sqlretry::sqlite::extended_code(&e), Some(1555)); // SQLITE_CONSTRAINT_PRIMARYKEY
            }
            Err(e) => panic!("request {id}: {e}"),
        }
    }
    let m = writer.shutdown().unwrap();
    assert_eq!(count(&path, "SELECT count(*) FROM items"), 49);
    assert_eq!((m.requests_committed, m.requests_rejected), (51, 1)); // with the gate
    assert_eq!(m.groups_committed, 3, "schema, gate, then the 50 queued requests in one group: {m:?}");
    assert!(matches!(writer.enqueue(insert_item(-1)), Err(WriteError::Closed)));
}

#[test]
fn a_row_insert_is_acknowledged_after_commit_and_reports_an_ignored_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("insert.db");
    let writer = writer(&path, WriterOptions::default());
    assert_eq!(writer.insert(tick(1)).unwrap(), 1);
    assert_eq!(count(&path, "SELECT count(*) FROM ticks WHERE ts_ms = 1"), 1, "acknowledged, so committed");
    assert_eq!(writer.insert(tick(1)).unwrap(), 0, "INSERT OR IGNORE: the natural key is taken");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    assert_eq!(runtime.block_on(writer.insert_async(tick(2))).unwrap(), 1);
    let m = writer.shutdown().unwrap();
    assert_eq!(count(&path, "SELECT count(*) FROM ticks"), 2);
    assert_eq!(m.requests_committed, 4); // the schema and three inserts
    assert!(matches!(writer.insert(tick(3)), Err(WriteError::Closed)));
}

/// A retryable error in the middle of a group rolls the whole group back and runs every request
/// again: nothing is half-applied, and each request's last run is what commits.
#[test]
fn a_retryable_error_inside_a_group_reruns_the_whole_group() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rerun.db");
    let policy = sqlretry::RetryPolicy::builder()
        .max_attempts(3)
        .backoff(sqlretry::backoff::ConstantBuilder::default().with_delay(Duration::from_millis(10)))
        .build()
        .unwrap();
    let writer = writer(&path, WriterOptions::default().with_write_policy(policy));
    let gate = Gate::close(&writer);
    let runs: Arc<Vec<std::sync::atomic::AtomicU32>> = Arc::new((0..3).map(|_| Default::default()).collect());
    let pending: Vec<_> = (0..3_usize)
        .map(|n| {
            let runs = Arc::clone(&runs);
            writer
                .enqueue(move |tx| {
                    let run = runs[n].fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    tx.execute("INSERT INTO items (id, v) VALUES (?1, 'x')", [n as i64])?;
                    if n == 1 && run == 1 {
                        // As another process's lock would: retryable, after a statement ran.
                        return Err(rusqlite::Error::SqliteFailure(
                            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                            None,
                        ));
                    }
                    Ok(run)
                })
                .unwrap()
        })
        .collect();
    wait_until_queued(&writer, 3);
    gate.open();
    // Request 0 ran before the error, so it runs again; request 2 never ran in the failed attempt.
    let got: Vec<u32> = pending.into_iter().map(|p| p.wait().unwrap()).collect();
    assert_eq!(got, [2, 2, 1]);
    let m = writer.shutdown().unwrap();
    assert_eq!(
        count(&path, "SELECT count(*) FROM items"),
        3,
        "each row once: the failed attempt was rolled back whole"
    );
    assert_eq!(m.retries_total, 1, "{m:?}");
}

#[test]
fn a_lone_rejected_request_is_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lone.db");
    let writer = writer(&path, WriterOptions::default());
    let err = writer
        .submit(|tx| {
            tx.execute("INSERT INTO items (id, v) VALUES (1, 'a')", [])?;
            tx.execute("INSERT INTO items (id, v) VALUES (1, 'again')", [])
        })
        .unwrap_err();
    assert!(matches!(err, WriteError::Rejected { .. }), "{err}");
    drop(writer);
    assert_eq!(count(&path, "SELECT count(*) FROM items"), 0);
}

#[test]
fn async_submit_commits_without_blocking_the_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("async.db");
    let writer = writer(&path, WriterOptions::default().with_queue_capacity(8));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let ids = rt.block_on(async {
        // One runtime thread, 200 concurrent submits through a queue of 8: if a submit blocked the
        // thread, the others could not make progress and this would deadlock.
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                tokio::spawn({
                    let writer = writer.clone();
                    async move { writer.submit_async(insert_item(i)).await }
                })
            })
            .collect();
        let mut ids = Vec::new();
        for t in tasks {
            ids.push(t.await.unwrap().unwrap());
        }
        ids
    });
    assert_eq!(ids, (0..200).collect::<Vec<_>>());
    writer.shutdown().unwrap();
    assert_eq!(count(&path, "SELECT count(*) FROM items"), 200);
}

#[test]
fn a_full_queue_blocks_submit_and_try_submit_reports_full() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.db");
    let writer = writer(&path, WriterOptions::default().with_queue_capacity(4));
    let ingest = writer.ingest(IngestOptions::default().with_capacity(1000).with_batch_size(1000));
    let gate = Gate::close(&writer);
    let queued: Vec<_> = (0..4)
        .map(|i| {
            let writer = writer.clone();
            std::thread::spawn(move || writer.submit(insert_item(i)))
        })
        .collect();
    wait_until_queued(&writer, 4);
    assert!(matches!(writer.try_submit(insert_item(99)), Err(WriteError::Full)));
    let blocked = {
        let writer = writer.clone();
        std::thread::spawn(move || writer.submit(insert_item(4)))
    };
    // Ingest memory is bounded the same way: one batch in flight (the writer thread took it and
    // waits for the connection) plus a full buffer; the next row is refused, not buffered.
    for i in 0..2000 {
        ingest.append(tick(i)).unwrap();
    }
    assert!(matches!(ingest.try_append(tick(2000)), Err(AppendError::Full(t)) if t.ts_ms == 2000));
    std::thread::sleep(Duration::from_millis(100));
    assert!(!blocked.is_finished(), "submit returned while the queue was full");
    assert_eq!(writer.metrics().queue_depth, 4);
    gate.open();
    for h in queued {
        h.join().unwrap().unwrap();
    }
    assert_eq!(blocked.join().unwrap().unwrap(), 4);
    let m = writer.shutdown().unwrap();
    assert_eq!(count(&path, "SELECT count(*) FROM items"), 5);
    assert_eq!((m.rows_written, m.rows_lost), (2000, 0));
}

/// Producers race a shutdown: every request acknowledged is in the file, every other one got
/// `Closed` and is not.
#[test]
fn shutdown_drains_the_queue_and_nothing_acknowledged_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shutdown.db");
    let writer = writer(&path, WriterOptions::default().with_window(Duration::from_millis(2)));
    let (acked_tx, acked_rx) = mpsc::channel();
    let producers: Vec<_> = (0..8_i64)
        .map(|p| {
            let (writer, acked_tx) = (writer.clone(), acked_tx.clone());
            std::thread::spawn(move || {
                for i in 0..100_000 {
                    match writer.submit(insert_item(p * 1_000_000 + i)) {
                        Ok(id) => acked_tx.send(id).unwrap(),
                        Err(WriteError::Closed) => return,
                        Err(e) => panic!("{e}"),
                    }
                }
            })
        })
        .collect();
    drop(acked_tx);
    let first: Vec<i64> = acked_rx.iter().take(500).collect();
    let m = writer.shutdown().unwrap();
    for p in producers {
        p.join().unwrap();
    }
    let acked: BTreeSet<i64> = first.into_iter().chain(acked_rx.iter()).collect();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let stored: BTreeSet<i64> = conn
        .prepare("SELECT id FROM items")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(stored, acked);
    assert_eq!(m.requests_committed, acked.len() as u64 + 1);
    assert!(matches!(writer.submit(insert_item(-1)), Err(WriteError::Closed)));
}

#[test]
fn dropping_the_last_handle_flushes_buffered_rows_and_joins() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("drop.db");
    let writer = writer(&path, WriterOptions::default());
    // An interval and a batch size that never trigger: only the drop can flush these.
    let ingest = writer
        .ingest(IngestOptions::default().with_interval(Duration::from_secs(3600)).with_batch_size(100_000));
    drop(writer);
    let appenders: Vec<_> = (0..4_i64)
        .map(|p| {
            let ingest = ingest.clone();
            std::thread::spawn(move || (0..2500).for_each(|i| ingest.append(tick(p * 2500 + i)).unwrap()))
        })
        .collect();
    for a in appenders {
        a.join().unwrap();
    }
    assert_eq!(count(&path, "SELECT count(*) FROM ticks"), 0);
    let started = Instant::now();
    drop(ingest); // the last handle: drains, commits, joins
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(count(&path, "SELECT count(*) FROM ticks"), 10_000);
}

#[test]
fn ingest_flushes_by_size_and_by_interval() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ingest.db");
    let writer = writer(&path, WriterOptions::default());
    let ingest =
        writer.ingest(IngestOptions::default().with_batch_size(100).with_interval(Duration::from_millis(50)));
    for i in 0..250 {
        ingest.append(tick(i)).unwrap();
    }
    // Two full batches by size, the last 50 by interval; duplicates are ignored by the natural key.
    for i in 0..250 {
        ingest.append(tick(i)).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while writer.metrics().rows_written < 500 {
        assert!(Instant::now() < deadline, "{:?}", writer.metrics());
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(count(&path, "SELECT count(*) FROM ticks"), 250);
    let m = writer.metrics();
    assert!(m.batches_written >= 5, "500 rows in batches of at most 100: {m:?}");
    assert_eq!(m.batch_success_rate, Some(1.0));
    let json = serde_json::to_value(&m).unwrap();
    assert_eq!(json["rows_lost"], 0);
}

/// The same figures go through the `metrics` facade. A lone caller leads its own group, so the
/// counters are recorded on this thread, where a local recorder sees them.
#[test]
fn metrics_reach_the_metrics_facade() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("facade.db");
    let writer = writer(&path, WriterOptions::default().with_name("facade"));
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        writer.submit(insert_item(1)).unwrap();
        let _ = writer.submit(insert_item(1)).unwrap_err();
    });
    let text = handle.render();
    assert!(text.contains(r#"sqlretry_writer_groups_committed_total{writer="facade"} 1"#), "{text}");
    assert!(text.contains(r#"sqlretry_writer_requests_rejected_total{writer="facade"} 1"#), "{text}");
    assert!(text.contains("sqlretry_sqlite_lock_hold_seconds"), "{text}");
    writer.shutdown().unwrap();
}

#[test]
fn a_panicking_request_is_rejected_alone_and_the_writer_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("panic.db");
    let writer = writer(&path, WriterOptions::default());
    let gate = Gate::close(&writer);
    let handles: Vec<_> = (1..=3_i64)
        .map(|id| {
            let writer = writer.clone();
            std::thread::spawn(move || {
                writer.submit(move |tx| {
                    tx.execute("INSERT INTO items (id, v) VALUES (?1, 'x')", [id])?;
                    assert!(id != 2, "request 2 panics");
                    Ok(id)
                })
            })
        })
        .collect();
    wait_until_queued(&writer, 3);
    gate.open();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(matches!(results[0], Ok(1)));
    assert!(matches!(results[1], Err(WriteError::RequestPanicked)), "{results:?}");
    assert!(matches!(results[2], Ok(3)));
    assert_eq!(writer.submit(insert_item(4)).unwrap(), 4);
    writer.shutdown().unwrap();
    assert_eq!(count(&path, "SELECT count(*) FROM items"), 3);
}

#[test]
fn a_generic_replay_restores_a_typed_lanes_dead_letters_and_refuses_non_inserts() {
    use rusqlite::types::Value;
    use sqlretry::writer::{DeadLetterStore, Row};
    use writer_common::{SCHEMA, Tick};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("replay.db");
    // No table yet: every batch of the typed lane fails permanently and is dead-lettered.
    let writer = Writer::open(&path).unwrap();
    let ingest = writer.ingest::<Tick>(IngestOptions::default().with_batch_size(100));
    for i in 0..250 {
        ingest.append(tick(i)).unwrap();
    }
    drop(ingest);
    let m = writer.shutdown().unwrap();
    assert_eq!((m.rows_written, m.rows_dead_lettered, m.rows_lost), (0, 250, 0), "{m:?}");

    let mut store = DeadLetterStore::open(DeadLetterStore::path_beside(&path)).unwrap();
    let letters = store.list(None).unwrap();
    assert_eq!(letters.len(), 3);
    assert!(letters.iter().all(|l| l.row_type == "tick" && l.insert_sql == Tick::INSERT_SQL));
    assert_eq!(letters[0].values().unwrap()[1], tick(1).values());
    let bad = store.append("evil", "DELETE FROM ticks", &[vec![Value::Integer(1)]], "x").unwrap();
    let bad_blank = store.append("evil", "  update ticks SET bid = 0", &[], "x").unwrap();
    drop(store);

    // Another program, without the Rust type: generic replay.
    let writer = Writer::open(&path).unwrap();
    writer.submit(|tx| tx.execute_batch(SCHEMA)).unwrap();
    writer.submit(|tx| tx.execute("INSERT INTO ticks (symbol, ts_ms, bid) VALUES ('S1', 1, 0)", [])).unwrap();
    let report = writer.replay_all().unwrap();
    assert_eq!((report.batches, report.rows), (3, 250), "{report:?}");
    assert_eq!(report.refused.iter().map(|r| r.id).collect::<Vec<_>>(), vec![bad, bad_blank]);
    assert!(report.refused[0].reason.contains("not an INSERT"), "{report:?}");
    assert_eq!((report.batches_left, report.rows_left), (2, 1));
    assert_eq!(writer.metrics().rows_replayed, 250);
    // Idempotent: the natural key kept the row that was already there, nothing was deleted.
    assert_eq!(count(&path, "SELECT count(*) FROM ticks"), 250);
    assert_eq!(count(&path, "SELECT count(*) FROM ticks WHERE bid = 0"), 1);
    // Again: nothing replayed, the refused letters are still refused and kept.
    let again = writer.replay_all().unwrap();
    assert_eq!((again.batches, again.refused.len(), again.batches_left), (0, 2, 2));
    // The typed filter only looks at its own type.
    let typed = writer.replay::<Tick>().unwrap();
    assert_eq!((typed.batches, typed.refused.len(), typed.batches_left), (0, 0, 0));
    writer.shutdown().unwrap();
    let store = DeadLetterStore::open(DeadLetterStore::path_beside(&path)).unwrap();
    assert_eq!(store.list(None).unwrap().iter().map(|l| l.id).collect::<Vec<_>>(), vec![bad, bad_blank]);
}

/// Permanent errors inside a group — a value over SQLITE_MAX_LENGTH (SQLITE_TOOBIG), a schema
/// mismatch (a column the table lacks: SQLITE_ERROR), a constraint violation — each request runs
/// once, fails alone with SQLite's original code, and the rest of its group commits.
#[test]
fn permanent_errors_inside_a_group_run_once_and_fail_alone_with_the_original_code() {
    use std::sync::atomic::{AtomicU32, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("permanent.db");
    let writer = writer(&path, WriterOptions::default());
    writer.submit(insert_item(1)).unwrap(); // the id the constraint violation collides with
    let gate = Gate::close(&writer);
    let runs: Arc<Vec<AtomicU32>> = Arc::new((0..6).map(|_| AtomicU32::new(0)).collect());
    let pending: Vec<_> = (0..6_usize)
        .map(|n| {
            let runs = Arc::clone(&runs);
            writer
                .enqueue(move |tx| {
                    runs[n].fetch_add(1, Ordering::SeqCst);
                    let id = 100 + n as i64;
                    // A row first: a failing request's row must vanish with it.
                    tx.execute("INSERT INTO items (id, v) VALUES (?1, 'ok')", [id])?;
                    match n {
                        // zeroblob(2e9) is over SQLite's 1e9-byte limit, without allocating it.
                        1 => tx.execute("INSERT INTO items (id, v) VALUES (?1, zeroblob(2000000000))", [-id]),
                        3 => tx.execute("INSERT INTO items (id, v, missing) VALUES (?1, 'x', 1)", [-id]),
                        5 => tx.execute("INSERT INTO items (id, v) VALUES (1, 'taken')", []),
                        _ => Ok(1),
                    }
                })
                .unwrap()
        })
        .collect();
    wait_until_queued(&writer, 6);
    gate.open();
    for (n, p) in pending.into_iter().enumerate() {
        let code = |e: &rusqlite::Error| sqlretry::sqlite::extended_code(e).map(sqlretry::sqlite::code_name);
        match (n, p.wait()) {
            (1, Err(WriteError::Rejected { error: e, .. })) => {
                assert_eq!(code(&e), Some("SQLITE_TOOBIG"), "{e}")
            }
            (3, Err(WriteError::Rejected { error: e, .. })) => {
                assert_eq!(code(&e), Some("SQLITE_ERROR"), "{e}");
                assert!(e.to_string().contains("missing"), "the original message: {e}");
            }
            (5, Err(WriteError::Rejected { error: e, .. })) => {
                assert_eq!(code(&e), Some("SQLITE_CONSTRAINT_PRIMARYKEY"), "{e}");
            }
            (0 | 2 | 4, Ok(1)) => {}
            (n, other) => panic!("request {n}: {other:?}"),
        }
    }
    let runs: Vec<u32> = runs.iter().map(|r| r.load(Ordering::SeqCst)).collect();
    // The failing requests ran once. Request 0 ran before the group's first rejection, so it ran
    // again in the same transaction, this time in its own savepoint (`run_members`).
    assert_eq!(runs, [2, 1, 1, 1, 1, 1], "nothing was retried");
    let m = writer.shutdown().unwrap();
    assert_eq!((m.retries_total, m.requests_rejected, m.batch_failures), (0, 3, 0), "{m:?}");
    assert_eq!(count(&path, "SELECT count(*) FROM items WHERE id >= 100"), 3);
    assert_eq!(count(&path, "SELECT count(*) FROM items WHERE id IN (100, 102, 104)"), 3);
    // The schema, the first insert, the gate and the six in one group.
    assert_eq!(m.groups_committed, 4, "{m:?}");
}
