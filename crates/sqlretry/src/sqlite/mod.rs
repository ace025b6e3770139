//! The SQLite layer (feature `sqlite`): the only module that imports `rusqlite`.
//!
//! - [`classify`](self::classify_code): `rusqlite::Error` is [`Classify`](crate::Classify) by result
//!   code; [`code_name`] and [`extended_code`] name codes for logs and reports.

mod classify;

pub use classify::{RETRYABLE_CODES, SQLITE_BUSY, SQLITE_LOCKED, classify_code, code_name, extended_code};
