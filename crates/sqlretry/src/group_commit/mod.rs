//! Group commit: the engine that lets many callers share one SQLite transaction (feature
//! `sqlite`). Used by a [`Writer`](crate::writer::Writer) and by a
//! [`Store`](crate::sqlite::Store)'s grouped and async writes; nothing here is public API
//! except [`Pending`] (re-exported by [`writer`](crate::writer)).
//!
//! Which file to open:
//!
//! | change | file |
//! |---|---|
//! | how requests queue, who leads, how a group fills (`CONTENDED_FILL`, the window) | `queue.rs` |
//! | how a group's transaction runs and replies | `run_group.rs` |
//! | one closure failing alone (savepoints), panics caught | `savepoints.rs` |
//! | a request and where its reply goes | `request.rs` |
//! | the engine's thread, start, shutdown, drop | `engine.rs` |
//! | submit, enqueue, async submit | `handle.rs` |
//! | group size, queue capacity, drop timeout | `options.rs` |
//! | counters, gauges, histograms, health | `metrics.rs` |
//! | work the thread does besides groups (ingest flushes: `Background`) | `engine.rs` |
//!
//! # Design
//!
//! **Leader/follower group commit** (after RocksDB's write-group leader and MySQL's binlog group
//! commit). A submitted request is queued. If nobody is writing, the *submitting thread* takes the
//! leadership token, drains the queue (up to `max_group`) into a group and runs it on the write
//! connection itself: a lone producer pays no thread hand-off. Requests arriving while a group
//! runs wait in the queue; when the leader finishes and finds the queue non-empty, it gives the
//! token back and wakes the engine's thread, which runs groups until the queue is empty. Under
//! load, groups therefore grow by themselves to the number of waiting callers, with no timer. A
//! non-zero window instead lets the thread wait for a fuller group, and then callers never lead.
//!
//! **One attempt, one deadline.** Every group is run by the crate's one transaction attempt
//! (`sqlite/attempt.rs`, the same as [`Store::write`](crate::sqlite::Store::write)'s): the
//! in-process turn, the writers' lock across processes, `BEGIN IMMEDIATE` polled, the requests,
//! `COMMIT`. A request's deadline is fixed when it is submitted (the write policy's total
//! deadline); a group is done by the earliest deadline among its requests, a request still
//! queued when its deadline passed fails without running (SQLITE_BUSY,
//! [`WriteError::NotCommitted`](crate::WriteError::NotCommitted) with no attempt), and a blocked
//! submit waits for room no longer than its deadline.
//!
//! **Writers in several processes** take turns through the writers' lock beside the database
//! (`<db>.writer-lock`), taken before each attempt and let go right after `COMMIT`, before any
//! reply is sent. A leader waiting for it still holds the token, so submitters keep queuing
//! meanwhile; once the lock is held, the group is topped up with them. After this process had to
//! wait for another one, it is *contended*: submitters no longer lead, and the thread lets each
//! group fill to the size of the last one (for up to `CONTENDED_FILL`, 250 µs) before it waits for the
//! lock, so that each lock turn — each of which makes the newcomer re-read its pages — commits
//! one request per waiting caller instead of a lone leader's.
//!
//! **One transaction per group, one savepoint per request.** A permanent error of one request (a
//! constraint) rolls back only that request, which gets
//! [`WriteError::Rejected`](crate::WriteError::Rejected), while the others commit. A retryable
//! error rolls back the transaction and the policy re-runs the *whole group*: closures are
//! `FnMut` and may run more than once; only the last run counts. Replies are sent after `COMMIT`
//! returned OK, so an acknowledged write is in the file; a crash before that loses whole groups,
//! never part of one. A closure that panics is caught and rolled back alone
//! ([`WriteError::RequestPanicked`](crate::WriteError::RequestPanicked)).
//!
//! **Its error cases** are cases of the crate's one
//! [`WriteError`](crate::WriteError), so that a caller matches one type whichever way it wrote:
//! `Closed` (the engine stopped before the request was taken), `Full` (a `try_` submit found the
//! queue full), `Panicked` (the engine's thread panicked, reported by shutdown).
//!
//! **Health says now.** The engine is unhealthy while rows were lost within its last 16
//! committed transactions, or for good once its thread ended unexpectedly; the reason is kept
//! as text ([`WriterMetricsSnapshot::health_reason`](crate::writer::WriterMetricsSnapshot)).

mod engine;
mod handle;
mod metrics;
mod options;
mod queue;
mod request;
mod run_group;
mod savepoints;

use std::time::Duration;

pub(crate) use engine::{Background, Engine, lock};
pub(crate) use handle::GroupCommit;
pub use handle::Pending;
pub use metrics::{LatencySummary, WriterMetricsSnapshot};
pub(crate) use options::GroupOptions;

/// While this process is contended (another process recently made it wait for the writers'
/// lock), how long the thread lets a group fill (to the size of the last one) before it waits
/// for the lock, so that each lock turn — each of which makes the newcomer re-read its pages —
/// commits one write per waiting caller. Longer fills were measured alike (BENCHMARKS.md, the
/// writers' lock sections); shorter ones let lone leaders take the lock again.
pub(crate) const CONTENDED_FILL: Duration = Duration::from_micros(250);
