//! "Write these rows or dead-letter them" on real files: acknowledged after commit with the rows
//! changed; a batch that cannot commit — a missing table, another connection's EXCLUSIVE lock past
//! the policy — is kept in the dead-letter store before the call returns, counted, and replayable.
#![allow(clippy::unwrap_used)]

mod writer_common;

use std::time::Duration;

use sqlretry::writer::{DeadLetterStore, NotWritten, Row, Rows, Writer, WriterOptions};
use writer_common::{SCHEMA, Tick, count, tick};

fn rows(range: std::ops::Range<i64>) -> Rows {
    let ticks: Vec<Tick> = range.map(tick).collect();
    Rows::of(&ticks)
}

#[test]
fn rows_are_acknowledged_with_what_they_changed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rows.db");
    let writer = writer_common::writer(&path, WriterOptions::default());
    assert_eq!(writer.write_rows(rows(0..10)).unwrap(), 10);
    assert_eq!(writer.write_rows(rows(5..15)).unwrap(), 5, "five were already there");
    let m = writer.shutdown().unwrap();
    assert_eq!((m.requests_committed, m.rows_dead_lettered, m.rows_lost), (3, 0, 0), "{m:?}");
    assert_eq!(count(&path, "SELECT count(*) FROM ticks"), 15);
}

#[test]
fn rows_that_cannot_commit_are_kept_and_replayable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kept.db");
    let policy = sqlretry::RetryPolicy::builder()
        .max_attempts(3)
        .backoff(sqlretry::backoff::ConstantBuilder::default().with_delay(Duration::from_millis(5)))
        .deadline(Duration::from_millis(300))
        .build()
        .unwrap();
    let writer = writer_common::writer(
        &path,
        WriterOptions::default().with_write_policy(policy).with_process_lock(false),
    );
    // Another connection holds the file past the policy's deadline: kept.
    let foreign = rusqlite::Connection::open(&path).unwrap();
    foreign.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let kept = writer.write_rows(rows(0..7)).unwrap_err();
    let NotWritten::DeadLettered { id, .. } = kept else { panic!("{kept}") };
    foreign.execute_batch("ROLLBACK").unwrap();
    let m = writer.metrics();
    assert_eq!((m.rows_dead_lettered, m.rows_lost, m.batch_failures), (7, 0, 1), "{m:?}");
    assert!(m.last_batch_error.is_some(), "{m:?}");
    let store = DeadLetterStore::open(writer.dead_letter_path()).unwrap();
    let letters = store.list(None).unwrap();
    assert_eq!((letters.len(), letters[0].id, letters[0].row_type.as_str()), (1, id, Tick::TYPE_NAME));
    drop(store);
    // A statement that fails for good (no such table) is kept too, not dropped.
    let missing = Rows::new("other", "INSERT INTO nowhere (x) VALUES (?1)", vec![vec![1_i64.into()]]);
    assert!(matches!(writer.write_rows(missing).unwrap_err(), NotWritten::DeadLettered { .. }));
    let report = writer.replay::<Tick>().unwrap();
    assert_eq!((report.batches, report.rows), (1, 7), "{report:?}");
    assert_eq!(count(&path, "SELECT count(*) FROM ticks"), 7);
    assert_eq!(writer.shutdown().unwrap().rows_dead_lettered, 8);
}

#[test]
fn async_rows_are_acknowledged_after_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("async.db");
    let writer = Writer::open(&path).unwrap();
    writer.submit(|tx| tx.execute_batch(SCHEMA)).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let changed = runtime.block_on(async {
        let tasks: Vec<_> = (0..8)
            .map(|t| {
                let writer = writer.clone();
                tokio::spawn(async move { writer.write_rows_async(rows(t * 10..t * 10 + 10)).await.unwrap() })
            })
            .collect();
        let mut changed = 0;
        for task in tasks {
            changed += task.await.unwrap();
        }
        changed
    });
    assert_eq!(changed, 80);
    writer.shutdown().unwrap();
    assert_eq!(count(&path, "SELECT count(*) FROM ticks"), 80);
}
