//! Running N writers and summing up: committed/s, failed, p50/p99/max latency per operation.

use std::future::Future;
use std::time::{Duration, Instant};

/// What one writer saw: latencies of committed operations, and how many failed.
#[derive(Default)]
pub struct Tally {
    latencies: Vec<Duration>,
    failed: u64,
}

impl Tally {
    /// Times `op` and records it as committed or failed.
    pub fn time<E>(&mut self, op: impl FnOnce() -> Result<(), E>) {
        let start = Instant::now();
        match op() {
            Ok(()) => self.latencies.push(start.elapsed()),
            Err(_) => self.failed += 1,
        }
    }

    /// As [`Tally::time`], for a future.
    pub async fn time_async<E>(&mut self, op: impl Future<Output = Result<(), E>>) {
        let start = Instant::now();
        match op.await {
            Ok(()) => self.latencies.push(start.elapsed()),
            Err(_) => self.failed += 1,
        }
    }
}

/// One strategy's figures.
pub struct Row {
    pub name: String,
    pub committed: u64,
    pub failed: u64,
    pub wall: Duration,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Row {
    /// Sums up the writers' tallies over `wall`.
    pub fn from(name: &str, tallies: Vec<Tally>, wall: Duration) -> Row {
        let failed = tallies.iter().map(|t| t.failed).sum();
        let mut all: Vec<Duration> = tallies.into_iter().flat_map(|t| t.latencies).collect();
        all.sort_unstable();
        let at =
            |q: f64| all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1))).copied();
        Row {
            name: name.to_owned(),
            committed: all.len() as u64,
            failed,
            wall,
            p50: at(0.50).unwrap_or_default(),
            p99: at(0.99).unwrap_or_default(),
            max: all.last().copied().unwrap_or_default(),
        }
    }

    /// Committed operations per second.
    pub fn rate(&self) -> f64 {
        self.committed as f64 / self.wall.as_secs_f64()
    }
}

/// `writers` threads, each running `ops` operations with `op(writer)`; joined before returning.
pub fn threads<E>(name: &str, writers: usize, ops: usize, op: impl Fn(usize) -> Result<(), E> + Sync) -> Row {
    let start = Instant::now();
    let tallies = std::thread::scope(|s| {
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                let op = &op;
                s.spawn(move || {
                    let mut tally = Tally::default();
                    for _ in 0..ops {
                        tally.time(|| op(w));
                    }
                    tally
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("writer thread")).collect()
    });
    Row::from(name, tallies, start.elapsed())
}

/// `writers` tokio tasks on `rt`, each awaiting `ops` operations made by `op()`.
pub fn tasks<E, Fut>(
    rt: &tokio::runtime::Runtime,
    name: &str,
    writers: usize,
    ops: usize,
    op: impl Fn() -> Fut + Clone + Send + 'static,
) -> Row
where
    Fut: Future<Output = Result<(), E>> + Send,
    E: Send + 'static,
{
    rt.block_on(async {
        let start = Instant::now();
        let handles: Vec<_> = (0..writers)
            .map(|_| {
                let op = op.clone();
                tokio::spawn(async move {
                    let mut tally = Tally::default();
                    for _ in 0..ops {
                        tally.time_async(op()).await;
                    }
                    tally
                })
            })
            .collect();
        let mut tallies = Vec::new();
        for h in handles {
            tallies.push(h.await.expect("writer task"));
        }
        Row::from(name, tallies, start.elapsed())
    })
}
