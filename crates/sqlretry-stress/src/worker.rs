//! The worker threads of one process: open a strategy each, start together, repeat the operation,
//! and tally what they saw.
//!
//! # Design
//! Threads are scoped (`std::thread::scope`) and named `stress-worker-N`; the calling thread owns them,
//! polls the shared progress counter while they run, and joins every one before returning.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use sqlretry::config::Config;

use crate::error::StressError;
use crate::report::Latency;
use crate::rng::SplitMix64;
use crate::strategy::{NamedError, OpFailure, OpOutcome, Opener, StrategySettings, Ticket};
use crate::strategy_kind::StrategyKind;
use crate::workload::{OpContext, Prepared, Workload};

/// Everything a process needs to run its share of one strategy run (sent to worker processes as JSON).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct WorkOrder {
    /// The run id tagging every row.
    pub run_id: i64,
    /// The strategy.
    pub strategy: StrategyKind,
    /// The workload.
    pub workload: Workload,
    /// The database file.
    pub db: PathBuf,
    /// The library's configuration, passed through to the strategy.
    pub config: Config,
    /// Number of the first worker in this process (worker numbers are unique across processes).
    pub first_worker: u64,
    /// Worker threads in this process.
    pub writers: u32,
    /// Writers in the whole run (all processes).
    pub total_writers: u64,
    /// Operations for this process, split over its writers; ignored when `duration` is set.
    pub ops: u64,
    /// Run for this long instead of a number of operations.
    pub duration: Option<Duration>,
    /// Seed for the workers' generators.
    pub seed: u64,
    /// `--in-flight`: writes each worker keeps in flight (strategies that cannot pipeline use 1).
    #[serde(default = "one")]
    pub in_flight: u32,
}

/// The default of [`WorkOrder::in_flight`] and [`Tally::in_flight`].
fn one() -> u32 {
    1
}

/// What the workers of one or more processes saw; worker processes send it as one JSON line.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Tally {
    /// Operations started.
    pub attempted: u64,
    /// Operations acknowledged (the write committed, or `entries` skipped it as changed).
    pub committed: u64,
    /// Operations that returned an error.
    pub failed: u64,
    /// Retries spent (attempts after the first), failed operations included.
    pub retries: u64,
    /// Units (rows or version increments) the acknowledged writes reported.
    pub units: u64,
    /// Final errors of failed operations, by SQLite extended code name.
    pub errors: BTreeMap<String, u64>,
    /// Latency of each operation's write, in microseconds.
    #[serde(with = "histogram_pairs")]
    pub latency_us: Histogram<u64>,
    /// From the workers' common start to the last one's finish (the longest when merged).
    #[serde(with = "micros", rename = "wall_us")]
    pub wall: Duration,
    /// Writes each worker really kept in flight (1 for strategies that cannot pipeline).
    #[serde(default = "one")]
    pub in_flight: u32,
}

impl Tally {
    /// An empty tally.
    pub fn new() -> Self {
        Self {
            attempted: 0,
            committed: 0,
            failed: 0,
            retries: 0,
            units: 0,
            errors: BTreeMap::new(),
            latency_us: new_histogram(),
            wall: Duration::ZERO,
            in_flight: 1,
        }
    }

    /// Adds another tally into this one.
    pub fn merge(&mut self, other: &Tally) {
        self.attempted += other.attempted;
        self.committed += other.committed;
        self.failed += other.failed;
        self.retries += other.retries;
        self.units += other.units;
        self.wall = self.wall.max(other.wall);
        self.in_flight = self.in_flight.max(other.in_flight);
        for (name, count) in &other.errors {
            *self.errors.entry(name.clone()).or_default() += count;
        }
        for v in other.latency_us.iter_recorded() {
            self.latency_us.saturating_record_n(v.value_iterated_to(), v.count_at_value());
        }
    }

    /// Counts one write that took `latency` and ended with `result`.
    pub fn record<E: NamedError>(&mut self, latency: Duration, result: Result<OpOutcome, OpFailure<E>>) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency_us.saturating_record(micros.max(1));
        match result {
            Ok(outcome) => {
                self.committed += 1;
                self.retries += u64::from(outcome.retries);
                self.units += outcome.units;
            }
            Err(failure) => self.fail(&failure.error, failure.retries),
        }
    }

    /// Counts one failed operation.
    pub fn fail<E: NamedError>(&mut self, error: &E, retries: u32) {
        self.failed += 1;
        self.retries += u64::from(retries);
        *self.errors.entry(error.error_name()).or_default() += 1;
    }

    /// The percentiles of the recorded latencies (all 0 when nothing was recorded).
    pub fn latency(&self) -> Latency {
        let h = &self.latency_us;
        if h.is_empty() {
            return Latency { p50: 0, p95: 0, p99: 0, max: 0 };
        }
        Latency {
            p50: h.value_at_quantile(0.50),
            p95: h.value_at_quantile(0.95),
            p99: h.value_at_quantile(0.99),
            max: h.max(),
        }
    }
}

impl Default for Tally {
    fn default() -> Self {
        Self::new()
    }
}

/// The tally's latencies on the pipe from a worker process: (value µs, count) pairs.
mod histogram_pairs {
    use hdrhistogram::Histogram;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(h: &Histogram<u64>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(h.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Histogram<u64>, D::Error> {
        let mut h = super::new_histogram();
        for (value, count) in Vec::<(u64, u64)>::deserialize(d)? {
            h.saturating_record_n(value, count);
        }
        Ok(h)
    }
}

/// The tally's wall time on the pipe: whole microseconds.
mod micros {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_micros)
    }
}

/// A latency histogram from 1 µs to one hour, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    // Constant, valid bounds: creation cannot fail; fall back to auto-resizing just in case.
    Histogram::new_with_bounds(1, 3_600_000_000, 3).unwrap_or_else(|_| {
        let mut h = Histogram::new(3).unwrap_or_else(|_| unreachable!("3 significant digits is valid"));
        h.auto(true);
        h
    })
}

/// Runs the order's worker threads to completion and returns their combined tally.
///
/// `on_tick` is called about ten times a second with the number of operations done so far.
///
/// # Errors
/// A worker thread panicked.
pub fn run_workers(order: &WorkOrder, mut on_tick: impl FnMut(u64)) -> Result<Tally, StressError> {
    let settings = StrategySettings { db: order.db.clone(), config: order.config.clone() };
    let opener = crate::strategy::opener(order.strategy, &settings);
    let writers = order.writers.max(1);
    let gate = StartGate::default();
    let progress = AtomicU64::new(0);
    let entries = order.workload.entries_for(order.total_writers);

    thread::scope(|scope| {
        let mut handles = Vec::with_capacity(writers as usize);
        for i in 0..writers {
            let worker = order.first_worker + u64::from(i);
            let share =
                order.ops / u64::from(writers) + u64::from(u64::from(i) < order.ops % u64::from(writers));
            let job = WorkerJob {
                order,
                opener: Arc::clone(&opener),
                worker,
                ops: share,
                entries,
                gate: &gate,
                progress: &progress,
            };
            match thread::Builder::new()
                .name(format!("stress-worker-{worker}"))
                .spawn_scoped(scope, move || job.run())
            {
                Ok(handle) => handles.push(handle),
                Err(e) => {
                    // Release the spawned workers without running; the scope joins them.
                    gate.open(false);
                    return Err(StressError::Worker(format!("cannot spawn a worker thread: {e}")));
                }
            }
        }
        // Every worker has opened its connection before any operation starts.
        gate.wait_ready(handles.len(), || handles.iter().any(|h| h.is_finished()));
        gate.open(true);
        while !handles.iter().all(|h| h.is_finished()) {
            on_tick(progress.load(Ordering::Relaxed));
            thread::sleep(Duration::from_millis(100));
        }
        on_tick(progress.load(Ordering::Relaxed));
        let mut total = Tally::new();
        let mut panicked = false;
        let mut span: Option<(Instant, Instant)> = None;
        for handle in handles {
            match handle.join() {
                Ok((tally, started, finished)) => {
                    total.merge(&tally);
                    span = Some(match span {
                        Some((s, f)) => (s.min(started), f.max(finished)),
                        None => (started, finished),
                    });
                }
                Err(_) => panicked = true,
            }
        }
        total.wall = span.map(|(s, f)| f.saturating_duration_since(s)).unwrap_or_default();
        if panicked {
            return Err(StressError::Worker("a worker thread panicked".to_owned()));
        }
        Ok(total)
    })
}

/// Holds the workers until all have opened their connections, then starts them together, or tells
/// them to stop when the run is abandoned (a thread could not be spawned).
#[derive(Debug, Default)]
struct StartGate {
    /// Workers that have arrived, and the decision once made (`true` run, `false` stop).
    state: Mutex<(usize, Option<bool>)>,
    /// Signalled on every arrival and on the decision.
    changed: Condvar,
}

impl StartGate {
    /// A worker arrives; blocks until the decision and returns it.
    fn arrive_and_wait(&self) -> bool {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.0 += 1;
        self.changed.notify_all();
        loop {
            if let Some(go) = state.1 {
                return go;
            }
            state = self.changed.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Blocks until `n` workers have arrived, or `gave_up()` says one never will (it panicked).
    fn wait_ready(&self, n: usize, gave_up: impl Fn() -> bool) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        while state.0 < n && !gave_up() {
            state = self
                .changed
                .wait_timeout(state, Duration::from_millis(50))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Makes the decision and wakes every worker.
    fn open(&self, go: bool) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.1 = Some(go);
        self.changed.notify_all();
    }
}

/// The tally of a worker (thread or task) that could not open its strategy: each of its `ops`
/// operations (one with `--duration`) failed with that error.
pub fn unopened(order: &WorkOrder, ops: u64, error: &rusqlite::Error, progress: &AtomicU64) -> Tally {
    let mut tally = Tally::new();
    let ops = if order.duration.is_some() { 1 } else { ops };
    for _ in 0..ops {
        tally.attempted += 1;
        tally.fail(error, 0);
    }
    progress.fetch_add(ops, Ordering::Relaxed);
    tally
}

/// The context of worker number `worker`'s first operation (its generator seeded from the run's
/// seed and its number).
pub fn op_context(order: &WorkOrder, worker: u64, entries: u64) -> OpContext {
    let seed = order.seed ^ worker.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    OpContext { run_id: order.run_id, worker, entries, seq: 0, rng: SplitMix64::new(seed) }
}

/// Whether a worker starts another operation: before its `deadline` (`--duration`), or while it
/// has done fewer than `ops`.
pub fn more(deadline: Option<Instant>, done: u64, ops: u64) -> bool {
    match deadline {
        Some(deadline) => Instant::now() < deadline,
        None => done < ops,
    }
}

/// One worker thread's job.
struct WorkerJob<'a> {
    order: &'a WorkOrder,
    opener: Arc<dyn Opener>,
    worker: u64,
    ops: u64,
    entries: u64,
    gate: &'a StartGate,
    progress: &'a AtomicU64,
}

impl WorkerJob<'_> {
    /// Opens the strategy, waits for the others, runs the operations; returns the tally with when the
    /// operations started (after the common start) and finished.
    fn run(self) -> (Tally, Instant, Instant) {
        let opened = self.opener.open(self.worker);
        let go = self.gate.arrive_and_wait();
        let started = Instant::now();
        if !go {
            return (Tally::new(), started, started);
        }
        let tally = self.operate(opened);
        (tally, started, Instant::now())
    }

    /// Runs the operations on an opened strategy (or fails them all when opening failed).
    fn operate(&self, opened: rusqlite::Result<Box<dyn crate::strategy::Strategy>>) -> Tally {
        let mut tally = Tally::new();
        let mut strategy = match opened {
            Ok(strategy) => strategy,
            Err(error) => return unopened(self.order, self.ops, &error, self.progress),
        };
        tracing::debug!(strategy = strategy.name(), worker = self.worker, "worker ready");
        let deadline = self.order.duration.map(|d| Instant::now() + d);
        let mut ctx = op_context(self.order, self.worker, self.entries);
        let window = strategy.in_flight(self.order.in_flight) as usize;
        tally.in_flight = u32::try_from(window).unwrap_or(u32::MAX);
        // Writes started and not yet waited for, oldest first (only with a window above 1).
        let mut in_flight: VecDeque<(Instant, Ticket)> = VecDeque::with_capacity(window);
        while more(deadline, ctx.seq, self.ops) {
            tally.attempted += 1;
            match self.order.workload.prepare(strategy.as_ref(), &mut ctx) {
                Prepared::Failed(failure) => tally.fail(&failure.error, failure.retries),
                Prepared::Write(op) if window <= 1 => {
                    let started = Instant::now();
                    let result = strategy.write(op);
                    tally.record(started.elapsed(), result);
                }
                Prepared::Write(op) => {
                    if in_flight.len() >= window
                        && let Some((started, ticket)) = in_flight.pop_front()
                    {
                        let result = ticket();
                        tally.record(started.elapsed(), result);
                    }
                    in_flight.push_back((Instant::now(), strategy.enqueue(op)));
                }
            }
            ctx.seq += 1;
            self.progress.fetch_add(1, Ordering::Relaxed);
        }
        for (started, ticket) in in_flight {
            let result = ticket();
            tally.record(started.elapsed(), result);
        }
        tally
    }
}
