//! Drives the built `sqlretry` binary: JSON fields, exit codes, doctor, concurrent runs, processes, chart.
//!
//! Length: one short test per command contract, over one set of helpers that run the binary.

use std::path::Path;
use std::process::{Command, Output};

use rusqlite::Connection;
use serde_json::Value;

/// The binary under test.
fn sqlretry() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sqlretry"))
}

/// Runs the binary with `args`, stderr captured.
fn run(args: &[&str]) -> Output {
    sqlretry().args(args).output().expect("the binary runs")
}

/// Parses `--json` output: one object per line.
fn json_lines(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect()
}

/// Asserts the promised fields are there, and only they, with consistent counts.
fn check_run(run: &Value) {
    let object = run.as_object().expect("an object");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut want = [
        "strategy",
        "workload",
        "mode",
        "api",
        "in_flight",
        "writers",
        "processes",
        "attempted",
        "committed",
        "rows_committed",
        "failed",
        "lost",
        "duplicates",
        "integrity_ok",
        "retries",
        "wall_s",
        "committed_per_s",
        "latency_us",
        "errors",
    ];
    want.sort_unstable();
    assert_eq!(keys, want);
    let n = |k: &str| run[k].as_u64().unwrap_or_else(|| panic!("{k} is a count in {run}"));
    assert_eq!(n("attempted"), n("committed") + n("failed"), "{run}");
    assert_eq!(run["integrity_ok"], Value::Bool(true), "{run}");
    for p in ["p50", "p95", "p99", "max"] {
        assert!(run["latency_us"][p].is_u64(), "{run}");
    }
    assert!(n("in_flight") >= 1, "{run}");
    assert!(run["api"].as_str().is_some_and(|a| !a.is_empty()), "{run}");
    let failed_by_code: u64 =
        run["errors"].as_object().expect("errors").values().filter_map(Value::as_u64).sum();
    assert_eq!(failed_by_code, n("failed"), "{run}");
}

#[test]
fn json_runs_every_strategy_with_consistent_fields() {
    let out = run(&["stress", "--ops", "800", "--writers", "4", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let runs = json_lines(&out);
    let names: Vec<&str> = runs.iter().filter_map(|r| r["strategy"].as_str()).collect();
    assert_eq!(names, ["none", "busy-timeout", "seed-retry", "immediate", "sqlretry", "grouped", "writer"]);
    for r in &runs {
        check_run(r);
        assert_eq!(r["attempted"], 800);
        assert_eq!(r["lost"], 0);
        assert_eq!(r["duplicates"], 0);
        if matches!(r["strategy"].as_str(), Some("sqlretry" | "grouped" | "writer")) {
            assert_eq!(r["failed"], 0, "{r}");
        }
    }
    let immediate = &runs[3];
    assert_eq!(immediate["failed"], 0);
    assert_eq!(immediate["committed"], 800);
}

#[test]
fn each_workload_runs() {
    for workload in ["ticks", "entries"] {
        let out = run(&[
            "stress",
            "--workload",
            workload,
            "--strategy",
            "immediate",
            "--ops",
            "200",
            "--writers",
            "4",
            "--json",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let runs = json_lines(&out);
        assert_eq!(runs.len(), 1);
        check_run(&runs[0]);
        assert_eq!(runs[0]["workload"], workload);
        assert_eq!(runs[0]["lost"], 0);
        assert_eq!(runs[0]["committed"], 200);
    }
}

#[test]
fn bad_usage_exits_2_and_creates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("never.db");
    let db = db.to_str().expect("utf-8 path");

    let out = run(&["stress", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));

    let out = run(&["stress", "--db", db, "--config", "missing.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--config"), "names the flag");
    assert!(!Path::new(db).exists(), "nothing created");

    let out = run(&["stress", "--db", db, "--strategy", "fastest"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--strategy"));
    assert!(!Path::new(db).exists());

    let out = run(&["stress", "--db", db, "--writers", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!Path::new(db).exists());
    assert!(std::fs::read_dir(dir.path()).expect("dir").next().is_none(), "the directory stays empty");
}

#[test]
fn doctor_reports_wal_and_warns_on_delete_journal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wal = dir.path().join("wal.db");
    {
        let conn = Connection::open(&wal).expect("open");
        conn.pragma_update(None, "journal_mode", "WAL").expect("wal");
        conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1); PRAGMA user_version = 7;")
            .expect("ddl");
    }
    let out = run(&["doctor", "--json", wal.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let d: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(d["journal_mode"], "wal");
    assert_eq!(d["user_version"], 7);
    assert_eq!(d["quick_check_ok"], true);
    assert!(d["page_size"].as_u64().unwrap_or(0) > 0);
    assert!(d["warnings"].as_array().expect("warnings").is_empty(), "{d}");
    let mut side = wal.as_os_str().to_owned();
    side.push("-shm");
    assert!(!Path::new(&side).exists(), "doctor leaves no -shm behind a closed WAL file");

    let plain = dir.path().join("delete.db");
    {
        let conn = Connection::open(&plain).expect("open");
        conn.execute_batch("CREATE TABLE t (x);").expect("ddl");
    }
    let out = run(&["doctor", plain.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("journal mode     delete"), "{text}");
    assert!(text.contains("warning: journal_mode is delete, not WAL"), "{text}");

    let missing = dir.path().join("missing.db");
    let out = run(&["doctor", missing.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.db"));
    assert!(!missing.exists(), "doctor never creates the file");
}

#[test]
fn concurrent_runs_on_one_file_count_only_their_own_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("shared.db");
    let db_arg = db.to_str().expect("utf-8");
    let args =
        ["stress", "--db", db_arg, "--strategy", "immediate", "--ops", "3000", "--writers", "3", "--json"];
    let spawn = || sqlretry().args(args).stdout(std::process::Stdio::piped()).spawn().expect("spawn");
    let (a, b) = (spawn(), spawn());
    for out in [a.wait_with_output().expect("a"), b.wait_with_output().expect("b")] {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let runs = json_lines(&out);
        assert_eq!(runs.len(), 1);
        check_run(&runs[0]);
        assert_eq!(runs[0]["committed"], 3000);
        assert_eq!(runs[0]["lost"], 0);
        assert_eq!(runs[0]["duplicates"], 0, "counted only its own rows: {}", runs[0]);
    }
    let conn = Connection::open(&db).expect("open");
    let total: i64 = conn.query_row("SELECT COUNT(*) FROM kv", [], |r| r.get(0)).expect("count");
    assert_eq!(total, 6000, "both runs' rows are in the one table");
}

#[test]
fn processes_mode_runs() {
    // A plain strategy and the library's cross-process paths (grouped writes and the Writer take
    // turns through the writers' file lock).
    for strategy in ["immediate", "grouped", "writer"] {
        let out = run(&[
            "stress",
            "--mode",
            "processes",
            "--processes",
            "2",
            "--writers",
            "2",
            "--ops",
            "400",
            "--strategy",
            strategy,
            "--json",
        ]);
        assert_eq!(out.status.code(), Some(0), "{strategy}: {}", String::from_utf8_lossy(&out.stderr));
        let runs = json_lines(&out);
        assert_eq!(runs.len(), 1);
        check_run(&runs[0]);
        assert_eq!(runs[0]["strategy"], strategy);
        assert_eq!(runs[0]["mode"], "processes");
        assert_eq!(runs[0]["processes"], 2);
        assert_eq!(runs[0]["committed"], 400);
        assert_eq!(runs[0]["lost"], 0);
    }
}

#[test]
fn chart_is_an_svg_naming_every_strategy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let chart = dir.path().join("chart.svg");
    let out = run(&["stress", "--ops", "300", "--writers", "4", "--chart", chart.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("verdict:"), "{table}");
    let svg = std::fs::read_to_string(&chart).expect("chart written");
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("<svg").count(), 1);
    for name in ["none", "busy-timeout", "seed-retry", "immediate"] {
        assert!(svg.contains(&format!(">{name}<")), "{name} missing");
    }
}

#[test]
fn configuration_errors_name_the_field_or_variable_and_create_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("never.db");
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "[retry.write]\nmultiplier = 0.5\n").expect("write config");
    let out =
        run(&["stress", "--db", db.to_str().expect("utf-8"), "--config", config.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("retry.write.multiplier"), "{out:?}");

    let out = sqlretry()
        .args(["stress", "--db", db.to_str().expect("utf-8")])
        .env("SQLRETRY_RETRY_WRITE_MAX_ATTEMPTS", "many")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SQLRETRY_RETRY_WRITE_MAX_ATTEMPTS"), "{out:?}");
    assert!(!db.exists(), "nothing created on bad configuration");
}

#[test]
fn an_unknown_variable_is_a_warning_naming_the_nearest_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("plain.db");
    Connection::open(&db).expect("create").execute_batch("CREATE TABLE t (n INTEGER)").expect("table");
    let out = sqlretry()
        .args(["dead-letters", "replay", db.to_str().expect("utf-8")])
        .env("SQLRETRY_RETRY_WRITE_MAX_ATEMPTS", "3")
        .env("SQLRETRY_BIN", "/opt/wrapper/sqlretry")
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        stderr.contains(
            "warning: unknown variable SQLRETRY_RETRY_WRITE_MAX_ATEMPTS ignored (did you mean SQLRETRY_RETRY_WRITE_MAX_ATTEMPTS?)"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("warning: unknown variable SQLRETRY_BIN ignored"), "{stderr}");
}

#[test]
fn configured_store_runs_and_metrics_are_exported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("ok.toml");
    std::fs::write(
        &config,
        "[retry.write]\nmax_attempts = 20\ndeadline = \"10s\"\n[sqlite]\nbusy_timeout = \"0s\"\n",
    )
    .expect("write config");
    let metrics = dir.path().join("run.prom");
    let out = run(&[
        "stress",
        "--strategy",
        "sqlretry",
        "--ops",
        "2000",
        "--json",
        "--config",
        config.to_str().expect("utf-8"),
        "--metrics",
        metrics.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let runs = json_lines(&out);
    assert_eq!(runs.len(), 1);
    check_run(&runs[0]);
    assert_eq!((runs[0]["committed"].as_u64(), runs[0]["lost"].as_u64()), (Some(2000), Some(0)));
    let text = std::fs::read_to_string(&metrics).expect("metrics file");
    assert!(text.contains("sqlretry_calls_total{operation=\"sqlite.write\"} 2000"), "{text}");
    assert!(text.contains("sqlretry_sqlite_lock_hold_seconds"), "{text}");
}

/// A tick, as an application would define it for the library's batched ingest.
struct Tick {
    symbol: String,
    ts_ms: i64,
    bid: f64,
}

impl sqlretry::writer::Row for Tick {
    const TYPE_NAME: &'static str = "tick";
    const INSERT_SQL: &'static str = "INSERT OR IGNORE INTO ticks (symbol, ts_ms, bid) VALUES (?1, ?2, ?3)";
    fn values(&self) -> Vec<rusqlite::types::Value> {
        vec![self.symbol.clone().into(), self.ts_ms.into(), self.bid.into()]
    }
}

fn tick(i: i64) -> Tick {
    Tick { symbol: format!("S{}", i % 7), ts_ms: i, bid: 1.0 + i as f64 / 3.0 }
}

fn ticks_in(db: &Path) -> i64 {
    let conn = Connection::open(db).expect("open");
    conn.query_row("SELECT count(*) FROM ticks", [], |r| r.get(0)).expect("count")
}

#[test]
fn dead_letters_are_listed_and_replayed_without_the_row_type() {
    use sqlretry::writer::{DeadLetterStore, IngestOptions, Writer, WriterOptions};

    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("ticks.db");
    let db_arg = db.to_str().expect("utf-8 path");
    let store_path = DeadLetterStore::path_beside(&db);

    // A missing DB is a usage error naming it, and nothing is created.
    for action in ["list", "replay"] {
        let out = run(&["dead-letters", action, db_arg]);
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(db_arg), "{out:?}");
        assert!(!db.exists() && !store_path.exists());
    }

    Connection::open(&db)
        .expect("create")
        .execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE ticks (symbol TEXT NOT NULL, ts_ms INTEGER NOT NULL, bid REAL, UNIQUE (symbol, ts_ms));
             INSERT INTO ticks (symbol, ts_ms, bid) VALUES ('S0', 0, 1.0);",
        )
        .expect("schema");
    // No dead-letter file yet: nothing to list or replay, and the file is not created.
    let out = run(&["dead-letters", "list", db_arg]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("no dead letters"), "{out:?}");
    let out = run(&["dead-letters", "replay", db_arg]);
    assert!(out.status.success(), "{out:?}");
    assert!(!store_path.exists());

    // A real typed lane whose batches give up while another connection holds the write lock.
    let profile = sqlretry::sqlite::ConnectionProfile::default()
        .with_busy_timeout(std::time::Duration::from_millis(10));
    let once = sqlretry::RetryPolicy::builder().max_attempts(1).build().expect("policy");
    let writer = Writer::open_with(&db, WriterOptions::default().with_profile(profile)).expect("writer");
    let ingest = writer.ingest::<Tick>(IngestOptions::default().with_batch_size(40).with_policy(once));
    let locker = Connection::open(&db).expect("locker");
    locker.execute_batch("BEGIN EXCLUSIVE").expect("lock");
    for i in 0..100 {
        ingest.append(tick(i)).map_err(|e| e.to_string()).expect("append");
    }
    drop(ingest);
    let metrics = writer.shutdown().expect("shutdown");
    locker.execute_batch("COMMIT").expect("unlock");
    drop(locker);
    assert_eq!((metrics.rows_written, metrics.rows_dead_lettered), (0, 100), "{metrics:?}");
    // And one batch appended directly through the store's public API.
    let mut store = DeadLetterStore::open(&store_path).expect("store");
    store.append_rows(&[tick(100), tick(101)], "kept by hand").expect("append");
    drop(store);

    let out = run(&["dead-letters", "list", db_arg, "--json"]);
    assert!(out.status.success(), "{out:?}");
    let listed = &json_lines(&out)[0];
    assert_eq!((listed["batches"].as_u64(), listed["rows"].as_u64()), (Some(4), Some(102)), "{listed}");
    let first = &listed["dead_letters"][0];
    for key in ["id", "row_type", "rows", "failed_at", "error"] {
        assert!(!first[key].is_null(), "{key} in {first}");
    }
    assert_eq!(first["row_type"], "tick");
    assert!(first["error"].as_str().is_some_and(|e| e.contains("locked")), "{first}");
    let out = run(&["dead-letters", "list", db_arg]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("4 batch(es), 102 row(s)"), "{out:?}");

    let out = run(&["dead-letters", "replay", db_arg, "--json"]);
    assert!(out.status.success(), "{out:?}");
    let report = &json_lines(&out)[0];
    assert_eq!(report["batches_replayed"], 4, "{report}");
    assert_eq!(report["rows_replayed"], 102, "{report}");
    assert_eq!(
        (report["batches_left"].as_u64(), report["rows_left"].as_u64()),
        (Some(0), Some(0)),
        "{report}"
    );
    assert_eq!(ticks_in(&db), 102); // tick 0 was already there: ignored on its natural key
    let store = DeadLetterStore::open(&store_path).expect("store");
    assert!(store.list(None).expect("list").is_empty());
    drop(store);

    // A second replay is a no-op.
    let out = run(&["dead-letters", "replay", db_arg, "--json"]);
    assert!(out.status.success(), "{out:?}");
    let again = &json_lines(&out)[0];
    assert_eq!((again["batches_replayed"].as_u64(), again["rows_replayed"].as_u64()), (Some(0), Some(0)));
    assert_eq!(ticks_in(&db), 102);

    // A dead letter that is not an INSERT is refused and left: exit 1, the table untouched.
    let mut store = DeadLetterStore::open(&store_path).expect("store");
    store.append("evil", "DELETE FROM ticks", &[], "forged").expect("append");
    drop(store);
    let out = run(&["dead-letters", "replay", db_arg]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("not an INSERT") && text.contains("left: 1 batch(es)"), "{text}");
    assert_eq!(ticks_in(&db), 102);
}
