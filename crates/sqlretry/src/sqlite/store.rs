//! [`Store`]: every write to one SQLite file a whole transaction, begun IMMEDIATE, retried whole.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::group::run_members;
use super::grouped::{self, GroupEnd, GroupLane, MAX_GROUP, Signal};
use super::process_lock::{CONTENDED_FILL, ProcessLock};
use super::write_tx::WriteTx;

use super::lock_hold::{DEFAULT_SLOW_LOCK_HOLD, LockHold};
use super::profile::{ConnectionProfile, OpenError};
use super::queue::{Turn, WriteQueue};
use crate::classify::Classify;
use crate::error::{RetryError, StopReason};
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
/// use sqlretry::sqlite::StoreOptions;
/// use std::time::Duration;
///
/// let dir = tempfile::tempdir()?;
/// let policy = RetryPolicy::builder().max_attempts(5).deadline(Duration::from_secs(2)).build()?;
/// let store = StoreOptions::default().with_write_policy(policy).open(dir.path().join("app.db"))?;
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

    /// Opens a [`Store`] on `path` with these options.
    ///
    /// # Errors
    ///
    /// As [`ConnectionProfile::open`].
    pub fn open(self, path: impl AsRef<Path>) -> Result<Store, OpenError> {
        Store::open_with(path, self)
    }
}

/// Writes and reads on one SQLite file. Cheap to clone; clones share everything, and a `Store` can
/// be shared between threads.
///
/// # Design
///
/// - **One write connection per `Store`**, used by one writer at a time. The writers of one process
///   take turns in a fair in-process queue (FIFO with a 250 µs barging window, see
///   [`StoreOptions::with_barging_window`]) *before* `BEGIN IMMEDIATE`, so they never fight over
///   SQLite's lock; it is left to other processes (or other `Store`s on the same file). Fairness is
///   bounded, not per write: the writer holding the turn may write back to back until the oldest
///   waiter has waited one window. While other processes contend (within 100 ms of a write that had
///   to wait for their lock) the window is 2 ms, and it starts afresh when the lock is won: a
///   process serves its writers in streaks rather than letting SQLite's lock change hands (and the
///   newcomer re-read its pages) every few writes. A waiter thus waits about one window per writer
///   ahead of it in this process, plus their waits for other processes.
/// - **Read connections** are pooled: a read takes an idle one or opens one, and gives it back
///   (up to [`StoreOptions::with_idle_readers`] are kept). They are `query_only`.
/// - **A write** runs its closure inside `BEGIN IMMEDIATE` and acknowledges only after `COMMIT`
///   returned OK. A retryable error at BEGIN, in any statement or at COMMIT rolls the transaction
///   back and re-runs the *whole* closure under the write policy (DESIGN §3.2: a stale snapshot
///   cannot be fixed by re-running one statement). The closure is `FnMut`: side effects outside the
///   database must be idempotent, and slow work belongs outside (see
///   the optimistic write).
/// - **Waiting for SQLite's lock** is done by the store, not by SQLite's busy handler: `BEGIN
///   IMMEDIATE` is polled with pauses of 200 µs doubling up to 2 ms (SQLite's own handler sleeps up
///   to 100 ms and is unfair to older waiters) for up to the profile's busy timeout per attempt.
/// - **The wait is bounded.** With a policy deadline `D`, waiting in the queue and for SQLite's lock
///   never extends past `D` from the start of the write, and the engine never starts a sleep that
///   ends past it: a write returns within `D` plus one run of its closure. Without a deadline, each
///   attempt waits at most the busy timeout for SQLite's lock (in-process turns are waited for
///   without limit when the busy timeout is zero), so a write waits at most `max_attempts ×
///   (queue wait + busy timeout)` plus the policy's sleeps.
/// - **Group commit** ([`Store::write_grouped`], for `Send + 'static` closures): concurrent
///   callers share one transaction, run by one of them (the leader) in savepoints; the leader takes
///   the same turn in the queue as any write. Across processes, grouped writers then take turns
///   through a file lock beside the database (`<db>.writer-lock`, shared with the
///   [`Writer`](crate::writer::Writer)) before `BEGIN IMMEDIATE`, waited for under the same bound
///   as SQLite's lock (`write` does not: its two system calls cost 10 % of an uncontended write,
///   measured, for a shorter worst wait across processes but no more throughput); after another process made it wait, a leader lets its group fill (to the
///   size of its last one, for at most 250 µs) so that each lock turn commits one write per
///   waiting caller.
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

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    options: StoreOptions,
    queue: WriteQueue,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    lane: GroupLane,
    /// Opened by the first grouped write (`None` inside: no lock file could be opened).
    process_lock: OnceLock<Option<ProcessLock>>,
    lock_hold: LockHold,
    write_stats: RetryStats,
    read_stats: RetryStats,
}

impl Store {
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
        let path = path.as_ref().to_path_buf();
        let writer = options.profile.open(&path)?;
        // The store waits for SQLite's lock itself (see # Design).
        writer.busy_timeout(Duration::ZERO).map_err(|e| OpenError::sqlite(&path, e))?;
        writer.set_prepared_statement_cache_capacity(64);
        Ok(Store {
            inner: Arc::new(Inner {
                queue: WriteQueue::new(options.barging_window),
                writer: Mutex::new(writer),
                readers: Mutex::new(Vec::new()),
                lane: GroupLane::default(),
                process_lock: OnceLock::new(),
                lock_hold: LockHold::new(options.slow_lock_hold),
                write_stats: RetryStats::new("sqlite.write"),
                read_stats: RetryStats::new("sqlite.read"),
                path,
                options,
            }),
        })
    }

    /// The database file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The options the store was opened with.
    #[must_use]
    pub fn options(&self) -> &StoreOptions {
        &self.inner.options
    }

    /// Lock-hold times of this store's writes.
    #[must_use]
    pub fn lock_hold(&self) -> &LockHold {
        &self.inner.lock_hold
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
    /// [`RetryError`] holding the last `rusqlite::Error` unchanged: at once for a permanent error
    /// (a constraint, an SQL error), after the policy ran out for a retryable one. Nothing of a
    /// failed write is in the database.
    pub fn write<T, F>(&self, f: F) -> Result<T, RetryError<rusqlite::Error>>
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
    pub fn write_with<T, F>(&self, policy: &RetryPolicy, mut f: F) -> Result<T, RetryError<rusqlite::Error>>
    where
        F: FnMut(&Connection) -> rusqlite::Result<T>,
    {
        let inner = &*self.inner;
        let deadline = policy.deadline().map(|d| Instant::now() + d);
        Retry::new(policy)
            .named("sqlite.write")
            .with_observer(&inner.write_stats)
            .call(|| inner.write_once(deadline, &mut f))
    }

    /// As [`Store::write`], but the write may share its transaction with other callers' (group
    /// commit), for closures that can be run by another thread: `Send + 'static`, as for
    /// [`Writer::submit`](crate::writer::Writer::submit).
    ///
    /// Callers of one store that write at the same time are gathered: the first becomes the
    /// *leader* and runs every waiting closure (its own first, at most 256) in one `BEGIN
    /// IMMEDIATE` transaction, each closure's value going back to its caller once `COMMIT`
    /// returned OK. A closure's permanent error (a constraint) fails only that caller: its changes
    /// are rolled back (the group continues with a savepoint per closure) and the others commit.
    /// A retryable error re-runs the *whole group* under the write policy: `f` may run several
    /// times, only the last run counts, and side effects outside the database must be idempotent.
    /// When the group is done, the leader hands the leadership to the oldest caller still waiting
    /// — one thread wake-up per group — so no caller runs more than its own group. A lone caller
    /// pays no hand-off: it leads its own group of one, a plain transaction. As with `write`, `f`
    /// must not write through the same store itself (it would wait for its own group).
    ///
    /// Why: a small transaction spends most of its time in `BEGIN` and `COMMIT`, which SQLite runs
    /// one at a time per file. One transaction per write cannot go faster than one writer
    /// (BENCHMARKS.md: about 0.95× with 16 threads), a shared one can (about 1.8×). A closure
    /// borrowing from its caller's stack cannot be handed to another thread without `unsafe`,
    /// which is why this is a separate method and [`Store::write`] keeps taking any closure.
    ///
    /// The leader waits for the turn among this store's writers (fair with [`Store::write`]) and
    /// for SQLite's lock like any write, under the write policy's deadline; a member's wait is its
    /// leader's plus the groups before it. When the group's transaction gives up, every caller
    /// still waiting for it gets that error. Grouped writers of several processes take turns
    /// through a lock file created beside the database (`<db>.writer-lock`, see the type's
    /// `# Design`).
    ///
    /// # Errors
    ///
    /// As [`Store::write`]: [`RetryError`] with `f`'s own permanent error (reason `Permanent`), or
    /// with the group's last SQLite error (same code and message) when the group's transaction
    /// gave up under the policy; nothing of a failed write is in the database.
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
    pub fn write_grouped<T, F>(&self, f: F) -> Result<T, RetryError<rusqlite::Error>>
    where
        T: Send + 'static,
        F: FnMut(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let inner = &*self.inner;
        let (reply, signals) = std::sync::mpsc::sync_channel(2);
        let mut lead = inner.lane.join(grouped::member(f, reply));
        loop {
            if lead {
                inner.lead_group();
            }
            match signals.recv() {
                Ok(Signal::Done(result)) => return result,
                Ok(Signal::Lead) => lead = true,
                // The leader dropped this write without running it (it panicked).
                Err(_) => {
                    return Err(RetryError::new(
                        grouped::not_run(),
                        0,
                        Duration::ZERO,
                        StopReason::Permanent,
                    ));
                }
            }
        }
    }

    /// How many [`write_grouped`](Store::write_grouped) calls wait for a group right now (not
    /// counting those whose group is running).
    #[must_use]
    pub fn grouped_waiting(&self) -> usize {
        self.inner.lane.waiting()
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

/// The first pause between polls of `BEGIN IMMEDIATE` while another process holds SQLite's lock;
/// each later pause doubles, up to [`POLL_MAX`]. Polling every 50–200 µs took SQLite's lock from
/// the holding process at almost every gap between its writes (each switch costs the newcomer a
/// re-read of its pages); 200 µs → 2 ms leaves the holder longer streaks (STORE_RESULTS.md).
const POLL_FIRST: Duration = Duration::from_micros(200);
/// The longest pause between polls of `BEGIN IMMEDIATE`.
const POLL_MAX: Duration = Duration::from_millis(2);

/// `BEGIN IMMEDIATE` on the write connection, polled while another process holds SQLite's lock
/// (see [`POLL_FIRST`]) until `wait_until` (no pause ends past it); then the last SQLITE_BUSY is
/// returned. A holder that had to wait tells the queue ([`Turn::contended`]): this process's
/// writers then write in streaks (a longer barging window) instead of handing SQLite's lock back to
/// the other processes at once.
fn begin_polled<'c>(
    conn: &'c Connection,
    wait_until: Instant,
    turn: &Turn<'_>,
) -> rusqlite::Result<WriteTx<'c>> {
    let mut pause = POLL_FIRST;
    let mut waited = false;
    loop {
        // One attempt: with `wait_until` now, `begin` returns SQLITE_BUSY instead of sleeping.
        match WriteTx::begin(conn, Instant::now()) {
            Ok(tx) => {
                if waited {
                    turn.contended();
                }
                return Ok(tx);
            }
            Err(e) if e.classify().is_retryable() => {
                // The last pause is cut short to end at `wait_until`, for one last poll: with pauses
                // of up to 2 ms, giving up before a pause that would end too late could forgo most of
                // a short wait.
                let now = Instant::now();
                if now >= wait_until {
                    return Err(e);
                }
                std::thread::sleep(pause.min(wait_until - now));
                waited = true;
                pause = (pause * 2).min(POLL_MAX);
            }
            Err(e) => return Err(e),
        }
    }
}

impl Inner {
    fn write_once<T, F>(&self, deadline: Option<Instant>, f: &mut F) -> rusqlite::Result<T>
    where
        F: FnMut(&Connection) -> rusqlite::Result<T>,
    {
        self.transact_once(deadline, None, |conn| f(conn).map(|value| (value, true)))
    }

    /// One attempt: waits for this process's turn, then (with `process_lock`) for other
    /// processes' writers, then for SQLite's lock (each until `deadline` at the latest), runs
    /// `body` in `BEGIN IMMEDIATE` and commits when it returns `(value, true)` (rolls back on
    /// `(value, false)` or an error). Records the lock-hold time.
    fn transact_once<T>(
        &self,
        deadline: Option<Instant>,
        process_lock: Option<&ProcessLock>,
        body: impl FnOnce(&Connection) -> rusqlite::Result<(T, bool)>,
    ) -> rusqlite::Result<T> {
        let busy_timeout = self.options.profile.busy_timeout();
        let queue_deadline =
            deadline.or_else(|| (!busy_timeout.is_zero()).then(|| Instant::now() + busy_timeout));
        let turn = self.queue.acquire(queue_deadline).map_err(|_| self.queue_timeout())?;
        // Taken with the turn held, so that one thread of this store uses the lock at a time.
        let _held = process_lock.map(|lock| lock.hold_until(self.lock_wait_until(deadline)));
        let conn = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let tx = begin_polled(&conn, self.lock_wait_until(deadline), &turn)?;
        let began = Instant::now();
        let result = body(tx.conn()).and_then(|(value, commit)| {
            if commit {
                tx.commit()?;
            }
            Ok(value)
        });
        self.lock_hold.record(began.elapsed(), &self.path);
        result.map_err(|e| super::file_errors::name_file(&conn, e))
    }

    /// Runs the waiting callers' closures (at most [`MAX_GROUP`], this caller's first; taken once
    /// SQLite's lock is held, topped up on a retry) in one transaction under the write policy,
    /// replies to each, and passes the leadership on — also if something here panics, so that
    /// the callers still waiting are never stranded.
    fn lead_group(&self) {
        struct PassOn<'a>(&'a GroupLane);
        impl Drop for PassOn<'_> {
            fn drop(&mut self) {
                self.0.pass_on();
            }
        }
        let _pass_on = PassOn(&self.lane);
        let mut members = Vec::new();
        let policy = &self.options.write_policy;
        let started = Instant::now();
        let deadline = policy.deadline().map(|d| started + d);
        let mut attempts = 0;
        // Grouped writers of other processes queue for the file lock rather than poll SQLite's.
        let process_lock = self.process_lock.get_or_init(|| ProcessLock::beside(&self.path)).as_ref();
        if process_lock.is_some_and(ProcessLock::contended) {
            self.lane.fill(CONTENDED_FILL);
        }
        let result = Retry::new(policy).named("sqlite.write").with_observer(&self.write_stats).call(|| {
            attempts += 1;
            self.transact_once(deadline, process_lock, |conn| {
                // Taken once SQLite's lock is held: callers that queued while the leader waited
                // for its turn or for another process join this transaction.
                members.extend(self.lane.take(MAX_GROUP - members.len()));
                run_members(conn, conn, &mut members).map(|commit| ((), commit))
            })
        });
        if result.is_err() {
            // The transaction they waited for gave up: so do those still waiting for it (the
            // leader's own write among them, if SQLite's lock was never had), each having waited
            // no longer than the leader's policy.
            members.extend(self.lane.take(MAX_GROUP - members.len()));
        }
        let end = GroupEnd { result: result.as_ref().map(drop), attempts, elapsed: started.elapsed() };
        for member in members {
            member.complete(&end);
        }
    }

    /// How long one attempt may wait for another process's lock: the busy timeout, never past
    /// the write's deadline.
    fn lock_wait_until(&self, deadline: Option<Instant>) -> Instant {
        let wait_until = Instant::now() + self.options.profile.busy_timeout();
        deadline.map_or(wait_until, |deadline| wait_until.min(deadline))
    }

    fn queue_timeout(&self) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            Some(format!(
                "database is locked: the deadline passed while waiting for this process's turn to write {}",
                self.path.display()
            )),
        )
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
        let conn = self.options.profile.open(&self.path).map_err(OpenError::into_sqlite_error)?;
        conn.execute_batch("PRAGMA query_only = 1")?;
        Ok(conn)
    }
}
