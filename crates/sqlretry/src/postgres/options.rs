//! [`PgOptions`]: how a [`PgStore`](super::PgStore) connects and retries, built in code or from the
//! `[postgres]` and `[retry.write]` sections of the configuration.

use std::time::Duration;

use tokio_postgres::IsolationLevel;

use crate::config::{Config, PgIsolation, PgRetryMode, PostgresConfig};
use crate::error::ConfigError;
use crate::policy::RetryPolicy;

/// How a [`PgStore`](super::PgStore) connects and retries.
///
/// Defaults: SERIALIZABLE, whole-transaction retry under [`PgOptions::default_write_policy`]
/// ([`PgOptions::from_config`] takes `[retry.write]` instead, as SQLite's `Store` does), 16 pooled
/// connections, a 5 s connect timeout, the server's own
/// `lock_timeout` and `statement_timeout`, 2 retry seats ([`PgOptions::with_retry_seats`]).
///
/// # Examples
///
/// ```
/// use sqlretry::config::{Config, PgIsolation};
/// use sqlretry::postgres::PgOptions;
///
/// // The same file (and SQLRETRY_… variables) that configure SQLite writes configure these.
/// let config = Config::from_toml_str(
///     "[retry.write]\nmax_attempts = 5\n[postgres]\npool_size = 8\nlock_timeout = \"1s\"\n",
/// )?;
/// let options = PgOptions::from_config(&config)?;
/// assert_eq!(options.write_policy().max_attempts(), 5);
/// assert_eq!((options.pool_size(), options.isolation()), (8, PgIsolation::Serializable));
/// // lock_timeout as configured; statement_timeout from the write policy's deadline (5 s) + 100 ms.
/// assert_eq!(options.session_options(), "-c lock_timeout=1000 -c statement_timeout=5100");
/// # Ok::<(), sqlretry::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct PgOptions {
    isolation: PgIsolation,
    mode: PgRetryMode,
    write_policy: RetryPolicy,
    pool_size: usize,
    connect_timeout: Duration,
    lock_timeout: Option<Duration>,
    statement_timeout: Option<Duration>,
    retry_seats: usize,
}

/// Slack given to `statement_timeout` over the time left, so that a lock wait cut by the deadline
/// ends as 55P03 (retryable, the deadline's reason) rather than as 57014 (permanent).
pub(crate) const STATEMENT_SLACK: Duration = Duration::from_millis(100);

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions::from_section(&PostgresConfig::default(), PgOptions::default_write_policy())
    }
}

impl PgOptions {
    /// The default policy of PostgreSQL writes: up to 50 attempts within 10 s, delays of 1 ms
    /// doubling to 32 ms with full jitter.
    ///
    /// Unlike SQLite's lock, a 40001 is raised only once the conflicting transaction has ended, so
    /// the next attempt can usually go at once: short delays, and jitter so that the losers of one
    /// conflict do not meet again in the next.
    #[must_use]
    pub fn default_write_policy() -> RetryPolicy {
        RetryPolicy::builder()
            .max_attempts(50)
            .backoff(
                crate::backoff::ExponentialBuilder::default()
                    .with_initial(Duration::from_millis(1))
                    .with_cap(Duration::from_millis(32))
                    .with_jitter(crate::backoff::Jitter::Full),
            )
            .deadline(Duration::from_secs(10))
            .build()
            .unwrap_or_else(|_| RetryPolicy::store_writes())
    }

    /// From `[postgres]` and `[retry.write]` (and the shared `[budget]`): the same policy SQLite
    /// writes use.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the field (`retry.write.multiplier`, `postgres.pool_size`).
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(PgOptions::from_section(&config.postgres, config.write_policy()?))
    }

    fn from_section(section: &PostgresConfig, write_policy: RetryPolicy) -> Self {
        PgOptions {
            isolation: section.isolation,
            mode: section.mode,
            write_policy,
            pool_size: section.pool_size.max(1),
            connect_timeout: section.connect_timeout,
            lock_timeout: section.lock_timeout,
            statement_timeout: section.statement_timeout,
            retry_seats: section.retry_seats,
        }
    }

    /// The isolation level of writes.
    #[must_use]
    pub fn with_isolation(mut self, isolation: PgIsolation) -> Self {
        self.isolation = isolation;
        self
    }

    /// How conflicts are retried.
    #[must_use]
    pub fn with_mode(mut self, mode: PgRetryMode) -> Self {
        self.mode = mode;
        self
    }

    /// The policy writes are retried under; its deadline bounds the whole wait of one write
    /// (waiting for a pooled connection included).
    #[must_use]
    pub fn with_write_policy(mut self, policy: RetryPolicy) -> Self {
        self.write_policy = policy;
        self
    }

    /// Connections in the pool (at least 1).
    #[must_use]
    pub fn with_pool_size(mut self, size: usize) -> Self {
        self.pool_size = size.max(1);
        self
    }

    /// Bound on opening one connection.
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// `lock_timeout` of every connection: a lock wait longer than this fails with 55P03, which is
    /// retried.
    #[must_use]
    pub fn with_lock_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// `statement_timeout` of every connection (57014, permanent).
    #[must_use]
    pub fn with_statement_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.statement_timeout = timeout;
        self
    }

    /// Seats for retried writes (0: none). After a conflict (40001, 40P01), a write's later
    /// attempts run only while it holds a seat, taken oldest first and kept until the write ends,
    /// and retry at once (no backoff): retried transactions stop colliding with each other, which
    /// cuts the tail on hot rows. The wait is bounded by the write's deadline (past it, the
    /// original conflict error is returned). The cost: retried writes to *different* rows wait for
    /// each other; size it up (or to 0) where conflicts are spread out. Default 2.
    #[must_use]
    pub fn with_retry_seats(mut self, seats: usize) -> Self {
        self.retry_seats = seats;
        self
    }

    /// Seats for retried writes (0: none).
    #[must_use]
    pub fn retry_seats(&self) -> usize {
        self.retry_seats
    }

    /// The isolation level of writes.
    #[must_use]
    pub fn isolation(&self) -> PgIsolation {
        self.isolation
    }

    /// How conflicts are retried.
    #[must_use]
    pub fn mode(&self) -> PgRetryMode {
        self.mode
    }

    /// The policy writes are retried under.
    #[must_use]
    pub fn write_policy(&self) -> &RetryPolicy {
        &self.write_policy
    }

    /// Connections in the pool.
    #[must_use]
    pub fn pool_size(&self) -> usize {
        self.pool_size
    }

    /// Bound on opening one connection.
    #[must_use]
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// `lock_timeout` of every connection, if set.
    #[must_use]
    pub fn lock_timeout(&self) -> Option<Duration> {
        self.lock_timeout
    }

    /// `statement_timeout` of every connection, if set.
    #[must_use]
    pub fn statement_timeout(&self) -> Option<Duration> {
        self.statement_timeout
    }

    /// The timeouts every connection of the pool starts with: `lock_timeout` and
    /// `statement_timeout` as configured, else the write policy's deadline (plus
    /// 100 ms for statements; none without a deadline). A transaction whose time left
    /// these already bound is sent no `SET LOCAL` (one statement fewer per write: BENCHMARKS.md,
    /// #12); connections taken with [`PgStore::pool`](super::PgStore::pool) carry them too.
    #[must_use]
    pub fn session_timeouts(&self) -> (Option<Duration>, Option<Duration>) {
        let deadline = self.write_policy.deadline();
        (self.lock_timeout.or(deadline), self.statement_timeout.or(deadline.map(|d| d + STATEMENT_SLACK)))
    }

    /// The `-c name=value` startup options that set [`session_timeouts`](Self::session_timeouts)
    /// (milliseconds), empty when there are none.
    #[must_use]
    pub fn session_options(&self) -> String {
        let (lock, statement) = self.session_timeouts();
        let settings = [("lock_timeout", lock), ("statement_timeout", statement)];
        let parts: Vec<String> = settings
            .iter()
            .filter_map(|(name, value)| value.map(|v| format!("-c {name}={}", v.as_millis().max(1))))
            .collect();
        parts.join(" ")
    }

    /// `base` with this store's connect timeout and session options added (its own options kept).
    #[must_use]
    pub fn apply(&self, mut base: tokio_postgres::Config) -> tokio_postgres::Config {
        let ours = self.session_options();
        if !ours.is_empty() {
            let merged = match base.get_options() {
                Some(theirs) if !theirs.is_empty() => format!("{theirs} {ours}"),
                _ => ours,
            };
            base.options(merged);
        }
        base.connect_timeout(self.connect_timeout);
        base
    }

    pub(crate) fn isolation_level(&self) -> IsolationLevel {
        match self.isolation {
            PgIsolation::ReadCommitted => IsolationLevel::ReadCommitted,
            PgIsolation::RepeatableRead => IsolationLevel::RepeatableRead,
            _ => IsolationLevel::Serializable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_serializable_whole_transaction_store_writes() {
        let o = PgOptions::default();
        assert_eq!(
            (o.isolation(), o.mode(), o.pool_size()),
            (PgIsolation::Serializable, PgRetryMode::WholeTransaction, 16)
        );
        assert_eq!((o.write_policy().max_attempts(), o.retry_seats()), (50, 2));
        assert_eq!(o.write_policy().deadline(), Some(Duration::from_secs(10)));
        // The deadline is every connection's own bound (see `session_timeouts`).
        assert_eq!(o.session_options(), "-c lock_timeout=10000 -c statement_timeout=10100");
        assert!(matches!(o.isolation_level(), IsolationLevel::Serializable));
    }

    #[test]
    fn timeouts_join_the_callers_own_startup_options() {
        let o = PgOptions::default()
            .with_lock_timeout(Some(Duration::from_millis(50)))
            .with_statement_timeout(Some(Duration::from_secs(2)));
        let mut base = tokio_postgres::Config::new();
        base.options("-c search_path=s1");
        let applied = o.apply(base);
        assert_eq!(
            applied.get_options(),
            Some("-c search_path=s1 -c lock_timeout=50 -c statement_timeout=2000")
        );
        assert_eq!(applied.get_connect_timeout(), Some(&Duration::from_secs(5)));
    }
}
