//! [`RetryPolicy`]: how many attempts, which delays between them, a total deadline and an optional
//! shared budget, and the one pure function that decides, after a failed attempt, what happens next.
//!
//! Length: about a third of this file is documentation (the presets' deadline table and their
//! reasons) and a fifth its unit tests; the code is one type, its builder and `decide`.

use std::sync::Arc;
use std::time::Duration;

use crate::backoff::{Backoff, BackoffBuilder, ExponentialBuilder, Jitter};
use crate::budget::RetryBudget;
use crate::classify::Class;
use crate::error::{ConfigError, StopReason};

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Sleep this long, then try again.
    Retry(Duration),
    /// Stop and return the error.
    Stop(StopReason),
}

/// How an operation is retried. Cheap to clone (the budget is shared through an `Arc`).
///
/// Build one with [`RetryPolicy::builder`] or take a preset. The crate's default is
/// [`RetryPolicy::store_writes`] (10 attempts, 10 ms doubling to 100 ms, 5 s total): SQLite holds its
/// write lock for microseconds to a few milliseconds, so short, capped delays retry promptly without
/// piling up latency; ten attempts span about 0.65 s of sleeps, enough for a checkpoint or a long
/// writer to finish, and short enough that a stuck file is reported quickly. The other presets
/// reproduce the specifications sqlretry was built from, for callers that want their behaviour.
///
/// # Deadlines
///
/// Every preset, and [`RetryPolicy::builder`], has a finite **total** deadline: counted from the
/// start of the first attempt, covering attempts and sleeps alike (a sleep that would end past it
/// is never started), however many attempts the policy allows. Each figure is the preset's whole
/// schedule of sleeps (at its jitter's largest) plus room for the attempts themselves, which may
/// each wait in SQLite's busy handler:
///
/// | preset | sleeps (max) | deadline | why |
/// |---|---|---|---|
/// | [`store_writes`](RetryPolicy::store_writes), builder | 0.65 s | 5 s | the default busy_timeout: one write never waits longer than one full busy wait |
/// | [`state_store`](RetryPolicy::state_store) | 1.5 s | 5 s | the schedule, plus 3.5 s for five attempts |
/// | [`transactional_writes`](RetryPolicy::transactional_writes) | 1.22 s | 5 s | the schedule at +50 %, plus the attempts |
/// | [`batch_writes`](RetryPolicy::batch_writes) | 0.04 s | 2 s | a batch is a background flush: a stuck file must not hold the queue behind it; a failed batch goes to the dead letters |
/// | [`reads`](RetryPolicy::reads) | 0.23 s | 2 s | reads never wait for the write lock in WAL; 2 s covers a checkpoint |
/// | [`file_lock`](RetryPolicy::file_lock) | 0.45 s | 2 s | a lock held longer than that is held by a stuck peer |
///
/// No deadline only when asked for: [`RetryPolicyBuilder::no_deadline`] (or `.deadline(None)`),
/// `deadline = "none"` in TOML or `SQLRETRY_RETRY_<KIND>_DEADLINE=none`.
///
/// # Examples
///
/// ```
/// use sqlretry::{RetryPolicy, backoff::{ExponentialBuilder, Jitter}};
/// use std::time::Duration;
///
/// let policy = RetryPolicy::builder()
///     .max_attempts(5)
///     .backoff(ExponentialBuilder::default().with_cap(Duration::from_secs(1)).with_jitter(Jitter::Full))
///     .deadline(Duration::from_secs(2))
///     .build()
///     .unwrap();
/// assert_eq!(policy.max_attempts(), 5);
///
/// // Bad values are refused with the field named.
/// let err = RetryPolicy::builder().max_attempts(0).build().unwrap_err();
/// assert_eq!(err.field(), Some("max_attempts"));
/// ```
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    max_attempts: u32,
    backoff: Backoff,
    deadline: Option<Duration>,
    budget: Option<Arc<RetryBudget>>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::store_writes()
    }
}

/// The builder's (and [`RetryPolicy::store_writes`]'s) total deadline: 5 s.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(5);

fn preset(
    max_attempts: u32,
    (initial_ms, multiplier, cap_ms): (u64, f64, u64),
    jitter: Jitter,
    deadline: Duration,
) -> RetryPolicy {
    let backoff = ExponentialBuilder::default()
        .with_initial(Duration::from_millis(initial_ms))
        .with_multiplier(multiplier)
        .with_cap(Duration::from_millis(cap_ms))
        .with_jitter(jitter);
    RetryPolicy {
        max_attempts,
        backoff: BackoffBuilder::from(backoff).build().unwrap_or_default(),
        deadline: Some(deadline),
        budget: None,
    }
}

impl RetryPolicy {
    /// A builder starting from the default ([`RetryPolicy::store_writes`]'s figures).
    #[must_use]
    pub fn builder() -> RetryPolicyBuilder {
        RetryPolicyBuilder::default()
    }

    /// Store writes: 10 attempts, 10 ms × 2 up to 100 ms, no jitter, 5 s total.
    /// Delays: 10, 20, 40, 80, 100, 100, 100, 100, 100 ms. The crate's default.
    #[must_use]
    pub fn store_writes() -> Self {
        preset(10, (10, 2.0, 100), Jitter::None, DEFAULT_DEADLINE)
    }

    /// Agent state store: 5 attempts, 100 ms × 2 up to 5 s, no jitter, 5 s total.
    /// Delays: 100, 200, 400, 800 ms.
    #[must_use]
    pub fn state_store() -> Self {
        preset(5, (100, 2.0, 5_000), Jitter::None, Duration::from_secs(5))
    }

    /// Batch writes (a tick store's ingest): 3 attempts, 10 ms × 2 up to 1 s, ±25 % jitter,
    /// 2 s total. Delays before jitter: 10, 20 ms.
    #[must_use]
    pub fn batch_writes() -> Self {
        preset(3, (10, 2.0, 1_000), Jitter::Proportional(0.25), Duration::from_secs(2))
    }

    /// Transactional writes (a consensus store's): 5 attempts, 100 ms × 1.5 up to 5 s,
    /// jitter factor 0.5 (±50 %), 5 s total. Delays before jitter: 100, 150, 225, 337.5 ms.
    #[must_use]
    pub fn transactional_writes() -> Self {
        preset(5, (100, 1.5, 5_000), Jitter::Proportional(0.5), Duration::from_secs(5))
    }

    /// Reads: 3 attempts, 50 ms × 2 up to 2 s, jitter factor 0.5, 2 s total.
    /// Delays before jitter: 50, 100 ms.
    #[must_use]
    pub fn reads() -> Self {
        preset(3, (50, 2.0, 2_000), Jitter::Proportional(0.5), Duration::from_secs(2))
    }

    /// File lock (an evidence file's write): 3 attempts, 100 ms × 2 up to 1 s, jitter factor 0.5,
    /// 2 s total. Delays before jitter: 100, 200 ms.
    #[must_use]
    pub fn file_lock() -> Self {
        preset(3, (100, 2.0, 1_000), Jitter::Proportional(0.5), Duration::from_secs(2))
    }

    /// A policy whose delays are `delays`, used as given (any cloneable
    /// `IntoIterator<Item = Duration>`, replayed on every call): attempts are bounded by the
    /// delays alone (one more than there are), and by the default 5 s total deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// use sqlretry::{Retry, RetryPolicy, StopReason};
    /// use std::time::Duration;
    ///
    /// let ms = Duration::from_millis;
    /// let policy = RetryPolicy::from_delays([ms(10), ms(20), ms(50)]);
    /// let slept = std::sync::Mutex::new(Vec::new());
    /// let err = Retry::new(&policy)
    ///     .with_sleeper(|d| slept.lock().unwrap().push(d))
    ///     .call(|| Err::<(), _>(std::io::Error::from(std::io::ErrorKind::WouldBlock)))
    ///     .unwrap_err();
    /// assert_eq!((err.attempts(), err.reason()), (4, StopReason::AttemptsExhausted));
    /// assert_eq!(*slept.lock().unwrap(), [ms(10), ms(20), ms(50)]);
    /// ```
    #[must_use]
    pub fn from_delays<I>(delays: I) -> Self
    where
        I: IntoIterator<Item = Duration> + Clone + Send + Sync + 'static,
        I::IntoIter: Clone + Send + Sync + 'static,
    {
        RetryPolicy {
            max_attempts: u32::MAX,
            backoff: Backoff::from_delays(delays),
            deadline: Some(DEFAULT_DEADLINE),
            budget: None,
        }
    }

    /// A builder starting from this policy's values.
    #[must_use]
    pub fn to_builder(&self) -> RetryPolicyBuilder {
        RetryPolicyBuilder {
            max_attempts: self.max_attempts,
            backoff: BackoffSource::Built(self.backoff.clone()),
            deadline: self.deadline,
            budget: self.budget.clone(),
        }
    }

    /// The most attempts, the first call included.
    #[must_use]
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The delay schedule.
    #[must_use]
    pub fn backoff(&self) -> &Backoff {
        &self.backoff
    }

    /// The total deadline, from the start of the first attempt (`None` only when asked for).
    #[must_use]
    pub fn deadline(&self) -> Option<Duration> {
        self.deadline
    }

    /// The shared retry budget.
    #[must_use]
    pub fn budget(&self) -> Option<&Arc<RetryBudget>> {
        self.budget.as_ref()
    }

    /// The decision after a failed attempt, from facts alone (pure; both execution twins use it).
    ///
    /// - `attempts`: attempts made so far, the failed one included;
    /// - `elapsed`: time since the first attempt started;
    /// - `class`: the failed attempt's error class;
    /// - `scheduled`: the schedule's next delay (a [`Class::Retryable`] suggestion replaces it).
    ///
    /// A permanent error stops at once; then the attempt count; then the deadline: a sleep that
    /// would end past it is never started. The budget is consulted by the caller only after a
    /// `Retry`, since taking a token is a side effect.
    #[must_use]
    pub fn decide(&self, attempts: u32, elapsed: Duration, class: Class, scheduled: Duration) -> Decision {
        let suggested = match class {
            Class::Permanent => return Decision::Stop(StopReason::Permanent),
            Class::Retryable { after } => after,
        };
        if attempts >= self.max_attempts {
            return Decision::Stop(StopReason::AttemptsExhausted);
        }
        let delay = suggested.unwrap_or(scheduled);
        if let Some(deadline) = self.deadline
            && elapsed.checked_add(delay).is_none_or(|end| end > deadline)
        {
            return Decision::Stop(StopReason::DeadlineExceeded);
        }
        Decision::Retry(delay)
    }
}

/// Builds a [`RetryPolicy`]; [`RetryPolicyBuilder::build`] validates every value.
#[derive(Debug, Clone)]
pub struct RetryPolicyBuilder {
    max_attempts: u32,
    backoff: BackoffSource,
    deadline: Option<Duration>,
    budget: Option<Arc<RetryBudget>>,
}

#[derive(Debug, Clone)]
enum BackoffSource {
    Unchecked(BackoffBuilder),
    Built(Backoff),
}

impl Default for RetryPolicyBuilder {
    fn default() -> Self {
        RetryPolicyBuilder {
            max_attempts: 10,
            backoff: BackoffSource::Unchecked(BackoffBuilder::default()),
            deadline: Some(DEFAULT_DEADLINE),
            budget: None,
        }
    }
}

impl RetryPolicyBuilder {
    /// The most attempts, counting the first call; at least 1 (default 10).
    #[must_use]
    pub fn max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = max_attempts;
        self
    }

    /// The delay schedule (default: exponential 10 ms × 2, cap 100 ms).
    #[must_use]
    pub fn backoff(mut self, backoff: impl Into<BackoffBuilder>) -> Self {
        self.backoff = BackoffSource::Unchecked(backoff.into());
        self
    }

    /// A user's delays as the schedule, used as given (see [`RetryPolicy::from_delays`]); when
    /// they run out the loop stops, whatever [`max_attempts`](Self::max_attempts) allows.
    #[must_use]
    pub fn delays<I>(mut self, delays: I) -> Self
    where
        I: IntoIterator<Item = Duration> + Clone + Send + Sync + 'static,
        I::IntoIter: Clone + Send + Sync + 'static,
    {
        self.backoff = BackoffSource::Built(Backoff::from_delays(delays));
        self
    }

    /// A total deadline from the start of the first attempt, covering attempts and sleeps
    /// (default [`DEFAULT_DEADLINE`], 5 s). `None` removes it: see [`Self::no_deadline`].
    #[must_use]
    pub fn deadline(mut self, deadline: impl Into<Option<Duration>>) -> Self {
        self.deadline = deadline.into();
        self
    }

    /// No total deadline at all: attempts and sleeps are bounded by the attempt count alone. Only
    /// for callers that mean it (a wait without a deadline is a hang when a peer is stuck).
    #[must_use]
    pub fn no_deadline(mut self) -> Self {
        self.deadline = None;
        self
    }

    /// A shared retry budget (default none).
    #[must_use]
    pub fn budget(mut self, budget: impl Into<Option<Arc<RetryBudget>>>) -> Self {
        self.budget = budget.into();
        self
    }

    /// Validates and builds.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming `max_attempts` (zero), `deadline` (zero) or the schedule's
    /// bad field (`multiplier`, `cap`, `jitter`).
    pub fn build(self) -> Result<RetryPolicy, ConfigError> {
        if self.max_attempts == 0 {
            return Err(ConfigError::invalid(
                "max_attempts",
                0,
                "must be at least 1 (it counts the first call)",
            ));
        }
        if self.deadline == Some(Duration::ZERO) {
            return Err(ConfigError::invalid("deadline", "0s", "must be longer than zero"));
        }
        let backoff = match self.backoff {
            BackoffSource::Unchecked(builder) => builder.build()?,
            BackoffSource::Built(backoff) => backoff,
        };
        Ok(RetryPolicy {
            max_attempts: self.max_attempts,
            backoff,
            deadline: self.deadline,
            budget: self.budget,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn permanent_stops_before_anything_else() {
        let p = RetryPolicy::store_writes();
        assert_eq!(
            p.decide(1, Duration::ZERO, Class::Permanent, MS(10)),
            Decision::Stop(StopReason::Permanent)
        );
        assert_eq!(
            p.decide(10, Duration::ZERO, Class::Permanent, MS(10)),
            Decision::Stop(StopReason::Permanent)
        );
    }

    #[test]
    fn attempts_count_the_first_call() {
        let p = RetryPolicy::builder().max_attempts(3).build().unwrap();
        assert_eq!(p.decide(2, Duration::ZERO, Class::RETRYABLE, MS(10)), Decision::Retry(MS(10)));
        assert_eq!(
            p.decide(3, Duration::ZERO, Class::RETRYABLE, MS(10)),
            Decision::Stop(StopReason::AttemptsExhausted)
        );
    }

    #[test]
    fn never_starts_a_sleep_that_ends_past_the_deadline() {
        let p = RetryPolicy::builder().deadline(MS(100)).build().unwrap();
        assert_eq!(p.decide(1, MS(90), Class::RETRYABLE, MS(10)), Decision::Retry(MS(10)));
        assert_eq!(
            p.decide(1, MS(91), Class::RETRYABLE, MS(10)),
            Decision::Stop(StopReason::DeadlineExceeded)
        );
        assert_eq!(
            p.decide(1, MS(91), Class::RETRYABLE, Duration::MAX),
            Decision::Stop(StopReason::DeadlineExceeded)
        );
    }

    #[test]
    fn a_suggested_delay_replaces_the_schedule() {
        let p = RetryPolicy::store_writes();
        assert_eq!(
            p.decide(1, Duration::ZERO, Class::retry_after(MS(250)), MS(10)),
            Decision::Retry(MS(250))
        );
    }

    #[test]
    fn bad_values_are_refused_naming_the_field() {
        assert_eq!(RetryPolicy::builder().max_attempts(0).build().unwrap_err().field(), Some("max_attempts"));
        assert_eq!(
            RetryPolicy::builder().deadline(Duration::ZERO).build().unwrap_err().field(),
            Some("deadline")
        );
        let bad = ExponentialBuilder::default().with_multiplier(0.9);
        assert_eq!(RetryPolicy::builder().backoff(bad).build().unwrap_err().field(), Some("multiplier"));
    }
}
