//! [`Store`]: every write to one SQLite file a whole transaction, begun IMMEDIATE, retried whole.
//!
//! Length: over half of this file is documentation (the `# Design` section and runnable
//! examples); the code is the options, the type and its thin `write`/`read`/`write_grouped`
//! paths — the attempt itself is in `attempt.rs`, the group-commit engine in `group_commit/`.
//!
//! The store is the one façade of the crate that reaches into `group_commit/` (a typed field,
//! started by the first grouped write); everything else in `sqlite/` is below it.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Instant;

use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::lock_hold::LockHold;
use super::profile::OpenError;
use super::write_error::{Origin, WriteError};
use super::write_side::WriteSide;
use super::write_side_options::{WriteSideOptions, write_side_setters};
use crate::deadline::Deadline;
use crate::error::RetryError;
use crate::group_commit::{GroupCommit, GroupOptions};
use crate::observer::RetryStats;
use crate::policy::RetryPolicy;
use crate::retry::Retry;

/// How a [`Store`] opens connections and retries: its [`WriteSideOptions`] (the same settings,
/// under the same setter names, as a [`Writer`](crate::writer::Writer)'s), the read policy and
/// the read pool.
///
/// Defaults: [`WriteSideOptions::default`] (writes under [`RetryPolicy::store_writes`], a warning
/// for lock holds over 1 s, a 250 µs barging window in the write turn), reads under
/// [`RetryPolicy::reads`], up to 4 idle read connections kept, and at most 256 closures in one
/// grouped transaction.
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
    write_side: WriteSideOptions,
    read_policy: RetryPolicy,
    idle_readers: usize,
    max_group: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            write_side: WriteSideOptions::default(),
            read_policy: RetryPolicy::reads(),
            idle_readers: 4,
            max_group: 256,
        }
    }
}

write_side_setters!(StoreOptions);

impl StoreOptions {
    /// The policy reads are retried under.
    #[must_use]
    pub fn with_read_policy(mut self, policy: RetryPolicy) -> Self {
        self.read_policy = policy;
        self
    }

    /// How many idle read connections are kept for reuse (default 4).
    #[must_use]
    pub fn with_idle_readers(mut self, count: usize) -> Self {
        self.idle_readers = count;
        self
    }

    /// The most closures one [`Store::write_grouped`] transaction runs (default 256; at least 1).
    #[must_use]
    pub fn with_max_group(mut self, max_group: usize) -> Self {
        self.max_group = max_group.max(1);
        self
    }

    /// The read policy.
    #[must_use]
    pub fn read_policy(&self) -> &RetryPolicy {
        &self.read_policy
    }

    /// The most closures in one grouped transaction.
    #[must_use]
    pub fn max_group(&self) -> usize {
        self.max_group
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
///   whatever the busy timeout says (layered waits never multiply; see [`Deadline`]). Only a policy built with no deadline waits
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
///   back and re-runs the *whole* closure under the write policy (a stale snapshot cannot be
///   fixed by re-running one statement). The closure is `FnMut`: side effects outside the
///   database must be idempotent, and slow work belongs outside (see the optimistic write).
/// - **Waiting for SQLite's lock** is done by the attempt, not by SQLite's busy handler (off on the
///   write connection): `BEGIN IMMEDIATE` is polled with pauses of 1 ms doubling up to 5 ms
///   (SQLite's own handler sleeps up to 100 ms and is unfair to older waiters), for up to the
///   profile's busy timeout per attempt and never past the deadline.
/// - **Group commit** ([`Store::write_grouped`], [`Store::write_async`]): a use of the crate's
///   one group-commit engine (`group_commit/`, the [`Writer`](crate::writer::Writer)'s too),
///   held in a typed field and started on this store's own
///   write side by the first grouped write (its thread, `sqlretry-writer`, is joined when the last
///   clone of the store is dropped). Grouped writers of several processes also take turns through
///   the writers' lock beside the database (`<db>.writer-lock`), waited for in the kernel (which
///   wakes the next waiter when the holder lets go) within the same deadline. [`Store::write`]
///   does not take it: queuing each small transaction through the lock hands SQLite's lock from
///   process to process on every write, which halved its throughput across processes for a
///   shorter worst wait (BENCHMARKS.md, "Issue 20: across processes"); polling `BEGIN IMMEDIATE`
///   lets a process write in streaks.
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

struct Inner {
    options: StoreOptions,
    side: Arc<WriteSide>,
    readers: Mutex<Vec<Connection>>,
    /// The group-commit engine of `write_grouped` and `write_async`, started by the first grouped
    /// write on this store's write side.
    grouped: OnceLock<Grouped>,
    write_stats: Arc<RetryStats>,
    read_stats: RetryStats,
}

/// A store's grouped writes: the engine, and the calls under way.
struct Grouped {
    engine: GroupCommit,
    in_flight: AtomicUsize,
}

impl Store {
    /// Opens a store on `path` with [`StoreOptions::default`].
    ///
    /// # Errors
    ///
    /// As [`ConnectionProfile::open`](super::ConnectionProfile::open).
    pub fn open(path: impl AsRef<Path>) -> Result<Store, OpenError> {
        Store::open_with(path, StoreOptions::default())
    }

    /// Opens a store on `path`: the write connection now, read connections when first needed.
    ///
    /// # Errors
    ///
    /// As [`ConnectionProfile::open`](super::ConnectionProfile::open).
    pub fn open_with(path: impl AsRef<Path>, options: StoreOptions) -> Result<Store, OpenError> {
        let side = WriteSide::open(path.as_ref(), &options.write_side)?;
        Ok(Store {
            inner: Arc::new(Inner {
                side: Arc::new(side),
                readers: Mutex::new(Vec::new()),
                grouped: OnceLock::new(),
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
        self.write_with(self.inner.options.write_policy(), f)
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
                    inner
                        .side
                        .attempt(deadline, false, |conn| origin.body(f(conn)).map(|value| (value, true)))
                },
            ),
        )
    }

    /// As [`Store::write`], but the write may share its transaction with other callers' (group
    /// commit), for closures that can be run by another thread: `Send + 'static`, as for
    /// [`Writer::submit`](crate::writer::Writer::submit).
    ///
    /// Grouped writes use the crate's group-commit engine (the [`Writer`](crate::writer::Writer)'s), started on this
    /// store's own write connection by the first grouped write: a lone caller runs its own group
    /// (a plain transaction, no hand-off); callers arriving while a group runs are gathered into
    /// the next one (at most [`StoreOptions::with_max_group`], 256), which the engine's thread runs in one `BEGIN IMMEDIATE` transaction, each
    /// closure's value going back to its caller once `COMMIT` returned OK. A closure's permanent
    /// error (a constraint) fails only that caller: its changes are rolled back (a savepoint per
    /// closure) and the others commit. A retryable error re-runs the *whole group* under the write
    /// policy: `f` may run several times, only the last run counts, and side effects outside the
    /// database must be idempotent. `f` must not write through the same store itself (it would
    /// wait for its own group).
    ///
    /// Why: a small transaction spends most of its time in `BEGIN` and `COMMIT`, which SQLite runs
    /// one at a time per file. One transaction per write cannot go faster than one writer, a shared
    /// one can (BENCHMARKS.md, "Group commit in the Store"). A closure borrowing from its caller's stack cannot be handed to
    /// another thread without `unsafe`, which is why this is a separate method and
    /// [`Store::write`] keeps taking any closure.
    ///
    /// Each group takes the same fair turn as [`Store::write`], then the writers' lock beside the
    /// database (`<db>.writer-lock`, so that grouped writers of several processes queue in the
    /// kernel), then SQLite's lock — every wait bounded by the write policy's deadline, fixed when
    /// this call started; a write still queued when its deadline passed fails without running.
    ///
    /// # Errors
    ///
    /// As [`Store::write`]: [`WriteError::Rejected`] with `f`'s own permanent error (rolled back
    /// alone; the group's other writes committed), [`WriteError::RequestPanicked`] if `f`
    /// panicked, [`WriteError::NotCommitted`] with the group's last SQLite error when the group's
    /// transaction gave up under the policy (or this write's deadline passed while it was queued);
    /// [`WriteError::Closed`] if the engine's thread could not start. Nothing of a failed write is in the
    /// database.
    ///
    /// # Examples
    ///
    /// ```
    /// use sqlretry::sqlite::Store;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::open(dir.path().join("app.db"))?;
    /// store.write(|tx| tx.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)"))?;
    ///
    /// let writers: Vec<_> = (0..8)
    ///     .map(|i| {
    ///         let store = store.clone();
    ///         std::thread::spawn(move || store.write_grouped(move |tx| tx.execute("INSERT INTO t (v) VALUES (?1)", [i])))
    ///     })
    ///     .collect();
    /// for w in writers {
    ///     assert_eq!(w.join().unwrap()?, 1);
    /// }
    /// // A permanent error fails its own write only.
    /// assert!(store.write_grouped(|tx| tx.execute("INSERT INTO t (v) VALUES (NULL)", [])).is_err());
    /// let n: i64 = store.read(|c| c.query_row("SELECT count(*) FROM t", [], |r| r.get(0)))?;
    /// assert_eq!(n, 8);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_grouped<T, F>(&self, f: F) -> Result<T, WriteError>
    where
        T: Send + 'static,
        F: FnMut(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let grouped = self.grouped()?;
        // Counted once queued (not before): `grouped_waiting` never counts a write that is not
        // in the queue or a group yet.
        grouped.engine.submit_counted(
            f,
            || {
                grouped.in_flight.fetch_add(1, Ordering::SeqCst);
            },
            || {
                grouped.in_flight.fetch_sub(1, Ordering::SeqCst);
            },
        )
    }

    /// As [`Store::write_grouped`], for async code (tokio): the write is queued on the store's
    /// group-commit engine and awaited without blocking the runtime — SQLite never runs on a
    /// runtime thread. Many tasks awaiting one write each share transactions, as threads do with
    /// `write_grouped`, but a task's wake-up costs far less than a thread's.
    ///
    /// Which async write to pick: this one when the service already has a [`Store`] (its reads,
    /// its state store) and writes closures; [`Writer::submit_async`](crate::writer::Writer::submit_async) when the service owns a
    /// [`Writer`](crate::writer::Writer) (ingest lanes, dead letters, writer metrics). Both are the same engine. For a
    /// closure that must borrow, run [`Store::write`] in `tokio::task::spawn_blocking`.
    ///
    /// # Errors
    ///
    /// As [`Store::write_grouped`].
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use sqlretry::sqlite::Store;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::open(dir.path().join("app.db"))?;
    /// store.write_async(|tx| tx.execute_batch("CREATE TABLE t (v INTEGER)")).await?;
    /// let n = store.write_async(|tx| tx.execute("INSERT INTO t VALUES (1)", [])).await?;
    /// assert_eq!(n, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    #[cfg(feature = "tokio")]
    pub async fn write_async<T, F>(&self, f: F) -> Result<T, WriteError>
    where
        T: Send + 'static,
        F: FnMut(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.grouped()?.engine.submit_async(f).await
    }

    /// How many [`write_grouped`](Store::write_grouped) calls are under way right now: queued, or
    /// in a group that has not committed yet.
    #[must_use]
    pub fn grouped_waiting(&self) -> usize {
        self.inner.grouped.get().map_or(0, |g| g.in_flight.load(Ordering::SeqCst))
    }

    /// The group-commit engine of grouped writes, started on first use.
    fn grouped(&self) -> Result<&Grouped, WriteError> {
        let inner = &*self.inner;
        if let Some(grouped) = inner.grouped.get() {
            return Ok(grouped);
        }
        let options = GroupOptions::for_store(
            inner.side.path(),
            inner.options.max_group,
            Arc::clone(&inner.write_stats),
        );
        let policy = inner.options.write_policy().clone();
        let engine = GroupCommit::start(Arc::clone(&inner.side), policy, options).map_err(|error| {
            tracing::error!(%error, "the grouped writes' engine could not start");
            WriteError::Closed
        })?;
        // Two first grouped writes at once: one engine wins, the other is shut down unused.
        Ok(inner.grouped.get_or_init(|| Grouped { engine, in_flight: AtomicUsize::new(0) }))
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
        let conn = self.options.profile().open(self.side.path()).map_err(OpenError::into_sqlite_error)?;
        conn.execute_batch("PRAGMA query_only = 1")?;
        Ok(conn)
    }
}
