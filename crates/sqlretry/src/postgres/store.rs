//! [`PgStore`]: every write to PostgreSQL a whole transaction at SERIALIZABLE (by default), retried
//! whole under the same [`RetryPolicy`], deadline, budget and observer as SQLite's `Store`.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::{NoTls, Transaction};

use super::attempt::{Done, attempt};
use super::classify::PgError;
use super::metrics::{Observers, PgMetrics};
use super::options::PgOptions;
use super::retry_seats::{RetrySeats, Seat, Seated};
use super::tx_future::TxFuture;
use crate::classify::{ByErrorType, Classifier};
use crate::deadline::Deadline;
use crate::error::RetryError;
use crate::observer::Observer;
use crate::policy::RetryPolicy;
use crate::retry::Retry;

/// A pool of PostgreSQL connections whose writes are whole transactions retried whole.
///
/// Connections are opened on demand (none at construction), with [`PgOptions`]' timeouts as
/// session settings; a connection lost or timed out mid-attempt is discarded, never reused.
/// Without TLS (`NoTls`): for a server reached over a network, put it behind a TLS-terminating
/// proxy or extend this with a TLS connector.
///
/// # Examples
///
/// ```no_run
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use sqlretry::postgres::PgStore;
///
/// let store = PgStore::connect("postgres://app@127.0.0.1/app")?;
/// // Read-modify-write at SERIALIZABLE: a 40001 or 40P01 re-runs the whole body.
/// let n: i64 = store
///     .write(|tx| Box::pin(async move {
///         let row = tx.query_one("SELECT n FROM counters WHERE id = 1", &[]).await?;
///         let n: i64 = row.get(0);
///         tx.execute("UPDATE counters SET n = $1 WHERE id = 1", &[&(n + 1)]).await?;
///         Ok(n + 1)
///     }))
///     .await?;
/// # let _ = n;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct PgStore {
    pool: Pool,
    options: PgOptions,
    metrics: PgMetrics,
    observer: Option<Arc<dyn Observer>>,
    target: String,
    seats: RetrySeats,
}

impl PgStore {
    /// A store for `url` with [`PgOptions::default`] (SERIALIZABLE, the `store_writes` policy).
    /// The constructors follow the crate's one convention: `connect(url)` with defaults,
    /// `connect_with(url, options)`, and `from_config` for a built `tokio_postgres::Config`.
    ///
    /// # Errors
    ///
    /// As [`PgStore::connect_with`].
    pub fn connect(url: &str) -> Result<PgStore, PgError> {
        PgStore::connect_with(url, PgOptions::default())
    }

    /// A store for `url` (a `postgres://` URL or a libpq key=value string).
    ///
    /// # Errors
    ///
    /// [`PgError::Postgres`] when `url` does not parse.
    pub fn connect_with(url: &str, options: PgOptions) -> Result<PgStore, PgError> {
        let config: tokio_postgres::Config = url.parse()?;
        PgStore::from_config(config, options)
    }

    /// A store for an already-built connection configuration.
    ///
    /// # Errors
    ///
    /// [`PgError::Pool`] when the pool cannot be built (it cannot, with tokio; kept for safety).
    pub fn from_config(config: tokio_postgres::Config, options: PgOptions) -> Result<PgStore, PgError> {
        let target = describe(&config);
        let config = options.apply(config);
        let manager =
            Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(options.pool_size())
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(options.connect_timeout()))
            .build()
            .map_err(|_| PgError::Pool(deadpool_postgres::PoolError::NoRuntimeSpecified))?;
        tracing::debug!(target = %target, pool_size = options.pool_size(), isolation = ?options.isolation(), "postgres store");
        let seats = RetrySeats::new(options.retry_seats());
        Ok(PgStore {
            pool,
            options,
            metrics: PgMetrics::new("postgres.write"),
            observer: None,
            target,
            seats,
        })
    }

    /// Tells `observer` too (besides [`PgStore::metrics`]) about every write's calls, retries,
    /// successes and give-ups — the same [`Observer`] a SQLite writer takes.
    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = Some(observer);
        self
    }

    pub(crate) fn observers(&self) -> Observers<'_> {
        Observers { metrics: &self.metrics, extra: self.observer.as_deref() }
    }

    /// Runs `body` in a transaction and commits it, retrying the whole transaction under the
    /// store's write policy (see [`PgStore::write_with`]).
    ///
    /// # Errors
    ///
    /// As [`PgStore::write_with`].
    pub async fn write<T, F>(&self, body: F) -> Result<T, RetryError<PgError>>
    where
        F: for<'t> FnMut(&'t Transaction<'t>) -> TxFuture<'t, T>,
    {
        self.write_with(self.options.write_policy(), body).await
    }

    /// Runs `body` in a transaction and commits it, under `policy`: a serialization failure
    /// (40001), a deadlock (40P01), a lock timeout (55P03) or a connection lost before COMMIT rolls
    /// back and runs the whole body again, on a fresh connection where the old one is gone. The
    /// value is returned only after COMMIT returned OK. One deadline, fixed now from the policy,
    /// bounds every wait: the pool, each statement, the sleeps.
    ///
    /// In [`PgRetryMode::CockroachSavepoint`](crate::config::PgRetryMode) mode, each attempt runs the body inside `SAVEPOINT
    /// cockroach_restart` (see [`cockroach`](super::cockroach)).
    ///
    /// # Errors
    ///
    /// [`RetryError`] holding the last [`PgError`], unchanged: a permanent error (a constraint, a
    /// syntax error: its SQLSTATE, message and detail kept) after its one attempt,
    /// [`PgError::CommitOutcomeUnknown`] (never retried: see
    /// [`PgStore::write_idempotent`]), or the last retryable error when the policy ran out.
    pub async fn write_with<T, F>(&self, policy: &RetryPolicy, body: F) -> Result<T, RetryError<PgError>>
    where
        F: for<'t> FnMut(&'t Transaction<'t>) -> TxFuture<'t, T>,
    {
        let result = self.retried(policy, "postgres.write", None, ByErrorType, body).await;
        if let Err(e) = &result
            && e.inner().is_commit_outcome_unknown()
        {
            tracing::error!(target = %self.target, error = %e, "commit outcome unknown: not retried");
        }
        match result? {
            Done::Committed(value) => Ok(value),
            // No key was recorded, so an attempt never finds one; say so rather than panic.
            Done::AlreadyCommitted => Err(RetryError::new(
                PgError::CommitOutcomeUnknown(None),
                1,
                std::time::Duration::ZERO,
                crate::error::StopReason::Permanent,
            )),
        }
    }

    /// The one retried write both [`PgStore::write_with`] and [`PgStore::write_idempotent`] run:
    /// attempts under `policy` and its deadline, classified by `classifier`, counted by the store's
    /// observers. After its first conflict a write queues for the retry seats (see `retry_seats.rs`).
    pub(crate) async fn retried<T, F, K>(
        &self,
        policy: &RetryPolicy,
        operation: &str,
        key: Option<&str>,
        classifier: K,
        body: F,
    ) -> Result<Done<T>, RetryError<PgError>>
    where
        F: for<'t> FnMut(&'t Transaction<'t>) -> TxFuture<'t, T>,
        K: Classifier<PgError>,
    {
        let deadline = Deadline::from_policy(policy, Instant::now());
        let body = tokio::sync::Mutex::new(body);
        let observers = self.observers();
        // Released when this write ends, however it ends.
        let seat = Seat::default();
        let may_retry = policy.max_attempts() > 1;
        Retry::new(policy)
            .named(operation)
            .with_observer(&observers)
            .until(deadline)
            .classify_with(Seated { inner: classifier, seat: &seat })
            .call_async(|| async {
                let mut body = body.lock().await;
                let done = attempt(&self.pool, &self.options, deadline, key, &mut *body).await;
                match &done {
                    Err(PgError::CommitOutcomeUnknown(_)) => self.metrics.outcome_unknown(),
                    Err(error) if may_retry => self.seats.after(&seat, error, deadline).await,
                    _ => {}
                }
                done
            })
            .await
    }

    /// The store's options.
    #[must_use]
    pub fn options(&self) -> &PgOptions {
        &self.options
    }

    /// Retry counters of this store's writes (`operation = "postgres.write"`, `backend =
    /// "postgres"` in metrics).
    #[must_use]
    pub fn metrics(&self) -> &PgMetrics {
        &self.metrics
    }

    /// The connection pool (for reads and set-up outside the retried write path). Its connections
    /// start with [`PgOptions::session_timeouts`] (by default the write policy's deadline as
    /// `lock_timeout` and `statement_timeout`): a longer statement through them needs its own
    /// `SET LOCAL statement_timeout`.
    #[must_use]
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Where the store connects, without the password: `user@host:port/dbname`.
    #[must_use]
    pub fn target(&self) -> &str {
        &self.target
    }
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("target", &self.target)
            .field("options", &self.options)
            .field("metrics", &self.metrics.snapshot())
            .finish_non_exhaustive()
    }
}

/// `user@host:port/dbname` from a configuration: never the password.
fn describe(config: &tokio_postgres::Config) -> String {
    use tokio_postgres::config::Host;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(name)) => name.clone(),
        #[cfg(unix)]
        Some(Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{}@{host}:{port}/{}", config.get_user().unwrap_or(""), config.get_dbname().unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_never_shows_the_password() {
        let config: tokio_postgres::Config = "postgres://app:s3cret@db.example:6543/orders".parse().unwrap();
        assert_eq!(describe(&config), "app@db.example:6543/orders");
        let store = PgStore::from_config(config, PgOptions::default()).unwrap();
        assert!(!format!("{store:?}").contains("s3cret"));
    }
}
