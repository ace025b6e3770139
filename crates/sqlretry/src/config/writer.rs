//! `[writer]` and `[ingest]`: the one-writer-per-file layer and its batched append path.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration;

/// `[writer]`: the one-writer-per-file layer (group commit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct WriterConfig {
    /// Most requests committed in one group transaction (default 512). Also read as `max_batch`,
    /// its former name (a *batch* is ingest's).
    #[serde(alias = "max_batch")]
    pub max_group: usize,
    /// How long the writer thread lets a group fill under load (default 0: run at once).
    #[serde(with = "duration")]
    pub window: Duration,
    /// Requests that may wait in the queue before submitters block (default 4096).
    pub queue_capacity: usize,
    /// Failed batches before the alert fires (default 10).
    pub alert_threshold: u64,
    /// How long dropping the last handle waits for the queue to drain (default 10 s).
    #[serde(with = "duration")]
    pub drop_timeout: Duration,
    /// Writers of one file in different processes take turns through a file lock (default on).
    pub process_lock: bool,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            max_group: 512,
            window: Duration::ZERO,
            queue_capacity: 4096,
            alert_threshold: 10,
            drop_timeout: Duration::from_secs(10),
            process_lock: true,
        }
    }
}

/// `[ingest]`: the batched, fire-and-forget append path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct IngestConfig {
    /// Rows per batch transaction (default 500).
    pub batch_size: usize,
    /// The longest a row waits before its batch is flushed (default 100 ms).
    #[serde(with = "duration")]
    pub flush_interval: Duration,
    /// Rows buffered before `append` blocks (default 20,000).
    pub capacity: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig { batch_size: 500, flush_interval: Duration::from_millis(100), capacity: 20_000 }
    }
}
