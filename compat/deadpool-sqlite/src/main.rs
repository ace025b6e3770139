//! sqlretry and deadpool-sqlite in one binary: `write_on` inside `Object::interact` (the example
//! in `sqlretry::sqlite::write_on`'s docs) while sqlretry's own writers write the same file.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

#[path = "../../shared.rs"]
mod shared;

use deadpool_sqlite::{Config, Runtime};
use sqlretry::sqlite::write_on;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (_dir, path) = shared::fresh();
    let pool = Config::new(&path).create_pool(Runtime::Tokio1).unwrap();

    let threads = shared::sqlretry_writers(&path);
    let tasks: Vec<_> = (0..shared::THREADS)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                for _ in 0..shared::INCREMENTS {
                    let policy = shared::policy();
                    let object = pool.get().await.unwrap();
                    object
                        .interact(move |conn| write_on(conn, &policy, shared::increment))
                        .await
                        .unwrap()
                        .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    shared::finish(&path, threads, "deadpool-sqlite");
}
