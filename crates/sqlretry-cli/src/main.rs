//! The `sqlretry` command-line tool. The product commands: `doctor` for a database file,
//! `dead-letters list|replay` for the writer's dead letters, and `serve` / `load`: the tick store
//! as a service and its load test. The benchmark: `stress` (the default), which compares write
//! strategies on real SQLite contention; its harness is the `sqlretry-stress` crate.
//!
//! Thin by design (ripgrep style): raw flags ([`args`]) → validated settings → a command ([`cmd`])
//! → an [`ExitCode`]: 0 success, 1 a sqlretry strategy lost or failed writes (or a check failed),
//! 2 bad usage.

mod args;
mod cmd;
mod error;
mod output;
mod prometheus;
mod settings;

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::args::{Cli, Command};
use crate::error::CliError;

fn main() -> ExitCode {
    // Colours only for a person at a terminal: a log file or a collector gets plain text.
    tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")))
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("sqlretry: error: {err}");
            err.exit_code()
        }
    }
}

/// Dispatches to the subcommand; no subcommand is a default `stress` run.
fn run(cli: Cli) -> Result<ExitCode, CliError> {
    match cli.command {
        None => cmd::stress::run(cli.stress),
        Some(Command::Stress(args)) => cmd::stress::run(args),
        Some(Command::Doctor(args)) => cmd::doctor::run(args),
        Some(Command::DeadLetters(command)) => cmd::dead_letters::run(command),
        Some(Command::Serve(args)) => cmd::serve::run(args),
        Some(Command::Load(args)) => cmd::load::run(args),
        Some(Command::Worker(args)) => cmd::stress::worker(&args.order),
    }
}
