//! The configuration's unit tests: parsing, validation naming the field, the environment.

use std::time::Duration;

use super::*;
use crate::error::StopReason;
use crate::retry::Retry;
use crate::testing::{ManualClock, RecordingSleeper};

#[test]
fn defaults_are_the_presets() {
    let c = Config::default();
    c.validate().unwrap();
    assert_eq!(c.write_policy().unwrap().max_attempts(), 10);
    assert_eq!(c.state_store_policy().unwrap().max_attempts(), 5);
    assert_eq!(c.sqlite.busy_timeout, Duration::from_secs(5));
    assert_eq!((c.writer.max_group, c.ingest.batch_size), (512, 500));
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
        ("[writer]\nmax_group = 0", "writer.max_group"),
        ("[writer]\nmax_batch = 0", "writer.max_group"),
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
            ("SQLRETRY_WRITER_MAX_GROUP", "64"),
        ])
        .unwrap();
    assert_eq!(c.writer.max_group, 64);
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
    let bad = Config::default().with_env([("SQLRETRY_WRITER_MAX_GROUP", "many")]).unwrap_err();
    assert!(bad.to_string().contains("SQLRETRY_WRITER_MAX_GROUP"), "{bad}");
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
            "multiplier" | "ratio" | "jitter_factor" => "0.5",
            "capacity" => "30000",
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
        ("SQLRETRY_POSTGRES_RETRY_SEATS", "0"),
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
    assert_eq!((pg.retry_seats, PostgresConfig::default().retry_seats), (0, 2));
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
    assert_eq!(redact_url("host=h user=u password=secret dbname=d"), "host=h user=u password=*** dbname=d");
    assert_eq!(redact_url("postgres://h/db"), "postgres://h/db");
}
