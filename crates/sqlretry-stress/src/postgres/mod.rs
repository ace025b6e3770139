//! `sqlretry stress --db postgres://…`: the same comparison on PostgreSQL, with the same table and
//! JSON contract. The strategies (`strategy.rs`) run side by side on one scratch schema, dropped
//! afterwards unless kept.
//!
//! Workloads: `kv` (read the writer's counter, upsert a key, bump the counter), `ticks` (insert a
//! batch of rows), and `entries`, which here is `hot-rows`: read-modify-write of one of
//! [`HOT_ROWS`] hot counters (no slow work). `lost` counts acknowledged units missing: kv rows and
//! tick rows not in the table, increments not in the hot counters.
//!
//! # Design
//! `run_postgres` owns a 2-worker tokio runtime (`stress-runtime`): one task per writer, every
//! task awaited before the strategy's figures are taken; the runtime drops (joining its threads)
//! before the function returns. Each plain strategy's client has its connection task on that
//! runtime, ended when the client drops.

mod strategy;

use std::sync::Arc;
use std::time::Instant;

use sqlretry::postgres::tokio_postgres::{self, Client, NoTls};
use sqlretry::postgres::{PgError, PgOptions, PgStore};

use self::strategy::{HOT_ROWS, PgOp, PgStoreStrategy, PgStrategyKind, PlainPgStrategy, Postgres};
use crate::error::StressError;
use crate::report::{self, RunReport};
use crate::rng::SplitMix64;
use crate::run::Outcome;
use crate::settings::PgSettings;
use crate::strategy::Strategy;
use crate::verdict;
use crate::worker::Tally;
use crate::workload::WorkloadKind;

/// Whether `db` names a PostgreSQL database (`postgres://` or `postgresql://`) rather than a file.
///
/// # Examples
///
/// ```
/// assert!(sqlretry_stress::is_postgres_url("postgres://postgres@127.0.0.1/test"));
/// assert!(!sqlretry_stress::is_postgres_url("stress.db"));
/// ```
pub fn is_postgres_url(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

/// Runs every PostgreSQL strategy and prints the table (or JSON lines) and the verdict.
///
/// # Examples
///
/// ```no_run
/// use sqlretry_stress::{PgSettings, Workload, WorkloadKind};
///
/// let settings = PgSettings {
///     url: "postgres://postgres@127.0.0.1/test".to_owned(),
///     keep: false,
///     workload: Workload { kind: WorkloadKind::Kv, batch: 50, work_ms: 1 },
///     writers: 8,
///     ops: 400,
///     duration: None,
///     config: sqlretry::config::Config::default(),
///     config_from_file: false,
///     json: true,
///     seed: 1,
/// };
/// sqlretry_stress::run_postgres(&settings)?;
/// # Ok::<(), sqlretry_stress::StressError>(())
/// ```
///
/// # Errors
///
/// The URL or the configuration is wrong (usage errors naming `--db` or `--config`), or the
/// server could not be reached or set up.
pub fn run_postgres(settings: &PgSettings) -> Result<Outcome, StressError> {
    let config: tokio_postgres::Config =
        settings.url.parse().map_err(|e| StressError::usage("--db", format!("{e}")))?;
    let options = if settings.config_from_file {
        PgOptions::from_config(&settings.config).map_err(|e| StressError::usage("--config", e.to_string()))?
    } else {
        // The store's own default policy; `[postgres]` tunables (e.g. SQLRETRY_POSTGRES_RETRY_SEATS)
        // still apply.
        PgOptions::default().with_retry_seats(settings.config.postgres.retry_seats)
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("stress-runtime")
        .enable_all()
        .build()
        .map_err(|e| StressError::Worker(format!("starting the runtime: {e}")))?;
    runtime.block_on(run_all(settings, config, options))
}

fn fail(context: &str) -> impl FnOnce(tokio_postgres::Error) -> StressError + '_ {
    move |e| StressError::Worker(format!("{context}: {}", PgError::Postgres(e)))
}

async fn connect(config: &tokio_postgres::Config) -> Result<Client, StressError> {
    let (client, connection) = config.connect(NoTls).await.map_err(fail("connecting"))?;
    tokio::spawn(connection);
    Ok(client)
}

async fn run_all(
    settings: &PgSettings,
    base: tokio_postgres::Config,
    options: PgOptions,
) -> Result<Outcome, StressError> {
    let (writers, seed) = (settings.writers, settings.seed);
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
    for (run_id, kind) in (1..).zip(PgStrategyKind::ALL) {
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
        let report = run_one(settings, &config, &options, kind, run_id, &admin).await?;
        if !settings.json {
            eprintln!(
                "{:>14}: {} committed, {} failed in {:.1} s",
                kind.name(),
                report.committed,
                report.failed,
                report.wall_s
            );
        }
        reports.push(report);
    }
    if !settings.keep {
        admin
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .await
            .map_err(fail("dropping the schema"))?;
    } else {
        eprintln!("keeping schema {schema}");
    }
    if settings.json {
        print!("{}", report::json_lines(&reports).map_err(|e| StressError::Worker(e.to_string()))?);
    } else {
        let target = format!("PostgreSQL {}", sqlretry::config::redact_url(&settings.url));
        println!("{}", report::table(&reports).replacen("WAL, synchronous=NORMAL", &target, 1));
        println!("{}", verdict::verdict(&reports));
    }
    Ok(if report::all_good(&reports) { Outcome::Clean } else { Outcome::Failed })
}

/// Opens one writer's strategy of `kind`: its own client, or its share of `store`.
async fn open(
    kind: PgStrategyKind,
    config: &tokio_postgres::Config,
    store: &Arc<PgStore>,
) -> Result<Box<dyn Strategy<Postgres>>, StressError> {
    let runtime = tokio::runtime::Handle::current();
    Ok(if kind.uses_store() {
        Box::new(PgStoreStrategy::new(Arc::clone(store), runtime))
    } else {
        Box::new(PlainPgStrategy::new(kind, connect(config).await?, runtime))
    })
}

/// Runs one strategy with every writer as a task and counts what reached the tables.
async fn run_one(
    settings: &PgSettings,
    config: &tokio_postgres::Config,
    options: &PgOptions,
    kind: PgStrategyKind,
    run_id: i32,
    admin: &Client,
) -> Result<RunReport, StressError> {
    let (writers, seed, ops) = (settings.writers, settings.seed, settings.ops);
    let store = Arc::new(
        PgStore::from_config(config.clone(), options.clone().with_pool_size(writers as usize))
            .map_err(|e| StressError::Worker(e.to_string()))?,
    );
    if kind.uses_store() {
        // The other strategies connect their clients before the clock starts: so does the pool.
        let mut warm = Vec::with_capacity(writers as usize);
        for _ in 0..writers {
            warm.push(store.pool().get().await.map_err(|e| StressError::Worker(format!("connecting: {e}")))?);
        }
    }
    let until = settings.duration.map(|d| Instant::now() + d);
    let mut tasks = Vec::new();
    for w in 0..writers {
        let mut strategy = open(kind, config, &store).await?;
        let my_ops = ops / u64::from(writers) + u64::from(u64::from(w) < ops % u64::from(writers));
        let (workload, batch) = (settings.workload.kind, settings.workload.batch);
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::new();
            let mut rng = SplitMix64::new(seed ^ u64::from(w).rotate_left(17));
            let mut seq = 0_u64;
            while until.map_or(seq < my_ops, |t| Instant::now() < t) {
                let op = PgOp {
                    kind: workload,
                    run_id,
                    writer: w as i32,
                    seq: seq as i64,
                    batch,
                    hot: (rng.below(HOT_ROWS as u64)) as i32,
                };
                let started = Instant::now();
                let result = match strategy.write_async(op) {
                    Ok(write) => write.await,
                    Err(op) => tokio::task::block_in_place(|| strategy.write(op)),
                };
                tally.attempted += 1;
                tally.record(started.elapsed(), result);
                seq += 1;
            }
            tally
        }));
    }
    let started = Instant::now();
    let mut total = Tally::new();
    for task in tasks {
        let tally = task.await.map_err(|e| StressError::Worker(format!("a writer task failed: {e}")))?;
        total.merge(&tally);
    }
    let wall_s = started.elapsed().as_secs_f64();
    if kind.uses_store() {
        total.retries = store.metrics().snapshot().retries;
    }
    let present = present_units(admin, settings.workload.kind, run_id).await?;
    Ok(RunReport {
        strategy: kind.name(),
        workload: match settings.workload.kind {
            WorkloadKind::Kv => "kv",
            WorkloadKind::Ticks => "ticks",
            WorkloadKind::Entries => "hot-rows",
        },
        mode: "threads",
        api: kind.api().to_owned(),
        in_flight: 1,
        writers,
        processes: 1,
        attempted: total.attempted,
        committed: total.committed,
        rows_committed: total.units,
        failed: total.failed,
        lost: total.units.saturating_sub(present),
        duplicates: present.saturating_sub(total.units),
        integrity_ok: true,
        retries: total.retries,
        wall_s,
        committed_per_s: if wall_s > 0.0 { total.committed as f64 / wall_s } else { 0.0 },
        latency_us: total.latency(),
        errors: total.errors,
        sqlretry_family: kind.is_sqlretry_family(),
    })
}

async fn present_units(admin: &Client, kind: WorkloadKind, run_id: i32) -> Result<u64, StressError> {
    let sql = match kind {
        WorkloadKind::Kv => "SELECT count(*)::bigint FROM kv WHERE run_id = $1",
        WorkloadKind::Ticks => "SELECT count(*)::bigint FROM ticks WHERE run_id = $1",
        WorkloadKind::Entries => "SELECT COALESCE(sum(n), 0)::bigint FROM hot WHERE run_id = $1",
    };
    let n: i64 = admin.query_one(sql, &[&run_id]).await.map_err(fail("counting"))?.get(0);
    Ok(u64::try_from(n).unwrap_or(0))
}
