//! An owned `Retry` (`'static + Send`, kept in a struct), the extension trait, and schedules made
//! from any `IntoIterator<Item = Duration>` — exact, with a manual clock and a recording sleeper.

use std::io::{Error, ErrorKind};
use std::sync::Arc;
use std::time::Duration;

use crate::deadline::Deadline;
use crate::error::StopReason;
use crate::observer::RetryStats;
use crate::policy::RetryPolicy;
use crate::retry::{Retry, RetryExt};
use crate::testing::{ManualClock, RecordingSleeper};

const MS: fn(u64) -> Duration = Duration::from_millis;

use super::tests::{busy, harness, run};

/// Compile-only: these bounds hold, or the crate does not build its tests.
fn assert_static_send_sync<T: Send + Sync + 'static>(_: &T) {}

type TestRetry =
    Retry<'static, crate::ByErrorType, RetryPolicy, ManualClock, RecordingSleeper, Arc<RetryStats>>;

/// A service keeping its retry next to its other state, as a `'static` field.
struct Service {
    retry: TestRetry,
    calls: u32,
}

impl Service {
    fn save(&mut self, fail_first: u32) -> Result<u32, crate::RetryError<Error>> {
        let calls = &mut self.calls;
        self.retry.call(|| {
            *calls += 1;
            if *calls <= fail_first { Err(busy()) } else { Ok(*calls) }
        })
    }
}

#[test]
fn an_owned_retry_is_static_send_and_lives_in_a_struct() {
    let default: Retry<'static> = Retry::new(RetryPolicy::store_writes()).named("owned");
    assert_static_send_sync(&default);
    let (clock, sleeper) = harness();
    let stats = Arc::new(RetryStats::new("service"));
    let retry = Retry::new(RetryPolicy::store_writes())
        .named("service.save")
        .with_clock(clock)
        .with_sleeper(sleeper.clone())
        .with_observer(stats.clone());
    assert_static_send_sync(&retry);
    let mut service = Service { retry, calls: 0 };
    // Moved to another thread and back: it owns everything it uses.
    let mut service = std::thread::spawn(move || {
        assert_eq!(service.save(3).unwrap(), 4);
        service
    })
    .join()
    .unwrap();
    service.calls = 0;
    let err = service.save(u32::MAX).unwrap_err();
    assert_eq!((err.attempts(), err.reason()), (10, StopReason::AttemptsExhausted));
    assert_eq!(sleeper.delays_ms(), [10, 20, 40, 10, 20, 40, 80, 100, 100, 100, 100, 100]);
    let s = stats.snapshot();
    assert_eq!((s.calls, s.retries, s.successes_after_retry, s.gave_up_attempts_exhausted), (2, 12, 1, 1));
}

#[test]
fn a_shared_policy_by_arc_and_a_borrowed_one_behave_alike() {
    let policy = Arc::new(RetryPolicy::builder().max_attempts(3).build().unwrap());
    let (clock, sleeper) = harness();
    let by_arc = Retry::new(policy.clone()).with_clock(&clock).with_sleeper(&sleeper);
    let by_ref = Retry::new(&*policy).with_clock(&clock).with_sleeper(&sleeper);
    assert_eq!(by_arc.call(|| Err::<(), _>(busy())).unwrap_err().attempts(), 3);
    assert_eq!(by_ref.call(|| Err::<(), _>(busy())).unwrap_err().attempts(), 3);
    assert_eq!(sleeper.delays_ms(), [10, 20, 10, 20]);
    assert_eq!(by_arc.policy().max_attempts(), 3);
}

#[test]
fn the_extension_trait_runs_a_closure_with_the_same_builder() {
    let (clock, sleeper) = harness();
    let stats = RetryStats::new("ext");
    let mut calls = 0;
    let value = (|| {
        calls += 1;
        if calls < 4 { Err(busy()) } else { Ok(calls) }
    })
    .retry(RetryPolicy::store_writes())
    .named("ext")
    .with_clock(&clock)
    .with_sleeper(&sleeper)
    .with_observer(&stats)
    .call()
    .unwrap();
    assert_eq!(value, 4);
    assert_eq!(sleeper.delays_ms(), [10, 20, 40]);
    assert_eq!(stats.snapshot().successes_after_retry, 1);

    // `when`: only the errors it accepts are retried.
    let mut calls = 0;
    let err = (|| {
        calls += 1;
        Err::<(), _>(if calls == 1 { Error::from(ErrorKind::TimedOut) } else { busy() })
    })
    .retry(&RetryPolicy::store_writes())
    .when(|e: &Error| e.kind() == ErrorKind::TimedOut)
    .with_clock(&clock)
    .with_sleeper(&sleeper)
    .call()
    .unwrap_err();
    assert_eq!(
        (calls, err.reason(), err.into_inner().kind()),
        (2, StopReason::Permanent, ErrorKind::WouldBlock)
    );

    // `until`: a caller's deadline of 25 ms refuses the second sleep (20 ms, ending at 30).
    let deadline = Deadline::after(crate::time::Clock::now(&clock), MS(25));
    let err = (|| Err::<(), _>(busy()))
        .retry(&RetryPolicy::store_writes())
        .with_clock(&clock)
        .with_sleeper(&sleeper)
        .until(deadline)
        .classify_with(|_: &Error| crate::classify::Class::RETRYABLE)
        .call()
        .unwrap_err();
    assert_eq!((err.attempts(), err.reason()), (2, StopReason::DeadlineExceeded));
    assert_eq!(sleeper.delays_ms(), [10, 20, 40, 10, 10]);
}

#[test]
fn a_list_of_delays_is_the_schedule_and_its_end_stops_the_loop() {
    let policy = RetryPolicy::from_delays([MS(10), MS(20), MS(50)]);
    let (result, calls, delays) = run(&policy, None);
    let err = result.unwrap_err();
    assert_eq!((calls, err.attempts(), err.reason()), (4, 4, StopReason::AttemptsExhausted));
    assert_eq!(delays, [10, 20, 50]);
    assert_eq!(err.elapsed(), MS(80));
    // Every call replays the list from its start.
    let (result, calls, delays) = run(&policy, Some(3));
    assert_eq!((result.unwrap(), calls), (3, 3));
    assert_eq!(delays, [10, 20]);
}

#[test]
fn a_users_iterator_is_a_schedule_bounded_by_attempts_and_deadline() {
    // 5, 10, 15, ... ms: endless; max_attempts 4 stops it first.
    let linear = (1..).map(|n| MS(5 * n));
    let policy = RetryPolicy::builder().delays(linear).max_attempts(4).build().unwrap();
    let (clock, sleeper) = harness();
    let err = Retry::new(&policy).with_clock(&clock).with_sleeper(&sleeper).call(|| Err::<(), _>(busy()));
    assert_eq!(err.unwrap_err().reason(), StopReason::AttemptsExhausted);
    assert_eq!(sleeper.delays_ms(), [5, 10, 15]);

    // A deadline of 40 ms: 5 + 10 + 15 = 30, the next 20 would end at 50.
    let policy = RetryPolicy::builder()
        .delays((1..).map(|n| MS(5 * n)))
        .max_attempts(100)
        .deadline(MS(40))
        .build()
        .unwrap();
    let (clock, sleeper) = harness();
    let err = Retry::new(&policy).with_clock(&clock).with_sleeper(&sleeper).call(|| Err::<(), _>(busy()));
    assert_eq!(err.unwrap_err().reason(), StopReason::DeadlineExceeded);
    assert_eq!(sleeper.delays_ms(), [5, 10, 15]);
}

#[test]
fn an_empty_or_exhausted_iterator_stops_but_a_permanent_error_stays_permanent() {
    let (clock, sleeper) = harness();
    let empty = RetryPolicy::from_delays(Vec::<Duration>::new());
    let err = Retry::new(&empty).with_clock(&clock).with_sleeper(&sleeper).call(|| Err::<(), _>(busy()));
    assert_eq!(err.as_ref().unwrap_err().attempts(), 1);
    assert_eq!(err.unwrap_err().reason(), StopReason::AttemptsExhausted);
    let err = Retry::new(&empty)
        .with_clock(&clock)
        .with_sleeper(&sleeper)
        .call(|| Err::<(), _>(Error::from(ErrorKind::NotFound)))
        .unwrap_err();
    assert_eq!(err.reason(), StopReason::Permanent);
    // A retry-after hint does not outlive the schedule either.
    let one = RetryPolicy::from_delays([MS(1)]);
    let err = Retry::new(&one)
        .with_clock(&clock)
        .with_sleeper(&sleeper)
        .classify_with(|_: &Error| crate::classify::Class::retry_after(MS(7)))
        .call(|| Err::<(), _>(busy()))
        .unwrap_err();
    assert_eq!((err.attempts(), err.reason()), (2, StopReason::AttemptsExhausted));
    assert_eq!(sleeper.delays_ms(), [7]);
}

#[test]
fn defaults_have_a_finite_deadline_and_none_only_when_asked() {
    let five = Some(Duration::from_secs(5));
    assert_eq!(RetryPolicy::builder().build().unwrap().deadline(), five);
    assert_eq!(RetryPolicy::default().deadline(), five);
    assert_eq!(RetryPolicy::from_delays([MS(1)]).deadline(), five);
    assert_eq!(RetryPolicy::builder().no_deadline().build().unwrap().deadline(), None);
    assert_eq!(RetryPolicy::builder().deadline(None).build().unwrap().deadline(), None);
    let presets = [
        (RetryPolicy::store_writes(), 5),
        (RetryPolicy::state_store(), 5),
        (RetryPolicy::batch_writes(), 2),
        (RetryPolicy::transactional_writes(), 5),
        (RetryPolicy::reads(), 2),
        (RetryPolicy::file_lock(), 2),
    ];
    for (policy, secs) in presets {
        assert_eq!(policy.deadline(), Some(Duration::from_secs(secs)), "{policy:?}");
        // The whole schedule, at its jitter's largest, fits well inside the deadline.
        let sleeps: Duration = policy.backoff().schedule().take(policy.max_attempts() as usize - 1).sum();
        assert!(sleeps.mul_f64(1.5) < Duration::from_secs(secs) / 2, "{policy:?}: {sleeps:?}");
    }
}

#[cfg(feature = "tokio")]
mod async_ext {
    use super::*;

    #[tokio::test]
    async fn the_extension_trait_awaits_an_async_closure() {
        let (clock, sleeper) = harness();
        let calls = std::sync::atomic::AtomicU32::new(0);
        let value = (|| async {
            let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            if n < 3 { Err(busy()) } else { Ok(n) }
        })
        .retry(RetryPolicy::from_delays([MS(3), MS(4), MS(5)]))
        .with_clock(&clock)
        .with_async_sleeper(&sleeper)
        .call_async()
        .await
        .unwrap();
        assert_eq!(value, 3);
        assert_eq!(sleeper.delays_ms(), [3, 4]);
    }

    #[tokio::test(start_paused = true)]
    async fn awaiting_the_retrying_closure_runs_it() {
        let (clock, sleeper) = harness();
        let calls = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counted = calls.clone();
        let err = (move || {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async { Err::<(), _>(busy()) }
        })
        .retry(Arc::new(RetryPolicy::from_delays([MS(2), MS(9)])))
        .with_clock(clock)
        .with_sleeper(sleeper.clone())
        .await
        .unwrap_err();
        assert_eq!((err.attempts(), err.reason()), (3, StopReason::AttemptsExhausted));
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 3);
        assert_eq!(sleeper.delays_ms(), [2, 9]);
    }

    #[tokio::test(start_paused = true)]
    async fn an_owned_retry_moves_into_a_spawned_task() {
        let retry = Retry::new(RetryPolicy::store_writes()).named("task");
        let task = tokio::spawn(async move {
            let mut n = 0;
            retry
                .call_async(|| {
                    n += 1;
                    let result = if n < 3 { Err(busy()) } else { Ok(n) };
                    async move { result }
                })
                .await
        });
        let start = tokio::time::Instant::now();
        assert_eq!(task.await.unwrap().unwrap(), 3);
        assert_eq!(start.elapsed(), MS(30), "10 + 20 ms on the runtime's (paused) timer");
    }
}
