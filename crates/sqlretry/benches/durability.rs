//! The cost of durability: commits per second at `synchronous=NORMAL` and `FULL`, side by side in
//! one run. `harness = false`; prints a table of medians and ratios.
//!
//! ```text
//! cargo bench -p sqlretry --bench durability                    # 5 rounds of 2 s per cell
//! DURABILITY_ROUNDS=3 DURABILITY_SECS=1 cargo bench -p sqlretry --bench durability
//! ```
//!
//! Two scenarios, each at both levels, the levels alternating within every round so that machine
//! noise falls on both alike: one writer (`Store::write`, one row per transaction: one commit,
//! and at FULL one fsync, per write) and the group-commit Writer with 16 producer threads (one
//! transaction, so one fsync, per group). The files live under the system temp directory, which
//! must be on a real disk for FULL to cost anything (tmpfs makes fsync free).
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlretry::sqlite::{ConnectionProfile, Store, StoreOptions, Synchronous};
use sqlretry::writer::{Writer, WriterOptions};

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, producer INTEGER NOT NULL, payload TEXT NOT NULL)";
const INSERT: &str = "INSERT INTO items (producer, payload) VALUES (?1, 'durability bench payload, about sixty bytes long ....')";
const PRODUCERS: i64 = 16;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn profile(level: Synchronous) -> ConnectionProfile {
    ConnectionProfile::default().with_synchronous(level)
}

/// Commits per second of one thread writing one row per transaction through `Store::write`.
fn one_writer(dir: &std::path::Path, level: Synchronous, run_for: Duration) -> f64 {
    let path = dir.join(format!("one-{level:?}.db"));
    let store = Store::open_with(&path, StoreOptions::default().with_profile(profile(level))).unwrap();
    store.write(|tx| tx.execute_batch(SCHEMA)).unwrap();
    let started = Instant::now();
    let mut commits = 0_u64;
    while started.elapsed() < run_for {
        store.write(|tx| tx.execute(INSERT, [0])).unwrap();
        commits += 1;
    }
    commits as f64 / started.elapsed().as_secs_f64()
}

/// Acknowledged writes per second of `PRODUCERS` threads each submitting one row at a time
/// through one group-commit Writer; also the mean group size.
fn group_commit(dir: &std::path::Path, level: Synchronous, run_for: Duration) -> (f64, f64) {
    let path = dir.join(format!("group-{level:?}.db"));
    let writer = Writer::open_with(&path, WriterOptions::default().with_profile(profile(level))).unwrap();
    writer.submit(|tx| tx.execute_batch(SCHEMA)).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let (writer, stop, acked) = (writer.clone(), Arc::clone(&stop), Arc::clone(&acked));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    writer.submit(move |tx| tx.execute(INSERT, [p])).unwrap();
                    acked.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(run_for);
    stop.store(true, Ordering::Relaxed);
    for p in producers {
        p.join().unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let m = writer.shutdown().unwrap();
    let acked = acked.load(Ordering::Relaxed) as f64;
    (acked / elapsed, m.requests_committed as f64 / m.groups_committed.max(1) as f64)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 { xs[n / 2] } else { (xs[n / 2 - 1] + xs[n / 2]) / 2.0 }
}

fn main() {
    let rounds = env_u64("DURABILITY_ROUNDS", 5);
    let run_for = Duration::from_secs(env_u64("DURABILITY_SECS", 2));
    let levels = [Synchronous::Normal, Synchronous::Full];
    let mut one = [Vec::new(), Vec::new()];
    let mut group = [Vec::new(), Vec::new()];
    let mut sizes = [Vec::new(), Vec::new()];
    for round in 0..rounds {
        // Alternate which level goes first, so that neither always runs on a warmer machine.
        let order: [usize; 2] = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for &i in &order {
            let dir = tempfile::tempdir().unwrap();
            one[i].push(one_writer(dir.path(), levels[i], run_for));
            let (rate, size) = group_commit(dir.path(), levels[i], run_for);
            group[i].push(rate);
            sizes[i].push(size);
        }
        eprintln!("round {} of {rounds} done", round + 1);
    }
    println!(
        "durability: {rounds} rounds of {} s per cell, medians (commits or acknowledged writes per second)",
        run_for.as_secs()
    );
    println!("{:<44} {:>12} {:>12} {:>12}", "scenario", "NORMAL", "FULL", "NORMAL/FULL");
    let one_m = [median(one[0].clone()), median(one[1].clone())];
    let group_m = [median(group[0].clone()), median(group[1].clone())];
    println!(
        "{:<44} {:>12.0} {:>12.0} {:>12.2}",
        "one writer, Store::write, 1 row/commit",
        one_m[0],
        one_m[1],
        one_m[0] / one_m[1]
    );
    println!(
        "{:<44} {:>12.0} {:>12.0} {:>12.2}",
        format!("Writer, {PRODUCERS} producers, group commit"),
        group_m[0],
        group_m[1],
        group_m[0] / group_m[1]
    );
    println!(
        "{:<44} {:>12.1} {:>12.1}",
        "  mean group size (requests per commit)",
        median(sizes[0].clone()),
        median(sizes[1].clone())
    );
    println!(
        "{:<44} {:>12.2} {:>12.2}",
        "group commit / one writer",
        group_m[0] / one_m[0],
        group_m[1] / one_m[1]
    );
}
