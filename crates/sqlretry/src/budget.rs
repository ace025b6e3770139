//! A retry budget shared by many callers: retries are limited to a fraction of calls, plus a small
//! floor per second, so a contended system degrades instead of multiplying its own load.
//!
//! The idea is tower's `TpsBudget` and Google SRE's "retry budget": every call deposits a fraction
//! of a token, every retry withdraws a whole one. Here the balance is a single atomic counter in
//! thousandths of a token, capped so that a long quiet period cannot bank an unbounded burst.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use crate::error::ConfigError;
use crate::time::{Clock, SystemClock};

const MILLI: i64 = 1000;

/// A shared token bucket for retries. Share it with `Arc` across policies and threads.
///
/// # Examples
///
/// ```
/// use sqlretry::RetryBudget;
///
/// // Retries may be 10 % of calls, with no floor.
/// let budget = RetryBudget::new(0.1, 0).unwrap();
/// for _ in 0..20 {
///     budget.deposit();
/// }
/// assert!(budget.withdraw());
/// assert!(budget.withdraw());
/// assert!(!budget.withdraw()); // 20 calls buy 2 retries
/// ```
pub struct RetryBudget {
    deposit: i64,
    max_balance: i64,
    floor_per_second: u32,
    balance: AtomicI64,
    floor: Mutex<FloorWindow>,
    clock: Arc<dyn Clock>,
    start: Instant,
}

#[derive(Debug, Default)]
struct FloorWindow {
    second: u64,
    used: u32,
}

impl RetryBudget {
    /// The default: retries up to 10 % of calls, and at least 10 per second whatever the traffic.
    #[must_use]
    pub fn standard() -> Self {
        Self::from_valid(0.1, 10, Arc::new(SystemClock))
    }

    /// A budget allowing `ratio` retries per call (0.1 = 10 %) and `floor_per_second` retries every
    /// second regardless of calls.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming `budget.ratio` when it is NaN, negative or above 1000.
    pub fn new(ratio: f64, floor_per_second: u32) -> Result<Self, ConfigError> {
        if !(0.0..=1000.0).contains(&ratio) {
            return Err(ConfigError::invalid("budget.ratio", ratio, "must be a number from 0 to 1000"));
        }
        Ok(Self::from_valid(ratio, floor_per_second, Arc::new(SystemClock)))
    }

    fn from_valid(ratio: f64, floor_per_second: u32, clock: Arc<dyn Clock>) -> Self {
        let deposit = (ratio * MILLI as f64).round() as i64;
        let start = clock.now();
        RetryBudget {
            deposit,
            // At most the retries of 1,000 calls (or 10 tokens) can be banked.
            max_balance: (deposit * 1000).max(10 * MILLI),
            floor_per_second,
            balance: AtomicI64::new(0),
            floor: Mutex::new(FloorWindow::default()),
            clock,
            start,
        }
    }

    /// The same budget measuring seconds on `clock` (for tests).
    #[must_use]
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Self {
        let start = clock.now();
        RetryBudget { clock, start, ..self }
    }

    /// Records a call: adds `ratio` of a token.
    pub fn deposit(&self) {
        let (deposit, max) = (self.deposit, self.max_balance);
        // `fetch_update` cannot fail here: the closure always returns `Some`.
        let _ =
            self.balance.fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| Some((b + deposit).min(max)));
    }

    /// Asks for one retry: `true` if the floor or the balance allows it (and takes it).
    #[must_use]
    pub fn withdraw(&self) -> bool {
        if self.take_from_floor() {
            return true;
        }
        self.balance
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| (b >= MILLI).then_some(b - MILLI))
            .is_ok()
    }

    fn take_from_floor(&self) -> bool {
        if self.floor_per_second == 0 {
            return false;
        }
        let second = self.clock.now().saturating_duration_since(self.start).as_secs();
        let mut window = self.floor.lock().unwrap_or_else(PoisonError::into_inner);
        if window.second != second {
            *window = FloorWindow { second, used: 0 };
        }
        if window.used < self.floor_per_second {
            window.used += 1;
            true
        } else {
            false
        }
    }

    /// Whole retries the balance holds now (the per-second floor not included).
    #[must_use]
    pub fn balance(&self) -> f64 {
        self.balance.load(Ordering::Acquire) as f64 / MILLI as f64
    }
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBudget")
            .field("ratio", &(self.deposit as f64 / MILLI as f64))
            .field("floor_per_second", &self.floor_per_second)
            .field("balance", &self.balance())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ManualClock;

    #[test]
    fn refuses_past_its_ratio_and_recovers_with_new_calls() {
        let budget = RetryBudget::new(0.1, 0).unwrap();
        for _ in 0..100 {
            budget.deposit();
        }
        let granted = (0..20).filter(|_| budget.withdraw()).count();
        assert_eq!(granted, 10);
        assert!(!budget.withdraw());
        for _ in 0..10 {
            budget.deposit();
        }
        assert!(budget.withdraw());
        assert!(!budget.withdraw());
    }

    #[test]
    fn floor_allows_a_few_retries_each_second() {
        let clock = ManualClock::new();
        let budget = RetryBudget::new(0.0, 2).unwrap().with_clock(Arc::new(clock.clone()));
        assert!(budget.withdraw());
        assert!(budget.withdraw());
        assert!(!budget.withdraw());
        clock.advance(std::time::Duration::from_secs(1));
        assert!(budget.withdraw());
        assert!(budget.withdraw());
        assert!(!budget.withdraw());
    }

    #[test]
    fn balance_is_capped_and_shown_in_debug() {
        let budget = RetryBudget::new(1.0, 0).unwrap();
        for _ in 0..5_000 {
            budget.deposit();
        }
        assert_eq!(budget.balance(), 1000.0);
        assert!(format!("{budget:?}").contains("balance: 1000.0"));
    }

    #[test]
    fn bad_ratio_names_the_field() {
        assert_eq!(RetryBudget::new(f64::NAN, 1).unwrap_err().field(), Some("budget.ratio"));
        assert_eq!(RetryBudget::new(-1.0, 1).unwrap_err().field(), Some("budget.ratio"));
    }
}
