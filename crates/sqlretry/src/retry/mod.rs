//! The execution twins: [`Retry::call`] (blocking) and [`Retry::call_async`] (async, feature
//! `tokio`). Both share one vocabulary and one step function ([`Progress::after_error`]), which asks
//! the pure [`RetryPolicy::decide`], then the budget, then logs and tells the observer.
//!
//! A [`Retry`] owns what it uses: the policy (or a borrow of it: any `Borrow<RetryPolicy>`), the
//! clock, the sleeper and the observer are type parameters with zero-sized defaults, so
//! `Retry::new(&policy)` per call costs nothing and `Retry::new(policy)` is `'static + Send`, ready
//! to be kept in a struct. [`RetryExt`] puts the same builder on a closure (`op.retry(&policy)`).

mod blocking;
mod ext;
#[cfg(feature = "tokio")]
mod future;
mod progress;

use std::borrow::Borrow;
use std::time::Duration;

pub use ext::{RetryExt, Retrying};
pub(crate) use progress::Progress;

use crate::classify::{ByErrorType, When};
use crate::deadline::Deadline;
use crate::observer::{NoObserver, Observer};
use crate::policy::RetryPolicy;
use crate::time::{Clock, Millis, SystemClock, SystemSleeper};

/// Runs operations under a [`RetryPolicy`], with injectable time, observer and classifier.
///
/// The type parameters are what it holds, each with a default: `K` the classifier, `P` the policy
/// (owned, `&RetryPolicy`, `Arc<RetryPolicy>`: anything that borrows as one), `C` the clock, `S`
/// the sleeper, `O` the observer. `'a` is only the lifetime of the operation's name (`'static` for
/// a literal). Building one per call costs nothing; one built from owned parts is `'static + Send`
/// and can live in a struct.
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
///
/// // Owned: kept in a struct, used from any thread, `'static`.
/// struct Client { retry: Retry<'static> }
/// let client = Client { retry: Retry::new(policy.clone()).named("client") };
/// std::thread::spawn(move || client.retry.call(|| Ok::<_, std::io::Error>(1))).join().unwrap().unwrap();
/// ```
pub struct Retry<'a, K = ByErrorType, P = RetryPolicy, C = SystemClock, S = SystemSleeper, O = NoObserver> {
    policy: P,
    operation: &'a str,
    clock: C,
    sleeper: S,
    observer: O,
    deadline: Deadline,
    classifier: K,
}

impl<P: Borrow<RetryPolicy>> Retry<'static, ByErrorType, P> {
    /// Runs under `policy` (owned or borrowed) with the system clock, real sleeps, no observer, and
    /// errors classified by their own [`Classify`](crate::Classify) impl.
    #[must_use]
    pub fn new(policy: P) -> Self {
        Retry {
            policy,
            operation: "",
            clock: SystemClock,
            sleeper: SystemSleeper,
            observer: NoObserver,
            deadline: Deadline::NONE,
            classifier: ByErrorType,
        }
    }
}

impl<'a, K, P, C, S, O> Retry<'a, K, P, C, S, O> {
    /// Names the operation in logs and observer events.
    #[must_use]
    pub fn named<'b>(self, operation: &'b str) -> Retry<'b, K, P, C, S, O> {
        let Retry { policy, clock, sleeper, observer, deadline, classifier, .. } = self;
        Retry { policy, operation, clock, sleeper, observer, deadline, classifier }
    }

    /// Measures elapsed time and deadlines on `clock` (for instance `&ManualClock` in tests).
    #[must_use]
    pub fn with_clock<C2: Clock>(self, clock: C2) -> Retry<'a, K, P, C2, S, O> {
        let Retry { policy, operation, sleeper, observer, deadline, classifier, .. } = self;
        Retry { policy, operation, clock, sleeper, observer, deadline, classifier }
    }

    /// Sleeps with `sleeper` between attempts. [`Retry::call`] needs a
    /// [`BlockingSleeper`](crate::time::BlockingSleeper) (any `Fn(Duration)` is one),
    /// [`Retry::call_async`] a [`Sleeper`](crate::time::Sleeper); the default does both.
    #[must_use]
    pub fn with_sleeper<S2>(self, sleeper: S2) -> Retry<'a, K, P, C, S2, O> {
        let Retry { policy, operation, clock, observer, deadline, classifier, .. } = self;
        Retry { policy, operation, clock, sleeper, observer, deadline, classifier }
    }

    /// The same as [`Retry::with_sleeper`] (one slot serves both twins), named for async callers.
    #[must_use]
    pub fn with_async_sleeper<S2>(self, sleeper: S2) -> Retry<'a, K, P, C, S2, O> {
        self.with_sleeper(sleeper)
    }

    /// Tells `observer` about calls, retries, successes and give-ups (owned, `&`, or `Arc`).
    #[must_use]
    pub fn with_observer<O2: Observer>(self, observer: O2) -> Retry<'a, K, P, C, S, O2> {
        let Retry { policy, operation, clock, sleeper, deadline, classifier, .. } = self;
        Retry { policy, operation, clock, sleeper, observer, deadline, classifier }
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
    pub fn classify_with<K2>(self, classifier: K2) -> Retry<'a, K2, P, C, S, O> {
        let Retry { policy, operation, clock, sleeper, observer, deadline, .. } = self;
        Retry { policy, operation, clock, sleeper, observer, deadline, classifier }
    }

    /// Retries only the errors for which `retryable` returns `true` (backon's `when`); every other
    /// error is permanent. Shorthand for [`Retry::classify_with`] and [`When`].
    #[must_use]
    pub fn when<F>(self, retryable: F) -> Retry<'a, When<F>, P, C, S, O> {
        self.classify_with(When(retryable))
    }
}

impl<K, P: Borrow<RetryPolicy>, C: Clock, S, O: Observer> Retry<'_, K, P, C, S, O> {
    /// The policy this runs under.
    #[must_use]
    pub fn policy(&self) -> &RetryPolicy {
        self.policy.borrow()
    }

    #[inline]
    fn start(&self) -> Progress {
        self.observer.on_call();
        let policy = self.policy.borrow();
        if let Some(budget) = policy.budget() {
            budget.deposit();
        }
        let start = self.clock.now();
        let deadline = Deadline::from_policy(policy, start).earlier(self.deadline);
        Progress::new(start, deadline)
    }

    #[inline]
    fn succeeded(&self, progress: &Progress) {
        let attempts = progress.attempts() + 1;
        if attempts > 1 {
            let elapsed = self.clock.now().saturating_duration_since(progress.start());
            tracing::info!(operation = self.operation, attempts, elapsed = %Millis(elapsed), "succeeded after retrying");
            self.observer.on_success(attempts, elapsed);
        } else {
            self.observer.on_success(1, Duration::ZERO);
        }
    }
}

impl RetryPolicy {
    /// Runs `operation` under this policy with the defaults of [`Retry::new`].
    ///
    /// # Errors
    ///
    /// [`RetryError`](crate::RetryError) with the last error, unchanged, when the error was
    /// permanent or the policy ran out (attempts, schedule, deadline or budget).
    pub fn call<T, E, F>(&self, operation: F) -> Result<T, crate::RetryError<E>>
    where
        F: FnMut() -> Result<T, E>,
        E: crate::Classify + std::fmt::Display,
    {
        Retry::new(self).call(operation)
    }

    /// Runs the async `operation` under this policy with the defaults of [`Retry::new`].
    ///
    /// # Errors
    ///
    /// As [`RetryPolicy::call`].
    #[cfg(feature = "tokio")]
    pub async fn call_async<T, E, F, Fut>(&self, operation: F) -> Result<T, crate::RetryError<E>>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
        E: crate::Classify + std::fmt::Display,
    {
        Retry::new(self).call_async(operation).await
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_owned;
