//! [`BlockingPgStore`]: [`PgStore`] for sync callers — the same writes, blocking the calling thread.

use std::fmt;
use std::time::Duration;

use tokio_postgres::Transaction;

use super::classify::PgError;
use super::idempotent::Idempotent;
use super::options::PgOptions;
use super::store::PgStore;
use super::tx_future::TxFuture;
use crate::error::{RetryError, StopReason};
use crate::policy::RetryPolicy;

/// A [`PgStore`] for code without an async runtime: each call blocks the calling thread until
/// the write committed or gave up.
///
/// It owns a current-thread tokio runtime and starts no thread: the pool's connections are driven
/// by whichever thread is inside a call (between calls they sit idle). Shareable between threads
/// (`&self`); concurrent calls take turns driving the runtime, so many threads get no more
/// parallelism on the client than one async task would — which a database-bound write rarely
/// needs.
///
/// Pick it for sync programs (a CLI, a thread-per-request server, a batch job). Inside async code
/// use [`PgStore`]: a call from inside a tokio runtime returns [`PgError::InsideAsyncRuntime`]
/// (after no attempt) rather than block the runtime's thread or panic.
///
/// # Examples
///
/// ```no_run
/// use sqlretry::postgres::BlockingPgStore;
///
/// let store = BlockingPgStore::connect("postgres://app@127.0.0.1/app")?;
/// store.write(|tx| Box::pin(async move {
///     tx.execute("UPDATE counters SET n = n + 1 WHERE id = 1", &[]).await?;
///     Ok(())
/// }))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct BlockingPgStore {
    store: PgStore,
    // `Option` only so that `Drop` can shut it down without blocking (see there).
    runtime: Option<tokio::runtime::Runtime>,
}

impl BlockingPgStore {
    /// A blocking store for `url` with [`PgOptions::default`].
    ///
    /// # Errors
    ///
    /// As [`BlockingPgStore::connect_with`].
    pub fn connect(url: &str) -> Result<Self, PgError> {
        BlockingPgStore::connect_with(url, PgOptions::default())
    }

    /// A blocking store for `url` (see [`PgStore::connect_with`]).
    ///
    /// # Errors
    ///
    /// [`PgError::Postgres`] when `url` does not parse, [`PgError::Runtime`] when the runtime
    /// cannot start.
    pub fn connect_with(url: &str, options: PgOptions) -> Result<Self, PgError> {
        BlockingPgStore::new(PgStore::connect_with(url, options)?)
    }

    /// A blocking store for an already-built connection configuration.
    ///
    /// # Errors
    ///
    /// As [`PgStore::from_config`], or [`PgError::Runtime`].
    pub fn from_config(config: tokio_postgres::Config, options: PgOptions) -> Result<Self, PgError> {
        BlockingPgStore::new(PgStore::from_config(config, options)?)
    }

    /// Wraps `store` (one made outside any call; its pool must not have handed out connections on
    /// another runtime).
    ///
    /// # Errors
    ///
    /// [`PgError::Runtime`] when the runtime cannot start.
    pub fn new(store: PgStore) -> Result<Self, PgError> {
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(PgError::Runtime)?;
        Ok(BlockingPgStore { store, runtime: Some(runtime) })
    }

    /// [`PgStore::write`], blocking.
    ///
    /// # Errors
    ///
    /// As [`PgStore::write`]; [`PgError::InsideAsyncRuntime`] when called inside a tokio runtime.
    pub fn write<T, F>(&self, body: F) -> Result<T, RetryError<PgError>>
    where
        F: for<'t> FnMut(&'t Transaction<'t>) -> TxFuture<'t, T>,
    {
        self.write_with(self.store.options().write_policy(), body)
    }

    /// [`PgStore::write_with`], blocking.
    ///
    /// # Errors
    ///
    /// As [`PgStore::write_with`]; [`PgError::InsideAsyncRuntime`] when called inside a tokio
    /// runtime.
    pub fn write_with<T, F>(&self, policy: &RetryPolicy, body: F) -> Result<T, RetryError<PgError>>
    where
        F: for<'t> FnMut(&'t Transaction<'t>) -> TxFuture<'t, T>,
    {
        self.runtime()?.block_on(self.store.write_with(policy, body))
    }

    /// [`PgStore::write_idempotent`], blocking.
    ///
    /// # Errors
    ///
    /// As [`PgStore::write_idempotent`]; [`PgError::InsideAsyncRuntime`] when called inside a
    /// tokio runtime.
    pub fn write_idempotent<T, F>(&self, key: &str, body: F) -> Result<Idempotent<T>, RetryError<PgError>>
    where
        F: for<'t> FnMut(&'t Transaction<'t>) -> TxFuture<'t, T>,
    {
        self.runtime()?.block_on(self.store.write_idempotent(key, body))
    }

    /// [`PgStore::install_idempotency_keys`], blocking.
    ///
    /// # Errors
    ///
    /// As [`PgStore::install_idempotency_keys`]; [`PgError::InsideAsyncRuntime`].
    pub fn install_idempotency_keys(&self) -> Result<(), PgError> {
        self.runtime().map_err(RetryError::into_inner)?.block_on(self.store.install_idempotency_keys())
    }

    /// The async store inside (its options, metrics, target).
    #[must_use]
    pub fn store(&self) -> &PgStore {
        &self.store
    }

    /// The runtime, unless the caller is inside one (where `block_on` would panic).
    fn runtime(&self) -> Result<&tokio::runtime::Runtime, RetryError<PgError>> {
        let refuse = |error| RetryError::new(error, 0, Duration::ZERO, StopReason::Permanent);
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(refuse(PgError::InsideAsyncRuntime));
        }
        // Only `Drop` empties it.
        self.runtime.as_ref().ok_or_else(|| refuse(PgError::InsideAsyncRuntime))
    }
}

impl Drop for BlockingPgStore {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which panics inside another runtime; the background shutdown
        // does not block (there is no thread to wait for) and ends the connections' tasks.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl fmt::Debug for BlockingPgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingPgStore").field("store", &self.store).finish_non_exhaustive()
    }
}
