//! The service's own counters, and `GET /api/tick-stats`: the tick store's statistics fields,
//! the writer's figures where they are the writer's, plus duplicates, dead letters, rate, uptime.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde::Serialize;
use sqlretry::writer::WriterMetricsSnapshot;

/// Counters of ticks by outcome; shared by every connection.
#[derive(Debug)]
pub struct TickCounters {
    started: Instant,
    /// Ticks committed that were new rows.
    pub written: AtomicU64,
    /// Ticks committed that were already there (a resend).
    pub duplicates: AtomicU64,
    /// Ticks of batches that exhausted their retries, kept in the dead-letter store.
    pub dead_lettered: AtomicU64,
    /// Ticks neither committed nor kept (the dead-letter store refused them; the writer's
    /// `rows_lost` counts them too). Stays 0.
    pub lost: AtomicU64,
    /// Messages refused for bad input (400).
    pub rejected: AtomicU64,
    /// HTTP bodies refused because ingest was full (503).
    pub busy: AtomicU64,
    /// Messages (HTTP bodies, WebSocket messages) committed.
    pub messages_written: AtomicU64,
    /// Messages not committed (dead-lettered or lost).
    pub messages_failed: AtomicU64,
    /// Messages not committed and kept in the dead-letter store.
    pub messages_dead_lettered: AtomicU64,
    /// Ticks of messages not committed (dead-lettered or lost).
    pub ticks_failed: AtomicU64,
}

impl TickCounters {
    /// Zeroed counters; uptime starts now.
    pub fn new() -> Self {
        TickCounters {
            started: Instant::now(),
            written: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            dead_lettered: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            busy: AtomicU64::new(0),
            messages_written: AtomicU64::new(0),
            messages_failed: AtomicU64::new(0),
            messages_dead_lettered: AtomicU64::new(0),
            ticks_failed: AtomicU64::new(0),
        }
    }

    /// Adds `n` to `counter` and to the Prometheus counter `name`.
    pub fn add(counter: &AtomicU64, name: &'static str, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
        metrics::counter!(name).increment(n);
    }

    /// Seconds since the service started.
    pub fn uptime_seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

/// The body of `GET /api/tick-stats`.
#[derive(Debug, Serialize)]
pub struct TickStats {
    /// The database file.
    pub db_path: String,
    /// Messages waiting for their commit: those being written (each holds an in-flight permit)
    /// or the writer's queue, whichever is larger (a queued message is both).
    pub queue_size: u64,
    /// Messages and bodies being written now (bounded by `inflight_total`).
    pub in_flight: u64,
    /// Transactions committed.
    pub batches_written: u64,
    /// Transactions that gave up after their retries.
    pub batch_failures: u64,
    /// New ticks committed.
    pub ticks_written: u64,
    /// Ticks neither committed nor dead-lettered.
    pub ticks_lost: u64,
    /// Retries of whole transactions.
    pub retries_total: u64,
    /// The last failed batch's error.
    pub last_batch_error: Option<String>,
    /// When it failed (RFC 3339).
    pub last_batch_error_time: Option<String>,
    /// `batches_written / (batches_written + batch_failures)`.
    pub batch_success_rate: Option<f64>,
    /// Ticks committed that were already stored (resends).
    pub ticks_duplicate: u64,
    /// Ticks kept in the dead-letter store (replay with `sqlretry dead-letters replay`).
    pub ticks_dead_lettered: u64,
    /// Messages refused for bad input.
    pub messages_rejected: u64,
    /// HTTP bodies refused with 503 because ingest was full.
    pub messages_busy: u64,
    /// New ticks per second over the last 10 s.
    pub ticks_per_second: f64,
    /// Retries in the last minute.
    pub retries_per_minute: u64,
    /// Alert rules firing now.
    pub alerts_active: Vec<&'static str>,
    /// Seconds since the service started.
    pub uptime_seconds: f64,
    /// Ticks of messages that were not committed (dead-lettered or lost).
    pub ticks_failed: u64,
    /// Messages committed.
    pub messages_written: u64,
    /// Messages not committed (dead-lettered or lost).
    pub messages_failed: u64,
    /// Messages kept in the dead-letter store.
    pub messages_dead_lettered: u64,
    /// Failed messages in the alert window (the `batch_failures` rule's value).
    pub failures_in_window: u64,
    /// Message success rate over the success window (the `batch_success_rate` rule's value).
    pub success_rate_in_window: Option<f64>,
}

impl TickStats {
    /// Gathers the figures.
    pub fn gather(
        db_path: String,
        counters: &TickCounters,
        writer: &WriterMetricsSnapshot,
        in_flight: u64,
        recent: &super::alerts::Recent,
    ) -> Self {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        TickStats {
            db_path,
            queue_size: writer.queue_depth.max(in_flight),
            in_flight,
            // Every committed transaction: the requests' groups (each message is one request)
            // and any ingest batches.
            batches_written: writer.groups_committed + writer.batches_written,
            batch_failures: writer.batch_failures,
            ticks_written: load(&counters.written),
            ticks_lost: writer.rows_lost,
            retries_total: writer.retries_total,
            last_batch_error: writer.last_batch_error.clone(),
            last_batch_error_time: writer.last_batch_error_at.clone(),
            batch_success_rate: writer.batch_success_rate,
            ticks_duplicate: load(&counters.duplicates),
            ticks_dead_lettered: load(&counters.dead_lettered),
            messages_rejected: load(&counters.rejected),
            messages_busy: load(&counters.busy),
            ticks_per_second: recent.ticks_per_second,
            retries_per_minute: recent.retries_per_minute,
            alerts_active: recent.active.clone(),
            uptime_seconds: counters.uptime_seconds(),
            ticks_failed: load(&counters.ticks_failed),
            messages_written: load(&counters.messages_written),
            messages_failed: load(&counters.messages_failed),
            messages_dead_lettered: load(&counters.messages_dead_lettered),
            failures_in_window: recent.failures_in_window,
            success_rate_in_window: recent.success_rate_in_window,
        }
    }
}
