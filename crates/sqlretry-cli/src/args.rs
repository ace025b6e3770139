//! Command-line flags (clap derive): the raw shape of what the user typed.
//!
//! Validation that clap cannot express (files that must exist, ...) happens in the commands, which
//! report a [`crate::error::CliError::Usage`] naming the flag.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::cmd::stress::strategy::StrategyKind;

/// Writes to SQLite that survive concurrency.
///
/// With no subcommand, runs `stress`: a ~30 s comparison of every write strategy on a temporary file.
#[derive(Debug, Parser)]
#[command(name = "sqlretry", version, about, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// What to do (default: `stress`).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Flags of `stress`, accepted without the subcommand name too.
    #[command(flatten)]
    pub stress: StressArgs,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Many writers contend for one SQLite file; each strategy side by side.
    Stress(StressArgs),
    /// Inspect a database file: journal mode, sizes, integrity, and warnings.
    Doctor(DoctorArgs),
    /// List or replay the writer's dead letters (ingest batches that exhausted their retries).
    #[command(subcommand)]
    DeadLetters(DeadLettersCommand),
    /// Internal: one worker process of `stress --mode processes`.
    #[command(name = "__worker", hide = true)]
    Worker(WorkerArgs),
}

/// Which write strategy (or `all`) a stress run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrategyArg {
    /// Every implemented strategy, in sequence, on the same file.
    All,
    /// One strategy.
    One(StrategyKind),
}

/// Parses `--strategy`: `all`, or a [`StrategyKind`] by the name (and help) its `ValueEnum`
/// gives it, so the strategies are listed once, in [`StrategyKind`].
fn strategy_parser() -> impl TypedValueParser<Value = StrategyArg> {
    let all = PossibleValue::new("all").help("Every implemented strategy, in sequence, on the same file");
    let kinds = StrategyKind::value_variants().iter().filter_map(ValueEnum::to_possible_value);
    PossibleValuesParser::new(std::iter::once(all).chain(kinds))
        .map(|name| StrategyKind::from_str(&name, false).map_or(StrategyArg::All, StrategyArg::One))
}

/// The kind of operation each worker repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkloadArg {
    /// State-store saves (spec 001): SELECT a counter, INSERT OR REPLACE a key, UPDATE the counter.
    Kv,
    /// Batched tick inserts (spec 002): INSERT OR IGNORE a batch on (symbol, ts).
    Ticks,
    /// Spec 004's parser worker: read an entry, slow work outside any transaction, write if unchanged.
    Entries,
}

/// How the writers are spread over the operating system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModeArg {
    /// Writer threads inside this process.
    Threads,
    /// Worker processes (this binary re-executed), each with `--writers` threads.
    Processes,
}

/// Flags of `sqlretry stress`.
#[derive(Debug, Clone, Args)]
pub struct StressArgs {
    /// Database file (default: a new file in a temporary directory, removed afterwards unless --keep),
    /// or a `postgres://` URL: then read-committed, serializable, hand-loop and sqlretry (PgStore)
    /// run on a scratch schema of that database.
    #[arg(long, value_name = "PATH|URL")]
    pub db: Option<PathBuf>,
    /// Keep the temporary database directory and print its path.
    #[arg(long)]
    pub keep: bool,
    /// What each operation does.
    #[arg(long, value_enum, default_value_t = WorkloadArg::Kv)]
    pub workload: WorkloadArg,
    /// The write strategy to measure, or `all`.
    #[arg(long, default_value = "all", value_parser = strategy_parser())]
    pub strategy: StrategyArg,
    /// Threads in this process, or worker processes.
    #[arg(long, value_enum, default_value_t = ModeArg::Threads)]
    pub mode: ModeArg,
    /// Writer threads per process (default: 16 in threads mode, 4 per process in processes mode).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub writers: Option<u32>,
    /// Worker processes in processes mode (default 4).
    #[arg(long, value_name = "P", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub processes: Option<u32>,
    /// Total operations per strategy, split over all writers.
    #[arg(long, value_name = "M", conflicts_with = "duration", value_parser = clap::value_parser!(u64).range(1..))]
    pub ops: Option<u64>,
    /// Run each strategy for this long instead of a number of operations (e.g. `10s`).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Configuration file for the sqlretry strategies (TOML).
    #[arg(long, value_name = "FILE.toml")]
    pub config: Option<PathBuf>,
    /// Print one JSON object per strategy run instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Write an SVG chart of committed/s and p99 latency per strategy.
    #[arg(long, value_name = "FILE.svg")]
    pub chart: Option<PathBuf>,
    /// Write the library's metrics (Prometheus text format: retries, give-ups, lock-hold and flush
    /// histograms) to this file after the run; worker processes' own metrics are not included.
    #[arg(long, value_name = "FILE.prom")]
    pub metrics: Option<PathBuf>,
    /// Seed for the workload's random choices (entry picks, values).
    #[arg(long)]
    pub seed: Option<u64>,
    /// `entries` workload: milliseconds of slow work outside the transaction.
    #[arg(long, value_name = "MS", default_value_t = 1)]
    pub work_ms: u64,
    /// `ticks` workload: ticks per batch.
    #[arg(long, value_name = "N", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch: u32,
}

/// Flags of `sqlretry doctor`.
#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
    /// The database file to inspect (opened read-only, never created).
    pub path: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `sqlretry dead-letters list|replay DB`.
#[derive(Debug, Clone, Subcommand)]
pub enum DeadLettersCommand {
    /// List the dead letters kept beside DB (`DB.deadletter.sqlite`): id, row type, rows, failed at, error.
    List(DeadLettersListArgs),
    /// Write every dead letter back into DB through the library's Writer (idempotent), removing
    /// what was written. Exit 0 when nothing is left, 1 otherwise.
    Replay(DeadLettersReplayArgs),
}

/// Flags of `sqlretry dead-letters list`.
#[derive(Debug, Clone, Args)]
pub struct DeadLettersListArgs {
    /// The database file whose dead letters to list (must exist; nothing is created).
    #[arg(value_name = "DB")]
    pub db: PathBuf,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `sqlretry dead-letters replay`.
#[derive(Debug, Clone, Args)]
pub struct DeadLettersReplayArgs {
    /// The database file to write the dead letters back into (must exist).
    #[arg(value_name = "DB")]
    pub db: PathBuf,
    /// Configuration file for the Writer (TOML; `SQLRETRY_…` variables apply over it).
    #[arg(long, value_name = "FILE.toml")]
    pub config: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Flags of the hidden `__worker` subcommand (set by the parent process, not by users).
#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    /// The work order, as one JSON object.
    #[arg(long)]
    pub order: String,
}

/// Parses a human duration (`10s`, `1m30s`) that is not zero.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|err| err.to_string())?;
    if duration.is_zero() {
        return Err("must be longer than zero".to_owned());
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_arguments_is_a_default_stress_run() {
        let cli = Cli::try_parse_from(["sqlretry"]).expect("parses");
        assert!(cli.command.is_none());
        assert_eq!(cli.stress.strategy, StrategyArg::All);
    }

    #[test]
    fn strategy_names_come_from_the_strategy_kinds() {
        let parse =
            |name: &str| Cli::try_parse_from(["sqlretry", "--strategy", name]).map(|c| c.stress.strategy);
        assert_eq!(parse("all").expect("all"), StrategyArg::All);
        for kind in StrategyKind::ALL {
            assert_eq!(parse(kind.name()).expect("a kind's name"), StrategyArg::One(kind));
        }
        assert!(parse("fastest").is_err());
    }

    #[test]
    fn dead_letters_subcommands_parse() {
        let cli =
            Cli::try_parse_from(["sqlretry", "dead-letters", "replay", "x.db", "--json"]).expect("parses");
        assert!(matches!(
            cli.command,
            Some(Command::DeadLetters(DeadLettersCommand::Replay(DeadLettersReplayArgs { json: true, .. })))
        ));
        assert!(Cli::try_parse_from(["sqlretry", "dead-letters", "list"]).is_err());
    }

    #[test]
    fn zero_duration_is_rejected() {
        assert!(Cli::try_parse_from(["sqlretry", "stress", "--duration", "0s"]).is_err());
    }
}
