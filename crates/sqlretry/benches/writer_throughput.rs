//! Writer throughput, side by side in one run. `harness = false`; prints a table.
//!
//! Length: every scenario must run in one binary, alternating, for the side-by-side ratios
//! (BENCHMARKS.md); each is a short function over the shared runner.
//!
//! ```text
//! cargo bench -p sqlretry --bench writer_throughput            # default sizes, 2 runs
//! WRITER_BENCH_OPS=64000 WRITER_BENCH_RUNS=3 cargo bench -p sqlretry --bench writer_throughput
//! ```
//!
//! Scenarios: one uncontended writer (one row per transaction: the per-commit limit); 16 producer
//! threads through the Writer (each blocked on its write, then each keeping `WRITER_BENCH_DEPTH`
//! writes in flight with `enqueue`), through `Store` (one transaction per caller, BEGIN IMMEDIATE +
//! busy_timeout) and through plain rusqlite (busy_timeout=5000, deferred autocommit); one producer
//! through the Writer vs a direct transaction; 256 tokio tasks on a 2-worker runtime awaiting one
//! write each (`Writer::submit_async`, `Store::write_async`); 4 processes × 4 producers through one Writer per
//! process (this binary re-executed; blocked, then pipelined); a tick store's load, 20 producers ×
//! 30,000 ticks through batched ingest, in a child process so that its peak RSS is its own.
#![allow(clippy::unwrap_used, missing_docs)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use sqlretry::sqlite::Store;
use sqlretry::writer::{IngestOptions, Row, Writer, WriterOptions};

const ROLE: &str = "WRITER_BENCH_ROLE";
const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, producer INTEGER NOT NULL, payload TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS ticks (symbol TEXT NOT NULL, ts_ms INTEGER NOT NULL, bid REAL, ask REAL, UNIQUE (symbol, ts_ms));";
const INSERT: &str = "INSERT INTO items (producer, payload) VALUES (?1, ?2)";
const PAYLOAD: &str =
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// One scenario's outcome.
#[derive(Default, Clone)]
struct Outcome {
    ops: u64,
    failed: u64,
    secs: f64,
    p99_us: u64,
    max_us: u64,
    extra: String,
}

impl Outcome {
    fn per_sec(&self) -> f64 {
        self.ops as f64 / self.secs
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).unwrap()
}

fn fresh(dir: &Path, name: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    let conn = sqlretry::sqlite::ConnectionProfile::default().open(&path).unwrap();
    conn.execute_batch(SCHEMA).unwrap();
    path
}

/// Starts the producers waiting at `barrier` and times them until all joined; each reports its
/// latency histogram and failures.
fn time_producers(
    barrier: &Barrier,
    handles: Vec<std::thread::JoinHandle<(Histogram<u64>, u64)>>,
    total: usize,
) -> Outcome {
    barrier.wait();
    let start = Instant::now();
    let mut all = histogram();
    let mut failed = 0;
    for h in handles {
        let (hist, f) = h.join().unwrap();
        all.add(hist).unwrap();
        failed += f;
    }
    let secs = start.elapsed().as_secs_f64();
    Outcome {
        ops: total as u64 - failed,
        failed,
        secs,
        p99_us: all.value_at_quantile(0.99),
        max_us: all.max(),
        extra: String::new(),
    }
}

/// Runs `producers` threads, each doing `per` operations with `op` (true = committed), timed.
fn run_threads<S: Send + 'static>(
    producers: usize,
    per: usize,
    setup: impl Fn(usize) -> S,
    op: impl Fn(&mut S, usize) -> bool + Send + Sync + 'static,
) -> Outcome {
    let op = Arc::new(op);
    let barrier = Arc::new(Barrier::new(producers + 1));
    let handles: Vec<_> = (0..producers)
        .map(|p| {
            let mut state = setup(p);
            let (op, barrier) = (Arc::clone(&op), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let mut h = histogram();
                let mut failed = 0;
                barrier.wait();
                for _ in 0..per {
                    let t = Instant::now();
                    if !op(&mut state, p) {
                        failed += 1;
                    }
                    h.saturating_record(t.elapsed().as_micros() as u64);
                }
                (h, failed)
            })
        })
        .collect();
    time_producers(&barrier, handles, producers * per)
}

fn direct(dir: &Path, name: &str, producers: usize, per: usize) -> Outcome {
    let path = fresh(dir, name);
    run_threads(
        producers,
        per,
        |_| sqlretry::sqlite::ConnectionProfile::default().open(&path).unwrap(),
        |conn, p| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).unwrap();
            tx.prepare_cached(INSERT).unwrap().execute(rusqlite::params![p as i64, PAYLOAD]).unwrap();
            tx.commit().is_ok()
        },
    )
}

fn writer_config() -> WriterOptions {
    let config = WriterOptions::default()
        .with_process_lock(std::env::var_os("WRITER_BENCH_NO_PROCESS_LOCK").is_none());
    match std::env::var("WRITER_BENCH_WINDOW_US").ok().and_then(|v| v.parse().ok()) {
        Some(us) => config.with_window(Duration::from_micros(us)),
        None => config,
    }
}

/// One single-row write through the Writer.
fn submit_one(writer: &mut Writer, producer: usize) -> bool {
    writer
        .submit(move |tx| tx.prepare_cached(INSERT)?.execute(rusqlite::params![producer as i64, PAYLOAD]))
        .is_ok()
}

/// How many requests a pipelining producer keeps in flight (`WRITER_BENCH_DEPTH`, default 8).
fn depth() -> usize {
    env_usize("WRITER_BENCH_DEPTH", 8).max(1)
}

/// `producers` threads each enqueue `per` single-row writes through `writer`, keeping `depth`
/// in flight and waiting for the oldest; latency is enqueue → result observed.
fn run_pipelined(writer: &Writer, producers: usize, per: usize, depth: usize) -> Outcome {
    let barrier = Arc::new(Barrier::new(producers + 1));
    let handles: Vec<_> = (0..producers)
        .map(|p| {
            let (writer, barrier) = (writer.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let mut h = histogram();
                let mut failed = 0;
                let mut in_flight = std::collections::VecDeque::with_capacity(depth);
                let mut settle = |(t, pending): (Instant, sqlretry::writer::Pending<usize>)| {
                    if pending.wait().is_err() {
                        failed += 1;
                    }
                    h.saturating_record(t.elapsed().as_micros() as u64);
                };
                barrier.wait();
                for _ in 0..per {
                    if in_flight.len() == depth {
                        settle(in_flight.pop_front().unwrap());
                    }
                    let t = Instant::now();
                    let pending = writer
                        .enqueue(move |tx| {
                            tx.prepare_cached(INSERT)?.execute(rusqlite::params![p as i64, PAYLOAD])
                        })
                        .unwrap();
                    in_flight.push_back((t, pending));
                }
                in_flight.into_iter().for_each(&mut settle);
                (h, failed)
            })
        })
        .collect();
    time_producers(&barrier, handles, producers * per)
}

fn through_writer_pipelined(dir: &Path, name: &str, producers: usize, per: usize) -> Outcome {
    let path = fresh(dir, name);
    let writer = Writer::open_with(&path, writer_config()).unwrap();
    let mut out = run_pipelined(&writer, producers, per, depth());
    let m = writer.shutdown().unwrap();
    out.extra = format!(
        "{} in flight each; {:.1} req/txn",
        depth(),
        m.requests_committed as f64 / m.groups_committed.max(1) as f64
    );
    out
}

fn through_writer(dir: &Path, name: &str, producers: usize, per: usize) -> Outcome {
    let path = fresh(dir, name);
    let writer = Writer::open_with(&path, writer_config()).unwrap();
    let mut out = run_threads(producers, per, |_| writer.clone(), submit_one);
    let m = writer.shutdown().unwrap();
    out.extra = format!("{:.1} req/txn", m.requests_committed as f64 / m.groups_committed.max(1) as f64);
    out
}

fn through_store(dir: &Path, name: &str, producers: usize, per: usize) -> Outcome {
    let path = fresh(dir, name);
    let store = Arc::new(Store::open(&path).unwrap());
    run_threads(
        producers,
        per,
        |_| Arc::clone(&store),
        |s, p| s.write(|tx| tx.prepare_cached(INSERT)?.execute(rusqlite::params![p as i64, PAYLOAD])).is_ok(),
    )
}

/// `tasks` tokio tasks on a 2-worker runtime, each awaiting one single-row write at a time
/// (`Writer::submit_async`, or `Store::write_async` when `via_store`): the shape of a web service.
fn tasks(dir: &Path, name: &str, tasks: usize, per: usize, via_store: bool) -> Outcome {
    let path = fresh(dir, name);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let writer = (!via_store).then(|| Writer::open_with(&path, writer_config()).unwrap());
    let store = via_store.then(|| Store::open(&path).unwrap());
    let start = Instant::now();
    let (all, failed) = runtime.block_on(async {
        let handles: Vec<_> = (0..tasks)
            .map(|p| {
                let (writer, store) = (writer.clone(), store.clone());
                tokio::spawn(async move {
                    let mut h = histogram();
                    let mut failed = 0_u64;
                    for _ in 0..per {
                        let t = Instant::now();
                        let write = move |tx: &rusqlite::Connection| {
                            tx.prepare_cached(INSERT)?.execute(rusqlite::params![p as i64, PAYLOAD])
                        };
                        let ok = match (&writer, &store) {
                            (Some(w), _) => w.submit_async(write).await.is_ok(),
                            (_, Some(s)) => s.write_async(write).await.is_ok(),
                            _ => false,
                        };
                        failed += u64::from(!ok);
                        h.saturating_record(t.elapsed().as_micros() as u64);
                    }
                    (h, failed)
                })
            })
            .collect();
        let mut all = histogram();
        let mut failed = 0;
        for handle in handles {
            let (h, f) = handle.await.unwrap();
            all.add(h).unwrap();
            failed += f;
        }
        (all, failed)
    });
    let secs = start.elapsed().as_secs_f64();
    let total = (tasks * per) as u64;
    Outcome {
        ops: total - failed,
        failed,
        secs,
        p99_us: all.value_at_quantile(0.99),
        max_us: all.max(),
        extra: String::new(),
    }
}

fn plain_busy_timeout(dir: &Path, name: &str, producers: usize, per: usize) -> Outcome {
    let path = fresh(dir, name);
    run_threads(
        producers,
        per,
        |_| {
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.busy_timeout(Duration::from_millis(5000)).unwrap();
            conn
        },
        |conn, p| {
            let tx = conn.transaction().unwrap(); // deferred
            tx.prepare_cached(INSERT)
                .and_then(|mut s| s.execute(rusqlite::params![p as i64, PAYLOAD]))
                .is_ok()
                && tx.commit().is_ok()
        },
    )
}

/// 4 processes × 4 producers, one Writer per process; started together by a stdin handshake.
fn processes(
    dir: &Path,
    name: &str,
    procs: usize,
    producers: usize,
    per: usize,
    process_lock: bool,
    pipelined: bool,
) -> Outcome {
    let path = fresh(dir, name);
    let exe = std::env::current_exe().unwrap();
    let mut children: Vec<_> = (0..procs)
        .map(|_| {
            let mut command = Command::new(&exe);
            if !process_lock {
                command.env("WRITER_BENCH_NO_PROCESS_LOCK", "1");
            }
            if pipelined {
                command.env("WRITER_BENCH_PIPELINED", "1");
            }
            let mut child = command
                .env(ROLE, "writer")
                .env("WRITER_BENCH_DB", &path)
                .env("WRITER_BENCH_PRODUCERS", producers.to_string())
                .env("WRITER_BENCH_PER", per.to_string())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
            assert_eq!(lines.next().unwrap().unwrap(), "ready");
            (child, lines)
        })
        .collect();
    let start = Instant::now();
    for (child, _) in &mut children {
        writeln!(child.stdin.as_mut().unwrap(), "go").unwrap();
    }
    let mut out = Outcome::default();
    let (mut requests, mut batches) = (0, 0);
    for (mut child, mut lines) in children {
        let line = lines.next().unwrap().unwrap();
        let f: Vec<u64> = line.split_whitespace().map(|x| x.parse().unwrap()).collect();
        out.ops += f[0];
        out.failed += f[1];
        out.p99_us = out.p99_us.max(f[2]);
        out.max_us = out.max_us.max(f[3]);
        requests += f[4];
        batches += f[5];
        child.wait().unwrap();
    }
    out.secs = start.elapsed().as_secs_f64();
    out.extra = format!("{:.1} req/txn", requests as f64 / batches.max(1) as f64);
    out
}

fn writer_child() {
    let path = std::env::var("WRITER_BENCH_DB").unwrap();
    let producers = env_usize("WRITER_BENCH_PRODUCERS", 4);
    let per = env_usize("WRITER_BENCH_PER", 1000);
    let writer = Writer::open_with(&path, writer_config()).unwrap();
    println!("ready");
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).unwrap();
    let out = if std::env::var_os("WRITER_BENCH_PIPELINED").is_some() {
        run_pipelined(&writer, producers, per, depth())
    } else {
        run_threads(producers, per, |_| writer.clone(), submit_one)
    };
    let m = writer.shutdown().unwrap();
    println!(
        "{} {} {} {} {} {}",
        out.ops, out.failed, out.p99_us, out.max_us, m.requests_committed, m.groups_committed
    );
}

struct Tick {
    symbol: String,
    ts_ms: i64,
    bid: f64,
    ask: f64,
}

impl Row for Tick {
    const TYPE_NAME: &'static str = "tick";
    const INSERT_SQL: &'static str =
        "INSERT OR IGNORE INTO ticks (symbol, ts_ms, bid, ask) VALUES (?1, ?2, ?3, ?4)";
    fn values(&self) -> Vec<rusqlite::types::Value> {
        vec![self.symbol.clone().into(), self.ts_ms.into(), self.bid.into(), self.ask.into()]
    }
}

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse().unwrap_or(0))
        })
        .unwrap_or(0)
}

/// The tick store's load through batched ingest, in this (child) process.
fn ingest_child() {
    let path = std::env::var("WRITER_BENCH_DB").unwrap();
    let producers = env_usize("WRITER_BENCH_PRODUCERS", 20);
    let per = env_usize("WRITER_BENCH_PER", 30_000);
    let writer = Writer::open(&path).unwrap();
    let ingest = writer.ingest::<Tick>(IngestOptions::default());
    let start = Instant::now();
    let handles: Vec<_> = (0..producers)
        .map(|p| {
            let ingest = ingest.clone();
            std::thread::spawn(move || {
                for i in 0..per {
                    let tick = Tick { symbol: format!("SYM{p:02}"), ts_ms: i as i64, bid: 1.1, ask: 1.2 };
                    ingest.append(tick).map_err(|e| e.to_string()).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    drop(ingest);
    let m = writer.shutdown().unwrap();
    let secs = start.elapsed().as_secs_f64();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let stored: u64 =
        conn.query_row("SELECT count(*) FROM ticks", [], |r| r.get::<_, i64>(0)).unwrap() as u64;
    println!(
        "{stored} {} {} {secs} {} {}",
        m.rows_lost,
        m.rows_dead_lettered,
        vm_hwm_kib(),
        m.batches_written
    );
}

fn ingest(dir: &Path, name: &str, producers: usize, per: usize) -> Outcome {
    let path = fresh(dir, name);
    let out = Command::new(std::env::current_exe().unwrap())
        .env(ROLE, "ingest")
        .env("WRITER_BENCH_DB", &path)
        .env("WRITER_BENCH_PRODUCERS", producers.to_string())
        .env("WRITER_BENCH_PER", per.to_string())
        .output()
        .unwrap();
    let line = String::from_utf8(out.stdout).unwrap();
    let f: Vec<&str> = line.split_whitespace().collect();
    let stored: u64 = f[0].parse().unwrap();
    let secs: f64 = f[3].parse().unwrap();
    Outcome {
        ops: stored,
        failed: (producers * per) as u64 - stored,
        secs,
        p99_us: 0,
        max_us: 0,
        extra: format!(
            "lost {} dead-lettered {} peak RSS {} MiB, {} batches",
            f[1],
            f[2],
            f[4].parse::<u64>().unwrap() / 1024,
            f[5]
        ),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

fn main() {
    match std::env::var(ROLE).as_deref() {
        Ok("writer") => return writer_child(),
        Ok("ingest") => return ingest_child(),
        _ => {}
    }
    if !std::env::args().any(|a| a == "--bench") {
        return; // run by `cargo test --benches`: measure only under `cargo bench`
    }
    let ops = env_usize("WRITER_BENCH_OPS", 32_000);
    let runs = env_usize("WRITER_BENCH_RUNS", 2);
    let ticks_per = env_usize("WRITER_BENCH_TICKS", 30_000);
    let dir = tempfile::tempdir().unwrap();
    type Scenario<'a> = (&'a str, Box<dyn Fn(&Path, &str) -> Outcome + 'a>);
    let scenarios: Vec<Scenario<'_>> = vec![
        ("one uncontended writer, 1 row/txn (limit)", Box::new(|d: &Path, n: &str| direct(d, n, 1, ops / 2))),
        ("16 threads: Writer", Box::new(|d: &Path, n: &str| through_writer(d, n, 16, ops / 16))),
        (
            "16 threads: Writer, pipelined (enqueue)",
            Box::new(|d: &Path, n: &str| through_writer_pipelined(d, n, 16, ops / 16)),
        ),
        (
            "16 threads: Store (txn per caller, IMMEDIATE)",
            Box::new(|d: &Path, n: &str| through_store(d, n, 16, ops / 16)),
        ),
        (
            "16 threads: rusqlite busy_timeout=5000 deferred",
            Box::new(|d: &Path, n: &str| plain_busy_timeout(d, n, 16, ops / 16)),
        ),
        (
            "256 tokio tasks on 2 workers: Writer::submit_async",
            Box::new(|d: &Path, n: &str| tasks(d, n, 256, ops / 256, false)),
        ),
        (
            "256 tokio tasks on 2 workers: Store::write_async",
            Box::new(|d: &Path, n: &str| tasks(d, n, 256, ops / 256, true)),
        ),
        ("1 producer: Writer", Box::new(|d: &Path, n: &str| through_writer(d, n, 1, ops / 2))),
        ("1 producer: direct transaction", Box::new(|d: &Path, n: &str| direct(d, n, 1, ops / 2))),
        (
            "4 processes x 4 producers: Writer",
            Box::new(|d: &Path, n: &str| processes(d, n, 4, 4, ops / 16, true, false)),
        ),
        (
            "4 processes x 4 producers: Writer, pipelined (enqueue)",
            Box::new(|d: &Path, n: &str| processes(d, n, 4, 4, ops / 16, true, true)),
        ),
        (
            "4 processes x 4 producers: Writer without the process lock",
            Box::new(|d: &Path, n: &str| processes(d, n, 4, 4, ops / 16, false, false)),
        ),
        ("ingest 20 x ticks", Box::new(|d: &Path, n: &str| ingest(d, n, 20, ticks_per))),
    ];
    const DIRECT_ONE: usize = 8; // "1 producer: direct transaction", after "1 producer: Writer"
    let only = std::env::var("WRITER_BENCH_ONLY").unwrap_or_default();
    let mut results: Vec<Vec<Outcome>> = vec![Vec::new(); scenarios.len()];
    for run in 0..runs {
        for (i, (name, f)) in scenarios.iter().enumerate() {
            if i != 0 && i != DIRECT_ONE && !name.contains(only.as_str()) {
                results[i].push(Outcome { secs: 1.0, ..Outcome::default() });
                continue;
            }
            results[i].push(f(dir.path(), &format!("run{run}-{i}.db")));
        }
    }
    let limit = median(results[0].iter().map(Outcome::per_sec).collect());
    let direct_one = median(results[DIRECT_ONE].iter().map(Outcome::per_sec).collect());
    println!(
        "writer_throughput: {ops} ops per scenario, {runs} run(s), medians; x limit = / one uncontended writer ({limit:.0}/s)"
    );
    println!("| scenario | committed/s (runs) | x limit | failed | p99 / max (median) | notes |");
    println!("|---|---|---|---|---|---|");
    for (i, (name, _)) in scenarios.iter().enumerate() {
        let r = &results[i];
        let rate = median(r.iter().map(Outcome::per_sec).collect());
        let each: Vec<String> = r.iter().map(|o| format!("{:.0}", o.per_sec())).collect();
        let failed: u64 = r.iter().map(|o| o.failed).sum();
        let p99 = median(r.iter().map(|o| o.p99_us as f64).collect());
        let max = median(r.iter().map(|o| o.max_us as f64).collect());
        let mut notes = r.last().map(|o| o.extra.clone()).unwrap_or_default();
        if i == DIRECT_ONE - 1 {
            notes = format!("{notes}; {:.2}x direct transaction", rate / direct_one);
        }
        println!(
            "| {name} | {rate:.0} ({}) | {:.2} | {failed} | {:.2} ms / {:.1} ms | {notes} |",
            each.join(", "),
            rate / limit,
            p99 / 1000.0,
            max / 1000.0
        );
    }
}
