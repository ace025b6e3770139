//! A foreign process holds the database's write lock for longer than the write deadline: the
//! messages are dead-lettered (not acknowledged, not lost), counted per tick and per message in
//! tick-stats and /metrics, `/readyz` says why it is not ready until a write commits again, the
//! alert fires (log, gauge, webhook POST to a local receiver that fails its first call, so the
//! webhook is retried) and resolves once its window is clear, and replay restores the rows.
#![allow(clippy::unwrap_used)]

mod serve_common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use serve_common::{ForeignLock, Server, http, ticks_json};

/// A local webhook receiver: answers 500 to the first POST (not passed on), 200 to each later one
/// and passes its JSON body on. Stops when `stop` is set (or after 60 s).
fn receiver(stop: Arc<AtomicBool>) -> (String, mpsc::Receiver<Value>, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/alerts", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut calls = 0;
        while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
            let Ok((mut stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            stream.set_nonblocking(false).unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut request = Vec::new();
            let mut buf = [0_u8; 4096];
            // Read the head, then Content-Length bytes of body.
            let body = loop {
                let Ok(n) = stream.read(&mut buf) else { break None };
                if n == 0 {
                    break None;
                }
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request).into_owned();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().to_owned())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if body.len() >= len {
                        break Some(body[..len].to_owned());
                    }
                }
            };
            calls += 1;
            if calls == 1 {
                let _ =
                    stream.write_all(b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                continue;
            }
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            if let Some(body) = body.and_then(|b| serde_json::from_str(&b).ok()) {
                let _ = tx.send(body);
            }
        }
    });
    (url, rx, handle)
}

#[test]
fn a_foreign_lock_past_the_deadline_dead_letters_alerts_and_replay_restores() {
    let stop = Arc::new(AtomicBool::new(false));
    let (url, alerts, receiver_thread) = receiver(Arc::clone(&stop));
    let mut server = Server::start(
        &["--webhook", &url],
        &[
            ("SQLRETRY_SQLITE_BUSY_TIMEOUT", "0s"),
            ("SQLRETRY_RETRY_WRITE_DEADLINE", "200ms"),
            ("SQLRETRY_SERVE_ALERT_BATCH_FAILURES", "2"),
            // Short windows, so that the alert's resolution is seen within the test.
            ("SQLRETRY_SERVE_ALERT_WINDOW", "3s"),
            ("SQLRETRY_SERVE_ALERT_SUCCESS_WINDOW", "3s"),
        ],
    );
    let batches = server.stats()["batches_written"].clone();
    for _ in 0..5 {
        assert_eq!(http(&server.addr, "GET", "/readyz", "", &[]).0, 200);
    }
    assert_eq!(server.stats()["batches_written"], batches, "probes are not batches");
    let lock = ForeignLock::take(&server.db);
    // Alive, but not ready: the write lock is taken.
    assert_eq!(http(&server.addr, "GET", "/healthz", "", &[]).0, 200);
    let (status, body) = http(&server.addr, "GET", "/readyz", "", &[]);
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("write lock"), "{body}");
    for m in 0..3 {
        let (status, body) = http(&server.addr, "POST", "/api/ticks", &ticks_json("DL", m * 10, 10), &[]);
        assert_eq!(status, 503, "a dead letter is 503 on HTTP as on the WebSocket: {body}");
        assert!(body.contains("dead letter"), "{body}");
    }
    let stats = server.stats_until(Duration::from_secs(15), |s| {
        s["alerts_active"].as_array().is_some_and(|a| a.iter().any(|r| r == "batch_failures"))
    });
    assert_eq!(stats["ticks_dead_lettered"], 30, "{stats}");
    assert_eq!(stats["ticks_failed"], 30, "{stats}");
    assert_eq!(stats["messages_failed"], 3, "{stats}");
    assert_eq!(stats["messages_dead_lettered"], 3, "{stats}");
    assert_eq!(stats["ticks_lost"], 0, "{stats}");
    assert!(stats["batch_failures"].as_u64().unwrap() >= 1, "{stats}");
    assert!(stats["last_batch_error"].as_str().is_some_and(|e| !e.is_empty()), "{stats}");
    assert!(stats["last_batch_error_time"].as_str().is_some_and(|t| t.contains('T')), "{stats}");
    let (_, metrics) = http(&server.addr, "GET", "/metrics", "", &[]);
    assert!(metrics.contains("sqlretry_serve_alert{rule=\"batch_failures\"} 1"), "{metrics}");
    assert!(metrics.contains("sqlretry_serve_ticks_dead_lettered_total 30"), "{metrics}");
    assert!(metrics.contains("sqlretry_serve_messages_failed_total 3"), "{metrics}");
    let (status, body) = http(&server.addr, "GET", "/readyz", "", &[]);
    assert_eq!(status, 503, "{body}");
    // The webhook heard the alert start (its first call answered 500: retried).
    let mut heard = Vec::new();
    let mut hear = |alert: &str, state: &str| {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !heard.iter().any(|a: &Value| a["alert"] == alert && a["state"] == state) {
            let left = deadline.saturating_duration_since(Instant::now());
            heard.push(
                alerts.recv_timeout(left).unwrap_or_else(|_| panic!("no {alert} {state}; heard {heard:?}")),
            );
        }
        heard.iter().find(|a| a["alert"] == alert && a["state"] == state).unwrap().clone()
    };
    let firing = hear("batch_failures", "firing");
    // The first alert of all (the success rate, after the first failed message) met the 500.
    hear("batch_success_rate", "firing");
    for key in ["host", "database", "value", "threshold", "time", "last_error"] {
        assert!(!firing[key].is_null(), "{key} missing from {firing}");
    }
    assert!(firing["database"].as_str().unwrap().ends_with("ticks.db"), "{firing}");
    assert!(server.log_text().contains("ALERT firing"), "{}", server.log_text());

    lock.release();
    let (status, body) = http(&server.addr, "GET", "/readyz", "", &[]);
    assert_eq!(status, 503, "still failing until a write commits: {body}");
    assert!(body.contains("writes failing since"), "{body}");
    let (status, body) = http(&server.addr, "POST", "/api/ticks", &ticks_json("OK", 0, 1), &[]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(http(&server.addr, "GET", "/readyz", "", &[]).0, 200, "ready again once a write commits");
    // The window clears: resolved, and the webhook hears it.
    let resolved = hear("batch_failures", "resolved");
    assert_eq!(resolved["state"], "resolved");
    stop.store(true, Ordering::Relaxed);
    receiver_thread.join().unwrap();
    let stats = server.stats();
    assert!(!stats["alerts_active"].as_array().unwrap().iter().any(|r| r == "batch_failures"), "{stats}");

    server.sigterm();
    assert!(server.wait(Duration::from_secs(20)).success(), "{}", server.log_text());
    assert_eq!(server.rows(), 1);
    let replay = Command::new(env!("CARGO_BIN_EXE_sqlretry"))
        .args(["dead-letters", "replay"])
        .arg(&server.db)
        .output()
        .unwrap();
    assert!(replay.status.success(), "{}", String::from_utf8_lossy(&replay.stderr));
    assert_eq!(server.rows(), 31, "replay restored every dead-lettered tick");
}
