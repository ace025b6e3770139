//! sqlretry and sqlx's SQLite driver in one binary (rusqlite resolves to <= 0.39 here: sqlx 0.9
//! accepts libsqlite3-sys < 0.38). sqlx's pool writes read-then-write transactions begun
//! IMMEDIATE, retried by sqlretry's engine (`Retry::call_async`, sqlx's errors classified by their
//! extended result code), while sqlretry's own writers write the same file.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

#[path = "../../shared.rs"]
mod shared;

use std::time::Duration;

use sqlretry::sqlite::classify_code;
use sqlretry::{Class, Retry};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};

/// sqlx's SQLite errors by their extended result code (`DatabaseError::code`), never by message.
fn classify(error: &sqlx::Error) -> Class {
    match error {
        sqlx::Error::Database(e) => {
            e.code().and_then(|code| code.parse::<i32>().ok()).map_or(Class::Permanent, classify_code)
        }
        _ => Class::Permanent,
    }
}

async fn increment(pool: &sqlx::SqlitePool) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let (n,): (i64,) = sqlx::query_as("SELECT n FROM counter WHERE id = 1").fetch_one(&mut *tx).await?;
    sqlx::query("UPDATE counter SET n = ?1 WHERE id = 1").bind(n + 1).execute(&mut *tx).await?;
    tx.commit().await
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (_dir, path) = shared::fresh();
    let options = SqliteConnectOptions::new()
        .filename(&path)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(5));
    let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await.unwrap();

    let threads = shared::sqlretry_writers(&path);
    let tasks: Vec<_> = (0..shared::THREADS)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let policy = shared::policy();
                for _ in 0..shared::INCREMENTS {
                    Retry::new(&policy)
                        .classify_with(classify)
                        .call_async(|| increment(&pool))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    pool.close().await;
    shared::finish(&path, threads, "sqlx");
}
