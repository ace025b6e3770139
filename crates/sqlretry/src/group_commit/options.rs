//! [`GroupOptions`]: how the engine forms groups — their size, the fill window, the queue, the
//! writers' lock across processes — and how it stops.

use std::sync::Arc;
use std::time::Duration;

use crate::observer::RetryStats;

/// The group-commit settings of one engine. A [`Writer`](crate::writer::Writer) takes them from
/// its [`WriterOptions`](crate::writer::WriterOptions); a [`Store`](crate::sqlite::Store) from its
/// [`StoreOptions`](crate::sqlite::StoreOptions) (`max_group`) and the fixed values of
/// [`GroupOptions::for_store`].
#[derive(Debug, Clone)]
pub(crate) struct GroupOptions {
    /// The name used in logs and as the `writer` label of metrics (default: the file's name).
    pub(crate) name: Option<String>,
    /// The most requests in one group transaction (at least 1).
    pub(crate) max_group: usize,
    /// How long the engine's thread lets a group fill before running it.
    pub(crate) window: Duration,
    /// The most requests waiting (at least 1).
    pub(crate) queue_capacity: usize,
    /// How long stopping waits for the queue to drain before failing what is left.
    pub(crate) drop_timeout: Duration,
    /// Failed transactions after which each further failure raises an alert.
    pub(crate) alert_threshold: u64,
    /// Whether writers of the file in other processes take turns through the writers' lock.
    pub(crate) process_lock: bool,
    /// How many recent transactions [`health`](super::metrics) looks at.
    pub(crate) health_window: usize,
    /// Also told of every transaction's retries (a store's write stats, for its grouped writes).
    pub(crate) also_observed_by: Option<Arc<RetryStats>>,
}

impl Default for GroupOptions {
    fn default() -> Self {
        GroupOptions {
            name: None,
            max_group: 512,
            window: Duration::ZERO,
            queue_capacity: 4096,
            drop_timeout: Duration::from_secs(10),
            alert_threshold: 10,
            process_lock: true,
            health_window: 16,
            also_observed_by: None,
        }
    }
}

impl GroupOptions {
    /// A store's grouped writes: named after the file, at most `max_group` closures a group, room
    /// for many waiting callers (past it, `write_grouped` waits for room, within its deadline),
    /// and the store's write stats told of every retry.
    pub(crate) fn for_store(path: &std::path::Path, max_group: usize, stats: Arc<RetryStats>) -> Self {
        GroupOptions {
            name: Some(format!("store {}", path.display())),
            max_group: max_group.max(1),
            queue_capacity: 16_384,
            also_observed_by: Some(stats),
            ..GroupOptions::default()
        }
    }
}
