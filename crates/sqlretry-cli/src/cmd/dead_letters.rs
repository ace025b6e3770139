//! `sqlretry dead-letters list|replay DB`: the writer's dead letters, kept in
//! `DB.deadletter.sqlite` ([`DeadLetterStore::path_beside`]).
//!
//! Dead letters are self-describing (each batch keeps its `INSERT` and its rows as SQL values), so
//! this command replays any application's dead letters without knowing its row types. It is thin
//! over the library: `list` reads the [`DeadLetterStore`], `replay` opens a [`Writer`] on DB with
//! the configuration of `--config` / `SQLRETRY_…` and calls [`Writer::replay_all`].

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sqlretry::writer::{DeadLetter, DeadLetterStore, ReplayReport, Writer, WriterOptions};

use crate::args::{DeadLettersCommand, DeadLettersListArgs, DeadLettersReplayArgs};
use crate::error::CliError;
use crate::settings::load_config;

/// Runs `dead-letters list` or `dead-letters replay`.
///
/// # Errors
///
/// A usage error (exit 2) for a missing DB or a bad configuration; otherwise the store's or the
/// writer's error (exit 1).
pub fn run(command: DeadLettersCommand) -> Result<ExitCode, CliError> {
    match command {
        DeadLettersCommand::List(args) => list(&args),
        DeadLettersCommand::Replay(args) => replay(&args),
    }
}

/// The dead-letter file of `db`, after checking that `db` is an existing file (nothing is created).
fn store_path(db: &Path) -> Result<PathBuf, CliError> {
    if !db.is_file() {
        let what = if db.exists() { "is not a file" } else { "no such database file" };
        return Err(CliError::usage("DB", format!("{what}: {}", db.display())));
    }
    Ok(DeadLetterStore::path_beside(db))
}

/// One dead letter as `list --json` prints it (the payload itself is left out).
#[derive(Debug, serde::Serialize)]
struct Listed<'a> {
    id: i64,
    row_type: &'a str,
    rows: u64,
    failed_at: &'a str,
    error: &'a str,
    insert_sql: &'a str,
}

impl<'a> From<&'a DeadLetter> for Listed<'a> {
    fn from(d: &'a DeadLetter) -> Self {
        Listed {
            id: d.id,
            row_type: &d.row_type,
            rows: d.rows,
            failed_at: &d.failed_at,
            error: &d.error,
            insert_sql: &d.insert_sql,
        }
    }
}

fn list(args: &DeadLettersListArgs) -> Result<ExitCode, CliError> {
    let path = store_path(&args.db)?;
    let letters = if path.exists() {
        let store =
            DeadLetterStore::open(&path).map_err(CliError::writer("opening the dead-letter store"))?;
        store.list(None).map_err(CliError::writer("reading the dead-letter store"))?
    } else {
        Vec::new()
    };
    let rows: u64 = letters.iter().map(|d| d.rows).sum();
    let mut text = String::new();
    if args.json {
        let listed: Vec<Listed<'_>> = letters.iter().map(Listed::from).collect();
        let out = serde_json::json!({
            "db": args.db,
            "dead_letter_file": path,
            "batches": letters.len(),
            "rows": rows,
            "dead_letters": listed,
        });
        text = format!("{out}\n");
    } else if letters.is_empty() {
        text = format!("no dead letters for {}\n", args.db.display());
    } else {
        text.push_str(&format!(
            "{:>6}  {:<16}  {:>8}  {:<24}  ERROR\n",
            "ID", "ROW TYPE", "ROWS", "FAILED AT"
        ));
        for d in &letters {
            let error = d.error.lines().next().unwrap_or("");
            text.push_str(&format!(
                "{:>6}  {:<16}  {:>8}  {:<24}  {error}\n",
                d.id, d.row_type, d.rows, d.failed_at
            ));
        }
        text.push_str(&format!("{} batch(es), {rows} row(s) in {}\n", letters.len(), path.display()));
    }
    crate::output::print(&text).map_err(|source| CliError::Io {
        context: "writing the list",
        path: "<stdout>".into(),
        source,
    })?;
    Ok(ExitCode::SUCCESS)
}

fn replay(args: &DeadLettersReplayArgs) -> Result<ExitCode, CliError> {
    // The configuration is validated before anything is opened or created.
    let config = load_config(args.config.as_deref())?;
    let options =
        WriterOptions::from_config(&config).map_err(|e| CliError::usage("--config", e.to_string()))?;
    let path = store_path(&args.db)?;
    let report = if path.exists() {
        let writer = Writer::open_with(&args.db, options).map_err(CliError::writer("opening the writer"))?;
        let replayed = writer.replay_all();
        let shutdown = writer.shutdown();
        let report = replayed.map_err(CliError::writer("replaying dead letters"))?;
        shutdown.map_err(CliError::writer("shutting the writer down"))?;
        report
    } else {
        ReplayReport::default()
    };
    let complete = report.batches_left == 0;
    if args.json {
        let out = serde_json::json!({
            "db": args.db,
            "dead_letter_file": path,
            "batches_replayed": report.batches,
            "rows_replayed": report.rows,
            "refused": report.refused,
            "batches_left": report.batches_left,
            "rows_left": report.rows_left,
        });
        println!("{out}");
    } else if report.batches == 0 && complete {
        println!("no dead letters for {}", args.db.display());
    } else {
        println!("replayed {} batch(es), {} row(s) into {}", report.batches, report.rows, args.db.display());
        for refused in &report.refused {
            println!(
                "refused dead letter {} ({}, {} row(s)): {}",
                refused.id, refused.row_type, refused.rows, refused.reason
            );
        }
        if complete {
            println!("nothing left in {}", path.display());
        } else {
            println!(
                "left: {} batch(es), {} row(s) in {}",
                report.batches_left,
                report.rows_left,
                path.display()
            );
        }
    }
    Ok(if complete { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
