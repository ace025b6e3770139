//! Idempotent writes: a key recorded inside the transaction, so that a write whose COMMIT outcome
//! is unknown (connection lost during COMMIT) can be retried without applying it twice.
//!
//! The key is the transaction's first statement, `INSERT … ON CONFLICT (key) DO NOTHING` into
//! [`IDEMPOTENCY_TABLE`]. After a lost COMMIT the write runs again on a fresh connection: if the
//! first transaction committed, the key is there and the write returns
//! [`Idempotent::AlreadyCommitted`] without running the body; if it is still in flight on the
//! server, the insert waits on the key's index entry until it ends (bounded by the deadline and
//! `lock_timeout`); if it did not commit, the body runs and commits once.

use tokio_postgres::Transaction;

use super::attempt::Done;
use super::classify::PgError;
pub use super::idempotency_key::IDEMPOTENCY_TABLE;
use super::store::PgStore;
use super::tx_future::TxFuture;
use crate::classify::{Class, Classify};
use crate::error::RetryError;

/// The outcome of [`PgStore::write_idempotent`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Idempotent<T> {
    /// This call's transaction committed; the body's value.
    Committed(T),
    /// A transaction with this key had already committed (an earlier attempt whose COMMIT outcome
    /// was unknown, or an earlier call): the body did not run again.
    AlreadyCommitted,
}

impl PgStore {
    /// Creates [`IDEMPOTENCY_TABLE`] if it does not exist (once, at deployment or start-up).
    ///
    /// # Errors
    ///
    /// The pool's or the server's error.
    pub async fn install_idempotency_keys(&self) -> Result<(), PgError> {
        let client = self.pool().get().await.map_err(PgError::Pool)?;
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS {IDEMPOTENCY_TABLE} \
             (key text PRIMARY KEY, committed_at timestamptz NOT NULL DEFAULT now())"
        );
        client.batch_execute(&sql).await.map_err(PgError::Postgres)
    }

    /// Like [`PgStore::write`], with `key` recorded inside the transaction: a lost COMMIT is
    /// retried safely instead of failing with [`PgError::CommitOutcomeUnknown`], and a second call
    /// with the same key does not apply the write again. Needs
    /// [`PgStore::install_idempotency_keys`].
    ///
    /// # Errors
    ///
    /// As [`PgStore::write`], except that an unknown COMMIT outcome is resolved by retrying.
    pub async fn write_idempotent<T, F>(
        &self,
        key: &str,
        body: F,
    ) -> Result<Idempotent<T>, RetryError<PgError>>
    where
        F: for<'t> FnMut(&'t Transaction<'t>) -> TxFuture<'t, T>,
    {
        let lost_commit_is_retryable = |e: &PgError| match e {
            PgError::CommitOutcomeUnknown(_) => Class::RETRYABLE,
            other => other.classify(),
        };
        let policy = self.options().write_policy();
        let result = self
            .retried(policy, "postgres.write_idempotent", Some(key), lost_commit_is_retryable, body)
            .await?;
        Ok(match result {
            Done::Committed(value) => Idempotent::Committed(value),
            Done::AlreadyCommitted => Idempotent::AlreadyCommitted,
        })
    }
}
