//! Disk full: a child process (this test binary re-executed) runs under a file-size limit
//! (`ulimit -f`, with SIGXFSZ ignored so that the write fails instead of killing the process),
//! so that SQLite's write of the WAL fails. The Store's write, the Writer's request and an ingest
//! batch each fail once (no retry storm) with SQLite's code and the path; the batch goes to the
//! dead-letter file (or, when that cannot be created, is counted lost with an error-level log).
//! Then, with the limit lifted, writes resume, `replay` restores the dead letters and the file
//! passes `integrity_check`.
#![allow(missing_docs, clippy::unwrap_used)]

mod writer_common;

use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Stdio};

use sqlretry::sqlite::{Store, code_name};
use sqlretry::writer::{DeadLetterStore, IngestOptions, WriteError, Writer, WriterOptions};
use writer_common::{DB, ROLE, Tick, count, tick, writer};

/// The limit on every file the child writes, in KiB (`ulimit -f` counts 1024-byte blocks).
const LIMIT_KIB: u64 = 512;
/// Rows the child's ingest lane appends (one batch).
const ROWS: i64 = 300;

/// The child side. Does nothing in a normal test run.
#[test]
fn disk_full_child() {
    let (Ok(role), Ok(db)) = (std::env::var(ROLE), std::env::var(DB)) else { return };
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_ansi(false).init();
    let db = Path::new(&db);
    // The Store: 64 KiB rows until the WAL reaches the limit.
    let store = Store::open(db).unwrap();
    let mut runs = 0;
    let err = (0..1000)
        .find_map(|i: i64| {
            store
                .write(|tx| {
                    runs += 1;
                    tx.execute("INSERT INTO items (id, v) VALUES (?1, hex(randomblob(32768)))", [i])
                })
                .err()
        })
        .expect("the limit was never reached");
    let code = err.extended_code().unwrap_or(0);
    println!("store {code} {} {} {runs} {err}", err.attempts(), code_name(code));
    // The store stays open: closing the last connection would checkpoint and reset the WAL.

    // The Writer: a request, then an ingest batch.
    let writer = Writer::open(db).unwrap();
    match writer.submit(|tx| tx.execute("INSERT INTO items (id, v) VALUES (-1, hex(randomblob(32768)))", []))
    {
        Err(err @ WriteError::NotCommitted(_)) => {
            let code = err.extended_code().unwrap_or(0);
            let message = err.sqlite_error().map(ToString::to_string).unwrap_or_default();
            println!("submit {code} {} {} {message}", err.attempts(), code_name(code));
        }
        other => println!("submit unexpected {other:?}"),
    }
    let ingest = writer.ingest::<Tick>(IngestOptions::default());
    for i in 0..ROWS {
        ingest.append(tick(i)).unwrap();
    }
    drop(ingest);
    let m = writer.shutdown().unwrap();
    println!(
        "ingest {} {} {} {} {}",
        m.rows_written,
        m.rows_dead_lettered,
        m.rows_lost,
        m.retries_total,
        m.last_batch_error.unwrap_or_default()
    );
    println!("role {role} done");
    drop(store);
}

/// Runs the child under the file-size limit; its stdout and stderr.
fn run_child(db: &Path) -> (String, String) {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new("bash")
        .args(["-c", &format!("trap '' XFSZ; ulimit -f {LIMIT_KIB}; exec \"$0\" \"$@\"")])
        .arg(exe)
        .args(["disk_full_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE, "full")
        .env(DB, db)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = String::new();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut stderr = stderr;
        stderr.read_to_string(&mut err).unwrap();
        err
    });
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    let status = child.wait().unwrap();
    let err = reader.join().unwrap();
    assert!(status.success(), "the child failed: {status}\n{out}\n{err}");
    (out, err)
}

/// The line of `out` starting with `tag`, split into its first `n` fields and the rest.
fn line<'a>(out: &'a str, tag: &str, n: usize) -> (Vec<&'a str>, &'a str) {
    let line = out
        .lines()
        .find_map(|l| l.split_once(&format!("{tag} ")).map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("no {tag:?} line in {out}"));
    let mut fields = line.splitn(n + 1, ' ');
    let head: Vec<&str> = fields.by_ref().take(n).collect();
    (head, fields.next().unwrap_or(""))
}

/// SQLite reports a write past the limit as SQLITE_FULL (a short write) or SQLITE_IOERR_WRITE
/// (EFBIG): both are permanent.
fn is_disk_full(code: &str) -> bool {
    let code: i32 = code.parse().unwrap();
    code & 0xff == 13 || code == 778
}

/// A database with the test schema, checkpointed, so that the child starts from a small WAL.
fn fresh_db(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("full.db");
    writer(&path, WriterOptions::default()).shutdown().unwrap();
    rusqlite::Connection::open(&path).unwrap().execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
    path
}

fn integrity_ok(path: &Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
}

#[test]
fn disk_full_is_permanent_named_and_dead_lettered_then_writes_resume_and_replay_restores() {
    let dir = tempfile::tempdir().unwrap();
    let path = fresh_db(dir.path());
    let shown = path.display().to_string();
    let (out, err) = run_child(&path);

    // The Store: one attempt (one run of the closure), SQLite's code, the path.
    let (store, message) = line(&out, "store", 4);
    assert!(is_disk_full(store[0]), "{out}");
    assert_eq!(store[1], "1", "one attempt: {out}");
    assert!(message.contains(&shown), "the path: {out}");
    let written_by_store = store[3].parse::<i64>().unwrap() - 1;
    assert!(written_by_store > 0, "some writes fitted under the limit: {out}");
    // The Writer's request: one attempt, the code, the path.
    let (submit, message) = line(&out, "submit", 3);
    assert!(is_disk_full(submit[0]), "{out}");
    assert_eq!(submit[1], "1", "{out}");
    assert!(message.contains(&shown), "{out}");
    // The ingest batch: dead-lettered, not lost, not retried.
    let (ingest, last_error) = line(&out, "ingest", 4);
    assert_eq!(
        ingest[..4],
        ["0", &ROWS.to_string(), "0", "0"],
        "written, dead-lettered, lost, retries: {out}"
    );
    assert!(last_error.contains(&shown), "{out}");
    assert!(err.contains("dead-letter"), "the warning: {err}");

    // The limit is lifted (this process has none): writes resume, replay restores the rows.
    integrity_ok(&path);
    assert_eq!(count(&path, "SELECT count(*) FROM items"), written_by_store);
    let writer = Writer::open(&path).unwrap();
    writer.submit(|tx| tx.execute("INSERT INTO items (id, v) VALUES (-2, 'after')", [])).unwrap();
    let report = writer.replay::<Tick>().unwrap();
    assert_eq!((report.rows, report.rows_left), (ROWS as u64, 0), "{report:?}");
    writer.shutdown().unwrap();
    assert_eq!(count(&path, "SELECT count(*) FROM ticks"), ROWS);
    assert_eq!(count(&path, "SELECT count(*) FROM items WHERE id = -2"), 1);
    let store = DeadLetterStore::open(DeadLetterStore::path_beside(&path)).unwrap();
    assert_eq!(store.rows(None).unwrap(), 0);
    integrity_ok(&path);
}

#[test]
fn disk_full_with_no_dead_letter_file_counts_the_batch_lost_with_an_error_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = fresh_db(dir.path());
    // A directory where the dead-letter file would go: it cannot be created.
    std::fs::create_dir(DeadLetterStore::path_beside(&path)).unwrap();
    let (out, err) = run_child(&path);
    let (ingest, _) = line(&out, "ingest", 4);
    assert_eq!(
        ingest[..4],
        ["0", "0", &ROWS.to_string(), "0"],
        "written, dead-lettered, lost, retries: {out}"
    );
    assert!(err.lines().any(|l| l.contains("ERROR") && l.contains("LOST")), "an error-level log: {err}");
    integrity_ok(&path);
    assert_eq!(count(&path, "SELECT count(*) FROM ticks"), 0);
}
