//! Lock waits on a real PostgreSQL: a deadlock (40P01) is retried whole and both transactions
//! commit; a `lock_timeout` (55P03) is retried until the deadline, then returned unchanged.

#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used)]

mod postgres_common;

use std::sync::Arc;
use std::time::Duration;

use postgres_common::{PgTest, Recorder, patient_policy};
use sqlretry::postgres::PgOptions;
use sqlretry::postgres::tokio_postgres::error::SqlState;
use sqlretry::{RetryPolicy, StopReason};
use tokio::sync::Barrier;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deadlock_is_retried_whole_and_both_commit() {
    let Some(pg) = PgTest::start("a_deadlock_is_retried_whole_and_both_commit").await else { return };
    pg.admin
        .batch_execute(
            "CREATE TABLE acct (id int PRIMARY KEY, n int NOT NULL); INSERT INTO acct VALUES (1, 0), (2, 0)",
        )
        .await
        .unwrap();
    let recorder = Recorder::new();
    let store = Arc::new(
        pg.store(PgOptions::default().with_write_policy(patient_policy())).with_observer(recorder.clone()),
    );
    let barrier = Arc::new(Barrier::new(2));
    let mut tasks = Vec::new();
    for (first, second) in [(1, 2), (2, 1)] {
        let (store, barrier) = (store.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let mut runs = 0_usize;
            store
                .write(|tx| {
                    runs += 1;
                    let barrier = (runs == 1).then(|| barrier.clone());
                    Box::pin(async move {
                        tx.execute("UPDATE acct SET n = n + 1 WHERE id = $1", &[&first]).await?;
                        if let Some(barrier) = barrier {
                            // Both hold their first row before either asks for its second.
                            tokio::time::timeout(Duration::from_secs(20), barrier.wait()).await.unwrap();
                        }
                        tx.execute("UPDATE acct SET n = n + 1 WHERE id = $1", &[&second]).await?;
                        Ok(())
                    })
                })
                .await
                .map(|()| runs)
        }));
    }
    let mut runs = Vec::new();
    for task in tasks {
        runs.push(task.await.unwrap().unwrap());
    }
    // The deadlock's victim ran again whole; at SERIALIZABLE its second run may still meet the
    // other's commit (40001), or make the other one fail at COMMIT: more runs, never a lost update.
    assert!(runs.iter().sum::<usize>() >= 3, "{runs:?}");
    assert_eq!(pg.scalar("SELECT sum(n)::bigint FROM acct").await, 4, "both committed both updates");
    let errors = recorder.errors();
    assert_eq!(errors.len(), runs.iter().sum::<usize>() - 2, "every extra run is one retry: {errors:?}");
    assert!(errors[0].contains("40P01"), "the first retry is the deadlock: {errors:?}");
    assert!(errors.iter().all(|e| e.contains("40P01") || e.contains("40001")), "{errors:?}");
    pg.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_timeout_is_retried_until_the_deadline_then_returned() {
    let Some(pg) = PgTest::start("a_lock_timeout_is_retried_until_the_deadline_then_returned").await else {
        return;
    };
    pg.admin
        .batch_execute(
            "CREATE TABLE acct (id int PRIMARY KEY, n int NOT NULL); INSERT INTO acct VALUES (1, 0)",
        )
        .await
        .unwrap();
    // Another session holds the row.
    let holder = pg.client().await;
    holder.batch_execute("BEGIN; SELECT * FROM acct WHERE id = 1 FOR UPDATE").await.unwrap();
    let policy = RetryPolicy::builder()
        .max_attempts(1_000)
        .backoff(sqlretry::backoff::ConstantBuilder::default().with_delay(Duration::from_millis(10)))
        .deadline(Duration::from_millis(600))
        .build()
        .unwrap();
    let options =
        PgOptions::default().with_lock_timeout(Some(Duration::from_millis(50))).with_write_policy(policy);
    let store = pg.store(options);
    let err = store
        .write(|tx| Box::pin(async move { tx.execute("UPDATE acct SET n = n + 1 WHERE id = 1", &[]).await }))
        .await
        .unwrap_err();
    assert!(matches!(err.reason(), StopReason::DeadlineExceeded), "{err}");
    assert!(err.attempts() >= 2, "retried: {err}");
    assert_eq!(err.inner().code(), Some(&SqlState::LOCK_NOT_AVAILABLE), "the original error: {err}");
    assert_eq!(store.metrics().snapshot().gave_up_deadline, 1);

    // Once the lock is released, the same write goes through.
    holder.batch_execute("ROLLBACK").await.unwrap();
    let updated = store
        .write(|tx| Box::pin(async move { tx.execute("UPDATE acct SET n = n + 1 WHERE id = 1", &[]).await }))
        .await
        .unwrap();
    assert_eq!((updated, pg.scalar("SELECT n::bigint FROM acct").await), (1, 1));
    pg.finish().await;
}
