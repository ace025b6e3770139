//! [`GroupCommit`]: a running engine as its users hold it — submit (blocking, try, pipelined,
//! async), metrics, health, shutdown. A [`Writer`](crate::writer::Writer) holds one, and so does
//! a [`Store`](crate::sqlite::Store) once it made a grouped write.

use std::sync::Arc;
use std::time::Instant;

use rusqlite::Connection;

use super::engine::{Engine, Owner};
use super::metrics::WriterMetricsSnapshot;
use super::options::GroupOptions;
use super::queue::Pushed;
use super::request::{Reply, request};
use crate::deadline::Deadline;
use crate::policy::RetryPolicy;
use crate::sqlite::write_error::WriteError;
use crate::sqlite::write_side::WriteSide;

/// A running engine: cloneable; the last clone stops it (drain, commit, join).
#[derive(Clone)]
pub(crate) struct GroupCommit {
    pub(crate) engine: Arc<Engine>,
    pub(crate) owner: Arc<Owner>,
}

/// A request queued by [`Writer::enqueue`](crate::writer::Writer::enqueue): its result, once its
/// group transaction committed.
///
/// # Examples
///
/// ```
/// use sqlretry::writer::Writer;
///
/// let dir = tempfile::tempdir()?;
/// let writer = Writer::open(dir.path().join("app.db"))?;
/// let pending = writer.enqueue(|tx| tx.execute_batch("CREATE TABLE t (v INTEGER)"))?;
/// pending.wait()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a pending write's result says whether it committed"]
#[derive(Debug)]
pub struct Pending<T> {
    rx: std::sync::mpsc::Receiver<Result<T, WriteError>>,
}

impl<T> Pending<T> {
    /// Blocks until the request's transaction committed (or the request failed) and returns its
    /// result, as [`Writer::submit`](crate::writer::Writer::submit) would have.
    ///
    /// # Errors
    ///
    /// As [`Writer::submit`](crate::writer::Writer::submit).
    pub fn wait(self) -> Result<T, WriteError> {
        // Bounded without a timer of its own: the request's group ends by the request's deadline
        // (a request still queued past it fails unrun), and if the engine's thread ends, its guard
        // fails every queued request at once (the sender is then dropped: `Closed`). A timeout here
        // could report a failure for a write that commits a moment later.
        self.rx.recv().unwrap_or(Err(WriteError::Closed))
    }
}

impl GroupCommit {
    /// Starts an engine on `side`: groups retried under `policy`, formed as `options` say.
    pub(crate) fn start(
        side: Arc<WriteSide>,
        policy: RetryPolicy,
        options: GroupOptions,
    ) -> std::io::Result<Self> {
        let (engine, owner) = Owner::start(side, policy, options)?;
        Ok(GroupCommit { engine, owner })
    }

    /// Queues `f` and waits for its group to commit; leads the group if the engine is idle.
    /// `block`: wait for room in a full queue (within the request's deadline), else
    /// [`WriteError::Full`].
    pub(crate) fn submit<T, F>(&self, f: F, block: bool) -> Result<T, WriteError>
    where
        T: Send + 'static,
        F: FnMut(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.push(f, block, Some(self.engine.options.max_group), || ())?.wait()
    }

    /// As [`GroupCommit::submit`] (blocking), calling `queued` once the request is in the queue
    /// (before it may lead its group), and `done` once its result arrived — only if it was
    /// queued: a store counts its grouped writes under way with them.
    pub(crate) fn submit_counted<T, F>(
        &self,
        f: F,
        queued: impl FnOnce(),
        done: impl FnOnce(),
    ) -> Result<T, WriteError>
    where
        T: Send + 'static,
        F: FnMut(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let pending = self.push(f, true, Some(self.engine.options.max_group), queued)?;
        let result = pending.wait();
        done();
        result
    }

    /// Queues `f` without waiting for it (never leads: the caller goes on producing).
    pub(crate) fn enqueue<T, F>(&self, f: F) -> Result<Pending<T>, WriteError>
    where
        T: Send + 'static,
        F: FnMut(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.push(f, true, None, || ())
    }

    fn push<T, F>(
        &self,
        f: F,
        block: bool,
        lead: Option<usize>,
        queued: impl FnOnce(),
    ) -> Result<Pending<T>, WriteError>
    where
        T: Send + 'static,
        F: FnMut(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let job = request(f, Reply::Sync(tx), self.deadline());
        let pushed = self.engine.queue.push(job, block, lead, &self.engine.metrics)?;
        queued();
        if let Pushed::Lead(group) = pushed {
            self.engine.lead(group);
        }
        Ok(Pending { rx })
    }

    /// Queues `f` for the engine's thread and awaits its group's commit; waits (async) for room.
    #[cfg(feature = "tokio")]
    pub(crate) async fn submit_async<T, F>(&self, f: F) -> Result<T, WriteError>
    where
        T: Send + 'static,
        F: FnMut(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mut job = request(f, Reply::Async(tx), self.deadline());
        loop {
            let notified = self.engine.queue.space_notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.engine.queue.push_or_return(job, &self.engine.metrics)? {
                Ok(()) => break,
                Err(back) => job = back,
            }
            notified.await;
        }
        rx.await.unwrap_or(Err(WriteError::Closed))
    }

    /// A request's deadline, fixed now.
    fn deadline(&self) -> Deadline {
        Deadline::from_policy(&self.engine.policy, Instant::now())
    }

    /// A point-in-time copy of the metrics.
    pub(crate) fn metrics(&self) -> WriterMetricsSnapshot {
        self.engine.metrics.snapshot(self.engine.side.lock_hold())
    }

    /// `None` when healthy, else why not (see `WriterMetrics::health`).
    pub(crate) fn health(&self) -> Option<String> {
        self.engine
            .metrics
            .health()
            .or_else(|| self.owner.thread_finished().then(|| "the writer is shut down".to_owned()))
    }

    /// Stops intake, drains, commits and joins the thread (see [`Owner::shutdown`]).
    pub(crate) fn shutdown(&self) -> Result<(), WriteError> {
        self.owner.shutdown()
    }
}
