//! Waiting from Python: with the GIL released, in slices, checking for signals between them, so
//! that Ctrl-C raises `KeyboardInterrupt` promptly and other threads run meanwhile.

use std::sync::Mutex;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

/// How long one slice of a wait lasts before signals are checked again.
pub(crate) const SLICE: Duration = Duration::from_millis(20);

/// Which thread is Python's main thread: signal handlers run only there, so only a wait on it
/// needs to be cut into slices.
pub(crate) struct MainThread {
    get_ident: Py<PyAny>,
    main: u64,
}

impl MainThread {
    /// Reads the main thread's identity from `threading`.
    pub(crate) fn new(py: Python<'_>) -> PyResult<MainThread> {
        let threading = py.import("threading")?;
        let main = threading.call_method0("main_thread")?.getattr("ident")?.extract()?;
        Ok(MainThread { get_ident: threading.getattr("get_ident")?.unbind(), main })
    }

    /// Whether the calling thread is Python's main thread.
    pub(crate) fn is_current(&self, py: Python<'_>) -> PyResult<bool> {
        Ok(self.get_ident.call0(py)?.extract::<u64>(py)? == self.main)
    }
}

/// What ended a wait.
pub(crate) enum Waited<T> {
    /// The value arrived.
    Value(T),
    /// A signal handler raised (`KeyboardInterrupt`, ...): its exception.
    Interrupted(PyErr),
}

/// Waits for `rx`'s value without the GIL, checking for signals every [`SLICE`].
///
/// # Errors
///
/// `RuntimeError` when the sender went away without a value.
pub(crate) fn recv<T: Send>(py: Python<'_>, rx: &Mutex<Receiver<T>>) -> PyResult<Waited<T>> {
    loop {
        match py.detach(|| rx.lock().unwrap_or_else(std::sync::PoisonError::into_inner).recv_timeout(SLICE)) {
            Ok(value) => return Ok(Waited::Value(value)),
            Err(RecvTimeoutError::Timeout) => {
                if let Err(err) = py.check_signals() {
                    return Ok(Waited::Interrupted(err));
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(PyRuntimeError::new_err(
                    "sqlretry: the thread running the write ended without a result",
                ));
            }
        }
    }
}

/// Waits for `rx`'s value without the GIL, ignoring signals (used once a write can no longer be
/// abandoned, e.g. while it commits).
///
/// # Errors
///
/// `RuntimeError` when the sender went away without a value.
pub(crate) fn recv_all<T: Send>(py: Python<'_>, rx: &Mutex<Receiver<T>>) -> PyResult<T> {
    py.detach(|| rx.lock().unwrap_or_else(std::sync::PoisonError::into_inner).recv())
        .map_err(|_| PyRuntimeError::new_err("sqlretry: the thread running the write ended without a result"))
}
