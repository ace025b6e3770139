//! [`Store::write_grouped`]: a [`Store`]'s writes as a lane of the one group-commit engine, the
//! [`Writer`]'s — started on the store's own write side (same connection, same fair turns as
//! [`Store::write`], same writers' lock and lock-hold histogram) by the first grouped write, and
//! joined when the last clone of the store is dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rusqlite::Connection;

use super::error::WriteError;
use super::handle::Writer;
use super::options::WriterOptions;
use crate::sqlite::Store;

/// The most closures one grouped transaction runs.
pub(crate) const MAX_GROUP: usize = 256;
/// Grouped writes waiting at most (past it, `write_grouped` waits for room, within its deadline).
const QUEUE_CAPACITY: usize = 16_384;

impl Store {
    /// As [`Store::write`], but the write may share its transaction with other callers' (group
    /// commit), for closures that can be run by another thread: `Send + 'static`, as for
    /// [`Writer::submit`].
    ///
    /// Grouped writes are a lane of the [`Writer`]'s group-commit engine, started on this store's
    /// own write connection by the first grouped write: a lone caller runs its own group (a plain
    /// transaction, no hand-off); callers arriving while a group runs are gathered into the next
    /// one (at most 256), which the engine's thread runs in one `BEGIN IMMEDIATE` transaction, each
    /// closure's value going back to its caller once `COMMIT` returned OK. A closure's permanent
    /// error (a constraint) fails only that caller: its changes are rolled back (a savepoint per
    /// closure) and the others commit. A retryable error re-runs the *whole group* under the write
    /// policy: `f` may run several times, only the last run counts, and side effects outside the
    /// database must be idempotent. `f` must not write through the same store itself (it would
    /// wait for its own group).
    ///
    /// Why: a small transaction spends most of its time in `BEGIN` and `COMMIT`, which SQLite runs
    /// one at a time per file. One transaction per write cannot go faster than one writer, a shared
    /// one can (BENCHMARKS.md). A closure borrowing from its caller's stack cannot be handed to
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
    /// [`WriteError::Closed`] if the lane could not start. Nothing of a failed write is in the
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
        let lane = self.lane()?;
        lane.in_flight.fetch_add(1, Ordering::SeqCst);
        let result = lane.writer.submit(f);
        lane.in_flight.fetch_sub(1, Ordering::SeqCst);
        result
    }

    /// As [`Store::write_grouped`], for async code (tokio): the write is queued on the store's
    /// group-commit lane and awaited without blocking the runtime — SQLite never runs on a
    /// runtime thread. Many tasks awaiting one write each share transactions, as threads do with
    /// `write_grouped`, but a task's wake-up costs far less than a thread's (BENCHMARKS.md).
    ///
    /// Which async write to pick: this one when the service already has a [`Store`] (its reads,
    /// its state store) and writes closures; [`Writer::submit_async`] when the service owns a
    /// [`Writer`] (ingest lanes, dead letters, writer metrics). Both are the same engine. For a
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
        self.lane()?.writer.submit_async(f).await
    }

    /// How many [`write_grouped`](Store::write_grouped) calls are under way right now: queued, or
    /// in a group that has not committed yet.
    #[must_use]
    pub fn grouped_waiting(&self) -> usize {
        self.inner()
            .attached()
            .get()
            .and_then(|a| a.downcast_ref::<Lane>())
            .map_or(0, |l| l.in_flight.load(Ordering::SeqCst))
    }

    /// The grouped-write lane, started on first use.
    fn lane(&self) -> Result<&Lane, WriteError> {
        let inner = self.inner();
        if let Some(lane) = inner.attached().get().and_then(|a| a.downcast_ref::<Lane>()) {
            return Ok(lane);
        }
        let mut options = WriterOptions::default()
            .with_name(format!("store {}", inner.side().path().display()))
            .with_policy(inner.options().write_policy().clone())
            .with_max_batch(MAX_GROUP)
            .with_queue_capacity(QUEUE_CAPACITY);
        options.also_observed_by = Some(Arc::clone(inner.write_stats()));
        let writer = Writer::on_side(Arc::clone(inner.side()), options).map_err(|error| {
            tracing::error!(%error, "the grouped-write lane could not start");
            WriteError::Closed
        })?;
        // Two first grouped writes at once: one lane wins, the other is shut down unused.
        let attached =
            inner.attached().get_or_init(|| Box::new(Lane { writer, in_flight: AtomicUsize::new(0) }));
        attached.downcast_ref::<Lane>().ok_or(WriteError::Closed)
    }
}

/// A store's grouped-write lane: the engine, and the calls under way.
struct Lane {
    writer: Writer,
    in_flight: AtomicUsize,
}
