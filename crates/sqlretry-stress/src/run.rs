//! One SQLite stress run: prepare the file (WAL, schema) → for each strategy: a fresh run id, seed
//! its rows, run the workers (threads, processes, or tokio tasks), count what is really in the table,
//! `PRAGMA integrity_check` → table or JSON, verdict, chart → the outcome.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, TransactionBehavior};
use sqlretry::sqlite::{ConnectionProfile, OpenErrorKind};

use crate::chart;
use crate::error::StressError;
use crate::mode::Mode;
use crate::process;
use crate::progress::Progress;
use crate::report::{self, RunReport};
use crate::rng::SplitMix64;
use crate::settings::Settings;
use crate::strategy_kind::StrategyKind;
use crate::tasks;
use crate::verdict;
use crate::worker::{self, Tally, WorkOrder};
use crate::workload::Workload;

/// What a run says about the library: the command's exit code follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Every sqlretry-family run is clean and every file intact.
    Clean,
    /// A sqlretry-family run failed, lost or duplicated writes, or a file is damaged.
    Failed,
}

/// Runs every strategy of `settings` on one SQLite file and prints the table (or JSON lines), the
/// verdict and the chart.
///
/// # Examples
///
/// ```no_run
/// # use sqlretry_stress::{Mode, Outcome, Settings, StrategyKind, Workload, WorkloadKind};
/// # let settings = Settings {
/// #     db: None, keep: false, strategies: vec![StrategyKind::Writer],
/// #     workload: Workload { kind: WorkloadKind::Kv, batch: 50, work_ms: 1 },
/// #     mode: Mode::Threads, writers: 4, processes: 1, ops: 100, duration: None,
/// #     config: sqlretry::config::Config::default(), json: true, chart: None, seed: 1, in_flight: 1,
/// # };
/// assert_eq!(sqlretry_stress::run(&settings)?, Outcome::Clean);
/// # Ok::<(), sqlretry_stress::StressError>(())
/// ```
///
/// # Errors
///
/// The file cannot be switched to WAL (a usage error naming `--db`), or setup, a worker or the
/// verification of the file failed.
pub fn run(settings: &Settings) -> Result<Outcome, StressError> {
    // The temporary directory lives until the end of this function unless kept.
    let (db, _tempdir) = match &settings.db {
        Some(db) => (db.clone(), None),
        None => {
            let dir = tempfile::Builder::new()
                .prefix("sqlretry-stress-")
                .tempdir()
                .map_err(StressError::io("creating a temporary directory", &std::env::temp_dir()))?;
            let db = dir.path().join("stress.db");
            if settings.keep {
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
        let report = run_one(settings, &db, kind, run_id)?;
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
            report::json_lines(&reports).map_err(|e| StressError::Worker(format!("encoding JSON: {e}")))?;
        print!("{lines}");
    } else {
        println!("{}", report::table(&reports));
        println!("{}", verdict::verdict(&reports));
    }
    if let Some(path) = &settings.chart {
        std::fs::write(path, chart::svg(&reports)).map_err(StressError::io("writing the chart", path))?;
    }
    Ok(if report::all_good(&reports) { Outcome::Clean } else { Outcome::Failed })
}

/// Nanoseconds since the Unix epoch (for seeds and run ids), 0 if the clock is before 1970.
///
/// # Examples
///
/// ```
/// assert_ne!(sqlretry_stress::clock_nanos(), 0);
/// ```
pub fn clock_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

/// How long setup and verification statements wait on a lock held by another run.
const SETUP_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens a setup connection that waits on locks (other runs may use the file).
fn setup_connection(db: &Path) -> Result<Connection, StressError> {
    let conn = Connection::open(db).map_err(StressError::sqlite(format!("opening {}", db.display())))?;
    conn.busy_timeout(SETUP_BUSY_TIMEOUT).map_err(StressError::sqlite("setting busy_timeout"))?;
    Ok(conn)
}

/// Sets WAL once, before any worker starts, and creates the workload's tables.
///
/// The file is opened through the library's [`ConnectionProfile`], which retries the open under its
/// policy: two runs starting on one new file both read `journal_mode=delete` and both ask for the
/// exclusive lock the switch to WAL needs; SQLite answers one of them SQLITE_BUSY at once (a lock
/// upgrade from SHARED does not wait in the busy handler), and that answer is transient.
fn prepare_file(db: &Path, workload: &Workload) -> Result<(), StressError> {
    let profile = ConnectionProfile::default().with_busy_timeout(SETUP_BUSY_TIMEOUT);
    let mut conn = profile.open(db).map_err(|e| match e.kind() {
        OpenErrorKind::WalUnavailable { actual } => StressError::usage(
            "--db",
            format!("cannot switch {} to WAL (journal_mode is {actual})", db.display()),
        ),
        _ => StressError::sqlite(format!("opening {}", db.display()))(e.into_sqlite_error()),
    })?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(StressError::sqlite("beginning the schema transaction"))?;
    workload.create_schema(&tx).map_err(StressError::sqlite("creating the tables"))?;
    tx.commit().map_err(StressError::sqlite("committing the schema"))
}

/// Runs one strategy and verifies the file afterwards.
fn run_one(
    settings: &Settings,
    db: &Path,
    kind: StrategyKind,
    run_id: i64,
) -> Result<RunReport, StressError> {
    let total_writers = u64::from(settings.writers) * u64::from(settings.processes);
    {
        let mut conn = setup_connection(db)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StressError::sqlite("beginning the seed transaction"))?;
        settings
            .workload
            .seed_run(&tx, run_id, total_writers)
            .map_err(StressError::sqlite("seeding the run"))?;
        tx.commit().map_err(StressError::sqlite("committing the seed rows"))?;
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
        Mode::Threads | Mode::Tasks => {
            let mut bar = Progress::new(kind.name(), progress_len(settings), enabled);
            let timed = settings.duration.is_some();
            let on_tick = |done| if timed { bar.set_elapsed() } else { bar.set(done) };
            let order = order(0, settings.writers, settings.ops);
            let tally = if settings.mode == Mode::Tasks {
                tasks::run_tasks(&order, on_tick)?
            } else {
                worker::run_workers(&order, on_tick)?
            };
            bar.finish();
            tally
        }
        Mode::Processes => {
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
    let present =
        settings.workload.count_units(&conn, run_id).map_err(StressError::sqlite("counting rows"))?;
    let integrity_ok = integrity_ok(&conn)?;
    let wall_s = wall.as_secs_f64();
    Ok(RunReport {
        strategy: kind.name(),
        workload: settings.workload.name(),
        mode: settings.mode.name(),
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
        latency_us: tally.latency(),
        errors: tally.errors,
        sqlretry_family: kind.is_sqlretry_family(),
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
fn integrity_ok(conn: &Connection) -> Result<bool, StressError> {
    let mut stmt = conn.prepare("PRAGMA integrity_check").map_err(StressError::sqlite("integrity_check"))?;
    let rows: Vec<String> = stmt
        .query_map([], |row| row.get(0))
        .and_then(|rows| rows.collect())
        .map_err(StressError::sqlite("integrity_check"))?;
    Ok(rows.len() == 1 && rows[0] == "ok")
}
