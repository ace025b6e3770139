//! The retry seats on a real PostgreSQL: after a conflict, retried writes take turns (at most
//! `retry_seats` retried attempts in flight), every write still commits, and a write still queued
//! when its deadline passes returns its original conflict error.

#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used)]

mod postgres_common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use postgres_common::{PgTest, patient_policy};
use sqlretry::backoff::ConstantBuilder;
use sqlretry::postgres::PgOptions;
use sqlretry::postgres::tokio_postgres::error::SqlState;
use sqlretry::{RetryPolicy, StopReason};
use tokio::sync::{Barrier, Notify};

const CLIENTS: usize = 16;
const OPS: usize = 4;

/// Retried attempts in flight now, and the most seen at once.
#[derive(Default)]
struct InFlight {
    now: AtomicUsize,
    most: AtomicUsize,
}

/// Counts one retried attempt while alive (its body's future, however it ends).
struct Running(Arc<InFlight>);

impl Running {
    fn start(counts: &Arc<InFlight>) -> Running {
        let now = counts.now.fetch_add(1, Ordering::SeqCst) + 1;
        counts.most.fetch_max(now, Ordering::SeqCst);
        Running(counts.clone())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

/// 16 clients × 4 read-modify-writes of ONE row, the first round forced to conflict by a barrier
/// after every client's first read. Returns the most retried attempts seen in flight at once.
async fn one_hot_row(seats: usize) -> Option<usize> {
    let pg = PgTest::start("one_hot_row").await?;
    pg.admin.batch_execute("CREATE TABLE hot (id int PRIMARY KEY, n bigint NOT NULL)").await.unwrap();
    pg.admin.batch_execute("INSERT INTO hot VALUES (0, 0)").await.unwrap();
    let options = PgOptions::default()
        .with_pool_size(CLIENTS)
        .with_write_policy(patient_policy())
        .with_retry_seats(seats);
    let store = Arc::new(pg.store(options));
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let in_flight = Arc::new(InFlight::default());
    let mut tasks = Vec::new();
    for client in 0..CLIENTS {
        let (store, barrier, in_flight) = (store.clone(), barrier.clone(), in_flight.clone());
        tasks.push(tokio::spawn(async move {
            for op in 0..OPS {
                let mut runs = 0;
                store
                    .write(|tx| {
                        runs += 1;
                        let barrier = (op == 0 && runs == 1).then(|| barrier.clone());
                        let running = (runs > 1).then(|| Running::start(&in_flight));
                        Box::pin(async move {
                            let _running = running;
                            let n: i64 = tx.query_one("SELECT n FROM hot WHERE id = 0", &[]).await?.get(0);
                            if let Some(barrier) = barrier {
                                tokio::time::timeout(Duration::from_secs(20), barrier.wait()).await.unwrap();
                            }
                            tx.execute("UPDATE hot SET n = $1 WHERE id = 0", &[&(n + 1)]).await?;
                            Ok(())
                        })
                    })
                    .await
                    .unwrap_or_else(|e| panic!("client {client}, op {op}: {e}"));
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let total = (CLIENTS * OPS) as i64;
    assert_eq!(pg.scalar("SELECT n FROM hot WHERE id = 0").await, total, "every acknowledged increment");
    let stats = store.metrics().snapshot();
    assert_eq!((stats.calls, stats.gave_up_permanent + stats.gave_up_deadline), (total as u64, 0));
    // The first round: all 16 read 0 before anyone wrote, so at least 15 conflicted.
    assert!(stats.retries >= 15, "{stats:?}");
    pg.finish().await;
    Some(in_flight.most.load(Ordering::SeqCst))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_one_seat_retried_writes_run_one_at_a_time_and_all_commit() {
    let Some(most) = one_hot_row(1).await else { return };
    assert_eq!(most, 1, "retried attempts in flight at once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_two_seats_at_most_two_retried_writes_run_at_once() {
    let Some(most) = one_hot_row(2).await else { return };
    assert!((1..=2).contains(&most), "retried attempts in flight at once: {most}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_seats_the_losers_retry_together() {
    // The contrast that shows the test above can fail: 15 losers retrying on their own overlap.
    let Some(most) = one_hot_row(0).await else { return };
    assert!(most > 1, "retried attempts in flight at once: {most}");
}

/// `DO` block raising a serialization failure with `message`: a conflict on demand.
fn conflict(message: &str) -> String {
    format!("DO $$ BEGIN RAISE EXCEPTION '{message}' USING ERRCODE = '40001'; END $$")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_queued_past_its_deadline_returns_its_original_conflict() {
    let Some(pg) = PgTest::start("a_write_queued_past_its_deadline_returns_its_original_conflict").await
    else {
        return;
    };
    pg.admin.batch_execute("CREATE TABLE done (who text PRIMARY KEY)").await.unwrap();
    let options = PgOptions::default().with_write_policy(patient_policy()).with_retry_seats(1);
    let store = Arc::new(pg.store(options));
    let (seated, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));

    // A conflicts once, takes the only seat, and holds it (its second attempt waits for `release`).
    let a = {
        let (store, seated, release) = (store.clone(), seated.clone(), release.clone());
        tokio::spawn(async move {
            let mut runs = 0;
            store
                .write(|tx| {
                    runs += 1;
                    let (first, seated, release) = (runs == 1, seated.clone(), release.clone());
                    Box::pin(async move {
                        if first {
                            tx.batch_execute(&conflict("A lost")).await?;
                        }
                        seated.notify_one();
                        release.notified().await;
                        tx.execute("INSERT INTO done VALUES ('A')", &[]).await?;
                        Ok(runs)
                    })
                })
                .await
        })
    };
    tokio::time::timeout(Duration::from_secs(10), seated.notified()).await.expect("A holds the seat");

    // B conflicts and queues behind A until its 300 ms deadline passes: one attempt, B's own error.
    let deadline = Duration::from_millis(300);
    let policy = RetryPolicy::builder()
        .max_attempts(50)
        .backoff(ConstantBuilder::default().with_delay(Duration::from_millis(5)))
        .deadline(deadline)
        .build()
        .unwrap();
    let started = Instant::now();
    let b = store
        .write_with(&policy, |tx| {
            Box::pin(async move {
                tx.batch_execute(&conflict("B lost")).await?;
                Ok(())
            })
        })
        .await
        .unwrap_err();
    let waited = started.elapsed();
    assert_eq!(b.inner().code(), Some(&SqlState::T_R_SERIALIZATION_FAILURE), "{b}");
    assert!(b.to_string().contains("B lost"), "the original error: {b}");
    assert_eq!((b.attempts(), b.reason()), (1, StopReason::DeadlineExceeded), "{b}");
    assert!(waited >= deadline && waited < deadline + Duration::from_secs(1), "bounded: {waited:?}");

    // A goes on and commits; the seat is free again for C, which conflicts once and commits.
    release.notify_one();
    assert_eq!(a.await.unwrap().unwrap(), 2);
    let mut runs = 0;
    store
        .write_with(&policy, |tx| {
            runs += 1;
            let first = runs == 1;
            Box::pin(async move {
                if first {
                    tx.batch_execute(&conflict("C lost")).await?;
                }
                tx.execute("INSERT INTO done VALUES ('C')", &[]).await?;
                Ok(())
            })
        })
        .await
        .unwrap();
    assert_eq!(runs, 2);
    assert_eq!(pg.scalar("SELECT count(*) FROM done").await, 2);
    pg.finish().await;
}
