//! One writer per database file: group commit, sync and async handles, batched ingest, dead
//! letters, metrics (feature `sqlite`).
//!
//! SQLite has one writer at a time and its busy handler is an unfair poll (it sleeps up to 100 ms
//! and serves no one in order). Instead of
//! retrying many connections against each other, a [`Writer`] puts a bounded queue in front of
//! *one* write connection and commits many callers' requests in one transaction.
//!
//! - [`Writer::submit`] / [`Writer::submit_async`] / [`Writer::try_submit`]: a closure over the
//!   transaction; its value comes back only after the transaction committed.
//! - [`Writer::insert`] / [`Writer::insert_async`]: one [`Row`] with its type's `INSERT`,
//!   acknowledged after the commit.
//! - [`Writer::enqueue`]: the same request without waiting; its [`Pending`] result is collected
//!   later, so one producer can keep many writes in flight (pipelining).
//! - [`Writer::ingest`]: fire-and-forget appends of [`Row`]s, flushed in batches.
//! - [`Writer::write_rows`] / [`Writer::write_rows_async`]: "write these [`Rows`] or dead-letter
//!   them" — acknowledged after the commit, or kept in the dead-letter store ([`NotWritten`]).
//! - [`Writer::replay_all`] and [`DeadLetterStore`]: batches that exhausted their retries are kept
//!   in `<db>.deadletter.sqlite`, never dropped, and can be written back — by any program: each
//!   batch keeps its `INSERT` and its rows as SQL values, so no Rust type is needed to replay it.
//! - [`Writer::metrics`]: a [`WriterMetricsSnapshot`]; the same figures go to the `metrics` facade.
//!
//! # Design
//!
//! A `Writer` is the owned writer thread of the crate's group-commit engine
//! ([`group_commit`](crate::group_commit) holds the queue, the leader/follower groups, the
//! savepoints, the requests and replies, and their `# Design`), plus what only a writer has:
//! handles, batched ingest, dead letters and replay. Which file to open:
//!
//! | change | file |
//! |---|---|
//! | a new way to submit, the handle's lifecycle | `handle.rs` |
//! | the writer's settings | `options.rs`, `writer_config.rs` (from the TOML/env config) |
//! | a row type's contract, how rows are inserted | `row.rs` |
//! | batched ingest: buffering, flush by size or interval | `ingest.rs` |
//! | what happens to a batch that gave up | `dead_lettering.rs` |
//! | the dead-letter file, its format, replay | `dead_letter.rs` |
//! | errors of opening, appending, dead letters | `error.rs` |
//!
//! **User code is hostile.** A closure that panics is caught and rolled back alone; a [`Row`] whose
//! `values` panics fails its own [`Writer::insert`] ([`WriteError::RequestPanicked`]) or, in an
//! ingest batch, is counted lost (there is nothing to keep) while the rest of the batch is
//! written. Anything that still escapes a group or a flush is caught by the thread's loop, logged,
//! and the thread goes on. If the thread ends anyway, every queued request fails at once with
//! [`WriteError::Closed`], later submits too, and [`Writer::is_healthy`] says so.
//!
//! **Dead letters are not dropped.** A dead-letter append is retried under the writer's policy;
//! if it still fails, the batch's rows are counted in `rows_lost`, logged at error level with the
//! batch's size and first and last rows, and the writer reports itself unhealthy
//! ([`Writer::is_healthy`], [`Writer::health_reason`], [`WriterMetricsSnapshot::healthy`], gauge
//! `sqlretry_writer_healthy`) until its next few transactions committed: health says *now*, so
//! a readiness probe recovers with the writes.
//!
//! **The writer thread and its lifecycle.** [`Writer::open`] opens the write connection with the
//! [`ConnectionProfile`](crate::sqlite::ConnectionProfile) and starts one thread named
//! `sqlretry-writer`. It waits on a condition variable and (1) runs groups handed over by leaders
//! and requests queued by async submitters (async code never touches SQLite on the runtime), and
//! (2) flushes ingest lanes when a batch is full or its interval passed. The connection lives in a
//! mutex shared by the thread and leading callers; exactly one of them uses it at a time.
//! [`Writer::shutdown`] stops intake, drains the queue, flushes every ingest buffer, commits and
//! joins the thread, waiting at most `drop_timeout`; dropping the last handle ([`Writer`] or
//! [`Ingest`]) does the same. Past `drop_timeout`, queued requests fail with
//! [`WriteError::Closed`], buffered rows go to the dead-letter store, what was abandoned is logged
//! at error level, and the thread is still joined. No thread outlives its owner.
//!
//! **Pipelining.** A blocked caller costs one thread wake-up per acknowledged write, and on a
//! machine with few cores that, not SQLite, is the limit. [`Writer::enqueue`] queues a request
//! without waiting and returns a [`Pending`]; a producer that keeps a few requests in flight and
//! waits for the oldest is woken once per group of its own requests (BENCHMARKS.md, the writer's
//! pipelining figures).
//!
//! **Batched ingest** appends rows to a bounded buffer (appending blocks when full, `try_append`
//! reports it); the writer thread writes them in batches of `batch_size` with the row type's cached
//! `INSERT OR IGNORE` statement, each batch one transaction under
//! [`RetryPolicy::batch_writes`](crate::RetryPolicy::batch_writes). A batch that exhausts it is
//! appended to the dead-letter store (`synchronous=FULL`) and only then counted dead-lettered;
//! `rows_lost` counts only rows the dead-letter store itself refused. A dead letter is
//! self-describing (row type name, `INSERT` statement, rows as JSON arrays of SQL values), so
//! replay ([`Writer::replay_all`], `sqlretry dead-letters replay`) needs no Rust type; it executes
//! only statements that start with `INSERT`.

mod dead_letter;
mod dead_lettering;
mod error;
mod handle;
mod ingest;
mod options;
mod row;
mod rows;
mod writer_config;

pub use crate::group_commit::{LatencySummary, Pending, WriterMetricsSnapshot};
pub use crate::sqlite::WriteError;
pub use dead_letter::{DeadLetter, DeadLetterStore, RefusedLetter, ReplayReport};
pub use error::{AppendError, WriterError};
pub use handle::Writer;
pub use ingest::Ingest;
pub use options::{IngestOptions, WriterOptions};
pub use row::Row;
pub use rows::{NotWritten, Rows};
