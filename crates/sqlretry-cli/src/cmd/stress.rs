//! `sqlretry stress`: the flags turned into the harness's validated settings (nothing is created on
//! bad usage), then the `sqlretry-stress` crate runs them; its outcome becomes the exit code.

use std::path::Path;
use std::process::ExitCode;

use sqlretry_stress::{Mode, Outcome, PgSettings, Settings, StressError, Workload, WorkloadKind};

use crate::args::{ModeArg, StrategyArg, StressArgs, WorkloadArg};
use crate::error::CliError;
use crate::prometheus::MetricsFile;
use crate::settings::load_config;

/// Runs `sqlretry stress` and returns the exit code (0 clean, 1 a sqlretry strategy lost or failed).
///
/// # Errors
/// Bad usage (exit 2), or setup/verification of the file failed.
pub fn run(args: StressArgs) -> Result<ExitCode, CliError> {
    let postgres =
        args.db.as_ref().and_then(|db| db.to_str()).filter(|db| sqlretry_stress::is_postgres_url(db));
    let outcome = if let Some(url) = postgres {
        sqlretry_stress::run_postgres(&pg_settings(&args, url)?)?
    } else {
        let settings = settings(&args)?;
        let metrics = args.metrics.as_deref().map(MetricsFile::install).transpose()?;
        let outcome = sqlretry_stress::run(&settings)?;
        if let Some(metrics) = &metrics {
            metrics.write()?;
        }
        outcome
    };
    Ok(match outcome {
        Outcome::Clean => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    })
}

/// The child side of `--mode processes`: the hidden `__worker` subcommand.
///
/// # Errors
/// The order is unreadable, or the run failed.
pub fn worker(order: &str) -> Result<ExitCode, CliError> {
    sqlretry_stress::worker_main(order)?;
    Ok(ExitCode::SUCCESS)
}

/// Checks what clap cannot, before anything is created, and settles every default.
fn settings(args: &StressArgs) -> Result<Settings, CliError> {
    // Read and validated now so a bad file or variable is refused before anything is created.
    let config = load_config(args.config.as_deref())?;
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
    let mode = mode(args.mode);
    let (writers, processes) = match args.mode {
        ModeArg::Threads | ModeArg::Tasks if args.processes.is_some() => {
            return Err(CliError::usage("--processes", "only applies with --mode processes"));
        }
        ModeArg::Tasks if args.in_flight > 1 => {
            return Err(CliError::usage(
                "--in-flight",
                "applies to threads and processes; in tasks mode each task awaits one write (use more --writers)",
            ));
        }
        ModeArg::Threads | ModeArg::Tasks => (args.writers.unwrap_or(mode.default_writers()), 1),
        ModeArg::Processes => (
            args.writers.unwrap_or(mode.default_writers()),
            args.processes.unwrap_or(sqlretry_stress::DEFAULT_PROCESSES),
        ),
    };
    Ok(Settings {
        db: args.db.clone(),
        keep: args.keep,
        strategies: args.strategy.strategies(),
        workload: workload(args),
        mode,
        writers,
        processes,
        ops: args.ops.unwrap_or(sqlretry_stress::DEFAULT_OPS),
        duration: args.duration,
        config,
        json: args.json,
        chart: args.chart.clone(),
        seed: args.seed.unwrap_or_else(sqlretry_stress::clock_nanos),
        in_flight: args.in_flight,
    })
}

/// The settings of a run on PostgreSQL: every strategy, threads mode, no chart.
fn pg_settings(args: &StressArgs, url: &str) -> Result<PgSettings, CliError> {
    if !matches!(args.strategy, StrategyArg::All) || args.mode != ModeArg::Threads || args.chart.is_some() {
        return Err(CliError::usage(
            "--db",
            "with a postgres:// URL: all four strategies, threads mode, no chart",
        ));
    }
    Ok(PgSettings {
        url: url.to_owned(),
        keep: args.keep,
        workload: workload(args),
        writers: args.writers.unwrap_or(sqlretry_stress::DEFAULT_PG_WRITERS),
        ops: args.ops.unwrap_or(sqlretry_stress::DEFAULT_PG_OPS),
        duration: args.duration,
        config: load_config(args.config.as_deref())?,
        config_from_file: args.config.is_some(),
        json: args.json,
        seed: args.seed.unwrap_or(sqlretry_stress::DEFAULT_PG_SEED),
    })
}

/// The workload the flags describe.
fn workload(args: &StressArgs) -> Workload {
    let kind = match args.workload {
        WorkloadArg::Kv => WorkloadKind::Kv,
        WorkloadArg::Ticks => WorkloadKind::Ticks,
        WorkloadArg::Entries => WorkloadKind::Entries,
    };
    Workload { kind, batch: args.batch, work_ms: args.work_ms }
}

/// The harness's mode for `--mode`.
fn mode(arg: ModeArg) -> Mode {
    match arg {
        ModeArg::Threads => Mode::Threads,
        ModeArg::Processes => Mode::Processes,
        ModeArg::Tasks => Mode::Tasks,
    }
}

/// Whether the directory a file would be created in exists.
fn parent_exists(path: &Path) -> bool {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.is_dir(),
        _ => true,
    }
}

impl From<StressError> for CliError {
    fn from(error: StressError) -> Self {
        CliError::Stress(error)
    }
}
