//! The engine's contract, made exact with a manual clock and a recording sleeper.

use std::cell::Cell;
use std::io::{Error, ErrorKind};
use std::sync::Arc;
use std::time::Duration;

use crate::backoff::{BackoffBuilder, ExponentialBuilder, Jitter};
use crate::budget::RetryBudget;
use crate::error::StopReason;
use crate::observer::RetryStats;
use crate::policy::RetryPolicy;
use crate::retry::Retry;
use crate::testing::{ManualClock, RecordingSleeper};

pub(super) fn busy() -> Error {
    Error::from(ErrorKind::WouldBlock)
}

pub(super) fn harness() -> (ManualClock, RecordingSleeper) {
    let clock = ManualClock::new();
    (clock.clone(), RecordingSleeper::new(clock))
}

/// Runs an operation that fails with `busy` until `succeed_on` (never when `None`); returns the
/// result, the number of calls and the delays slept.
pub(super) fn run(
    policy: &RetryPolicy,
    succeed_on: Option<u32>,
) -> (Result<u32, crate::RetryError<Error>>, u32, Vec<u128>) {
    let (clock, sleeper) = harness();
    let calls = Cell::new(0);
    let result = Retry::new(policy).with_clock(&clock).with_sleeper(&sleeper).call(|| {
        calls.set(calls.get() + 1);
        if Some(calls.get()) == succeed_on { Ok(calls.get()) } else { Err(busy()) }
    });
    (result, calls.get(), sleeper.delays_ms())
}

#[test]
fn success_on_the_first_call_calls_once_and_never_sleeps() {
    let (result, calls, delays) = run(&RetryPolicy::store_writes(), Some(1));
    assert_eq!(result.unwrap(), 1);
    assert_eq!(calls, 1);
    assert!(delays.is_empty());
}

#[test]
fn fail_fail_succeed_calls_three_times_and_returns_the_value() {
    let (result, calls, delays) = run(&RetryPolicy::store_writes(), Some(3));
    assert_eq!(result.unwrap(), 3);
    assert_eq!(calls, 3);
    assert_eq!(delays, [10, 20]);
}

#[test]
fn a_permanent_error_calls_once_and_returns_that_same_error() {
    let (clock, sleeper) = harness();
    let mut calls = 0;
    let original = Error::new(ErrorKind::InvalidData, "bad row 17");
    let raw = original.raw_os_error();
    let mut source = Some(original);
    let err = Retry::new(&RetryPolicy::store_writes())
        .with_clock(&clock)
        .with_sleeper(&sleeper)
        .call(|| {
            calls += 1;
            Err::<(), _>(source.take().unwrap_or_else(busy))
        })
        .unwrap_err();
    assert_eq!(calls, 1);
    assert_eq!(err.reason(), StopReason::Permanent);
    assert_eq!(err.attempts(), 1);
    let inner = err.into_inner();
    assert_eq!(
        (inner.kind(), inner.to_string(), inner.raw_os_error()),
        (ErrorKind::InvalidData, "bad row 17".into(), raw)
    );
    assert!(sleeper.delays().is_empty());
}

#[test]
fn exhaustion_calls_exactly_max_attempts_and_returns_the_original_error() {
    let (clock, sleeper) = harness();
    let mut calls = 0u32;
    let err = Retry::new(&RetryPolicy::store_writes())
        .with_clock(&clock)
        .with_sleeper(&sleeper)
        .call(|| {
            calls += 1;
            Err::<(), _>(Error::new(ErrorKind::WouldBlock, format!("locked #{calls}")))
        })
        .unwrap_err();
    assert_eq!(calls, 10);
    assert_eq!(err.attempts(), 10);
    assert_eq!(err.reason(), StopReason::AttemptsExhausted);
    assert_eq!(err.elapsed(), Duration::from_millis(10 + 20 + 40 + 80 + 5 * 100));
    assert_eq!(err.into_inner().to_string(), "locked #10", "the last error, unchanged");
}

/// Each preset's figures and its delay schedule, exactly (jitter switched off to see the base).
#[test]
fn presets_have_the_specs_figures_and_exact_schedules() {
    let cases: [(&str, RetryPolicy, u32, Jitter, &[u128]); 6] = [
        (
            "store writes",
            RetryPolicy::store_writes(),
            10,
            Jitter::None,
            &[10, 20, 40, 80, 100, 100, 100, 100, 100],
        ),
        ("state store", RetryPolicy::state_store(), 5, Jitter::None, &[100, 200, 400, 800]),
        ("batch writes", RetryPolicy::batch_writes(), 3, Jitter::Proportional(0.25), &[10, 20]),
        (
            "transactional",
            RetryPolicy::transactional_writes(),
            5,
            Jitter::Proportional(0.5),
            &[100, 150, 225, 337],
        ),
        ("reads", RetryPolicy::reads(), 3, Jitter::Proportional(0.5), &[50, 100]),
        ("file lock", RetryPolicy::file_lock(), 3, Jitter::Proportional(0.5), &[100, 200]),
    ];
    for (name, preset, attempts, jitter, expected) in cases {
        assert_eq!(preset.max_attempts(), attempts, "{name}");
        let Some(BackoffBuilder::Exponential(builder)) = preset.backoff().builder() else {
            panic!("{name}: exponential")
        };
        assert_eq!(builder.jitter(), jitter, "{name}");
        let unjittered = preset.to_builder().backoff(builder.with_jitter(Jitter::None)).build().unwrap();
        let (result, calls, delays) = run(&unjittered, None);
        assert_eq!(result.unwrap_err().reason(), StopReason::AttemptsExhausted, "{name}");
        assert_eq!(calls, attempts, "{name}");
        assert_eq!(delays, expected, "{name}");
        // With its jitter, each delay stays within ±f of the base and under the cap.
        let (_, _, jittered) = run(&preset, None);
        let f = if let Jitter::Proportional(f) = jitter { f } else { 0.0 };
        for (d, base) in jittered.iter().zip(expected) {
            let (lo, hi) =
                ((*base as f64 * (1.0 - f)).floor() as u128, (*base as f64 * (1.0 + f)).ceil() as u128);
            assert!(
                (lo..=hi).contains(d) && *d <= builder.cap().as_millis(),
                "{name}: {d} not in {lo}..={hi}"
            );
        }
    }
}

#[test]
fn the_deadline_is_never_overrun_even_with_slow_attempts() {
    let policy = RetryPolicy::builder()
        .max_attempts(100)
        .backoff(
            ExponentialBuilder::default()
                .with_initial(Duration::from_millis(10))
                .with_cap(Duration::from_millis(40)),
        )
        .deadline(Duration::from_millis(200))
        .build()
        .unwrap();
    let (clock, sleeper) = harness();
    let mut calls = 0;
    let err = Retry::new(&policy)
        .with_clock(&clock)
        .with_sleeper(&sleeper)
        .call(|| {
            calls += 1;
            clock.advance(Duration::from_millis(25)); // each attempt is slow
            Err::<(), _>(busy())
        })
        .unwrap_err();
    // 25 | 10 | 25 | 20 | 25 | 40 | 25 = 170 ms; the next sleep (40) would end at 235 > 200.
    assert_eq!(err.reason(), StopReason::DeadlineExceeded);
    assert_eq!(calls, 4);
    assert_eq!(sleeper.delays_ms(), [10, 20, 40]);
    assert_eq!(err.elapsed(), Duration::from_millis(170));
    assert!(clock.elapsed() <= Duration::from_millis(200));
}

#[test]
fn the_budget_refuses_retries_past_its_ratio_and_recovers() {
    let budget = Arc::new(RetryBudget::new(0.5, 0).unwrap());
    let policy = RetryPolicy::builder().max_attempts(3).budget(budget.clone()).build().unwrap();
    // Call 1 deposits 0.5 token: not enough for a retry.
    let (result, calls, _) = run(&policy, Some(2));
    assert_eq!((result.unwrap_err().reason(), calls), (StopReason::BudgetExhausted, 1));
    // Call 2 deposits another 0.5: one retry is granted, and it succeeds.
    let (result, calls, _) = run(&policy, Some(2));
    assert_eq!((result.unwrap(), calls), (2, 2));
    assert_eq!(budget.balance(), 0.0);
}

#[test]
fn stats_count_calls_retries_and_give_ups_by_reason() {
    let stats = RetryStats::new("test");
    let policy = RetryPolicy::builder().max_attempts(2).build().unwrap();
    let (clock, sleeper) = harness();
    let retry = Retry::new(&policy).with_clock(&clock).with_sleeper(&sleeper).with_observer(&stats);
    let _ = retry.call(|| Err::<(), _>(busy()));
    let _ = retry.call(|| Err::<(), _>(Error::from(ErrorKind::NotFound)));
    let mut n = 0;
    let _ = retry.call(|| {
        n += 1;
        if n == 1 { Err(busy()) } else { Ok(()) }
    });
    let s = stats.snapshot();
    assert_eq!((s.calls, s.retries, s.successes_after_retry), (3, 2, 1));
    assert_eq!(
        (s.gave_up_attempts_exhausted, s.gave_up_permanent, s.gave_up_deadline, s.gave_up_budget),
        (1, 1, 0, 0)
    );
}

#[test]
fn a_suggested_delay_is_used_instead_of_the_schedule() {
    let (clock, sleeper) = harness();
    let policy = RetryPolicy::builder().max_attempts(2).build().unwrap();
    let _ = Retry::new(&policy)
        .with_clock(&clock)
        .with_sleeper(&sleeper)
        .classify_with(|_: &Error| crate::classify::Class::retry_after(Duration::from_millis(250)))
        .call(|| Err::<(), _>(busy()));
    assert_eq!(sleeper.delays_ms(), [250]);
}

#[cfg(feature = "tokio")]
mod async_twin {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn same_contract_as_the_blocking_twin() {
        let (clock, sleeper) = harness();
        let calls = AtomicU32::new(0);
        let err = Retry::new(&RetryPolicy::store_writes())
            .with_clock(&clock)
            .with_async_sleeper(&sleeper)
            .call_async(|| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err::<(), _>(busy()) }
            })
            .await
            .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 10);
        assert_eq!(err.reason(), StopReason::AttemptsExhausted);
        assert_eq!(sleeper.delays_ms(), [10, 20, 40, 80, 100, 100, 100, 100, 100]);

        let ok = Retry::new(&RetryPolicy::store_writes())
            .with_async_sleeper(&sleeper)
            .call_async(|| async { Ok::<_, Error>(5) })
            .await;
        assert_eq!(ok.unwrap(), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn dropping_the_future_makes_no_further_attempt() {
        let calls = Arc::new(AtomicU32::new(0));
        let counted = calls.clone();
        let task = tokio::spawn(async move {
            let policy = RetryPolicy::store_writes();
            Retry::new(&policy)
                .call_async(|| {
                    counted.fetch_add(1, Ordering::SeqCst);
                    async { Err::<(), _>(busy()) }
                })
                .await
        });
        // Let the first attempt run; the loop is now asleep for 10 ms on tokio's timer.
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        task.abort();
        assert!(task.await.unwrap_err().is_cancelled());
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1, "no attempt after the future was dropped");
    }

    #[tokio::test(start_paused = true)]
    async fn sleeps_on_the_runtime_timer_without_blocking_it() {
        // One runtime thread: if the retry blocked it, the ticker below could not run meanwhile.
        let ticks = Arc::new(AtomicU32::new(0));
        let ticking = ticks.clone();
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(1)).await;
                ticking.fetch_add(1, Ordering::SeqCst);
            }
        });
        let start = tokio::time::Instant::now();
        let _ = RetryPolicy::builder()
            .max_attempts(3)
            .build()
            .unwrap()
            .call_async(|| async { Err::<(), _>(busy()) })
            .await;
        assert_eq!(start.elapsed(), Duration::from_millis(30));
        assert!(ticks.load(Ordering::SeqCst) >= 25, "runtime kept running while the retry slept");
        ticker.abort();
    }
}

#[test]
fn a_caller_deadline_earlier_than_the_policy_stops_before_a_sleep_that_would_pass_it() {
    use crate::deadline::Deadline;
    let (clock, sleeper) = harness();
    // store_writes sleeps 10, 20, 40, ...: with 35 ms given, the 40 ms sleep (ending at 70) is refused.
    let deadline = Deadline::after(crate::time::Clock::now(&clock), Duration::from_millis(35));
    let mut calls = 0;
    let err = Retry::new(&RetryPolicy::store_writes())
        .with_clock(&clock)
        .with_sleeper(&sleeper)
        .until(deadline)
        .call(|| {
            calls += 1;
            Err::<(), _>(busy())
        })
        .unwrap_err();
    assert_eq!(err.reason(), StopReason::DeadlineExceeded);
    assert_eq!(calls, 3);
    assert_eq!(sleeper.delays_ms(), [10, 20]);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

    /// Every attempt fails and costs `cost_us`. Every sleep is at most the cap and ends by the
    /// deadline, so the whole call ends within the deadline plus one attempt.
    #[test]
    fn the_retry_loop_never_sleeps_past_the_cap_or_the_deadline(
        backoff in crate::backoff::tests::exponential(),
        max_attempts in 1u32..300,
        deadline_ms in 1u64..5_000,
        cost_us in 0u64..300_000,
    ) {
        let cap = backoff.cap();
        let deadline = Duration::from_millis(deadline_ms);
        let policy = RetryPolicy::builder()
            .max_attempts(max_attempts)
            .backoff(backoff)
            .deadline(deadline)
            .build();
        proptest::prop_assume!(policy.is_ok());
        let policy = policy.unwrap();
        let (clock, sleeper) = harness();
        let cost = Duration::from_micros(cost_us);
        let (mut calls, mut slept, mut late) = (0u32, 0usize, None);
        let err = Retry::new(&policy)
            .with_clock(&clock)
            .with_sleeper(&sleeper)
            .call(|| {
                calls += 1;
                // A sleep recorded since the last attempt has ended by now.
                if sleeper.delays().len() > slept {
                    slept = sleeper.delays().len();
                    if clock.elapsed() > deadline {
                        late = Some(clock.elapsed());
                    }
                }
                clock.advance(cost);
                Err::<(), _>(busy())
            })
            .unwrap_err();
        proptest::prop_assert_eq!(late, None, "a sleep ended past the deadline {:?}", deadline);
        for delay in sleeper.delays() {
            proptest::prop_assert!(delay <= cap, "{:?} > cap {:?}", delay, cap);
        }
        proptest::prop_assert!(calls <= max_attempts);
        proptest::prop_assert!(clock.elapsed() <= deadline + cost, "{:?} > {:?} + {:?}", clock.elapsed(), deadline, cost);
        proptest::prop_assert!(matches!(err.reason(), StopReason::AttemptsExhausted | StopReason::DeadlineExceeded));
        proptest::prop_assert_eq!(err.attempts(), calls);
    }
}
