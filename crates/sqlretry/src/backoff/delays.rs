//! [`Delays`]: any `IntoIterator<Item = Duration>` as a schedule (backon style) — a fixed list
//! such as `[10ms, 20ms, 50ms]`, or a user's own iterator. Each call starts it afresh from a clone
//! of the source; when it runs out, the retry loop stops (`AttemptsExhausted`). Its delays are used
//! as given: no jitter is added (the jittered builders keep their cap rules).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A running user schedule (boxed: made once per call, only after a first failure).
pub struct RunningDelays(Box<dyn DynIter>);

trait DynIter: Iterator<Item = Duration> + Send + Sync {
    fn clone_box(&self) -> Box<dyn DynIter>;
}

impl<T: Iterator<Item = Duration> + Clone + Send + Sync + 'static> DynIter for T {
    fn clone_box(&self) -> Box<dyn DynIter> {
        Box::new(self.clone())
    }
}

impl Iterator for RunningDelays {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        self.0.next()
    }
}

impl Clone for RunningDelays {
    fn clone(&self) -> Self {
        RunningDelays(self.0.clone_box())
    }
}

impl fmt::Debug for RunningDelays {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RunningDelays(..)")
    }
}

/// A schedule from any cloneable `IntoIterator<Item = Duration>`; cheap to clone (shared source).
///
/// # Examples
///
/// ```
/// use sqlretry::backoff::Delays;
/// use std::time::Duration;
///
/// let ms = Duration::from_millis;
/// let delays = Delays::new([ms(10), ms(20), ms(50)]);
/// assert_eq!(delays.start().collect::<Vec<_>>(), [ms(10), ms(20), ms(50)]);
/// // A user's iterator: 5 ms, 10 ms, 15 ms, ...
/// let linear = Delays::new((1..).map(|n| Duration::from_millis(5 * n)));
/// assert_eq!(linear.start().take(3).collect::<Vec<_>>(), [ms(5), ms(10), ms(15)]);
/// ```
#[derive(Clone)]
pub struct Delays {
    start: Arc<dyn Fn() -> RunningDelays + Send + Sync>,
}

impl Delays {
    /// A schedule that replays `source` from its beginning on every call.
    pub fn new<I>(source: I) -> Self
    where
        I: IntoIterator<Item = Duration> + Clone + Send + Sync + 'static,
        I::IntoIter: Clone + Send + Sync + 'static,
    {
        Delays { start: Arc::new(move || RunningDelays(Box::new(source.clone().into_iter()))) }
    }

    /// A fresh run from the first delay.
    #[must_use]
    pub fn start(&self) -> RunningDelays {
        (self.start)()
    }
}

impl fmt::Debug for Delays {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Delays(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn every_run_starts_from_the_first_delay_and_ends_with_the_source() {
        let delays = Delays::new(vec![MS(1), MS(2)]);
        let mut first = delays.start();
        assert_eq!(first.next(), Some(MS(1)));
        let mut copy = first.clone();
        assert_eq!((first.next(), first.next()), (Some(MS(2)), None));
        assert_eq!(copy.next(), Some(MS(2)), "a clone continues where its original was");
        assert_eq!(delays.clone().start().collect::<Vec<_>>(), [MS(1), MS(2)]);
    }
}
