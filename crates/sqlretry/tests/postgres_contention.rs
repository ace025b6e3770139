//! 16 clients doing read-modify-write on 4 hot rows, on a real PostgreSQL: without retry at
//! SERIALIZABLE some fail with 40001; at READ COMMITTED updates are lost silently; through PgStore
//! nothing fails and every counter equals the acknowledged increments.
//!
//! A barrier after every client's first read guarantees the conflicts: all 16 have read before
//! anyone writes, so on each row at most one of its 4 clients can commit that round.

#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used)]

mod postgres_common;

use std::sync::Arc;
use std::time::Duration;

use postgres_common::{PgTest, patient_policy};
use sqlretry::config::{PgIsolation, PgRetryMode};
use sqlretry::postgres::PgOptions;
use sqlretry::postgres::tokio_postgres::error::SqlState;
use tokio::sync::Barrier;

const CLIENTS: usize = 16;
const ROWS: i32 = 4;
const OPS: usize = 5;

async fn hot_rows(pg: &PgTest) {
    pg.admin.batch_execute("CREATE TABLE hot (id int PRIMARY KEY, n bigint NOT NULL)").await.unwrap();
    pg.admin.batch_execute("INSERT INTO hot SELECT g, 0 FROM generate_series(0, 3) g").await.unwrap();
}

async fn wait(barrier: &Barrier) {
    tokio::time::timeout(Duration::from_secs(20), barrier.wait())
        .await
        .expect("all clients reach the barrier");
}

/// One round without retry: every client reads its row, waits for all, writes, commits.
/// Returns (committed, errors' SQLSTATEs).
async fn one_round_without_retry(pg: &PgTest, isolation: &str) -> (usize, Vec<Option<SqlState>>) {
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let mut tasks = Vec::new();
    for client in 0..CLIENTS {
        let conn = pg.client().await;
        let barrier = barrier.clone();
        let begin = format!("BEGIN ISOLATION LEVEL {isolation}");
        tasks.push(tokio::spawn(async move {
            let id = client as i32 % ROWS;
            conn.batch_execute(&begin).await?;
            let n: i64 = conn.query_one("SELECT n FROM hot WHERE id = $1", &[&id]).await?.get(0);
            wait(&barrier).await;
            conn.execute("UPDATE hot SET n = $1 WHERE id = $2", &[&(n + 1), &id]).await?;
            conn.batch_execute("COMMIT").await
        }));
    }
    let mut committed = 0;
    let mut failed = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => committed += 1,
            Err(e) => failed.push(e.code().cloned()),
        }
    }
    (committed, failed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn serializable_without_retry_fails_with_40001() {
    let Some(pg) = PgTest::start("serializable_without_retry_fails_with_40001").await else { return };
    hot_rows(&pg).await;
    let (committed, failed) = one_round_without_retry(&pg, "SERIALIZABLE").await;
    assert!(failed.len() >= 12, "at most one client per row commits: {committed} committed, {failed:?}");
    assert!(failed.iter().all(|c| c.as_ref() == Some(&SqlState::T_R_SERIALIZATION_FAILURE)), "{failed:?}");
    // No update lost: what committed is what the rows hold.
    assert_eq!(pg.scalar("SELECT sum(n)::bigint FROM hot").await, committed as i64);
    pg.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn read_committed_without_retry_loses_updates_silently() {
    let Some(pg) = PgTest::start("read_committed_without_retry_loses_updates_silently").await else { return };
    hot_rows(&pg).await;
    let (committed, failed) = one_round_without_retry(&pg, "READ COMMITTED").await;
    assert_eq!((committed, failed.len()), (CLIENTS, 0), "no error at all: {failed:?}");
    let stored = pg.scalar("SELECT sum(n)::bigint FROM hot").await;
    let lost = committed as i64 - stored;
    // All 16 read 0 before anyone wrote: each row ends at 1, 3 of its 4 acknowledged updates lost.
    assert_eq!((stored, lost), (4, 12));
    pg.finish().await;
}

async fn through_pgstore(mode: PgRetryMode) {
    let Some(pg) = PgTest::start("pgstore_loses_nothing").await else { return };
    hot_rows(&pg).await;
    let options = PgOptions::default()
        .with_isolation(PgIsolation::Serializable)
        .with_mode(mode)
        .with_pool_size(CLIENTS)
        .with_write_policy(patient_policy());
    let store = Arc::new(pg.store(options));
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let mut tasks = Vec::new();
    for client in 0..CLIENTS {
        let (store, barrier) = (store.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let id = client as i32 % ROWS;
            let mut acknowledged = 0_i64;
            let mut runs = 0;
            for _ in 0..OPS {
                store
                    .write(|tx| {
                        runs += 1;
                        let barrier = (runs == 1).then(|| barrier.clone());
                        Box::pin(async move {
                            let n: i64 =
                                tx.query_one("SELECT n FROM hot WHERE id = $1", &[&id]).await?.get(0);
                            if let Some(barrier) = barrier {
                                wait(&barrier).await;
                            }
                            tx.execute("UPDATE hot SET n = $1 WHERE id = $2", &[&(n + 1), &id]).await?;
                            Ok(())
                        })
                    })
                    .await
                    .unwrap_or_else(|e| panic!("client {client}: {e}"));
                acknowledged += 1;
            }
            acknowledged
        }));
    }
    let mut acknowledged = 0;
    for task in tasks {
        acknowledged += task.await.unwrap();
    }
    assert_eq!(acknowledged, (CLIENTS * OPS) as i64);
    assert_eq!(
        pg.scalar("SELECT sum(n)::bigint FROM hot").await,
        acknowledged,
        "every acknowledged increment stored"
    );
    let stats = store.metrics().snapshot();
    assert_eq!((stats.calls, stats.gave_up_permanent + stats.gave_up_deadline), ((CLIENTS * OPS) as u64, 0));
    if mode == PgRetryMode::WholeTransaction {
        // The first round's 12 (or more) losers were each retried at least once.
        assert!(stats.retries >= 12, "{stats:?}");
    }
    pg.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pgstore_at_serializable_fails_none_and_loses_none() {
    through_pgstore(PgRetryMode::WholeTransaction).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cockroach_savepoint_mode_runs_on_postgres_and_loses_none() {
    through_pgstore(PgRetryMode::CockroachSavepoint).await;
}
