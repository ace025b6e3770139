//! The SQLite layer (feature `sqlite`): one file's write side, and the only module that imports
//! `rusqlite` (with `group_commit/` and `writer/` above it).
//!
//! - **Classification** by result code, never by message text: `rusqlite::Error` implements
//!   [`Classify`](crate::Classify) (see [`classify_code`] for the rule and the table below);
//!   [`code_name`] and [`extended_code`] name codes for logs and reports.
//! - [`ConnectionProfile`]: WAL, busy_timeout, synchronous, foreign_keys, applied and read back on
//!   every open; [`OpenError`] names the file.
//! - [`Store`]: `write(|tx| ..)` in `BEGIN IMMEDIATE`, retried whole, bounded by one deadline
//!   ([`Store::write_until`]); `read(|conn| ..)`; a fair in-process write queue; lock-hold times
//!   ([`LockHold`]); [`Store::write_grouped`] and [`Store::write_async`] for group commit of
//!   `Send + 'static` closures (the crate's group-commit engine, `group_commit/`, on the store's
//!   own write side).
//! - [`WriteSideOptions`]: profile, write policy, WAL limit, slow lock hold, barging window — the
//!   same settings for a [`Store`] and a [`Writer`](crate::writer::Writer).
//!
//! Inside: `attempt.rs` is the one transaction attempt of every write path, on a `write_side.rs`
//! (connection, `turns.rs`, `process_lock.rs`, `lock_hold.rs`, `wal_watch.rs`). A new SQLite
//! error class (which result codes are retried) goes in `classify.rs`; a new way of setting up
//! connections in `profile.rs`.
//! - [`Store::write_if_version`]: the optimistic write after slow work ([`Outcome`]).
//! - [`StateStore`]: key → value state (bytes or JSON).
//! - [`FileLock`]: a retried exclusive file lock with atomic writes.
//! - [`WalWatch`]: notices a WAL that a long-lived reader keeps from being checkpointed, warns,
//!   exports its size and checkpoints it once the reader lets go.
//! - [`write_on`] / [`write_on_until`]: the whole-transaction retry on a connection you bring (from
//!   a pool, from tokio-rusqlite's thread, your own).
//!
//! # Which errors are retried
//!
//! The primary code is `extended & 0xFF`.
//!
//! | code | name | class | why |
//! |---:|---|---|---|
//! | 5 | SQLITE_BUSY | retryable | another connection holds the lock |
//! | 261 | SQLITE_BUSY_RECOVERY | retryable | another connection is recovering the WAL |
//! | 517 | SQLITE_BUSY_SNAPSHOT | retryable | a stale read snapshot cannot become a write: only re-running the *whole* transaction helps |
//! | 773 | SQLITE_BUSY_TIMEOUT | retryable | a blocking lock timed out |
//! | 6 | SQLITE_LOCKED | retryable | a conflict inside one connection (e.g. DROP TABLE while a statement reads it) |
//! | 262 | SQLITE_LOCKED_SHAREDCACHE | retryable | a conflict in a shared cache |
//! | 518 | SQLITE_LOCKED_VTAB | retryable | a virtual table is locked |
//! | 19, 275, 531, 787, 1043, 1299, 1555, 1811, 2067, 2323, 2579, 2835, 3091 | SQLITE_CONSTRAINT_* | permanent | the data breaks a constraint; the same data breaks it again |
//! | 20 | SQLITE_MISMATCH | permanent | type mismatch |
//! | 1, 257, 513, 769, 1025, 1281, 1537 | SQLITE_ERROR_* | permanent | SQL error, missing table or column |
//! | 8, 264, 520, 776, 1032, 1288, 1544 | SQLITE_READONLY_* | permanent | the file or connection is read-only |
//! | 11, 267, 523, 779 | SQLITE_CORRUPT_* | permanent | the file is damaged |
//! | 26 | SQLITE_NOTADB | permanent | the file is not a database |
//! | 13 | SQLITE_FULL | permanent | the disk is full |
//! | 10, 266, 522, … 9226 | SQLITE_IOERR_* | permanent | an I/O error from the operating system |
//! | 14, 270, 526, 782, 1038, 1294, 1550 | SQLITE_CANTOPEN_* | permanent | the file cannot be opened |
//! | every other code | | permanent | SQLITE_ABORT, INTERRUPT, NOMEM, SCHEMA, TOOBIG, MISUSE, RANGE, AUTH, … |
//!
//! An error that is not a `SqliteFailure` (a type conversion, an invalid parameter name, a query
//! that returned no rows) is permanent: it comes from the caller's code or data, not from contention.

pub(crate) mod attempt;
mod classify;
pub(crate) mod file_errors;
mod file_lock;
mod lock_hold;
mod optimistic;
pub(crate) mod permissions;
pub(crate) mod process_lock;
mod profile;
mod state_store;
mod store;
mod store_config;
mod transaction_on;
mod turns;
mod wal_watch;
pub(crate) mod write_error;
pub(crate) mod write_side;
mod write_side_options;

pub use classify::{RETRYABLE_CODES, SQLITE_BUSY, SQLITE_LOCKED, classify_code, code_name, extended_code};
pub use file_lock::FileLock;
pub use lock_hold::{DEFAULT_SLOW_LOCK_HOLD, LockHold, LockHoldSnapshot};
pub use optimistic::{Outcome, SkipReason};
pub use profile::{ConnectionProfile, JournalMode, OpenError, OpenErrorKind, Synchronous, WalFallback};
pub use state_store::{StateError, StateStore};
pub use store::{Store, StoreOptions};
pub use transaction_on::{write_on, write_on_until};
pub use wal_watch::{DEFAULT_CHECKPOINT_BUDGET, DEFAULT_WAL_LIMIT, WalCheck, WalWatch};
pub use write_error::WriteError;
pub use write_side_options::WriteSideOptions;
pub(crate) use write_side_options::write_side_setters;
