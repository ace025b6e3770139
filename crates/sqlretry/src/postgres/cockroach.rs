//! CockroachDB's client-side retry protocol (`mode = "cockroach-savepoint"`).
//!
//! ```sql
//! BEGIN;  SAVEPOINT cockroach_restart;
//!   -- the body
//! RELEASE SAVEPOINT cockroach_restart;   -- on CockroachDB the commit happens here
//! COMMIT;
//! ```
//! On 40001 from the body or from `RELEASE`, `ROLLBACK TO SAVEPOINT cockroach_restart` and run the
//! body again *inside the same transaction* (CockroachDB keeps its timestamp and priority, so the
//! retry is more likely to win), at most the write policy's `max_attempts` times and within the
//! call's deadline; any other error, or running out, ends the attempt and the engine retries the
//! whole transaction as usual.
//!
//! **SQLSTATEs, from the vendors' documentation (not tested here):** CockroachDB returns 40001
//! (`restart transaction: TransactionRetryWithProtoRefreshError: …` with reasons such as
//! `RETRY_WRITE_TOO_OLD`, `RETRY_SERIALIZABLE`, `ABORT_REASON_…`) and `40003`
//! (statement_completion_unknown: the same "commit outcome unknown" as a connection lost during
//! COMMIT); YugabyteDB returns 40001 for conflicts at SERIALIZABLE and REPEATABLE READ and 40P01
//! for deadlocks. Both speak PostgreSQL's protocol, so tokio-postgres and [`PgStore`] connect as
//! they do to PostgreSQL.
//!
//! **What was tested here:** only PostgreSQL 15 (`tests/postgres_*.rs`): the protocol's statements
//! run and commit, and under contention the mode still loses nothing. On PostgreSQL a restart
//! inside the transaction keeps the old snapshot, so the conflict repeats until the whole
//! transaction is retried: on PostgreSQL keep the default whole-transaction mode.
//!
//! [`PgStore`]: super::PgStore

use tokio_postgres::Transaction;
use tokio_postgres::error::SqlState;

use super::classify::PgError;
use super::options::PgOptions;
use super::tx_future::TxFuture;
use super::within::within;
use crate::deadline::Deadline;

/// The savepoint name CockroachDB recognises for client-side retries.
pub const SAVEPOINT: &str = "cockroach_restart";

/// The body under `SAVEPOINT cockroach_restart`, restarted from the savepoint on 40001.
pub(crate) async fn run_body<T, F>(
    tx: &Transaction<'_>,
    options: &PgOptions,
    deadline: Deadline,
    body: &mut F,
) -> Result<T, PgError>
where
    F: for<'t> FnMut(&'t Transaction<'t>) -> TxFuture<'t, T>,
{
    within(deadline, "SAVEPOINT", tx.batch_execute("SAVEPOINT cockroach_restart")).await??;
    let mut runs = 1;
    loop {
        let ran = match within(deadline, "the transaction's statements", body(tx)).await? {
            Ok(value) => {
                let release = tx.batch_execute("RELEASE SAVEPOINT cockroach_restart");
                within(deadline, "RELEASE SAVEPOINT", release).await?.map(|()| value)
            }
            Err(e) => Err(e),
        };
        match ran {
            Ok(value) => return Ok(value),
            Err(e)
                if e.code() == Some(&SqlState::T_R_SERIALIZATION_FAILURE)
                    && runs < options.write_policy().max_attempts() =>
            {
                runs += 1;
                tracing::debug!(runs, error = %e, "restarting from SAVEPOINT cockroach_restart");
                let rollback = tx.batch_execute("ROLLBACK TO SAVEPOINT cockroach_restart");
                within(deadline, "ROLLBACK TO SAVEPOINT", rollback).await??;
            }
            Err(e) => return Err(PgError::Postgres(e)),
        }
    }
}
