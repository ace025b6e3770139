//! `sqlretry load`: the tick store's load test as a command — N WebSocket connections × R ticks/s × D
//! against a running `sqlretry serve`, paced, with reconnect-and-resend; reports sent,
//! acknowledged, duplicates, present, lost, retries, ack latency; exit 1 if anything acknowledged
//! is missing (or never acknowledged). `--max` ramps the rate until ack p99 passes a bound.
//!
//! # Design
//!
//! One tokio runtime; one task per connection (joined), one progress task (joined). Every wait is
//! bounded: connections give up at `duration + 30 s`, HTTP calls after 5 s.

mod conn;
mod report;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::args::LoadArgs;
use crate::error::CliError;

use self::report::Report;
use super::http_client::{Client, request_with};

/// Runs the load test (or the `--max` ramp).
///
/// # Errors
///
/// A usage error for bad flags; a service error when the runtime cannot start.
pub fn run(args: LoadArgs) -> Result<ExitCode, CliError> {
    if args.connections == 0 || args.rate == 0 || args.batch == 0 {
        return Err(CliError::usage("--connections/--rate/--batch", "must be at least 1"));
    }
    if !args.url.starts_with("http://") && !args.url.starts_with("https://") {
        return Err(CliError::usage(
            "--url",
            format!("{}: expected http://host:port or https://host:port", args.url),
        ));
    }
    let tls = if args.url.starts_with("https://") || args.ca.is_some() {
        Some(
            crate::cmd::tls_client::client_config(args.ca.as_deref())
                .map_err(|e| CliError::usage("--ca", e))?,
        )
    } else {
        None
    };
    let client = Client { tls, token: args.token.clone() };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("sqlretry-load")
        .build()
        .map_err(|e| CliError::Service(format!("starting the runtime: {e}")))?;
    runtime.block_on(async {
        reachable(&client, &args.url).await?;
        if args.max {
            ramp(&args, &client).await
        } else {
            once(&args, &client, args.rate, !args.quiet && !args.json).await
        }
    })
}

/// Fails fast, naming the cause ("Connection refused"), when nothing answers at `url`.
async fn reachable(client: &Client, url: &str) -> Result<(), CliError> {
    let probe = format!("{}/healthz", url.trim_end_matches('/'));
    request_with(client, "GET", &probe, None, Duration::from_secs(5))
        .await
        .map(|_| ())
        .map_err(|e| CliError::Service(format!("cannot reach the server at {url}: {e}")))
}

async fn once(args: &LoadArgs, client: &Client, rate: u64, progress_bar: bool) -> Result<ExitCode, CliError> {
    let report = measure(args, client, rate, progress_bar).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    } else {
        print!("{}", report.text());
    }
    Ok(if report.ok() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// `--max`: rate × 1.5 per step of `--duration` until p99 > bound or anything is lost.
async fn ramp(args: &LoadArgs, client: &Client) -> Result<ExitCode, CliError> {
    let mut rate = args.rate;
    let mut best: Option<Report> = None;
    let mut steps = Vec::new();
    loop {
        let report = measure(args, client, rate, false).await?;
        let within = report.ok() && report.ack_p99_ms <= args.p99_bound.as_secs_f64() * 1000.0;
        if !args.json {
            eprintln!(
                "step: {} ticks/s target, {:.0} achieved, p99 {:.2} ms, lost {}, unacked {} -> {}",
                report.target_rate,
                report.achieved_rate,
                report.ack_p99_ms,
                report.lost,
                report.unacknowledged,
                if within { "within" } else { "past the bound" }
            );
        }
        steps.push(report.clone());
        if !within || steps.len() >= 12 {
            break;
        }
        best = Some(report);
        rate = rate.saturating_mul(3) / 2;
    }
    let sustainable = best.as_ref().map_or(0.0, |b| b.achieved_rate);
    if args.json {
        let out =
            serde_json::json!({"sustainable_ticks_per_second": sustainable, "best": best, "steps": steps});
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        println!("sustainable: {sustainable:.0} ticks/s with ack p99 <= {:?}", args.p99_bound);
        if let Some(b) = &best {
            print!("{}", b.text());
        }
    }
    Ok(if best.is_some() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// `ticks_written` and `retries_total` from the server's tick-stats.
async fn server_stats(client: &Client, base: &str) -> Option<(u64, u64, Option<f64>)> {
    let url = format!("{}/api/tick-stats", base.trim_end_matches('/'));
    let (status, body) = request_with(client, "GET", &url, None, Duration::from_secs(5)).await.ok()?;
    let v: serde_json::Value = serde_json::from_slice(&body).ok().filter(|_| status == 200)?;
    Some((v["ticks_written"].as_u64()?, v["retries_total"].as_u64()?, v["batch_success_rate"].as_f64()))
}

async fn measure(
    args: &LoadArgs,
    client: &Client,
    rate: u64,
    progress_bar: bool,
) -> Result<Report, CliError> {
    let base = args.url.trim_end_matches('/');
    let ws_url = match base.strip_prefix("https://") {
        Some(authority) => format!("wss://{authority}/ws/ticks"),
        None => format!("ws://{}/ws/ticks", base.trim_start_matches("http://")),
    };
    let before = server_stats(client, base).await;
    let total = rate.saturating_mul(args.duration.as_millis() as u64) / 1000;
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let deadline = Instant::now() + args.duration + Duration::from_secs(30);
    let progress = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..args.connections)
        .map(|i| {
            let plan = conn::Plan {
                url: ws_url.clone(),
                symbol: format!("LOAD{i:04}"),
                base: now_ms,
                kind: args.ticks,
                tag: format!("load-{now_ms}"),
                number: i,
                rate,
                batch: args.batch,
                total,
                deadline,
                tls: client.tls.clone(),
                token: client.token.clone(),
            };
            tokio::spawn(conn::run(plan, Arc::clone(&progress)))
        })
        .collect();
    let bar = progress_bar.then(|| {
        let bar = indicatif::ProgressBar::new(total * args.connections as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40}] {pos}/{len} acked ({per_sec})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let mut results = Vec::with_capacity(tasks.len());
    let watcher = bar.clone().map(|bar| {
        let progress = Arc::clone(&progress);
        tokio::spawn(async move {
            loop {
                bar.set_position(progress.load(Ordering::Relaxed));
                if bar.is_finished() || Instant::now() > deadline {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    });
    for task in tasks {
        results.push(task.await.map_err(|e| CliError::Service(format!("a load connection failed: {e}")))?);
    }
    let elapsed = started.elapsed();
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    if let Some(w) = watcher {
        let _ = w.await;
    }
    let mut report = Report::sum(&results, rate * args.connections as u64, elapsed);
    let after = server_stats(client, base).await;
    if let (Some(b), Some(a)) = (before, after) {
        report.server_retries = Some(a.1.saturating_sub(b.1));
        report.success_rate = a.2;
        if args.db.is_none() {
            report.verify_by_stats(a.0.saturating_sub(b.0));
        }
    }
    if let Some(db) = &args.db {
        report
            .verify_in_file(db, &results, args.ticks)
            .map_err(CliError::sqlite(format!("verifying {}", db.display())))?;
    }
    Ok(report)
}
