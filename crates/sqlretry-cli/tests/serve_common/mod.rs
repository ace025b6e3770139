//! Shared by the `serve*` tests: the built `sqlretry serve` as a real process on an ephemeral
//! port, a blocking HTTP/1.1 helper, a WebSocket client, and a foreign SQLite lock.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

/// A running `sqlretry serve`; killed and reaped on drop.
pub struct Server {
    child: Child,
    stdout: Option<JoinHandle<()>>,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// The database file.
    pub db: PathBuf,
    /// Where the server's stderr goes.
    pub log: PathBuf,
    /// The temporary directory holding both.
    pub dir: tempfile::TempDir,
}

impl Server {
    /// Starts `sqlretry serve --db <tmp>/ticks.db --listen 127.0.0.1:0 <args>` with `env`, and
    /// waits (at most 20 s) for its "listening on" line.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("ticks.db");
        let log = dir.path().join("serve.log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_sqlretry"))
            .args(["serve", "--db"])
            .arg(&db)
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("the binary starts");
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let stdout = std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let line = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_else(|_| {
            panic!(
                "no 'listening' line within 20 s; log: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        });
        let addr = line
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("unexpected first line: {line}"))
            .to_owned();
        Server { child, stdout: Some(stdout), addr, db, log, dir }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM with the `kill` command.
    pub fn sigterm(&self) {
        let status = Command::new("kill").args(["-TERM", &self.pid().to_string()]).status().unwrap();
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits (at most `limit`) for the process to exit.
    pub fn wait(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                if let Some(h) = self.stdout.take() {
                    h.join().unwrap();
                }
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not exit within {limit:?}: {}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's stderr so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET /api/tick-stats`.
    pub fn stats(&self) -> Value {
        let (status, body) = http(&self.addr, "GET", "/api/tick-stats", "", &[]);
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Polls tick-stats until `ok` holds (at most `limit`); returns the last stats.
    pub fn stats_until(&self, limit: Duration, ok: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let stats = self.stats();
            if ok(&stats) {
                return stats;
            }
            assert!(Instant::now() < deadline, "not reached within {limit:?}: {stats}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `ws://ADDR/ws/ticks`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws/ticks", self.addr)
    }

    /// Rows in the ticks table (read through a separate connection).
    pub fn rows(&self) -> i64 {
        count_rows(&self.db)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if let Some(h) = self.stdout.take() {
            let _ = h.join();
        }
    }
}

/// Rows in `db`'s ticks table.
pub fn count_rows(db: &Path) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.query_row("SELECT count(*) FROM ticks", [], |r| r.get(0)).unwrap()
}

/// One blocking HTTP/1.1 exchange (`Connection: close`), 30 s at most; returns status and body.
pub fn http(addr: &str, method: &str, path: &str, body: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let (status, head, body) = http_full(addr, method, path, body.as_bytes(), headers);
    let _ = head;
    (status, body)
}

/// As [`http`], also returning the response headers (lower-cased).
pub fn http_full(
    addr: &str,
    method: &str,
    path: &str,
    body: &[u8],
    headers: &[(&str, &str)],
) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    // Bodies are JSON unless a test says otherwise (the server refuses other types with 415).
    if method == "POST" && !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
        head.push_str("Content-Type: application/json\r\n");
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let _ = stream.write_all(body); // the server may answer (413) and close before reading it all
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let head = head.to_ascii_lowercase();
    let body = if head.contains("transfer-encoding: chunked") { dechunk(body) } else { body.to_owned() };
    (status, head, body)
}

/// A chunked HTTP/1.1 body's content.
fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size =
            usize::from_str_radix(size.trim(), 16).unwrap_or_else(|_| panic!("bad chunk size in {rest:?}"));
        if size == 0 {
            break;
        }
        out.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
    out
}

/// A response header's value (headers as returned by [`http_full`]).
pub fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(':').map(str::trim))
}

/// `n` quotes of `symbol` with timestamps (ms) and seqs from `first`, as a JSON array.
pub fn ticks_json(symbol: &str, first: u64, n: u64) -> String {
    let ticks: Vec<Value> = (first..first + n)
        .map(|i| {
            let bid = 1.0 + i as f64 / 1e4;
            serde_json::json!({"symbol": symbol, "timestamp": i, "bid": bid, "ask": bid + 0.0002, "seq": i})
        })
        .collect();
    Value::Array(ticks).to_string()
}

/// A WebSocket client.
pub type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects (10 s at most).
pub async fn ws_connect(url: &str) -> Ws {
    let connect = tokio_tungstenite::connect_async(url);
    tokio::time::timeout(Duration::from_secs(10), connect)
        .await
        .expect("connect in time")
        .expect("connects")
        .0
}

/// Sends a text message.
pub async fn ws_send(ws: &mut Ws, text: String) {
    ws.send(Message::text(text)).await.expect("sent");
}

/// The next text frame as JSON (30 s at most); `None` when the server closed.
pub async fn ws_next(ws: &mut Ws) -> Option<Value> {
    loop {
        let next =
            tokio::time::timeout(Duration::from_secs(30), ws.next()).await.expect("a frame within 30 s");
        match next {
            Some(Ok(Message::Text(t))) => return Some(serde_json::from_str(t.as_str()).unwrap()),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => {}
        }
    }
}

/// A foreign connection holding an EXCLUSIVE transaction on `db` until dropped.
pub struct ForeignLock {
    conn: rusqlite::Connection,
}

impl ForeignLock {
    /// Takes the lock (waiting at most 10 s for it).
    pub fn take(db: &Path) -> ForeignLock {
        let conn = rusqlite::Connection::open(db).unwrap();
        conn.busy_timeout(Duration::from_secs(10)).unwrap();
        conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
        ForeignLock { conn }
    }

    /// Rolls back, letting the writer in.
    pub fn release(self) {
        self.conn.execute_batch("ROLLBACK").unwrap();
    }
}
