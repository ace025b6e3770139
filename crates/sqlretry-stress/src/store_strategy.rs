//! The `sqlretry` and `grouped` strategies: the library's [`Store`] — BEGIN IMMEDIATE behind a fair
//! in-process queue, the whole transaction retried under the configured write policy; `grouped`
//! goes through [`Store::write_grouped`], where concurrent workers share one transaction.

use std::path::PathBuf;

use rusqlite::Connection;
use sqlretry::config::Config;
use sqlretry::sqlite::{Store, StoreOptions};

use crate::open_once::{OpenOnce, misuse, sqlite_error};
use crate::strategy::{Op, OpFailure, OpOutcome, Opener, Strategy, open_connection};

/// Opens one [`Store`] per process, shared by its worker threads (its write queue is what keeps
/// them from fighting over SQLite's lock), and a plain read connection per worker.
pub struct StoreOpener {
    db: PathBuf,
    config: Config,
    store: OpenOnce<Store>,
    grouped: bool,
}

impl StoreOpener {
    /// An opener for `db`, configured by `config` when first used; its workers write through [`Store::write_grouped`] when `grouped`.
    pub fn new(db: PathBuf, config: Config, grouped: bool) -> Self {
        StoreOpener { db, config, store: OpenOnce::new(), grouped }
    }

    fn store(&self) -> rusqlite::Result<Store> {
        self.store.get_or_open(|| {
            let config = &self.config;
            let options = StoreOptions::from_config(config).map_err(|e| misuse(e.to_string()))?;
            Store::open_with(&self.db, options).map_err(sqlretry::sqlite::OpenError::into_sqlite_error)
        })
    }
}

impl Opener for StoreOpener {
    fn open(&self, _worker: u64) -> rusqlite::Result<Box<dyn Strategy>> {
        let store = self.store()?;
        let reader = open_connection(&self.db, store.options().profile().busy_timeout())?;
        Ok(Box::new(StoreStrategy { store, reader, grouped: self.grouped }))
    }
}

/// One worker's handle on the shared [`Store`].
struct StoreStrategy {
    store: Store,
    reader: Connection,
    grouped: bool,
}

impl Strategy for StoreStrategy {
    fn name(&self) -> &'static str {
        if self.grouped { "grouped" } else { "sqlretry" }
    }

    fn reader(&self) -> &Connection {
        &self.reader
    }

    fn write(&mut self, op: Op) -> Result<OpOutcome, OpFailure> {
        let body = op.into_body();
        if self.grouped {
            // A group re-runs whole after a retryable error; those retries belong to the group
            // (the store's write statistics), not to one write.
            return match self.store.write_grouped(move |tx| body(tx)) {
                Ok(units) => Ok(OpOutcome { retries: 0, units }),
                Err(e) => Err(OpFailure { retries: e.attempts().saturating_sub(1), error: sqlite_error(e) }),
            };
        }
        // The body runs once per attempt that got the write lock: runs − 1 is the retries it cost.
        let mut runs = 0u32;
        let result = self.store.write(|tx| {
            runs += 1;
            body(tx)
        });
        let retries = runs.saturating_sub(1);
        match result {
            Ok(units) => Ok(OpOutcome { retries, units }),
            Err(e) => Err(OpFailure { retries: e.attempts().saturating_sub(1), error: sqlite_error(e) }),
        }
    }
}
