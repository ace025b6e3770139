//! The engine's counters, gauges and histograms (a writer's, or a store's grouped writes'): a
//! serde snapshot, the `metrics` facade, and health over the recent past.
//!
//! Every counter is kept twice: in atomics read by [`WriterMetrics::snapshot`], and through the
//! `metrics` facade (`sqlretry_writer_*`, labelled `writer = <name>`) for whichever recorder the
//! application installed (Prometheus, StatsD, none).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;

use crate::observer::{Observer, RetryEvent};

/// Live metrics of one [`Writer`](crate::writer::Writer); shared by its thread and handles.
#[derive(Debug)]
pub(crate) struct WriterMetrics {
    name: metrics::SharedString,
    alert_threshold: u64,
    /// How many transactions after a loss the writer stays unhealthy.
    health_window: u64,
    groups_committed: AtomicU64,
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
    /// Cleared for good when the engine's thread ended unexpectedly.
    thread_alive: std::sync::atomic::AtomicBool,
    /// The last loss: the transactions committed before it, and what was lost. The writer is
    /// unhealthy until `health_window` more transactions committed (see [`WriterMetrics::health`]).
    last_loss: Mutex<Option<(u64, String)>>,
    /// Whether `last_loss` is set: the commit path reads only this while all is well.
    loss_recent: std::sync::atomic::AtomicBool,
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

/// A point-in-time copy of a writer's metrics , serializable.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct WriterMetricsSnapshot {
    /// Group transactions committed (each one group of submitted requests).
    pub groups_committed: u64,
    /// Ingest batches committed (each one transaction of appended rows).
    pub batches_written: u64,
    /// Transactions (groups or ingest batches) that gave up after the retry policy (their
    /// requests failed or their rows were dead-lettered).
    pub batch_failures: u64,
    /// Ingested rows committed to the database.
    pub rows_written: u64,
    /// Ingested rows kept in the dead-letter store after their batch failed.
    pub rows_dead_lettered: u64,
    /// Rows neither written nor dead-lettered (the dead-letter store itself failed). Stays 0.
    pub rows_lost: u64,
    /// Rows written back by [`Writer::replay`](crate::writer::Writer::replay).
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
    /// `(groups_committed + batches_written) / (the same + batch_failures)`; `None` before the
    /// first transaction.
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
    /// `false` while the recent past went wrong: rows were lost (a row's `values` panicked, or
    /// the dead-letter store refused a batch) within the last few transactions, or the writer
    /// thread ended unexpectedly. What a health check should report; it recovers once writes
    /// commit again.
    pub healthy: bool,
    /// Why the writer is unhealthy, readable (`None` when healthy).
    pub health_reason: Option<String>,
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
    pub(crate) fn new(name: String, alert_threshold: u64, health_window: usize) -> Self {
        WriterMetrics {
            name: name.into(),
            alert_threshold,
            health_window: health_window.max(1) as u64,
            groups_committed: AtomicU64::new(0),
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
            thread_alive: std::sync::atomic::AtomicBool::new(true),
            last_loss: Mutex::new(None),
            loss_recent: std::sync::atomic::AtomicBool::new(false),
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

    /// A committed group transaction: `requests` submitted requests committed.
    pub(crate) fn group_committed(&self, requests: u64) {
        self.count(&self.groups_committed, "sqlretry_writer_groups_committed_total", 1);
        if requests > 0 {
            self.count(&self.requests_committed, "sqlretry_writer_requests_committed_total", requests);
        }
        self.recovering();
    }

    /// A committed ingest batch: `rows` ingested rows written (rows ignored as duplicates of their
    /// natural key included).
    pub(crate) fn batch_written(&self, rows: u64) {
        self.count(&self.batches_written, "sqlretry_writer_batches_written_total", 1);
        if rows > 0 {
            self.count(&self.rows_written, "sqlretry_writer_rows_written_total", rows);
        }
        self.recovering();
    }

    /// Transactions committed so far, groups and batches.
    fn transactions(&self) -> u64 {
        self.groups_committed.load(Ordering::Relaxed) + self.batches_written.load(Ordering::Relaxed)
    }

    /// After a commit: the gauge back to healthy once the last loss is `health_window`
    /// transactions old. One lock, only while a loss is recent.
    fn recovering(&self) {
        if !self.loss_recent.load(Ordering::Relaxed) {
            return;
        }
        let mut last = self.last_loss.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((at, _)) = &*last
            && self.transactions().saturating_sub(*at) >= self.health_window
        {
            *last = None;
            self.loss_recent.store(false, Ordering::Relaxed);
            drop(last);
            if self.thread_alive.load(Ordering::Relaxed) {
                metrics::gauge!("sqlretry_writer_healthy", "writer" => self.name.clone()).set(1.0);
                tracing::info!(writer = %self.name, "writes commit again: the writer reports itself healthy");
            }
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

    /// `rows` were lost, for `reason`: unhealthy for the next `health_window` transactions.
    pub(crate) fn lost(&self, rows: u64, reason: &str) {
        self.count(&self.rows_lost, "sqlretry_writer_rows_lost_total", rows);
        *self.last_loss.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((self.transactions(), format!("{rows} row(s) lost: {reason}")));
        self.loss_recent.store(true, Ordering::Relaxed);
        metrics::gauge!("sqlretry_writer_healthy", "writer" => self.name.clone()).set(0.0);
    }

    /// The engine's thread ended unexpectedly: unhealthy for good.
    pub(crate) fn thread_ended(&self) {
        self.thread_alive.store(false, Ordering::Relaxed);
        metrics::gauge!("sqlretry_writer_healthy", "writer" => self.name.clone()).set(0.0);
    }

    /// `None` when healthy; else why not. Unhealthy: the thread ended, or rows were lost within
    /// the last `health_window` committed transactions (so it recovers once writes commit again).
    pub(crate) fn health(&self) -> Option<String> {
        if !self.thread_alive.load(Ordering::Relaxed) {
            return Some("the writer thread ended".to_owned());
        }
        let last = self.last_loss.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (at, reason) = last.as_ref()?;
        let since = self.transactions().saturating_sub(*at);
        (since < self.health_window)
            .then(|| format!("{reason} ({since} of {} transactions committed since)", self.health_window))
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
        let (groups, batches, failed) =
            (load(&self.groups_committed), load(&self.batches_written), load(&self.batch_failures));
        let written = groups + batches;
        let health_reason = self.health();
        let last = self.last_error.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        WriterMetricsSnapshot {
            groups_committed: groups,
            batches_written: batches,
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
            healthy: health_reason.is_none(),
            health_reason,
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
        let m = WriterMetrics::new("t".into(), 2, 2);
        let holds = crate::sqlite::LockHold::new(Duration::from_secs(1));
        assert_eq!(m.snapshot(&holds).batch_success_rate, None);
        m.group_committed(3);
        holds.record(Duration::from_micros(40), std::path::Path::new("t.db"));
        for _ in 0..3 {
            m.batch_failed(&"database is locked", 2);
        }
        let s = m.snapshot(&holds);
        assert_eq!((s.groups_committed, s.batch_failures, s.requests_failed), (1, 3, 6));
        assert_eq!(s.alerts, 1); // only the third failure is past 2
        assert_eq!(s.batch_success_rate, Some(0.25));
        assert_eq!(s.last_batch_error.as_deref(), Some("database is locked"));
        assert!(s.last_batch_error_at.is_some());
        assert_eq!(s.lock_hold.count, 1);
        assert!((39..=41).contains(&s.lock_hold.max_us), "{:?}", s.lock_hold);
        assert!(s.healthy);
        m.lost(5, "the dead-letter store refused them");
        let s = m.snapshot(&holds);
        assert_eq!(s.rows_lost, 5);
        assert!(!s.healthy, "lost rows make the writer unhealthy");
        let reason = s.health_reason.unwrap_or_default();
        assert!(reason.contains("5 row(s) lost: the dead-letter store refused them"), "{reason}");
        // Healthy again once two transactions (the window) committed after the loss.
        m.batch_written(10);
        assert!(!m.snapshot(&holds).healthy);
        m.group_committed(1);
        let s = m.snapshot(&holds);
        assert!(s.healthy && s.health_reason.is_none(), "{s:?}");
        // A thread that ended is not forgiven.
        m.thread_ended();
        m.group_committed(1);
        assert_eq!(m.health().as_deref(), Some("the writer thread ended"));
    }
}
