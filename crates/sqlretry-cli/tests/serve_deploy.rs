//! `deploy/`: the Prometheus rules pass `promtool check rules` and their own `promtool test
//! rules` (skipped with a notice where promtool is absent; `.ci/run` installs it), and every
//! series the rules and the Grafana dashboard use appears in `/metrics` after a run with a forced
//! failure, each metric with HELP text.
#![allow(clippy::unwrap_used)]

mod serve_common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use std::time::Duration;

use serve_common::{ForeignLock, Server, http, ticks_json};

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

/// Runs promtool with `args` in deploy/prometheus; `None` when promtool is not installed.
fn promtool(args: &[&str]) -> Option<std::process::Output> {
    match Command::new("promtool").args(args).current_dir(deploy().join("prometheus")).output() {
        Ok(out) => Some(out),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "NOTICE: promtool not found; skipping `promtool {}` (apt-get install prometheus)",
                args.join(" ")
            );
            None
        }
        Err(e) => panic!("promtool: {e}"),
    }
}

#[test]
fn the_alert_rules_pass_promtool() {
    for args in [&["check", "rules", "alerts.yml"][..], &["test", "rules", "alerts_test.yml"][..]] {
        if let Some(out) = promtool(args) {
            assert!(
                out.status.success(),
                "promtool {args:?}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("sqlretry_") {
        let tail = &rest[i..];
        let end = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tail.len());
        names.insert(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

#[test]
fn the_dashboard_and_rules_use_only_exported_metrics() {
    let dashboard = std::fs::read_to_string(deploy().join("grafana/sqlretry-serve.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&dashboard).unwrap();
    let titles: Vec<&str> =
        json["panels"].as_array().unwrap().iter().filter_map(|p| p["title"].as_str()).collect();
    for want in ["Ticks written / s", "Retries / min", "Batch success rate", "Queue size", "Lock hold p99"] {
        assert!(titles.contains(&want), "{want} missing from {titles:?}");
    }
    let rules = std::fs::read_to_string(deploy().join("prometheus/alerts.yml")).unwrap();
    let used: BTreeSet<String> = metric_names(&dashboard).into_iter().chain(metric_names(&rules)).collect();

    // A run with a forced failure: a foreign EXCLUSIVE lock past the write deadline.
    let server = Server::start(
        &[],
        &[("SQLRETRY_SQLITE_BUSY_TIMEOUT", "0s"), ("SQLRETRY_RETRY_WRITE_DEADLINE", "200ms")],
    );
    let (status, _) = http(&server.addr, "POST", "/api/ticks", &ticks_json("M", 0, 5), &[]);
    assert_eq!(status, 200);
    let lock = ForeignLock::take(&server.db);
    let (status, body) = http(&server.addr, "POST", "/api/ticks", &ticks_json("M", 5, 5), &[]);
    assert_eq!(status, 503, "{body}");
    lock.release();
    let (status, _) = http(&server.addr, "POST", "/api/ticks", &ticks_json("M", 10, 5), &[]);
    assert_eq!(status, 200);
    std::thread::sleep(Duration::from_millis(1500)); // the monitor's once-a-second figures
    let (_, text) = http(&server.addr, "GET", "/metrics", "", &[]);
    let exported = metric_names(&text);
    for name in &used {
        assert!(exported.contains(name), "{name} is used by deploy/ but not exported: {exported:?}");
    }
    for line in text.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let name = line.split_whitespace().next().unwrap();
        assert!(text.contains(&format!("# HELP {name} ")), "{name} has no HELP text");
    }
    let failed = text.lines().find(|l| l.starts_with("sqlretry_serve_ticks_failed_total")).unwrap();
    assert!(failed.ends_with(" 5"), "{failed}");
}
