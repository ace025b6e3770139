//! [`PgMetrics`]: the retry counters of a [`PgStore`](super::PgStore), exported under the same
//! metric names as SQLite's with a `backend = "postgres"` label.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::StopReason;
use crate::observer::{GiveUpEvent, Observer, RetryEvent, RetryStatsSnapshot};

/// The `backend` label of every PostgreSQL metric.
pub const BACKEND: &str = "postgres";

/// Counters of a store's writes: calls, retries, successes after a retry, give-ups by reason, and
/// commits whose outcome was unknown.
///
/// Sent to the `metrics` facade as `sqlretry_calls_total`, `sqlretry_retries_total`,
/// `sqlretry_successes_after_retry_total`, `sqlretry_give_ups_total{reason}` (the names
/// [`RetryStats`](crate::RetryStats) uses), each labelled `operation` and `backend = "postgres"`,
/// plus `sqlretry_commit_outcome_unknown_total`.
#[derive(Debug)]
pub struct PgMetrics {
    operation: &'static str,
    calls: AtomicU64,
    retries: AtomicU64,
    successes_after_retry: AtomicU64,
    give_ups: [AtomicU64; StopReason::ALL.len()],
    outcome_unknown: AtomicU64,
}

impl PgMetrics {
    /// Counters for the operation `name` (the `operation` label).
    #[must_use]
    pub const fn new(operation: &'static str) -> Self {
        PgMetrics {
            operation,
            calls: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            successes_after_retry: AtomicU64::new(0),
            give_ups: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
            outcome_unknown: AtomicU64::new(0),
        }
    }

    /// The retry counters now, in the same shape as SQLite's.
    #[must_use]
    pub fn snapshot(&self) -> RetryStatsSnapshot {
        let give_up = |i: usize| self.give_ups[i].load(Ordering::Relaxed);
        RetryStatsSnapshot {
            calls: self.calls.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            successes_after_retry: self.successes_after_retry.load(Ordering::Relaxed),
            gave_up_permanent: give_up(0),
            gave_up_attempts_exhausted: give_up(1),
            gave_up_deadline: give_up(2),
            gave_up_budget: give_up(3),
        }
    }

    /// Commits whose outcome was unknown (connection lost during COMMIT).
    #[must_use]
    pub fn commit_outcome_unknown(&self) -> u64 {
        self.outcome_unknown.load(Ordering::Relaxed)
    }

    pub(crate) fn outcome_unknown(&self) {
        self.outcome_unknown.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("sqlretry_commit_outcome_unknown_total", "operation" => self.operation, "backend" => BACKEND)
            .increment(1);
    }
}

impl Observer for PgMetrics {
    fn on_call(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("sqlretry_calls_total", "operation" => self.operation, "backend" => BACKEND)
            .increment(1);
    }

    fn on_retry(&self, _event: &RetryEvent<'_>) {
        self.retries.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("sqlretry_retries_total", "operation" => self.operation, "backend" => BACKEND)
            .increment(1);
    }

    fn on_success(&self, attempts: u32, _elapsed: Duration) {
        if attempts > 1 {
            self.successes_after_retry.fetch_add(1, Ordering::Relaxed);
            metrics::counter!(
                "sqlretry_successes_after_retry_total",
                "operation" => self.operation,
                "backend" => BACKEND
            )
            .increment(1);
        }
    }

    fn on_give_up(&self, event: &GiveUpEvent<'_>) {
        let index = StopReason::ALL.iter().position(|r| *r == event.reason).unwrap_or(0);
        self.give_ups[index].fetch_add(1, Ordering::Relaxed);
        metrics::counter!(
            "sqlretry_give_ups_total",
            "operation" => self.operation,
            "backend" => BACKEND,
            "reason" => event.reason.as_str()
        )
        .increment(1);
    }
}

/// The store's own counters, then the caller's observer if one was given.
pub(crate) struct Observers<'a> {
    pub(crate) metrics: &'a PgMetrics,
    pub(crate) extra: Option<&'a dyn Observer>,
}

impl Observer for Observers<'_> {
    fn on_call(&self) {
        self.metrics.on_call();
        self.extra.inspect(|o| o.on_call());
    }
    fn on_retry(&self, event: &RetryEvent<'_>) {
        self.metrics.on_retry(event);
        self.extra.inspect(|o| o.on_retry(event));
    }
    fn on_success(&self, attempts: u32, elapsed: Duration) {
        self.metrics.on_success(attempts, elapsed);
        self.extra.inspect(|o| o.on_success(attempts, elapsed));
    }
    fn on_give_up(&self, event: &GiveUpEvent<'_>) {
        self.metrics.on_give_up(event);
        self.extra.inspect(|o| o.on_give_up(event));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_like_retry_stats() {
        let m = PgMetrics::new("postgres.write");
        m.on_call();
        m.on_success(2, Duration::from_millis(1));
        m.on_give_up(&GiveUpEvent {
            operation: "postgres.write",
            attempts: 3,
            elapsed: Duration::ZERO,
            reason: StopReason::DeadlineExceeded,
            error: &"x",
        });
        m.outcome_unknown();
        let s = m.snapshot();
        assert_eq!((s.calls, s.successes_after_retry, s.gave_up_deadline, s.gave_up_permanent), (1, 1, 1, 0));
        assert_eq!(m.commit_outcome_unknown(), 1);
    }
}
