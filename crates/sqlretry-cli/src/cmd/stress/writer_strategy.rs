//! The `writer` strategy: the library's [`Writer`] — one writer per file, many callers' requests
//! committed in one transaction (group commit), each acknowledged after its commit.

use std::path::PathBuf;

use rusqlite::Connection;
use sqlretry::writer::{WriteError, Writer, WriterOptions};

use super::open_once::{OpenOnce, misuse};
use super::strategy::{OpFailure, OpOutcome, Opener, Strategy, TxBody, open_connection};
use crate::settings::load_config;

/// Opens one [`Writer`] per process, shared by its worker threads; it is shut down (drained and
/// joined) when the opener is dropped after every worker finished.
pub struct WriterOpener {
    db: PathBuf,
    config: Option<PathBuf>,
    writer: OpenOnce<Writer>,
}

impl WriterOpener {
    /// An opener for `db`, configured by `config` (and the environment) when first used.
    pub fn new(db: PathBuf, config: Option<PathBuf>) -> Self {
        WriterOpener { db, config, writer: OpenOnce::new() }
    }

    fn writer(&self) -> rusqlite::Result<Writer> {
        self.writer.get_or_open(|| {
            let config = load_config(self.config.as_deref()).map_err(|e| misuse(e.to_string()))?;
            let options = WriterOptions::from_config(&config).map_err(|e| misuse(e.to_string()))?;
            Writer::open(&self.db, options).map_err(|e| misuse(e.to_string()))
        })
    }
}

impl Drop for WriterOpener {
    fn drop(&mut self) {
        if let Some(writer) = self.writer.take()
            && let Err(error) = writer.shutdown()
        {
            tracing::error!(%error, "shutting the stress writer down");
        }
    }
}

/// What the application sees of a failed request, as a rusqlite error keeping SQLite's code.
fn sqlite_error(error: WriteError) -> rusqlite::Error {
    match error {
        WriteError::Rejected(error) => error,
        WriteError::GroupFailed { extended_code: Some(code), message, .. } => {
            rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), Some(message))
        }
        other => misuse(other.to_string()),
    }
}

impl Opener for WriterOpener {
    fn open(&self, _worker: u64) -> rusqlite::Result<Box<dyn Strategy>> {
        let writer = self.writer()?;
        let reader = open_connection(&self.db, std::time::Duration::from_secs(5))?;
        Ok(Box::new(WriterStrategy { writer, reader }))
    }
}

/// One worker's handle on the shared [`Writer`].
struct WriterStrategy {
    writer: Writer,
    reader: Connection,
}

impl Strategy for WriterStrategy {
    fn name(&self) -> &'static str {
        "writer"
    }

    fn reader(&self) -> &Connection {
        &self.reader
    }

    fn write(&mut self, body: TxBody) -> Result<OpOutcome, OpFailure> {
        // A group re-runs whole after a retryable error; those retries belong to the group and are
        // counted in the writer's metrics, not per request.
        match self.writer.submit(move |tx| body(tx)) {
            Ok(units) => Ok(OpOutcome { retries: 0, units }),
            Err(error) => Err(OpFailure { error: sqlite_error(error), retries: 0 }),
        }
    }
}
