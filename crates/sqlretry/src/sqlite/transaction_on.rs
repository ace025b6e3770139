//! Bring your own connection: [`write_on`] and [`write_on_until`] run the whole-transaction retry
//! on any `&mut rusqlite::Connection` — one from a pool (r2d2_sqlite, deadpool-sqlite), the one on
//! tokio-rusqlite's thread, or one a user opened by hand.
//!
//! One attempt is the same as a [`Store`](super::Store) write's: `BEGIN IMMEDIATE` polled while
//! another connection holds SQLite's write lock (at most the connection's own busy timeout, never
//! past the deadline), the closure, `COMMIT`; an error is classified by its result code
//! ([`classify_code`](super::classify_code)) and a retryable one re-runs the *whole* transaction
//! under the policy: a statement retried alone could build on a stale snapshot.

use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::attempt::begin_polled;
use super::write_error::{Origin, WriteError};
use crate::deadline::Deadline;
use crate::policy::RetryPolicy;
use crate::retry::Retry;

/// Runs `f` inside `BEGIN IMMEDIATE … COMMIT` on `conn`, re-running it whole under `policy` after a
/// retryable error, the whole call bounded by the policy's deadline. Returns `f`'s value once
/// `COMMIT` returned OK.
///
/// `f` gets the connection with the transaction open: run statements on it, but do not
/// `COMMIT`/`ROLLBACK` by hand. `f` may run several times; only the last run counts, so side
/// effects outside the database must be idempotent. A transaction the connection had left open
/// is rolled back first.
///
/// The connection's busy timeout (`PRAGMA busy_timeout`, rusqlite's default is 5 s) is how long
/// one attempt waits for another connection's write lock; while waiting, SQLite's own busy handler
/// is switched off and `BEGIN IMMEDIATE` is polled instead, so that no wait ends past the
/// deadline. For the closure and `COMMIT` the busy timeout is cut to the time left. The
/// connection's busy timeout is restored before this returns.
///
/// # Errors
///
/// As [`Store::write`](super::Store::write): [`WriteError::Rejected`] with `f`'s own permanent
/// error (a constraint, an SQL error), at once; [`WriteError::NotCommitted`] with SQLite's last
/// error once the policy ran out on a retryable one (SQLITE_BUSY at `BEGIN` or at `COMMIT`,
/// BUSY_SNAPSHOT, …). Nothing of a failed write is in the database.
///
/// # Examples
///
/// On a connection from an r2d2 pool (the same code runs in `compat/r2d2_sqlite`):
///
/// ```
/// use r2d2_sqlite::SqliteConnectionManager;
/// use sqlretry::RetryPolicy;
/// use sqlretry::sqlite::write_on;
/// use std::time::Duration;
///
/// let dir = tempfile::tempdir()?;
/// let manager = SqliteConnectionManager::file(dir.path().join("app.db"))
///     .with_init(|c| c.execute_batch("PRAGMA journal_mode = WAL"));
/// let pool = r2d2::Pool::builder().max_size(4).build(manager)?;
/// let policy = RetryPolicy::builder().max_attempts(20).deadline(Duration::from_secs(5)).build()?;
///
/// let mut conn = pool.get()?;
/// write_on(&mut conn, &policy, |tx| {
///     tx.execute_batch("CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL);
///                       INSERT OR IGNORE INTO counter VALUES (1, 0)")
/// })?;
/// // Read, then write: safe under contention, because the transaction began IMMEDIATE.
/// let n = write_on(&mut conn, &policy, |tx| {
///     let n: i64 = tx.query_row("SELECT n FROM counter WHERE id = 1", [], |r| r.get(0))?;
///     tx.execute("UPDATE counter SET n = ?1 WHERE id = 1", [n + 1])?;
///     Ok(n + 1)
/// })?;
/// assert_eq!(n, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// With deadpool-sqlite, inside `Object::interact` (`compat/deadpool_sqlite` runs it):
///
/// ```text
/// let object = pool.get().await?;
/// let n = object
///     .interact(move |conn| write_on(conn, &policy, |tx| tx.execute("UPDATE counter SET n = n + 1", [])))
///     .await??;
/// ```
pub fn write_on<T, F>(conn: &mut Connection, policy: &RetryPolicy, f: F) -> Result<T, WriteError>
where
    F: FnMut(&Connection) -> rusqlite::Result<T>,
{
    write_on_until(conn, policy, Deadline::NONE, f)
}

/// As [`write_on`], bounded by `deadline` as well as by the policy's own deadline (the earlier
/// wins): every wait — for SQLite's lock, between attempts — ends by it. Pass the deadline of the
/// request this write belongs to, so that the layers above and below share one bound.
///
/// # Errors
///
/// As [`write_on`].
///
/// # Examples
///
/// ```
/// use sqlretry::{Deadline, RetryPolicy};
/// use sqlretry::sqlite::write_on_until;
/// use std::time::{Duration, Instant};
///
/// let mut conn = rusqlite::Connection::open_in_memory()?;
/// let deadline = Deadline::after(Instant::now(), Duration::from_millis(500));
/// let rows = write_on_until(&mut conn, &RetryPolicy::store_writes(), deadline, |tx| {
///     tx.execute_batch("CREATE TABLE t (x)")?;
///     tx.execute("INSERT INTO t VALUES (1)", [])
/// })?;
/// assert_eq!(rows, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_on_until<T, F>(
    conn: &mut Connection,
    policy: &RetryPolicy,
    deadline: Deadline,
    mut f: F,
) -> Result<T, WriteError>
where
    F: FnMut(&Connection) -> rusqlite::Result<T>,
{
    let deadline = deadline.earlier(Deadline::from_policy(policy, Instant::now()));
    let conn = &*conn;
    let origin = Origin::default();
    origin.outcome(Retry::new(policy).named("sqlite.write_on").until(deadline).call(|| {
        origin.attempt();
        attempt(conn, deadline, &mut |c: &Connection| origin.body(f(c)))
    }))
}

/// One attempt: `BEGIN IMMEDIATE` (polled, within the busy timeout and the deadline), `f`, `COMMIT`.
fn attempt<T, F>(conn: &Connection, deadline: Deadline, f: &mut F) -> rusqlite::Result<T>
where
    F: FnMut(&Connection) -> rusqlite::Result<T>,
{
    let busy = BusyTimeout::suspend(conn)?;
    let now = Instant::now();
    let (tx, _waited) = begin_polled(conn, now + deadline.bound(now, busy.original))?;
    busy.cut_to(deadline.bound(Instant::now(), busy.original))?;
    let value = f(tx.conn())?;
    tx.commit()?;
    Ok(value)
    // Dropped in reverse order: the transaction (rolled back unless committed), then the busy
    // timeout (restored).
}

/// The connection's busy timeout, switched off or cut for one attempt and restored on drop.
struct BusyTimeout<'c> {
    conn: &'c Connection,
    original: Duration,
}

impl<'c> BusyTimeout<'c> {
    /// Reads the busy timeout and switches SQLite's busy handler off.
    fn suspend(conn: &'c Connection) -> rusqlite::Result<BusyTimeout<'c>> {
        let millis: i64 = conn.prepare_cached("PRAGMA busy_timeout")?.query_row([], |r| r.get(0))?;
        let original = Duration::from_millis(u64::try_from(millis).unwrap_or(0));
        conn.busy_timeout(Duration::ZERO)?;
        Ok(BusyTimeout { conn, original })
    }

    /// Sets the busy timeout to `wait` (SQLite counts whole milliseconds).
    fn cut_to(&self, wait: Duration) -> rusqlite::Result<()> {
        self.conn.busy_timeout(wait)
    }
}

impl Drop for BusyTimeout<'_> {
    fn drop(&mut self) {
        if let Err(error) = self.conn.busy_timeout(self.original) {
            tracing::warn!(%error, "cannot restore the connection's busy timeout");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::SQLITE_BUSY;

    fn busy_timeout(conn: &Connection) -> i64 {
        conn.query_row("PRAGMA busy_timeout", [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn commits_and_restores_the_busy_timeout() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.busy_timeout(Duration::from_millis(1234)).unwrap();
        let policy = RetryPolicy::store_writes();
        write_on(&mut conn, &policy, |tx| tx.execute_batch("CREATE TABLE t (x)")).unwrap();
        let seen = write_on(&mut conn, &policy, |tx| {
            tx.execute("INSERT INTO t VALUES (1)", [])?;
            Ok(busy_timeout(tx))
        })
        .unwrap();
        // Cut to the time left (no deadline: the original) while the transaction ran; restored after.
        assert_eq!(seen, 1234);
        assert_eq!(busy_timeout(&conn), 1234);
        assert!(conn.is_autocommit());
        let n: i64 = conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn a_permanent_error_rolls_back_and_is_not_retried() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (x NOT NULL)").unwrap();
        let mut runs = 0;
        let err = write_on(&mut conn, &RetryPolicy::store_writes(), |tx| {
            runs += 1;
            tx.execute("INSERT INTO t VALUES (1)", [])?;
            tx.execute("INSERT INTO t VALUES (NULL)", [])
        })
        .unwrap_err();
        assert_eq!(runs, 1);
        assert_eq!(err.attempts(), 1);
        assert!(matches!(err, WriteError::Rejected { .. }), "{err:?}");
        assert_eq!(
            err.sqlite_error().and_then(|e| e.sqlite_error_code()),
            Some(rusqlite::ErrorCode::ConstraintViolation)
        );
        let n: i64 = conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 0);
        assert!(conn.is_autocommit());
    }

    #[test]
    fn a_held_lock_gives_busy_by_the_deadline_and_the_busy_timeout_comes_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let holder = Connection::open(&path).unwrap();
        holder.execute_batch("CREATE TABLE t (x); BEGIN IMMEDIATE").unwrap();
        let mut conn = Connection::open(&path).unwrap();
        // The busy timeout (5 s) would wait far past the deadline; the deadline wins.
        conn.busy_timeout(Duration::from_secs(5)).unwrap();
        let started = Instant::now();
        let deadline = Deadline::after(started, Duration::from_millis(100));
        let err = write_on_until(&mut conn, &RetryPolicy::store_writes(), deadline, |tx| {
            tx.execute("INSERT INTO t VALUES (1)", [])
        })
        .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(4), "waited {:?}", started.elapsed());
        assert!(matches!(err, WriteError::NotCommitted(_)), "{err:?}");
        assert_eq!(err.extended_code(), Some(SQLITE_BUSY));
        assert_eq!(busy_timeout(&conn), 5000);
        holder.execute_batch("COMMIT").unwrap();
    }
}
