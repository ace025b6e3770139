//! From a [`Config`] to the SQLite layer's settings: the connection profile and the store's
//! options. The configuration is plain data in the engine; this is where it meets SQLite.

use super::profile::{ConnectionProfile, Synchronous, WalFallback};
use super::store::StoreOptions;
use crate::config::{Config, SqliteConfig, SynchronousMode};
use crate::error::ConfigError;

impl From<SynchronousMode> for Synchronous {
    fn from(mode: SynchronousMode) -> Self {
        match mode {
            SynchronousMode::Off => Synchronous::Off,
            SynchronousMode::Normal => Synchronous::Normal,
            SynchronousMode::Full => Synchronous::Full,
            SynchronousMode::Extra => Synchronous::Extra,
        }
    }
}

impl ConnectionProfile {
    /// The profile `[sqlite]` describes (busy_timeout, synchronous, foreign_keys, require_wal).
    ///
    /// # Examples
    ///
    /// ```
    /// use sqlretry::config::Config;
    /// use sqlretry::sqlite::ConnectionProfile;
    /// use std::time::Duration;
    ///
    /// let config = Config::from_toml_str("[sqlite]\nbusy_timeout = \"0s\"")?;
    /// let profile = ConnectionProfile::from_config(&config.sqlite);
    /// assert_eq!(profile.busy_timeout(), Duration::ZERO);
    /// # Ok::<(), sqlretry::ConfigError>(())
    /// ```
    #[must_use]
    pub fn from_config(sqlite: &SqliteConfig) -> Self {
        ConnectionProfile::default()
            .with_busy_timeout(sqlite.busy_timeout)
            .with_synchronous(sqlite.synchronous.into())
            .with_foreign_keys(sqlite.foreign_keys)
            .with_wal_fallback(if sqlite.require_wal { WalFallback::Error } else { WalFallback::Warn })
    }
}

impl StoreOptions {
    /// The store options a whole configuration describes: `[sqlite]`, `[retry.write]`,
    /// `[retry.read]` and `[budget]`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the bad field.
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        Ok(StoreOptions::default()
            .with_profile(ConnectionProfile::from_config(&config.sqlite))
            .with_write_policy(config.write_policy()?)
            .with_read_policy(config.read_policy()?)
            .with_slow_lock_hold(config.sqlite.lock_hold_warning))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_reaches_the_store() {
        let config = Config::from_toml_str(
            "[sqlite]\nbusy_timeout = \"250ms\"\n[retry.write]\nmax_attempts = 4\n[retry.read]\nmax_attempts = 2",
        )
        .unwrap();
        let options = StoreOptions::from_config(&config).unwrap();
        assert_eq!(options.profile().busy_timeout(), std::time::Duration::from_millis(250));
        assert_eq!(options.write_policy().max_attempts(), 4);
        assert_eq!(options.read_policy().max_attempts(), 2);
        let bad = Config::from_toml_str("[retry.write]\nmultiplier = 0.1").unwrap();
        assert_eq!(StoreOptions::from_config(&bad).unwrap_err().field(), Some("retry.write.multiplier"));
    }
}
