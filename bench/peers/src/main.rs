//! Peer benchmark (issue 13): `writers` concurrent writers doing read-then-write transactions on
//! one file (BASELINE.md's workload), side by side in one run — sqlretry's `Store::write`,
//! `Store::write_grouped`, `Writer::submit_async` and `write_on` against tokio-rusqlite,
//! r2d2_sqlite + `BEGIN IMMEDIATE` and sqlx. One SQLite build for all (one `libsqlite3-sys` per
//! binary: sqlx 0.9 needs < 0.38, so rusqlite 0.37, tokio-rusqlite 0.7, r2d2_sqlite 0.31 here).
//!
//! `cargo run --release -- [--ops N] [--writers N]` (defaults: 32,000 operations, 16 writers).
//! Prints a Markdown table: committed/s, × one uncontended writer, failed, p50/p99/max.
#![forbid(unsafe_code)]

mod measure;
mod peer_runs;
mod sqlretry_runs;
mod workload;

use std::path::Path;

use measure::Row;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(default)
}

fn main() {
    let ops = arg("--ops", 32_000);
    let writers = arg("--writers", 16);
    let per = ops / writers;
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let fresh = |name: &str| {
        let path = dir.path().join(format!("{name}.db"));
        workload::create(&path);
        path
    };
    type Run<'a> = Box<dyn Fn(&Path) -> Row + 'a>;
    let runs: Vec<(&str, Run)> = vec![
        ("one", Box::new(|p| sqlretry_runs::one_writer(p, ops))),
        ("store", Box::new(|p| sqlretry_runs::store_write(p, writers, per))),
        ("grouped", Box::new(|p| sqlretry_runs::write_grouped(p, writers, per))),
        ("submit_async", Box::new(|p| sqlretry_runs::submit_async(&rt, p, writers, per))),
        ("write_on", Box::new(|p| sqlretry_runs::r2d2_write_on(p, writers, per))),
        ("tokio_rusqlite", Box::new(|p| peer_runs::tokio_rusqlite(&rt, p, writers, per))),
        ("r2d2", Box::new(|p| peer_runs::r2d2_immediate(p, writers, per))),
        ("sqlx_immediate", Box::new(|p| peer_runs::sqlx(&rt, p, writers, per, true))),
        ("sqlx_begin", Box::new(|p| peer_runs::sqlx(&rt, p, writers, per, false))),
    ];
    println!(
        "{writers} writers, {} operations each (one writer: {ops}), SQLite {}",
        per,
        rusqlite::version()
    );
    println!("\n| strategy | committed/s | × one writer | failed | p50 | p99 | max |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mut limit = None;
    for (file, run) in &runs {
        let path = fresh(file);
        let row = run(&path);
        let (n, rows) = workload::committed(&path);
        assert_eq!(
            (n, rows),
            (row.committed as i64, row.committed as i64),
            "{}: lost or doubled writes",
            row.name
        );
        let limit = *limit.get_or_insert(row.rate());
        println!(
            "| {} | {:.0} | {:.2} | {} ({:.1} %) | {:.2} ms | {:.2} ms | {:.1} ms |",
            row.name,
            row.rate(),
            row.rate() / limit,
            row.failed,
            100.0 * row.failed as f64 / (row.failed + row.committed) as f64,
            row.p50.as_secs_f64() * 1e3,
            row.p99.as_secs_f64() * 1e3,
            row.max.as_secs_f64() * 1e3,
        );
    }
}
