//! A transaction of the engine, retried whole through the one attempt
//! ([`WriteSide::attempt`](crate::sqlite::write_side::WriteSide)); and a group of requests run in
//! it, each in its own savepoint.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::engine::Engine;
use super::request::Job;
use super::savepoints::run_members;
use crate::deadline::Deadline;
use crate::error::RetryError;
use crate::observer::{GiveUpEvent, Observer, RetryEvent};
use crate::policy::RetryPolicy;
use crate::retry::Retry;
use crate::sqlite::write_error::WriteError;

impl Engine {
    /// Runs `body` in one transaction attempt after another under `policy`, all done by
    /// `deadline`: a retryable error anywhere (a busy `COMMIT` included) rolls the transaction back
    /// and re-runs it whole. Records the flush latency; counts retries.
    pub(crate) fn transact<T>(
        &self,
        policy: &RetryPolicy,
        deadline: Deadline,
        operation: &str,
        mut body: impl FnMut(&Connection) -> rusqlite::Result<(T, bool)>,
    ) -> Result<T, RetryError<rusqlite::Error>> {
        let started = Instant::now();
        let observer =
            Both(&self.metrics, self.options.also_observed_by.as_deref().map(|s| s as &dyn Observer));
        let result = Retry::new(policy)
            .named(operation)
            .with_observer(&observer)
            .until(deadline)
            .call(|| self.side.attempt(deadline, self.options.process_lock, &mut body));
        self.metrics.flushed(started.elapsed());
        result
    }

    /// Runs one group of requests in one transaction ([`run_members`]: a request's permanent
    /// error fails only that request), done by the earliest deadline among them; requests whose
    /// deadline passed while they were queued fail without running. Once the writers' lock is
    /// held, the group is topped up with the requests queued meanwhile. The replies are sent after
    /// the commit, by [`Replies::send`].
    pub(crate) fn run_group(&self, jobs: Vec<Box<dyn Job>>) -> Replies {
        let now = Instant::now();
        let (mut jobs, late): (Vec<_>, Vec<_>) =
            jobs.into_iter().partition(|j| !j.deadline().is_expired(now));
        for job in late {
            let waited = job.submitted().elapsed();
            job.complete(Some(WriteError::timed_out(self.side.timed_out("the writer's queue"), waited)));
        }
        let contended = || self.side.contended();
        if jobs.is_empty() {
            return Replies { jobs, failure: None, contended: contended() };
        }
        let deadline = jobs.iter().fold(Deadline::NONE, |d, j| d.earlier(j.deadline()));
        let (max, top_up) = (self.options.max_group, self.options.process_lock);
        let result = self.transact(&self.policy, deadline, "writer group", |conn| {
            if top_up {
                self.queue.top_up(&mut jobs, max, &self.metrics);
            }
            run_members(conn, conn, &mut jobs).map(|commit| ((), commit))
        });
        let total = jobs.len() as u64;
        match result {
            Ok(()) => {
                let rejected = jobs.iter().filter(|j| j.rejected()).count() as u64;
                self.metrics.rejected(rejected);
                if rejected < total {
                    self.metrics.group_committed(total - rejected);
                }
                Replies { jobs, failure: None, contended: contended() }
            }
            Err(error) => {
                self.metrics.batch_failed(error.inner(), total);
                Replies { jobs, failure: Some(Arc::new(error)), contended: contended() }
            }
        }
    }
}

/// The engine's metrics and, for a store's grouped writes, the store's write stats.
struct Both<'a>(&'a dyn Observer, Option<&'a dyn Observer>);

impl Observer for Both<'_> {
    fn on_call(&self) {
        self.0.on_call();
        self.1.inspect(|o| o.on_call());
    }
    fn on_retry(&self, event: &RetryEvent<'_>) {
        self.0.on_retry(event);
        self.1.inspect(|o| o.on_retry(event));
    }
    fn on_success(&self, attempts: u32, elapsed: Duration) {
        self.0.on_success(attempts, elapsed);
        self.1.inspect(|o| o.on_success(attempts, elapsed));
    }
    fn on_give_up(&self, event: &GiveUpEvent<'_>) {
        self.0.on_give_up(event);
        self.1.inspect(|o| o.on_give_up(event));
    }
}

/// The replies of a finished group, sent by [`Replies::send`] once the connection is unlocked.
pub(crate) struct Replies {
    jobs: Vec<Box<dyn Job>>,
    /// The group's error, shared by its requests (each gets [`WriteError::NotCommitted`]).
    failure: Option<Arc<RetryError<rusqlite::Error>>>,
    /// Another process recently made this one wait for the process lock.
    pub(crate) contended: bool,
}

impl Replies {
    pub(crate) fn send(self) {
        for job in self.jobs {
            job.complete(self.failure.clone().map(WriteError::NotCommitted));
        }
    }
}
