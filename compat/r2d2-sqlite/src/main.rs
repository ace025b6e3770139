//! sqlretry and r2d2_sqlite in one binary: `write_on` on pooled connections (the example in
//! `sqlretry::sqlite::write_on`'s docs) while sqlretry's own writers write the same file.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

#[path = "../../shared.rs"]
mod shared;

use r2d2_sqlite::SqliteConnectionManager;
use sqlretry::sqlite::write_on;

fn main() {
    let (_dir, path) = shared::fresh();
    let manager =
        SqliteConnectionManager::file(&path).with_init(|c| c.execute_batch("PRAGMA journal_mode = WAL"));
    let pool = r2d2::Pool::builder().max_size(4).build(manager).unwrap();

    let mut threads = shared::sqlretry_writers(&path);
    threads.extend((0..shared::THREADS).map(|_| {
        let pool = pool.clone();
        std::thread::spawn(move || {
            let policy = shared::policy();
            for _ in 0..shared::INCREMENTS {
                let mut conn = pool.get().unwrap();
                write_on(&mut conn, &policy, shared::increment).unwrap();
            }
        })
    }));
    shared::finish(&path, threads, "r2d2_sqlite");
}
