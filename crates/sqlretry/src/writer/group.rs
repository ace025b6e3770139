//! One transaction, retried whole; and a group of requests run in it, each in its own savepoint.

use std::time::{Duration, Instant};

use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::error::WriteError;
use super::metrics::WriterMetrics;
use super::request::Job;
use crate::{Classify, Retry, RetryError, RetryPolicy};

/// Runs `body` in a `BEGIN IMMEDIATE` transaction and commits when it returns `(value, true)`
/// (rolls back on `(value, false)`), re-running the whole transaction under `policy` on a
/// retryable error, a failed `COMMIT` included (DESIGN §3.2, §3.4). Returns the value and how long
/// the write lock was held. Records the flush latency; counts retries.
pub(crate) fn transact<T>(
    conn: &mut Connection,
    policy: &RetryPolicy,
    metrics: &WriterMetrics,
    operation: &str,
    mut body: impl FnMut(&Transaction<'_>) -> rusqlite::Result<(T, bool)>,
) -> Result<(T, Duration), RetryError<rusqlite::Error>> {
    let started = Instant::now();
    let result = Retry::new(policy).named(operation).with_observer(metrics).call(|| {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let locked = Instant::now();
        let (value, commit) = body(&tx)?;
        if commit {
            tx.commit()?;
        }
        Ok((value, locked.elapsed()))
    });
    metrics.flushed(started.elapsed());
    result
}

/// Runs one group of requests in one transaction and replies to each, after the commit.
///
/// Each request runs in a `SAVEPOINT`: a permanent error of its own rolls back only its savepoint
/// and is its reply, while the others commit. A retryable error fails the attempt and the policy
/// re-runs every request from the start (the closures are `FnMut`). A group of one needs no
/// savepoint: a rejected lone request rolls the transaction back instead.
pub(crate) fn run_group(
    conn: &mut Connection,
    mut jobs: Vec<Box<dyn Job>>,
    policy: &RetryPolicy,
    metrics: &WriterMetrics,
) {
    let result = transact(conn, policy, metrics, "writer group", |tx| {
        if let [job] = jobs.as_mut_slice() {
            return match job.run(tx) {
                Ok(()) => Ok(((), true)),
                Err(e) if e.classify().is_retryable() => Err(e),
                Err(e) => {
                    job.reject(e);
                    Ok(((), false))
                }
            };
        }
        for job in &mut jobs {
            tx.prepare_cached("SAVEPOINT sqlretry_request")?.execute([])?;
            match job.run(tx) {
                Ok(()) => {}
                Err(e) if e.classify().is_retryable() => return Err(e),
                Err(e) => {
                    tx.prepare_cached("ROLLBACK TO sqlretry_request")?.execute([])?;
                    job.reject(e);
                }
            }
            tx.prepare_cached("RELEASE sqlretry_request")?.execute([])?;
        }
        Ok(((), true))
    });
    let total = jobs.len() as u64;
    match result {
        Ok(((), hold)) => {
            let rejected = jobs.iter().filter(|j| j.rejected()).count() as u64;
            metrics.rejected(rejected);
            if rejected < total {
                metrics.committed(total - rejected, 0, hold);
            }
            for job in jobs {
                job.complete(None);
            }
        }
        Err(error) => {
            metrics.batch_failed(error.inner(), total);
            for job in jobs {
                job.complete(Some(WriteError::group_failed(&error)));
            }
        }
    }
}
