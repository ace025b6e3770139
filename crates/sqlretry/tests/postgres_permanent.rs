//! Permanent errors on a real PostgreSQL: one attempt, the original SQLSTATE, message and detail.

#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used)]

mod postgres_common;

use postgres_common::{PgTest, patient_policy};
use sqlretry::StopReason;
use sqlretry::postgres::PgOptions;
use sqlretry::postgres::tokio_postgres::error::SqlState;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_violation_and_syntax_error_are_returned_after_one_attempt() {
    let Some(pg) = PgTest::start("permanent_errors").await else { return };
    pg.admin.batch_execute("CREATE TABLE u (k text PRIMARY KEY); INSERT INTO u VALUES ('a')").await.unwrap();
    let store = pg.store(PgOptions::default().with_write_policy(patient_policy()));
    let mut runs = 0;
    let err = store
        .write(|tx| {
            runs += 1;
            Box::pin(async move { tx.execute("INSERT INTO u VALUES ('a')", &[]).await })
        })
        .await
        .unwrap_err();
    assert_eq!((runs, err.attempts(), err.reason()), (1, 1, StopReason::Permanent));
    assert_eq!(err.inner().code(), Some(&SqlState::UNIQUE_VIOLATION));
    let db = err.inner().as_db_error().unwrap();
    assert_eq!(db.constraint(), Some("u_pkey"));
    assert!(db.detail().unwrap_or_default().contains("(k)=(a) already exists"), "{db:?}");
    assert!(err.to_string().contains("23505") && err.to_string().contains("already exists"), "{err}");

    let err = store
        .write(|tx| Box::pin(async move { tx.execute("INSRT INTO u VALUES ('b')", &[]).await }))
        .await
        .unwrap_err();
    assert_eq!((err.attempts(), err.reason()), (1, StopReason::Permanent));
    assert_eq!(err.inner().code(), Some(&SqlState::SYNTAX_ERROR));
    assert_eq!(store.metrics().snapshot().gave_up_permanent, 2);
    assert_eq!(pg.scalar("SELECT count(*) FROM u").await, 1);
    pg.finish().await;
}
