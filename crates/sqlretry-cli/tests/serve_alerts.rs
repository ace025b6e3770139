//! A foreign process holds the database's write lock for longer than the write deadline: the
//! batches are dead-lettered (not acknowledged, not lost), tick-stats and /metrics say so, the
//! alert fires (log, gauge, webhook POST to a local receiver), and replay restores the rows.
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

/// A local webhook receiver: answers 200 to each POST and passes its JSON body on. Stops when
/// `stop` is set (or after 60 s).
fn receiver(stop: Arc<AtomicBool>) -> (String, mpsc::Receiver<Value>, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/alerts", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
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
        ],
    );
    assert_eq!(http(&server.addr, "GET", "/readyz", "", &[]).0, 200);
    let lock = ForeignLock::take(&server.db);
    // Alive, but not ready: the writer cannot commit.
    assert_eq!(http(&server.addr, "GET", "/healthz", "", &[]).0, 200);
    let (status, body) = http(&server.addr, "GET", "/readyz", "", &[]);
    assert_eq!(status, 503, "{body}");
    for m in 0..3 {
        let (status, body) = http(&server.addr, "POST", "/api/ticks", &ticks_json("DL", m * 10, 10), &[]);
        assert_eq!(status, 500, "{body}");
        assert!(body.contains("dead letter"), "{body}");
    }
    let stats = server.stats_until(Duration::from_secs(15), |s| {
        s["alerts_active"].as_array().is_some_and(|a| a.iter().any(|r| r == "batch_failures"))
    });
    assert_eq!(stats["ticks_dead_lettered"], 30, "{stats}");
    assert_eq!(stats["ticks_lost"], 0, "{stats}");
    assert!(stats["batch_failures"].as_u64().unwrap() >= 3, "{stats}");
    assert!(stats["last_batch_error"].as_str().is_some_and(|e| !e.is_empty()), "{stats}");
    assert!(stats["last_batch_error_time"].as_str().is_some_and(|t| t.contains('T')), "{stats}");
    assert!(stats["batch_success_rate"].as_f64().unwrap() < 0.95, "{stats}");
    let (_, metrics) = http(&server.addr, "GET", "/metrics", "", &[]);
    assert!(metrics.contains("sqlretry_serve_alert{rule=\"batch_failures\"} 1"), "{metrics}");
    assert!(metrics.contains("sqlretry_serve_ticks_dead_lettered_total 30"), "{metrics}");
    // The webhook heard the alert start.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut heard = Vec::new();
    while !heard.iter().any(|a: &Value| a["alert"] == "batch_failures" && a["state"] == "firing") {
        let left = deadline.saturating_duration_since(Instant::now());
        heard.push(alerts.recv_timeout(left).unwrap_or_else(|_| panic!("no webhook call; heard {heard:?}")));
    }
    assert!(server.log_text().contains("ALERT firing"), "{}", server.log_text());
    stop.store(true, Ordering::Relaxed);
    receiver_thread.join().unwrap();

    lock.release();
    assert_eq!(http(&server.addr, "GET", "/readyz", "", &[]).0, 200, "ready again once the lock is gone");
    server.sigterm();
    assert!(server.wait(Duration::from_secs(20)).success(), "{}", server.log_text());
    assert_eq!(server.rows(), 0);
    let replay = Command::new(env!("CARGO_BIN_EXE_sqlretry"))
        .args(["dead-letters", "replay"])
        .arg(&server.db)
        .output()
        .unwrap();
    assert!(replay.status.success(), "{}", String::from_utf8_lossy(&replay.stderr));
    assert_eq!(server.rows(), 30, "replay restored every dead-lettered tick");
}
