//! Hard limits against the real server: no client can hold it. A half-sent request does not keep
//! a SIGTERM'd process alive past `drain_timeout` + 1 s; headers and bodies must arrive in time;
//! a silent WebSocket is pinged then closed; past `max_connections` a new connection gets 503.
#![allow(clippy::unwrap_used)]

mod serve_common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serve_common::{Server, http, ticks_json, ws_connect, ws_next, ws_send};
use tokio_tungstenite::tungstenite::Message;

/// Opens a connection and sends a POST announcing `Content-Length: 100` with one byte of body.
fn half_sent_post(addr: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    let head = format!(
        "POST /api/ticks HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n["
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream
}

/// Reads until the server closes (at most `limit`); returns what it sent.
fn read_until_closed(mut stream: TcpStream, limit: Duration) -> String {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_half_sent_request_exits_0_within_drain_timeout_plus_one_second() {
    let mut server = Server::start(
        &[],
        &[("SQLRETRY_SERVE_DRAIN_TIMEOUT", "1s"), ("SQLRETRY_SERVE_BODY_READ_TIMEOUT", "60s")],
    );
    let mut ws = ws_connect(&server.ws_url()).await;
    ws_send(&mut ws, ticks_json("D", 0, 5)).await;
    assert_eq!(ws_next(&mut ws).await.unwrap()["type"], "ack");
    let stuck = half_sent_post(&server.addr);
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    server.sigterm();
    let status = server.wait(Duration::from_secs(5));
    let took = started.elapsed();
    let log = server.log_text();
    assert!(status.success(), "{status}: {log}");
    assert!(took <= Duration::from_secs(2), "exit took {took:?} (drain_timeout 1 s): {log}");
    assert!(log.contains("1 connection(s) cut"), "{log}");
    assert!(log.contains("nothing acknowledged was lost"), "{log}");
    assert_eq!(serve_common::count_rows(&server.db), 5, "the acknowledged ticks are there");
    drop(stuck);
}

#[test]
fn headers_and_bodies_must_arrive_in_time() {
    let server = Server::start(
        &[],
        &[("SQLRETRY_SERVE_HEADER_READ_TIMEOUT", "500ms"), ("SQLRETRY_SERVE_BODY_READ_TIMEOUT", "500ms")],
    );
    let mut slow = TcpStream::connect(&server.addr).unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").unwrap();
    let started = Instant::now();
    let _ = read_until_closed(slow, Duration::from_secs(10));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "headers held the connection {:?}",
        started.elapsed()
    );

    let started = Instant::now();
    let answer = read_until_closed(half_sent_post(&server.addr), Duration::from_secs(10));
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains(r#""field":"body""#), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(serve_common::count_rows(&server.db), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_websocket_is_pinged_then_closed_and_one_that_answers_stays() {
    let server = Server::start(&[], &[("SQLRETRY_SERVE_WS_IDLE_TIMEOUT", "1s")]);
    // Answers pings: tungstenite replies with a pong while the stream is read.
    let mut alive = ws_connect(&server.ws_url()).await;
    let mut pinged = false;
    let until = Instant::now() + Duration::from_millis(2500);
    while Instant::now() < until {
        match tokio::time::timeout(Duration::from_millis(200), alive.next()).await {
            Ok(Some(Ok(Message::Ping(_)))) => pinged = true,
            Ok(Some(Ok(_))) | Err(_) => {}
            Ok(other) => panic!("closed although it answered pings: {other:?}"),
        }
    }
    assert!(pinged, "no ping after half the idle timeout");
    ws_send(&mut alive, ticks_json("I", 0, 1)).await;
    assert_eq!(ws_next(&mut alive).await.unwrap()["type"], "ack");

    // Never reads, so never answers: closed after the idle timeout.
    let mut silent = ws_connect(&server.ws_url()).await;
    tokio::time::sleep(Duration::from_millis(1800)).await;
    let mut closed = false;
    while let Ok(Some(frame)) = tokio::time::timeout(Duration::from_secs(5), silent.next()).await {
        if matches!(frame, Ok(Message::Close(_)) | Err(_)) {
            closed = true;
            break;
        }
    }
    assert!(closed || silent.next().await.is_none(), "the silent connection was not closed");
}

#[test]
fn past_max_connections_a_new_connection_gets_503() {
    let server = Server::start(&[], &[("SQLRETRY_SERVE_MAX_CONNECTIONS", "2")]);
    let one = TcpStream::connect(&server.addr).unwrap();
    let two = TcpStream::connect(&server.addr).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let (status, body) = http(&server.addr, "GET", "/healthz", "", &[]);
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("too many open connections"), "{body}");
    drop((one, two));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, _) = http(&server.addr, "GET", "/healthz", "", &[]);
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the cap did not free its slots");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, metrics) = http(&server.addr, "GET", "/metrics", "", &[]);
    assert!(metrics.contains("sqlretry_serve_connections_open"), "{metrics}");
}
