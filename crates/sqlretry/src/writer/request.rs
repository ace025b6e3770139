//! A submitted request: the caller's re-runnable closure, its latest output, and where to reply.

use rusqlite::Transaction;

use super::error::WriteError;

/// A request as the group runner sees it (object safe, so one group holds many result types).
pub(crate) trait Job: Send {
    /// Runs the closure once inside the open transaction. `Err` is the closure's error, unchanged:
    /// the group runner decides whether it fails this request alone or the whole attempt.
    fn run(&mut self, tx: &Transaction<'_>) -> rusqlite::Result<()>;
    /// Forgets the previous attempt's outcome.
    fn reset(&mut self);
    /// Records the closure's permanent error (its savepoint was rolled back).
    fn reject(&mut self, error: rusqlite::Error);
    /// Whether the latest run was rejected.
    fn rejected(&self) -> bool;
    /// Sends the outcome: the latest run's, or `failure` when the group did not commit.
    fn complete(self: Box<Self>, failure: Option<WriteError>);
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

pub(crate) struct Request<T, F> {
    f: F,
    output: Option<rusqlite::Result<T>>,
    panicked: bool,
    reply: Reply<T>,
}

impl<T, F> Request<T, F>
where
    T: Send + 'static,
    F: FnMut(&Transaction<'_>) -> rusqlite::Result<T> + Send + 'static,
{
    pub(crate) fn boxed(f: F, reply: Reply<T>) -> Box<dyn Job> {
        Box::new(Request { f, output: None, panicked: false, reply })
    }
}

impl<T, F> Job for Request<T, F>
where
    T: Send + 'static,
    F: FnMut(&Transaction<'_>) -> rusqlite::Result<T> + Send + 'static,
{
    fn run(&mut self, tx: &Transaction<'_>) -> rusqlite::Result<()> {
        self.output = None;
        // A panicking closure must not take down the thread running the group (another caller,
        // or the writer thread) nor the other requests: it is rejected like a permanent error.
        let f = &mut self.f;
        let Ok(result) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(tx))) else {
            self.panicked = true;
            // Permanent (not an SQLite code): the group rolls this request back alone.
            return Err(rusqlite::Error::InvalidParameterName("the request's closure panicked".into()));
        };
        self.panicked = false;
        let value = result?;
        self.output = Some(Ok(value));
        Ok(())
    }

    fn reset(&mut self) {
        self.output = None;
    }

    fn reject(&mut self, error: rusqlite::Error) {
        self.output = Some(Err(error));
    }

    fn rejected(&self) -> bool {
        matches!(self.output, Some(Err(_)))
    }

    fn complete(self: Box<Self>, failure: Option<WriteError>) {
        let result = match (failure, self.output) {
            (Some(error), _) => Err(error),
            (None, Some(Ok(value))) => Ok(value),
            (None, Some(Err(_))) if self.panicked => Err(WriteError::RequestPanicked),
            (None, Some(Err(error))) => Err(WriteError::Rejected(error)),
            (None, None) => Err(WriteError::Closed),
        };
        self.reply.send(result);
    }
}
