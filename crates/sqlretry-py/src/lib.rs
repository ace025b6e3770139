//! `sqlretry._native`: the extension module under the `sqlretry` Python package.
//!
//! Thin over the `sqlretry` crate: every write is the crate's `Store::write` (a whole
//! `BEGIN IMMEDIATE` transaction retried under its policy), `Writer::submit`/`enqueue` (group
//! commit) or `StateStore`; nothing of the retry loop is written again here. What this crate adds
//! is the Python side of it:
//!
//! - `conn.rs`: the connection a Python callback gets inside the transaction, its cursor, and how a
//!   Python exception crosses the Rust closure and comes back out unchanged;
//! - `convert.rs`: Python values to SQLite values and back;
//! - `errors.rs`: the crate's errors as the Python exceptions `sqlite3` users already catch;
//! - `store.rs`, `writer.rs`, `state.rs`, `policy.rs`: the Python classes;
//! - `wait.rs`: waiting with the GIL released and Ctrl-C checked; `logging.rs`: `tracing` events
//!   to Python's `logging` (logger `sqlretry`).
//!
//! The Python package (`python/sqlretry/`) adds what is idiomatic there: the exception classes,
//! asyncio forms, the `transaction` decorator and JSON values of the state store.

mod conn;
mod convert;
mod errors;
mod logging;
mod policy;
mod state;
mod store;
mod wait;
mod writer;

use pyo3::prelude::*;

/// The module's entry point: registers the classes and routes the crate's log events to Python.
#[pymodule(gil_used = true)]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    logging::install();
    m.add_class::<policy::PyRetryPolicy>()?;
    m.add_class::<conn::PyConnection>()?;
    m.add_class::<conn::PyCursor>()?;
    m.add_class::<store::PyStore>()?;
    m.add_class::<store::PyOutcome>()?;
    m.add_class::<writer::PyWriter>()?;
    m.add_class::<writer::PyPending>()?;
    m.add_class::<state::PyStateStore>()?;
    m.add("DEFAULT_DEADLINE", sqlretry::DEFAULT_DEADLINE.as_secs_f64())?;
    Ok(())
}
