//! Read-only connections for the read endpoints, beside the writer's own: in WAL mode a reader
//! sees the last commit and never blocks the writer (nor is blocked by it), so reads cannot slow
//! ingest down beyond the CPU they use. A fixed number of connections bounds how many reads run
//! at once; a read waits for one at most `WAIT`.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::Semaphore;

/// How long a read waits for a free connection before it is answered 503.
const WAIT: Duration = Duration::from_secs(5);

/// Why a read could not run.
#[derive(Debug)]
pub enum ReadError {
    /// Every connection stayed busy for `WAIT`, or the service is stopping.
    Busy,
    /// The query failed.
    Sqlite(rusqlite::Error),
}

impl From<rusqlite::Error> for ReadError {
    fn from(e: rusqlite::Error) -> Self {
        ReadError::Sqlite(e)
    }
}

/// The read connections.
#[derive(Debug)]
pub struct ReadPool {
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

/// A connection taken from the pool; given back when dropped.
pub struct Lease {
    pool: Arc<ReadPool>,
    conn: Option<Connection>,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Lease {
    /// The connection.
    pub fn conn(&self) -> Option<&Connection> {
        self.conn.as_ref()
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.idle.lock().unwrap_or_else(PoisonError::into_inner).push(conn);
        }
    }
}

impl ReadPool {
    /// Opens `n` read-only connections to `path` (`query_only`, a short busy timeout).
    ///
    /// # Errors
    ///
    /// The first connection that cannot be opened.
    pub fn open(path: &Path, n: usize) -> rusqlite::Result<Self> {
        let mut idle = Vec::with_capacity(n);
        for _ in 0..n {
            let conn = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX
                    | OpenFlags::SQLITE_OPEN_URI,
            )?;
            // A WAL reader waits only while another connection recovers the WAL index.
            conn.busy_timeout(Duration::from_secs(2))?;
            conn.execute_batch("PRAGMA query_only = 1;")?;
            idle.push(conn);
        }
        Ok(ReadPool { idle: Mutex::new(idle), permits: Arc::new(Semaphore::new(n)) })
    }

    /// A free connection, waiting at most `WAIT`.
    ///
    /// # Errors
    ///
    /// [`ReadError::Busy`] when none came free in time.
    pub async fn lease(self: &Arc<Self>) -> Result<Lease, ReadError> {
        let permit = tokio::time::timeout(WAIT, Arc::clone(&self.permits).acquire_owned())
            .await
            .map_err(|_| ReadError::Busy)?
            .map_err(|_| ReadError::Busy)?;
        let conn = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        Ok(Lease { pool: Arc::clone(self), conn, _permit: permit })
    }

    /// Runs `f` on a connection, off the runtime's threads.
    ///
    /// # Errors
    ///
    /// [`ReadError::Busy`] when no connection came free, or what `f` returned.
    pub async fn run<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Connection) -> Result<T, ReadError> + Send + 'static,
    ) -> Result<T, ReadError> {
        let lease = self.lease().await?;
        tokio::task::spawn_blocking(move || match lease.conn() {
            Some(conn) => f(conn),
            None => Err(ReadError::Busy),
        })
        .await
        .unwrap_or(Err(ReadError::Busy))
    }
}
