//! The SQLite layer (feature `sqlite`): the only module that imports `rusqlite`.
//!
//! - Classification: `rusqlite::Error` is [`Classify`](crate::Classify) by result code (the table is
//!   in [`classify_code`]'s module docs); [`code_name`] and [`extended_code`] name codes for logs.
//! - [`ConnectionProfile`]: WAL, busy_timeout, synchronous, foreign_keys, applied and read back on
//!   every open; [`OpenError`] names the file.

mod classify;
mod profile;

pub use classify::{RETRYABLE_CODES, SQLITE_BUSY, SQLITE_LOCKED, classify_code, code_name, extended_code};
pub use profile::{ConnectionProfile, JournalMode, OpenError, OpenErrorKind, Synchronous, WalFallback};
