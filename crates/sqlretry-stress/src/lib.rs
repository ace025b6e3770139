//! The benchmark harness behind `sqlretry stress`: many writers contend for one SQLite file (or one
//! PostgreSQL database), each write strategy side by side, and what really reached the table is
//! counted afterwards.
//!
//! The command parses its flags and hands the harness validated [`Settings`] (or [`PgSettings`]);
//! [`run`] (or [`run_postgres`]) prints the table or JSON lines, the verdict and the chart, and
//! returns an [`Outcome`] the command turns into its exit code. The harness never sees the flags.
//!
//! ```no_run
//! use sqlretry_stress::{Mode, Outcome, Settings, StrategyKind, Workload, WorkloadKind};
//!
//! let settings = Settings {
//!     db: None,
//!     keep: false,
//!     strategies: StrategyKind::ALL.to_vec(),
//!     workload: Workload { kind: WorkloadKind::Kv, batch: 50, work_ms: 1 },
//!     mode: Mode::Threads,
//!     writers: Mode::Threads.default_writers(),
//!     processes: 1,
//!     ops: 7_000,
//!     duration: None,
//!     config: sqlretry::config::Config::default(),
//!     json: false,
//!     chart: None,
//!     seed: sqlretry_stress::clock_nanos(),
//!     in_flight: 1,
//! };
//! let outcome = sqlretry_stress::run(&settings)?;
//! assert_eq!(outcome, Outcome::Clean);
//! # Ok::<(), sqlretry_stress::StressError>(())
//! ```
//!
//! # Layout
//! - `strategy_kind.rs`: the SQLite strategies by name ([`StrategyKind`], a leaf); `strategy.rs`:
//!   the `Strategy` trait every strategy implements, SQLite and PostgreSQL alike, and the plain
//!   rusqlite strategies; `store_strategy.rs`, `writer_strategy.rs`: the library's Store and
//!   Writer; `postgres/`: the PostgreSQL strategies and their run.
//! - `workload.rs`, `ticks.rs`: what each operation writes and how the rows are counted.
//! - `run.rs`: one SQLite run; `worker.rs` (threads), `process.rs` (processes), `tasks.rs` (tokio
//!   tasks): the three ways of spreading the writers.
//! - `report.rs`, `verdict.rs`, `chart.rs`, `progress.rs`: what the user sees.
//!
//! # Adding a strategy
//! A [`StrategyKind`] variant plus a type implementing `Strategy`, opened by `strategy::opener`.
//! Nothing else changes: `--strategy all`, the table, JSON, chart and exit code pick it up.
//!
//! # Design
//! Every thread the harness starts has an owner that joins it before returning: the worker
//! threads (`stress-worker-N`, scoped in `worker.rs`), the tokio runtime of tasks mode and of the
//! PostgreSQL run (`stress-runtime`, shut down with a bounded wait), the worker processes of
//! processes mode (each child read to the end and waited for), and the library Writer of the
//! `writer` strategy (shut down when its opener drops after every worker finished).

mod chart;
mod error;
mod mode;
mod open_once;
mod postgres;
mod process;
mod progress;
mod report;
mod rng;
mod run;
mod settings;
mod sqlite_codes;
mod store_strategy;
mod strategy;
mod strategy_kind;
mod tasks;
mod ticks;
mod verdict;
mod worker;
mod workload;
mod writer_strategy;

pub use crate::error::StressError;
pub use crate::mode::Mode;
pub use crate::postgres::{is_postgres_url, run_postgres};
pub use crate::process::{WORKER_SUBCOMMAND, worker_main};
pub use crate::run::{Outcome, clock_nanos, run};
pub use crate::settings::{
    DEFAULT_OPS, DEFAULT_PG_OPS, DEFAULT_PG_SEED, DEFAULT_PG_WRITERS, DEFAULT_PROCESSES, PgSettings, Settings,
};
pub use crate::strategy_kind::StrategyKind;
pub use crate::workload::{Workload, WorkloadKind};
