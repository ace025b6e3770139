//! `[serve] batching`: fixed or adaptive group sizes for the tick store service, and the bounds of
//! adaptive batching (validated here; applied by `sqlretry serve` through
//! `WriterOptions::with_adaptive`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ServeConfig;
use crate::error::ConfigError;

/// How the service's writer sizes its groups (`[serve] batching`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BatchingMode {
    /// `[writer] max_batch` and `window`, always (the default).
    #[default]
    Fixed,
    /// The limit and window follow commit latency and contention within `[serve] batch_min..=
    /// batch_max` and `window_min..=window_max`, around `commit_target`.
    Adaptive,
}

/// Checks the adaptive bounds of `[serve]` (also when batching is fixed, so a bad file fails early).
pub(super) fn validate(serve: &ServeConfig) -> Result<(), ConfigError> {
    if serve.batch_min == 0 {
        return Err(ConfigError::invalid("serve.batch_min", 0, "must be at least 1"));
    }
    if serve.batch_max < serve.batch_min {
        return Err(ConfigError::invalid(
            "serve.batch_max",
            serve.batch_max,
            format!("must be at least serve.batch_min ({})", serve.batch_min),
        ));
    }
    if serve.window_max < serve.window_min {
        return Err(ConfigError::invalid(
            "serve.window_max",
            format!("{:?}", serve.window_max),
            format!("must be at least serve.window_min ({:?})", serve.window_min),
        ));
    }
    if serve.commit_target.is_zero() || serve.commit_target > Duration::from_secs(60) {
        return Err(ConfigError::invalid(
            "serve.commit_target",
            format!("{:?}", serve.commit_target),
            "must be longer than zero and at most 60s",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    use super::*;

    #[test]
    fn the_mode_and_bounds_come_from_the_file_and_the_environment_and_are_checked() {
        let c =
            Config::from_toml_str("[serve]\nbatching = \"adaptive\"\nbatch_max = 2048\nwindow_max = \"1ms\"")
                .unwrap();
        assert_eq!((c.serve.batching, c.serve.batch_max), (BatchingMode::Adaptive, 2048));
        assert_eq!(c.serve.window_max, Duration::from_millis(1));
        assert_eq!(Config::default().serve.batching, BatchingMode::Fixed);
        let (c, warnings) = Config::default()
            .with_env([("SQLRETRY_SERVE_BATCHING", "adaptive"), ("SQLRETRY_SERVE_BATCH_MIN", "8")])
            .unwrap();
        assert!(warnings.is_empty());
        assert_eq!((c.serve.batching, c.serve.batch_min), (BatchingMode::Adaptive, 8));
        assert!(Config::default().with_env([("SQLRETRY_SERVE_BATCHING", "sometimes")]).is_err());
        let field = |toml: &str| {
            Config::from_toml_str(toml).unwrap().validate().unwrap_err().field().map(str::to_owned)
        };
        assert_eq!(field("[serve]\nbatch_min = 0").as_deref(), Some("serve.batch_min"));
        assert_eq!(field("[serve]\nbatch_min = 100\nbatch_max = 50").as_deref(), Some("serve.batch_max"));
        assert_eq!(
            field("[serve]\nwindow_min = \"2ms\"\nwindow_max = \"1ms\"").as_deref(),
            Some("serve.window_max")
        );
        assert_eq!(field("[serve]\ncommit_target = \"0s\"").as_deref(), Some("serve.commit_target"));
    }
}
