//! [`WalWatch`]: notices checkpoint starvation. A reader that always holds a read transaction
//! keeps SQLite from checkpointing past its snapshot, so the `-wal` file grows without bound. After
//! a commit, the watch looks at the WAL's size; above a limit it logs a warning naming the file
//! and the size, exports the size as the gauge `sqlretry_wal_bytes{file}`, and asks for a
//! `wal_checkpoint(TRUNCATE)` bounded by a time budget, which empties the WAL once the readers let go.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rusqlite::Connection;

/// The default limit: 64 MiB (SQLite's own autocheckpoint keeps a healthy WAL near 4 MiB).
pub const DEFAULT_WAL_LIMIT: u64 = 64 * 1024 * 1024;
/// The default bound on one checkpoint's wait for other connections: none. A check runs after a
/// commit, on the committing thread: while a reader starves the WAL, waiting there would slow
/// every commit; a checkpoint that cannot run at once is tried again at the next check.
pub const DEFAULT_CHECKPOINT_BUDGET: Duration = Duration::ZERO;

/// What one [`WalWatch::check`] found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct WalCheck {
    /// The WAL's size before the check, bytes (0 when there is no WAL file).
    pub wal_bytes: u64,
    /// Whether that was above the limit.
    pub over_limit: bool,
    /// Whether a checkpoint ran and completed (every frame copied back and the WAL truncated).
    /// `false` when none was needed, or a reader still holds an old snapshot.
    pub checkpointed: bool,
    /// The WAL's size after the check, bytes.
    pub wal_bytes_after: u64,
}

/// Watches the WAL of one database file. Cheap to call after every commit: one `stat` of the
/// `-wal` file, and SQL only when it is over the limit.
///
/// # Examples
///
/// ```
/// use sqlretry::sqlite::{ConnectionProfile, WalWatch};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("app.db");
/// let conn = ConnectionProfile::default().open(&path)?;
/// conn.execute_batch("CREATE TABLE t (v BLOB); INSERT INTO t VALUES (zeroblob(100000));")?;
/// let watch = WalWatch::new(&path).with_limit(16 * 1024);
/// let check = watch.check(&conn);
/// assert!(check.over_limit && check.checkpointed, "{check:?}");
/// assert_eq!(check.wal_bytes_after, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct WalWatch {
    wal: PathBuf,
    limit: u64,
    budget: Duration,
    /// The size last warned about (0: no warning since the WAL was last under the limit), so
    /// that a starving WAL is reported when it crosses the limit and each time it doubles, not
    /// after every commit.
    warned: AtomicU64,
}

impl WalWatch {
    /// A watch on `db`'s WAL (`<db>-wal`) with [`DEFAULT_WAL_LIMIT`] and
    /// [`DEFAULT_CHECKPOINT_BUDGET`].
    #[must_use]
    pub fn new(db: impl AsRef<Path>) -> Self {
        let mut wal = db.as_ref().as_os_str().to_owned();
        wal.push("-wal");
        WalWatch {
            wal: PathBuf::from(wal),
            limit: DEFAULT_WAL_LIMIT,
            budget: DEFAULT_CHECKPOINT_BUDGET,
            warned: AtomicU64::new(0),
        }
    }

    /// The size above which the WAL counts as starving, bytes (default [`DEFAULT_WAL_LIMIT`]).
    #[must_use]
    pub fn with_limit(mut self, bytes: u64) -> Self {
        self.limit = bytes;
        self
    }

    /// How long one checkpoint may wait for other connections (default
    /// [`DEFAULT_CHECKPOINT_BUDGET`]): the connection's busy timeout is lowered to this for the
    /// checkpoint and put back after.
    #[must_use]
    pub fn with_checkpoint_budget(mut self, budget: Duration) -> Self {
        self.budget = budget;
        self
    }

    /// The `-wal` file watched.
    #[must_use]
    pub fn wal_path(&self) -> &Path {
        &self.wal
    }

    /// The limit, bytes.
    #[must_use]
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// The WAL's size now, bytes (0 when there is none).
    #[must_use]
    pub fn wal_bytes(&self) -> u64 {
        std::fs::metadata(&self.wal).map_or(0, |m| m.len())
    }

    /// Looks at the WAL and, above the limit, warns (on crossing it and each time it doubles),
    /// and runs `PRAGMA wal_checkpoint(TRUNCATE)` on `conn` (a connection to the same file, not
    /// inside a transaction) within the checkpoint budget. Sets the gauge `sqlretry_wal_bytes`
    /// (label `file`) to the size after. Never fails: a checkpoint that cannot run is logged at
    /// debug level and tried again at the next check.
    pub fn check(&self, conn: &Connection) -> WalCheck {
        let wal_bytes = self.wal_bytes();
        let over_limit = wal_bytes > self.limit;
        let mut checkpointed = false;
        if over_limit {
            let last = self.warned.load(Ordering::Relaxed);
            if last == 0 || wal_bytes >= last.saturating_mul(2) {
                self.warned.store(wal_bytes, Ordering::Relaxed);
                tracing::warn!(
                    file = %self.wal.display(), wal_bytes, limit = self.limit,
                    "the WAL is over its limit: a reader holding a read transaction keeps checkpoints from completing"
                );
            }
            checkpointed = match self.checkpoint(conn) {
                Ok(done) => done,
                Err(error) => {
                    tracing::debug!(%error, file = %self.wal.display(), "WAL checkpoint failed");
                    false
                }
            };
        }
        let wal_bytes_after = if checkpointed { self.wal_bytes() } else { wal_bytes };
        if wal_bytes_after <= self.limit {
            self.warned.store(0, Ordering::Relaxed);
        }
        metrics::gauge!("sqlretry_wal_bytes", "file" => self.wal.display().to_string())
            .set(wal_bytes_after as f64);
        WalCheck { wal_bytes, over_limit, checkpointed, wal_bytes_after }
    }

    /// `wal_checkpoint(TRUNCATE)` with the busy timeout lowered to the budget; whether it
    /// completed (SQLite's first column, "busy", is 0).
    fn checkpoint(&self, conn: &Connection) -> rusqlite::Result<bool> {
        let before: i64 = conn.query_row("PRAGMA busy_timeout", [], |r| r.get(0))?;
        let before = Duration::from_millis(u64::try_from(before).unwrap_or(0));
        conn.busy_timeout(before.min(self.budget))?;
        let result = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get::<_, i64>(0));
        conn.busy_timeout(before)?;
        Ok(result? == 0)
    }
}
