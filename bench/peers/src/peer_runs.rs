//! The peers, each written as its documentation suggests, plus `BEGIN IMMEDIATE` where the plain
//! way fails under contention: tokio-rusqlite (one connection thread), r2d2_sqlite (a pool,
//! `BEGIN IMMEDIATE`, busy_timeout 5 s), sqlx (a pool, `begin()` and `BEGIN IMMEDIATE`).

use std::path::Path;
use std::time::Duration;

use r2d2_sqlite::SqliteConnectionManager;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::measure::{Row, tasks, threads};
use crate::workload::{PRAGMAS, op, op_immediate, op_sqlx};

/// tokio-rusqlite: `writers` tasks on `rt` calling one connection (its own thread).
pub fn tokio_rusqlite(rt: &tokio::runtime::Runtime, path: &Path, writers: usize, ops: usize) -> Row {
    let conn = rt
        .block_on(async {
            let conn = tokio_rusqlite::Connection::open(path).await?;
            conn.call(|c| c.execute_batch(PRAGMAS)).await.map(|()| conn)
        })
        .expect("tokio-rusqlite");
    tasks(rt, "tokio-rusqlite (tasks, one connection)", writers, ops, move || {
        let conn = conn.clone();
        async move {
            conn.call(|c| {
                let tx = c.transaction()?;
                op(&tx)?;
                tx.commit()
            })
            .await
        }
    })
}

/// r2d2_sqlite: a pool of `writers` connections, `BEGIN IMMEDIATE`, busy_timeout 5 s (rusqlite's).
pub fn r2d2_immediate(path: &Path, writers: usize, ops: usize) -> Row {
    let manager = SqliteConnectionManager::file(path).with_init(|c| c.execute_batch(PRAGMAS));
    let pool = r2d2::Pool::builder().max_size(writers as u32).build(manager).expect("pool");
    threads("r2d2_sqlite + BEGIN IMMEDIATE (threads)", writers, ops, |_| {
        op_immediate(&mut pool.get().expect("pooled connection"))
    })
}

/// sqlx: `writers` tasks on `rt` sharing a pool of `writers` connections (busy_timeout 5 s), each
/// operation in `begin()` (deferred) or `BEGIN IMMEDIATE`.
pub fn sqlx(rt: &tokio::runtime::Runtime, path: &Path, writers: usize, ops: usize, immediate: bool) -> Row {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(5));
    let pool = rt
        .block_on(SqlitePoolOptions::new().max_connections(writers as u32).connect_with(options))
        .expect("sqlx pool");
    let name = if immediate { "sqlx + BEGIN IMMEDIATE (tasks)" } else { "sqlx begin() (tasks)" };
    let row = {
        let pool = pool.clone();
        tasks(rt, name, writers, ops, move || {
            let pool = pool.clone();
            async move { op_sqlx(&pool, immediate).await }
        })
    };
    rt.block_on(pool.close());
    row
}
