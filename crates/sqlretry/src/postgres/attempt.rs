//! THE transaction attempt on PostgreSQL: a pooled connection, BEGIN at the configured isolation,
//! the idempotency key (if any), the caller's body (inside `SAVEPOINT cockroach_restart` in that
//! mode), COMMIT — each wait bounded by the call's
//! [`Deadline`] — and where a failure leaves the outcome: not committed, or unknown.

use std::time::{Duration, Instant};

use deadpool_postgres::{Object, Pool};
use tokio_postgres::Transaction;
use tokio_postgres::error::SqlState;

use super::classify::{PgError, is_connection_loss};
use super::cockroach;
use super::idempotency_key;
use super::options::{PgOptions, STATEMENT_SLACK};
use super::tx_future::TxFuture;
use super::within::within;
use crate::config::PgRetryMode;
use crate::deadline::Deadline;

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
    let set = deadline.remaining(Instant::now()).and_then(|left| server_timeouts(options, left));
    let timeouts = async {
        match &set {
            Some(sql) => tx.batch_execute(sql).await,
            None => Ok(()),
        }
    };
    let work = async {
        if let Some(key) = key
            && !idempotency_key::record(&tx, key).await?
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

/// How much later than the time left the connection's own timeouts may end and still stand in
/// for a `SET LOCAL`: a first attempt taken at once finds its session's timeouts (the policy's
/// deadline, [`PgOptions::session_timeouts`]) only the pool checkout's microseconds too long.
const SESSION_TOLERANCE: Duration = Duration::from_millis(25);

/// `SET LOCAL` of `lock_timeout` and `statement_timeout`: the configured value or the time left
/// (plus [`STATEMENT_SLACK`] for statements), whichever is shorter; at least 1 ms (0 = no limit).
/// `None` when the connection's session timeouts already end then (no earlier, and at most
/// [`SESSION_TOLERANCE`] later): the statement would change nothing that matters.
fn server_timeouts(options: &PgOptions, left: Duration) -> Option<String> {
    let bound = |configured: Option<Duration>, left: Duration| configured.map_or(left, |c| c.min(left));
    let lock = bound(options.lock_timeout(), left);
    let statement = bound(options.statement_timeout(), left + STATEMENT_SLACK);
    let (session_lock, session_statement) = options.session_timeouts();
    // Neither earlier (a longer deadline given to `write_with`) nor much later than wanted.
    let covered = |session: Option<Duration>, wanted: Duration| {
        session.is_some_and(|s| s >= wanted && s <= wanted + SESSION_TOLERANCE)
    };
    if covered(session_lock, lock) && covered(session_statement, statement) {
        return None;
    }
    Some(format!(
        "SET LOCAL lock_timeout = {}; SET LOCAL statement_timeout = {}",
        lock.as_millis().max(1),
        statement.as_millis().max(1)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::RetryPolicy;

    fn options(deadline: Option<Duration>, lock: Option<Duration>) -> PgOptions {
        let policy = RetryPolicy::builder().deadline(deadline).build().unwrap();
        PgOptions::default().with_write_policy(policy).with_lock_timeout(lock)
    }

    #[test]
    fn a_first_attempt_leans_on_the_sessions_timeouts_and_a_later_one_sets_its_own() {
        let o = options(Some(Duration::from_secs(10)), None);
        assert_eq!(
            o.session_timeouts(),
            (Some(Duration::from_secs(10)), Some(Duration::from_millis(10_100)))
        );
        // Taken at once: the session's timeouts end within the tolerance of the deadline.
        assert_eq!(server_timeouts(&o, Duration::from_millis(9_990)), None);
        // After a retry, 3 s were spent: the session's would end 3 s past the deadline.
        assert_eq!(
            server_timeouts(&o, Duration::from_secs(7)).as_deref(),
            Some("SET LOCAL lock_timeout = 7000; SET LOCAL statement_timeout = 7100")
        ); // A longer deadline than the store's (`write_with`): the session's would cut it short.
        assert_eq!(
            server_timeouts(&o, Duration::from_secs(30)).as_deref(),
            Some("SET LOCAL lock_timeout = 30000; SET LOCAL statement_timeout = 30100")
        );
    }

    #[test]
    fn a_configured_timeout_shorter_than_the_time_left_needs_no_set_local_for_it() {
        let o = options(Some(Duration::from_secs(10)), Some(Duration::from_millis(50)));
        // lock_timeout 50 ms is the session's and what would be sent; statement_timeout decides.
        assert_eq!(
            server_timeouts(&o, Duration::from_secs(4)).as_deref(),
            Some("SET LOCAL lock_timeout = 50; SET LOCAL statement_timeout = 4100")
        );
        assert_eq!(server_timeouts(&o, Duration::from_millis(9_995)), None);
    }
}
