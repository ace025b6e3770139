//! The `sqlretry` command-line tool.

use clap::Parser;

/// Writes to SQLite that survive concurrency.
#[derive(Debug, Parser)]
#[command(name = "sqlretry", version, about)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
}
