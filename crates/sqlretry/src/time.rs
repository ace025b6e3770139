//! Time as the retry engine sees it: a [`Clock`] to measure deadlines and sleepers to wait.
//!
//! Both are traits so tests can inject time ([`crate::testing`]): backoff schedules and deadlines are
//! asserted exactly, never with wall-clock windows.

use std::fmt;
use std::time::{Duration, Instant};

/// A source of the current instant.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> Instant;
}

/// The system's monotonic clock ([`Instant::now`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[inline]
    fn now(&self) -> Instant {
        Instant::now()
    }
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> Instant {
        (**self).now()
    }
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> Instant {
        (**self).now()
    }
}

/// Waits, blocking the current thread; used by the synchronous twin.
///
/// Any `Fn(Duration) + Send + Sync` is a sleeper, so a test can record delays with a closure.
pub trait BlockingSleeper: Send + Sync {
    /// Blocks for `duration`.
    fn sleep(&self, duration: Duration);
}

impl<F: Fn(Duration) + Send + Sync> BlockingSleeper for F {
    fn sleep(&self, duration: Duration) {
        self(duration);
    }
}

/// Sleeps with [`std::thread::sleep`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ThreadSleeper;

impl BlockingSleeper for ThreadSleeper {
    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// The default sleeper: [`std::thread::sleep`] for the blocking twin, tokio's timer for the async
/// one (feature `tokio`). Zero-sized: a `Retry` holding it costs nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemSleeper;

impl BlockingSleeper for SystemSleeper {
    #[inline]
    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

#[cfg(feature = "tokio")]
impl Sleeper for SystemSleeper {
    fn sleep(&self, duration: Duration) -> SleepFuture {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A boxed sleep future, as returned by [`Sleeper::sleep`].
pub type SleepFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>>;

/// Waits without blocking a thread; used by the asynchronous twin.
///
/// The future is boxed: it is created only on the retry path, where a sleep of milliseconds dwarfs
/// one allocation, and it keeps the trait object safe.
pub trait Sleeper: Send + Sync {
    /// A future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> SleepFuture;
}

impl<S: Sleeper + ?Sized> Sleeper for &S {
    fn sleep(&self, duration: Duration) -> SleepFuture {
        (**self).sleep(duration)
    }
}

impl<S: Sleeper + ?Sized> Sleeper for std::sync::Arc<S> {
    fn sleep(&self, duration: Duration) -> SleepFuture {
        (**self).sleep(duration)
    }
}

/// Sleeps on tokio's timer: the runtime's thread is free meanwhile.
#[cfg(feature = "tokio")]
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleeper;

#[cfg(feature = "tokio")]
impl Sleeper for TokioSleeper {
    fn sleep(&self, duration: Duration) -> SleepFuture {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// Formats a duration in milliseconds with up to three decimals, as logs and reports show delays.
pub(crate) struct Millis(pub Duration);

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_secs_f64() * 1000.0;
        write!(f, "{ms:.3}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closures_are_blocking_sleepers() {
        let seen = std::sync::Mutex::new(Vec::new());
        let sleeper = |d: Duration| seen.lock().expect("not poisoned").push(d);
        sleeper.sleep(Duration::from_millis(3));
        assert_eq!(*seen.lock().expect("not poisoned"), vec![Duration::from_millis(3)]);
    }

    #[test]
    fn millis_formats_fractions() {
        assert_eq!(Millis(Duration::from_micros(1500)).to_string(), "1.500ms");
    }
}
