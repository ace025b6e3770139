//! Property tests (proptest, a bounded number of cases each): configuration text and `SQLRETRY_*`
//! values never panic, whatever they hold — they parse and validate, or fail with a
//! `ConfigError`. (The retry loop's cap and deadline property is a unit test:
//! `retry::tests::the_retry_loop_never_sleeps_past_the_cap_or_the_deadline`.)
#![allow(missing_docs, clippy::unwrap_used)]

use std::time::Duration;

use proptest::prelude::*;
use sqlretry::config::Config;
use sqlretry::sqlite::{ConnectionProfile, StoreOptions};
use sqlretry::writer::WriterOptions;

/// Settings by (TOML table, key); the environment variable is `SQLRETRY_<TABLE>_<KEY>`.
const SETTINGS: [(&str, &str); 19] = [
    ("retry.write", "max_attempts"),
    ("retry.write", "initial_delay"),
    ("retry.write", "multiplier"),
    ("retry.write", "max_delay"),
    ("retry.read", "jitter"),
    ("retry.read", "jitter_factor"),
    ("retry.batch", "deadline"),
    ("retry.batch", "preset"),
    ("retry.file_lock", "seed"),
    ("budget", "ratio"),
    ("budget", "floor_per_second"),
    ("sqlite", "busy_timeout"),
    ("sqlite", "synchronous"),
    ("sqlite", "foreign_keys"),
    ("writer", "max_group"),
    ("writer", "window"),
    ("writer", "queue_capacity"),
    ("ingest", "flush_interval"),
    ("ingest", "capacity"),
];

/// Text that looks like a value of any of the configuration's types, and text that does not.
fn value_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "-?[0-9]{1,25}",
        "-?[0-9]{0,6}\\.[0-9]{0,6}(e-?[0-9]{1,3})?",
        "(nan|inf|-inf|true|false|NaN|1e308|-0)",
        "[0-9]{1,21}(ns|us|ms|s|m|h|d|y|w| ms|)",
        "[a-z_]{0,12}",
    ]
}

/// A TOML value: quoted text, or the text as a bare literal (often not valid TOML).
fn toml_value() -> impl Strategy<Value = String> {
    (value_text(), any::<bool>()).prop_map(|(text, quoted)| if quoted { format!("{:?}", text) } else { text })
}

/// Everything a caller builds from a configuration, exercised; only errors, never a panic.
fn use_config(config: &Config) {
    let _ = config.validate();
    for policy in [
        config.write_policy(),
        config.read_policy(),
        config.batch_policy(),
        config.state_store_policy(),
        config.file_lock_policy(),
    ]
    .into_iter()
    .flatten()
    {
        let _: Vec<Duration> = policy.backoff().schedule().take(20).collect();
    }
    let _ = config.budget();
    let _ = ConnectionProfile::from_config(&config.sqlite);
    let _ = StoreOptions::from_config(config);
    let _ = WriterOptions::from_config(config);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_toml_text_parses_or_is_a_config_error(text in any::<String>()) {
        if let Ok(config) = Config::from_toml_str(&text) {
            use_config(&config);
        }
    }

    #[test]
    fn any_value_of_any_setting_parses_or_is_a_config_error(
        settings in proptest::collection::vec((0..SETTINGS.len(), toml_value()), 1..6),
    ) {
        let mut text = String::new();
        for (i, value) in settings {
            let (table, key) = SETTINGS[i];
            text.push_str(&format!("[{table}]\n{key} = {value}\n"));
        }
        if let Ok(config) = Config::from_toml_str(&text) {
            use_config(&config);
        }
    }

    #[test]
    fn any_environment_value_applies_or_is_a_config_error(
        vars in proptest::collection::vec(
            (prop_oneof![(0..SETTINGS.len()).prop_map(|i| {
                let (table, key) = SETTINGS[i];
                format!("SQLRETRY_{}_{}", table.replace('.', "_"), key).to_uppercase()
            }), "SQLRETRY_[A-Z_]{0,24}", any::<String>()], value_text()),
            0..6,
        ),
    ) {
        if let Ok((config, _unknown)) = Config::default().with_env(vars) {
            use_config(&config);
        }
    }
}
