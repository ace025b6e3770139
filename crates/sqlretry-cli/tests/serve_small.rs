//! The smaller things a new user meets first, each against the real binary: invalid UTF-8 in a
//! binary WebSocket frame refused as HTTP refuses it; a port in use leaves no file behind; a
//! closed pipe ends `dead-letters list` quietly; `load` without a server fails fast naming the
//! refusal; no colours in a log file; a bad `SQLRETRY_SERVE_LISTEN` named as such; the README
//! names the NDJSON content type; a dead letter is 503 on HTTP and on the WebSocket alike.
#![allow(clippy::unwrap_used)]

mod serve_common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use serve_common::{ForeignLock, Server, http, ticks_json, ws_connect, ws_next, ws_send};
use tokio_tungstenite::tungstenite::Message;

fn sqlretry() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sqlretry"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binary_frame_with_invalid_utf8_is_refused_like_http() {
    let server = Server::start(&[], &[]);
    let mut bytes = ticks_json("U", 0, 1).into_bytes();
    let at = bytes.iter().position(|&b| b == b'U').unwrap();
    bytes[at] = 0xff;
    let (status, body) = http(&server.addr, "POST", "/api/ticks", &String::from_utf8_lossy(&bytes), &[]);
    assert_eq!(status, 200, "lossy text is valid UTF-8: {body}");
    let raw = serve_common::http_full(&server.addr, "POST", "/api/ticks", &bytes, &[]);
    assert_eq!(raw.0, 400, "{raw:?}");
    let mut ws = ws_connect(&server.ws_url()).await;
    ws.send(Message::binary(bytes)).await.unwrap();
    let frame = ws_next(&mut ws).await.unwrap();
    assert_eq!((frame["status"].as_u64(), frame["field"].as_str()), (Some(400), Some("body")), "{frame}");
    assert!(frame["error"].as_str().unwrap().contains("UTF-8"), "{frame}");
    // A valid binary frame is still accepted.
    ws.send(Message::binary(ticks_json("B", 0, 2).into_bytes())).await.unwrap();
    assert_eq!(ws_next(&mut ws).await.unwrap()["type"], "ack");
    assert_eq!(serve_common::count_rows(&server.db), 3, "one lossy HTTP tick and the two valid ones");
}

#[test]
fn a_port_in_use_exits_1_and_leaves_no_file_behind() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let out = sqlretry()
        .args(["serve", "--db"])
        .arg(dir.path().join("new.db"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("binding") && stderr.contains("in use"), "{stderr}");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "files left behind: {left:?}");
}

/// A database with `n` dead letters, written in one transaction (the store fsyncs each append).
fn many_dead_letters(db: &Path, n: usize) {
    rusqlite::Connection::open(db).unwrap().execute_batch("CREATE TABLE t (x)").unwrap();
    let store = sqlretry::writer::DeadLetterStore::path_beside(db);
    drop(sqlretry::writer::DeadLetterStore::open(&store).unwrap());
    let mut conn = rusqlite::Connection::open(&store).unwrap();
    let tx = conn.transaction().unwrap();
    for i in 0..n {
        tx.execute(
            "INSERT INTO dead_letters (row_type, insert_sql, rows, payload, error, failed_at)
             VALUES ('tick', 'INSERT INTO t VALUES (?1)', 1, '[]', 'database is locked', '2026-12-08T00:00:00Z')",
            [],
        )
        .unwrap_or_else(|e| panic!("row {i}: {e}"));
    }
    tx.commit().unwrap();
}

#[test]
fn dead_letters_list_into_a_closed_pipe_exits_0_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    many_dead_letters(&db, 5_000);
    let script = format!(
        "\"{}\" dead-letters list \"{}\" | head -2 >/dev/null; exit ${{PIPESTATUS[0]}}",
        env!("CARGO_BIN_EXE_sqlretry"),
        db.display()
    );
    let out = Command::new("bash").args(["-c", &script]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn load_without_a_server_fails_fast_naming_the_refusal() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let started = Instant::now();
    let out = sqlretry()
        .args(["load", "--url", &format!("http://127.0.0.1:{port}"), "--duration", "5s", "--quiet"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.to_lowercase().contains("connection refused"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

#[test]
fn a_log_file_gets_no_colours() {
    let mut server = Server::start(&[], &[]);
    server.sigterm();
    assert!(server.wait(Duration::from_secs(10)).success());
    let log = server.log_text();
    assert!(log.contains("INFO"), "{log}");
    assert!(!log.contains('\u{1b}'), "ANSI escapes in a file: {log:?}");
}

#[test]
fn a_bad_listen_variable_is_named_as_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let out = sqlretry()
        .args(["serve", "--db"])
        .arg(dir.path().join("t.db"))
        .env("SQLRETRY_SERVE_LISTEN", "not-an-address")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("SQLRETRY_SERVE_LISTEN") && !stderr.contains("--listen"), "{stderr}");
}

#[test]
fn the_readme_names_the_ndjson_content_type() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md")).unwrap();
    assert!(readme.contains("Content-Type: application/x-ndjson"), "README does not name it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_is_503_on_http_and_on_the_websocket() {
    let server = Server::start(
        &[],
        &[("SQLRETRY_SQLITE_BUSY_TIMEOUT", "0s"), ("SQLRETRY_RETRY_WRITE_DEADLINE", "200ms")],
    );
    let mut ws = ws_connect(&server.ws_url()).await;
    let lock = ForeignLock::take(&server.db);
    let (status, body) = http(&server.addr, "POST", "/api/ticks", &ticks_json("H", 0, 2), &[]);
    ws_send(&mut ws, ticks_json("W", 0, 2)).await;
    let frame = ws_next(&mut ws).await.unwrap();
    lock.release();
    assert_eq!(status, 503, "{body}");
    assert_eq!(frame["status"], 503, "{frame}");
    assert_eq!(frame["type"], "error", "{frame}");
}
