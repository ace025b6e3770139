//! Backoff schedules: plain `Iterator<Item = Duration>`s built by `Copy` builders.
//!
//! - [`ExponentialBuilder`] → [`Exponential`]: `initial × multiplierⁿ`, capped.
//! - [`ConstantBuilder`] → [`Constant`]: the same delay every time.
//! - [`Jitter`]: none, full, equal, decorrelated or proportional (±f); never past the cap.
//! - [`Delays`]: any `IntoIterator<Item = Duration>` — a list like `[10ms, 20ms, 50ms]` or a user's
//!   iterator — used as given; when it runs out, the retry loop stops.
//!
//! A [`RetryPolicy`](crate::RetryPolicy) keeps a validated [`Backoff`] and starts a fresh
//! [`Schedule`] for each call. The built-in schedules are endless (the policy decides how many
//! delays are used); a [`Delays`] schedule may end, and its end stops the loop too.
//!
//! A new schedule is a file of its own here (as `constant.rs`: a `Copy` builder and its
//! iterator), a variant of [`BackoffBuilder`], [`Backoff`] and [`Schedule`] in this file, and a key in
//! `config/policy.rs` if the TOML should name it.

mod constant;
mod delays;
mod exponential;
mod jitter;

pub use constant::{Constant, ConstantBuilder};
pub use delays::{Delays, RunningDelays};
pub use exponential::{Exponential, ExponentialBuilder};
pub use jitter::Jitter;

use std::time::Duration;

use crate::error::ConfigError;

/// An unvalidated schedule description: either builder. Validated into a [`Backoff`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum BackoffBuilder {
    /// An exponential schedule.
    Exponential(ExponentialBuilder),
    /// A constant schedule.
    Constant(ConstantBuilder),
}

impl From<ExponentialBuilder> for BackoffBuilder {
    fn from(builder: ExponentialBuilder) -> Self {
        BackoffBuilder::Exponential(builder)
    }
}

impl From<ConstantBuilder> for BackoffBuilder {
    fn from(builder: ConstantBuilder) -> Self {
        BackoffBuilder::Constant(builder)
    }
}

impl Default for BackoffBuilder {
    fn default() -> Self {
        BackoffBuilder::Exponential(ExponentialBuilder::default())
    }
}

impl BackoffBuilder {
    /// Validates the description into a [`Backoff`].
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the bad field.
    pub fn build(self) -> Result<Backoff, ConfigError> {
        let schedule = match self {
            BackoffBuilder::Exponential(b) => Schedule::Exponential(b.build()?),
            BackoffBuilder::Constant(b) => Schedule::Constant(b.build()?),
        };
        Ok(Backoff { kind: Kind::Built { builder: self, schedule } })
    }
}

/// A validated schedule, ready to start any number of times.
#[derive(Debug, Clone)]
pub struct Backoff {
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Built { builder: BackoffBuilder, schedule: Schedule },
    Delays(Delays),
}

impl Backoff {
    /// A schedule from any cloneable `IntoIterator<Item = Duration>`, replayed from its start on
    /// every call (see [`Delays`]).
    pub fn from_delays<I>(source: I) -> Self
    where
        I: IntoIterator<Item = Duration> + Clone + Send + Sync + 'static,
        I::IntoIter: Clone + Send + Sync + 'static,
    {
        Backoff { kind: Kind::Delays(Delays::new(source)) }
    }

    /// A fresh schedule from its first delay.
    #[must_use]
    pub fn schedule(&self) -> Schedule {
        match &self.kind {
            Kind::Built { schedule, .. } => schedule.clone(),
            Kind::Delays(delays) => Schedule::Delays(delays.start()),
        }
    }

    /// The description this schedule was built from; `None` for a [`Delays`] schedule.
    #[must_use]
    pub fn builder(&self) -> Option<BackoffBuilder> {
        match &self.kind {
            Kind::Built { builder, .. } => Some(*builder),
            Kind::Delays(_) => None,
        }
    }
}

impl From<Delays> for Backoff {
    fn from(delays: Delays) -> Self {
        Backoff { kind: Kind::Delays(delays) }
    }
}

impl Default for Backoff {
    fn default() -> Self {
        let builder = ExponentialBuilder::default();
        let schedule = Schedule::Exponential(Exponential::from_valid(builder));
        Backoff { kind: Kind::Built { builder: builder.into(), schedule } }
    }
}

/// A running schedule of either kind.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Schedule {
    /// Exponential.
    Exponential(Exponential),
    /// Constant.
    Constant(Constant),
    /// A user's delays ([`Delays`]); may end.
    Delays(RunningDelays),
}

impl Iterator for Schedule {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        match self {
            Schedule::Exponential(s) => s.next(),
            Schedule::Constant(s) => s.next(),
            Schedule::Delays(s) => s.next(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Any jitter kind (shared with the retry loop's property tests).
    pub(crate) fn jitter() -> impl Strategy<Value = Jitter> {
        prop_oneof![
            Just(Jitter::None),
            Just(Jitter::Full),
            Just(Jitter::Equal),
            Just(Jitter::Decorrelated),
            (0.0f64..=1.0).prop_map(Jitter::Proportional),
        ]
    }

    /// Any valid exponential schedule: initial delay, multiplier, cap, jitter and seed.
    pub(crate) fn exponential() -> impl Strategy<Value = ExponentialBuilder> {
        (0u64..10_000_000, 1.0f64..10.0, 0u64..1_000_000_000, jitter(), any::<u64>()).prop_map(
            |(initial, multiplier, extra, jitter, seed)| {
                ExponentialBuilder::default()
                    .with_initial(Duration::from_micros(initial))
                    .with_multiplier(multiplier)
                    .with_cap(Duration::from_micros(initial + extra))
                    .with_jitter(jitter)
                    .with_seed(seed)
            },
        )
    }

    proptest! {
        #[test]
        fn every_delay_is_within_its_bounds_and_the_cap(b in exponential()) {
            let mut base = b.initial().as_nanos() as f64;
            let cap = b.cap();
            for delay in b.build().unwrap().take(200) {
                prop_assert!(delay <= cap, "{delay:?} > cap {cap:?}");
                let d = base.min(cap.as_nanos() as f64);
                let (low, high) = match b.jitter() {
                    Jitter::None => (d, d),
                    Jitter::Full => (0.0, d),
                    Jitter::Equal => (d / 2.0, d),
                    Jitter::Proportional(f) => (d * (1.0 - f), (d * (1.0 + f)).min(cap.as_nanos() as f64)),
                    _ => (b.initial().as_nanos() as f64, cap.as_nanos() as f64),
                };
                let n = delay.as_nanos() as f64;
                prop_assert!(n >= low.floor() - 1.0 && n <= high.ceil() + 1.0, "{n} not in [{low}, {high}]");
                base = d * b.multiplier();
            }
        }

        #[test]
        fn seeded_jitter_is_reproducible(b in exponential()) {
            let first: Vec<_> = b.build().unwrap().take(50).collect();
            let second: Vec<_> = b.build().unwrap().take(50).collect();
            prop_assert_eq!(first, second);
        }

        #[test]
        fn never_overflows_or_panics(initial in any::<u64>(), multiplier in 1.0f64..1e308, j in jitter()) {
            let b = ExponentialBuilder::default()
                .with_initial(Duration::from_nanos(initial))
                .with_multiplier(multiplier)
                .with_cap(Duration::MAX)
                .with_jitter(j);
            let mut s = b.build().unwrap();
            prop_assert!(s.nth(10_000).is_some());
        }
    }

    #[test]
    fn a_backoff_restarts_from_its_first_delay() {
        let backoff = BackoffBuilder::default().build().unwrap();
        let mut first = backoff.schedule();
        first.next();
        first.next();
        assert_eq!(backoff.schedule().next(), Some(Duration::from_millis(10)));
    }
}
