//! The one write path of both protocols: validated ticks → one closure handed to the library's
//! `Writer::submit_async` (grouped with other callers' closures into one transaction) → an
//! outcome known only after `COMMIT`. A group that exhausts its retries is dead-lettered.

use std::sync::{Arc, Mutex, PoisonError};

use sqlretry::Writer;
use sqlretry::writer::{DeadLetterStore, WriteError};

use super::health::WriteHealth;
use super::stats::TickCounters;
use super::tick::Tick;

/// What became of one message's ticks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Committed: `new` rows inserted, `duplicates` already there.
    Committed {
        /// New rows.
        new: u64,
        /// Ticks whose (symbol, timestamp) was already stored.
        duplicates: u64,
    },
    /// Not committed after the retry policy; kept in the dead-letter store (not acknowledged).
    DeadLettered(String),
    /// Not committed and nothing kept (shutting down, or the dead-letter store failed).
    Failed(String),
}

/// The write path shared by the WebSocket and HTTP handlers.
#[derive(Debug)]
pub struct TickWriter {
    writer: Writer,
    counters: Arc<TickCounters>,
    dead_letters: Arc<Mutex<Option<DeadLetterStore>>>,
    health: WriteHealth,
}

impl TickWriter {
    /// Writes through `writer`, counting into `counters`.
    pub fn new(writer: Writer, counters: Arc<TickCounters>) -> Self {
        TickWriter {
            writer,
            counters,
            dead_letters: Arc::new(Mutex::new(None)),
            health: WriteHealth::default(),
        }
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

    /// Writes `ticks` in the next group transaction (`INSERT OR IGNORE`, new vs duplicate counted
    /// by `changes()`); returns after `COMMIT` (or after dead-lettering).
    async fn commit(&self, ticks: Vec<Tick>) -> Outcome {
        let ticks = Arc::new(ticks);
        let batch = Arc::clone(&ticks);
        let result = self
            .writer
            .submit_async(move |tx| {
                let mut stmt = tx.prepare_cached(<Tick as sqlretry::Row>::INSERT_SQL)?;
                let mut new = 0_u64;
                for t in batch.iter() {
                    new += stmt.execute(rusqlite::params![t.symbol, t.timestamp, t.price, t.volume])? as u64;
                }
                Ok(new)
            })
            .await;
        let n = ticks.len() as u64;
        match result {
            Ok(new) => {
                TickCounters::add(&self.counters.written, "sqlretry_serve_ticks_written_total", new);
                TickCounters::add(&self.counters.duplicates, "sqlretry_serve_ticks_duplicate_total", n - new);
                Outcome::Committed { new, duplicates: n - new }
            }
            Err(err @ WriteError::NotCommitted(_)) => self.dead_letter(ticks, err.to_string()).await,
            Err(err) => Outcome::Failed(err.to_string()),
        }
    }

    /// Keeps `ticks` in the dead-letter store beside the database (durable when this returns).
    async fn dead_letter(&self, ticks: Arc<Vec<Tick>>, error: String) -> Outcome {
        let path = self.writer.dead_letter_path();
        let store = Arc::clone(&self.dead_letters);
        let n = ticks.len() as u64;
        let kept = tokio::task::spawn_blocking(move || {
            let mut guard = store.lock().unwrap_or_else(PoisonError::into_inner);
            if guard.is_none() {
                *guard = Some(DeadLetterStore::open(&path).map_err(|e| e.to_string())?);
            }
            let Some(store) = guard.as_mut() else { return Err("no dead-letter store".to_owned()) };
            store.append_rows(&ticks, &error).map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|e| Err(format!("dead-letter task failed: {e}")));
        match kept {
            Ok(_) => {
                TickCounters::add(
                    &self.counters.dead_lettered,
                    "sqlretry_serve_ticks_dead_lettered_total",
                    n,
                );
                tracing::error!(ticks = n, "batch not committed after its retries; kept as a dead letter");
                Outcome::DeadLettered("not committed; kept as a dead letter".to_owned())
            }
            Err(e) => {
                TickCounters::add(&self.counters.lost, "sqlretry_serve_ticks_lost_total", n);
                tracing::error!(ticks = n, error = %e, "batch not committed and the dead-letter store refused it");
                Outcome::Failed(e)
            }
        }
    }
}
