//! The library's configuration as the command reads it: `--config FILE.toml`, then `SQLRETRY_…`
//! environment variables over it, validated before anything is created.

use std::path::Path;

use sqlretry::config::Config;

use crate::error::CliError;

/// Loads the configuration: defaults, the file if given, the environment over both; validated.
///
/// # Errors
///
/// A usage error (exit 2) naming `--config` and, inside the message, the file, the key or the
/// variable at fault.
pub fn load_config(path: Option<&Path>) -> Result<Config, CliError> {
    let base = match path {
        Some(path) if !path.is_file() => {
            return Err(CliError::usage("--config", format!("no such file: {}", path.display())));
        }
        Some(path) => Config::from_file(path).map_err(|e| CliError::usage("--config", e.to_string()))?,
        None => Config::default(),
    };
    let (config, unknown) =
        base.with_env(std::env::vars()).map_err(|e| CliError::usage("--config", e.to_string()))?;
    for warning in unknown {
        eprintln!("sqlretry: warning: {warning}");
    }
    config.validate().map_err(|e| CliError::usage("--config", e.to_string()))?;
    Ok(config)
}
