//! One error type for every write path: the same situation gives the same `WriteError` through
//! `Store::write`, `Store::write_grouped` and `Writer::submit`, with SQLite's error kept whole as
//! the `source()`.
#![allow(missing_docs, clippy::unwrap_used)]

use std::error::Error as _;
use std::time::Duration;

use rusqlite::Connection;
use rusqlite::ffi::{SQLITE_BUSY, SQLITE_CONSTRAINT_NOTNULL};
use sqlretry::sqlite::{Store, StoreOptions};
use sqlretry::writer::{Writer, WriterOptions};
use sqlretry::{RetryPolicy, StopReason, WriteError};

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS t (v TEXT NOT NULL)";

fn policy() -> RetryPolicy {
    RetryPolicy::builder()
        .max_attempts(3)
        .delays([Duration::from_millis(1); 2])
        .deadline(Duration::from_millis(300))
        .build()
        .unwrap()
}

/// One write path, as one function shape.
type WritePath = Box<dyn Fn(Body) -> Result<usize, WriteError>>;

/// The three write paths, each on its own file.
fn paths(dir: &tempfile::TempDir) -> Vec<(&'static str, WritePath)> {
    let store =
        Store::open_with(dir.path().join("s.db"), StoreOptions::default().with_write_policy(policy()))
            .unwrap();
    store.write(|tx| tx.execute_batch(SCHEMA)).unwrap();
    let grouped =
        Store::open_with(dir.path().join("g.db"), StoreOptions::default().with_write_policy(policy()))
            .unwrap();
    grouped.write(|tx| tx.execute_batch(SCHEMA)).unwrap();
    let writer =
        Writer::open_with(dir.path().join("w.db"), WriterOptions::default().with_write_policy(policy()))
            .unwrap();
    writer.submit(|tx| tx.execute_batch(SCHEMA)).unwrap();
    vec![
        ("Store::write", Box::new(move |mut body: Body| store.write(|tx| body(tx)))),
        ("Store::write_grouped", Box::new(move |body: Body| grouped.write_grouped(body))),
        ("Writer::submit", Box::new(move |body: Body| writer.submit(body))),
    ]
}

type Body = Box<dyn FnMut(&Connection) -> rusqlite::Result<usize> + Send>;

fn busy() -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(SQLITE_BUSY), Some("made busy".into()))
}

#[test]
fn a_permanent_error_is_rejected_with_its_attempts_and_the_rusqlite_error_as_source() {
    let dir = tempfile::tempdir().unwrap();
    for (name, write) in paths(&dir) {
        // Busy on the first run (retried whole), a NOT NULL violation on the second.
        let mut runs = 0;
        let err = write(Box::new(move |tx| {
            runs += 1;
            if runs == 1 {
                return Err(busy());
            }
            tx.execute("INSERT INTO t VALUES (NULL)", [])
        }))
        .unwrap_err();
        assert!(matches!(err, WriteError::Rejected { attempts: 2, .. }), "{name}: {err:?}");
        assert_eq!(err.reason(), Some(StopReason::Permanent), "{name}");
        assert_eq!(err.extended_code(), Some(SQLITE_CONSTRAINT_NOTNULL), "{name}");
        let source = err.source().and_then(|s| s.downcast_ref::<rusqlite::Error>());
        assert_eq!(
            source.and_then(rusqlite::Error::sqlite_error_code),
            Some(rusqlite::ErrorCode::ConstraintViolation),
            "{name}"
        );
    }
}

#[test]
fn a_retryable_error_past_the_policy_is_not_committed_with_the_story_and_the_rusqlite_error_as_source() {
    let dir = tempfile::tempdir().unwrap();
    for (name, write) in paths(&dir) {
        let err = write(Box::new(|tx| {
            tx.execute("INSERT INTO t VALUES ('x')", [])?;
            Err(busy())
        }))
        .unwrap_err();
        let WriteError::NotCommitted(failed) = &err else { panic!("{name}: {err:?}") };
        assert_eq!((failed.attempts(), failed.reason()), (3, StopReason::AttemptsExhausted), "{name}");
        assert_eq!(err.attempts(), 3, "{name}");
        assert_eq!(err.extended_code(), Some(SQLITE_BUSY), "{name}");
        let source = err.source().and_then(|s| s.downcast_ref::<rusqlite::Error>());
        assert!(source.is_some_and(|e| e.to_string().contains("made busy")), "{name}: {source:?}");
        assert!(err.to_string().contains("attempts exhausted after 3 attempts"), "{name}: {err}");
    }
}
