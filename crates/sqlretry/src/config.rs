//! Configuration: a TOML file, overridable by `SQLRETRY_…` environment variables, validated into
//! policies. Every refusal names the field (as written in the file, or the variable) and the value.
//!
//! The tables live beside this file, one per idea: `[retry.*]` and `[budget]` (`config/policy.rs`),
//! `[sqlite]`, `[writer]` + `[ingest]`, `[postgres]`, deadlines and the environment; this file is
//! the whole `Config`, loading, the environment's keys and validation.
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
//! max_group = 512               # requests per group transaction
//! window = "0s"                 # how long a group may fill under load
//! queue_capacity = 4096
//! alert_threshold = 10          # failed batches before the alert
//! drop_timeout = "10s"
//! process_lock = true           # writers in other processes take turns through a file lock
//!
//! [ingest]                      # batched fire-and-forget rows
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
//! retry_seats = 2               # after a conflict, retried writes take turns, 2 at a time (0: off)
//!
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
//! An application with tables of its own in the same file (the `sqlretry` command's `[serve]`)
//! embeds `Config` rather than extending it: it takes its tables out of the parsed document
//! (`toml::de::DeTable::parse`, which keeps each value's position for error messages),
//! deserializes `Config` from the rest — so the library's keys are still checked strictly — and
//! passes only the variables that are not its own to [`Config::with_env`]. [`UnknownVariable::new`]
//! gives its own unknown variables the same warning.
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

use serde::{Deserialize, Serialize};

mod deadline;
mod env;
mod policy;
mod postgres;
mod sqlite;
mod writer;

pub use deadline::DeadlineConfig;
pub use env::UnknownVariable;
pub use policy::{BudgetConfig, JitterKind, PolicyConfig, Preset, RetrySection};
pub use postgres::{PgIsolation, PgRetryMode, PostgresConfig, redact_url};
pub use sqlite::{SqliteConfig, SynchronousMode};
pub use writer::{IngestConfig, WriterConfig};

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
    /// PostgreSQL (`PgStore`, feature `postgres`).
    pub postgres: PostgresConfig,
}

/// `SQLRETRY_…` variables that are not settings, so not warned about: `SQLRETRY_REQUIRE_POSTGRES=1`
/// makes the PostgreSQL tests fail instead of skipping when no server answers (CI sets it);
/// `SQLRETRY_LOAD_TOKEN` carries a secret for `sqlretry load`, read by its `--token` flag.
const NOT_SETTINGS: &[&str] = &["SQLRETRY_REQUIRE_POSTGRES", "SQLRETRY_LOAD_TOKEN"];

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
    "writer.max_group",
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
    "postgres.retry_seats",
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
            ("writer.max_group", w.max_group),
            ("writer.queue_capacity", w.queue_capacity),
            ("ingest.batch_size", i.batch_size),
            ("ingest.capacity", i.capacity),
            ("postgres.pool_size", self.postgres.pool_size),
        ] {
            if value == 0 {
                return Err(ConfigError::invalid(field, 0, "must be at least 1"));
            }
        }
        if i.flush_interval.is_zero() {
            return Err(ConfigError::invalid("ingest.flush_interval", "0s", "must be longer than zero"));
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

/// An environment value as TOML: a number or boolean when it parses as one, else a string. Also
/// for an application that applies its own variables to its own tables the same way.
///
/// # Examples
///
/// ```
/// use sqlretry::config::parse_env_value;
///
/// assert_eq!(parse_env_value("64"), toml::Value::Integer(64));
/// assert_eq!(parse_env_value("10ms"), toml::Value::String("10ms".into()));
/// ```
#[must_use]
pub fn parse_env_value(raw: &str) -> toml::Value {
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

/// Durations written as "10ms", "5s", "1m 30s" (humantime): `#[serde(with = "…")]` for a
/// `Duration` field, also in an application's own tables.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// #[derive(serde::Deserialize)]
/// struct Table {
///     #[serde(with = "sqlretry::config::duration")]
///     drain: Duration,
/// }
/// let table: Table = toml::from_str("drain = \"1m 30s\"")?;
/// assert_eq!(table.drain, Duration::from_secs(90));
/// # Ok::<(), toml::de::Error>(())
/// ```
pub mod duration {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    /// Writes `d` as "1m 30s".
    ///
    /// # Errors
    ///
    /// The serializer's.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    /// Reads "10ms", "5s", "1m 30s".
    ///
    /// # Errors
    ///
    /// A message naming the text when it is not a duration.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
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
mod tests;
