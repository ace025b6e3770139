//! Checkpoint starvation: a reader holds a read transaction while a writer commits, so SQLite
//! cannot checkpoint and the WAL grows past the limit; the watch warns naming the file and the
//! size and exports the gauge. Once the reader lets go, the next check brings the WAL back under
//! the limit.
#![allow(missing_docs, clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;

use rusqlite::Connection;
use sqlretry::sqlite::{Store, WalWatch};

const LIMIT: u64 = 256 * 1024;

/// Runs `f` with a tracing subscriber writing to the file `log` and a Prometheus recorder;
/// returns `f`'s value, the log text and the rendered metrics.
fn observed<T>(log: &Path, f: impl FnOnce() -> T) -> (T, String, String) {
    let file = Arc::new(std::fs::File::create(log).unwrap());
    let subscriber = tracing_subscriber::fmt().with_writer(file).with_ansi(false).finish();
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let value = tracing::subscriber::with_default(subscriber, || metrics::with_local_recorder(&recorder, f));
    (value, std::fs::read_to_string(log).unwrap(), handle.render())
}

#[test]
fn a_reader_holding_a_snapshot_starves_the_wal_until_it_lets_go() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("starved.db");
    let store = Store::open(&path).unwrap();
    store.write(|tx| tx.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")).unwrap();
    store.write(|tx| tx.execute("INSERT INTO t (id, v) VALUES (0, zeroblob(100))", [])).unwrap();
    let watch = WalWatch::new(&path).with_limit(LIMIT);
    // The watch checks through a connection outside any transaction (the Store's and the Writer's
    // write connection after a commit, in the library).
    let checker = Connection::open(&path).unwrap();

    // The reader takes a snapshot and keeps it.
    let reader = Connection::open(&path).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let seen: i64 = reader.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
    assert_eq!(seen, 1);

    let (checks, logs, metrics) = observed(&dir.path().join("busy.log"), || {
        (1..=100_i64)
            .map(|i| {
                store
                    .write(|tx| tx.execute("INSERT INTO t (id, v) VALUES (?1, randomblob(8000))", [i]))
                    .unwrap();
                watch.check(&checker)
            })
            .collect::<Vec<_>>()
    });
    let last = checks.last().unwrap();
    assert!(last.over_limit && !last.checkpointed, "the reader blocks the checkpoint: {last:?}");
    assert!(last.wal_bytes > 2 * LIMIT, "{last:?}");
    let wal = watch.wal_path().display().to_string();
    let warnings: Vec<&str> =
        logs.lines().filter(|l| l.contains("WARN") && l.contains("over its limit")).collect();
    assert!(
        !warnings.is_empty() && warnings[0].contains(&wal) && warnings[0].contains("wal_bytes="),
        "{logs}"
    );
    assert!(warnings.len() <= 3, "warned on crossing and on doubling only, not per commit: {logs}");
    let gauge = format!("sqlretry_wal_bytes{{file=\"{wal}\"}} {}", last.wal_bytes_after);
    assert!(metrics.contains(&gauge), "{gauge} in {metrics}");

    // The reader lets go: the next check checkpoints and the WAL is back under the limit.
    reader.execute_batch("COMMIT").unwrap();
    let (check, _, metrics) = observed(&dir.path().join("free.log"), || watch.check(&checker));
    assert!(check.over_limit && check.checkpointed, "{check:?}");
    assert!(check.wal_bytes_after <= LIMIT, "{check:?}");
    assert!(watch.wal_bytes() <= LIMIT);
    assert!(metrics.contains(&format!("sqlretry_wal_bytes{{file=\"{wal}\"}} 0")), "{metrics}");
    let check: String = reader.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    let rows: i64 = reader.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
    assert_eq!(rows, 101);
}
