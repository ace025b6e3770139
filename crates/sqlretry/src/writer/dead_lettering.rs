//! What the writer does with an ingest batch whose transaction gave up: keep it in the dead-letter
//! store, retried under the writer's policy; and if even that fails, count its rows lost, say so at
//! error level with the batch's size and its first and last rows, and report the writer unhealthy (until writes commit again).

use std::path::PathBuf;
use std::sync::Mutex;

use rusqlite::types::Value;

use super::dead_letter::DeadLetterStore;
use super::error::WriterError;
use crate::classify::{Class, Classify};
use crate::group_commit::{Engine, lock};
use crate::policy::RetryPolicy;
use crate::retry::Retry;

/// How much of a row a log line shows.
const ROW_SHOWN: usize = 120;

/// A writer's dead-letter store beside its database, opened when first needed.
pub(crate) struct DeadLetters {
    db: PathBuf,
    policy: RetryPolicy,
    store: Mutex<Option<DeadLetterStore>>,
}

impl DeadLetters {
    /// The dead letters of `db`, appended under `policy` (the writer's write policy).
    pub(crate) fn beside(db: PathBuf, policy: RetryPolicy) -> Self {
        DeadLetters { db, policy, store: Mutex::new(None) }
    }

    /// Stores a failed batch durably; counts its rows dead-lettered only once it is on disk, or
    /// lost (see the module docs) if the store refused it under the policy. Returns the dead
    /// letter's id, or the store's error when the rows were lost.
    pub(crate) fn keep(
        &self,
        engine: &Engine,
        row_type: &str,
        insert_sql: &str,
        rows: &[Vec<Value>],
        error: &str,
    ) -> Result<i64, WriterError> {
        let n = rows.len() as u64;
        let stored = Retry::new(&self.policy)
            .named("dead letter")
            .classify_with(|e: &WriterError| match e {
                WriterError::Sqlite(e) => e.classify(),
                WriterError::Open(e) => e.classify(),
                _ => Class::Permanent,
            })
            .call(|| {
                let mut slot = lock(&self.store);
                let result = match &mut *slot {
                    Some(store) => store.append(row_type, insert_sql, rows, error),
                    empty => DeadLetterStore::open_beside(&self.db)
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
                engine.metrics.dead_lettered(n);
                tracing::warn!(writer = %engine.metrics.name(), row_type, rows = n, id, error, "batch kept in the dead-letter store");
            }
            Err(store_error) => {
                engine
                    .metrics
                    .lost(n, &format!("the dead-letter store refused a {row_type} batch: {store_error}"));
                tracing::error!(
                    writer = %engine.metrics.name(),
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
