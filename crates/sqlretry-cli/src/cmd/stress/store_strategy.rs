//! The `sqlretry` strategy: the library's [`Store`] — BEGIN IMMEDIATE behind a fair in-process
//! queue, the whole transaction retried under the configured write policy.

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use rusqlite::Connection;
use sqlretry::sqlite::{Store, StoreOptions};

use super::strategy::{OpFailure, OpOutcome, Opener, Strategy, TxBody, open_connection};
use crate::settings::load_config;

/// Opens one [`Store`] per process, shared by its worker threads (its write queue is what keeps
/// them from fighting over SQLite's lock), and a plain read connection per worker.
pub struct StoreOpener {
    db: PathBuf,
    config: Option<PathBuf>,
    store: Mutex<Option<Store>>,
}

impl StoreOpener {
    /// An opener for `db`, configured by `config` (and the environment) when first used.
    pub fn new(db: PathBuf, config: Option<PathBuf>) -> Self {
        StoreOpener { db, config, store: Mutex::new(None) }
    }

    fn store(&self) -> rusqlite::Result<Store> {
        let mut slot = self.store.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(store) = slot.as_ref() {
            return Ok(store.clone());
        }
        let config = load_config(self.config.as_deref()).map_err(|e| invalid_config(&e.to_string()))?;
        let options = StoreOptions::from_config(&config).map_err(|e| invalid_config(&e.to_string()))?;
        let store =
            Store::open_with(&self.db, options).map_err(sqlretry::sqlite::OpenError::into_sqlite_error)?;
        *slot = Some(store.clone());
        Ok(store)
    }
}

fn invalid_config(message: &str) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISUSE),
        Some(message.to_owned()),
    )
}

impl Opener for StoreOpener {
    fn open(&self, _worker: u64) -> rusqlite::Result<Box<dyn Strategy>> {
        let store = self.store()?;
        let reader = open_connection(&self.db, store.options().profile().busy_timeout())?;
        Ok(Box::new(StoreStrategy { store, reader }))
    }
}

/// One worker's handle on the shared [`Store`].
struct StoreStrategy {
    store: Store,
    reader: Connection,
}

impl Strategy for StoreStrategy {
    fn name(&self) -> &'static str {
        "sqlretry"
    }

    fn reader(&self) -> &Connection {
        &self.reader
    }

    fn write(&mut self, body: TxBody) -> Result<OpOutcome, OpFailure> {
        // The body runs once per attempt that got the write lock: runs − 1 is the retries it cost.
        let mut runs = 0u32;
        let result = self.store.write(|tx| {
            runs += 1;
            body(tx)
        });
        let retries = runs.saturating_sub(1);
        match result {
            Ok(units) => Ok(OpOutcome { retries, units }),
            Err(e) => Err(OpFailure { retries: e.attempts().saturating_sub(1), error: e.into_inner() }),
        }
    }
}
