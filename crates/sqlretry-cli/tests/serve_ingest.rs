//! `sqlretry serve` as a real process on an ephemeral port: the tick store's integration test (10,000
//! ticks), the ack protocol (ack only after commit; resend after reconnect gives duplicates, not
//! double rows), each bad input (400 naming the field, nothing written), 413, backpressure.
#![allow(clippy::unwrap_used)]

mod serve_common;

use std::time::Duration;

use serde_json::Value;
use serve_common::{ForeignLock, Server, http, http_full, ticks_json, ws_connect, ws_next, ws_send};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_002_ten_thousand_ticks_are_written_and_none_lost() {
    let server = Server::start(&[], &[]);
    // 4 connections × 25 messages × 100 ticks, each connection pipelining its messages.
    let mut clients = Vec::new();
    for c in 0..4_u64 {
        let url = server.ws_url();
        clients.push(tokio::spawn(async move {
            let mut ws = ws_connect(&url).await;
            for m in 0..25 {
                ws_send(&mut ws, ticks_json(&format!("SYM{c}"), m * 100, 100)).await;
            }
            let mut new = 0;
            for _ in 0..25 {
                let ack = ws_next(&mut ws).await.expect("an ack");
                assert_eq!(ack["type"], "ack", "{ack}");
                new += ack["new"].as_u64().unwrap();
            }
            new
        }));
    }
    let mut new = 0;
    for c in clients {
        new += c.await.unwrap();
    }
    assert_eq!(new, 10_000);
    let stats = server.stats();
    assert_eq!(stats["ticks_written"], 10_000, "{stats}");
    assert_eq!(stats["ticks_lost"], 0, "{stats}");
    assert!((stats["batch_success_rate"].as_f64().unwrap() - 1.0).abs() < 1e-9, "{stats}");
    for field in
        ["db_path", "queue_size", "batches_written", "batch_failures", "retries_total", "uptime_seconds"]
    {
        assert!(stats.get(field).is_some(), "{field} missing: {stats}");
    }
    assert_eq!(server.rows(), 10_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ack_comes_after_commit_and_a_resend_gives_duplicates_not_rows() {
    let server = Server::start(&[], &[]);
    let mut ws = ws_connect(&server.ws_url()).await;
    for m in 0..5 {
        ws_send(&mut ws, ticks_json("ACK", m * 10, 10)).await;
        let ack = ws_next(&mut ws).await.unwrap();
        assert_eq!((ack["seq"].as_u64(), ack["new"].as_u64()), (Some(m * 10 + 9), Some(10)), "{ack}");
        // Acknowledged = committed: another connection sees the rows at once.
        assert_eq!(server.rows(), i64::try_from((m + 1) * 10).unwrap());
    }
    // Send more without waiting, drop the connection, reconnect and resend everything.
    for m in 5..10 {
        ws_send(&mut ws, ticks_json("ACK", m * 10, 10)).await;
    }
    drop(ws);
    let mut ws = ws_connect(&server.ws_url()).await;
    let (mut new, mut duplicates) = (0, 0);
    for m in 0..10 {
        ws_send(&mut ws, ticks_json("ACK", m * 10, 10)).await;
    }
    for _ in 0..10 {
        let ack = ws_next(&mut ws).await.unwrap();
        new += ack["new"].as_u64().unwrap();
        duplicates += ack["duplicates"].as_u64().unwrap();
    }
    assert_eq!(new + duplicates, 100);
    assert!(duplicates >= 50, "the first 50 were acknowledged before: {duplicates}");
    assert_eq!(server.rows(), 100, "a resend never doubles a row");
    let stats = server.stats();
    assert_eq!(stats["ticks_written"], 100, "{stats}");
}

/// Each bad input, over HTTP and WebSocket: 400 naming the field; the valid tick beside it is
/// not written either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bad_input_is_refused_naming_the_field_and_nothing_is_written() {
    let server = Server::start(&[], &[]);
    let good = r#"{"symbol":"OK","timestamp":1,"bid":1.5,"ask":1.6,"seq":1}"#;
    let long = "X".repeat(33);
    let cases = [
        ("[{\"symbol\":", "body"),
        (r#"{"timestamp":2,"bid":1,"ask":1,"seq":2}"#, "[1].symbol"),
        (r#"{"symbol":"A","bid":1,"ask":1,"seq":2}"#, "[1].timestamp"),
        (r#"{"symbol":"A","timestamp":"2024-12-07T19:33:20.123","bid":1,"ask":1,"seq":2}"#, "[1].timestamp"),
        (r#"{"symbol":"A","timestamp":2,"ask":1,"seq":2}"#, "[1].bid"),
        (r#"{"symbol":"A","timestamp":2,"bid":"NaN","ask":1,"seq":2}"#, "[1].bid"),
        (r#"{"symbol":"A","timestamp":2,"bid":1,"ask":"-inf","seq":2}"#, "[1].ask"),
        (r#"{"symbol":"","timestamp":2,"bid":1,"ask":1,"seq":2}"#, "[1].symbol"),
        (&format!(r#"{{"symbol":"{long}","timestamp":2,"bid":1,"ask":1,"seq":2}}"#), "[1].symbol"),
        (r#"{"symbol":"A","timestamp":2,"bid":1,"ask":1,"price":1,"seq":2}"#, "[1].price"),
    ];
    let mut ws = ws_connect(&server.ws_url()).await;
    for (bad, field) in &cases {
        let body = if *field == "body" { (*bad).to_owned() } else { format!("[{good},{bad}]") };
        let (status, answer) = http(&server.addr, "POST", "/api/ticks", &body, &[]);
        assert_eq!(status, 400, "{body}: {answer}");
        let answer: Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(answer["field"], *field, "{body}: {answer}");
        ws_send(&mut ws, body.clone()).await;
        let frame = ws_next(&mut ws).await.unwrap();
        assert_eq!((frame["type"].as_str(), frame["status"].as_u64()), (Some("error"), Some(400)), "{frame}");
        assert_eq!(frame["field"], *field, "{body}: {frame}");
        // The client's seq is named even though the message failed validation (the last tick's,
        // as an ack would); only when the JSON cannot be read at all is it null.
        let seq = if *field == "body" { Value::Null } else { Value::from(2) };
        assert_eq!(frame["seq"], seq, "{body}: {frame}");
    }
    // WebSocket messages must carry seq.
    ws_send(&mut ws, r#"{"symbol":"A","timestamp":2,"bid":1,"ask":1}"#.to_owned()).await;
    assert_eq!(ws_next(&mut ws).await.unwrap()["field"], "seq");
    assert_eq!(server.rows(), 0, "nothing of a refused message is written");
    assert_eq!(server.stats()["messages_rejected"], 2 * cases.len() + 1);
    // The connection is still usable: the good tick alone is acknowledged.
    ws_send(&mut ws, good.to_owned()).await;
    assert_eq!(ws_next(&mut ws).await.unwrap()["new"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ndjson_is_accepted_and_a_body_over_the_limit_gets_413() {
    let server = Server::start(&[], &[("SQLRETRY_SERVE_MAX_BODY", "4096")]);
    let ndjson = "{\"symbol\":\"N\",\"timestamp\":1,\"bid\":1,\"ask\":1}\n{\"symbol\":\"N\",\"timestamp\":2,\"bid\":1,\"ask\":1}\n";
    let (status, body) =
        http(&server.addr, "POST", "/api/ticks", ndjson, &[("Content-Type", "application/x-ndjson")]);
    assert_eq!(
        (status, serde_json::from_str::<Value>(&body).unwrap()["new"].as_u64()),
        (200, Some(2)),
        "{body}"
    );
    let big = ticks_json("BIG", 0, 200);
    assert!(big.len() > 4096);
    let (status, head, body) = http_full(&server.addr, "POST", "/api/ticks", big.as_bytes(), &[]);
    assert_eq!(status, 413);
    // The same JSON shape as the other 4xx answers.
    assert!(head.contains("content-type: application/json"), "{head}");
    let answer: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
    assert_eq!(answer["field"], "body", "{answer}");
    assert!(answer["error"].as_str().is_some_and(|e| !e.is_empty()), "{answer}");
    let mut ws = ws_connect(&server.ws_url()).await;
    ws_send(&mut ws, big).await;
    let frame = ws_next(&mut ws).await.unwrap();
    assert_eq!((frame["status"].as_u64(), frame["seq"].as_u64()), (Some(413), Some(199)), "{frame}");
    assert_eq!(server.rows(), 2);
}

/// With a foreign process holding the write lock, in-flight work is bounded: HTTP answers 503
/// with Retry-After past `inflight_total`, and a WebSocket connection stops taking messages past
/// `inflight_per_connection`; once the lock is gone, everything taken is acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_ingest_is_full_http_gets_503_and_websocket_stops_reading() {
    let server = Server::start(
        &[],
        &[
            ("SQLRETRY_SERVE_INFLIGHT_TOTAL", "2"),
            ("SQLRETRY_SERVE_INFLIGHT_PER_CONNECTION", "2"),
            ("SQLRETRY_SQLITE_BUSY_TIMEOUT", "10ms"),
            ("SQLRETRY_RETRY_WRITE_MAX_ATTEMPTS", "100000"),
            ("SQLRETRY_RETRY_WRITE_DEADLINE", "60s"),
        ],
    );
    let lock = ForeignLock::take(&server.db);
    let mut ws = ws_connect(&server.ws_url()).await;
    for m in 0..10 {
        ws_send(&mut ws, ticks_json("BP", m * 10, 10)).await;
    }
    // Two messages are taken (the bound), the rest wait unread.
    server.stats_until(Duration::from_secs(20), |s| s["in_flight"].as_u64() >= Some(2));
    let (status, head, body) =
        http_full(&server.addr, "POST", "/api/ticks", ticks_json("H", 0, 1).as_bytes(), &[]);
    assert_eq!(status, 503, "{body}");
    assert!(head.contains("retry-after: 1"), "{head}");
    std::thread::sleep(Duration::from_millis(300));
    let stats = server.stats();
    assert_eq!(stats["in_flight"], 2, "bounded: {stats}");
    assert_eq!(stats["messages_busy"], 1, "{stats}");
    lock.release();
    let mut acked = 0;
    while acked < 10 {
        let ack = ws_next(&mut ws).await.unwrap();
        assert_eq!(ack["type"], "ack", "{ack}");
        acked += 1;
    }
    assert_eq!(server.rows(), 100);
}
