//! The one write path of both protocols: validated ticks → the library's "write these rows or
//! dead-letter them" (`Writer::write_rows_async`: one request in the next group transaction,
//! answered after `COMMIT`; if it did not commit, kept in the dead-letter store under the
//! writer's retries and counted in its metrics).

use std::sync::Arc;

use sqlretry::Writer;
use sqlretry::writer::{NotWritten, Rows};

use super::health::WriteHealth;
use super::model::Model;
use super::stats::TickCounters;
use super::tick::Tick;

/// What became of one message's ticks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Committed: `new` rows inserted, `duplicates` already there.
    Committed {
        /// New rows.
        new: u64,
        /// Ticks that were exact resends of stored ones.
        duplicates: u64,
    },
    /// Not committed; kept in the dead-letter store (not acknowledged).
    DeadLettered(String),
    /// Not committed and nothing kept (the dead-letter store failed too).
    Failed(String),
}

/// The write path shared by the WebSocket and HTTP handlers.
#[derive(Debug)]
pub struct TickWriter {
    writer: Writer,
    model: Arc<Model>,
    counters: Arc<TickCounters>,
    health: WriteHealth,
}

impl TickWriter {
    /// Writes rows of `model` through `writer`, counting into `counters`.
    pub fn new(writer: Writer, model: Arc<Model>, counters: Arc<TickCounters>) -> Self {
        TickWriter { writer, model, counters, health: WriteHealth::default() }
    }

    /// The library's writer.
    pub fn writer(&self) -> &Writer {
        &self.writer
    }

    /// The counters.
    pub fn counters(&self) -> &TickCounters {
        &self.counters
    }

    /// Writes `ticks` (one client message) and accounts for the outcome: the ack latency of a
    /// commit; failed messages and ticks, and the write health, when it did not commit.
    pub async fn write(&self, ticks: Vec<Tick>) -> Outcome {
        let started = std::time::Instant::now();
        let n = ticks.len() as u64;
        let outcome = self.commit(ticks).await;
        let c = &self.counters;
        match &outcome {
            Outcome::Committed { .. } => {
                metrics::histogram!("sqlretry_serve_ack_seconds").record(started.elapsed().as_secs_f64());
                TickCounters::add(&c.messages_written, "sqlretry_serve_messages_written_total", 1);
                self.health.committed();
            }
            Outcome::DeadLettered(error) | Outcome::Failed(error) => {
                if matches!(outcome, Outcome::DeadLettered(_)) {
                    TickCounters::add(
                        &c.messages_dead_lettered,
                        "sqlretry_serve_messages_dead_lettered_total",
                        1,
                    );
                }
                TickCounters::add(&c.messages_failed, "sqlretry_serve_messages_failed_total", 1);
                TickCounters::add(&c.ticks_failed, "sqlretry_serve_ticks_failed_total", n);
                self.health.failed(error);
            }
        }
        outcome
    }

    /// Whether writes are failing now, and the last error.
    pub fn health(&self) -> &WriteHealth {
        &self.health
    }

    /// Writes `ticks` in the next group transaction (`INSERT OR IGNORE` on the tick's identity:
    /// resends are counted as duplicates); returns after `COMMIT` or after dead-lettering.
    async fn commit(&self, ticks: Vec<Tick>) -> Outcome {
        let n = ticks.len() as u64;
        let rows = Rows::new(
            "tick",
            self.model.insert_sql.as_str(),
            ticks.into_iter().map(Tick::into_row).collect(),
        );
        match self.writer.write_rows_async(rows).await {
            Ok(new) => {
                let new = new as u64;
                TickCounters::add(&self.counters.written, "sqlretry_serve_ticks_written_total", new);
                TickCounters::add(&self.counters.duplicates, "sqlretry_serve_ticks_duplicate_total", n - new);
                Outcome::Committed { new, duplicates: n - new }
            }
            Err(kept @ NotWritten::DeadLettered { .. }) => {
                TickCounters::add(
                    &self.counters.dead_lettered,
                    "sqlretry_serve_ticks_dead_lettered_total",
                    n,
                );
                tracing::error!(ticks = n, error = %kept, "message not committed after its retries; kept as a dead letter");
                Outcome::DeadLettered(format!("not committed; kept as a dead letter ({kept})"))
            }
            Err(lost) => {
                TickCounters::add(&self.counters.lost, "sqlretry_serve_ticks_lost_total", n);
                Outcome::Failed(lost.to_string())
            }
        }
    }
}
