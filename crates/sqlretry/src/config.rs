//! Configuration: a TOML file, overridable by `SQLRETRY_…` environment variables, validated into
//! policies. Every refusal names the field (as written in the file, or the variable) and the value.
//!
//! Length: one serde struct per TOML table with its defaults and validation, plus a fifth of unit
//! tests; the environment (`config/env.rs`), deadlines (`config/deadline.rs`) and `[postgres]`
//! (`config/postgres.rs`) are split out. Splitting each table into its own file is the next step.
//!
//! ```toml
//! [retry.write]                 # every table and key is optional; defaults are the presets
//! preset = "store-writes"       # store-writes | state-store | batch-writes | transactional-writes | reads | file-lock
//! max_attempts = 10             # counts the first call
//! initial_delay = "10ms"
//! multiplier = 2.0
//! max_delay = "100ms"
//! jitter = "full"               # none | full | equal | decorrelated | proportional
//! jitter_factor = 0.25          # with jitter = "proportional"
//! deadline = "2s"               # total, attempts and sleeps included; "none" for no deadline
//!                               # (absent: the preset's finite deadline, see RetryPolicy's docs)
//!
//! [retry.read]                  # default preset: reads
//! [retry.batch]                 # default preset: batch-writes
//! [retry.state_store]           # default preset: state-store
//! [retry.file_lock]             # default preset: file-lock
//!
//! [budget]                      # a retry budget shared by all policies (absent: none)
//! ratio = 0.1
//! floor_per_second = 10
//!
//! [sqlite]
//! busy_timeout = "5s"           # 0 for purely application-level control
//! synchronous = "normal"        # off | normal | full | extra
//! foreign_keys = true
//! require_wal = true            # false: a logged warning instead of an error where WAL is impossible
//! lock_hold_warning = "1s"
//!
//! [writer]                      # one writer per file, group commit
//! max_batch = 512               # requests per group transaction
//! window = "0s"                 # how long a group may fill under load
//! queue_capacity = 4096
//! alert_threshold = 10          # failed batches before the alert (spec 002)
//! drop_timeout = "10s"
//! process_lock = true           # writers in other processes take turns through a file lock
//!
//! [ingest]                      # batched fire-and-forget rows (spec 002)
//! batch_size = 500
//! flush_interval = "100ms"
//! capacity = 20000
//!
//! [postgres]                    # PgStore (feature `postgres`); the URL is never logged with its password
//! url = "postgres://app@127.0.0.1:5432/app"   # or SQLRETRY_POSTGRES_URL / DATABASE_URL (read by the caller)
//! pool_size = 16
//! isolation = "serializable"    # read-committed | repeatable-read | serializable
//! mode = "whole-transaction"    # or cockroach-savepoint (SAVEPOINT cockroach_restart)
//! connect_timeout = "5s"
//! lock_timeout = "2s"           # optional: SET lock_timeout on each connection
//! statement_timeout = "30s"     # optional: SET statement_timeout on each connection
//!
//! [serve]                       # `sqlretry serve`, the tick store service (spec 002)
//! listen = "127.0.0.1:8080"     # other than loopback needs --allow-remote too
//! max_body = 1048576            # bytes per HTTP body or WebSocket message; larger: 413
//! max_symbol_len = 32
//! inflight_per_connection = 64  # unacknowledged messages a connection may have
//! inflight_total = 4096         # messages being written at once, all connections (memory held
//!                               # by ingest stays below about inflight_total × max_body)
//! drain_timeout = "10s"         # SIGTERM: how long in-flight writes may take to finish
//! alert_batch_failures = 10     # spec 002's alert rules
//! alert_success_rate = 0.95
//! alert_retries_per_minute = 500
//! webhook_url = "http://127.0.0.1:9000/alerts"  # optional, http:// only (no TLS client in the
//!                               # tree); POSTed when an alert starts and ends
//! ```
//!
//! An environment variable overrides one key: its path in capitals, dots as underscores, after
//! `SQLRETRY_` — `SQLRETRY_RETRY_WRITE_MAX_ATTEMPTS=5`, `SQLRETRY_SQLITE_BUSY_TIMEOUT=0s`,
//! `SQLRETRY_RETRY_WRITE_DEADLINE=none`. A known variable with a bad value is an error naming it. An
//! unknown `SQLRETRY_…` variable is a *warning* ([`UnknownVariable`], logged at `warn` and returned
//! to the caller) naming the nearest known variable, so a typo is not silently ignored, yet a
//! wrapper script's own `SQLRETRY_BIN` does not stop the program. An unknown key in a TOML file
//! stays an error. The library never reads the process environment itself: the caller passes the
//! variables ([`Config::with_env`]).
//!
//! # Examples
//!
//! ```
//! use sqlretry::config::Config;
//!
//! let (config, warnings) = Config::from_toml_str("[retry.write]\nmax_attempts = 4\ninitial_delay = \"5ms\"\n")?
//!     .with_env([("SQLRETRY_RETRY_WRITE_DEADLINE", "1s"), ("SQLRETRY_BIN", "/usr/bin/x")])?;
//! let policy = config.write_policy()?;
//! assert_eq!(policy.max_attempts(), 4);
//! assert_eq!(policy.deadline(), Some(std::time::Duration::from_secs(1)));
//! assert_eq!(warnings[0].to_string(), "unknown variable SQLRETRY_BIN ignored");
//!
//! let err = Config::from_toml_str("[retry.write]\nmultiplier = 0.5\n")?.write_policy().unwrap_err();
//! assert_eq!(err.field(), Some("retry.write.multiplier"));
//! # Ok::<(), sqlretry::ConfigError>(())
//! ```

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

mod deadline;
mod env;
mod postgres;

pub use deadline::DeadlineConfig;
pub use env::UnknownVariable;
pub use postgres::{PgIsolation, PgRetryMode, PostgresConfig, redact_url};

use crate::backoff::Jitter;
use crate::budget::RetryBudget;
use crate::error::ConfigError;
use crate::policy::RetryPolicy;

/// The prefix of every environment variable sqlretry reads.
pub const ENV_PREFIX: &str = "SQLRETRY_";

/// The whole configuration. Every part has defaults; see the [module docs](self) for the format.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// Retry policies by kind of operation.
    pub retry: RetrySection,
    /// A retry budget shared by every policy built from this configuration.
    pub budget: Option<BudgetConfig>,
    /// How connections are set up.
    pub sqlite: SqliteConfig,
    /// The one-writer-per-file layer.
    pub writer: WriterConfig,
    /// The batched ingest path.
    pub ingest: IngestConfig,
    /// The tick store service (`sqlretry serve`).
    pub serve: ServeConfig,
    /// PostgreSQL (`PgStore`, feature `postgres`).
    pub postgres: PostgresConfig,
}

/// `[retry.*]`: one policy per kind of operation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RetrySection {
    /// Transactional writes (`Store::write`); default preset `store-writes`.
    pub write: PolicyConfig,
    /// Reads; default preset `reads`.
    pub read: PolicyConfig,
    /// Batched ingest; default preset `batch-writes`.
    pub batch: PolicyConfig,
    /// The key/value state store; default preset `state-store`.
    pub state_store: PolicyConfig,
    /// Retried file locks; default preset `file-lock`.
    pub file_lock: PolicyConfig,
}

/// A named preset (see [`RetryPolicy`]'s constructors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Preset {
    /// [`RetryPolicy::store_writes`].
    StoreWrites,
    /// [`RetryPolicy::state_store`].
    StateStore,
    /// [`RetryPolicy::batch_writes`].
    BatchWrites,
    /// [`RetryPolicy::transactional_writes`].
    TransactionalWrites,
    /// [`RetryPolicy::reads`].
    Reads,
    /// [`RetryPolicy::file_lock`].
    FileLock,
}

impl Preset {
    /// The preset's policy.
    #[must_use]
    pub fn policy(self) -> RetryPolicy {
        match self {
            Preset::StoreWrites => RetryPolicy::store_writes(),
            Preset::StateStore => RetryPolicy::state_store(),
            Preset::BatchWrites => RetryPolicy::batch_writes(),
            Preset::TransactionalWrites => RetryPolicy::transactional_writes(),
            Preset::Reads => RetryPolicy::reads(),
            Preset::FileLock => RetryPolicy::file_lock(),
        }
    }
}

/// The jitter kinds as written in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum JitterKind {
    /// [`Jitter::None`].
    None,
    /// [`Jitter::Full`].
    Full,
    /// [`Jitter::Equal`].
    Equal,
    /// [`Jitter::Decorrelated`].
    Decorrelated,
    /// [`Jitter::Proportional`] with `jitter_factor`.
    Proportional,
}

/// One policy as written in a file: a preset, then any field overriding it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct PolicyConfig {
    /// The starting point (default: the kind of operation's own preset).
    pub preset: Option<Preset>,
    /// Most attempts, the first call included.
    pub max_attempts: Option<u32>,
    /// First delay.
    #[serde(with = "opt_duration")]
    pub initial_delay: Option<Duration>,
    /// Factor between delays (≥ 1).
    pub multiplier: Option<f64>,
    /// Largest delay (≥ `initial_delay`).
    #[serde(with = "opt_duration")]
    pub max_delay: Option<Duration>,
    /// Jitter kind.
    pub jitter: Option<JitterKind>,
    /// Factor for proportional jitter (0–1).
    pub jitter_factor: Option<f64>,
    /// Total deadline, or [`DeadlineConfig::Unbounded`] (`"none"`); absent: the preset's.
    pub deadline: Option<DeadlineConfig>,
    /// Seed for reproducible jitter.
    pub seed: Option<u64>,
}

/// `[budget]`: see [`RetryBudget`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct BudgetConfig {
    /// Retries allowed per call (0.1 = 10 %).
    pub ratio: f64,
    /// Retries allowed every second regardless of calls.
    pub floor_per_second: u32,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        BudgetConfig { ratio: 0.1, floor_per_second: 10 }
    }
}

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
    /// SQLite's own busy wait per statement (default 5 s, spec 004; `0s` leaves waiting to the
    /// retry policy alone, as spec 000 asks).
    #[serde(with = "duration")]
    pub busy_timeout: Duration,
    /// `PRAGMA synchronous` (default normal).
    pub synchronous: SynchronousMode,
    /// `PRAGMA foreign_keys` (default on).
    pub foreign_keys: bool,
    /// Refuse to open where WAL cannot be had (default); `false` logs a warning instead.
    pub require_wal: bool,
    /// A write holding the lock longer than this is logged as a warning (default 1 s, spec 004).
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

/// `[writer]`: the one-writer-per-file layer (group commit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct WriterConfig {
    /// Most requests committed in one group transaction (default 512).
    pub max_batch: usize,
    /// How long the writer thread lets a group fill under load (default 0: run at once).
    #[serde(with = "duration")]
    pub window: Duration,
    /// Requests that may wait in the queue before submitters block (default 4096).
    pub queue_capacity: usize,
    /// Failed batches before the alert fires (default 10, spec 002).
    pub alert_threshold: u64,
    /// How long dropping the last handle waits for the queue to drain (default 10 s).
    #[serde(with = "duration")]
    pub drop_timeout: Duration,
    /// Writers of one file in different processes take turns through a file lock (default on).
    pub process_lock: bool,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            max_batch: 512,
            window: Duration::ZERO,
            queue_capacity: 4096,
            alert_threshold: 10,
            drop_timeout: Duration::from_secs(10),
            process_lock: true,
        }
    }
}

/// `[ingest]`: the batched, fire-and-forget append path (spec 002).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct IngestConfig {
    /// Rows per batch transaction (default 500, spec 002).
    pub batch_size: usize,
    /// The longest a row waits before its batch is flushed (default 100 ms, spec 002).
    #[serde(with = "duration")]
    pub flush_interval: Duration,
    /// Rows buffered before `append` blocks (default 20,000).
    pub capacity: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig { batch_size: 500, flush_interval: Duration::from_millis(100), capacity: 20_000 }
    }
}

/// `[serve]`: the tick store service (`sqlretry serve`, spec 002).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
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
    #[serde(with = "duration")]
    pub drain_timeout: Duration,
    /// Alert when more batches than this failed (default 10, spec 002).
    pub alert_batch_failures: u64,
    /// Alert when the batch success rate falls below this (default 0.95, spec 002).
    pub alert_success_rate: f64,
    /// Alert when more retries than this happened in the last minute (default 500, spec 002).
    pub alert_retries_per_minute: u64,
    /// An `http://` URL receiving a JSON POST when an alert starts and when it ends (`https://` is
    /// refused at start: no TLS client is in the dependency tree).
    pub webhook_url: Option<String>,
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
        }
    }
}

/// `SQLRETRY_…` variables that are not settings, so not warned about: `SQLRETRY_REQUIRE_POSTGRES=1`
/// makes the PostgreSQL tests fail instead of skipping when no server answers (CI sets it).
const NOT_SETTINGS: &[&str] = &["SQLRETRY_REQUIRE_POSTGRES"];

/// Every key an environment variable may override, as a path into the file's tables.
const KEYS: &[&str] = &[
    "retry.{kind}.preset",
    "retry.{kind}.max_attempts",
    "retry.{kind}.initial_delay",
    "retry.{kind}.multiplier",
    "retry.{kind}.max_delay",
    "retry.{kind}.jitter",
    "retry.{kind}.jitter_factor",
    "retry.{kind}.deadline",
    "retry.{kind}.seed",
    "budget.ratio",
    "budget.floor_per_second",
    "sqlite.busy_timeout",
    "sqlite.synchronous",
    "sqlite.foreign_keys",
    "sqlite.require_wal",
    "sqlite.lock_hold_warning",
    "writer.max_batch",
    "writer.window",
    "writer.queue_capacity",
    "writer.alert_threshold",
    "writer.drop_timeout",
    "writer.process_lock",
    "ingest.batch_size",
    "ingest.flush_interval",
    "ingest.capacity",
    "postgres.url",
    "postgres.pool_size",
    "postgres.isolation",
    "postgres.mode",
    "postgres.connect_timeout",
    "postgres.lock_timeout",
    "postgres.statement_timeout",
    "serve.listen",
    "serve.max_body",
    "serve.max_symbol_len",
    "serve.inflight_per_connection",
    "serve.inflight_total",
    "serve.drain_timeout",
    "serve.alert_batch_failures",
    "serve.alert_success_rate",
    "serve.alert_retries_per_minute",
    "serve.webhook_url",
];

const KINDS: [&str; 5] = ["write", "read", "batch", "state_store", "file_lock"];

fn env_keys() -> impl Iterator<Item = String> {
    KEYS.iter().flat_map(|key| {
        let kinds: &[&str] = if key.contains("{kind}") { &KINDS } else { &[""] };
        kinds.iter().map(move |kind| key.replace("{kind}", kind))
    })
}

impl Config {
    /// Parses TOML text.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Parse`] with the parser's message (it names the key and line), e.g. for an
    /// unknown key or a malformed duration.
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse { origin: "TOML".into(), message: e.to_string() })
    }

    /// Reads and parses a TOML file.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Parse`] naming the file when it cannot be read or parsed.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Parse { origin: origin.clone(), message: e.to_string() })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse { origin, message: e.to_string() })
    }

    /// Applies `SQLRETRY_…` overrides from `vars` (pass `std::env::vars()`); others are ignored.
    /// Returns the configuration and one [`UnknownVariable`] warning (also logged at `warn`) for
    /// each `SQLRETRY_…` variable that names no setting.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Parse`] naming the variable when its value does not fit.
    pub fn with_env<I, K, V>(self, vars: I) -> Result<(Self, Vec<UnknownVariable>), ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut tree = toml::Table::try_from(&self)
            .map_err(|e| ConfigError::Parse { origin: "configuration".into(), message: e.to_string() })?;
        let mut warnings = Vec::new();
        let mut config = self;
        for (name, value) in vars {
            let name = name.as_ref();
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else { continue };
            if NOT_SETTINGS.contains(&name) {
                continue;
            }
            let Some(path) = env_keys().find(|key| key.replace('.', "_").eq_ignore_ascii_case(rest)) else {
                let known =
                    env_keys().map(|key| format!("{ENV_PREFIX}{}", key.replace('.', "_").to_uppercase()));
                let unknown = UnknownVariable::new(name, known);
                tracing::warn!(variable = name, nearest = unknown.nearest.as_deref(), "{unknown}");
                warnings.push(unknown);
                continue;
            };
            set_path(&mut tree, &path, parse_env_value(value.as_ref()));
            // Checked after each variable, so an error names the variable at fault.
            config = tree.clone().try_into().map_err(|e: toml::de::Error| ConfigError::Parse {
                origin: name.into(),
                message: e.to_string(),
            })?;
        }
        Ok((config, warnings))
    }

    /// The shared budget, if configured.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming `budget.ratio`.
    pub fn budget(&self) -> Result<Option<Arc<RetryBudget>>, ConfigError> {
        self.budget.as_ref().map(|b| RetryBudget::new(b.ratio, b.floor_per_second).map(Arc::new)).transpose()
    }

    /// The policy for transactional writes (`[retry.write]`).
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the field, e.g. `retry.write.multiplier`.
    pub fn write_policy(&self) -> Result<RetryPolicy, ConfigError> {
        self.retry.write.to_policy("retry.write", Preset::StoreWrites, self.budget()?)
    }

    /// The policy for reads (`[retry.read]`).
    ///
    /// # Errors
    ///
    /// As [`Config::write_policy`].
    pub fn read_policy(&self) -> Result<RetryPolicy, ConfigError> {
        self.retry.read.to_policy("retry.read", Preset::Reads, self.budget()?)
    }

    /// The policy for batched ingest (`[retry.batch]`).
    ///
    /// # Errors
    ///
    /// As [`Config::write_policy`].
    pub fn batch_policy(&self) -> Result<RetryPolicy, ConfigError> {
        self.retry.batch.to_policy("retry.batch", Preset::BatchWrites, self.budget()?)
    }

    /// The policy for the state store (`[retry.state_store]`).
    ///
    /// # Errors
    ///
    /// As [`Config::write_policy`].
    pub fn state_store_policy(&self) -> Result<RetryPolicy, ConfigError> {
        self.retry.state_store.to_policy("retry.state_store", Preset::StateStore, self.budget()?)
    }

    /// The policy for file locks (`[retry.file_lock]`).
    ///
    /// # Errors
    ///
    /// As [`Config::write_policy`].
    pub fn file_lock_policy(&self) -> Result<RetryPolicy, ConfigError> {
        self.retry.file_lock.to_policy("retry.file_lock", Preset::FileLock, self.budget()?)
    }

    /// Checks every value: each policy, the budget, the writer's sizes.
    ///
    /// # Errors
    ///
    /// The first [`ConfigError::Invalid`] found, naming its field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.write_policy()?;
        self.read_policy()?;
        self.batch_policy()?;
        self.state_store_policy()?;
        self.file_lock_policy()?;
        let (w, i) = (&self.writer, &self.ingest);
        for (field, value) in [
            ("writer.max_batch", w.max_batch),
            ("writer.queue_capacity", w.queue_capacity),
            ("ingest.batch_size", i.batch_size),
            ("ingest.capacity", i.capacity),
            ("postgres.pool_size", self.postgres.pool_size),
            ("serve.max_body", self.serve.max_body),
            ("serve.max_symbol_len", self.serve.max_symbol_len),
            ("serve.inflight_per_connection", self.serve.inflight_per_connection),
            ("serve.inflight_total", self.serve.inflight_total),
        ] {
            if value == 0 {
                return Err(ConfigError::invalid(field, 0, "must be at least 1"));
            }
        }
        if i.flush_interval.is_zero() {
            return Err(ConfigError::invalid("ingest.flush_interval", "0s", "must be longer than zero"));
        }
        if !(0.0..=1.0).contains(&self.serve.alert_success_rate) {
            return Err(ConfigError::invalid(
                "serve.alert_success_rate",
                self.serve.alert_success_rate,
                "must be between 0 and 1",
            ));
        }
        if i.capacity < i.batch_size {
            return Err(ConfigError::invalid(
                "ingest.capacity",
                i.capacity,
                format!("must hold at least one batch ({} rows)", i.batch_size),
            ));
        }
        Ok(())
    }
}

impl PolicyConfig {
    /// Builds the policy: `default` preset (or `preset`), then every field given; errors name
    /// `field_prefix.field`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the field and the value.
    pub fn to_policy(
        &self,
        field_prefix: &str,
        default: Preset,
        budget: Option<Arc<RetryBudget>>,
    ) -> Result<RetryPolicy, ConfigError> {
        let base = self.preset.unwrap_or(default).policy();
        let named = |e: ConfigError| prefixed(field_prefix, e);
        let Some(crate::backoff::BackoffBuilder::Exponential(mut backoff)) = base.backoff().builder() else {
            return Err(ConfigError::invalid(
                format!("{field_prefix}.preset"),
                "?",
                "presets are exponential",
            ));
        };
        if let Some(initial) = self.initial_delay {
            backoff = backoff.with_initial(initial);
        }
        if let Some(multiplier) = self.multiplier {
            backoff = backoff.with_multiplier(multiplier);
        }
        if let Some(cap) = self.max_delay {
            backoff = backoff.with_cap(cap);
        }
        match (self.jitter, self.jitter_factor) {
            (Some(JitterKind::Proportional), None) => {
                return Err(ConfigError::invalid(
                    format!("{field_prefix}.jitter_factor"),
                    "(missing)",
                    "proportional jitter needs a factor",
                ));
            }
            (Some(kind), factor) => backoff = backoff.with_jitter(jitter_of(kind, factor.unwrap_or(0.0))),
            (None, Some(factor)) => backoff = backoff.with_jitter(Jitter::Proportional(factor)),
            (None, None) => {}
        }
        if let Some(seed) = self.seed {
            backoff = backoff.with_seed(seed);
        }
        let mut builder = base.to_builder().backoff(backoff).budget(budget);
        if let Some(max_attempts) = self.max_attempts {
            builder = builder.max_attempts(max_attempts);
        }
        if let Some(deadline) = self.deadline {
            builder = builder.deadline(deadline.as_option());
        }
        builder.build().map_err(named)
    }
}

fn jitter_of(kind: JitterKind, factor: f64) -> Jitter {
    match kind {
        JitterKind::None => Jitter::None,
        JitterKind::Full => Jitter::Full,
        JitterKind::Equal => Jitter::Equal,
        JitterKind::Decorrelated => Jitter::Decorrelated,
        JitterKind::Proportional => Jitter::Proportional(factor),
    }
}

/// Renames an engine field (`cap`, `jitter`) to the file's key under `prefix`.
fn prefixed(prefix: &str, error: ConfigError) -> ConfigError {
    match error {
        ConfigError::Invalid { field, value, reason } => {
            let key = match field.as_str() {
                "cap" => "max_delay",
                "jitter" => "jitter_factor",
                other => other,
            };
            ConfigError::Invalid { field: format!("{prefix}.{key}"), value, reason }
        }
        other => other,
    }
}

/// An environment value as TOML: a number or boolean when it parses as one, else a string.
fn parse_env_value(raw: &str) -> toml::Value {
    if let Ok(i) = raw.parse::<i64>() {
        toml::Value::Integer(i)
    } else if let Ok(f) = raw.parse::<f64>() {
        toml::Value::Float(f)
    } else if let Ok(b) = raw.parse::<bool>() {
        toml::Value::Boolean(b)
    } else {
        toml::Value::String(raw.to_owned())
    }
}

fn set_path(tree: &mut toml::Table, path: &str, value: toml::Value) {
    let mut table = tree;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            table.insert(part.to_owned(), value);
            return;
        }
        let entry = table.entry(part.to_owned()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        let toml::Value::Table(next) = entry else { return };
        table = next;
    }
}

/// Durations written as "10ms", "5s", "1m 30s" (humantime).
mod duration {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(|e| {
            serde::de::Error::custom(format!("`{text}` is not a duration like \"10ms\" or \"5s\": {e}"))
        })
    }
}

/// Optional durations, same format.
mod opt_duration {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(super) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => super::duration::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        #[derive(Deserialize)]
        struct Wrapped(#[serde(with = "super::duration")] Duration);
        Option::<Wrapped>::deserialize(d).map(|w| w.map(|Wrapped(d)| d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{ManualClock, RecordingSleeper};
    use crate::{Retry, StopReason};

    #[test]
    fn defaults_are_the_presets() {
        let c = Config::default();
        c.validate().unwrap();
        assert_eq!(c.write_policy().unwrap().max_attempts(), 10);
        assert_eq!(c.state_store_policy().unwrap().max_attempts(), 5);
        assert_eq!(c.sqlite.busy_timeout, Duration::from_secs(5));
        assert_eq!((c.writer.max_batch, c.ingest.batch_size), (512, 500));
    }

    #[test]
    fn a_file_overrides_a_preset_and_the_schedule_follows() {
        let c = Config::from_toml_str(
            r#"
            [retry.state_store]
            max_attempts = 3
            initial_delay = "1ms"
            multiplier = 3.0
            max_delay = "5ms"
            "#,
        )
        .unwrap();
        let policy = c.state_store_policy().unwrap();
        let clock = ManualClock::new();
        let sleeper = RecordingSleeper::new(clock.clone());
        let err = Retry::new(&policy)
            .with_clock(&clock)
            .with_sleeper(&sleeper)
            .call(|| Err::<(), _>(std::io::Error::from(std::io::ErrorKind::WouldBlock)))
            .unwrap_err();
        assert_eq!(err.reason(), StopReason::AttemptsExhausted);
        assert_eq!(sleeper.delays_ms(), [1, 3]);
    }

    #[test]
    fn bad_values_name_the_field() {
        let cases = [
            ("[retry.write]\nmax_attempts = 0", "retry.write.max_attempts"),
            ("[retry.read]\nmultiplier = 0.5", "retry.read.multiplier"),
            ("[retry.batch]\nmax_delay = \"1ms\"\ninitial_delay = \"2ms\"", "retry.batch.max_delay"),
            (
                "[retry.file_lock]\njitter = \"proportional\"\njitter_factor = 2.0",
                "retry.file_lock.jitter_factor",
            ),
            ("[retry.write]\njitter = \"proportional\"", "retry.write.jitter_factor"),
            ("[retry.write]\ndeadline = \"0s\"", "retry.write.deadline"),
            ("[budget]\nratio = -1.0", "budget.ratio"),
            ("[writer]\nmax_batch = 0", "writer.max_batch"),
            ("[ingest]\nflush_interval = \"0s\"", "ingest.flush_interval"),
            ("[ingest]\nbatch_size = 500\ncapacity = 10", "ingest.capacity"),
        ];
        for (text, field) in cases {
            let err = Config::from_toml_str(text).unwrap().validate().unwrap_err();
            assert_eq!(err.field(), Some(field), "{text}");
            assert!(err.to_string().contains(field), "{err}");
        }
    }

    #[test]
    fn parse_errors_name_the_key() {
        for (text, key) in [
            ("[retry.write]\ninitial_delay = \"soon\"", "initial_delay"),
            ("[retry.write]\nmax_atempts = 3", "max_atempts"),
            ("[sqlite]\nsynchronous = \"sometimes\"", "synchronous"),
        ] {
            let err = Config::from_toml_str(text).unwrap_err();
            assert!(err.to_string().contains(key), "{err}");
        }
    }

    #[test]
    fn environment_overrides_the_file_and_unknown_variables_are_warnings() {
        let c = Config::from_toml_str("[sqlite]\nbusy_timeout = \"5s\"")
            .unwrap()
            .with_env([
                ("SQLRETRY_SQLITE_BUSY_TIMEOUT", "0s"),
                ("SQLRETRY_RETRY_STATE_STORE_MAX_ATTEMPTS", "7"),
                ("SQLRETRY_RETRY_WRITE_JITTER", "full"),
                ("SQLRETRY_SQLITE_REQUIRE_WAL", "false"),
                ("PATH", "/usr/bin"),
            ])
            .unwrap()
            .0;
        assert_eq!(c.sqlite.busy_timeout, Duration::ZERO);
        assert!(!c.sqlite.require_wal);
        assert_eq!(c.state_store_policy().unwrap().max_attempts(), 7);
        assert_eq!(c.retry.write.jitter, Some(JitterKind::Full));

        // A typo and a wrapper's own variable: warnings, the rest still applied.
        let (c, warnings) = Config::default()
            .with_env([
                ("SQLRETRY_RETRY_WRITE_MAX_ATEMPTS", "3"),
                ("SQLRETRY_BIN", "/opt/sqlretry"),
                ("SQLRETRY_WRITER_MAX_BATCH", "64"),
            ])
            .unwrap();
        assert_eq!(c.writer.max_batch, 64);
        assert_eq!(c.write_policy().unwrap().max_attempts(), 10, "the typo changed nothing");
        assert_eq!(
            warnings,
            [
                UnknownVariable {
                    name: "SQLRETRY_RETRY_WRITE_MAX_ATEMPTS".into(),
                    nearest: Some("SQLRETRY_RETRY_WRITE_MAX_ATTEMPTS".into()),
                },
                UnknownVariable { name: "SQLRETRY_BIN".into(), nearest: None },
            ]
        );
        // A known variable with a bad value stays an error, naming the variable.
        let bad = Config::default().with_env([("SQLRETRY_WRITER_MAX_BATCH", "many")]).unwrap_err();
        assert!(bad.to_string().contains("SQLRETRY_WRITER_MAX_BATCH"), "{bad}");
        let bad = Config::default().with_env([("SQLRETRY_RETRY_READ_DEADLINE", "soon")]).unwrap_err();
        assert!(bad.to_string().contains("SQLRETRY_RETRY_READ_DEADLINE"), "{bad}");
        // An unknown TOML key stays an error.
        let err = Config::from_toml_str("[retry.write]\nmax_atempts = 3\n").unwrap_err();
        assert!(err.to_string().contains("max_atempts"), "{err}");
    }

    #[test]
    fn every_environment_key_is_a_real_setting() {
        for key in env_keys() {
            let value = match key.rsplit('.').next().unwrap_or_default() {
                "preset" => "reads",
                "jitter" => "full",
                "synchronous" => "full",
                "url" => "postgres://u:p@h/db",
                "isolation" => "repeatable-read",
                "mode" => "cockroach-savepoint",
                "foreign_keys" | "require_wal" | "process_lock" => "true",
                k if k.ends_with("delay")
                    || k == "deadline"
                    || k.ends_with("timeout")
                    || k.ends_with("warning")
                    || k.ends_with("interval")
                    || k == "window" =>
                {
                    "3ms"
                }
                "multiplier" | "ratio" | "jitter_factor" | "alert_success_rate" => "0.5",
                "capacity" => "30000",
                "listen" => "127.0.0.1:9",
                "webhook_url" => "http://127.0.0.1:9/alerts",
                _ => "3",
            };
            let var = format!("{ENV_PREFIX}{}", key.replace('.', "_").to_uppercase());
            let (_, warnings) =
                Config::default().with_env([(var.as_str(), value)]).unwrap_or_else(|e| panic!("{var}: {e}"));
            assert!(warnings.is_empty(), "{var}: {warnings:?}");
        }
    }

    #[test]
    fn budget_from_the_file_is_shared_by_the_policies() {
        let c = Config::from_toml_str("[budget]\nratio = 0.2\nfloor_per_second = 0").unwrap();
        let policy = c.write_policy().unwrap();
        assert!(format!("{:?}", policy.budget()).contains("ratio: 0.2"));
    }

    #[test]
    fn postgres_section_reads_from_toml_and_env_and_hides_the_password() {
        let (c, unknown) = Config::from_toml_str(
            "[postgres]\nurl = \"postgres://app:s3cret@db:5432/app\"\nisolation = \"read-committed\"\nlock_timeout = \"2s\"\n",
        )
        .unwrap()
        .with_env([
            ("SQLRETRY_POSTGRES_POOL_SIZE", "4"),
            ("SQLRETRY_POSTGRES_MODE", "cockroach-savepoint"),
            ("SQLRETRY_REQUIRE_POSTGRES", "1"), // the tests' switch, not a setting: not warned about
        ])
        .unwrap();
        assert!(unknown.is_empty(), "{unknown:?}");
        let pg = &c.postgres;
        assert_eq!(
            (pg.pool_size, pg.isolation, pg.mode),
            (4, PgIsolation::ReadCommitted, PgRetryMode::CockroachSavepoint)
        );
        assert_eq!(pg.lock_timeout, Some(Duration::from_secs(2)));
        assert_eq!(pg.redacted_url().as_deref(), Some("postgres://app:***@db:5432/app"));
        let debug = format!("{c:?}");
        assert!(!debug.contains("s3cret") && debug.contains("app:***@db"), "{debug}");
        let (c, _) = c.clone().with_env([("SQLRETRY_POSTGRES_POOL_SIZE", "0")]).unwrap();
        assert_eq!(c.validate().unwrap_err().field(), Some("postgres.pool_size"));
    }

    #[test]
    fn every_form_of_password_is_redacted() {
        assert_eq!(
            redact_url("postgresql://u:p%40ss@h/db?sslmode=disable"),
            "postgresql://u:***@h/db?sslmode=disable"
        );
        assert_eq!(
            redact_url("postgres://u@h/db?password=x&sslmode=disable"),
            "postgres://u@h/db?password=***&sslmode=disable"
        );
        assert_eq!(
            redact_url("host=h user=u password=secret dbname=d"),
            "host=h user=u password=*** dbname=d"
        );
        assert_eq!(redact_url("postgres://h/db"), "postgres://h/db");
    }
}
