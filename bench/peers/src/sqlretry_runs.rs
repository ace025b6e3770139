//! The sqlretry side: one uncontended writer (the per-commit limit), `Store::write`,
//! `Store::write_grouped`, `Writer::submit_async`, and `sqlite::write_on` on r2d2's connections.

use std::path::Path;

use r2d2_sqlite::SqliteConnectionManager;
use sqlretry::sqlite::{Store, write_on};
use sqlretry::{RetryPolicy, Writer};

use crate::measure::{Row, tasks, threads};
use crate::workload::{PRAGMAS, op, op_immediate, open};

/// One writer alone, `BEGIN IMMEDIATE` per operation: the per-commit limit every row is divided by.
pub fn one_writer(path: &Path, ops: usize) -> Row {
    let conn = std::sync::Mutex::new(open(path));
    threads("one uncontended writer (rusqlite, BEGIN IMMEDIATE)", 1, ops, |_| {
        op_immediate(&mut conn.lock().expect("one writer"))
    })
}

/// `Store::write` from `writers` threads.
pub fn store_write(path: &Path, writers: usize, ops: usize) -> Row {
    let store = Store::open(path).expect("store");
    threads("sqlretry Store::write (threads)", writers, ops, |_| store.write(op))
}

/// `Store::write_grouped` from `writers` threads.
pub fn write_grouped(path: &Path, writers: usize, ops: usize) -> Row {
    let store = Store::open(path).expect("store");
    threads("sqlretry Store::write_grouped (threads)", writers, ops, |_| store.write_grouped(op))
}

/// `Writer::submit_async` from `writers` tasks on `rt`.
pub fn submit_async(rt: &tokio::runtime::Runtime, path: &Path, writers: usize, ops: usize) -> Row {
    let writer = Writer::open(path).expect("writer");
    tasks(rt, "sqlretry Writer::submit_async (tasks)", writers, ops, move || {
        let writer = writer.clone();
        async move { writer.submit_async(|tx| op(tx)).await }
    })
}

/// `sqlite::write_on` on connections of an r2d2 pool (one per thread), from `writers` threads.
pub fn r2d2_write_on(path: &Path, writers: usize, ops: usize) -> Row {
    let manager = SqliteConnectionManager::file(path).with_init(|c| c.execute_batch(PRAGMAS));
    let pool = r2d2::Pool::builder().max_size(writers as u32).build(manager).expect("pool");
    let policy = RetryPolicy::store_writes();
    threads("r2d2_sqlite + sqlretry::sqlite::write_on (threads)", writers, ops, |_| {
        write_on(&mut pool.get().expect("pooled connection"), &policy, op)
    })
}
