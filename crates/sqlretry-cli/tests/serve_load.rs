//! `sqlretry load` against `sqlretry serve`, both real processes: a short tick-store load test
//! (20 connections × 500 ticks/s × 3 s) with every acknowledged tick verified in the file, and
//! exit 1 when acknowledged ticks are missing.
#![allow(clippy::unwrap_used)]

mod serve_common;

use std::process::Command;

use serde_json::Value;
use serve_common::Server;

fn load(server: &Server, db: &std::path::Path, extra: &[&str]) -> (Option<i32>, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_sqlretry"))
        .args(["load", "--url", &format!("http://{}", server.addr), "--json", "--db"])
        .arg(db)
        .args(extra)
        .output()
        .unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    });
    (out.status.code(), json)
}

#[test]
fn twenty_connections_at_500_ticks_per_second_lose_nothing() {
    let server = Server::start(&[], &[]);
    let (code, report) =
        load(&server, &server.db, &["--connections", "20", "--rate", "500", "--duration", "3s"]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["sent"], 30_000, "{report}");
    assert_eq!(report["acknowledged"], 30_000, "{report}");
    assert_eq!(report["present"], 30_000, "{report}");
    assert_eq!((report["lost"].as_u64(), report["unacknowledged"].as_u64()), (Some(0), Some(0)), "{report}");
    assert_eq!(report["verified_by"], "database");
    assert!(report["success_rate"].as_f64().unwrap() > 0.995, "{report}");
    assert_eq!(server.stats()["ticks_written"], 30_000);
}

#[test]
fn acknowledged_ticks_missing_from_the_file_exit_1() {
    let server = Server::start(&[], &[]);
    // Verify against another, empty database: every acknowledged tick is "missing" there.
    let other = server.dir.path().join("other.db");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE ticks (symbol TEXT, ts INTEGER, bid REAL, ask REAL, spread REAL, lp_source TEXT, tick_key BLOB)")
        .unwrap();
    let (code, report) = load(&server, &other, &["--connections", "2", "--rate", "100", "--duration", "1s"]);
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(report["lost"], report["acknowledged"], "{report}");
    assert!(report["acknowledged"].as_u64().unwrap() > 0, "{report}");
}

#[test]
fn max_stops_at_the_first_step_past_the_p99_bound() {
    let server = Server::start(&[], &[]);
    // No ack is that fast: the first step is past the bound, nothing is sustainable, exit 1.
    let (code, out) = load(
        &server,
        &server.db,
        &["--max", "--p99-bound", "1us", "--connections", "2", "--rate", "50", "--duration", "1s"],
    );
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(out["steps"].as_array().unwrap().len(), 1, "{out}");
    assert_eq!(out["sustainable_ticks_per_second"], 0.0, "{out}");
    assert_eq!(out["steps"][0]["lost"], 0, "{out}");
}
