//! What the writer does with an ingest batch whose transaction gave up: keep it in the dead-letter
//! store, retried under the writer's policy; and if even that fails, count its rows lost, say so at
//! error level with the batch's size and its first and last rows, and report the writer unhealthy.

use rusqlite::types::Value;

use super::core::{Shared, lock};
use super::dead_letter::DeadLetterStore;
use super::error::WriterError;
use crate::classify::{Class, Classify};
use crate::retry::Retry;

/// How much of a row a log line shows.
const ROW_SHOWN: usize = 120;

impl Shared {
    /// Stores a failed batch durably; counts its rows dead-lettered only once it is on disk, or
    /// lost (see the module docs) if the store refused it under the policy. Returns the dead
    /// letter's id, or the store's error when the rows were lost.
    pub(crate) fn dead_letter(
        &self,
        row_type: &str,
        insert_sql: &str,
        rows: &[Vec<Value>],
        error: &str,
    ) -> Result<i64, WriterError> {
        let n = rows.len() as u64;
        let stored = Retry::new(&self.config.policy)
            .named("dead letter")
            .classify_with(|e: &WriterError| match e {
                WriterError::Sqlite(e) => e.classify(),
                WriterError::Open(e) => e.classify(),
                _ => Class::Permanent,
            })
            .call(|| {
                let mut slot = lock(&self.dead_letters);
                let result = match &mut *slot {
                    Some(store) => store.append(row_type, insert_sql, rows, error),
                    empty => DeadLetterStore::open_beside(&self.path)
                        .and_then(|store| empty.insert(store).append(row_type, insert_sql, rows, error)),
                };
                if result.is_err() {
                    // Reopen next time: the file may have been the problem.
                    *slot = None;
                }
                result
            });
        match &stored {
            Ok(id) => {
                self.metrics.dead_lettered(n);
                tracing::warn!(writer = %self.metrics.name(), row_type, rows = n, id, error, "batch kept in the dead-letter store");
            }
            Err(store_error) => {
                self.metrics.lost(n);
                tracing::error!(
                    writer = %self.metrics.name(),
                    row_type,
                    rows = n,
                    first = %shown(rows.first()),
                    last = %shown(rows.last()),
                    error,
                    %store_error,
                    "batch LOST: the dead-letter store failed too; the writer reports itself unhealthy",
                );
            }
        }
        stored.map_err(|e| e.into_inner())
    }
}

/// A row's values as a short text for a log line.
fn shown(row: Option<&Vec<Value>>) -> String {
    let Some(row) = row else { return "-".into() };
    let mut text = format!("{row:?}");
    if text.len() > ROW_SHOWN {
        let cut = (0..=ROW_SHOWN).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        text.truncate(cut);
        text.push('…');
    }
    text
}
