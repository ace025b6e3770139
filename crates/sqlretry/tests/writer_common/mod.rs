//! Shared by the writer tests: a row type, a writer on a fresh file, child processes.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Lines};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

use sqlretry::writer::{Row, Writer, WriterOptions};

/// The environment variable naming a child process's role.
pub const ROLE: &str = "SQLRETRY_WRITER_TEST_ROLE";
/// The environment variable naming a child process's database.
pub const DB: &str = "SQLRETRY_WRITER_TEST_DB";

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Tick {
    pub symbol: String,
    pub ts_ms: i64,
    pub bid: f64,
}

impl Row for Tick {
    const TYPE_NAME: &'static str = "tick";
    const INSERT_SQL: &'static str = "INSERT OR IGNORE INTO ticks (symbol, ts_ms, bid) VALUES (?1, ?2, ?3)";
    fn values(&self) -> Vec<rusqlite::types::Value> {
        vec![self.symbol.clone().into(), self.ts_ms.into(), self.bid.into()]
    }
}

pub fn tick(i: i64) -> Tick {
    Tick { symbol: format!("S{}", i % 20), ts_ms: i, bid: 1.0 + i as f64 }
}

pub const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS ticks (symbol TEXT NOT NULL, ts_ms INTEGER NOT NULL, bid REAL, UNIQUE (symbol, ts_ms));
    CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, part INTEGER NOT NULL DEFAULT 0, v TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, n INTEGER NOT NULL);
    INSERT OR IGNORE INTO meta VALUES ('requests', 0);
";

/// A writer on `path` with the test schema created.
pub fn writer(path: &Path, config: WriterOptions) -> Writer {
    let writer = Writer::open_with(path, config).unwrap();
    writer.submit(|tx| tx.execute_batch(SCHEMA)).unwrap();
    writer
}

pub fn count(path: &Path, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// A child process: this test binary re-executed, running the `#[test]` named `test` in `role`.
pub struct ChildProcess {
    pub child: Child,
    pub lines: Lines<BufReader<ChildStdout>>,
}

impl ChildProcess {
    pub fn spawn(test: &str, role: &str, db: &Path) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .env(ROLE, role)
            .env(DB, db)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        ChildProcess { child, lines }
    }

    /// Reads stdout until a line ending with `want` (the handshake; the test harness may have
    /// printed `test child ... ` before it on the same line); panics at EOF.
    pub fn expect_line(&mut self, want: &str) {
        for line in self.lines.by_ref() {
            if line.unwrap().ends_with(want) {
                return;
            }
        }
        panic!("child exited before printing {want:?}");
    }

    /// Tells the child to go on (a line on its stdin).
    pub fn tell(&mut self, line: &str) {
        use std::io::Write;
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }
}

/// In a child: waits for one line from the parent.
pub fn wait_for_parent() {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
}
