//! The bounded request queue and the leadership token of group commit.
//!
//! `busy` is the token: whoever sets it (a submitting thread that found the writer idle, or the
//! engine's thread) drains the queue into a group and runs it; nobody else takes requests meanwhile.
//! All state changes happen under one mutex, and every wait re-checks its condition, so no wake-up
//! is lost.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::CONTENDED_FILL;
use super::metrics::WriterMetrics;
use super::request::Job;
use crate::sqlite::write_error::WriteError;

pub(crate) struct Queue {
    state: Mutex<State>,
    /// The engine's thread waits here: work queued, background work ready, close, abandon.
    work: Condvar,
    /// Blocked synchronous submitters wait here for room.
    space: Condvar,
    #[cfg(feature = "tokio")]
    space_async: tokio::sync::Notify,
    capacity: usize,
}

#[derive(Default)]
struct State {
    jobs: VecDeque<Box<dyn Job>>,
    closed: bool,
    abandoned: bool,
    busy: bool,
    background_ready: bool,
    /// The size of the last group taken: under load, the engine's thread waits (up to the window)
    /// until as many requests are queued again, so that groups keep the size the load gives them.
    last_group: usize,
    /// The engine's thread is waiting for `last_group` requests; a push reaching it wakes it.
    filling: bool,
    /// Another process recently made this one wait for the process lock (`ProcessLock`):
    /// submitters queue instead of leading, and the engine's thread lets each group fill (to
    /// `last_group`, for up to `CONTENDED_FILL`) before it waits for the lock, so that each lock
    /// turn commits as many requests as this process has callers.
    contended: bool,
}

/// What the engine's thread should do next.
pub(crate) enum Work {
    /// Run this group (the thread holds the token; release it afterwards).
    Group(Vec<Box<dyn Job>>),
    /// Run the background work that is due (a writer's ingest flushes).
    Background,
    /// Closed and drained: run everything left and stop.
    Exit,
    /// The drop deadline passed: give up on what is left and stop.
    Abandon(Vec<Box<dyn Job>>),
}

/// The outcome of a push.
pub(crate) enum Pushed {
    /// Queued; someone else runs it.
    Queued,
    /// Queued, and the caller took the token: it must run this group, then [`Queue::release`].
    Lead(Vec<Box<dyn Job>>),
}

impl Queue {
    pub(crate) fn new(capacity: usize) -> Self {
        Queue {
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            space: Condvar::new(),
            #[cfg(feature = "tokio")]
            space_async: tokio::sync::Notify::new(),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `job`, waiting for room when `block`; leads when `lead` and nobody holds the token.
    /// On `Err` the job is dropped (its caller is told by the error, not by its reply).
    pub(crate) fn push(
        &self,
        job: Box<dyn Job>,
        block: bool,
        lead: Option<usize>,
        metrics: &WriterMetrics,
    ) -> Result<Pushed, WriteError> {
        let mut st = self.lock();
        loop {
            if st.closed {
                return Err(WriteError::Closed);
            }
            if st.jobs.len() < self.capacity {
                break;
            }
            if !block {
                return Err(WriteError::Full);
            }
            // Waiting for room ends with the request's deadline, like every other wait.
            let now = Instant::now();
            st = match job.deadline().remaining(now) {
                None => self.space.wait(st).unwrap_or_else(PoisonError::into_inner),
                Some(left) if left.is_zero() => return Err(WriteError::Full),
                Some(left) => self.space.wait_timeout(st, left).unwrap_or_else(PoisonError::into_inner).0,
            };
        }
        st.jobs.push_back(job);
        if st.busy {
            metrics.set_queue_depth(st.jobs.len(), false);
            let filled = st.filling && st.jobs.len() >= st.last_group;
            drop(st);
            if filled {
                self.work.notify_one();
            }
            return Ok(Pushed::Queued);
        }
        if let Some(max) = lead.filter(|_| !st.contended) {
            st.busy = true;
            return Ok(Pushed::Lead(self.take(&mut st, max, metrics)));
        }
        drop(st);
        self.work.notify_one();
        Ok(Pushed::Queued)
    }

    /// Queues `job` if there is room (async submitters, who never lead); hands it back when full.
    #[cfg(feature = "tokio")]
    pub(crate) fn push_or_return(
        &self,
        job: Box<dyn Job>,
        metrics: &WriterMetrics,
    ) -> Result<Result<(), Box<dyn Job>>, WriteError> {
        let mut st = self.lock();
        if st.closed {
            return Err(WriteError::Closed);
        }
        if st.jobs.len() >= self.capacity {
            return Ok(Err(job));
        }
        st.jobs.push_back(job);
        metrics.set_queue_depth(st.jobs.len(), false);
        let idle = !st.busy;
        drop(st);
        if idle {
            self.work.notify_one();
        }
        Ok(Ok(()))
    }

    /// Waits (async) until a push may find room.
    #[cfg(feature = "tokio")]
    pub(crate) fn space_notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.space_async.notified()
    }

    fn take(&self, st: &mut State, max: usize, metrics: &WriterMetrics) -> Vec<Box<dyn Job>> {
        let n = st.jobs.len().min(max.max(1));
        let group: Vec<_> = st.jobs.drain(..n).collect();
        st.last_group = n;
        metrics.set_queue_depth(st.jobs.len(), true);
        self.space.notify_all();
        #[cfg(feature = "tokio")]
        self.space_async.notify_waiters();
        group
    }

    /// Adds requests queued since `group` was taken (the token holder, after waiting for the process
    /// lock), up to `max` in all.
    pub(crate) fn top_up(&self, group: &mut Vec<Box<dyn Job>>, max: usize, metrics: &WriterMetrics) {
        let mut st = self.lock();
        let n = st.jobs.len().min(max.saturating_sub(group.len()));
        if n > 0 {
            group.extend(st.jobs.drain(..n));
            st.last_group = group.len();
            metrics.set_queue_depth(st.jobs.len(), true);
            drop(st);
            self.space.notify_all();
            #[cfg(feature = "tokio")]
            self.space_async.notify_waiters();
        }
    }

    /// Gives the token back after a group; the engine's thread takes over if requests are waiting.
    /// `contended`: whether the process lock was recently contended (see `State::contended`).
    pub(crate) fn release(&self, contended: bool) {
        let mut st = self.lock();
        st.busy = false;
        st.contended = contended;
        let wake = !st.jobs.is_empty() || st.closed;
        drop(st);
        if wake {
            self.work.notify_one();
        }
    }

    /// Background work (an ingest lane with a full batch) wants to run.
    pub(crate) fn wake_background(&self) {
        self.lock().background_ready = true;
        self.work.notify_one();
    }

    /// Stops intake; queued requests are still run.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.wake_everyone();
    }

    /// The engine's thread ended: closes intake for good and hands back every queued request, for
    /// its caller to fail at once.
    pub(crate) fn abandon_all(&self) -> Vec<Box<dyn Job>> {
        let mut st = self.lock();
        st.closed = true;
        st.abandoned = true;
        let left = st.jobs.drain(..).collect();
        drop(st);
        self.wake_everyone();
        left
    }

    /// Past the drop deadline: the engine's thread fails what is left instead of running it.
    pub(crate) fn abandon(&self) {
        let mut st = self.lock();
        st.closed = true;
        st.abandoned = true;
        drop(st);
        self.wake_everyone();
    }

    fn wake_everyone(&self) {
        self.work.notify_all();
        self.space.notify_all();
        #[cfg(feature = "tokio")]
        self.space_async.notify_waiters();
    }

    pub(crate) fn is_abandoned(&self) -> bool {
        self.lock().abandoned
    }

    /// The engine thread's wait: returns the next thing to do. `background_due` is the earliest
    /// time background work wants to run; `window` is how long to let a group fill before
    /// running it.
    pub(crate) fn next_work(
        &self,
        background_due: Option<Instant>,
        max_group: usize,
        window: Duration,
        metrics: &WriterMetrics,
    ) -> Work {
        let mut st = self.lock();
        loop {
            let now = Instant::now();
            if st.abandoned {
                let left: Vec<_> = st.jobs.drain(..).collect();
                metrics.set_queue_depth(0, true);
                return Work::Abandon(left);
            }
            if !st.busy && !st.jobs.is_empty() {
                // Take the token first, so that callers arriving during the window queue up
                // instead of leading small groups of their own.
                st.busy = true;
                let end = now + if st.contended { window.max(CONTENDED_FILL) } else { window };
                let target = st.last_group.clamp(1, max_group);
                st.filling = true;
                while st.jobs.len() < target && !st.closed && !st.abandoned {
                    let now = Instant::now();
                    if now >= end {
                        break;
                    }
                    st = self.work.wait_timeout(st, end - now).unwrap_or_else(PoisonError::into_inner).0;
                }
                st.filling = false;
                return Work::Group(self.take(&mut st, max_group, metrics));
            }
            if std::mem::take(&mut st.background_ready) || background_due.is_some_and(|due| due <= now) {
                return Work::Background;
            }
            if st.closed && !st.busy && st.jobs.is_empty() {
                return Work::Exit;
            }
            st = match background_due {
                Some(due) => self.work.wait_timeout(st, due - now).unwrap_or_else(PoisonError::into_inner).0,
                None => self.work.wait(st).unwrap_or_else(PoisonError::into_inner),
            };
        }
    }
}
