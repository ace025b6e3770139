//! The validated settings of one stress run, SQLite or PostgreSQL, and their defaults.
//!
//! The command turns its flags into these (naming a flag when a value is wrong); the harness
//! never sees the flags.

use std::path::PathBuf;
use std::time::Duration;

use sqlretry::config::Config;

use crate::mode::Mode;
use crate::strategy_kind::StrategyKind;
use crate::workload::Workload;

/// Operations per strategy when neither an operation count nor a duration is given: sized so the
/// default run of every strategy takes about 30 s on a 2-core machine (BENCHMARKS.md has the
/// measurements).
pub const DEFAULT_OPS: u64 = 200_000;
/// Operations per strategy on PostgreSQL when no operation count is given.
pub const DEFAULT_PG_OPS: u64 = 20_000;
/// Worker processes in processes mode unless the command says otherwise.
pub const DEFAULT_PROCESSES: u32 = 4;
/// Writers on PostgreSQL unless the command says otherwise.
pub const DEFAULT_PG_WRITERS: u32 = 16;
/// The workload seed on PostgreSQL unless the command gives one (runs there are repeatable).
pub const DEFAULT_PG_SEED: u64 = 0x5eed;

impl Mode {
    /// Writers per process in this mode unless the command says otherwise: threads in threads
    /// mode (16) and per process in processes mode (4), tokio tasks in tasks mode (256).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(sqlretry_stress::Mode::Tasks.default_writers(), 256);
    /// ```
    pub fn default_writers(self) -> u32 {
        match self {
            Mode::Threads => 16,
            Mode::Processes => 4,
            Mode::Tasks => 256,
        }
    }
}

/// Validated settings of one SQLite stress run.
///
/// # Examples
///
/// ```
/// use sqlretry_stress::{Mode, Settings, StrategyKind, Workload, WorkloadKind};
///
/// let settings = Settings {
///     db: None,
///     keep: false,
///     strategies: StrategyKind::ALL.to_vec(),
///     workload: Workload { kind: WorkloadKind::Kv, batch: 50, work_ms: 1 },
///     mode: Mode::Threads,
///     writers: Mode::Threads.default_writers(),
///     processes: 1,
///     ops: 700,
///     duration: None,
///     config: sqlretry::config::Config::default(),
///     json: true,
///     chart: None,
///     seed: 7,
///     in_flight: 1,
/// };
/// assert_eq!(settings.strategies.len(), 7);
/// ```
#[derive(Debug, Clone)]
pub struct Settings {
    /// The database file; `None`: a new file in a temporary directory, removed afterwards unless
    /// `keep`.
    pub db: Option<PathBuf>,
    /// Keep the temporary directory and print its path.
    pub keep: bool,
    /// The strategies to run, in order, on the same file.
    pub strategies: Vec<StrategyKind>,
    /// What each operation does.
    pub workload: Workload,
    /// Threads, processes or tokio tasks.
    pub mode: Mode,
    /// Writers per process (tokio tasks in tasks mode).
    pub writers: u32,
    /// Worker processes (1 unless processes mode).
    pub processes: u32,
    /// Operations per strategy, split over all writers; ignored when `duration` is set.
    pub ops: u64,
    /// Run each strategy for this long instead.
    pub duration: Option<Duration>,
    /// The library's configuration, read by the library's strategies.
    pub config: Config,
    /// Print one JSON object per strategy run instead of the table.
    pub json: bool,
    /// Write an SVG chart here.
    pub chart: Option<PathBuf>,
    /// Seed for the workload's random choices.
    pub seed: u64,
    /// Writes each writer keeps in flight where the strategy can pipeline.
    pub in_flight: u32,
}

/// Validated settings of one PostgreSQL stress run: every PostgreSQL strategy, writer tasks on a
/// 2-worker runtime, on a scratch schema of the database `url` names.
///
/// # Examples
///
/// ```
/// use sqlretry_stress::{PgSettings, Workload, WorkloadKind};
///
/// let settings = PgSettings {
///     url: "postgres://postgres@127.0.0.1/test".to_owned(),
///     keep: false,
///     workload: Workload { kind: WorkloadKind::Kv, batch: 50, work_ms: 1 },
///     writers: sqlretry_stress::DEFAULT_PG_WRITERS,
///     ops: 400,
///     duration: None,
///     config: sqlretry::config::Config::default(),
///     config_from_file: false,
///     json: true,
///     seed: sqlretry_stress::DEFAULT_PG_SEED,
/// };
/// assert_eq!(settings.writers, 16);
/// ```
#[derive(Debug, Clone)]
pub struct PgSettings {
    /// The database's `postgres://` URL.
    pub url: String,
    /// Keep the scratch schema.
    pub keep: bool,
    /// What each operation does (`entries` is `hot-rows` here: read-modify-write of a hot counter).
    pub workload: Workload,
    /// Writer tasks.
    pub writers: u32,
    /// Operations per strategy, split over all writers; ignored when `duration` is set.
    pub ops: u64,
    /// Run each strategy for this long instead.
    pub duration: Option<Duration>,
    /// The library's configuration.
    pub config: Config,
    /// Whether `config` came from a file: then it sets the store's whole write policy; otherwise
    /// the store keeps its own default policy and takes only the `[postgres]` tunables.
    pub config_from_file: bool,
    /// Print one JSON object per strategy run instead of the table.
    pub json: bool,
    /// Seed for the writers' random choices.
    pub seed: u64,
}
