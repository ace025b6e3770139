//! Command-line flags (clap derive): the raw shape of what the user typed.
//!
//! Validation that clap cannot express (files that must exist, ...) happens in the commands, which
//! report a [`crate::error::CliError::Usage`] naming the flag.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};

use sqlretry_stress::StrategyKind;

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
    /// The tick store as a service: WebSocket and HTTP ingest acknowledged after commit.
    Serve(ServeArgs),
    /// The tick store's load test against a running `serve`: N connections × R ticks/s × D.
    Load(LoadArgs),
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

impl StrategyArg {
    /// The strategies this selects, in the order they run.
    pub fn strategies(self) -> Vec<StrategyKind> {
        match self {
            StrategyArg::All => StrategyKind::ALL.to_vec(),
            StrategyArg::One(kind) => vec![kind],
        }
    }
}

/// Parses `--strategy`: `all`, or a [`StrategyKind`] by its name (and help), so the strategies
/// are listed once, in [`StrategyKind`].
fn strategy_parser() -> impl TypedValueParser<Value = StrategyArg> {
    let all = PossibleValue::new("all").help("Every implemented strategy, in sequence, on the same file");
    let kinds = StrategyKind::ALL.map(|kind| PossibleValue::new(kind.name()).help(kind.about()));
    PossibleValuesParser::new(std::iter::once(all).chain(kinds))
        .map(|name| StrategyKind::from_name(&name).map_or(StrategyArg::All, StrategyArg::One))
}

/// The kind of operation each worker repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WorkloadArg {
    /// State-store saves: SELECT a counter, INSERT OR REPLACE a key, UPDATE the counter.
    Kv,
    /// Batched tick inserts: INSERT OR IGNORE a batch on (symbol, ts).
    Ticks,
    /// A parser worker: read an entry, slow work outside any transaction, write if unchanged.
    Entries,
}

/// How the writers are spread over the operating system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// Writer threads inside this process.
    Threads,
    /// Worker processes (this binary re-executed), each with `--writers` threads.
    Processes,
    /// Tokio tasks (`--writers`, default 256) on a 2-worker runtime, each awaiting its writes: the
    /// shape of a web service.
    Tasks,
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
    /// Threads in this process, worker processes, or tokio tasks.
    #[arg(long, value_enum, default_value_t = ModeArg::Threads)]
    pub mode: ModeArg,
    /// Writer threads per process (default: 16 in threads mode, 4 per process in processes mode), or
    /// tokio tasks in tasks mode (default 256).
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
    /// Writes each writer thread keeps in flight: the Writer pipelines them (`Writer::enqueue`, or
    /// ingest appends for `ticks`); strategies that cannot pipeline keep 1 (JSON `in_flight`).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub in_flight: u32,
}

/// Flags of `sqlretry doctor`.
#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
    /// The database file to inspect (opened read-only, never created).
    pub path: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// The WAL size, in bytes, above which the WAL counts as starving (checkpoints not completing):
    /// a warning, as the library's `WalWatch` gives (default: its 64 MiB).
    #[arg(long, value_name = "BYTES", default_value_t = sqlretry::sqlite::DEFAULT_WAL_LIMIT)]
    pub wal_limit: u64,
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

/// Flags of `sqlretry serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// The database file (created if missing, with the `ticks` table).
    #[arg(long, value_name = "DB")]
    pub db: PathBuf,
    /// Configuration file (TOML, `[serve]` and the rest; `SQLRETRY_…` variables apply over it).
    #[arg(long, value_name = "FILE.toml")]
    pub config: Option<PathBuf>,
    /// Address to listen on (default `[serve] listen`, 127.0.0.1:8080; port 0 picks a free one).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Allow listening on an address other than loopback.
    #[arg(long)]
    pub allow_remote: bool,
    /// An `http://` URL receiving a JSON POST when an alert starts and ends.
    #[arg(long, value_name = "URL")]
    pub webhook: Option<String>,
    /// Bearer tokens, one `NAME SCOPES SECRET` a line (scopes: ingest, read, admin); required
    /// with `--allow-remote`.
    #[arg(long, value_name = "FILE")]
    pub tokens_file: Option<PathBuf>,
    /// Bearer tokens given directly, lines as in `--tokens-file` (`;` also separates them).
    #[arg(long, env = "SQLRETRY_SERVE_TOKENS", hide_env_values = true, value_name = "LINES")]
    pub tokens: Option<String>,
    /// A browser origin allowed to open WebSockets (`https://desk.example`); repeatable. None by
    /// default: every browser page is refused, non-browser clients (no `Origin`) are not.
    #[arg(long = "allowed-origin", value_name = "ORIGIN")]
    pub allowed_origins: Vec<String>,
    /// The TLS certificate chain (PEM); with `--tls-key`, the service speaks https/wss only.
    #[arg(long, value_name = "FILE.pem", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The TLS private key (PEM).
    #[arg(long, value_name = "FILE.pem", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// With `--allow-remote`, serve without TLS (for a TLS-terminating proxy in front).
    #[arg(long, requires = "allow_remote")]
    pub allow_plaintext: bool,
}

/// Flags of `sqlretry load`.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// The server's base URL (`http://` or `https://`).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// With an `https://` URL: trust the certificates in this PEM file (a private CA or the
    /// server's self-signed certificate) instead of the public web roots.
    #[arg(long, value_name = "FILE.pem")]
    pub ca: Option<PathBuf>,
    /// A bearer token for the server (`ingest` and `read` scopes).
    #[arg(long, env = "SQLRETRY_LOAD_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub token: Option<String>,
    /// WebSocket connections.
    #[arg(long, default_value_t = 20)]
    pub connections: usize,
    /// Ticks per second per connection.
    #[arg(long, default_value_t = 500)]
    pub rate: u64,
    /// How long to send.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Ticks per WebSocket message.
    #[arg(long, default_value_t = 10)]
    pub batch: usize,
    /// What ticks to send: quotes (bid/ask, the server's default model) or trades (price/volume,
    /// for a server with `model = "trade"`). Timestamps are integer milliseconds.
    #[arg(long, value_enum, default_value = "quote")]
    pub ticks: TickKind,
    /// The server's database file: verify every acknowledged tick is there (else tick-stats' counts).
    #[arg(long, value_name = "DB")]
    pub db: Option<PathBuf>,
    /// Ramp the rate up step by step until ack p99 exceeds `--p99-bound`; report the last rate within it.
    #[arg(long)]
    pub max: bool,
    /// The ack latency bound of `--max`.
    #[arg(long, default_value = "50ms", value_parser = parse_duration)]
    pub p99_bound: Duration,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The ticks `sqlretry load` sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TickKind {
    /// `bid`, `ask`, `lp_source` (the spread computed by the server).
    Quote,
    /// `price`, `volume`, `side`.
    Trade,
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
    fn all_runs_every_strategy_in_order() {
        assert_eq!(StrategyArg::All.strategies(), StrategyKind::ALL.to_vec());
        assert_eq!(StrategyArg::One(StrategyKind::Writer).strategies(), vec![StrategyKind::Writer]);
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

    /// Every flag and subcommand name the parser knows, walked from clap's own description.
    fn words() -> Vec<String> {
        fn walk(command: &clap::Command, out: &mut Vec<String>) {
            out.push(command.get_name().to_owned());
            for arg in command.get_arguments() {
                out.extend(arg.get_long().map(|l| format!("--{l}")));
                out.extend(arg.get_short().map(|s| format!("-{s}")));
                out.extend(arg.get_possible_values().iter().map(|v| v.get_name().to_owned()));
            }
            for sub in command.get_subcommands() {
                walk(sub, out);
            }
        }
        let mut out = Vec::new();
        walk(&Cli::command(), &mut out);
        out
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Any argument vector — the parser's own words, `--flag=value` pairs, numbers, durations
        /// and arbitrary text in any order — parses or is a clap error; never a panic.
        #[test]
        fn any_argument_vector_parses_or_is_an_error(
            picks in proptest::collection::vec(
                (0..64_usize, proptest::prop_oneof![
                    proptest::prelude::any::<String>(),
                    "-?[0-9]{1,22}",
                    "[0-9]{1,12}(ns|us|ms|s|m|h|d|)",
                    "[a-z_-]{0,10}",
                ], 0..3_u8),
                0..8,
            ),
        ) {
            let words = words();
            let args: Vec<String> = picks
                .into_iter()
                .map(|(i, text, how)| {
                    let word = &words[i % words.len()];
                    match how {
                        0 => word.clone(),
                        1 => format!("{word}={text}"),
                        _ => text,
                    }
                })
                .collect();
            let _ = Cli::try_parse_from(std::iter::once("sqlretry".to_owned()).chain(args));
        }
    }
}
