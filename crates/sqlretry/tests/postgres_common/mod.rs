//! A real PostgreSQL for the `postgres_*` tests: `DATABASE_URL`, else 127.0.0.1:5432 (db `test`,
//! user `postgres` then `root`, trust). Each test gets its own schema (random name), dropped by
//! [`PgTest::finish`]. No server: the test is skipped with one printed line, unless
//! `SQLRETRY_REQUIRE_POSTGRES=1` (CI), where it fails.

#![allow(dead_code, clippy::unwrap_used)]

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use sqlretry::RetryPolicy;
use sqlretry::observer::{Observer, RetryEvent};
use sqlretry::postgres::tokio_postgres::{self, Client, NoTls};
use sqlretry::postgres::{PgOptions, PgStore};

/// One test's schema on the server, and an admin connection outside every store.
pub struct PgTest {
    pub schema: String,
    base: tokio_postgres::Config,
    pub admin: Client,
}

fn candidates() -> Vec<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => vec![url],
        _ => vec![
            "host=127.0.0.1 port=5432 dbname=test user=postgres".to_owned(),
            "host=127.0.0.1 port=5432 dbname=test user=root".to_owned(),
        ],
    }
}

/// Connects with `config` and drives the connection on the runtime.
pub async fn connect(config: &tokio_postgres::Config) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

impl PgTest {
    /// A fresh schema, or `None` (after one printed line) when no server answers.
    pub async fn start(test: &str) -> Option<PgTest> {
        let mut last = String::new();
        for url in candidates() {
            let mut base: tokio_postgres::Config = url.parse().expect("DATABASE_URL parses");
            base.connect_timeout(Duration::from_secs(3));
            match connect(&base).await {
                Ok(admin) => {
                    // RandomState's keys are random per instance: a random name, no shared counter.
                    let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
                    let schema = format!("sqlretry_t_{}_{random:016x}", std::process::id());
                    admin.batch_execute(&format!("CREATE SCHEMA {schema}")).await.unwrap();
                    admin.batch_execute(&format!("SET search_path = {schema}")).await.unwrap();
                    return Some(PgTest { schema, base, admin });
                }
                Err(e) => last = e.to_string(),
            }
        }
        if std::env::var("SQLRETRY_REQUIRE_POSTGRES").as_deref() == Ok("1") {
            panic!("{test}: PostgreSQL is required (SQLRETRY_REQUIRE_POSTGRES=1) and unreachable: {last}");
        }
        println!("skipped {test}: no PostgreSQL at DATABASE_URL or 127.0.0.1:5432 ({last})");
        None
    }

    /// The server's configuration with this test's schema as `search_path`.
    pub fn config(&self) -> tokio_postgres::Config {
        let mut config = self.base.clone();
        config.options(format!("-c search_path={}", self.schema));
        config
    }

    /// A store on this schema.
    pub fn store(&self, options: PgOptions) -> PgStore {
        PgStore::from_config(self.config(), options).unwrap()
    }

    /// A plain client on this schema (for writes made without sqlretry).
    pub async fn client(&self) -> Client {
        connect(&self.config()).await.unwrap()
    }

    /// Drops the schema.
    pub async fn finish(self) {
        self.admin.batch_execute(&format!("DROP SCHEMA {} CASCADE", self.schema)).await.unwrap();
    }

    /// `SELECT <sql>` as one i64.
    pub async fn scalar(&self, sql: &str) -> i64 {
        self.admin.query_one(sql, &[]).await.unwrap().get(0)
    }

    /// Ends the backend `pid` and waits (≤ 5 s) until it is gone.
    pub async fn terminate(&self, pid: i32) {
        let row = self.admin.query_one("SELECT pg_terminate_backend($1, 5000)", &[&pid]).await.unwrap();
        assert!(row.get::<_, bool>(0), "backend {pid} terminated");
    }
}

/// The store's default policy (50 attempts within 10 s, full jitter): the contention tests must not
/// run out of it.
pub fn patient_policy() -> RetryPolicy {
    PgOptions::default_write_policy()
}

/// Every retried error's text.
#[derive(Default)]
pub struct Recorder {
    pub errors: std::sync::Mutex<Vec<String>>,
}

impl Recorder {
    pub fn new() -> Arc<Recorder> {
        Arc::new(Recorder::default())
    }

    pub fn errors(&self) -> Vec<String> {
        self.errors.lock().unwrap().clone()
    }
}

impl Observer for Recorder {
    fn on_retry(&self, event: &RetryEvent<'_>) {
        self.errors.lock().unwrap().push(event.error.to_string());
    }
}
