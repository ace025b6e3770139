//! `[sqlite]`: how connections are set up.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration;

/// `synchronous` as written in a file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum SynchronousMode {
    /// `PRAGMA synchronous=OFF`.
    Off,
    /// `PRAGMA synchronous=NORMAL` (the default: durable in WAL mode except on power loss).
    #[default]
    Normal,
    /// `PRAGMA synchronous=FULL`.
    Full,
    /// `PRAGMA synchronous=EXTRA`.
    Extra,
}

/// `[sqlite]`: how connections are set up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SqliteConfig {
    /// SQLite's own busy wait per statement (default 5 s; `0s` leaves waiting to the retry policy
    /// alone).
    #[serde(with = "duration")]
    pub busy_timeout: Duration,
    /// `PRAGMA synchronous` (default normal).
    pub synchronous: SynchronousMode,
    /// `PRAGMA foreign_keys` (default on).
    pub foreign_keys: bool,
    /// Refuse to open where WAL cannot be had (default); `false` logs a warning instead.
    pub require_wal: bool,
    /// A write holding the lock longer than this is logged as a warning (default 1 s).
    #[serde(with = "duration")]
    pub lock_hold_warning: Duration,
}

impl Default for SqliteConfig {
    fn default() -> Self {
        SqliteConfig {
            busy_timeout: Duration::from_secs(5),
            synchronous: SynchronousMode::Normal,
            foreign_keys: true,
            require_wal: true,
            lock_hold_warning: Duration::from_secs(1),
        }
    }
}
