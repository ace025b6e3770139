//! The crate's errors as Python exceptions that `sqlite3` code already catches.
//!
//! The exception classes live in `sqlretry/_errors.py` (multiple inheritance from `sqlite3`'s
//! classes is plain Python there); this file only decides which one and fills in its fields.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use sqlretry::WriteError;
use sqlretry::sqlite::{code_name, extended_code};

/// The `sqlretry._errors` module.
fn module(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    py.import("sqlretry._errors")
}

/// Calls one of `_errors`' constructors; a failure there (it should not fail) is returned instead.
fn build<'py, A>(py: Python<'py>, name: &str, args: A) -> PyErr
where
    A: pyo3::call::PyCallArgs<'py>,
{
    match module(py).and_then(|m| m.getattr(name)).and_then(|f| f.call1(args)) {
        Ok(exception) => PyErr::from_value(exception),
        Err(err) => err,
    }
}

/// `sqlite3.ProgrammingError(message)`: the caller misused the API (bad parameters, a connection
/// used outside its transaction).
pub(crate) fn programming_error(py: Python<'_>, message: &str) -> PyErr {
    build(py, "_programming_error", (message,))
}

/// `sqlretry.UsedAfterFork`: a store opened in another process.
pub(crate) fn used_after_fork(py: Python<'_>, what: &str, opened_in: u32) -> PyErr {
    let message = format!(
        "this {what} was opened in process {opened_in} and cannot be used in process {} after fork(): \
         its SQLite connections and threads belong to the parent; open a new one in the child",
        std::process::id()
    );
    build(py, "_used_after_fork", (message,))
}

/// `sqlite3.ProgrammingError`: the object was closed.
pub(crate) fn closed(py: Python<'_>, what: &str) -> PyErr {
    programming_error(py, &format!("Cannot operate on a closed {what}."))
}

/// The codes of an SQLite error: primary, extended and the extended code's name (`None`s when the
/// error did not come from SQLite itself, e.g. a wrong number of parameters).
fn codes(error: &rusqlite::Error) -> (Option<i32>, Option<i32>, Option<&'static str>) {
    let extended = extended_code(error);
    (extended.map(|e| e & 0xFF), extended, extended.map(code_name))
}

/// The `sqlite3` exception a statement's error is in Python (`IntegrityError` for a constraint,
/// `OperationalError` for a busy or missing table, ...), with `sqlite_errorcode` and
/// `sqlite_errorname` set as `sqlite3` sets them.
pub(crate) fn sqlite_exception(py: Python<'_>, error: &rusqlite::Error) -> PyErr {
    let (code, extended, name) = codes(error);
    build(py, "_sqlite_error", (error.to_string(), code, extended, name))
}

/// The Python exception of a write that failed.
///
/// - the callback's own exception: unchanged;
/// - a permanent SQLite error in the callback's statements: `sqlretry.Rejected` (also the
///   `sqlite3` class of that error), carrying the exception the statement raised as `original`;
/// - the transaction did not commit: `sqlretry.NotCommitted` (a `sqlite3.OperationalError`).
pub(crate) fn from_write_error(py: Python<'_>, error: WriteError, original: Option<PyErr>) -> PyErr {
    match error {
        WriteError::Rejected { error, attempts } => match error {
            rusqlite::Error::UserFunctionError(inner) => match inner.downcast::<PyErr>() {
                Ok(err) => *err,
                Err(other) => PyRuntimeError::new_err(other.to_string()),
            },
            error => {
                let (code, extended, name) = codes(&error);
                let original = original.map(|e| e.into_value(py));
                build(py, "_rejected", (error.to_string(), code, extended, name, attempts, original))
            }
        },
        WriteError::NotCommitted(failed) => {
            let (code, extended, name) = codes(failed.inner());
            build(
                py,
                "_not_committed",
                (
                    failed.to_string(),
                    code,
                    extended,
                    name,
                    failed.attempts(),
                    failed.elapsed().as_secs_f64(),
                    failed.reason().as_str(),
                ),
            )
        }
        WriteError::Closed => build(
            py,
            "_not_committed",
            ("the writer is shut down", None::<i32>, None::<i32>, None::<&str>, 0, 0.0, "closed"),
        ),
        WriteError::Full => build(
            py,
            "_not_committed",
            ("the writer's queue is full", None::<i32>, None::<i32>, None::<&str>, 0, 0.0, "full"),
        ),
        other => PyRuntimeError::new_err(other.to_string()),
    }
}

/// The Python exception of a read that failed: the callback's own exception unchanged, else the
/// `sqlite3` exception of SQLite's last error.
pub(crate) fn from_read_error(
    py: Python<'_>,
    error: sqlretry::RetryError<rusqlite::Error>,
    original: Option<PyErr>,
) -> PyErr {
    match error.into_inner() {
        rusqlite::Error::UserFunctionError(inner) => match inner.downcast::<PyErr>() {
            Ok(err) => *err,
            Err(other) => PyRuntimeError::new_err(other.to_string()),
        },
        error => original.unwrap_or_else(|| sqlite_exception(py, &error)),
    }
}
