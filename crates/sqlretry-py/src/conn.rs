//! The connection a Python callback gets inside a transaction (`conn`), its cursor, and the one
//! function every write path calls back into Python with ([`Call::run`]).
//!
//! The engine hands a callback `&rusqlite::Connection`, borrowed for one attempt. Python cannot
//! hold a borrow, so the borrow is lent to the thread for the duration of the call (a scoped
//! thread-local, `scoped-tls`), and the Python `Connection` object only finds it there: used after
//! its transaction ended, or from another thread, it raises `sqlite3.ProgrammingError` instead of
//! touching a connection it does not own.
//!
//! A Python exception crosses the Rust closure as `rusqlite::Error::UserFunctionError(PyErr)`: the
//! engine classifies it permanent (rolled back, never retried) and the caller re-raises it
//! unchanged. An SQLite error that a statement raised and the callback let through goes back as
//! the original `rusqlite::Error`, so that the engine classifies it by its code: SQLITE_BUSY
//! re-runs the whole transaction, a constraint is a rejected write.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};
use rusqlite::Connection;
use rusqlite::types::Value;

use crate::convert::{self, Params};
use crate::errors;

scoped_tls::scoped_thread_local!(static CONN: Connection);

/// A Python callable with its arguments, run inside a transaction as `func(conn, *args, **kwargs)`.
pub(crate) struct Call {
    func: Py<PyAny>,
    args: Py<PyTuple>,
    kwargs: Option<Py<PyDict>>,
    /// The exception of the last SQLite error the callback let through: the `original` of a
    /// `sqlretry.Rejected`.
    original: Mutex<Option<PyErr>>,
}

impl Call {
    /// `func(conn, *args, **kwargs)`.
    pub(crate) fn new(func: Py<PyAny>, args: Py<PyTuple>, kwargs: Option<Py<PyDict>>) -> Call {
        Call { func, args, kwargs, original: Mutex::new(None) }
    }

    /// Runs the callable inside a write transaction with a `Connection` on `conn` (the GIL taken
    /// for the call only).
    pub(crate) fn run(&self, conn: &Connection) -> rusqlite::Result<Py<PyAny>> {
        Python::attach(|py| self.run_attached(py, conn, false))
    }

    /// As [`Call::run`], on a read connection.
    pub(crate) fn run_read(&self, conn: &Connection) -> rusqlite::Result<Py<PyAny>> {
        Python::attach(|py| self.run_attached(py, conn, true))
    }

    fn run_attached(&self, py: Python<'_>, conn: &Connection, read: bool) -> rusqlite::Result<Py<PyAny>> {
        let handle = Py::new(py, PyConnection::lend(conn, read)).map_err(user_error)?;
        let result = CONN.set(conn, || {
            let mut items: Vec<Bound<'_, PyAny>> = Vec::with_capacity(1 + self.args.bind(py).len());
            items.push(handle.bind(py).clone().into_any());
            items.extend(self.args.bind(py).iter());
            let args = PyTuple::new(py, items)?;
            self.func.bind(py).call(args, self.kwargs.as_ref().map(|k| k.bind(py)))
        });
        let handle = handle.get();
        handle.live.store(false, Ordering::Release);
        match result {
            Ok(value) => Ok(value.unbind()),
            Err(err) => {
                let failure = handle.failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
                match failure {
                    Some((exception, error)) if err.value(py).is(exception.bind(py)) => {
                        *self.original.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(err);
                        Err(error)
                    }
                    _ => Err(user_error(err)),
                }
            }
        }
    }

    /// The exception behind a rejected write (see the field).
    pub(crate) fn take_original(&self) -> Option<PyErr> {
        self.original.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()
    }

    /// The write's result as Python sees it.
    pub(crate) fn finish(
        &self,
        py: Python<'_>,
        result: Result<Py<PyAny>, sqlretry::WriteError>,
    ) -> PyResult<Py<PyAny>> {
        result.map_err(|e| errors::from_write_error(py, e, self.take_original()))
    }
}

/// A Python exception carried through the engine's closure (permanent: never retried).
pub(crate) fn user_error(err: PyErr) -> rusqlite::Error {
    rusqlite::Error::UserFunctionError(Box::new(err))
}

/// The connection inside a transaction, as the callback of `Store.write`, `Store.read` or
/// `Writer.submit` receives it: `execute`, `executemany`, `executescript`, like `sqlite3`'s.
/// Valid only during that call, on that thread; the transaction is committed (or rolled back)
/// by sqlretry, never by hand.
#[pyclass(module = "sqlretry", name = "Connection", frozen)]
pub struct PyConnection {
    /// The lent connection's address: identifies it among nested transactions (never dereferenced).
    addr: usize,
    /// Whether statements run without the GIL: on a read connection, yes (a long scan must not
    /// stop other threads); inside a write transaction, no: statements there take microseconds,
    /// and a thread that released the GIL while holding SQLite's write lock would have to wait
    /// for the GIL to get it back, holding the lock all that time while every other writer waits.
    detached: bool,
    live: AtomicBool,
    /// The last SQLite error raised to Python, with the exception raised for it.
    failure: Mutex<Option<(Py<PyAny>, rusqlite::Error)>>,
}

/// What a statement produced.
struct Executed {
    columns: Option<Vec<String>>,
    rows: Vec<Vec<Value>>,
    rowcount: i64,
    lastrowid: i64,
}

fn address(conn: &Connection) -> usize {
    std::ptr::from_ref(conn) as usize
}

fn execute(conn: &Connection, sql: &str, params: &Params) -> rusqlite::Result<Executed> {
    let mut stmt = conn.prepare_cached(sql)?;
    params.bind(&mut stmt)?;
    let columns = stmt.column_count();
    if columns == 0 {
        let changed = stmt.raw_execute()?;
        return Ok(Executed {
            columns: None,
            rows: Vec::new(),
            rowcount: i64::try_from(changed).unwrap_or(i64::MAX),
            lastrowid: conn.last_insert_rowid(),
        });
    }
    let names = stmt.column_names().into_iter().map(str::to_owned).collect();
    let mut rows = Vec::new();
    let mut cursor = stmt.raw_query();
    while let Some(row) = cursor.next()? {
        let mut values = Vec::with_capacity(columns);
        for index in 0..columns {
            values.push(row.get::<_, Value>(index)?);
        }
        rows.push(values);
    }
    Ok(Executed { columns: Some(names), rows, rowcount: -1, lastrowid: conn.last_insert_rowid() })
}

impl PyConnection {
    fn lend(conn: &Connection, detached: bool) -> PyConnection {
        PyConnection { addr: address(conn), detached, live: AtomicBool::new(true), failure: Mutex::new(None) }
    }

    /// Checks that the lent connection is this thread's current one.
    fn check(&self, py: Python<'_>) -> PyResult<()> {
        let current =
            self.live.load(Ordering::Acquire) && CONN.is_set() && CONN.with(|c| address(c) == self.addr);
        if current {
            Ok(())
        } else {
            Err(errors::programming_error(
                py,
                "this connection belongs to a transaction that has ended (or to another thread): \
                 use the connection only inside the function sqlretry called with it",
            ))
        }
    }

    /// Raises `error` as its `sqlite3` exception, remembering both for the write's outcome.
    fn raise(&self, py: Python<'_>, error: rusqlite::Error) -> PyErr {
        let err = errors::sqlite_exception(py, &error);
        *self.failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((err.value(py).clone().into_any().unbind(), error));
        err
    }

    /// Runs one statement (without the GIL on a read connection, see `detached`).
    fn run(&self, py: Python<'_>, sql: &str, params: &Params) -> PyResult<Executed> {
        self.check(py)?;
        let result = if self.detached {
            py.detach(|| CONN.with(|conn| execute(conn, sql, params)))
        } else {
            CONN.with(|conn| execute(conn, sql, params))
        };
        result.map_err(|e| self.raise(py, e))
    }
}

#[pymethods]
impl PyConnection {
    /// Runs one SQL statement with `params` (a sequence for `?` placeholders, a dict for `:name`)
    /// and returns a cursor over its rows (all read at once).
    ///
    /// Raises the `sqlite3` exception of an SQLite error (`IntegrityError`, `OperationalError`,
    /// ...). Letting it propagate out of the callback rolls the transaction back: a busy or locked
    /// database re-runs the whole callback, a permanent error raises `sqlretry.Rejected`.
    #[pyo3(signature = (sql, params = None))]
    fn execute(&self, py: Python<'_>, sql: &str, params: Option<&Bound<'_, PyAny>>) -> PyResult<PyCursor> {
        let params = Params::from_py(params)?;
        let executed = self.run(py, sql, &params)?;
        PyCursor::new(py, executed)
    }

    /// Runs one SQL statement once per item of `seq_of_params`; the cursor's `rowcount` is the
    /// total of rows changed.
    fn executemany(&self, py: Python<'_>, sql: &str, seq_of_params: &Bound<'_, PyAny>) -> PyResult<PyCursor> {
        let mut total = 0;
        let mut lastrowid = 0;
        for params in seq_of_params.try_iter()? {
            let params = Params::from_py(Some(&params?))?;
            let executed = self.run(py, sql, &params)?;
            if executed.columns.is_some() {
                return Err(errors::programming_error(py, "executemany() can only execute DML statements."));
            }
            total += executed.rowcount;
            lastrowid = executed.lastrowid;
        }
        PyCursor::new(py, Executed { columns: None, rows: Vec::new(), rowcount: total, lastrowid })
    }

    /// Runs several SQL statements separated by `;` (no parameters), inside the transaction.
    fn executescript(&self, py: Python<'_>, sql: &str) -> PyResult<()> {
        self.check(py)?;
        let result = if self.detached {
            py.detach(|| CONN.with(|conn| conn.execute_batch(sql)))
        } else {
            CONN.with(|conn| conn.execute_batch(sql))
        };
        result.map_err(|e| self.raise(py, e))
    }

    /// Always `True`: the callback runs inside a transaction.
    #[getter]
    fn in_transaction(&self) -> bool {
        true
    }

    /// The rowid of the last row inserted on this connection.
    #[getter]
    fn lastrowid(&self, py: Python<'_>) -> PyResult<i64> {
        self.check(py)?;
        Ok(CONN.with(Connection::last_insert_rowid))
    }
}

/// The result of `Connection.execute`: its rows (read at once), `rowcount`, `lastrowid` and
/// `description`, like a `sqlite3.Cursor` (iterable; `fetchone`, `fetchmany`, `fetchall`).
#[pyclass(module = "sqlretry", name = "Cursor", frozen)]
pub struct PyCursor {
    rows: Vec<Py<PyAny>>,
    next: AtomicUsize,
    rowcount: i64,
    lastrowid: i64,
    description: Py<PyAny>,
}

impl PyCursor {
    fn new(py: Python<'_>, executed: Executed) -> PyResult<PyCursor> {
        let description = match executed.columns {
            None => py.None(),
            Some(names) => {
                let none = py.None();
                let columns = names
                    .iter()
                    .map(|n| {
                        PyTuple::new(
                            py,
                            [
                                PyString::new(py, n).into_any().unbind(),
                                none.clone_ref(py),
                                none.clone_ref(py),
                                none.clone_ref(py),
                                none.clone_ref(py),
                                none.clone_ref(py),
                                none.clone_ref(py),
                            ],
                        )
                    })
                    .collect::<PyResult<Vec<_>>>()?;
                PyTuple::new(py, columns)?.into_any().unbind()
            }
        };
        let rows = executed.rows.into_iter().map(|r| convert::row(py, r)).collect::<PyResult<Vec<_>>>()?;
        Ok(PyCursor {
            rows,
            next: AtomicUsize::new(0),
            rowcount: executed.rowcount,
            lastrowid: executed.lastrowid,
            description,
        })
    }

    fn take(&self, py: Python<'_>, most: usize) -> Vec<Py<PyAny>> {
        let start = self.next.fetch_add(most, Ordering::AcqRel).min(self.rows.len());
        let end = start.saturating_add(most).min(self.rows.len());
        if start.saturating_add(most) > self.rows.len() {
            self.next.store(self.rows.len(), Ordering::Release);
        }
        self.rows[start..end].iter().map(|r| r.clone_ref(py)).collect()
    }
}

#[pymethods]
impl PyCursor {
    /// The next row as a tuple, or `None` after the last.
    fn fetchone(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.take(py, 1).pop()
    }

    /// Up to `size` next rows.
    #[pyo3(signature = (size = 1))]
    fn fetchmany<'py>(&self, py: Python<'py>, size: usize) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.take(py, size))
    }

    /// The remaining rows.
    fn fetchall<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.take(py, usize::MAX / 2))
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.fetchone(py)
    }

    /// Rows changed by an INSERT, UPDATE, DELETE or REPLACE; -1 for a query.
    #[getter]
    fn rowcount(&self) -> i64 {
        self.rowcount
    }

    /// The rowid of the last row inserted.
    #[getter]
    fn lastrowid(&self) -> i64 {
        self.lastrowid
    }

    /// For a query: one 7-tuple per column, its name first (the others `None`), as in `sqlite3`.
    #[getter]
    fn description(&self, py: Python<'_>) -> Py<PyAny> {
        self.description.clone_ref(py)
    }
}
