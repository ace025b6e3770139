//! The SQLite layer (feature `sqlite`): the only module that imports `rusqlite`.
//!
//! - Classification: `rusqlite::Error` is [`Classify`](crate::Classify) by result code (the table is
//!   in [`classify_code`]'s module docs); [`code_name`] and [`extended_code`] name codes for logs.
//! - [`ConnectionProfile`]: WAL, busy_timeout, synchronous, foreign_keys, applied and read back on
//!   every open; [`OpenError`] names the file.
//! - [`Store`]: `write(|tx| ..)` in `BEGIN IMMEDIATE`, retried whole; `read(|conn| ..)`; a fair
//!   in-process write queue; lock-hold times ([`LockHold`]).

mod classify;
mod lock_hold;
mod profile;
mod queue;
mod store;

pub use classify::{RETRYABLE_CODES, SQLITE_BUSY, SQLITE_LOCKED, classify_code, code_name, extended_code};
pub use lock_hold::{DEFAULT_SLOW_LOCK_HOLD, LockHold, LockHoldSnapshot};
pub use profile::{ConnectionProfile, JournalMode, OpenError, OpenErrorKind, Synchronous, WalFallback};
pub use store::{Store, StoreOptions};
