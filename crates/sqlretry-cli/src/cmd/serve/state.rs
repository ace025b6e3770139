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
        TickStats::gather(
            self.ticks.writer().path().display().to_string(),
            self.ticks.counters(),
            &self.ticks.writer().metrics(),
            self.in_flight(),
            &self.recent(),
        )
    }
}
