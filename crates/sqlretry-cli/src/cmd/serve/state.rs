//! What every handler shares: the write path, the configuration, the in-flight bound, the
//! Prometheus handle, the monitor's last figures and the shutdown signal.

use std::sync::{Arc, Mutex, PoisonError};

use super::config::ServeConfig;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::{Semaphore, watch};

use super::alerts::{Monitor, Recent};
use super::ingest::TickWriter;
use super::reads::ReadState;
use super::stats::TickStats;
use super::tick::TickParser;

/// Shared by the handlers (behind an `Arc`).
#[derive(Debug)]
pub struct AppState {
    /// The write path.
    pub ticks: TickWriter,
    /// Reads ticks of the configured model.
    pub parser: TickParser,
    /// The read endpoints' connections and settings.
    pub reads: Arc<ReadState>,
    /// `[serve]`.
    pub config: ServeConfig,
    /// Messages being written, all connections (`inflight_total` permits).
    pub inflight: Arc<Semaphore>,
    /// Renders `/metrics`.
    pub prometheus: PrometheusHandle,
    /// Rates and alerts, updated once a second.
    pub monitor: Mutex<Monitor>,
    /// Becomes `true` when the drain starts.
    pub stopping: watch::Receiver<bool>,
    /// One permit held by each WebSocket connection; the drain takes them all back.
    pub connections: Arc<Semaphore>,
    /// Open connections against the cap (a WebSocket counts from its upgrade to its close).
    pub open: Arc<super::limits::OpenConnections>,
    /// A silent WebSocket is pinged after half of this and closed after all of it.
    pub ws_idle_timeout: std::time::Duration,
}

/// Most WebSocket connections at once.
pub const MAX_CONNECTIONS: u32 = 1 << 16;

impl AppState {
    /// Messages being written now.
    pub fn in_flight(&self) -> u64 {
        self.config.inflight_total.saturating_sub(self.inflight.available_permits()) as u64
    }

    /// Whether the drain started.
    pub fn is_stopping(&self) -> bool {
        *self.stopping.borrow()
    }

    /// The monitor's last figures.
    pub fn recent(&self) -> Recent {
        self.monitor.lock().unwrap_or_else(PoisonError::into_inner).recent().clone()
    }

    /// `GET /api/tick-stats`'s body.
    pub fn tick_stats(self: &Arc<Self>) -> TickStats {
        let mut stats = TickStats::gather(
            self.ticks.writer().path().display().to_string(),
            self.ticks.counters(),
            &self.ticks.writer().metrics(),
            self.in_flight(),
            &self.recent(),
        );
        // A message that did not commit is the failure clients saw; the writer's own error
        // (set only when a group gives up) may be older or absent.
        if let Some((error, at)) = self.ticks.health().last_error() {
            stats.last_batch_error = Some(error);
            stats.last_batch_error_time = Some(at);
        }
        stats
    }
}
