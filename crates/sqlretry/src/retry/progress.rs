//! One call's retry loop state and its step after a failed attempt, shared by both twins.

use std::borrow::Borrow;
use std::fmt;
use std::time::{Duration, Instant};

use super::Retry;
use crate::backoff::Schedule;
use crate::classify::Classifier;
use crate::deadline::Deadline;
use crate::error::{RetryError, StopReason};
use crate::observer::{GiveUpEvent, Observer, RetryEvent};
use crate::policy::{Decision, RetryPolicy};
use crate::time::{Clock, Millis};

/// The state of one call's retry loop: when it started, attempts so far, its schedule (started
/// lazily, so a call that succeeds at once never touches the schedule or its randomness).
pub(crate) struct Progress {
    start: Instant,
    deadline: Deadline,
    attempts: u32,
    schedule: Option<Schedule>,
}

impl Progress {
    #[inline]
    pub(super) fn new(start: Instant, deadline: Deadline) -> Self {
        Progress { start, deadline, attempts: 0, schedule: None }
    }

    pub(super) fn start(&self) -> Instant {
        self.start
    }

    pub(super) fn attempts(&self) -> u32 {
        self.attempts
    }

    /// After a failed attempt: the delay before the next one, or the error to return.
    ///
    /// The schedule's next delay is asked for once per failure; a schedule that has run out (a
    /// finite list of delays, a user's iterator) stops the loop as `AttemptsExhausted`.
    pub(crate) fn after_error<K, P, C, S, O, E>(
        &mut self,
        retry: &Retry<'_, K, P, C, S, O>,
        error: E,
    ) -> Result<Duration, RetryError<E>>
    where
        K: Classifier<E>,
        P: Borrow<RetryPolicy>,
        C: Clock,
        O: Observer,
        E: fmt::Display,
    {
        self.attempts += 1;
        let class = retry.classifier.classify(&error);
        let now = retry.clock.now();
        let elapsed = now.saturating_duration_since(self.start);
        let policy: &RetryPolicy = retry.policy.borrow();
        let scheduled = self.schedule.get_or_insert_with(|| policy.backoff().schedule()).next();
        let decision = match policy.decide(self.attempts, elapsed, class, scheduled.unwrap_or_default()) {
            Decision::Retry(_) if scheduled.is_none() => Decision::Stop(StopReason::AttemptsExhausted),
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
