//! [`WriterOptions`] and [`IngestOptions`]: the knobs, with documented defaults.

use std::time::Duration;

use crate::group_commit::GroupOptions;
use crate::policy::RetryPolicy;
use crate::sqlite::{WriteSideOptions, write_side_setters};

/// How a [`Writer`](super::Writer) runs: its [`WriteSideOptions`] (the same settings, under the
/// same setter names, as a [`Store`](crate::sqlite::Store)'s) and how it forms groups. Every
/// setter documents its default.
///
/// # Examples
///
/// ```
/// use sqlretry::writer::WriterOptions;
/// use std::time::Duration;
///
/// let options = WriterOptions::default().with_max_group(128).with_window(Duration::from_millis(1));
/// assert_eq!(options.max_group(), 128);
/// assert_eq!(options.write_side().barging_window(), Duration::ZERO);
/// ```
#[derive(Debug, Clone)]
pub struct WriterOptions {
    pub(crate) write_side: WriteSideOptions,
    pub(crate) group: GroupOptions,
}

impl Default for WriterOptions {
    /// [`WriteSideOptions::default`] but a zero barging window (the writer's thread and its
    /// leaders take turns on the connection without hand-offs to wait for), and groups of at most
    /// 512 requests, no window, a queue of 4096, a 10 s drop timeout, an alert past 10 failed
    /// transactions, the writers' lock on.
    fn default() -> Self {
        WriterOptions {
            write_side: WriteSideOptions::default().with_barging_window(Duration::ZERO),
            group: GroupOptions::default(),
        }
    }
}

write_side_setters!(WriterOptions);

impl WriterOptions {
    /// The name used in logs and as the `writer` label of metrics (default: the file's name).
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.group.name = Some(name.into());
        self
    }

    /// The most requests in one group transaction (default 512; at least 1).
    #[must_use]
    pub fn with_max_group(mut self, max_group: usize) -> Self {
        self.group.max_group = max_group.max(1);
        self
    }

    /// How long the writer thread lets a group fill before running it: it waits until as many
    /// requests are queued as its previous group held (at most `max_group`), or the window ends
    /// (default zero: run at once; requests arriving while a group runs form the next group
    /// anyway). It applies only under load, when the writer thread runs groups: a caller that
    /// finds the writer idle still runs its request at once. A window trades throughput for a
    /// shorter tail (BENCHMARKS.md, "Writer: the group window").
    #[must_use]
    pub fn with_window(mut self, window: Duration) -> Self {
        self.group.window = window;
        self
    }

    /// The most requests waiting (default 4096; at least 1). A full queue blocks
    /// [`Writer::submit`](super::Writer::submit), makes `submit_async` wait and `try_submit` fail.
    #[must_use]
    pub fn with_queue_capacity(mut self, capacity: usize) -> Self {
        self.group.queue_capacity = capacity.max(1);
        self
    }

    /// How long dropping the last handle waits for the queue to drain before failing what is left
    /// (default 10 s). The thread is joined either way.
    #[must_use]
    pub fn with_drop_timeout(mut self, timeout: Duration) -> Self {
        self.group.drop_timeout = timeout;
        self
    }

    /// Failed transactions after which each further failure raises an alert (default 10).
    #[must_use]
    pub fn with_alert_threshold(mut self, threshold: u64) -> Self {
        self.group.alert_threshold = threshold;
        self
    }

    /// How many committed transactions after rows were lost the writer stays unhealthy
    /// (default 16; at least 1): [`Writer::is_healthy`](super::Writer::is_healthy) reflects the
    /// recent past and recovers once writes commit again.
    #[must_use]
    pub fn with_health_window(mut self, transactions: usize) -> Self {
        self.group.health_window = transactions.max(1);
        self
    }

    /// Whether writers of the same file in different processes take turns through a file lock
    /// (`flock` on `<db>.writer-lock`, held per transaction attempt) before `BEGIN IMMEDIATE`
    /// (default `true`). The kernel wakes the next writer as soon as the lock is free, where
    /// SQLite's busy handler would poll with sleeps of 1–100 ms. While other processes contend for
    /// it, groups are let fill (up to 250 µs) before each turn (see `group_commit/`'s `# Design`).
    /// Writers that do not use sqlretry are still handled by SQLite's locking and the retry policy.
    #[must_use]
    pub fn with_process_lock(mut self, on: bool) -> Self {
        self.group.process_lock = on;
        self
    }

    /// The most requests in one group.
    #[must_use]
    pub fn max_group(&self) -> usize {
        self.group.max_group
    }

    /// The group window.
    #[must_use]
    pub fn window(&self) -> Duration {
        self.group.window
    }

    /// The queue's capacity.
    #[must_use]
    pub fn queue_capacity(&self) -> usize {
        self.group.queue_capacity
    }
}

/// How an [`Ingest`](super::Ingest) lane batches rows.
///
/// # Examples
///
/// ```
/// use sqlretry::writer::IngestOptions;
/// use std::time::Duration;
///
/// let config = IngestOptions::default();
/// assert_eq!((config.batch_size(), config.interval()), (500, Duration::from_millis(100)));
/// ```
#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub(crate) batch_size: usize,
    pub(crate) interval: Duration,
    pub(crate) capacity: usize,
    pub(crate) policy: RetryPolicy,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            batch_size: 500,
            interval: Duration::from_millis(100),
            capacity: 20_000,
            policy: RetryPolicy::batch_writes(),
        }
    }
}

impl IngestOptions {
    /// Rows per batch transaction; a full batch is flushed at once (default 500; at least 1).
    #[must_use]
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// The longest a row waits before its batch is flushed (default 100 ms).
    #[must_use]
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// The most rows buffered; `append` blocks and `try_append` fails beyond it (default 20,000;
    /// at least the batch size).
    #[must_use]
    pub fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// The retry policy of one batch (default [`RetryPolicy::batch_writes`]: 3 attempts, 10 ms × 2,
    /// ±25 % jitter); a batch that exhausts it is dead-lettered.
    #[must_use]
    pub fn with_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Rows per batch.
    #[must_use]
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// The flush interval.
    #[must_use]
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// The buffer's capacity in rows.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.capacity.max(self.batch_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_floors() {
        let w = WriterOptions::default().with_max_group(0).with_queue_capacity(0);
        assert_eq!((w.max_group(), w.queue_capacity(), w.window()), (1, 1, Duration::ZERO));
        let i = IngestOptions::default();
        assert_eq!((i.batch_size(), i.interval(), i.capacity()), (500, Duration::from_millis(100), 20_000));
        assert_eq!(i.policy.max_attempts(), 3);
        assert_eq!(IngestOptions::default().with_batch_size(0).with_capacity(0).capacity(), 1);
    }
}
