//! `deploy/`: the Prometheus rules pass `promtool check rules` and their own `promtool test
//! rules` (skipped with a notice where promtool is absent; `.ci/run` installs it), and every
//! metric the rules and the Grafana dashboard use is one `sqlretry serve` exports.
#![allow(clippy::unwrap_used)]

mod serve_common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serve_common::{Server, http, ticks_json};

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

    let server = Server::start(&[], &[]);
    let (status, _) = http(&server.addr, "POST", "/api/ticks", &ticks_json("M", 0, 5), &[]);
    assert_eq!(status, 200);
    let (_, exported) = http(&server.addr, "GET", "/metrics", "", &[]);
    let exported = metric_names(&exported);
    // Counters that appear once their first event happens (a retry, a failure, a loss); the
    // dead-letter test shows them exported.
    let on_first_event = [
        "sqlretry_writer_retries_total",
        "sqlretry_writer_batch_failures_total",
        "sqlretry_serve_ticks_lost_total",
        "sqlretry_serve_ticks_dead_lettered_total",
        "sqlretry_serve_alert", // set by the monitor once a second
    ];
    for name in &used {
        assert!(
            exported.contains(name) || on_first_event.contains(&name.as_str()),
            "{name} is not exported: {exported:?}"
        );
    }
}
