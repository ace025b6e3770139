//! `--mode processes`: the binary re-executes itself as `sqlretry __worker --order JSON`; each worker
//! process runs its threads and prints its tally as one JSON line on stdout.
//!
//! # Design
//! The parent owns every child (`std::process::Child`), reads each one's output to the end and waits for
//! it, so no worker process outlives a run.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::Duration;

use crate::error::StressError;
use crate::worker::{Tally, WorkOrder, run_workers};

/// The hidden subcommand worker processes run: the command must route
/// `WORKER_SUBCOMMAND --order JSON` to [`worker_main`].
pub const WORKER_SUBCOMMAND: &str = "__worker";

/// Child side: runs the order given as JSON and prints the tally as one JSON line.
///
/// # Examples
///
/// ```
/// let err = sqlretry_stress::worker_main("{}").expect_err("not a work order");
/// assert!(err.is_usage());
/// ```
///
/// # Errors
/// The order is unreadable, or the run failed.
pub fn worker_main(order_json: &str) -> Result<(), StressError> {
    let order: WorkOrder = serde_json::from_str(order_json)
        .map_err(|e| StressError::usage("--order", format!("not a valid work order: {e}")))?;
    let tally = run_workers(&order, |_| {})?;
    let line = serde_json::to_string(&tally)
        .map_err(|e| StressError::Worker(format!("cannot encode the tally: {e}")))?;
    println!("{line}");
    Ok(())
}

/// Parent side: starts one process per order, waits for all, and combines their tallies.
///
/// `on_tick` is called about ten times a second while the processes run.
///
/// # Errors
/// A process could not start, failed, or printed no readable tally.
pub fn run_processes(orders: &[WorkOrder], mut on_tick: impl FnMut()) -> Result<Tally, StressError> {
    let exe = std::env::current_exe()
        .map_err(|e| StressError::Worker(format!("cannot find this program's path: {e}")))?;
    let mut children = Vec::with_capacity(orders.len());
    for order in orders {
        let json = serde_json::to_string(order)
            .map_err(|e| StressError::Worker(format!("cannot encode a work order: {e}")))?;
        let spawned = Command::new(&exe)
            .arg(WORKER_SUBCOMMAND)
            .arg("--order")
            .arg(json)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn();
        match spawned {
            Ok(child) => children.push(child),
            Err(e) => {
                reap(children);
                return Err(StressError::Worker(format!("cannot start a worker process: {e}")));
            }
        }
    }
    // Each child's output is drained by its own scoped reader thread, so a full pipe never blocks it.
    thread::scope(|scope| {
        let readers: Vec<_> = children
            .iter_mut()
            .map(|child| {
                let stdout = child.stdout.take();
                scope.spawn(move || {
                    let mut out = String::new();
                    if let Some(mut stdout) = stdout {
                        stdout.read_to_string(&mut out).map(|_| out)
                    } else {
                        Ok(out)
                    }
                })
            })
            .collect();
        while children.iter_mut().any(|c| matches!(c.try_wait(), Ok(None))) {
            on_tick();
            thread::sleep(Duration::from_millis(100));
        }
        let mut total = Tally::new();
        let mut first_error = None;
        for (child, reader) in children.iter_mut().zip(readers) {
            let out = reader.join().unwrap_or_else(|_| Ok(String::new()));
            match collect(child, out) {
                Ok(tally) => total.merge(&tally),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(total),
        }
    })
}

/// Waits for a finished child and parses the JSON line it printed.
fn collect(child: &mut Child, out: std::io::Result<String>) -> Result<Tally, StressError> {
    let out = out.map_err(|e| StressError::Worker(format!("reading its output: {e}")))?;
    let status = child.wait().map_err(|e| StressError::Worker(format!("waiting for it: {e}")))?;
    if !status.success() {
        return Err(StressError::Worker(format!("exited with {status}")));
    }
    let line = out.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default();
    serde_json::from_str(line).map_err(|e| StressError::Worker(format!("unreadable report {line:?}: {e}")))
}

/// Kills and waits for children after a failed start, so none is left running.
fn reap(children: Vec<Child>) {
    for mut child in children {
        let _ = child.kill();
        let _ = child.wait();
    }
}
