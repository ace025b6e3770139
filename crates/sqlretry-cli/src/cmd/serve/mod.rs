//! `sqlretry serve`: a market-tick store as a service — WebSocket and HTTP ingest acknowledged
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
mod auth;
pub mod config;
mod content_type;
mod describe;
mod health;
mod ingest;
mod limits;
mod listener;
pub mod model;
mod origin;
mod protection;
mod readiness;
mod reads;
mod routes;
mod shutdown;
mod state;
mod stats;
pub mod tick;
pub mod timestamp;
mod tls;
mod window;
mod ws;
mod ws_idle;

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
use self::limits::OpenConnections;
use self::protection::Protection;
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
    let args_listen = args.listen.clone();
    if let Some(url) = args.webhook.clone() {
        config.serve.webhook_url = Some(url);
    }
    let (addr, listen_source) = listen_address(&config.serve.listen, args_listen)?;
    if !addr.ip().is_loopback() && !args.allow_remote {
        return Err(CliError::usage(
            listen_source,
            format!("{addr} is not loopback; add --allow-remote to listen on it"),
        ));
    }
    let guards = Protection::from_args(&args, &config.serve, addr)?;
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
    // Bound before the database is opened: a port in use must leave no new file behind.
    let socket =
        std::net::TcpListener::bind(addr).map_err(|e| CliError::Service(format!("binding {addr}: {e}")))?;
    socket.set_nonblocking(true).map_err(|e| CliError::Service(format!("binding {addr}: {e}")))?;
    let prometheus = PrometheusBuilder::new()
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Full("sqlretry_serve_ack_seconds".into()),
            &[0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0],
        )
        .map_err(|e| CliError::Service(format!("cannot configure the metrics recorder: {e}")))?
        .install_recorder()
        .map_err(|e| CliError::Service(format!("cannot install the metrics recorder: {e}")))?;
    describe::describe();
    let writer = Writer::open_with(&args.db, options.with_name(describe::WRITER))
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
    let outcome = runtime.block_on(serve(
        socket,
        guards,
        config.serve,
        Ingest { writer, model, parser },
        reads,
        prometheus,
    ));
    // Tasks cut at the drain deadline (a WebSocket waiting on a stuck write) must not hold the
    // exit: the drain already decided what was acknowledged.
    runtime.shutdown_timeout(Duration::from_millis(100));
    outcome
}

/// The write side the handlers share.
struct Ingest {
    writer: Writer,
    model: Arc<model::Model>,
    parser: tick::TickParser,
}

/// The address to listen on, and the name of where it came from (for errors): the flag, the
/// `SQLRETRY_SERVE_LISTEN` variable, or the configuration file.
fn listen_address(configured: &str, flag: Option<String>) -> Result<(SocketAddr, &'static str), CliError> {
    let (text, source) = match flag {
        Some(text) => (text, "--listen"),
        None if std::env::var_os("SQLRETRY_SERVE_LISTEN").is_some() => {
            (configured.to_owned(), "SQLRETRY_SERVE_LISTEN")
        }
        None => (configured.to_owned(), "[serve] listen"),
    };
    let addr = text.parse().map_err(|e| CliError::usage(source, format!("{text}: {e}")))?;
    Ok((addr, source))
}

async fn serve(
    socket: std::net::TcpListener,
    guards: Protection,
    config: self::config::ServeConfig,
    ingest: Ingest,
    reads: Arc<reads::ReadState>,
    prometheus: metrics_exporter_prometheus::PrometheusHandle,
) -> Result<ExitCode, CliError> {
    let Ingest { writer, model, parser } = ingest;
    let listener = tokio::net::TcpListener::from_std(socket).map_err(|e| CliError::Service(e.to_string()))?;
    let bound = listener.local_addr().map_err(|e| CliError::Service(e.to_string()))?;
    let (stop, stopping) = watch::channel(false);
    let drain_timeout = config.drain_timeout;
    let open = OpenConnections::new(guards.limits.max_connections);
    let state = Arc::new(AppState {
        ticks: TickWriter::new(writer.clone(), model, Arc::new(TickCounters::new())),
        parser,
        reads,
        inflight: Arc::new(Semaphore::new(config.inflight_total)),
        monitor: Mutex::new(Monitor::new(&config)),
        config,
        prometheus,
        stopping: stopping.clone(),
        connections: Arc::new(Semaphore::new(state::MAX_CONNECTIONS as usize)),
        open: Arc::clone(&open),
        ws_idle_timeout: guards.limits.ws_idle_timeout,
    });
    let monitor = tokio::spawn(monitor(Arc::clone(&state)));
    if guards.tokens.is_empty() {
        tracing::warn!("no tokens configured: any local process may write and read (loopback only)");
    } else {
        tracing::info!(tokens = guards.tokens.len(), "bearer tokens required");
    }
    let app = routes::router(Arc::clone(&state), &guards);
    let signals = shutdown::Signals::install();
    let signal = tokio::spawn(async move {
        signals.recv().await;
        let _ = stop.send(true);
    });
    let (http, ws) = if guards.tls.is_some() { ("https", "wss") } else { ("http", "ws") };
    println!("sqlretry serve: listening on {http}://{bound} (WebSocket {ws}://{bound}/ws/ticks)");
    let accept = listener::Listener { tcp: listener, tls: guards.tls.clone(), limits: guards.limits, open };
    let (started, http_cut) = listener::serve(accept, app, stopping, drain_timeout).await;
    signal.abort();
    let deadline = started + drain_timeout;
    // Every WebSocket connection holds a permit until it acknowledged what it took and closed.
    let all = state.connections.acquire_many(state::MAX_CONNECTIONS);
    let ws_cut = match tokio::time::timeout_at(deadline.into(), all).await {
        Ok(_) => 0,
        Err(_) => state::MAX_CONNECTIONS as usize - state.connections.available_permits(),
    };
    let _ = monitor.await;
    // The writer commits (or dead-letters) what it holds; half a second past the deadline at most.
    let remaining = deadline.saturating_duration_since(Instant::now()) + Duration::from_millis(500);
    let metrics =
        tokio::time::timeout(remaining, tokio::task::spawn_blocking(move || writer.shutdown())).await;
    let stats = state.tick_stats();
    let cut = http_cut + ws_cut;
    match metrics {
        Ok(Ok(Ok(_))) => {
            tracing::info!(ticks_written = stats.ticks_written, connections_cut = cut, "drained");
            eprintln!(
                "sqlretry serve: drained in {:?}: {} ticks written, {} duplicates, {} dead-lettered, {} lost; \
                 {cut} connection(s) cut at the {drain_timeout:?} drain deadline ({http_cut} HTTP, {ws_cut} WebSocket); \
                 nothing acknowledged was lost (acks are sent only after COMMIT)",
                started.elapsed(),
                stats.ticks_written,
                stats.ticks_duplicate,
                stats.ticks_dead_lettered,
                stats.ticks_lost
            );
            Ok(ExitCode::SUCCESS)
        }
        outcome => Err(CliError::Service(format!(
            "drain incomplete after {drain_timeout:?}: the writer did not shut down ({outcome:?}); \
             {cut} connection(s) cut; nothing acknowledged was lost (acks are sent only after COMMIT)"
        ))),
    }
}

/// Once a second: rates and alert rules (log, gauge, webhook); the writer's retries as a
/// Prometheus counter; Prometheus upkeep. Ends on drain (a webhook in progress is abandoned).
async fn monitor(state: Arc<AppState>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut stopping = state.stopping.clone();
    let source = alerts::Source::new(state.ticks.writer().path().display().to_string());
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopping.wait_for(|s| *s) => return,
        }
        let metrics = state.ticks.writer().metrics();
        metrics::counter!("sqlretry_writer_retries_total", "writer" => describe::WRITER)
            .absolute(metrics.retries_total);
        let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
        let c = state.ticks.counters();
        let counts = alerts::Counts {
            retries: metrics.retries_total,
            ticks: load(&c.written),
            messages_written: load(&c.messages_written),
            messages_failed: load(&c.messages_failed),
        };
        let changes =
            state.monitor.lock().unwrap_or_else(PoisonError::into_inner).observe(Instant::now(), counts);
        for change in &changes {
            let last_error = state.ticks.health().last_error().map(|(e, _)| e);
            let body = alerts::payload(change, &source, last_error.as_deref(), std::time::SystemTime::now());
            tokio::select! {
                () = alerts::announce(change, state.config.webhook_url.as_deref(), &body) => {}
                _ = stopping.wait_for(|s| *s) => return,
            }
        }
        state.prometheus.run_upkeep();
    }
}
