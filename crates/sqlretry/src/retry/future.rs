//! The async twin: sleeps on the runtime's timer, never blocking a runtime thread. Dropping the
//! future stops the loop: no attempt is started after that.

use std::borrow::Borrow;
use std::fmt;
use std::future::Future;

use super::Retry;
use crate::classify::Classifier;
use crate::error::RetryError;
use crate::observer::Observer;
use crate::policy::RetryPolicy;
use crate::time::{Clock, Sleeper};

impl<K, P, C, S, O> Retry<'_, K, P, C, S, O>
where
    P: Borrow<RetryPolicy>,
    C: Clock,
    S: Sleeper,
    O: Observer,
{
    /// Runs the async `operation` until it succeeds or the policy stops, awaiting between attempts.
    ///
    /// # Errors
    ///
    /// As [`Retry::call`].
    pub async fn call_async<T, E, F, Fut>(&self, mut operation: F) -> Result<T, RetryError<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        K: Classifier<E>,
        E: fmt::Display,
    {
        let mut progress = self.start();
        loop {
            match operation().await {
                Ok(value) => {
                    self.succeeded(&progress);
                    return Ok(value);
                }
                Err(error) => {
                    let delay = progress.after_error(self, error)?;
                    self.sleeper.sleep(delay).await;
                }
            }
        }
    }
}
