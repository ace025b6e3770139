//! # sqlretry
//!
//! Writes to SQLite that survive concurrency: nothing lost, nothing half-applied, visible.
//!
//! This crate is one retry engine for every write, and the SQLite semantics around it:
//!
//! - **The engine** (no SQLite in it): backoff schedules as iterators ([`backoff`]), a
//!   [`RetryPolicy`] with attempts, a total deadline and a shared [`RetryBudget`], classification of
//!   errors as retryable or permanent ([`Classify`], [`Classifier`]), and two execution twins with
//!   one vocabulary: [`Retry::call`] (blocking) and [`Retry::call_async`] (tokio). Giving up returns
//!   a [`RetryError`] holding the *original* last error, the attempts made, the time spent and why.
//!   Every preset has a finite total deadline ([`DEFAULT_DEADLINE`], 5 s, for writes); none only
//!   when asked ([`RetryPolicyBuilder::no_deadline`]). Any `IntoIterator<Item = Duration>` can be
//!   the schedule ([`RetryPolicy::from_delays`]). A [`Retry`] owns what it uses (built from an owned
//!   policy it is `'static + Send`, to keep in a struct), and [`RetryExt`] retries a closure in
//!   place: `op.retry(&policy).call()`.
//! - **Configuration** ([`config`]): TOML and `SQLRETRY_…` environment variables, validated into
//!   policies with errors that name the field.
//!
//! - **SQLite** ([`sqlite`], feature `sqlite`, on by default): `rusqlite::Error` classified by result
//!   code, a [`ConnectionProfile`] applied and verified on every open, a [`Store`] whose
//!   `write(|tx| ..)` runs a whole `BEGIN IMMEDIATE` transaction retried under the policy (writers of
//!   one process take turns in a fair queue instead of fighting over SQLite's lock) and whose
//!   `write_grouped(..)` lets concurrent callers share one transaction (group commit, for `Send +
//!   'static` closures), optimistic writes after slow work, a key → value state store and a
//!   retried file lock. Every write path returns one error, [`WriteError`], whose `source()` is
//!   SQLite's `rusqlite::Error`, unchanged.
//! - **One writer per file** ([`writer`], feature `sqlite`): a [`Writer`] commits many callers'
//!   requests in one transaction (group commit, one savepoint per request), with sync, async and
//!   pipelined (`enqueue`) handles, batched ingest of rows, a durable dead-letter store with
//!   replay, and metrics.
//! - **PostgreSQL** ([`postgres`], feature `postgres`, off by default): SQLSTATE classification,
//!   a pooled `PgStore` whose writes run whole transactions at SERIALIZABLE, retried whole under
//!   the same policy, deadline, budget and observer; "commit outcome unknown" as its own error,
//!   idempotent writes, and CockroachDB's `SAVEPOINT cockroach_restart` mode.
//!
//! ## Quick start (SQLite)
//!
//! ```
//! # #[cfg(feature = "sqlite")] {
//! use sqlretry::Store;
//!
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path().join("app.db"))?; // WAL, busy_timeout=5000, ... read back
//! store.write(|tx| tx.execute_batch("CREATE TABLE IF NOT EXISTS t (n INTEGER)"))?;
//! // Read-then-write: retried whole on SQLITE_BUSY*, acknowledged only after COMMIT.
//! store.write(|tx| {
//!     let n: i64 = tx.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?;
//!     tx.execute("INSERT INTO t VALUES (?1)", [n])
//! })?;
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Quick start (blocking)
//!
//! ```
//! use sqlretry::RetryPolicy;
//! use std::io::{Error, ErrorKind};
//!
//! let policy = RetryPolicy::store_writes(); // 10 attempts, 10 ms doubling to 100 ms
//! let mut attempts = 0;
//! let value = policy.call(|| {
//!     attempts += 1;
//!     if attempts < 3 { Err(Error::from(ErrorKind::WouldBlock)) } else { Ok("written") }
//! })?;
//! assert_eq!((value, attempts), ("written", 3));
//! # Ok::<(), sqlretry::RetryError<Error>>(())
//! ```
//!
//! ## Quick start (async)
//!
//! ```
//! # #[cfg(feature = "tokio")]
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! use sqlretry::{RetryPolicy, StopReason};
//! use std::io::{Error, ErrorKind};
//!
//! let policy = RetryPolicy::builder().max_attempts(3).build()?;
//! // A permanent error is returned at once, unchanged.
//! let err = policy
//!     .call_async(|| async { Err::<(), _>(Error::from(ErrorKind::PermissionDenied)) })
//!     .await
//!     .unwrap_err();
//! assert_eq!(err.reason(), StopReason::Permanent);
//! assert_eq!(err.attempts(), 1);
//! assert_eq!(err.into_inner().kind(), ErrorKind::PermissionDenied);
//! # Ok::<(), sqlretry::ConfigError>(())
//! # }).unwrap();
//! ```
//!
//! ## Quick start (a closure, backon style)
//!
//! ```
//! use sqlretry::{RetryExt, RetryPolicy, StopReason};
//! use std::io::{Error, ErrorKind};
//! use std::time::Duration;
//!
//! // Any list or iterator of delays is a schedule; when it runs out, the loop stops.
//! let policy = RetryPolicy::from_delays([Duration::from_millis(1), Duration::from_millis(2)]);
//! let mut attempts = 0;
//! let err = (|| {
//!     attempts += 1;
//!     Err::<(), _>(Error::from(ErrorKind::WouldBlock))
//! })
//! .retry(&policy)
//! .named("flaky")
//! .call()
//! .unwrap_err();
//! assert_eq!((attempts, err.reason()), (3, StopReason::AttemptsExhausted));
//!
//! // A Retry that owns its policy is 'static: keep it in a struct, move it to a thread.
//! struct Client {
//!     retry: sqlretry::Retry<'static>,
//! }
//! let client = Client { retry: sqlretry::Retry::new(RetryPolicy::store_writes()).named("client") };
//! let value = std::thread::spawn(move || client.retry.call(|| Ok::<_, Error>(42))).join().unwrap()?;
//! assert_eq!(value, 42);
//! # Ok::<(), sqlretry::RetryError<Error>>(())
//! ```
//!
//! # Vocabulary
//!
//! One word, one meaning, throughout the crate and its docs:
//!
//! - **attempt**: one run of a whole transaction (`BEGIN IMMEDIATE` … `COMMIT`); a retry is
//!   another attempt, of the whole thing.
//! - **group**: the requests that share one transaction (group commit): a [`Writer`]'s
//!   submitted closures, a [`Store`]'s grouped writes. Sized by `with_max_group`, counted in
//!   [`WriterMetricsSnapshot::groups_committed`](writer::WriterMetricsSnapshot::groups_committed).
//! - **batch**: the rows of one ingest transaction ([`writer::Ingest`]), sized by
//!   `with_batch_size`, counted in
//!   [`batches_written`](writer::WriterMetricsSnapshot::batches_written); a failed one is
//!   dead-lettered.
//! - **lane**: an ingest lane, the buffer of one row type's rows in a [`Writer`] (nothing else;
//!   PostgreSQL's retried writes take *retry seats*, `PgOptions::with_retry_seats`).
//! - **write side**: one file's write connection, its in-process turn, the writers' lock across
//!   processes and the lock-hold histogram; set by [`sqlite::WriteSideOptions`], the same
//!   settings under the same setter names on [`StoreOptions`] and [`WriterOptions`]
//!   (`with_write_policy`, `with_profile`, `with_wal_limit`, `with_slow_lock_hold`,
//!   `with_barging_window`).
//! - **options**: a type's settings, a builder with `with_*` setters ([`StoreOptions`],
//!   [`WriterOptions`], [`IngestOptions`], `PgOptions`); **config**: the TOML/environment file
//!   ([`config::Config`]), from which options are built (`from_config`).
//! - **open / connect**: `open(path)` with default options, `open_with(path, options)`;
//!   `connect(url)`, `connect_with(url, options)` for PostgreSQL.
//! - **policy**: a [`RetryPolicy`] (attempts, schedule, deadline, budget); a *profile* is how a
//!   connection is set up ([`ConnectionProfile`]).
//!
//! # Layout
//!
//! Arrows point down: `writer` → `group_commit` → `sqlite` → the engine (`retry`, `policy`,
//! `backoff`, `classify`, `budget`, `deadline`, `observer`, `time`, `error`, `config`). The one
//! reach upward is the [`Store`]'s typed field holding its group-commit engine (`sqlite/store.rs`,
//! the façade). Which file to open:
//!
//! | change | file |
//! |---|---|
//! | a new backoff schedule | `backoff/` (one file per schedule, e.g. `backoff/constant.rs`) |
//! | a new SQLite error class (which result codes are retried) | `sqlite/classify.rs` |
//! | how a transaction attempt waits and commits | `sqlite/attempt.rs` |
//! | group fill, who leads, the queue | `group_commit/queue.rs` |
//! | a writer's handles, ingest, dead letters | `writer/` (see its `# Design`) |
//! | PostgreSQL | `postgres/` |
//!
//! # Design
//!
//! - The unit of a retry is a whole operation (for SQLite, a whole transaction): the engine never
//!   re-runs half of something. Operations are `FnMut`; side effects outside the database must be
//!   idempotent.
//! - One pure decision function, [`RetryPolicy::decide`], is shared by both twins; time is injected
//!   ([`time::Clock`], [`time::BlockingSleeper`], [`time::Sleeper`]) so tests assert exact delays.
//! - The schedule and its randomness are created only after a first failure: a call that succeeds at
//!   once costs a clock read and a branch (BENCHMARKS.md, "Retry engine overhead").
//! - The engine spawns no threads and holds no global state. The one thread the crate starts is
//!   the group-commit engine's `sqlretry-writer` thread (feature `sqlite`): started by
//!   [`Writer::open`] (or by a [`Store`]'s first grouped write), it runs group commits and ingest
//!   flushes for one database file; [`Writer::shutdown`] (or dropping the last handle — the last
//!   `Store` clone — bounded by a timeout) stops intake, drains the queue, commits and joins it.
//!   See [`group_commit`]'s and [`writer`]'s `# Design`.
//! - One [`Deadline`] per call: fixed when a write starts, passed to every wait inside it (retry
//!   sleeps, SQLite's lock, the in-process turn, the writers' lock across processes, room in a
//!   queue), so that layers never multiply.
//! - Hand-written rather than `backon`: sqlretry's product *is* this loop — its deadline semantics
//!   (covering attempts, never starting a sleep that ends past it), the capped jitter kinds, the
//!   budget and the give-up error carrying the original error are what the crate exists for.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod backoff;
mod budget;
mod classify;
pub mod config;
mod deadline;
mod error;
#[cfg(feature = "sqlite")]
pub mod group_commit;
pub mod observer;
mod policy;
#[cfg(feature = "postgres")]
pub mod postgres;
mod retry;
#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod time;
#[cfg(feature = "sqlite")]
pub mod writer;

pub use backoff::Jitter;
pub use budget::RetryBudget;
pub use classify::{ByErrorType, Class, Classifier, Classify, When};
pub use deadline::Deadline;
pub use error::{ConfigError, RetryError, StopReason};
pub use observer::{Observer, RetryStats, RetryStatsSnapshot};
pub use policy::{DEFAULT_DEADLINE, Decision, RetryPolicy, RetryPolicyBuilder};
pub use retry::{Retry, RetryExt, Retrying};
#[cfg(feature = "sqlite")]
pub use sqlite::WriteError;
#[cfg(feature = "sqlite")]
pub use sqlite::{ConnectionProfile, OpenError, Store, StoreOptions};
#[cfg(feature = "sqlite")]
pub use writer::{IngestOptions, Row, Writer, WriterOptions};
