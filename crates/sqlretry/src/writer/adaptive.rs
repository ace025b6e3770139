//! Adaptive batching (spec 002's "batch size adjustment"): the group size limit and the window
//! follow commit latency and contention, within configured bounds.
//!
//! A [`Writer`](super::Writer) with [`WriterOptions::with_adaptive`](super::WriterOptions::with_adaptive)
//! keeps a [`BatchController`]. After each group it is told how long the group's transaction took
//! (lock wait and retries included), how many requests it held, and whether it was contended
//! (another process made this one wait for the writers' lock, or the transaction was retried).
//! The rules, applied after every group:
//!
//! - **Pressure** (contended, or slower than `target`): the limit doubles and the window doubles
//!   (from at least [`WINDOW_STEP`]) — fewer, fuller transactions, so each lock turn and each sync
//!   carries more requests.
//! - **Calm** (not contended and at most `target / 2`): the window halves (below [`WINDOW_STEP`]
//!   it drops to the lower bound) — no waiting when commits are cheap; the limit shrinks by a
//!   quarter, but only while the group used less than half of it (a backlog keeps its limit).
//! - Otherwise both hold.
//!
//! Both stay within the configured bounds. The current values are exported as the gauges
//! `sqlretry_writer_batch_limit` and `sqlretry_writer_batch_window_seconds` (label `writer`) and
//! read by [`Writer::batching`](super::Writer::batching).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::core::{Shared, lock};
use super::metrics::WriterMetrics;
use super::options::WriterOptions;

/// The smallest step of the window when it grows from zero, and below which it drops to the lower
/// bound when it shrinks.
pub const WINDOW_STEP: Duration = Duration::from_micros(100);

/// The bounds and latency target of adaptive batching.
///
/// # Examples
///
/// ```
/// use sqlretry::writer::{AdaptiveBatching, WriterOptions};
/// use std::time::Duration;
///
/// let adaptive = AdaptiveBatching::new(64, 4096, Duration::ZERO, Duration::from_millis(2))
///     .with_target(Duration::from_millis(5));
/// let options = WriterOptions::default().with_adaptive(adaptive);
/// assert_eq!(options.adaptive().map(|a| a.max_batch()), Some(4096));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdaptiveBatching {
    min_batch: usize,
    max_batch: usize,
    min_window: Duration,
    max_window: Duration,
    target: Duration,
}

impl AdaptiveBatching {
    /// Group size limit within `[min_batch, max_batch]` (each at least 1; swapped if reversed),
    /// window within `[min_window, max_window]` (swapped if reversed); target commit latency 5 ms.
    #[must_use]
    pub fn new(min_batch: usize, max_batch: usize, min_window: Duration, max_window: Duration) -> Self {
        let (min_batch, max_batch) = (min_batch.max(1), max_batch.max(1));
        AdaptiveBatching {
            min_batch: min_batch.min(max_batch),
            max_batch: max_batch.max(min_batch),
            min_window: min_window.min(max_window),
            max_window: max_window.max(min_window),
            target: Duration::from_millis(5),
        }
    }

    /// The commit latency above which a group counts as slow (default 5 ms).
    #[must_use]
    pub fn with_target(mut self, target: Duration) -> Self {
        self.target = target;
        self
    }

    /// The lower bound of the group size limit.
    #[must_use]
    pub fn min_batch(&self) -> usize {
        self.min_batch
    }

    /// The upper bound of the group size limit.
    #[must_use]
    pub fn max_batch(&self) -> usize {
        self.max_batch
    }

    /// The lower bound of the window.
    #[must_use]
    pub fn min_window(&self) -> Duration {
        self.min_window
    }

    /// The upper bound of the window.
    #[must_use]
    pub fn max_window(&self) -> Duration {
        self.max_window
    }

    /// The commit latency target.
    #[must_use]
    pub fn target(&self) -> Duration {
        self.target
    }
}

/// How a writer groups requests now: the limit and window in force, and whether they adapt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Batching {
    /// Whether the limit and window follow the load ([`AdaptiveBatching`]).
    pub adaptive: bool,
    /// The most requests in one group now.
    pub max_batch: usize,
    /// How long a group may fill now, µs.
    pub window_us: u64,
}

/// The controller: pure state, told of each group by [`BatchController::observe`].
#[derive(Debug, Clone)]
pub(crate) struct BatchController {
    bounds: AdaptiveBatching,
    batch: usize,
    window: Duration,
}

impl BatchController {
    /// Starts at `start_batch` (clamped to the bounds) and the lowest window.
    pub(crate) fn new(bounds: AdaptiveBatching, start_batch: usize) -> Self {
        BatchController {
            bounds,
            batch: start_batch.clamp(bounds.min_batch, bounds.max_batch),
            window: bounds.min_window,
        }
    }

    /// The group size limit and window in force.
    pub(crate) fn limits(&self) -> (usize, Duration) {
        (self.batch, self.window)
    }

    /// Applies the rules (module docs) after a group of `size` requests whose transaction took
    /// `commit`; returns whether the limits changed.
    pub(crate) fn observe(&mut self, commit: Duration, size: usize, contended: bool) -> bool {
        let before = self.limits();
        let b = &self.bounds;
        if contended || commit > b.target {
            self.batch = self.batch.saturating_mul(2).min(b.max_batch);
            self.window = self.window.saturating_mul(2).max(WINDOW_STEP).clamp(b.min_window, b.max_window);
        } else if commit <= b.target / 2 {
            let halved = self.window / 2;
            self.window = if halved < WINDOW_STEP { b.min_window } else { halved.max(b.min_window) };
            if size < self.batch / 2 {
                self.batch = (self.batch - self.batch / 4).max(b.min_batch);
            }
        }
        self.limits() != before
    }
}

impl BatchController {
    /// The controller of a writer with these options, if adaptive batching is on.
    pub(crate) fn start(config: &WriterOptions, metrics: &WriterMetrics) -> Option<Mutex<BatchController>> {
        let controller = BatchController::new(config.adaptive?, config.max_batch);
        let (batch, window) = controller.limits();
        metrics.set_batching(batch, window);
        Some(Mutex::new(controller))
    }
}

/// What a group's start left for [`Shared::adapt_end`]: when it started, its size, the retries
/// counted before it.
pub(crate) struct GroupStart(Option<(Instant, usize, u64)>);

impl Shared {
    /// The group size limit and window in force (the options', unless adaptive).
    pub(crate) fn batch_limits(&self) -> (usize, Duration) {
        match &self.adaptive {
            Some(controller) => lock(controller).limits(),
            None => (self.config.max_batch, self.config.window),
        }
    }

    /// [`Writer::batching`](super::Writer::batching).
    pub(crate) fn batching(&self) -> Batching {
        let (max_batch, window) = self.batch_limits();
        let window_us = u64::try_from(window.as_micros()).unwrap_or(u64::MAX);
        Batching { adaptive: self.adaptive.is_some(), max_batch, window_us }
    }

    /// Called as a group of `size` requests starts (by its leader, holding the token).
    pub(crate) fn adapt_start(&self, size: usize) -> GroupStart {
        GroupStart(self.adaptive.as_ref().map(|_| (Instant::now(), size, self.metrics.retries())))
    }

    /// Called when the group's transaction ended: tells the controller how it went (a retry
    /// counts as contention) and exports the limits if they changed.
    pub(crate) fn adapt_end(&self, start: GroupStart, contended: bool) {
        let (Some(controller), GroupStart(Some((started, size, retries)))) = (&self.adaptive, start) else {
            return;
        };
        let retried = self.metrics.retries() > retries;
        let mut controller = lock(controller);
        if controller.observe(started.elapsed(), size, contended || retried) {
            let (batch, window) = controller.limits();
            drop(controller);
            self.metrics.set_batching(batch, window);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn controller() -> BatchController {
        let bounds = AdaptiveBatching::new(64, 1024, Duration::ZERO, 2 * MS).with_target(4 * MS);
        BatchController::new(bounds, 256)
    }

    #[test]
    fn slow_or_contended_commits_grow_both_up_to_the_upper_bounds() {
        let mut c = controller();
        assert_eq!(c.limits(), (256, Duration::ZERO));
        assert!(c.observe(5 * MS, 256, false));
        assert_eq!(c.limits(), (512, WINDOW_STEP));
        assert!(c.observe(MS, 10, true), "contention counts as pressure even when fast");
        assert_eq!(c.limits(), (1024, 2 * WINDOW_STEP));
        for _ in 0..10 {
            c.observe(50 * MS, 1024, false);
        }
        assert_eq!(c.limits(), (1024, 2 * MS));
        assert!(!c.observe(50 * MS, 1024, false), "at the bounds nothing changes");
    }

    #[test]
    fn fast_commits_shrink_the_window_and_an_unused_limit_down_to_the_lower_bounds() {
        let mut c = controller();
        for _ in 0..5 {
            c.observe(10 * MS, 1024, false);
        }
        assert_eq!(c.limits(), (1024, 1600 * Duration::from_micros(1)));
        // Fast but the group filled the limit (a backlog): the window shrinks, the limit holds.
        c.observe(MS, 1024, false);
        assert_eq!(c.limits(), (1024, 800 * Duration::from_micros(1)));
        // Fast and small groups: the limit shrinks by a quarter each time.
        c.observe(MS, 10, false);
        assert_eq!(c.limits(), (768, 400 * Duration::from_micros(1)));
        c.observe(MS, 10, false);
        assert_eq!(c.limits(), (576, 200 * Duration::from_micros(1)));
        c.observe(MS, 10, false);
        assert_eq!(c.limits(), (432, WINDOW_STEP));
        c.observe(MS, 10, false);
        assert_eq!(c.limits(), (324, Duration::ZERO), "below the step the window drops to the bound");
        for _ in 0..20 {
            c.observe(MS, 10, false);
        }
        assert_eq!(c.limits(), (64, Duration::ZERO));
    }

    #[test]
    fn between_half_the_target_and_the_target_both_hold() {
        let mut c = controller();
        c.observe(5 * MS, 256, false);
        assert!(!c.observe(3 * MS, 1, false));
        assert_eq!(c.limits(), (512, WINDOW_STEP));
    }

    #[test]
    fn bounds_are_ordered_and_the_start_is_clamped() {
        let b = AdaptiveBatching::new(0, 0, 2 * MS, MS);
        assert_eq!((b.min_batch(), b.max_batch(), b.min_window(), b.max_window()), (1, 1, MS, 2 * MS));
        let c = BatchController::new(AdaptiveBatching::new(8, 16, MS, 2 * MS), 512);
        assert_eq!(c.limits(), (16, MS));
        let mut c = BatchController::new(AdaptiveBatching::new(8, 16, MS, 2 * MS), 512);
        c.observe(Duration::ZERO, 1, false);
        assert_eq!(c.limits(), (12, MS), "the window never drops below its lower bound");
    }
}
