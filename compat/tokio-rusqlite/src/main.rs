//! sqlretry and tokio-rusqlite in one binary: `write_on` on tokio-rusqlite's connection (inside
//! `Connection::call`, on its thread) while sqlretry's own writers write the same file.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

#[path = "../../shared.rs"]
mod shared;

use sqlretry::sqlite::write_on;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (_dir, path) = shared::fresh();
    let conn = tokio_rusqlite::Connection::open(&path).await.unwrap();

    let threads = shared::sqlretry_writers(&path);
    let tasks: Vec<_> = (0..shared::THREADS)
        .map(|_| {
            let conn = conn.clone();
            tokio::spawn(async move {
                for _ in 0..shared::INCREMENTS {
                    conn.call(|conn| write_on(conn, &shared::policy(), shared::increment)).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    shared::finish(&path, threads, "tokio-rusqlite");
}
