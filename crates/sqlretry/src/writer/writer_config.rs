//! From a [`Config`] to the writer's options: `[writer]`, `[ingest]`, `[sqlite]` and the batch and
//! write policies.

use super::options::{IngestOptions, WriterOptions};
use crate::config::Config;
use crate::error::ConfigError;
use crate::sqlite::ConnectionProfile;

impl WriterOptions {
    /// The writer options a whole configuration describes: `[writer]`, `[sqlite]` (the profile of
    /// the write connection) and `[retry.write]` (the policy of a group transaction).
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the bad field.
    ///
    /// # Examples
    ///
    /// ```
    /// use sqlretry::config::Config;
    /// use sqlretry::writer::WriterOptions;
    ///
    /// let config = Config::from_toml_str("[writer]\nmax_group = 64\nqueue_capacity = 128")?;
    /// let options = WriterOptions::from_config(&config)?;
    /// assert_eq!((options.max_group(), options.queue_capacity()), (64, 128));
    /// # Ok::<(), sqlretry::ConfigError>(())
    /// ```
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        config.validate()?;
        let w = &config.writer;
        Ok(WriterOptions::default()
            .with_max_group(w.max_group)
            .with_window(w.window)
            .with_queue_capacity(w.queue_capacity)
            .with_alert_threshold(w.alert_threshold)
            .with_drop_timeout(w.drop_timeout)
            .with_process_lock(w.process_lock)
            .with_profile(ConnectionProfile::from_config(&config.sqlite))
            .with_slow_lock_hold(config.sqlite.lock_hold_warning)
            .with_write_policy(config.write_policy()?))
    }
}

impl IngestOptions {
    /// The ingest options a whole configuration describes: `[ingest]` and `[retry.batch]`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the bad field.
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        config.validate()?;
        let i = &config.ingest;
        Ok(IngestOptions::default()
            .with_batch_size(i.batch_size)
            .with_interval(i.flush_interval)
            .with_capacity(i.capacity)
            .with_policy(config.batch_policy()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_file_reaches_the_writer_and_its_ingest_lane() {
        let config = Config::from_toml_str(
            "[writer]\nwindow = \"1ms\"\n[ingest]\nbatch_size = 50\nflush_interval = \"5ms\"\ncapacity = 100",
        )
        .unwrap();
        let w = WriterOptions::from_config(&config).unwrap();
        assert_eq!(w.window(), Duration::from_millis(1));
        let i = IngestOptions::from_config(&config).unwrap();
        assert_eq!((i.batch_size(), i.interval(), i.capacity()), (50, Duration::from_millis(5), 100));
        let bad = Config::from_toml_str("[ingest]\ncapacity = 0").unwrap();
        assert_eq!(IngestOptions::from_config(&bad).unwrap_err().field(), Some("ingest.capacity"));
    }
}
