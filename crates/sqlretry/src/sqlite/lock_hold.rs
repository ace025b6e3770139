//! [`LockHold`]: how long write transactions held SQLite's write lock (BEGIN IMMEDIATE → COMMIT or
//! ROLLBACK), as a histogram, a metric and a warning.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use hdrhistogram::Histogram;

/// The default threshold above which a lock hold is logged as a warning: a write that holds the
/// file's only write lock for a second stalls every other writer of it that long.
pub const DEFAULT_SLOW_LOCK_HOLD: Duration = Duration::from_secs(1);

/// Lock-hold times of one [`Store`](super::Store)'s writes.
///
/// Every hold is recorded in an HDR histogram (microseconds, 3 significant digits, readable with
/// [`LockHold::snapshot`]) and sent to the `metrics` facade as the histogram
/// `sqlretry_sqlite_lock_hold_seconds`; a hold longer than the threshold is also logged at `warn`.
#[derive(Debug)]
pub struct LockHold {
    histogram: Mutex<Histogram<u64>>,
    slow: Duration,
    slow_count: AtomicU64,
}

/// A point-in-time summary of [`LockHold`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct LockHoldSnapshot {
    /// Holds recorded.
    pub count: u64,
    /// Median hold.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Longest hold.
    pub max: Duration,
    /// Holds longer than the threshold.
    pub slow: u64,
}

impl LockHold {
    pub(crate) fn new(slow: Duration) -> Self {
        // 1 µs .. 1 hour at 3 significant digits; the bounds are valid constants.
        let histogram = Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("constant, valid bounds");
        LockHold { histogram: Mutex::new(histogram), slow, slow_count: AtomicU64::new(0) }
    }

    /// The warning threshold.
    #[must_use]
    pub fn slow_threshold(&self) -> Duration {
        self.slow
    }

    pub(crate) fn record(&self, held: Duration, store: &std::path::Path) {
        let micros = u64::try_from(held.as_micros()).unwrap_or(u64::MAX).max(1);
        self.histogram.lock().unwrap_or_else(PoisonError::into_inner).saturating_record(micros);
        metrics::histogram!("sqlretry_sqlite_lock_hold_seconds").record(held.as_secs_f64());
        if held > self.slow {
            self.slow_count.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                store = %store.display(),
                held_ms = held.as_millis() as u64,
                threshold_ms = self.slow.as_millis() as u64,
                "a write transaction held the SQLite write lock longer than the threshold; \
                 keep slow work outside the transaction",
            );
        }
    }

    /// The holds recorded so far.
    #[must_use]
    pub fn snapshot(&self) -> LockHoldSnapshot {
        let h = self.histogram.lock().unwrap_or_else(PoisonError::into_inner);
        LockHoldSnapshot {
            count: h.len(),
            p50: Duration::from_micros(h.value_at_quantile(0.5)),
            p99: Duration::from_micros(h.value_at_quantile(0.99)),
            max: Duration::from_micros(h.max()),
            slow: self.slow_count.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_summarises() {
        let hold = LockHold::new(Duration::from_millis(10));
        for ms in [1, 2, 3, 50] {
            hold.record(Duration::from_millis(ms), std::path::Path::new("x.db"));
        }
        let s = hold.snapshot();
        assert_eq!(s.count, 4);
        assert_eq!(s.slow, 1);
        assert!(s.max >= Duration::from_millis(49) && s.max <= Duration::from_millis(51), "{s:?}");
        assert!(s.p50 >= Duration::from_millis(1) && s.p50 <= Duration::from_millis(3), "{s:?}");
    }
}
