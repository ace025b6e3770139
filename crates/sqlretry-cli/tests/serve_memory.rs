//! What an idle WebSocket costs the server: its resident memory before, while N idle connections
//! are open, and after they closed (from /proc; Linux only). The assertion is loose (a regression
//! to tungstenite's 128 KiB buffers per connection fails it); the figures for BENCHMARKS.md come
//! from `SQLRETRY_MEMORY_CONNECTIONS=2000 SQLRETRY_MEMORY_BIN=target/release/sqlretry cargo test
//! --test serve_memory -- --nocapture`.
#![allow(clippy::unwrap_used)]
#![cfg(target_os = "linux")]

mod serve_common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serve_common::{ticks_json, ws_connect, ws_next, ws_send};

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_websockets_cost_little_memory() {
    let n: usize =
        std::env::var("SQLRETRY_MEMORY_CONNECTIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(500);
    let bin =
        std::env::var("SQLRETRY_MEMORY_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_sqlretry").to_owned());
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(&bin)
        .args(["serve", "--db"])
        .arg(dir.path().join("t.db"))
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.split("://").nth(1).unwrap().split_whitespace().next().unwrap().to_owned();
    let url = format!("ws://{addr}/ws/ticks");
    let pid = child.id();

    // Warm up: one connection through the whole path, so that lazily built parts are counted
    // in "before", not charged to the idle connections.
    for i in 0..3 {
        let mut ws = ws_connect(&url).await;
        ws_send(&mut ws, ticks_json("WARM", i * 10, 10)).await;
        assert_eq!(ws_next(&mut ws).await.unwrap()["type"], "ack");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(pid);
    let mut rounds = Vec::new();
    // Two rounds: what the first leaves behind after its connections close is kept by the
    // allocator for reuse, so the second must not grow the process further.
    for _ in 0..2 {
        let mut open = Vec::with_capacity(n);
        for _ in 0..n {
            open.push(ws_connect(&url).await);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let during = rss_kib(pid);
        drop(open);
        tokio::time::sleep(Duration::from_secs(2)).await;
        rounds.push((during, rss_kib(pid)));
    }
    let (during, after) = rounds[0];
    let (during2, after2) = rounds[1];
    let per = (during.saturating_sub(before)) as f64 / n as f64;
    println!(
        "idle WebSockets: {n}; RSS before {before} KiB, during {during} KiB, after {after} KiB; {per:.1} KiB each; \
         second round: during {during2} KiB, after {after2} KiB"
    );
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    let _ = child.wait();
    assert!(per <= 64.0, "{per:.1} KiB per idle WebSocket");
    let growth = during2.saturating_sub(during) as f64 / n as f64;
    assert!(growth <= 8.0, "the second round grew the process by {growth:.1} KiB per connection");
}
