//! [`Deadline`]: the one instant a call must be done by, fixed when the call starts and handed to
//! every wait inside it (retry sleeps, SQLite's busy wait, the in-process turn, the cross-process
//! lock, a group's fill, shutdown).
//!
//! Layers multiply: a busy_timeout per attempt times attempts times a caller's own
//! retries is minutes. A deadline is an *instant*, not a duration, so however many layers ask it
//! for the time left, the total stays bounded by one figure.

use std::time::{Duration, Instant};

use crate::policy::RetryPolicy;

/// The instant by which a call must be done, or no bound at all (only when a user asked for it).
///
/// `Copy` and cheap: pass it down by value to every wait.
///
/// # Examples
///
/// ```
/// use sqlretry::{Deadline, RetryPolicy};
/// use std::time::{Duration, Instant};
///
/// let start = Instant::now();
/// let deadline = Deadline::after(start, Duration::from_secs(2));
/// assert_eq!(deadline.remaining(start), Some(Duration::from_secs(2)));
/// // A wait is cut to the time left, never longer.
/// assert_eq!(deadline.bound(start + Duration::from_millis(1900), Duration::from_secs(5)), Duration::from_millis(100));
/// assert!(deadline.is_expired(start + Duration::from_secs(2)));
///
/// // From a policy: its total deadline counted from `start`; the earlier of two deadlines wins.
/// let policy = RetryPolicy::builder().deadline(Duration::from_secs(1)).build()?;
/// assert_eq!(Deadline::from_policy(&policy, start).earlier(deadline), Deadline::after(start, Duration::from_secs(1)));
/// assert_eq!(Deadline::NONE.remaining(start), None);
/// # Ok::<(), sqlretry::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Deadline {
    at: Option<Instant>,
}

impl Deadline {
    /// No bound: every wait may last as long as it takes. Only for callers that ask for it.
    pub const NONE: Deadline = Deadline { at: None };

    /// Done by `instant`.
    #[must_use]
    pub const fn at(instant: Instant) -> Deadline {
        Deadline { at: Some(instant) }
    }

    /// Done `within` after `start` (a `within` too large for the clock means no bound).
    #[must_use]
    pub fn after(start: Instant, within: Duration) -> Deadline {
        Deadline { at: start.checked_add(within) }
    }

    /// The policy's total deadline counted from `start`, or [`Deadline::NONE`] when it has none.
    #[must_use]
    pub fn from_policy(policy: &RetryPolicy, start: Instant) -> Deadline {
        policy.deadline().map_or(Deadline::NONE, |within| Deadline::after(start, within))
    }

    /// The instant, if bounded.
    #[must_use]
    pub const fn instant(self) -> Option<Instant> {
        self.at
    }

    /// The earlier of two deadlines (an unbounded one never wins).
    #[must_use]
    pub fn earlier(self, other: Deadline) -> Deadline {
        match (self.at, other.at) {
            (Some(a), Some(b)) => Deadline::at(a.min(b)),
            (Some(_), None) => self,
            (None, _) => other,
        }
    }

    /// The time left at `now` (zero once passed), or `None` when unbounded.
    #[must_use]
    pub fn remaining(self, now: Instant) -> Option<Duration> {
        self.at.map(|at| at.saturating_duration_since(now))
    }

    /// Whether `now` is at or past the deadline.
    #[must_use]
    pub fn is_expired(self, now: Instant) -> bool {
        self.at.is_some_and(|at| now >= at)
    }

    /// `wait` cut to the time left at `now`.
    #[must_use]
    pub fn bound(self, now: Instant, wait: Duration) -> Duration {
        self.remaining(now).map_or(wait, |left| left.min(wait))
    }
}

impl Default for Deadline {
    /// [`Deadline::NONE`].
    fn default() -> Self {
        Deadline::NONE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn remaining_counts_down_to_zero_and_stays_there() {
        let t0 = Instant::now();
        let d = Deadline::after(t0, MS(50));
        assert_eq!(d.remaining(t0 + MS(20)), Some(MS(30)));
        assert_eq!(d.remaining(t0 + MS(80)), Some(Duration::ZERO));
        assert!(!d.is_expired(t0 + MS(49)));
        assert!(d.is_expired(t0 + MS(50)));
    }

    #[test]
    fn unbounded_never_expires_and_never_cuts_a_wait() {
        let t0 = Instant::now();
        assert!(!Deadline::NONE.is_expired(t0 + Duration::from_secs(1_000_000)));
        assert_eq!(Deadline::NONE.bound(t0, MS(5_000)), MS(5_000));
        assert_eq!(Deadline::after(t0, Duration::MAX), Deadline::NONE);
    }

    #[test]
    fn earlier_picks_the_bounded_and_the_sooner() {
        let t0 = Instant::now();
        let a = Deadline::after(t0, MS(10));
        let b = Deadline::after(t0, MS(20));
        assert_eq!(a.earlier(b), a);
        assert_eq!(b.earlier(a), a);
        assert_eq!(Deadline::NONE.earlier(b), b);
        assert_eq!(b.earlier(Deadline::NONE), b);
    }

    #[test]
    fn bound_cuts_a_wait_to_the_time_left() {
        let t0 = Instant::now();
        let d = Deadline::after(t0, MS(100));
        assert_eq!(d.bound(t0 + MS(30), MS(5_000)), MS(70));
        assert_eq!(d.bound(t0 + MS(30), MS(5)), MS(5));
        assert_eq!(d.bound(t0 + MS(300), MS(5)), Duration::ZERO);
    }
}
