//! SIGTERM drain through the real binary: the server stops taking messages, writes and
//! acknowledges what it took, exits 0, and every acknowledged tick is in the file.
#![allow(clippy::unwrap_used)]

mod serve_common;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serve_common::{Server, ticks_json, ws_connect};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_and_nothing_acknowledged_is_lost() {
    let mut server = Server::start(&[], &[]);
    let (mut sink, mut stream) = ws_connect(&server.ws_url()).await.split();
    // Pipelined: 400 messages of 25 ticks, sent as fast as the socket takes them.
    let sender = tokio::spawn(async move {
        for m in 0..400_u64 {
            if sink.send(Message::text(ticks_json("DRAIN", m * 25, 25))).await.is_err() {
                break;
            }
        }
        sink
    });
    let mut acked = Vec::new();
    let mut terminated = false;
    loop {
        let frame =
            tokio::time::timeout(Duration::from_secs(30), stream.next()).await.expect("a frame in time");
        let Some(Ok(Message::Text(text))) = frame else { break };
        let ack: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
        assert_eq!(ack["type"], "ack", "{ack}");
        acked.push(ack["seq"].as_u64().unwrap());
        if !terminated && acked.len() == 20 {
            server.sigterm();
            terminated = true;
        }
    }
    assert!(terminated, "the server closed before 20 acks");
    eprintln!("acknowledged {} of 400 messages before the close", acked.len());
    let status = server.wait(Duration::from_secs(20));
    assert!(status.success(), "exit {status:?}: {}", server.log_text());
    drop(sender.await.unwrap());
    assert!(server.log_text().contains("drained"), "{}", server.log_text());
    // Every acknowledged message's 25 ticks are in the file.
    let conn = rusqlite::Connection::open(&server.db).unwrap();
    for seq in &acked {
        let first = seq - 24;
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM ticks WHERE symbol = 'DRAIN' AND ts BETWEEN ?1 AND ?2",
                [i64::try_from(first).unwrap() * 1000, i64::try_from(*seq).unwrap() * 1000],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 25, "message ending at {seq} was acknowledged but is not stored");
    }
    let rows = server.rows();
    assert!(rows >= i64::try_from(acked.len() * 25).unwrap());
    assert!(std::net::TcpStream::connect(&server.addr).is_err(), "still listening after the drain");
}

#[test]
fn sigint_drains_too_and_exits_0() {
    let mut server = Server::start(&[], &[]);
    let (status, _) = serve_common::http(&server.addr, "POST", "/api/ticks", &ticks_json("INT", 0, 3), &[]);
    assert_eq!(status, 200);
    let kill = std::process::Command::new("kill").args(["-INT", &server.pid().to_string()]).status().unwrap();
    assert!(kill.success());
    let status = server.wait(Duration::from_secs(20));
    assert!(status.success(), "exit {status:?}: {}", server.log_text());
    assert_eq!(server.rows(), 3);
}

#[test]
fn a_non_loopback_address_needs_allow_remote() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sqlretry"))
        .args(["serve", "--db", "/nonexistent/never-created.db", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--allow-remote"), "{stderr}");
}

/// No TLS client is in the tree: an `https://` webhook is refused at start (exit 2, naming the
/// flag and saying why), and nothing is created.
#[test]
fn an_https_webhook_is_refused_at_start_naming_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("never-created.db");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sqlretry"))
        .args(["serve", "--db"])
        .arg(&db)
        .args(["--listen", "127.0.0.1:0", "--webhook", "https://127.0.0.1:9/alerts"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--webhook") && stderr.contains("no TLS client"), "{stderr}");
    assert!(!db.exists(), "nothing is created");
}
