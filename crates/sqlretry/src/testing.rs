//! Deterministic time for tests: a [`ManualClock`] that moves only when told, and a
//! [`RecordingSleeper`] that records every delay and moves the clock by it instead of waiting.
//!
//! Available to this crate's tests and, with the `testing` feature, to downstream crates.
//!
//! # Examples
//!
//! ```
//! # #[cfg(feature = "testing")] {
//! use sqlretry::testing::{ManualClock, RecordingSleeper};
//! use sqlretry::{Retry, RetryPolicy};
//! use std::io::{Error, ErrorKind};
//! use std::time::Duration;
//!
//! let clock = ManualClock::new();
//! let sleeper = RecordingSleeper::new(clock.clone());
//! let policy = RetryPolicy::store_writes();
//! let result = Retry::new(&policy)
//!     .with_clock(&clock)
//!     .with_sleeper(&sleeper)
//!     .call(|| Err::<(), _>(Error::from(ErrorKind::WouldBlock)));
//! assert_eq!(result.unwrap_err().attempts(), 10);
//! assert_eq!(sleeper.delays_ms(), [10, 20, 40, 80, 100, 100, 100, 100, 100]);
//! # }
//! ```

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::time::{BlockingSleeper, Clock, SleepFuture, Sleeper};

/// A clock that stands still until [`ManualClock::advance`] moves it. Clones share one time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    start: Instant,
    offset: Arc<Mutex<Duration>>,
}

impl ManualClock {
    /// A clock at an arbitrary fixed instant.
    #[must_use]
    pub fn new() -> Self {
        ManualClock { start: Instant::now(), offset: Arc::new(Mutex::new(Duration::ZERO)) }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut offset = self.offset.lock().unwrap_or_else(PoisonError::into_inner);
        *offset = offset.saturating_add(by);
    }

    /// How far the clock has moved since it was made.
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        *self.offset.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + self.elapsed()
    }
}

/// A sleeper that returns at once, recording each delay and advancing a [`ManualClock`] by it.
/// Works for both twins (it is a [`BlockingSleeper`] and a [`Sleeper`]).
#[derive(Debug, Clone)]
pub struct RecordingSleeper {
    clock: ManualClock,
    delays: Arc<Mutex<Vec<Duration>>>,
}

impl RecordingSleeper {
    /// A sleeper that moves `clock`.
    #[must_use]
    pub fn new(clock: ManualClock) -> Self {
        RecordingSleeper { clock, delays: Arc::new(Mutex::new(Vec::new())) }
    }

    /// Every delay slept so far, in order.
    #[must_use]
    pub fn delays(&self) -> Vec<Duration> {
        self.delays.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Every delay slept so far, in whole milliseconds (for terse assertions).
    #[must_use]
    pub fn delays_ms(&self) -> Vec<u128> {
        self.delays().iter().map(Duration::as_millis).collect()
    }

    fn record(&self, duration: Duration) {
        self.delays.lock().unwrap_or_else(PoisonError::into_inner).push(duration);
        self.clock.advance(duration);
    }
}

impl BlockingSleeper for RecordingSleeper {
    fn sleep(&self, duration: Duration) {
        self.record(duration);
    }
}

impl Sleeper for RecordingSleeper {
    fn sleep(&self, duration: Duration) -> SleepFuture {
        self.record(duration);
        Box::pin(std::future::ready(()))
    }
}

impl BlockingSleeper for &RecordingSleeper {
    fn sleep(&self, duration: Duration) {
        self.record(duration);
    }
}
