//! `StateStore`'s engine: the crate's key → value store (bytes here; the Python class encodes
//! JSON), every write a whole `BEGIN IMMEDIATE` transaction retried under its policy.

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use sqlretry::RetryPolicy;
use sqlretry::sqlite::{StateError, StateStore};

use crate::errors;
use crate::policy::{self, PyRetryPolicy};

/// Key → bytes in one SQLite file (table `sqlretry_state`); many instances, threads and
/// processes may share the file.
#[pyclass(module = "sqlretry._native", name = "StateStore", frozen, subclass)]
pub struct PyStateStore {
    state: std::sync::Mutex<Option<StateStore>>,
    pid: u32,
}

fn raise(py: Python<'_>, error: StateError) -> PyErr {
    match error {
        StateError::Write(e) => errors::from_write_error(py, e, None),
        StateError::Sqlite(e) => errors::from_read_error(py, e, None),
        other => pyo3::exceptions::PyValueError::new_err(other.to_string()),
    }
}

impl PyStateStore {
    fn state(&self, py: Python<'_>) -> PyResult<StateStore> {
        if std::process::id() != self.pid {
            return Err(errors::used_after_fork(py, "StateStore", self.pid));
        }
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .ok_or_else(|| errors::closed(py, "StateStore"))
    }
}

#[pymethods]
impl PyStateStore {
    #[new]
    #[pyo3(signature = (path, *, deadline = None, policy = None, config = None))]
    fn new(
        py: Python<'_>,
        path: PathBuf,
        deadline: Option<f64>,
        policy: Option<PyRef<'_, PyRetryPolicy>>,
        config: Option<PathBuf>,
    ) -> PyResult<Self> {
        let loaded = policy::load_config(config.clone())?;
        // The state store's own policy: `[retry.state_store]` (5 attempts, 0.1 s doubling, 5 s, by default).
        let default_policy: RetryPolicy = match &policy {
            Some(p) => p.policy.clone(),
            None => loaded.state_store_policy().map_err(|e| policy::config_error(&e))?,
        };
        let options = policy::store_options(config, None, None)?.with_write_policy(default_policy);
        let options = match deadline {
            Some(d) => {
                let p = options
                    .write_policy()
                    .to_builder()
                    .deadline(policy::deadline(d)?)
                    .build()
                    .map_err(|e| policy::config_error(&e))?;
                options.with_write_policy(p)
            }
            None => options,
        };
        let state = py.detach(|| StateStore::open_with(&path, options)).map_err(|e| match e {
            StateError::Open(e) => errors::sqlite_exception(py, &e.into_sqlite_error()),
            other => raise(py, other),
        })?;
        Ok(PyStateStore { state: std::sync::Mutex::new(Some(state)), pid: std::process::id() })
    }

    /// Saves `value` (bytes) under `key`, replacing what was there.
    fn save_bytes(&self, py: Python<'_>, key: &str, value: Vec<u8>) -> PyResult<()> {
        let state = self.state(py)?;
        py.detach(|| state.save(key, &value)).map_err(|e| raise(py, e))
    }

    /// The bytes under `key`, or `None`.
    fn load_bytes<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let state = self.state(py)?;
        let value = py.detach(|| state.load(key)).map_err(|e| raise(py, e))?;
        Ok(value.map(|v| PyBytes::new(py, &v)))
    }

    /// Deletes `key`; whether it was there.
    fn delete(&self, py: Python<'_>, key: &str) -> PyResult<bool> {
        let state = self.state(py)?;
        py.detach(|| state.delete(key)).map_err(|e| raise(py, e))
    }

    /// Deletes every key; how many there were.
    fn clear(&self, py: Python<'_>) -> PyResult<u64> {
        let state = self.state(py)?;
        py.detach(|| state.clear()).map_err(|e| raise(py, e))
    }

    /// Every key, sorted.
    fn keys(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        let state = self.state(py)?;
        py.detach(|| state.list()).map_err(|e| raise(py, e))
    }

    /// Counters of the writes (as `Store.metrics()["write"]`).
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
        let state = self.state(py)?;
        let s = state.store().write_stats().snapshot();
        let d = pyo3::types::PyDict::new(py);
        d.set_item("calls", s.calls)?;
        d.set_item("retries", s.retries)?;
        d.set_item("successes_after_retry", s.successes_after_retry)?;
        d.set_item("gave_up_permanent", s.gave_up_permanent)?;
        d.set_item("gave_up_attempts_exhausted", s.gave_up_attempts_exhausted)?;
        d.set_item("gave_up_deadline", s.gave_up_deadline)?;
        d.set_item("gave_up_budget", s.gave_up_budget)?;
        Ok(d)
    }

    /// Closes the connections (idempotent).
    fn close(&self) {
        if std::process::id() == self.pid {
            drop(self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take());
        }
    }
}

impl Drop for PyStateStore {
    fn drop(&mut self) {
        if std::process::id() != self.pid {
            // After fork(): the parent's connections; closing them would release its locks.
            std::mem::forget(self.state.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner).take());
        }
    }
}
