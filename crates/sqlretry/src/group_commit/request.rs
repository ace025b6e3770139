//! A submitted request: the caller's re-runnable closure ([`Call`]) and where to reply.

use rusqlite::Connection;

use super::savepoints::{Call, Ended, Member};
use crate::deadline::Deadline;
use crate::sqlite::write_error::WriteError;

/// A request as the group runner sees it: a [`Member`] of a group given the transaction, that
/// can reply (object safe, so one group holds many result types).
pub(crate) trait Job: Send + Member<Connection> {
    /// Sends the outcome: the latest run's, or `failure` when the group did not commit.
    fn complete(self: Box<Self>, failure: Option<WriteError>);
    /// When its caller's wait must end (fixed when it was submitted).
    fn deadline(&self) -> Deadline;
    /// When its caller submitted it.
    fn submitted(&self) -> std::time::Instant;
}

/// Where a request's result goes: a blocked thread or an awaiting task.
pub(crate) enum Reply<T> {
    Sync(std::sync::mpsc::SyncSender<Result<T, WriteError>>),
    #[cfg(feature = "tokio")]
    Async(tokio::sync::oneshot::Sender<Result<T, WriteError>>),
}

impl<T> Reply<T> {
    fn send(self, result: Result<T, WriteError>) {
        // A caller that stopped waiting (a dropped future) no longer wants the result; its
        // request committed or failed all the same.
        match self {
            Reply::Sync(tx) => drop(tx.send(result)),
            #[cfg(feature = "tokio")]
            Reply::Async(tx) => drop(tx.send(result)),
        }
    }
}

/// A request: the caller's closure with its reply, queued as a [`Job`].
pub(crate) fn request<T, F>(f: F, reply: Reply<T>, deadline: Deadline) -> Box<dyn Job>
where
    T: Send + 'static,
    F: FnMut(&Connection) -> rusqlite::Result<T> + Send + 'static,
{
    Box::new(Call::new(f, reply, deadline))
}

impl<T, F> Job for Call<F, T, Reply<T>>
where
    T: Send + 'static,
    F: FnMut(&Connection) -> rusqlite::Result<T> + Send + 'static,
{
    fn complete(self: Box<Self>, failure: Option<WriteError>) {
        let (ended, reply) = self.finish();
        let result = match failure {
            Some(error) => Err(error),
            None => match ended {
                Ended::Value(value) => Ok(value),
                Ended::Panicked => Err(WriteError::RequestPanicked),
                Ended::Rejected(error, attempts) => Err(WriteError::Rejected { error, attempts }),
                Ended::NotRun => Err(WriteError::Closed),
            },
        };
        reply.send(result);
    }

    fn deadline(&self) -> Deadline {
        Call::deadline(self)
    }

    fn submitted(&self) -> std::time::Instant {
        Call::submitted(self)
    }
}
