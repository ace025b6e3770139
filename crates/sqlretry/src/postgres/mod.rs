//! PostgreSQL, and distributed SQL that speaks its protocol (feature `postgres`): the same engine
//! at SERIALIZABLE.
//!
//! - [`classify`]: SQLSTATE → [`Class`](crate::Class). 40001 (serialization failure), 40P01
//!   (deadlock) and 55P03 (lock not available) re-run the whole transaction; a connection lost
//!   before COMMIT re-runs it on a fresh connection; a connection lost *during* COMMIT is
//!   [`PgError::CommitOutcomeUnknown`], never retried blindly; everything else is permanent and
//!   keeps its code, message and detail.
//! - [`PgStore`]: a pool (deadpool-postgres) whose `write(|tx| …)` runs a whole transaction, at
//!   SERIALIZABLE unless configured, retried whole under a [`RetryPolicy`](crate::RetryPolicy),
//!   its deadline, its budget and an observer ([`PgMetrics`]: SQLite's metric names with
//!   `backend = "postgres"`).
//! - The retry seats (`retry_seats.rs`, [`PgOptions::with_retry_seats`]): after a conflict, a write's
//!   later attempts take turns with the other retried writes, oldest first, so that none loses
//!   over and over; bounded by the write's deadline.
//! - [`BlockingPgStore`]: the blocking twin for sync callers (a current-thread runtime of its
//!   own, no extra thread).
//! - [`PgStore::write_idempotent`]: a key recorded inside the transaction makes a lost COMMIT safe
//!   to retry ([`idempotent`]).
//! - [`cockroach`]: CockroachDB's `SAVEPOINT cockroach_restart` protocol as an option.
//! - [`PgOptions`]: built in code or from the `[postgres]` section of the same configuration
//!   ([`crate::config::PostgresConfig`]) that configures SQLite.
//!
//! Why SERIALIZABLE: at READ COMMITTED a read-modify-write loses updates *silently* — no error at
//! all (`tests/postgres_contention.rs` counts them). At SERIALIZABLE the same conflict is a 40001
//! that only a retry of the whole transaction fixes.
//!
//! # Design
//!
//! One function makes an attempt (`attempt.rs`: pooled connection, BEGIN, key, body, COMMIT, each
//! wait bounded by the call's one [`Deadline`](crate::Deadline)); the engine's
//! [`Retry::call_async`](crate::Retry::call_async) decides between attempts. A connection that
//! timed out or lost its COMMIT is taken out of the pool, never reused. The module starts no
//! thread: tokio-postgres' connection tasks run on the caller's runtime.

pub(crate) mod attempt;
mod blocking;
pub mod classify;
pub mod cockroach;
mod idempotency_key;
pub mod idempotent;
mod metrics;
mod options;
mod retry_seats;
mod store;
mod tx_future;
mod within;

pub use blocking::BlockingPgStore;
pub use classify::{PgError, classify_sqlstate, is_connection_loss};
pub use idempotent::{IDEMPOTENCY_TABLE, Idempotent};
pub use metrics::PgMetrics;
pub use options::PgOptions;
pub use store::PgStore;
pub use tx_future::TxFuture;
pub use {deadpool_postgres, tokio_postgres};
