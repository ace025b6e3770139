//! One transaction, retried whole; and a group of requests run in it, each in its own savepoint.

use std::time::{Duration, Instant};

use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::error::WriteError;
use super::metrics::WriterMetrics;
use super::request::Job;
use crate::sqlite::group::run_members;
use crate::sqlite::process_lock::ProcessLock;
use crate::{Retry, RetryError, RetryPolicy};

/// Runs `body` in a `BEGIN IMMEDIATE` transaction and commits when it returns `(value, true)`
/// (rolls back on `(value, false)`), re-running the whole transaction under `policy` on a
/// retryable error, a failed `COMMIT` included (DESIGN §3.2, §3.4). Returns the value and how long
/// the write lock was held. Records the flush latency; counts retries. With `turn`, each attempt
/// first takes that file lock (if the caller has not already): writers in other processes then
/// queue in the kernel, which wakes the next one the moment the lock is free, instead of polling
/// SQLite's busy handler. The lock is let go after each attempt, before any reply is sent.
pub(crate) fn transact<T>(
    conn: &mut Connection,
    turn: Option<&ProcessLock>,
    policy: &RetryPolicy,
    metrics: &WriterMetrics,
    operation: &str,
    mut body: impl FnMut(&Transaction<'_>) -> rusqlite::Result<(T, bool)>,
) -> Result<(T, Duration), RetryError<rusqlite::Error>> {
    let started = Instant::now();
    let result = Retry::new(policy).named(operation).with_observer(metrics).call(|| {
        if let Some(turn) = turn {
            turn.acquire();
        }
        let attempt = (|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let locked = Instant::now();
            let (value, commit) = body(&tx)?;
            if commit {
                tx.commit()?;
            }
            Ok((value, locked.elapsed()))
        })()
        .map_err(|e| crate::sqlite::file_errors::name_file(conn, e));
        if let Some(turn) = turn {
            turn.unlock();
        }
        attempt
    });
    metrics.flushed(started.elapsed());
    result
}

/// Runs one group of requests in one transaction ([`run_members`]: a request's permanent error
/// fails only that request); the replies are sent after the commit. A retryable error fails the
/// attempt and the policy re-runs every request from the start (the closures are `FnMut`).
pub(crate) fn run_group(
    conn: &mut Connection,
    turn: Option<&ProcessLock>,
    mut jobs: Vec<Box<dyn Job>>,
    policy: &RetryPolicy,
    metrics: &WriterMetrics,
) -> Replies {
    let result = transact(conn, turn, policy, metrics, "writer group", |tx| {
        run_members(tx, tx, &mut jobs).map(|commit| ((), commit))
    });
    let total = jobs.len() as u64;
    match result {
        Ok(((), hold)) => {
            let rejected = jobs.iter().filter(|j| j.rejected()).count() as u64;
            metrics.rejected(rejected);
            if rejected < total {
                metrics.committed(total - rejected, 0, hold);
            }
            Replies { jobs, failure: None, contended: turn.is_some_and(ProcessLock::contended) }
        }
        Err(error) => {
            metrics.batch_failed(error.inner(), total);
            Replies { jobs, failure: Some(error), contended: turn.is_some_and(ProcessLock::contended) }
        }
    }
}

/// The replies of a finished group, sent by [`Replies::send`] once the connection is unlocked.
pub(crate) struct Replies {
    jobs: Vec<Box<dyn Job>>,
    failure: Option<RetryError<rusqlite::Error>>,
    /// Another process recently made this one wait for the process lock.
    pub(crate) contended: bool,
}

impl Replies {
    pub(crate) fn send(self) {
        for job in self.jobs {
            job.complete(self.failure.as_ref().map(WriteError::group_failed));
        }
    }
}
