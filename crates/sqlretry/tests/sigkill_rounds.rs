//! SIGKILL at random points, 20 rounds each, for `Store::write`, the Writer (`submit` and
//! `enqueue`) and ingest (`append`, acknowledged by the Writer's `rows_written` once committed).
//! A child process (this test binary re-executed) writes and prints each acknowledgement; the
//! parent kills it after a random number of acknowledgements plus a random pause, then checks:
//! `integrity_check` is ok, every acknowledged write is present, and no request or batch is half
//! there. Rounds continue on the same file, so each child also starts on a file whose last writer
//! was killed. The seed is printed on failure; `SQLRETRY_SIGKILL_SEED` replays one.
#![allow(missing_docs, clippy::unwrap_used)]

mod writer_common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use rusqlite::Connection;
use sqlretry::sqlite::Store;
use sqlretry::writer::{IngestOptions, Writer, WriterOptions};
use writer_common::{DB, ROLE, Tick, tick, writer};

const ROUNDS: u64 = 20;
/// The environment variable giving a child the first id of its round.
const BASE: &str = "SQLRETRY_SIGKILL_BASE";
/// Ids of one round: `base .. base + ROUND_IDS`.
const ROUND_IDS: i64 = 1_000_000_000;

/// Three rows and a counter update: one request, all or nothing.
fn request(tx: &Connection, id: i64) -> rusqlite::Result<usize> {
    for part in 0..3 {
        tx.execute("INSERT INTO items (id, part, v) VALUES (?1, ?2, 'x')", [id * 3 + part, part])?;
    }
    tx.execute("UPDATE meta SET n = n + 1 WHERE k = 'requests'", [])
}

/// The child side. Does nothing in a normal test run.
#[test]
fn sigkill_child() {
    let (Ok(role), Ok(db), Ok(base)) = (std::env::var(ROLE), std::env::var(DB), std::env::var(BASE)) else {
        return;
    };
    let (db, base) = (PathBuf::from(db), base.parse::<i64>().unwrap());
    match role.as_str() {
        "store" => {
            let store = Store::open(&db).unwrap();
            println!("ready");
            std::thread::scope(|s| {
                for t in 0..2_i64 {
                    let store = store.clone();
                    s.spawn(move || {
                        for i in 0.. {
                            let id = base + t * (ROUND_IDS / 4) + i;
                            store.write(|tx| request(tx, id)).unwrap();
                            println!("ack {id}");
                        }
                    });
                }
            });
        }
        "writer" => {
            let writer = Writer::open(&db).unwrap();
            println!("ready");
            std::thread::scope(|s| {
                for p in 0..4_i64 {
                    let writer = writer.clone();
                    s.spawn(move || {
                        let ids = (0..).map(|i| base + p * (ROUND_IDS / 4) + i);
                        if p % 2 == 0 {
                            for id in ids {
                                writer.submit(move |tx| request(tx, id)).unwrap();
                                println!("ack {id}");
                            }
                        } else {
                            // Eight in flight: enqueue, then acknowledge each once its commit is reported.
                            let mut ids = ids.peekable();
                            loop {
                                let batch: Vec<_> = ids
                                    .by_ref()
                                    .take(8)
                                    .map(|id| (id, writer.enqueue(move |tx| request(tx, id)).unwrap()))
                                    .collect();
                                for (id, pending) in batch {
                                    pending.wait().unwrap();
                                    println!("ack {id}");
                                }
                            }
                        }
                    });
                }
            });
        }
        "ingest" => {
            let writer = Writer::open(&db).unwrap();
            let ingest =
                writer.ingest::<Tick>(IngestOptions::default().with_interval(Duration::from_millis(5)));
            println!("ready");
            std::thread::scope(|s| {
                s.spawn(|| {
                    // Rows are committed in append order, one batch per transaction: `rows_written`
                    // = n acknowledges the first n rows appended.
                    let mut last = 0;
                    loop {
                        let n = writer.metrics().rows_written;
                        if n > last {
                            println!("flushed {n}");
                            last = n;
                        }
                        std::thread::sleep(Duration::from_micros(200));
                    }
                });
                for i in 0.. {
                    ingest.append(tick(base + i)).unwrap();
                }
            });
        }
        other => panic!("unknown role {other}"),
    }
}

/// A small deterministic generator (xorshift64*), seeded per test.
struct Rng(u64);

impl Rng {
    fn seeded(test: u64) -> (Rng, u64) {
        let seed =
            std::env::var("SQLRETRY_SIGKILL_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
                now.as_nanos() as u64 ^ test
            });
        (Rng(seed | 1), seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// What a killed child acknowledged: request ids, or the count of ingest rows flushed.
#[derive(Default)]
struct Acked {
    ids: BTreeSet<i64>,
    rows: u64,
}

impl Acked {
    fn note(&mut self, line: &str) {
        if let Some(id) = line.strip_suffix('\n').unwrap_or(line).rsplit_once("ack ").map(|(_, id)| id) {
            self.ids.insert(id.trim().parse().unwrap());
        } else if let Some((_, n)) = line.rsplit_once("flushed ") {
            self.rows = self.rows.max(n.trim().parse().unwrap());
        }
    }

    fn count(&self) -> u64 {
        self.ids.len() as u64 + self.rows
    }
}

/// Starts a child in `role` writing ids from `base`; kills it (SIGKILL) after `acks`
/// acknowledgements and a pause of `pause_us`; returns every acknowledgement it printed.
fn run_and_kill(role: &str, db: &Path, base: i64, acks: u64, pause_us: u64) -> Acked {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["sigkill_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env(DB, db)
        .env(BASE, base.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = Acked::default();
    for line in lines.by_ref() {
        acked.note(&line.unwrap());
        if acked.count() >= acks {
            break;
        }
    }
    assert!(
        acked.count() >= acks,
        "the {role} child exited after {} of {acks} acknowledgements",
        acked.count()
    );
    std::thread::sleep(Duration::from_micros(pause_us));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Acknowledgements printed before the kill may still be in the pipe.
    for line in lines {
        acked.note(&line.unwrap());
    }
    acked
}

fn integrity_ok(conn: &Connection) {
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
}

/// Requests present in `[base, base + ROUND_IDS)`, after checking that none is half there and the
/// counter agrees with every request in the file.
fn whole_requests(conn: &Connection, base: i64) -> BTreeSet<i64> {
    let partial: i64 = conn
        .query_row(
            "SELECT count(*) FROM (SELECT id / 3 FROM items GROUP BY id / 3 HAVING count(*) <> 3)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(partial, 0, "a request is half there");
    let all: i64 = conn.query_row("SELECT count(DISTINCT id / 3) FROM items", [], |r| r.get(0)).unwrap();
    let counter: i64 = conn.query_row("SELECT n FROM meta WHERE k = 'requests'", [], |r| r.get(0)).unwrap();
    assert_eq!(counter, all, "the counter and the rows were committed together");
    conn.prepare("SELECT DISTINCT id / 3 FROM items WHERE id / 3 >= ?1 AND id / 3 < ?2")
        .unwrap()
        .query_map([base, base + ROUND_IDS], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Ingest rows of this round: present as a prefix of what was appended (no batch half there,
/// none skipped), at least as many as were acknowledged.
fn check_ingest(conn: &Connection, base: i64, acked: u64, context: &str) {
    let (n, max): (i64, Option<i64>) = conn
        .query_row(
            "SELECT count(*), max(ts_ms) FROM ticks WHERE ts_ms >= ?1 AND ts_ms < ?2",
            [base, base + ROUND_IDS],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(n as u64 >= acked, "{context}: {acked} rows acknowledged, {n} present");
    assert_eq!(
        max.map_or(0, |m| m - base + 1),
        n,
        "{context}: the rows present are not a prefix of those appended"
    );
}

fn rounds(role: &str, test: u64) {
    let (mut rng, seed) = Rng::seeded(test);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{role}.db"));
    writer(&path, WriterOptions::default()).shutdown().unwrap();
    for round in 0..ROUNDS {
        let base = (round as i64 + 1) * ROUND_IDS;
        let (acks, pause_us) = if role == "ingest" {
            (1 + rng.below(5_000), rng.below(20_000))
        } else {
            (1 + rng.below(400), rng.below(3_000))
        };
        let acked = run_and_kill(role, &path, base, acks, pause_us);
        let context = format!("{role} round {round} (seed {seed}, kill after {acks} acks + {pause_us} µs)");
        let conn = Connection::open(&path).unwrap();
        integrity_ok(&conn);
        if role == "ingest" {
            check_ingest(&conn, base, acked.rows, &context);
        } else {
            let present = whole_requests(&conn, base);
            let missing: Vec<_> = acked.ids.difference(&present).take(5).collect();
            assert!(missing.is_empty(), "{context}: acknowledged but missing: {missing:?}");
        }
    }
}

#[test]
fn sigkill_store_write_twenty_rounds() {
    rounds("store", 1);
}

#[test]
fn sigkill_writer_submit_and_enqueue_twenty_rounds() {
    rounds("writer", 2);
}

#[test]
fn sigkill_ingest_append_and_flush_twenty_rounds() {
    rounds("ingest", 3);
}
