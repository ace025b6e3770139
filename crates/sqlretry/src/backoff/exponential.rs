//! Exponential backoff: `initial`, `initial × m`, `initial × m²`, … capped.

use std::time::Duration;

use super::jitter::{Jitter, Randomness, from_nanos, nanos};
use crate::error::ConfigError;

/// Builds an [`Exponential`] schedule. `Copy`, with documented defaults and `with_*` setters.
///
/// Defaults: initial 10 ms, multiplier 2, cap 100 ms, no jitter, unseeded (the store writes' schedule).
///
/// # Examples
///
/// ```
/// use sqlretry::backoff::ExponentialBuilder;
/// use std::time::Duration;
///
/// let mut delays = ExponentialBuilder::default().build().unwrap();
/// assert_eq!(delays.next(), Some(Duration::from_millis(10)));
/// assert_eq!(delays.next(), Some(Duration::from_millis(20)));
/// let rest: Vec<_> = delays.take(4).collect();
/// assert_eq!(rest, [40, 80, 100, 100].map(Duration::from_millis));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExponentialBuilder {
    initial: Duration,
    multiplier: f64,
    cap: Duration,
    jitter: Jitter,
    seed: Option<u64>,
}

impl Default for ExponentialBuilder {
    fn default() -> Self {
        ExponentialBuilder {
            initial: Duration::from_millis(10),
            multiplier: 2.0,
            cap: Duration::from_millis(100),
            jitter: Jitter::None,
            seed: None,
        }
    }
}

impl ExponentialBuilder {
    /// The first delay (default 10 ms).
    #[must_use]
    pub const fn with_initial(mut self, initial: Duration) -> Self {
        self.initial = initial;
        self
    }

    /// The factor between two delays; at least 1 (default 2).
    #[must_use]
    pub const fn with_multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = multiplier;
        self
    }

    /// The largest delay, jitter included; at least `initial` (default 100 ms).
    #[must_use]
    pub const fn with_cap(mut self, cap: Duration) -> Self {
        self.cap = cap;
        self
    }

    /// How each delay is randomized (default none).
    #[must_use]
    pub const fn with_jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// Seeds the jitter so the schedule is reproducible (default: seeded from the thread's generator).
    #[must_use]
    pub const fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The first delay.
    #[must_use]
    pub const fn initial(&self) -> Duration {
        self.initial
    }

    /// The factor between two delays.
    #[must_use]
    pub const fn multiplier(&self) -> f64 {
        self.multiplier
    }

    /// The largest delay.
    #[must_use]
    pub const fn cap(&self) -> Duration {
        self.cap
    }

    /// The jitter.
    #[must_use]
    pub const fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// Checks the values.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming `multiplier` (NaN, infinite or below 1), `cap` (below
    /// `initial`) or `jitter`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.multiplier.is_finite() && self.multiplier >= 1.0) {
            return Err(ConfigError::invalid(
                "multiplier",
                self.multiplier,
                "must be a finite number of at least 1",
            ));
        }
        if self.cap < self.initial {
            return Err(ConfigError::invalid(
                "cap",
                format_args!("{:?}", self.cap),
                format!("must be at least the initial delay ({:?})", self.initial),
            ));
        }
        self.jitter.validate("jitter")
    }

    /// The schedule.
    ///
    /// # Errors
    ///
    /// As [`ExponentialBuilder::validate`].
    pub fn build(self) -> Result<Exponential, ConfigError> {
        self.validate()?;
        Ok(Exponential::from_valid(self))
    }
}

/// An exponential schedule: an endless `Iterator<Item = Duration>`; the policy decides how many
/// delays are used. Cloning an unstarted schedule gives a fresh one (same seed, same delays).
#[derive(Debug, Clone)]
pub struct Exponential {
    multiplier: f64,
    initial: f64,
    cap: f64,
    jitter: Jitter,
    next_base: f64,
    previous: f64,
    random: Randomness,
}

impl Exponential {
    pub(crate) fn from_valid(builder: ExponentialBuilder) -> Self {
        let initial = nanos(builder.initial);
        Exponential {
            multiplier: builder.multiplier,
            initial,
            cap: nanos(builder.cap),
            jitter: builder.jitter,
            next_base: initial,
            previous: initial,
            random: Randomness::new(builder.seed),
        }
    }
}

impl Iterator for Exponential {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let base = self.next_base.min(self.cap);
        // Stays finite: once the cap is reached the product is clamped back to it.
        self.next_base = (base * self.multiplier).min(self.cap);
        let delay = self.jitter.apply(base, self.initial, self.cap, &mut self.previous, &mut self.random);
        Some(from_nanos(delay))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::MAX, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: &[u64]) -> Vec<Duration> {
        v.iter().copied().map(Duration::from_millis).collect()
    }

    #[test]
    fn doubles_up_to_the_cap() {
        let delays: Vec<_> = ExponentialBuilder::default().build().unwrap().take(9).collect();
        assert_eq!(delays, ms(&[10, 20, 40, 80, 100, 100, 100, 100, 100]));
    }

    #[test]
    fn fractional_multiplier_is_exact() {
        let b = ExponentialBuilder::default()
            .with_initial(Duration::from_millis(100))
            .with_multiplier(1.5)
            .with_cap(Duration::from_secs(5));
        let delays: Vec<_> = b.build().unwrap().take(5).collect();
        assert_eq!(delays, [100_000, 150_000, 225_000, 337_500, 506_250].map(Duration::from_micros));
    }

    #[test]
    fn rejects_bad_values_naming_the_field() {
        let bad = [
            (ExponentialBuilder::default().with_multiplier(0.5), "multiplier"),
            (ExponentialBuilder::default().with_multiplier(f64::NAN), "multiplier"),
            (ExponentialBuilder::default().with_cap(Duration::from_millis(1)), "cap"),
            (ExponentialBuilder::default().with_jitter(Jitter::Proportional(-1.0)), "jitter"),
        ];
        for (builder, field) in bad {
            assert_eq!(builder.build().unwrap_err().field(), Some(field));
        }
    }

    #[test]
    fn no_overflow_at_attempt_ten_thousand() {
        let huge = ExponentialBuilder::default()
            .with_initial(Duration::from_secs(1))
            .with_multiplier(1e300)
            .with_cap(Duration::MAX)
            .with_jitter(Jitter::Full)
            .with_seed(1);
        let last = huge.build().unwrap().nth(10_000).unwrap();
        assert!(last <= Duration::from_nanos(u64::MAX));
    }
}
