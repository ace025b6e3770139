//! Hooks on what the retry loop does, and counters built on them.
//!
//! The loop itself always logs through `tracing`: each retry at `warn` (attempt/max, delay, error),
//! each give-up at `error` (a permanent error, which is the caller's own, at `debug`). An
//! [`Observer`] adds custom hooks; [`RetryStats`] is the one most callers want: counters readable as
//! a [`RetryStatsSnapshot`] and exported through the `metrics` facade.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::StopReason;

/// A retry about to happen: the attempt that failed and the sleep before the next one.
#[derive(Clone, Copy)]
pub struct RetryEvent<'a> {
    /// The name given with `Retry::named` (empty when none).
    pub operation: &'a str,
    /// The attempt that failed, counting from 1.
    pub attempt: u32,
    /// The most attempts the policy allows.
    pub max_attempts: u32,
    /// The sleep before the next attempt.
    pub delay: Duration,
    /// Time since the first attempt started.
    pub elapsed: Duration,
    /// The error of the failed attempt.
    pub error: &'a dyn fmt::Display,
}

/// A retry loop that stopped without success.
#[derive(Clone, Copy)]
pub struct GiveUpEvent<'a> {
    /// The name given with `Retry::named` (empty when none).
    pub operation: &'a str,
    /// Attempts made.
    pub attempts: u32,
    /// Time since the first attempt started.
    pub elapsed: Duration,
    /// Why it stopped.
    pub reason: StopReason,
    /// The last error, which the caller receives unchanged.
    pub error: &'a dyn fmt::Display,
}

/// Custom hooks on the retry loop. Every method has an empty default.
pub trait Observer: Send + Sync {
    /// A call starts (before its first attempt).
    fn on_call(&self) {}
    /// An attempt failed with a retryable error and the loop will sleep, then try again.
    fn on_retry(&self, _event: &RetryEvent<'_>) {}
    /// The operation succeeded after `attempts` attempts (1 = no retry).
    fn on_success(&self, _attempts: u32, _elapsed: Duration) {}
    /// The loop gave up.
    fn on_give_up(&self, _event: &GiveUpEvent<'_>) {}
}

/// Observes nothing (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;

impl Observer for NoObserver {}

/// Forwards every hook through a pointer (`&O`, `Arc<O>`), so a `Retry` may hold, borrow or share
/// its observer.
macro_rules! forward_observer {
    ($($pointer:ty),+) => {$(
        impl<O: Observer + ?Sized> Observer for $pointer {
            fn on_call(&self) {
                (**self).on_call();
            }
            fn on_retry(&self, event: &RetryEvent<'_>) {
                (**self).on_retry(event);
            }
            fn on_success(&self, attempts: u32, elapsed: Duration) {
                (**self).on_success(attempts, elapsed);
            }
            fn on_give_up(&self, event: &GiveUpEvent<'_>) {
                (**self).on_give_up(event);
            }
        }
    )+};
}

forward_observer!(&O, std::sync::Arc<O>);

/// Counters of one kind of operation: calls, retries, successes after a retry, give-ups by reason.
///
/// Each counter is also sent to the `metrics` facade, labelled `operation = <name>`:
/// `sqlretry_calls_total`, `sqlretry_retries_total`, `sqlretry_successes_after_retry_total`,
/// `sqlretry_give_ups_total{reason}`. Without an installed recorder those calls do nothing.
///
/// # Examples
///
/// ```
/// use sqlretry::{Retry, RetryPolicy, RetryStats};
/// use std::io::{Error, ErrorKind};
///
/// let stats = RetryStats::new("save");
/// let policy = RetryPolicy::builder().max_attempts(3).build().unwrap();
/// let mut calls = 0;
/// let value = Retry::new(&policy)
///     .with_observer(&stats)
///     .with_sleeper(&|_| {}) // no real sleeping in this example
///     .call(|| {
///         calls += 1;
///         if calls < 2 { Err(Error::from(ErrorKind::WouldBlock)) } else { Ok(7) }
///     })
///     .unwrap();
/// assert_eq!(value, 7);
/// let snapshot = stats.snapshot();
/// assert_eq!((snapshot.calls, snapshot.retries, snapshot.successes_after_retry), (1, 1, 1));
/// ```
#[derive(Debug)]
pub struct RetryStats {
    operation: &'static str,
    calls: AtomicU64,
    retries: AtomicU64,
    successes_after_retry: AtomicU64,
    give_ups: [AtomicU64; StopReason::ALL.len()],
}

/// A point-in-time copy of [`RetryStats`].
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RetryStatsSnapshot {
    /// Calls started.
    pub calls: u64,
    /// Retries made (sleeps taken).
    pub retries: u64,
    /// Calls that succeeded after at least one retry.
    pub successes_after_retry: u64,
    /// Give-ups: permanent error.
    pub gave_up_permanent: u64,
    /// Give-ups: attempts exhausted.
    pub gave_up_attempts_exhausted: u64,
    /// Give-ups: deadline.
    pub gave_up_deadline: u64,
    /// Give-ups: budget.
    pub gave_up_budget: u64,
}

impl RetryStats {
    /// Counters for the operation `name` (the `operation` label in metrics).
    #[must_use]
    pub const fn new(operation: &'static str) -> Self {
        RetryStats {
            operation,
            calls: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            successes_after_retry: AtomicU64::new(0),
            give_ups: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
        }
    }

    /// The counters now.
    #[must_use]
    pub fn snapshot(&self) -> RetryStatsSnapshot {
        let give_up = |reason: StopReason| self.give_ups[reason_index(reason)].load(Ordering::Relaxed);
        RetryStatsSnapshot {
            calls: self.calls.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            successes_after_retry: self.successes_after_retry.load(Ordering::Relaxed),
            gave_up_permanent: give_up(StopReason::Permanent),
            gave_up_attempts_exhausted: give_up(StopReason::AttemptsExhausted),
            gave_up_deadline: give_up(StopReason::DeadlineExceeded),
            gave_up_budget: give_up(StopReason::BudgetExhausted),
        }
    }
}

fn reason_index(reason: StopReason) -> usize {
    StopReason::ALL.iter().position(|r| *r == reason).unwrap_or(0)
}

impl Observer for RetryStats {
    fn on_call(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("sqlretry_calls_total", "operation" => self.operation).increment(1);
    }

    fn on_retry(&self, _event: &RetryEvent<'_>) {
        self.retries.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("sqlretry_retries_total", "operation" => self.operation).increment(1);
    }

    fn on_success(&self, attempts: u32, _elapsed: Duration) {
        if attempts > 1 {
            self.successes_after_retry.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("sqlretry_successes_after_retry_total", "operation" => self.operation)
                .increment(1);
        }
    }

    fn on_give_up(&self, event: &GiveUpEvent<'_>) {
        self.give_ups[reason_index(event.reason)].fetch_add(1, Ordering::Relaxed);
        metrics::counter!(
            "sqlretry_give_ups_total",
            "operation" => self.operation,
            "reason" => event.reason.as_str()
        )
        .increment(1);
    }
}
