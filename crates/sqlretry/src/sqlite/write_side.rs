//! [`WriteSide`]: the write end of one database file in this process — its write connection, the
//! fair in-process turn, the cross-process writers' lock and the lock-hold histogram. A
//! [`Store`](super::Store) has one, a [`Writer`](crate::writer::Writer) has one, and both write
//! through the same [`WriteSide::attempt`] (see `attempt.rs`).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use rusqlite::Connection;

use super::lock_hold::LockHold;
use super::process_lock::ProcessLock;
use super::profile::OpenError;
use super::turns::WriteQueue;
use super::wal_watch::WalWatch;
use super::write_side_options::WriteSideOptions;

/// A WAL check (one `stat`) after every this many commits.
const WAL_CHECK_EVERY: u64 = 64;

/// See the module docs.
#[derive(Debug)]
pub(crate) struct WriteSide {
    path: PathBuf,
    /// How long one attempt may wait for SQLite's lock (the profile's busy timeout), never past
    /// the call's deadline. SQLite's own busy handler is off on the write connection: the attempt
    /// polls instead, so that the wait ends with the deadline.
    busy_timeout: Duration,
    conn: Mutex<Connection>,
    pub(crate) turns: WriteQueue,
    /// Opened by the first attempt that asks for it (`None` inside: no lock file could be opened).
    process_lock: OnceLock<Option<ProcessLock>>,
    lock_hold: LockHold,
    /// Checkpoint starvation: the WAL's size looked at after commits (see [`WalWatch`]).
    wal_watch: WalWatch,
    commits: std::sync::atomic::AtomicU64,
}

impl WriteSide {
    /// Opens the write connection on `path` with `profile` (SQLite's busy handler then turned off:
    /// the attempt waits for the lock itself, within the deadline).
    pub(crate) fn open(path: &Path, options: &WriteSideOptions) -> Result<WriteSide, OpenError> {
        let profile = options.profile();
        let conn = profile.open(path)?;
        conn.busy_timeout(Duration::ZERO).map_err(|e| OpenError::sqlite(path, e))?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(WriteSide {
            path: path.to_path_buf(),
            busy_timeout: profile.busy_timeout(),
            conn: Mutex::new(conn),
            turns: WriteQueue::new(options.barging_window()),
            process_lock: OnceLock::new(),
            lock_hold: LockHold::new(options.slow_lock_hold()),
            wal_watch: WalWatch::new(path).with_limit(options.wal_limit()),
            commits: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The database file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The per-attempt bound on waiting for SQLite's lock.
    pub(crate) fn busy_timeout(&self) -> Duration {
        self.busy_timeout
    }

    /// The write connection (whoever holds the turn uses it).
    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Lock-hold times of every write through this side.
    pub(crate) fn lock_hold(&self) -> &LockHold {
        &self.lock_hold
    }

    /// The writers' lock beside the database, opened on first use.
    pub(crate) fn process_lock(&self) -> Option<&ProcessLock> {
        self.process_lock.get_or_init(|| ProcessLock::beside(&self.path)).as_ref()
    }

    /// After a commit, on the write connection outside any transaction: every
    /// [`WAL_CHECK_EVERY`] commits, the WAL's size against its limit — a warning, a gauge and a
    /// checkpoint when a long-lived reader let it grow (see [`WalWatch`]).
    pub(crate) fn committed(&self, conn: &Connection) {
        let n = self.commits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if n % WAL_CHECK_EVERY == WAL_CHECK_EVERY - 1 {
            self.wal_watch.check(conn);
        }
    }

    /// Whether another process made this one wait for the writers' lock lately.
    pub(crate) fn contended(&self) -> bool {
        self.process_lock.get().and_then(Option::as_ref).is_some_and(ProcessLock::contended)
    }
}
