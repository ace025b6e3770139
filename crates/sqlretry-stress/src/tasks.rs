//! `--mode tasks`: the shape of a web service — many tokio tasks on a small runtime, each awaiting
//! one write at a time.
//!
//! A task awaits the library's async write where the strategy has one ([`Strategy::write_async`]:
//! the Writer's `submit_async`); every other strategy (the Store's `write` and `write_grouped`,
//! the plain ones, the Writer's ingest) runs its blocking write on tokio's blocking pool
//! (`spawn_blocking`), as a service must: a blocking write on a runtime worker stalls every other
//! task scheduled there, and with 2 workers two such writes stall the whole runtime.
//!
//! # Design
//! `run_tasks` owns the runtime ([`RUNTIME_WORKERS`] worker threads named `stress-runtime`): it
//! opens every task's strategy first, spawns the tasks, awaits every one of them, and shuts the
//! runtime down (a bounded wait) before it returns.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::StressError;
use crate::strategy::{Strategy, StrategySettings};
use crate::worker::{Tally, WorkOrder, more, op_context, unopened};
use crate::workload::Prepared;
use crate::workload::WorkloadKind;

/// Worker threads of the runtime the tasks share (a small service's runtime on a 2-core machine).
pub const RUNTIME_WORKERS: usize = 2;
/// The longest the runtime's shutdown waits for blocking-pool threads after every task finished.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the order's writers as tokio tasks to completion and returns their combined tally.
///
/// `on_tick` is called about ten times a second with the number of operations started so far.
///
/// # Errors
/// The runtime could not start, or a task panicked.
pub fn run_tasks(order: &WorkOrder, mut on_tick: impl FnMut(u64)) -> Result<Tally, StressError> {
    let settings = StrategySettings { db: order.db.clone(), config: order.config.clone() };
    let opener = crate::strategy::opener(order.strategy, &settings);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(RUNTIME_WORKERS)
        .thread_name("stress-runtime")
        .enable_all()
        .build()
        .map_err(|e| StressError::Worker(format!("cannot start the tokio runtime: {e}")))?;
    let tasks = u64::from(order.writers.max(1));
    let progress = Arc::new(AtomicU64::new(0));
    let entries = order.workload.entries_for(order.total_writers);
    // Every task's connection is open before any operation starts, as in threads mode.
    let jobs: Vec<TaskJob> = (0..tasks)
        .map(|i| {
            let worker = order.first_worker + i;
            TaskJob {
                order: order.clone(),
                worker,
                ops: order.ops / tasks + u64::from(i < order.ops % tasks),
                entries,
                progress: Arc::clone(&progress),
                opened: opener.open(worker),
            }
        })
        .collect();
    let started = Instant::now();
    let (mut total, panicked) = runtime.block_on(async {
        let handles: Vec<_> = jobs.into_iter().map(|job| tokio::spawn(job.run())).collect();
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        while !handles.iter().all(|h| h.is_finished()) {
            tick.tick().await;
            on_tick(progress.load(Ordering::Relaxed));
        }
        on_tick(progress.load(Ordering::Relaxed));
        let mut total = Tally::new();
        let mut panicked = false;
        for handle in handles {
            match handle.await {
                Ok(Some(tally)) => total.merge(&tally),
                Ok(None) | Err(_) => panicked = true,
            }
        }
        (total, panicked)
    });
    total.wall = started.elapsed();
    runtime.shutdown_timeout(SHUTDOWN_TIMEOUT);
    if panicked {
        return Err(StressError::Worker("a stress task panicked".to_owned()));
    }
    Ok(total)
}

/// One task's job.
struct TaskJob {
    order: WorkOrder,
    worker: u64,
    ops: u64,
    entries: u64,
    progress: Arc<AtomicU64>,
    opened: rusqlite::Result<Box<dyn Strategy>>,
}

impl TaskJob {
    /// Runs the operations; `None` when a write on the blocking pool panicked.
    async fn run(self) -> Option<Tally> {
        let mut tally = Tally::new();
        let mut strategy = match self.opened {
            Ok(strategy) => strategy,
            Err(error) => return Some(unopened(&self.order, self.ops, &error, &self.progress)),
        };
        let deadline = self.order.duration.map(|d| Instant::now() + d);
        let mut ctx = op_context(&self.order, self.worker, self.entries);
        // The `entries` workload reads and does its slow work before the write: blocking calls.
        let blocking_prepare = self.order.workload.kind == WorkloadKind::Entries;
        while more(deadline, ctx.seq, self.ops) {
            tally.attempted += 1;
            let prepared = if blocking_prepare {
                tokio::task::block_in_place(|| self.order.workload.prepare(strategy.as_ref(), &mut ctx))
            } else {
                self.order.workload.prepare(strategy.as_ref(), &mut ctx)
            };
            match prepared {
                Prepared::Failed(failure) => tally.fail(&failure.error, failure.retries),
                Prepared::Write(op) => {
                    let started = Instant::now();
                    let result = match strategy.write_async(op) {
                        Ok(write) => write.await,
                        Err(op) => {
                            let mut owned = strategy;
                            let blocking = tokio::task::spawn_blocking(move || {
                                let result = owned.write(op);
                                (owned, result)
                            });
                            match blocking.await {
                                Ok((back, result)) => {
                                    strategy = back;
                                    result
                                }
                                Err(_) => return None,
                            }
                        }
                    };
                    tally.record(started.elapsed(), result);
                }
            }
            ctx.seq += 1;
            self.progress.fetch_add(1, Ordering::Relaxed);
        }
        Some(tally)
    }
}
