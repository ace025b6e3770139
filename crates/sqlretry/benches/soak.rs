//! Soak (not in CI): the Writer, the Store and ingest on one file from three processes
//! for `SOAK_SECS` (default 600), with a foreign lock holder taking `BEGIN EXCLUSIVE` now and
//! then. Run through `scripts/soak.sh`, or:
//!
//! ```text
//! SOAK_SECS=600 cargo bench -p sqlretry --bench soak
//! ```
//!
//! Each child (this binary re-executed with `SOAK_ROLE`) writes until its stdin closes, then
//! prints how many writes each of its threads had acknowledged (ids are sequential per thread, so
//! the acknowledged ids are `first .. first + n`). Every 5 s the parent samples each child's RSS
//! and open file descriptors (`/proc`) and the WAL's size. At the end it checks every acknowledged
//! write is in the file and `integrity_check` is ok, and prints the first minute against the last.
#![allow(clippy::unwrap_used, missing_docs)]

use std::io::{BufRead, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use sqlretry::sqlite::{Store, WalWatch};
use sqlretry::writer::{IngestOptions, Row, Writer};

const ROLE: &str = "SOAK_ROLE";
const DB: &str = "SOAK_DB";
const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, v TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS ticks (id INTEGER PRIMARY KEY, v REAL NOT NULL);";
/// Ids of a role's thread: `role_base + thread * THREAD_IDS + i`.
const THREAD_IDS: i64 = 100_000_000;
const SAMPLE_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
struct SoakTick {
    id: i64,
}

impl Row for SoakTick {
    const TYPE_NAME: &'static str = "soak_tick";
    const INSERT_SQL: &'static str = "INSERT OR IGNORE INTO ticks (id, v) VALUES (?1, ?2)";
    fn values(&self) -> Vec<rusqlite::types::Value> {
        vec![self.id.into(), (self.id as f64 * 0.5).into()]
    }
}

fn role_base(role: &str) -> i64 {
    match role {
        "store" => 1_000_000_000,
        "writer" => 2_000_000_000,
        _ => 3_000_000_000,
    }
}

/// A flag set when stdin closes: the parent's signal to stop.
fn stop_on_stdin_eof() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    std::thread::spawn(move || {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        flag.store(true, Ordering::SeqCst);
    });
    stop
}

/// `threads` threads, each writing its own sequential ids with `write` until `stop`; how many
/// each had acknowledged (a failed write is counted in `failed` and its id tried again).
fn write_until(
    threads: i64,
    base: i64,
    stop: &AtomicBool,
    failed: &AtomicU64,
    write: impl Fn(i64) -> Result<usize, ()> + Sync,
) -> Vec<i64> {
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let write = &write;
                s.spawn(move || {
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed) {
                        match write(base + t * THREAD_IDS + n) {
                            Ok(_) => n += 1,
                            Err(()) => {
                                failed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn child(role: &str, db: &Path) {
    let stop = stop_on_stdin_eof();
    let base = role_base(role);
    let failed = AtomicU64::new(0);
    let acked: Vec<i64> = match role {
        "store" => {
            let store = Store::open(db).unwrap();
            write_until(2, base, &stop, &failed, |id| {
                store
                    .write(|tx| tx.execute("INSERT INTO items (id, v) VALUES (?1, 'store')", [id]))
                    .map_err(drop)
            })
        }
        "writer" => {
            let writer = Writer::open(db).unwrap();
            let acked = write_until(4, base, &stop, &failed, |id| {
                writer
                    .submit(move |tx| tx.execute("INSERT INTO items (id, v) VALUES (?1, 'writer')", [id]))
                    .map_err(drop)
            });
            writer.shutdown().unwrap();
            acked
        }
        _ => {
            // Ingest: a row is acknowledged once written or dead-lettered (both durable); the
            // check below counts a dead-lettered row as present only after replay.
            let writer = Writer::open(db).unwrap();
            let ingest = writer.ingest::<SoakTick>(IngestOptions::default());
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                ingest.append(SoakTick { id: base + n }).unwrap();
                n += 1;
                if n % 100 == 0 {
                    std::thread::sleep(Duration::from_millis(2)); // ~ market data, not a flood
                }
            }
            drop(ingest);
            let m = writer.shutdown().unwrap();
            println!("ingest dead_lettered {} lost {}", m.rows_dead_lettered, m.rows_lost);
            if m.rows_dead_lettered > 0 {
                let writer = Writer::open(db).unwrap();
                let report = writer.replay::<SoakTick>().unwrap();
                println!("ingest replayed {} left {}", report.rows, report.rows_left);
                writer.shutdown().unwrap();
            }
            vec![n]
        }
    };
    for (t, n) in acked.iter().enumerate() {
        println!("acked {} {n}", base + t as i64 * THREAD_IDS);
    }
    println!("failed {}", failed.load(Ordering::Relaxed));
}

/// RSS (KiB) and open file descriptors of process `pid`.
fn usage(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64);
    (rss, fds)
}

fn spawn(role: &str, db: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .env(ROLE, role)
        .env(DB, db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// One sample: when (s since start), each child's (RSS KiB, open fds), the WAL's size.
struct Sample {
    at: u64,
    children: Vec<(u64, u64)>,
    wal: u64,
}

fn mean(xs: &[u64]) -> f64 {
    if xs.is_empty() { 0.0 } else { xs.iter().sum::<u64>() as f64 / xs.len() as f64 }
}

fn main() {
    if let (Ok(role), Ok(db)) = (std::env::var(ROLE), std::env::var(DB)) {
        return child(&role, Path::new(&db));
    }
    let secs: u64 = std::env::var("SOAK_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(600);
    let dir = tempfile::tempdir().unwrap();
    let db: PathBuf = dir.path().join("soak.db");
    Store::open(&db).unwrap().write(|tx| tx.execute_batch(SCHEMA)).unwrap();
    let roles = ["store", "writer", "ingest"];
    let mut children: Vec<Child> = roles.iter().map(|r| spawn(r, &db)).collect();

    // The foreign lock holder: BEGIN EXCLUSIVE for 20–200 ms every ~2 s.
    let stop = Arc::new(AtomicBool::new(false));
    let holder = {
        let (db, stop) = (db.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let conn = Connection::open(&db).unwrap();
            conn.busy_timeout(Duration::from_secs(5)).unwrap();
            let (mut taken, mut i) = (0_u64, 0_u64);
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(1500 + (i * 7919) % 1000));
                if conn.execute_batch("BEGIN EXCLUSIVE").is_ok() {
                    std::thread::sleep(Duration::from_millis(20 + (i * 104_729) % 180));
                    conn.execute_batch("COMMIT").unwrap();
                    taken += 1;
                }
                i += 1;
            }
            taken
        })
    };

    // The WAL watch, as an application would run it: every 250 ms, through its own connection,
    // with a 100 ms checkpoint budget (three writers never leave SQLite's autocheckpoint a moment
    // with no transaction, so without this the WAL only grows).
    let watcher = {
        let (db, stop) = (db.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let conn = Connection::open(&db).unwrap();
            let watch = WalWatch::new(&db).with_checkpoint_budget(Duration::from_millis(100));
            let (mut over, mut truncated) = (0_u64, 0_u64);
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(250));
                let check = watch.check(&conn);
                over += u64::from(check.over_limit);
                truncated += u64::from(check.checkpointed);
            }
            (over, truncated)
        })
    };
    let watch = WalWatch::new(&db);
    let started = Instant::now();
    let mut samples: Vec<Sample> = Vec::new();
    while started.elapsed() < Duration::from_secs(secs) {
        std::thread::sleep(SAMPLE_EVERY);
        let at = started.elapsed().as_secs();
        let use_now: Vec<_> = children.iter().map(|c| usage(c.id())).collect();
        samples.push(Sample { at, children: use_now, wal: watch.wal_bytes() });
    }
    stop.store(true, Ordering::Relaxed);
    let exclusive_taken = holder.join().unwrap();
    let (wal_over, wal_truncated) = watcher.join().unwrap();
    let mut acked: Vec<(i64, i64)> = Vec::new();
    let mut report = Vec::new();
    for (role, child) in roles.iter().zip(children.iter_mut()) {
        drop(child.stdin.take()); // stop
        let out = BufReader::new(child.stdout.take().unwrap());
        for line in out.lines() {
            let line = line.unwrap();
            if let Some(rest) = line.strip_prefix("acked ") {
                let (first, n) = rest.split_once(' ').unwrap();
                acked.push((first.parse().unwrap(), n.parse().unwrap()));
            }
            report.push(format!("{role}: {line}"));
        }
        assert!(child.wait().unwrap().success(), "{role} failed");
    }

    let conn = Connection::open(&db).unwrap();
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    let mut lost = 0_i64;
    let mut total = 0_i64;
    for (first, n) in &acked {
        let table = if *first >= role_base("ingest") { "ticks" } else { "items" };
        let present: i64 = conn
            .query_row(
                &format!("SELECT count(*) FROM {table} WHERE id >= ?1 AND id < ?2"),
                [first, &(first + n)],
                |r| r.get(0),
            )
            .unwrap();
        lost += n - present;
        total += n;
    }
    let minute = |from: u64, to: u64| -> Vec<&Sample> {
        samples.iter().filter(|s| s.at >= from && s.at <= to).collect()
    };
    let first = minute(0, 60);
    let last = minute(secs.saturating_sub(60), secs + 60);
    println!(
        "soak: {secs} s, 3 processes on one file, foreign BEGIN EXCLUSIVE taken {exclusive_taken} times"
    );
    for line in &report {
        println!("  {line}");
    }
    println!("acknowledged writes: {total}, lost: {lost}, integrity_check: {check}");
    for (i, role) in roles.iter().enumerate() {
        let rss = |s: &[&Sample]| mean(&s.iter().map(|x| x.children[i].0).collect::<Vec<_>>());
        let fds = |s: &[&Sample]| mean(&s.iter().map(|x| x.children[i].1).collect::<Vec<_>>());
        println!(
            "{role:<7} RSS first minute {:>8.0} KiB, last minute {:>8.0} KiB ({:+.1} %); fds {:.1} -> {:.1}",
            rss(&first),
            rss(&last),
            (rss(&last) / rss(&first).max(1.0) - 1.0) * 100.0,
            fds(&first),
            fds(&last)
        );
    }
    let wal_max = samples.iter().map(|s| s.wal).max().unwrap_or(0);
    let wal_last = samples.last().map_or(0, |s| s.wal);
    println!(
        "WAL: max {wal_max} bytes over {} samples, last {wal_last} bytes; over the {} byte limit at {wal_over} checks, truncated by {wal_truncated}",
        samples.len(),
        sqlretry::sqlite::DEFAULT_WAL_LIMIT
    );
    assert_eq!(lost, 0, "acknowledged writes lost");
    assert_eq!(check, "ok");
}
