//! The command's configuration: `--config FILE.toml`, then `SQLRETRY_…` environment variables over
//! it, validated before anything is created. The file holds the library's tables (`[retry.*]`,
//! `[sqlite]`, `[writer]`, …) and the command's own (`[serve]`); each side checks its own keys
//! strictly, and an unknown table is an error naming it.

use std::path::Path;

use serde::Deserialize;
use sqlretry::ConfigError;
use sqlretry::config::Config;

use crate::cmd::serve::config::{self as serve_config, ServeConfig};
use crate::error::CliError;

/// The whole file: the library's configuration and the command's own tables.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppConfig {
    /// The library's tables.
    pub library: Config,
    /// `[serve]`.
    pub serve: ServeConfig,
}

impl AppConfig {
    /// Parses TOML text: `[serve]` for the command, the rest for the library. Errors keep the
    /// position in `text` of the value at fault.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Parse`] naming `origin` with the parser's message (the key and line).
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let parse_error = |mut e: toml::de::Error| {
            e.set_input(Some(text));
            ConfigError::Parse { origin: origin.to_owned(), message: e.to_string() }
        };
        let mut document = toml::de::DeTable::parse(text).map_err(parse_error)?;
        let serve = match document.get_mut().remove(serve_config::SECTION) {
            Some(table) => {
                ServeConfig::deserialize(toml::de::ValueDeserializer::from(table)).map_err(parse_error)?
            }
            None => ServeConfig::default(),
        };
        let library = Config::deserialize(toml::de::Deserializer::from(document)).map_err(parse_error)?;
        Ok(AppConfig { library, serve })
    }
}

/// Loads the library's configuration alone (commands other than `serve`); `[serve]` and
/// `SQLRETRY_SERVE_…` are still read and checked, so one file and one environment serve every
/// command.
///
/// # Errors
///
/// As [`load_app_config`].
pub fn load_config(path: Option<&Path>) -> Result<Config, CliError> {
    Ok(load_app_config(path)?.library)
}

/// Loads the configuration: defaults, the file if given, the environment over both; validated.
///
/// # Errors
///
/// A usage error (exit 2) naming `--config` and, inside the message, the file, the key or the
/// variable at fault.
pub fn load_app_config(path: Option<&Path>) -> Result<AppConfig, CliError> {
    let usage = |e: ConfigError| CliError::usage("--config", e.to_string());
    let base = match path {
        Some(path) if !path.is_file() => {
            return Err(CliError::usage("--config", format!("no such file: {}", path.display())));
        }
        Some(path) => {
            let origin = path.display().to_string();
            let text = std::fs::read_to_string(path)
                .map_err(|e| usage(ConfigError::Parse { origin: origin.clone(), message: e.to_string() }))?;
            AppConfig::from_toml_str(&text, &origin).map_err(usage)?
        }
        None => AppConfig::default(),
    };
    let vars: Vec<(String, String)> = std::env::vars().collect();
    let (own, library_vars): (Vec<_>, Vec<_>) =
        vars.iter().partition(|(name, _)| name.starts_with(serve_config::ENV_PREFIX));
    let (serve, serve_unknown) =
        base.serve.with_env(own.iter().map(|(k, v)| (k.as_str(), v.as_str()))).map_err(usage)?;
    let (library, library_unknown) =
        base.library.with_env(library_vars.into_iter().cloned()).map_err(usage)?;
    for warning in library_unknown.into_iter().chain(serve_unknown) {
        eprintln!("sqlretry: warning: {warning}");
    }
    library.validate().map_err(usage)?;
    serve.validate().map_err(usage)?;
    Ok(AppConfig { library, serve })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn one_file_holds_both_sides_and_each_checks_its_keys() {
        let text = "[writer]\nmax_group = 64\n\n[serve]\nmax_body = 4096\n";
        let config = AppConfig::from_toml_str(text, "f.toml").unwrap();
        assert_eq!((config.library.writer.max_group, config.serve.max_body), (64, 4096));
        for (text, named, line) in [
            ("[serve]\nmax_bdy = 1\n", "max_bdy", "line 2"),
            ("[serve]\nmax_body = 1\n[writer]\nmax_bach = 1\n", "max_bach", "line 4"),
            ("[retry.write]\ninitial_delay = \"soon\"\n", "soon", "line 2"),
            ("[retyr.write]\nmax_attempts = 3\n", "retyr", "line 1"),
        ] {
            let err = AppConfig::from_toml_str(text, "f.toml").unwrap_err().to_string();
            assert!(err.contains(named) && err.contains(line) && err.contains("f.toml"), "{err}");
        }
    }
}
