//! `[serve]` and `SQLRETRY_SERVE_…`: the tick store service's own settings. They belong to the
//! command, not to the library: the command's configuration file embeds the library's tables
//! beside this one (see `crate::settings`).
//!
//! ```toml
//! [serve]
//! listen = "127.0.0.1:8080"     # other than loopback needs --allow-remote too
//! max_body = 1048576            # bytes per HTTP body or WebSocket message; larger: 413
//! max_symbol_len = 32
//! inflight_per_connection = 64  # unacknowledged messages a connection may have
//! inflight_total = 4096         # messages being written at once, all connections (memory held
//!                               # by ingest stays below about inflight_total × max_body)
//! drain_timeout = "10s"         # SIGTERM: how long in-flight writes may take to finish
//! alert_batch_failures = 10     # the tick store's alert rules
//! alert_success_rate = 0.95
//! alert_retries_per_minute = 500
//! webhook_url = "http://127.0.0.1:9000/alerts"  # optional, http:// only (no TLS client in the
//!                               # tree); POSTed when an alert starts and ends
//!
//! # the tick model: the stored columns
//! model = "quote"               # quote (bid, ask, spread, lp_source) | trade (price, volume, side) | custom
//! timestamp_unit = "ms"         # integer timestamps: s | ms | us | ns (RFC 3339 strings always accepted)
//! [[serve.columns]]             # more columns after the preset's (or the only ones, with "custom")
//! name = "venue"
//! type = "text"                 # real | integer | text
//! required = false
//!
//! # reads
//! read_limit = 1000             # ticks per page of GET /api/ticks when `limit` is not given
//! read_limit_max = 10000        # the largest `limit` accepted
//! read_connections = 4          # read-only connections (WAL: reads never block ingest)
//! ```
//!
//! A variable overrides one key: `SQLRETRY_SERVE_` and the key in capitals
//! (`SQLRETRY_SERVE_MAX_BODY=4096`). A bad value is an error naming the variable; an unknown
//! `SQLRETRY_SERVE_…` variable is a warning naming the nearest known one.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlretry::ConfigError;

use super::model::{ColumnConfig, Preset};
use super::timestamp::TimeUnit;
use sqlretry::config::UnknownVariable;

/// The table's name in the configuration file.
pub const SECTION: &str = "serve";

/// The prefix of the variables that override `[serve]`.
pub const ENV_PREFIX: &str = "SQLRETRY_SERVE_";

/// Every key a variable may override.
const KEYS: &[&str] = &[
    "listen",
    "max_body",
    "max_symbol_len",
    "inflight_per_connection",
    "inflight_total",
    "drain_timeout",
    "alert_batch_failures",
    "alert_success_rate",
    "alert_retries_per_minute",
    "webhook_url",
    "model",
    "timestamp_unit",
    "read_limit",
    "read_limit_max",
    "read_connections",
];

/// `[serve]`: the tick store service (`sqlretry serve`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServeConfig {
    /// The address to listen on (default `127.0.0.1:8080`).
    pub listen: String,
    /// Largest HTTP body or WebSocket message, in bytes (default 1 MiB); larger ones get 413.
    pub max_body: usize,
    /// Longest symbol, in bytes (default 32).
    pub max_symbol_len: usize,
    /// Unacknowledged messages one WebSocket connection may have (default 64); past it the
    /// server stops reading from that connection.
    pub inflight_per_connection: usize,
    /// Messages or bodies being written at once over all connections (default 4096); past it
    /// WebSocket connections wait and HTTP answers 503.
    pub inflight_total: usize,
    /// How long a SIGTERM drain may take (default 10 s).
    #[serde(with = "sqlretry::config::duration")]
    pub drain_timeout: Duration,
    /// Alert when more batches than this failed (default 10).
    pub alert_batch_failures: u64,
    /// Alert when the batch success rate falls below this (default 0.95).
    pub alert_success_rate: f64,
    /// Alert when more retries than this happened in the last minute (default 500).
    pub alert_retries_per_minute: u64,
    /// An `http://` URL receiving a JSON POST when an alert starts and when it ends (`https://` is
    /// refused at start: no TLS client is in the dependency tree).
    pub webhook_url: Option<String>,
    /// The stored columns' preset (default `quote`: what the seed's Go tick server stores).
    pub model: Preset,
    /// The unit of integer timestamps (default `ms`); RFC 3339 strings are always accepted.
    pub timestamp_unit: TimeUnit,
    /// Columns stored after the preset's.
    pub columns: Vec<ColumnConfig>,
    /// Ticks per page of `GET /api/ticks` without `limit` (default 1000).
    pub read_limit: usize,
    /// The largest `limit` accepted (default 10,000).
    pub read_limit_max: usize,
    /// Read-only connections for the read endpoints (default 4).
    pub read_connections: usize,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: "127.0.0.1:8080".into(),
            max_body: 1 << 20,
            max_symbol_len: 32,
            inflight_per_connection: 64,
            inflight_total: 4096,
            drain_timeout: Duration::from_secs(10),
            alert_batch_failures: 10,
            alert_success_rate: 0.95,
            alert_retries_per_minute: 500,
            webhook_url: None,
            model: Preset::Quote,
            timestamp_unit: TimeUnit::Ms,
            columns: Vec::new(),
            read_limit: 1000,
            read_limit_max: 10_000,
            read_connections: 4,
        }
    }
}

impl ServeConfig {
    /// The variables naming a key, e.g. `SQLRETRY_SERVE_MAX_BODY`.
    pub fn variables() -> impl Iterator<Item = String> {
        KEYS.iter().map(|key| format!("{ENV_PREFIX}{}", key.to_uppercase()))
    }

    /// Applies `SQLRETRY_SERVE_…` overrides from `vars`; other variables are the caller's to
    /// give to the library. Returns the settings and a warning for each unknown
    /// `SQLRETRY_SERVE_…` variable.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Parse`] naming the variable when its value does not fit.
    pub fn with_env<'a>(
        self,
        vars: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<(Self, Vec<UnknownVariable>), ConfigError> {
        let mut table = toml::Table::try_from(&self)
            .map_err(|e| ConfigError::Parse { origin: format!("[{SECTION}]"), message: e.to_string() })?;
        let mut config = self;
        let mut warnings = Vec::new();
        for (name, value) in vars {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else { continue };
            let Some(key) = KEYS.iter().find(|key| key.eq_ignore_ascii_case(rest)) else {
                let unknown = UnknownVariable::new(name, Self::variables());
                tracing::warn!(variable = name, nearest = unknown.nearest.as_deref(), "{unknown}");
                warnings.push(unknown);
                continue;
            };
            table.insert((*key).to_owned(), sqlretry::config::parse_env_value(value));
            // Checked after each variable, so an error names the variable at fault.
            config = table.clone().try_into().map_err(|e: toml::de::Error| ConfigError::Parse {
                origin: name.into(),
                message: e.to_string(),
            })?;
        }
        Ok((config, warnings))
    }

    /// Checks every value.
    ///
    /// # Errors
    ///
    /// The first [`ConfigError::Invalid`] found, naming its field (`serve.max_body`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (key, value) in [
            ("max_body", self.max_body),
            ("max_symbol_len", self.max_symbol_len),
            ("inflight_per_connection", self.inflight_per_connection),
            ("inflight_total", self.inflight_total),
            ("read_limit", self.read_limit),
            ("read_limit_max", self.read_limit_max),
            ("read_connections", self.read_connections),
        ] {
            if value == 0 {
                return Err(ConfigError::invalid(format!("{SECTION}.{key}"), 0, "must be at least 1"));
            }
        }
        if !(0.0..=1.0).contains(&self.alert_success_rate) {
            return Err(ConfigError::invalid(
                format!("{SECTION}.alert_success_rate"),
                self.alert_success_rate,
                "must be between 0 and 1",
            ));
        }
        if self.read_limit > self.read_limit_max {
            return Err(ConfigError::invalid(
                format!("{SECTION}.read_limit"),
                self.read_limit,
                format!("must not exceed read_limit_max ({})", self.read_limit_max),
            ));
        }
        super::model::Model::new(self.model, &self.columns)
            .map_err(|e| ConfigError::invalid(format!("{SECTION}.columns"), "…", e))?;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_variable_is_a_real_setting() {
        for var in ServeConfig::variables() {
            let value = match var.as_str() {
                "SQLRETRY_SERVE_LISTEN" => "127.0.0.1:9",
                "SQLRETRY_SERVE_WEBHOOK_URL" => "http://127.0.0.1:9/alerts",
                "SQLRETRY_SERVE_DRAIN_TIMEOUT" => "3s",
                "SQLRETRY_SERVE_ALERT_SUCCESS_RATE" => "0.5",
                "SQLRETRY_SERVE_MODEL" => "trade",
                "SQLRETRY_SERVE_TIMESTAMP_UNIT" => "ns",
                "SQLRETRY_SERVE_READ_LIMIT_MAX" => "30000",
                _ => "3",
            };
            let (config, warnings) = ServeConfig::default()
                .with_env([(var.as_str(), value)])
                .unwrap_or_else(|e| panic!("{var}: {e}"));
            assert!(warnings.is_empty(), "{var}: {warnings:?}");
            assert_ne!(config, ServeConfig::default(), "{var} changed nothing");
            config.validate().unwrap();
        }
    }

    #[test]
    fn bad_values_name_the_variable_or_the_field() {
        let err = ServeConfig::default().with_env([("SQLRETRY_SERVE_MAX_BODY", "big")]).unwrap_err();
        assert!(err.to_string().contains("SQLRETRY_SERVE_MAX_BODY"), "{err}");
        let (_, warnings) = ServeConfig::default().with_env([("SQLRETRY_SERVE_LISTN", "x")]).unwrap();
        assert_eq!(warnings[0].nearest.as_deref(), Some("SQLRETRY_SERVE_LISTEN"));
        let zero = ServeConfig { inflight_total: 0, ..ServeConfig::default() };
        assert_eq!(zero.validate().unwrap_err().field(), Some("serve.inflight_total"));
        let rate = ServeConfig { alert_success_rate: 1.5, ..ServeConfig::default() };
        assert_eq!(rate.validate().unwrap_err().field(), Some("serve.alert_success_rate"));
    }
}
