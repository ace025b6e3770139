//! sqlretry on a given rusqlite and SQLite build (the lowest and highest rusqlite of the range,
//! the system's libsqlite3): `write_on` on plain connections while sqlretry's own writers write
//! the same file. With `EXPECT_SQLITE` set, checks that SQLite is that version (the system's).
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

#[path = "shared.rs"]
mod shared;

use sqlretry::sqlite::write_on;

fn main() {
    let sqlite = rusqlite::version();
    if let Ok(expected) = std::env::var("EXPECT_SQLITE") {
        assert_eq!(sqlite, expected, "linked the wrong SQLite");
    }
    let (_dir, path) = shared::fresh();

    let mut threads = shared::sqlretry_writers(&path);
    threads.extend((0..shared::THREADS).map(|_| {
        let path = path.clone();
        std::thread::spawn(move || {
            let mut conn = rusqlite::Connection::open(&path).unwrap();
            let policy = shared::policy();
            for _ in 0..shared::INCREMENTS {
                write_on(&mut conn, &policy, shared::increment).unwrap();
            }
        })
    }));
    shared::finish(&path, threads, &format!("rusqlite (SQLite {sqlite})"));
}
