//! The agent state store's `test_concurrent_access`, made stronger: 8 threads and 4 processes at once, each with
//! its own state store on one file, 500 saves each: zero errors, every key present with its last
//! value.
#![allow(missing_docs, clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Stdio};

use sqlretry::sqlite::StateStore;

const ROLE: &str = "SQLRETRY_TEST_STATE_WORKER";
const SAVES: usize = 500;
const KEYS: usize = 25;

/// One worker's saves: `KEYS` keys, each saved `SAVES / KEYS` times; the last value of key `k` is
/// `"{worker}:{k}:{last round}"`.
fn work(path: &Path, worker: &str) -> usize {
    let state = StateStore::open(path).unwrap();
    let mut errors = 0;
    for i in 0..SAVES {
        let (round, k) = (i / KEYS, i % KEYS);
        let value = serde_json::json!({ "worker": worker, "key": k, "round": round });
        if let Err(e) = state.save_json(&format!("{worker}/{k}"), &value) {
            eprintln!("{worker}: {e}");
            errors += 1;
        }
    }
    errors
}

/// Not a test of its own: the worker role of a child process.
#[test]
fn state_worker_role() {
    let Ok(spec) = std::env::var(ROLE) else { return };
    let (path, worker) = spec.split_once('|').unwrap();
    let errors = work(Path::new(path), worker);
    println!("errors={errors}");
}

#[test]
fn eight_threads_and_four_processes_each_with_its_own_store_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    StateStore::open(&path).unwrap(); // creates the file and table
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..4)
        .map(|p| {
            Command::new(&exe)
                .args(["--exact", "state_worker_role", "--nocapture", "--test-threads=1"])
                .env(ROLE, format!("{}|process-{p}", path.display()))
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let thread_errors: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                s.spawn({
                    let path = &path;
                    move || work(path, &format!("thread-{t}"))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(thread_errors, 0);
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let out = String::from_utf8_lossy(&out.stdout);
        assert!(out.contains("errors=0"), "a process had errors: {out}");
    }

    let state = StateStore::open(&path).unwrap();
    let keys = state.list().unwrap();
    assert_eq!(keys.len(), 12 * KEYS);
    let last_round = SAVES / KEYS - 1;
    for worker in (0..8).map(|t| format!("thread-{t}")).chain((0..4).map(|p| format!("process-{p}"))) {
        for k in 0..KEYS {
            let value: serde_json::Value = state.load_json(&format!("{worker}/{k}")).unwrap().unwrap();
            assert_eq!(value, serde_json::json!({ "worker": worker, "key": k, "round": last_round }));
        }
    }
}

#[test]
fn save_load_delete_clear_list() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateStore::open(dir.path().join("s.db")).unwrap();
    assert_eq!(state.load("a").unwrap(), None);
    state.save("a", b"1").unwrap();
    state.save("a", b"2").unwrap();
    state.save("b", b"").unwrap();
    assert_eq!(state.load("a").unwrap(), Some(b"2".to_vec()));
    assert_eq!(state.list().unwrap(), ["a", "b"]);
    assert!(state.delete("a").unwrap());
    assert!(!state.delete("a").unwrap());
    assert!(state.load_json::<u32>("b").is_err(), "an empty value is not JSON");
    assert_eq!(state.clear().unwrap(), 1);
    assert!(state.list().unwrap().is_empty());
}
