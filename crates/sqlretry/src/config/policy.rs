//! `[retry.*]` and `[budget]`: one retry policy per kind of operation, as written in a file (a
//! preset, then any field overriding it), and the shared retry budget.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::DeadlineConfig;
use super::opt_duration;
use crate::backoff::Jitter;
use crate::budget::RetryBudget;
use crate::error::ConfigError;
use crate::policy::RetryPolicy;

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
