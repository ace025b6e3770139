//! A sliding window over cumulative counters: samples taken over time, so that "how many in the
//! last minute" is the newest sample minus the oldest one still inside the minute. Rules built
//! on it resolve by themselves once the events that fired them leave the window, which a count
//! since start never does. Time comes from the caller, so tests decide it.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Samples of `T` (cumulative counters) for the last `keep`.
#[derive(Debug)]
pub struct Window<T> {
    keep: Duration,
    samples: VecDeque<(Instant, T)>,
}

impl<T: Copy> Window<T> {
    /// Keeps samples for `keep` (the longest span asked of [`Window::oldest_within`]).
    pub fn new(keep: Duration) -> Self {
        Window { keep, samples: VecDeque::new() }
    }

    /// Adds the sample taken at `now`; forgets those older than `keep`.
    pub fn push(&mut self, now: Instant, sample: T) {
        self.samples.push_back((now, sample));
        while self.samples.front().is_some_and(|(at, _)| now.duration_since(*at) > self.keep) {
            self.samples.pop_front();
        }
    }

    /// The oldest sample no older than `span` before `now`, and when it was taken.
    pub fn oldest_within(&self, now: Instant, span: Duration) -> Option<(Instant, T)> {
        self.samples.iter().find(|(at, _)| now.duration_since(*at) <= span).copied()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn old_samples_leave_the_window() {
        let t0 = Instant::now();
        let mut w = Window::new(Duration::from_secs(60));
        w.push(t0, 0_u64);
        w.push(t0 + Duration::from_secs(30), 7);
        w.push(t0 + Duration::from_secs(61), 9);
        let now = t0 + Duration::from_secs(61);
        assert_eq!(w.oldest_within(now, Duration::from_secs(60)).unwrap().1, 7, "t0 left");
        assert_eq!(w.oldest_within(now, Duration::from_secs(10)).unwrap().1, 9);
        assert!(w.oldest_within(now + Duration::from_secs(120), Duration::from_secs(1)).is_none());
    }
}
