//! [`Engine`]: the state an engine's handles and its thread share, the thread's loop, and the
//! lifecycle ([`Owner`]): start, shutdown and drop (stop intake, drain, commit, join — bounded in
//! time), and what happens when the thread ends anyway (every waiting and later caller fails at
//! once).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Instant;

use super::metrics::WriterMetrics;
use super::options::GroupOptions;
use super::queue::{Queue, Work};
use super::request::Job;
use crate::policy::RetryPolicy;
use crate::sqlite::write_error::WriteError;
use crate::sqlite::write_side::WriteSide;

/// One engine: its settings, the write side it runs groups on, its queue and metrics, and the
/// background work its thread also does.
pub(crate) struct Engine {
    pub(crate) options: GroupOptions,
    /// The policy a group transaction is retried under.
    pub(crate) policy: RetryPolicy,
    pub(crate) path: PathBuf,
    /// The write connection, its turn, the writers' lock and the lock-hold histogram.
    pub(crate) side: Arc<WriteSide>,
    pub(crate) queue: Queue,
    pub(crate) metrics: WriterMetrics,
    background: Mutex<Vec<Arc<dyn Background>>>,
    finished: Mutex<bool>,
    finished_cv: Condvar,
}

/// What the engine's thread does besides groups (a writer's ingest lanes).
/// Work run on the engine's thread between groups. Object safe: one engine keeps many.
pub(crate) trait Background: Send + Sync {
    /// When it next wants to run (`None`: nothing to do until woken).
    fn due(&self) -> Option<Instant>;
    /// Runs what is due, or everything left when `all` (the engine is stopping).
    fn run(&self, engine: &Engine, all: bool);
    /// The engine stopped taking work: refuse more.
    fn close(&self);
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Engine {
    /// Runs a group this caller (or the thread) took the token for, replies, and gives the token
    /// back — also if something here panics, so the writer never stalls. Replying before giving
    /// the token back lets the next group fill while the callers are woken; releasing first made
    /// groups much smaller under many producers on few cores (BENCHMARKS.md, "One writer per
    /// file: the Writer").
    pub(crate) fn lead(&self, group: Vec<Box<dyn Job>>) {
        struct Release<'a>(&'a Queue, bool);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                self.0.release(self.1);
            }
        }
        let mut release = Release(&self.queue, false);
        let replies = self.run_group(group);
        release.1 = replies.contended;
        replies.send();
    }

    pub(crate) fn add_background(&self, work: Arc<dyn Background>) {
        lock(&self.background).push(work);
    }

    fn background(&self) -> Vec<Arc<dyn Background>> {
        lock(&self.background).clone()
    }

    fn close(&self) {
        self.queue.close();
        for work in self.background() {
            work.close();
        }
    }

    /// The thread's loop: groups handed over, background work when due, drain on close. A panic that
    /// escapes one piece of work (user code is caught closer to it; this is the last line) is
    /// logged and the loop goes on: the requests of that group fail, the thread survives.
    fn run(&self) {
        let survive = |what: &str, work: &mut dyn FnMut()| {
            if catch_unwind(AssertUnwindSafe(work)).is_err() {
                tracing::error!(writer = %self.metrics.name(), what, "a panic escaped the writer's work; carrying on");
            }
        };
        loop {
            let background = self.background();
            let due = background.iter().filter_map(|w| w.due()).min();
            match self.queue.next_work(due, self.options.max_group, self.options.window, &self.metrics) {
                Work::Group(group) => {
                    let mut group = Some(group);
                    survive("group", &mut || self.lead(group.take().unwrap_or_default()));
                }
                Work::Background => {
                    survive("background work", &mut || background.iter().for_each(|w| w.run(self, false)))
                }
                Work::Exit => {
                    survive("final background work", &mut || {
                        background.iter().for_each(|w| w.run(self, true))
                    });
                    if self.background().len() == background.len() {
                        return;
                    }
                }
                Work::Abandon(left) => {
                    if !left.is_empty() {
                        tracing::error!(writer = %self.metrics.name(), requests = left.len(), "drop deadline passed: failing requests not yet run");
                    }
                    for job in left {
                        job.complete(Some(WriteError::Closed));
                    }
                    background.iter().for_each(|w| w.run(self, true));
                    return;
                }
            }
        }
    }
}

/// Owns the engine's thread: closing, draining and joining it when the last handle goes.
pub(crate) struct Owner {
    shared: Arc<Engine>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Owner {
    /// Starts the thread on an open write side (a writer's own, or a
    /// [`Store`](crate::sqlite::Store)'s for its grouped writes: same connection, turns, writers'
    /// lock and lock-hold histogram).
    pub(crate) fn start(
        side: Arc<WriteSide>,
        policy: RetryPolicy,
        config: GroupOptions,
    ) -> std::io::Result<(Arc<Engine>, Arc<Owner>)> {
        let path = side.path().to_path_buf();
        let path = path.as_path();
        let name = config.name.clone().unwrap_or_else(|| {
            path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
        });
        let metrics = WriterMetrics::new(name, config.alert_threshold, config.health_window);
        let shared = Arc::new(Engine {
            policy,
            queue: Queue::new(config.queue_capacity),
            path: path.to_path_buf(),
            side,
            metrics,
            options: config,
            background: Mutex::new(Vec::new()),
            finished: Mutex::new(false),
            finished_cv: Condvar::new(),
        });
        let for_thread = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("sqlretry-writer".into())
            .spawn(move || {
                /// However the thread ends: nobody may wait on it any more.
                struct Finished<'a>(&'a Engine);
                impl Drop for Finished<'_> {
                    fn drop(&mut self) {
                        let shared = self.0;
                        if std::thread::panicking() {
                            tracing::error!(writer = %shared.metrics.name(), "the writer thread ended with a panic; failing every waiting request");
                            shared.metrics.thread_ended();
                        }
                        for job in shared.queue.abandon_all() {
                            job.complete(Some(WriteError::Closed));
                        }
                        for work in shared.background() {
                            work.close();
                        }
                        *lock(&shared.finished) = true;
                        shared.finished_cv.notify_all();
                    }
                }
                let _finished = Finished(&for_thread);
                for_thread.run();
            })
            ?;
        let owner = Arc::new(Owner { shared: Arc::clone(&shared), thread: Mutex::new(Some(thread)) });
        Ok((shared, owner))
    }

    /// Stops intake, lets the thread drain and commit everything queued, and joins it; past
    /// `drop_timeout`, what is still queued fails with [`WriteError::Closed`] (buffered ingest
    /// rows go to the dead-letter store) and the thread is joined after its current group.
    pub(crate) fn shutdown(&self) -> Result<(), WriteError> {
        self.close_and_wait("shutdown");
        self.join()
    }

    /// Closes intake and waits for the thread to drain, at most `drop_timeout`; then abandons.
    fn close_and_wait(&self, why: &str) {
        self.shared.close();
        let deadline = Instant::now() + self.shared.options.drop_timeout;
        let mut finished = lock(&self.shared.finished);
        while !*finished {
            let now = Instant::now();
            if now >= deadline {
                tracing::error!(
                    writer = %self.shared.metrics.name(),
                    timeout = ?self.shared.options.drop_timeout,
                    why,
                    "queue not drained in time; failing the rest",
                );
                self.shared.queue.abandon();
                break;
            }
            finished = self
                .shared
                .finished_cv
                .wait_timeout(finished, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Whether the writer thread has ended (after shutdown, or unexpectedly).
    pub(crate) fn thread_finished(&self) -> bool {
        *lock(&self.shared.finished)
    }

    /// Joins the thread: called after [`Owner::close_and_wait`], once the queue drained or was
    /// abandoned, so the thread has at most its current group left, itself bounded by its
    /// requests' deadline (only a user closure that never returns could hold it longer).
    fn join(&self) -> Result<(), WriteError> {
        let Some(thread) = lock(&self.thread).take() else { return Ok(()) };
        thread.join().map_err(|_| {
            tracing::error!(writer = %self.shared.metrics.name(), "the writer thread panicked");
            WriteError::Panicked
        })
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        if lock(&self.thread).is_none() {
            return;
        }
        self.close_and_wait("last handle dropped");
        let _ = self.join();
    }
}
