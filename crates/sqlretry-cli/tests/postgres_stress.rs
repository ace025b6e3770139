//! `sqlretry stress --db postgres://…` on a real PostgreSQL (`DATABASE_URL`, else
//! 127.0.0.1:5432/test): four strategies, the JSON contract, and PgStore failing and losing
//! nothing. Skipped with one line without a server, unless `SQLRETRY_REQUIRE_POSTGRES=1`.

#![allow(clippy::unwrap_used)]

use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

fn server_url() -> Option<String> {
    if let Ok(url) = std::env::var("DATABASE_URL")
        && url.starts_with("postgres")
    {
        return Some(url);
    }
    let addr: SocketAddr = "127.0.0.1:5432".parse().unwrap();
    if TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok() {
        return Some("postgres://postgres@127.0.0.1:5432/test".to_owned());
    }
    assert!(
        std::env::var("SQLRETRY_REQUIRE_POSTGRES").as_deref() != Ok("1"),
        "PostgreSQL is required (SQLRETRY_REQUIRE_POSTGRES=1) and nothing answers at 127.0.0.1:5432"
    );
    println!("skipped stress_on_postgres: no PostgreSQL at DATABASE_URL or 127.0.0.1:5432");
    None
}

#[test]
fn stress_on_postgres_compares_four_strategies_and_pgstore_loses_nothing() {
    let Some(url) = server_url() else { return };
    let out = Command::new(env!("CARGO_BIN_EXE_sqlretry"))
        .args(["stress", "--db", &url, "--workload", "entries", "--ops", "320", "--json", "--seed", "7"])
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let runs: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let names: Vec<&str> = runs.iter().map(|r| r["strategy"].as_str().unwrap()).collect();
    assert_eq!(names, ["read-committed", "serializable", "hand-loop", "sqlretry"]);
    for run in &runs {
        assert_eq!(run["workload"], "hot-rows");
        assert_eq!(run["attempted"], 320, "{run}");
        let (committed, failed) = (run["committed"].as_u64().unwrap(), run["failed"].as_u64().unwrap());
        assert_eq!(committed + failed, 320, "{run}");
    }
    let pgstore = &runs[3];
    assert_eq!((pgstore["failed"].as_u64(), pgstore["lost"].as_u64()), (Some(0), Some(0)), "{pgstore}");
    // Without retry at SERIALIZABLE nothing is lost either: conflicts fail instead.
    assert_eq!(runs[1]["lost"], 0, "{}", runs[1]);
}
