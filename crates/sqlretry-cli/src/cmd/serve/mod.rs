//! `sqlretry serve`: spec 002's tick store as a service — WebSocket and HTTP ingest acknowledged
//! after commit, tick-stats, Prometheus, health, alerts — thin over the library's [`Writer`].
//!
//! # Design
//!
//! One tokio runtime (multi-threaded) serves the sockets; SQLite is written only by the library's
//! writer thread (`sqlretry-writer`): each message's ticks (validated against the configured tick
//! model, `model.rs` and `tick.rs`) become one `Writer::write_rows_async` request, grouped with
//! concurrent messages into one transaction and answered after `COMMIT` — or, if it cannot
//! commit, kept in the dead-letter store by the library. Reads (`reads/`) run on their own
//! read-only connections on tokio's blocking pool. Tasks: the accept loop (axum), one task per WebSocket connection plus its
//! sender task and one task per message in flight (all joined by the connection before it ends),
//! and the monitor (rates, alerts, webhook; stopped and joined on drain). Drain (SIGTERM/SIGINT):
//! stop accepting, let each connection finish and acknowledge what it took, shut the writer down
//! (flush, commit, join), exit 0 — all within `drain_timeout`, else exit 1.

mod alerts;
pub mod config;
mod ingest;
pub mod model;
mod reads;
mod routes;
mod shutdown;
mod state;
mod stats;
pub mod tick;
pub mod timestamp;
mod ws;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use metrics_exporter_prometheus::PrometheusBuilder;
use sqlretry::Writer;
use sqlretry::writer::WriterOptions;
use tokio::sync::{Semaphore, watch};

use crate::args::ServeArgs;
use crate::error::CliError;
use crate::settings::load_app_config;

use self::alerts::Monitor;
use self::ingest::TickWriter;
use self::state::AppState;
use self::stats::TickCounters;

/// Runs the service until SIGTERM/SIGINT, then drains.
///
/// # Errors
///
/// A usage error for a bad flag or configuration (or a non-loopback address without
/// `--allow-remote`); a service error when the port cannot be bound or the drain overran.
pub fn run(args: ServeArgs) -> Result<ExitCode, CliError> {
    let mut config = load_app_config(args.config.as_deref())?;
    if let Some(listen) = args.listen {
        config.serve.listen = listen;
    }
    if let Some(url) = args.webhook {
        config.serve.webhook_url = Some(url);
    }
    let addr: SocketAddr = config
        .serve
        .listen
        .parse()
        .map_err(|e| CliError::usage("--listen", format!("{}: {e}", config.serve.listen)))?;
    if !addr.ip().is_loopback() && !args.allow_remote {
        return Err(CliError::usage(
            "--listen",
            format!("{addr} is not loopback; add --allow-remote to listen on it"),
        ));
    }
    if let Some(url) = &config.serve.webhook_url
        && !url.starts_with("http://")
    {
        return Err(CliError::usage(
            "--webhook",
            format!(
                "{url}: only http:// URLs are supported (this build has no TLS client; for an https:// receiver, point the webhook at a local relay)"
            ),
        ));
    }
    let options = WriterOptions::from_config(&config.library)
        .map_err(|e| CliError::usage("--config", e.to_string()))?;
    let prometheus = PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| CliError::Service(format!("cannot install the metrics recorder: {e}")))?;
    let writer = Writer::open_with(&args.db, options.with_name("serve"))
        .map_err(CliError::writer("opening the database"))?;
    let model = Arc::new(
        model::Model::new(config.serve.model, &config.serve.columns)
            .map_err(|e| CliError::usage("--config", e))?,
    );
    let check = Arc::clone(&model);
    writer
        .submit(move |tx| Ok(check.verify(tx)))
        .map_err(|e| CliError::Service(format!("reading the ticks table: {e}")))?
        .map_err(|e| CliError::usage("--db", format!("{}: {e}", args.db.display())))?;
    let schema = model.schema_sql();
    writer
        .submit(move |tx| tx.execute_batch(&schema))
        .map_err(|e| CliError::Service(format!("creating the ticks table: {e}")))?;
    let reads = Arc::new(reads::ReadState {
        pool: Arc::new(
            reads::ReadPool::open(&args.db, config.serve.read_connections)
                .map_err(CliError::sqlite("opening the read connections"))?,
        ),
        model: Arc::clone(&model),
        unit: config.serve.timestamp_unit,
        default_limit: config.serve.read_limit,
        max_limit: config.serve.read_limit_max,
    });
    let parser = tick::TickParser {
        model: Arc::clone(&model),
        unit: config.serve.timestamp_unit,
        max_symbol_len: config.serve.max_symbol_len,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("sqlretry-serve")
        .build()
        .map_err(|e| CliError::Service(format!("starting the runtime: {e}")))?;
    runtime.block_on(serve(addr, config.serve, Ingest { writer, model, parser }, reads, prometheus))
}

/// The write side the handlers share.
struct Ingest {
    writer: Writer,
    model: Arc<model::Model>,
    parser: tick::TickParser,
}

async fn serve(
    addr: SocketAddr,
    config: self::config::ServeConfig,
    ingest: Ingest,
    reads: Arc<reads::ReadState>,
    prometheus: metrics_exporter_prometheus::PrometheusHandle,
) -> Result<ExitCode, CliError> {
    let Ingest { writer, model, parser } = ingest;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| CliError::Service(format!("binding {addr}: {e}")))?;
    let bound = listener.local_addr().map_err(|e| CliError::Service(e.to_string()))?;
    let (stop, stopping) = watch::channel(false);
    let drain_timeout = config.drain_timeout;
    let state = Arc::new(AppState {
        ticks: TickWriter::new(writer.clone(), model, Arc::new(TickCounters::new())),
        parser,
        reads,
        inflight: Arc::new(Semaphore::new(config.inflight_total)),
        monitor: Mutex::new(Monitor::new(&config)),
        config,
        prometheus,
        stopping,
        connections: Arc::new(Semaphore::new(state::MAX_CONNECTIONS as usize)),
    });
    let monitor = tokio::spawn(monitor(Arc::clone(&state)));
    println!("sqlretry serve: listening on http://{bound} (WebSocket ws://{bound}/ws/ticks)");
    let app = routes::router(Arc::clone(&state));
    let stop_on_signal = async move {
        shutdown::signal().await;
        let _ = stop.send(true);
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(stop_on_signal)
        .await
        .map_err(|e| CliError::Service(format!("serving: {e}")))?;
    let started = Instant::now();
    let deadline = started + drain_timeout;
    // Every WebSocket connection holds a permit until it acknowledged what it took and closed.
    let all = state.connections.acquire_many(state::MAX_CONNECTIONS);
    let connections_drained = tokio::time::timeout_at(deadline.into(), all).await.is_ok();
    let _ = monitor.await;
    let remaining = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
    let metrics =
        tokio::time::timeout(remaining, tokio::task::spawn_blocking(move || writer.shutdown())).await;
    let stats = state.tick_stats();
    match (connections_drained, metrics) {
        (true, Ok(Ok(Ok(_)))) => {
            tracing::info!(ticks_written = stats.ticks_written, "drained");
            eprintln!(
                "sqlretry serve: drained in {:?}: {} ticks written, {} duplicates, {} dead-lettered, {} lost",
                started.elapsed(),
                stats.ticks_written,
                stats.ticks_duplicate,
                stats.ticks_dead_lettered,
                stats.ticks_lost
            );
            Ok(ExitCode::SUCCESS)
        }
        (drained, outcome) => Err(CliError::Service(format!(
            "drain incomplete after {drain_timeout:?} (connections drained: {drained}; writer: {outcome:?})"
        ))),
    }
}

/// Once a second: rates and alert rules (log, gauge, webhook); Prometheus upkeep. Ends on drain.
async fn monitor(state: Arc<AppState>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut stopping = state.stopping.clone();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopping.wait_for(|s| *s) => return,
        }
        let metrics = state.ticks.writer().metrics();
        let written = state.ticks.counters().written.load(std::sync::atomic::Ordering::Relaxed);
        let changes = state.monitor.lock().unwrap_or_else(PoisonError::into_inner).observe(
            Instant::now(),
            &metrics,
            written,
        );
        for change in &changes {
            alerts::announce(change, state.config.webhook_url.as_deref()).await;
        }
        state.prometheus.run_upkeep();
    }
}
