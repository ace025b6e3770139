//! The errors sqlretry returns: giving up on an operation, and refusing bad configuration.

use std::fmt;
use std::time::Duration;

use crate::classify::{Class, Classify};

/// Why a retry loop stopped without a success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StopReason {
    /// The error was classified permanent: it was returned after the attempt that produced it.
    Permanent,
    /// Every attempt the policy allows was made.
    AttemptsExhausted,
    /// The next sleep would have ended past the policy's total deadline.
    DeadlineExceeded,
    /// The shared retry budget refused another retry.
    BudgetExhausted,
}

impl StopReason {
    /// Every reason, in a fixed order (for metrics and reports).
    pub const ALL: [StopReason; 4] = [
        StopReason::Permanent,
        StopReason::AttemptsExhausted,
        StopReason::DeadlineExceeded,
        StopReason::BudgetExhausted,
    ];

    /// A short, stable, snake_case name (used as a metrics label).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            StopReason::Permanent => "permanent",
            StopReason::AttemptsExhausted => "attempts_exhausted",
            StopReason::DeadlineExceeded => "deadline_exceeded",
            StopReason::BudgetExhausted => "budget_exhausted",
        }
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StopReason::Permanent => "permanent error",
            StopReason::AttemptsExhausted => "attempts exhausted",
            StopReason::DeadlineExceeded => "deadline exceeded",
            StopReason::BudgetExhausted => "retry budget exhausted",
        })
    }
}

/// An operation that did not succeed: the original last error, unchanged, and how it came to that.
///
/// `source()` is the original error, and [`RetryError::into_inner`] gives it back by value, so a
/// caller that only wants the underlying error (a `rusqlite::Error`, an `io::Error`) loses nothing.
///
/// # Examples
///
/// ```
/// use sqlretry::{RetryPolicy, StopReason};
/// use std::io::{Error, ErrorKind};
///
/// let policy = RetryPolicy::builder().max_attempts(1).build().unwrap();
/// let err = policy.call(|| Err::<(), _>(Error::from(ErrorKind::NotFound))).unwrap_err();
/// assert_eq!(err.reason(), StopReason::Permanent);
/// assert_eq!(err.attempts(), 1);
/// assert_eq!(err.into_inner().kind(), ErrorKind::NotFound);
/// ```
#[derive(Debug)]
pub struct RetryError<E> {
    error: E,
    attempts: u32,
    elapsed: Duration,
    reason: StopReason,
}

impl<E> RetryError<E> {
    /// Builds the error for a loop that stopped (used by the execution twins and by layers above).
    #[must_use]
    pub fn new(error: E, attempts: u32, elapsed: Duration, reason: StopReason) -> Self {
        RetryError { error, attempts, elapsed, reason }
    }

    /// The last error the operation returned, unchanged.
    #[must_use]
    pub fn inner(&self) -> &E {
        &self.error
    }

    /// Takes the last error the operation returned, unchanged.
    #[must_use]
    pub fn into_inner(self) -> E {
        self.error
    }

    /// How many times the operation ran (the first call counts).
    #[must_use]
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Time from the start of the first attempt until giving up, sleeps included.
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// Why the loop stopped.
    #[must_use]
    pub fn reason(&self) -> StopReason {
        self.reason
    }

    /// Transforms the inner error, keeping the attempt count, elapsed time and reason.
    #[must_use]
    pub fn map_inner<F, T>(self, f: F) -> RetryError<T>
    where
        F: FnOnce(E) -> T,
    {
        RetryError {
            error: f(self.error),
            attempts: self.attempts,
            elapsed: self.elapsed,
            reason: self.reason,
        }
    }
}

impl<E: fmt::Display> fmt::Display for RetryError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} after {} attempt{} in {:.1?}: {}",
            self.reason,
            self.attempts,
            if self.attempts == 1 { "" } else { "s" },
            self.elapsed,
            self.error
        )
    }
}

impl<E: std::error::Error + 'static> std::error::Error for RetryError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// A wrapper delegates to what it wraps: a `RetryError` that reached an outer retry loop is as
/// retryable as its original error (layers should still be avoided; see the crate's `# Design`).
impl<E: Classify> Classify for RetryError<E> {
    fn classify(&self) -> Class {
        self.error.classify()
    }
}

/// A policy, schedule or configuration value that was refused. It names the field and the value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A value outside what the field accepts.
    #[error("invalid value for `{field}`: {value} ({reason})")]
    Invalid {
        /// The field, as written in the configuration (`retry.multiplier`, `max_attempts`).
        field: String,
        /// The value that was given, as text.
        value: String,
        /// What the field accepts.
        reason: String,
    },
    /// A configuration file or environment variable that could not be read or parsed.
    #[error("cannot read configuration from {origin}: {message}")]
    Parse {
        /// Where the text came from: a file path or an environment variable name.
        origin: String,
        /// What the parser said.
        message: String,
    },
}

impl ConfigError {
    /// A value outside what `field` accepts.
    pub fn invalid(field: impl Into<String>, value: impl fmt::Display, reason: impl Into<String>) -> Self {
        ConfigError::Invalid { field: field.into(), value: value.to_string(), reason: reason.into() }
    }

    /// The field this error names, if it names one.
    #[must_use]
    pub fn field(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { field, .. } => Some(field),
            ConfigError::Parse { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;
    use std::io;

    #[test]
    fn keeps_the_original_error_as_source_and_inner() {
        let err = RetryError::new(
            io::Error::other("disk"),
            3,
            Duration::from_millis(30),
            StopReason::AttemptsExhausted,
        );
        assert_eq!(err.source().map(|s| s.to_string()), Some("disk".to_owned()));
        assert_eq!(err.to_string(), "attempts exhausted after 3 attempts in 30.0ms: disk");
        assert_eq!(err.into_inner().to_string(), "disk");
    }

    #[test]
    fn config_error_names_field_and_value() {
        let err = ConfigError::invalid("retry.multiplier", 0.5, "must be at least 1");
        assert_eq!(err.field(), Some("retry.multiplier"));
        assert_eq!(err.to_string(), "invalid value for `retry.multiplier`: 0.5 (must be at least 1)");
    }
}
