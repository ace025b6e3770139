//! `[postgres]`: where and how [`PgStore`](crate::postgres::PgStore) (feature `postgres`)
//! connects; the URL is never shown with its password.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{duration, opt_duration};

/// `[postgres]`: where and how `PgStore` (feature `postgres`) connects. Its `Debug` hides the
/// URL's password.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct PostgresConfig {
    /// A libpq-style URL or key=value string (none: the caller supplies one).
    pub url: Option<String>,
    /// Connections in the pool (default 16).
    pub pool_size: usize,
    /// Isolation of writes (default serializable).
    pub isolation: PgIsolation,
    /// How a conflict is retried (default: the whole transaction).
    pub mode: PgRetryMode,
    /// Bound on opening one connection (default 5 s).
    #[serde(with = "duration")]
    pub connect_timeout: Duration,
    /// `lock_timeout` of every connection (none: the server's).
    #[serde(with = "opt_duration")]
    pub lock_timeout: Option<Duration>,
    /// `statement_timeout` of every connection (none: the server's).
    #[serde(with = "opt_duration")]
    pub statement_timeout: Option<Duration>,
    /// Seats for retried writes (default 2; 0 turns them off): after a conflict, retried writes
    /// take turns, oldest first (see `PgOptions::with_retry_seats`). Also read as `retry_lane`,
    /// its former name.
    #[serde(alias = "retry_lane")]
    pub retry_seats: usize,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        PostgresConfig {
            url: None,
            pool_size: 16,
            isolation: PgIsolation::Serializable,
            mode: PgRetryMode::WholeTransaction,
            connect_timeout: Duration::from_secs(5),
            lock_timeout: None,
            statement_timeout: None,
            retry_seats: 2,
        }
    }
}

impl PostgresConfig {
    /// The URL with its password replaced by `***`, fit for logs.
    #[must_use]
    pub fn redacted_url(&self) -> Option<String> {
        self.url.as_deref().map(redact_url)
    }
}

impl std::fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("url", &self.redacted_url())
            .field("pool_size", &self.pool_size)
            .field("isolation", &self.isolation)
            .field("mode", &self.mode)
            .field("connect_timeout", &self.connect_timeout)
            .field("lock_timeout", &self.lock_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("retry_seats", &self.retry_seats)
            .finish()
    }
}

/// `url` with any password hidden: `postgres://user:***@host/db`, `password=***` in key=value form.
#[must_use]
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if let Some((userinfo, host)) = authority.rsplit_once('@')
            && let Some((user, _password)) = userinfo.split_once(':')
        {
            let tail = redact_words(tail, '&');
            return format!("{scheme}://{user}:***@{host}{tail}");
        }
        return format!("{scheme}://{authority}{}", redact_words(tail, '&'));
    }
    redact_words(url, ' ')
}

/// Replaces the value of every `password=` item in `text`, items separated by `separator`.
fn redact_words(text: &str, separator: char) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, item) in text.split(separator).enumerate() {
        if i > 0 {
            out.push(separator);
        }
        let lower = item.to_ascii_lowercase();
        let key_at = lower.find("password=");
        match key_at {
            Some(at) if at == 0 || lower[..at].ends_with('?') => {
                out.push_str(&item[..at + "password=".len()]);
                out.push_str("***");
            }
            _ => out.push_str(item),
        }
    }
    out
}

/// The isolation level of PostgreSQL writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum PgIsolation {
    /// READ COMMITTED: no serialization errors, and read-modify-write silently loses updates.
    ReadCommitted,
    /// REPEATABLE READ: snapshot isolation; concurrent updates of one row fail with 40001.
    RepeatableRead,
    /// SERIALIZABLE (the default; CockroachDB's only level): every anomaly becomes 40001.
    #[default]
    Serializable,
}

/// How a PostgreSQL write is retried after a conflict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum PgRetryMode {
    /// ROLLBACK and run the whole transaction again on a (possibly) new connection (default).
    #[default]
    WholeTransaction,
    /// CockroachDB's client-side protocol: `SAVEPOINT cockroach_restart` after BEGIN, `ROLLBACK TO
    /// SAVEPOINT cockroach_restart` and run the body again inside the same transaction on 40001.
    CockroachSavepoint,
}
