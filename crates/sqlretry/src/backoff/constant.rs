//! A constant schedule: the same delay every time, optionally jittered.

use std::time::Duration;

use super::jitter::{Jitter, Randomness, from_nanos, nanos};
use crate::error::ConfigError;

/// Builds a [`Constant`] schedule. Defaults: 100 ms, no jitter.
///
/// With jitter, the delay is the cap: [`Jitter::Proportional`] gives `[d × (1 − f), d]`.
///
/// # Examples
///
/// ```
/// use sqlretry::backoff::ConstantBuilder;
/// use std::time::Duration;
///
/// let delays: Vec<_> = ConstantBuilder::default().with_delay(Duration::from_millis(5)).build().unwrap().take(3).collect();
/// assert_eq!(delays, [5, 5, 5].map(Duration::from_millis));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConstantBuilder {
    delay: Duration,
    jitter: Jitter,
    seed: Option<u64>,
}

impl Default for ConstantBuilder {
    fn default() -> Self {
        ConstantBuilder { delay: Duration::from_millis(100), jitter: Jitter::None, seed: None }
    }
}

impl ConstantBuilder {
    /// The delay (default 100 ms).
    #[must_use]
    pub const fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// How each delay is randomized (default none); decorrelated jitter needs a growing schedule.
    #[must_use]
    pub const fn with_jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// Seeds the jitter so the schedule is reproducible.
    #[must_use]
    pub const fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The delay.
    #[must_use]
    pub const fn delay(&self) -> Duration {
        self.delay
    }

    /// Checks the values.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming `jitter` for a bad factor or for decorrelated jitter.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.jitter == Jitter::Decorrelated {
            return Err(ConfigError::invalid("jitter", "decorrelated", "needs an exponential schedule"));
        }
        self.jitter.validate("jitter")
    }

    /// The schedule.
    ///
    /// # Errors
    ///
    /// As [`ConstantBuilder::validate`].
    pub fn build(self) -> Result<Constant, ConfigError> {
        self.validate()?;
        Ok(Constant::from_valid(self))
    }
}

/// A constant schedule: an endless `Iterator<Item = Duration>`.
#[derive(Debug, Clone)]
pub struct Constant {
    delay: f64,
    jitter: Jitter,
    random: Randomness,
}

impl Constant {
    pub(crate) fn from_valid(builder: ConstantBuilder) -> Self {
        Constant {
            delay: nanos(builder.delay),
            jitter: builder.jitter,
            random: Randomness::new(builder.seed),
        }
    }
}

impl Iterator for Constant {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let mut previous = self.delay;
        Some(from_nanos(self.jitter.apply(
            self.delay,
            self.delay,
            self.delay,
            &mut previous,
            &mut self.random,
        )))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::MAX, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proportional_jitter_stays_at_or_below_the_delay() {
        let b = ConstantBuilder::default().with_jitter(Jitter::Proportional(0.5)).with_seed(3);
        for d in b.build().unwrap().take(1000) {
            assert!(d >= Duration::from_millis(50) && d <= Duration::from_millis(100), "{d:?}");
        }
    }

    #[test]
    fn decorrelated_is_refused() {
        let err = ConstantBuilder::default().with_jitter(Jitter::Decorrelated).build().unwrap_err();
        assert_eq!(err.field(), Some("jitter"));
    }
}
