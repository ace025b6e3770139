//! [`RetryExt`]: retry a closure in place, in the style of backon — `op.retry(&policy).call()` for
//! a blocking `FnMut() -> Result<T, E>`, `op.retry(&policy).call_async().await` for an async one
//! (or `op.retry(policy).await` when its parts are `Send + 'static`).
//! [`Retrying`] is a [`Retry`] holding its operation: the same builder methods, then run it.

use std::borrow::Borrow;
use std::fmt;

use super::Retry;
use crate::classify::{ByErrorType, Classifier, When};
use crate::deadline::Deadline;
use crate::error::RetryError;
use crate::observer::Observer;
use crate::policy::RetryPolicy;
use crate::time::{BlockingSleeper, Clock};

/// Gives every closure a `.retry(policy)` method (import it: `use sqlretry::RetryExt;`).
///
/// # Examples
///
/// ```
/// use sqlretry::{RetryExt, RetryPolicy};
/// use std::io::{Error, ErrorKind};
///
/// let policy = RetryPolicy::builder().max_attempts(3).build()?;
/// let mut attempts = 0;
/// let mut save = || {
///     attempts += 1;
///     if attempts < 2 { Err(Error::from(ErrorKind::WouldBlock)) } else { Ok(attempts) }
/// };
/// let value = save.retry(&policy).named("save").with_sleeper(|_| {}).call()?;
/// assert_eq!(value, 2);
///
/// // Only the errors `when` accepts are retried.
/// let err = (|| Err::<(), _>(Error::from(ErrorKind::WouldBlock)))
///     .retry(&policy)
///     .when(|e: &Error| e.kind() == ErrorKind::TimedOut)
///     .call()
///     .unwrap_err();
/// assert_eq!(err.attempts(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Async (feature `tokio`):
///
/// ```
/// # #[cfg(feature = "tokio")]
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// use sqlretry::{RetryExt, RetryPolicy};
/// use std::io::{Error, ErrorKind};
///
/// let policy = RetryPolicy::store_writes();
/// let fetch = || async { Ok::<_, Error>(7) };
/// assert_eq!(fetch.retry(&policy).call_async().await.unwrap(), 7);
/// # });
/// ```
pub trait RetryExt: Sized {
    /// This operation under `policy` (owned or borrowed), with [`Retry::new`]'s defaults.
    fn retry<P: Borrow<RetryPolicy>>(self, policy: P) -> Retrying<'static, Self, ByErrorType, P>;
}

impl<F, R> RetryExt for F
where
    F: FnMut() -> R,
{
    fn retry<P: Borrow<RetryPolicy>>(self, policy: P) -> Retrying<'static, Self, ByErrorType, P> {
        Retrying { operation: self, retry: Retry::new(policy) }
    }
}

/// An operation and the [`Retry`] that will run it; made by [`RetryExt::retry`].
#[must_use = "nothing runs until `.call()` or `.call_async().await`"]
pub struct Retrying<
    'a,
    F,
    K,
    P,
    C = crate::time::SystemClock,
    S = crate::time::SystemSleeper,
    O = crate::observer::NoObserver,
> {
    operation: F,
    retry: Retry<'a, K, P, C, S, O>,
}

impl<'a, F, K, P, C, S, O> Retrying<'a, F, K, P, C, S, O> {
    fn map<'b, K2, C2, S2, O2>(
        self,
        change: impl FnOnce(Retry<'a, K, P, C, S, O>) -> Retry<'b, K2, P, C2, S2, O2>,
    ) -> Retrying<'b, F, K2, P, C2, S2, O2> {
        Retrying { operation: self.operation, retry: change(self.retry) }
    }

    /// See [`Retry::named`].
    pub fn named<'b>(self, operation: &'b str) -> Retrying<'b, F, K, P, C, S, O> {
        self.map(|r| r.named(operation))
    }

    /// See [`Retry::with_clock`].
    pub fn with_clock<C2: Clock>(self, clock: C2) -> Retrying<'a, F, K, P, C2, S, O> {
        self.map(|r| r.with_clock(clock))
    }

    /// See [`Retry::with_sleeper`].
    pub fn with_sleeper<S2>(self, sleeper: S2) -> Retrying<'a, F, K, P, C, S2, O> {
        self.map(|r| r.with_sleeper(sleeper))
    }

    /// See [`Retry::with_async_sleeper`].
    pub fn with_async_sleeper<S2>(self, sleeper: S2) -> Retrying<'a, F, K, P, C, S2, O> {
        self.map(|r| r.with_async_sleeper(sleeper))
    }

    /// See [`Retry::with_observer`].
    pub fn with_observer<O2: Observer>(self, observer: O2) -> Retrying<'a, F, K, P, C, S, O2> {
        self.map(|r| r.with_observer(observer))
    }

    /// See [`Retry::until`].
    pub fn until(self, deadline: Deadline) -> Self {
        self.map(|r| r.until(deadline))
    }

    /// See [`Retry::classify_with`].
    pub fn classify_with<K2>(self, classifier: K2) -> Retrying<'a, F, K2, P, C, S, O> {
        self.map(|r| r.classify_with(classifier))
    }

    /// See [`Retry::when`].
    pub fn when<W>(self, retryable: W) -> Retrying<'a, F, When<W>, P, C, S, O> {
        self.map(|r| r.when(retryable))
    }
}

impl<F, K, P, C, S, O> Retrying<'_, F, K, P, C, S, O>
where
    P: Borrow<RetryPolicy>,
    C: Clock,
    O: Observer,
{
    /// Runs the blocking operation; see [`Retry::call`].
    ///
    /// # Errors
    ///
    /// As [`Retry::call`].
    pub fn call<T, E>(self) -> Result<T, RetryError<E>>
    where
        F: FnMut() -> Result<T, E>,
        K: Classifier<E>,
        S: BlockingSleeper,
        E: fmt::Display,
    {
        self.retry.call(self.operation)
    }

    /// Runs the async operation; see [`Retry::call_async`].
    ///
    /// # Errors
    ///
    /// As [`Retry::call`].
    #[cfg(feature = "tokio")]
    pub async fn call_async<T, E, Fut>(self) -> Result<T, RetryError<E>>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
        K: Classifier<E>,
        S: crate::time::Sleeper,
        E: fmt::Display,
    {
        self.retry.call_async(self.operation).await
    }
}

/// `op.retry(policy).await` (feature `tokio`), when everything it holds is `Send + 'static` (an
/// owned or `Arc` policy, a `'static` name): the loop is boxed once per call. With borrowed parts,
/// use [`Retrying::call_async`], which boxes nothing.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// use sqlretry::{RetryExt, RetryPolicy};
///
/// let value = (|| async { Ok::<_, std::io::Error>(7) }).retry(RetryPolicy::store_writes()).await?;
/// assert_eq!(value, 7);
/// # Ok::<(), sqlretry::RetryError<std::io::Error>>(())
/// # }).unwrap();
/// ```
#[cfg(feature = "tokio")]
impl<F, Fut, T, E, K, P, C, S, O> std::future::IntoFuture for Retrying<'static, F, K, P, C, S, O>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: fmt::Display + Send + 'static,
    K: Classifier<E> + Send + Sync + 'static,
    P: Borrow<RetryPolicy> + Send + Sync + 'static,
    C: Clock + 'static,
    S: crate::time::Sleeper + 'static,
    O: Observer + 'static,
{
    type Output = Result<T, RetryError<E>>;
    type IntoFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.call_async())
    }
}
