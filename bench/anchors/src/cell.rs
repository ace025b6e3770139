//! One cell of the table: a write path, a layout (threads in this process, or worker processes
//! each with threads), a workload, for a number of seconds. Counts committed transactions, their
//! latencies and the CPU time spent (`CLOCK_PROCESS_CPUTIME_ID`, what `getrusage` reports as user +
//! system time; in worker processes each worker's own, summed).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use sqlretry::sqlite::{ConnectionProfile, Store, StoreOptions, Synchronous};
use sqlretry::{Writer, WriterOptions};

use crate::workload::{Rng, Tx, Workload};

/// A write path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    /// Plain rusqlite: a connection per writer, `BEGIN IMMEDIATE`, busy_timeout 5000 ms.
    Immediate,
    /// `Store::write`.
    Store,
    /// `Store::write_grouped`.
    Grouped,
    /// `Writer::submit`.
    Submit,
}

pub const APIS: [Api; 4] = [Api::Immediate, Api::Store, Api::Grouped, Api::Submit];

impl Api {
    pub fn name(self) -> &'static str {
        match self {
            Api::Immediate => "IMMEDIATE",
            Api::Store => "Store::write",
            Api::Grouped => "write_grouped",
            Api::Submit => "Writer::submit",
        }
    }

    fn parse(s: &str) -> Api {
        *APIS.iter().find(|a| a.name() == s).expect("an api name")
    }
}

pub fn sync_name(s: Synchronous) -> &'static str {
    match s {
        Synchronous::Off => "off",
        Synchronous::Normal => "normal",
        Synchronous::Full => "full",
        _ => "extra",
    }
}

fn parse_sync(s: &str) -> Synchronous {
    match s {
        "off" => Synchronous::Off,
        "normal" => Synchronous::Normal,
        "full" => Synchronous::Full,
        _ => Synchronous::Extra,
    }
}

/// What one cell measured.
#[derive(Default)]
pub struct Outcome {
    pub committed: u64,
    pub failed: u64,
    pub latencies_us: Vec<u32>,
    pub cpu: Duration,
    pub wall: Duration,
}

impl Outcome {
    pub fn per_s(&self) -> f64 {
        self.committed as f64 / self.wall.as_secs_f64()
    }

    pub fn percentile_ms(&mut self, q: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        self.latencies_us.sort_unstable();
        let i = ((self.latencies_us.len() as f64 - 1.0) * q).round() as usize;
        f64::from(self.latencies_us[i]) / 1000.0
    }

    pub fn cpu_us_per_tx(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.committed.max(1) as f64
    }
}

fn cpu_now() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// What a writer thread calls for one transaction.
enum Path_ {
    Store(Store),
    Writer(Writer),
    Plain(std::path::PathBuf),
}

#[allow(clippy::too_many_arguments)]
/// Runs `threads` writers in this process for `secs` (after `ready` returns: the worker
/// processes' start signal).
pub fn run_threads(
    db: &Path,
    workload: Workload,
    sync: Synchronous,
    api: Api,
    threads: usize,
    secs: f64,
    rows: i64,
    ready: impl FnOnce(),
) -> Outcome {
    let profile = ConnectionProfile::default().with_synchronous(sync);
    let path = match api {
        Api::Immediate => Path_::Plain(db.to_path_buf()),
        Api::Store | Api::Grouped => {
            Path_::Store(Store::open_with(db, StoreOptions::default().with_profile(profile)).expect("store"))
        }
        Api::Submit => Path_::Writer(
            Writer::open_with(db, WriterOptions::default().with_profile(profile)).expect("writer"),
        ),
    };
    let barrier = Arc::new(Barrier::new(threads + 1));
    let seed = u64::from(std::process::id()) << 20;
    let (outcome, started, cpu0) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (barrier, path) = (Arc::clone(&barrier), &path);
                s.spawn(move || {
                    let mut rng = Rng::new(seed + t as u64);
                    let plain = match path {
                        Path_::Plain(p) => Some(plain_connection(p, sync)),
                        _ => None,
                    };
                    barrier.wait();
                    let until = Instant::now() + Duration::from_secs_f64(secs);
                    let mut out = Outcome::default();
                    while Instant::now() < until {
                        let tx = Tx::draw(workload, &mut rng, rows);
                        let began = Instant::now();
                        let ok = match (path, api) {
                            (Path_::Plain(_), _) => plain_write(plain.as_ref().expect("plain"), &tx).is_ok(),
                            (Path_::Store(store), Api::Grouped) => {
                                store.write_grouped(move |c| tx.run(c)).is_ok()
                            }
                            (Path_::Store(store), _) => store.write(|c| tx.run(c)).is_ok(),
                            (Path_::Writer(writer), _) => writer.submit(move |c| tx.run(c)).is_ok(),
                        };
                        let took = began.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                        if ok {
                            out.committed += 1;
                            out.latencies_us.push(took);
                        } else {
                            out.failed += 1;
                        }
                    }
                    out
                })
            })
            .collect();
        ready();
        let cpu0 = cpu_now();
        let started = Instant::now();
        barrier.wait();
        let mut all = Outcome::default();
        for h in handles {
            let out = h.join().expect("writer thread");
            all.committed += out.committed;
            all.failed += out.failed;
            all.latencies_us.extend(out.latencies_us);
        }
        (all, started, cpu0)
    });
    let mut outcome = outcome;
    outcome.wall = started.elapsed();
    drop(path);
    outcome.cpu = cpu_now() - cpu0;
    outcome
}

fn plain_connection(path: &Path, sync: Synchronous) -> Connection {
    let conn = Connection::open(path).expect("plain connection");
    conn.busy_timeout(Duration::from_millis(5000)).expect("busy_timeout");
    conn.execute_batch(&format!("PRAGMA journal_mode = WAL; PRAGMA synchronous = {};", sync_name(sync)))
        .expect("pragmas");
    conn
}

fn plain_write(conn: &Connection, tx: &Tx) -> rusqlite::Result<()> {
    conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
    match tx.run(conn).and_then(|()| conn.prepare_cached("COMMIT")?.execute([]).map(|_| ())) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// Runs `processes` worker processes (this binary re-executed) of `threads` writers each.
#[allow(clippy::too_many_arguments)]
pub fn run_processes(
    db: &Path,
    workload: Workload,
    sync: Synchronous,
    api: Api,
    processes: usize,
    threads: usize,
    secs: f64,
    rows: i64,
) -> Outcome {
    let exe = std::env::current_exe().expect("this binary");
    let mut children: Vec<_> = (0..processes)
        .map(|_| {
            Command::new(&exe)
                .args(["--child", &db.display().to_string(), workload.name(), sync_name(sync), api.name()])
                .args([threads.to_string(), secs.to_string(), rows.to_string()])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("worker process")
        })
        .collect();
    let mut readers: Vec<_> =
        children.iter_mut().map(|c| BufReader::new(c.stdout.take().expect("stdout"))).collect();
    for r in &mut readers {
        let mut line = String::new();
        r.read_line(&mut line).expect("ready");
        assert_eq!(line.trim(), "ready");
    }
    let started = Instant::now();
    for c in &mut children {
        writeln!(c.stdin.as_mut().expect("stdin"), "go").expect("go");
    }
    let mut all = Outcome::default();
    for r in &mut readers {
        let mut line = String::new();
        r.read_line(&mut line).expect("result");
        let mut f = line.split_whitespace();
        let mut next = || f.next().expect("a field").parse::<u64>().expect("a number");
        all.committed += next();
        all.failed += next();
        all.cpu += Duration::from_nanos(next());
        let n = next();
        for _ in 0..n {
            all.latencies_us.push(next() as u32);
        }
    }
    let _ = started;
    for mut c in children {
        assert!(c.wait().expect("worker").success(), "a worker process failed");
    }
    // Each worker wrote for `secs` from the common start; the parent's own clock would also count
    // the workers' shutdown.
    all.wall = Duration::from_secs_f64(secs);
    all
}

/// The worker process's side of [`run_processes`]: `--child <db> <workload> <sync> <api> <threads>
/// <secs> <rows>`.
pub fn child(args: &[String]) {
    let db = Path::new(&args[0]);
    let (workload, sync, api) = (Workload::parse(&args[1]), parse_sync(&args[2]), Api::parse(&args[3]));
    let threads: usize = args[4].parse().expect("threads");
    let secs: f64 = args[5].parse().expect("secs");
    let rows: i64 = args[6].parse().expect("rows");
    let out = run_threads(db, workload, sync, api, threads, secs, rows, || {
        println!("ready");
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).expect("go");
    });
    let mut s = format!("{} {} {} {}", out.committed, out.failed, out.cpu.as_nanos(), out.latencies_us.len());
    for l in &out.latencies_us {
        s.push(' ');
        s.push_str(&l.to_string());
    }
    println!("{s}");
}
