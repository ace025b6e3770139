//! The execution twins: [`Retry::call`] (blocking) and [`Retry::call_async`] (async, feature
//! `tokio`). Both share one vocabulary and one step function ([`Progress::after_error`]), which asks
//! the pure [`RetryPolicy::decide`], then the budget, then logs and tells the observer.

mod blocking;
#[cfg(feature = "tokio")]
mod future;

use std::fmt;
use std::time::{Duration, Instant};

use crate::backoff::Schedule;
use crate::classify::{ByErrorType, Classifier};
use crate::deadline::Deadline;
use crate::error::{RetryError, StopReason};
use crate::observer::{GiveUpEvent, NoObserver, Observer, RetryEvent};
use crate::policy::{Decision, RetryPolicy};
use crate::time::{BlockingSleeper, Clock, Millis, SystemClock, ThreadSleeper};
#[cfg(feature = "tokio")]
use crate::time::{Sleeper, TokioSleeper};

/// Runs operations under a [`RetryPolicy`], with injectable time, observer and classifier.
///
/// `Retry` only borrows; building one per call costs nothing.
///
/// # Examples
///
/// ```
/// use sqlretry::{Class, Retry, RetryPolicy};
///
/// let policy = RetryPolicy::builder().max_attempts(4).build().unwrap();
/// let mut attempts = 0;
/// let result: Result<u32, _> = Retry::new(&policy)
///     .named("example")
///     .classify_with(|e: &String| if e == "busy" { Class::RETRYABLE } else { Class::Permanent })
///     .with_sleeper(&|_| {})
///     .call(|| {
///         attempts += 1;
///         if attempts < 3 { Err("busy".to_owned()) } else { Ok(attempts) }
///     });
/// assert_eq!(result.unwrap(), 3);
/// ```
pub struct Retry<'a, K = ByErrorType> {
    policy: &'a RetryPolicy,
    operation: &'a str,
    clock: &'a dyn Clock,
    sleeper: &'a dyn BlockingSleeper,
    #[cfg(feature = "tokio")]
    async_sleeper: &'a dyn Sleeper,
    observer: &'a dyn Observer,
    deadline: Deadline,
    classifier: K,
}

impl<'a> Retry<'a> {
    /// Runs under `policy` with the system clock, real sleeps, no observer, and errors classified by
    /// their own [`Classify`](crate::Classify) impl.
    #[must_use]
    pub fn new(policy: &'a RetryPolicy) -> Self {
        Retry {
            policy,
            operation: "",
            clock: &SystemClock,
            sleeper: &ThreadSleeper,
            #[cfg(feature = "tokio")]
            async_sleeper: &TokioSleeper,
            observer: &NoObserver,
            deadline: Deadline::NONE,
            classifier: ByErrorType,
        }
    }
}

impl<'a, K> Retry<'a, K> {
    /// Names the operation in logs and observer events.
    #[must_use]
    pub fn named(mut self, operation: &'a str) -> Self {
        self.operation = operation;
        self
    }

    /// Measures elapsed time and deadlines on `clock`.
    #[must_use]
    pub fn with_clock(mut self, clock: &'a dyn Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Sleeps with `sleeper` in [`Retry::call`].
    #[must_use]
    pub fn with_sleeper(mut self, sleeper: &'a dyn BlockingSleeper) -> Self {
        self.sleeper = sleeper;
        self
    }

    /// Sleeps with `sleeper` in [`Retry::call_async`].
    #[cfg(feature = "tokio")]
    #[must_use]
    pub fn with_async_sleeper(mut self, sleeper: &'a dyn Sleeper) -> Self {
        self.async_sleeper = sleeper;
        self
    }

    /// Tells `observer` about calls, retries, successes and give-ups.
    #[must_use]
    pub fn with_observer(mut self, observer: &'a dyn Observer) -> Self {
        self.observer = observer;
        self
    }

    /// Stops by `deadline` as well as by the policy's own: no sleep is started that would end past
    /// the earlier of the two. Give the same [`Deadline`] to every wait inside the operation (a
    /// lock, SQLite's busy handler) so that the whole call is bounded by it.
    #[must_use]
    pub fn until(mut self, deadline: Deadline) -> Self {
        self.deadline = deadline;
        self
    }

    /// Classifies errors with `classifier` instead of their own [`Classify`](crate::Classify) impl.
    #[must_use]
    pub fn classify_with<C>(self, classifier: C) -> Retry<'a, C> {
        Retry {
            policy: self.policy,
            operation: self.operation,
            clock: self.clock,
            sleeper: self.sleeper,
            #[cfg(feature = "tokio")]
            async_sleeper: self.async_sleeper,
            observer: self.observer,
            deadline: self.deadline,
            classifier,
        }
    }

    fn start(&self) -> Progress {
        self.observer.on_call();
        if let Some(budget) = self.policy.budget() {
            budget.deposit();
        }
        let start = self.clock.now();
        let deadline = Deadline::from_policy(self.policy, start).earlier(self.deadline);
        Progress { start, deadline, attempts: 0, schedule: None }
    }

    fn succeeded(&self, progress: &Progress) {
        let attempts = progress.attempts + 1;
        if attempts > 1 {
            let elapsed = self.clock.now().saturating_duration_since(progress.start);
            tracing::info!(operation = self.operation, attempts, elapsed = %Millis(elapsed), "succeeded after retrying");
            self.observer.on_success(attempts, elapsed);
        } else {
            self.observer.on_success(1, Duration::ZERO);
        }
    }
}

/// The state of one call's retry loop: when it started, attempts so far, its schedule (started
/// lazily, so a call that succeeds at once never touches the schedule or its randomness).
pub(crate) struct Progress {
    start: Instant,
    deadline: Deadline,
    attempts: u32,
    schedule: Option<Schedule>,
}

impl Progress {
    /// After a failed attempt: the delay before the next one, or the error to return.
    pub(crate) fn after_error<K, E>(
        &mut self,
        retry: &Retry<'_, K>,
        error: E,
    ) -> Result<Duration, RetryError<E>>
    where
        K: Classifier<E>,
        E: fmt::Display,
    {
        self.attempts += 1;
        let class = retry.classifier.classify(&error);
        let now = retry.clock.now();
        let elapsed = now.saturating_duration_since(self.start);
        let policy = retry.policy;
        let scheduled =
            self.schedule.get_or_insert_with(|| policy.backoff().schedule()).next().unwrap_or_default();
        let decision = match policy.decide(self.attempts, elapsed, class, scheduled) {
            Decision::Retry(delay) if self.deadline.remaining(now).is_some_and(|left| delay > left) => {
                Decision::Stop(StopReason::DeadlineExceeded)
            }
            Decision::Retry(_) if policy.budget().is_some_and(|b| !b.withdraw()) => {
                Decision::Stop(StopReason::BudgetExhausted)
            }
            decision => decision,
        };
        match decision {
            Decision::Retry(delay) => {
                tracing::warn!(
                    operation = retry.operation,
                    attempt = self.attempts,
                    max_attempts = policy.max_attempts(),
                    delay = %Millis(delay),
                    error = %error,
                    "transient error, retrying",
                );
                retry.observer.on_retry(&RetryEvent {
                    operation: retry.operation,
                    attempt: self.attempts,
                    max_attempts: policy.max_attempts(),
                    delay,
                    elapsed,
                    error: &error,
                });
                Ok(delay)
            }
            Decision::Stop(reason) => {
                if reason == StopReason::Permanent {
                    tracing::debug!(operation = retry.operation, attempts = self.attempts, error = %error, "permanent error, not retried");
                } else {
                    tracing::error!(
                        operation = retry.operation,
                        attempts = self.attempts,
                        elapsed = %Millis(elapsed),
                        reason = reason.as_str(),
                        error = %error,
                        "giving up",
                    );
                }
                retry.observer.on_give_up(&GiveUpEvent {
                    operation: retry.operation,
                    attempts: self.attempts,
                    elapsed,
                    reason,
                    error: &error,
                });
                Err(RetryError::new(error, self.attempts, elapsed, reason))
            }
        }
    }
}

impl RetryPolicy {
    /// Runs `operation` under this policy with the defaults of [`Retry::new`].
    ///
    /// # Errors
    ///
    /// [`RetryError`] with the last error, unchanged, when the error was permanent or the policy
    /// ran out (attempts, deadline or budget).
    pub fn call<T, E, F>(&self, operation: F) -> Result<T, RetryError<E>>
    where
        F: FnMut() -> Result<T, E>,
        E: crate::Classify + fmt::Display,
    {
        Retry::new(self).call(operation)
    }

    /// Runs the async `operation` under this policy with the defaults of [`Retry::new`].
    ///
    /// # Errors
    ///
    /// As [`RetryPolicy::call`].
    #[cfg(feature = "tokio")]
    pub async fn call_async<T, E, F, Fut>(&self, operation: F) -> Result<T, RetryError<E>>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
        E: crate::Classify + fmt::Display,
    {
        Retry::new(self).call_async(operation).await
    }
}

#[cfg(test)]
mod tests;
