//! `RetryPolicy`: the crate's policy, built from Python keywords, and the store options a
//! `config=` file (plus the `SQLRETRY_…` variables) describes.

use std::path::PathBuf;
use std::time::Duration;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use sqlretry::backoff::ExponentialBuilder;
use sqlretry::config::Config;
use sqlretry::{Jitter, RetryPolicy};

/// How a write is retried: `attempts` (the first included), delays from `base` doubling (times
/// `multiplier`) up to `cap`, `jitter` ("none", "full", "equal", "decorrelated", or a fraction
/// for ±that proportion), and a total `deadline` in seconds over attempts and sleeps alike
/// (`math.inf` for none). The defaults are the library's: 10 attempts, 10 ms doubling to 100 ms,
/// no jitter, 5 s.
#[pyclass(module = "sqlretry", name = "RetryPolicy", frozen)]
#[derive(Clone)]
pub struct PyRetryPolicy {
    pub(crate) policy: RetryPolicy,
}

/// Seconds as a duration; `ValueError` naming `field` for a negative or non-finite number.
pub(crate) fn seconds(field: &str, value: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        PyValueError::new_err(format!("{field} must be a finite number of seconds >= 0, got {value}"))
    })
}

/// A deadline in seconds, `inf` meaning none.
pub(crate) fn deadline(value: f64) -> PyResult<Option<Duration>> {
    if value == f64::INFINITY { Ok(None) } else { seconds("deadline", value).map(Some) }
}

fn jitter(value: &Bound<'_, PyAny>) -> PyResult<Jitter> {
    if let Ok(fraction) = value.extract::<f64>() {
        return Ok(Jitter::Proportional(fraction));
    }
    let name: String = value.extract().map_err(|_| {
        PyTypeError::new_err("jitter must be 'none', 'full', 'equal', 'decorrelated' or a fraction")
    })?;
    match name.as_str() {
        "none" => Ok(Jitter::None),
        "full" => Ok(Jitter::Full),
        "equal" => Ok(Jitter::Equal),
        "decorrelated" => Ok(Jitter::Decorrelated),
        other => Err(PyValueError::new_err(format!(
            "jitter must be 'none', 'full', 'equal', 'decorrelated' or a fraction, got {other:?}"
        ))),
    }
}

/// A configuration error as `ValueError`, naming the field.
pub(crate) fn config_error(err: &sqlretry::ConfigError) -> PyErr {
    PyValueError::new_err(err.to_string())
}

#[pymethods]
impl PyRetryPolicy {
    #[new]
    #[pyo3(signature = (*, attempts = 10, base = 0.01, cap = 0.1, multiplier = 2.0, jitter = None, deadline = 5.0))]
    fn new(
        attempts: u32,
        base: f64,
        cap: f64,
        multiplier: f64,
        jitter: Option<&Bound<'_, PyAny>>,
        deadline: f64,
    ) -> PyResult<Self> {
        let jitter = jitter.map(self::jitter).transpose()?.unwrap_or(Jitter::None);
        let backoff = ExponentialBuilder::default()
            .with_initial(seconds("base", base)?)
            .with_multiplier(multiplier)
            .with_cap(seconds("cap", cap)?)
            .with_jitter(jitter);
        let policy = RetryPolicy::builder()
            .max_attempts(attempts)
            .backoff(backoff)
            .deadline(self::deadline(deadline)?)
            .build()
            .map_err(|e| config_error(&e))?;
        Ok(PyRetryPolicy { policy })
    }

    /// The most attempts, the first included.
    #[getter]
    fn attempts(&self) -> u32 {
        self.policy.max_attempts()
    }

    /// The total deadline in seconds (`inf` for none).
    #[getter]
    fn deadline(&self) -> f64 {
        self.policy.deadline().map_or(f64::INFINITY, |d| d.as_secs_f64())
    }

    /// The delays the schedule would sleep between attempts, in seconds, before jitter and the
    /// deadline cut them (at most `attempts - 1`, and at most 64).
    fn delays(&self) -> Vec<f64> {
        let count = self.policy.max_attempts().saturating_sub(1).min(64) as usize;
        self.policy.backoff().schedule().take(count).map(|d| d.as_secs_f64()).collect()
    }

    fn __repr__(&self) -> String {
        format!("RetryPolicy({:?})", self.policy)
    }
}

/// The options of a store: the defaults, the `config` TOML file if given, then the `SQLRETRY_…`
/// environment variables (as the command line reads them), then `policy` and `deadline` if given.
pub(crate) fn store_options(
    config: Option<PathBuf>,
    policy: Option<&PyRetryPolicy>,
    deadline: Option<f64>,
) -> PyResult<sqlretry::StoreOptions> {
    let config = load_config(config)?;
    let mut options = sqlretry::StoreOptions::from_config(&config).map_err(|e| config_error(&e))?;
    if let Some(policy) = policy {
        options = options.with_write_policy(policy.policy.clone());
    }
    if let Some(deadline) = deadline {
        let policy = options
            .write_policy()
            .to_builder()
            .deadline(self::deadline(deadline)?)
            .build()
            .map_err(|e| config_error(&e))?;
        options = options.with_write_policy(policy);
    }
    Ok(options)
}

/// The configuration: the file if given, then the environment's `SQLRETRY_…` variables.
pub(crate) fn load_config(path: Option<PathBuf>) -> PyResult<Config> {
    let config = match path {
        Some(path) => Config::from_file(&path).map_err(|e| config_error(&e))?,
        None => Config::default(),
    };
    let (config, _unknown) = config.with_env(std::env::vars()).map_err(|e| config_error(&e))?;
    Ok(config)
}
