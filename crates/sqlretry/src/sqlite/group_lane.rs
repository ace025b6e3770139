//! Group commit inside a [`Store`](super::Store): the waiting room of
//! [`Store::write_grouped`](super::Store::write_grouped) and its leadership.
//!
//! A caller queues its closure here. If nobody leads, it leads: it takes everything waiting (its
//! own closure first) and runs it as one transaction on the store's write connection. Callers that
//! arrive meanwhile wait for their result. When a group is done, its leader replies to every
//! member, then hands the leadership to the oldest caller still waiting (one thread wake-up per
//! group, not per write) or, if nobody waits, lays it down.

use std::collections::VecDeque;
use std::sync::mpsc::SyncSender;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::savepoints::{Call, Ended, Member};
use crate::deadline::Deadline;
use crate::error::{RetryError, StopReason};

/// The most closures one grouped transaction runs.
pub(crate) const MAX_GROUP: usize = 256;

/// What a waiting caller hears.
pub(crate) enum Signal<T> {
    /// Its write is over: committed (the value) or not (the error).
    Done(Result<T, RetryError<rusqlite::Error>>),
    /// It leads the next group.
    Lead,
}

/// How a group's transaction ended, told to each member.
pub(crate) struct GroupEnd<'a> {
    /// `Err`: the group did not commit, for this reason.
    pub(crate) result: Result<(), &'a RetryError<rusqlite::Error>>,
    /// Attempts the group's transaction took.
    pub(crate) attempts: u32,
    /// From the start of the group to its end.
    pub(crate) elapsed: Duration,
}

/// A waiting caller's closure, as the leader sees it.
pub(crate) trait Grouped: Member<Connection> + Send {
    /// Sends this member's outcome once the group's transaction ended.
    fn complete(self: Box<Self>, end: &GroupEnd<'_>);
    /// Tells the caller to lead the next group.
    fn promote(&self);
}

/// Where a grouped write's outcome goes: its caller, waiting.
type Waiting<T> = SyncSender<Signal<T>>;

/// A caller's closure as a member of a group; its result (or its turn to lead) goes through
/// `reply`, which must have room for two messages (a [`Signal::Lead`] and then a [`Signal::Done`]).
pub(crate) fn member<T, F>(f: F, reply: Waiting<T>, deadline: Deadline) -> Box<dyn Grouped>
where
    T: Send + 'static,
    F: FnMut(&Connection) -> rusqlite::Result<T> + Send + 'static,
{
    Box::new(Call::new(f, reply, deadline))
}

impl<T, F> Grouped for Call<F, T, Waiting<T>>
where
    T: Send + 'static,
    F: FnMut(&Connection) -> rusqlite::Result<T> + Send + 'static,
{
    fn complete(self: Box<Self>, end: &GroupEnd<'_>) {
        let own = |error| RetryError::new(error, end.attempts, end.elapsed, StopReason::Permanent);
        let (ended, reply) = self.finish();
        let result = match end.result {
            Err(failure) => Err(RetryError::new(
                duplicate(failure.inner()),
                failure.attempts(),
                failure.elapsed(),
                failure.reason(),
            )),
            Ok(()) => match ended {
                Ended::Value(value) => Ok(value),
                Ended::Rejected(error) => Err(own(error)),
                Ended::Panicked => Err(own(rusqlite::Error::InvalidParameterName(
                    "the write's closure panicked; its changes were rolled back".into(),
                ))),
                Ended::NotRun => Err(own(not_run())),
            },
        };
        // A caller that is gone no longer wants its result.
        let _ = reply.send(Signal::Done(result));
    }

    fn promote(&self) {
        let _ = self.reply().send(Signal::Lead);
    }
}

/// The error a group's failure gives each of its members: the same SQLite codes and message (a
/// retryable failure is always an SQLite failure; anything else is carried by its text).
fn duplicate(error: &rusqlite::Error) -> rusqlite::Error {
    match error {
        rusqlite::Error::SqliteFailure(code, message) => {
            rusqlite::Error::SqliteFailure(*code, message.clone())
        }
        other => rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
            Some(other.to_string()),
        ),
    }
}

/// The error of a caller whose closure was never run to completion (its leader stopped).
pub(crate) fn not_run() -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
        Some("the grouped write was abandoned before its transaction ended".into()),
    )
}

/// The callers waiting for a grouped transaction, and whether one of them leads.
#[derive(Default)]
pub(crate) struct GroupLane {
    state: Mutex<LaneState>,
    /// A leader letting its group fill waits here.
    filled: Condvar,
}

#[derive(Default)]
struct LaneState {
    waiting: VecDeque<Box<dyn Grouped>>,
    /// A caller leads (or has been told to). Never false while callers wait.
    leading: bool,
    /// The size of the last group taken.
    last_group: usize,
    /// The leader waits until this many callers wait (see [`GroupLane::fill`]).
    filling: Option<usize>,
}

impl std::fmt::Debug for GroupLane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.lock();
        f.debug_struct("GroupLane").field("waiting", &st.waiting.len()).field("leading", &st.leading).finish()
    }
}

impl GroupLane {
    fn lock(&self) -> MutexGuard<'_, LaneState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `member`; `true` when its caller must lead now (nobody did).
    pub(crate) fn join(&self, member: Box<dyn Grouped>) -> bool {
        let mut st = self.lock();
        st.waiting.push_back(member);
        if st.filling.is_some_and(|target| st.waiting.len() >= target) {
            self.filled.notify_one();
        }
        !std::mem::replace(&mut st.leading, true)
    }

    /// How many callers wait for a group.
    pub(crate) fn waiting(&self) -> usize {
        self.lock().waiting.len()
    }

    /// The leader waits, for at most `for_at_most`, until as many callers wait as its last group
    /// held (used while other processes contend: see `CONTENDED_FILL`).
    pub(crate) fn fill(&self, for_at_most: Duration) {
        let until = Instant::now() + for_at_most;
        let mut st = self.lock();
        let target = st.last_group;
        st.filling = Some(target);
        while st.waiting.len() < target {
            let now = Instant::now();
            if now >= until {
                break;
            }
            st = self.filled.wait_timeout(st, until - now).unwrap_or_else(PoisonError::into_inner).0;
        }
        st.filling = None;
    }

    /// The leader's group: the oldest waiting members (the leader's own first), at most `max`.
    pub(crate) fn take(&self, max: usize) -> Vec<Box<dyn Grouped>> {
        let mut st = self.lock();
        let n = st.waiting.len().min(max);
        if n > 0 {
            st.last_group = n;
        }
        st.waiting.drain(..n).collect()
    }

    /// After a group: the oldest waiting caller leads next, or nobody if none waits.
    pub(crate) fn pass_on(&self) {
        let mut st = self.lock();
        match st.waiting.front() {
            Some(next) => next.promote(),
            None => st.leading = false,
        }
    }
}
