//! `BlockingPgStore` on a real PostgreSQL: plain threads (no runtime of their own) doing
//! read-modify-write on one hot row at SERIALIZABLE all commit and lose nothing; a call from
//! inside a tokio runtime is refused with a typed error, and dropping the store there is safe.

#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used)]

mod postgres_common;

use postgres_common::{PgTest, patient_policy};
use sqlretry::StopReason;
use sqlretry::postgres::{BlockingPgStore, PgError, PgOptions};

const THREADS: usize = 4;
const OPS: usize = 25;

#[test]
fn plain_threads_commit_every_increment_and_a_runtime_caller_gets_a_typed_error() {
    // The test's own runtime, only for set-up and the admin connection.
    let setup = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let Some(pg) = setup.block_on(PgTest::start("blocking_store")) else { return };
    setup
        .block_on(pg.admin.batch_execute(
            "CREATE TABLE hot (id int PRIMARY KEY, n bigint NOT NULL); INSERT INTO hot VALUES (0, 0)",
        ))
        .unwrap();
    let options = PgOptions::default().with_pool_size(THREADS).with_write_policy(patient_policy());
    let store = BlockingPgStore::from_config(pg.config(), options).unwrap();

    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let store = &store;
            scope.spawn(move || {
                for op in 0..OPS {
                    store
                        .write(|tx| {
                            Box::pin(async move {
                                let n: i64 =
                                    tx.query_one("SELECT n FROM hot WHERE id = 0", &[]).await?.get(0);
                                tx.execute("UPDATE hot SET n = $1 WHERE id = 0", &[&(n + 1)]).await?;
                                Ok(())
                            })
                        })
                        .unwrap_or_else(|e| panic!("thread {thread}, op {op}: {e}"));
                }
            });
        }
    });
    let total = (THREADS * OPS) as i64;
    assert_eq!(setup.block_on(pg.scalar("SELECT n FROM hot WHERE id = 0")), total);
    assert_eq!(store.store().metrics().snapshot().calls, total as u64);

    // From inside a runtime: refused before any attempt, not a panic.
    let refused = setup.block_on(async {
        store.write(|tx| {
            Box::pin(async move {
                tx.execute("UPDATE hot SET n = 0 WHERE id = 0", &[]).await?;
                Ok(())
            })
        })
    });
    let refused = refused.unwrap_err();
    assert!(matches!(refused.inner(), PgError::InsideAsyncRuntime), "{refused}");
    assert_eq!((refused.attempts(), refused.reason()), (0, StopReason::Permanent));
    assert_eq!(setup.block_on(pg.scalar("SELECT n FROM hot WHERE id = 0")), total, "nothing ran");

    // Dropping it inside a runtime does not panic either (its runtime shuts down without blocking).
    setup.block_on(async move { drop(store) });
    setup.block_on(pg.finish());
}
