//! The anchors' workloads (issue 20), side by side: plain `BEGIN IMMEDIATE` and the library's
//! paths (`Store::write`, `Store::write_grouped`, `Writer::submit`), threads and worker processes,
//! 1/4/16 writers (and 64 connections for Turso's shape).
//!
//! - SQLite hctree's thread test: `tbl(a INTEGER PRIMARY KEY, b BLOB(200), c CHAR(64))`, indexes on
//!   `substr(c,1,16)` and `substr(c,2,16)`, 1,000,000 rows (built once into `--dir`, copied per
//!   run); `update1`, `update10`, `update10_scan10`; at the library's defaults (WAL,
//!   synchronous=NORMAL) and at synchronous=OFF.
//! - Turso's throughput shape: 100-row insert transactions at synchronous=FULL, 1–64 connections,
//!   CPU time per transaction.
//!
//! The `turso` crate (0.9.0-pre.2, MVCC with `BEGIN CONCURRENT`) is not a contender: it did not
//! finish building within ten minutes on the 2-core machine these figures come from.
//!
//! `cargo run --release -- [--secs 1.5] [--rows 1000000] [--dir /tmp/sqlretry-anchors] [--only TEXT]`
//! Prints a Markdown table per workload: tx/s, ÷ IMMEDIATE in the same layout, p99, max, CPU µs/tx.
#![forbid(unsafe_code)]

mod cell;
mod workload;

use std::path::PathBuf;

use cell::{APIS, Api, Outcome, run_processes, run_threads, sync_name};
use sqlretry::sqlite::Synchronous;
use workload::Workload;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

/// (label, processes, threads per process); processes = 0: threads in this process.
fn layouts(writers: usize) -> Vec<(String, usize, usize)> {
    let mut v = vec![(format!("{writers} threads"), 0, writers)];
    if writers >= 4 {
        v.push((format!("4 proc × {}", writers / 4), 4, writers / 4));
    }
    v
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        cell::child(&args[2..]);
        return;
    }
    let secs: f64 = arg("--secs").map_or(1.5, |s| s.parse().expect("--secs"));
    let rows: i64 = arg("--rows").map_or(1_000_000, |s| s.parse().expect("--rows"));
    let dir = PathBuf::from(arg("--dir").unwrap_or_else(|| "/tmp/sqlretry-anchors".into()));
    let only = arg("--only").unwrap_or_default();
    std::fs::create_dir_all(&dir).expect("--dir");
    let template = dir.join(format!("hctree-{rows}.db"));
    let run_db = dir.join("run.db");
    println!("secs per cell {secs}, rows {rows}, {}", load());

    let hctree = [Workload::Update1, Workload::Update10, Workload::Update10Scan10];
    let wanted = |w: Workload, sync: Synchronous| {
        only.is_empty() || only.split(',').any(|o| format!("{} {}", w.name(), sync_name(sync)).contains(o))
    };
    if hctree.iter().any(|&w| wanted(w, Synchronous::Normal) || wanted(w, Synchronous::Off)) {
        let t = std::time::Instant::now();
        workload::build_hctree(&template, rows);
        println!("template ready in {:.1} s", t.elapsed().as_secs_f64());
    }
    for sync in [Synchronous::Normal, Synchronous::Off] {
        if !hctree.iter().any(|&w| wanted(w, sync)) {
            continue;
        }
        workload::copy_template(&template, &run_db);
        for w in hctree.into_iter().filter(|&w| wanted(w, sync)) {
            table(w, sync, &[1, 4, 16], secs, rows, |_| run_db.clone());
        }
    }
    if wanted(Workload::Insert100, Synchronous::Full) {
        table(Workload::Insert100, Synchronous::Full, &[1, 4, 16, 64], secs, rows, |_| {
            workload::create_insert_table(&run_db);
            run_db.clone()
        });
    }
}

fn table(
    w: Workload,
    sync: Synchronous,
    writers: &[usize],
    secs: f64,
    rows: i64,
    db: impl Fn(Api) -> PathBuf,
) {
    println!("\n### {} at synchronous={} ({})\n", w.name(), sync_name(sync), load());
    println!("| layout | path | tx/s | ÷ IMMEDIATE | p99 ms | max ms | CPU µs/tx | failed |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    // Untimed: the first cell of a table would otherwise also pay for filling the OS's and
    // SQLite's caches.
    let _ = run_threads(&db(Api::Immediate), w, sync, Api::Immediate, 1, secs.min(0.5), rows, || {});
    for &n in writers {
        for (label, processes, threads) in layouts(n) {
            let mut base = None;
            for api in APIS {
                let path = db(api);
                let mut o: Outcome = if processes == 0 {
                    run_threads(&path, w, sync, api, threads, secs, rows, || {})
                } else {
                    run_processes(&path, w, sync, api, processes, threads, secs, rows)
                };
                let rate = o.per_s();
                let base_rate = *base.get_or_insert(rate);
                println!(
                    "| {label} | {} | {:.0} | {:.2} | {:.2} | {:.1} | {:.0} | {} |",
                    api.name(),
                    rate,
                    rate / base_rate,
                    o.percentile_ms(0.99),
                    o.percentile_ms(1.0),
                    o.cpu_us_per_tx(),
                    o.failed
                );
            }
        }
    }
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| format!("load {}", l.split_whitespace().take(3).collect::<Vec<_>>().join(" ")))
        .unwrap_or_default()
}
