//! `Store`: `write(fn)` runs `fn(conn)` in the crate's `Store::write` (one `BEGIN IMMEDIATE`
//! transaction, re-run whole on a busy or locked database, under one deadline), `read(fn)`,
//! `write_if_version(...)`, metrics.
//!
//! # Waiting and Ctrl-C
//!
//! Every wait happens in the engine with the GIL released. Python runs signal handlers only on
//! its main thread, and the engine's waits cannot be interrupted, so a write called from the main
//! thread is done in two steps:
//!
//! 1. tried at once on the calling thread without waiting at all (a deadline already reached:
//!    the engine takes this process's turn and SQLite's lock only if they are free). This is the
//!    uncontended case and costs nothing more than a write from any other thread; the attempt's
//!    "gave up" is expected, so its log event is silenced and it is left out of `metrics()`.
//! 2. otherwise (another writer holds the turn or the lock) the write is handed to a thread of its
//!    own, under the write's original deadline, while the main thread waits in slices and checks
//!    for signals. On Ctrl-C the write is abandoned before its function runs (or rolled back right
//!    after it ran): `KeyboardInterrupt` is raised and nothing is committed. Only when the signal
//!    arrives while `COMMIT` itself runs does the main thread wait for it.
//!
//! Other threads write on the calling thread directly.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread::JoinHandle;
use std::time::Instant;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use sqlretry::sqlite::{Outcome, SkipReason};
use sqlretry::{Classify, Deadline, Store, WriteError};

use crate::conn::{Call, user_error};
use crate::errors;
use crate::policy::{self, PyRetryPolicy};
use crate::wait::{self, MainThread, Waited};

/// Where a main-thread write handed to its own thread stands (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the turn, the lock or a retry's sleep.
    Waiting,
    /// The function runs.
    Running,
    /// The function ran and Ctrl-C came meanwhile: roll back once it returns.
    Abandon,
    /// The function returned; the transaction commits.
    Committing,
    /// Abandoned: never run the function again.
    Cancelled,
}

/// The error a write abandoned after Ctrl-C ends with (never seen by Python).
#[derive(Debug)]
struct Abandoned;

impl std::fmt::Display for Abandoned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the write was abandoned after a signal")
    }
}

impl std::error::Error for Abandoned {}

fn abandoned() -> rusqlite::Error {
    rusqlite::Error::UserFunctionError(Box::new(Abandoned))
}

/// One SQLite file: writes in `BEGIN IMMEDIATE` transactions retried whole, reads on pooled
/// read connections (WAL: never blocked by a writer). Share one instance between threads, or
/// open one per thread or process: both are safe.
#[pyclass(module = "sqlretry._native", name = "Store", frozen, subclass)]
pub struct PyStore {
    store: Mutex<Option<Store>>,
    pid: u32,
    main: MainThread,
    /// Threads of main-thread writes abandoned after a signal (each ends by its deadline);
    /// `close()` joins those that have ended.
    abandoned: Mutex<Vec<JoinHandle<()>>>,
    /// Main-thread writes whose first try found the file busy (see the module docs): each left a
    /// call and a "gave up" in the engine's counters that are not the caller's.
    first_tries_missed: AtomicU64,
}

impl PyStore {
    /// The open store, or the error saying why it cannot be used.
    pub(crate) fn store(&self, py: Python<'_>) -> PyResult<Store> {
        if std::process::id() != self.pid {
            return Err(errors::used_after_fork(py, "Store", self.pid));
        }
        self.store
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| errors::closed(py, "Store"))
    }

    fn write_from_main(&self, py: Python<'_>, store: Store, call: Call) -> PyResult<Py<PyAny>> {
        let start = Instant::now();
        let first = {
            let _quiet = tracing::info_span!("sqlretry_py_quiet").entered();
            py.detach(|| {
                store.write_until(store.options().write_policy(), Deadline::at(start), |conn| call.run(conn))
            })
        };
        match first {
            Err(WriteError::NotCommitted(failed)) if failed.inner().classify().is_retryable() => {
                self.first_tries_missed.fetch_add(1, Ordering::Relaxed);
            }
            other => return call.finish(py, other),
        }
        let call = Arc::new(call);
        let phase = Arc::new(Mutex::new(Phase::Waiting));
        let (tx, rx) = mpsc::sync_channel(1);
        let rx = Mutex::new(rx);
        let handle = {
            let (call, phase) = (Arc::clone(&call), Arc::clone(&phase));
            std::thread::Builder::new()
                .name("sqlretry-py-write".into())
                .spawn(move || {
                    let policy = store.options().write_policy();
                    let result = store.write_until(policy, Deadline::from_policy(policy, start), |conn| {
                        run_unless_abandoned(&phase, &call, conn)
                    });
                    let _ = tx.send(result);
                })
                .map_err(|e| {
                    pyo3::exceptions::PyRuntimeError::new_err(format!("cannot start a thread: {e}"))
                })?
        };
        let interrupted = match wait::recv(py, &rx)? {
            Waited::Value(result) => {
                let _ = py.detach(|| handle.join());
                return call.finish(py, result);
            }
            Waited::Interrupted(err) => err,
        };
        let mut state = phase.lock().unwrap_or_else(PoisonError::into_inner);
        match *state {
            Phase::Waiting | Phase::Cancelled => {
                *state = Phase::Cancelled;
                drop(state);
                let mut threads = self.abandoned.lock().unwrap_or_else(PoisonError::into_inner);
                threads.retain(|t| !t.is_finished());
                threads.push(handle);
                return Err(interrupted);
            }
            Phase::Running | Phase::Abandon => *state = Phase::Abandon,
            Phase::Committing => {}
        }
        drop(state);
        // The function is running or the transaction commits: its outcome is near.
        let _ = wait::recv_all(py, &rx)?;
        let _ = py.detach(|| handle.join());
        Err(interrupted)
    }
}

/// A main-thread write's function, run unless it was abandoned (see [`Phase`]).
fn run_unless_abandoned(
    phase: &Mutex<Phase>,
    call: &Call,
    conn: &rusqlite::Connection,
) -> rusqlite::Result<Py<PyAny>> {
    {
        let mut state = phase.lock().unwrap_or_else(PoisonError::into_inner);
        if matches!(*state, Phase::Cancelled | Phase::Abandon) {
            *state = Phase::Cancelled;
            return Err(abandoned());
        }
        *state = Phase::Running;
    }
    let result = call.run(conn);
    let mut state = phase.lock().unwrap_or_else(PoisonError::into_inner);
    if *state == Phase::Abandon {
        *state = Phase::Cancelled;
        return Err(abandoned());
    }
    *state = Phase::Committing;
    result
}

/// What `Store.write_if_version` did: `written` (and the function's `value`), or skipped with
/// the `reason` ("changed" or "deleted"), the `expected` version and the one `found`.
#[pyclass(module = "sqlretry", name = "Outcome", frozen)]
pub struct PyOutcome {
    #[pyo3(get)]
    written: bool,
    #[pyo3(get)]
    value: Option<Py<PyAny>>,
    #[pyo3(get)]
    reason: Option<&'static str>,
    #[pyo3(get)]
    expected: i64,
    #[pyo3(get)]
    found: Option<i64>,
    message: Option<String>,
}

#[pymethods]
impl PyOutcome {
    fn __bool__(&self) -> bool {
        self.written
    }

    fn __repr__(&self) -> String {
        match &self.message {
            None => format!("Outcome(written=True, expected={})", self.expected),
            Some(message) => {
                format!("Outcome(written=False, reason={:?}: {message})", self.reason.unwrap_or(""))
            }
        }
    }
}

/// A version as the `version` callback returns it: an int, `None`, or a row whose first column
/// is one (so `conn.execute(...).fetchone()` can be returned as it is).
fn version_of(value: &Bound<'_, PyAny>) -> PyResult<Option<i64>> {
    if value.is_none() {
        return Ok(None);
    }
    if let Ok(row) = value.cast::<PyTuple>() {
        return row.get_item(0)?.extract();
    }
    value.extract()
}

fn retry_snapshot<'py>(
    py: Python<'py>,
    stats: &sqlretry::RetryStatsSnapshot,
    missed: u64,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("calls", stats.calls.saturating_sub(missed))?;
    d.set_item("retries", stats.retries)?;
    d.set_item("successes_after_retry", stats.successes_after_retry)?;
    d.set_item("gave_up_permanent", stats.gave_up_permanent)?;
    d.set_item("gave_up_attempts_exhausted", stats.gave_up_attempts_exhausted)?;
    d.set_item("gave_up_deadline", stats.gave_up_deadline.saturating_sub(missed))?;
    d.set_item("gave_up_budget", stats.gave_up_budget)?;
    Ok(d)
}

#[pymethods]
impl PyStore {
    #[new]
    #[pyo3(signature = (path, *, deadline = None, policy = None, config = None))]
    fn new(
        py: Python<'_>,
        path: PathBuf,
        deadline: Option<f64>,
        policy: Option<PyRef<'_, PyRetryPolicy>>,
        config: Option<PathBuf>,
    ) -> PyResult<Self> {
        let options = policy::store_options(config, policy.as_deref(), deadline)?;
        let store = py
            .detach(|| Store::open_with(&path, options))
            .map_err(|e| errors::sqlite_exception(py, &e.into_sqlite_error()))?;
        Ok(PyStore {
            store: Mutex::new(Some(store)),
            pid: std::process::id(),
            main: MainThread::new(py)?,
            abandoned: Mutex::new(Vec::new()),
            first_tries_missed: AtomicU64::new(0),
        })
    }

    /// Runs `func(conn, *args, **kwargs)` in one `BEGIN IMMEDIATE` transaction and returns its
    /// value once `COMMIT` succeeded. A busy or locked database re-runs the whole function (keep
    /// side effects outside the database out of it), within the deadline.
    ///
    /// Raises `NotCommitted` (a `sqlite3.OperationalError`) when the transaction could not
    /// commit in time, `Rejected` for a permanent SQLite error in the function's statements, and
    /// the function's own exception unchanged (rolled back, never retried).
    #[pyo3(signature = (func, *args, **kwargs))]
    fn write(
        &self,
        py: Python<'_>,
        func: Py<PyAny>,
        args: Py<PyTuple>,
        kwargs: Option<Py<PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        let store = self.store(py)?;
        let call = Call::new(func, args, kwargs);
        if self.main.is_current(py)? {
            return self.write_from_main(py, store, call);
        }
        let result = py.detach(|| store.write(|conn| call.run(conn)));
        call.finish(py, result)
    }

    /// Runs `func(conn, *args, **kwargs)` on a read connection in one consistent snapshot
    /// (writes there fail: it is query-only) and returns its value.
    #[pyo3(signature = (func, *args, **kwargs))]
    fn read(
        &self,
        py: Python<'_>,
        func: Py<PyAny>,
        args: Py<PyTuple>,
        kwargs: Option<Py<PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        let store = self.store(py)?;
        let call = Call::new(func, args, kwargs);
        py.detach(|| store.read(|conn| call.run_read(conn)))
            .map_err(|e| errors::from_read_error(py, e, call.take_original()))
    }

    /// Writes only if an entry is unchanged since it was read, after slow work done outside any
    /// transaction: in one short transaction (retried like `write`), `version(conn)` reads the
    /// entry's version now (an int, a row holding one, or `None` when it is gone); equal to
    /// `expected`, `apply(conn)` runs and commits. Otherwise nothing is written, a warning is
    /// logged and the `Outcome` says why (not an error).
    fn write_if_version(
        &self,
        py: Python<'_>,
        expected: i64,
        version: Py<PyAny>,
        apply: Py<PyAny>,
    ) -> PyResult<PyOutcome> {
        let store = self.store(py)?;
        let version = Call::new(version, PyTuple::empty(py).unbind(), None);
        let apply = Call::new(apply, PyTuple::empty(py).unbind(), None);
        let result = py.detach(|| {
            store.write_if_version(
                expected,
                |conn| {
                    let value = version.run(conn)?;
                    Python::attach(|py| version_of(value.bind(py)).map_err(user_error))
                },
                |conn| apply.run(conn),
            )
        });
        let outcome = result.map_err(|e| {
            errors::from_write_error(py, e, apply.take_original().or_else(|| version.take_original()))
        })?;
        Ok(match outcome {
            Outcome::Written(value) => PyOutcome {
                written: true,
                value: Some(value),
                reason: None,
                expected,
                found: Some(expected),
                message: None,
            },
            Outcome::Skipped { reason } => {
                let (name, found) = match reason {
                    SkipReason::Changed { found, .. } => ("changed", Some(found)),
                    SkipReason::Deleted => ("deleted", None),
                    _ => ("skipped", None),
                };
                PyOutcome {
                    written: false,
                    value: None,
                    reason: Some(name),
                    expected,
                    found,
                    message: Some(reason.to_string()),
                }
            }
            _ => PyOutcome {
                written: false,
                value: None,
                reason: Some("skipped"),
                expected,
                found: None,
                message: None,
            },
        })
    }

    /// Counters of this store: `write` and `read` (calls, retries, successes after a retry,
    /// give-ups by reason) and `lock_hold` (count, p50, p99, max in seconds, slow holds).
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let store = self.store(py)?;
        let missed = self.first_tries_missed.load(Ordering::Relaxed);
        let d = PyDict::new(py);
        d.set_item("write", retry_snapshot(py, &store.write_stats().snapshot(), missed)?)?;
        d.set_item("read", retry_snapshot(py, &store.read_stats().snapshot(), 0)?)?;
        let hold = store.lock_hold().snapshot();
        let h = PyDict::new(py);
        h.set_item("count", hold.count)?;
        h.set_item("p50", hold.p50.as_secs_f64())?;
        h.set_item("p99", hold.p99.as_secs_f64())?;
        h.set_item("max", hold.max.as_secs_f64())?;
        h.set_item("slow", hold.slow)?;
        d.set_item("lock_hold", h)?;
        Ok(d)
    }

    /// The database file.
    #[getter]
    fn path(&self, py: Python<'_>) -> PyResult<PathBuf> {
        Ok(self.store(py)?.path().to_path_buf())
    }

    /// The write policy's total deadline in seconds (`inf` for none).
    #[getter]
    fn deadline(&self, py: Python<'_>) -> PyResult<f64> {
        Ok(self.store(py)?.options().write_policy().deadline().map_or(f64::INFINITY, |d| d.as_secs_f64()))
    }

    /// Closes the connections (idempotent). Writes still running in other threads finish first
    /// (each holds the store until it returns). A main-thread write abandoned after Ctrl-C is not
    /// waited for: it never runs its function again and ends by its deadline (its thread holds
    /// no transaction, only its place in the wait for the lock).
    fn close(&self, py: Python<'_>) {
        if std::process::id() != self.pid {
            return;
        }
        let store = self.store.lock().unwrap_or_else(PoisonError::into_inner).take();
        let finished: Vec<JoinHandle<()>> = {
            let mut threads = self.abandoned.lock().unwrap_or_else(PoisonError::into_inner);
            let (done, running) =
                std::mem::take(&mut *threads).into_iter().partition(JoinHandle::is_finished);
            *threads = running;
            done
        };
        py.detach(|| {
            for thread in finished {
                let _ = thread.join();
            }
            drop(store);
        });
    }
}

impl Drop for PyStore {
    fn drop(&mut self) {
        if std::process::id() != self.pid {
            // A child after fork(): the connections and threads are the parent's. Closing them
            // here would release the parent's SQLite locks; leave them be.
            let store = self.store.get_mut().unwrap_or_else(PoisonError::into_inner).take();
            std::mem::forget(store);
            let threads = std::mem::take(self.abandoned.get_mut().unwrap_or_else(PoisonError::into_inner));
            std::mem::forget(threads);
        }
    }
}
