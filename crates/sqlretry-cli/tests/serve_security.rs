//! Who may write and read, against the real server: tokens and scopes (401 / 403 in the JSON
//! error shape, on HTTP and on the WebSocket upgrade, by header or by subprotocol), the browser
//! `Origin` check, JSON-only bodies (415), `--allow-remote` refused without tokens or TLS, and a
//! TLS round trip with `sqlretry load` over https/wss.
//!
//! The TLS files are in tests/fixtures/tls (a throwaway CA and a leaf for 127.0.0.1).
#![allow(clippy::unwrap_used)]

mod serve_common;

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use serve_common::{Server, http, ticks_json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

const FEED: &str = "feedfeedfeedfeed01";
const DESK: &str = "deskdeskdeskdesk02";
const TOKENS: &str = "feed ingest feedfeedfeedfeed01;desk read deskdeskdeskdesk02";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls").join(name)
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[test]
fn tokens_decide_who_writes_and_reads_and_are_never_logged() {
    let server = Server::start(&[], &[("SQLRETRY_SERVE_TOKENS", TOKENS)]);
    let post =
        |headers: &[(&str, &str)]| http(&server.addr, "POST", "/api/ticks", &ticks_json("A", 0, 2), headers);
    let (status, body) = post(&[]);
    assert_eq!((status, json(&body)["field"].as_str()), (401, Some("authorization")), "{body}");
    let (status, _) = post(&[("Authorization", "Bearer feedfeedfeedfeed0")]);
    assert_eq!(status, 401, "a prefix of a token is not the token");
    let (status, body) = post(&[("Authorization", &format!("Bearer {DESK}"))]);
    assert_eq!(status, 403, "{body}");
    assert!(json(&body)["error"].as_str().unwrap().contains("ingest"), "{body}");
    let (status, body) = post(&[("Authorization", &format!("Bearer {FEED}"))]);
    assert_eq!(status, 200, "{body}");

    for path in ["/api/tick-stats", "/metrics", "/api/symbols", "/api/ticks?symbol=A"] {
        assert_eq!(http(&server.addr, "GET", path, "", &[]).0, 401, "{path}");
        assert_eq!(
            http(&server.addr, "GET", path, "", &[("Authorization", &format!("Bearer {FEED}"))]).0,
            403
        );
        assert_eq!(
            http(&server.addr, "GET", path, "", &[("Authorization", &format!("Bearer {DESK}"))]).0,
            200
        );
    }
    assert_eq!(http(&server.addr, "GET", "/healthz", "", &[]).0, 200, "probes stay open");
    assert_eq!(serve_common::count_rows(&server.db), 2, "only the authorised body was written");
    let log = server.log_text();
    assert!(!log.contains(FEED) && !log.contains(DESK), "a secret reached the log: {log}");
}

async fn upgrade(url: &str, headers: &[(&'static str, &str)]) -> Result<serve_common::Ws, u16> {
    let mut request = url.into_client_request().unwrap();
    for (k, v) in headers {
        request.headers_mut().insert(*k, HeaderValue::from_str(v).unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(answer)) => Err(answer.status().as_u16()),
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_upgrades_need_a_token_by_header_or_subprotocol_and_a_known_origin() {
    let server =
        Server::start(&["--allowed-origin", "https://desk.example"], &[("SQLRETRY_SERVE_TOKENS", TOKENS)]);
    let url = server.ws_url();
    assert_eq!(upgrade(&url, &[]).await.err(), Some(401));
    let read_only = format!("Bearer {DESK}");
    assert_eq!(upgrade(&url, &[("authorization", &read_only)]).await.err(), Some(403));
    let bearer = format!("Bearer {FEED}");
    let evil = [("authorization", bearer.as_str()), ("origin", "http://evil.example")];
    assert_eq!(upgrade(&url, &evil).await.err(), Some(403), "a foreign page is refused");

    let mut ws = upgrade(&url, &[("authorization", &bearer)]).await.expect("no Origin: not a browser");
    serve_common::ws_send(&mut ws, ticks_json("W", 0, 3)).await;
    assert_eq!(serve_common::ws_next(&mut ws).await.unwrap()["type"], "ack");

    // A browser: the token as a subprotocol beside sqlretry.v1, from an allowed page.
    let protocols = format!("sqlretry.v1, bearer.{FEED}");
    let mut request = url.as_str().into_client_request().unwrap();
    request.headers_mut().insert("sec-websocket-protocol", HeaderValue::from_str(&protocols).unwrap());
    request.headers_mut().insert("origin", HeaderValue::from_static("https://desk.example"));
    let (mut browser, answer) = tokio_tungstenite::connect_async(request).await.unwrap();
    let chosen = answer.headers().get("sec-websocket-protocol").unwrap().to_str().unwrap();
    assert_eq!(chosen, "sqlretry.v1", "the token is not echoed back");
    serve_common::ws_send(&mut browser, ticks_json("W", 3, 3)).await;
    assert_eq!(serve_common::ws_next(&mut browser).await.unwrap()["type"], "ack");
    assert_eq!(serve_common::count_rows(&server.db), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_tokens_on_loopback_browsers_are_still_refused() {
    let server = Server::start(&[], &[]);
    assert_eq!(upgrade(&server.ws_url(), &[("origin", "http://evil.example")]).await.err(), Some(403));
    assert!(upgrade(&server.ws_url(), &[]).await.is_ok());
}

#[test]
fn bodies_must_be_json_or_ndjson() {
    let server = Server::start(&[], &[]);
    let body = ticks_json("C", 0, 1);
    for content_type in
        ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""]
    {
        let (status, answer) =
            http(&server.addr, "POST", "/api/ticks", &body, &[("Content-Type", content_type)]);
        assert_eq!(status, 415, "{content_type}: {answer}");
        assert_eq!(json(&answer)["field"], "content-type");
    }
    let ok = http(
        &server.addr,
        "POST",
        "/api/ticks",
        &body,
        &[("Content-Type", "application/json; charset=utf-8")],
    );
    assert_eq!(ok.0, 200);
    assert_eq!(serve_common::count_rows(&server.db), 1);
}

fn serve_exit(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let out = Command::new(env!("CARGO_BIN_EXE_sqlretry"))
        .args(["serve", "--db"])
        .arg(&db)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(!db.exists(), "a refused start created the database");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn allow_remote_needs_tokens_and_tls() {
    let (code, err) = serve_exit(&["--listen", "0.0.0.0:0", "--allow-remote"], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--allow-remote") && err.contains("tokens"), "{err}");
    let (code, err) =
        serve_exit(&["--listen", "0.0.0.0:0", "--allow-remote"], &[("SQLRETRY_SERVE_TOKENS", TOKENS)]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--tls-cert"), "{err}");
    let (code, err) = serve_exit(&["--tokens", "feed ingest short"], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("shorter than 16") && !err.contains("short\""), "{err}");
}

#[test]
fn allow_remote_with_tokens_and_tls_starts() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sqlretry"))
        .args(["serve", "--db"])
        .arg(dir.path().join("t.db"))
        .args(["--listen", "0.0.0.0:0", "--allow-remote", "--tls-cert"])
        .arg(fixture("server.pem"))
        .arg("--tls-key")
        .arg(fixture("server.key"))
        .env("SQLRETRY_SERVE_TOKENS", TOKENS)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let status = child.wait().unwrap();
    assert!(line.contains("https://0.0.0.0:") && line.contains("wss://"), "{line}");
    assert!(status.success(), "{status}");
}

#[test]
fn tls_round_trip_with_load_over_https_and_wss() {
    let cert = fixture("server.pem");
    let key = fixture("server.key");
    let server = Server::start(
        &["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()],
        &[("SQLRETRY_SERVE_TOKENS", "feed ingest,read feedfeedfeedfeed01")],
    );
    let url = format!("https://{}", server.addr);
    let load = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_sqlretry"))
            .args([
                "load",
                "--url",
                &url,
                "--connections",
                "2",
                "--rate",
                "200",
                "--duration",
                "2s",
                "--quiet",
            ])
            .args(["--json", "--db"])
            .arg(&server.db)
            .args(extra)
            .output()
            .unwrap()
    };
    let ca = fixture("ca.pem");
    let out = load(&["--ca", ca.to_str().unwrap(), "--token", FEED]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let report = json(&stdout);
    assert_eq!(report["lost"], 0, "{report}");
    assert_eq!(report["acknowledged"], 800, "{report}");
    // Plain http against the TLS port gets nothing written; no CA: the certificate is refused.
    let plain = Command::new(env!("CARGO_BIN_EXE_sqlretry"))
        .args(["load", "--url", &format!("http://{}", server.addr), "--duration", "1s", "--quiet"])
        .output()
        .unwrap();
    assert_ne!(plain.status.code(), Some(0));
    let untrusted = load(&["--token", FEED]);
    assert_ne!(untrusted.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&untrusted.stderr).contains("certificate"), "{untrusted:?}");
}
