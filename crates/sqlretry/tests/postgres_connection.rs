//! A connection killed by `pg_terminate_backend` on a real PostgreSQL: mid-transaction it is
//! retried on a new connection with nothing half-applied; during COMMIT it is the distinct "commit
//! outcome unknown" error, or a success through the idempotent form.

#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used)]

mod postgres_common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use postgres_common::{PgTest, patient_policy};
use sqlretry::StopReason;
use sqlretry::postgres::tokio_postgres::Transaction;
use sqlretry::postgres::{Idempotent, PgError, PgOptions, PgStore, TxFuture};

async fn table(pg: &PgTest) -> PgStore {
    pg.admin.batch_execute("CREATE TABLE t (id serial PRIMARY KEY, v text NOT NULL)").await.unwrap();
    pg.store(PgOptions::default().with_write_policy(patient_policy()).with_pool_size(2))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_transaction_is_retried_on_a_new_connection_whole() {
    let Some(pg) = PgTest::start("killed_mid_transaction").await else { return };
    let store = table(&pg).await;
    let pg = Arc::new(pg);
    let mut runs = 0;
    let pids = Arc::new(Mutex::new(Vec::new()));
    store
        .write(|tx| {
            runs += 1;
            let kill = (runs == 1).then(|| pg.clone());
            let pids = pids.clone();
            Box::pin(async move {
                tx.execute("INSERT INTO t (v) VALUES ('first half')", &[]).await?;
                let pid: i32 = tx.query_one("SELECT pg_backend_pid()", &[]).await?.get(0);
                pids.lock().unwrap().push(pid);
                if let Some(pg) = kill {
                    pg.terminate(pid).await;
                }
                tx.execute("INSERT INTO t (v) VALUES ('second half')", &[]).await?;
                Ok(())
            })
        })
        .await
        .unwrap();
    assert_eq!(runs, 2);
    let pids = pids.lock().unwrap().clone();
    assert_ne!(pids[0], pids[1], "the retry ran on a new connection");
    assert_eq!(pg.scalar("SELECT count(*) FROM t").await, 2, "one whole transaction, nothing half-applied");
    assert_eq!(store.metrics().snapshot().retries, 1);
    Arc::try_unwrap(pg).ok().unwrap().finish().await;
}

/// A body that, on its first run, inserts a row and then has its own backend terminated, so that
/// the COMMIT that follows meets a dead connection.
fn pay_then_die_once(
    pg: Arc<PgTest>,
    runs: Arc<AtomicU32>,
) -> impl for<'t> FnMut(&'t Transaction<'t>) -> TxFuture<'t, ()> {
    move |tx| {
        let kill = (runs.fetch_add(1, Ordering::Relaxed) == 0).then(|| pg.clone());
        Box::pin(async move {
            tx.execute("INSERT INTO t (v) VALUES ('payment 1')", &[]).await?;
            if let Some(pg) = kill {
                let pid: i32 = tx.query_one("SELECT pg_backend_pid()", &[]).await?.get(0);
                pg.terminate(pid).await;
            }
            Ok(())
        })
    }
}

async fn killed_during_commit(
    pg: &Arc<PgTest>,
    store: &PgStore,
    key: Option<&str>,
) -> (u32, Result<Idempotent<()>, sqlretry::RetryError<PgError>>) {
    let runs = Arc::new(AtomicU32::new(0));
    let body = pay_then_die_once(pg.clone(), runs.clone());
    let result = match key {
        Some(key) => store.write_idempotent(key, body).await,
        None => store.write(body).await.map(Idempotent::Committed),
    };
    (runs.load(Ordering::Relaxed), result)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_commit_is_commit_outcome_unknown_and_not_retried() {
    let Some(pg) = PgTest::start("killed_during_commit").await else { return };
    let store = table(&pg).await;
    let pg = Arc::new(pg);
    let (runs, result) = killed_during_commit(&pg, &store, None).await;
    let err = result.unwrap_err();
    assert!(err.inner().is_commit_outcome_unknown(), "{err}");
    assert_eq!((runs, err.attempts(), err.reason()), (1, 1, StopReason::Permanent));
    assert_eq!(store.metrics().commit_outcome_unknown(), 1);
    // (Here it did not commit: the backend was gone before COMMIT reached it. The caller cannot
    // know that — which is the point of the error.)
    assert_eq!(pg.scalar("SELECT count(*) FROM t").await, 0);
    Arc::try_unwrap(pg).ok().unwrap().finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_idempotent_form_resolves_a_lost_commit_and_applies_once() {
    let Some(pg) = PgTest::start("idempotent_lost_commit").await else { return };
    let store = table(&pg).await;
    store.install_idempotency_keys().await.unwrap();
    let pg = Arc::new(pg);
    let (runs, result) = killed_during_commit(&pg, &store, Some("payment-1")).await;
    assert_eq!(result.unwrap(), Idempotent::Committed(()));
    assert_eq!(runs, 2, "the key was not recorded, so the whole write ran again");
    assert_eq!(store.metrics().commit_outcome_unknown(), 1);
    assert_eq!(pg.scalar("SELECT count(*) FROM t").await, 1);
    assert_eq!(pg.scalar("SELECT count(*) FROM sqlretry_idempotency WHERE key = 'payment-1'").await, 1);

    // The same key again (a caller's own retry after an unknown outcome): not applied twice, and
    // the body does not run.
    let mut ran = false;
    let again = store
        .write_idempotent("payment-1", |tx| {
            ran = true;
            Box::pin(async move { tx.execute("INSERT INTO t (v) VALUES ('payment 1')", &[]).await.map(drop) })
        })
        .await
        .unwrap();
    assert_eq!((again, ran), (Idempotent::AlreadyCommitted, false));
    assert_eq!(pg.scalar("SELECT count(*) FROM t").await, 1);
    Arc::try_unwrap(pg).ok().unwrap().finish().await;
}
