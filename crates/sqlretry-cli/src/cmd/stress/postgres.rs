//! `sqlretry stress --db postgres://…`: the same comparison on PostgreSQL, with the same table and
//! JSON contract. Strategies, side by side on one scratch schema (dropped afterwards unless --keep):
//!
//! - `read-committed`: READ COMMITTED, no retry — read-modify-write loses updates silently;
//! - `serializable`: SERIALIZABLE, no retry — the same conflicts fail with 40001;
//! - `hand-loop`: SERIALIZABLE in a typical hand-written loop around tokio-postgres (up to 10
//!   attempts, 40001/40P01 retried at once, no backoff, no deadline);
//! - `sqlretry`: [`PgStore`] (whole-transaction retry, jittered backoff, the retry seats, one
//!   deadline).
//!
//! Workloads: `kv` (read the writer's counter, upsert a key, bump the counter), `ticks` (insert a
//! batch of `--batch` rows), and `entries`, which here is `hot-rows`: read-modify-write of one of 4
//! hot counters (no slow work). `lost` counts acknowledged units missing: kv rows and tick rows
//! not in the table, increments not in the hot counters.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use hdrhistogram::Histogram;
use sqlretry::postgres::tokio_postgres::error::SqlState;
use sqlretry::postgres::tokio_postgres::{self, Client, GenericClient, NoTls, Transaction};
use sqlretry::postgres::{PgError, PgOptions, PgStore};

use super::report::{self, Latency, RunReport};
use super::rng::SplitMix64;
use super::strategy::StrategyKind;
use crate::args::{ModeArg, StrategyArg, StressArgs, WorkloadArg};
use crate::error::CliError;

const STRATEGIES: [&str; 4] = ["read-committed", "serializable", "hand-loop", "sqlretry"];
const HOT_ROWS: i32 = 4;
const DEFAULT_PG_OPS: u64 = 20_000;

/// The URL when `--db` is a PostgreSQL URL.
pub fn url_of(args: &StressArgs) -> Option<String> {
    let db = args.db.as_ref()?.to_str()?;
    (db.starts_with("postgres://") || db.starts_with("postgresql://")).then(|| db.to_owned())
}

/// Runs the PostgreSQL comparison (exit 0 when the `sqlretry` run failed and lost nothing).
///
/// # Errors
/// Bad usage, or the server could not be reached or set up.
pub fn run(args: &StressArgs, url: &str) -> Result<ExitCode, CliError> {
    if !matches!(args.strategy, StrategyArg::All) || args.mode != ModeArg::Threads || args.chart.is_some() {
        return Err(CliError::usage(
            "--db",
            "with a postgres:// URL: all four strategies, threads mode, no chart",
        ));
    }
    let config: tokio_postgres::Config = url.parse().map_err(|e| CliError::usage("--db", format!("{e}")))?;
    let app = crate::settings::load_config(args.config.as_deref())?;
    let options = if args.config.is_some() {
        PgOptions::from_config(&app).map_err(|e| CliError::usage("--config", e.to_string()))?
    } else {
        // The store's own default policy; `[postgres]` tunables (e.g. SQLRETRY_POSTGRES_RETRY_SEATS)
        // still apply.
        PgOptions::default().with_retry_seats(app.postgres.retry_seats)
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::Worker(format!("starting the runtime: {e}")))?;
    runtime.block_on(run_all(args, config, options))
}

fn fail(context: &str) -> impl FnOnce(tokio_postgres::Error) -> CliError + '_ {
    move |e| CliError::Worker(format!("{context}: {}", PgError::Postgres(e)))
}

async fn connect(config: &tokio_postgres::Config) -> Result<Client, CliError> {
    let (client, connection) = config.connect(NoTls).await.map_err(fail("connecting"))?;
    tokio::spawn(connection);
    Ok(client)
}

async fn run_all(
    args: &StressArgs,
    base: tokio_postgres::Config,
    options: PgOptions,
) -> Result<ExitCode, CliError> {
    let writers = args.writers.unwrap_or(16);
    let seed = args.seed.unwrap_or(0x5eed);
    let schema = format!(
        "sqlretry_stress_{:x}",
        SplitMix64::new(seed ^ u64::from(std::process::id())).next_u64() >> 16
    );
    let admin = connect(&base).await?;
    admin
        .batch_execute(&format!("CREATE SCHEMA {schema}; SET search_path = {schema}"))
        .await
        .map_err(fail("creating the schema"))?;
    admin
        .batch_execute(
            "CREATE TABLE kv (run_id int NOT NULL, key text NOT NULL, value text NOT NULL, PRIMARY KEY (run_id, key));
             CREATE TABLE kv_counter (run_id int NOT NULL, writer int NOT NULL, n bigint NOT NULL, PRIMARY KEY (run_id, writer));
             CREATE TABLE ticks (run_id int NOT NULL, symbol text NOT NULL, ts bigint NOT NULL, bid float8 NOT NULL, PRIMARY KEY (run_id, symbol, ts));
             CREATE TABLE hot (run_id int NOT NULL, id int NOT NULL, n bigint NOT NULL, PRIMARY KEY (run_id, id));",
        )
        .await
        .map_err(fail("creating the tables"))?;
    let mut config = base.clone();
    config.options(format!("-c search_path={schema}"));
    let mut reports = Vec::new();
    for (run_id, strategy) in (1..).zip(STRATEGIES) {
        admin
            .execute(
                "INSERT INTO kv_counter SELECT $1, g, 0 FROM generate_series(0, $2 - 1) g",
                &[&run_id, &(writers as i32)],
            )
            .await
            .map_err(fail("seeding"))?;
        admin
            .execute(
                "INSERT INTO hot SELECT $1, g, 0 FROM generate_series(0, $2 - 1) g",
                &[&run_id, &HOT_ROWS],
            )
            .await
            .map_err(fail("seeding"))?;
        let report = run_one(args, &config, &options, strategy, run_id, writers, seed, &admin).await?;
        if !args.json {
            eprintln!(
                "{strategy:>14}: {} committed, {} failed in {:.1} s",
                report.committed, report.failed, report.wall_s
            );
        }
        reports.push(report);
    }
    if !args.keep {
        admin
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .await
            .map_err(fail("dropping the schema"))?;
    } else {
        eprintln!("keeping schema {schema}");
    }
    if args.json {
        print!("{}", report::json_lines(&reports).map_err(|e| CliError::Worker(e.to_string()))?);
    } else {
        let target = format!(
            "PostgreSQL {}",
            sqlretry::config::redact_url(
                &args.db.as_ref().map(|p| p.display().to_string()).unwrap_or_default()
            )
        );
        println!("{}", report::table(&reports).replacen("WAL, synchronous=NORMAL", &target, 1));
        println!("{}", super::verdict::verdict(&reports));
    }
    Ok(if report::all_good(&reports) { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// What one writer did.
#[derive(Default)]
struct Counts {
    committed: u64,
    failed: u64,
    retries: u64,
    units: u64,
    errors: BTreeMap<String, u64>,
    latency: Option<Histogram<u64>>,
}

#[allow(clippy::too_many_arguments)]
async fn run_one(
    args: &StressArgs,
    config: &tokio_postgres::Config,
    options: &PgOptions,
    strategy: &'static str,
    run_id: i32,
    writers: u32,
    seed: u64,
    admin: &Client,
) -> Result<RunReport, CliError> {
    let store = Arc::new(
        PgStore::from_config(config.clone(), options.clone().with_pool_size(writers as usize))
            .map_err(|e| CliError::Worker(e.to_string()))?,
    );
    if strategy == "sqlretry" {
        // The other strategies connect their clients before the clock starts: so does the pool.
        let mut warm = Vec::with_capacity(writers as usize);
        for _ in 0..writers {
            warm.push(store.pool().get().await.map_err(|e| CliError::Worker(format!("connecting: {e}")))?);
        }
    }
    let ops = args.ops.unwrap_or(DEFAULT_PG_OPS);
    let until = args.duration.map(|d| Instant::now() + d);
    let mut tasks = Vec::new();
    for w in 0..writers {
        let client = if strategy == "sqlretry" { None } else { Some(connect(config).await?) };
        let my_ops = ops / u64::from(writers) + u64::from(u64::from(w) < ops % u64::from(writers));
        let (store, kind, batch) = (store.clone(), args.workload, args.batch);
        tasks.push(tokio::spawn(async move {
            let mut counts = Counts { latency: Histogram::new(3).ok(), ..Counts::default() };
            let mut rng = SplitMix64::new(seed ^ u64::from(w).rotate_left(17));
            let mut seq = 0_u64;
            while until.map_or(seq < my_ops, |t| Instant::now() < t) {
                let op = Op {
                    kind,
                    run_id,
                    writer: w as i32,
                    seq: seq as i64,
                    batch,
                    hot: (rng.below(HOT_ROWS as u64)) as i32,
                };
                let started = Instant::now();
                let (result, retries) = match &client {
                    Some(client) => without_store(client, strategy, op).await,
                    None => with_store(&store, op).await,
                };
                counts.retries += retries;
                if let Some(h) = counts.latency.as_mut() {
                    let _ = h.record(started.elapsed().as_micros() as u64);
                }
                match result {
                    Ok(units) => {
                        counts.committed += 1;
                        counts.units += units;
                    }
                    Err(code) => {
                        counts.failed += 1;
                        *counts.errors.entry(code).or_default() += 1;
                    }
                }
                seq += 1;
            }
            counts
        }));
    }
    let started = Instant::now();
    let mut total = Counts { latency: Histogram::new(3).ok(), ..Counts::default() };
    for task in tasks {
        let c = task.await.map_err(|e| CliError::Worker(format!("a writer task failed: {e}")))?;
        total.committed += c.committed;
        total.failed += c.failed;
        total.retries += c.retries;
        total.units += c.units;
        for (k, v) in c.errors {
            *total.errors.entry(k).or_default() += v;
        }
        if let (Some(t), Some(h)) = (total.latency.as_mut(), c.latency.as_ref()) {
            let _ = t.add(h);
        }
    }
    let wall_s = started.elapsed().as_secs_f64();
    if strategy == "sqlretry" {
        total.retries = store.metrics().snapshot().retries;
    }
    let present = present_units(admin, args.workload, run_id).await?;
    let latency_us = total.latency.as_ref().filter(|h| !h.is_empty()).map_or(
        Latency { p50: 0, p95: 0, p99: 0, max: 0 },
        |h| Latency {
            p50: h.value_at_quantile(0.5),
            p95: h.value_at_quantile(0.95),
            p99: h.value_at_quantile(0.99),
            max: h.max(),
        },
    );
    Ok(RunReport {
        strategy,
        workload: match args.workload {
            WorkloadArg::Kv => "kv",
            WorkloadArg::Ticks => "ticks",
            WorkloadArg::Entries => "hot-rows",
        },
        mode: "threads",
        api: match strategy {
            "sqlretry" => "PgStore::write".into(),
            "hand-loop" => "tokio-postgres, hand-written retry loop".into(),
            _ => "tokio-postgres transaction".into(),
        },
        in_flight: 1,
        writers,
        processes: 1,
        attempted: total.committed + total.failed,
        committed: total.committed,
        rows_committed: total.units,
        failed: total.failed,
        lost: total.units.saturating_sub(present),
        duplicates: present.saturating_sub(total.units),
        integrity_ok: true,
        retries: total.retries,
        wall_s,
        committed_per_s: if wall_s > 0.0 { total.committed as f64 / wall_s } else { 0.0 },
        latency_us,
        errors: total.errors,
        kind: if strategy == "sqlretry" { StrategyKind::Sqlretry } else { StrategyKind::None },
    })
}

/// One operation's parameters.
#[derive(Clone, Copy)]
struct Op {
    kind: WorkloadArg,
    run_id: i32,
    writer: i32,
    seq: i64,
    batch: u32,
    hot: i32,
}

/// The operation's statements; its value is the units it adds (rows, or 1 increment).
async fn body<C: GenericClient + Sync>(tx: &C, op: Op) -> Result<u64, tokio_postgres::Error> {
    match op.kind {
        WorkloadArg::Kv => {
            let row = tx
                .query_one(
                    "SELECT n FROM kv_counter WHERE run_id = $1 AND writer = $2",
                    &[&op.run_id, &op.writer],
                )
                .await?;
            let n: i64 = row.get(0);
            let key = format!("{}-{n}", op.writer);
            tx.execute(
                "INSERT INTO kv (run_id, key, value) VALUES ($1, $2, $3) ON CONFLICT (run_id, key) DO UPDATE SET value = EXCLUDED.value",
                &[&op.run_id, &key, &format!("v{}", op.seq)],
            )
            .await?;
            tx.execute(
                "UPDATE kv_counter SET n = $3 WHERE run_id = $1 AND writer = $2",
                &[&op.run_id, &op.writer, &(n + 1)],
            )
            .await?;
            Ok(1)
        }
        WorkloadArg::Ticks => {
            let symbol = format!("S{}", op.writer);
            let first = op.seq * i64::from(op.batch);
            tx.execute(
                "INSERT INTO ticks (run_id, symbol, ts, bid) SELECT $1, $2, g, g * 0.01 FROM generate_series($3::bigint, $4::bigint) g ON CONFLICT DO NOTHING",
                &[&op.run_id, &symbol, &first, &(first + i64::from(op.batch) - 1)],
            )
            .await?;
            Ok(u64::from(op.batch))
        }
        WorkloadArg::Entries => {
            let n: i64 = tx
                .query_one("SELECT n FROM hot WHERE run_id = $1 AND id = $2", &[&op.run_id, &op.hot])
                .await?
                .get(0);
            tx.execute(
                "UPDATE hot SET n = $3 WHERE run_id = $1 AND id = $2",
                &[&op.run_id, &op.hot, &(n + 1)],
            )
            .await?;
            Ok(1)
        }
    }
}

fn code_of(e: &tokio_postgres::Error) -> String {
    e.code().map_or_else(|| "connection".to_owned(), |c| c.code().to_owned())
}

/// `read-committed`, `serializable`: one try; `hand-loop`: the usual loop, no backoff.
async fn without_store(client: &Client, strategy: &str, op: Op) -> (Result<u64, String>, u64) {
    let begin = if strategy == "read-committed" {
        "BEGIN ISOLATION LEVEL READ COMMITTED"
    } else {
        "BEGIN ISOLATION LEVEL SERIALIZABLE"
    };
    let attempts = if strategy == "hand-loop" { 10 } else { 1 };
    let mut retries = 0;
    loop {
        let result = async {
            client.batch_execute(begin).await?;
            let units = body(client, op).await?;
            client.batch_execute("COMMIT").await?;
            Ok::<u64, tokio_postgres::Error>(units)
        }
        .await;
        match result {
            Ok(units) => return (Ok(units), retries),
            Err(e) => {
                let _ = client.batch_execute("ROLLBACK").await;
                let conflict = e.code() == Some(&SqlState::T_R_SERIALIZATION_FAILURE)
                    || e.code() == Some(&SqlState::T_R_DEADLOCK_DETECTED);
                if !conflict || retries + 1 >= attempts {
                    return (Err(code_of(&e)), retries);
                }
                retries += 1;
            }
        }
    }
}

async fn with_store(store: &PgStore, op: Op) -> (Result<u64, String>, u64) {
    // Retries are read from the store's counters once the run is over.
    let result = store.write(|tx: &Transaction<'_>| Box::pin(async move { body(tx, op).await })).await;
    (
        result.map_err(|e| {
            e.inner().code().map_or_else(|| "pool/connection".to_owned(), |c| c.code().to_owned())
        }),
        0,
    )
}

async fn present_units(admin: &Client, kind: WorkloadArg, run_id: i32) -> Result<u64, CliError> {
    let sql = match kind {
        WorkloadArg::Kv => "SELECT count(*)::bigint FROM kv WHERE run_id = $1",
        WorkloadArg::Ticks => "SELECT count(*)::bigint FROM ticks WHERE run_id = $1",
        WorkloadArg::Entries => "SELECT COALESCE(sum(n), 0)::bigint FROM hot WHERE run_id = $1",
    };
    let n: i64 = admin.query_one(sql, &[&run_id]).await.map_err(fail("counting"))?.get(0);
    Ok(u64::try_from(n).unwrap_or(0))
}
