//! One writer per database file: group commit, sync and async handles, batched ingest, dead
//! letters, metrics (feature `sqlite`).
//!
//! SQLite has one writer at a time and its busy handler is an unfair poll (DESIGN §3.7). Instead of
//! retrying many connections against each other, a [`Writer`] puts a bounded queue in front of
//! *one* write connection and commits many callers' requests in one transaction.
//!
//! - [`Writer::submit`] / [`Writer::submit_async`] / [`Writer::try_submit`]: a closure over the
//!   transaction; its value comes back only after the transaction committed.
//! - [`Writer::insert`] / [`Writer::insert_async`]: one [`Row`] with its type's `INSERT`,
//!   acknowledged after the commit.
//! - [`Writer::enqueue`]: the same request without waiting; its [`Pending`] result is collected
//!   later, so one producer can keep many writes in flight (pipelining).
//! - [`Writer::ingest`]: fire-and-forget appends of [`Row`]s, flushed in batches (spec 002).
//! - [`Writer::write_rows`] / [`Writer::write_rows_async`]: "write these [`Rows`] or dead-letter
//!   them" — acknowledged after the commit, or kept in the dead-letter store ([`NotWritten`]).
//! - [`Writer::replay_all`] and [`DeadLetterStore`]: batches that exhausted their retries are kept
//!   in `<db>.deadletter.sqlite`, never dropped, and can be written back — by any program: each
//!   batch keeps its `INSERT` and its rows as SQL values, so no Rust type is needed to replay it.
//! - [`Writer::metrics`]: a [`WriterMetricsSnapshot`]; the same figures go to the `metrics` facade.
//!
//! # Design
//!
//! **Leader/follower group commit** (after RocksDB's write-group leader and MySQL's binlog group
//! commit). A submitted request is queued. If nobody is writing, the *submitting thread* takes the
//! leadership token, drains the queue (up to `max_batch`) into a group and runs it on the write
//! connection itself: a lone producer pays no thread hand-off. Requests arriving while a group
//! runs wait in the queue; when the leader finishes and finds the queue non-empty, it gives the
//! token back and wakes the writer thread, which runs groups until the queue is empty. Under load,
//! groups therefore grow by themselves to the number of waiting callers, with no timer. A non-zero
//! `window` instead lets the writer thread wait for a fuller group, and then callers never lead.
//!
//! **One attempt, one deadline.** Every group and ingest batch is run by the crate's one
//! transaction attempt (`sqlite/attempt.rs`, the same as [`Store::write`](crate::sqlite::Store::write)'s):
//! the in-process turn, the writers' lock across processes, `BEGIN IMMEDIATE` polled (SQLite's
//! busy handler is off), the requests, `COMMIT`, the lock hold recorded in the one histogram
//! (`sqlretry_sqlite_lock_hold_seconds`, a warning past 1 s). A request's deadline is fixed when
//! it is submitted (the policy's total deadline, finite by default); a group is done by the
//! earliest deadline among its requests, a request still queued when its deadline passed fails
//! without running (SQLITE_BUSY, [`WriteError::NotCommitted`] with no attempt), and a blocked
//! `submit` waits for room no longer than its deadline. So a stopped or hung process holding the
//! file costs the callers of this one a bounded wait, never a freeze.
//!
//! **Writers in several processes** take turns through a file lock (`flock` on `<db>.writer-lock`,
//! [`WriterOptions::with_process_lock`], on by default; the same lock as
//! [`Store::write_grouped`](crate::sqlite::Store::write_grouped)'s, which is a lane of this same
//! engine), taken before each transaction attempt and let go right after `COMMIT`, before any
//! reply is sent. It is tried (one system call, about a microsecond), never waited for in the
//! kernel: tries are spaced 1 µs doubling to 50 µs until the attempt's bound, past which SQLite's
//! own lock decides. A leader waiting for it still holds the token, so submitters keep queuing
//! meanwhile; once the lock is held, the group is topped up with them. After this process had to
//! wait for another one (for the next 100 ms), it is *contended*: submitters no longer lead, and
//! the writer thread lets each group fill to the size of the last one (for up to 250 µs) before it
//! waits for the lock, so that each lock turn — each of which makes the newcomer re-read its pages
//! — commits one request per waiting caller instead of a lone leader's.
//!
//! **One transaction per group, one savepoint per request.** A group runs in `BEGIN IMMEDIATE`;
//! each request runs inside `SAVEPOINT`, so a permanent error of one request (a constraint) rolls
//! back only that request, which gets [`WriteError::Rejected`], while the others commit. A
//! retryable error (SQLITE_BUSY from another process, a busy `COMMIT`) rolls back the transaction
//! and the [`RetryPolicy`](crate::RetryPolicy) re-runs the *whole group*: closures are `FnMut` and
//! may run more than once; only the last run counts. Replies are sent after `COMMIT` returned OK,
//! so an acknowledged write is in the file; a crash before that loses whole groups, never part of
//! one. A closure that panics is caught and rolled back alone ([`WriteError::RequestPanicked`]):
//! the panic never reaches the thread that happened to run the group.
//!
//! **Pipelining.** A blocked caller costs one thread wake-up per acknowledged write, and on a
//! machine with few cores that, not SQLite, is the limit (WRITER_RESULTS.md: about 5 µs of the
//! ~7 µs per write with 16 blocking producers on 2 cores). [`Writer::enqueue`] queues a request
//! without waiting and returns a [`Pending`]; a producer that keeps a few requests in flight and
//! waits for the oldest is woken once per group of its own requests (16 producers with 8 in flight
//! each: a median 5.1× one uncontended writer, p99 0.6–0.9 ms).
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
//! ([`Writer::is_healthy`], [`WriterMetricsSnapshot::healthy`], gauge `sqlretry_writer_healthy`).
//!
//! **The writer thread and its lifecycle.** [`Writer::open`] opens the write connection with the
//! [`ConnectionProfile`](crate::sqlite::ConnectionProfile) and starts one thread named
//! `sqlretry-writer`. It waits on a condition variable and (1) runs groups handed over by leaders
//! and requests queued by async submitters (async code never touches SQLite on the runtime), and
//! (2) flushes ingest lanes when a batch is full or its interval passed. The connection lives in a
//! mutex shared by the thread and leading callers; exactly one of them uses it at a time.
//! [`Writer::shutdown`] stops intake, drains the queue, flushes every ingest buffer, commits and
//! joins the thread, waiting at most `drop_timeout`; dropping the last handle ([`Writer`] or
//! [`Ingest`]) does the same. Past `drop_timeout`, queued requests fail with [`WriteError::Closed`], buffered rows go
//! to the dead-letter store, what was abandoned is logged at error level, and the thread is still
//! joined. No thread outlives its owner.
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

mod core;
mod dead_letter;
mod dead_lettering;
mod error;
mod handle;
mod ingest;
mod intake;
mod metrics;
mod options;
mod request;
mod rows;
mod run_group;
mod store_lane;
mod writer_config;

pub use dead_letter::{DeadLetter, DeadLetterStore, RefusedLetter, ReplayReport};
pub use error::{AppendError, WriteError, WriterError};
pub use handle::{Pending, Writer};
pub use ingest::{Ingest, Row};
pub use metrics::{LatencySummary, WriterMetricsSnapshot};
pub use options::{IngestOptions, WriterOptions};
pub use rows::{NotWritten, Rows};
