//! The writer's counters, gauges and histograms: a serde snapshot, and the `metrics` facade.
//!
//! Every counter is kept twice: in atomics read by [`WriterMetrics::snapshot`], and through the
//! `metrics` facade (`sqlretry_writer_*`, labelled `writer = <name>`) for whichever recorder the
//! application installed (Prometheus, StatsD, none).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;

use crate::observer::{Observer, RetryEvent};

/// Live metrics of one [`Writer`](super::Writer); shared by its thread and handles.
#[derive(Debug)]
pub(crate) struct WriterMetrics {
    name: metrics::SharedString,
    alert_threshold: u64,
    batches_written: AtomicU64,
    batch_failures: AtomicU64,
    rows_written: AtomicU64,
    rows_dead_lettered: AtomicU64,
    rows_lost: AtomicU64,
    rows_replayed: AtomicU64,
    retries_total: AtomicU64,
    requests_committed: AtomicU64,
    requests_rejected: AtomicU64,
    requests_failed: AtomicU64,
    alerts: AtomicU64,
    queue_depth: AtomicU64,
    ingest_buffered: AtomicU64,
    last_error: Mutex<Option<(String, SystemTime)>>,
    flush_latency: Mutex<Histogram<u64>>,
    /// Cleared when rows were lost (the dead-letter store refused them) or the writer thread
    /// ended unexpectedly; a health check reads it ([`Writer::is_healthy`](super::Writer::is_healthy)).
    healthy: std::sync::atomic::AtomicBool,
}

/// A summary of a latency histogram, in microseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct LatencySummary {
    /// Values recorded.
    pub count: u64,
    /// Median, µs.
    pub p50_us: u64,
    /// 99th percentile, µs.
    pub p99_us: u64,
    /// Largest value, µs.
    pub max_us: u64,
}

/// A point-in-time copy of a writer's metrics (spec 002's set and more), serializable.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct WriterMetricsSnapshot {
    /// Transactions committed (request groups and ingest batches).
    pub batches_written: u64,
    /// Transactions that gave up after the retry policy (their requests failed or their rows were
    /// dead-lettered).
    pub batch_failures: u64,
    /// Ingested rows committed to the database.
    pub rows_written: u64,
    /// Ingested rows kept in the dead-letter store after their batch failed.
    pub rows_dead_lettered: u64,
    /// Rows neither written nor dead-lettered (the dead-letter store itself failed). Stays 0.
    pub rows_lost: u64,
    /// Rows written back by [`Writer::replay`](super::Writer::replay).
    pub rows_replayed: u64,
    /// Retries of whole transactions.
    pub retries_total: u64,
    /// Submitted requests committed.
    pub requests_committed: u64,
    /// Submitted requests rolled back alone for a permanent error of their own.
    pub requests_rejected: u64,
    /// Submitted requests whose group gave up.
    pub requests_failed: u64,
    /// Alerts raised (batch failures past the threshold).
    pub alerts: u64,
    /// `batches_written / (batches_written + batch_failures)`; `None` before the first batch.
    pub batch_success_rate: Option<f64>,
    /// The last failed batch's error.
    pub last_batch_error: Option<String>,
    /// When it failed (RFC 3339, UTC).
    pub last_batch_error_at: Option<String>,
    /// Requests waiting in the queue.
    pub queue_depth: u64,
    /// Rows waiting in ingest buffers.
    pub ingest_buffered: u64,
    /// Time to write one transaction, retries included.
    pub flush_latency: LatencySummary,
    /// Time SQLite's write lock was held (BEGIN IMMEDIATE to COMMIT or ROLLBACK) per transaction
    /// attempt: the same histogram as [`Store::lock_hold`](crate::sqlite::Store::lock_hold)'s
    /// (metric `sqlretry_sqlite_lock_hold_seconds`, a warning past 1 s).
    pub lock_hold: LatencySummary,
    /// `false` once rows were lost (the dead-letter store refused them too) or the writer thread
    /// ended unexpectedly: what a health check should report.
    pub healthy: bool,
}

fn histogram() -> Mutex<Histogram<u64>> {
    // 1 µs .. 1 h at 3 significant digits, auto-resizing past that.
    let mut h = Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("constant, valid bounds");
    h.auto(true);
    Mutex::new(h)
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

fn summary(h: &Mutex<Histogram<u64>>) -> LatencySummary {
    let h = h.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    LatencySummary {
        count: h.len(),
        p50_us: h.value_at_quantile(0.5),
        p99_us: h.value_at_quantile(0.99),
        max_us: h.max(),
    }
}

impl WriterMetrics {
    pub(crate) fn new(name: String, alert_threshold: u64) -> Self {
        WriterMetrics {
            name: name.into(),
            alert_threshold,
            batches_written: AtomicU64::new(0),
            batch_failures: AtomicU64::new(0),
            rows_written: AtomicU64::new(0),
            rows_dead_lettered: AtomicU64::new(0),
            rows_lost: AtomicU64::new(0),
            rows_replayed: AtomicU64::new(0),
            retries_total: AtomicU64::new(0),
            requests_committed: AtomicU64::new(0),
            requests_rejected: AtomicU64::new(0),
            requests_failed: AtomicU64::new(0),
            alerts: AtomicU64::new(0),
            queue_depth: AtomicU64::new(0),
            ingest_buffered: AtomicU64::new(0),
            last_error: Mutex::new(None),
            flush_latency: histogram(),
            healthy: std::sync::atomic::AtomicBool::new(true),
        }
    }

    /// The writer's name (the `writer` label of its metrics).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    fn count(&self, cell: &AtomicU64, metric: &'static str, n: u64) {
        cell.fetch_add(n, Ordering::Relaxed);
        metrics::counter!(metric, "writer" => self.name.clone()).increment(n);
    }

    /// A committed transaction: `requests` submitted requests committed, `rows` ingested rows
    /// written (rows ignored as duplicates of their natural key included).
    pub(crate) fn committed(&self, requests: u64, rows: u64) {
        self.count(&self.batches_written, "sqlretry_writer_batches_written_total", 1);
        if requests > 0 {
            self.count(&self.requests_committed, "sqlretry_writer_requests_committed_total", requests);
        }
        if rows > 0 {
            self.count(&self.rows_written, "sqlretry_writer_rows_written_total", rows);
        }
    }

    pub(crate) fn rejected(&self, requests: u64) {
        if requests > 0 {
            self.count(&self.requests_rejected, "sqlretry_writer_requests_rejected_total", requests);
        }
    }

    pub(crate) fn flushed(&self, latency: Duration) {
        self.record(&self.flush_latency, "sqlretry_writer_flush_seconds", latency);
    }

    fn record(&self, h: &Mutex<Histogram<u64>>, metric: &'static str, d: Duration) {
        let _ = h.lock().unwrap_or_else(std::sync::PoisonError::into_inner).record(micros(d));
        metrics::histogram!(metric, "writer" => self.name.clone()).record(d.as_secs_f64());
    }

    /// A transaction gave up: counts it, keeps the error, raises the alert past the threshold.
    pub(crate) fn batch_failed(&self, error: &dyn std::fmt::Display, requests: u64) {
        let failures = self.batch_failures.fetch_add(1, Ordering::Relaxed) + 1;
        metrics::counter!("sqlretry_writer_batch_failures_total", "writer" => self.name.clone()).increment(1);
        if requests > 0 {
            self.count(&self.requests_failed, "sqlretry_writer_requests_failed_total", requests);
        }
        *self.last_error.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((error.to_string(), SystemTime::now()));
        if failures > self.alert_threshold {
            self.count(&self.alerts, "sqlretry_writer_alerts_total", 1);
            tracing::error!(
                writer = %self.name,
                failures,
                threshold = self.alert_threshold,
                error = %error,
                "ALERT: batch failures past the threshold",
            );
        }
    }

    pub(crate) fn dead_lettered(&self, rows: u64) {
        self.count(&self.rows_dead_lettered, "sqlretry_writer_rows_dead_lettered_total", rows);
    }

    pub(crate) fn lost(&self, rows: u64) {
        self.count(&self.rows_lost, "sqlretry_writer_rows_lost_total", rows);
        self.set_unhealthy();
    }

    /// Marks the writer unhealthy (a gauge of 0, and [`WriterMetrics::healthy`]).
    pub(crate) fn set_unhealthy(&self) {
        self.healthy.store(false, Ordering::Relaxed);
        metrics::gauge!("sqlretry_writer_healthy", "writer" => self.name.clone()).set(0.0);
    }

    /// Whether nothing was lost and the writer thread runs.
    pub(crate) fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    pub(crate) fn replayed(&self, rows: u64) {
        self.count(&self.rows_replayed, "sqlretry_writer_rows_replayed_total", rows);
    }

    /// Keeps the queue depth; publishes it to the facade when `publish` (once per group, not per
    /// request, to keep the submit path cheap).
    pub(crate) fn set_queue_depth(&self, depth: usize, publish: bool) {
        let depth = depth as u64;
        self.queue_depth.store(depth, Ordering::Relaxed);
        if publish {
            metrics::gauge!("sqlretry_writer_queue_depth", "writer" => self.name.clone()).set(depth as f64);
        }
    }

    /// Rows left in an ingest buffer after a batch was taken.
    pub(crate) fn set_buffered(&self, rows: usize) {
        let rows = rows as u64;
        self.ingest_buffered.store(rows, Ordering::Relaxed);
        metrics::gauge!("sqlretry_writer_ingest_buffered", "writer" => self.name.clone()).set(rows as f64);
    }

    /// A point-in-time copy, with the lock holds of the writer's connection.
    #[must_use]
    pub fn snapshot(&self, lock_hold: &crate::sqlite::LockHold) -> WriterMetricsSnapshot {
        let holds = lock_hold.snapshot();
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let (written, failed) = (load(&self.batches_written), load(&self.batch_failures));
        let last = self.last_error.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        WriterMetricsSnapshot {
            batches_written: written,
            batch_failures: failed,
            rows_written: load(&self.rows_written),
            rows_dead_lettered: load(&self.rows_dead_lettered),
            rows_lost: load(&self.rows_lost),
            rows_replayed: load(&self.rows_replayed),
            retries_total: load(&self.retries_total),
            requests_committed: load(&self.requests_committed),
            requests_rejected: load(&self.requests_rejected),
            requests_failed: load(&self.requests_failed),
            alerts: load(&self.alerts),
            batch_success_rate: (written + failed > 0).then(|| written as f64 / (written + failed) as f64),
            last_batch_error_at: last
                .as_ref()
                .map(|(_, at)| humantime::format_rfc3339_millis(*at).to_string()),
            last_batch_error: last.map(|(error, _)| error),
            queue_depth: load(&self.queue_depth),
            ingest_buffered: load(&self.ingest_buffered),
            flush_latency: summary(&self.flush_latency),
            lock_hold: LatencySummary {
                count: holds.count,
                p50_us: micros(holds.p50),
                p99_us: micros(holds.p99),
                max_us: micros(holds.max),
            },
            healthy: self.healthy(),
        }
    }
}

/// Counts the retries of the writer's transactions.
impl Observer for WriterMetrics {
    fn on_retry(&self, _event: &RetryEvent<'_>) {
        self.count(&self.retries_total, "sqlretry_writer_retries_total", 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_rate_last_error_and_the_alert_past_the_threshold() {
        let m = WriterMetrics::new("t".into(), 2);
        let holds = crate::sqlite::LockHold::new(Duration::from_secs(1));
        assert_eq!(m.snapshot(&holds).batch_success_rate, None);
        m.committed(3, 0);
        holds.record(Duration::from_micros(40), std::path::Path::new("t.db"));
        for _ in 0..3 {
            m.batch_failed(&"database is locked", 2);
        }
        let s = m.snapshot(&holds);
        assert_eq!((s.batches_written, s.batch_failures, s.requests_failed), (1, 3, 6));
        assert_eq!(s.alerts, 1); // only the third failure is past 2
        assert_eq!(s.batch_success_rate, Some(0.25));
        assert_eq!(s.last_batch_error.as_deref(), Some("database is locked"));
        assert!(s.last_batch_error_at.is_some());
        assert_eq!(s.lock_hold.count, 1);
        assert!((39..=41).contains(&s.lock_hold.max_us), "{:?}", s.lock_hold);
        assert!(s.healthy);
        m.lost(5);
        let s = m.snapshot(&holds);
        assert_eq!(s.rows_lost, 5);
        assert!(!s.healthy, "lost rows make the writer unhealthy");
    }
}
