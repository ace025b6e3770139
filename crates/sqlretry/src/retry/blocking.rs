//! The blocking twin: sleeps on the calling thread.

use std::borrow::Borrow;
use std::fmt;

use super::Retry;
use crate::classify::Classifier;
use crate::error::RetryError;
use crate::observer::Observer;
use crate::policy::RetryPolicy;
use crate::time::{BlockingSleeper, Clock};

impl<K, P, C, S, O> Retry<'_, K, P, C, S, O>
where
    P: Borrow<RetryPolicy>,
    C: Clock,
    S: BlockingSleeper,
    O: Observer,
{
    /// Runs `operation` until it succeeds or the policy stops, sleeping between attempts.
    ///
    /// # Errors
    ///
    /// [`RetryError`] carrying the last error unchanged, the attempts made, the time spent and why
    /// the loop stopped.
    pub fn call<T, E, F>(&self, mut operation: F) -> Result<T, RetryError<E>>
    where
        F: FnMut() -> Result<T, E>,
        K: Classifier<E>,
        E: fmt::Display,
    {
        let mut progress = self.start();
        loop {
            match operation() {
                Ok(value) => {
                    self.succeeded(&progress);
                    return Ok(value);
                }
                Err(error) => {
                    let delay = progress.after_error(self, error)?;
                    self.sleeper.sleep(delay);
                }
            }
        }
    }
}
