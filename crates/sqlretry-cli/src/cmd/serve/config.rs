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
//! alert_batch_failures = 10     # the tick store's alert rules: failed messages per alert_window,
//! alert_success_rate = 0.95     # message success rate over alert_success_window,
//! alert_retries_per_minute = 500  # writer retries per alert_window
//! alert_window = "1m"
//! alert_success_window = "5m"
//! webhook_url = "http://127.0.0.1:9000/alerts"  # optional, http:// only (no TLS client in the
//!                               # tree); POSTed when an alert starts and ends
//! tokens_file = "/etc/sqlretry/tokens"  # `NAME SCOPES SECRET` lines; required off loopback
//! allowed_origins = ["https://desk.example"]  # browser pages that may open WebSockets (none)
//! tls_cert = "/etc/sqlretry/cert.pem"   # with tls_key: https and wss only
//! tls_key = "/etc/sqlretry/key.pem"
//! header_read_timeout = "10s"   # a request's headers (and a TLS handshake) must arrive in this
//! body_read_timeout = "30s"     # a request's body must arrive in this (408 otherwise)
//! ws_idle_timeout = "60s"       # a silent WebSocket is pinged at half of it, closed at its end
//! max_connections = 10000       # open connections; past it 503 and close
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
//! (`SQLRETRY_SERVE_MAX_BODY=4096`; a list comma-separated). `SQLRETRY_SERVE_TOKENS` is not a
//! key: it carries token lines themselves, read by the `--tokens` flag. A bad value is an error naming the variable; an unknown
//! `SQLRETRY_SERVE_…` variable is a warning naming the nearest known one.

use std::path::PathBuf;
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
    "alert_window",
    "alert_success_window",
    "webhook_url",
    "tokens_file",
    "allowed_origins",
    "tls_cert",
    "tls_key",
    "header_read_timeout",
    "body_read_timeout",
    "ws_idle_timeout",
    "max_connections",
    "model",
    "timestamp_unit",
    "read_limit",
    "read_limit_max",
    "read_connections",
];

/// `SQLRETRY_SERVE_…` variables that are not keys (so not warned about).
const NOT_KEYS: &[&str] = &["SQLRETRY_SERVE_TOKENS"];

/// Keys holding a list: their variable is comma-separated.
const LISTS: &[&str] = &["allowed_origins"];

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
    /// Alert when more messages than this failed (were not committed) within `alert_window`
    /// (default 10).
    pub alert_batch_failures: u64,
    /// Alert when the message success rate over `alert_success_window` falls below this
    /// (default 0.95).
    pub alert_success_rate: f64,
    /// Alert when the writer retried more than this within `alert_window` (default 500).
    pub alert_retries_per_minute: u64,
    /// The window of the failures and retries rules (default 1 min): a rule resolves once its
    /// events are older than this.
    #[serde(with = "sqlretry::config::duration")]
    pub alert_window: Duration,
    /// The window of the success-rate rule (default 5 min).
    #[serde(with = "sqlretry::config::duration")]
    pub alert_success_window: Duration,
    /// An `http://` URL receiving a JSON POST when an alert starts and when it ends (`https://` is
    /// refused at start: no TLS client is in the dependency tree).
    pub webhook_url: Option<String>,
    /// Bearer tokens, one `NAME SCOPES SECRET` a line (scopes `ingest`, `read`, `admin`);
    /// required when listening beyond loopback.
    pub tokens_file: Option<PathBuf>,
    /// Browser origins (`https://desk.example`) allowed to open WebSockets; none by default.
    pub allowed_origins: Vec<String>,
    /// The TLS certificate chain (PEM); with `tls_key`, the service speaks https/wss only.
    pub tls_cert: Option<PathBuf>,
    /// The TLS private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// A request's headers (and a TLS handshake) must arrive within this (default 10 s).
    #[serde(with = "sqlretry::config::duration")]
    pub header_read_timeout: Duration,
    /// A request's body must arrive within this (default 30 s); 408 otherwise.
    #[serde(with = "sqlretry::config::duration")]
    pub body_read_timeout: Duration,
    /// A silent WebSocket is pinged at half of this and closed at its end (default 60 s).
    #[serde(with = "sqlretry::config::duration")]
    pub ws_idle_timeout: Duration,
    /// Open connections, HTTP and WebSocket (default 10,000); past it 503 and close.
    pub max_connections: usize,
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
            alert_window: Duration::from_secs(60),
            alert_success_window: Duration::from_secs(300),
            webhook_url: None,
            tokens_file: None,
            allowed_origins: Vec::new(),
            tls_cert: None,
            tls_key: None,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            ws_idle_timeout: Duration::from_secs(60),
            max_connections: 10_000,
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
            if NOT_KEYS.contains(&name) {
                continue;
            }
            let Some(key) = KEYS.iter().find(|key| key.eq_ignore_ascii_case(rest)) else {
                let unknown = UnknownVariable::new(name, Self::variables());
                tracing::warn!(variable = name, nearest = unknown.nearest.as_deref(), "{unknown}");
                warnings.push(unknown);
                continue;
            };
            let value = if LISTS.contains(key) {
                toml::Value::Array(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|v| !v.is_empty())
                        .map(|v| v.to_owned().into())
                        .collect(),
                )
            } else {
                sqlretry::config::parse_env_value(value)
            };
            table.insert((*key).to_owned(), value);
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
            ("max_connections", self.max_connections),
            ("read_limit", self.read_limit),
            ("read_limit_max", self.read_limit_max),
            ("read_connections", self.read_connections),
        ] {
            if value == 0 {
                return Err(ConfigError::invalid(format!("{SECTION}.{key}"), 0, "must be at least 1"));
            }
        }
        for (key, value) in [
            ("header_read_timeout", self.header_read_timeout),
            ("body_read_timeout", self.body_read_timeout),
            ("ws_idle_timeout", self.ws_idle_timeout),
            ("alert_window", self.alert_window),
            ("alert_success_window", self.alert_success_window),
        ] {
            if value.is_zero() {
                return Err(ConfigError::invalid(
                    format!("{SECTION}.{key}"),
                    "0s",
                    "must be longer than zero",
                ));
            }
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError::invalid(
                format!("{SECTION}.tls_key"),
                "(one of two)",
                "tls_cert and tls_key go together",
            ));
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
                "SQLRETRY_SERVE_ALLOWED_ORIGINS" => "https://a.example, https://b.example",
                "SQLRETRY_SERVE_HEADER_READ_TIMEOUT"
                | "SQLRETRY_SERVE_BODY_READ_TIMEOUT"
                | "SQLRETRY_SERVE_WS_IDLE_TIMEOUT"
                | "SQLRETRY_SERVE_ALERT_WINDOW"
                | "SQLRETRY_SERVE_ALERT_SUCCESS_WINDOW" => "3s",
                "SQLRETRY_SERVE_TOKENS_FILE" => "/etc/tokens",
                "SQLRETRY_SERVE_TLS_CERT" | "SQLRETRY_SERVE_TLS_KEY" => "/etc/tls.pem",
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
            if !var.starts_with("SQLRETRY_SERVE_TLS_") {
                config.validate().unwrap();
            }
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
