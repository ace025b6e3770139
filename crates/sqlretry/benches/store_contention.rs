//! Store against plain rusqlite: one uncontended writer, then 16 contending writers (threads, then
//! 4 processes × 4 threads) doing read-then-write transactions, side by side in one run:
//! plain deferred, plain IMMEDIATE, `Store::write`, `Store::write_grouped` and the same closure
//! through the `Writer`.
//!
//! `cargo bench -p sqlretry --bench store_contention -- [--ops N] [--single N] [--only threads|processes|single]`
//! Results go to stdout as tables; see BENCHMARKS.md, "SQLite layer: the Store".
#![allow(missing_docs, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rusqlite::{Connection, TransactionBehavior};
use sqlretry::sqlite::{ConnectionProfile, Store, StoreOptions};

const CHILD_ENV: &str = "SQLRETRY_STORE_BENCH_CHILD";
const STRATEGIES: [&str; 5] = ["plain-deferred", "plain-immediate", "store", "store-grouped", "writer"];
const PAYLOAD: &str =
    "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnop";

fn schema(path: &Path) {
    let conn = ConnectionProfile::default().open(path).unwrap();
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY, value INTEGER NOT NULL);
         INSERT OR IGNORE INTO counter VALUES (1, 0);
         CREATE TABLE IF NOT EXISTS rows (id INTEGER PRIMARY KEY, n INTEGER NOT NULL, payload TEXT NOT NULL);",
    )
    .unwrap();
}

/// SELECT the counter, INSERT a ~100-byte row, UPDATE the counter.
fn read_then_write(tx: &Connection) -> rusqlite::Result<()> {
    let n: i64 = tx.prepare_cached("SELECT value FROM counter WHERE id = 1")?.query_row([], |r| r.get(0))?;
    tx.prepare_cached("INSERT INTO rows (n, payload) VALUES (?1, ?2)")?
        .execute(rusqlite::params![n, PAYLOAD])?;
    tx.prepare_cached("UPDATE counter SET value = value + 1 WHERE id = 1")?.execute([])?;
    Ok(())
}

/// The Store as benchmarked; `SQLRETRY_BENCH_WINDOW_US` overrides the barging window (tuning).
fn open_store(path: &Path) -> Store {
    let mut options = StoreOptions::default();
    if let Ok(us) = std::env::var("SQLRETRY_BENCH_WINDOW_US") {
        options = options.with_barging_window(Duration::from_micros(us.parse().unwrap()));
    }
    Store::open_with(path, options).unwrap()
}

enum Writer {
    Plain(Connection, TransactionBehavior),
    Store(Store),
    /// `Store::write_grouped` (group commit on the callers' threads).
    StoreGrouped(Store),
    /// The same closure through `sqlretry::writer::Writer` (group commit).
    Grouped(sqlretry::writer::Writer),
}

impl Writer {
    fn new(
        strategy: &str,
        path: &Path,
        store: Option<&Store>,
        grouped: Option<&sqlretry::writer::Writer>,
    ) -> Writer {
        let plain = |b| Writer::Plain(ConnectionProfile::default().open(path).unwrap(), b);
        match strategy {
            "plain-deferred" => plain(TransactionBehavior::Deferred),
            "plain-immediate" => plain(TransactionBehavior::Immediate),
            "writer" => Writer::Grouped(grouped.unwrap().clone()),
            "store-grouped" => Writer::StoreGrouped(store.cloned().unwrap_or_else(|| open_store(path))),
            _ => Writer::Store(store.cloned().unwrap_or_else(|| open_store(path))),
        }
    }

    fn op(&mut self) -> bool {
        match self {
            Writer::Plain(conn, behavior) => {
                let tx = match conn.transaction_with_behavior(*behavior) {
                    Ok(tx) => tx,
                    Err(_) => return false,
                };
                read_then_write(&tx).and_then(|()| tx.commit()).is_ok()
            }
            Writer::Store(store) => store.write(read_then_write).is_ok(),
            Writer::StoreGrouped(store) => store.write_grouped(read_then_write).is_ok(),
            Writer::Grouped(writer) => writer.submit(read_then_write).is_ok(),
        }
    }
}

/// Runs `threads` writers of `ops` each; returns (latencies in µs of committed ops, failed, elapsed).
fn run_threads(
    strategy: &str,
    path: &Path,
    threads: usize,
    ops: usize,
    go: impl FnOnce(),
) -> (Vec<u64>, usize, Duration) {
    let shared = strategy.starts_with("store").then(|| open_store(path));
    let grouped = (strategy == "writer").then(|| {
        sqlretry::writer::Writer::open_with(path, sqlretry::writer::WriterOptions::default()).unwrap()
    });
    let mut writers: Vec<Writer> =
        (0..threads).map(|_| Writer::new(strategy, path, shared.as_ref(), grouped.as_ref())).collect();
    go();
    let start = Instant::now();
    let results: Vec<(Vec<u64>, usize)> = std::thread::scope(|s| {
        let handles: Vec<_> = writers
            .iter_mut()
            .map(|w| {
                s.spawn(move || {
                    let (mut lat, mut failed) = (Vec::with_capacity(ops), 0);
                    for _ in 0..ops {
                        let t = Instant::now();
                        if w.op() {
                            lat.push(t.elapsed().as_micros() as u64);
                        } else {
                            failed += 1;
                        }
                    }
                    (lat, failed)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let elapsed = start.elapsed();
    let mut lat = Vec::new();
    let mut failed = 0;
    for (l, f) in results {
        lat.extend(l);
        failed += f;
    }
    (lat, failed, elapsed)
}

struct Row {
    committed: usize,
    failed: usize,
    lost: i64,
    per_sec: f64,
    p50: u64,
    p99: u64,
    max: u64,
}

fn summarise(path: &Path, mut lat: Vec<u64>, failed: usize, elapsed: Duration) -> Row {
    lat.sort_unstable();
    let q = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1))).copied().unwrap_or(0)
    };
    let conn = Connection::open(path).unwrap();
    let rows: i64 = conn.query_row("SELECT count(*) FROM rows", [], |r| r.get(0)).unwrap();
    let counter: i64 = conn.query_row("SELECT value FROM counter", [], |r| r.get(0)).unwrap();
    let committed = lat.len();
    // Lost: acknowledged but not in the table (or the counter disagrees with the rows).
    let lost = (committed as i64 - rows).max(0) + (rows - counter).abs();
    Row {
        committed,
        failed,
        lost,
        per_sec: committed as f64 / elapsed.as_secs_f64(),
        p50: q(0.5),
        p99: q(0.99),
        max: lat.last().copied().unwrap_or(0),
    }
}

fn fresh(dir: &Path, name: &str) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.db"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    schema(&path);
    path
}

fn print(title: &str, limit: f64, rows: &[(&str, Row)]) {
    println!("\n{title}");
    println!("| strategy | committed | failed | lost | committed/s | × one writer | p50 | p99 | max |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, r) in rows {
        println!(
            "| {name} | {} | {} | {} | {:.0} | {:.2} | {:.2} ms | {:.2} ms | {:.1} ms |",
            r.committed,
            r.failed,
            r.lost,
            r.per_sec,
            r.per_sec / limit,
            r.p50 as f64 / 1e3,
            r.p99 as f64 / 1e3,
            r.max as f64 / 1e3
        );
    }
}

/// One uncontended writer's committed/s (plain rusqlite), the median of three runs.
fn one_writer(dir: &Path, ops: usize) -> f64 {
    let mut runs: Vec<f64> = (0..3)
        .map(|_| {
            let path = fresh(dir, "limit");
            let (lat, _, elapsed) = run_threads("plain-immediate", &path, 1, ops / 2, || {});
            lat.len() as f64 / elapsed.as_secs_f64()
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[1]
}

fn threads(dir: &Path, ops: usize) {
    let limit = one_writer(dir, ops);
    let mut rows = Vec::new();
    for strategy in STRATEGIES {
        let path = fresh(dir, strategy);
        let (lat, failed, elapsed) = run_threads(strategy, &path, 16, ops / 16, || {});
        rows.push((strategy, summarise(&path, lat, failed, elapsed)));
    }
    println!("\none uncontended writer (median of 3): {limit:.0} committed/s");
    print(&format!("16 threads × {} read-then-write transactions", ops / 16), limit, &rows);
}

fn processes(dir: &Path, ops: usize) {
    let limit = one_writer(dir, ops);
    let mut rows = Vec::new();
    for strategy in STRATEGIES {
        let path = fresh(dir, strategy);
        let exe = std::env::current_exe().unwrap();
        let mut children: Vec<_> = (0..4)
            .map(|_| {
                Command::new(&exe)
                    .env(CHILD_ENV, format!("{strategy}|{}|4|{}", path.display(), ops / 16))
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut readers: Vec<_> =
            children.iter_mut().map(|c| BufReader::new(c.stdout.take().unwrap())).collect();
        for r in &mut readers {
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            assert_eq!(line.trim(), "ready");
        }
        let start = Instant::now();
        for c in &mut children {
            writeln!(c.stdin.as_mut().unwrap(), "go").unwrap();
        }
        let (mut lat, mut failed) = (Vec::new(), 0);
        for r in &mut readers {
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            let mut it = line.split_whitespace().map(|x| x.parse::<u64>().unwrap());
            failed += it.next().unwrap() as usize;
            lat.extend(it);
        }
        for c in &mut children {
            c.wait().unwrap();
        }
        let elapsed = start.elapsed();
        rows.push((strategy, summarise(&path, lat, failed, elapsed)));
    }
    println!("\none uncontended writer (median of 3): {limit:.0} committed/s");
    print(&format!("4 processes × 4 threads × {} read-then-write transactions", ops / 16), limit, &rows);
}

fn child(spec: &str) {
    let parts: Vec<&str> = spec.split('|').collect();
    let (strategy, path, threads, ops) =
        (parts[0], Path::new(parts[1]), parts[2].parse().unwrap(), parts[3].parse().unwrap());
    let (lat, failed, _) = run_threads(strategy, path, threads, ops, || {
        println!("ready");
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).unwrap();
    });
    let mut out = failed.to_string();
    for l in lat {
        out.push(' ');
        out.push_str(&l.to_string());
    }
    println!("{out}");
}

fn single(dir: &Path, ops: usize) {
    // Interleaved rounds of one-row IMMEDIATE transactions: plain rusqlite, then the Store.
    let plain_path = fresh(dir, "single-plain");
    let store_path = fresh(dir, "single-store");
    let mut conn = ConnectionProfile::default().open(&plain_path).unwrap();
    let store = Store::open(&store_path).unwrap();
    let insert = "INSERT INTO rows (n, payload) VALUES (?1, ?2)";
    let mut ratios = Vec::new();
    let (mut plain_ns, mut store_ns) = (Vec::new(), Vec::new());
    for round in 0..7 {
        let t = Instant::now();
        for i in 0..ops {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).unwrap();
            tx.prepare_cached(insert).unwrap().execute(rusqlite::params![i as i64, PAYLOAD]).unwrap();
            tx.commit().unwrap();
        }
        let plain = t.elapsed().as_nanos() as f64 / ops as f64;
        let t = Instant::now();
        for i in 0..ops {
            store
                .write(|tx| tx.prepare_cached(insert)?.execute(rusqlite::params![i as i64, PAYLOAD]))
                .unwrap();
        }
        let stored = t.elapsed().as_nanos() as f64 / ops as f64;
        if round > 0 {
            ratios.push(stored / plain);
            plain_ns.push(plain);
            store_ns.push(stored);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!("\nsingle-row write, uncontended, {ops} per round, 6 interleaved rounds (after one warm-up)");
    println!(
        "plain rusqlite IMMEDIATE: median {:.2} µs/write; Store::write: median {:.2} µs/write; median ratio Store/plain = {:.3}",
        median(&mut plain_ns) / 1e3,
        median(&mut store_ns) / 1e3,
        median(&mut ratios)
    );
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        child(&spec);
        return;
    }
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let ops: usize = arg("--ops").map_or(32_000, |v| v.parse().unwrap());
    let single_ops: usize = arg("--single").map_or(20_000, |v| v.parse().unwrap());
    let only = arg("--only");
    let dir = tempfile::tempdir().unwrap();
    let want = |what: &str| only.as_deref().is_none_or(|o| o == what);
    if want("single") {
        single(dir.path(), single_ops);
    }
    if want("threads") {
        threads(dir.path(), ops);
    }
    if want("processes") {
        processes(dir.path(), ops);
    }
}
