//! [`Store`]: every write to one SQLite file a whole transaction, begun IMMEDIATE, retried whole.
//!
//! Length: over a third of this file is documentation (the `# Design` section and runnable
//! examples); the code is the options, the type and its thin `write`/`read` paths — the attempt
//! itself is in `attempt.rs`, grouped writes in `writer/store_lane.rs`.

use std::any::Any;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::lock_hold::{DEFAULT_SLOW_LOCK_HOLD, LockHold};
use super::profile::{ConnectionProfile, OpenError};
use super::write_error::{Origin, WriteError};
use super::write_side::WriteSide;
use crate::deadline::Deadline;
use crate::error::RetryError;
use crate::observer::RetryStats;
use crate::policy::RetryPolicy;
use crate::retry::Retry;

/// How a [`Store`] opens connections and retries.
///
/// Defaults: [`ConnectionProfile::default`], writes under [`RetryPolicy::store_writes`], reads
/// under [`RetryPolicy::reads`], a warning for lock holds over 1 s, a 250 µs barging window in the
/// write queue, and up to 4 idle read connections kept.
///
/// # Examples
///
/// ```
/// use sqlretry::RetryPolicy;
/// use sqlretry::sqlite::{Store, StoreOptions};
/// use std::time::Duration;
///
/// let dir = tempfile::tempdir()?;
/// let policy = RetryPolicy::builder().max_attempts(5).deadline(Duration::from_secs(2)).build()?;
/// let store = Store::open_with(dir.path().join("app.db"), StoreOptions::default().with_write_policy(policy))?;
/// assert_eq!(store.options().write_policy().max_attempts(), 5);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct StoreOptions {
    profile: ConnectionProfile,
    write_policy: RetryPolicy,
    read_policy: RetryPolicy,
    slow_lock_hold: Duration,
    barging_window: Duration,
    idle_readers: usize,
    wal_limit: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            profile: ConnectionProfile::default(),
            write_policy: RetryPolicy::store_writes(),
            read_policy: RetryPolicy::reads(),
            slow_lock_hold: DEFAULT_SLOW_LOCK_HOLD,
            barging_window: Duration::from_micros(250),
            idle_readers: 4,
            wal_limit: super::DEFAULT_WAL_LIMIT,
        }
    }
}

impl StoreOptions {
    /// How connections are set up.
    #[must_use]
    pub fn with_profile(mut self, profile: ConnectionProfile) -> Self {
        self.profile = profile;
        self
    }

    /// The policy writes are retried under; its deadline bounds the whole wait of one write.
    #[must_use]
    pub fn with_write_policy(mut self, policy: RetryPolicy) -> Self {
        self.write_policy = policy;
        self
    }

    /// The policy reads are retried under.
    #[must_use]
    pub fn with_read_policy(mut self, policy: RetryPolicy) -> Self {
        self.read_policy = policy;
        self
    }

    /// Lock holds longer than this are logged at `warn` (default 1 s).
    #[must_use]
    pub fn with_slow_lock_hold(mut self, threshold: Duration) -> Self {
        self.slow_lock_hold = threshold;
        self
    }

    /// How long the head of the in-process write queue lets newcomers go first before it is served
    /// (default 250 µs; zero is strictly first come, first served, at the cost of a thread
    /// hand-off per write). While other processes contend for the file the window is at least 2 ms
    /// (unless zero; see the type's `# Design`).
    #[must_use]
    pub fn with_barging_window(mut self, window: Duration) -> Self {
        self.barging_window = window;
        self
    }

    /// The WAL size above which the store warns, exports `sqlretry_wal_bytes` and checkpoints
    /// once readers let it (checkpoint starvation; default 64 MiB, see
    /// [`WalWatch`](super::WalWatch)).
    #[must_use]
    pub fn with_wal_limit(mut self, bytes: u64) -> Self {
        self.wal_limit = bytes;
        self
    }

    /// How many idle read connections are kept for reuse (default 4).
    #[must_use]
    pub fn with_idle_readers(mut self, count: usize) -> Self {
        self.idle_readers = count;
        self
    }

    /// The connection profile.
    #[must_use]
    pub fn profile(&self) -> &ConnectionProfile {
        &self.profile
    }

    /// The write policy.
    #[must_use]
    pub fn write_policy(&self) -> &RetryPolicy {
        &self.write_policy
    }

    /// The read policy.
    #[must_use]
    pub fn read_policy(&self) -> &RetryPolicy {
        &self.read_policy
    }
}

/// Writes and reads on one SQLite file. Cheap to clone; clones share everything, and a `Store` can
/// be shared between threads.
///
/// # Design
///
/// Every write path of the crate goes through one transaction attempt (`sqlite/attempt.rs`) on a
/// *write side* (`sqlite/write_side.rs`: one write connection, the fair in-process turn, the
/// writers' lock across processes, the lock-hold histogram); a `Store` has one.
///
/// - **One deadline per write.** [`Store::write`] fixes its deadline when it starts (the write
///   policy's total deadline, finite by default; or one given to [`Store::write_until`]) and
///   passes it to every wait: the retry sleeps, this process's turn, SQLite's lock. A write
///   returns within its deadline plus one run of its closure, however many attempts it makes and
///   whatever the busy timeout says (DESIGN §3.6). Only a policy built with no deadline waits
///   longer; then each attempt waits at most the busy timeout for SQLite's lock.
/// - **Writers of one process take turns** in a fair in-process queue (FIFO with a 250 µs barging
///   window, see [`StoreOptions::with_barging_window`]) *before* `BEGIN IMMEDIATE`, so they never
///   fight over SQLite's lock; it is left to other processes (or other `Store`s on the same file).
///   Fairness is bounded, not per write: the writer holding the turn may write back to back until
///   the oldest waiter has waited one window. While other processes contend (within 100 ms of a
///   write that had to wait for their lock) the window is 2 ms, and it starts afresh when the lock
///   is won: a process serves its writers in streaks rather than letting SQLite's lock change
///   hands (and the newcomer re-read its pages) every few writes.
/// - **A write** runs its closure inside `BEGIN IMMEDIATE` and acknowledges only after `COMMIT`
///   returned OK. A retryable error at BEGIN, in any statement or at COMMIT rolls the transaction
///   back and re-runs the *whole* closure under the write policy (DESIGN §3.2: a stale snapshot
///   cannot be fixed by re-running one statement). The closure is `FnMut`: side effects outside the
///   database must be idempotent, and slow work belongs outside (see the optimistic write).
/// - **Waiting for SQLite's lock** is done by the attempt, not by SQLite's busy handler (off on the
///   write connection): `BEGIN IMMEDIATE` is polled with pauses of 1 ms doubling up to 5 ms
///   (SQLite's own handler sleeps up to 100 ms and is unfair to older waiters), for up to the
///   profile's busy timeout per attempt and never past the deadline.
/// - **Group commit** ([`Store::write_grouped`], [`Store::write_async`]): a lane of the one
///   group-commit engine, the [`Writer`](crate::writer::Writer)'s, started on this store's own
///   write side by the first grouped write (its thread, `sqlretry-writer`, is joined when the last
///   clone of the store is dropped). Grouped writers of several processes also take turns through
///   the writers' lock beside the database (`<db>.writer-lock`), waited for in the kernel (which
///   wakes the next waiter when the holder lets go) within the same deadline. [`Store::write`]
///   takes it only while writers of other processes contend (SQLite's lock or the writers' lock
///   made this process wait within the last 100 ms): uncontended, its two system calls would cost
///   a measurable share of a small write; contended, queuing in the kernel bounds the worst wait
///   across processes, where polling `BEGIN IMMEDIATE` lets one process keep SQLite's lock.
/// - **Read connections** are pooled: a read takes an idle one or opens one, and gives it back
///   (up to [`StoreOptions::with_idle_readers`] are kept). They are `query_only`.
/// - No global state: the queue, pool and statistics live in the shared `Store` value.
///
/// # Examples
///
/// ```
/// use sqlretry::sqlite::Store;
///
/// let dir = tempfile::tempdir()?;
/// let store = Store::open(dir.path().join("app.db"))?;
/// store.write(|tx| tx.execute_batch("CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v INTEGER)"))?;
/// store.write(|tx| tx.execute("INSERT INTO t VALUES ('a', 1)", []))?;
/// let v: i64 = store.read(|conn| conn.query_row("SELECT v FROM t WHERE k = 'a'", [], |r| r.get(0)))?;
/// assert_eq!(v, 1);
/// assert_eq!(store.lock_hold().snapshot().count, 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    options: StoreOptions,
    side: Arc<WriteSide>,
    readers: Mutex<Vec<Connection>>,
    /// What the writer layer attaches to this store: the group-commit engine of
    /// `write_grouped`, started by the first grouped write (typed `Any` so that this module knows
    /// nothing of the layer above it).
    attached: OnceLock<Box<dyn Any + Send + Sync>>,
    write_stats: Arc<RetryStats>,
    read_stats: RetryStats,
}

impl Store {
    /// The shared state, for the writer layer's `impl Store` (grouped writes).
    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    /// Opens a store on `path` with [`StoreOptions::default`].
    ///
    /// # Errors
    ///
    /// As [`ConnectionProfile::open`].
    pub fn open(path: impl AsRef<Path>) -> Result<Store, OpenError> {
        Store::open_with(path, StoreOptions::default())
    }

    /// Opens a store on `path`: the write connection now, read connections when first needed.
    ///
    /// # Errors
    ///
    /// As [`ConnectionProfile::open`].
    pub fn open_with(path: impl AsRef<Path>, options: StoreOptions) -> Result<Store, OpenError> {
        let side = WriteSide::open(
            path.as_ref(),
            &options.profile,
            options.barging_window,
            options.slow_lock_hold,
            options.wal_limit,
        )?;
        Ok(Store {
            inner: Arc::new(Inner {
                side: Arc::new(side),
                readers: Mutex::new(Vec::new()),
                attached: OnceLock::new(),
                write_stats: Arc::new(RetryStats::new("sqlite.write")),
                read_stats: RetryStats::new("sqlite.read"),
                options,
            }),
        })
    }

    /// The database file.
    #[must_use]
    pub fn path(&self) -> &Path {
        self.inner.side.path()
    }

    /// The options the store was opened with.
    #[must_use]
    pub fn options(&self) -> &StoreOptions {
        &self.inner.options
    }

    /// Lock-hold times of this store's writes.
    #[must_use]
    pub fn lock_hold(&self) -> &LockHold {
        self.inner.side.lock_hold()
    }

    /// Retry counters of this store's writes (`operation = "sqlite.write"` in metrics).
    #[must_use]
    pub fn write_stats(&self) -> &RetryStats {
        &self.inner.write_stats
    }

    /// Retry counters of this store's reads (`operation = "sqlite.read"` in metrics).
    #[must_use]
    pub fn read_stats(&self) -> &RetryStats {
        &self.inner.read_stats
    }

    /// Runs `f` inside `BEGIN IMMEDIATE … COMMIT`, re-running it whole under the write policy after a
    /// retryable error (see the type's `# Design`). Returns `f`'s value once `COMMIT` returned OK.
    ///
    /// `f` gets the write connection with the transaction open: run statements on it
    /// (`prepare_cached` is worth it: the connection lives as long as the store), but do not
    /// `COMMIT`/`ROLLBACK` by hand, and do not call `write` on the same store from inside `f` (it
    /// would wait for its own turn).
    ///
    /// # Errors
    ///
    /// [`WriteError::Rejected`] with `f`'s own permanent error (a constraint, an SQL error), at
    /// once; [`WriteError::NotCommitted`] with SQLite's last error, the attempts and the reason when
    /// the transaction could not commit (the policy ran out on a retryable error, or `BEGIN`/`COMMIT`
    /// failed for good). Nothing of a failed write is in the database.
    pub fn write<T, F>(&self, f: F) -> Result<T, WriteError>
    where
        F: FnMut(&Connection) -> rusqlite::Result<T>,
    {
        self.write_with(&self.inner.options.write_policy, f)
    }

    /// As [`Store::write`], under another policy.
    ///
    /// # Errors
    ///
    /// As [`Store::write`].
    pub fn write_with<T, F>(&self, policy: &RetryPolicy, f: F) -> Result<T, WriteError>
    where
        F: FnMut(&Connection) -> rusqlite::Result<T>,
    {
        self.write_until(policy, Deadline::from_policy(policy, Instant::now()), f)
    }

    /// As [`Store::write_with`], done by `deadline` (or the policy's own deadline, if earlier):
    /// every wait of this write — the retry sleeps, this process's turn, SQLite's lock — ends by
    /// then. Give one deadline to several writes (or to a write and the caller's own waits) to
    /// bound them all together.
    ///
    /// # Errors
    ///
    /// As [`Store::write`]; when the deadline passes, [`WriteError::NotCommitted`] with the last
    /// SQLite error (SQLITE_BUSY) and reason
    /// [`StopReason::DeadlineExceeded`](crate::StopReason::DeadlineExceeded).
    pub fn write_until<T, F>(
        &self,
        policy: &RetryPolicy,
        deadline: Deadline,
        mut f: F,
    ) -> Result<T, WriteError>
    where
        F: FnMut(&Connection) -> rusqlite::Result<T>,
    {
        let inner = &*self.inner;
        let origin = Origin::default();
        origin.outcome(
            Retry::new(policy).named("sqlite.write").with_observer(&inner.write_stats).until(deadline).call(
                || {
                    origin.attempt();
                    inner.side.attempt_when_contended(deadline, |conn| {
                        origin.body(f(conn)).map(|value| (value, true))
                    })
                },
            ),
        )
    }

    /// Runs `f` on a read connection inside a deferred transaction (one consistent snapshot for all
    /// of `f`'s statements), retried under the read policy. In WAL mode a writer never blocks it.
    /// Read connections are `query_only`: a write inside `f` fails with SQLITE_READONLY.
    ///
    /// # Errors
    ///
    /// [`RetryError`] holding the last `rusqlite::Error` unchanged (a read connection that cannot be
    /// opened gives the SQLite error, or SQLITE_CANTOPEN naming the file).
    pub fn read<T, F>(&self, mut f: F) -> Result<T, RetryError<rusqlite::Error>>
    where
        F: FnMut(&Connection) -> rusqlite::Result<T>,
    {
        let inner = &*self.inner;
        Retry::new(&inner.options.read_policy)
            .named("sqlite.read")
            .with_observer(&inner.read_stats)
            .call(|| inner.read_once(&mut f))
    }
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.side.path())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Inner {
    /// The options.
    pub(crate) fn options(&self) -> &StoreOptions {
        &self.options
    }

    /// Retry counters of the store's writes (grouped writes count there too).
    pub(crate) fn write_stats(&self) -> &Arc<RetryStats> {
        &self.write_stats
    }

    /// The write side (shared with the writer layer's engine for grouped writes).
    pub(crate) fn side(&self) -> &Arc<WriteSide> {
        &self.side
    }

    /// The writer layer's attachment (see the field).
    pub(crate) fn attached(&self) -> &OnceLock<Box<dyn Any + Send + Sync>> {
        &self.attached
    }

    fn read_once<T, F>(&self, f: &mut F) -> rusqlite::Result<T>
    where
        F: FnMut(&Connection) -> rusqlite::Result<T>,
    {
        let idle = self.readers.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self.open_reader()?,
        };
        let result = Transaction::new_unchecked(&conn, TransactionBehavior::Deferred).and_then(|tx| {
            let value = f(&tx);
            tx.rollback()?;
            value
        });
        let mut readers = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
        if readers.len() < self.options.idle_readers && conn.is_autocommit() {
            readers.push(conn);
        }
        result
    }

    fn open_reader(&self) -> rusqlite::Result<Connection> {
        let conn = self.options.profile.open(self.side.path()).map_err(OpenError::into_sqlite_error)?;
        conn.execute_batch("PRAGMA query_only = 1")?;
        Ok(conn)
    }
}
