//! `Writer`: one writer per file, many callers' functions committed in one transaction (group
//! commit, a savepoint each), through the crate's `Writer`. `submit` waits for the commit,
//! `enqueue` returns a `Pending` handle at once, and `submit_async` (in Python) awaits one.
//!
//! The crate's handle for an enqueued request only blocks, so one thread of this object (its
//! *reply thread*) waits for the requests in the order they were queued — groups commit in that
//! order — and hands each result to its `Pending`, waking a waiting caller or scheduling an
//! asyncio callback. The writer thread itself takes the GIL only to run a callback.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, PoisonError, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use sqlretry::WriteError;
use sqlretry::writer::{Pending, Writer, WriterOptions};

use crate::conn::Call;
use crate::errors;
use crate::policy::{self, PyRetryPolicy};
use crate::wait::{MainThread, SLICE};

/// A result on its way to Python: as the engine gave it, then as the Python value or exception.
enum Done {
    Engine(Result<Py<PyAny>, WriteError>),
    Python(Result<Py<PyAny>, PyErr>),
}

#[derive(Default)]
struct SlotState {
    done: Option<Done>,
    /// Called (with the GIL) once the result is in: how an asyncio future learns of it.
    notify: Option<Py<PyAny>>,
}

/// Where one request's result lands.
struct Slot {
    state: Mutex<SlotState>,
    ready: Condvar,
    call: Arc<Call>,
}

impl Slot {
    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn fill(&self, result: Result<Py<PyAny>, WriteError>) {
        let notify = {
            let mut state = self.lock();
            state.done = Some(Done::Engine(result));
            self.ready.notify_all();
            state.notify.take()
        };
        if let Some(notify) = notify {
            Python::attach(|py| {
                if let Err(err) = notify.call0(py) {
                    err.write_unraisable(py, None);
                }
            });
        }
    }

    /// The result as Python sees it (kept, so that it can be asked for again).
    fn result(&self, py: Python<'_>, state: &mut SlotState) -> Option<PyResult<Py<PyAny>>> {
        let done = state.done.take()?;
        let converted = match done {
            Done::Engine(result) => self.call.finish(py, result),
            Done::Python(result) => result,
        };
        let copy = match &converted {
            Ok(value) => Ok(value.clone_ref(py)),
            Err(err) => Err(err.clone_ref(py)),
        };
        state.done = Some(Done::Python(converted));
        Some(copy)
    }
}

/// A request queued with `Writer.enqueue`: `wait()` returns its function's value once its group
/// transaction committed (or raises as `submit` would). Dropping it does not cancel the request.
#[pyclass(module = "sqlretry", name = "Pending", frozen)]
pub struct PyPending {
    slot: Arc<Slot>,
}

#[pymethods]
impl PyPending {
    /// Waits (without the GIL; Ctrl-C raises `KeyboardInterrupt`, the request stays queued) for
    /// the result, at most `timeout` seconds if given (then `TimeoutError`).
    #[pyo3(signature = (timeout = None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        let until = timeout
            .map(|t| policy::seconds("timeout", t))
            .transpose()?
            .map(|t| std::time::Instant::now() + t);
        loop {
            {
                let mut state = self.slot.lock();
                if let Some(result) = self.slot.result(py, &mut state) {
                    return result;
                }
            }
            let now = std::time::Instant::now();
            if until.is_some_and(|u| now >= u) {
                return Err(pyo3::exceptions::PyTimeoutError::new_err("the write has not finished yet"));
            }
            let slice = until.map_or(SLICE, |u| (u - now).min(SLICE));
            py.detach(|| {
                let state = self.slot.lock();
                if state.done.is_none() {
                    let _ = self.slot.ready.wait_timeout(state, slice);
                }
            });
            py.check_signals()?;
        }
    }

    /// Whether the result is in.
    fn done(&self) -> bool {
        self.slot.lock().done.is_some()
    }

    /// Calls `callback()` (with the GIL, on another thread) once the result is in, or now if it
    /// already is. Used by `Writer.submit_async`.
    fn _notify(&self, py: Python<'_>, callback: Py<PyAny>) -> PyResult<()> {
        let now = {
            let mut state = self.slot.lock();
            if state.done.is_some() {
                true
            } else {
                state.notify = Some(callback.clone_ref(py));
                false
            }
        };
        if now {
            callback.call0(py)?;
        }
        Ok(())
    }
}

type Reply = (Pending<Py<PyAny>>, Arc<Slot>);

/// One writer per database file: `submit(func, *args, **kwargs)` runs `func(conn, ...)` in the
/// next group transaction (a savepoint of its own: a failing function is rolled back alone) and
/// returns its value once that transaction committed.
#[pyclass(module = "sqlretry._native", name = "Writer", frozen, subclass)]
pub struct PyWriter {
    writer: Mutex<Option<Writer>>,
    replies: Mutex<Option<mpsc::Sender<Reply>>>,
    reply_thread: Mutex<Option<JoinHandle<()>>>,
    pid: u32,
    main: MainThread,
}

impl PyWriter {
    fn writer(&self, py: Python<'_>) -> PyResult<Writer> {
        if std::process::id() != self.pid {
            return Err(errors::used_after_fork(py, "Writer", self.pid));
        }
        self.writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| errors::closed(py, "Writer"))
    }

    fn push(&self, py: Python<'_>, call: Call) -> PyResult<PyPending> {
        let writer = self.writer(py)?;
        let call = Arc::new(call);
        let request = Arc::clone(&call);
        let pending = py
            .detach(|| writer.enqueue(move |conn| request.run(conn)))
            .map_err(|e| errors::from_write_error(py, e, None))?;
        let slot = Arc::new(Slot { state: Mutex::new(SlotState::default()), ready: Condvar::new(), call });
        let sent = self
            .replies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|replies| replies.send((pending, Arc::clone(&slot))));
        match sent {
            Some(Ok(())) => Ok(PyPending { slot }),
            _ => Err(PyRuntimeError::new_err("the writer's reply thread has ended")),
        }
    }
}

#[pymethods]
impl PyWriter {
    #[new]
    #[pyo3(signature = (path, *, deadline = None, policy = None, config = None, max_group = None, window = None))]
    fn new(
        py: Python<'_>,
        path: PathBuf,
        deadline: Option<f64>,
        policy: Option<PyRef<'_, PyRetryPolicy>>,
        config: Option<PathBuf>,
        max_group: Option<usize>,
        window: Option<f64>,
    ) -> PyResult<Self> {
        let config = policy::load_config(config)?;
        let mut options = WriterOptions::from_config(&config).map_err(|e| policy::config_error(&e))?;
        let mut write_policy = match &policy {
            Some(p) => p.policy.clone(),
            None => config.write_policy().map_err(|e| policy::config_error(&e))?,
        };
        if let Some(deadline) = deadline {
            write_policy = write_policy
                .to_builder()
                .deadline(policy::deadline(deadline)?)
                .build()
                .map_err(|e| policy::config_error(&e))?;
        }
        options = options.with_write_policy(write_policy);
        if let Some(max_group) = max_group {
            options = options.with_max_group(max_group);
        }
        if let Some(window) = window {
            options = options.with_window(policy::seconds("window", window)?);
        }
        let writer = py
            .detach(|| Writer::open_with(&path, options))
            .map_err(|e| pyo3::exceptions::PyOSError::new_err(e.to_string()))?;
        let (tx, rx) = mpsc::channel::<Reply>();
        let reply_thread = std::thread::Builder::new()
            .name("sqlretry-py-replies".into())
            .spawn(move || {
                for (pending, slot) in rx {
                    slot.fill(pending.wait());
                }
            })
            .map_err(|e| PyRuntimeError::new_err(format!("cannot start a thread: {e}")))?;
        Ok(PyWriter {
            writer: Mutex::new(Some(writer)),
            replies: Mutex::new(Some(tx)),
            reply_thread: Mutex::new(Some(reply_thread)),
            pid: std::process::id(),
            main: MainThread::new(py)?,
        })
    }

    /// Runs `func(conn, *args, **kwargs)` in the next group transaction and returns its value
    /// once it committed. `func` may run more than once (a busy file re-runs the whole group).
    ///
    /// Raises as `Store.write`; a failing `func` is rolled back alone (the group's other writes
    /// commit).
    #[pyo3(signature = (func, *args, **kwargs))]
    fn submit(
        &self,
        py: Python<'_>,
        func: Py<PyAny>,
        args: Py<PyTuple>,
        kwargs: Option<Py<PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        let call = Call::new(func, args, kwargs);
        if self.main.is_current(py)? {
            return self.push(py, call)?.wait(py, None);
        }
        let writer = self.writer(py)?;
        let call = Arc::new(call);
        let request = Arc::clone(&call);
        let result = py.detach(|| writer.submit(move |conn| request.run(conn)));
        call.finish(py, result)
    }

    /// Queues `func(conn, *args, **kwargs)` for the next group and returns a `Pending` at once
    /// (after waiting for room while the queue is full).
    #[pyo3(signature = (func, *args, **kwargs))]
    fn enqueue(
        &self,
        py: Python<'_>,
        func: Py<PyAny>,
        args: Py<PyTuple>,
        kwargs: Option<Py<PyDict>>,
    ) -> PyResult<PyPending> {
        self.push(py, Call::new(func, args, kwargs))
    }

    /// The writer's counters (requests committed, rejected, failed, groups written, retries,
    /// queue depth, latencies in seconds, ...).
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        metrics_dict(py, &self.writer(py)?.metrics())
    }

    /// Runs everything queued, commits, stops the writer thread and returns the final metrics.
    /// Idempotent; later submits raise `NotCommitted` (reason "closed").
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if std::process::id() != self.pid {
            return Err(errors::used_after_fork(py, "Writer", self.pid));
        }
        let writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner).take();
        let replies = self.replies.lock().unwrap_or_else(PoisonError::into_inner).take();
        let reply_thread = self.reply_thread.lock().unwrap_or_else(PoisonError::into_inner).take();
        let Some(writer) = writer else { return Ok(PyDict::new(py).into_any()) };
        let metrics = py.detach(|| {
            let metrics = writer.shutdown();
            drop(replies);
            if let Some(thread) = reply_thread {
                let _ = thread.join();
            }
            metrics
        });
        match metrics {
            Ok(metrics) => metrics_dict(py, &metrics),
            Err(e) => Err(errors::from_write_error(py, e, None)),
        }
    }
}

/// A snapshot as a dict, durations in seconds.
fn metrics_dict<'py>(py: Python<'py>, metrics: &impl serde::Serialize) -> PyResult<Bound<'py, PyAny>> {
    let value = serde_json::to_value(metrics).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    let text = seconds_in(value).to_string();
    py.import("json")?.call_method1("loads", (text,))
}

/// Replaces every serialized `Duration` (`{"secs", "nanos"}`) by seconds.
fn seconds_in(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            if map.len() == 2
                && let (Some(secs), Some(nanos)) =
                    (map.get("secs").and_then(Value::as_u64), map.get("nanos").and_then(Value::as_u64))
            {
                let nanos = u32::try_from(nanos).unwrap_or(0);
                return Value::from(Duration::new(secs, nanos).as_secs_f64());
            }
            Value::Object(map.into_iter().map(|(k, v)| (k, seconds_in(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(seconds_in).collect()),
        other => other,
    }
}

impl Drop for PyWriter {
    fn drop(&mut self) {
        if std::process::id() != self.pid {
            // After fork(): the writer thread does not exist in this process; shutting it down
            // would wait for it. Leave the parent's resources be.
            std::mem::forget(self.writer.get_mut().unwrap_or_else(PoisonError::into_inner).take());
            std::mem::forget(self.replies.get_mut().unwrap_or_else(PoisonError::into_inner).take());
            std::mem::forget(self.reply_thread.get_mut().unwrap_or_else(PoisonError::into_inner).take());
            return;
        }
        // Dropping the last handle shuts the writer down (bounded by its drop timeout) and the
        // reply thread then sees every result and ends. Both may need the GIL for a callback
        // still queued, so it is released meanwhile.
        let writer = self.writer.get_mut().unwrap_or_else(PoisonError::into_inner).take();
        let replies = self.replies.get_mut().unwrap_or_else(PoisonError::into_inner).take();
        let thread = self.reply_thread.get_mut().unwrap_or_else(PoisonError::into_inner).take();
        Python::attach(|py| {
            py.detach(|| {
                drop(writer);
                drop(replies);
                if let Some(thread) = thread {
                    let _ = thread.join();
                }
            });
        });
    }
}
