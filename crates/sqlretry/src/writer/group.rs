//! One transaction, retried whole; and a group of requests run in it, each in its own savepoint.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::error::WriteError;
use super::metrics::WriterMetrics;
use super::request::Job;
use crate::{Classify, Retry, RetryError, RetryPolicy};

/// How long after a wait for another process's lock this process's writer counts as contended.
pub(crate) const CONTENDED_MEMORY: Duration = Duration::from_millis(100);
/// While contended, how long the writer thread lets a group fill (to the size of the last one)
/// before it waits for the lock. WRITER_RESULTS.md: 100 µs, 250 µs and 1 ms measured alike.
pub(crate) const CONTENDED_FILL: Duration = Duration::from_micros(250);

/// The file lock (`flock` on `<db>.writer-lock`) that orders sqlretry writers of one database
/// across processes; taken before each transaction attempt and let go after it. Best effort: if
/// locking fails, SQLite's own locking still decides. Only the user of the connection takes or
/// lets go of it, so the state's own mutex is never contended.
pub(crate) struct ProcessLock {
    file: std::fs::File,
    state: Mutex<LockState>,
}

struct LockState {
    held: bool,
    /// Until when this process counts as contended (its last wait for another process's lock,
    /// plus [`CONTENDED_MEMORY`]).
    contended_until: Option<Instant>,
}

impl ProcessLock {
    pub(crate) fn new(file: std::fs::File) -> Self {
        ProcessLock { file, state: Mutex::new(LockState { held: false, contended_until: None }) }
    }

    fn state(&self) -> MutexGuard<'_, LockState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the lock unless held already; notes whether another process made this one wait.
    pub(crate) fn acquire(&self) {
        let mut st = self.state();
        if st.held {
            return;
        }
        let taken = match self.file.try_lock() {
            Ok(()) => Ok(()),
            Err(std::fs::TryLockError::WouldBlock) => {
                let taken = self.file.lock();
                st.contended_until = Some(Instant::now() + CONTENDED_MEMORY);
                taken
            }
            Err(std::fs::TryLockError::Error(error)) => Err(error),
        };
        match taken {
            Ok(()) => st.held = true,
            Err(error) => tracing::debug!(%error, "cannot take the writers' file lock; relying on SQLite's"),
        }
    }

    /// Lets the lock go if held.
    pub(crate) fn unlock(&self) {
        let mut st = self.state();
        if std::mem::take(&mut st.held) {
            let _ = self.file.unlock();
        }
    }

    /// Whether another process made this one wait for the lock within [`CONTENDED_MEMORY`].
    pub(crate) fn contended(&self) -> bool {
        self.state().contended_until.is_some_and(|until| Instant::now() < until)
    }
}

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
        })();
        if let Some(turn) = turn {
            turn.unlock();
        }
        attempt
    });
    metrics.flushed(started.elapsed());
    result
}

fn exec(tx: &Transaction<'_>, sql: &str) -> rusqlite::Result<()> {
    tx.prepare_cached(sql)?.execute([]).map(drop)
}

/// Runs one group of requests in one transaction; the replies are sent after the commit.
///
/// A request's permanent error fails only that request: its changes are undone and the others
/// commit. Optimistically, the group runs inside one `SAVEPOINT` with no per-request savepoints
/// (two statements per group, not two per request); the first rejection rolls back to the group
/// savepoint and the remaining requests run again, each in its own `SAVEPOINT`. A group of one
/// needs no savepoint at all: a rejected lone request rolls the transaction back. A retryable error
/// fails the attempt and the policy re-runs every request from the start (the closures are
/// `FnMut`).
pub(crate) fn run_group(
    conn: &mut Connection,
    turn: Option<&ProcessLock>,
    mut jobs: Vec<Box<dyn Job>>,
    policy: &RetryPolicy,
    metrics: &WriterMetrics,
) -> Replies {
    let result = transact(conn, turn, policy, metrics, "writer group", |tx| {
        jobs.iter_mut().for_each(|job| job.reset());
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
        exec(tx, "SAVEPOINT sqlretry_group")?;
        let mut isolate = false;
        loop {
            let mut rerun = false;
            for job in jobs.iter_mut().filter(|job| !job.rejected()) {
                if isolate {
                    exec(tx, "SAVEPOINT sqlretry_request")?;
                }
                match job.run(tx) {
                    Ok(()) if isolate => exec(tx, "RELEASE sqlretry_request")?,
                    Ok(()) => {}
                    Err(e) if e.classify().is_retryable() => return Err(e),
                    Err(e) => {
                        job.reject(e);
                        if !isolate {
                            rerun = true;
                            break;
                        }
                        exec(tx, "ROLLBACK TO sqlretry_request")?;
                        exec(tx, "RELEASE sqlretry_request")?;
                    }
                }
            }
            if !rerun {
                break;
            }
            // A request was rejected: undo the group so far and run the others again, this time
            // each in its own savepoint.
            exec(tx, "ROLLBACK TO sqlretry_group")?;
            isolate = true;
        }
        exec(tx, "RELEASE sqlretry_group")?;
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
