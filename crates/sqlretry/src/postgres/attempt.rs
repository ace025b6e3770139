//! THE transaction attempt on PostgreSQL: a pooled connection, BEGIN at the configured isolation,
//! the idempotency key (if any), the caller's body (inside `SAVEPOINT cockroach_restart` in that
//! mode), COMMIT — each wait bounded by the call's
//! [`Deadline`] — and where a failure leaves the outcome: not committed, or unknown.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use deadpool_postgres::{Object, Pool};
use tokio_postgres::Transaction;
use tokio_postgres::error::SqlState;

use super::classify::{PgError, is_connection_loss};
use super::cockroach;
use super::idempotent;
use super::options::PgOptions;
use crate::config::PgRetryMode;
use crate::deadline::Deadline;

/// The future a write's body returns: borrows the transaction, yields the value or the first
/// PostgreSQL error (use `?` on every statement). Write it as `|tx| Box::pin(async move { … })`.
pub type TxFuture<'t, T> = Pin<Box<dyn Future<Output = Result<T, tokio_postgres::Error>> + Send + 't>>;

/// What a successful attempt found.
pub(crate) enum Done<T> {
    /// The body ran and COMMIT returned OK.
    Committed(T),
    /// The idempotency key was already recorded: an earlier attempt committed; the body did not run.
    AlreadyCommitted,
}

/// One attempt of a whole transaction.
pub(crate) async fn attempt<T, F>(
    pool: &Pool,
    options: &PgOptions,
    deadline: Deadline,
    key: Option<&str>,
    body: &mut F,
) -> Result<Done<T>, PgError>
where
    F: for<'t> FnMut(&'t Transaction<'t>) -> TxFuture<'t, T>,
{
    let mut conn = within(deadline, "a pooled connection", pool.get()).await?.map_err(PgError::Pool)?;
    let result = run(&mut conn, options, deadline, key, body).await;
    if matches!(result, Err(PgError::TimedOut { .. } | PgError::CommitOutcomeUnknown(_))) {
        // A statement may still be in flight on it: never hand this connection to another caller.
        drop(Object::take(conn));
    }
    result
}

async fn run<T, F>(
    conn: &mut Object,
    options: &PgOptions,
    deadline: Deadline,
    key: Option<&str>,
    body: &mut F,
) -> Result<Done<T>, PgError>
where
    F: for<'t> FnMut(&'t Transaction<'t>) -> TxFuture<'t, T>,
{
    let client: &mut tokio_postgres::Client = conn;
    let begin = client.build_transaction().isolation_level(options.isolation_level()).start();
    // The server enforces the deadline (with real SQLSTATEs: 55P03, 57014); the client-side cut
    // is a backstop for a server or network that does not answer.
    let backstop = deadline.instant().map_or(Deadline::NONE, |at| Deadline::after(at, SERVER_GRACE));
    let tx = within(backstop, "BEGIN", begin).await??;
    let set = deadline.remaining(Instant::now()).map(|left| server_timeouts(options, left));
    let timeouts = async {
        match &set {
            Some(sql) => tx.batch_execute(sql).await,
            None => Ok(()),
        }
    };
    let work = async {
        if let Some(key) = key
            && !idempotent::record(&tx, key).await?
        {
            return Ok(None); // dropping `tx` rolls back
        }
        match options.mode() {
            PgRetryMode::CockroachSavepoint => {
                cockroach::run_body(&tx, options, backstop, body).await.map(Some)
            }
            _ => body(&tx).await.map(Some).map_err(PgError::Postgres),
        }
    };
    // `join!` polls `timeouts` first, so its SET LOCAL is sent first and the statements follow it
    // on the wire without waiting for its answer: the deadline costs no extra round trip.
    let (timeouts, work) =
        within(backstop, "the transaction's statements", async { tokio::join!(timeouts, work) }).await?;
    timeouts?;
    let Some(value) = work? else { return Ok(Done::AlreadyCommitted) };
    if deadline.is_expired(Instant::now()) {
        // Not sent: nothing can have committed.
        return Err(PgError::TimedOut { waiting_for: "COMMIT", waited: Duration::ZERO });
    }
    match within(backstop, "COMMIT", tx.commit()).await {
        Ok(Ok(())) => Ok(Done::Committed(value)),
        // CockroachDB's 40003 (statement_completion_unknown) at COMMIT says the same in words.
        Ok(Err(e))
            if is_connection_loss(&e) || e.code() == Some(&SqlState::T_R_STATEMENT_COMPLETION_UNKNOWN) =>
        {
            Err(PgError::CommitOutcomeUnknown(Some(e)))
        }
        // The server answered (e.g. 40001 at COMMIT): it did not commit.
        Ok(Err(e)) => Err(PgError::Postgres(e)),
        Err(_) => Err(PgError::CommitOutcomeUnknown(None)),
    }
}

/// How long past the deadline the client waits for a server that was told the deadline (through
/// `lock_timeout` / `statement_timeout`) before it gives up on the connection.
const SERVER_GRACE: Duration = Duration::from_secs(1);

/// Slack given to `statement_timeout` over the time left, so that a lock wait cut by the deadline
/// ends as 55P03 (retryable, the deadline's reason) rather than as 57014 (permanent).
const STATEMENT_SLACK: Duration = Duration::from_millis(100);

/// `SET LOCAL` of `lock_timeout` and `statement_timeout`: the configured value or the time left
/// (plus [`STATEMENT_SLACK`] for statements), whichever is shorter; at least 1 ms (0 = no limit).
fn server_timeouts(options: &PgOptions, left: Duration) -> String {
    let bound = |configured: Option<Duration>, left: Duration| {
        configured.map_or(left, |c| c.min(left)).as_millis().max(1)
    };
    format!(
        "SET LOCAL lock_timeout = {}; SET LOCAL statement_timeout = {}",
        bound(options.lock_timeout(), left),
        bound(options.statement_timeout(), left + STATEMENT_SLACK)
    )
}

/// `future`, cut off at the deadline.
pub(crate) async fn within<F: Future>(
    deadline: Deadline,
    waiting_for: &'static str,
    future: F,
) -> Result<F::Output, PgError> {
    match deadline.remaining(Instant::now()) {
        None => Ok(future.await),
        Some(left) => tokio::time::timeout(left, future)
            .await
            .map_err(|_| PgError::TimedOut { waiting_for, waited: left }),
    }
}
