//! THE transaction attempt, used by every write path ([`Store::write`](super::Store::write),
//! [`Store::write_grouped`](super::Store::write_grouped), the [`Writer`](crate::writer::Writer)'s
//! groups and ingest batches): wait for this process's turn, for other processes' writers and for
//! SQLite's lock — each bounded by the call's [`Deadline`] — then `BEGIN IMMEDIATE`, the body,
//! `COMMIT`, and the lock hold recorded. The caller's [`Retry`](crate::Retry) re-runs it whole.
//!
//! BEGIN, COMMIT and ROLLBACK are prepared once and cached on the connection: a small write
//! transaction costs a few microseconds, and parsing those three statements again on every write
//! would be a measurable part of it.

use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::write_side::WriteSide;
use crate::classify::Classify;
use crate::deadline::Deadline;

/// The first pause between polls of `BEGIN IMMEDIATE` while another connection holds SQLite's
/// lock; each later pause doubles, up to [`POLL_MAX`]. Each poll is a read transaction for a moment,
/// and a reader with an older snapshot keeps the committing process's checkpoint from finishing and
/// the WAL from restarting, so that every later commit checkpoints again (an fsync of the WAL each;
/// shorter pauses made many times as many). Polling every 50–200 µs also took SQLite's lock from the
/// holding process at almost every gap between its writes (each switch costs the newcomer a re-read
/// of its pages). 1 ms → 5 ms kept the Writer without the writers' lock near the old busy
/// handler's throughput with a far shorter worst wait, and `Store::write` across processes where it
/// was; the figures are in BENCHMARKS.md ("One write path, one deadline", third session).
const POLL_FIRST: Duration = Duration::from_millis(1);
/// The longest pause between polls of `BEGIN IMMEDIATE`.
const POLL_MAX: Duration = Duration::from_millis(5);

impl WriteSide {
    /// One attempt (see the module docs). `body` runs inside the transaction and returns its value
    /// and whether to commit (`false`: roll back, e.g. every member of a group was rejected).
    /// `cross_process`: take the writers' lock beside the database first, so that sqlretry writers
    /// of other processes queue in the kernel instead of polling SQLite.
    ///
    /// Each wait ends by `deadline`; waiting for SQLite's lock also ends after the busy timeout
    /// (per attempt). With no deadline and a zero busy timeout, the in-process turn is waited for
    /// without limit (a caller asked for no bound) and SQLite's lock is tried once.
    ///
    /// # Errors
    ///
    /// The body's error, SQLite's (SQLITE_BUSY when the lock was not had in time, a busy COMMIT),
    /// or SQLITE_BUSY naming the file when the deadline passed while waiting for the turn.
    pub(crate) fn attempt<T>(
        &self,
        deadline: Deadline,
        cross_process: bool,
        body: impl FnOnce(&Connection) -> rusqlite::Result<(T, bool)>,
    ) -> rusqlite::Result<T> {
        let now = Instant::now();
        let turn_deadline = if deadline == Deadline::NONE && !self.busy_timeout().is_zero() {
            Deadline::after(now, self.busy_timeout())
        } else {
            deadline
        };
        let turn =
            self.turns.acquire(turn_deadline.instant()).map_err(|_| self.timed_out("this process's turn"))?;
        let lock_wait = Deadline::after(Instant::now(), self.busy_timeout()).earlier(deadline);
        let lock_until = lock_wait.instant().unwrap_or_else(Instant::now);
        // Taken with the turn held, so that one thread of this process uses the lock at a time.
        let _held =
            if cross_process { self.process_lock().map(|lock| lock.hold_until(lock_until)) } else { None };
        let conn = self.conn();
        let (tx, waited) = begin_polled(&conn, lock_until)?;
        if waited {
            // This process's writers then write in streaks instead of handing SQLite's lock
            // back to the other processes at once.
            turn.contended();
        }
        let began = Instant::now();
        let result = body(&conn).and_then(|(value, commit)| {
            if commit {
                tx.commit()?;
            }
            Ok(value)
        });
        self.lock_hold().record(began.elapsed(), self.path());
        if result.is_ok() {
            self.committed(&conn);
        }
        // An error about the file itself (full, I/O, read-only, corrupt) names it.
        result.map_err(|e| super::file_errors::name_file(&conn, e))
    }

    /// The error of a wait that the deadline ended before SQLite was even asked: SQLITE_BUSY (the
    /// file is busy with this process's other writers), naming the file and what was waited for.
    pub(crate) fn timed_out(&self, waiting_for: &str) -> rusqlite::Error {
        timed_out(self.path(), waiting_for)
    }
}

/// SQLITE_BUSY, naming `path` and what the deadline ended the wait for.
pub(crate) fn timed_out(path: &std::path::Path, waiting_for: &str) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
        Some(format!(
            "database is locked: the deadline passed while waiting for {waiting_for} to write {}",
            path.display()
        )),
    )
}

/// `BEGIN IMMEDIATE`, polled while another connection holds SQLite's lock (see [`POLL_FIRST`])
/// until `wait_until` (the last pause is cut short to end there, for one last poll); then the last
/// SQLITE_BUSY is returned. With the transaction: whether it had to wait for it. Also used by
/// [`write_on`](super::write_on) on a connection the caller brings.
pub(crate) fn begin_polled(conn: &Connection, wait_until: Instant) -> rusqlite::Result<(WriteTx<'_>, bool)> {
    let mut pause = POLL_FIRST;
    let mut waited = false;
    loop {
        match WriteTx::begin(conn) {
            Ok(tx) => return Ok((tx, waited)),
            Err(e) if e.classify().is_retryable() => {
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

/// An open write transaction; rolled back on drop unless [`WriteTx::commit`] succeeded.
pub(crate) struct WriteTx<'c> {
    conn: &'c Connection,
    open: bool,
}

impl<'c> WriteTx<'c> {
    /// One `BEGIN IMMEDIATE` (SQLITE_BUSY at once when another connection holds the lock).
    fn begin(conn: &'c Connection) -> rusqlite::Result<WriteTx<'c>> {
        if !conn.is_autocommit() {
            // A closure left a transaction open by hand; start from a clean state.
            conn.prepare_cached("ROLLBACK")?.execute([])?;
        }
        conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
        Ok(WriteTx { conn, open: true })
    }

    /// The connection, inside the transaction.
    pub(crate) fn conn(&self) -> &'c Connection {
        self.conn
    }

    /// `COMMIT`. On an error (SQLITE_BUSY at COMMIT included) the transaction is rolled back when
    /// `self` is dropped, and the caller's policy re-runs it whole:
    /// a busy `COMMIT` cannot be retried alone, the snapshot it read may be stale.
    pub(crate) fn commit(mut self) -> rusqlite::Result<()> {
        self.conn.prepare_cached("COMMIT")?.execute([])?;
        self.open = false;
        Ok(())
    }
}

impl Drop for WriteTx<'_> {
    fn drop(&mut self) {
        if self.open && !self.conn.is_autocommit() {
            let rollback = self.conn.prepare_cached("ROLLBACK").and_then(|mut s| s.execute([]));
            if let Err(error) = rollback {
                tracing::warn!(%error, "cannot roll back a failed write transaction");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::{ConnectionProfile, WriteSideOptions};

    fn side(dir: &tempfile::TempDir) -> WriteSide {
        let profile = ConnectionProfile::default().with_busy_timeout(Duration::from_millis(50));
        let options = WriteSideOptions::default().with_profile(profile).with_barging_window(Duration::ZERO);
        WriteSide::open(&dir.path().join("a.db"), &options).unwrap()
    }

    #[test]
    fn rolls_back_unless_committed_and_records_each_hold() {
        let dir = tempfile::tempdir().unwrap();
        let side = side(&dir);
        side.attempt(Deadline::NONE, false, |c| c.execute_batch("CREATE TABLE t (x)").map(|()| ((), true)))
            .unwrap();
        side.attempt(Deadline::NONE, false, |c| {
            c.execute("INSERT INTO t VALUES (1)", []).map(|_| ((), false))
        })
        .unwrap();
        let err = side
            .attempt(Deadline::NONE, false, |c| {
                c.execute("INSERT INTO t VALUES (3)", [])?;
                c.execute("INSERT INTO nope VALUES (3)", []).map(|_| ((), true))
            })
            .unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
        side.attempt(Deadline::NONE, false, |c| {
            c.execute("INSERT INTO t VALUES (2)", []).map(|_| ((), true))
        })
        .unwrap();
        let conn = side.conn();
        let xs: Vec<i64> = conn
            .prepare("SELECT x FROM t")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(xs, [2]);
        assert!(conn.is_autocommit());
        assert_eq!(side.lock_hold().snapshot().count, 4);
    }

    #[test]
    fn a_held_lock_is_waited_for_no_longer_than_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let side = side(&dir);
        let other = Connection::open(dir.path().join("a.db")).unwrap();
        other.execute_batch("BEGIN EXCLUSIVE").unwrap();
        let ran = std::cell::Cell::new(false);
        // The busy timeout (50 ms) bounds one attempt when the deadline is later ...
        let err = side
            .attempt(Deadline::after(Instant::now(), Duration::from_secs(60)), false, |_| {
                ran.set(true);
                Ok(((), true))
            })
            .unwrap_err();
        assert_eq!(crate::sqlite::extended_code(&err), Some(rusqlite::ffi::SQLITE_BUSY));
        // ... and a passed deadline ends the wait at the first refusal.
        let err = side.attempt(Deadline::at(Instant::now()), false, |_| Ok(((), true))).unwrap_err();
        assert_eq!(crate::sqlite::extended_code(&err), Some(rusqlite::ffi::SQLITE_BUSY));
        assert!(!ran.get(), "the body never runs without the lock");
    }
}
