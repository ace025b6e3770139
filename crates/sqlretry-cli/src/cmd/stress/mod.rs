//! `sqlretry stress`: many writers contend for one SQLite file; each strategy side by side.
//!
//! Flow: validate flags (nothing is created on bad usage) → prepare the file (WAL, schema) → for each
//! strategy: a fresh run id, seed its rows, run the workers (threads, processes, or tokio tasks), count
//! what is really in the table, `PRAGMA integrity_check` → table or JSON, verdict, chart → exit code.

mod chart;
mod open_once;
mod postgres;
pub mod process;
mod progress;
mod report;
mod rng;
mod store_strategy;
pub(crate) mod strategy;
mod tasks;
mod ticks;
mod verdict;
mod worker;
mod workload;
mod writer_strategy;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, TransactionBehavior};
use sqlretry::sqlite::{ConnectionProfile, OpenErrorKind};

use self::progress::Progress;
use self::report::{Latency, RunReport};
use self::rng::SplitMix64;
use self::strategy::StrategyKind;
use self::worker::{Tally, WorkOrder};
use self::workload::Workload;
use crate::args::{ModeArg, StressArgs};
use crate::error::CliError;
use crate::prometheus::MetricsFile;

/// Operations per strategy when neither `--ops` nor `--duration` is given: sized so the default run of
/// every strategy takes about 30 s on a 2-core machine (measured 2026-11-25: 250,000 ops took 38 s for
/// the first six strategies in a release build, the two failing ones under 2 s of it; 200,000 ops
/// took 23 s for all seven).
pub const DEFAULT_OPS: u64 = 200_000;
/// Writer threads in threads mode unless `--writers` says otherwise.
const DEFAULT_THREAD_WRITERS: u32 = 16;
/// Writer threads per process in processes mode unless `--writers` says otherwise.
const DEFAULT_PROCESS_WRITERS: u32 = 4;
/// Worker processes in processes mode unless `--processes` says otherwise.
const DEFAULT_PROCESSES: u32 = 4;
/// Tokio tasks in tasks mode unless `--writers` says otherwise.
const DEFAULT_TASKS: u32 = 256;

/// Validated settings of one `stress` invocation.
#[derive(Debug)]
struct Settings {
    strategies: Vec<StrategyKind>,
    workload: Workload,
    mode: ModeArg,
    writers: u32,
    processes: u32,
    ops: u64,
    duration: Option<Duration>,
    config: Option<PathBuf>,
    json: bool,
    chart: Option<PathBuf>,
    seed: u64,
    in_flight: u32,
}

/// Runs `sqlretry stress` and returns the exit code (0 clean, 1 a sqlretry strategy lost or failed).
///
/// # Errors
/// Bad usage (exit 2), or setup/verification of the file failed.
pub fn run(args: StressArgs) -> Result<ExitCode, CliError> {
    if let Some(url) = postgres::url_of(&args) {
        return postgres::run(&args, &url);
    }
    let settings = validate(&args)?;
    let metrics = args.metrics.as_deref().map(MetricsFile::install).transpose()?;
    // The temporary directory lives until the end of this function unless --keep.
    let (db, _tempdir) = match &args.db {
        Some(db) => (db.clone(), None),
        None => {
            let dir = tempfile::Builder::new().prefix("sqlretry-stress-").tempdir().map_err(|source| {
                CliError::Io { context: "creating a temporary directory", path: std::env::temp_dir(), source }
            })?;
            let db = dir.path().join("stress.db");
            if args.keep {
                let kept = dir.keep();
                eprintln!("keeping {}", kept.display());
                (db, None)
            } else {
                (db, Some(dir))
            }
        }
    };
    prepare_file(&db, &settings.workload)?;
    let mut reports = Vec::with_capacity(settings.strategies.len());
    let mut ids =
        SplitMix64::new(settings.seed ^ clock_nanos() ^ u64::from(std::process::id()).rotate_left(32));
    for &kind in &settings.strategies {
        let run_id = i64::try_from(ids.next_u64() >> 1).unwrap_or(1);
        let report = run_one(&settings, &db, kind, run_id)?;
        if !settings.json {
            eprintln!(
                "{:>14}: {} committed, {} failed in {:.1} s",
                report.strategy,
                report::thousands(report.committed),
                report::thousands(report.failed),
                report.wall_s
            );
        }
        reports.push(report);
    }
    if settings.json {
        let lines =
            report::json_lines(&reports).map_err(|e| CliError::Worker(format!("encoding JSON: {e}")))?;
        print!("{lines}");
    } else {
        println!("{}", report::table(&reports));
        println!("{}", verdict::verdict(&reports));
    }
    if let Some(path) = &settings.chart {
        std::fs::write(path, chart::svg(&reports)).map_err(|source| CliError::Io {
            context: "writing the chart",
            path: path.clone(),
            source,
        })?;
    }
    if let Some(metrics) = &metrics {
        metrics.write()?;
    }
    Ok(if report::all_good(&reports) { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Checks what clap cannot: before anything is created.
fn validate(args: &StressArgs) -> Result<Settings, CliError> {
    let strategies = StrategyKind::selected(args.strategy);
    // Read and validated now so a bad file or variable is refused before anything is created.
    crate::settings::load_config(args.config.as_deref())?;
    if let Some(db) = &args.db {
        if db.is_dir() {
            return Err(CliError::usage("--db", format!("{} is a directory", db.display())));
        }
        if !parent_exists(db) {
            return Err(CliError::usage("--db", format!("the directory of {} does not exist", db.display())));
        }
    }
    if let Some(chart) = &args.chart
        && !parent_exists(chart)
    {
        return Err(CliError::usage(
            "--chart",
            format!("the directory of {} does not exist", chart.display()),
        ));
    }
    let (writers, processes) = match args.mode {
        ModeArg::Threads => {
            if args.processes.is_some() {
                return Err(CliError::usage("--processes", "only applies with --mode processes"));
            }
            (args.writers.unwrap_or(DEFAULT_THREAD_WRITERS), 1)
        }
        ModeArg::Tasks => {
            if args.processes.is_some() {
                return Err(CliError::usage("--processes", "only applies with --mode processes"));
            }
            if args.in_flight > 1 {
                return Err(CliError::usage(
                    "--in-flight",
                    "applies to threads and processes; in tasks mode each task awaits one write (use more --writers)",
                ));
            }
            (args.writers.unwrap_or(DEFAULT_TASKS), 1)
        }
        ModeArg::Processes => {
            (args.writers.unwrap_or(DEFAULT_PROCESS_WRITERS), args.processes.unwrap_or(DEFAULT_PROCESSES))
        }
    };
    Ok(Settings {
        strategies,
        workload: Workload { kind: args.workload, batch: args.batch, work_ms: args.work_ms },
        mode: args.mode,
        writers,
        processes,
        ops: args.ops.unwrap_or(DEFAULT_OPS),
        duration: args.duration,
        config: args.config.clone(),
        json: args.json,
        chart: args.chart.clone(),
        seed: args.seed.unwrap_or_else(clock_nanos),
        in_flight: args.in_flight,
    })
}

/// Whether the directory a file would be created in exists.
fn parent_exists(path: &Path) -> bool {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.is_dir(),
        _ => true,
    }
}

/// Nanoseconds since the Unix epoch (for seeds and run ids), 0 if the clock is before 1970.
fn clock_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

/// How long setup and verification statements wait on a lock held by another run.
const SETUP_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens a setup connection that waits on locks (other runs may use the file).
fn setup_connection(db: &Path) -> Result<Connection, CliError> {
    let conn = Connection::open(db).map_err(CliError::sqlite(format!("opening {}", db.display())))?;
    conn.busy_timeout(SETUP_BUSY_TIMEOUT).map_err(CliError::sqlite("setting busy_timeout"))?;
    Ok(conn)
}

/// Sets WAL once, before any worker starts, and creates the workload's tables.
///
/// The file is opened through the library's [`ConnectionProfile`], which retries the open under its
/// policy: two runs starting on one new file both read `journal_mode=delete` and both ask for the
/// exclusive lock the switch to WAL needs; SQLite answers one of them SQLITE_BUSY at once (a lock
/// upgrade from SHARED does not wait in the busy handler), and that answer is transient.
fn prepare_file(db: &Path, workload: &Workload) -> Result<(), CliError> {
    let profile = ConnectionProfile::default().with_busy_timeout(SETUP_BUSY_TIMEOUT);
    let mut conn = profile.open(db).map_err(|e| match e.kind() {
        OpenErrorKind::WalUnavailable { actual } => CliError::usage(
            "--db",
            format!("cannot switch {} to WAL (journal_mode is {actual})", db.display()),
        ),
        _ => CliError::sqlite(format!("opening {}", db.display()))(e.into_sqlite_error()),
    })?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(CliError::sqlite("beginning the schema transaction"))?;
    workload.create_schema(&tx).map_err(CliError::sqlite("creating the tables"))?;
    tx.commit().map_err(CliError::sqlite("committing the schema"))
}

/// Runs one strategy and verifies the file afterwards.
fn run_one(settings: &Settings, db: &Path, kind: StrategyKind, run_id: i64) -> Result<RunReport, CliError> {
    let total_writers = u64::from(settings.writers) * u64::from(settings.processes);
    {
        let mut conn = setup_connection(db)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(CliError::sqlite("beginning the seed transaction"))?;
        settings
            .workload
            .seed_run(&tx, run_id, total_writers)
            .map_err(CliError::sqlite("seeding the run"))?;
        tx.commit().map_err(CliError::sqlite("committing the seed rows"))?;
    }
    let order = |first_worker: u64, writers: u32, ops: u64| WorkOrder {
        run_id,
        strategy: kind,
        workload: settings.workload,
        db: db.to_path_buf(),
        config: settings.config.clone(),
        first_worker,
        writers,
        total_writers,
        ops,
        duration: settings.duration,
        seed: settings.seed,
        in_flight: settings.in_flight,
    };
    let enabled = !settings.json;
    let started = Instant::now();
    let tally: Tally = match settings.mode {
        ModeArg::Threads | ModeArg::Tasks => {
            let mut bar = Progress::new(kind.name(), progress_len(settings), enabled);
            let timed = settings.duration.is_some();
            let on_tick = |done| if timed { bar.set_elapsed() } else { bar.set(done) };
            let order = order(0, settings.writers, settings.ops);
            let tally = if settings.mode == ModeArg::Tasks {
                tasks::run_tasks(&order, on_tick)?
            } else {
                worker::run_workers(&order, on_tick)?
            };
            bar.finish();
            tally
        }
        ModeArg::Processes => {
            let p = u64::from(settings.processes);
            let orders: Vec<WorkOrder> = (0..p)
                .map(|i| {
                    let ops = settings.ops / p + u64::from(i < settings.ops % p);
                    order(i * u64::from(settings.writers), settings.writers, ops)
                })
                .collect();
            let mut bar = Progress::new(kind.name(), settings.duration.map(duration_ms), enabled);
            let tally = process::run_processes(&orders, || bar.set_elapsed())?;
            bar.finish();
            tally
        }
    };
    let wall = if tally.wall.is_zero() { started.elapsed() } else { tally.wall };
    let conn = setup_connection(db)?;
    let present = settings.workload.count_units(&conn, run_id).map_err(CliError::sqlite("counting rows"))?;
    let integrity_ok = integrity_ok(&conn)?;
    let wall_s = wall.as_secs_f64();
    let h = &tally.latency_us;
    let latency = if h.is_empty() {
        Latency { p50: 0, p95: 0, p99: 0, max: 0 }
    } else {
        Latency {
            p50: h.value_at_quantile(0.50),
            p95: h.value_at_quantile(0.95),
            p99: h.value_at_quantile(0.99),
            max: h.max(),
        }
    };
    Ok(RunReport {
        strategy: kind.name(),
        workload: settings.workload.name(),
        mode: match settings.mode {
            ModeArg::Threads => "threads",
            ModeArg::Processes => "processes",
            ModeArg::Tasks => "tasks",
        },
        api: kind.api(settings.workload.kind, settings.mode, tally.in_flight),
        in_flight: tally.in_flight,
        writers: settings.writers,
        processes: settings.processes,
        attempted: tally.attempted,
        committed: tally.committed,
        rows_committed: tally.units,
        failed: tally.failed,
        lost: tally.units.saturating_sub(present),
        duplicates: present.saturating_sub(tally.units),
        integrity_ok,
        retries: tally.retries,
        wall_s,
        committed_per_s: if wall_s > 0.0 { tally.committed as f64 / wall_s } else { 0.0 },
        latency_us: latency,
        errors: tally.errors,
        kind,
    })
}

/// The progress bar's length in threads mode: operations, or milliseconds with `--duration`.
fn progress_len(settings: &Settings) -> Option<u64> {
    Some(settings.duration.map(duration_ms).unwrap_or(settings.ops))
}

/// A duration in whole milliseconds.
fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `PRAGMA integrity_check` returned the single row `ok`.
fn integrity_ok(conn: &Connection) -> Result<bool, CliError> {
    let mut stmt = conn.prepare("PRAGMA integrity_check").map_err(CliError::sqlite("integrity_check"))?;
    let rows: Vec<String> = stmt
        .query_map([], |row| row.get(0))
        .and_then(|rows| rows.collect())
        .map_err(CliError::sqlite("integrity_check"))?;
    Ok(rows.len() == 1 && rows[0] == "ok")
}
