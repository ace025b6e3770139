//! `stress`'s `--in-flight`, `--mode tasks` and the ticks workload's ingest path, through the built
//! binary, with the JSON fields they report (`in_flight`, `api`, `mode`, `rows_committed`).

use std::process::{Command, Output};

use serde_json::Value;

/// Runs the built binary with `args`.
fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sqlretry")).args(args).output().expect("the binary runs")
}

/// Runs a stress with `--json`, asserts exit 0, and returns its runs.
fn runs(args: &[&str]) -> Vec<Value> {
    let mut all = vec!["stress", "--json"];
    all.extend_from_slice(args);
    let out = run(&all);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect()
}

/// As [`runs`], with the flags written as one line.
fn runs_of(flags: &str) -> Vec<Value> {
    runs(&flags.split_whitespace().collect::<Vec<_>>())
}

/// A count field of a run.
fn n(run: &Value, key: &str) -> u64 {
    run[key].as_u64().unwrap_or_else(|| panic!("{key} is a count in {run}"))
}

/// Every operation committed, nothing lost or duplicated, the file intact.
fn assert_complete(run: &Value, ops: u64) {
    assert_eq!((n(run, "attempted"), n(run, "committed"), n(run, "failed")), (ops, ops, 0), "{run}");
    assert_eq!((n(run, "lost"), n(run, "duplicates")), (0, 0), "{run}");
    assert_eq!(run["integrity_ok"], true, "{run}");
}

#[test]
fn in_flight_pipelines_the_writer_and_reports_one_for_the_others() {
    let all = runs(&["--ops", "900", "--writers", "3", "--in-flight", "8"]);
    assert_eq!(all.len(), 7);
    for r in &all {
        let name = r["strategy"].as_str().expect("strategy");
        if name == "writer" {
            assert_eq!((n(r, "in_flight"), r["api"].as_str()), (8, Some("Writer::enqueue")), "{r}");
        } else {
            assert_eq!(n(r, "in_flight"), 1, "{name} cannot pipeline: {r}");
        }
        if matches!(name, "immediate" | "sqlretry" | "grouped" | "writer") {
            assert_complete(r, 900);
            assert_eq!(n(r, "rows_committed"), 900, "kv: one row per operation: {r}");
        }
    }
    // Without the flag the writer submits one write at a time.
    let one = runs(&["--ops", "300", "--writers", "3", "--strategy", "writer"]);
    assert_eq!((n(&one[0], "in_flight"), one[0]["api"].as_str()), (1, Some("Writer::submit")));
    assert_complete(&one[0], 300);
    // Worker processes pipeline too, and say so through their tallies.
    let procs =
        runs_of("--mode processes --processes 2 --writers 2 --ops 600 --in-flight 8 --strategy writer");
    assert_eq!(
        (procs[0]["mode"].as_str(), n(&procs[0], "in_flight")),
        (Some("processes"), 8),
        "{}",
        procs[0]
    );
    assert_complete(&procs[0], 600);
}

#[test]
fn tasks_mode_awaits_async_writes_on_a_small_runtime() {
    let all = runs(&["--mode", "tasks", "--writers", "64", "--ops", "1200", "--strategy", "writer"]);
    let r = &all[0];
    assert_eq!((r["mode"].as_str(), n(r, "writers"), n(r, "processes")), (Some("tasks"), 64, 1), "{r}");
    assert_eq!(r["api"], "Writer::submit_async", "{r}");
    assert_complete(r, 1200);
    let all = runs(&["--mode", "tasks", "--writers", "64", "--ops", "1200", "--strategy", "sqlretry"]);
    assert_eq!(all[0]["api"], "Store::write via spawn_blocking", "{}", all[0]);
    assert_complete(&all[0], 1200);
    // The entries workload's read and slow work run beside the runtime's workers, not on them.
    let all = runs_of("--mode tasks --writers 32 --ops 200 --workload entries --work-ms 0 --strategy writer");
    assert_eq!((all[0]["workload"].as_str(), n(&all[0], "committed")), (Some("entries"), 200), "{}", all[0]);
    assert_eq!(n(&all[0], "lost"), 0, "{}", all[0]);
}

#[test]
fn tasks_mode_refuses_in_flight_and_processes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("never.db");
    let db = db.to_str().expect("utf-8 path");
    for (flag, value) in [("--in-flight", "4"), ("--processes", "2")] {
        let out = run(&["stress", "--db", db, "--mode", "tasks", flag, value]);
        assert_eq!(out.status.code(), Some(2), "{flag}: {out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(flag), "names {flag}: {out:?}");
        assert!(!std::path::Path::new(db).exists(), "nothing created");
    }
}

#[test]
fn ticks_go_through_the_ingest_path_and_count_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("ingest.toml");
    std::fs::write(&config, "[ingest]\nflush_interval = \"10ms\"\n").expect("write config");
    let config = config.to_str().expect("utf-8 path");
    let ticks = ["--workload", "ticks", "--batch", "20", "--writers", "4", "--config", config];
    for extra in
        [&["--ops", "200"][..], &["--ops", "400", "--in-flight", "4"], &["--ops", "200", "--mode", "tasks"]]
    {
        let args: Vec<&str> = ticks.iter().chain(extra).chain(&["--strategy", "writer"]).copied().collect();
        let r = &runs(&args)[0];
        let ops = n(r, "attempted");
        assert!(r["api"].as_str().is_some_and(|a| a.starts_with("Ingest::append")), "{r}");
        assert_complete(r, ops);
        assert_eq!(n(r, "rows_committed"), ops * 20, "committed counts operations, rows_committed rows: {r}");
    }
    // The other strategies write each batch as one transaction: the same counts.
    let args: Vec<&str> = ticks.iter().chain(&["--ops", "200", "--strategy", "immediate"]).copied().collect();
    let r = &runs(&args)[0];
    assert_eq!(r["api"], "BEGIN IMMEDIATE", "{r}");
    assert_complete(r, 200);
    assert_eq!(n(r, "rows_committed"), 4000, "{r}");
}
