//! Jitter: spreading retries out so contending callers do not wake in lockstep.

use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

use crate::error::ConfigError;

/// How a schedule randomizes each delay `d` (already capped).
///
/// Every kind keeps a delay within `[0, cap]`: jitter never pushes a delay past its schedule's cap.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
pub enum Jitter {
    /// Exactly `d`.
    #[default]
    None,
    /// Uniform in `[0, d]` (AWS "full jitter": the lowest contention, the widest spread).
    Full,
    /// `d/2` plus uniform in `[0, d/2]` (AWS "equal jitter": never less than half).
    Equal,
    /// `min(cap, uniform(initial, previous × 3))`, AWS "decorrelated jitter": each delay grows from
    /// the previous *jittered* one; the schedule's multiplier is not used.
    Decorrelated,
    /// `d × (1 + uniform(−f, +f))`, capped: the specs' "±25 %" (`f = 0.25`) and "jitter_factor 0.5".
    Proportional(f64),
}

impl Jitter {
    /// Checks the jitter's own parameter; `field` names it in the error.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] when a proportional factor is NaN, infinite, negative or above 1.
    pub fn validate(self, field: &str) -> Result<(), ConfigError> {
        match self {
            Jitter::Proportional(f) if !(0.0..=1.0).contains(&f) => {
                Err(ConfigError::invalid(field, f, "a jitter factor must be a number from 0 to 1"))
            }
            _ => Ok(()),
        }
    }

    /// Applies the jitter to `base` (nanoseconds, already capped). `prev` carries the previous
    /// delay for [`Jitter::Decorrelated`]; `initial` and `cap` bound it.
    pub(crate) fn apply(
        self,
        base: f64,
        initial: f64,
        cap: f64,
        prev: &mut f64,
        random: &mut Randomness,
    ) -> f64 {
        let jittered = match self {
            Jitter::None => base,
            Jitter::Full => base * random.unit(),
            Jitter::Equal => base / 2.0 + base / 2.0 * random.unit(),
            Jitter::Proportional(f) => base * (1.0 + f * (2.0 * random.unit() - 1.0)),
            Jitter::Decorrelated => {
                let upper = (*prev * 3.0).max(initial);
                let next = initial + (upper - initial) * random.unit();
                *prev = next.min(cap);
                next
            }
        };
        jittered.clamp(0.0, cap)
    }
}

/// The random source of one schedule: seeded (reproducible) or seeded from the thread's generator.
/// Created lazily, so a schedule without jitter, or one never advanced, costs no randomness.
#[derive(Debug, Clone)]
pub(crate) struct Randomness {
    seed: Option<u64>,
    rng: Option<SmallRng>,
}

impl Randomness {
    pub(crate) fn new(seed: Option<u64>) -> Self {
        Randomness { seed, rng: None }
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        let seed = self.seed;
        let rng = self.rng.get_or_insert_with(|| match seed {
            Some(seed) => SmallRng::seed_from_u64(seed),
            None => SmallRng::seed_from_u64(rand::rng().random()),
        });
        rng.random::<f64>()
    }
}

/// Nanoseconds as `f64`, saturating at `u64::MAX` (584 years).
pub(crate) fn nanos(duration: Duration) -> f64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX) as f64
}

/// Back from nanoseconds; `as` saturates, so no value can panic or wrap.
pub(crate) fn from_nanos(nanos: f64) -> Duration {
    Duration::from_nanos(nanos.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proportional_factor_must_be_a_fraction() {
        assert!(Jitter::Proportional(0.25).validate("jitter").is_ok());
        for bad in [f64::NAN, -0.1, 1.5, f64::INFINITY] {
            let err = Jitter::Proportional(bad).validate("retry.jitter").unwrap_err();
            assert_eq!(err.field(), Some("retry.jitter"));
        }
    }

    #[test]
    fn same_seed_same_draws() {
        let mut a = Randomness::new(Some(42));
        let mut b = Randomness::new(Some(42));
        let xs: Vec<f64> = (0..5).map(|_| a.unit()).collect();
        let ys: Vec<f64> = (0..5).map(|_| b.unit()).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
    }
}
