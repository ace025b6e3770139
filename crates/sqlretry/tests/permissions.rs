//! Files created beside a `0600` database — the writers' lock file, the dead-letter file, SQLite's
//! `-wal` and `-shm` — get its permission bits, never wider.
#![allow(missing_docs, clippy::unwrap_used)]
#![cfg(unix)]

mod writer_common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sqlretry::sqlite::Store;
use sqlretry::writer::{DeadLetterStore, IngestOptions};
use writer_common::{Tick, tick};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

fn beside(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[test]
fn files_beside_a_0600_database_are_never_wider() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("private.db");
    drop(Store::open(&path).unwrap());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    for side in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(beside(&path, side));
    }

    // The Store's grouped write takes the writers' lock file.
    let store = Store::open(&path).unwrap();
    store.write(|tx| tx.execute_batch("CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT)")).unwrap();
    store.write_grouped(|tx| tx.execute("INSERT INTO items VALUES (1, 'a')", [])).unwrap();
    let lock = beside(&path, ".writer-lock");
    assert_eq!(mode(&lock), 0o600, "the writers' lock file");

    // An ingest batch into a missing table fails permanently and goes to the dead-letter file.
    let writer = sqlretry::writer::Writer::open(&path).unwrap();
    let ingest = writer.ingest::<Tick>(IngestOptions::default());
    ingest.append(tick(1)).unwrap();
    drop(ingest);
    let m = writer.shutdown().unwrap();
    assert_eq!((m.rows_dead_lettered, m.rows_lost), (1, 0), "{m:?}");
    let dead = DeadLetterStore::path_beside(&path);
    assert_eq!(mode(&dead), 0o600, "the dead-letter file");
    for side in ["-wal", "-shm"] {
        assert_eq!(mode(&beside(&path, side)), 0o600, "SQLite's {side}");
    }
    drop(store);
    // Nothing in the directory is wider than the database.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let entry = entry.unwrap().path();
        assert_eq!(mode(&entry) & !0o600, 0, "{} is {:o}", entry.display(), mode(&entry));
    }
}
